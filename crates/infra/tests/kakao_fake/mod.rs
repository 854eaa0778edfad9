//! A local fake of Kakao Pay's online payment API (wiremock), answering as Kakao
//! documents it:
//! - single payment (ready, approve): <https://developers.kakaopay.com/docs/payment/online/single-payment>
//! - cancel: <https://developers.kakaopay.com/docs/payment/online/cancellation>
//! - order lookup and its status values: <https://developers.kakaopay.com/docs/payment/online/order>
//! - subscription (first payment under a subscription CID carries `sid`; later charges,
//!   inactive, status): <https://developers.kakaopay.com/docs/payment/online/subscription>
//! - error answers `{"error_code": <integer>, "error_message": ..., "extras": {...}}` and
//!   codes: <https://developers.kakaopay.com/docs/payment/online/common#error-code>
//!
//! Request bodies are checked like Kakao: required fields with their types, documented
//! optional fields accepted (and `cancel_available_amount`, approve's `total_amount`
//! enforced), anything else refused. The adapter under test depends only on HTTP
//! statuses and documented answer fields, never on an error's code or message text.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::matchers::{header, method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const CID: &str = "TC0ONETIME";
/// Kakao's test merchant code for recurring payments.
pub const SUBSCRIPTION_CID: &str = "TCSUBSCRIP";
pub const SECRET: &str = "DEV0123456789abcdef";
pub const PG_TOKEN: &str = "pg-token-from-kakao";

#[derive(Debug)]
pub struct KakaoPayment {
    pub cid: String,
    pub order_id: String,
    pub user_id: String,
    pub total: i64,
    pub approved: bool,
    pub canceled: i64,
}

#[derive(Debug)]
pub struct KakaoSubscription {
    pub user_id: String,
    pub active: bool,
}

#[derive(Default)]
pub struct KakaoState {
    pub payments: HashMap<String, KakaoPayment>,
    pub subscriptions: HashMap<String, KakaoSubscription>,
    pub issued: u64,
    pub cancel_calls: usize,
    pub approve_calls: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Str,
    Int,
    Array,
    Object,
}

use Kind::{Array, Int, Object, Str};

/// Kakao's error answer: HTTP 400 with an integer `error_code` (common#error-code).
pub fn kakao_error(code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "error_code": code,
        "error_message": message,
    }))
}

/// The body as Kakao parses it: `required` fields with their types, `optional` ones
/// (documented) with their types when present, nothing else; a known `cid`.
fn body(
    req: &Request,
    required: &[(&str, Kind)],
    optional: &[(&str, Kind)],
) -> Result<Value, String> {
    let v: Value = req.body_json().map_err(|_| "body is not JSON".to_owned())?;
    let obj = v.as_object().ok_or("body is not an object")?;
    let typed = |value: &Value, kind: Kind| match (value, kind) {
        (Value::String(s), Str) => !s.is_empty(),
        (Value::Number(n), Int) => n.is_i64(),
        (Value::Array(_), Array) => true,
        (Value::Object(_), Object) => true,
        _ => false,
    };
    for (name, kind) in required {
        if !obj.get(*name).is_some_and(|x| typed(x, *kind)) {
            return Err(format!("invalid field {name}"));
        }
    }
    for (name, value) in obj {
        if required.iter().any(|(n, _)| n == name) {
            continue;
        }
        match optional.iter().find(|(n, _)| n == name) {
            Some((_, kind)) if typed(value, *kind) => {}
            Some(_) => return Err(format!("invalid field {name}")),
            None => return Err(format!("unexpected field {name}")),
        }
    }
    if v["cid"] != CID && v["cid"] != SUBSCRIPTION_CID {
        return Err("unknown cid".into());
    }
    Ok(v)
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_owned()
}

fn n(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or_default()
}

/// The order's `status`, one of the documented values (online/order).
fn status(p: &KakaoPayment) -> &'static str {
    match (p.approved, p.canceled) {
        (false, _) => "READY",
        (true, 0) => "SUCCESS_PAYMENT",
        (true, c) if c < p.total => "PART_CANCEL_PAYMENT",
        (true, _) => "CANCEL_PAYMENT",
    }
}

pub fn amount(total: i64) -> Value {
    json!({"total": total, "tax_free": 0, "vat": total / 11, "point": 0, "discount": 0, "green_deposit": 0})
}

