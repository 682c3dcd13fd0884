//! The SQLite backend: one file holds the connector's key-value store, the
//! host's tables and the orgs' leases.
//!
//! ```no_run
//! # fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use casebridge::runtime::BlockingKeyValueStore;
//! use casebridge::runtime::bindings::store::{Entry, Expectation, Write};
//! use casebridge::storage::SqliteStore;
//!
//! let store = SqliteStore::open("casebridge.db")?;
//! // Compare-and-swap: set the watermark only if nobody moved it meanwhile
//! // (no lease: `None`; a connector instance passes its fence).
//! store.commit(
//!     "acme",
//!     None,
//!     &[Expectation { key: "watermark".into(), value: None }],
//!     &[Write::Put(Entry { key: "watermark".into(), value: "2025-01-01T00:00:00Z".into() })],
//! )?;
//! # Ok(()) }
//! ```
//!
//! Durability: WAL journal with `synchronous = FULL`, so a connector commit
//! that returned is on disk even after a power cut. The connector commits
//! "this reply was posted" right after posting it to Salesforce; losing that
//! commit (which `NORMAL` allows on power loss) would post the reply again
//! after the restart (E1). One fsync per commit is cheap next to a Salesforce
//! round trip. The host's own bookkeeping (the cycle log, counters, leases)
//! commits with `NORMAL`: a power cut may lose its last entries, never
//! corrupt them, and the next connector commit's fsync makes them durable too.
//!
//! Concurrency: one connection behind a mutex. Every call is a short
//! statement or one transaction, so orgs cycling at once queue for
//! microseconds, plus the fsync of a connector commit: those are grouped.
//! Commits that queue while another holds the connection are carried out
//! together by the next caller to get it, in one transaction with a
//! savepoint each (one fsync for the group; a commit whose expectations or
//! lease fail is rolled back alone, and every caller returns only once its
//! commit is on disk). Commits also take SQLite's write
//! lock up front (`BEGIN IMMEDIATE`), so another process on the same file
//! cannot interleave between a commit's checks (its expectations, its lease)
//! and its writes. Every call blocks: async callers run it with
//! `tokio::task::spawn_blocking`.
//!
//! Integrity: [`SqliteStore::open`] reads every page of an existing file
//! (`PRAGMA quick_check`) through a read-only connection before anything
//! writes to it, and refuses a damaged file with [`StorageError::Damaged`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use super::{
    Acquisition, ApiCalls, CycleEnd, CycleOutcome, CycleRecord, DEFAULT_CYCLE_LOG_PER_ORG, Fence, Holder, Lease,
    LeaseState, Leases, MAX_KEY_BYTES, MAX_SCAN_BYTES, MAX_VALUE_BYTES, OrgStatus, StorageError, StreamStatus, schema,
};
use crate::runtime::BlockingKeyValueStore;
use crate::runtime::bindings::store::{Entry, Expectation, StoreError, Write};

/// How long a statement waits for another process's write lock before
/// failing with [`StorageError::Locked`]. Writers hold it for one commit
/// (milliseconds); five seconds means the other side is stuck or busy with
/// something long, and the caller should hear about it.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most problems `PRAGMA quick_check` lists in a [`StorageError::Damaged`]:
/// the first few say where the damage is; a hundred would drown the message.
const INTEGRITY_PROBLEMS_SHOWN: u32 = 3;

/// Shown instead of a path for a database that lives in memory.
const IN_MEMORY: &str = ":memory:";

/// The error text of a cycle the host did not see finish.
pub(super) const INTERRUPTED_CYCLE: &str = "the host stopped during this cycle";

/// The connector's key-value store and the host's tables, in one SQLite file.
///
/// Share it as `Arc<SqliteStore>` (it is `Send + Sync`); it also serves as
/// the runtime's `Arc<dyn KeyValueStore>`.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Connector commits waiting for the connection (see [`SqliteStore::commit`]).
    queued: Mutex<Vec<QueuedCommit>>,
    path: PathBuf,
    cycle_log_per_org: u32,
}

