//! Followed provinces, and telling their followers when the province's alert room opens.
//!
//! A follow is a row per (user, province). An opening (`chat.alert_room_opened`) is
//! handled once per event by `events::claim`: the claim's transaction writes one notice
//! per follower (unique per opening and follower). Each notice is then sent by whoever
//! first marks it sent (a conditional write on `sent_at IS NULL`), and marked unsent
//! again if the notifier fails, so a later sweep sends it: one notification per
//! follower and opening, however often the event is delivered and however many
//! instances handle it.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use surge_kernel::events::{claim, EventEnvelope};
use surge_kernel::ports::{EventHandler, NewNotification};
use surge_kernel::sql::insert_if_absent;
use surge_kernel::weather::{Province, PROVINCES};
use surge_kernel::{ApiError, Millis};
use uuid::Uuid;

use super::apply::AlertRoomOpened;
use crate::deps::Deps;
use crate::domain::{self, RoomStatus};
use crate::entities::{follow, notice, room};

/// The consumer that tells followers.
pub const FOLLOWERS_CONSUMER: &str = "chat.alert-followers";
/// Followers read (and notices written) per statement.
const CHUNK: u64 = 500;

/// A province's alert room, when it has one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProvinceRoom {
    pub id: Uuid,
    pub name: String,
    pub status: RoomStatus,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProvinceView {
    /// KMA's upper warning zone, e.g. `L1100000`.
    pub code: String,
    pub name: String,
    /// e.g. `서울`.
    pub short: String,
    /// Whether I follow it (told when its alert room opens).
    pub followed: bool,
    pub room: Option<ProvinceRoom>,
}

pub(crate) fn unknown_province(code: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "unknown_province",
        format!("no province has the code {code:?} (see GET /api/v1/chat/provinces)"),
    )
}

fn province_of(code: &str) -> Result<Province, ApiError> {
    domain::province(code).ok_or_else(|| unknown_province(code))
}

async fn rooms_by_province(
    db: &impl ConnectionTrait,
) -> Result<HashMap<String, ProvinceRoom>, DbErr> {
    Ok(room::Entity::find()
        .filter(room::Column::ProvinceCode.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .filter_map(|r| {
            let code = r.province_code?;
            Some((
                code,
                ProvinceRoom {
                    id: r.id,
                    name: r.name,
                    status: r.status,
                },
            ))
        })
        .collect())
}

fn view(p: Province, followed: bool, room: Option<ProvinceRoom>) -> ProvinceView {
    ProvinceView {
        code: p.code.to_owned(),
        name: p.name.to_owned(),
        short: p.short.to_owned(),
        followed,
        room,
    }
}

/// Every province, with whether `user` follows it and its alert room.
pub(crate) async fn list(deps: &Deps, user: Uuid) -> Result<Vec<ProvinceView>, ApiError> {
    let followed: Vec<String> = follow::Entity::find()
        .select_only()
        .column(follow::Column::ProvinceCode)
        .filter(follow::Column::UserId.eq(user))
        .into_tuple()
        .all(&deps.db)
        .await?;
    let mut rooms = rooms_by_province(&deps.read_db).await?;
    Ok(PROVINCES
        .iter()
        .map(|p| {
            view(
                *p,
                followed.iter().any(|f| f == p.code),
                rooms.remove(p.code),
            )
        })
        .collect())
}

/// Follows a province; following again changes nothing.
pub(crate) async fn follow(deps: &Deps, user: Uuid, code: &str) -> Result<ProvinceView, ApiError> {
    let p = province_of(code)?;
    let insert = Query::insert()
        .into_table(follow::Entity)
        .columns([
            follow::Column::UserId,
            follow::Column::ProvinceCode,
            follow::Column::FollowedAt,
        ])
        .values_panic([user.into(), p.code.into(), deps.clock.now_ms().into()])
        .to_owned();
    insert_if_absent(&deps.db, insert, &["user_id", "province_code"]).await?;
    let room = rooms_by_province(&deps.db).await?.remove(p.code);
    Ok(view(p, true, room))
}

/// Stops following; not following is fine.
pub(crate) async fn unfollow(deps: &Deps, user: Uuid, code: &str) -> Result<(), ApiError> {
    let p = province_of(code)?;
    follow::Entity::delete_many()
        .filter(follow::Column::UserId.eq(user))
        .filter(follow::Column::ProvinceCode.eq(p.code))
        .exec(&deps.db)
        .await?;
    Ok(())
}

/// Writes the notices of one opening to every follower of its province, in the claim's
/// transaction, then sends them.
pub struct FollowerNotices(pub(crate) Arc<Deps>);

#[async_trait]
impl EventHandler for FollowerNotices {
    #[tracing::instrument(skip_all, fields(event_id = %event.id))]
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let opened: AlertRoomOpened = event.payload_as()?;
        let deps = &self.0;
        let now = deps.clock.now_ms();
        let Some(txn) = claim(&deps.db, FOLLOWERS_CONSUMER, event.id, now).await? else {
            return Ok(());
        };
        let mut after: Option<Uuid> = None;
        loop {
            let mut q = follow::Entity::find()
                .select_only()
                .column(follow::Column::UserId)
                .filter(follow::Column::ProvinceCode.eq(opened.province_code.as_str()));
            if let Some(a) = after {
                q = q.filter(follow::Column::UserId.gt(a));
            }
            let users: Vec<Uuid> = q
                .order_by_asc(follow::Column::UserId)
                .limit(CHUNK)
                .into_tuple()
                .all(&txn)
                .await?;
            let Some(last) = users.last().copied() else {
                break;
            };
            let mut insert = Query::insert()
                .into_table(notice::Entity)
                .columns([
                    notice::Column::OpeningId,
                    notice::Column::UserId,
                    notice::Column::RoomId,
                    notice::Column::CreatedAt,
                ])
                .to_owned();
            for u in &users {
                insert.values_panic([
                    event.id.into(),
                    (*u).into(),
                    opened.room_id.into(),
                    now.into(),
                ]);
            }
            txn.execute(txn.get_database_backend().build(&insert))
                .await?;
            if (users.len() as u64) < CHUNK {
                break;
            }
            after = Some(last);
        }
        txn.commit().await?;
        send_due(deps, Some(event.id), now).await?;
        Ok(())
    }
}

