//! The `JobSource` port: a public job board read page by page, each posting normalized
//! to the fields careers stores. Adapters (`surge-infra::jobs`): Saramin (JSON, access
//! key), Work24/고용24 (XML, auth key), Greenhouse job boards (JSON, no key), and an
//! offline fake board. Every adapter passes `surge_testkit::contracts::job_source`.

use async_trait::async_trait;

use crate::Millis;

/// How a job is offered, as the sources say it (careers maps it to its own enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum JobKind {
    FullTime,
    Contract,
    Intern,
    PartTime,
    Other,
}

/// One posting as a source describes it, already mapped to careers' fields. Text is
/// plain (no HTML, entities decoded) and trimmed; the adapter does not enforce careers'
/// length limits (careers truncates), but never returns an empty `source_id`, `title`,
/// `company` or `url`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourcePosting {
    /// The source's own id: stable across runs, unique within the source.
    pub source_id: String,
    pub title: String,
    pub company: String,
    /// Region (시/도, or a city/country abroad), e.g. `서울`.
    pub location: String,
    /// The part below it (구/시), e.g. `강남구`; may be empty.
    pub district: String,
    /// The source's job category, e.g. `백엔드/서버개발` or a department.
    pub category: String,
    /// Skills and keywords, as the source lists them (careers deduplicates).
    pub skills: Vec<String>,
    /// Years of experience asked for; `experience_max: None` = no upper bound.
    pub experience_min: i32,
    pub experience_max: Option<i32>,
    /// Newcomers welcome (신입).
    pub newbie: bool,
    pub kind: JobKind,
    /// When applications close; `None`: until filled (상시채용).
    pub deadline: Option<Millis>,
    pub url: String,
    pub description: String,
    /// When the source published it; `None`: unknown (careers uses the first sight).
    pub posted_at: Option<Millis>,
}

/// An item of a page that could not be read: counted as failed, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadItem {
    /// Its id, when that much could be read.
    pub source_id: Option<String>,
    pub reason: String,
}

/// One page of a source's postings.
#[derive(Debug, Clone, Default)]
pub struct SourcePage {
    pub postings: Vec<SourcePosting>,
    pub failed: Vec<BadItem>,
    /// What to pass to [`JobSource::page`] for the next page; `None` on the last.
    pub next: Option<String>,
    /// How many postings the source says it has in all, when it says.
    pub total: Option<u64>,
}

/// Why a page could not be read (after the adapter's own retries).
#[derive(Debug, thiserror::Error)]
pub enum JobSourceError {
    /// Network failure, timeout, 5xx or 429 that outlasted the retries: try again later.
    #[error("{source_name} is unavailable: {detail}")]
    Unavailable {
        source_name: &'static str,
        detail: String,
    },
    /// The source refused the request (a bad or missing key, 4xx): fix configuration.
    #[error("{source_name} refused the request (HTTP {status}): {detail}")]
    Refused {
        source_name: &'static str,
        status: u16,
        detail: String,
    },
    /// The answer as a whole is not of the documented shape.
    #[error("{source_name} answered in an unexpected shape: {detail}")]
    Malformed {
        source_name: &'static str,
        detail: String,
    },
}

/// A job board read page by page. A run reads from `page(None)` until `next` is `None`;
/// a run that reached the end saw every posting the source has (what is missing from
/// it is gone upstream).
#[async_trait]
pub trait JobSource: Send + Sync + 'static {
    /// `saramin`, `work24`, `greenhouse` or `fake`.
    fn kind(&self) -> &'static str;
    async fn page(&self, cursor: Option<&str>) -> Result<SourcePage, JobSourceError>;
}
