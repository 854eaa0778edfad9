//! The Kakao Pay adapter against a local fake Kakao (wiremock, `kakao_fake`) that
//! answers as Kakao documents: it passes the payment and subscription contracts, and maps
//! failures the way the ports say. (The in-process fake gateway: `fake_gateway.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod kakao_fake;

use std::time::{Duration, Instant};

use kakao_fake::{amount, fake_kakao, kakao_error, CID, PG_TOKEN, SECRET, SUBSCRIPTION_CID};
use secrecy::SecretString;
use serde_json::json;
use surge_infra::payment::{KakaoPay, KakaoPayConfig, KAKAO_PAY_BASE_URL};
use surge_kernel::payment::{
    PaymentError, PaymentGateway, PaymentRequest, PaymentStatus, SubscriptionCharge,
    SubscriptionGateway,
};
use surge_testkit::contracts;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

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

fn config(base_url: &str, secret: &str) -> KakaoPayConfig {
    KakaoPayConfig {
        base_url: base_url.to_owned(),
        cid: CID.into(),
        subscription_cid: Some(SUBSCRIPTION_CID.into()),
        secret_key: SecretString::from(secret),
    }
}

fn kakao(base_url: &str, secret: &str) -> KakaoPay {
    KakaoPay::new(config(base_url, secret)).unwrap()
}

fn recurring(base_url: &str) -> KakaoPay {
    KakaoPay::for_subscriptions(config(base_url, SECRET)).unwrap()
}

fn is_declined<T: std::fmt::Debug>(r: &Result<T, PaymentError>) -> bool {
    matches!(r, Err(PaymentError::Declined(_)))
}

fn is_unavailable<T: std::fmt::Debug>(r: &Result<T, PaymentError>) -> bool {
    matches!(r, Err(PaymentError::Unavailable(_)))
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

surge_testkit::payment_gateway_contract!(kakao_pay_against_a_fake_kakao, async {
    let k = fake_kakao().await;
    Some((kakao(&k.server.uri(), SECRET), PG_TOKEN, k))
});

surge_testkit::subscription_gateway_contract!(recurring_kakao_pay_against_a_fake_kakao, async {
    let k = fake_kakao().await;
    Some((recurring(&k.server.uri()), PG_TOKEN, k))
});

#[tokio::test]
async fn kakao_pay_calls_kakao_as_the_whole_contract_asks() {
    let k = fake_kakao().await;
    contracts::payment::all_payment_cases(&(kakao(&k.server.uri(), SECRET), PG_TOKEN)).await;
    let st = k.state.lock().unwrap();
    let approved: Vec<_> = st.payments.values().filter(|p| p.approved).collect();
    assert_eq!(
        approved.len(),
        3,
        "approving twice, another user's approval, cancelling twice"
    );
    let refunded: Vec<_> = approved.iter().filter(|p| p.canceled > 0).collect();
    assert_eq!(refunded.len(), 1, "one payment refunded");
    assert_eq!(refunded[0].canceled, refunded[0].total, "once, fully");
    assert_eq!(
        st.cancel_calls, 1,
        "neither the void of an unapproved payment nor the retried cancel reached Kakao's cancel"
    );
    assert_eq!(
        st.approve_calls, 6,
        "three approvals, and the retry, the stranger's and the unknown tid's approvals \
         reached Kakao, which refused them"
    );
}

#[tokio::test]
async fn recurring_kakao_pay_calls_kakao_as_the_whole_subscription_contract_asks() {
    let k = fake_kakao().await;
    contracts::payment::all_subscription_cases(&(recurring(&k.server.uri()), PG_TOKEN)).await;
    let st = k.state.lock().unwrap();
    assert!(
        st.payments.values().all(|p| p.cid == SUBSCRIPTION_CID),
        "every call ran under the subscription merchant code"
    );
    assert_eq!(st.subscriptions.len(), 1);
    assert!(st.subscriptions.values().all(|s| !s.active));
}

// ---------------------------------------------------------------------------------
// Kakao Pay

#[tokio::test]
async fn kakao_pay_ready_keeps_the_pc_mobile_and_app_redirect_urls() {
    let k = fake_kakao().await;
    let pay = kakao(&format!("{}/", k.server.uri()), SECRET);
    let ready = pay.ready(&request(5_000)).await.unwrap();
    let url = |suffix: &str| format!("https://mockup-pg-web.kakao.com/v1/{}/{suffix}", ready.tid);
    assert_eq!(ready.redirect_url, url("info"));
    assert_eq!(ready.mobile_redirect_url, Some(url("mInfo")));
    assert_eq!(ready.app_redirect_url, Some(url("aInfo")));
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
        Err(PaymentError::Declined(msg)) => assert!(msg.contains("401"), "{msg}"),
        other => panic!("expected Declined, got {other:?}"),
    }
}

