//! The diff: what the source says is in force against what is stored, one province per
//! transaction (its alert rows, its room and the room's opening event commit together).
//!
//! An alert is identified by its key (zone, announcement, effect, kind). A key not
//! stored (or stored ENDED) is new; a stored ACTIVE key with another level, zone name or
//! end has changed; a stored ACTIVE key the source no longer lists, or past its end, has
//! ended. Then the province's room follows its alerts: some in force and no room, a
//! room is opened (unique per province); a closed room is reopened (a conditional write
//! on CLOSED, so two appliers cannot both reopen it); an open room whose title or
//! description no longer fits is renamed; no alert left, the room is closed. Each
//! opening writes `chat.alert_room_opened`, whose followers are then told once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::weather::{AlertKind, AlertLevel, Province, WeatherAlert};
use surge_kernel::{new_id, Millis};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{alert_room_title, AlertLine, AlertStatus, RoomKind, RoomStatus};
use crate::entities::{room, weather_alert};

/// Written when a province's alert room opens or reopens.
pub const ALERT_ROOM_OPENED: &str = "chat.alert_room_opened";

/// The payload of [`ALERT_ROOM_OPENED`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertRoomOpened {
    pub room_id: Uuid,
    pub province_code: String,
    pub room_name: String,
    pub description: String,
    pub reopened: bool,
}

/// What one application changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AlertChanges {
    /// Alerts seen for the first time (or again after they had ended).
    pub new_alerts: u32,
    /// Alerts whose level, zone name or end changed.
    pub changed_alerts: u32,
    /// Alerts gone from the source or past their end.
    pub ended_alerts: u32,
    pub opened: u32,
    pub reopened: u32,
    pub renamed: u32,
    pub closed: u32,
}

impl AlertChanges {
    fn add(&mut self, o: AlertChanges) {
        self.new_alerts += o.new_alerts;
        self.changed_alerts += o.changed_alerts;
        self.ended_alerts += o.ended_alerts;
        self.opened += o.opened;
        self.reopened += o.reopened;
        self.renamed += o.renamed;
        self.closed += o.closed;
    }
}

/// A stored alert as the source would list it.
pub(crate) fn from_row(r: &weather_alert::Model) -> Option<WeatherAlert> {
    Some(WeatherAlert {
        region_code: r.region_code.clone(),
        region_name: r.region_name.clone(),
        province: Province::by_code(&r.province_code)?,
        kind: AlertKind::from_code(&r.kind)?,
        level: AlertLevel::from_code(&r.level)?,
        announced_at: r.announced_at,
        effective_at: r.effective_at,
        ends_at: r.ends_at,
        station: r.station.clone(),
    })
}

fn differs(row: &weather_alert::Model, a: &WeatherAlert) -> bool {
    row.level != a.level.code()
        || row.region_name != a.region_name
        || row.ends_at != a.ends_at
        || row.station != a.station
}

/// Applies `in_force` (everything the source lists now) to every province it names
/// and every province with stored active alerts.
pub(crate) async fn apply(
    deps: &Deps,
    in_force: &[WeatherAlert],
    now: Millis,
) -> Result<AlertChanges, DbErr> {
    let mut by_province: BTreeMap<&'static str, BTreeMap<String, WeatherAlert>> = BTreeMap::new();
    for a in in_force {
        if a.ends_at.is_some_and(|end| end <= now) {
            continue;
        }
        by_province
            .entry(a.province.code)
            .or_default()
            .insert(a.key(), a.clone());
    }
    let stored: Vec<String> = weather_alert::Entity::find()
        .filter(weather_alert::Column::Status.eq(AlertStatus::Active))
        .all(&deps.db)
        .await?
        .into_iter()
        .map(|r| r.province_code)
        .collect();
    let mut provinces: BTreeSet<String> = stored.into_iter().collect();
    provinces.extend(by_province.keys().map(|p| (*p).to_owned()));
    let mut total = AlertChanges::default();
    let empty = BTreeMap::new();
    for code in provinces {
        let Some(province) = Province::by_code(&code) else {
            continue;
        };
        let live = by_province.get(province.code).unwrap_or(&empty);
        let changes =
            surge_kernel::sql::with_retries(|| apply_province(deps, province, live, now)).await?;
        total.add(changes);
    }
    Ok(total)
}

/// One province: its alerts and its room, in one transaction.
pub(crate) async fn apply_province(
    deps: &Deps,
    province: Province,
    live: &BTreeMap<String, WeatherAlert>,
    now: Millis,
) -> Result<AlertChanges, DbErr> {
    let mut c = AlertChanges::default();
    let txn = deps.db.begin().await?;
    let keys: Vec<String> = live.keys().cloned().collect();
    let stored: HashMap<String, weather_alert::Model> = weather_alert::Entity::find()
        .filter(weather_alert::Column::ProvinceCode.eq(province.code))
        .filter(
            weather_alert::Column::Status
                .eq(AlertStatus::Active)
                .or(weather_alert::Column::AlertKey.is_in(keys)),
        )
        .all(&txn)
        .await?
        .into_iter()
        .map(|r| (r.alert_key.clone(), r))
        .collect();
    for (key, a) in live {
        match stored.get(key) {
            None => {
                insert_alert(&txn, key, a, now).await?;
                c.new_alerts += 1;
            }
            Some(row) if row.status == AlertStatus::Ended || differs(row, a) => {
                let next = AlertStatus::Active;
                // Seen again after it ended: new again.
                if row.status.can_become(next) {
                    c.new_alerts += 1;
                } else {
                    c.changed_alerts += 1;
                }
                weather_alert::ActiveModel {
                    id: Set(row.id),
                    region_name: Set(a.region_name.clone()),
                    level: Set(a.level.code().to_owned()),
                    ends_at: Set(a.ends_at),
                    station: Set(a.station.clone()),
                    status: Set(next),
                    updated_at: Set(now),
                    ended_at: Set(None),
                    ..Default::default()
                }
                .update(&txn)
                .await?;
            }
            Some(_) => {}
        }
    }
    let gone: Vec<Uuid> = stored
        .values()
        .filter(|r| r.status == AlertStatus::Active && !live.contains_key(&r.alert_key))
        .map(|r| r.id)
        .collect();
    if !gone.is_empty() {
        let ended = weather_alert::Entity::update_many()
            .col_expr(
                weather_alert::Column::Status,
                Expr::value(AlertStatus::Ended),
            )
            .col_expr(weather_alert::Column::EndedAt, Expr::value(now))
            .col_expr(weather_alert::Column::UpdatedAt, Expr::value(now))
            .filter(weather_alert::Column::Id.is_in(gone))
            .filter(weather_alert::Column::Status.eq(AlertStatus::Active))
            .exec(&txn)
            .await?;
        c.ended_alerts += ended.rows_affected as u32;
    }
    let opened = follow_alerts(&txn, province, live, now, &mut c).await?;
    txn.commit().await?;
    if opened {
        deps.outbox.wake();
    }
    Ok(c)
}

