//! The composition root: reads configuration, picks an adapter for every port, builds
//! each module, and assembles the HTTP application. The only crate that knows them all.

pub mod admin;
mod careers_sources;
mod community_ports;
pub mod config;
pub mod contract;
pub mod demo;
pub mod listen;
mod resumes_ports;
pub mod web;

use std::collections::BTreeMap;
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
use surge_infra::delivery::{Deliveries, RetryPolicy};
use surge_infra::jobs::FakeJobBoard;
use surge_infra::mail::{RecordingMailer, SmtpMailer};
use surge_infra::payment::{FakeGateway, KakaoPay};
use surge_infra::redis_conn::RedisConnection;
use surge_infra::waiting_room::{MemoryWaitingRoom, RedisWaitingRoom};
use surge_infra::{bus, cache, db, pubsub, relay};
use surge_kernel::auth::Authenticator;
use surge_kernel::clock::Clock;
use surge_kernel::events::OutboxSignal;
use surge_kernel::module::{Foundation, Module};
use surge_kernel::payment::{PaymentGateway, SubscriptionGateway};
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
        all.extend(surge_careers::migrations());
        all.extend(surge_community::migrations());
        all.extend(surge_chat::migrations());
        all.extend(surge_billing::migrations());
        all.extend(surge_resumes::migrations());
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
    pub careers: Arc<surge_careers::Careers>,
    pub community: Arc<surge_community::Community>,
    pub chat: Arc<surge_chat::Chat>,
    pub billing: Arc<surge_billing::Billing>,
    pub resumes: Arc<surge_resumes::Resumes>,
    /// The offline weather alert source (`[chat.weather_alerts] source = "fake"`): tests
    /// change it between polls.
    pub weather_alerts: Option<Arc<surge_infra::weather::FakeWeatherAlerts>>,
    /// The offline job boards among the careers sources (`kind = "fake"`), by name:
    /// tests and the demo change them between runs.
    pub job_boards: BTreeMap<String, Arc<FakeJobBoard>>,
    /// Event retries and dead letters.
    pub deliveries: Arc<Deliveries>,
    /// The embedded payment gateway, when no real provider is configured.
    pub fake_gateway: Option<Arc<FakeGateway>>,
    /// Recurring payments (for the PRO plan): Kakao Pay under `subscription_cid`, or an
    /// embedded recurring fake without Kakao Pay; none if Kakao Pay has no subscription CID.
    pub subscriptions: Option<Arc<dyn SubscriptionGateway>>,
    /// The embedded recurring gateway behind `subscriptions`, when no real provider is
    /// configured.
    pub fake_subscriptions: Option<Arc<FakeGateway>>,
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
    // Replicas started together would otherwise race to create the same tables.
    let lock = db::MigrationLock::acquire(&url).await?;
    let migrated = Migrator::up(&dbs.primary, None).await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = ?e, "releasing the migration lock failed; it ends with its connection");
    }
    migrated.context("applying migrations")?;
    Ok(dbs)
}

