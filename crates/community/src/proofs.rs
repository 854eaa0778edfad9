//! Proof of a mission: a photo, cleaned by the images pipeline (sniffed, shrunk, EXIF
//! stripped), moves the mission ASSIGNED (or REJECTED) → PENDING_REVIEW. A reviewer
//! approves or rejects it. Approval is one transaction: the conditional state move
//! (`WHERE status = 'PENDING_REVIEW'`), the point entry (unique per mission) and the
//! counters, so two admins approving at once, or the same admin twice, award once.
//! With an automatic verifier configured, a submitted proof also writes
//! `community.proof_submitted` in the same transaction (`verification.rs` consumes it).

use std::sync::Arc;

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use surge_kernel::auth::AuthUser;
use surge_kernel::clock::kst;
use surge_kernel::events::{enqueue, EventEnvelope};
use surge_kernel::page::{invalid_cursor, Page, PageQuery};
use surge_kernel::ports::NewNotification;
use surge_kernel::sql::{insert_if_absent, with_retries};
use surge_kernel::{new_id, ApiError};
use uuid::Uuid;

use crate::deps::Deps;
use crate::domain::{period_key, MissionState, Period};
use crate::entities::{mission, mission_history as history, point_entry, point_total};
use crate::images::Images;
use crate::missions::{history_view, missions_of, MissionHistoryView};

pub struct Proofs {
    deps: Arc<Deps>,
    images: Arc<Images>,
    /// An automatic verifier takes submitted proofs first (`community.proof_submitted`).
    verifying: bool,
}

/// A proof was submitted for checking: `{history_id, image_id}`.
pub const PROOF_SUBMITTED: &str = "community.proof_submitted";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProofSubmitted {
    pub history_id: Uuid,
    /// The photo checked: a later resubmission is another event.
    pub image_id: Uuid,
}

/// A reviewer's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject { reason: Option<String> },
}

impl Proofs {
    pub(crate) fn new(deps: Arc<Deps>, images: Arc<Images>, verifying: bool) -> Self {
        Proofs {
            deps,
            images,
            verifying,
        }
    }

    /// Takes a photo as proof of one of the caller's missions of today.
    #[tracing::instrument(skip(self, who, photo), fields(user_id = %who.id))]
    pub async fn submit(
        &self,
        who: &AuthUser,
        id: Uuid,
        photo: Vec<u8>,
    ) -> Result<MissionHistoryView, ApiError> {
        let h = self.own(who, id).await?;
        if !h.status.can_become(MissionState::PendingReview) {
            return Err(not_expected(h.status));
        }
        if h.day != kst::day(self.deps.clock.now_ms()).to_string() {
            return Err(ApiError::conflict(
                "mission_expired",
                "a mission can be proven only on its own day (KST)",
            ));
        }
        let image = self.images.upload(who, photo).await?;
        let now = self.deps.clock.now_ms();
        let txn = self.deps.db.begin().await?;
        let moved = history::Entity::update_many()
            .col_expr(
                history::Column::Status,
                Expr::value(MissionState::PendingReview),
            )
            .col_expr(history::Column::ProofImageId, Expr::value(Some(image.id)))
            .col_expr(history::Column::SubmittedAt, Expr::value(Some(now)))
            .col_expr(history::Column::DecidedAt, Expr::value(Option::<i64>::None))
            .col_expr(
                history::Column::DecidedBy,
                Expr::value(Option::<Uuid>::None),
            )
            .col_expr(
                history::Column::RejectReason,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                history::Column::VerifierNote,
                Expr::value(Option::<String>::None),
            )
            .col_expr(history::Column::UpdatedAt, Expr::value(now))
            .filter(history::Column::Id.eq(id))
            .filter(history::Column::UserId.eq(who.id))
            .filter(history::Column::Status.is_in([MissionState::Assigned, MissionState::Rejected]))
            .exec(&txn)
            .await?;
        if moved.rows_affected == 1 && self.verifying {
            let payload = serde_json::to_value(ProofSubmitted {
                history_id: id,
                image_id: image.id,
            })
            .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
            enqueue(&txn, &EventEnvelope::new(PROOF_SUBMITTED, id, payload, now)).await?;
        }
        txn.commit().await?;
        if self.verifying {
            self.deps.outbox.wake();
        }
        let h = self.own(who, id).await?;
        if moved.rows_affected != 1 {
            return Err(not_expected(h.status));
        }
        self.view(h).await
    }

