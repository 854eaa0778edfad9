//! Order and coupon states and their legal moves. Stored as their
//! SCREAMING_SNAKE_CASE names through SeaORM's `DeriveActiveEnum` (the only SeaORM in
//! the domain): an unknown stored value fails to load instead of becoming some state.

use sea_orm::{sea_query::StringLen, Iterable};
use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};

/// An order's state, stored as its SCREAMING_SNAKE_CASE name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum OrderStatus {
    #[sea_orm(string_value = "PENDING_PAYMENT")]
    PendingPayment,
    #[sea_orm(string_value = "PAID")]
    Paid,
    #[sea_orm(string_value = "PREPARING")]
    Preparing,
    #[sea_orm(string_value = "SHIPPING")]
    Shipping,
    #[sea_orm(string_value = "DELIVERED")]
    Delivered,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
    /// Cancelled after payment; the refund is on its way through the gateway.
    #[sea_orm(string_value = "REFUNDING")]
    Refunding,
    #[sea_orm(string_value = "REFUNDED")]
    Refunded,
}

impl OrderStatus {
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
        Self::iter().find(|st| st.as_str() == s)
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

/// A coupon's state: claimed (AVAILABLE), held by an unpaid order (RESERVED), or spent
/// on a paid one (USED).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum CouponStatus {
    #[sea_orm(string_value = "AVAILABLE")]
    Available,
    #[sea_orm(string_value = "RESERVED")]
    Reserved,
    #[sea_orm(string_value = "USED")]
    Used,
}

impl CouponStatus {
    /// The only moves a coupon can make: an order reserves it, cancelling that unpaid
    /// order gives it back, paying spends it.
    pub fn can_become(self, next: CouponStatus) -> bool {
        use CouponStatus::*;
        matches!(
            (self, next),
            (Available, Reserved) | (Reserved, Available | Used)
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
        for s in OrderStatus::iter() {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert!(!s.can_become(s), "{s:?} to itself");
        }
    }

    #[test]
    fn coupon_moves() {
        use CouponStatus::*;
        assert!(Available.can_become(Reserved));
        assert!(Reserved.can_become(Used));
        assert!(Reserved.can_become(Available));
        assert!(!Used.can_become(Available));
        assert!(!Available.can_become(Used));
        for s in CouponStatus::iter() {
            assert!(!s.can_become(s));
        }
    }

    #[test]
    fn stored_state_names_do_not_change() {
        use sea_orm::ActiveEnum;
        for s in OrderStatus::iter() {
            assert_eq!(s.to_value(), s.as_str());
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(CouponStatus::Available.to_value(), "AVAILABLE");
        assert_eq!(CouponStatus::Reserved.to_value(), "RESERVED");
        assert_eq!(CouponStatus::Used.to_value(), "USED");
        assert!(OrderStatus::try_from_value(&"SHIPPED".to_owned()).is_err());
    }
}
