//! Adapters of the `PaymentGateway` port: [`KakaoPay`] (Kakao Pay's online payment API
//! over HTTP) and [`FakeGateway`] (in-process, for the embedded mode and tests).
//!
//! Both keep the port's promise that a retried `approve` or `cancel` of the same `tid`
//! has one effect and answers like the first call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use surge_kernel::payment::{
    PaymentApproved, PaymentError, PaymentGateway, PaymentReady, PaymentRequest,
};

/// Kakao Pay's public API host.
pub const KAKAO_PAY_BASE_URL: &str = "https://open-api.kakaopay.com";

const READY: &str = "/online/v1/payment/ready";
const APPROVE: &str = "/online/v1/payment/approve";
const CANCEL: &str = "/online/v1/payment/cancel";
const ORDER: &str = "/online/v1/payment/order";

/// Statuses of a payment Kakao has approved (whatever was refunded since).
const APPROVED_STATUSES: [&str; 3] = ["SUCCESS_PAYMENT", "PART_CANCEL_PAYMENT", "CANCEL_PAYMENT"];

fn default_base_url() -> String {
    KAKAO_PAY_BASE_URL.to_owned()
}

/// How to reach Kakao Pay: `[payment.kakao]` in configuration.
#[derive(Clone, Deserialize)]
pub struct KakaoPayConfig {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Merchant code (`TC0ONETIME` is Kakao's test merchant).
    pub cid: String,
    /// The secret key from Kakao Pay's developer console (dev or prod).
    pub secret_key: SecretString,
}

impl KakaoPayConfig {
    /// A configuration for Kakao's public host.
    pub fn new(cid: impl Into<String>, secret_key: SecretString) -> Self {
        Self {
            base_url: default_base_url(),
            cid: cid.into(),
            secret_key,
        }
    }
}

impl std::fmt::Debug for KakaoPayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KakaoPayConfig")
            .field("base_url", &self.base_url)
            .field("cid", &self.cid)
            .field("secret_key", &"***")
            .finish()
    }
}

/// Kakao Pay's single-payment API: ready → (buyer approves) → approve, and cancel.
pub struct KakaoPay {
    http: reqwest::Client,
    base_url: String,
    cid: String,
    auth: HeaderValue,
}

impl std::fmt::Debug for KakaoPay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KakaoPay")
            .field("base_url", &self.base_url)
            .field("cid", &self.cid)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct ReadyBody<'a> {
    cid: &'a str,
    partner_order_id: &'a str,
    partner_user_id: &'a str,
    item_name: &'a str,
    quantity: u32,
    total_amount: i64,
    tax_free_amount: i64,
    approval_url: &'a str,
    cancel_url: &'a str,
    fail_url: &'a str,
}

#[derive(Serialize)]
struct ApproveBody<'a> {
    cid: &'a str,
    tid: &'a str,
    partner_order_id: &'a str,
    partner_user_id: &'a str,
    pg_token: &'a str,
}

#[derive(Serialize)]
struct CancelBody<'a> {
    cid: &'a str,
    tid: &'a str,
    cancel_amount: i64,
    cancel_tax_free_amount: i64,
}

#[derive(Serialize)]
struct OrderBody<'a> {
    cid: &'a str,
    tid: &'a str,
}

#[derive(Deserialize)]
struct ReadyAnswer {
    tid: String,
    next_redirect_pc_url: String,
}

#[derive(Deserialize, Default)]
struct Amount {
    total: i64,
}

#[derive(Deserialize)]
struct ApproveAnswer {
    amount: Amount,
}

#[derive(Deserialize)]
struct OrderAnswer {
    status: String,
    #[serde(default)]
    partner_order_id: String,
    #[serde(default)]
    partner_user_id: String,
    #[serde(default)]
    amount: Amount,
    #[serde(default)]
    canceled_amount: Amount,
}

/// Why a call to Kakao did not succeed; `Rejected` keeps the body for callers that look at it.
enum Failure {
    Rejected { message: String, body: String },
    Unavailable(String),
}

