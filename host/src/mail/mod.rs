//! The mail capability: replies to email-origin cases, sent from the org's
//! verified sender address, each idempotency key at most once.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use casebridge::mail::{MemorySentMailLog, OutboxMailer, SmtpConfig, SmtpMailer};
//! use casebridge::runtime::Mailer;
//!
//! // The default: every email becomes an `.eml` file in a folder (demo, tests, review).
//! let outbox: Arc<dyn Mailer> = Arc::new(OutboxMailer::new("var/outbox", "Acme Support <support@acme.example>")?);
//! // Production: an SMTP relay; the log remembers what was sent (SQLite in the host).
//! let smtp: Arc<dyn Mailer> = Arc::new(SmtpMailer::new(
//!     SmtpConfig::new("smtp.example.com", "support@acme.example"),
//!     Arc::new(MemorySentMailLog::default()),
//! )?);
//! # Ok(()) }
//! ```
//!
//! Both build the same RFC 5322 message (one place: [`compose`]): `From` the
//! configured verified address, the recipients, the subject, a UTF-8 plain-text
//! body, `In-Reply-To` and `References` when the email answers another so the
//! customer's client threads it, and `Auto-Submitted: auto-replied` (RFC 3834)
//! so vacation responders do not answer the agent and start a loop on the case.
//!
//! The `Message-ID` is derived from the org and the idempotency key
//! (`<sha256-prefix@sender-domain>`): a retry after a crash between sending
//! and recording carries the same id, which receiving systems use to drop the
//! duplicate.
//!
//! Errors follow the WIT contract: a bad address or a permanent (5xx) SMTP
//! refusal is `mail-error::rejected` (retrying will not help); everything that
//! may pass (4xx, connection, TLS, disk) is `mail-error::unavailable`.

mod outbox;
mod smtp;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;

use lettre::Address;
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Mailboxes};
use sha2::{Digest, Sha256};

pub use outbox::OutboxMailer;
pub use smtp::{DEFAULT_SMTP_TIMEOUT, SmtpConfig, SmtpMailer, SmtpSecurity};

use crate::runtime::bindings::mail::{Email, MailError, Sent};

/// What was sent under each `(org, idempotency key)`: the memory that makes
/// `send` idempotent for transports that cannot remember by themselves (SMTP).
///
/// The host's SQLite store implements it for production; a read error must be
/// an error, never "not sent", or the email would go out twice.
pub trait SentMailLog: Send + Sync {
    /// What was sent under `key`, if anything.
    fn find(&self, org: &str, key: &str) -> Result<Option<Sent>, SentMailLogError>;
    /// Remember that `sent` went out under `key`.
    fn record(&self, org: &str, key: &str, sent: &Sent) -> Result<(), SentMailLogError>;
}

/// The sent-mail log could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("the sent-mail log failed: {0}")]
pub struct SentMailLogError(pub String);

/// A [`SentMailLog`] in memory: for tests and single-run tools; it forgets on restart.
#[derive(Debug, Default)]
pub struct MemorySentMailLog {
    sent: Mutex<HashMap<(String, String), Sent>>,
}

impl SentMailLog for MemorySentMailLog {
    fn find(&self, org: &str, key: &str) -> Result<Option<Sent>, SentMailLogError> {
        let sent = self.sent.lock().map_err(|_| SentMailLogError("the in-memory log is poisoned".into()))?;
        Ok(sent.get(&(org.to_string(), key.to_string())).cloned())
    }

    fn record(&self, org: &str, key: &str, record: &Sent) -> Result<(), SentMailLogError> {
        let mut sent = self.sent.lock().map_err(|_| SentMailLogError("the in-memory log is poisoned".into()))?;
        sent.insert((org.to_string(), key.to_string()), record.clone());
        Ok(())
    }
}

/// Why a mailer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    #[error(
        "the sender address {from:?} is not a valid email address ({reason}); use a verified address like `Support <support@example.com>`"
    )]
    InvalidFrom { from: String, reason: String },
    #[error("cannot create the outbox folder {}: {source}", dir.display())]
    Outbox { dir: std::path::PathBuf, source: std::io::Error },
    #[error("cannot set up SMTP to {host}: {reason}")]
    Smtp { host: String, reason: String },
}

/// Parse the configured sender, `support@example.com` or `Support <support@example.com>`.
pub fn parse_sender(from: &str) -> Result<Mailbox, MailConfigError> {
    Mailbox::from_str(from.trim())
        .map_err(|e| MailConfigError::InvalidFrom { from: from.to_string(), reason: e.to_string() })
}

