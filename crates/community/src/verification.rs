//! The automatic check of mission proofs, when a `MissionVerifier` is configured: each
//! `community.proof_submitted` is looked at by the verifier, and its verdict decides the
//! proof as an admin's would (points once, the same notification). An uncertain verdict,
//! or a verifier that cannot be reached or answers nonsense, leaves the proof in the
//! admins' queue with a note saying why; nothing waits on the verifier.
//!
//! Redelivery is harmless without a claim record: the decision is a conditional move out
//! of `PENDING_REVIEW` for the very photo that was checked, so an event delivered twice,
//! or one whose proof an admin decided or the user replaced meanwhile, changes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::EntityTrait;
use surge_kernel::events::EventEnvelope;
use surge_kernel::ports::EventHandler;
use surge_kernel::verifier::{MissionVerifier, ProofToVerify, Verdict};
use surge_kernel::ApiError;

use crate::deps::Deps;
use crate::domain::MissionState;
use crate::entities::{mission, mission_history as history};
use crate::images::Images;
use crate::proofs::{self, ProofSubmitted, Proofs};

/// The consumer name: one verifier call per proof across instances.
pub const VERIFIER_CONSUMER: &str = "community.verifier";

pub(crate) struct Verification {
    pub deps: Arc<Deps>,
    pub proofs: Arc<Proofs>,
    pub images: Arc<Images>,
    pub verifier: Arc<dyn MissionVerifier>,
}

#[async_trait]
impl EventHandler for Verification {
    #[tracing::instrument(skip_all, fields(event_id = %event.id))]
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let e: ProofSubmitted = event.payload_as()?;
        let Some(h) = history::Entity::find_by_id(e.history_id)
            .one(&self.deps.db)
            .await?
        else {
            return Ok(());
        };
        if h.status != MissionState::PendingReview || h.proof_image_id != Some(e.image_id) {
            return Ok(()); // decided, or replaced by a later photo (its own event)
        }
        let m = mission::Entity::find_by_id(h.mission_id)
            .one(&self.deps.db)
            .await?;
        let photo = self.images.get(e.image_id).await.map_err(api)?;
        let proof = ProofToVerify {
            mission_title: m.as_ref().map(|m| m.title.clone()).unwrap_or_default(),
            mission_description: m.map(|m| m.description).unwrap_or_default(),
            content_type: photo.content_type,
            image: photo.bytes,
        };
        let decision = match self.verifier.verify(&proof).await {
            Ok(Verdict::Approved) => proofs::Verdict::Approve,
            Ok(Verdict::Rejected { reason }) => proofs::Verdict::Reject {
                reason: Some(reason),
            },
            Ok(Verdict::Uncertain { reason }) => {
                let note = format!("the verifier was not sure: {reason}");
                return self.proofs.note(h.id, e.image_id, &note).await.map_err(api);
            }
            Err(err) => {
                tracing::warn!(error = %err, history_id = %h.id, "mission verifier failed; the proof waits for an admin");
                let note = format!("the verifier gave no verdict: {err}");
                return self.proofs.note(h.id, e.image_id, &note).await.map_err(api);
            }
        };
        match self.proofs.decide_checked(h.id, e.image_id, decision).await {
            Ok(_) => Ok(()),
            // An admin decided first, or the user sent another photo: theirs stands.
            Err(err) if err.status.as_u16() == 409 => Ok(()),
            Err(err) => Err(api(err)),
        }
    }
}

fn api(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}