/// A connector commit waiting its turn, and where its outcome goes.
struct QueuedCommit {
    namespace: String,
    fence: Option<Fence>,
    expect: Vec<Expectation>,
    writes: Vec<Write>,
    outcome: Arc<Mutex<Option<Result<(), StoreError>>>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database file, creating it (readable by its owner only) and
    /// bringing its schema up to date. An existing file is checked first,
    /// read-only: a damaged one is refused ([`StorageError::Damaged`]) and
    /// left exactly as it was.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref().to_path_buf();
        if path.exists() {
            check_integrity(&path)?;
        } else {
            create_private_file(&path)?;
        }
        let mut conn = Connection::open(&path).map_err(|source| match source.sqlite_error_code() {
            Some(_) => StorageError::from_sqlite(&path, "open", source),
            None => StorageError::Open { path: path.clone(), source },
        })?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| StorageError::from_sqlite(&path, "set the busy timeout", e))?;
        let journal: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| StorageError::from_sqlite(&path, "switch to the WAL journal", e))?;
        if !journal.eq_ignore_ascii_case("wal") {
            // Happens on file systems without shared memory (some network
            // mounts); commits stay atomic and durable, only slower.
            tracing::warn!(path = %path.display(), journal, "the database cannot use a WAL journal here; continuing with {journal}");
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| StorageError::from_sqlite(&path, "set synchronous = FULL", e))?;
        schema::migrate(&mut conn, &path)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            queued: Mutex::new(Vec::new()),
            path,
            cycle_log_per_org: DEFAULT_CYCLE_LOG_PER_ORG,
        })
    }

    /// A fresh database in memory, gone when dropped: for tests.
    pub fn in_memory() -> Result<Self, StorageError> {
        let path = PathBuf::from(IN_MEMORY);
        let mut conn =
            Connection::open_in_memory().map_err(|source| StorageError::Open { path: path.clone(), source })?;
        schema::migrate(&mut conn, &path)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            queued: Mutex::new(Vec::new()),
            path,
            cycle_log_per_org: DEFAULT_CYCLE_LOG_PER_ORG,
        })
    }

    /// Keeps at most `kept` cycles per org in the cycle log (at least one).
    #[must_use]
    pub fn with_cycle_log_per_org(mut self, kept: u32) -> Self {
        self.cycle_log_per_org = kept.max(1);
        self
    }

    /// The database file (`:memory:` for [`in_memory`](Self::in_memory)).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i64, StorageError> {
        self.conn()
            .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |row| row.get(0))
            .map_err(self.failed("read the schema version"))
    }

    // ---- org status and the cycle log (scheduler, CLI) ----

    /// One org's status; `None` before its first cycle.
    pub fn org_status(&self, org: &str) -> Result<Option<OrgStatus>, StorageError> {
        let conn = self.conn();
        let row = conn
            .prepare_cached(&format!("SELECT {ORG_STATUS_COLUMNS} FROM org_status WHERE org = ?1"))
            .and_then(|mut stmt| stmt.query_row([org], OrgStatusRow::read).optional())
            .map_err(self.failed("read an org's status"))?;
        row.map(|row| row.into_status(&self.path)).transpose()
    }

    /// Every org's status, by name.
    pub fn org_statuses(&self) -> Result<Vec<OrgStatus>, StorageError> {
        let conn = self.conn();
        let rows = conn
            .prepare_cached(&format!("SELECT {ORG_STATUS_COLUMNS} FROM org_status ORDER BY org"))
            .and_then(|mut stmt| stmt.query_map([], OrgStatusRow::read)?.collect::<Result<Vec<_>, _>>())
            .map_err(self.failed("read the orgs' status"))?;
        rows.into_iter().map(|row| row.into_status(&self.path)).collect()
    }

    /// Records one cycle in one transaction: its log entry (older entries of
    /// the org beyond the retention are dropped), the org's last outcome, its
    /// failures in a row, the newest report, the requests sent (added to the
    /// day's counts), the next run when one is planned — and gives up
    /// `release`, the cycle's lease, in the same transaction. Returns the
    /// org's status afterwards.
    pub fn record_cycle(&self, org: &str, end: &CycleEnd, release: Option<&Lease>) -> Result<OrgStatus, StorageError> {
        let (outcome, kind, error) = match &end.outcome {
            CycleOutcome::Ok => ("ok", None, None),
            CycleOutcome::Error { kind, message } => ("error", Some(kind.as_str()), Some(message.as_str())),
        };
        let kept_before_newest = i64::from(self.cycle_log_per_org.saturating_sub(1));
        let row = self.bookkeeping("record a cycle", |tx| {
            tx.execute(
                "INSERT INTO cycle_log (org, started_at, finished_at, report, error) VALUES (?1, ?2, ?3, ?4, ?5)",
                (
                    org,
                    end.started_at.timestamp_millis(),
                    end.finished_at.timestamp_millis(),
                    end.report_json.as_deref(),
                    error,
                ),
            )?;
            tx.execute(
                "INSERT INTO org_status (org, last_cycle_started_at, last_cycle_finished_at, last_outcome, last_error,
                     last_error_kind, consecutive_failures, last_report, next_run_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?4 = 'ok' THEN 0 ELSE 1 END, ?7, ?8)
                 ON CONFLICT (org) DO UPDATE SET
                     last_cycle_started_at = excluded.last_cycle_started_at,
                     last_cycle_finished_at = excluded.last_cycle_finished_at,
                     last_outcome = excluded.last_outcome,
                     last_error = excluded.last_error,
                     last_error_kind = excluded.last_error_kind,
                     consecutive_failures = CASE WHEN excluded.last_outcome = 'ok' THEN 0
                                                 ELSE org_status.consecutive_failures + 1 END,
                     last_report = COALESCE(excluded.last_report, org_status.last_report),
                     next_run_at = COALESCE(excluded.next_run_at, org_status.next_run_at)",
                (
                    org,
                    end.started_at.timestamp_millis(),
                    end.finished_at.timestamp_millis(),
                    outcome,
                    error,
                    kind,
                    end.report_json.as_deref(),
                    end.next_run_at.map(|at| at.timestamp_millis()),
                ),
            )?;
            add_calls(tx, org, &end.calls)?;
            tx.execute(
                "DELETE FROM cycle_log WHERE org = ?1 AND id < (
                     SELECT id FROM cycle_log WHERE org = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                (org, kept_before_newest),
            )?;
            if let Some(lease) = release {
                release_in(tx, lease)?;
            }
            tx.query_row(
                &format!("SELECT {ORG_STATUS_COLUMNS} FROM org_status WHERE org = ?1"),
                [org],
                OrgStatusRow::read,
            )
        })?;
        row.into_status(&self.path)
    }

    /// Sets when the scheduler runs `org` next.
    pub fn set_next_run(&self, org: &str, at: DateTime<Utc>) -> Result<(), StorageError> {
        self.bookkeeping("record the next run", |tx| {
            tx.execute(
                "INSERT INTO org_status (org, next_run_at) VALUES (?1, ?2)
                 ON CONFLICT (org) DO UPDATE SET next_run_at = excluded.next_run_at",
                (org, at.timestamp_millis()),
            )
            .map(drop)
        })
    }

    /// Adds requests `org`'s connector sent outside a cycle (set-up calls,
    /// the field catalog) to the day's counts and returns the day's totals.
    /// Counts stored for another day restart.
    pub fn count_calls(&self, org: &str, calls: &ApiCalls) -> Result<ApiCalls, StorageError> {
        self.bookkeeping("count API calls", |tx| add_calls(tx, org, calls))
    }

    /// Asks a running scheduler to try `org` at once (`casebridge org connect`
    /// after refused credentials). Schedulers poll for these requests.
    pub fn request_wake(&self, org: &str, at: DateTime<Utc>) -> Result<(), StorageError> {
        self.bookkeeping("ask the scheduler to try the org again", |tx| {
            tx.execute(
                "INSERT INTO org_status (org, wake_requested_at) VALUES (?1, ?2)
                 ON CONFLICT (org) DO UPDATE SET wake_requested_at = excluded.wake_requested_at",
                (org, at.timestamp_millis()),
            )
            .map(drop)
        })
    }

    /// Records how `org`'s stream stands (`casebridge status` shows it).
    pub fn set_stream_status(&self, org: &str, stream: &StreamStatus) -> Result<(), StorageError> {
        let json = serde_json::to_string(stream).map_err(|error| StorageError::Corrupt {
            path: self.path.clone(),
            what: format!("stream status of org {org}: {error}"),
        })?;
        self.bookkeeping("record the stream's status", |tx| {
            tx.execute(
                "INSERT INTO org_status (org, stream) VALUES (?1, ?2)
                 ON CONFLICT (org) DO UPDATE SET stream = excluded.stream",
                (org, json),
            )
            .map(drop)
        })
    }

    /// Every org's latest wake request, by name (cheap: a scan of the small
    /// `org_status` table, which has one row per org).
    pub fn wake_requests(&self) -> Result<Vec<(String, DateTime<Utc>)>, StorageError> {
        let rows: Vec<(String, i64)> = self
            .conn()
            .prepare_cached("SELECT org, wake_requested_at FROM org_status WHERE wake_requested_at IS NOT NULL")
            .and_then(|mut stmt| stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
            .map_err(self.failed("read the wake requests"))?;
        rows.into_iter().map(|(org, ms)| Ok((org, timestamp(&self.path, "wake request time", ms)?))).collect()
    }

    /// Marks every cycle still open in the log as ended by a host stop, and
    /// returns how many there were. Only casebridge versions before leases
    /// left cycles open (this one records a cycle when it ends), so this
    /// closes what an older version left behind.
    pub fn close_interrupted_cycles(&self, at: DateTime<Utc>) -> Result<usize, StorageError> {
        self.conn()
            .execute(
                "UPDATE cycle_log SET finished_at = ?1, error = ?2 WHERE finished_at IS NULL",
                (at.timestamp_millis(), INTERRUPTED_CYCLE),
            )
            .map_err(self.failed("close interrupted cycles"))
    }

    /// `org`'s most recent cycles, newest first.
    pub fn recent_cycles(&self, org: &str, limit: u32) -> Result<Vec<CycleRecord>, StorageError> {
        type Row = (String, i64, Option<i64>, Option<String>, Option<String>);
        let conn = self.conn();
        let rows: Vec<Row> = conn
            .prepare_cached(
                "SELECT org, started_at, finished_at, report, error FROM cycle_log
                 WHERE org = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_map((org, i64::from(limit)), |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
                })?
                .collect()
            })
            .map_err(self.failed("read the cycle log"))?;
        rows.into_iter().map(|row| cycle_record(&self.path, row)).collect()
    }

    // ---- encrypted secrets (see `crate::secrets::SecretVault`) ----

    /// Stores an encrypted secret blob. Only the secret vault should call this:
    /// the blob must already be ciphertext.
    pub fn put_secret_blob(&self, org: &str, name: &str, blob: &[u8]) -> Result<(), StorageError> {
        self.conn()
            .execute(
                "INSERT INTO org_secrets (org, name, blob, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (org, name) DO UPDATE SET blob = excluded.blob, updated_at = excluded.updated_at",
                (org, name, blob, Utc::now().timestamp_millis()),
            )
            .map(drop)
            .map_err(self.failed("store a secret"))
    }

    /// The encrypted blob of a secret, if one is stored.
    pub fn secret_blob(&self, org: &str, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.conn()
            .query_row("SELECT blob FROM org_secrets WHERE org = ?1 AND name = ?2", (org, name), |row| row.get(0))
            .optional()
            .map_err(self.failed("read a secret"))
    }

    /// Whether any org has a stored secret (then the key that sealed it is needed).
    pub fn has_secrets(&self) -> Result<bool, StorageError> {
        self.conn()
            .query_row("SELECT EXISTS (SELECT 1 FROM org_secrets)", [], |row| row.get(0))
            .map_err(self.failed("look for stored secrets"))
    }

    /// Removes a stored secret; `true` if there was one.
    pub fn delete_secret(&self, org: &str, name: &str) -> Result<bool, StorageError> {
        self.conn()
            .execute("DELETE FROM org_secrets WHERE org = ?1 AND name = ?2", (org, name))
            .map(|deleted| deleted > 0)
            .map_err(self.failed("delete a secret"))
    }

    // ---- sent mail (mail idempotency) ----

    /// The sender address and `Message-ID` of the email sent for this
    /// idempotency key, if one was sent.
    pub fn find_sent_mail(&self, org: &str, idempotency_key: &str) -> Result<Option<(String, String)>, StorageError> {
        self.conn()
            .query_row(
                "SELECT from_address, message_id FROM mail_sent WHERE org = ?1 AND idempotency_key = ?2",
                (org, idempotency_key),
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(self.failed("look up a sent email"))
    }

    /// Records that the email for this idempotency key was sent. The first
    /// record for a key wins: recording it again changes nothing.
    pub fn record_sent_mail(
        &self,
        org: &str,
        idempotency_key: &str,
        from_address: &str,
        message_id: &str,
    ) -> Result<(), StorageError> {
        self.conn()
            .execute(
                "INSERT INTO mail_sent (org, idempotency_key, from_address, message_id, sent_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (org, idempotency_key) DO NOTHING",
                (org, idempotency_key, from_address, message_id, Utc::now().timestamp_millis()),
            )
            .map(drop)
            .map_err(self.failed("record a sent email"))
    }

    // ---- internals ----

    /// The connection. A panic while it was held cannot leave a transaction
    /// half-applied (an unfinished transaction rolls back when dropped), so a
    /// poisoned lock is safe to take over.
    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    /// Runs `work` in one `IMMEDIATE` transaction of the host's bookkeeping,
    /// committed with `synchronous = NORMAL` (see the module docs); the
    /// connection is back at `FULL` afterwards, whatever happened.
    fn bookkeeping<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StorageError> {
        let mut conn = self.conn();
        let mut relaxed = RelaxedSync::new(&mut conn).map_err(self.failed(operation))?;
        let tx =
            relaxed.conn().transaction_with_behavior(TransactionBehavior::Immediate).map_err(self.failed(operation))?;
        let value = work(&tx).map_err(self.failed(operation))?;
        tx.commit().map_err(self.failed(operation))?;
        Ok(value)
    }

    pub(super) fn failed(&self, operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StorageError + '_ {
        move |e| StorageError::from_sqlite(&self.path, operation, e)
    }

    fn unavailable(&self, operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |e| StoreError::Unavailable(StorageError::from_sqlite(&self.path, operation, e).to_string())
    }
}