impl From<Failure> for PaymentError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Rejected { message, .. } => PaymentError::Declined(message),
            Failure::Unavailable(e) => PaymentError::Unavailable(e),
        }
    }
}

/// The error and its causes on one line ("connection refused" hides in the source chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Kakao's error text: `error_message` (open-api) or `msg` (legacy), plus the card
/// issuer's `extras.method_result_message` when present.
fn provider_message(status: StatusCode, body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let text = |v: &serde_json::Value, keys: &[&str]| {
        keys.iter().find_map(|k| match v.get(k)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        })
    };
    let Some(v) = parsed else {
        let snippet: String = body.chars().take(200).collect();
        return format!("HTTP {}: {snippet}", status.as_u16());
    };
    let mut message = text(&v, &["error_message", "msg", "message"])
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    if let Some(detail) = v
        .get("extras")
        .and_then(|x| text(x, &["method_result_message"]))
    {
        message = format!("{message}: {detail}");
    }
    if let Some(code) = text(&v, &["error_code", "code"]) {
        message = format!("{message} ({code})");
    }
    message
}

/// A 400 saying the payment is already cancelled means an earlier attempt refunded it.
fn says_already_cancelled(body: &str) -> bool {
    body.to_lowercase().contains("already cancel") || body.contains("이미 취소")
}

impl KakaoPay {
    /// A client with Kakao's recommended 10 s budget per call.
    pub fn new(config: KakaoPayConfig) -> anyhow::Result<Self> {
        Self::with_timeout(config, Duration::from_secs(10))
    }

    /// Same as [`KakaoPay::new`] with another per-call timeout (tests use a short one).
    pub fn with_timeout(config: KakaoPayConfig, timeout: Duration) -> anyhow::Result<Self> {
        let mut auth =
            HeaderValue::from_str(&format!("SECRET_KEY {}", config.secret_key.expose_secret()))
                .map_err(|_| anyhow::anyhow!("the Kakao Pay secret key is not a valid header"))?;
        // Keeps the key out of reqwest's and hyper's debug output.
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("surge")
            .build()?;
        Ok(Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            cid: config.cid,
            auth,
        })
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, Failure> {
        let unavailable = |detail: String| {
            tracing::warn!(path, %detail, "Kakao Pay unavailable");
            Failure::Unavailable(format!("Kakao Pay {path}: {detail}"))
        };
        let res = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header(AUTHORIZATION, self.auth.clone())
            .json(body)
            .send()
            .await
            .map_err(|e| unavailable(error_chain(&e)))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| unavailable(format!("reading the answer: {}", error_chain(&e))))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| unavailable(format!("unparseable answer: {e}")));
        }
        // 408 and 429 say "try again later", not "no": the outcome is still open.
        let transient =
            status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS;
        if status.is_client_error() && !transient {
            let body = String::from_utf8_lossy(&bytes).into_owned();
            let message = provider_message(status, &body);
            tracing::info!(path, %message, "Kakao Pay declined");
            return Err(Failure::Rejected { message, body });
        }
        Err(unavailable(format!("HTTP {}", status.as_u16())))
    }

    /// Kakao's view of a payment (status, amounts, partner ids).
    async fn order(&self, tid: &str) -> Result<OrderAnswer, Failure> {
        self.post(
            ORDER,
            &OrderBody {
                cid: &self.cid,
                tid,
            },
        )
        .await
    }
}

/// The answer to a cancel of `amount` if the payment was already (partly) refunded:
/// Ok for a retry, Declined if it asks for more than was paid; None if nothing was.
fn already_refunded(order: &OrderAnswer, amount: i64) -> Option<Result<(), PaymentError>> {
    if order.canceled_amount.total <= 0 {
        return None;
    }
    if amount > order.amount.total {
        return Some(Err(PaymentError::Declined(format!(
            "cancel amount {amount} exceeds the paid {}",
            order.amount.total
        ))));
    }
    Some(Ok(()))
}

