//! Random matching. Users apply with the conditions they accept (an empty list means
//! any); one waiting application per user and category (a unique `live_key`).
//!
//! The matcher forms groups of `group_size` whose conditions intersect, oldest
//! application first. It runs after applications arrive (woken at once on this
//! instance, and every second anyway) as a single writer per category across all
//! instances: whoever holds that category's lease row in the database. Each group is
//! committed in its own transaction that moves every member WAITING → MATCHED with a
//! conditional write, so a concurrent cancel loses only that group and a cancelled
//! user is never matched. Applications expire after 30 minutes.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, Iterable,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait, UpdateMany,
};
use serde::Serialize;
use surge_kernel::auth::AuthUser;
use surge_kernel::clock::Clock;
use surge_kernel::ports::{ChatNotifier, NewNotification, Notifier};
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::deps::stored_conditions;
use crate::domain::{ApplicationStatus, Category, Conditions, Criteria};
use crate::entities::application;
use crate::matches::{create_match, MatchSource};

pub const APPLICATION_TTL_MS: Millis = 30 * 60 * 1000;
const LEASE_MS: Millis = 10_000;
/// How many waiting applications one matching round looks at.
const ROUND_LIMIT: u64 = 5_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApplicationView {
    pub id: Uuid,
    pub category: Category,
    pub conditions: Conditions,
    /// WAITING, MATCHED, CANCELLED or EXPIRED.
    pub status: ApplicationStatus,
    pub match_id: Option<Uuid>,
    pub created_at: String,
    pub expires_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaitingCount {
    pub category: Category,
    pub waiting: u64,
}

/// The application as its user sees it at `now`.
fn view(a: application::Model, now: Millis) -> Result<ApplicationView, ApiError> {
    Ok(ApplicationView {
        id: a.id,
        category: a.category,
        conditions: stored_conditions(&a.conditions)?,
        status: a.status.seen_at(a.expires_at, now),
        match_id: a.match_id,
        created_at: rfc3339(a.created_at),
        expires_at: rfc3339(a.expires_at),
    })
}

/// A conditional write moving applications `from` → `to`: it touches only rows still
/// in `from`, and ends their claim on the user's one live application.
fn moving(
    from: ApplicationStatus,
    to: ApplicationStatus,
    now: Millis,
) -> UpdateMany<application::Entity> {
    debug_assert!(from.can_become(to), "{from:?} cannot become {to:?}");
    application::Entity::update_many()
        .col_expr(application::Column::Status, Expr::value(to))
        .col_expr(
            application::Column::LiveKey,
            Expr::value(Option::<String>::None),
        )
        .col_expr(application::Column::UpdatedAt, Expr::value(now))
        .filter(application::Column::Status.eq(from))
}

fn live_key(user: Uuid, c: Category) -> String {
    format!("{user}:{}", c.as_str())
}

pub struct Matcher {
    db: DatabaseConnection,
    read_db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    notifier: Arc<dyn Notifier>,
    chat: Option<Arc<dyn ChatNotifier>>,
    group_size: usize,
    /// This instance's name in the lease table.
    me: String,
    wake: Arc<tokio::sync::Notify>,
}

impl Matcher {
    pub fn new(
        f: &surge_kernel::module::Foundation,
        notifier: Arc<dyn Notifier>,
        chat: Option<Arc<dyn ChatNotifier>>,
        group_size: usize,
    ) -> Self {
        Matcher {
            db: f.db.clone(),
            read_db: f.read_db.clone(),
            clock: f.clock.clone(),
            notifier,
            chat,
            group_size: group_size.clamp(2, 10),
            me: new_id().to_string(),
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Applies; 202 at once, the matcher runs after. 409 `already_applied` while the
    /// user has a waiting application in that category.
    #[tracing::instrument(skip_all, fields(user_id = %who.id, category = d.category().as_str()))]
    pub async fn apply(&self, who: &AuthUser, d: Criteria) -> Result<ApplicationView, ApiError> {
        let category = d.category();
        let now = self.clock.now_ms();
        let a = application::ActiveModel {
            id: Set(new_id()),
            user_id: Set(who.id),
            category: Set(category),
            conditions: Set(d.conditions().to_json()),
            status: Set(ApplicationStatus::Waiting),
            live_key: Set(Some(live_key(who.id, category))),
            match_id: Set(None),
            created_at: Set(now),
            expires_at: Set(now + APPLICATION_TTL_MS),
            updated_at: Set(now),
        };
        let already = || {
            ApiError::conflict(
                "already_applied",
                "you already wait for a match in this category; cancel it first",
            )
        };
        for _ in 0..2 {
            match a.clone().insert(&self.db).await {
                Ok(a) => {
                    self.wake.notify_one();
                    return view(a, now);
                }
                // A waiting application past its time does not count: end it, retry.
                Err(e) if surge_kernel::error::unique_violation(&e).is_some() => {
                    if !self.expire_for(who.id, category, now).await? {
                        return Err(already());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(already())
    }

    async fn expire_for(&self, user: Uuid, c: Category, now: Millis) -> Result<bool, DbErr> {
        let res = moving(ApplicationStatus::Waiting, ApplicationStatus::Expired, now)
            .filter(application::Column::LiveKey.eq(live_key(user, c)))
            .filter(application::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected > 0)
    }

    #[tracing::instrument(skip_all, fields(user_id = %who.id, category = c.as_str()))]
    pub async fn cancel(&self, who: &AuthUser, c: Category) -> Result<(), ApiError> {
        let now = self.clock.now_ms();
        let res = moving(
            ApplicationStatus::Waiting,
            ApplicationStatus::Cancelled,
            now,
        )
        .filter(application::Column::LiveKey.eq(live_key(who.id, c)))
        .exec(&self.db)
        .await?;
        if res.rows_affected == 0 {
            return Err(ApiError::not_found(
                "you have no waiting application in this category",
            ));
        }
        Ok(())
    }

    /// My applications, newest first (the last 50).
    #[tracing::instrument(skip_all, fields(user_id = %who.id))]
    pub async fn mine(&self, who: &AuthUser) -> Result<Vec<ApplicationView>, ApiError> {
        let now = self.clock.now_ms();
        application::Entity::find()
            .filter(application::Column::UserId.eq(who.id))
            .order_by_desc(application::Column::Id)
            .limit(50)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| view(a, now))
            .collect()
    }

    #[tracing::instrument(skip(self), fields(category = c.as_str()))]
    pub async fn count(&self, c: Category) -> Result<WaitingCount, ApiError> {
        let n = application::Entity::find()
            .filter(application::Column::Category.eq(c))
            .filter(application::Column::Status.eq(ApplicationStatus::Waiting))
            .filter(application::Column::ExpiresAt.gt(self.clock.now_ms()))
            .count(&self.read_db)
            .await?;
        Ok(WaitingCount {
            category: c,
            waiting: n,
        })
    }

    /// Takes or renews the category's lease; `true` if this instance holds it now.
    #[tracing::instrument(skip(self), fields(category = c.as_str(), holder = %self.me))]
    async fn lease(&self, c: Category, now: Millis) -> Result<bool, DbErr> {
        let name = format!("partner.matcher.{}", c.as_str());
        let stmt = Query::insert()
            .into_table(Alias::new("partner_leases"))
            .columns([
                Alias::new("name"),
                Alias::new("holder"),
                Alias::new("expires_at"),
            ])
            .values([
                name.clone().into(),
                self.me.clone().into(),
                (now + LEASE_MS).into(),
            ])
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .to_owned();
        if surge_kernel::sql::insert_if_absent(&self.db, stmt, &["name"]).await? {
            return Ok(true);
        }
        let stmt = Query::update()
            .table(Alias::new("partner_leases"))
            .value(Alias::new("holder"), self.me.clone())
            .value(Alias::new("expires_at"), now + LEASE_MS)
            .and_where(Expr::col(Alias::new("name")).eq(name))
            .and_where(
                Expr::col(Alias::new("holder"))
                    .eq(self.me.clone())
                    .or(Expr::col(Alias::new("expires_at")).lt(now)),
            )
            .to_owned();
        let backend = sea_orm::ConnectionTrait::get_database_backend(&self.db);
        let res = sea_orm::ConnectionTrait::execute(&self.db, backend.build(&stmt)).await?;
        Ok(res.rows_affected() == 1)
    }

    /// One matching round for a category, if this instance holds its lease. Returns
    /// how many groups it matched.
    #[tracing::instrument(skip(self), fields(category = c.as_str()))]
    pub async fn round(&self, c: Category) -> Result<usize, ApiError> {
        let now = self.clock.now_ms();
        if !self.lease(c, now).await? {
            return Ok(0);
        }
        moving(ApplicationStatus::Waiting, ApplicationStatus::Expired, now)
            .filter(application::Column::Category.eq(c))
            .filter(application::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        let rows = application::Entity::find()
            .filter(application::Column::Category.eq(c))
            .filter(application::Column::Status.eq(ApplicationStatus::Waiting))
            .order_by_asc(application::Column::Id)
            .limit(ROUND_LIMIT)
            .all(&self.db)
            .await?;
        // A row whose conditions do not parse is left waiting (and logged), never
        // matched as "any".
        let (waiting, conds): (Vec<application::Model>, Vec<Conditions>) = rows
            .into_iter()
            .filter_map(|a| match Conditions::from_json(&a.conditions) {
                Ok(c) => Some((a, c)),
                Err(e) => {
                    tracing::error!(application_id = %a.id, error = %e, "stored conditions do not parse");
                    None
                }
            })
            .unzip();
        let mut used = vec![false; waiting.len()];
        let mut matched = 0;
        for i in 0..waiting.len() {
            if used[i] {
                continue;
            }
            let mut group = vec![i];
            let mut common = conds[i].clone();
            for j in i + 1..waiting.len() {
                if used[j] {
                    continue;
                }
                if let Some(both) = common.meet(&conds[j]) {
                    group.push(j);
                    common = both;
                    if group.len() == self.group_size {
                        break;
                    }
                }
            }
            if group.len() < self.group_size {
                continue;
            }
            let members: Vec<&application::Model> = group.iter().map(|k| &waiting[*k]).collect();
            match self
                .commit_group(c, &members, &common, self.clock.now_ms())
                .await
            {
                Ok(Some(match_id)) => {
                    matched += 1;
                    for k in &group {
                        used[*k] = true;
                    }
                    // Notifications go out beside the matcher, not in its way.
                    let users: Vec<Uuid> = members.iter().map(|a| a.user_id).collect();
                    tokio::spawn(announce(
                        self.notifier.clone(),
                        self.chat.clone(),
                        c,
                        match_id,
                        users,
                        common.clone(),
                    ));
                }
                // Someone in the group cancelled meanwhile: only this group is lost;
                // the others stay available for later groups.
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "committing a match group failed"),
            }
        }
        Ok(matched)
    }

    #[tracing::instrument(skip_all, fields(category = c.as_str(), members = members.len()))]
    async fn commit_group(
        &self,
        c: Category,
        members: &[&application::Model],
        common: &Conditions,
        now: Millis,
    ) -> Result<Option<Uuid>, DbErr> {
        let match_id = new_id();
        let txn = self.db.begin().await?;
        for a in members {
            let res = moving(ApplicationStatus::Waiting, ApplicationStatus::Matched, now)
                .col_expr(application::Column::MatchId, Expr::value(Some(match_id)))
                .filter(application::Column::Id.eq(a.id))
                .exec(&txn)
                .await?;
            if res.rows_affected != 1 {
                txn.rollback().await?;
                return Ok(None);
            }
        }
        let users: Vec<Uuid> = members.iter().map(|a| a.user_id).collect();
        create_match(&txn, match_id, c, MatchSource::Random, common, &users, now).await?;
        txn.commit().await?;
        Ok(Some(match_id))
    }

    /// The matcher task: a round per category when woken by an application, and
    /// every `every` anyway (other instances' applications, expiry, lease handover).
    pub async fn run(self: Arc<Self>, every: Duration) {
        loop {
            let _ = tokio::time::timeout(every, self.wake.notified()).await;
            for c in Category::iter() {
                match self.round(c).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(groups = n, category = c.as_str(), "matched"),
                    Err(e) => tracing::warn!(error = %e, "matching round failed"),
                }
            }
        }
    }
}

async fn announce(
    notifier: Arc<dyn Notifier>,
    chat: Option<Arc<dyn ChatNotifier>>,
    c: Category,
    match_id: Uuid,
    users: Vec<Uuid>,
    common: Conditions,
) {
    for u in &users {
        let _ = notifier
            .notify(
                *u,
                NewNotification {
                    kind: "match_found".into(),
                    title: "We found your partner".into(),
                    body: format!(
                        "A {} match with {} people.",
                        c.as_str().to_lowercase(),
                        users.len()
                    ),
                    data: serde_json::json!({"match_id": match_id}),
                },
            )
            .await;
    }
    if let Some(chat) = chat {
        let text = format!(
            "New {} match ({} people) — places: {:?}",
            c.as_str(),
            users.len(),
            common.places
        );
        if let Err(e) = chat.post(&text).await {
            tracing::warn!(error = %e, "posting the match to chat failed");
        }
    }
}
