//! Adapters of the `Mailer` port: [`SmtpMailer`] (any SMTP server, through lettre over
//! rustls) and [`RecordingMailer`] (in-process, for the embedded mode and tests: it keeps
//! and logs the mails instead of sending them).
//!
//! Both check the recipient the same way: an address that does not parse is an error
//! (never a panic), and nothing is sent or recorded.

use std::str::FromStr;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use surge_kernel::ports::{Mail, Mailer};

use crate::recorder::{Recorder, RECORDER_CAPACITY};
use crate::redact::{redact_url, Secret};

fn default_timeout_secs() -> u64 {
    30
}

/// How to reach the SMTP server: `[mail.smtp]` in configuration.
///
/// `url` is lettre's connection URL:
/// - `smtp://127.0.0.1:2525`: plain SMTP (a local relay or a test server),
/// - `smtps://user:pass@smtp.example.com:465`: implicit TLS,
/// - `smtp://user:pass@smtp.example.com:587?tls=required`: STARTTLS, refused without it
///   (`?tls=opportunistic` falls back to plain text).
///
/// Credentials in the URL are percent-decoded; `Debug` never prints the password. lettre
/// logs in only when the URL has a password, so `smtp://user@host` would send without
/// authenticating: such a URL is refused at start. A path
/// sets the name said in `EHLO` (`smtp://host:587/mail.example.com`); by default it is
/// this machine's host name.
#[derive(Clone, Deserialize)]
pub struct SmtpConfig {
    pub url: String,
    /// The sender, e.g. `Surge <no-reply@surge.local>`.
    pub from: String,
    /// How long one send may take, all told (connect, TLS, hello, login, transfer).
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

impl SmtpConfig {
    /// A configuration with the default timeout (30 s).
    pub fn new(url: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            from: from.into(),
            timeout_secs: default_timeout_secs(),
        }
    }
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &redact_url(&self.url, Secret::Password))
            .field("from", &self.from)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// Whether the URL names a user without a password (`smtp://user@host`, `smtp://user:@host`):
/// lettre then sends without logging in at all.
fn user_without_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some((userinfo, _host)) = rest[..end].rsplit_once('@') else {
        return false;
    };
    match userinfo.split_once(':') {
        Some((_, password)) => password.is_empty(),
        None => true,
    }
}

