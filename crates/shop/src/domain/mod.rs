//! Shop rules: order and coupon states and their legal moves (`states.rs`), discounts
//! (`discount.rs`), and the validated inputs the use cases take (`inputs.rs`, built
//! only through constructors returning [`InvalidInput`]). Pure Rust: no axum, no SeaORM
//! beyond the state enums' column mapping.

mod discount;
mod inputs;
mod states;

pub use discount::Discount;
pub use inputs::{
    InvalidInput, NewCampaign, NewProduct, OrderLine, OrderLines, ProductChanges, Restock,
    SavedAddress, ShippingAddress, ShippingChoice, MAX_LINES, MAX_QUANTITY,
};
pub use states::{CouponStatus, OrderStatus};
