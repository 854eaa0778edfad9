//! A fake of KMA's 기상특보 조회서비스 (`getPwnCd` on data.go.kr) for the KMA adapter: a
//! local HTTP server (wiremock) serving records of the documented shape (see
//! `fixtures/weather/SOURCES.md`), checking the service key like the gateway, paging by
//! `pageNo`/`numOfRows`, answering NODATA (`03`, no body) when the window is empty, and
//! failing on demand (HTTP status, result code, gateway refusal).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{json, Value};
use surge_kernel::clock::kst;
use surge_kernel::weather::{AlertKind, AlertLevel, WeatherAlert};
use surge_kernel::Millis;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Records 1-5 of a 10-record window (`numOfRows=5`): see `SOURCES.md`.
pub const KMA_PAGE_1: &str = include_str!("../fixtures/weather/kma-getPwnCd-page-1.json");
/// Records 6-10: a lifted 건조주의보, a sea zone, a withdrawn record, one without a zone.
pub const KMA_PAGE_2: &str = include_str!("../fixtures/weather/kma-getPwnCd-page-2.json");
/// `03` NODATA_ERROR: no record in the window (no `body`).
pub const KMA_NODATA: &str = include_str!("../fixtures/weather/kma-nodata.json");
/// `22`: the key's daily quota is spent.
pub const KMA_QUOTA_EXCEEDED: &str = include_str!("../fixtures/weather/kma-quota-exceeded.json");
/// `05` SERVICETIME_OUT: the service behind the gateway did not answer.
pub const KMA_SERVICE_TIMEOUT: &str = include_str!("../fixtures/weather/kma-service-timeout.json");
/// The gateway's refusal of an unknown key (`30`), in XML.
pub const GATEWAY_KEY_NOT_REGISTERED: &str =
    include_str!("../fixtures/weather/gateway-key-not-registered.xml");

/// The key the fake accepts.
pub const KMA_FAKE_KEY: &str = "fake/kma+key==";
/// The operation's path under the fake's root.
pub const PWN_PATH: &str = "/1360000/WthrWrnInfoService/getPwnCd";

/// How the next requests fail.
#[derive(Debug, Clone)]
pub enum Failure {
    /// This HTTP status with a plain body.
    Status(u16),
    /// HTTP 200 with this document (a result code's envelope).
    Body(&'static str),
}

#[derive(Debug)]
struct State {
    records: Vec<Value>,
    fail_next: usize,
    failure: Failure,
    requests: Vec<Vec<(String, String)>>,
}

/// A local fake of `getPwnCd`.
pub struct KmaFake {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

#[derive(Clone)]
struct Responder(Arc<Mutex<State>>);

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

fn records_of(doc: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(doc).unwrap_or_default();
    v["response"]["body"]["items"]["item"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = lock(&self.0);
        let query: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
        s.requests.push(query.clone());
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        if param("serviceKey").as_deref() != Some(KMA_FAKE_KEY) {
            return ResponseTemplate::new(403)
                .set_body_raw(GATEWAY_KEY_NOT_REGISTERED, "text/xml;charset=UTF-8");
        }
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return match s.failure.clone() {
                Failure::Status(code) => {
                    ResponseTemplate::new(code).set_body_string("temporarily unavailable")
                }
                Failure::Body(doc) => {
                    ResponseTemplate::new(200).set_body_raw(doc, "application/json;charset=UTF-8")
                }
            };
        }
        let window_ok = ["fromTmFc", "toTmFc"].iter().all(|p| {
            param(p).is_some_and(|d| d.len() == 8 && d.chars().all(|c| c.is_ascii_digit()))
        });
        if param("dataType").as_deref() != Some("JSON") || !window_ok {
            return ResponseTemplate::new(200).set_body_raw(
                r#"{"response":{"header":{"resultCode":"10","resultMsg":"INVALID_REQUEST_PARAMETER_ERROR"}}}"#,
                "application/json;charset=UTF-8",
            );
        }
        if s.records.is_empty() {
            return ResponseTemplate::new(200)
                .set_body_raw(KMA_NODATA, "application/json;charset=UTF-8");
        }
        let page: usize = param("pageNo").and_then(|p| p.parse().ok()).unwrap_or(1);
        let rows: usize = param("numOfRows")
            .and_then(|p| p.parse().ok())
            .unwrap_or(10);
        let items: Vec<Value> = s
            .records
            .iter()
            .skip(page.saturating_sub(1) * rows)
            .take(rows)
            .cloned()
            .collect();
        let doc = json!({"response": {
            "header": {"resultCode": "00", "resultMsg": "NORMAL_SERVICE"},
            "body": {"dataType": "JSON", "items": {"item": items}, "pageNo": page,
                     "numOfRows": rows, "totalCount": s.records.len()}
        }});
        ResponseTemplate::new(200).set_body_raw(doc.to_string(), "application/json;charset=UTF-8")
    }
}

/// `YYYYMMDDHHmm` (KST) as the number KMA sends.
pub fn kst_minute(ms: Millis) -> i64 {
    let local = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms + kst::OFFSET_MS)
        .unwrap_or_default();
    local.format("%Y%m%d%H%M").to_string().parse().unwrap_or(0)
}

