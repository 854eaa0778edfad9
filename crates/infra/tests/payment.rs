//! The `PaymentGateway` adapters: both pass the contract suite (Kakao Pay against a
//! local fake Kakao built with wiremock), and each maps failures the way the port says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{json, Value};
use surge_infra::payment::{FakeGateway, KakaoPay, KakaoPayConfig, KAKAO_PAY_BASE_URL};
use surge_kernel::payment::{PaymentError, PaymentGateway, PaymentRequest};
use surge_testkit::contracts;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CID: &str = "TC0ONETIME";
const SECRET: &str = "DEV0123456789abcdef";
const PG_TOKEN: &str = "pg-token-from-kakao";

fn request(amount: i64) -> PaymentRequest {
    PaymentRequest {
        order_id: format!("order-{}", uuid::Uuid::new_v4().simple()),
        user_id: "user-1".into(),
        item_name: "초코파이".into(),
        quantity: 1,
        amount,
        approval_url: "https://surge.example/pay/approve".into(),
        cancel_url: "https://surge.example/pay/cancel".into(),
        fail_url: "https://surge.example/pay/fail".into(),
    }
}

fn kakao(base_url: &str, secret: &str) -> KakaoPay {
    KakaoPay::new(KakaoPayConfig {
        base_url: base_url.to_owned(),
        cid: CID.into(),
        secret_key: SecretString::from(secret),
    })
    .unwrap()
}

fn is_declined<T: std::fmt::Debug>(r: &Result<T, PaymentError>) -> bool {
    matches!(r, Err(PaymentError::Declined(_)))
}

fn is_unavailable<T: std::fmt::Debug>(r: &Result<T, PaymentError>) -> bool {
    matches!(r, Err(PaymentError::Unavailable(_)))
}

// ---------------------------------------------------------------------------------
// A fake Kakao Pay: checks the key and every JSON field, keeps payments like Kakao.

#[derive(Debug)]
struct KakaoPayment {
    order_id: String,
    user_id: String,
    total: i64,
    approved: bool,
    canceled: i64,
}

#[derive(Default)]
struct KakaoState {
    payments: HashMap<String, KakaoPayment>,
    issued: u64,
    cancel_calls: usize,
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
}

fn kakao_error(code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "error_code": code,
        "error_message": message,
    }))
}

