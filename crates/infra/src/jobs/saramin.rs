//! Saramin's job-search open API (https://oapi.saramin.co.kr/guide/job-search):
//! `GET /job-search?access-key=…&start=<page, 0-based>&count=<≤110>` answers
//! `{"jobs": {"count", "start", "total", "job": [...]}}`. Each job (field names as
//! documented): `id`, `url`, `active` (1 open, 0 closed), `company.detail.name`,
//! `position.title`, `position.location.name` (`서울 &gt; 강남구,…`),
//! `position.job-type` (1 정규직, 2 계약직, 4 인턴직, 5 아르바이트, …),
//! `position.job-code.name` (comma list), `position.job-mid-code.name`,
//! `position.industry.name`, `position.experience-level` (`code` 0 경력무관, 1 신입,
//! 2 경력, 3 신입/경력; `min`/`max` years), `position.required-education-level.name`,
//! `keyword` (comma list), `salary.name`, `posting-timestamp`,
//! `expiration-timestamp` (epoch seconds as strings), `close-type.code`
//! (1 접수마감일, 2 채용시, 3 상시, 4 수시).

use async_trait::async_trait;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use surge_kernel::jobs::{BadItem, JobKind, JobSource, JobSourceError, SourcePage, SourcePosting};

use super::config::JobSourceConfig;
use super::fetch::{malformed, Fetcher};
use super::text::{decode_entities, listed_skills, split_region};

const NAME: &str = "Saramin";
pub const DEFAULT_BASE_URL: &str = "https://oapi.saramin.co.kr";
/// The largest `count` the API takes.
const MAX_COUNT: u32 = 110;

pub struct Saramin {
    fetch: Fetcher,
    base: Url,
    key: SecretString,
    count: u32,
    params: Vec<(String, String)>,
}

impl Saramin {
    pub fn new(cfg: &JobSourceConfig) -> anyhow::Result<Self> {
        Ok(Self {
            fetch: cfg.fetcher(NAME)?,
            base: cfg.base(DEFAULT_BASE_URL)?,
            key: cfg.key("the access-key Saramin issued")?,
            count: cfg.page_size.unwrap_or(MAX_COUNT).clamp(1, MAX_COUNT),
            params: cfg.params.clone().into_iter().collect(),
        })
    }
}

#[async_trait]
impl JobSource for Saramin {
    fn kind(&self) -> &'static str {
        "saramin"
    }

    async fn page(&self, cursor: Option<&str>) -> Result<SourcePage, JobSourceError> {
        let start: u64 = match cursor {
            Some(c) => c.parse().map_err(|_| malformed(NAME, "bad page cursor"))?,
            None => 0,
        };
        let mut url = self
            .base
            .join("job-search")
            .map_err(|e| malformed(NAME, e))?;
        url.query_pairs_mut()
            .append_pair("access-key", self.key.expose_secret())
            .append_pair("start", &start.to_string())
            .append_pair("count", &self.count.to_string())
            .extend_pairs(self.params.iter());
        let body = self.fetch.get(url).await?;
        let v: Value = serde_json::from_str(&body).map_err(|e| malformed(NAME, e))?;
        // Errors come back as `{"code": …, "message": …}`.
        if v.get("jobs").is_none() {
            if let Some(m) = v.get("message").and_then(Value::as_str) {
                return Err(JobSourceError::Refused {
                    source_name: NAME,
                    status: 200,
                    detail: m.to_owned(),
                });
            }
            return Err(malformed(NAME, "no `jobs` in the answer"));
        }
        let jobs = &v["jobs"];
        let total = number(&jobs["total"]);
        let items = match &jobs["job"] {
            Value::Array(a) => a.clone(),
            Value::Null => Vec::new(),
            one @ Value::Object(_) => vec![one.clone()],
            _ => return Err(malformed(NAME, "`jobs.job` is not a list")),
        };
        let mut page = SourcePage {
            total,
            ..SourcePage::default()
        };
        let seen = (start + 1) * u64::from(self.count);
        if !items.is_empty() && total.is_some_and(|t| seen < t) {
            page.next = Some((start + 1).to_string());
        }
        for item in &items {
            // A closed job (`active` 0) is not on the board any more.
            if number(&item["active"]) == Some(0) {
                continue;
            }
            match posting(item) {
                Ok(p) => page.postings.push(p),
                Err(e) => page.failed.push(e),
            }
        }
        Ok(page)
    }
}

/// A number sent as a number or as a string.
fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.trim().parse().ok())
}

fn text(v: &Value) -> String {
    v.as_str()
        .map(|s| decode_entities(s.trim()))
        .unwrap_or_default()
}

fn posting(job: &Value) -> Result<SourcePosting, BadItem> {
    let id = match &job["id"] {
        Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(BadItem {
                source_id: None,
                reason: "no id".into(),
            })
        }
    };
    let bad = |reason: &str| BadItem {
        source_id: Some(id.clone()),
        reason: reason.into(),
    };
    let pos = &job["position"];
    let title = text(&pos["title"]);
    let company = text(&job["company"]["detail"]["name"]);
    let url = text(&job["url"]);
    if title.is_empty() || company.is_empty() || url.is_empty() {
        return Err(bad("no title, company or url"));
    }
    let (location, district) = split_region(&text(&pos["location"]["name"]));
    let job_codes = text(&pos["job-code"]["name"]);
    let category = [
        job_codes
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        text(&pos["job-mid-code"]["name"]),
        text(&pos["industry"]["name"]),
    ]
    .into_iter()
    .find(|c| !c.is_empty())
    .unwrap_or_default();
    let exp = &pos["experience-level"];
    let years = |v: &Value| number(v).and_then(|n| i32::try_from(n).ok());
    let (min, max) = (years(&exp["min"]).unwrap_or(0), years(&exp["max"]));
    let (experience_min, experience_max, newbie) = match number(&exp["code"]) {
        Some(1) => (0, Some(0), true),
        Some(2) => (min, max.filter(|m| *m > 0 && *m >= min), false),
        Some(3) => (0, max.filter(|m| *m > 0), true),
        _ => (0, None, true),
    };
    let job_type = text(&pos["job-type"]["code"]);
    let kind = match job_type.split(',').next().map(str::trim) {
        Some("1") => JobKind::FullTime,
        Some("2" | "10") => JobKind::Contract,
        Some("4" | "11") => JobKind::Intern,
        Some("5") => JobKind::PartTime,
        _ => JobKind::Other,
    };
    let secs = |v: &Value| {
        number(v)
            .and_then(|s| i64::try_from(s).ok())
            .map(|s| s * 1000)
    };
    let deadline = match text(&job["close-type"]["code"]).as_str() {
        "1" | "" => secs(&job["expiration-timestamp"]),
        // 채용시 / 상시 / 수시: open until filled.
        _ => None,
    };
    let mut skills = listed_skills(&text(&job["keyword"]));
    if skills.is_empty() {
        skills = listed_skills(&job_codes);
    }
    let description = [
        text(&pos["industry"]["name"]),
        job_codes.replace(',', ", "),
        text(&job["salary"]["name"]),
        text(&pos["required-education-level"]["name"]),
        text(&pos["job-type"]["name"]),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" · ");
    Ok(SourcePosting {
        source_id: id,
        title,
        company,
        location,
        district,
        category,
        skills,
        experience_min,
        experience_max,
        newbie,
        kind,
        deadline,
        url,
        description,
        posted_at: secs(&job["posting-timestamp"]),
    })
}