#[tokio::test]
async fn kakao_pay_4xx_is_declined() {
    let server = scripted(kakao_error(-721, "TID doesn't exist")).await;
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
    let pay =
        KakaoPay::with_timeout(config(&server.uri(), SECRET), Duration::from_millis(200)).unwrap();
    let started = Instant::now();
    let r = pay.ready(&request(1_000)).await;
    assert!(is_unavailable(&r), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the timeout applies"
    );
}

#[tokio::test]
async fn kakao_pay_never_approved_payment_is_not_cancelled_it_expires() {
    let k = fake_kakao().await;
    let pay = kakao(&k.server.uri(), SECRET);
    let req = request(2_000);
    let ready = pay.ready(&req).await.unwrap();
    assert_eq!(
        pay.status(&ready.tid).await.unwrap(),
        PaymentStatus::Pending
    );
    let r = pay.cancel(&ready.tid, 2_000).await;
    match r {
        Err(PaymentError::Declined(msg)) => assert!(msg.contains("never approved"), "{msg}"),
        other => panic!("expected Declined, got {other:?}"),
    }
    assert_eq!(
        k.state.lock().unwrap().cancel_calls,
        0,
        "Kakao's cancel was not asked to void it"
    );
    // The buyer can still approve it until it expires.
    pay.approve(&ready.tid, &req.order_id, &req.user_id, PG_TOKEN)
        .await
        .unwrap();
    assert_eq!(
        pay.status(&ready.tid).await.unwrap(),
        PaymentStatus::Approved {
            amount: 2_000,
            refunded: 0
        }
    );
}

#[tokio::test]
async fn kakao_pay_cancel_sends_cancel_available_amount_and_a_refused_cancel_refunds_once() {
    // Two partial cancels of the same payment race: each looks the payment up, then
    // cancels. Kakao's guard refuses the second (the cancellable amount moved), and the
    // order's documented status shows the earlier refund.
    let k = fake_kakao().await;
    let pay = kakao(&k.server.uri(), SECRET);
    let req = request(10_000);
    let ready = pay.ready(&req).await.unwrap();
    pay.approve(&ready.tid, &req.order_id, &req.user_id, PG_TOKEN)
        .await
        .unwrap();
    let (a, b) = tokio::join!(pay.cancel(&ready.tid, 4_000), pay.cancel(&ready.tid, 4_000));
    a.unwrap();
    b.unwrap();
    let st = k.state.lock().unwrap();
    assert_eq!(st.payments[&ready.tid].canceled, 4_000, "refunded once");
}