/// The body as Kakao parses it: exactly these fields with these types, and our `cid`.
fn body(req: &Request, spec: &[(&str, Kind)]) -> Result<Value, String> {
    let v: Value = req.body_json().map_err(|_| "body is not JSON".to_owned())?;
    let obj = v.as_object().ok_or("body is not an object")?;
    for (name, kind) in spec {
        let ok = match (obj.get(*name), kind) {
            (Some(Value::String(s)), Kind::Str) => !s.is_empty(),
            (Some(Value::Number(n)), Kind::Int) => n.is_i64(),
            _ => false,
        };
        if !ok {
            return Err(format!("invalid field {name}"));
        }
    }
    if let Some(extra) = obj.keys().find(|k| !spec.iter().any(|(n, _)| n == k)) {
        return Err(format!("unexpected field {extra}"));
    }
    if v["cid"] != CID {
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

fn status(p: &KakaoPayment) -> &'static str {
    match (p.approved, p.canceled) {
        (false, _) => "READY",
        (true, 0) => "SUCCESS_PAYMENT",
        (true, c) if c < p.total => "PART_CANCEL_PAYMENT",
        (true, _) => "CANCEL_PAYMENT",
    }
}

fn amount(total: i64) -> Value {
    json!({"total": total, "tax_free": 0, "vat": total / 11, "point": 0, "discount": 0, "green_deposit": 0})
}

fn kakao_answer(state: &Mutex<KakaoState>, req: &Request) -> ResponseTemplate {
    use Kind::{Int, Str};
    let mut st = state.lock().unwrap();
    let answer = match req.url.path() {
        "/online/v1/payment/ready" => {
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
            ) {
                Ok(v) => v,
                Err(e) => return kakao_error("-401", &e),
            };
            if n(&v, "total_amount") <= 0 || n(&v, "quantity") <= 0 || n(&v, "tax_free_amount") != 0
            {
                return kakao_error("-401", "invalid amount");
            }
            st.issued += 1;
            let tid = format!("T{:019}", st.issued);
            st.payments.insert(
                tid.clone(),
                KakaoPayment {
                    order_id: s(&v, "partner_order_id"),
                    user_id: s(&v, "partner_user_id"),
                    total: n(&v, "total_amount"),
                    approved: false,
                    canceled: 0,
                },
            );
            json!({
                "tid": tid,
                "next_redirect_app_url": format!("https://online-pay.kakao.com/mockup/v1/{tid}/aInfo"),
                "next_redirect_mobile_url": format!("https://online-pay.kakao.com/mockup/v1/{tid}/mInfo"),
                "next_redirect_pc_url": format!("https://online-pay.kakao.com/mockup/v1/{tid}/info"),
                "android_app_scheme": "kakaotalk://kakaopay/pg?url=x",
                "ios_app_scheme": "kakaotalk://kakaopay/pg?url=x",
                "created_at": "2024-01-01T12:00:00"
            })
        }
        "/online/v1/payment/approve" => {
            let v = match body(
                req,
                &[
                    ("cid", Str),
                    ("tid", Str),
                    ("partner_order_id", Str),
                    ("partner_user_id", Str),
                    ("pg_token", Str),
                ],
            ) {
                Ok(v) => v,
                Err(e) => return kakao_error("-401", &e),
            };
            let tid = s(&v, "tid");
            let Some(p) = st.payments.get_mut(&tid) else {
                return kakao_error("-721", "TID doesn't exist");
            };
            if p.order_id != s(&v, "partner_order_id") || p.user_id != s(&v, "partner_user_id") {
                return kakao_error("-721", "partner_order_id or partner_user_id doesn't match");
            }
            if p.approved {
                return kakao_error("-702", "payment is already done!");
            }
            if s(&v, "pg_token") != PG_TOKEN {
                return ResponseTemplate::new(400).set_body_json(json!({
                    "error_code": "-780",
                    "error_message": "approval failure!",
                    "extras": {"method_result_code": "INVALID_PG_TOKEN", "method_result_message": "invalid pg_token"}
                }));
            }
            p.approved = true;
            json!({
                "aid": format!("A{tid}"), "tid": tid, "cid": CID,
                "partner_order_id": p.order_id, "partner_user_id": p.user_id,
                "payment_method_type": "MONEY", "amount": amount(p.total),
                "item_name": "x", "quantity": 1,
                "created_at": "2024-01-01T12:00:00", "approved_at": "2024-01-01T12:00:30"
            })
        }
        "/online/v1/payment/cancel" => {
            st.cancel_calls += 1;
            let v = match body(
                req,
                &[
                    ("cid", Str),
                    ("tid", Str),
                    ("cancel_amount", Int),
                    ("cancel_tax_free_amount", Int),
                ],
            ) {
                Ok(v) => v,
                Err(e) => return kakao_error("-401", &e),
            };
            let tid = s(&v, "tid");
            let Some(p) = st.payments.get_mut(&tid) else {
                return kakao_error("-721", "TID doesn't exist");
            };
            let cancel = n(&v, "cancel_amount");
            if !p.approved {
                return kakao_error("-701", "payment is not approved");
            }
            if n(&v, "cancel_tax_free_amount") != 0 || cancel <= 0 || cancel > p.total - p.canceled
            {
                return kakao_error("-722", "cancel amount exceeds the cancel available amount");
            }
            p.canceled += cancel;
            json!({
                "aid": format!("C{tid}"), "tid": tid, "cid": CID, "status": status(p),
                "partner_order_id": p.order_id, "partner_user_id": p.user_id,
                "payment_method_type": "MONEY", "amount": amount(p.total),
                "approved_cancel_amount": amount(cancel), "canceled_amount": amount(p.canceled),
                "cancel_available_amount": amount(p.total - p.canceled)
            })
        }
        "/online/v1/payment/order" => {
            let v = match body(req, &[("cid", Str), ("tid", Str)]) {
                Ok(v) => v,
                Err(e) => return kakao_error("-401", &e),
            };
            let tid = s(&v, "tid");
            let Some(p) = st.payments.get(&tid) else {
                return kakao_error("-721", "TID doesn't exist");
            };
            json!({
                "tid": tid, "cid": CID, "status": status(p),
                "partner_order_id": p.order_id, "partner_user_id": p.user_id,
                "payment_method_type": "MONEY", "amount": amount(p.total),
                "canceled_amount": amount(p.canceled),
                "cancel_available_amount": amount(p.total - p.canceled),
                "item_name": "x", "quantity": 1, "created_at": "2024-01-01T12:00:00"
            })
        }
        _ => return ResponseTemplate::new(404).set_body_json(json!({"error_code": "NOT_FOUND"})),
    };
    ResponseTemplate::new(200).set_body_json(answer)
}

