//! The composition root: reads configuration, picks an adapter for every port, builds
//! each module, and assembles the HTTP application. The only crate that knows them all.

pub mod config;
pub mod contract;
pub mod demo;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::future::BoxFuture;
use futures::FutureExt;
use rand::RngCore;
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use secrecy::{ExposeSecret, SecretString};
use surge_identity::{IdentityConfig, IdentityService, LoginLimits};
use surge_infra::chat::SlackWebhook;
use surge_infra::mail::{RecordingMailer, SmtpMailer};
use surge_infra::payment::{FakeGateway, KakaoPay};
use surge_infra::waiting_room::{MemoryWaitingRoom, RedisWaitingRoom};
use surge_infra::{bus, cache, db, pubsub, relay};
use surge_kernel::auth::Authenticator;
use surge_kernel::clock::Clock;
use surge_kernel::events::OutboxSignal;
use surge_kernel::module::{Foundation, Module};
use surge_kernel::payment::PaymentGateway;
use surge_kernel::ports::{Cache, ChatNotifier, EventBus, Mailer, Notifier, PubSub};
use surge_kernel::waiting_room::WaitingRoom;

pub use config::Config;

/// Every module's migrations, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = surge_kernel::migration::migrations();
        all.extend(surge_identity::migrations());
        all.extend(surge_notifications::migrations());
        all.extend(surge_shop::migrations());
        all.extend(surge_ticketing::migrations());
        all.extend(surge_partner::migrations());
        all
    }
}

/// A built application: the router plus the background tasks to run beside it.
pub struct App {
    pub router: axum::Router,
    pub tasks: Vec<BoxFuture<'static, ()>>,
    pub foundation: Foundation,
    pub identity: Arc<IdentityService>,
    pub notifier: Arc<dyn Notifier>,
    pub shop: Arc<surge_shop::Shop>,
    pub ticketing: Arc<surge_ticketing::Ticketing>,
    pub partner: Arc<surge_partner::Partner>,
    /// The embedded payment gateway, when no real provider is configured.
    pub fake_gateway: Option<Arc<FakeGateway>>,
    /// The embedded mailer (records and logs), when no SMTP server is configured.
    pub recording_mailer: Option<Arc<RecordingMailer>>,
    /// Where the API is served: "embedded" or "scaled", with the adapters chosen.
    pub describe: String,
}

impl App {
    /// Spawns the background tasks; abort the handles at shutdown.
    pub fn spawn_tasks(&mut self) -> Vec<tokio::task::JoinHandle<()>> {
        self.tasks.drain(..).map(tokio::spawn).collect()
    }
}

fn database_url(cfg: &Config) -> anyhow::Result<String> {
    if let Some(url) = &cfg.database_url {
        return Ok(url.expose_secret().to_owned());
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    Ok(format!(
        "sqlite://{}?mode=rwc",
        cfg.data_dir.join("surge.db").display()
    ))
}

/// The JWT key: configured, or (embedded only) generated once and kept under the data dir.
fn jwt_secret(cfg: &Config, embedded: bool) -> anyhow::Result<SecretString> {
    if let Some(s) = &cfg.jwt_secret {
        anyhow::ensure!(
            s.expose_secret().len() >= 32,
            "SURGE_JWT_SECRET must be at least 32 characters"
        );
        return Ok(s.clone());
    }
    anyhow::ensure!(
        embedded,
        "SURGE_JWT_SECRET is required when the database is not SQLite (every instance must share it)"
    );
    let path = cfg.data_dir.join("jwt_secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if existing.trim().len() >= 32 {
            return Ok(SecretString::from(existing.trim().to_owned()));
        }
    }
    let mut bytes = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
    write_private(&path, &secret)?;
    Ok(SecretString::from(secret))
}

fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// Connects to the configured store and applies every module's migrations.
pub async fn connect_and_migrate(cfg: &Config) -> anyhow::Result<db::Databases> {
    let url = database_url(cfg)?;
    let read_url = cfg
        .database_read_url
        .as_ref()
        .map(|u| u.expose_secret().to_owned());
    let dbs = db::connect(&url, read_url.as_deref(), cfg.database_max_connections).await?;
    Migrator::up(&dbs.primary, None)
        .await
        .context("applying migrations")?;
    Ok(dbs)
}

