//! The SQLite backend: one file holds the connector's key-value store and the
//! host's tables.
//!
//! ```no_run
//! # fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use casebridge::runtime::KeyValueStore;
//! use casebridge::runtime::bindings::store::{Entry, Expectation, Write};
//! use casebridge::storage::SqliteStore;
//!
//! let store = SqliteStore::open("casebridge.db")?;
//! // Compare-and-swap: set the watermark only if nobody moved it meanwhile.
//! store.commit(
//!     "acme",
//!     &[Expectation { key: "watermark".into(), value: None }],
//!     &[Write::Put(Entry { key: "watermark".into(), value: "2025-01-01T00:00:00Z".into() })],
//! )?;
//! # Ok(()) }
//! ```
//!
//! Durability: WAL journal with `synchronous = FULL`, so a commit that
//! returned is on disk even after a power cut. The connector commits "this
//! reply was posted" right after posting it to Salesforce; losing that commit
//! (which `NORMAL` allows on power loss) would post the reply again after the
//! restart (E1). One fsync per commit is cheap next to a Salesforce round trip.
//!
//! Concurrency: one connection behind a mutex. Every call is a short
//! statement or one transaction, so orgs cycling at once queue for
//! microseconds (plus the fsync of a commit); commits also take SQLite's write
//! lock up front (`BEGIN IMMEDIATE`), so another process on the same file
//! cannot interleave between a commit's check and its writes.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::{
    CycleEnd, CycleId, CycleOutcome, CycleRecord, DEFAULT_CYCLE_LOG_PER_ORG, MAX_KEY_BYTES, MAX_SCAN_BYTES,
    MAX_VALUE_BYTES, OrgStatus, StorageError, schema,
};
use crate::runtime::KeyValueStore;
use crate::runtime::bindings::store::{Entry, Expectation, StoreError, Write};

/// How long a statement waits for another process's write lock before
/// failing with [`StorageError::Locked`]. Writers hold it for one commit
/// (milliseconds); five seconds means the other side is stuck or busy with
/// something long, and the caller should hear about it.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Shown instead of a path for a database that lives in memory.
const IN_MEMORY: &str = ":memory:";

/// The error text of a cycle the host did not see finish.
const INTERRUPTED_CYCLE: &str = "the host stopped during this cycle";

