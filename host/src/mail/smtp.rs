//! The SMTP mailer: sends through a relay (the org's mail provider, or a
//! transactional service on a verified domain) with lettre over tokio and
//! rustls. Idempotency comes from a [`SentMailLog`]: a key found there is not
//! sent again.
//!
//! Sends of one org are sequential (its cycles never overlap), so the log's
//! check-then-send needs no lock. If recording fails after the relay accepted
//! the email, `send` still reports success: saying "unavailable" would make
//! the connector send it again. Should the host crash in that window, the
//! retry carries the same `Message-ID`, and receivers drop the duplicate.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{MailConfigError, SentMailLog, compose, parse_sender};
use crate::runtime::Mailer;
use crate::runtime::bindings::mail::{Email, MailError, Sent};

/// How long to wait for the relay at each step (connect, each command).
/// Relays answer in well under a second; 30 s rides out a slow one without
/// holding a cycle for lettre's default of a minute.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// SMTP replies that mean our credentials were refused (RFC 4954), which is a
/// configuration problem to fix and retry, not a reason to drop the email.
const AUTHENTICATION_CODES: &[&str] = &["530", "534", "535", "538"];

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    #[default]
    StartTls,
    /// TLS from the first byte, "implicit TLS" (port 465).
    Tls,
    /// No encryption: only for a relay on the same machine or a test server (port 25).
    Plaintext,
}

impl SmtpSecurity {
    /// The port this security mode usually uses.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Plaintext => 25,
        }
    }
}

/// Where and how to send.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The relay's host name (also the name its TLS certificate must carry).
    pub host: String,
    /// The port; `None` for the security mode's usual one.
    pub port: Option<u16>,
    pub security: SmtpSecurity,
    /// The login, if the relay wants one.
    pub username: Option<String>,
    /// The password; never logged.
    pub password: Option<String>,
    /// The verified sender, `support@example.com` or `Support <support@example.com>`.
    pub from: String,
    /// See [`DEFAULT_SMTP_TIMEOUT`].
    pub timeout: Duration,
}

impl SmtpConfig {
    /// STARTTLS on port 587, no login, [`DEFAULT_SMTP_TIMEOUT`].
    pub fn new(host: impl Into<String>, from: impl Into<String>) -> Self {
        SmtpConfig {
            host: host.into(),
            port: None,
            security: SmtpSecurity::default(),
            username: None,
            password: None,
            from: from.into(),
            timeout: DEFAULT_SMTP_TIMEOUT,
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Sends through an SMTP relay.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port`, for messages.
    relay: String,
    log: Arc<dyn SentMailLog>,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer").field("relay", &self.relay).field("from", &self.from.to_string()).finish()
    }
}

impl SmtpMailer {
    /// Set up the transport (no connection is made until the first email).
    pub fn new(config: SmtpConfig, log: Arc<dyn SentMailLog>) -> Result<Self, MailConfigError> {
        let from = parse_sender(&config.from)?;
        let port = config.port.unwrap_or(config.security.default_port());
        let tls_error = |e: lettre::transport::smtp::Error| MailConfigError::Smtp {
            host: config.host.clone(),
            reason: format!("cannot prepare TLS: {e}"),
        };
        let mut builder = match config.security {
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host).map_err(tls_error)?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host).map_err(tls_error)?,
            SmtpSecurity::Plaintext => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
        }
        .port(port)
        .timeout(Some(config.timeout));
        if let Some(username) = &config.username {
            builder =
                builder.credentials(Credentials::new(username.clone(), config.password.clone().unwrap_or_default()));
        }
        Ok(SmtpMailer { transport: builder.build(), from, relay: format!("{}:{port}", config.host), log })
    }

    /// What a failed SMTP exchange means for the connector.
    fn classify(&self, error: lettre::transport::smtp::Error) -> MailError {
        let relay = &self.relay;
        let code = error.status().map(|code| code.to_string());
        match code {
            Some(code) if AUTHENTICATION_CODES.contains(&code.as_str()) => MailError::Unavailable(format!(
                "the SMTP relay {relay} refused the login ({error}); check the SMTP username and password"
            )),
            Some(_) if error.is_permanent() => {
                MailError::Rejected(format!("the SMTP relay {relay} refused the email for good: {error}"))
            }
            Some(_) => {
                MailError::Unavailable(format!("the SMTP relay {relay} deferred the email ({error}); retry later"))
            }
            None if error.is_tls() => MailError::Unavailable(format!(
                "TLS with the SMTP relay {relay} failed ({error}); check the SMTP security mode and port"
            )),
            None if error.is_timeout() => {
                MailError::Unavailable(format!("the SMTP relay {relay} did not answer in time ({error})"))
            }
            None => MailError::Unavailable(format!("cannot send through the SMTP relay {relay}: {error}")),
        }
    }
}

/// Runs a (blocking) sent-mail log call on tokio's blocking threads, so a
/// busy database never stalls an async worker.
async fn off_the_workers<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, super::SentMailLogError> + Send + 'static,
) -> Result<T, super::SentMailLogError> {
    tokio::task::spawn_blocking(call).await.unwrap_or_else(|failed| {
        Err(super::SentMailLogError(format!("the sent-mail log failed on its thread: {failed}")))
    })
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, org: &str, idempotency_key: &str, email: Email) -> Result<Sent, MailError> {
        let unavailable_log = |e: super::SentMailLogError| MailError::Unavailable(e.to_string());
        let (log, owned_org, key) = (self.log.clone(), org.to_string(), idempotency_key.to_string());
        let found = off_the_workers(move || log.find(&owned_org, &key)).await;
        if let Some(sent) = found.map_err(unavailable_log)? {
            return Ok(sent);
        }
        let (message, sent) = compose(&self.from, org, idempotency_key, &email)?;
        self.transport.send(message).await.map_err(|e| self.classify(e))?;
        let (log, owned_org, key, record) =
            (self.log.clone(), org.to_string(), idempotency_key.to_string(), sent.clone());
        if let Err(error) = off_the_workers(move || log.record(&owned_org, &key, &record)).await {
            tracing::error!(org, key = idempotency_key, message_id = %sent.message_id, %error,
                "the email was sent but could not be recorded; a retry would send it again");
        } else {
            tracing::info!(org, key = idempotency_key, message_id = %sent.message_id, relay = %self.relay, "email sent");
        }
        Ok(sent)
    }
}
