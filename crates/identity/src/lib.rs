//! Identity: sign-up, password and OAuth2 login, rotating refresh tokens, sessions,
//! roles. Other modules see users only through `AccessTokens` and `UserDirectory`.

pub mod domain;
pub mod http;
mod live;
pub mod oauth;
pub mod service;
pub mod store;
mod tokens;

use std::sync::Arc;

use futures::FutureExt;

use surge_kernel::auth::AccessTokens;
use surge_kernel::idempotency::Idempotency;
use surge_kernel::module::{Foundation, Module};
use surge_kernel::ports::UserDirectory;
use utoipa::OpenApi;

pub use service::{IdentityConfig, IdentityService, LoginLimits};
pub use store::migration::migrations;

pub struct Identity {
    pub module: Module,
    pub service: Arc<IdentityService>,
    pub tokens: Arc<dyn AccessTokens>,
    pub users: Arc<dyn UserDirectory>,
}

pub fn module(
    f: &Foundation,
    cfg: IdentityConfig,
    trusted_proxy_hops: usize,
) -> anyhow::Result<Identity> {
    let oauth = oauth::OAuth::new(&cfg.oauth, f.security.clone())?;
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
    Ok(Identity {
        module: Module {
            name: "identity",
            router: http::router(state, idem),
            openapi: http::IdentityApi::openapi(),
            workers: vec![service.clone().watch_revocations().boxed()],
        },
        tokens: Arc::new(service::TokenAuthenticator(service.clone())),
        users: Arc::new(service::Directory(service.clone())),
        service,
    })
}
