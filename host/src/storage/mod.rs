//! The host's durable state: the connector's key-value store (the WIT `store`
//! interface, namespaced by org) and the host's own tables beside it — each
//! org's schedule and status, its encrypted secrets, the cycle log and the
//! record of sent mail — and each org's lease ([`lease`]), which keeps one
//! cycle per org across every process on the database.
//!
//! ```no_run
//! # fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use casebridge::runtime::BlockingKeyValueStore;
//! use casebridge::storage::SqliteStore;
//!
//! let store = Arc::new(SqliteStore::open("casebridge.db")?);
//! // The runtime gives each instance `Arc<dyn KeyValueStore>`; the scheduler
//! // and the CLI use the host tables through the same handle.
//! assert_eq!(store.get("acme", "watermark")?, None);
//! let status = store.org_status("acme")?;
//! # let _ = status; Ok(()) }
//! ```
//!
//! SQLite is the default backend: one file, WAL journal, every commit synced
//! to disk before it returns (see [`SqliteStore`]). The connector only sees
//! the three calls of [`KeyValueStore`](crate::runtime::BlockingKeyValueStore), small
//! enough for a server-grade backend to implement later.

pub mod console;
pub mod descriptions;
pub mod lease;
pub mod messenger;
pub mod platform;
pub mod postgres;
mod schema;
pub mod sqlite;
mod store;

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

pub use lease::{
    Acquisition, Fence, HTTP_LEASE_MARGIN, Holder, LEASE_RENEW_EVERY, LEASE_TTL, Lease, LeaseState, Leases, renew_every,
};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub(crate) use sqlite::lock;
pub use store::Store;

/// The longest key the store accepts, in bytes. Connector keys are short
/// paths (`case/500…/state`); a longer key is a bug in the connector, and a
/// bound keeps the primary-key index compact.
pub const MAX_KEY_BYTES: usize = 1024;

/// The largest value the store accepts, in bytes. The connector keeps one
/// JSON document per case or setting; 8 MiB is far above any of them while
/// well below the guest's 64 MiB memory, so a runaway value fails here with
/// a named limit instead of exhausting the guest.
pub const MAX_VALUE_BYTES: usize = 8 << 20;

/// The most a single `scan` returns, in bytes of keys and values. A scan
/// that large would not fit the guest's memory beside its own work; failing
/// with a named limit tells the connector to scan a narrower prefix.
pub const MAX_SCAN_BYTES: usize = 32 << 20;

/// Cycles kept per org in the cycle log when nothing else is configured: a
/// little under two hours of one-minute cycles, enough to see a recent
/// failure pattern, while thousands of orgs keep the file small.
pub const DEFAULT_CYCLE_LOG_PER_ORG: u32 = 100;