    /// Proofs waiting for review, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn pending(&self, q: &PageQuery) -> Result<Page<MissionHistoryView>, ApiError> {
        let limit = q.limit()?;
        let mut query = history::Entity::find()
            .filter(history::Column::Status.eq(MissionState::PendingReview))
            .order_by_asc(history::Column::SubmittedAt)
            .order_by_asc(history::Column::Id);
        if let Some(c) = q.cursor()? {
            let (at, id) = c.split_once('|').ok_or_else(invalid_cursor)?;
            let at: i64 = at.parse().map_err(|_| invalid_cursor())?;
            let id: Uuid = id.parse().map_err(|_| invalid_cursor())?;
            query = query.filter(
                Condition::any()
                    .add(history::Column::SubmittedAt.gt(at))
                    .add(
                        Condition::all()
                            .add(history::Column::SubmittedAt.eq(at))
                            .add(history::Column::Id.gt(id)),
                    ),
            );
        }
        let rows = query.limit(limit + 1).all(&self.deps.read_db).await?;
        let missions = missions_of(&self.deps.read_db, &rows).await?;
        let cursors: Vec<(Uuid, i64)> = rows
            .iter()
            .map(|h| (h.id, h.submitted_at.unwrap_or_default()))
            .collect();
        let views: Vec<MissionHistoryView> = rows
            .into_iter()
            .map(|h| {
                let m = missions.get(&h.mission_id);
                history_view(h, m)
            })
            .collect();
        Ok(Page::from_rows(views, limit, |v| {
            let at = cursors
                .iter()
                .find(|(id, _)| *id == v.id)
                .map_or(0, |(_, at)| *at);
            format!("{at}|{}", v.id)
        }))
    }

    /// Approves or rejects a pending proof. Approving one already approved answers it
    /// as it stands (no second award); any other decision on a decided proof is 409.
    #[tracing::instrument(skip(self), fields(history_id = %id))]
    pub async fn decide(
        &self,
        reviewer: Option<Uuid>,
        id: Uuid,
        verdict: Verdict,
    ) -> Result<MissionHistoryView, ApiError> {
        self.decide_on(reviewer, id, None, verdict).await
    }

    /// [`Proofs::decide`] by the automatic verifier (no reviewer), only while the proof
    /// under review is still the photo `image` it looked at.
    pub(crate) async fn decide_checked(
        &self,
        id: Uuid,
        image: Uuid,
        verdict: Verdict,
    ) -> Result<MissionHistoryView, ApiError> {
        self.decide_on(None, id, Some(image), verdict).await
    }

    /// Leaves a proof to the admins with the verifier's note, if it is still the photo
    /// `image` waiting for review.
    pub(crate) async fn note(&self, id: Uuid, image: Uuid, note: &str) -> Result<(), ApiError> {
        let note: String = note.chars().take(1_000).collect();
        history::Entity::update_many()
            .col_expr(history::Column::VerifierNote, Expr::value(Some(note)))
            .filter(history::Column::Id.eq(id))
            .filter(history::Column::ProofImageId.eq(image))
            .filter(history::Column::Status.eq(MissionState::PendingReview))
            .exec(&self.deps.db)
            .await?;
        Ok(())
    }

    async fn decide_on(
        &self,
        reviewer: Option<Uuid>,
        id: Uuid,
        image: Option<Uuid>,
        verdict: Verdict,
    ) -> Result<MissionHistoryView, ApiError> {
        let next = match verdict {
            Verdict::Approve => MissionState::Approved,
            Verdict::Reject { .. } => MissionState::Rejected,
        };
        debug_assert!(MissionState::PendingReview.can_become(next));
        let reason = match &verdict {
            Verdict::Reject { reason } => reason.clone(),
            Verdict::Approve => None,
        };
        // MySQL may deadlock concurrent awards on the counters' index: run again.
        let h = match with_retries(|| self.try_decide(reviewer, id, image, next, reason.clone()))
            .await?
        {
            Decided::Moved(h) => h,
            Decided::Missing => return Err(ApiError::not_found("no such mission history")),
            Decided::Unmoved(h) if h.status == next && next == MissionState::Approved => {
                return self.view(h).await
            }
            Decided::Unmoved(h) => return Err(not_pending(h.status)),
        };
        let (kind, title, body) = if next == MissionState::Approved {
            (
                "mission_approved",
                "미션 인증 완료",
                format!("미션이 승인되어 {}포인트를 받았어요.", h.points),
            )
        } else {
            (
                "mission_rejected",
                "미션 인증 반려",
                "미션 인증이 반려되었어요. 오늘 안에 다시 인증할 수 있어요.".to_owned(),
            )
        };
        self.deps
            .tell(
                h.user_id,
                NewNotification {
                    kind: kind.into(),
                    title: title.into(),
                    body,
                    data: serde_json::json!({ "mission_history_id": h.id, "points": h.points }),
                },
            )
            .await;
        self.view(h).await
    }

    /// One transaction: the conditional move, then (approving) the award.
    async fn try_decide(
        &self,
        reviewer: Option<Uuid>,
        id: Uuid,
        image: Option<Uuid>,
        next: MissionState,
        reason: Option<String>,
    ) -> Result<Decided, DbErr> {
        let txn = self.deps.db.begin().await?;
        let now = self.deps.clock.now_ms();
        let mut moved = history::Entity::update_many()
            .col_expr(history::Column::Status, Expr::value(next))
            .col_expr(history::Column::DecidedAt, Expr::value(Some(now)))
            .col_expr(history::Column::DecidedBy, Expr::value(reviewer))
            .col_expr(history::Column::RejectReason, Expr::value(reason))
            .col_expr(history::Column::UpdatedAt, Expr::value(now))
            .filter(history::Column::Id.eq(id))
            .filter(history::Column::Status.eq(MissionState::PendingReview));
        if let Some(image) = image {
            moved = moved.filter(history::Column::ProofImageId.eq(image));
        }
        let moved = moved.exec(&txn).await?;
        let Some(h) = history::Entity::find_by_id(id).one(&txn).await? else {
            txn.rollback().await?;
            return Ok(Decided::Missing);
        };
        if moved.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(Decided::Unmoved(h));
        }
        if next == MissionState::Approved {
            award(&txn, &h, now).await?;
        }
        txn.commit().await?;
        Ok(Decided::Moved(h))
    }

    async fn own(&self, who: &AuthUser, id: Uuid) -> Result<history::Model, ApiError> {
        history::Entity::find_by_id(id)
            .one(&self.deps.db)
            .await?
            .filter(|h| h.user_id == who.id)
            .ok_or_else(|| ApiError::not_found("no such mission history"))
    }

    async fn view(&self, h: history::Model) -> Result<MissionHistoryView, ApiError> {
        let m = mission::Entity::find_by_id(h.mission_id)
            .one(&self.deps.db)
            .await?;
        Ok(history_view(h, m.as_ref()))
    }
}

