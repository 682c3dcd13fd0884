//! Org credentials: kept out of logs, encrypted at rest.
//!
//! ```no_run
//! # fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use casebridge::config::Config;
//! use casebridge::secrets::{EncryptionKey, OrgSecret, Secret, SecretVault};
//! use casebridge::storage::Store;
//!
//! let config = Config::load("casebridge.toml")?;
//! let store = Arc::new(Store::open(&config.host.database)?);
//! // A key file is created on first use, never while secrets are stored.
//! let (key, _origin) = EncryptionKey::load(&config.host.key_file, store.has_secrets()?)?;
//! let vault = SecretVault::new(store, key);
//! // `casebridge org connect acme` stores the refresh token it obtained:
//! vault.put("acme", OrgSecret::RefreshToken, &Secret::new("5Aep861…"))?;
//! // A cycle reads the org's credentials: environment first, then the vault.
//! let credentials = vault.credentials(&config.orgs[0])?;
//! println!("{credentials:?}"); // secrets print as ***
//! # Ok(()) }
//! ```
//!
//! A stored secret is sealed with ChaCha20-Poly1305 under a 32-byte key that
//! never enters the database: `CASEBRIDGE_KEY` (base64) or the key file. Each
//! value gets a fresh random 96-bit nonce, and the org and secret name are
//! authenticated with it, so a blob copied to another org or slot does not
//! decrypt. Blob layout: version byte (`1`), nonce (12 bytes), ciphertext with
//! its 16-byte tag.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

use crate::config::OrgConfig;
use crate::storage::{StorageError, Store};

/// The environment variable that holds the encryption key (base64 of 32
/// bytes); it takes precedence over the key file.
pub const KEY_ENV: &str = "CASEBRIDGE_KEY";

/// The blob format this version writes.
const BLOB_VERSION: u8 = 1;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
const KEY_BYTES: usize = 32;

/// A secret value. It prints as `***` ([`Debug`] and [`Display`]), so it can
/// sit in structs that are logged; read it with [`expose`](Self::expose) only
/// where it is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Which credential of an org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgSecret {
    /// The connected app's consumer secret.
    ClientSecret,
    /// The OAuth refresh token.
    RefreshToken,
}

impl OrgSecret {
    /// The name it is stored under.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgSecret::ClientSecret => "client_secret",
            OrgSecret::RefreshToken => "refresh_token",
        }
    }

    /// The `[[org]]` option naming its environment variable.
    pub fn env_option(self) -> &'static str {
        match self {
            OrgSecret::ClientSecret => "client_secret_env",
            OrgSecret::RefreshToken => "refresh_token_env",
        }
    }
}

impl fmt::Display for OrgSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OrgSecret::ClientSecret => "client secret",
            OrgSecret::RefreshToken => "refresh token",
        })
    }
}

/// An org's connected-app credentials, ready for the connector.
#[derive(Debug, Clone)]
pub struct OrgCredentials {
    /// The consumer key (not secret).
    pub client_id: String,
    /// The consumer secret.
    pub client_secret: Secret,
    /// The refresh token.
    pub refresh_token: Secret,
}

/// Why a secret or the key could not be read or stored. No variant carries a
/// secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `CASEBRIDGE_KEY` is set but is not a key.
    #[error(
        "{KEY_ENV} is not a valid key: {reason}; set it to 32 random bytes in base64, e.g. the output of `openssl rand -base64 32`"
    )]
    InvalidEnvKey { reason: String },
    /// The key file exists but does not hold a key.
    #[error(
        "the key file {path} is not a valid key: {reason}; it must hold 32 random bytes in base64. Restore it from your backup (the stored secrets need the same key)"
    )]
    InvalidKeyFile { path: PathBuf, reason: String },
    /// The key file is missing, but the database holds secrets sealed with a key.
    #[error(
        "the key file {path} does not exist, but the database holds secrets sealed with the key it held; restore the file from your backup, or set {KEY_ENV} to that key. casebridge does not create a new key here: the stored secrets could never be read again. If the key is lost for good, set {KEY_ENV} to a new key (`openssl rand -base64 32`) and run `casebridge org connect <org>` for every org"
    )]
    MissingKeyFile { path: PathBuf },
    /// The key file cannot be read.
    #[error("cannot read the key file {path}: {source}; check its permissions, or set {KEY_ENV}")]
    ReadKeyFile { path: PathBuf, source: std::io::Error },
    /// The key file cannot be created.
    #[error(
        "cannot create the key file {path}: {source}; check that its folder exists and is writable, or set {KEY_ENV}"
    )]
    CreateKeyFile { path: PathBuf, source: std::io::Error },
    /// The system's random number generator failed.
    #[error("the operating system's random number generator failed: {reason}")]
    Random { reason: String },
    /// A stored secret did not decrypt: another key, or an altered blob.
    #[error(
        "cannot decrypt the stored {secret} of org {org}: the encryption key is not the one it was stored with, or the stored value was altered. Use the original key ({KEY_ENV} or [host] key_file), or run `casebridge org connect {org}` to store it again"
    )]
    Undecryptable { org: String, secret: OrgSecret },
    /// A stored secret was written in a format this version cannot read.
    #[error(
        "the stored {secret} of org {org} has format version {version}, which this casebridge cannot read; upgrade casebridge"
    )]
    UnsupportedFormat { org: String, secret: OrgSecret, version: u8 },
    /// A stored secret is too short to be a sealed value.
    #[error("the stored {secret} of org {org} is damaged; run `casebridge org connect {org}` to store it again")]
    Damaged { org: String, secret: OrgSecret },
    /// Neither the environment nor the vault has the secret.
    #[error("org {org} has no {secret}: {}", missing_hint(org, *secret, env_var.as_deref()))]
    Missing { org: String, secret: OrgSecret, env_var: Option<String> },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn missing_hint(org: &str, secret: OrgSecret, env_var: Option<&str>) -> String {
    match env_var {
        Some(env_var) => format!("run `casebridge org connect {org}` or set {env_var}"),
        None => format!(
            "run `casebridge org connect {org}`, or set {} in its [[org]] section to an environment variable that holds it",
            secret.env_option()
        ),
    }
}

