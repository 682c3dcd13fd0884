//! The outbox mailer: each email becomes an RFC 5322 `.eml` file in a folder,
//! one sub-folder per org. Nothing leaves the machine; open the files in any
//! mail client, or hand the folder to a relay.
//!
//! The file is the record of the send: its name comes from the idempotency
//! key, so sending a key whose file exists returns the `From` and
//! `Message-ID` read back from it and writes nothing, across restarts. Files
//! are written to a temporary name, flushed to disk, then linked into place
//! without overwriting, so a crash never leaves half an email behind a name,
//! and two concurrent sends of one key produce one file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox;
use sha2::{Digest, Sha256};

use super::{MailConfigError, compose, hex, parse_sender};
use crate::runtime::Mailer;
use crate::runtime::bindings::mail::{Email, MailError, Sent};

/// The longest readable part of a file or folder name; the hash suffix keeps
/// names unique, and the total stays far below file-system limits (255 bytes).
const MAX_NAME_CHARS: usize = 80;

/// Writes emails as `.eml` files.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl OutboxMailer {
    /// An outbox in `dir` (created if missing), sending as `from`
    /// (`support@example.com` or `Support <support@example.com>`).
    pub fn new(dir: impl Into<PathBuf>, from: &str) -> Result<Self, MailConfigError> {
        let dir = dir.into();
        let from = parse_sender(from)?;
        std::fs::create_dir_all(&dir).map_err(|source| MailConfigError::Outbox { dir: dir.clone(), source })?;
        Ok(OutboxMailer { dir, from })
    }

    /// The file that holds (or will hold) the email sent under `key` for `org`:
    /// `<dir>/<org>/<key>.eml`, each name made file-system safe.
    pub fn path_for(&self, org: &str, key: &str) -> PathBuf {
        self.dir.join(safe_name(org)).join(format!("{}.eml", safe_name(key)))
    }
}

#[async_trait::async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, org: &str, idempotency_key: &str, email: Email) -> Result<Sent, MailError> {
        let path = self.path_for(org, idempotency_key);
        let (from, org, key) = (self.from.clone(), org.to_string(), idempotency_key.to_string());
        // File-system work runs off the async workers.
        tokio::task::spawn_blocking(move || {
            if path.exists() {
                return read_sent(&path);
            }
            let (message, sent) = compose(&from, &org, &key, &email)?;
            if write_once(&path, &message.formatted())? {
                tracing::info!(org, key, message_id = %sent.message_id, path = %path.display(), "email written to the outbox");
                Ok(sent)
            } else {
                // Another send of the same key got there first: its file is the record.
                read_sent(&path)
            }
        })
        .await
        .map_err(|e| MailError::Unavailable(format!("the outbox writer stopped: {e}")))?
    }
}

/// Write `bytes` to `path` unless it exists; `Ok(false)` when it did.
fn write_once(path: &Path, bytes: &[u8]) -> Result<bool, MailError> {
    let unavailable = |what: &str, e: std::io::Error| {
        MailError::Unavailable(format!(
            "cannot {what} {}: {e}; check the outbox folder's permissions and free space",
            path.display()
        ))
    };
    let dir = path.parent().ok_or_else(|| MailError::Unavailable(format!("{} has no folder", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| unavailable("create the folder of", e))?;
    let mut file = tempfile::Builder::new()
        .prefix(".sending-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| unavailable("create a temporary file next to", e))?;
    file.write_all(bytes).map_err(|e| unavailable("write", e))?;
    file.as_file().sync_all().map_err(|e| unavailable("flush", e))?;
    match file.persist_noclobber(path) {
        Ok(_) => Ok(true),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(unavailable("move into place", e.error)),
    }
}

/// The `Sent` record of an email already in the outbox.
fn read_sent(path: &Path) -> Result<Sent, MailError> {
    let bytes = std::fs::read(path)
        .map_err(|e| MailError::Unavailable(format!("cannot read the sent email {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    let header = |name: &str| header_value(&text, name).filter(|value| !value.is_empty());
    let broken = |what: &str| {
        MailError::Unavailable(format!(
            "the sent email {} has no {what} header; it was not written by casebridge or is damaged — inspect it, then move it away to send again",
            path.display()
        ))
    };
    let from = header("From").ok_or_else(|| broken("From"))?;
    let message_id = header("Message-ID").ok_or_else(|| broken("Message-ID"))?;
    let from_address = match (from.rfind('<'), from.rfind('>')) {
        (Some(open), Some(close)) if open < close => from[open + 1..close].to_string(),
        _ => from,
    };
    Ok(Sent { from_address, message_id })
}

/// The unfolded value of the first header called `name` (case-insensitive) in
/// the header block of `message`.
fn header_value(message: &str, name: &str) -> Option<String> {
    let mut lines = message.lines().take_while(|line| !line.is_empty()).peekable();
    while let Some(line) = lines.next() {
        let Some((field, value)) = line.split_once(':') else { continue };
        if field.eq_ignore_ascii_case(name) {
            let mut value = value.trim().to_string();
            while let Some(next) = lines.next_if(|next| next.starts_with([' ', '\t'])) {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(next.trim());
            }
            return Some(value);
        }
    }
    None
}

/// `text` as a safe file name: letters, digits, `-`, `_` and inner dots kept,
/// anything else `_`, cut to [`MAX_NAME_CHARS`], then `-` and 16 hex digits of
/// its SHA-256, so two keys that clean up alike still get their own file.
fn safe_name(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim_matches('.');
    let digest = Sha256::digest(text.as_bytes());
    format!("{}-{}", if cleaned.is_empty() { "key" } else { cleaned }, hex(&digest[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_distinct() {
        let a = safe_name("../case 1/reply:1");
        assert!(!a.contains('/') && !a.starts_with('.') && a.starts_with("_case_1_reply_1-"), "{a}");
        assert_ne!(safe_name("a/b"), safe_name("a:b"));
        assert!(safe_name(&"x".repeat(500)).len() <= MAX_NAME_CHARS + 17);
    }

    #[test]
    fn folded_headers_are_unfolded() {
        let message = "Subject: a\r\nMessage-ID:\r\n <id@host>\r\nFrom: x@y\r\n\r\nMessage-ID: <body@host>";
        assert_eq!(header_value(message, "message-id").as_deref(), Some("<id@host>"));
        assert_eq!(header_value(message, "Bcc"), None);
    }
}
