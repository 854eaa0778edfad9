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
use surge_infra::jobs::JobSourceConfig;
use surge_infra::mail::SmtpConfig;
use surge_infra::objects::S3Config;
use surge_infra::payment::KakaoPayConfig;
use surge_infra::weather::WeatherAlertsConfig;

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
    /// How often the careers sweeper looks for scraps whose deadline is tomorrow (KST).
    pub careers_remind_every_ms: u64,
    /// How often counted community post views are written (batched).
    pub community_flush_views_every_ms: u64,
    /// Largest community image upload (bytes) and the longest edge stored (pixels).
    pub community_image_max_bytes: usize,
    pub community_image_max_edge: u32,
    /// Rooms one chat WebSocket may have open at once.
    pub chat_max_rooms_per_connection: usize,
    /// Frames waiting to be written to one chat WebSocket before it is disconnected
    /// as too slow.
    pub chat_socket_queue: usize,
    /// Chat messages one user may send per second (per instance), and in a burst.
    pub chat_sends_per_second: u32,
    pub chat_send_burst: u32,
    /// How often each instance tries the weather-alert lease (the holder polls when due).
    pub chat_alert_tick_ms: u64,
    /// How often the lease holder sweeps expired alerts and alert rooms closed 7 days ago.
    pub chat_cleanup_every_ms: u64,
    /// `[chat.weather_alerts]`: KMA special weather reports (off without a service key).
    pub chat: ChatSettings,
    /// Slack incoming webhook for new partner matches (`[slack] webhook_url`); off when absent.
    pub slack: Option<SlackConfig>,
    /// Metered uses (resume generations, AI edits) a FREE user gets per KST day.
    pub billing_free_daily_uses: i64,
    /// The same for a PRO user.
    pub billing_pro_daily_uses: i64,
    /// What PRO costs a month, integer KRW.
    pub billing_pro_monthly_price: i64,
    /// Subscriptions per chunk of the nightly batch.
    pub billing_batch_chunk: usize,
    /// Charges the nightly batch has in flight at the provider at once.
    pub billing_batch_concurrency: usize,
    /// The batch runner's lease (renewed after every chunk); a killed runner is
    /// replaced after it.
    pub billing_batch_lease_secs: u64,
    /// Daily usage rows are kept this many days.
    pub billing_keep_usage_days: i64,
    /// How often an instance checks whether today's nightly batch has run (so it runs
    /// right after 00:00 KST); 0 turns the schedule off (run it with `surge batch run`).
    pub billing_schedule_every_secs: u64,
    /// `[careers.sources.<name>]`: job sources to ingest (none: none run).
    pub careers: CareersSettings,
    /// `[community.verifier]`: an automatic check of mission proofs (off when absent).
    pub community: CommunitySettings,
    /// `[s3]`: uploaded objects (community images) in an S3-compatible bucket instead
    /// of `<data_dir>/objects`; several instances need a shared store.
    pub s3: Option<S3Config>,
    /// `[resumes.github]` and `[resumes.llm]`: where resumes read public work and who
    /// writes them (absent: the offline code host and the template writer).
    pub resumes: ResumesSettings,
    /// How often the resume writer looks for due jobs (it is also woken by each request).
    pub resumes_work_every_ms: u64,
    /// Resumes written at once per instance.
    pub resumes_work_concurrency: usize,
    /// How often counted resume views are written (batched).
    pub resumes_flush_views_every_ms: u64,
}

/// The `[resumes]` table. Env form: `SURGE_RESUMES__LLM__BASE_URL=…`.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResumesSettings {
    /// The GitHub REST API (a token raises the rate limit); absent: an offline host
    /// that makes up three repositories per login (no network).
    pub github: Option<surge_infra::code_host::GitHubConfig>,
    /// An OpenAI-compatible chat-completions model; absent: the template writer (no
    /// AI, labelled `template`) and no AI edits.
    pub llm: Option<surge_infra::llm::LlmConfig>,
}

/// The `[community]` table. Env form: `SURGE_COMMUNITY__VERIFIER__BASE_URL=…`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CommunitySettings {
    pub verifier: Option<VerifierSettings>,
}

