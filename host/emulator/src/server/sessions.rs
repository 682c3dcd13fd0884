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
    /// Where the web-server flow may send the browser back to, exactly.
    pub callback_urls: Vec<String>,
}

/// The callback URLs a new emulated org's app has: casebridge's own, on its
/// default API address (the admin API changes them).
pub const DEFAULT_CALLBACK_URLS: [&str; 2] =
    ["http://127.0.0.1:8710/oauth/callback", "http://localhost:8710/oauth/callback"];

impl ConnectedApp {
    /// Keys shaped like Salesforce's: an 85-character consumer key starting
    /// `3MVG9` and a 64-character hexadecimal secret.
    pub(crate) fn generate() -> Self {
        let mut rng = rand::rng();
        let client_id = format!("3MVG9{}", Alphanumeric.sample_string(&mut rng, 80));
        let client_secret: String = (0..64).map(|_| char::from(b"0123456789ABCDEF"[rng.random_range(0..16)])).collect();
        let callback_urls = DEFAULT_CALLBACK_URLS.map(str::to_string).to_vec();
        ConnectedApp { client_id, client_secret, callback_urls }
    }
}

#[derive(Debug, Clone)]
struct Session {
    user_id: String,
    expires_at: DateTime<Utc>,
    /// The refresh token it was issued from: revoking that revokes it.
    refresh_token: Option<String>,
}

/// What an authorization code was issued for.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub user_id: String,
    pub redirect_uri: String,
    /// The base64url SHA-256 the code verifier must hash to.
    pub code_challenge: String,
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
    codes: HashMap<String, (CodeGrant, DateTime<Utc>)>,
}

impl Sessions {
    pub(crate) fn new(org_id: &str, ttl: std::time::Duration) -> Self {
        Sessions {
            org_prefix: org_id.chars().take(15).collect(),
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(3650)),
            access: HashMap::new(),
            refresh: HashMap::new(),
            codes: HashMap::new(),
        }
    }

    /// A new access token for `user_id`, like `00D5g000000001A!AR…`, issued
    /// from `refresh_token` if any.
    pub(crate) fn issue(&mut self, user_id: &str, refresh_token: Option<&str>, now: DateTime<Utc>) -> String {
        self.access.retain(|_, s| s.expires_at > now);
        let mut rng = rand::rng();
        let secret: String = (0..94)
            .map(|_| {
                char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"[rng.random_range(0..64)])
            })
            .collect();
        let token = format!("{}!AR{secret}", self.org_prefix);
        let expires_at = now.checked_add_signed(self.ttl).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let refresh_token = refresh_token.map(str::to_string);
        self.access.insert(token.clone(), Session { user_id: user_id.to_string(), expires_at, refresh_token });
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

    /// A new authorization code (good once, until `expires_at`), URL-safe
    /// and shaped like Salesforce's `aPrx…`.
    pub(crate) fn issue_code(&mut self, grant: CodeGrant, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
        self.codes.retain(|_, (_, expires)| *expires > now);
        let code = format!("aPrx{}", Alphanumeric.sample_string(&mut rand::rng(), 60));
        self.codes.insert(code.clone(), (grant, expires_at));
        code
    }

    /// Spends a code: what it was issued for, unless unknown, spent or expired.
    pub(crate) fn redeem_code(&mut self, code: &str, now: DateTime<Utc>) -> Option<CodeGrant> {
        self.codes.remove(code).filter(|(_, expires)| *expires > now).map(|(grant, _)| grant)
    }

    /// Revokes a refresh token with the access tokens issued from it, or one
    /// access token; false if it is neither.
    pub(crate) fn revoke(&mut self, token: &str) -> bool {
        if self.refresh.remove(token).is_some() {
            self.access.retain(|_, session| session.refresh_token.as_deref() != Some(token));
            return true;
        }
        self.access.remove(token).is_some()
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
        let token = sessions.issue("005A", None, t0);
        assert!(token.starts_with("00D5g0000000001!AR"));
        assert_eq!(sessions.user_for(&token, t0 + chrono::Duration::seconds(59)), Some("005A"));
        assert_eq!(sessions.user_for(&token, t0 + chrono::Duration::seconds(60)), None);
        assert_eq!(sessions.user_for("nope", t0), None);
    }

    #[test]
    fn revoking_a_refresh_token_revokes_its_access_tokens_only() {
        let mut sessions = Sessions::new("00D5g0000000001AAA", std::time::Duration::from_secs(60));
        let t0 = Utc::now();
        let refresh = sessions.issue_refresh("005A");
        let from_refresh = sessions.issue("005A", Some(&refresh), t0);
        let other = sessions.issue("005A", None, t0);
        assert!(sessions.revoke(&refresh));
        assert_eq!(sessions.refresh_user(&refresh), None);
        assert_eq!(sessions.user_for(&from_refresh, t0), None);
        assert_eq!(sessions.user_for(&other, t0), Some("005A"));
        assert!(!sessions.revoke(&refresh), "a revoked token is unknown");
    }

    #[test]
    fn a_code_is_good_once_and_not_after_it_expires() {
        let mut sessions = Sessions::new("00D5g0000000001AAA", std::time::Duration::from_secs(60));
        let t0 = Utc::now();
        let grant =
            CodeGrant { user_id: "005A".into(), redirect_uri: "http://x/cb".into(), code_challenge: "c".into() };
        let code = sessions.issue_code(grant.clone(), t0 + chrono::Duration::minutes(15), t0);
        assert_eq!(sessions.redeem_code(&code, t0).map(|g| g.user_id), Some("005A".into()));
        assert!(sessions.redeem_code(&code, t0).is_none(), "spent");
        let late = sessions.issue_code(grant, t0 + chrono::Duration::minutes(15), t0);
        assert!(sessions.redeem_code(&late, t0 + chrono::Duration::minutes(15)).is_none(), "expired");
    }
}
