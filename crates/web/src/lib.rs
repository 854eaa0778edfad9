//! The web app: Korean, server-rendered pages (maud templates, checked at compile time)
//! over the modules' use cases, called in-process through the handles the server
//! builds. htmx (vendored) enhances plain forms; every main flow works without
//! JavaScript (POST, then redirect, then GET).
//!
//! Files: `session.rs` (the browser session cookie, refresh, CSRF), `page.rs` (the page
//! shell, form helpers, the error page of a use case), `errors.rs` (the bare error
//! pages: 403, 404, 413, 500), `messages.rs` (ApiError codes in Korean),
//! `assets.rs` (embedded CSS/JS with hashed URLs), `account.rs` (sign up, sign in/out,
//! profile), `bell.rs` (notifications list and the live bell), `shop/` (catalog,
//! orders, payment, coupons), `ticketing.rs` (flights, seat map, holds, reservations),
//! `waiting.rs` (a sale's waiting room, live), `resumes.rs` (the community of
//! resumes, asking for one, a resume with likes, sharing and comments).

// Handlers answer a redirect or an error page as their `Err`: a whole `Response`.
#![allow(clippy::result_large_err)]

pub mod account;
pub mod assets;
pub mod bell;
mod errors;
pub mod messages;
pub mod page;
pub mod resumes;
pub mod session;
pub mod shop;
pub mod ticketing;
pub mod waiting;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use surge_kernel::auth::AccessTokens;
use surge_kernel::ports::Cache;

/// The modules the web app can show pages for; `None` for a module this instance does
/// not serve (its pages answer 404 and its links are not shown).
#[derive(Clone)]
pub struct Handles {
    pub identity: Arc<surge_identity::IdentityService>,
    pub tokens: Arc<dyn AccessTokens>,
    pub notifications: Option<Arc<surge_notifications::inbox::NotificationService>>,
    pub shop: Option<Arc<surge_shop::Shop>>,
    pub ticketing: Option<Arc<surge_ticketing::Ticketing>>,
    pub resumes: Option<Arc<surge_resumes::Resumes>>,
}

#[derive(Clone)]
pub struct WebConfig {
    /// Mark cookies `Secure` (off only for plain-HTTP development and tests).
    pub secure_cookies: bool,
    /// Key material for CSRF tokens (the server passes its token secret).
    pub secret: Vec<u8>,
    /// How long the refresh cookie lives (the identity refresh-token lifetime).
    pub refresh_ttl: Duration,
    /// Proxy hops whose X-Forwarded-For is trusted (as identity's login uses).
    pub trusted_proxy_hops: usize,
    /// Whether the payment gateway is the embedded fake (approval without a redirect).
    pub fake_gateway: bool,
}

/// What every handler shares.
pub struct Web {
    pub h: Handles,
    pub cfg: WebConfig,
    /// The foundation's non-evicting store (refresh hand-over between requests).
    pub security: Arc<dyn Cache>,
    pub pubsub: Arc<dyn surge_kernel::ports::PubSub>,
}

pub type WebState = Arc<Web>;

/// Every page route, behind the session and CSRF middleware.
pub fn router(h: Handles, cfg: WebConfig, f: &surge_kernel::module::Foundation) -> Router {
    let web = Arc::new(Web {
        h,
        cfg,
        security: f.security.clone(),
        pubsub: f.pubsub.clone(),
    });
    let mut pages = account::routes();
    if web.h.notifications.is_some() {
        pages = pages.merge(bell::routes());
    }
    if web.h.shop.is_some() {
        pages = pages.merge(shop::routes());
    }
    if web.h.ticketing.is_some() {
        pages = pages.merge(ticketing::routes()).merge(waiting::routes());
    }
    if web.h.resumes.is_some() {
        pages = pages.merge(resumes::routes());
    }
    pages
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            session::middleware,
        ))
        .with_state(web)
        .merge(assets::routes())
}

/// The 404 page for a browser asking for a path no route has (the server's fallback
/// calls this for requests that accept HTML and are outside `/api`).
pub fn not_found_page() -> axum::response::Response {
    page::not_found(None)
}