/// The approve (and subscription charge) answer (single-payment#approve).
fn approval(tid: &str, sid: Option<&str>, p: &KakaoPayment) -> Value {
    let mut a = json!({
        "aid": format!("A{}", &tid[1..]), "tid": tid, "cid": p.cid,
        "partner_order_id": p.order_id, "partner_user_id": p.user_id,
        "payment_method_type": "MONEY", "amount": amount(p.total),
        "item_name": "x", "quantity": 1,
        "created_at": "2024-01-01T12:00:00", "approved_at": "2024-01-01T12:00:30"
    });
    if let Some(sid) = sid {
        a["sid"] = json!(sid);
    }
    a
}

fn ready(st: &mut KakaoState, req: &Request) -> ResponseTemplate {
    let v = match body(
        req,
        &[
            ("cid", Str),
            ("partner_order_id", Str),
            ("partner_user_id", Str),
            ("item_name", Str),
            ("quantity", Int),
            ("total_amount", Int),
            ("tax_free_amount", Int),
            ("approval_url", Str),
            ("cancel_url", Str),
            ("fail_url", Str),
        ],
        &[
            ("cid_secret", Str),
            ("item_code", Str),
            ("vat_amount", Int),
            ("green_deposit", Int),
            ("available_cards", Array),
            ("payment_method_type", Str),
            ("install_month", Int),
            ("use_share_installment", Str),
            ("custom_json", Object),
        ],
    ) {
        Ok(v) => v,
        Err(e) => return kakao_error(-2, &e),
    };
    if n(&v, "total_amount") <= 0 || n(&v, "quantity") <= 0 || n(&v, "tax_free_amount") != 0 {
        return kakao_error(-722, "invalid amount");
    }
    st.issued += 1;
    let tid = format!("T{:019}", st.issued);
    st.payments.insert(
        tid.clone(),
        KakaoPayment {
            cid: s(&v, "cid"),
            order_id: s(&v, "partner_order_id"),
            user_id: s(&v, "partner_user_id"),
            total: n(&v, "total_amount"),
            approved: false,
            canceled: 0,
        },
    );
    // single-payment#ready: the three redirect URLs and the creation time.
    ResponseTemplate::new(200).set_body_json(json!({
        "tid": tid,
        "next_redirect_app_url": format!("https://mockup-pg-web.kakao.com/v1/{tid}/aInfo"),
        "next_redirect_mobile_url": format!("https://mockup-pg-web.kakao.com/v1/{tid}/mInfo"),
        "next_redirect_pc_url": format!("https://mockup-pg-web.kakao.com/v1/{tid}/info"),
        "created_at": "2024-01-01T12:00:00"
    }))
}

fn approve(st: &mut KakaoState, req: &Request) -> ResponseTemplate {
    st.approve_calls += 1;
    let v = match body(
        req,
        &[
            ("cid", Str),
            ("tid", Str),
            ("partner_order_id", Str),
            ("partner_user_id", Str),
            ("pg_token", Str),
        ],
        &[("cid_secret", Str), ("payload", Str), ("total_amount", Int)],
    ) {
        Ok(v) => v,
        Err(e) => return kakao_error(-2, &e),
    };
    let tid = s(&v, "tid");
    let Some(p) = st.payments.get_mut(&tid).filter(|p| p.cid == s(&v, "cid")) else {
        return kakao_error(-721, "TID doesn't exist");
    };
    if p.order_id != s(&v, "partner_order_id") || p.user_id != s(&v, "partner_user_id") {
        return kakao_error(-726, "partner_order_id or partner_user_id doesn't match");
    }
    if v.get("total_amount").is_some() && n(&v, "total_amount") != p.total {
        return kakao_error(-726, "total_amount doesn't match");
    }
    if p.approved {
        return kakao_error(-702, "payment is already done");
    }
    if s(&v, "pg_token") != PG_TOKEN {
        // single-payment#approve, "결제 수단 승인 실패" sample.
        return ResponseTemplate::new(400).set_body_json(json!({
            "error_code": -780,
            "error_message": "approval failure!",
            "extras": {"method_result_code": "INVALID_PG_TOKEN", "method_result_message": "invalid pg_token"}
        }));
    }
    p.approved = true;
    let sid = (p.cid == SUBSCRIPTION_CID).then(|| format!("S{}", &tid[1..]));
    let answer = approval(&tid, sid.as_deref(), p);
    if let Some(sid) = sid {
        let user_id = p.user_id.clone();
        st.subscriptions.insert(
            sid,
            KakaoSubscription {
                user_id,
                active: true,
            },
        );
    }
    ResponseTemplate::new(200).set_body_json(answer)
}