/// An OpenAI-compatible vision model that looks at mission proofs before the admins:
/// approve and reject decide the proof; uncertain, or no answer, leaves it to them.
#[derive(Clone, Debug, Deserialize)]
pub struct VerifierSettings {
    /// e.g. `https://api.openai.com/v1` (`/chat/completions` is appended).
    pub base_url: String,
    pub model: String,
    pub api_key: SecretString,
    #[serde(default = "VerifierSettings::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts in all, on network errors, 429 and 5xx.
    #[serde(default = "VerifierSettings::default_attempts")]
    pub attempts: u32,
    /// The first back-off; doubled each retry.
    #[serde(default = "VerifierSettings::default_retry_first_delay_ms")]
    pub retry_first_delay_ms: u64,
}

impl VerifierSettings {
    fn default_timeout_ms() -> u64 {
        30_000
    }
    fn default_attempts() -> u32 {
        3
    }
    fn default_retry_first_delay_ms() -> u64 {
        500
    }
}

/// The `[chat]` table. Env form: `SURGE_CHAT__WEATHER_ALERTS__SERVICE_KEY=…`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChatSettings {
    pub weather_alerts: Option<WeatherAlertsConfig>,
}

/// The `[careers]` table. Env form: `SURGE_CAREERS__SOURCES__<NAME>__KIND=greenhouse`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct CareersSettings {
    pub sources: BTreeMap<String, JobSourceConfig>,
    /// `[careers.feeds.<name>] url = "…"`: RSS/Atom tech news, beside (or, by name,
    /// instead of) the default Korean tech blogs.
    pub feeds: BTreeMap<String, surge_infra::news::FeedConfig>,
    /// Whether the default feeds ([`DEFAULT_FEEDS`]) are fetched too (`true`).
    pub default_feeds: bool,
    /// The least time between the end of one feed request to a host and the start of
    /// the next to it (one at a time per host), in milliseconds.
    pub feed_host_gap_ms: u64,
}

impl Default for CareersSettings {
    fn default() -> Self {
        Self {
            sources: BTreeMap::new(),
            feeds: BTreeMap::new(),
            default_feeds: true,
            feed_host_gap_ms: 1_000,
        }
    }
}

/// A few Korean tech blogs' RSS/Atom feeds, fetched unless `default_feeds = false`: the
/// URLs these blogs publish, as widely listed (not fetched from the build machine).
pub const DEFAULT_FEEDS: [(&str, &str); 6] = [
    ("daangn", "https://medium.com/feed/daangn"),
    ("woowahan", "https://techblog.woowahan.com/feed/"),
    ("kakao", "https://tech.kakao.com/feed/"),
    ("toss", "https://toss.tech/rss.xml"),
    ("naver-d2", "https://d2.naver.com/d2.atom"),
    ("line", "https://techblog.lycorp.co.jp/ko/feed/index.xml"),
];

impl CareersSettings {
    /// The feeds to fetch: the defaults (when on) and the configured ones, a configured
    /// feed replacing a default of its name.
    pub fn all_feeds(&self) -> BTreeMap<String, surge_infra::news::FeedConfig> {
        let mut all = BTreeMap::new();
        if self.default_feeds {
            for (name, url) in DEFAULT_FEEDS {
                all.insert(name.to_owned(), surge_infra::news::FeedConfig::new(url));
            }
        }
        all.extend(self.feeds.clone());
        all
    }
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
            careers_remind_every_ms: 60_000,
            community_flush_views_every_ms: 1_000,
            community_image_max_bytes: 10 * 1024 * 1024,
            community_image_max_edge: 2_048,
            chat_max_rooms_per_connection: 20,
            chat_socket_queue: 1024,
            chat_sends_per_second: 5,
            chat_send_burst: 10,
            chat_alert_tick_ms: 30_000,
            chat_cleanup_every_ms: 3_600_000,
            chat: ChatSettings::default(),
            slack: None,
            billing_free_daily_uses: 3,
            billing_pro_daily_uses: 100,
            billing_pro_monthly_price: 19_900,
            billing_batch_chunk: 500,
            billing_batch_concurrency: 32,
            billing_batch_lease_secs: 30,
            billing_keep_usage_days: 7,
            billing_schedule_every_secs: 30,
            careers: CareersSettings::default(),
            community: CommunitySettings::default(),
            s3: None,
            resumes: ResumesSettings::default(),
            resumes_work_every_ms: 2_000,
            resumes_work_concurrency: 4,
            resumes_flush_views_every_ms: 1_000,
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
            .field("careers_sources", &self.careers.sources)
            .field("chat_weather_alerts", &self.chat.weather_alerts)
            .field(
                "resumes_github",
                &self.resumes.github.as_ref().map(|g| &g.base_url),
            )
            .field("resumes_llm", &self.resumes.llm.as_ref().map(|l| &l.model))
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