#[async_trait]
impl PaymentGateway for KakaoPay {
    async fn ready(&self, req: &PaymentRequest) -> Result<PaymentReady, PaymentError> {
        let answer: ReadyAnswer = self
            .post(
                READY,
                &ReadyBody {
                    cid: &self.cid,
                    partner_order_id: &req.order_id,
                    partner_user_id: &req.user_id,
                    item_name: &req.item_name,
                    quantity: req.quantity,
                    total_amount: req.amount,
                    tax_free_amount: 0,
                    approval_url: &req.approval_url,
                    cancel_url: &req.cancel_url,
                    fail_url: &req.fail_url,
                },
            )
            .await?;
        Ok(PaymentReady {
            tid: answer.tid,
            redirect_url: answer.next_redirect_pc_url,
        })
    }

    async fn approve(
        &self,
        tid: &str,
        order_id: &str,
        user_id: &str,
        pg_token: &str,
    ) -> Result<PaymentApproved, PaymentError> {
        let body = ApproveBody {
            cid: &self.cid,
            tid,
            partner_order_id: order_id,
            partner_user_id: user_id,
            pg_token,
        };
        let message = match self.post::<_, ApproveAnswer>(APPROVE, &body).await {
            Ok(answer) => {
                return Ok(PaymentApproved {
                    tid: tid.to_owned(),
                    amount: answer.amount.total,
                })
            }
            Err(Failure::Rejected { message, .. }) => message,
            Err(e) => return Err(e.into()),
        };
        // Kakao refuses a second approve of the same tid; if the first one went
        // through (a retry after a lost answer), answer like it did.
        match self.order(tid).await {
            Ok(order)
                if APPROVED_STATUSES.contains(&order.status.as_str())
                    && order.partner_order_id == order_id
                    && order.partner_user_id == user_id =>
            {
                Ok(PaymentApproved {
                    tid: tid.to_owned(),
                    amount: order.amount.total,
                })
            }
            Ok(_) | Err(Failure::Rejected { .. }) => Err(PaymentError::Declined(message)),
            Err(e) => Err(e.into()),
        }
    }

    async fn cancel(&self, tid: &str, amount: i64) -> Result<(), PaymentError> {
        // Kakao accepts repeated partial cancels, so a retry must check first that
        // nothing was refunded yet (one cancel per tid, as the port says).
        if let Some(done) = already_refunded(&self.order(tid).await?, amount) {
            return done;
        }
        let body = CancelBody {
            cid: &self.cid,
            tid,
            cancel_amount: amount,
            cancel_tax_free_amount: 0,
        };
        let message = match self.post::<_, IgnoredAny>(CANCEL, &body).await {
            Ok(_) => return Ok(()),
            Err(Failure::Rejected { body, .. }) if says_already_cancelled(&body) => return Ok(()),
            Err(Failure::Rejected { message, .. }) => message,
            Err(e) => return Err(e.into()),
        };
        // A concurrent retry may have refunded between the check and this cancel.
        match self.order(tid).await {
            Ok(order) => {
                already_refunded(&order, amount).unwrap_or(Err(PaymentError::Declined(message)))
            }
            Err(Failure::Rejected { .. }) => Err(PaymentError::Declined(message)),
            Err(e) => Err(e.into()),
        }
    }
}

#[derive(Debug)]
struct FakePayment {
    order_id: String,
    user_id: String,
    amount: i64,
    approved: bool,
    /// Set by the first cancel; later cancels of the tid have no effect.
    cancelled: bool,
    refunded: i64,
}

/// An in-process payment provider that keeps Kakao Pay's rules (and the port's
/// idempotency), with knobs to make it slow, flaky or refusing in tests.
#[derive(Debug, Default)]
pub struct FakeGateway {
    payments: Mutex<HashMap<String, FakePayment>>,
    delay: Mutex<Duration>,
    fail_next: AtomicUsize,
    decline_all: AtomicBool,
}

impl FakeGateway {
    /// The `pg_token` the fake refuses (every other token approves).
    pub const DECLINE_TOKEN: &'static str = "decline";

    pub fn new() -> Self {
        Self::default()
    }

