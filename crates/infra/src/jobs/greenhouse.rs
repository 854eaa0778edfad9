//! A company's Greenhouse job board (https://developers.greenhouse.io/job-board.html,
//! "List Jobs"): `GET /v1/boards/{board_token}/jobs?content=true`, no key, the whole
//! board in one answer: `{"jobs": [...], "meta": {"total"}}`. Each job (documented
//! names): `id`, `title`, `updated_at`, `first_published` (newer boards),
//! `location.name`, `absolute_url`, `content` (HTML, entity-escaped once more),
//! `departments[].name`, `offices[].name`. Greenhouse lists no experience, deadline or
//! skills: experience and kind are read from the title (`Intern`, `Junior`, `New
//! Grad`, `Senior`, `Contract`), skills from the title and description.

use async_trait::async_trait;
use reqwest::Url;
use serde_json::Value;
use surge_kernel::jobs::{BadItem, JobKind, JobSource, JobSourceError, SourcePage, SourcePosting};

use super::config::JobSourceConfig;
use super::fetch::{malformed, Fetcher};
use super::text::{decode_entities, plain_text, skills_in};

const NAME: &str = "Greenhouse";
pub const DEFAULT_BASE_URL: &str = "https://boards-api.greenhouse.io";

pub struct Greenhouse {
    fetch: Fetcher,
    url: Url,
    company: String,
}

impl Greenhouse {
    pub fn new(cfg: &JobSourceConfig) -> anyhow::Result<Self> {
        let board = cfg
            .board
            .as_deref()
            .map(str::trim)
            .filter(|b| {
                !b.is_empty()
                    && b.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "a greenhouse source needs `board` (the board token, letters, digits, - and _)"
                )
            })?;
        let mut url = cfg
            .base(DEFAULT_BASE_URL)?
            .join(&format!("/v1/boards/{board}/jobs"))
            .map_err(|e| anyhow::anyhow!("invalid base_url: {e}"))?;
        url.query_pairs_mut().append_pair("content", "true");
        Ok(Self {
            fetch: cfg.fetcher(NAME)?,
            url,
            company: cfg.company.clone().unwrap_or_else(|| board.to_owned()),
        })
    }
}

#[async_trait]
impl JobSource for Greenhouse {
    fn kind(&self) -> &'static str {
        "greenhouse"
    }

    async fn page(&self, _cursor: Option<&str>) -> Result<SourcePage, JobSourceError> {
        let body = self.fetch.get(self.url.clone()).await?;
        let v: Value = serde_json::from_str(&body).map_err(|e| malformed(NAME, e))?;
        let Some(jobs) = v["jobs"].as_array() else {
            return Err(malformed(NAME, "no `jobs` list in the answer"));
        };
        let mut page = SourcePage {
            total: v["meta"]["total"].as_u64(),
            ..SourcePage::default()
        };
        for job in jobs {
            match self.posting(job) {
                Ok(p) => page.postings.push(p),
                Err(e) => page.failed.push(e),
            }
        }
        Ok(page)
    }
}

fn time(v: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.timestamp_millis())
}

impl Greenhouse {
    fn posting(&self, job: &Value) -> Result<SourcePosting, BadItem> {
        let Some(id) = job["id"].as_u64().map(|n| n.to_string()) else {
            return Err(BadItem {
                source_id: None,
                reason: "no numeric id".into(),
            });
        };
        let text = |v: &Value| {
            v.as_str()
                .map(|s| decode_entities(s.trim()))
                .unwrap_or_default()
        };
        let title = text(&job["title"]);
        let url = text(&job["absolute_url"]);
        if title.is_empty() || url.is_empty() {
            return Err(BadItem {
                source_id: Some(id),
                reason: "no title or absolute_url".into(),
            });
        }
        let place = text(&job["location"]["name"]);
        let mut parts = place.split(',').map(str::trim);
        let location = parts.next().unwrap_or_default().to_owned();
        let district = parts.next().unwrap_or_default().to_owned();
        let description = plain_text(job["content"].as_str().unwrap_or_default());
        let lower = title.to_lowercase();
        let has = |w: &str| lower.split(|c: char| !c.is_alphanumeric()).any(|t| t == w);
        let intern = has("intern") || has("internship");
        let newbie = intern || has("junior") || lower.contains("new grad") || has("entry");
        let kind = if intern {
            JobKind::Intern
        } else if has("contract") || has("contractor") {
            JobKind::Contract
        } else if lower.contains("part-time") || lower.contains("part time") {
            JobKind::PartTime
        } else {
            JobKind::FullTime
        };
        let (experience_min, experience_max) = if newbie {
            (0, Some(1))
        } else if has("senior") || has("staff") || has("principal") || has("sr") {
            (5, None)
        } else {
            (0, None)
        };
        let category = job["departments"]
            .as_array()
            .and_then(|d| d.first())
            .map(|d| text(&d["name"]))
            .unwrap_or_default();
        Ok(SourcePosting {
            skills: skills_in(&format!("{title}\n{description}")),
            source_id: id,
            title,
            company: self.company.clone(),
            location,
            district,
            category,
            experience_min,
            experience_max,
            newbie,
            kind,
            deadline: None,
            url,
            description,
            posted_at: time(&job["first_published"]).or_else(|| time(&job["updated_at"])),
        })
    }
}
