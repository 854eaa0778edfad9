//! The `Llm` port: a chat-style language model (messages in, text out). Adapter
//! (`surge-infra::llm`): the OpenAI-compatible chat-completions API (OpenAI, vLLM,
//! Ollama), tested against a local fake of that API. The embedded default of resumes is
//! a template writer that needs no model at all; it is not an `Llm`.

use async_trait::async_trait;

use crate::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
}

/// One completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub messages: Vec<Message>,
    /// Ask for a JSON object as the answer (where the model supports it).
    pub json: bool,
    pub max_tokens: Option<u32>,
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub text: String,
    /// The model that answered, as the server names it.
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The server refused the request (bad key, unknown model, bad request): fix
    /// configuration or the prompt; retrying does not help.
    #[error("the language model refused the request (HTTP {status}): {detail}")]
    Refused { status: u16, detail: String },
    /// Still rate limited after the retries; try again after `retry_at` when known.
    #[error("the language model is rate limited")]
    RateLimited { retry_at: Option<Millis> },
    /// Network failure, timeout, 5xx after the retries, or an answer not of the
    /// documented shape (no choice, empty content).
    #[error("the language model is unavailable: {detail}")]
    Unavailable { detail: String },
}

#[async_trait]
pub trait Llm: Send + Sync + 'static {
    /// `openai`.
    fn kind(&self) -> &'static str;
    async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError>;
}