/// `synchronous = NORMAL` for as long as it lives; `FULL` again when dropped.
struct RelaxedSync<'c>(&'c mut Connection);

impl<'c> RelaxedSync<'c> {
    fn new(conn: &'c mut Connection) -> rusqlite::Result<Self> {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(RelaxedSync(conn))
    }

    fn conn(&mut self) -> &mut Connection {
        self.0
    }
}

impl Drop for RelaxedSync<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.0.pragma_update(None, "synchronous", "FULL") {
            // Cannot happen outside a transaction; if it did, commits would
            // lose their power-cut durability, so say so loudly.
            tracing::error!("cannot set the database back to synchronous = FULL: {error}");
        }
    }
}

/// Adds `calls` to `org`'s counts (restarting them on a new day); returns the day's totals.
fn add_calls(tx: &Transaction<'_>, org: &str, calls: &ApiCalls) -> rusqlite::Result<ApiCalls> {
    let (api, token_requests): (i64, i64) = tx.query_row(
        "INSERT INTO org_status (org, api_calls, token_requests, api_calls_day) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (org) DO UPDATE SET
             api_calls = CASE WHEN org_status.api_calls_day IS excluded.api_calls_day
                              THEN org_status.api_calls + excluded.api_calls
                              ELSE excluded.api_calls END,
             token_requests = CASE WHEN org_status.api_calls_day IS excluded.api_calls_day
                                   THEN org_status.token_requests + excluded.token_requests
                                   ELSE excluded.token_requests END,
             api_calls_day = excluded.api_calls_day
         RETURNING api_calls, token_requests",
        (org, i64::from(calls.api), i64::from(calls.token_requests), calls.day.to_string()),
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    tx.execute(
        "INSERT INTO api_usage_day (org, day, api_calls, token_requests) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (org, day) DO UPDATE SET
             api_calls = api_usage_day.api_calls + excluded.api_calls,
             token_requests = api_usage_day.token_requests + excluded.token_requests",
        (org, calls.day.to_string(), i64::from(calls.api), i64::from(calls.token_requests)),
    )?;
    Ok(ApiCalls {
        day: calls.day,
        api: u32::try_from(api).unwrap_or(u32::MAX),
        token_requests: u32::try_from(token_requests).unwrap_or(u32::MAX),
    })
}

fn release_in(tx: &Transaction<'_>, lease: &Lease) -> rusqlite::Result<()> {
    tx.execute("UPDATE org_lease SET expires_at = 0 WHERE org = ?1 AND token = ?2", (lease.org(), lease.token()))
        .map(drop)
}

/// A stored lease row.
pub(super) struct LeaseRow {
    pub(super) holder: Holder,
    pub(super) token: i64,
    pub(super) acquired_at: i64,
    pub(super) expires_at: i64,
}

pub(super) const LEASE_COLUMNS: &str = "holder_host, holder_pid, holder_nonce, token, acquired_at, expires_at";

impl LeaseRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let pid: i64 = row.get(1)?;
        Ok(LeaseRow {
            holder: Holder::new(row.get::<_, String>(0)?, u32::try_from(pid).unwrap_or(0), row.get::<_, String>(2)?),
            token: row.get(3)?,
            acquired_at: row.get(4)?,
            expires_at: row.get(5)?,
        })
    }
}

