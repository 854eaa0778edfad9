//! KMA's special weather reports on data.go.kr (기상청_기상특보 조회서비스,
//! `WthrWrnInfoService`, dataset 15000415): `GET {base}/getPwnCd?serviceKey=…&pageNo=
//! &numOfRows=&dataType=JSON&fromTmFc=YYYYMMDD&toTmFc=YYYYMMDD` answers the documented
//! envelope `{"response": {"header": {"resultCode", "resultMsg"}, "body": {"dataType",
//! "items": {"item": [...]}, "pageNo", "numOfRows", "totalCount"}}}`. Every record of
//! the window is read, page by page, and folded into the alerts in force (`pwn`).
//!
//! Result codes (the guide's table, shared by KMA's data.go.kr services): `00` normal,
//! `03` NODATA_ERROR (no record in the window: no alert, an empty list; the answer then
//! has no `body`), `01`/`02`/`04`/`05`/`99` temporary (retried), `22` the daily quota
//! spent, `10`/`11`/`12`/`20`/`21`/`30`/`31`/`32`/`33` refusals (key, IP, parameters).
//! The data.go.kr gateway answers its own refusals as XML whatever `dataType` says:
//! `<OpenAPI_ServiceResponse><cmmMsgHeader><errMsg/><returnAuthMsg/><returnReasonCode/>`
//! (`23`: the per-second limit, retried). The key travels in the query string, so no
//! error shows the URL.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use surge_kernel::clock::kst;
use surge_kernel::weather::{AlertSnapshot, WeatherAlertError, WeatherAlertSource};
use surge_kernel::Millis;

use super::config::WeatherAlertsConfig;
use super::pwn;

pub const DEFAULT_BASE_URL: &str = "https://apis.data.go.kr/1360000/WthrWrnInfoService";
/// The most pages one read takes (a window of a few days holds far fewer records).
const MAX_PAGES: u32 = 50;
/// The longest wait between two attempts, whatever `Retry-After` asks.
const MAX_DELAY: Duration = Duration::from_secs(30);

pub struct Kma {
    http: reqwest::Client,
    base: Url,
    key: SecretString,
    page_size: u32,
    lookback_days: i64,
    attempts: u32,
    base_delay: Duration,
}

impl Kma {
    pub fn new(cfg: &WeatherAlertsConfig) -> anyhow::Result<Self> {
        let key = cfg
            .service_key
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the KMA weather alert source needs service_key"))?;
        let raw = cfg.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL).trim();
        // A trailing slash, so `join` keeps the service's path.
        let mut base = Url::parse(raw).map_err(|e| anyhow::anyhow!("invalid base_url: {e}"))?;
        anyhow::ensure!(
            matches!(base.scheme(), "http" | "https") && base.host_str().is_some(),
            "base_url must be an http(s) URL with a host"
        );
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .user_agent("surge-chat/0.1")
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the KMA HTTP client: {e}"))?;
        Ok(Self {
            http,
            base,
            key,
            page_size: cfg.page_size.clamp(1, 1000),
            lookback_days: i64::from(cfg.lookback_days.clamp(0, 30)),
            attempts: cfg.attempts.clamp(1, 10),
            base_delay: Duration::from_millis(cfg.retry_base_ms),
        })
    }

    fn url(&self, page: u32, from: &str, to: &str) -> Result<Url, WeatherAlertError> {
        let mut url = self
            .base
            .join("getPwnCd")
            .map_err(|e| WeatherAlertError::Malformed(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("serviceKey", self.key.expose_secret())
            .append_pair("pageNo", &page.to_string())
            .append_pair("numOfRows", &self.page_size.to_string())
            .append_pair("dataType", "JSON")
            .append_pair("fromTmFc", from)
            .append_pair("toTmFc", to);
        Ok(url)
    }

    /// One page, after the retries.
    async fn page(&self, url: Url) -> Result<Answer, WeatherAlertError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (detail, retry_after) = match self.http.get(url.clone()).send().await {
                Ok(res) => {
                    let status = res.status();
                    let retry_after = res
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    match res.text().await {
                        Ok(body) => match classify(status, &body) {
                            Outcome::Done(a) => return Ok(a),
                            Outcome::Fail(e) => return Err(e),
                            Outcome::Retry(d) => (d, retry_after),
                        },
                        Err(e) => (transport_error(e), None),
                    }
                }
                Err(e) => (transport_error(e), None),
            };
            if attempt >= self.attempts {
                return Err(WeatherAlertError::Unavailable(format!(
                    "{detail} (after {attempt} attempts)"
                )));
            }
            let backoff = self.base_delay * 2u32.saturating_pow(attempt - 1);
            let wait = retry_after
                .map_or(backoff, |r| r.max(backoff))
                .min(MAX_DELAY);
            tracing::debug!(attempt, ?wait, %detail, "retrying a KMA page");
            tokio::time::sleep(wait).await;
        }
    }
}

/// A page's content: records, or "no record" (`03`).
#[derive(Debug)]
enum Answer {
    Items { items: Vec<Value>, total: u64 },
    NoData,
}

enum Outcome {
    Done(Answer),
    Retry(String),
    Fail(WeatherAlertError),
}

/// What a result code means.
fn by_code(code: &str, msg: &str) -> Outcome {
    let detail = format!("{code} {msg}").trim().to_owned();
    match code {
        "03" => Outcome::Done(Answer::NoData),
        "01" | "02" | "04" | "05" | "99" | "23" => Outcome::Retry(detail),
        "22" => Outcome::Fail(WeatherAlertError::QuotaExceeded(detail)),
        _ => Outcome::Fail(WeatherAlertError::Refused {
            code: code.to_owned(),
            detail: shorten(msg),
        }),
    }
}

