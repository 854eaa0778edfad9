//! The SQL of one chunk of the nightly batch, as multi-row statements: the ledger rows
//! written PENDING (and committed) before any gateway call, then every answer of the
//! chunk recorded in one transaction with the subscriptions it moves, the run's counts
//! and the outbox events.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, CaseStatement, Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter,
};
use surge_kernel::events::{enqueue_many, EventEnvelope};
use surge_kernel::{new_id, Millis};
use uuid::Uuid;

use crate::domain::{
    charge_order_id, period_end, ChargeStatus, SubscriptionStatus, MAX_FAILED_CHARGES,
};
use crate::entities::{charge, subscription};

pub const TOPIC_RENEWED: &str = "billing.renewed";
pub const TOPIC_CHARGE_FAILED: &str = "billing.charge_failed";
pub const TOPIC_DOWNGRADED: &str = "billing.downgraded";

fn col(n: &str) -> Alias {
    Alias::new(n)
}

/// What the provider answered for one charge.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Paid {
        tid: String,
    },
    Declined {
        reason: String,
    },
    /// No answer (a crash between the call and the commit, a timeout): the charge may
    /// or may not have happened, and Kakao Pay cannot be asked by our order id.
    Unknown {
        reason: String,
    },
}

/// What one chunk changed, for the run record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub charged: i64,
    pub failed: i64,
    pub downgraded: i64,
    pub skipped: i64,
    pub held: i64,
}

