//! The `MissionVerifier` port: looks at a mission's proof photo and says whether it
//! shows what the mission asks. Adapters: an OpenAI-compatible vision chat-completions
//! client (`surge_infra::verifier`); without one, proofs wait for admins.

use async_trait::async_trait;

/// What is checked: the mission's text and the cleaned photo.
#[derive(Debug, Clone)]
pub struct ProofToVerify {
    pub mission_title: String,
    pub mission_description: String,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: String,
    pub image: Vec<u8>,
}

/// The verifier's answer. `Uncertain` sends the proof to the admins' queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Approved,
    Rejected { reason: String },
    Uncertain { reason: String },
}

/// Why no verdict came back; every one sends the proof to the admins' queue.
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    /// Not reachable, timed out, or 429/5xx after every retry.
    #[error("the mission verifier is unavailable: {0}")]
    Unavailable(String),
    /// The service refused the request (4xx other than 429: a bad key or model).
    #[error("the mission verifier refused the request: HTTP {status}: {detail}")]
    Refused { status: u16, detail: String },
    /// An answer that is not the strict JSON verdict asked for.
    #[error("the mission verifier's answer is unreadable: {0}")]
    Malformed(String),
}

#[async_trait]
pub trait MissionVerifier: Send + Sync + 'static {
    async fn verify(&self, proof: &ProofToVerify) -> Result<Verdict, VerifierError>;
}