    #[test]
    #[allow(clippy::unwrap_used)]
    fn job_sources_come_from_the_file_and_the_environment() {
        // The same split as `Config::load`, under a prefix no other test uses.
        std::env::set_var("SURGETEST_JOBS_CAREERS__SOURCES__ACME__KIND", "greenhouse");
        std::env::set_var("SURGETEST_JOBS_CAREERS__SOURCES__ACME__BOARD", "acme");
        let cfg: Config = Figment::new()
            .merge(Toml::string(
                "[careers.sources.saramin-it]\nkind = \"saramin\"\nkey = \"k-secret\"\ninterval_secs = 600\n[careers.sources.saramin-it.params]\njob_mid_cd = \"2\"\n",
            ))
            .merge(Env::prefixed("SURGETEST_JOBS_").split("__"))
            .extract()
            .unwrap();
        let s = &cfg.careers.sources["saramin-it"];
        assert_eq!((s.kind.as_str(), s.interval_secs), ("saramin", 600));
        assert_eq!(s.params["job_mid_cd"], "2");
        assert_eq!(cfg.careers.sources["acme"].board.as_deref(), Some("acme"));
        assert_eq!(cfg.careers.sources["acme"].interval_secs, 3600);
        assert!(!format!("{cfg:?}").contains("k-secret"));
        // Sources configured, no feeds: the default tech blogs are fetched.
        let feeds = cfg.careers.all_feeds();
        assert_eq!(feeds.len(), DEFAULT_FEEDS.len());
        assert_eq!(feeds["toss"].url, "https://toss.tech/rss.xml");
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn default_feeds_can_be_replaced_by_name_or_turned_off() {
        let parse =
            |toml: &str| -> Config { Figment::new().merge(Toml::string(toml)).extract().unwrap() };
        let cfg = parse("[careers.feeds.toss]\nurl = \"http://127.0.0.1:9/toss.xml\"\ninterval_secs = 60\n[careers.feeds.mine]\nurl = \"https://blog.example/rss\"\n");
        let feeds = cfg.careers.all_feeds();
        assert_eq!(feeds.len(), DEFAULT_FEEDS.len() + 1);
        assert_eq!(
            (feeds["toss"].url.as_str(), feeds["toss"].interval_secs),
            ("http://127.0.0.1:9/toss.xml", 60)
        );
        assert_eq!(cfg.careers.feed_host_gap_ms, 1_000);
        let off = parse("[careers]\ndefault_feeds = false\nfeed_host_gap_ms = 250\n[careers.feeds.mine]\nurl = \"https://blog.example/rss\"\n");
        assert_eq!(
            off.careers.all_feeds().into_keys().collect::<Vec<_>>(),
            ["mine"]
        );
        assert_eq!(off.careers.feed_host_gap_ms, 250);
        assert!(Config::default()
            .careers
            .all_feeds()
            .contains_key("naver-d2"));
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn weather_alerts_come_from_the_file_and_the_environment_and_keep_the_key_secret() {
        std::env::set_var(
            "SURGETEST_WX_CHAT__WEATHER_ALERTS__SERVICE_KEY",
            "wx-secret",
        );
        let cfg: Config = Figment::new()
            .merge(Toml::string("[chat.weather_alerts]\ninterval_secs = 600\n"))
            .merge(Env::prefixed("SURGETEST_WX_").split("__"))
            .extract()
            .unwrap();
        let w = cfg.chat.weather_alerts.as_ref().unwrap();
        assert_eq!((w.source.as_str(), w.interval_secs), ("kma", 600));
        assert!(w.service_key.is_some());
        assert!(!format!("{cfg:?}").contains("wx-secret"));
        assert!(
            Config::default().chat.weather_alerts.is_none(),
            "off by default"
        );
    }
}