enum Decided {
    Moved(history::Model),
    Unmoved(history::Model),
    Missing,
}

fn not_expected(status: MissionState) -> ApiError {
    ApiError::conflict(
        "proof_not_expected",
        "this mission is waiting for review or already approved",
    )
    .with("state", serde_json::to_value(status).unwrap_or_default())
}

fn not_pending(status: MissionState) -> ApiError {
    ApiError::conflict("not_pending", "this proof is not waiting for review")
        .with("state", serde_json::to_value(status).unwrap_or_default())
}

/// The mission's points, once: the entry's unique history key, then the user's day,
/// week and all-time counters by relative updates, in the approval's transaction. The
/// day and week are the mission's own KST day.
async fn award(txn: &DatabaseTransaction, h: &history::Model, now: i64) -> Result<(), DbErr> {
    let entry = Query::insert()
        .into_table(point_entry::Entity)
        .columns([
            point_entry::Column::Id,
            point_entry::Column::UserId,
            point_entry::Column::HistoryId,
            point_entry::Column::Points,
            point_entry::Column::Reason,
            point_entry::Column::CreatedAt,
        ])
        .values_panic([
            new_id().into(),
            h.user_id.into(),
            h.id.into(),
            h.points.into(),
            "mission".into(),
            now.into(),
        ])
        .to_owned();
    if !insert_if_absent(txn, entry, &["history_id"]).await? {
        return Ok(());
    }
    let day = chrono::NaiveDate::parse_from_str(&h.day, "%Y-%m-%d")
        .map_err(|e| DbErr::Custom(format!("mission day {}: {e}", h.day)))?;
    for p in [Period::Day, Period::Week, Period::All] {
        add_points(txn, &period_key(p, day), h.user_id, h.points, now).await?;
    }
    Ok(())
}

/// `points += k` on one counter, creating it at k the first time.
pub(crate) async fn add_points(
    txn: &DatabaseTransaction,
    period: &str,
    user: Uuid,
    k: i64,
    now: i64,
) -> Result<(), DbErr> {
    let bump = || {
        point_total::Entity::update_many()
            .col_expr(
                point_total::Column::Points,
                Expr::col(point_total::Column::Points).add(k),
            )
            .col_expr(point_total::Column::UpdatedAt, Expr::value(now))
            .filter(point_total::Column::Period.eq(period))
            .filter(point_total::Column::UserId.eq(user))
    };
    if bump().exec(txn).await?.rows_affected == 1 {
        return Ok(());
    }
    let insert = Query::insert()
        .into_table(point_total::Entity)
        .columns([
            point_total::Column::Period,
            point_total::Column::UserId,
            point_total::Column::Points,
            point_total::Column::UpdatedAt,
        ])
        .values_panic([period.into(), user.into(), k.into(), now.into()])
        .to_owned();
    if !insert_if_absent(txn, insert, &["period", "user_id"]).await? {
        // Created meanwhile by another award of this user: add to it.
        bump().exec(txn).await?;
    }
    Ok(())
}
