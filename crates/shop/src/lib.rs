//! Shop: a catalog, flash-sale orders that never oversell (hot products are group
//! committed), a payment saga with compensation, and first-come coupons.

mod addresses;
mod buyers;
pub mod catalog;
pub mod coupons;
pub mod domain;
mod entities;
mod http;
mod migration;
pub mod orders;
pub mod payment;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use surge_kernel::idempotency::Idempotency;
use surge_kernel::module::{Foundation, Module, Subscription};
use surge_kernel::payment::PaymentGateway;
use surge_kernel::ports::{MissionCompletions, Notifier};
use utoipa::OpenApi;

pub use migration::migrations;

#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// How long an order waits for payment before it is cancelled (default 15 min).
    pub payment_window: Duration,
    /// How often expired orders are swept.
    pub sweep_every: Duration,
    /// Public base URL the payment provider redirects back to.
    pub public_url: String,
    /// Most unpaid units of one product one buyer may have ordered (default 10).
    pub max_unpaid_units_per_product: i64,
}

impl Default for ShopConfig {
    fn default() -> Self {
        Self {
            payment_window: Duration::from_secs(15 * 60),
            sweep_every: Duration::from_secs(5),
            public_url: "http://127.0.0.1:8080".into(),
            max_unpaid_units_per_product: orders::DEFAULT_UNPAID_CAP,
        }
    }
}

pub struct Shop {
    pub catalog: Arc<catalog::Catalog>,
    pub orders: Arc<orders::Orders>,
    pub payments: Arc<payment::Payments>,
    pub coupons: Arc<coupons::Coupons>,
}

/// What the shop needs from outside the foundation.
pub struct Ports {
    pub gateway: Arc<dyn PaymentGateway>,
    pub notifier: Arc<dyn Notifier>,
    /// Community's "completed a mission today?", for mission-gated coupons. `None`:
    /// a campaign that requires a mission is refused at creation (422
    /// `missions_unavailable`).
    pub missions: Option<Arc<dyn MissionCompletions>>,
}

pub fn module(
    f: &Foundation,
    cfg: ShopConfig,
    ports: Ports,
) -> anyhow::Result<(Module, Arc<Shop>)> {
    let Ports {
        gateway,
        notifier,
        missions,
    } = ports;
    let catalog = Arc::new(catalog::Catalog::new(f));
    let orders = Arc::new(
        orders::Orders::new(f, catalog.clone(), cfg.payment_window)
            .with_unpaid_cap(cfg.max_unpaid_units_per_product),
    );
    let payments = Arc::new(payment::Payments {
        orders: orders.clone(),
        gateway,
        notifier,
        public_url: cfg.public_url.trim_end_matches('/').to_owned(),
    });
    let refunds = Subscription::new(
        payment::REFUND_CONSUMER,
        &[orders::TOPIC_REFUND_REQUESTED],
        payment::RefundHandler(payments.clone()),
    );
    let shop = Arc::new(Shop {
        catalog,
        orders: orders.clone(),
        payments,
        coupons: Arc::new(coupons::Coupons::new(f, missions)),
    });
    let idem = Idempotency {
        db: f.db.clone(),
        clock: f.clock.clone(),
    };
    let module = Module {
        name: "shop",
        router: http::router(shop.clone(), idem),
        openapi: http::ShopApi::openapi(),
        workers: vec![orders::run_sweeper(orders, cfg.sweep_every).boxed()],
        subscriptions: vec![refunds],
    };
    Ok((module, shop))
}