fn cancel(st: &mut KakaoState, req: &Request) -> ResponseTemplate {
    st.cancel_calls += 1;
    let v = match body(
        req,
        &[
            ("cid", Str),
            ("tid", Str),
            ("cancel_amount", Int),
            ("cancel_tax_free_amount", Int),
        ],
        &[
            ("cid_secret", Str),
            ("cancel_vat_amount", Int),
            ("cancel_available_amount", Int),
            ("payload", Str),
        ],
    ) {
        Ok(v) => v,
        Err(e) => return kakao_error(-2, &e),
    };
    let tid = s(&v, "tid");
    let Some(p) = st.payments.get_mut(&tid).filter(|p| p.cid == s(&v, "cid")) else {
        return kakao_error(-721, "TID doesn't exist");
    };
    // cancellation: only a completed (approved) payment can be cancelled.
    if !p.approved {
        return kakao_error(-781, "cancel failure: the payment is not approved");
    }
    let cancel = n(&v, "cancel_amount");
    let available = p.total - p.canceled;
    // cancellation: cancel_available_amount is what must still be cancellable,
    // this request included; Kakao refuses when it differs.
    if v.get("cancel_available_amount").is_some() && n(&v, "cancel_available_amount") != available {
        return kakao_error(
            -781,
            "cancel failure: cancel_available_amount doesn't match",
        );
    }
    if n(&v, "cancel_tax_free_amount") != 0 || cancel <= 0 || cancel > available {
        return kakao_error(-781, "cancel failure: invalid cancel amount");
    }
    p.canceled += cancel;
    ResponseTemplate::new(200).set_body_json(json!({
        "aid": format!("C{}", &tid[1..]), "tid": tid, "cid": p.cid, "status": status(p),
        "partner_order_id": p.order_id, "partner_user_id": p.user_id,
        "payment_method_type": "MONEY", "amount": amount(p.total),
        "approved_cancel_amount": amount(cancel), "canceled_amount": amount(p.canceled),
        "cancel_available_amount": amount(p.total - p.canceled),
        "item_name": "x", "quantity": 1,
        "created_at": "2024-01-01T12:00:00", "approved_at": "2024-01-01T12:00:30",
        "canceled_at": "2024-01-01T12:05:00"
    }))
}

fn order(st: &KakaoState, req: &Request) -> ResponseTemplate {
    let v = match body(req, &[("cid", Str), ("tid", Str)], &[("cid_secret", Str)]) {
        Ok(v) => v,
        Err(e) => return kakao_error(-2, &e),
    };
    let tid = s(&v, "tid");
    let Some(p) = st.payments.get(&tid).filter(|p| p.cid == s(&v, "cid")) else {
        return kakao_error(-721, "TID doesn't exist");
    };
    ResponseTemplate::new(200).set_body_json(order_answer(&tid, p))
}

/// The order lookup answer (online/order).
pub fn order_answer(tid: &str, p: &KakaoPayment) -> Value {
    json!({
        "tid": tid, "cid": p.cid, "status": status(p),
        "partner_order_id": p.order_id, "partner_user_id": p.user_id,
        "payment_method_type": "MONEY", "amount": amount(p.total),
        "canceled_amount": amount(p.canceled),
        "cancel_available_amount": amount(p.total - p.canceled),
        "item_name": "x", "quantity": 1, "created_at": "2024-01-01T12:00:00"
    })
}

