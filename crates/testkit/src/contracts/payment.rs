//! The `PaymentGateway` and `SubscriptionGateway` contracts:
//! [`payment_gateway_contract!`](crate::payment_gateway_contract) and
//! [`subscription_gateway_contract!`](crate::subscription_gateway_contract).

use surge_kernel::payment::{
    PaymentError, PaymentGateway, PaymentReady, PaymentRequest, PaymentStatus, SubscriptionCharge,
    SubscriptionGateway,
};

use super::key;

/// One test per case of the `PaymentGateway` contract for the [`PaymentFixture`] `$make`
/// gives (see the [module doc](crate::contracts)).
#[macro_export]
macro_rules! payment_gateway_contract {
    ($name:ident, $make:expr $(, after = $after:path)? $(,)?) => {
        $crate::__contract_tests!(payment, $name, $make, [$($after)?], [
            ready_gives_each_payment_its_own_pending_tid,
            a_payment_never_approved_cannot_be_cancelled,
            approving_twice_answers_like_the_first,
            another_users_approval_is_declined,
            cancelling_twice_refunds_once,
            approving_an_unknown_tid_is_declined,
        ]);
    };
}

/// One test per case of the `SubscriptionGateway` contract for the
/// [`SubscriptionFixture`] `$make` gives (see the [module doc](crate::contracts)).
#[macro_export]
macro_rules! subscription_gateway_contract {
    ($name:ident, $make:expr $(, after = $after:path)? $(,)?) => {
        $crate::__contract_tests!(payment, $name, $make, [$($after)?], [
            a_subscription_renews_without_the_buyer_until_it_ends,
            an_unknown_subscription_is_not_charged,
        ]);
    };
}

/// A payment gateway and the `pg_token` its approvals need.
pub trait PaymentFixture: Send + Sync {
    fn gateway(&self) -> &dyn PaymentGateway;
    fn approve_token(&self) -> &str;
}

/// `(gateway, approve_token)`.
impl<G: PaymentGateway> PaymentFixture for (G, &'static str) {
    fn gateway(&self) -> &dyn PaymentGateway {
        &self.0
    }

    fn approve_token(&self) -> &str {
        self.1
    }
}

/// `(gateway, approve_token, what must live while the gateway is used)` (a fake server).
impl<G: PaymentGateway, K: Send + Sync> PaymentFixture for (G, &'static str, K) {
    fn gateway(&self) -> &dyn PaymentGateway {
        &self.0
    }

    fn approve_token(&self) -> &str {
        self.1
    }
}

/// A recurring-payment gateway and the `pg_token` its approvals need.
pub trait SubscriptionFixture: Send + Sync {
    fn gateway(&self) -> &dyn SubscriptionGateway;
    fn approve_token(&self) -> &str;
}

impl<G: SubscriptionGateway> SubscriptionFixture for (G, &'static str) {
    fn gateway(&self) -> &dyn SubscriptionGateway {
        &self.0
    }

    fn approve_token(&self) -> &str {
        self.1
    }
}

impl<G: SubscriptionGateway, K: Send + Sync> SubscriptionFixture for (G, &'static str, K) {
    fn gateway(&self) -> &dyn SubscriptionGateway {
        &self.0
    }

    fn approve_token(&self) -> &str {
        self.1
    }
}

fn request(order_prefix: &str, user_id: &str) -> PaymentRequest {
    PaymentRequest {
        order_id: key(order_prefix),
        user_id: user_id.to_owned(),
        item_name: "contract item".into(),
        quantity: 2,
        amount: 12_000,
        approval_url: "https://surge.example/pay/approve".into(),
        cancel_url: "https://surge.example/pay/cancel".into(),
        fail_url: "https://surge.example/pay/fail".into(),
    }
}

/// A fresh payment request and its `ready` answer.
async fn ready(g: &dyn PaymentGateway) -> (PaymentRequest, PaymentReady) {
    let req = request("order", &key("user"));
    let ready = g.ready(&req).await.unwrap();
    (req, ready)
}