/// Sends the unsent notices of one opening (or, with `None`, every unsent notice older
/// than a minute: those whose first sending failed or never ran). Returns how many
/// this call sent.
pub(crate) async fn send_due(
    deps: &Deps,
    opening: Option<Uuid>,
    now: Millis,
) -> anyhow::Result<usize> {
    let mut q = notice::Entity::find().filter(notice::Column::SentAt.is_null());
    q = match opening {
        Some(id) => q.filter(notice::Column::OpeningId.eq(id)),
        None => q.filter(notice::Column::CreatedAt.lt(now - 60_000)),
    };
    let due = q.limit(10_000).all(&deps.db).await?;
    let mut rooms: HashMap<Uuid, Option<room::Model>> = HashMap::new();
    let mut sent = 0;
    for n in due {
        // Whoever marks it sent sends it.
        let taken = notice::Entity::update_many()
            .col_expr(notice::Column::SentAt, Expr::value(now))
            .filter(notice::Column::OpeningId.eq(n.opening_id))
            .filter(notice::Column::UserId.eq(n.user_id))
            .filter(notice::Column::SentAt.is_null())
            .exec(&deps.db)
            .await?;
        if taken.rows_affected != 1 {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(e) = rooms.entry(n.room_id) {
            e.insert(room::Entity::find_by_id(n.room_id).one(&deps.db).await?);
        }
        let Some(Some(r)) = rooms.get(&n.room_id) else {
            continue;
        };
        let short = r
            .province_code
            .as_deref()
            .and_then(Province::by_code)
            .map_or("", |p| p.short);
        let message = NewNotification {
            kind: "weather_alert_room".into(),
            title: format!("{short} 기상특보 대화방이 열렸어요"),
            body: r.name.clone(),
            data: serde_json::json!({"room_id": r.id, "province_code": r.province_code, "opening_id": n.opening_id}),
        };
        match deps.notifier.notify(n.user_id, message).await {
            Ok(_) => sent += 1,
            Err(e) => {
                tracing::warn!(error = ?e, user = %n.user_id, "an alert-room notice failed; sent again later");
                notice::Entity::update_many()
                    .col_expr(notice::Column::SentAt, Expr::value(Option::<i64>::None))
                    .filter(notice::Column::OpeningId.eq(n.opening_id))
                    .filter(notice::Column::UserId.eq(n.user_id))
                    .exec(&deps.db)
                    .await?;
            }
        }
    }
    Ok(sent)
}
