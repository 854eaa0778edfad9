//! Adapters of the payment ports: [`KakaoPay`] (Kakao Pay's online payment API over
//! HTTP) and [`FakeGateway`] (in-process, for the embedded mode and tests).
//!
//! Both keep the ports' promise that a retried `approve` or `cancel` of the same `tid`
//! has one effect and answers like the first call.
//!
//! Reference: Kakao Pay developers, online payment
//! (<https://developers.kakaopay.com/docs/payment/online/single-payment>,
//! `.../online/cancellation`, `.../online/order`, `.../online/subscription`).

mod fake;
mod subscriptions;

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use surge_kernel::payment::{
    PaymentApproved, PaymentError, PaymentGateway, PaymentReady, PaymentRequest, PaymentStatus,
    SubscriptionCharge, SubscriptionGateway, SubscriptionState,
};

pub use fake::{FakeGateway, GatewayCalls};

/// Kakao Pay's public API host.
pub const KAKAO_PAY_BASE_URL: &str = "https://open-api.kakaopay.com";

const READY: &str = "/online/v1/payment/ready";
const APPROVE: &str = "/online/v1/payment/approve";
const CANCEL: &str = "/online/v1/payment/cancel";
const ORDER: &str = "/online/v1/payment/order";
const SUBSCRIPTION: &str = "/online/v1/payment/subscription";
const SUBSCRIPTION_INACTIVE: &str = "/online/v1/payment/manage/subscription/inactive";
const SUBSCRIPTION_STATUS: &str = "/online/v1/payment/manage/subscription/status";

fn default_base_url() -> String {
    KAKAO_PAY_BASE_URL.to_owned()
}

/// How to reach Kakao Pay: `[kakaopay]` in configuration.
#[derive(Clone, Deserialize)]
pub struct KakaoPayConfig {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Merchant code for one-time payments (`TC0ONETIME` is Kakao's test merchant).
    pub cid: String,
    /// Merchant code for recurring payments (`TCSUBSCRIP` is Kakao's test one); the
    /// subscription gateway needs it.
    #[serde(default)]
    pub subscription_cid: Option<String>,
    /// The secret key from Kakao Pay's developer console (dev or prod).
    pub secret_key: SecretString,
}

impl KakaoPayConfig {
    /// A configuration for Kakao's public host.
    pub fn new(cid: impl Into<String>, secret_key: SecretString) -> Self {
        Self {
            base_url: default_base_url(),
            cid: cid.into(),
            subscription_cid: None,
            secret_key,
        }
    }
}

impl std::fmt::Debug for KakaoPayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KakaoPayConfig")
            .field("base_url", &self.base_url)
            .field("cid", &self.cid)
            .field("subscription_cid", &self.subscription_cid)
            .field("secret_key", &"***")
            .finish()
    }
}

/// Kakao Pay under one merchant code: ready → (buyer approves) → approve, cancel and
/// order lookup; under a subscription merchant code also the later charges.
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
    /// What Kakao must still find cancellable (this cancel included), or it refuses:
    /// Kakao's own guard against a repeated cancel.
    cancel_available_amount: i64,
}

#[derive(Serialize)]
struct TidBody<'a> {
    cid: &'a str,
    tid: &'a str,
}

#[derive(Serialize)]
struct SidBody<'a> {
    cid: &'a str,
    sid: &'a str,
}

#[derive(Serialize)]
struct ChargeBody<'a> {
    cid: &'a str,
    sid: &'a str,
    partner_order_id: &'a str,
    partner_user_id: &'a str,
    item_name: &'a str,
    quantity: u32,
    total_amount: i64,
    tax_free_amount: i64,
}

#[derive(Deserialize)]
struct ReadyAnswer {
    tid: String,
    next_redirect_pc_url: String,
    #[serde(default)]
    next_redirect_mobile_url: Option<String>,
    #[serde(default)]
    next_redirect_app_url: Option<String>,
}