/// Parses `to` (`user@example.com` or `Name <user@example.com>`).
fn recipient(to: &str) -> anyhow::Result<Mailbox> {
    Mailbox::from_str(to.trim()).map_err(|e| anyhow!("invalid recipient address {to:?}: {e}"))
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

fn transport(url: &str, timeout: Duration) -> Result<Transport, lettre::transport::smtp::Error> {
    Ok(Transport::from_url(url)?.timeout(Some(timeout)).build())
}

/// Sends mail through an SMTP server, reusing a small pool of connections.
///
/// Every send (and [`SmtpMailer::test_connection`]) has [`SmtpConfig::timeout_secs`] to
/// finish. lettre's async transport bounds only the TCP connect, so the whole exchange is
/// bounded here; after a timeout the pool is replaced, because a connection cut off in
/// the middle of a command would answer the next command with the previous reply.
pub struct SmtpMailer {
    transport: RwLock<Transport>,
    /// The configured URL (with its credentials), to rebuild the pool after a timeout.
    url: String,
    timeout: Duration,
    from: Mailbox,
    /// The URL without its password, for errors and `Debug`.
    server: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Checks the URL and the sender address; connects lazily, on the first send.
    /// Must be called within a Tokio runtime (the connection pool runs a cleanup task).
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Self> {
        let server = redact_url(&config.url, Secret::Password);
        tokio::runtime::Handle::try_current()
            .map_err(|_| anyhow!("SmtpMailer::new must be called within a Tokio runtime"))?;
        let from = Mailbox::from_str(config.from.trim())
            .map_err(|e| anyhow!("invalid sender address {:?}: {e}", config.from))?;
        if user_without_password(&config.url) {
            return Err(anyhow!(
                "SMTP URL {server} names a user but no password: lettre would send without \
                 logging in; write smtp://user:password@host (or no user at all)"
            ));
        }
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        let transport = transport(&config.url, timeout)
            .map_err(|e| anyhow!("invalid SMTP URL {server}: {e}"))?;
        Ok(Self {
            transport: RwLock::new(transport),
            url: config.url.clone(),
            timeout,
            from,
            server,
        })
    }

    /// Connects, says hello and logs in when the URL has credentials: a readiness check
    /// for startup. The connection stays in the pool for the next send.
    #[tracing::instrument(name = "smtp.test_connection", skip_all, fields(server = %self.server), err(level = "warn"))]
    pub async fn test_connection(&self) -> anyhow::Result<()> {
        let transport = self.current();
        match self.bounded(transport.test_connection()).await? {
            Ok(true) => Ok(()),
            Ok(false) => Err(anyhow!("SMTP server {} did not answer NOOP", self.server)),
            Err(e) => Err(anyhow!("SMTP server {} is unreachable: {e}", self.server)),
        }
    }

    fn current(&self) -> Transport {
        self.transport
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `fut` within the timeout; on timeout, drops the pool (see the type's doc).
    async fn bounded<T>(&self, fut: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(out) => Ok(out),
            Err(_) => {
                match transport(&self.url, self.timeout) {
                    Ok(fresh) => {
                        *self
                            .transport
                            .write()
                            .unwrap_or_else(PoisonError::into_inner) = fresh;
                    }
                    Err(e) => {
                        tracing::warn!(server = %self.server, "cannot rebuild the SMTP pool: {e}")
                    }
                }
                Err(anyhow!(
                    "SMTP server {} did not answer within {} s",
                    self.server,
                    self.timeout.as_secs()
                ))
            }
        }
    }

    fn message(&self, mail: &Mail) -> anyhow::Result<Message> {
        // Message-ID on the sender's domain, not on this machine's host name.
        let message_id = format!(
            "<{}@{}>",
            uuid::Uuid::new_v4().simple(),
            self.from.email.domain()
        );
        Message::builder()
            .from(self.from.clone())
            .to(recipient(&mail.to)?)
            .subject(mail.subject.as_str())
            .message_id(Some(message_id))
            .header(lettre::message::header::MIME_VERSION_1_0)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .context("build the mail")
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    #[tracing::instrument(name = "smtp.send", skip_all, fields(server = %self.server), err(level = "warn"))]
    async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        let message = self.message(mail)?;
        let transport = self.current();
        self.bounded(transport.send(message))
            .await?
            .map_err(|e| anyhow!("SMTP server {} did not take the mail: {e}", self.server))?;
        tracing::debug!(to = %mail.to, subject = %mail.subject, "mail sent");
        Ok(())
    }
}

/// How many mails a [`RecordingMailer`] keeps (the oldest are dropped first).
pub const RECORDING_MAILER_CAPACITY: usize = RECORDER_CAPACITY;

/// Keeps mails in memory instead of sending them, and logs each at info level so that a
/// developer running the embedded server sees what would have been sent. Tests read them
/// back with [`RecordingMailer::sent`] and simulate an outage with
/// [`Recorder::fail_next`].
pub type RecordingMailer = Recorder<Mail>;

impl Recorder<Mail> {
    /// The mails taken so far, oldest first (at most [`RECORDING_MAILER_CAPACITY`]).
    pub fn sent(&self) -> Vec<Mail> {
        self.items()
    }

    /// The last mail taken for `to` (compared as written in [`Mail::to`]).
    pub fn last_to(&self, to: &str) -> Option<Mail> {
        self.last_where(|m| m.to == to)
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        recipient(&mail.to)?;
        if self.take_failure() {
            tracing::warn!(to = %mail.to, subject = %mail.subject, "mail not sent: simulated outage");
            anyhow::bail!("simulated mail outage (RecordingMailer::fail_next)");
        }
        tracing::info!(to = %mail.to, subject = %mail.subject, "mail (recorded, not sent)");
        tracing::debug!(to = %mail.to, text = %mail.text, "mail body");
        self.record(mail.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password_only() {
        let cfg = SmtpConfig::new("smtp://u:hunter2@h:587?tls=required", "a@b.c");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("u:***@h:587"), "{shown}");
    }
}