struct FakeKakao {
    server: MockServer,
    state: Arc<Mutex<KakaoState>>,
}

async fn fake_kakao() -> FakeKakao {
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
    // Anything without the right key (or not JSON) is refused like Kakao does.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error_code": "UNAUTHORIZED",
            "error_message": "invalid secret key"
        })))
        .with_priority(10)
        .mount(&server)
        .await;
    FakeKakao { server, state }
}

/// A server that answers every POST with `answer`.
async fn scripted(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

// ---------------------------------------------------------------------------------
// Contract

#[tokio::test]
async fn fake_gateway_passes_the_contract() {
    let fake = FakeGateway::new();
    contracts::payment_gateway(&fake, "any-token").await;
    assert_eq!(fake.approvals(), 1);
    assert_eq!(fake.refunds(), 1);
}

#[tokio::test]
async fn kakao_pay_passes_the_contract_against_a_fake_kakao() {
    let k = fake_kakao().await;
    contracts::payment_gateway(&kakao(&k.server.uri(), SECRET), PG_TOKEN).await;
    let st = k.state.lock().unwrap();
    let approved: Vec<_> = st.payments.values().filter(|p| p.approved).collect();
    assert_eq!(approved.len(), 1, "one payment approved");
    assert_eq!(
        approved[0].canceled, approved[0].total,
        "refunded once, fully"
    );
    assert_eq!(st.cancel_calls, 1, "the retried cancel did not reach Kakao");
}

// ---------------------------------------------------------------------------------
// Kakao Pay

#[tokio::test]
async fn kakao_pay_ready_answers_the_pc_redirect_url() {
    let k = fake_kakao().await;
    let pay = kakao(&format!("{}/", k.server.uri()), SECRET);
    let ready = pay.ready(&request(5_000)).await.unwrap();
    assert_eq!(
        ready.redirect_url,
        format!("https://online-pay.kakao.com/mockup/v1/{}/info", ready.tid)
    );
    let bad = pay.ready(&request(0)).await;
    assert!(is_declined(&bad), "{bad:?}");
}

#[tokio::test]
async fn kakao_pay_wrong_pg_token_is_declined_with_kakaos_message() {
    let k = fake_kakao().await;
    let pay = kakao(&k.server.uri(), SECRET);
    let req = request(3_000);
    let ready = pay.ready(&req).await.unwrap();
    match pay
        .approve(&ready.tid, &req.order_id, &req.user_id, "forged")
        .await
    {
        Err(PaymentError::Declined(msg)) => {
            assert!(msg.contains("approval failure!"), "{msg}");
            assert!(msg.contains("invalid pg_token"), "{msg}");
            assert!(msg.contains("-780"), "{msg}");
        }
        other => panic!("expected Declined, got {other:?}"),
    }
    let approved = pay
        .approve(&ready.tid, &req.order_id, &req.user_id, PG_TOKEN)
        .await
        .unwrap();
    assert_eq!(approved.amount, 3_000);
    let other_user = pay
        .approve(&ready.tid, &req.order_id, "someone-else", PG_TOKEN)
        .await;
    assert!(is_declined(&other_user), "{other_user:?}");
}

#[tokio::test]
async fn kakao_pay_cancel_above_the_amount_or_of_unknown_tid_is_declined() {
    let k = fake_kakao().await;
    let pay = kakao(&k.server.uri(), SECRET);
    let req = request(3_000);
    let ready = pay.ready(&req).await.unwrap();
    pay.approve(&ready.tid, &req.order_id, &req.user_id, PG_TOKEN)
        .await
        .unwrap();
    let too_much = pay.cancel(&ready.tid, 3_001).await;
    assert!(is_declined(&too_much), "{too_much:?}");
    let unknown = pay.cancel("T0000000000000000000", 1_000).await;
    assert!(is_declined(&unknown), "{unknown:?}");
    pay.cancel(&ready.tid, 3_000).await.unwrap();
}

#[tokio::test]
async fn kakao_pay_with_a_wrong_key_is_declined() {
    let k = fake_kakao().await;
    let r = kakao(&k.server.uri(), "wrong-key")
        .ready(&request(1_000))
        .await;
    match r {
        Err(PaymentError::Declined(msg)) => assert!(msg.contains("invalid secret key"), "{msg}"),
        other => panic!("expected Declined, got {other:?}"),
    }
}

#[tokio::test]
async fn kakao_pay_4xx_is_declined() {
    let server = scripted(kakao_error("-721", "TID doesn't exist")).await;
    let pay = kakao(&server.uri(), SECRET);
    let r = pay.approve("T1", "o", "u", PG_TOKEN).await;
    assert!(is_declined(&r), "{r:?}");
    let r = pay.ready(&request(1_000)).await;
    assert!(is_declined(&r), "{r:?}");
    let r = pay.cancel("T1", 1_000).await;
    assert!(is_declined(&r), "{r:?}");
    let plain = scripted(ResponseTemplate::new(403).set_body_string("forbidden")).await;
    match kakao(&plain.uri(), SECRET).ready(&request(1_000)).await {
        Err(PaymentError::Declined(msg)) => assert!(msg.contains("403"), "{msg}"),
        other => panic!("expected Declined, got {other:?}"),
    }
}

#[tokio::test]
async fn kakao_pay_5xx_429_and_nonsense_are_unavailable() {
    for answer in [
        ResponseTemplate::new(500).set_body_json(json!({"error_code": "INTERNAL"})),
        ResponseTemplate::new(503),
        ResponseTemplate::new(429),
        ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"),
        ResponseTemplate::new(200).set_body_json(json!({"unexpected": true})),
    ] {
        let server = scripted(answer).await;
        let pay = kakao(&server.uri(), SECRET);
        let r = pay.ready(&request(1_000)).await;
        assert!(is_unavailable(&r), "{r:?}");
        let r = pay.approve("T1", "o", "u", PG_TOKEN).await;
        assert!(is_unavailable(&r), "{r:?}");
        let r = pay.cancel("T1", 1_000).await;
        assert!(is_unavailable(&r), "{r:?}");
    }
}

#[tokio::test]
async fn kakao_pay_connection_refused_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let pay = kakao(&format!("http://{addr}"), SECRET);
    let r = pay.ready(&request(1_000)).await;
    assert!(is_unavailable(&r), "{r:?}");
    let r = pay.approve("T1", "o", "u", PG_TOKEN).await;
    assert!(is_unavailable(&r), "{r:?}");
    let r = pay.cancel("T1", 1_000).await;
    assert!(is_unavailable(&r), "{r:?}");
}