/// The 32-byte key that seals stored secrets. It prints as `***`.
#[derive(Clone)]
pub struct EncryptionKey([u8; KEY_BYTES]);

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(***)")
    }
}

/// Where [`EncryptionKey::load`] found the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// From `CASEBRIDGE_KEY`.
    Environment,
    /// From the existing key file.
    File(PathBuf),
    /// A new key, written to this file just now: tell the operator to back it up.
    Created(PathBuf),
}

impl EncryptionKey {
    /// A new random key.
    pub fn generate() -> Result<Self, SecretError> {
        let mut key = [0u8; KEY_BYTES];
        fill_random(&mut key)?;
        Ok(EncryptionKey(key))
    }

    /// The key in base64, the format of `CASEBRIDGE_KEY` and the key file.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Reads a key written in base64 (surrounding whitespace is ignored).
    /// The error says what is wrong, never the text itself.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = BASE64.decode(text.trim()).map_err(|_| "it is not base64".to_string())?;
        let key: [u8; KEY_BYTES] = bytes
            .try_into()
            .map_err(|bytes: Vec<u8>| format!("it decodes to {} bytes, not {KEY_BYTES}", bytes.len()))?;
        Ok(EncryptionKey(key))
    }

    /// The host's key: `CASEBRIDGE_KEY` if set, else the key file. The file
    /// is created (owner-only, random key) when it does not exist yet — but
    /// only while no secrets are stored (`secrets_stored`): a missing key file
    /// beside sealed secrets is an error ([`SecretError::MissingKeyFile`]),
    /// never silently replaced by a key that cannot open them.
    pub fn load(key_file: &Path, secrets_stored: bool) -> Result<(Self, KeyOrigin), SecretError> {
        match std::env::var(KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => {
                let key = EncryptionKey::from_base64(&text).map_err(|reason| SecretError::InvalidEnvKey { reason })?;
                Ok((key, KeyOrigin::Environment))
            }
            _ if secrets_stored => EncryptionKey::load_file(key_file),
            _ => EncryptionKey::load_or_create_file(key_file),
        }
    }

    /// The key in `path`, which must exist.
    pub fn load_file(path: &Path) -> Result<(Self, KeyOrigin), SecretError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                warn_if_readable_by_others(path);
                let key = EncryptionKey::from_base64(&text)
                    .map_err(|reason| SecretError::InvalidKeyFile { path: path.to_path_buf(), reason })?;
                Ok((key, KeyOrigin::File(path.to_path_buf())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(SecretError::MissingKeyFile { path: path.to_path_buf() })
            }
            Err(source) => Err(SecretError::ReadKeyFile { path: path.to_path_buf(), source }),
        }
    }

    /// The key in `path`, or a new one written there (mode 0600) when the
    /// file does not exist.
    pub fn load_or_create_file(path: &Path) -> Result<(Self, KeyOrigin), SecretError> {
        match EncryptionKey::load_file(path) {
            Err(SecretError::MissingKeyFile { .. }) => {
                let key = EncryptionKey::generate()?;
                match key.write_new_file(path) {
                    Ok(()) => {
                        tracing::warn!(
                            path = %path.display(),
                            "created a new encryption key for stored secrets; back this file up: without it the stored secrets cannot be read"
                        );
                        Ok((key, KeyOrigin::Created(path.to_path_buf())))
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => EncryptionKey::load_or_create_file(path),
                    Err(source) => Err(SecretError::CreateKeyFile { path: path.to_path_buf(), source }),
                }
            }
            other => other,
        }
    }

    fn write_new_file(&self, path: &Path) -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        writeln!(file, "{}", self.to_base64())?;
        file.sync_all()
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&self.0.into())
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "the key file can be read by other users; restrict it with `chmod 600 {}`",
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn fill_random(bytes: &mut [u8]) -> Result<(), SecretError> {
    getrandom::fill(bytes).map_err(|e| SecretError::Random { reason: e.to_string() })
}

