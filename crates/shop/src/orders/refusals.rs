//! What a product's batch task remembers between batches so that orders bound to be
//! refused cost no transaction: the product sold out a moment ago, or the buyer had
//! too many unpaid units of it a moment ago. On sale day the refused are most of the
//! traffic (everyone retries), and each of them used to cost a full batch
//! transaction: buyer-row locks, an unpaid count and a stock write that fails.
//!
//! Both memories last [`REMEMBER_FOR`]. They can only be stale in one direction:
//! stock that comes back, or units a buyer paid for or cancelled on another instance,
//! are sold again once the second is over (a payment or cancellation on this instance
//! ends the buyer's memory at once); nothing the transaction would refuse is granted.
//! The caller still looks up the Idempotency-Keys of the refused (one read per batch)
//! so that a retry of a stored order is replayed, never refused.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use surge_kernel::ApiError;
use uuid::Uuid;

use super::records::out_of_stock;

/// How long a sold-out product and a buyer's unpaid units are trusted (the same bound
/// as the product page cache).
pub(super) const REMEMBER_FOR: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct Refusals {
    /// When a committed batch last left the stock at 0.
    sold_out_at: Option<Instant>,
    /// Unpaid units of this product per buyer, as a committed batch left them.
    units: HashMap<Uuid, (Instant, i64)>,
}

/// Why an order is refused without a transaction.
pub(super) enum Refusal {
    SoldOut,
    /// The buyer has this many unpaid units: one more order would pass the cap.
    OverCap(i64),
}

impl Refusal {
    pub(super) fn error(&self, product: Uuid, cap: i64) -> ApiError {
        match self {
            Refusal::SoldOut => out_of_stock(0, product),
            Refusal::OverCap(have) => crate::buyers::unpaid_limit(0, product, cap, *have),
        }
    }

    pub(super) fn count(&self) {
        let reason = match self {
            Refusal::SoldOut => "sold_out",
            Refusal::OverCap(_) => "unpaid_limit",
        };
        metrics::counter!("surge_shop_refusal_fast_path_total", "reason" => reason).increment(1);
    }
}

impl Refusals {
    /// Whether an order of `quantity` by `user` is refused without a transaction;
    /// `released`: when this instance last saw the buyer's unpaid units drop.
    pub(super) fn verdict(
        &self,
        user: Uuid,
        quantity: i64,
        cap: i64,
        released: Option<Instant>,
    ) -> Option<Refusal> {
        if self.sold_out_at.is_some_and(|t| t.elapsed() < REMEMBER_FOR) {
            return Some(Refusal::SoldOut);
        }
        match self.units.get(&user) {
            Some((at, have))
                if at.elapsed() < REMEMBER_FOR
                    && released.is_none_or(|r| r < *at)
                    && have + quantity > cap =>
            {
                Some(Refusal::OverCap(*have))
            }
            _ => None,
        }
    }

    /// Remembers what a committed batch left: the stock, and each of its buyers'
    /// unpaid units of the product. Forgets what is too old to be used.
    pub(super) fn after_batch(&mut self, left: i64, units: HashMap<Uuid, i64>) {
        let now = Instant::now();
        self.sold_out_at = (left == 0).then_some(now);
        self.units.retain(|_, (at, _)| at.elapsed() < REMEMBER_FOR);
        self.units
            .extend(units.into_iter().map(|(user, have)| (user, (now, have))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buyer_at_the_cap_is_refused_only_for_orders_that_would_pass_it() {
        let (at_cap, below) = (Uuid::now_v7(), Uuid::now_v7());
        let mut r = Refusals::default();
        r.after_batch(5, HashMap::from([(at_cap, 10), (below, 9)]));
        assert!(matches!(
            r.verdict(at_cap, 1, 10, None),
            Some(Refusal::OverCap(10))
        ));
        assert!(r.verdict(below, 1, 10, None).is_none());
        assert!(matches!(
            r.verdict(below, 2, 10, None),
            Some(Refusal::OverCap(9))
        ));
        assert!(
            r.verdict(Uuid::now_v7(), 10, 10, None).is_none(),
            "unknown buyers go to the batch"
        );
        assert!(
            r.verdict(at_cap, 1, 10, Some(Instant::now())).is_none(),
            "a buyer who paid or cancelled since goes to the batch"
        );
    }

    #[test]
    fn a_sold_out_product_refuses_everyone_until_a_batch_finds_stock() {
        let mut r = Refusals::default();
        r.after_batch(0, HashMap::new());
        assert!(matches!(
            r.verdict(Uuid::now_v7(), 1, 10, None),
            Some(Refusal::SoldOut)
        ));
        r.after_batch(3, HashMap::new());
        assert!(r.verdict(Uuid::now_v7(), 1, 10, None).is_none());
    }
}