/// Writes the ledger row of each subscription's due period unless it exists (PENDING,
/// first attempt tonight), moves last night's DECLINED ones back to PENDING for their
/// retry, and returns the PENDING charges to send now (at most one per subscription).
pub(crate) async fn prepare(
    txn: &DatabaseTransaction,
    due: &[subscription::Model],
    day: Millis,
    now: Millis,
) -> Result<Vec<charge::Model>, DbErr> {
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let mut insert = Query::insert()
        .into_table(col("billing_charges"))
        .columns(
            [
                "id",
                "subscription_id",
                "user_id",
                "period_start",
                "period_end",
                "order_id",
                "amount",
                "status",
                "attempts",
                "attempt_day",
                "created_at",
                "updated_at",
            ]
            .map(col),
        )
        .to_owned();
    for s in due {
        let start = s.period_end;
        insert
            .values([
                new_id().into(),
                s.id.into(),
                s.user_id.into(),
                start.into(),
                period_end(start).into(),
                charge_order_id(s.id, start).into(),
                s.amount.into(),
                ChargeStatus::Pending.as_str().into(),
                1i32.into(),
                day.into(),
                now.into(),
                now.into(),
            ])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    let backend = txn.get_database_backend();
    let stmt = if backend == DatabaseBackend::MySql {
        let (sql, values) = insert.build(sea_orm::sea_query::MysqlQueryBuilder);
        sea_orm::Statement::from_sql_and_values(
            backend,
            sql.replacen("INSERT", "INSERT IGNORE", 1),
            values,
        )
    } else {
        insert.on_conflict(
            OnConflict::columns([col("subscription_id"), col("period_start")])
                .do_nothing()
                .to_owned(),
        );
        backend.build(&insert)
    };
    txn.execute(stmt).await?;

    let ids: Vec<Uuid> = due.iter().map(|s| s.id).collect();
    charge::Entity::update_many()
        .col_expr(charge::Column::Status, Expr::value(ChargeStatus::Pending))
        .col_expr(
            charge::Column::Attempts,
            Expr::col(charge::Column::Attempts).add(1),
        )
        .col_expr(charge::Column::AttemptDay, Expr::value(day))
        .col_expr(charge::Column::UpdatedAt, Expr::value(now))
        .filter(charge::Column::SubscriptionId.is_in(ids.clone()))
        .filter(charge::Column::Status.eq(ChargeStatus::Declined))
        .filter(charge::Column::AttemptDay.lt(day))
        .exec(txn)
        .await?;
    let pending = charge::Entity::find()
        .filter(charge::Column::SubscriptionId.is_in(ids))
        .filter(charge::Column::Status.eq(ChargeStatus::Pending))
        .filter(charge::Column::AttemptDay.eq(day))
        .all(txn)
        .await?;
    // Only the charge of the period each subscription is due for.
    let due_start: BTreeMap<Uuid, Millis> = due.iter().map(|s| (s.id, s.period_end)).collect();
    Ok(pending
        .into_iter()
        .filter(|c| due_start.get(&c.subscription_id) == Some(&c.period_start))
        .collect())
}

/// `CASE id WHEN … THEN … END` for a per-row value in one multi-row UPDATE.
fn per_row(values: &[(Uuid, String)]) -> SimpleExpr {
    let mut case = CaseStatement::new();
    for (id, v) in values {
        case = case.case(Expr::col(col("id")).eq(*id), Expr::val(v.clone()));
    }
    case.finally(Expr::val(Option::<String>::None)).into()
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Records the answers of one chunk in `txn`: each PENDING charge becomes PAID,
/// DECLINED or UNKNOWN; a paid or unknown one extends its subscription by a period (an
/// unknown one is held for reconciliation and never sent again, so the user keeps
/// PRO and is never charged twice); a declined one makes it PAST_DUE, or EXPIRED at the
/// third failure. Every change is conditional on the state it moves from.
pub(crate) async fn record(
    txn: &DatabaseTransaction,
    answers: &[(charge::Model, Answer)],
    now: Millis,
) -> Result<(Counts, Vec<EventEnvelope>), DbErr> {
    let mut counts = Counts::default();
    let mut events = Vec::new();
    let mut paid: Vec<(Uuid, String)> = Vec::new();
    let mut unknown: Vec<(Uuid, String)> = Vec::new();
    let mut declined: Vec<(Uuid, String)> = Vec::new();
    // Subscriptions to extend, by (period start, period end).
    let mut extend: BTreeMap<(Millis, Millis), Vec<Uuid>> = BTreeMap::new();
    let mut declined_subs: Vec<Uuid> = Vec::new();
    for (c, a) in answers {
        match a {
            Answer::Paid { tid } => {
                paid.push((c.id, tid.clone()));
                extend
                    .entry((c.period_start, c.period_end))
                    .or_default()
                    .push(c.subscription_id);
                events.push(EventEnvelope::new(
                    TOPIC_RENEWED,
                    c.subscription_id,
                    serde_json::json!({"user_id": c.user_id, "subscription_id": c.subscription_id,
                        "amount": c.amount, "period_end": c.period_end}),
                    now,
                ));
            }
            Answer::Unknown { reason } => {
                unknown.push((c.id, clip(reason)));
                extend
                    .entry((c.period_start, c.period_end))
                    .or_default()
                    .push(c.subscription_id);
            }
            Answer::Declined { reason } => {
                declined.push((c.id, clip(reason)));
                declined_subs.push(c.subscription_id);
            }
        }
    }
    for (status, rows, tid) in [
        (ChargeStatus::Paid, &paid, true),
        (ChargeStatus::Unknown, &unknown, false),
        (ChargeStatus::Declined, &declined, false),
    ] {
        if rows.is_empty() {
            continue;
        }
        let ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
        let target = if tid { "tid" } else { "last_error" };
        let stmt = Query::update()
            .table(col("billing_charges"))
            .value(col("status"), status.as_str())
            .value(col(target), per_row(rows))
            .value(col("updated_at"), now)
            .and_where(Expr::col(col("id")).is_in(ids))
            .and_where(Expr::col(col("status")).eq(ChargeStatus::Pending.as_str()))
            .to_owned();
        let moved = txn
            .execute(txn.get_database_backend().build(&stmt))
            .await?
            .rows_affected() as i64;
        match status {
            ChargeStatus::Paid => counts.charged += moved,
            ChargeStatus::Unknown => counts.held += moved,
            _ => {}
        }
    }
    for ((start, end), subs) in extend {
        subscription::Entity::update_many()
            .col_expr(
                subscription::Column::Status,
                Expr::value(SubscriptionStatus::Active),
            )
            .col_expr(subscription::Column::PeriodEnd, Expr::value(end))
            .col_expr(subscription::Column::DueAt, Expr::value(Some(end)))
            .col_expr(subscription::Column::FailedCharges, Expr::value(0))
            .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
            .filter(subscription::Column::Id.is_in(subs))
            .filter(subscription::Column::PeriodEnd.eq(start))
            .filter(
                subscription::Column::Status
                    .is_in([SubscriptionStatus::Active, SubscriptionStatus::PastDue]),
            )
            .exec(txn)
            .await?;
    }
    if !declined_subs.is_empty() {
        let ending: Vec<subscription::Model> = subscription::Entity::find()
            .filter(subscription::Column::Id.is_in(declined_subs.clone()))
            .filter(subscription::Column::FailedCharges.gte(MAX_FAILED_CHARGES - 1))
            .filter(
                subscription::Column::Status
                    .is_in([SubscriptionStatus::Active, SubscriptionStatus::PastDue]),
            )
            .all(txn)
            .await?;
        counts.downgraded += expire(txn, &ending, "charge_failed", now, &mut events).await?;
        let failing: Vec<subscription::Model> = subscription::Entity::find()
            .filter(subscription::Column::Id.is_in(declined_subs))
            .filter(subscription::Column::FailedCharges.lt(MAX_FAILED_CHARGES - 1))
            .filter(
                subscription::Column::Status
                    .is_in([SubscriptionStatus::Active, SubscriptionStatus::PastDue]),
            )
            .all(txn)
            .await?;
        if !failing.is_empty() {
            let ids: Vec<Uuid> = failing.iter().map(|s| s.id).collect();
            counts.failed += subscription::Entity::update_many()
                .col_expr(
                    subscription::Column::Status,
                    Expr::value(SubscriptionStatus::PastDue),
                )
                .col_expr(
                    subscription::Column::FailedCharges,
                    Expr::col(subscription::Column::FailedCharges).add(1),
                )
                .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
                .filter(subscription::Column::Id.is_in(ids))
                .filter(subscription::Column::FailedCharges.lt(MAX_FAILED_CHARGES - 1))
                .exec(txn)
                .await?
                .rows_affected as i64;
            for s in &failing {
                events.push(EventEnvelope::new(
                    TOPIC_CHARGE_FAILED,
                    s.id,
                    serde_json::json!({"user_id": s.user_id, "subscription_id": s.id,
                        "failed_charges": s.failed_charges + 1, "max": MAX_FAILED_CHARGES}),
                    now,
                ));
            }
        }
    }
    Ok((counts, events))
}

/// Ends `subs` (back to FREE) in `txn` with a downgrade event each; returns how many moved.
pub(crate) async fn expire(
    txn: &DatabaseTransaction,
    subs: &[subscription::Model],
    reason: &str,
    now: Millis,
    events: &mut Vec<EventEnvelope>,
) -> Result<i64, DbErr> {
    if subs.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = subs.iter().map(|s| s.id).collect();
    let moved = subscription::Entity::update_many()
        .col_expr(
            subscription::Column::Status,
            Expr::value(SubscriptionStatus::Expired),
        )
        .col_expr(
            subscription::Column::DueAt,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            subscription::Column::LiveKey,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            subscription::Column::FailedCharges,
            if reason == "charge_failed" {
                Expr::col(subscription::Column::FailedCharges).add(1)
            } else {
                Expr::col(subscription::Column::FailedCharges).into()
            },
        )
        .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
        .filter(subscription::Column::Id.is_in(ids))
        .filter(subscription::Column::Status.is_in(SubscriptionStatus::LIVE))
        .exec(txn)
        .await?
        .rows_affected as i64;
    for s in subs {
        events.push(EventEnvelope::new(
            TOPIC_DOWNGRADED,
            s.id,
            serde_json::json!({"user_id": s.user_id, "subscription_id": s.id, "reason": reason}),
            now,
        ));
    }
    Ok(moved)
}

/// Adds a chunk's counts to the run record (in the chunk's transaction).
pub(crate) async fn add_counts(
    txn: &DatabaseTransaction,
    run: Uuid,
    c: &Counts,
) -> Result<(), DbErr> {
    let add = |n: &str, v: i64| (col(n), Expr::col(col(n)).add(v));
    let stmt = Query::update()
        .table(col("billing_batch_runs"))
        .values([
            add("charged", c.charged),
            add("failed", c.failed),
            add("downgraded", c.downgraded),
            add("skipped", c.skipped),
            add("held", c.held),
        ])
        .and_where(Expr::col(col("id")).eq(run))
        .to_owned();
    txn.execute(txn.get_database_backend().build(&stmt)).await?;
    Ok(())
}

/// Writes the chunk's events into the outbox (one multi-row insert).
pub(crate) async fn enqueue(
    txn: &DatabaseTransaction,
    events: &[EventEnvelope],
) -> Result<(), DbErr> {
    enqueue_many(txn, events).await
}