fn warn_var(kind: AlertKind) -> i64 {
    match kind {
        AlertKind::StrongWind => 1,
        AlertKind::HeavyRain => 2,
        AlertKind::ColdWave => 3,
        AlertKind::Dry => 4,
        AlertKind::StormSurge => 5,
        AlertKind::HighSeas => 6,
        AlertKind::Typhoon => 7,
        AlertKind::HeavySnow => 8,
        AlertKind::YellowDust => 9,
        AlertKind::HeatWave => 12,
    }
}

impl KmaFake {
    /// A fake serving the two fixture pages' records.
    pub async fn start() -> Self {
        let mut records = records_of(KMA_PAGE_1);
        records.extend(records_of(KMA_PAGE_2));
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            records,
            fail_next: 0,
            failure: Failure::Status(503),
            requests: Vec::new(),
        }));
        Mock::given(method("GET"))
            .and(path(PWN_PATH))
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// The `[chat.weather_alerts]` section that reads this fake (pages of 5, fast retries).
    pub fn config(&self) -> surge_infra::weather::WeatherAlertsConfig {
        surge_infra::weather::WeatherAlertsConfig {
            service_key: Some(KMA_FAKE_KEY.to_owned().into()),
            base_url: Some(format!("{}/1360000/WthrWrnInfoService", self.server.uri())),
            page_size: 5,
            timeout_secs: 2,
            attempts: 3,
            retry_base_ms: 10,
            ..Default::default()
        }
    }

    /// The next `n` requests fail this way.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut s = lock(&self.state);
        s.fail_next = n;
        s.failure = failure;
    }

    /// The query of every request so far.
    pub fn requests(&self) -> Vec<Vec<(String, String)>> {
        lock(&self.state).requests.clone()
    }

    /// No record in the window.
    pub fn clear(&self) {
        lock(&self.state).records.clear();
    }

    /// Announces `a` (a 발표 record).
    pub fn issue(&self, a: &WeatherAlert) {
        let record = json!({
            "stnId": a.station.clone().unwrap_or_else(|| "108".into()),
            "tmFc": kst_minute(a.announced_at), "tmSeq": 1,
            "areaCode": a.region_code, "areaName": a.region_name,
            "warnVar": warn_var(a.kind),
            "warnStress": if a.level == AlertLevel::Warning { 1 } else { 0 },
            "command": "1", "startTime": kst_minute(a.effective_at), "endTime": 0,
            "allEndTime": 0, "cancel": "0"
        });
        lock(&self.state).records.push(record);
    }

    /// Lifts `a`, announced at `at` and taking effect then (a 해제 record).
    pub fn lift(&self, a: &WeatherAlert, at: Millis) {
        let record = json!({
            "stnId": a.station.clone().unwrap_or_else(|| "108".into()),
            "tmFc": kst_minute(at), "tmSeq": 9,
            "areaCode": a.region_code, "areaName": a.region_name,
            "warnVar": warn_var(a.kind),
            "warnStress": if a.level == AlertLevel::Warning { 1 } else { 0 },
            "command": "2", "startTime": 0, "endTime": kst_minute(at),
            "allEndTime": kst_minute(at), "cancel": "0"
        });
        lock(&self.state).records.push(record);
    }
}