#[tokio::test]
async fn kakao_pay_timeout_is_unavailable() {
    let server = scripted(
        ResponseTemplate::new(200)
            .set_body_json(json!({"tid": "T1", "next_redirect_pc_url": "https://x"}))
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let pay = KakaoPay::with_timeout(
        KakaoPayConfig {
            base_url: server.uri(),
            cid: CID.into(),
            secret_key: SecretString::from(SECRET),
        },
        Duration::from_millis(200),
    )
    .unwrap();
    let started = Instant::now();
    let r = pay.ready(&request(1_000)).await;
    assert!(is_unavailable(&r), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the timeout applies"
    );
}

#[tokio::test]
async fn kakao_pay_already_cancelled_answer_counts_as_a_refund() {
    let server = MockServer::start().await;
    // The lookup has not seen the earlier cancel yet; the cancel itself says it is done.
    Mock::given(path("/online/v1/payment/order"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "tid": "T1", "cid": CID, "status": "SUCCESS_PAYMENT",
            "partner_order_id": "o", "partner_user_id": "u",
            "amount": amount(1_000), "canceled_amount": amount(0)
        })))
        .mount(&server)
        .await;
    Mock::given(path("/online/v1/payment/cancel"))
        .respond_with(kakao_error("-703", "payment is already cancelled"))
        .mount(&server)
        .await;
    kakao(&server.uri(), SECRET)
        .cancel("T1", 1_000)
        .await
        .unwrap();

    let other = MockServer::start().await;
    Mock::given(path("/online/v1/payment/order"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "tid": "T1", "cid": CID, "status": "SUCCESS_PAYMENT",
            "amount": amount(1_000), "canceled_amount": amount(0)
        })))
        .mount(&other)
        .await;
    Mock::given(path("/online/v1/payment/cancel"))
        .respond_with(kakao_error("-781", "cancel failure!"))
        .mount(&other)
        .await;
    let r = kakao(&other.uri(), SECRET).cancel("T1", 1_000).await;
    assert!(is_declined(&r), "other refusals stay declined: {r:?}");
}

