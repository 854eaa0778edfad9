//! The `NewsSource` port: one RSS or Atom feed, fetched with a conditional GET (the
//! `ETag` / `Last-Modified` of the last answer), its entries as plain text. Adapters:
//! `surge-infra::news` (HTTP + feed-rs) and its offline fake.

use async_trait::async_trait;

use crate::Millis;

/// One entry of a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewsItem {
    /// The entry's id (`guid` / `id`, else its link): stable across fetches.
    pub guid: String,
    pub title: String,
    pub url: String,
    /// Plain text (no markup), possibly empty.
    pub summary: String,
    pub published_at: Option<Millis>,
}

/// What the last answer said about its version (sent back on the next fetch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedValidators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// The answer to a conditional fetch.
#[derive(Debug, Clone)]
pub enum FeedFetch {
    /// 304: nothing changed since `validators`.
    NotModified,
    Fetched {
        items: Vec<NewsItem>,
        validators: FeedValidators,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum NewsSourceError {
    /// Network failure, timeout, 5xx or 429 past the retries.
    #[error("the feed is unavailable: {0}")]
    Unavailable(String),
    /// Any other refusal, or an answer that is not RSS or Atom.
    #[error("the feed cannot be read: {0}")]
    Unreadable(String),
}

#[async_trait]
pub trait NewsSource: Send + Sync + 'static {
    /// Fetches the feed unless it is unchanged since `since`.
    async fn fetch(&self, since: &FeedValidators) -> Result<FeedFetch, NewsSourceError>;
}