/// A fresh payment, approved.
async fn approved(fx: &dyn PaymentFixture) -> (PaymentRequest, PaymentReady) {
    let g = fx.gateway();
    let (req, ready) = ready(g).await;
    let approved = g
        .approve(&ready.tid, &req.order_id, &req.user_id, fx.approve_token())
        .await
        .unwrap();
    assert_eq!(
        (approved.tid.as_str(), approved.amount),
        (ready.tid.as_str(), req.amount),
        "the approved amount is the requested one"
    );
    (req, ready)
}

/// Every case of the payment contract in turn, on one gateway (for tests that count the
/// gateway's calls over the whole contract).
pub async fn all_payment_cases(fx: &dyn PaymentFixture) {
    ready_gives_each_payment_its_own_pending_tid(fx).await;
    a_payment_never_approved_cannot_be_cancelled(fx).await;
    approving_twice_answers_like_the_first(fx).await;
    another_users_approval_is_declined(fx).await;
    cancelling_twice_refunds_once(fx).await;
    approving_an_unknown_tid_is_declined(fx).await;
}

pub async fn ready_gives_each_payment_its_own_pending_tid(fx: &dyn PaymentFixture) {
    let g = fx.gateway();
    let (req, ready) = ready(g).await;
    assert!(!ready.tid.is_empty(), "ready gives a tid");
    assert!(!ready.redirect_url.is_empty(), "ready gives a redirect URL");
    assert!(
        ready.mobile_redirect_url.is_some() && ready.app_redirect_url.is_some(),
        "ready keeps the mobile web and app redirect URLs"
    );
    assert_eq!(g.status(&ready.tid).await.unwrap(), PaymentStatus::Pending);
    let other = g.ready(&req).await.unwrap();
    assert_ne!(other.tid, ready.tid, "every ready gets its own tid");
}

/// A payment that was never approved cannot be cancelled: nothing was charged.
pub async fn a_payment_never_approved_cannot_be_cancelled(fx: &dyn PaymentFixture) {
    let g = fx.gateway();
    let (req, ready) = ready(g).await;
    let void = g.cancel(&ready.tid, req.amount).await;
    assert!(
        matches!(void, Err(PaymentError::Declined(_))),
        "cancelling a payment that was never approved is declined: {void:?}"
    );
    assert_eq!(g.status(&ready.tid).await.unwrap(), PaymentStatus::Pending);
}

pub async fn approving_twice_answers_like_the_first(fx: &dyn PaymentFixture) {
    let g = fx.gateway();
    let (req, ready) = approved(fx).await;
    let again = g
        .approve(&ready.tid, &req.order_id, &req.user_id, fx.approve_token())
        .await
        .unwrap();
    assert_eq!(
        (again.tid.as_str(), again.amount),
        (ready.tid.as_str(), req.amount),
        "approving twice answers like the first"
    );
    assert_eq!(
        g.status(&ready.tid).await.unwrap(),
        PaymentStatus::Approved {
            amount: req.amount,
            refunded: 0
        },
        "charged once"
    );
}

pub async fn another_users_approval_is_declined(fx: &dyn PaymentFixture) {
    let g = fx.gateway();
    let (req, ready) = approved(fx).await;
    let stranger = g
        .approve(&ready.tid, &req.order_id, &key("user"), fx.approve_token())
        .await;
    assert!(
        matches!(stranger, Err(PaymentError::Declined(_))),
        "another user's retry is declined: {stranger:?}"
    );
    assert_eq!(
        g.status(&ready.tid).await.unwrap(),
        PaymentStatus::Approved {
            amount: req.amount,
            refunded: 0
        }
    );
}