/// The connector's key-value store and the host's tables, in one SQLite file.
///
/// Share it as `Arc<SqliteStore>` (it is `Send + Sync`); it also serves as
/// the runtime's `Arc<dyn KeyValueStore>`.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    cycle_log_per_org: u32,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database file, creating it (readable by its owner only) and
    /// bringing its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref().to_path_buf();
        create_private_file(&path)?;
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
        Ok(SqliteStore { conn: Mutex::new(conn), path, cycle_log_per_org: DEFAULT_CYCLE_LOG_PER_ORG })
    }

    /// A fresh database in memory, gone when dropped: for tests.
    pub fn in_memory() -> Result<Self, StorageError> {
        let path = PathBuf::from(IN_MEMORY);
        let mut conn =
            Connection::open_in_memory().map_err(|source| StorageError::Open { path: path.clone(), source })?;
        schema::migrate(&mut conn, &path)?;
        Ok(SqliteStore { conn: Mutex::new(conn), path, cycle_log_per_org: DEFAULT_CYCLE_LOG_PER_ORG })
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

    /// Records that a cycle of `org` started; finish it with [`finish_cycle`](Self::finish_cycle).
    pub fn start_cycle(&self, org: &str, started_at: DateTime<Utc>) -> Result<CycleId, StorageError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.failed("start recording a cycle"))?;
        tx.execute(
            "INSERT INTO org_status (org, last_cycle_started_at) VALUES (?1, ?2)
             ON CONFLICT (org) DO UPDATE SET last_cycle_started_at = excluded.last_cycle_started_at",
            (org, started_at.timestamp_millis()),
        )
        .map_err(self.failed("record a cycle start"))?;
        tx.execute("INSERT INTO cycle_log (org, started_at) VALUES (?1, ?2)", (org, started_at.timestamp_millis()))
            .map_err(self.failed("record a cycle start"))?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(self.failed("record a cycle start"))?;
        Ok(CycleId { org: org.to_string(), id })
    }

    /// Records how a cycle ended: its log entry, the org's last outcome and
    /// its count of failures in a row. Older log entries of the org beyond
    /// the retention are dropped. Returns the org's status afterwards.
    pub fn finish_cycle(&self, cycle: &CycleId, end: &CycleEnd) -> Result<OrgStatus, StorageError> {
        let finished_at = end.finished_at.timestamp_millis();
        let (outcome, error) = match &end.outcome {
            CycleOutcome::Ok => ("ok", None),
            CycleOutcome::Error(reason) => ("error", Some(reason.as_str())),
        };
        let kept_before_newest = i64::from(self.cycle_log_per_org.saturating_sub(1));
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.failed("start recording a cycle end"))?;
        tx.execute(
            "UPDATE cycle_log SET finished_at = ?2, report = ?3, error = ?4 WHERE id = ?1",
            (cycle.id, finished_at, end.report_json.as_deref(), error),
        )
        .map_err(self.failed("record a cycle end"))?;
        tx.execute(
            "INSERT INTO org_status (org, last_cycle_finished_at, last_outcome, last_error, consecutive_failures)
             VALUES (?1, ?2, ?3, ?4, CASE WHEN ?3 = 'ok' THEN 0 ELSE 1 END)
             ON CONFLICT (org) DO UPDATE SET
                 last_cycle_finished_at = excluded.last_cycle_finished_at,
                 last_outcome = excluded.last_outcome,
                 last_error = excluded.last_error,
                 consecutive_failures = CASE WHEN excluded.last_outcome = 'ok' THEN 0
                                             ELSE org_status.consecutive_failures + 1 END",
            (&cycle.org, finished_at, outcome, error),
        )
        .map_err(self.failed("record a cycle end"))?;
        tx.execute(
            "DELETE FROM cycle_log WHERE org = ?1 AND id < (
                 SELECT id FROM cycle_log WHERE org = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            (&cycle.org, kept_before_newest),
        )
        .map_err(self.failed("trim the cycle log"))?;
        let row = tx
            .query_row(
                &format!("SELECT {ORG_STATUS_COLUMNS} FROM org_status WHERE org = ?1"),
                [&cycle.org],
                OrgStatusRow::read,
            )
            .map_err(self.failed("read an org's status"))?;
        tx.commit().map_err(self.failed("record a cycle end"))?;
        row.into_status(&self.path)
    }

    /// Sets when the scheduler runs `org` next.
    pub fn set_next_run(&self, org: &str, at: DateTime<Utc>) -> Result<(), StorageError> {
        self.conn()
            .execute(
                "INSERT INTO org_status (org, next_run_at) VALUES (?1, ?2)
                 ON CONFLICT (org) DO UPDATE SET next_run_at = excluded.next_run_at",
                (org, at.timestamp_millis()),
            )
            .map(drop)
            .map_err(self.failed("record the next run"))
    }

    /// Adds `calls` Salesforce API calls to `org`'s count for `day` (UTC) and
    /// returns that day's total. A count stored for another day restarts.
    pub fn count_api_calls(&self, org: &str, day: NaiveDate, calls: u32) -> Result<u32, StorageError> {
        let total: i64 = self
            .conn()
            .query_row(
                "INSERT INTO org_status (org, api_calls, api_calls_day) VALUES (?1, ?2, ?3)
                 ON CONFLICT (org) DO UPDATE SET
                     api_calls = CASE WHEN org_status.api_calls_day IS excluded.api_calls_day
                                      THEN org_status.api_calls + excluded.api_calls
                                      ELSE excluded.api_calls END,
                     api_calls_day = excluded.api_calls_day
                 RETURNING api_calls",
                (org, i64::from(calls), day.to_string()),
                |row| row.get(0),
            )
            .map_err(self.failed("count API calls"))?;
        Ok(u32::try_from(total).unwrap_or(u32::MAX))
    }

    /// Marks every cycle still open in the log as ended by a host stop, and
    /// returns how many there were. Call once at start-up, before the first
    /// cycle, by the only host using this file.
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
        rows.into_iter()
            .map(|(org, started_at, finished_at, report_json, error)| {
                Ok(CycleRecord {
                    org,
                    started_at: timestamp(&self.path, "cycle start time", started_at)?,
                    finished_at: finished_at.map(|ms| timestamp(&self.path, "cycle end time", ms)).transpose()?,
                    report_json,
                    error,
                })
            })
            .collect()
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
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failed(&self, operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StorageError + '_ {
        move |e| StorageError::from_sqlite(&self.path, operation, e)
    }

    fn unavailable(&self, operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |e| StoreError::Unavailable(StorageError::from_sqlite(&self.path, operation, e).to_string())
    }
}