#[derive(Deserialize, Default)]
struct Amount {
    total: i64,
}

/// The answer to approve and to a subscription charge.
#[derive(Deserialize)]
struct ApproveAnswer {
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    sid: Option<String>,
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
    #[serde(default)]
    cancel_available_amount: Option<Amount>,
}

impl OrderAnswer {
    /// The payment's status in the port's terms, from Kakao's documented order statuses.
    fn status(&self) -> Result<PaymentStatus, Failure> {
        Ok(match self.status.as_str() {
            "SUCCESS_PAYMENT" | "PART_CANCEL_PAYMENT" | "CANCEL_PAYMENT" => {
                PaymentStatus::Approved {
                    amount: self.amount.total,
                    refunded: self.canceled_amount.total,
                }
            }
            "READY" | "SEND_TMS" | "OPEN_PAYMENT" | "SELECT_METHOD" | "ARS_WAITING"
            | "AUTH_PASSWORD" => PaymentStatus::Pending,
            // ISSUED_SID: a subscription key was issued without any charge.
            "FAIL_AUTH_PASSWORD" | "QUIT_PAYMENT" | "FAIL_PAYMENT" | "ISSUED_SID" => {
                PaymentStatus::Failed
            }
            other => {
                return Err(Failure::Unavailable(format!(
                    "Kakao Pay answered an unknown payment status {other:?}"
                )))
            }
        })
    }

    /// What Kakao would still refund.
    fn cancellable(&self) -> i64 {
        self.cancel_available_amount
            .as_ref()
            .map_or(self.amount.total - self.canceled_amount.total, |a| a.total)
    }
}

#[derive(Deserialize)]
struct SubscriptionAnswer {
    status: String,
}

/// Why a call to Kakao did not succeed.
enum Failure {
    Rejected(String),
    Unavailable(String),
}

impl From<Failure> for PaymentError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Rejected(message) => PaymentError::Declined(message),
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

/// Kakao's error text: `error_message` plus the payment method's
/// `extras.method_result_message` when present, and the (integer) `error_code`.
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

impl KakaoPay {
    /// A client for one-time payments (`cid`), with Kakao's recommended 10 s per call.
    pub fn new(config: KakaoPayConfig) -> anyhow::Result<Self> {
        Self::with_timeout(config, Duration::from_secs(10))
    }

    /// A client for recurring payments, under `subscription_cid` (required).
    pub fn for_subscriptions(config: KakaoPayConfig) -> anyhow::Result<Self> {
        Self::subscriptions_with_timeout(config, Duration::from_secs(10))
    }

    /// Same as [`KakaoPay::new`] with another per-call timeout (tests use a short one).
    pub fn with_timeout(config: KakaoPayConfig, timeout: Duration) -> anyhow::Result<Self> {
        let cid = config.cid.clone();
        Self::build(config, cid, timeout)
    }

    /// Same as [`KakaoPay::for_subscriptions`] with another per-call timeout.
    pub fn subscriptions_with_timeout(
        config: KakaoPayConfig,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let cid = config.subscription_cid.clone().ok_or_else(|| {
            anyhow::anyhow!("recurring Kakao Pay payments need [kakaopay] subscription_cid")
        })?;
        Self::build(config, cid, timeout)
    }

    fn build(config: KakaoPayConfig, cid: String, timeout: Duration) -> anyhow::Result<Self> {
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
            cid,
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
            let message = provider_message(status, &String::from_utf8_lossy(&bytes));
            tracing::info!(path, %message, "Kakao Pay declined");
            return Err(Failure::Rejected(message));
        }
        Err(unavailable(format!("HTTP {}", status.as_u16())))
    }

    /// Kakao's view of a payment (status, amounts, partner ids).
    async fn order(&self, tid: &str) -> Result<OrderAnswer, Failure> {
        self.post(
            ORDER,
            &TidBody {
                cid: &self.cid,
                tid,
            },
        )
        .await
    }
}

