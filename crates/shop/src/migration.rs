//! The shop's tables and migrations. Stock, coupon counts and order states only ever
//! change through conditional writes (see `orders.rs`, `coupons.rs`).

use sea_orm_migration::prelude::*;
use surge_kernel::migration::schema::*;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreateShopTables),
        Box::new(CreateBuyers),
        Box::new(AddCampaignRules),
    ]
}

/// One row per buyer, locked to count per-buyer limits safely (see `buyers.rs`).
struct CreateBuyers;

impl MigrationName for CreateBuyers {
    fn name(&self) -> &str {
        "m20261201_000310_shop_buyers"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateBuyers {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("shop_buyers"))
                .if_not_exists()
                .col(ColumnDef::new(a("user_id")).uuid().not_null().primary_key())
                .col(big("created_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(a("shop_buyers")).to_owned())
            .await
    }
}

/// Mission-gated campaigns and daily quantities: two campaign columns, and one row per
/// (campaign, KST day) counting that day's coupons.
struct AddCampaignRules;

impl MigrationName for AddCampaignRules {
    fn name(&self) -> &str {
        "m20261206_000320_shop_campaign_rules"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddCampaignRules {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(a("shop_coupon_campaigns"))
                .add_column(
                    ColumnDef::new(a("requires_mission_today"))
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(a("shop_coupon_campaigns"))
                .add_column(ColumnDef::new(a("daily_quantity")).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("shop_campaign_days"))
                .if_not_exists()
                .col(uuid("campaign_id"))
                .col(text("day", 10))
                .col(big("issued"))
                .primary_key(Index::create().col(a("campaign_id")).col(a("day")))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(a("shop_campaign_days")).to_owned())
            .await?;
        for c in ["daily_quantity", "requires_mission_today"] {
            m.alter_table(
                Table::alter()
                    .table(a("shop_coupon_campaigns"))
                    .drop_column(a(c))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

struct CreateShopTables;

impl MigrationName for CreateShopTables {
    fn name(&self) -> &str {
        "m20261121_000300_shop_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateShopTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("shop_products"))
                .if_not_exists()
                .col(id())
                .col(text("name", 200))
                .col(ColumnDef::new(a("description")).text().not_null())
                .col(big("price"))
                .col(big("stock"))
                .col(text("category", 50))
                .col(ColumnDef::new(a("image_url")).string_len(500).null())
                .col(ColumnDef::new(a("active")).boolean().not_null())
                .col(big("created_at"))
                .col(big("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_shop_products_category",
            "shop_products",
            &["category", "id"],
            false,
        )
        .await?;
        index(
            m,
            "ix_shop_products_price",
            "shop_products",
            &["price", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("shop_addresses"))
                .if_not_exists()
                .col(id())
                .col(ColumnDef::new(a("user_id")).uuid().not_null())
                .col(text("label", 50))
                .col(text("recipient", 50))
                .col(text("phone", 20))
                .col(text("address", 300))
                .col(text("postal_code", 10))
                .col(big("created_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_shop_addresses_user",
            "shop_addresses",
            &["user_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("shop_orders"))
                .if_not_exists()
                .col(id())
                .col(ColumnDef::new(a("user_id")).uuid().not_null())
                .col(text("status", 20))
                .col(big("subtotal"))
                .col(big("discount"))
                .col(big("total"))
                .col(ColumnDef::new(a("coupon_id")).uuid().null())
                .col(ColumnDef::new(a("idem_key")).string_len(150).null())
                .col(ColumnDef::new(a("request_hash")).string_len(64).null())
                .col(ColumnDef::new(a("shipping")).text().not_null())
                .col(ColumnDef::new(a("payment_tid")).string_len(100).null())
                .col(ColumnDef::new(a("payment_redirect")).string_len(500).null())
                .col(big("created_at"))
                .col(big("updated_at"))
                .col(big("expires_at"))
                .to_owned(),
        )
        .await?;
        // A retried request (same user, same Idempotency-Key) can never create a second order.
        index(
            m,
            "uq_shop_orders_idem",
            "shop_orders",
            &["user_id", "idem_key"],
            true,
        )
        .await?;
        index(
            m,
            "ix_shop_orders_user",
            "shop_orders",
            &["user_id", "id"],
            false,
        )
        .await?;
        index(
            m,
            "ix_shop_orders_status",
            "shop_orders",
            &["status", "expires_at"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("shop_order_lines"))
                .if_not_exists()
                .col(ColumnDef::new(a("order_id")).uuid().not_null())
                .col(ColumnDef::new(a("line_no")).integer().not_null())
                .col(ColumnDef::new(a("product_id")).uuid().not_null())
                .col(text("product_name", 200))
                .col(big("unit_price"))
                .col(big("quantity"))
                .primary_key(Index::create().col(a("order_id")).col(a("line_no")))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_shop_order_lines_product",
            "shop_order_lines",
            &["product_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("shop_coupon_campaigns"))
                .if_not_exists()
                .col(id())
                .col(text("name", 200))
                .col(big("quantity"))
                .col(big("issued"))
                .col(ColumnDef::new(a("discount_amount")).big_integer().null())
                .col(ColumnDef::new(a("discount_percent")).integer().null())
                .col(ColumnDef::new(a("max_discount")).big_integer().null())
                .col(big("starts_at"))
                .col(big("ends_at"))
                .col(big("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("shop_coupons"))
                .if_not_exists()
                .col(id())
                .col(ColumnDef::new(a("campaign_id")).uuid().not_null())
                .col(ColumnDef::new(a("user_id")).uuid().not_null())
                .col(text("status", 20))
                .col(ColumnDef::new(a("order_id")).uuid().null())
                .col(big("created_at"))
                .to_owned(),
        )
        .await?;
        // At most one coupon per user per campaign, whatever the concurrency.
        index(
            m,
            "uq_shop_coupons_claim",
            "shop_coupons",
            &["campaign_id", "user_id"],
            true,
        )
        .await?;
        index(
            m,
            "ix_shop_coupons_user",
            "shop_coupons",
            &["user_id", "id"],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "shop_coupons",
            "shop_coupon_campaigns",
            "shop_order_lines",
            "shop_orders",
            "shop_addresses",
            "shop_products",
        ] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        Ok(())
    }
}