/// Why the host's storage failed. Every variant names the database file.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file could not be created.
    #[error("cannot create the database {path}: {source}; check that its folder exists and is writable by casebridge")]
    Create { path: PathBuf, source: std::io::Error },
    /// The file could not be opened.
    #[error("cannot open the database {path}: {source}; check that its folder exists and is writable by casebridge")]
    Open { path: PathBuf, source: rusqlite::Error },
    /// Another connection held the write lock longer than the busy timeout.
    #[error(
        "the database {path} is locked by another casebridge process; stop the other process, or set [host] database to a different file"
    )]
    Locked { path: PathBuf },
    /// The file is an SQLite database with damaged pages; nothing was written to it.
    #[error(
        "the database {path} is damaged ({detail}); casebridge has not changed it. Stop every casebridge process using it, then restore it from a backup (replace the file and delete its -wal and -shm files beside it), or move it away to start afresh (the orgs' state and stored secrets are then lost)"
    )]
    Damaged { path: PathBuf, detail: String },
    /// The file is not an SQLite database (or is damaged beyond reading).
    #[error(
        "{path} is not a casebridge database or is damaged; point [host] database at the right file, or restore it from a backup"
    )]
    NotADatabase { path: PathBuf },
    /// The disk holding the file is full.
    #[error("the disk holding the database {path} is full; free some space, casebridge retries on the next cycle")]
    DiskFull { path: PathBuf },
    /// The file was written by a newer casebridge with a schema this one does not know.
    #[error(
        "the database {path} has schema version {found}, but this casebridge knows only up to {supported}; run the newer casebridge that wrote it, or restore a backup"
    )]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },
    /// Bringing the schema up to date failed; nothing of the failed step was applied.
    #[error("cannot upgrade the database {path} to schema version {version}: {source}")]
    Migration { path: PathBuf, version: i64, source: rusqlite::Error },
    /// A stored row holds a value this casebridge cannot read.
    #[error("the database {path} holds an unreadable {what}; it was changed outside casebridge or is damaged")]
    Corrupt { path: PathBuf, what: String },
    /// Any other SQLite failure, with the operation that failed.
    #[error("the database {path} failed to {operation}: {source}")]
    Sqlite { path: PathBuf, operation: &'static str, source: rusqlite::Error },
    /// The PostgreSQL server cannot be reached (or dropped the connection).
    /// `url` never holds the password.
    #[error(
        "cannot reach the PostgreSQL database {url} to {operation}: {detail}; check that the server runs and that [host] database names its host, port, user and database (the password comes from the URL or PGPASSWORD); casebridge retries on the next cycle"
    )]
    PostgresUnreachable { url: String, operation: &'static str, detail: String },
    /// `[host] database` is a `postgres://` URL that cannot be used.
    #[error(
        "[host] database is not a usable PostgreSQL URL ({url}): {detail}; write it as postgres://USER@HOST:PORT/DATABASE"
    )]
    PostgresUrl { url: String, detail: String },
    /// Bringing the PostgreSQL schema up to date failed; nothing of the failed step was applied.
    #[error("cannot upgrade the PostgreSQL database {url} to schema version {version}: {source}")]
    PostgresMigration { url: String, version: i64, source: tokio_postgres::Error },
    /// Any other PostgreSQL failure, with the operation that failed.
    #[error("the PostgreSQL database {url} failed to {operation}: {source}")]
    Postgres { url: String, operation: &'static str, source: tokio_postgres::Error },
}

impl StorageError {
    /// Classifies an SQLite error into the variants a user can act on.
    pub(crate) fn from_sqlite(path: &Path, operation: &'static str, source: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let path = path.to_path_buf();
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StorageError::Locked { path },
            Some(ErrorCode::NotADatabase) => StorageError::NotADatabase { path },
            Some(ErrorCode::DatabaseCorrupt) => StorageError::Damaged { path, detail: source.to_string() },
            Some(ErrorCode::DiskFull) => StorageError::DiskFull { path },
            _ => StorageError::Sqlite { path, operation, source },
        }
    }
}

impl StorageError {
    /// Classifies a PostgreSQL error: a lost or refused connection, a full
    /// disk, or a failed statement.
    pub(crate) fn from_postgres(url: &str, operation: &'static str, source: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        let url = url.to_string();
        match source.code() {
            Some(code) if *code == SqlState::DISK_FULL => StorageError::DiskFull { path: url.into() },
            Some(code) if code.code().starts_with("08") || code.code().starts_with("57P") => {
                StorageError::PostgresUnreachable { url, operation, detail: source.to_string() }
            }
            None if source.is_closed()
                || std::error::Error::source(&source).is_some_and(|cause| cause.is::<std::io::Error>()) =>
            {
                let detail = std::error::Error::source(&source).map_or_else(|| source.to_string(), ToString::to_string);
                StorageError::PostgresUnreachable { url, operation, detail }
            }
            _ => StorageError::Postgres { url, operation, source },
        }
    }
}

/// How a sync cycle ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CycleOutcome {
    /// The cycle ran to its end.
    Ok,
    /// The cycle failed: `kind` is a stable name for the kind of failure
    /// (`host::OrgError::kind`), `message` says why for people (never a secret).
    Error { kind: String, message: String },
}

