//! The `CodeHost` port: what a developer has published on a code host (public
//! repositories, their languages, README excerpts, recent commit counts), read for
//! resumes. Adapters (`surge-infra::code_host`): the GitHub REST API and an offline
//! fake host. Every adapter passes `surge_testkit::contracts::code_host`.

use async_trait::async_trait;

use crate::Millis;

/// One public repository a user owns, as the host describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Repository {
    /// The owner's login (the user the repositories were asked for).
    pub owner: String,
    /// The repository's name, e.g. `surge`.
    pub name: String,
    pub url: String,
    /// May be empty.
    pub description: String,
    /// The host's main language, when it detected one.
    pub language: Option<String>,
    pub stars: u64,
    pub forks: u64,
    /// A fork of someone else's repository.
    pub fork: bool,
    pub archived: bool,
    pub topics: Vec<String>,
    /// The last push; `None` for a repository never pushed to.
    pub pushed_at: Option<Millis>,
}

/// Why the host could not answer (after the adapter's own retries).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeHostError {
    /// No such user or repository.
    #[error("{what} was not found on the code host")]
    NotFound { what: String },
    /// The host's rate limit is used up until `reset_at`: ask again after it.
    #[error("the code host's rate limit is used up until {reset_at} (ms)")]
    RateLimited { reset_at: Millis },
    /// Network failure, timeout, 5xx, or an answer not of the documented shape.
    #[error("the code host is unavailable: {detail}")]
    Unavailable { detail: String },
}

/// A code host read for one user's public work.
#[async_trait]
pub trait CodeHost: Send + Sync + 'static {
    /// `github` or `fake`.
    fn kind(&self) -> &'static str;
    /// The public repositories `login` owns, most recently pushed first, at most
    /// `limit` of them (every page the host has, up to `limit`).
    async fn repositories(
        &self,
        login: &str,
        limit: usize,
    ) -> Result<Vec<Repository>, CodeHostError>;
    /// The languages of a repository with their byte counts, largest first.
    async fn languages(&self, owner: &str, repo: &str)
        -> Result<Vec<(String, u64)>, CodeHostError>;
    /// The repository's README as plain text, trimmed to at most `max_chars`
    /// characters; `None` when it has none.
    async fn readme(
        &self,
        owner: &str,
        repo: &str,
        max_chars: usize,
    ) -> Result<Option<String>, CodeHostError>;
    /// How many commits `author` made to the repository since `since` (0 for an
    /// empty repository).
    async fn commit_count(
        &self,
        owner: &str,
        repo: &str,
        author: &str,
        since: Millis,
    ) -> Result<u64, CodeHostError>;
}

/// Cuts `text` to at most `max_chars` characters, at a word boundary when there is
/// one in the last fifth, and marks the cut with `…`. Trims whitespace.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    let Some((cut, _)) = text.char_indices().nth(max_chars) else {
        return text.to_owned();
    };
    let head = &text[..cut];
    let floor = head
        .char_indices()
        .nth(max_chars.saturating_mul(4) / 5)
        .map_or(0, |(i, _)| i);
    let head = match head.rfind(char::is_whitespace) {
        Some(space) if space >= floor && space > 0 => &head[..space],
        _ => head,
    };
    format!("{}…", head.trim_end())
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn an_excerpt_keeps_short_text_and_cuts_long_text_at_a_word() {
        assert_eq!(excerpt("  short  ", 10), "short");
        assert_eq!(excerpt("one two three four", 14), "one two three…");
        // No space in the last fifth: cut inside the word rather than lose a fifth.
        assert_eq!(excerpt("one two three four", 12), "one two thre…");
        assert_eq!(excerpt("가나다라마바사", 3), "가나다…");
    }
}