impl LeaseRow {
    /// The row as `status` shows it.
    pub(super) fn into_state(self, path: &Path) -> Result<LeaseState, StorageError> {
        Ok(LeaseState {
            holder: self.holder,
            token: self.token,
            acquired_at: timestamp(path, "lease grant time", self.acquired_at)?,
            expires_at: match self.expires_at {
                0 => None,
                ms => Some(timestamp(path, "lease expiry", ms)?),
            },
        })
    }
}

fn lease_row(tx: &Connection, org: &str) -> rusqlite::Result<Option<LeaseRow>> {
    tx.prepare_cached(&format!("SELECT {LEASE_COLUMNS} FROM org_lease WHERE org = ?1"))?
        .query_row([org], LeaseRow::read)
        .optional()
}

pub(super) fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

impl Leases for SqliteStore {
    fn acquire(&self, org: &str, holder: &Holder, ttl: Duration) -> Result<Acquisition, StorageError> {
        let taken = self.bookkeeping("take an org's lease", |tx| {
            let now = Utc::now().timestamp_millis();
            let current = lease_row(tx, org)?;
            let token = match decide_grant(org, current.as_ref(), holder, now) {
                Ok(token) => token,
                Err(held) => return Ok(Err(held)),
            };
            let expires_at = now.saturating_add(ttl_ms(ttl));
            tx.execute(
                "INSERT INTO org_lease (org, holder_host, holder_pid, holder_nonce, token, acquired_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (org) DO UPDATE SET
                     holder_host = excluded.holder_host, holder_pid = excluded.holder_pid,
                     holder_nonce = excluded.holder_nonce, token = excluded.token,
                     acquired_at = excluded.acquired_at, expires_at = excluded.expires_at",
                (org, holder.host(), i64::from(holder.pid()), holder.nonce(), token, now, expires_at),
            )?;
            Ok(Ok((token, expires_at)))
        })?;
        Ok(match taken {
            Ok((token, expires_at)) => {
                let expires_at = timestamp(&self.path, "lease expiry", expires_at)?;
                Acquisition::Acquired(Lease::new(org, holder.clone(), token, expires_at))
            }
            Err((holder, until)) => Acquisition::Held { holder, until: timestamp(&self.path, "lease expiry", until)? },
        })
    }

    fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StorageError> {
        self.bookkeeping("renew an org's lease", |tx| {
            let expires_at = Utc::now().timestamp_millis().saturating_add(ttl_ms(ttl));
            // The token alone says whether anyone else was granted the lease
            // since (every grant increments it); 0 is a release.
            tx.execute(
                "UPDATE org_lease SET expires_at = ?3 WHERE org = ?1 AND token = ?2 AND expires_at <> 0",
                (lease.org(), lease.token(), expires_at),
            )
            .map(|updated| updated == 1)
        })
    }

    fn release(&self, lease: Lease) -> Result<(), StorageError> {
        self.bookkeeping("release an org's lease", |tx| release_in(tx, &lease))
    }

    fn lease_state(&self, org: &str) -> Result<Option<LeaseState>, StorageError> {
        let row = lease_row(&self.conn(), org).map_err(self.failed("read an org's lease"))?;
        row.map(|row| row.into_state(&self.path)).transpose()
    }
}

/// Reads every page of an existing database through a read-only connection
/// (nothing is written to the file, whatever it holds) and refuses it when
/// `PRAGMA quick_check` finds damage. The check reads the whole file once
/// (0.13 s for a 223 MiB database in the page cache on the development VM;
/// a cold disk reads at its own speed), which every command pays at start.
fn check_integrity(path: &Path) -> Result<(), StorageError> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        return Ok(()); // created empty, by us, a moment before a crash
    }
    let failed = |operation, e| StorageError::from_sqlite(path, operation, e);
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|source| match source.sqlite_error_code() {
            Some(_) => failed("open", source),
            None => StorageError::Open { path: path.to_path_buf(), source },
        })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| failed("set the busy timeout", e))?;
    let problems: Vec<String> = conn
        .prepare(&format!("PRAGMA quick_check({INTEGRITY_PROBLEMS_SHOWN})"))
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
        .map_err(|e| failed("check the file's integrity", e))?;
    if problems.iter().all(|line| line == "ok") {
        return Ok(());
    }
    Err(StorageError::Damaged { path: path.to_path_buf(), detail: problems.join("; ") })
}

impl BlockingKeyValueStore for SqliteStore {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, StoreError> {
        check_key(key)?;
        self.conn()
            .prepare_cached("SELECT value FROM kv WHERE namespace = ?1 AND key = ?2")
            .and_then(|mut stmt| stmt.query_row((namespace, key), |row| row.get(0)).optional())
            .map_err(self.unavailable("read a key"))
    }