/// The associated data a secret is sealed with: which org and which secret,
/// length-prefixed so no two (org, name) pairs give the same bytes.
fn associated_data(org: &str, secret: OrgSecret) -> Vec<u8> {
    let mut aad = b"casebridge secret v1".to_vec();
    for part in [org, secret.as_str()] {
        aad.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

/// Encrypts `value` for `org`'s `secret` into a versioned blob.
fn seal(key: &EncryptionKey, org: &str, secret: OrgSecret, value: &Secret) -> Result<Vec<u8>, SecretError> {
    let mut nonce = [0u8; NONCE_BYTES];
    fill_random(&mut nonce)?;
    let aad = associated_data(org, secret);
    let ciphertext = key
        .cipher()
        .encrypt(&Nonce::from(nonce), Payload { msg: value.expose().as_bytes(), aad: &aad })
        // Only inputs beyond 256 GiB fail to encrypt.
        .map_err(|_| SecretError::Damaged { org: org.to_string(), secret })?;
    let mut blob = Vec::with_capacity(1 + NONCE_BYTES + ciphertext.len());
    blob.push(BLOB_VERSION);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ciphertext);
    Ok(blob)
}

/// Decrypts a blob written by [`seal`] for the same org and secret.
fn open(key: &EncryptionKey, org: &str, secret: OrgSecret, blob: &[u8]) -> Result<Secret, SecretError> {
    let (&version, rest) = blob.split_first().ok_or_else(|| SecretError::Damaged { org: org.to_string(), secret })?;
    if version != BLOB_VERSION {
        return Err(SecretError::UnsupportedFormat { org: org.to_string(), secret, version });
    }
    if rest.len() < NONCE_BYTES + TAG_BYTES {
        return Err(SecretError::Damaged { org: org.to_string(), secret });
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] =
        nonce.try_into().map_err(|_| SecretError::Damaged { org: org.to_string(), secret })?;
    let aad = associated_data(org, secret);
    let plaintext = key
        .cipher()
        .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: &aad })
        .map_err(|_| SecretError::Undecryptable { org: org.to_string(), secret })?;
    String::from_utf8(plaintext).map(Secret).map_err(|_| SecretError::Damaged { org: org.to_string(), secret })
}

/// Org secrets, encrypted in the database's `org_secrets` table.
#[derive(Debug, Clone)]
pub struct SecretVault {
    store: Arc<Store>,
    key: EncryptionKey,
}

impl SecretVault {
    /// A vault over `store`'s secrets, sealed with `key`.
    pub fn new(store: Arc<Store>, key: EncryptionKey) -> Self {
        SecretVault { store, key }
    }

    /// Stores (or replaces) one of `org`'s secrets.
    pub fn put(&self, org: &str, secret: OrgSecret, value: &Secret) -> Result<(), SecretError> {
        let blob = seal(&self.key, org, secret, value)?;
        Ok(self.store.put_secret_blob(org, secret.as_str(), &blob)?)
    }

    /// One of `org`'s stored secrets; `None` when none is stored.
    pub fn get(&self, org: &str, secret: OrgSecret) -> Result<Option<Secret>, SecretError> {
        match self.store.secret_blob(org, secret.as_str())? {
            Some(blob) => open(&self.key, org, secret, &blob).map(Some),
            None => Ok(None),
        }
    }

    /// Removes one of `org`'s stored secrets; `true` if one was stored.
    pub fn delete(&self, org: &str, secret: OrgSecret) -> Result<bool, SecretError> {
        Ok(self.store.delete_secret(org, secret.as_str())?)
    }

    /// The org's credentials from the process environment and the vault
    /// (see [`credentials_with_env`](Self::credentials_with_env)).
    pub fn credentials(&self, org: &OrgConfig) -> Result<OrgCredentials, SecretError> {
        self.credentials_with_env(org, |name| std::env::var(name).ok())
    }

    /// The org's credentials. Each secret comes from the environment variable
    /// the configuration names, when it is set and not empty; else from the
    /// vault; else the error says how to provide it. `env` reads a variable.
    pub fn credentials_with_env(
        &self,
        org: &OrgConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<OrgCredentials, SecretError> {
        let resolve = |secret: OrgSecret, env_var: &Option<String>| -> Result<Secret, SecretError> {
            if let Some(value) = env_var.as_deref().and_then(&env).filter(|value| !value.is_empty()) {
                return Ok(Secret(value));
            }
            self.get(&org.name, secret)?.ok_or_else(|| SecretError::Missing {
                org: org.name.clone(),
                secret,
                env_var: env_var.clone(),
            })
        };
        Ok(OrgCredentials {
            client_id: org.client_id.clone(),
            client_secret: resolve(OrgSecret::ClientSecret, &org.client_secret_env)?,
            refresh_token: resolve(OrgSecret::RefreshToken, &org.refresh_token_env)?,
        })
    }
}