#[tokio::test]
async fn kakao_pay_cancel_that_lost_a_race_to_a_retry_counts_as_a_refund() {
    let server = MockServer::start().await;
    let order = |canceled: i64| {
        ResponseTemplate::new(200).set_body_json(json!({
            "tid": "T1", "cid": CID, "status": if canceled > 0 { "CANCEL_PAYMENT" } else { "SUCCESS_PAYMENT" },
            "partner_order_id": "o", "partner_user_id": "u",
            "amount": amount(1_000), "canceled_amount": amount(canceled)
        }))
    };
    // First lookup: nothing refunded; then a concurrent retry refunds; later lookups see it.
    Mock::given(path("/online/v1/payment/order"))
        .respond_with(order(0))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/online/v1/payment/order"))
        .respond_with(order(1_000))
        .mount(&server)
        .await;
    Mock::given(path("/online/v1/payment/cancel"))
        .respond_with(kakao_error(
            "-722",
            "cancel amount exceeds the cancel available amount",
        ))
        .mount(&server)
        .await;
    kakao(&server.uri(), SECRET)
        .cancel("T1", 1_000)
        .await
        .unwrap();
}

#[test]
fn kakao_pay_config_debug_hides_the_secret() {
    let cfg = KakaoPayConfig::new(CID, SecretString::from(SECRET));
    assert_eq!(cfg.base_url, KAKAO_PAY_BASE_URL);
    let shown = format!("{cfg:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains(CID), "{shown}");
    let client = format!("{:?}", KakaoPay::new(cfg).unwrap());
    assert!(!client.contains(SECRET), "{client}");
}

#[test]
fn kakao_pay_config_reads_from_configuration_with_the_default_host() {
    let cfg: KakaoPayConfig =
        serde_json::from_value(json!({"cid": CID, "secret_key": SECRET})).unwrap();
    assert_eq!(cfg.base_url, KAKAO_PAY_BASE_URL);
    assert_eq!(cfg.cid, CID);
}

// ---------------------------------------------------------------------------------
// Fake gateway

#[tokio::test]
async fn fake_gateway_keeps_kakaos_rules() {
    let g = FakeGateway::new();
    let req = request(10_000);
    let ready = g.ready(&req).await.unwrap();
    assert_eq!(
        ready.redirect_url,
        format!("fake-pay://approve/{}", ready.tid)
    );
    assert!(ready.tid.starts_with('T'));
    assert_eq!(g.approved_amount(&ready.tid), None);

    let r = g
        .approve(
            &ready.tid,
            &req.order_id,
            &req.user_id,
            FakeGateway::DECLINE_TOKEN,
        )
        .await;
    assert!(is_declined(&r), "{r:?}");
    let r = g
        .approve(&ready.tid, "other-order", &req.user_id, "ok")
        .await;
    assert!(is_declined(&r), "{r:?}");
    let r = g
        .approve(&ready.tid, &req.order_id, "other-user", "ok")
        .await;
    assert!(is_declined(&r), "{r:?}");
    assert_eq!(g.approvals(), 0, "refusals have no effect");

    g.approve(&ready.tid, &req.order_id, &req.user_id, "ok")
        .await
        .unwrap();
    assert_eq!(g.approved_amount(&ready.tid), Some(10_000));
    let r = g.cancel(&ready.tid, 10_001).await;
    assert!(is_declined(&r), "{r:?}");
    assert_eq!(g.refunded_amount(&ready.tid), 0);
    g.cancel(&ready.tid, 4_000).await.unwrap();
    g.cancel(&ready.tid, 4_000).await.unwrap();
    assert_eq!(g.refunded_amount(&ready.tid), 4_000, "one refund per tid");
    assert_eq!(g.refunds(), 1);
    let r = g.cancel("T-unknown", 1).await;
    assert!(is_declined(&r), "{r:?}");

    let r = g.ready(&request(0)).await;
    assert!(is_declined(&r), "{r:?}");
}

#[tokio::test]
async fn fake_gateway_voids_a_payment_cancelled_before_approval() {
    let g = FakeGateway::new();
    let req = request(2_000);
    let ready = g.ready(&req).await.unwrap();
    g.cancel(&ready.tid, 2_000).await.unwrap();
    let r = g
        .approve(&ready.tid, &req.order_id, &req.user_id, "ok")
        .await;
    assert!(is_declined(&r), "{r:?}");
    assert_eq!(g.refunded_amount(&ready.tid), 0, "nothing was charged");
    assert_eq!((g.approvals(), g.refunds()), (0, 0));
}

#[tokio::test]
async fn fake_gateway_concurrent_approvals_count_once() {
    let g = Arc::new(FakeGateway::new());
    let req = request(7_000);
    let ready = g.ready(&req).await.unwrap();
    let answers = futures::future::join_all((0..20).map(|_| {
        let (g, tid, req) = (g.clone(), ready.tid.clone(), req.clone());
        tokio::spawn(async move { g.approve(&tid, &req.order_id, &req.user_id, "ok").await })
    }))
    .await;
    for a in answers {
        assert_eq!(a.unwrap().unwrap().amount, 7_000);
    }
    assert_eq!(g.approvals(), 1);
}

#[tokio::test]
async fn fake_gateway_fail_next_answers_unavailable_without_effect() {
    let g: Arc<FakeGateway> = Arc::new(FakeGateway::new());
    let port: Arc<dyn PaymentGateway> = g.clone();
    let req = request(1_000);
    let ready = port.ready(&req).await.unwrap();
    g.fail_next(2);
    let r = port
        .approve(&ready.tid, &req.order_id, &req.user_id, "ok")
        .await;
    assert!(is_unavailable(&r), "{r:?}");
    let r = port.ready(&req).await;
    assert!(is_unavailable(&r), "{r:?}");
    assert_eq!(g.approvals(), 0);
    port.approve(&ready.tid, &req.order_id, &req.user_id, "ok")
        .await
        .unwrap();
    assert_eq!(
        g.approvals(),
        1,
        "the retry after the failures goes through"
    );
}

#[tokio::test]
async fn fake_gateway_decline_all_refuses_every_call_until_off() {
    let g = FakeGateway::new();
    let req = request(1_000);
    let ready = g.ready(&req).await.unwrap();
    g.decline_all(true);
    assert!(is_declined(&g.ready(&req).await));
    assert!(is_declined(
        &g.approve(&ready.tid, &req.order_id, &req.user_id, "ok")
            .await
    ));
    assert!(is_declined(&g.cancel(&ready.tid, 1_000).await));
    g.decline_all(false);
    g.approve(&ready.tid, &req.order_id, &req.user_id, "ok")
        .await
        .unwrap();
    g.cancel(&ready.tid, 1_000).await.unwrap();
    assert_eq!(g.refunded_amount(&ready.tid), 1_000);
}

#[tokio::test]
async fn fake_gateway_set_delay_slows_every_call() {
    let g = FakeGateway::new();
    g.set_delay(Duration::from_millis(300));
    let started = Instant::now();
    let ready = g.ready(&request(1_000)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    // A caller's timeout sees the slowness (what the saga's timeout tests rely on).
    let slow = tokio::time::timeout(Duration::from_millis(50), g.cancel(&ready.tid, 1_000)).await;
    assert!(slow.is_err(), "the call is still sleeping");
    g.set_delay(Duration::ZERO);
    let started = Instant::now();
    g.cancel(&ready.tid, 1_000).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300));
}
