//! Shop rules: order states and their legal moves, discounts, validated inputs.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Preparing,
    Shipping,
    Delivered,
    Cancelled,
    /// Cancelled after payment; the refund is on its way through the gateway.
    Refunding,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        Self::PendingPayment,
        Self::Paid,
        Self::Preparing,
        Self::Shipping,
        Self::Delivered,
        Self::Cancelled,
        Self::Refunding,
        Self::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "PENDING_PAYMENT",
            Self::Paid => "PAID",
            Self::Preparing => "PREPARING",
            Self::Shipping => "SHIPPING",
            Self::Delivered => "DELIVERED",
            Self::Cancelled => "CANCELLED",
            Self::Refunding => "REFUNDING",
            Self::Refunded => "REFUNDED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The only moves an order can make.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (PendingPayment, Paid | Cancelled)
                | (Paid, Preparing | Refunding)
                | (Preparing, Shipping | Refunding)
                | (Shipping, Delivered)
                | (Refunding, Refunded)
        )
    }

    /// Moves an admin makes while fulfilling an order.
    pub fn is_fulfilment(next: OrderStatus) -> bool {
        matches!(next, Self::Preparing | Self::Shipping | Self::Delivered)
    }
}

/// What a coupon takes off an order.
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

pub const MAX_LINES: usize = 20;
pub const MAX_QUANTITY: i64 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShippingAddress {
    #[schema(example = "홍길동")]
    pub recipient: String,
    #[schema(example = "010-1234-5678")]
    pub phone: String,
    #[schema(example = "서울시 강남구 테헤란로 1")]
    pub address: String,
    #[schema(example = "06236")]
    pub postal_code: String,
}

impl ShippingAddress {
    /// Trims and checks every field; the error names the field.
    pub fn validated(self) -> Result<Self, String> {
        let t = |s: String| s.trim().to_owned();
        let a = ShippingAddress {
            recipient: t(self.recipient),
            phone: t(self.phone),
            address: t(self.address),
            postal_code: t(self.postal_code),
        };
        let len = |s: &str| s.chars().count();
        if !(1..=50).contains(&len(&a.recipient)) {
            return Err("recipient must be 1 to 50 characters".into());
        }
        let digits = a.phone.chars().filter(char::is_ascii_digit).count();
        if !(9..=15).contains(&digits)
            || !a
                .phone
                .chars()
                .all(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == ' ')
        {
            return Err("phone must be a phone number like 010-1234-5678".into());
        }
        if !(1..=300).contains(&len(&a.address)) {
            return Err("address must be 1 to 300 characters".into());
        }
        if !(5..=10).contains(&a.postal_code.len())
            || !a
                .postal_code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err("postal_code must be 5 to 10 letters or digits".into());
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_legal_transitions() {
        use OrderStatus::*;
        assert!(PendingPayment.can_become(Paid));
        assert!(PendingPayment.can_become(Cancelled));
        assert!(Paid.can_become(Refunding));
        assert!(!Paid.can_become(PendingPayment));
        assert!(!Cancelled.can_become(Paid));
        assert!(!Delivered.can_become(Refunding));
        assert!(!PendingPayment.can_become(Shipping));
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert!(!s.can_become(s), "{s:?} to itself");
        }
    }

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

    #[test]
    fn shipping_addresses_are_checked() {
        let ok = ShippingAddress {
            recipient: " 홍길동 ".into(),
            phone: "010-1234-5678".into(),
            address: "서울시 강남구 테헤란로 1".into(),
            postal_code: "06236".into(),
        };
        assert_eq!(
            ok.clone().validated().map(|a| a.recipient),
            Ok("홍길동".into())
        );
        let bad_phone = ShippingAddress {
            phone: "call me".into(),
            ..ok.clone()
        };
        assert!(bad_phone.validated().is_err());
        let bad_zip = ShippingAddress {
            postal_code: "1".into(),
            ..ok
        };
        assert!(bad_zip.validated().is_err());
    }
}
