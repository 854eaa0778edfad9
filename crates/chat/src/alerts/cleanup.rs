//! The clean-up: alerts past their end are ended (and their rooms follow), alert rooms
//! closed over 7 days ago are deleted with their messages, members (and so their read
//! markers), notices and cached window, and old ended alerts, polls and sent notices go.
//!
//! A room is deleted by a conditional delete (`status = 'CLOSED' AND closed_at <= the
//! cut-off`) in the transaction that deletes its messages and members: a room reopened
//! meanwhile is left alone.

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};
use serde::Serialize;
use surge_kernel::weather::Province;
use surge_kernel::Millis;
use uuid::Uuid;

use super::apply::{apply_province, from_row, AlertChanges};
use crate::deps::Deps;
use crate::domain::{AlertStatus, RoomKind, RoomStatus};
use crate::entities::{member, message, notice, poll, room, weather_alert};

/// How long a closed alert room (and other history) is kept.
pub const KEEP_MS: Millis = 7 * 24 * 3_600_000;
/// Rooms deleted per sweep (the next sweep takes the rest).
const ROOMS_PER_SWEEP: u64 = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CleanupCounts {
    /// What ending the expired alerts changed.
    pub expired: AlertChanges,
    pub rooms_deleted: u32,
    pub messages_deleted: u64,
    /// Notices sent now that had failed before.
    pub notices_sent: u32,
}

pub(crate) async fn sweep(deps: &Deps, now: Millis) -> anyhow::Result<CleanupCounts> {
    let mut counts = CleanupCounts {
        expired: expire(deps, now).await?,
        ..Default::default()
    };
    let cutoff = now - KEEP_MS;
    let old: Vec<Uuid> = room::Entity::find()
        .select_only()
        .column(room::Column::Id)
        .filter(room::Column::Kind.eq(RoomKind::WeatherAlert))
        .filter(room::Column::Status.eq(RoomStatus::Closed))
        .filter(room::Column::ClosedAt.lte(cutoff))
        .limit(ROOMS_PER_SWEEP)
        .into_tuple()
        .all(&deps.db)
        .await?;
    for id in old {
        if let Some(messages) =
            surge_kernel::sql::with_retries(|| delete_room(deps, id, cutoff)).await?
        {
            counts.rooms_deleted += 1;
            counts.messages_deleted += messages;
            // After the commit: a stale cached window would only waste memory until it expires.
            for key in [
                crate::messages::recent_key(id),
                crate::feed::presence_key(id),
            ] {
                if let Err(e) = deps.cache.delete(&key).await {
                    tracing::debug!(error = ?e, "dropping a deleted room's cache entry failed");
                }
            }
        }
    }
    weather_alert::Entity::delete_many()
        .filter(weather_alert::Column::Status.eq(AlertStatus::Ended))
        .filter(weather_alert::Column::EndedAt.lte(cutoff))
        .exec(&deps.db)
        .await?;
    poll::Entity::delete_many()
        .filter(poll::Column::StartedAt.lte(cutoff))
        .exec(&deps.db)
        .await?;
    notice::Entity::delete_many()
        .filter(notice::Column::SentAt.lte(cutoff))
        .exec(&deps.db)
        .await?;
    counts.notices_sent = super::follows::send_due(deps, None, now).await? as u32;
    Ok(counts)
}

/// Ends the active alerts whose end has passed; their provinces' rooms follow.
async fn expire(deps: &Deps, now: Millis) -> Result<AlertChanges, DbErr> {
    let expired: Vec<String> = weather_alert::Entity::find()
        .select_only()
        .column(weather_alert::Column::ProvinceCode)
        .filter(weather_alert::Column::Status.eq(AlertStatus::Active))
        .filter(weather_alert::Column::EndsAt.lte(now))
        .distinct()
        .into_tuple()
        .all(&deps.db)
        .await?;
    let mut total = AlertChanges::default();
    for code in expired {
        let Some(province) = Province::by_code(&code) else {
            continue;
        };
        // What stays in force there: the active alerts not past their end.
        let live: BTreeMap<String, surge_kernel::weather::WeatherAlert> =
            weather_alert::Entity::find()
                .filter(weather_alert::Column::ProvinceCode.eq(province.code))
                .filter(weather_alert::Column::Status.eq(AlertStatus::Active))
                .all(&deps.db)
                .await?
                .iter()
                .filter(|r| r.ends_at.is_none_or(|e| e > now))
                .filter_map(|r| Some((r.alert_key.clone(), from_row(r)?)))
                .collect();
        let c =
            surge_kernel::sql::with_retries(|| apply_province(deps, province, &live, now)).await?;
        total.ended_alerts += c.ended_alerts;
        total.closed += c.closed;
        total.renamed += c.renamed;
    }
    Ok(total)
}

/// Deletes one closed room with its messages, members and notices; `Some(messages
/// deleted)`, or `None` if it is no longer closed long enough.
async fn delete_room(deps: &Deps, id: Uuid, cutoff: Millis) -> Result<Option<u64>, DbErr> {
    let txn = deps.db.begin().await?;
    let gone = room::Entity::delete_many()
        .filter(room::Column::Id.eq(id))
        .filter(room::Column::Status.eq(RoomStatus::Closed))
        .filter(room::Column::ClosedAt.lte(cutoff))
        .exec(&txn)
        .await?;
    if gone.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(None);
    }
    let messages = message::Entity::delete_many()
        .filter(message::Column::RoomId.eq(id))
        .exec(&txn)
        .await?
        .rows_affected;
    member::Entity::delete_many()
        .filter(member::Column::RoomId.eq(id))
        .exec(&txn)
        .await?;
    notice::Entity::delete_many()
        .filter(notice::Column::RoomId.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some(messages))
}