/// Builds the whole application from configuration.
pub async fn build(cfg: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    let url = database_url(cfg)?;
    let embedded = db::is_sqlite(&url);
    // Configuration is checked before any database is touched.
    let pass_secret = jwt_secret(cfg, embedded)?;
    let dbs = connect_and_migrate(cfg).await?;

    // One command connection per instance, shared by the cache, pub/sub and waiting room.
    let redis = match &cfg.redis_url {
        Some(r) => Some(
            RedisConnection::connect(
                r.expose_secret(),
                Duration::from_millis(cfg.redis_timeout_ms.max(1)),
            )
            .await
            .context("connecting to Redis")?,
        ),
        None => None,
    };
    let (cache, security, pubsub): (Arc<dyn Cache>, Arc<dyn Cache>, Arc<dyn PubSub>) = match &redis
    {
        Some(r) => {
            let shared: Arc<dyn Cache> =
                Arc::new(cache::RedisCache::new(r.clone(), &cfg.redis_prefix));
            (
                shared.clone(),
                shared,
                Arc::new(pubsub::RedisPubSub::new(r.clone(), &cfg.redis_prefix).await?),
            )
        }
        None => (
            Arc::new(cache::MokaCache::new(cfg.cache_max_entries.max(1))),
            Arc::new(cache::MokaCache::unbounded()),
            Arc::new(pubsub::LocalPubSub::default()),
        ),
    };
    let deliveries = Arc::new(Deliveries::new(
        dbs.primary.clone(),
        clock.clone(),
        RetryPolicy {
            max_attempts: cfg.event_max_attempts.max(1),
            first_delay: Duration::from_millis(cfg.event_retry_first_delay_ms.max(1)),
            max_delay: Duration::from_secs(cfg.event_retry_max_delay_secs.max(1)),
            ..RetryPolicy::default()
        },
    ));
    let bus: Arc<dyn EventBus> = match &cfg.nats_url {
        Some(n) => Arc::new(
            surge_infra::nats::NatsBus::connect(
                n.expose_secret(),
                &cfg.nats_prefix,
                Duration::from_secs(cfg.nats_max_age_secs),
                deliveries.clone(),
            )
            .await
            .context("connecting to NATS")?,
        ),
        None => Arc::new(bus::LocalBus::new(deliveries.clone())),
    };
    let foundation = Foundation {
        db: dbs.primary,
        read_db: dbs.read,
        cache,
        security,
        pubsub,
        bus,
        outbox: OutboxSignal::default(),
        clock,
    };

    let mut identity_cfg = IdentityConfig::new(pass_secret.clone());
    identity_cfg.access_ttl = Duration::from_secs(cfg.access_token_ttl_secs);
    identity_cfg.refresh_ttl = Duration::from_secs(cfg.refresh_token_ttl_days * 24 * 60 * 60);
    identity_cfg.secure_cookies = cfg.secure_cookies;
    identity_cfg.oauth = cfg.oauth.values().cloned().collect();
    identity_cfg.max_streams_per_user = cfg.max_streams_per_user.max(1);
    identity_cfg.oauth_starts_per_minute = cfg.oauth_authorize_per_minute.max(1);
    identity_cfg.login_limits = LoginLimits {
        per_account: cfg.login_max_failures_per_account,
        per_ip: cfg.login_max_failures_per_ip,
        window: Duration::from_secs(cfg.login_failure_window_secs),
    };
    identity_cfg.trusted_proxy_hops = if cfg.trust_forwarded_for {
        cfg.trusted_proxies.max(1)
    } else {
        0
    };
    let (identity_module, identity) = surge_identity::module(&foundation, identity_cfg, ())?;
    if let (Some(email), Some(pw)) = (&cfg.bootstrap_admin_email, &cfg.bootstrap_admin_password) {
        if identity
            .service
            .ensure_admin(email, pw.expose_secret())
            .await?
        {
            tracing::info!(%email, "created the bootstrap admin");
        }
    }
    let (notifications_module, notifications) = surge_notifications::module(&foundation, (), ())?;

    let (gateway, fake_gateway): (Arc<dyn PaymentGateway>, _) = match &cfg.kakaopay {
        Some(k) => (Arc::new(KakaoPay::new(k.clone())?), None),
        None => {
            let fake = Arc::new(FakeGateway::new());
            (fake.clone(), Some(fake))
        }
    };
    let (subscriptions, fake_subscriptions): (Option<Arc<dyn SubscriptionGateway>>, _) = match &cfg
        .kakaopay
    {
        Some(k) if k.subscription_cid.is_some() => (
            Some(Arc::new(KakaoPay::for_subscriptions(k.clone())?) as Arc<dyn SubscriptionGateway>),
            None,
        ),
        Some(_) => (None, None),
        None => {
            let fake = Arc::new(FakeGateway::recurring());
            (
                Some(fake.clone() as Arc<dyn SubscriptionGateway>),
                Some(fake),
            )
        }
    };
    let shop_cfg = surge_shop::ShopConfig {
        payment_window: Duration::from_secs(cfg.shop_payment_window_secs),
        sweep_every: Duration::from_millis(cfg.shop_sweep_every_ms.max(10)),
        public_url: cfg
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", cfg.bind)),
        max_unpaid_units_per_product: cfg.shop_max_unpaid_units_per_product.max(1),
    };
    let public_url = shop_cfg.public_url.clone();
    let (shop_module, shop) = surge_shop::module(
        &foundation,
        shop_cfg,
        surge_shop::Ports {
            gateway: gateway.clone(),
            notifier: notifications.notifier.clone(),
            // Community's tables are migrated on every instance, so its answer is
            // available even where the community routes are not served.
            missions: Some(surge_community::mission_completions(&foundation)),
        },
    )?;

    let (mailer, recording_mailer): (Arc<dyn Mailer>, _) = match &cfg.smtp {
        Some(s) => (Arc::new(SmtpMailer::new(s)?), None),
        None => {
            let m = Arc::new(RecordingMailer::new());
            (m.clone(), Some(m))
        }
    };
    let waiting_room: Arc<dyn WaitingRoom> = match redis {
        Some(r) => Arc::new(RedisWaitingRoom::new(r, &cfg.redis_prefix)),
        None => Arc::new(MemoryWaitingRoom::new()),
    };
    let ticketing_cfg = surge_ticketing::TicketingConfig {
        hold_ttl: Duration::from_secs(cfg.ticketing_hold_secs.max(1)),
        max_seats_per_hold: cfg.ticketing_max_seats_per_hold.max(1),
        max_held_seats_per_flight: cfg.ticketing_max_held_seats_per_flight.max(1),
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
    )?;

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
        surge_partner::Ports {
            users: identity.users.clone(),
            notifier: notifications.notifier.clone(),
            chat,
        },
    )?;
    let (sources, job_boards) = careers_sources::job_sources(cfg)?;
    let (careers_module, careers) = surge_careers::module(
        &foundation,
        surge_careers::CareersConfig {
            remind_every: Duration::from_millis(cfg.careers_remind_every_ms.max(10)),
            index_dir: Some(cfg.data_dir.join("careers-index")),
            sources,
            feeds: careers_sources::news_feeds(cfg)?,
        },
        surge_careers::Ports {
            users: identity.users.clone(),
            notifier: notifications.notifier.clone(),
        },
    )?;
    let wx = cfg.chat.weather_alerts.clone().unwrap_or_default();
    let alert_source =
        surge_infra::weather::build(&wx).context("configuring [chat.weather_alerts]")?;
    let alert_every = wx.interval();
    let (chat_module, chat) = surge_chat::module(
        &foundation,
        surge_chat::ChatConfig {
            socket: surge_chat::SocketLimits {
                max_rooms: cfg.chat_max_rooms_per_connection.max(1),
                queue: cfg.chat_socket_queue.max(1),
                sends_per_second: cfg.chat_sends_per_second.max(1),
                send_burst: cfg.chat_send_burst.max(1),
            },
            alert_tick: Duration::from_millis(cfg.chat_alert_tick_ms.max(10)),
            cleanup_every: Duration::from_millis(cfg.chat_cleanup_every_ms.max(10)),
        },
        surge_chat::Ports {
            notifier: notifications.notifier.clone(),
            alerts: alert_source
                .as_ref()
                .map(|b| surge_chat::alerts::AlertSource {
                    source: b.source.clone(),
                    every: alert_every,
                }),
        },
    )?;
    let weather_alerts = alert_source.and_then(|b| b.fake);

    let (community_module, community) = surge_community::module(
        &foundation,
        surge_community::CommunityConfig {
            flush_views_every: Duration::from_millis(cfg.community_flush_views_every_ms.max(10)),
            trusted_proxy_hops: if cfg.trust_forwarded_for {
                cfg.trusted_proxies.max(1)
            } else {
                0
            },
            image_max_bytes: cfg.community_image_max_bytes,
            image_max_edge: cfg.community_image_max_edge,
        },
        community_ports::ports(cfg, identity.users.clone(), notifications.notifier.clone())?,
    )?;

    let (billing_module, billing) = surge_billing::module(
        &foundation,
        surge_billing::BillingConfig {
            limits: surge_billing::PlanLimits {
                free_daily: cfg.billing_free_daily_uses.max(0),
                pro_daily: cfg.billing_pro_daily_uses.max(0),
                pro_monthly_price: cfg.billing_pro_monthly_price.max(1),
            },
            batch: surge_billing::BatchConfig {
                chunk: cfg.billing_batch_chunk.max(1),
                concurrency: cfg.billing_batch_concurrency.max(1),
                lease_ttl: Duration::from_secs(cfg.billing_batch_lease_secs.max(1)),
                keep_usage_days: cfg.billing_keep_usage_days.max(1),
            },
            schedule_every: (cfg.billing_schedule_every_secs > 0)
                .then(|| Duration::from_secs(cfg.billing_schedule_every_secs)),
            public_url: cfg
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", cfg.bind)),
        },
        surge_billing::Ports {
            gateway: subscriptions.clone(),
            notifier: notifications.notifier.clone(),
        },
    )?;

    let (resumes_module, resumes) = resumes_ports::module(
        cfg,
        &foundation,
        identity.users.clone(),
        notifications.notifier.clone(),
        billing.quota.clone(),
    )?;

    let modules: Vec<Module> = [
        identity_module,
        notifications_module,
        shop_module,
        ticketing_module,
        partner_module,
        careers_module,
        community_module,
        chat_module,
        billing_module,
        resumes_module,
    ]
    .into_iter()
    .filter(|m| cfg.serves(m.name))
    .collect();
    let names: Vec<&str> = modules.iter().map(|m| m.name).collect();
    // Only the served modules consume events: an identity-only instance must not take
    // (and ack) the shop's refunds away from the instances that serve the shop.
    for m in &modules {
        for s in &m.subscriptions {
            foundation
                .bus
                .subscribe(s.consumer, s.topics, s.handler.clone())
                .await
                .with_context(|| format!("subscribing {} to {:?}", s.consumer, s.topics))?;
        }
    }
    let describe = format!(
        "{} store, {} cache and pub/sub, {} event bus; modules: {}",
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
        if cfg.nats_url.is_some() {
            "NATS JetStream"
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
    tasks.push(deliveries.clone().run().boxed());
    tasks.push(housekeeping(foundation.clone()).boxed());
    // The web app: served with identity (it signs people in) unless SURGE_MODULES
    // leaves out "web"; each module's pages only when that module is served.
    let pages = (cfg.serves("web") && cfg.serves("identity")).then(|| {
        surge_web::router(
            surge_web::Handles {
                identity: identity.service.clone(),
                tokens: identity.tokens.clone(),
                notifications: cfg
                    .serves("notifications")
                    .then(|| notifications.service.clone()),
                shop: cfg.serves("shop").then(|| shop.clone()),
                ticketing: cfg.serves("ticketing").then(|| ticketing.clone()),
                resumes: cfg.serves("resumes").then(|| resumes.clone()),
            },
            surge_web::WebConfig {
                secure_cookies: cfg.secure_cookies,
                secret: pass_secret.expose_secret().as_bytes().to_vec(),
                refresh_ttl: Duration::from_secs(cfg.refresh_token_ttl_days * 24 * 60 * 60),
                trusted_proxy_hops: if cfg.trust_forwarded_for {
                    cfg.trusted_proxies.max(1)
                } else {
                    0
                },
                fake_gateway: fake_gateway.is_some(),
            },
            &foundation,
        )
    });
    let router = web::router(
        modules,
        pages,
        admin::module(deliveries.clone()),
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
        careers,
        community,
        chat,
        billing,
        resumes,
        weather_alerts,
        job_boards,
        deliveries,
        fake_gateway,
        subscriptions,
        fake_subscriptions,
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