#[tokio::test]
async fn kakao_pay_refused_cancel_is_a_refund_only_if_the_order_status_shows_one() {
    let server = MockServer::start().await;
    let order = |status: &str, canceled: i64| {
        ResponseTemplate::new(200).set_body_json(json!({
            "tid": "T1", "cid": CID, "status": status,
            "partner_order_id": "o", "partner_user_id": "u",
            "amount": amount(1_000), "canceled_amount": amount(canceled),
            "cancel_available_amount": amount(1_000 - canceled)
        }))
    };
    // First lookup: nothing refunded; a concurrent retry then refunds; later lookups see it.
    Mock::given(path("/online/v1/payment/order"))
        .respond_with(order("SUCCESS_PAYMENT", 0))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/online/v1/payment/order"))
        .respond_with(order("CANCEL_PAYMENT", 1_000))
        .mount(&server)
        .await;
    // The cancel carries Kakao's guard; the refusal's text is nothing the adapter reads.
    Mock::given(path("/online/v1/payment/cancel"))
        .and(body_partial_json(
            json!({"cancel_amount": 1_000, "cancel_available_amount": 1_000}),
        ))
        .respond_with(kakao_error(-781, "cancel failure!"))
        .expect(1)
        .mount(&server)
        .await;
    kakao(&server.uri(), SECRET)
        .cancel("T1", 1_000)
        .await
        .unwrap();

    // The same refusal while the order still shows nothing refunded stays declined.
    let other = MockServer::start().await;
    Mock::given(path("/online/v1/payment/order"))
        .respond_with(order("SUCCESS_PAYMENT", 0))
        .mount(&other)
        .await;
    Mock::given(path("/online/v1/payment/cancel"))
        .respond_with(kakao_error(-781, "payment is already cancelled"))
        .mount(&other)
        .await;
    let r = kakao(&other.uri(), SECRET).cancel("T1", 1_000).await;
    assert!(is_declined(&r), "the message text decides nothing: {r:?}");
}

#[tokio::test]
async fn kakao_pay_unknown_order_status_is_unavailable_not_guessed() {
    let server = MockServer::start().await;
    Mock::given(path("/online/v1/payment/order"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "tid": "T1", "cid": CID, "status": "SOMETHING_NEW", "amount": amount(1_000)
        })))
        .mount(&server)
        .await;
    let pay = kakao(&server.uri(), SECRET);
    let r = pay.status("T1").await;
    assert!(is_unavailable(&r), "{r:?}");
    let r = pay.cancel("T1", 1_000).await;
    assert!(is_unavailable(&r), "{r:?}");
}

#[tokio::test]
async fn kakao_pay_subscription_charges_need_an_active_sid_of_the_same_user() {
    let k = fake_kakao().await;
    let pay = recurring(&k.server.uri());
    let req = request(9_900);
    let ready = pay.ready(&req).await.unwrap();
    let first = pay
        .approve(&ready.tid, &req.order_id, &req.user_id, PG_TOKEN)
        .await
        .unwrap();
    let sid = first.sid.unwrap();
    let charge = SubscriptionCharge {
        sid: sid.clone(),
        order_id: "renewal-1".into(),
        user_id: req.user_id.clone(),
        item_name: "PRO".into(),
        quantity: 1,
        amount: 9_900,
    };
    let renewal = pay.charge(&charge).await.unwrap();
    assert_eq!(renewal.sid.as_deref(), Some(sid.as_str()));
    let stranger = pay
        .charge(&SubscriptionCharge {
            user_id: "someone-else".into(),
            ..charge.clone()
        })
        .await;
    assert!(is_declined(&stranger), "{stranger:?}");
    // A one-time merchant code cannot charge a subscription.
    let one_time = kakao(&k.server.uri(), SECRET).charge(&charge).await;
    assert!(is_declined(&one_time), "{one_time:?}");
    // The first payment's lookup-answered retry has no sid (the order lookup carries none).
    let retry = pay
        .approve(&ready.tid, &req.order_id, &req.user_id, PG_TOKEN)
        .await
        .unwrap();
    assert_eq!((retry.amount, retry.sid), (9_900, None));
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
    assert_eq!(cfg.subscription_cid, None);
    let err = KakaoPay::for_subscriptions(cfg).unwrap_err().to_string();
    assert!(err.contains("subscription_cid"), "{err}");
    let cfg: KakaoPayConfig = serde_json::from_value(
        json!({"cid": CID, "subscription_cid": SUBSCRIPTION_CID, "secret_key": SECRET}),
    )
    .unwrap();
    assert_eq!(cfg.subscription_cid.as_deref(), Some(SUBSCRIPTION_CID));
    KakaoPay::for_subscriptions(cfg).unwrap();
}
