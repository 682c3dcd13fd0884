//! Who may call: the connected app's keys, refresh tokens and access tokens.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::Rng as _;
use rand::distr::{Alphanumeric, SampleString as _};

/// The connected app clients authenticate as.
#[derive(Debug, Clone)]
pub(crate) struct ConnectedApp {
    pub client_id: String,
    pub client_secret: String,
}

impl ConnectedApp {
    /// Keys shaped like Salesforce's: an 85-character consumer key starting
    /// `3MVG9` and a 64-character hexadecimal secret.
    pub(crate) fn generate() -> Self {
        let mut rng = rand::rng();
        let client_id = format!("3MVG9{}", Alphanumeric.sample_string(&mut rng, 80));
        let client_secret: String = (0..64).map(|_| char::from(b"0123456789ABCDEF"[rng.random_range(0..16)])).collect();
        ConnectedApp { client_id, client_secret }
    }
}

#[derive(Debug, Clone)]
struct Session {
    user_id: String,
    expires_at: DateTime<Utc>,
}

/// Access and refresh tokens. An access token lives `ttl` from issue on the
/// emulator clock (a fixed lifetime rather than Salesforce's idle timeout, so
/// tests can expire it precisely); refresh tokens never expire.
#[derive(Debug)]
pub(crate) struct Sessions {
    /// First 15 characters of the org id: access tokens start with it.
    org_prefix: String,
    ttl: chrono::Duration,
    access: HashMap<String, Session>,
    refresh: HashMap<String, String>,
}

impl Sessions {
    pub(crate) fn new(org_id: &str, ttl: std::time::Duration) -> Self {
        Sessions {
            org_prefix: org_id.chars().take(15).collect(),
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(3650)),
            access: HashMap::new(),
            refresh: HashMap::new(),
        }
    }

    /// A new access token for `user_id`, like `00D5g000000001A!AR…`.
    pub(crate) fn issue(&mut self, user_id: &str, now: DateTime<Utc>) -> String {
        self.access.retain(|_, s| s.expires_at > now);
        let mut rng = rand::rng();
        let secret: String = (0..94)
            .map(|_| {
                char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"[rng.random_range(0..64)])
            })
            .collect();
        let token = format!("{}!AR{secret}", self.org_prefix);
        let expires_at = now.checked_add_signed(self.ttl).unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.access.insert(token.clone(), Session { user_id: user_id.to_string(), expires_at });
        token
    }

    /// A new refresh token for `user_id`.
    pub(crate) fn issue_refresh(&mut self, user_id: &str) -> String {
        let token = format!("5Aep861{}", Alphanumeric.sample_string(&mut rand::rng(), 80));
        self.refresh.insert(token.clone(), user_id.to_string());
        token
    }

    /// The user an access token acts as, if it is known and not expired.
    pub(crate) fn user_for(&self, access_token: &str, now: DateTime<Utc>) -> Option<&str> {
        self.access.get(access_token).filter(|s| s.expires_at > now).map(|s| s.user_id.as_str())
    }

    /// The user a refresh token belongs to.
    pub(crate) fn refresh_user(&self, refresh_token: &str) -> Option<&str> {
        self.refresh.get(refresh_token).map(String::as_str)
    }

    /// Invalidates every access token.
    pub(crate) fn expire_all(&mut self) {
        self.access.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_expire_after_the_ttl() {
        let mut sessions = Sessions::new("00D5g0000000001AAA", std::time::Duration::from_secs(60));
        let t0 = Utc::now();
        let token = sessions.issue("005A", t0);
        assert!(token.starts_with("00D5g0000000001!AR"));
        assert_eq!(sessions.user_for(&token, t0 + chrono::Duration::seconds(59)), Some("005A"));
        assert_eq!(sessions.user_for(&token, t0 + chrono::Duration::seconds(60)), None);
        assert_eq!(sessions.user_for("nope", t0), None);
    }
}