    fn scan(&self, namespace: &str, prefix: &str) -> Result<Vec<Entry>, StoreError> {
        check_key(prefix)?;
        let end = prefix_successor(prefix);
        let conn = self.conn();
        // A range on the primary key, not LIKE: `%` and `_` in a prefix are
        // plain characters, and the index serves the scan in key order.
        let mut stmt = match end {
            Some(_) => conn.prepare_cached(
                "SELECT key, value FROM kv WHERE namespace = ?1 AND key >= ?2 AND key < ?3 ORDER BY key",
            ),
            None => conn.prepare_cached("SELECT key, value FROM kv WHERE namespace = ?1 AND key >= ?2 ORDER BY key"),
        }
        .map_err(self.unavailable("scan keys"))?;
        let read = |row: &rusqlite::Row<'_>| Ok(Entry { key: row.get(0)?, value: row.get(1)? });
        let rows = match &end {
            Some(end) => stmt.query_map((namespace, prefix, end), read),
            None => stmt.query_map((namespace, prefix), read),
        }
        .map_err(self.unavailable("scan keys"))?;
        let entries = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.unavailable("scan keys"))?;
        scan_limit(prefix, entries)
    }

    fn commit(
        &self,
        namespace: &str,
        fence: Option<&Fence>,
        expect: &[Expectation],
        writes: &[Write],
    ) -> Result<(), StoreError> {
        check_commit(expect, writes)?;
        if expect.is_empty() && writes.is_empty() {
            return Ok(());
        }
        let outcome = Arc::new(Mutex::new(None));
        lock(&self.queued).push(QueuedCommit {
            namespace: namespace.to_string(),
            fence: fence.cloned(),
            expect: expect.to_vec(),
            writes: writes.to_vec(),
            outcome: outcome.clone(),
        });
        let mut conn = self.conn();
        // A commit queued while another held the connection was carried out
        // in that one's group; otherwise this caller leads the queue's group.
        if let Some(done) = lock(&outcome).take() {
            return done;
        }
        let group = std::mem::take(&mut *lock(&self.queued));
        self.commit_group(&mut conn, group);
        lock(&outcome).take().unwrap_or_else(|| Err(StoreError::Unavailable("the commit was not carried out".into())))
    }
}

impl SqliteStore {
    /// Carries out queued connector commits in one transaction, one fsync
    /// for all of them: each in a savepoint, so one whose lease or
    /// expectations fail writes nothing while the others go ahead. Every
    /// outcome is set only once the transaction is on disk (or failed, and
    /// then none of them wrote).
    fn commit_group(&self, conn: &mut Connection, group: Vec<QueuedCommit>) {
        let settle = |group: &[QueuedCommit], outcomes: Vec<Result<(), StoreError>>| {
            for (commit, outcome) in group.iter().zip(outcomes) {
                *lock(&commit.outcome) = Some(outcome);
            }
        };
        let failed_all = |error: StoreError| vec![Err(error); group.len()];
        // IMMEDIATE takes the write lock before the leases and the expectations
        // are read, so nothing can change them between the checks and the writes.
        let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => return settle(&group, failed_all(self.unavailable("start a commit")(e))),
        };
        let mut outcomes = Vec::with_capacity(group.len());
        for commit in &group {
            let outcome = match tx.savepoint() {
                Ok(mut one) => {
                    let applied = self.apply_commit(&one, commit);
                    if applied.is_err() {
                        let _ = one.rollback();
                    }
                    one.commit().map_err(self.unavailable("commit")).and(applied)
                }
                Err(e) => Err(self.unavailable("start a commit")(e)),
            };
            outcomes.push(outcome);
        }
        match tx.commit() {
            Ok(()) => settle(&group, outcomes),
            Err(e) => settle(&group, failed_all(self.unavailable("commit")(e))),
        }
    }

    /// One commit's lease check, expectations and writes, inside the group's transaction.
    fn apply_commit(&self, tx: &Connection, commit: &QueuedCommit) -> Result<(), StoreError> {
        let namespace = commit.namespace.as_str();
        if let Some(fence) = &commit.fence {
            let current = lease_row(tx, fence.org()).map_err(self.unavailable("check a commit's lease"))?;
            let now = Utc::now().timestamp_millis();
            let held = current.as_ref().is_some_and(|row| row.token == fence.token() && row.expires_at > now);
            if fence.org() != namespace || !held {
                return Err(StoreError::Conflict(lost_lease_message(namespace, fence, current.as_ref(), now)));
            }
        }
        let mut read = tx
            .prepare_cached("SELECT value FROM kv WHERE namespace = ?1 AND key = ?2")
            .map_err(self.unavailable("check a commit's expectations"))?;
        for expectation in &commit.expect {
            let current: Option<String> = read
                .query_row((namespace, &expectation.key), |row| row.get(0))
                .optional()
                .map_err(self.unavailable("check a commit's expectations"))?;
            if current != expectation.value {
                return Err(StoreError::Conflict(expectation.key.clone()));
            }
        }
        let mut put = tx
            .prepare_cached(
                "INSERT INTO kv (namespace, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            )
            .map_err(self.unavailable("write a key"))?;
        let mut delete = tx
            .prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")
            .map_err(self.unavailable("delete a key"))?;
        for write in &commit.writes {
            match write {
                Write::Put(entry) => put.execute((namespace, &entry.key, &entry.value)),
                Write::Delete(key) => delete.execute((namespace, key)),
            }
            .map_err(self.unavailable("write a key"))?;
        }
        Ok(())
    }
}

/// A lock whose holder panicked is taken over: what it guards (the
/// connection, the queue, an outcome) is never left half-changed.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a fenced commit was refused, for the connector's log and the cycle's error.
pub(super) fn lost_lease_message(namespace: &str, fence: &Fence, current: Option<&LeaseRow>, now: i64) -> String {
    if fence.org() != namespace {
        return format!(
            "the lease of org `{}` does not cover org `{namespace}`'s store; nothing was written",
            fence.org()
        );
    }
    match current {
        Some(row) if row.token != fence.token() => format!(
            "the lease of org `{namespace}` was lost: {} took the org over; nothing was written, the next cycle does the work",
            row.holder
        ),
        Some(row) if row.expires_at == 0 => {
            format!("the lease of org `{namespace}` was released before this commit; nothing was written")
        }
        Some(row) => format!(
            "the lease of org `{namespace}` expired {} ms ago without being renewed; nothing was written, the next cycle does the work",
            now.saturating_sub(row.expires_at)
        ),
        None => format!("org `{namespace}` has no lease in the store; nothing was written"),
    }
}