async fn insert_alert(
    txn: &DatabaseTransaction,
    key: &str,
    a: &WeatherAlert,
    now: Millis,
) -> Result<(), DbErr> {
    weather_alert::Entity::insert(weather_alert::ActiveModel {
        id: Set(new_id()),
        alert_key: Set(key.to_owned()),
        province_code: Set(a.province.code.to_owned()),
        region_code: Set(a.region_code.clone()),
        region_name: Set(a.region_name.clone()),
        kind: Set(a.kind.code().to_owned()),
        level: Set(a.level.code().to_owned()),
        announced_at: Set(a.announced_at),
        effective_at: Set(a.effective_at),
        ends_at: Set(a.ends_at),
        station: Set(a.station.clone()),
        status: Set(AlertStatus::Active),
        first_seen_at: Set(now),
        updated_at: Set(now),
        ended_at: Set(None),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Moves the province's room to match its alerts; `true` if it opened or reopened.
async fn follow_alerts(
    txn: &DatabaseTransaction,
    province: Province,
    live: &BTreeMap<String, WeatherAlert>,
    now: Millis,
    c: &mut AlertChanges,
) -> Result<bool, DbErr> {
    let existing = room::Entity::find()
        .filter(room::Column::ProvinceCode.eq(province.code))
        .one(txn)
        .await?;
    if live.is_empty() {
        if let Some(r) = existing.filter(|r| r.status == RoomStatus::Active) {
            let done = room::Entity::update_many()
                .col_expr(room::Column::Status, Expr::value(RoomStatus::Closed))
                .col_expr(room::Column::ClosedAt, Expr::value(now))
                .filter(room::Column::Id.eq(r.id))
                .filter(room::Column::Status.eq(RoomStatus::Active))
                .exec(txn)
                .await?;
            c.closed += done.rows_affected as u32;
        }
        return Ok(false);
    }
    let lines: Vec<AlertLine> = live
        .values()
        .map(|a| AlertLine {
            kind: a.kind,
            level: a.level,
            region_name: a.region_name.clone(),
        })
        .collect();
    let (name, description) = alert_room_title(province, &lines);
    let (room_id, reopened) = match existing {
        None => {
            let id = new_id();
            room::Entity::insert(room::ActiveModel::from(room::Model {
                id,
                kind: RoomKind::WeatherAlert,
                name: name.clone(),
                description: description.clone(),
                status: RoomStatus::Active,
                last_seq: 0,
                member_count: 0,
                // The system opened it: no user.
                created_by: Uuid::nil(),
                created_at: now,
                last_message_at: now,
                province_code: Some(province.code.to_owned()),
                closed_at: None,
            }))
            .exec_without_returning(txn)
            .await?;
            c.opened += 1;
            (id, false)
        }
        Some(r) if r.status == RoomStatus::Closed && r.status.can_become(RoomStatus::Active) => {
            let done = room::Entity::update_many()
                .col_expr(room::Column::Status, Expr::value(RoomStatus::Active))
                .col_expr(room::Column::ClosedAt, Expr::value(Option::<i64>::None))
                .col_expr(room::Column::Name, Expr::value(name.clone()))
                .col_expr(room::Column::Description, Expr::value(description.clone()))
                .col_expr(room::Column::LastMessageAt, Expr::value(now))
                .filter(room::Column::Id.eq(r.id))
                .filter(room::Column::Status.eq(RoomStatus::Closed))
                .exec(txn)
                .await?;
            if done.rows_affected != 1 {
                return Ok(false);
            }
            c.reopened += 1;
            (r.id, true)
        }
        Some(r) => {
            if r.name != name || r.description != description {
                room::Entity::update_many()
                    .col_expr(room::Column::Name, Expr::value(name))
                    .col_expr(room::Column::Description, Expr::value(description))
                    .filter(room::Column::Id.eq(r.id))
                    .exec(txn)
                    .await?;
                c.renamed += 1;
            }
            return Ok(false);
        }
    };
    let payload = AlertRoomOpened {
        room_id,
        province_code: province.code.to_owned(),
        room_name: name,
        description,
        reopened,
    };
    let payload =
        serde_json::to_value(&payload).map_err(|e| DbErr::Custom(format!("event payload: {e}")))?;
    enqueue(
        txn,
        &EventEnvelope::new(ALERT_ROOM_OPENED, room_id, payload, now),
    )
    .await?;
    Ok(true)
}
