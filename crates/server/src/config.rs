//! Configuration: defaults, then an optional `surge.toml`, then `SURGE_*` variables
//! (nested keys with `__`, e.g. `SURGE_OAUTH__GITHUB__CLIENT_ID`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;
use surge_identity::oauth::ProviderConfig;
use surge_infra::chat::SlackConfig;
use surge_infra::mail::SmtpConfig;
use surge_infra::payment::KakaoPayConfig;

#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address to listen on.
    pub bind: String,
    /// Where the embedded database, search index and generated secrets live.
    pub data_dir: PathBuf,
    /// `sqlite:...`, `postgres://...` or `mysql://...`; default: SQLite under `data_dir`.
    pub database_url: Option<SecretString>,
    /// A read replica for read-only queries.
    pub database_read_url: Option<SecretString>,
    pub database_max_connections: u32,
    /// Redis for cache, rate limits and pub/sub fan-out across instances.
    pub redis_url: Option<SecretString>,
    /// Prefix of every Redis key and channel this deployment uses.
    pub redis_prefix: String,
    /// Entries the in-process cache holds (without Redis); security state is kept apart.
    pub cache_max_entries: u64,
    /// Bound on each Redis connect and reply; a Redis that does not answer within it is
    /// treated as down (requests needing it get a 503 `dependency_unavailable`).
    pub redis_timeout_ms: u64,
    /// NATS JetStream for the event bus (in-process when absent).
    pub nats_url: Option<SecretString>,
    /// Subject prefix and stream name (`<PREFIX>_EVENTS`) on NATS.
    pub nats_prefix: String,
    /// How long JetStream keeps events.
    pub nats_max_age_secs: u64,
    /// Attempts an event handler gets (first delivery included) before the event becomes
    /// a dead letter for that consumer.
    pub event_max_attempts: u32,
    /// Wait before an event handler's second attempt; doubles with each further one.
    pub event_retry_first_delay_ms: u64,
    /// The longest wait between two attempts.
    pub event_retry_max_delay_secs: u64,
    /// HS256 signing key (at least 32 characters). Required unless the database is SQLite.
    pub jwt_secret: Option<SecretString>,
    /// Comma-separated subset of modules to serve (default: all).
    pub modules: Option<String>,
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<SecretString>,
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    /// Time a client has to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    pub header_read_timeout_ms: u64,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// How many proxies in front of Surge append to `X-Forwarded-For` (with
    /// `trust_forwarded_for`): the client is that many entries from the right.
    pub trusted_proxies: usize,
    /// `Secure` on cookies; turn off only for plain-HTTP development.
    pub secure_cookies: bool,
    /// `text` or `json` logs.
    pub log_format: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u64,
    pub login_max_failures_per_account: i64,
    pub login_max_failures_per_ip: i64,
    pub login_failure_window_secs: u64,
    /// Live streams (SSE) one user may keep open per instance; the oldest closes first.
    pub max_streams_per_user: usize,
    /// OAuth logins one client address may start per minute.
    pub oauth_authorize_per_minute: i64,
    /// `[oauth.kakao]`, `[oauth.github]`, `[oauth.intra42]`.
    pub oauth: BTreeMap<String, ProviderConfig>,
    /// The URL clients reach this deployment at (payment providers redirect there).
    pub public_url: Option<String>,
    /// How long a shop order waits for payment before it is cancelled.
    pub shop_payment_window_secs: u64,
    /// Most unpaid units of one product one buyer may have ordered.
    pub shop_max_unpaid_units_per_product: i64,
    /// How often expired unpaid orders are swept.
    pub shop_sweep_every_ms: u64,
    /// Kakao Pay (`[kakaopay] cid, secret_key, subscription_cid?, base_url?`); the embedded
    /// fake gateway when absent.
    pub kakaopay: Option<KakaoPayConfig>,
    /// How long seats stay held for payment.
    pub ticketing_hold_secs: u64,
    /// Most seats in one hold.
    pub ticketing_max_seats_per_hold: usize,
    /// Most unpaid seats one traveller keeps held on one flight, sale or not.
    pub ticketing_max_held_seats_per_flight: usize,
    /// How often expired holds are swept.
    pub ticketing_sweep_every_ms: u64,
    /// How often each instance runs a waiting-room admission step.
    pub ticketing_admit_every_ms: u64,
    /// How often a queue stream re-reads the traveller's position.
    pub ticketing_stream_every_ms: u64,
    /// SMTP for ticket e-mails (`[smtp] url, from`); recorded and logged when absent.
    pub smtp: Option<SmtpConfig>,
    /// People per random partner match.
    pub partner_group_size: usize,
    /// How often the partner matcher runs without being woken.
    pub partner_match_every_ms: u64,
    /// Slack incoming webhook for new partner matches (`[slack] webhook_url`); off when absent.
    pub slack: Option<SlackConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_read_url: None,
            database_max_connections: 20,
            redis_url: None,
            redis_prefix: "surge:".into(),
            cache_max_entries: 1_000_000,
            redis_timeout_ms: 1_000,
            nats_url: None,
            nats_prefix: "surge".into(),
            nats_max_age_secs: 7 * 24 * 60 * 60,
            event_max_attempts: 10,
            event_retry_first_delay_ms: 1_000,
            event_retry_max_delay_secs: 300,
            jwt_secret: None,
            modules: None,
            bootstrap_admin_email: None,
            bootstrap_admin_password: None,
            request_timeout_secs: 30,
            body_limit_bytes: 1024 * 1024,
            header_read_timeout_ms: 10_000,
            max_connections: 10_000,
            trust_forwarded_for: false,
            trusted_proxies: 1,
            secure_cookies: true,
            log_format: "text".into(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 14,
            login_max_failures_per_account: 5,
            login_max_failures_per_ip: 30,
            login_failure_window_secs: 15 * 60,
            max_streams_per_user: 5,
            oauth_authorize_per_minute: 20,
            oauth: BTreeMap::new(),
            public_url: None,
            shop_payment_window_secs: 15 * 60,
            shop_sweep_every_ms: 5_000,
            shop_max_unpaid_units_per_product: 10,
            kakaopay: None,
            ticketing_hold_secs: 10 * 60,
            ticketing_max_seats_per_hold: 4,
            ticketing_max_held_seats_per_flight: 4,
            ticketing_sweep_every_ms: 5_000,
            ticketing_admit_every_ms: 200,
            ticketing_stream_every_ms: 1_000,
            smtp: None,
            partner_group_size: 2,
            partner_match_every_ms: 1_000,
            slack: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |o: &Option<SecretString>| if o.is_some() { "[set]" } else { "[unset]" };
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database_url", &set(&self.database_url))
            .field("database_read_url", &set(&self.database_read_url))
            .field("redis_url", &set(&self.redis_url))
            .field("nats_url", &set(&self.nats_url))
            .field("jwt_secret", &set(&self.jwt_secret))
            .field("modules", &self.modules)
            .field("oauth", &self.oauth.keys().collect::<Vec<_>>())
            .field("kakaopay", &self.kakaopay.as_ref().map(|k| &k.cid))
            .field("smtp", &self.smtp)
            .field("slack", &self.slack)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Loads `surge.toml` (or `path`) if present, then the environment.
    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let file = path.map_or_else(|| PathBuf::from("surge.toml"), PathBuf::from);
        let cfg: Config = Figment::new()
            .merge(Toml::file(file))
            .merge(Env::prefixed("SURGE_").split("__").ignore(&["test_"]))
            .extract()?;
        Ok(cfg.named_providers())
    }

    fn named_providers(mut self) -> Self {
        for (name, p) in self.oauth.iter_mut() {
            p.name = name.clone();
        }
        self
    }

    /// Whether `name` is among the modules to serve.
    pub fn serves(&self, name: &str) -> bool {
        match &self.modules {
            None => true,
            Some(list) => list
                .split(',')
                .map(str::trim)
                .any(|m| m == name || m == "all"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let cfg = Config {
            database_url: Some(SecretString::from("postgres://u:hunter2@db/x")),
            jwt_secret: Some(SecretString::from("super-secret-signing-key-0123456789")),
            ..Config::default()
        };
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("hunter2"));
        assert!(!dbg.contains("super-secret"));
        assert!(dbg.contains("[set]"));
    }

    #[test]
    fn module_subset() {
        let cfg = Config {
            modules: Some("identity, shop".into()),
            ..Config::default()
        };
        assert!(cfg.serves("shop"));
        assert!(cfg.serves("identity"));
        assert!(!cfg.serves("ticketing"));
        assert!(Config::default().serves("anything"));
    }
}