/// The least string above every string that starts with `prefix`, so that
/// `prefix <= key < successor` selects exactly the keys with that prefix;
/// `None` when there is no such string (empty prefix, or only U+10FFFF).
///
/// It works on characters, not bytes: bumping the last byte could leave
/// invalid UTF-8 (which SQLite would not compare as text), and UTF-8 byte
/// order is code point order, so the next code point is the next string.
pub(crate) fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            // No scalar values between the end of the BMP's first part and the
            // surrogates' end.
            '\u{D7FF}' => Some('\u{E000}'),
            char::MAX => None,
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

pub(super) fn check_key(key: &str) -> Result<(), StoreError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::TooLarge(format!(
            "the key `{}` is {} bytes; keys are at most {MAX_KEY_BYTES} bytes",
            shorten(key),
            key.len()
        )));
    }
    Ok(())
}

pub(super) fn check_value(key: &str, value: &str) -> Result<(), StoreError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::TooLarge(format!(
            "the value of key `{}` is {} bytes; values are at most {MAX_VALUE_BYTES} bytes",
            shorten(key),
            value.len()
        )));
    }
    Ok(())
}

/// The start of a long key, for error messages.
pub(super) fn shorten(key: &str) -> String {
    const SHOWN: usize = 64;
    match key.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &key[..end]),
        None => key.to_string(),
    }
}

/// Checks every key and value of a commit against the store's limits.
pub(super) fn check_commit(expect: &[Expectation], writes: &[Write]) -> Result<(), StoreError> {
    for expectation in expect {
        check_key(&expectation.key)?;
    }
    for write in writes {
        match write {
            Write::Put(entry) => {
                check_key(&entry.key)?;
                check_value(&entry.key, &entry.value)?;
            }
            Write::Delete(key) => check_key(key)?,
        }
    }
    Ok(())
}

/// A scan's entries, unless together they exceed [`MAX_SCAN_BYTES`].
pub(super) fn scan_limit(prefix: &str, entries: Vec<Entry>) -> Result<Vec<Entry>, StoreError> {
    let bytes = entries.iter().fold(0usize, |sum, entry| sum.saturating_add(entry.key.len() + entry.value.len()));
    if bytes > MAX_SCAN_BYTES {
        return Err(StoreError::TooLarge(format!(
            "the keys and values under prefix `{}` exceed {MAX_SCAN_BYTES} bytes (the scan limit); scan a narrower prefix",
            shorten(prefix)
        )));
    }
    Ok(entries)
}

/// Whether `holder` is granted `org`'s lease at `now` (store time), given
/// its stored row: the new token, or who holds it until when.
pub(super) fn decide_grant(
    org: &str,
    current: Option<&LeaseRow>,
    holder: &Holder,
    now: i64,
) -> Result<i64, (Holder, i64)> {
    if let Some(current) = current
        && current.expires_at > now
    {
        if !current.holder.is_gone_for(holder) {
            return Err((current.holder.clone(), current.expires_at));
        }
        tracing::info!(org, previous = %current.holder, "taking over the lease of a casebridge process that is no longer running");
    }
    Ok(current.map_or(1, |row| row.token.saturating_add(1)))
}

/// A cycle log row (org, started, finished, report, error) as a record.
pub(super) fn cycle_record(
    path: &Path,
    (org, started_at, finished_at, report_json, error): (String, i64, Option<i64>, Option<String>, Option<String>),
) -> Result<CycleRecord, StorageError> {
    Ok(CycleRecord {
        org,
        started_at: timestamp(path, "cycle start time", started_at)?,
        finished_at: finished_at.map(|ms| timestamp(path, "cycle end time", ms)).transpose()?,
        report_json,
        error,
    })
}

/// Creates the database file readable and writable by its owner only: it
/// holds case data. SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private_file(path: &Path) -> Result<(), StorageError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StorageError::Create { path: path.to_path_buf(), source }),
    }
}

pub(super) fn timestamp(path: &Path, what: &str, millis: i64) -> Result<DateTime<Utc>, StorageError> {
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| StorageError::Corrupt { path: path.to_path_buf(), what: format!("{what} ({millis})") })
}

pub(super) const ORG_STATUS_COLUMNS: &str = "org, last_cycle_started_at, last_cycle_finished_at, last_outcome, last_error, \
     consecutive_failures, next_run_at, api_calls, api_calls_day, token_requests, last_report, last_error_kind, \
     wake_requested_at, stream";

/// An `org_status` row as stored, before its values are checked.
pub(super) struct OrgStatusRow {
    pub(super) org: String,
    pub(super) last_cycle_started_at: Option<i64>,
    pub(super) last_cycle_finished_at: Option<i64>,
    pub(super) last_outcome: Option<String>,
    pub(super) last_error: Option<String>,
    pub(super) consecutive_failures: i64,
    pub(super) next_run_at: Option<i64>,
    pub(super) api_calls: i64,
    pub(super) api_calls_day: Option<String>,
    pub(super) token_requests: i64,
    pub(super) last_report: Option<String>,
    pub(super) last_error_kind: Option<String>,
    pub(super) wake_requested_at: Option<i64>,
    pub(super) stream: Option<String>,
}