pub async fn cancelling_twice_refunds_once(fx: &dyn PaymentFixture) {
    let g = fx.gateway();
    let (req, ready) = approved(fx).await;
    g.cancel(&ready.tid, req.amount).await.unwrap();
    g.cancel(&ready.tid, req.amount)
        .await
        .expect("cancelling twice is a no-op success");
    assert_eq!(
        g.status(&ready.tid).await.unwrap(),
        PaymentStatus::Approved {
            amount: req.amount,
            refunded: req.amount
        },
        "refunded once"
    );
}

pub async fn approving_an_unknown_tid_is_declined(fx: &dyn PaymentFixture) {
    let req = request("order", &key("user"));
    let unknown = fx
        .gateway()
        .approve(
            &key("no-such-tid"),
            &req.order_id,
            &req.user_id,
            fx.approve_token(),
        )
        .await;
    assert!(
        matches!(unknown, Err(PaymentError::Declined(_))),
        "approving an unknown tid is declined: {unknown:?}"
    );
}

/// Every case of the subscription contract in turn, on one gateway.
pub async fn all_subscription_cases(fx: &dyn SubscriptionFixture) {
    a_subscription_renews_without_the_buyer_until_it_ends(fx).await;
    an_unknown_subscription_is_not_charged(fx).await;
}

/// The first payment's approval carries a `sid`; later charges need no buyer; a
/// deactivated subscription is not charged.
pub async fn a_subscription_renews_without_the_buyer_until_it_ends(fx: &dyn SubscriptionFixture) {
    let g = fx.gateway();
    let user_id = key("user");
    let first = PaymentRequest {
        order_id: key("sub-order"),
        user_id: user_id.clone(),
        item_name: "PRO plan".into(),
        quantity: 1,
        amount: 9_900,
        approval_url: "https://surge.example/sub/approve".into(),
        cancel_url: "https://surge.example/sub/cancel".into(),
        fail_url: "https://surge.example/sub/fail".into(),
    };
    let ready = g.ready(&first).await.unwrap();
    let approved = g
        .approve(&ready.tid, &first.order_id, &user_id, fx.approve_token())
        .await
        .unwrap();
    assert_eq!(approved.amount, 9_900);
    let sid = approved
        .sid
        .clone()
        .expect("the first approval carries a sid");
    assert!(g.subscription(&sid).await.unwrap().active);

    let charge = SubscriptionCharge {
        sid: sid.clone(),
        order_id: key("renewal"),
        user_id: user_id.clone(),
        item_name: "PRO plan".into(),
        quantity: 1,
        amount: 9_900,
    };
    let renewal = g.charge(&charge).await.unwrap();
    assert_eq!(renewal.amount, 9_900);
    assert_ne!(renewal.tid, ready.tid, "each charge is its own payment");
    assert_eq!(
        g.status(&renewal.tid).await.unwrap(),
        PaymentStatus::Approved {
            amount: 9_900,
            refunded: 0
        }
    );
    g.cancel(&renewal.tid, 9_900).await.unwrap();

    g.deactivate(&sid).await.unwrap();
    g.deactivate(&sid)
        .await
        .expect("ending a subscription twice is fine");
    assert!(!g.subscription(&sid).await.unwrap().active);
    let after = g
        .charge(&SubscriptionCharge {
            order_id: key("renewal"),
            ..charge
        })
        .await;
    assert!(
        matches!(after, Err(PaymentError::Declined(_))),
        "an ended subscription is not charged: {after:?}"
    );
}

pub async fn an_unknown_subscription_is_not_charged(fx: &dyn SubscriptionFixture) {
    let unknown = fx
        .gateway()
        .charge(&SubscriptionCharge {
            sid: key("no-such-sid"),
            order_id: key("renewal"),
            user_id: key("user"),
            item_name: "PRO plan".into(),
            quantity: 1,
            amount: 9_900,
        })
        .await;
    assert!(
        matches!(unknown, Err(PaymentError::Declined(_))),
        "{unknown:?}"
    );
}