/// The answer to a cancel of `amount` if the payment was already (partly) refunded, as
/// the order's documented status (`CANCEL_PAYMENT`, `PART_CANCEL_PAYMENT`) and
/// `canceled_amount` say: Ok for a retry, Declined if it asks for more than was paid;
/// None if nothing was refunded.
fn already_refunded(order: &OrderAnswer, amount: i64) -> Option<Result<(), PaymentError>> {
    let cancelled = matches!(
        order.status.as_str(),
        "CANCEL_PAYMENT" | "PART_CANCEL_PAYMENT"
    );
    if !cancelled && order.canceled_amount.total <= 0 {
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

fn never_approved(tid: &str, status: &str) -> PaymentError {
    PaymentError::Declined(format!(
        "payment {tid} was never approved ({status}): nothing to refund, it expires by itself"
    ))
}

#[async_trait]
impl PaymentGateway for KakaoPay {
    #[tracing::instrument(name = "kakao_pay.ready", skip_all, fields(order_id = %req.order_id, amount = req.amount), err(level = "warn"))]
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
            mobile_redirect_url: answer.next_redirect_mobile_url,
            app_redirect_url: answer.next_redirect_app_url,
        })
    }

    #[tracing::instrument(
        name = "kakao_pay.approve",
        skip(self, user_id, pg_token),
        err(level = "warn")
    )]
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
                    sid: answer.sid,
                })
            }
            Err(Failure::Rejected(message)) => message,
            Err(e) => return Err(e.into()),
        };
        // Kakao refuses a second approve of the same tid; if the first one went
        // through (a retry after a lost answer), answer like it did. (The order lookup
        // carries no `sid`: only the first answer of a subscription's approval has it.)
        match self.order(tid).await {
            Ok(order)
                if matches!(order.status(), Ok(PaymentStatus::Approved { .. }))
                    && order.partner_order_id == order_id
                    && order.partner_user_id == user_id =>
            {
                Ok(PaymentApproved {
                    tid: tid.to_owned(),
                    amount: order.amount.total,
                    sid: None,
                })
            }
            Ok(_) | Err(Failure::Rejected(_)) => Err(PaymentError::Declined(message)),
            Err(e) => Err(e.into()),
        }
    }

    #[tracing::instrument(name = "kakao_pay.cancel", skip(self), err(level = "warn"))]
    async fn cancel(&self, tid: &str, amount: i64) -> Result<(), PaymentError> {
        if amount <= 0 {
            return Err(PaymentError::Declined(format!(
                "cancel amount {amount} must be positive"
            )));
        }
        let order = self.order(tid).await?;
        if !matches!(order.status()?, PaymentStatus::Approved { .. }) {
            return Err(never_approved(tid, &order.status));
        }
        // One refund per tid: a retry finds the earlier one in the order's status.
        if let Some(done) = already_refunded(&order, amount) {
            return done;
        }
        let body = CancelBody {
            cid: &self.cid,
            tid,
            cancel_amount: amount,
            cancel_tax_free_amount: 0,
            cancel_available_amount: order.cancellable(),
        };
        let message = match self.post::<_, IgnoredAny>(CANCEL, &body).await {
            Ok(_) => return Ok(()),
            Err(Failure::Rejected(message)) => message,
            Err(e) => return Err(e.into()),
        };
        // Kakao refuses when the cancellable amount moved since the lookup: a
        // concurrent retry refunded first. The order's status tells.
        match self.order(tid).await {
            Ok(order) => {
                already_refunded(&order, amount).unwrap_or(Err(PaymentError::Declined(message)))
            }
            Err(Failure::Rejected(_)) => Err(PaymentError::Declined(message)),
            Err(e) => Err(e.into()),
        }
    }

    #[tracing::instrument(
        name = "kakao_pay.status",
        level = "debug",
        skip(self),
        err(level = "warn")
    )]
    async fn status(&self, tid: &str) -> Result<PaymentStatus, PaymentError> {
        Ok(self.order(tid).await?.status()?)
    }
}
