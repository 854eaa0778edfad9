//! Fake job-board APIs for the `JobSource` adapters: a local HTTP server (wiremock)
//! serving fixtures of each API's documented shape, checking the key like the real one,
//! and changeable between runs (a posting edited or taken off the board, an outage).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Saramin `GET /job-search` (https://oapi.saramin.co.kr/guide/job-search), page
/// `start=0` of `count=2`: `jobs.{count,start,total,job[]}`, each job with the
/// documented `id`, `url`, `active`, `company.detail.name`, `position.{title, location,
/// job-type, job-code, job-mid-code, industry, experience-level,
/// required-education-level}`, `keyword`, `salary`, `posting-timestamp`,
/// `expiration-timestamp`, `close-type`.
pub const SARAMIN_PAGE_1: &str = include_str!("../fixtures/jobs/saramin-page-1.json");
/// Page `start=1`: a 상시 (open until filled) contract job, and an item without `id`.
pub const SARAMIN_PAGE_2: &str = include_str!("../fixtures/jobs/saramin-page-2.json");
/// Work24 채용정보 목록 (`callTp=L&returnType=XML`), `startPage=1` of `display=2`:
/// `<wantedRoot><total/><startPage/><display/><wanted>…` with the documented
/// `wantedAuthNo`, `company`, `title`, `region`, `career`, `sal`, `minEdubg`, `regDt`,
/// `closeDt`, `wantedInfoUrl`, `empTpCd`, `indTpNm`, `holidayTpNm`, `basicAddr`.
pub const WORK24_PAGE_1: &str = include_str!("../fixtures/jobs/work24-page-1.xml");
/// `startPage=2`: a 관계없음 (any experience) part-time job, and one without `wantedAuthNo`.
pub const WORK24_PAGE_2: &str = include_str!("../fixtures/jobs/work24-page-2.xml");
/// Greenhouse "List Jobs" with `content=true`
/// (https://developers.greenhouse.io/job-board.html): `jobs[]` with `id`, `title`,
/// `updated_at`, `first_published`, `location.name`, `absolute_url`, `content`
/// (entity-escaped HTML), `departments[]`, `offices[]`, and `meta.total`; the last job
/// has a non-numeric id.
pub const GREENHOUSE_JOBS: &str = include_str!("../fixtures/jobs/greenhouse-jobs.json");

/// Which API a [`JobApiFake`] plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobApi {
    Saramin,
    Work24,
    /// The board `acme`.
    Greenhouse,
}

/// The key the fake accepts.
pub const FAKE_KEY: &str = "fake-key-0123456789";
pub const GREENHOUSE_BOARD: &str = "acme";

#[derive(Debug)]
struct State {
    /// One document per page, in order.
    pages: Vec<String>,
    fail_next: usize,
    fail_status: u16,
    requests: usize,
}

/// A local fake of one job API.
pub struct JobApiFake {
    pub server: MockServer,
    pub api: JobApi,
    state: Arc<Mutex<State>>,
}

#[derive(Clone)]
struct Responder {
    api: JobApi,
    state: Arc<Mutex<State>>,
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = lock(&self.state);
        s.requests += 1;
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return ResponseTemplate::new(s.fail_status).set_body_string("temporarily unavailable");
        }
        let param = |name: &str| {
            req.url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let page = match self.api {
            JobApi::Saramin => {
                if param("access-key").as_deref() != Some(FAKE_KEY) {
                    // Saramin answers a bad key with an error object.
                    return ResponseTemplate::new(401).set_body_string(
                        r#"{"code":3,"message":"access-key가 유효하지 않습니다."}"#,
                    );
                }
                param("start")
                    .and_then(|p| p.parse::<usize>().ok())
                    .unwrap_or(0)
            }
            JobApi::Work24 => {
                if param("authKey").as_deref() != Some(FAKE_KEY) {
                    return ResponseTemplate::new(200).set_body_string(
                        "<wantedRoot><messageCd>006</messageCd><message>인증키가 유효하지 않습니다.</message></wantedRoot>",
                    );
                }
                if param("callTp").as_deref() != Some("L") {
                    return ResponseTemplate::new(400).set_body_string("callTp");
                }
                param("startPage")
                    .and_then(|p| p.parse::<usize>().ok())
                    .unwrap_or(1)
                    .saturating_sub(1)
            }
            JobApi::Greenhouse => 0,
        };
        match s.pages.get(page) {
            Some(doc) => ResponseTemplate::new(200).set_body_string(doc.clone()),
            // Past the last page: an empty page of the same shape.
            None => ResponseTemplate::new(200).set_body_string(match self.api {
                JobApi::Saramin => r#"{"jobs":{"count":0,"start":0,"total":"0","job":[]}}"#.to_owned(),
                JobApi::Work24 => "<wantedRoot><total>0</total><startPage>9</startPage><display>2</display></wantedRoot>".to_owned(),
                JobApi::Greenhouse => r#"{"jobs":[],"meta":{"total":0}}"#.to_owned(),
            }),
        }
    }
}

