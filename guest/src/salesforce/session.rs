//! The Salesforce session kept between cycles, sealed before it is stored.
//!
//! An access token is good for the org's session lifetime (two hours by
//! default), so the connector keeps it and asks for a new one only when
//! Salesforce answers 401, instead of once per cycle. The host's store must
//! never hold it in plain text: it is sealed with XChaCha20-Poly1305 under a
//! key derived (HKDF-SHA256) from the org's connected-app credentials, which
//! the host itself keeps encrypted. Whoever reads the database without the
//! host's key cannot open it; new credentials (a reconnect) make the old
//! session unreadable, so it is dropped and a fresh token requested.
//!
//! The nonce is synthetic (an HMAC of the plaintext under a second derived
//! key, as in SIV): no randomness is needed, and the same session always
//! seals to the same text, which reveals nothing but equality.
//!
//! ```
//! use casebridge_guest::model::Credentials;
//! use casebridge_guest::salesforce::client::Session;
//! use casebridge_guest::salesforce::session::{open, seal};
//! let credentials = Credentials { client_id: "app".into(), client_secret: "s3cret".into(), refresh_token: "5Aep".into() };
//! let session = Session { access_token: "00D!AQ…".into(), instance_url: "https://acme.my.salesforce.com".into(), identity_user_id: None };
//! let sealed = seal(&session, &credentials);
//! assert!(!sealed.contains("00D!AQ"));
//! assert_eq!(open(&sealed, &credentials), Some(session));
//! ```

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::client::Session;
use crate::model::Credentials;

/// Binds the ciphertext to its purpose and format version.
const CONTEXT: &[u8] = b"casebridge:salesforce-session:v1";
const NONCE_BYTES: usize = 24;

struct Keys {
    encrypt: [u8; 32],
    nonce: [u8; 32],
}

fn keys(credentials: &Credentials) -> Keys {
    let mut secret = Vec::new();
    for part in [&credentials.client_id, &credentials.client_secret, &credentials.refresh_token] {
        secret.extend_from_slice(part.trim().as_bytes());
        secret.push(0);
    }
    let hkdf = hkdf::Hkdf::<Sha256>::new(Some(CONTEXT), &secret);
    let mut keys = Keys { encrypt: [0; 32], nonce: [0; 32] };
    // 32-byte outputs are far below HKDF-SHA256's limit: expand cannot fail.
    let _ = hkdf.expand(b"encrypt", &mut keys.encrypt);
    let _ = hkdf.expand(b"nonce", &mut keys.nonce);
    keys
}

/// The session sealed for the store, as hex text.
pub fn seal(session: &Session, credentials: &Credentials) -> String {
    let keys = keys(credentials);
    let plaintext = serde_json::to_vec(session).unwrap_or_default();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&keys.nonce).expect("HMAC takes any key length");
    mac.update(&plaintext);
    let tag = mac.finalize().into_bytes();
    let Ok(nonce) = XNonce::try_from(&tag[..NONCE_BYTES]) else { return String::new() };
    let cipher = XChaCha20Poly1305::new((&keys.encrypt).into());
    // Encryption fails only for inputs of gigabytes; a session is a few hundred bytes.
    let ciphertext = cipher.encrypt(&nonce, Payload { msg: &plaintext, aad: CONTEXT }).unwrap_or_default();
    let mut sealed = String::with_capacity(2 * (NONCE_BYTES + ciphertext.len()));
    for byte in nonce.iter().chain(&ciphertext) {
        sealed.push_str(&format!("{byte:02x}"));
    }
    sealed
}

/// The session, if `sealed` was sealed with these credentials and is intact.
pub fn open(sealed: &str, credentials: &Credentials) -> Option<Session> {
    let bytes = decode_hex(sealed.trim())?;
    if bytes.len() <= NONCE_BYTES {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
    let keys = keys(credentials);
    let cipher = XChaCha20Poly1305::new((&keys.encrypt).into());
    let nonce = XNonce::try_from(nonce).ok()?;
    let plaintext = cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: CONTEXT }).ok()?;
    serde_json::from_slice(&plaintext).ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(secret: &str) -> Credentials {
        Credentials { client_id: "app".into(), client_secret: secret.into(), refresh_token: "refresh".into() }
    }

    fn session() -> Session {
        Session {
            access_token: "00Dxx0000001gPL!AR8AQJXg".into(),
            instance_url: "https://acme.my.salesforce.com".into(),
            identity_user_id: Some("005000000000001AAA".into()),
        }
    }

    #[test]
    fn a_sealed_session_holds_no_token_in_plain_text() {
        let sealed = seal(&session(), &credentials("s"));
        assert!(!sealed.contains("00Dxx0000001gPL"));
        assert!(!sealed.contains("acme"));
        assert_eq!(open(&sealed, &credentials("s")), Some(session()));
    }

    #[test]
    fn other_credentials_or_a_damaged_seal_open_nothing() {
        let sealed = seal(&session(), &credentials("s"));
        assert_eq!(open(&sealed, &credentials("t")), None);
        let mut damaged = sealed.clone().into_bytes();
        let last = damaged.len() - 1;
        damaged[last] = if damaged[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(open(std::str::from_utf8(&damaged).unwrap(), &credentials("s")), None);
        assert_eq!(open("not hex", &credentials("s")), None);
        assert_eq!(open("", &credentials("s")), None);
    }
}