/// The `Message-ID` for `key` of `org`: `<32 hex digits@sender-domain>`,
/// the same every time for the same org and key.
pub fn message_id(org: &str, key: &str, sender_domain: &str) -> String {
    let digest = Sha256::new().chain_update(org.as_bytes()).chain_update([0]).chain_update(key.as_bytes()).finalize();
    format!("<{}@{sender_domain}>", hex(&digest[..16]))
}

/// Build the message for `email` from `from`, with its [`Sent`] record.
/// Every address is checked; a bad one is `rejected`, naming it.
pub fn compose(from: &Mailbox, org: &str, key: &str, email: &Email) -> Result<(Message, Sent), MailError> {
    if email.to.is_empty() {
        return Err(MailError::Rejected(
            "the email has no recipient; the case's contact needs an email address".into(),
        ));
    }
    let id = message_id(org, key, from.email.domain());
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(one_line(&email.subject))
        .message_id(Some(id.clone()))
        .header(ContentType::TEXT_PLAIN)
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-replied".into()));
    for to in &email.to {
        builder = builder.to(recipient(to, "recipient")?);
    }
    for cc in &email.cc {
        builder = builder.cc(recipient(cc, "copy recipient")?);
    }
    if let Some(original) = email.in_reply_to.as_deref().map(str::trim).filter(|id| !id.is_empty()) {
        let original = thread_id(original)?;
        builder = builder.in_reply_to(original.clone()).references(original);
    }
    let message = builder
        .body(email.text_body.clone())
        .map_err(|e| MailError::Rejected(format!("the email cannot be built: {e}")))?;
    Ok((message, Sent { from_address: from.email.to_string(), message_id: id }))
}

/// A recipient, bare (`jane@example.com`) or named (`Jane <jane@example.com>`).
fn recipient(address: &str, role: &str) -> Result<Mailbox, MailError> {
    let address = address.trim();
    let parsed = if address.contains('<') {
        Mailbox::from_str(address).map_err(|e| e.to_string())
    } else {
        Address::from_str(address).map(Mailbox::from).map_err(|e| e.to_string())
    };
    // A named mailbox must hold exactly one address (`Mailboxes` catches "a@x, b@y").
    let single = parsed.and_then(|mailbox| match Mailboxes::from_str(address).map(|all| all.iter().count()) {
        Ok(1) | Err(_) => Ok(mailbox),
        Ok(n) => Err(format!("it holds {n} addresses")),
    });
    single.map_err(|reason| {
        MailError::Rejected(format!(
            "the {role} address {address:?} is not a valid email address ({reason}); correct it on the case's contact"
        ))
    })
}

/// `abc@host` or `<abc@host>` as `<abc@host>`; anything that could break the
/// header (spaces, line breaks, brackets inside) is rejected.
fn thread_id(id: &str) -> Result<String, MailError> {
    let inner = id.strip_prefix('<').and_then(|rest| rest.strip_suffix('>')).unwrap_or(id);
    if inner.is_empty() || inner.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>')) {
        return Err(MailError::Rejected(format!("in-reply-to {id:?} is not a Message-ID like <id@host>")));
    }
    Ok(format!("<{inner}>"))
}

/// A subject on one line: line breaks would end the header.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n']).map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(" ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_per_org_and_key() {
        let a = message_id("acme", "case-1/reply-1", "acme.example");
        assert_eq!(a, message_id("acme", "case-1/reply-1", "acme.example"));
        assert_ne!(a, message_id("acme", "case-1/reply-2", "acme.example"));
        assert_ne!(a, message_id("globex", "case-1/reply-1", "acme.example"));
        assert!(a.starts_with('<') && a.ends_with("@acme.example>") && a.len() == 1 + 32 + 1 + 12 + 1);
    }

    #[test]
    fn thread_ids_get_brackets_and_reject_header_breaks() {
        assert_eq!(thread_id("abc@host").ok(), Some("<abc@host>".to_string()));
        assert_eq!(thread_id("<abc@host>").ok(), Some("<abc@host>".to_string()));
        assert!(thread_id("<abc@host>\r\nBcc: evil@x").is_err());
    }

    #[test]
    fn subjects_are_kept_on_one_line() {
        assert_eq!(one_line("Re: help\r\nBcc: x@y"), "Re: help Bcc: x@y");
    }
}
