//! [`FakeGateway`]: an in-process payment provider that keeps Kakao Pay's rules and
//! answers the ports the way [`super::KakaoPay`] does over Kakao, with knobs to make it
//! slow, flaky or refusing, and per-payment call counts for tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use surge_kernel::payment::{
    PaymentApproved, PaymentError, PaymentGateway, PaymentReady, PaymentRequest, PaymentStatus,
    SubscriptionCharge, SubscriptionGateway, SubscriptionState,
};
use tokio::sync::Semaphore;

/// How often the gateway was asked to approve or cancel one payment (calls the test
/// knobs let through, whatever the answer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayCalls {
    pub approve: usize,
    pub cancel: usize,
}

#[derive(Debug)]
struct FakePayment {
    order_id: String,
    user_id: String,
    amount: i64,
    approved: bool,
    /// Set by the one refund; later cancels of the tid answer like it.
    refunded: i64,
    calls: GatewayCalls,
}

#[derive(Debug)]
struct FakeSubscription {
    user_id: String,
    active: bool,
    /// Charges approved under this sid (the first payment not counted).
    charged: usize,
}

#[derive(Debug, Default)]
struct State {
    payments: HashMap<String, FakePayment>,
    subscriptions: HashMap<String, FakeSubscription>,
}

/// An in-process payment provider. [`FakeGateway::new`] is a one-time merchant;
/// [`FakeGateway::recurring`] a subscription merchant (approvals issue a `sid`).
#[derive(Debug, Default)]
pub struct FakeGateway {
    state: Mutex<State>,
    recurring: bool,
    delay: Mutex<Duration>,
    fail_next: AtomicUsize,
    decline_all: AtomicBool,
    /// While set, calls wait here before acting (see [`FakeGateway::pause`]).
    gate: Mutex<Option<Arc<Semaphore>>>,
    /// Calls that reached the gateway, answered or not.
    arrived: AtomicUsize,
}

impl FakeGateway {
    /// The `pg_token` the fake refuses (every other token approves).
    pub const DECLINE_TOKEN: &'static str = "decline";

    pub fn new() -> Self {
        Self::default()
    }

    /// A subscription merchant: an approval carries a `sid` for later charges.
    pub fn recurring() -> Self {
        Self {
            recurring: true,
            ..Self::default()
        }
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

    /// Holds every later call, before it acts, until [`FakeGateway::resume`]: a test
    /// can then act while a call is in flight (it knows one is by [`FakeGateway::arrived`]).
    pub fn pause(&self) {
        *lock(&self.gate) = Some(Arc::new(Semaphore::new(0)));
    }

    /// Lets the paused calls (and every later one) through.
    pub fn resume(&self) {
        if let Some(gate) = lock(&self.gate).take() {
            gate.close();
        }
    }

    /// How many calls reached the gateway, whether they have answered or not.
    pub fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }

    /// The approved amount of `tid`, if it was approved.
    pub fn approved_amount(&self, tid: &str) -> Option<i64> {
        lock(&self.state)
            .payments
            .get(tid)
            .filter(|p| p.approved)
            .map(|p| p.amount)
    }

    /// How much of `tid` was refunded (0 if nothing, or if it is unknown).
    pub fn refunded_amount(&self, tid: &str) -> i64 {
        lock(&self.state)
            .payments
            .get(tid)
            .map_or(0, |p| p.refunded)
    }

    /// How often approve and cancel were called for `tid`.
    pub fn calls(&self, tid: &str) -> GatewayCalls {
        lock(&self.state)
            .payments
            .get(tid)
            .map_or_else(GatewayCalls::default, |p| p.calls)
    }

    /// How many distinct tids were approved (charged).
    pub fn approvals(&self) -> usize {
        lock(&self.state)
            .payments
            .values()
            .filter(|p| p.approved)
            .count()
    }

    /// How many distinct tids were refunded.
    pub fn refunds(&self) -> usize {
        lock(&self.state)
            .payments
            .values()
            .filter(|p| p.refunded > 0)
            .count()
    }

    /// How many recurring charges were approved under `sid` (the first payment, which
    /// issued it, not counted): a period charged twice shows here.
    pub fn charges(&self, sid: &str) -> usize {
        lock(&self.state)
            .subscriptions
            .get(sid)
            .map_or(0, |s| s.charged)
    }

    /// Recurring charges approved under every sid.
    pub fn total_charges(&self) -> usize {
        lock(&self.state)
            .subscriptions
            .values()
            .map(|s| s.charged)
            .sum()
    }

