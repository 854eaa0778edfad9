//! Identity: sign-up, password and OAuth2 login, rotating refresh tokens, sessions,
//! roles. Other modules see users only through `AccessTokens` and `UserDirectory`.
//!
//! Files: `domain.rs` (validated values), `service.rs` (the service, its configuration
//! and views), one file per use case (`accounts.rs`, `sessions.rs`, `admin.rs`,
//! `oauth/`), `directory.rs` (user lookups for other modules), `entities.rs`,
//! `migration.rs`, `http.rs`.

pub mod accounts;
pub mod admin;
pub mod directory;
pub mod domain;
pub mod entities;
pub mod http;
mod live;
pub mod migration;
pub mod oauth;
pub mod service;
pub mod sessions;
mod tokens;

use std::sync::Arc;

use futures::FutureExt;

use surge_kernel::auth::AccessTokens;
use surge_kernel::idempotency::Idempotency;
use surge_kernel::module::{Foundation, Module};
use surge_kernel::ports::UserDirectory;
use utoipa::OpenApi;

pub use migration::migrations;
pub use service::{IdentityConfig, IdentityService, LoginLimits};

pub struct Identity {
    pub service: Arc<IdentityService>,
    pub tokens: Arc<dyn AccessTokens>,
    pub users: Arc<dyn UserDirectory>,
}

/// Identity needs nothing outside the foundation: `ports` is `()`.
pub fn module(
    f: &Foundation,
    cfg: IdentityConfig,
    _ports: (),
) -> anyhow::Result<(Module, Identity)> {
    let oauth = oauth::OAuth::new(&cfg.oauth, f.security.clone())?;
    let trusted_proxy_hops = cfg.trusted_proxy_hops;
    let service = Arc::new(IdentityService::new(f, cfg)?);
    let state = Arc::new(http::IdentityState {
        svc: service.clone(),
        oauth,
        trusted_proxy_hops,
    });
    let idem = Idempotency {
        db: f.db.clone(),
        clock: f.clock.clone(),
    };
    let module = Module {
        name: "identity",
        router: http::router(state, idem),
        openapi: http::IdentityApi::openapi(),
        workers: vec![service.clone().watch_revocations().boxed()],
        subscriptions: Vec::new(),
    };
    Ok((
        module,
        Identity {
            tokens: Arc::new(sessions::TokenAuthenticator(service.clone())),
            users: Arc::new(directory::Directory(service.clone())),
            service,
        },
    ))
}