    /// Every later call sleeps this long before answering.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.delay) = delay;
    }

    /// The next `n` calls answer `Unavailable` (without any effect).
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// While on, every call answers `Declined` (without any effect).
    pub fn decline_all(&self, on: bool) {
        self.decline_all.store(on, Ordering::SeqCst);
    }

    /// The approved amount of `tid`, if it was approved.
    pub fn approved_amount(&self, tid: &str) -> Option<i64> {
        lock(&self.payments)
            .get(tid)
            .filter(|p| p.approved)
            .map(|p| p.amount)
    }

    /// How much of `tid` was refunded (0 if nothing, or if it is unknown).
    pub fn refunded_amount(&self, tid: &str) -> i64 {
        lock(&self.payments).get(tid).map_or(0, |p| p.refunded)
    }

    /// How many distinct tids were approved.
    pub fn approvals(&self) -> usize {
        lock(&self.payments).values().filter(|p| p.approved).count()
    }

    /// How many distinct approved tids were refunded.
    pub fn refunds(&self) -> usize {
        lock(&self.payments)
            .values()
            .filter(|p| p.approved && p.cancelled)
            .count()
    }

    /// Applies the test knobs in order: delay, injected failure, decline-all.
    async fn knobs(&self) -> Result<(), PaymentError> {
        let delay = *lock(&self.delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let injected = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if injected {
            return Err(PaymentError::Unavailable(
                "fake gateway: injected failure".into(),
            ));
        }
        if self.decline_all.load(Ordering::SeqCst) {
            return Err(PaymentError::Declined(
                "fake gateway: declining every call".into(),
            ));
        }
        Ok(())
    }
}

/// The maps stay consistent even if a holder panicked (every update is one statement).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn declined(msg: &str) -> PaymentError {
    PaymentError::Declined(msg.to_owned())
}

#[async_trait]
impl PaymentGateway for FakeGateway {
    async fn ready(&self, req: &PaymentRequest) -> Result<PaymentReady, PaymentError> {
        self.knobs().await?;
        if req.amount <= 0 {
            return Err(declined("total_amount must be positive"));
        }
        if req.quantity == 0 {
            return Err(declined("quantity must be positive"));
        }
        let tid = format!("T{}", uuid::Uuid::new_v4().simple());
        lock(&self.payments).insert(
            tid.clone(),
            FakePayment {
                order_id: req.order_id.clone(),
                user_id: req.user_id.clone(),
                amount: req.amount,
                approved: false,
                cancelled: false,
                refunded: 0,
            },
        );
        Ok(PaymentReady {
            redirect_url: format!("fake-pay://approve/{tid}"),
            tid,
        })
    }

    async fn approve(
        &self,
        tid: &str,
        order_id: &str,
        user_id: &str,
        pg_token: &str,
    ) -> Result<PaymentApproved, PaymentError> {
        self.knobs().await?;
        let mut payments = lock(&self.payments);
        let p = payments
            .get_mut(tid)
            .ok_or_else(|| declined("unknown tid"))?;
        if p.order_id != order_id || p.user_id != user_id {
            return Err(declined("order or user does not match the payment"));
        }
        let approved = PaymentApproved {
            tid: tid.to_owned(),
            amount: p.amount,
        };
        if p.approved {
            return Ok(approved);
        }
        if p.cancelled {
            return Err(declined("the payment was cancelled before approval"));
        }
        if pg_token == Self::DECLINE_TOKEN {
            return Err(declined("pg_token refused"));
        }
        p.approved = true;
        Ok(approved)
    }

    async fn cancel(&self, tid: &str, amount: i64) -> Result<(), PaymentError> {
        self.knobs().await?;
        let mut payments = lock(&self.payments);
        let p = payments
            .get_mut(tid)
            .ok_or_else(|| declined("unknown tid"))?;
        if amount <= 0 {
            return Err(declined("cancel_amount must be positive"));
        }
        if amount > p.amount {
            return Err(declined("cancel_amount exceeds the payment amount"));
        }
        if p.cancelled {
            return Ok(());
        }
        p.cancelled = true;
        // A payment that was never approved is voided: nothing was charged.
        if p.approved {
            p.refunded = amount;
        }
        Ok(())
    }
}