fn classify(status: StatusCode, body: &str) -> Outcome {
    let trimmed = body.trim_start();
    if trimmed.starts_with('<') {
        // The gateway's (or an XML envelope's) code, whatever the status.
        if let Some((code, msg)) = xml_code(trimmed) {
            return by_code(&code, &msg);
        }
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Outcome::Retry(format!("HTTP {status}: {}", shorten(body)));
    }
    if !status.is_success() {
        return Outcome::Fail(WeatherAlertError::Refused {
            code: format!("HTTP {}", status.as_u16()),
            detail: shorten(body),
        });
    }
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Outcome::Fail(WeatherAlertError::Malformed(e.to_string())),
    };
    let header = &v["response"]["header"];
    let code = match &header["resultCode"] {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => format!("{:02}", n.as_u64().unwrap_or(99)),
        _ => {
            return Outcome::Fail(WeatherAlertError::Malformed(
                "no response.header.resultCode".into(),
            ))
        }
    };
    if code != "00" {
        return by_code(&code, header["resultMsg"].as_str().unwrap_or(""));
    }
    let body = &v["response"]["body"];
    let items = match &body["items"]["item"] {
        Value::Array(a) => a.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        // An empty page says `"items": ""` or leaves `item` out.
        Value::Null => Vec::new(),
        _ => {
            return Outcome::Fail(WeatherAlertError::Malformed(
                "response.body.items.item is not a list".into(),
            ))
        }
    };
    let total = match &body["totalCount"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let Some(total) = total else {
        return Outcome::Fail(WeatherAlertError::Malformed(
            "no response.body.totalCount".into(),
        ));
    };
    Outcome::Done(Answer::Items { items, total })
}

/// `(code, message)` of an XML answer: the gateway's `returnReasonCode`, or an XML
/// envelope's `resultCode`.
fn xml_code(body: &str) -> Option<(String, String)> {
    let doc = roxmltree::Document::parse(body).ok()?;
    let find = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(|t| t.trim().to_owned())
    };
    if let Some(code) = find("returnReasonCode") {
        let msg = find("returnAuthMsg")
            .or_else(|| find("errMsg"))
            .unwrap_or_default();
        return Some((format!("{code:0>2}"), msg));
    }
    let code = find("resultCode")?;
    Some((code, find("resultMsg").unwrap_or_default()))
}

fn shorten(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

/// A reqwest error and its causes, without the URL (its query holds the key).
fn transport_error(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text = format!("{text}: {c}");
        }
        source = cause.source();
    }
    if timeout {
        format!("timed out: {text}")
    } else {
        text
    }
}

fn yyyymmdd(ms: Millis) -> String {
    kst::day(ms).format("%Y%m%d").to_string()
}

#[async_trait]
impl WeatherAlertSource for Kma {
    fn kind(&self) -> &'static str {
        "kma"
    }

    #[tracing::instrument(skip(self))]
    async fn current(&self, now: Millis) -> Result<AlertSnapshot, WeatherAlertError> {
        let from = yyyymmdd(now - self.lookback_days * kst::DAY_MS);
        let to = yyyymmdd(now);
        let mut records = Vec::new();
        let mut unreadable = Vec::new();
        let mut page = 1;
        loop {
            let answer = self.page(self.url(page, &from, &to)?).await?;
            let (items, total) = match answer {
                Answer::NoData => break,
                Answer::Items { items, total } => (items, total),
            };
            let empty = items.is_empty();
            for v in &items {
                match pwn::item(v) {
                    pwn::Item::Record(r) => records.push(*r),
                    pwn::Item::Skipped => {}
                    pwn::Item::Unreadable(u) => unreadable.push(u),
                }
            }
            if empty || u64::from(page) * u64::from(self.page_size) >= total {
                break;
            }
            if page >= MAX_PAGES {
                // Reading on would miss liftings past the cut: better no answer.
                return Err(WeatherAlertError::Malformed(format!(
                    "more than {MAX_PAGES} pages of records"
                )));
            }
            page += 1;
        }
        Ok(AlertSnapshot {
            alerts: pwn::in_force(records, now),
            unreadable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        let ok = classify(
            StatusCode::OK,
            r#"{"response":{"header":{"resultCode":"03","resultMsg":"NO_DATA"}}}"#,
        );
        assert!(matches!(ok, Outcome::Done(Answer::NoData)));
        let gateway = "<OpenAPI_ServiceResponse><cmmMsgHeader><errMsg>SERVICE ERROR</errMsg>\
            <returnAuthMsg>SERVICE_KEY_IS_NOT_REGISTERED_ERROR</returnAuthMsg>\
            <returnReasonCode>30</returnReasonCode></cmmMsgHeader></OpenAPI_ServiceResponse>";
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, gateway),
            Outcome::Fail(WeatherAlertError::Refused { code, .. }) if code == "30"
        ));
        assert!(matches!(
            classify(
                StatusCode::OK,
                r#"{"response":{"header":{"resultCode":"22","resultMsg":"LIMITED"}}}"#
            ),
            Outcome::Fail(WeatherAlertError::QuotaExceeded(_))
        ));
        assert!(matches!(
            classify(
                StatusCode::OK,
                r#"{"response":{"header":{"resultCode":"05","resultMsg":"SERVICETIME_OUT"}}}"#
            ),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, "oops"),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            classify(StatusCode::OK, "{\"nothing\":1}"),
            Outcome::Fail(WeatherAlertError::Malformed(_))
        ));
    }
}