fn charge(st: &mut KakaoState, req: &Request) -> ResponseTemplate {
    let v = match body(
        req,
        &[
            ("cid", Str),
            ("sid", Str),
            ("partner_order_id", Str),
            ("partner_user_id", Str),
            ("item_name", Str),
            ("quantity", Int),
            ("total_amount", Int),
            ("tax_free_amount", Int),
        ],
        &[
            ("cid_secret", Str),
            ("item_code", Str),
            ("vat_amount", Int),
            ("payload", Str),
        ],
    ) {
        Ok(v) => v,
        Err(e) => return kakao_error(-2, &e),
    };
    if v["cid"] != SUBSCRIPTION_CID {
        return kakao_error(-782, "subscription failure: not a subscription cid");
    }
    let sid = s(&v, "sid");
    match st.subscriptions.get(&sid) {
        None => return kakao_error(-750, "SID doesn't exist"),
        Some(sub) if !sub.active => return kakao_error(-751, "SID is inactive"),
        Some(sub) if sub.user_id != s(&v, "partner_user_id") => {
            return kakao_error(-753, "partner_user_id doesn't match the SID")
        }
        Some(_) => {}
    }
    if n(&v, "total_amount") <= 0 || n(&v, "quantity") <= 0 || n(&v, "tax_free_amount") != 0 {
        return kakao_error(-722, "invalid amount");
    }
    st.issued += 1;
    let tid = format!("T{:019}", st.issued);
    let p = KakaoPayment {
        cid: SUBSCRIPTION_CID.into(),
        order_id: s(&v, "partner_order_id"),
        user_id: s(&v, "partner_user_id"),
        total: n(&v, "total_amount"),
        approved: true,
        canceled: 0,
    };
    let answer = approval(&tid, Some(&sid), &p);
    st.payments.insert(tid, p);
    ResponseTemplate::new(200).set_body_json(answer)
}

fn subscription(st: &mut KakaoState, req: &Request, deactivate: bool) -> ResponseTemplate {
    let v = match body(req, &[("cid", Str), ("sid", Str)], &[("cid_secret", Str)]) {
        Ok(v) => v,
        Err(e) => return kakao_error(-2, &e),
    };
    let sid = s(&v, "sid");
    let Some(sub) = st.subscriptions.get_mut(&sid) else {
        return kakao_error(-750, "SID doesn't exist");
    };
    if deactivate {
        if !sub.active {
            return kakao_error(-751, "SID is already inactive");
        }
        sub.active = false;
    }
    let status = if sub.active { "ACTIVE" } else { "INACTIVE" };
    let mut answer = json!({
        "cid": SUBSCRIPTION_CID, "sid": sid, "status": status,
        "created_at": "2024-01-01T12:00:00", "last_approved_at": "2024-01-01T12:00:30",
    });
    if !sub.active {
        answer["inactivated_at"] = json!("2024-02-01T09:00:00");
    }
    if !deactivate {
        answer["available"] = json!(sub.active);
        answer["payment_method_type"] = json!("MONEY");
        answer["item_name"] = json!("x");
    }
    ResponseTemplate::new(200).set_body_json(answer)
}

fn kakao_answer(state: &Mutex<KakaoState>, req: &Request) -> ResponseTemplate {
    let mut st = state.lock().unwrap();
    match req.url.path() {
        "/online/v1/payment/ready" => ready(&mut st, req),
        "/online/v1/payment/approve" => approve(&mut st, req),
        "/online/v1/payment/cancel" => cancel(&mut st, req),
        "/online/v1/payment/order" => order(&st, req),
        "/online/v1/payment/subscription" => charge(&mut st, req),
        "/online/v1/payment/manage/subscription/inactive" => subscription(&mut st, req, true),
        "/online/v1/payment/manage/subscription/status" => subscription(&mut st, req, false),
        _ => ResponseTemplate::new(404),
    }
}

pub struct FakeKakao {
    pub server: MockServer,
    pub state: Arc<Mutex<KakaoState>>,
}

pub async fn fake_kakao() -> FakeKakao {
    let server = MockServer::start().await;
    let state = Arc::new(Mutex::new(KakaoState::default()));
    let shared = state.clone();
    Mock::given(method("POST"))
        .and(path_regex("^/online/v1/payment/"))
        .and(header(
            "Authorization",
            format!("SECRET_KEY {SECRET}").as_str(),
        ))
        .and(header("Content-Type", "application/json"))
        .respond_with(move |req: &Request| kakao_answer(&shared, req))
        .mount(&server)
        .await;
    // Without the right `SECRET_KEY` Kakao answers HTTP 401 (common#auth); the body is
    // not documented, so the fake sends none and the adapter must not depend on one.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(10)
        .mount(&server)
        .await;
    FakeKakao { server, state }
}