impl OrgStatusRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(OrgStatusRow {
            org: row.get(0)?,
            last_cycle_started_at: row.get(1)?,
            last_cycle_finished_at: row.get(2)?,
            last_outcome: row.get(3)?,
            last_error: row.get(4)?,
            consecutive_failures: row.get(5)?,
            next_run_at: row.get(6)?,
            api_calls: row.get(7)?,
            api_calls_day: row.get(8)?,
            token_requests: row.get(9)?,
            last_report: row.get(10)?,
            last_error_kind: row.get(11)?,
            wake_requested_at: row.get(12)?,
            stream: row.get(13)?,
        })
    }

    pub(super) fn into_status(self, path: &Path) -> Result<OrgStatus, StorageError> {
        let when = |what, ms: Option<i64>| ms.map(|ms| timestamp(path, what, ms)).transpose();
        let last_outcome = match self.last_outcome.as_deref() {
            None => None,
            Some("ok") => Some(CycleOutcome::Ok),
            Some(_) => Some(CycleOutcome::Error {
                // Rows written before error kinds were kept have none.
                kind: self.last_error_kind.unwrap_or_else(|| "unknown".into()),
                message: self.last_error.unwrap_or_default(),
            }),
        };
        let api_calls_day = self
            .api_calls_day
            .map(|day| {
                day.parse::<NaiveDate>().map_err(|_| StorageError::Corrupt {
                    path: path.to_path_buf(),
                    what: format!("API call day ({day}) of org {}", self.org),
                })
            })
            .transpose()?;
        Ok(OrgStatus {
            last_cycle_started_at: when("cycle start time", self.last_cycle_started_at)?,
            last_cycle_finished_at: when("cycle end time", self.last_cycle_finished_at)?,
            last_outcome,
            consecutive_failures: u32::try_from(self.consecutive_failures).unwrap_or(u32::MAX),
            next_run_at: when("next run time", self.next_run_at)?,
            api_calls: u32::try_from(self.api_calls).unwrap_or(u32::MAX),
            token_requests: u32::try_from(self.token_requests).unwrap_or(u32::MAX),
            api_calls_day,
            last_report_json: self.last_report,
            wake_requested_at: when("wake request time", self.wake_requested_at)?,
            // A stream status this version cannot read is as good as none:
            // the next stream step writes it again.
            stream: self.stream.and_then(|json| serde_json::from_str(&json).ok()),
            org: self.org,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key with the prefix is inside `[prefix, successor)` and every
    /// key outside is not.
    fn assert_bounds(prefix: &str, inside: &[&str], outside: &[&str]) {
        let end = prefix_successor(prefix);
        let selected = |key: &str| key >= prefix && end.as_deref().is_none_or(|end| key < end);
        for key in inside {
            assert!(key.starts_with(prefix) && selected(key), "{key:?} should be selected by {prefix:?}");
        }
        for key in outside {
            assert!(!key.starts_with(prefix) && !selected(key), "{key:?} should not be selected by {prefix:?}");
        }
    }

    #[test]
    fn prefix_successor_bumps_the_last_character() {
        assert_eq!(prefix_successor("case/").as_deref(), Some("case0"));
        assert_eq!(prefix_successor("é").as_deref(), Some("ê"));
        assert_bounds("case/", &["case/", "case/1", "case/\u{10FFFF}"], &["case", "case0", "case0/1", "cas"]);
    }

    #[test]
    fn prefix_successor_crosses_utf8_length_boundaries() {
        // U+007F → U+0080 changes the encoded length (1 → 2 bytes).
        assert_eq!(prefix_successor("a\u{7F}").as_deref(), Some("a\u{80}"));
        // U+FFFF → U+10000 (3 → 4 bytes).
        assert_eq!(prefix_successor("\u{FFFF}").as_deref(), Some("\u{10000}"));
        assert_bounds("a\u{7F}", &["a\u{7F}x", "a\u{7F}\u{10FFFF}"], &["a\u{80}", "b"]);
    }

    #[test]
    fn prefix_successor_skips_the_surrogate_gap() {
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }

    #[test]
    fn prefix_successor_drops_trailing_maximum_characters() {
        assert_eq!(prefix_successor("a\u{10FFFF}\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
        assert_eq!(prefix_successor(""), None);
        assert_bounds("a\u{10FFFF}", &["a\u{10FFFF}", "a\u{10FFFF}z"], &["a", "b", "a\u{10FFFE}"]);
    }

    #[test]
    fn bookkeeping_leaves_the_connection_at_synchronous_full() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("casebridge.db")).expect("open");
        let synchronous = |store: &SqliteStore| -> i64 {
            store.conn().query_row("PRAGMA synchronous", [], |row| row.get(0)).expect("pragma")
        };
        assert_eq!(synchronous(&store), 2, "FULL after open");
        store.set_next_run("acme", Utc::now()).expect("bookkeeping");
        let failed = store.bookkeeping("fail on purpose", |tx| tx.execute("INSERT INTO nowhere VALUES (1)", []));
        assert!(failed.is_err());
        assert_eq!(synchronous(&store), 2, "FULL again after bookkeeping, also after a failure");
    }

    #[test]
    fn scan_and_get_use_the_primary_key_index() {
        let store = SqliteStore::in_memory().expect("in-memory store");
        let conn = store.conn();
        for sql in [
            "SELECT key, value FROM kv WHERE namespace = ?1 AND key >= ?2 AND key < ?3 ORDER BY key",
            "SELECT key, value FROM kv WHERE namespace = ?1 AND key >= ?2 ORDER BY key",
            "SELECT value FROM kv WHERE namespace = ?1 AND key = ?2",
        ] {
            let params = rusqlite::params_from_iter(vec!["x"; sql.matches('?').count()]);
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .and_then(|mut stmt| stmt.query_map(params, |row| row.get::<_, String>(3))?.collect())
                .expect("query plan");
            let plan = plan.join(" | ");
            assert!(plan.contains("SEARCH kv USING PRIMARY KEY"), "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql} must not sort: {plan}");
        }
    }
}
