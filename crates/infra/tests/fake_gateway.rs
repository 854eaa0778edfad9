//! The in-process fake gateway: passes the payment and subscription contracts (the
//! same ones the Kakao Pay adapter passes against a fake Kakao), keeps Kakao's rules,
//! and counts gateway calls per payment for the shop and ticketing tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use surge_infra::payment::{FakeGateway, GatewayCalls};
use surge_kernel::payment::{
    PaymentError, PaymentGateway, PaymentRequest, PaymentStatus, SubscriptionCharge,
    SubscriptionGateway,
};
use surge_testkit::contracts;

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

fn is_declined<T: std::fmt::Debug>(r: &Result<T, PaymentError>) -> bool {
    matches!(r, Err(PaymentError::Declined(_)))
}

fn is_unavailable<T: std::fmt::Debug>(r: &Result<T, PaymentError>) -> bool {
    matches!(r, Err(PaymentError::Unavailable(_)))
}

surge_testkit::payment_gateway_contract!(fake_gateway, async {
    Some((FakeGateway::new(), "any-token"))
});

surge_testkit::subscription_gateway_contract!(recurring_fake_gateway, async {
    Some((FakeGateway::recurring(), "any-token"))
});

#[tokio::test]
async fn fake_gateway_charges_and_refunds_as_the_whole_contract_asks() {
    let fx = (FakeGateway::new(), "any-token");
    contracts::payment::all_payment_cases(&fx).await;
    assert_eq!(
        fx.0.approvals(),
        3,
        "approving twice, another user's approval, cancelling twice"
    );
    assert_eq!(fx.0.refunds(), 1);
}

#[tokio::test]
async fn recurring_fake_gateway_charges_as_the_whole_subscription_contract_asks() {
    let fx = (FakeGateway::recurring(), "any-token");
    contracts::payment::all_subscription_cases(&fx).await;
    assert_eq!(fx.0.approvals(), 2, "the first payment and one renewal");
    assert_eq!(fx.0.refunds(), 1);
}

#[tokio::test]
async fn one_time_fake_gateway_issues_no_sid_and_charges_none() {
    let g = FakeGateway::new();
    let req = request(1_000);
    let ready = g.ready(&req).await.unwrap();
    let approved = g
        .approve(&ready.tid, &req.order_id, &req.user_id, "ok")
        .await
        .unwrap();
    assert_eq!(approved.sid, None);
    let r = g
        .charge(&SubscriptionCharge {
            sid: "S1".into(),
            order_id: "o".into(),
            user_id: req.user_id.clone(),
            item_name: "PRO".into(),
            quantity: 1,
            amount: 1_000,
        })
        .await;
    assert!(is_declined(&r), "{r:?}");
}

#[tokio::test]
async fn fake_gateway_counts_approve_and_cancel_calls_per_payment() {
    let g = FakeGateway::new();
    let req = request(5_000);
    let ready = g.ready(&req).await.unwrap();
    assert_eq!(g.calls(&ready.tid), GatewayCalls::default());
    let declined = g
        .approve(
            &ready.tid,
            &req.order_id,
            &req.user_id,
            FakeGateway::DECLINE_TOKEN,
        )
        .await;
    assert!(is_declined(&declined));
    g.approve(&ready.tid, &req.order_id, &req.user_id, "ok")
        .await
        .unwrap();
    // A second approval is refused by the provider and answered from the lookup, like
    // the Kakao Pay adapter does: it is counted, and nothing is charged again.
    let again = g
        .approve(&ready.tid, &req.order_id, &req.user_id, "ok")
        .await
        .unwrap();
    assert_eq!((again.amount, again.sid), (5_000, None));
    g.cancel(&ready.tid, 5_000).await.unwrap();
    g.cancel(&ready.tid, 5_000).await.unwrap();
    assert_eq!(
        g.calls(&ready.tid),
        GatewayCalls {
            approve: 3,
            cancel: 2
        }
    );
    assert_eq!((g.approvals(), g.refunds()), (1, 1));
    assert_eq!(g.refunded_amount(&ready.tid), 5_000);
    assert_eq!(g.calls("T-unknown"), GatewayCalls::default());
}

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
    let r = g.status("T-unknown").await;
    assert!(is_declined(&r), "{r:?}");

    let r = g.ready(&request(0)).await;
    assert!(is_declined(&r), "{r:?}");
}

#[tokio::test]
async fn fake_gateway_does_not_void_a_payment_that_was_never_approved() {
    let g = FakeGateway::new();
    let req = request(2_000);
    let ready = g.ready(&req).await.unwrap();
    let r = g.cancel(&ready.tid, 2_000).await;
    assert!(
        is_declined(&r),
        "Kakao refunds approved payments only: {r:?}"
    );
    assert_eq!(g.status(&ready.tid).await.unwrap(), PaymentStatus::Pending);
    // It stays approvable until it expires, as at Kakao.
    g.approve(&ready.tid, &req.order_id, &req.user_id, "ok")
        .await
        .unwrap();
    assert_eq!((g.approvals(), g.refunds()), (1, 0));
}

#[tokio::test]
async fn fake_gateway_concurrent_approvals_charge_once() {
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
    assert_eq!(g.calls(&ready.tid).approve, 20);
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
    assert_eq!(
        g.calls(&ready.tid).approve,
        0,
        "injected failures reach nothing"
    );
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
    let req = request(1_000);
    let ready = g.ready(&req).await.unwrap();
    g.set_delay(Duration::from_millis(300));
    let started = Instant::now();
    g.approve(&ready.tid, &req.order_id, &req.user_id, "ok")
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    // A caller's timeout sees the slowness (what the saga's timeout tests rely on).
    let slow = tokio::time::timeout(Duration::from_millis(50), g.cancel(&ready.tid, 1_000)).await;
    assert!(slow.is_err(), "the call is still sleeping");
    g.set_delay(Duration::ZERO);
    let started = Instant::now();
    g.cancel(&ready.tid, 1_000).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300));
}