    /// Applies the test knobs in order: pause, delay, injected failure, decline-all.
    async fn knobs(&self) -> Result<(), PaymentError> {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let gate = lock(&self.gate).clone();
        if let Some(gate) = gate {
            // No permit is ever added: this returns (with an error) once the gate closes.
            let _closed = gate.acquire().await;
        }
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

    fn new_payment(&self, order_id: &str, user_id: &str, amount: i64, approved: bool) -> String {
        let tid = format!("T{}", uuid::Uuid::new_v4().simple());
        lock(&self.state).payments.insert(
            tid.clone(),
            FakePayment {
                order_id: order_id.to_owned(),
                user_id: user_id.to_owned(),
                amount,
                approved,
                refunded: 0,
                calls: GatewayCalls::default(),
            },
        );
        tid
    }
}

/// The maps stay consistent even if a holder panicked (every update is one statement).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The shape of the sids the fake issues: `S` and 32 hex digits.
fn is_issued_sid(sid: &str) -> bool {
    sid.len() == 33 && sid.starts_with('S') && sid[1..].chars().all(|c| c.is_ascii_hexdigit())
}

fn declined(msg: &str) -> PaymentError {
    PaymentError::Declined(msg.to_owned())
}

fn check_amounts(amount: i64, quantity: u32) -> Result<(), PaymentError> {
    if amount <= 0 {
        return Err(declined("total_amount must be positive"));
    }
    if quantity == 0 {
        return Err(declined("quantity must be positive"));
    }
    Ok(())
}

#[async_trait]
impl PaymentGateway for FakeGateway {
    async fn ready(&self, req: &PaymentRequest) -> Result<PaymentReady, PaymentError> {
        self.knobs().await?;
        check_amounts(req.amount, req.quantity)?;
        let tid = self.new_payment(&req.order_id, &req.user_id, req.amount, false);
        Ok(PaymentReady {
            redirect_url: format!("fake-pay://approve/{tid}"),
            mobile_redirect_url: Some(format!("fake-pay://approve/{tid}?m")),
            app_redirect_url: Some(format!("fake-pay://approve/{tid}?app")),
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
        let mut st = lock(&self.state);
        let p = st
            .payments
            .get_mut(tid)
            .ok_or_else(|| declined("unknown tid"))?;
        p.calls.approve += 1;
        if p.order_id != order_id || p.user_id != user_id {
            return Err(declined("order or user does not match the payment"));
        }
        if p.approved {
            // Kakao refuses a second approval (-702); the adapter then finds the payment
            // approved for this order and user and answers like the first (no sid).
            return Ok(PaymentApproved {
                tid: tid.to_owned(),
                amount: p.amount,
                sid: None,
            });
        }
        if pg_token == Self::DECLINE_TOKEN {
            return Err(declined("pg_token refused"));
        }
        p.approved = true;
        let amount = p.amount;
        let user = p.user_id.clone();
        let sid = self.recurring.then(|| {
            let sid = format!("S{}", uuid::Uuid::new_v4().simple());
            st.subscriptions.insert(
                sid.clone(),
                FakeSubscription {
                    user_id: user,
                    active: true,
                    charged: 0,
                },
            );
            sid
        });
        Ok(PaymentApproved {
            tid: tid.to_owned(),
            amount,
            sid,
        })
    }

    async fn cancel(&self, tid: &str, amount: i64) -> Result<(), PaymentError> {
        self.knobs().await?;
        let mut st = lock(&self.state);
        let p = st
            .payments
            .get_mut(tid)
            .ok_or_else(|| declined("unknown tid"))?;
        p.calls.cancel += 1;
        if amount <= 0 {
            return Err(declined("cancel_amount must be positive"));
        }
        if !p.approved {
            return Err(declined(
                "the payment was never approved: nothing to refund, it expires by itself",
            ));
        }
        if amount > p.amount {
            return Err(declined("cancel_amount exceeds the payment amount"));
        }
        if p.refunded == 0 {
            p.refunded = amount;
        }
        Ok(())
    }

    async fn status(&self, tid: &str) -> Result<PaymentStatus, PaymentError> {
        self.knobs().await?;
        let st = lock(&self.state);
        let p = st
            .payments
            .get(tid)
            .ok_or_else(|| declined("unknown tid"))?;
        Ok(if p.approved {
            PaymentStatus::Approved {
                amount: p.amount,
                refunded: p.refunded,
            }
        } else {
            PaymentStatus::Pending
        })
    }
}

#[async_trait]
impl SubscriptionGateway for FakeGateway {
    async fn charge(&self, c: &SubscriptionCharge) -> Result<PaymentApproved, PaymentError> {
        self.knobs().await?;
        check_amounts(c.amount, c.quantity)?;
        {
            let mut st = lock(&self.state);
            // Kakao keeps a sid across our restarts; this in-process fake cannot, so a
            // well-formed sid it has not seen (issued before a restart, or by
            // `surge billing generate`) counts as an active subscription of its user.
            if !st.subscriptions.contains_key(&c.sid) && is_issued_sid(&c.sid) {
                st.subscriptions.insert(
                    c.sid.clone(),
                    FakeSubscription {
                        user_id: c.user_id.clone(),
                        active: true,
                        charged: 0,
                    },
                );
            }
            match st.subscriptions.get_mut(&c.sid) {
                None => return Err(declined("unknown sid")),
                Some(s) if !s.active => return Err(declined("the subscription is inactive")),
                Some(s) if s.user_id != c.user_id => {
                    return Err(declined("partner_user_id does not match the subscription"))
                }
                Some(s) => s.charged += 1,
            }
        }
        let tid = self.new_payment(&c.order_id, &c.user_id, c.amount, true);
        Ok(PaymentApproved {
            tid,
            amount: c.amount,
            sid: Some(c.sid.clone()),
        })
    }

    async fn deactivate(&self, sid: &str) -> Result<(), PaymentError> {
        self.knobs().await?;
        let mut st = lock(&self.state);
        let s = st
            .subscriptions
            .get_mut(sid)
            .ok_or_else(|| declined("unknown sid"))?;
        s.active = false;
        Ok(())
    }

    async fn subscription(&self, sid: &str) -> Result<SubscriptionState, PaymentError> {
        self.knobs().await?;
        let st = lock(&self.state);
        let s = st
            .subscriptions
            .get(sid)
            .ok_or_else(|| declined("unknown sid"))?;
        Ok(SubscriptionState {
            sid: sid.to_owned(),
            active: s.active,
        })
    }
}
