//! Work24 (고용24, formerly WorkNet) job-listing open API (채용정보 목록, the
//! `callOpenApiSvcInfo210L01` service; the guide is on work24.go.kr under 오픈API):
//! `GET …?authKey=…&callTp=L&returnType=XML&startPage=<1-based>&display=<≤100>` answers
//!
//! ```xml
//! <wantedRoot><total>…</total><startPage>…</startPage><display>…</display>
//!   <wanted><wantedAuthNo/><company/><title/><region/><career/><minEdubg/><sal/>
//!     <regDt>YY-MM-DD</regDt><closeDt>YY-MM-DD | 채용시까지 YY-MM-DD</closeDt>
//!     <wantedInfoUrl/><empTpCd/><indTpNm/><holidayTpNm/><basicAddr/>…</wanted>…
//! </wantedRoot>
//! ```
//!
//! `empTpCd`: 10 기간의 정함이 없는 근로계약, 11 the same part-time (시간선택제),
//! 20 기간의 정함이 있는 근로계약, 21 the same part-time, 4 파견근로, 3 대체인력.
//! An error is `<wantedRoot><messageCd/><message/></wantedRoot>` (or another root
//! holding `message`).

use async_trait::async_trait;
use reqwest::Url;
use roxmltree::{Document, Node};
use secrecy::{ExposeSecret, SecretString};
use surge_kernel::jobs::{BadItem, JobKind, JobSource, JobSourceError, SourcePage, SourcePosting};

use super::config::JobSourceConfig;
use super::fetch::{malformed, Fetcher};
use super::text::{kst_day_end, kst_day_start, skills_in, split_region, years_in};

const NAME: &str = "Work24";
pub const DEFAULT_BASE_URL: &str = "https://www.work24.go.kr";
pub const LIST_PATH: &str = "/cm/openApi/call/wk/callOpenApiSvcInfo210L01.do";
const MAX_DISPLAY: u32 = 100;

pub struct Work24 {
    fetch: Fetcher,
    url: Url,
    key: SecretString,
    display: u32,
    params: Vec<(String, String)>,
}

impl Work24 {
    pub fn new(cfg: &JobSourceConfig) -> anyhow::Result<Self> {
        let url = cfg
            .base(DEFAULT_BASE_URL)?
            .join(LIST_PATH)
            .map_err(|e| anyhow::anyhow!("invalid base_url: {e}"))?;
        Ok(Self {
            fetch: cfg.fetcher(NAME)?,
            url,
            key: cfg.key("the authKey Work24 issued")?,
            display: cfg.page_size.unwrap_or(MAX_DISPLAY).clamp(1, MAX_DISPLAY),
            params: cfg.params.clone().into_iter().collect(),
        })
    }
}

#[async_trait]
impl JobSource for Work24 {
    fn kind(&self) -> &'static str {
        "work24"
    }

    async fn page(&self, cursor: Option<&str>) -> Result<SourcePage, JobSourceError> {
        let start: u64 = match cursor {
            Some(c) => c.parse().map_err(|_| malformed(NAME, "bad page cursor"))?,
            None => 1,
        };
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .append_pair("authKey", self.key.expose_secret())
            .append_pair("callTp", "L")
            .append_pair("returnType", "XML")
            .append_pair("startPage", &start.to_string())
            .append_pair("display", &self.display.to_string())
            .extend_pairs(self.params.iter());
        let body = self.fetch.get(url).await?;
        let doc = Document::parse(&body).map_err(|e| malformed(NAME, e))?;
        let root = doc.root_element();
        let Some(total) = child(root, "total") else {
            let message = child(root, "message")
                .or_else(|| child(root, "messageCd"))
                .unwrap_or_else(|| format!("no <total> in <{}>", root.tag_name().name()));
            return Err(JobSourceError::Refused {
                source_name: NAME,
                status: 200,
                detail: message,
            });
        };
        let total: u64 = total
            .parse()
            .map_err(|_| malformed(NAME, "<total> is not a number"))?;
        let mut page = SourcePage {
            total: Some(total),
            ..SourcePage::default()
        };
        let mut any = false;
        for w in root.children().filter(|n| n.has_tag_name("wanted")) {
            any = true;
            match posting(w) {
                Ok(p) => page.postings.push(p),
                Err(e) => page.failed.push(e),
            }
        }
        if any && start * u64::from(self.display) < total {
            page.next = Some((start + 1).to_string());
        }
        Ok(page)
    }
}

/// The trimmed text of `node`'s first child element named `name`.
fn child(node: Node, name: &str) -> Option<String> {
    node.children()
        .find(|n| n.has_tag_name(name))
        .map(|n| n.text().unwrap_or_default().trim().to_owned())
}

fn posting(w: Node) -> Result<SourcePosting, BadItem> {
    let get = |name: &str| child(w, name).unwrap_or_default();
    let id = get("wantedAuthNo");
    if id.is_empty() {
        return Err(BadItem {
            source_id: None,
            reason: "no wantedAuthNo".into(),
        });
    }
    let (title, company, url) = (get("title"), get("company"), get("wantedInfoUrl"));
    if title.is_empty() || company.is_empty() || url.is_empty() {
        return Err(BadItem {
            source_id: Some(id),
            reason: "no title, company or wantedInfoUrl".into(),
        });
    }
    let (location, district) = split_region(&get("region"));
    let career = get("career");
    let (experience_min, experience_max, newbie) = if career.contains("관계없음") {
        (0, None, true)
    } else if career.contains("경력") {
        (
            years_in(&career).unwrap_or(1),
            None,
            career.contains("신입"),
        )
    } else {
        (0, Some(0), true)
    };
    let kind = match get("empTpCd").as_str() {
        "10" => JobKind::FullTime,
        "20" => JobKind::Contract,
        "11" | "21" => JobKind::PartTime,
        _ => JobKind::Other,
    };
    // `채용시까지 26-12-31`: until filled, by that day at the latest.
    let close = get("closeDt");
    let deadline = close.split_whitespace().last().and_then(kst_day_end);
    let description = [
        get("indTpNm"),
        get("sal"),
        get("holidayTpNm"),
        get("minEdubg"),
        get("basicAddr"),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" · ");
    Ok(SourcePosting {
        skills: skills_in(&format!("{title} {description}")),
        source_id: id,
        category: get("indTpNm"),
        title,
        company,
        location,
        district,
        experience_min,
        experience_max,
        newbie,
        kind,
        deadline,
        url,
        description,
        posted_at: kst_day_start(&get("regDt")),
    })
}
