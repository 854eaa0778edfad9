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
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use surge_kernel::auth::AuthUser;
use surge_kernel::clock::Clock;
use surge_kernel::ports::{ChatNotifier, NewNotification, Notifier};
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use crate::domain::{Category, Conditions};
use crate::entities::application;
use crate::matches::{create_match, MatchSource};

pub const WAITING: &str = "WAITING";
pub const MATCHED: &str = "MATCHED";
pub const CANCELLED: &str = "CANCELLED";
pub const EXPIRED: &str = "EXPIRED";
pub const APPLICATION_TTL_MS: Millis = 30 * 60 * 1000;
const LEASE_MS: Millis = 10_000;
/// How many waiting applications one matching round looks at.
const ROUND_LIMIT: u64 = 5_000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ApplicationDraft {
    pub category: Category,
    #[serde(flatten)]
    pub conditions: Conditions,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApplicationView {
    pub id: Uuid,
    pub category: Category,
    pub conditions: Conditions,
    /// WAITING, MATCHED, CANCELLED or EXPIRED.
    pub status: String,
    pub match_id: Option<Uuid>,
    pub created_at: String,
    pub expires_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaitingCount {
    pub category: Category,
    pub waiting: u64,
}

fn view(a: application::Model) -> ApplicationView {
    ApplicationView {
        id: a.id,
        category: Category::parse(&a.category).unwrap_or(Category::Meal),
        conditions: Conditions::from_json(&a.conditions),
        status: a.status,
        match_id: a.match_id,
        created_at: rfc3339(a.created_at),
        expires_at: rfc3339(a.expires_at),
    }
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
    pub async fn apply(
        &self,
        who: &AuthUser,
        d: ApplicationDraft,
    ) -> Result<ApplicationView, ApiError> {
        let conditions = d.conditions.normalized(d.category)?;
        let now = self.clock.now_ms();
        let a = application::ActiveModel {
            id: Set(new_id()),
            user_id: Set(who.id),
            category: Set(d.category.as_str().into()),
            conditions: Set(conditions.to_json()),
            status: Set(WAITING.into()),
            live_key: Set(Some(live_key(who.id, d.category))),
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
                    return Ok(view(a));
                }
                // A waiting application past its time does not count: end it, retry.
                Err(e) if surge_kernel::error::unique_violation(&e).is_some() => {
                    if !self.expire_for(who.id, d.category, now).await? {
                        return Err(already());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(already())
    }

    async fn expire_for(&self, user: Uuid, c: Category, now: Millis) -> Result<bool, DbErr> {
        let res = application::Entity::update_many()
            .col_expr(application::Column::Status, Expr::value(EXPIRED))
            .col_expr(
                application::Column::LiveKey,
                Expr::value(Option::<String>::None),
            )
            .col_expr(application::Column::UpdatedAt, Expr::value(now))
            .filter(application::Column::LiveKey.eq(live_key(user, c)))
            .filter(application::Column::Status.eq(WAITING))
            .filter(application::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected > 0)
    }

    pub async fn cancel(&self, who: &AuthUser, c: Category) -> Result<(), ApiError> {
        let res = application::Entity::update_many()
            .col_expr(application::Column::Status, Expr::value(CANCELLED))
            .col_expr(
                application::Column::LiveKey,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                application::Column::UpdatedAt,
                Expr::value(self.clock.now_ms()),
            )
            .filter(application::Column::LiveKey.eq(live_key(who.id, c)))
            .filter(application::Column::Status.eq(WAITING))
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
    pub async fn mine(&self, who: &AuthUser) -> Result<Vec<ApplicationView>, ApiError> {
        let now = self.clock.now_ms();
        Ok(application::Entity::find()
            .filter(application::Column::UserId.eq(who.id))
            .order_by_desc(application::Column::Id)
            .limit(50)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|mut a| {
                if a.status == WAITING && a.expires_at <= now {
                    a.status = EXPIRED.into();
                }
                view(a)
            })
            .collect())
    }

    pub async fn count(&self, c: Category) -> Result<WaitingCount, ApiError> {
        let n = application::Entity::find()
            .filter(application::Column::Category.eq(c.as_str()))
            .filter(application::Column::Status.eq(WAITING))
            .filter(application::Column::ExpiresAt.gt(self.clock.now_ms()))
            .count(&self.read_db)
            .await?;
        Ok(WaitingCount {
            category: c,
            waiting: n,
        })
    }

    /// Takes or renews the category's lease; `true` if this instance holds it now.
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
    pub async fn round(&self, c: Category) -> Result<usize, ApiError> {
        let now = self.clock.now_ms();
        if !self.lease(c, now).await? {
            return Ok(0);
        }
        application::Entity::update_many()
            .col_expr(application::Column::Status, Expr::value(EXPIRED))
            .col_expr(
                application::Column::LiveKey,
                Expr::value(Option::<String>::None),
            )
            .col_expr(application::Column::UpdatedAt, Expr::value(now))
            .filter(application::Column::Category.eq(c.as_str()))
            .filter(application::Column::Status.eq(WAITING))
            .filter(application::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        let waiting = application::Entity::find()
            .filter(application::Column::Category.eq(c.as_str()))
            .filter(application::Column::Status.eq(WAITING))
            .order_by_asc(application::Column::Id)
            .limit(ROUND_LIMIT)
            .all(&self.db)
            .await?;
        let conds: Vec<Conditions> = waiting
            .iter()
            .map(|a| Conditions::from_json(&a.conditions))
            .collect();
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
            let res = application::Entity::update_many()
                .col_expr(application::Column::Status, Expr::value(MATCHED))
                .col_expr(
                    application::Column::LiveKey,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(application::Column::MatchId, Expr::value(Some(match_id)))
                .col_expr(application::Column::UpdatedAt, Expr::value(now))
                .filter(application::Column::Id.eq(a.id))
                .filter(application::Column::Status.eq(WAITING))
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
            for c in Category::ALL {
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