impl CycleOutcome {
    /// A failure of this kind, for this reason.
    pub fn error(kind: impl Into<String>, message: impl Into<String>) -> Self {
        CycleOutcome::Error { kind: kind.into(), message: message.into() }
    }
}

/// Requests an org's connector sent on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiCalls {
    /// The (UTC) day they count for.
    pub day: NaiveDate,
    /// Salesforce API calls: every request except OAuth token requests.
    pub api: u32,
    /// OAuth token requests (`/services/oauth2/…`), which Salesforce does not
    /// count against the API limit.
    pub token_requests: u32,
}

/// One org's schedule and health, as the scheduler and `casebridge status` see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgStatus {
    /// The org's name (its store namespace).
    pub org: String,
    /// When the last cycle started.
    pub last_cycle_started_at: Option<DateTime<Utc>>,
    /// When the last cycle ended.
    pub last_cycle_finished_at: Option<DateTime<Utc>>,
    /// How the last finished cycle ended.
    pub last_outcome: Option<CycleOutcome>,
    /// Failed cycles in a row since the last successful one (for back-off).
    pub consecutive_failures: u32,
    /// When the scheduler runs the org next.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Salesforce API calls counted on [`api_calls_day`](Self::api_calls_day).
    pub api_calls: u32,
    /// OAuth token requests counted on [`api_calls_day`](Self::api_calls_day).
    pub token_requests: u32,
    /// The (UTC) day `api_calls` counts for; `None` before the first call.
    pub api_calls_day: Option<NaiveDate>,
    /// The newest cycle report (JSON, see `host::report_json`), kept when
    /// later cycles fail.
    pub last_report_json: Option<String>,
    /// When `casebridge org connect` last asked the scheduler to try the org at once.
    pub wake_requested_at: Option<DateTime<Utc>>,
    /// How the org's stream stood at its last step (streaming mode only).
    pub stream: Option<StreamStatus>,
}

/// How a streaming org's Change Data Capture stream stood at its last step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StreamStatus {
    /// `live`, `reconnecting` or `paused` (the contract's `stream-health`).
    pub health: String,
    /// What the stream is doing, in words.
    pub detail: String,
    /// When the step was taken.
    pub at: DateTime<Utc>,
    /// Since when the stream has had this health.
    pub since: DateTime<Utc>,
    /// Change events received since the host started, the connector's own
    /// writes among them (dropped), and those that woke a cycle.
    pub events: u64,
    pub own_writes: u64,
    pub relevant: u64,
}

impl OrgStatus {
    /// The API calls counted on `day` (zero when the stored count is for another day).
    pub fn api_calls_on(&self, day: NaiveDate) -> u32 {
        if self.api_calls_day == Some(day) { self.api_calls } else { 0 }
    }

    /// The token requests counted on `day` (zero when the stored count is for another day).
    pub fn token_requests_on(&self, day: NaiveDate) -> u32 {
        if self.api_calls_day == Some(day) { self.token_requests } else { 0 }
    }
}

/// How a cycle went, for [`SqliteStore::record_cycle`]: everything the host
/// keeps about one cycle, written in one transaction.
#[derive(Debug, Clone)]
pub struct CycleEnd {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub outcome: CycleOutcome,
    /// The connector's cycle report, as JSON, when the cycle produced one.
    pub report_json: Option<String>,
    /// The requests the instance sent, whether the cycle succeeded or not.
    pub calls: ApiCalls,
    /// When the scheduler runs the org next, if it planned that.
    pub next_run_at: Option<DateTime<Utc>>,
}

/// One entry of the cycle log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleRecord {
    /// The org the cycle ran for.
    pub org: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended; `None` only for a cycle an earlier casebridge version
    /// saw start and never finish (see [`SqliteStore::close_interrupted_cycles`]).
    pub finished_at: Option<DateTime<Utc>>,
    /// The connector's cycle report as JSON.
    pub report_json: Option<String>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}
