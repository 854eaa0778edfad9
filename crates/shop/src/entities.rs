//! SeaORM entities for reads and simple writes; hot paths use conditional statements.
//! State columns are typed with the domain's enums: an unknown stored value is an error.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod product {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shop_products")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub description: String,
        pub price: i64,
        pub stock: i64,
        pub category: String,
        pub image_url: Option<String>,
        pub active: bool,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod address {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shop_addresses")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub label: String,
        pub recipient: String,
        pub phone: String,
        pub address: String,
        pub postal_code: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod order {
    use sea_orm::entity::prelude::*;

    use crate::domain::OrderStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shop_orders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub status: OrderStatus,
        pub subtotal: i64,
        pub discount: i64,
        pub total: i64,
        pub coupon_id: Option<Uuid>,
        pub idem_key: Option<String>,
        /// SHA-256 of the request body the key was first used with.
        pub request_hash: Option<String>,
        pub shipping: String,
        pub payment_tid: Option<String>,
        pub payment_redirect: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod order_line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shop_order_lines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub order_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub line_no: i32,
        pub product_id: Uuid,
        pub product_name: String,
        pub unit_price: i64,
        pub quantity: i64,
    }
    no_relations!();
}

pub mod campaign {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shop_coupon_campaigns")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub quantity: i64,
        pub issued: i64,
        pub discount_amount: Option<i64>,
        pub discount_percent: Option<i32>,
        pub max_discount: Option<i64>,
        pub starts_at: i64,
        pub ends_at: i64,
        pub created_at: i64,
        /// Claimable only by users with a completed (approved) community mission today.
        pub requires_mission_today: bool,
        /// Most coupons issued per KST day, if limited.
        pub daily_quantity: Option<i64>,
    }
    no_relations!();
}

pub mod campaign_day {
    use sea_orm::entity::prelude::*;

    /// Coupons of a campaign issued on one KST day (`YYYY-MM-DD`): a new day is a new
    /// row, so the daily quantity starts again at KST midnight by construction.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shop_campaign_days")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub campaign_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: String,
        pub issued: i64,
    }
    no_relations!();
}

pub mod coupon {
    use sea_orm::entity::prelude::*;

    use crate::domain::CouponStatus;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shop_coupons")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub campaign_id: Uuid,
        pub user_id: Uuid,
        pub status: CouponStatus,
        pub order_id: Option<Uuid>,
        pub created_at: i64,
    }
    no_relations!();
}