impl JobApiFake {
    /// Starts a fake of `api` serving its fixtures (two pages, or Greenhouse's one).
    pub async fn start(api: JobApi) -> Self {
        let pages = match api {
            JobApi::Saramin => vec![SARAMIN_PAGE_1.to_owned(), SARAMIN_PAGE_2.to_owned()],
            JobApi::Work24 => vec![WORK24_PAGE_1.to_owned(), WORK24_PAGE_2.to_owned()],
            JobApi::Greenhouse => vec![GREENHOUSE_JOBS.to_owned()],
        };
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            pages,
            fail_next: 0,
            fail_status: 503,
            requests: 0,
        }));
        let route = match api {
            JobApi::Saramin => "/job-search".to_owned(),
            JobApi::Work24 => "/cm/openApi/call/wk/callOpenApiSvcInfo210L01.do".to_owned(),
            JobApi::Greenhouse => format!("/v1/boards/{GREENHOUSE_BOARD}/jobs"),
        };
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(Responder {
                api,
                state: state.clone(),
            })
            .mount(&server)
            .await;
        Self { server, api, state }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The `[careers.sources.<name>]` section that reads this fake (fast retries).
    pub fn config(&self) -> surge_infra::jobs::JobSourceConfig {
        let mut c = surge_infra::jobs::JobSourceConfig::new(match self.api {
            JobApi::Saramin => "saramin",
            JobApi::Work24 => "work24",
            JobApi::Greenhouse => "greenhouse",
        });
        c.base_url = Some(self.uri());
        c.key = Some(FAKE_KEY.to_owned().into());
        c.board = Some(GREENHOUSE_BOARD.to_owned());
        c.company = Some("Acme".into());
        c.page_size = Some(2);
        c.interval_secs = 0;
        c.timeout_secs = 2;
        c.retry_base_ms = 10;
        c
    }

    /// The next `n` requests answer `status` (503, 429, 500…).
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut s = lock(&self.state);
        s.fail_next = n;
        s.fail_status = status;
    }

    /// Requests taken so far.
    pub fn requests(&self) -> usize {
        lock(&self.state).requests
    }

    /// The ids of the readable postings on the board, in page order.
    pub fn listed(&self) -> Vec<String> {
        let s = lock(&self.state);
        s.pages.iter().flat_map(|p| ids(self.api, p)).collect()
    }

    /// Items on the board an adapter cannot read (no id).
    pub fn unreadable(&self) -> usize {
        match self.api {
            JobApi::Saramin => 1,
            JobApi::Work24 => 1,
            JobApi::Greenhouse => 1,
        }
    }

    /// Edits the posting `id` wherever it is (`edit` gets its JSON object, or for
    /// Work24 the text of its `<wanted>` element).
    pub fn edit(&self, id: &str, edit: impl Fn(&mut String)) {
        let mut s = lock(&self.state);
        let api = self.api;
        for page in s.pages.iter_mut() {
            *page = match api {
                JobApi::Work24 => {
                    let mut out = String::new();
                    for (i, block) in page.split("<wanted>").enumerate() {
                        if i > 0 {
                            out.push_str("<wanted>");
                        }
                        let mut b = block.to_owned();
                        if b.contains(&format!("<wantedAuthNo>{id}</wantedAuthNo>")) {
                            let end = b.find("</wanted>").unwrap_or(b.len());
                            let mut inner = b[..end].to_owned();
                            edit(&mut inner);
                            b = format!("{inner}{}", &b[end..]);
                        }
                        out.push_str(&b);
                    }
                    out
                }
                _ => {
                    let mut v: Value = serde_json::from_str(page).expect("fixture JSON");
                    let list = match api {
                        JobApi::Saramin => &mut v["jobs"]["job"],
                        _ => &mut v["jobs"],
                    };
                    if let Some(items) = list.as_array_mut() {
                        for item in items.iter_mut() {
                            if item["id"].to_string().trim_matches('"') == id {
                                let mut text = item.to_string();
                                edit(&mut text);
                                *item = serde_json::from_str(&text).expect("edited item is JSON");
                            }
                        }
                    }
                    v.to_string()
                }
            };
        }
    }

    /// Takes the posting `id` off the board.
    pub fn remove(&self, id: &str) {
        let mut s = lock(&self.state);
        let api = self.api;
        for page in s.pages.iter_mut() {
            *page = match api {
                JobApi::Work24 => {
                    let marker = format!("<wantedAuthNo>{id}</wantedAuthNo>");
                    match page.find(&marker) {
                        Some(at) => {
                            let start = page[..at].rfind("<wanted>").unwrap_or(at);
                            let end = page[at..]
                                .find("</wanted>")
                                .map_or(page.len(), |e| at + e + "</wanted>".len());
                            format!("{}{}", &page[..start], &page[end..])
                        }
                        None => page.clone(),
                    }
                }
                _ => {
                    let mut v: Value = serde_json::from_str(page).expect("fixture JSON");
                    let list = match api {
                        JobApi::Saramin => &mut v["jobs"]["job"],
                        _ => &mut v["jobs"],
                    };
                    if let Some(items) = list.as_array_mut() {
                        items.retain(|item| item["id"].to_string().trim_matches('"') != id);
                    }
                    v.to_string()
                }
            };
        }
    }
}

/// The readable ids of one page document.
fn ids(api: JobApi, doc: &str) -> Vec<String> {
    match api {
        JobApi::Work24 => doc
            .split("<wantedAuthNo>")
            .skip(1)
            .filter_map(|s| s.split("</wantedAuthNo>").next())
            .map(str::to_owned)
            .collect(),
        JobApi::Saramin | JobApi::Greenhouse => {
            let v: Value = serde_json::from_str(doc).unwrap_or_default();
            let list = if api == JobApi::Saramin {
                &v["jobs"]["job"]
            } else {
                &v["jobs"]
            };
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|j| match &j["id"] {
                    Value::String(s) if api == JobApi::Saramin => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        }
    }
}