impl KeyValueStore for SqliteStore {
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
        let mut entries = Vec::new();
        let mut bytes = 0usize;
        for entry in rows {
            let entry = entry.map_err(self.unavailable("scan keys"))?;
            bytes = bytes.saturating_add(entry.key.len() + entry.value.len());
            if bytes > MAX_SCAN_BYTES {
                return Err(StoreError::TooLarge(format!(
                    "the keys and values under prefix `{}` exceed {MAX_SCAN_BYTES} bytes (the scan limit); scan a narrower prefix",
                    shorten(prefix)
                )));
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    fn commit(&self, namespace: &str, expect: &[Expectation], writes: &[Write]) -> Result<(), StoreError> {
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
        if expect.is_empty() && writes.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock before the expectations are read, so
        // nothing can change them between the check and the writes.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.unavailable("start a commit"))?;
        {
            let mut read = tx
                .prepare_cached("SELECT value FROM kv WHERE namespace = ?1 AND key = ?2")
                .map_err(self.unavailable("check a commit's expectations"))?;
            for expectation in expect {
                let current: Option<String> = read
                    .query_row((namespace, &expectation.key), |row| row.get(0))
                    .optional()
                    .map_err(self.unavailable("check a commit's expectations"))?;
                if current != expectation.value {
                    // Dropping the transaction rolls it back: nothing is written.
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
            for write in writes {
                match write {
                    Write::Put(entry) => put.execute((namespace, &entry.key, &entry.value)),
                    Write::Delete(key) => delete.execute((namespace, key)),
                }
                .map_err(self.unavailable("write a key"))?;
            }
        }
        tx.commit().map_err(self.unavailable("commit"))
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

fn check_key(key: &str) -> Result<(), StoreError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::TooLarge(format!(
            "the key `{}` is {} bytes; keys are at most {MAX_KEY_BYTES} bytes",
            shorten(key),
            key.len()
        )));
    }
    Ok(())
}

fn check_value(key: &str, value: &str) -> Result<(), StoreError> {
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
fn shorten(key: &str) -> String {
    const SHOWN: usize = 64;
    match key.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &key[..end]),
        None => key.to_string(),
    }
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

fn timestamp(path: &Path, what: &str, millis: i64) -> Result<DateTime<Utc>, StorageError> {
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| StorageError::Corrupt { path: path.to_path_buf(), what: format!("{what} ({millis})") })
}

const ORG_STATUS_COLUMNS: &str = "org, last_cycle_started_at, last_cycle_finished_at, last_outcome, last_error, \
     consecutive_failures, next_run_at, api_calls, api_calls_day";

/// An `org_status` row as stored, before its values are checked.
struct OrgStatusRow {
    org: String,
    last_cycle_started_at: Option<i64>,
    last_cycle_finished_at: Option<i64>,
    last_outcome: Option<String>,
    last_error: Option<String>,
    consecutive_failures: i64,
    next_run_at: Option<i64>,
    api_calls: i64,
    api_calls_day: Option<String>,
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
        })
    }

    fn into_status(self, path: &Path) -> Result<OrgStatus, StorageError> {
        let when = |what, ms: Option<i64>| ms.map(|ms| timestamp(path, what, ms)).transpose();
        let last_outcome = match (self.last_outcome.as_deref(), self.last_error) {
            (None, _) => None,
            (Some("ok"), _) => Some(CycleOutcome::Ok),
            (Some(_), error) => Some(CycleOutcome::Error(error.unwrap_or_default())),
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
            api_calls_day,
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