/// Builds the whole application from configuration.
pub async fn build(cfg: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    let url = database_url(cfg)?;
    let embedded = db::is_sqlite(&url);
    let dbs = connect_and_migrate(cfg).await?;

    let (cache, pubsub): (Arc<dyn Cache>, Arc<dyn PubSub>) = match &cfg.redis_url {
        Some(r) => (
            Arc::new(cache::RedisCache::connect(r.expose_secret(), &cfg.redis_prefix).await?),
            Arc::new(pubsub::RedisPubSub::connect(r.expose_secret(), &cfg.redis_prefix).await?),
        ),
        None => (
            Arc::new(cache::MokaCache::default()),
            Arc::new(pubsub::LocalPubSub::default()),
        ),
    };
    let bus: Arc<dyn EventBus> = match &cfg.nats_url {
        Some(n) => Arc::new(
            surge_infra::nats::NatsBus::connect(
                n.expose_secret(),
                &cfg.nats_prefix,
                Duration::from_secs(cfg.nats_max_age_secs),
            )
            .await
            .context("connecting to NATS")?,
        ),
        None => Arc::new(bus::LocalBus::default()),
    };
    let foundation = Foundation {
        db: dbs.primary,
        read_db: dbs.read,
        cache,
        pubsub,
        bus,
        outbox: OutboxSignal::default(),
        clock,
    };

    let pass_secret = jwt_secret(cfg, embedded)?;
    let mut identity_cfg = IdentityConfig::new(pass_secret.clone());
    identity_cfg.access_ttl = Duration::from_secs(cfg.access_token_ttl_secs);
    identity_cfg.refresh_ttl = Duration::from_secs(cfg.refresh_token_ttl_days * 24 * 60 * 60);
    identity_cfg.secure_cookies = cfg.secure_cookies;
    identity_cfg.oauth = cfg.oauth.values().cloned().collect();
    identity_cfg.login_limits = LoginLimits {
        per_account: cfg.login_max_failures_per_account,
        per_ip: cfg.login_max_failures_per_ip,
        window: Duration::from_secs(cfg.login_failure_window_secs),
    };
    let identity = surge_identity::module(&foundation, identity_cfg, cfg.trust_forwarded_for)?;
    if let (Some(email), Some(pw)) = (&cfg.bootstrap_admin_email, &cfg.bootstrap_admin_password) {
        if identity
            .service
            .ensure_admin(email, pw.expose_secret())
            .await?
        {
            tracing::info!(%email, "created the bootstrap admin");
        }
    }
    let notifications = surge_notifications::module(&foundation).await?;

    let (gateway, fake_gateway): (Arc<dyn PaymentGateway>, _) = match &cfg.kakaopay {
        Some(k) => (Arc::new(KakaoPay::new(k.clone())?), None),
        None => {
            let fake = Arc::new(FakeGateway::new());
            (fake.clone(), Some(fake))
        }
    };
    let shop_cfg = surge_shop::ShopConfig {
        payment_window: Duration::from_secs(cfg.shop_payment_window_secs),
        sweep_every: Duration::from_millis(cfg.shop_sweep_every_ms.max(10)),
        public_url: cfg
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", cfg.bind)),
    };
    let public_url = shop_cfg.public_url.clone();
    let (shop_module, shop) = surge_shop::module(
        &foundation,
        shop_cfg,
        gateway.clone(),
        notifications.notifier.clone(),
    )
    .await?;

    let (mailer, recording_mailer): (Arc<dyn Mailer>, _) = match &cfg.smtp {
        Some(s) => (Arc::new(SmtpMailer::new(s)?), None),
        None => {
            let m = Arc::new(RecordingMailer::new());
            (m.clone(), Some(m))
        }
    };
    let waiting_room: Arc<dyn WaitingRoom> = match &cfg.redis_url {
        Some(r) => Arc::new(RedisWaitingRoom::connect(r.expose_secret(), &cfg.redis_prefix).await?),
        None => Arc::new(MemoryWaitingRoom::new()),
    };
    let ticketing_cfg = surge_ticketing::TicketingConfig {
        hold_ttl: Duration::from_secs(cfg.ticketing_hold_secs.max(1)),
        max_seats_per_hold: cfg.ticketing_max_seats_per_hold.max(1),
        sweep_every: Duration::from_millis(cfg.ticketing_sweep_every_ms.max(10)),
        admit_every: Duration::from_millis(cfg.ticketing_admit_every_ms.max(10)),
        stream_every: Duration::from_millis(cfg.ticketing_stream_every_ms.max(10)),
        public_url,
    };
    let (ticketing_module, ticketing) = surge_ticketing::module(
        &foundation,
        ticketing_cfg,
        surge_ticketing::Ports {
            gateway,
            notifier: notifications.notifier.clone(),
            mailer,
            users: identity.users.clone(),
            waiting_room,
            pass_secret: pass_secret.expose_secret().as_bytes().to_vec(),
        },
    )
    .await?;

    let chat: Option<Arc<dyn ChatNotifier>> = match &cfg.slack {
        Some(s) => Some(Arc::new(SlackWebhook::new(s)?)),
        None => None,
    };
    let (partner_module, partner) = surge_partner::module(
        &foundation,
        surge_partner::PartnerConfig {
            group_size: cfg.partner_group_size,
            match_every: Duration::from_millis(cfg.partner_match_every_ms.max(10)),
        },
        identity.users.clone(),
        notifications.notifier.clone(),
        chat,
    );

    let modules: Vec<Module> = [
        identity.module,
        notifications.module,
        shop_module,
        ticketing_module,
        partner_module,
    ]
    .into_iter()
    .filter(|m| cfg.serves(m.name))
    .collect();
    let names: Vec<&str> = modules.iter().map(|m| m.name).collect();
    let describe = format!(
        "{} store, {} cache and pub/sub, in-process event bus; modules: {}",
        if embedded {
            "embedded SQLite"
        } else {
            "external SQL"
        },
        if cfg.redis_url.is_some() {
            "Redis"
        } else {
            "in-process"
        },
        names.join(", ")
    );

    let mut tasks: Vec<BoxFuture<'static, ()>> = Vec::new();
    tasks.push(
        relay::Relay {
            db: foundation.db.clone(),
            bus: foundation.bus.clone(),
            clock: foundation.clock.clone(),
            signal: foundation.outbox.clone(),
        }
        .run()
        .boxed(),
    );
    tasks.push(housekeeping(foundation.clone()).boxed());
    let router = web::router(
        modules,
        &mut tasks,
        &foundation,
        Authenticator(identity.tokens.clone()),
        cfg,
    );
    Ok(App {
        router,
        tasks,
        foundation,
        identity: identity.service,
        notifier: notifications.notifier,
        shop,
        ticketing,
        partner,
        fake_gateway,
        recording_mailer,
        describe,
    })
}

/// Periodic clean-up shared by all modules: expired idempotency keys, pool gauges.
async fn housekeeping(f: Foundation) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = surge_kernel::idempotency::purge_expired(&f.db, f.clock.now_ms()).await {
            tracing::warn!(error = ?e, "purging idempotency keys failed");
        }
    }
}
