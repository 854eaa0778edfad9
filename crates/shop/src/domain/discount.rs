//! What a coupon takes off an order.

/// A coupon's discount: a fixed amount or a capped percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    Amount(i64),
    Percent { percent: i32, max: i64 },
}

impl Discount {
    /// The discount on `subtotal`, never more than the subtotal itself.
    pub fn on(self, subtotal: i64) -> i64 {
        let d = match self {
            Discount::Amount(a) => a,
            Discount::Percent { percent, max } => (subtotal * i64::from(percent) / 100).min(max),
        };
        d.clamp(0, subtotal)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn discounts_never_exceed_the_subtotal() {
        assert_eq!(Discount::Amount(3_000).on(10_000), 3_000);
        assert_eq!(Discount::Amount(30_000).on(10_000), 10_000);
        assert_eq!(
            Discount::Percent {
                percent: 10,
                max: 5_000
            }
            .on(30_000),
            3_000
        );
        assert_eq!(
            Discount::Percent {
                percent: 50,
                max: 5_000
            }
            .on(30_000),
            5_000
        );
    }
}
