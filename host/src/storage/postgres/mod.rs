//! The PostgreSQL backend (`[host] database = "postgres://…"`): the same
//! tables and semantics as the SQLite store, shared by every host on the
//! database, so several `casebridge run` processes on several machines
//! divide the orgs between them through the orgs' leases (E12).
//!
//! ```no_run
//! # fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use casebridge::runtime::BlockingKeyValueStore;
//! use casebridge::storage::PostgresStore;
//!
//! // The password comes from the URL or from PGPASSWORD.
//! let store = PostgresStore::open("postgres://casebridge@db.internal:5432/casebridge")?;
//! assert_eq!(store.get("acme", "watermark")?, None);
//! # Ok(()) }
//! ```
//!
//! Every call blocks, like the SQLite store's (async callers use
//! `spawn_blocking`): the store owns a small tokio runtime that drives a
//! pool of [`POOL_SIZE`] connections (deadpool-postgres over tokio-postgres),
//! and each call waits for its future on the calling thread.
//!
//! - Connector commits run `SERIALIZABLE`: the expectations, the lease check
//!   and the writes see one snapshot, and a concurrent writer makes one of
//!   the two retry ([`SERIALIZATION_RETRIES`]) and then fail its expectation.
//!   The commit holds the org's lease row `FOR SHARE`, so a take-over waits
//!   for a commit in flight and a commit after a take-over sees the new token.
//! - Lease grants lock the lease row (`FOR UPDATE`) and decide as SQLite's
//!   do. Expiry is the database server's clock (`clock_timestamp()`), so
//!   hosts whose clocks disagree still agree on who holds an org; the fence a
//!   host keeps counts from its own clock, before it asked (never later than
//!   the stored expiry).
//! - The platform's change feed numbers each org's changes from a per-org
//!   row that every platform write of the org locks until it commits, so a
//!   reader never steps past a change still being committed.

mod records;
mod schema;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, NoTls, Row};

use super::sqlite::{
    INTERRUPTED_CYCLE, LEASE_COLUMNS, LeaseRow, ORG_STATUS_COLUMNS, OrgStatusRow, check_commit, check_key,
    cycle_record, decide_grant, lost_lease_message, prefix_successor, scan_limit, timestamp, ttl_ms,
};
use super::{
    Acquisition, ApiCalls, CycleEnd, CycleOutcome, CycleRecord, DEFAULT_CYCLE_LOG_PER_ORG, Fence, Holder, Lease,
    LeaseState, Leases, OrgStatus, StorageError, StreamStatus,
};
use crate::runtime::BlockingKeyValueStore;
use crate::runtime::bindings::store::{Entry, Expectation, StoreError, Write};

/// Connections each host keeps open at most: enough for the scheduler's
/// concurrent cycles (each holds one only for a statement or a commit),
/// few enough that a dozen hosts stay far below PostgreSQL's default
/// `max_connections` of 100.
pub const POOL_SIZE: usize = 8;

/// How long opening a connection, or waiting for a free one, may take
/// before the call fails as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a commit that lost a serialization race is tried again before
/// it fails as unavailable: a race is decided within one or two tries; eight
/// in a row means the org's keys are fought over by something else.
pub const SERIALIZATION_RETRIES: u32 = 8;

/// The database server's clock, in Unix milliseconds.
const NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// Whether `[host] database` names a PostgreSQL database rather than an SQLite file.
pub fn is_url(database: &str) -> bool {
    database.starts_with("postgres://") || database.starts_with("postgresql://")
}

/// The URL as it may be shown: without its password.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(an unreadable URL)".into(),
    }
}

/// The connector's key-value store and the host's tables, in PostgreSQL.
pub struct PostgresStore {
    pool: Pool,
    /// Drives the pool's connections; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    /// The URL without its password, for messages.
    url: String,
    /// The same, as the shared row conversions name a database.
    path: PathBuf,
    cycle_log_per_org: u32,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio refuses inside async code.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL; the password
    /// from the URL or `PGPASSWORD`) and brings its schema up to date.
    pub fn open(url: &str) -> Result<Self, StorageError> {
        let shown = redact(url);
        let bad_url = |detail: String| StorageError::PostgresUrl { url: shown.clone(), detail };
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e: tokio_postgres::Error| bad_url(e.to_string()))?;
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        // Names the process to the server (`pg_stat_activity`), as its leases do.
        config.application_name(&format!("casebridge pid {}", std::process::id()));
        // Not the notices of `CREATE TABLE IF NOT EXISTS` at every start.
        config.options("-c client_min_messages=warning");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("casebridge-postgres")
            .enable_all()
            .build()
            .map_err(|e| bad_url(format!("cannot start its connection threads: {e}")))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| bad_url(e.to_string()))?;
        let store = PostgresStore {
            pool,
            runtime: Some(runtime),
            path: PathBuf::from(&shown),
            url: shown,
            cycle_log_per_org: DEFAULT_CYCLE_LOG_PER_ORG,
        };
        store.run(async {
            let mut client = store.client("open").await?;
            schema::migrate(&mut client, &store.url).await
        })?;
        Ok(store)
    }

    /// Keeps at most `kept` cycles per org in the cycle log (at least one).
    #[must_use]
    pub fn with_cycle_log_per_org(mut self, kept: u32) -> Self {
        self.cycle_log_per_org = kept.max(1);
        self
    }

    /// The database's URL, without its password.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i64, StorageError> {
        let failed = self.failed("read the schema version");
        self.run(async {
            let client = self.client("read the schema version").await?;
            let row = client
                .query_one("SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version", &[])
                .await
                .map_err(failed)?;
            row.try_get(0).map_err(failed)
        })
    }

    // ---- org status and the cycle log ----

    /// One org's status; `None` before its first cycle.
    pub fn org_status(&self, org: &str) -> Result<Option<OrgStatus>, StorageError> {
        let failed = self.failed("read an org's status");
        let row = self.run(async {
            let client = self.client("read an org's status").await?;
            let sql = format!("SELECT {ORG_STATUS_COLUMNS} FROM org_status WHERE org = $1");
            let row = client.query_opt(&sql, &[&org]).await.map_err(failed)?;
            row.as_ref().map(status_row).transpose().map_err(failed)
        })?;
        row.map(|row| row.into_status(&self.path)).transpose()
    }

    /// Every org's status, by name.
    pub fn org_statuses(&self) -> Result<Vec<OrgStatus>, StorageError> {
        let failed = self.failed("read the orgs' status");
        let rows = self.run(async {
            let client = self.client("read the orgs' status").await?;
            let sql = format!("SELECT {ORG_STATUS_COLUMNS} FROM org_status ORDER BY org COLLATE \"C\"");
            let rows = client.query(&sql, &[]).await.map_err(failed)?;
            rows.iter().map(status_row).collect::<Result<Vec<_>, _>>().map_err(failed)
        })?;
        rows.into_iter().map(|row| row.into_status(&self.path)).collect()
    }

    /// Records one cycle in one transaction and gives up `release` in it;
    /// see [`SqliteStore::record_cycle`](super::SqliteStore::record_cycle).
    pub fn record_cycle(&self, org: &str, end: &CycleEnd, release: Option<&Lease>) -> Result<OrgStatus, StorageError> {
        let (outcome, kind, error) = match &end.outcome {
            CycleOutcome::Ok => ("ok", None, None),
            CycleOutcome::Error { kind, message } => ("error", Some(kind.as_str()), Some(message.as_str())),
        };
        let kept_before_newest = i64::from(self.cycle_log_per_org.saturating_sub(1));
        let failed = self.failed("record a cycle");
        let row = self.run(async {
            let mut client = self.client("record a cycle").await?;
            let tx = client.transaction().await.map_err(failed)?;
            let (started, finished) = (end.started_at.timestamp_millis(), end.finished_at.timestamp_millis());
            let report = end.report_json.as_deref();
            tx.execute(
                "INSERT INTO cycle_log (org, started_at, finished_at, report, error) VALUES ($1, $2, $3, $4, $5)",
                &[&org, &started, &finished, &report, &error],
            )
            .await
            .map_err(failed)?;
            let next_run_at = end.next_run_at.map(|at| at.timestamp_millis());
            tx.execute(
                "INSERT INTO org_status (org, last_cycle_started_at, last_cycle_finished_at, last_outcome, last_error,
                     last_error_kind, consecutive_failures, last_report, next_run_at)
                 VALUES ($1, $2, $3, $4::TEXT, $5, $6, CASE WHEN $4::TEXT = 'ok' THEN 0 ELSE 1 END, $7, $8)
                 ON CONFLICT (org) DO UPDATE SET
                     last_cycle_started_at = EXCLUDED.last_cycle_started_at,
                     last_cycle_finished_at = EXCLUDED.last_cycle_finished_at,
                     last_outcome = EXCLUDED.last_outcome,
                     last_error = EXCLUDED.last_error,
                     last_error_kind = EXCLUDED.last_error_kind,
                     consecutive_failures = CASE WHEN EXCLUDED.last_outcome = 'ok' THEN 0
                                                 ELSE org_status.consecutive_failures + 1 END,
                     last_report = COALESCE(EXCLUDED.last_report, org_status.last_report),
                     next_run_at = COALESCE(EXCLUDED.next_run_at, org_status.next_run_at)",
                &[&org, &started, &finished, &outcome, &error, &kind, &report, &next_run_at],
            )
            .await
            .map_err(failed)?;
            add_calls(&tx, org, &end.calls).await.map_err(failed)?;
            tx.execute(
                "DELETE FROM cycle_log WHERE org = $1 AND id < (
                     SELECT id FROM cycle_log WHERE org = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
                &[&org, &kept_before_newest],
            )
            .await
            .map_err(failed)?;
            if let Some(lease) = release {
                release_in(&tx, lease).await.map_err(failed)?;
            }
            let sql = format!("SELECT {ORG_STATUS_COLUMNS} FROM org_status WHERE org = $1");
            let row = tx.query_one(&sql, &[&org]).await.map_err(failed)?;
            let row = status_row(&row).map_err(failed)?;
            tx.commit().await.map_err(failed)?;
            Ok(row)
        })?;
        row.into_status(&self.path)
    }

    /// Sets when the scheduler runs `org` next.
    pub fn set_next_run(&self, org: &str, at: DateTime<Utc>) -> Result<(), StorageError> {
        self.execute(
            "record the next run",
            "INSERT INTO org_status (org, next_run_at) VALUES ($1, $2)
             ON CONFLICT (org) DO UPDATE SET next_run_at = EXCLUDED.next_run_at",
            &[&org, &at.timestamp_millis()],
        )
        .map(drop)
    }

    /// Adds requests sent outside a cycle to the day's counts; returns the day's totals.
    pub fn count_calls(&self, org: &str, calls: &ApiCalls) -> Result<ApiCalls, StorageError> {
        let failed = self.failed("count API calls");
        self.run(async {
            let mut client = self.client("count API calls").await?;
            let tx = client.transaction().await.map_err(failed)?;
            let totals = add_calls(&tx, org, calls).await.map_err(failed)?;
            tx.commit().await.map_err(failed)?;
            Ok(totals)
        })
    }

    /// Asks every running scheduler to try `org` at once.
    pub fn request_wake(&self, org: &str, at: DateTime<Utc>) -> Result<(), StorageError> {
        self.execute(
            "ask the scheduler to try the org again",
            "INSERT INTO org_status (org, wake_requested_at) VALUES ($1, $2)
             ON CONFLICT (org) DO UPDATE SET wake_requested_at = EXCLUDED.wake_requested_at",
            &[&org, &at.timestamp_millis()],
        )
        .map(drop)
    }

    /// Records how `org`'s stream stands.
    pub fn set_stream_status(&self, org: &str, stream: &StreamStatus) -> Result<(), StorageError> {
        let json = serde_json::to_string(stream).map_err(|error| StorageError::Corrupt {
            path: self.path.clone(),
            what: format!("stream status of org {org}: {error}"),
        })?;
        self.execute(
            "record the stream's status",
            "INSERT INTO org_status (org, stream) VALUES ($1, $2)
             ON CONFLICT (org) DO UPDATE SET stream = EXCLUDED.stream",
            &[&org, &json],
        )
        .map(drop)
    }

    /// Every org's latest wake request, by name.
    pub fn wake_requests(&self) -> Result<Vec<(String, DateTime<Utc>)>, StorageError> {
        let failed = self.failed("read the wake requests");
        let rows: Vec<(String, i64)> = self.run(async {
            let client = self.client("read the wake requests").await?;
            let rows = client
                .query("SELECT org, wake_requested_at FROM org_status WHERE wake_requested_at IS NOT NULL", &[])
                .await
                .map_err(failed)?;
            rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_, _>>().map_err(failed)
        })?;
        rows.into_iter().map(|(org, ms)| Ok((org, timestamp(&self.path, "wake request time", ms)?))).collect()
    }

    /// Marks every cycle still open in the log as ended by a host stop.
    pub fn close_interrupted_cycles(&self, at: DateTime<Utc>) -> Result<usize, StorageError> {
        let closed = self.execute(
            "close interrupted cycles",
            "UPDATE cycle_log SET finished_at = $1, error = $2 WHERE finished_at IS NULL",
            &[&at.timestamp_millis(), &INTERRUPTED_CYCLE],
        )?;
        Ok(usize::try_from(closed).unwrap_or(usize::MAX))
    }

    /// `org`'s most recent cycles, newest first.
    pub fn recent_cycles(&self, org: &str, limit: u32) -> Result<Vec<CycleRecord>, StorageError> {
        let failed = self.failed("read the cycle log");
        let rows = self.run(async {
            let client = self.client("read the cycle log").await?;
            let rows = client
                .query(
                    "SELECT org, started_at, finished_at, report, error FROM cycle_log
                     WHERE org = $1 ORDER BY id DESC LIMIT $2",
                    &[&org, &i64::from(limit)],
                )
                .await
                .map_err(failed)?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?)))
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                .map_err(failed)
        })?;
        rows.into_iter().map(|row| cycle_record(&self.path, row)).collect()
    }

    // ---- encrypted secrets ----

    /// Stores an encrypted secret blob (already ciphertext: only the vault calls this).
    pub fn put_secret_blob(&self, org: &str, name: &str, blob: &[u8]) -> Result<(), StorageError> {
        self.execute(
            "store a secret",
            "INSERT INTO org_secrets (org, name, blob, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (org, name) DO UPDATE SET blob = EXCLUDED.blob, updated_at = EXCLUDED.updated_at",
            &[&org, &name, &blob, &Utc::now().timestamp_millis()],
        )
        .map(drop)
    }

    /// The encrypted blob of a secret, if one is stored.
    pub fn secret_blob(&self, org: &str, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.query_opt("read a secret", "SELECT blob FROM org_secrets WHERE org = $1 AND name = $2", &[&org, &name])
    }

    /// Whether any org has a stored secret.
    pub fn has_secrets(&self) -> Result<bool, StorageError> {
        self.query_one("look for stored secrets", "SELECT EXISTS (SELECT 1 FROM org_secrets)", &[])
    }

    /// Removes a stored secret; `true` if there was one.
    pub fn delete_secret(&self, org: &str, name: &str) -> Result<bool, StorageError> {
        self.execute("delete a secret", "DELETE FROM org_secrets WHERE org = $1 AND name = $2", &[&org, &name])
            .map(|deleted| deleted > 0)
    }

    // ---- sent mail ----

    /// The sender address and `Message-ID` of the email sent for this key, if one was sent.
    pub fn find_sent_mail(&self, org: &str, idempotency_key: &str) -> Result<Option<(String, String)>, StorageError> {
        let failed = self.failed("look up a sent email");
        self.run(async {
            let client = self.client("look up a sent email").await?;
            let row = client
                .query_opt(
                    "SELECT from_address, message_id FROM mail_sent WHERE org = $1 AND idempotency_key = $2",
                    &[&org, &idempotency_key],
                )
                .await
                .map_err(failed)?;
            row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose().map_err(failed)
        })
    }

    /// Records that the email for this key was sent; the first record wins.
    pub fn record_sent_mail(
        &self,
        org: &str,
        idempotency_key: &str,
        from_address: &str,
        message_id: &str,
    ) -> Result<(), StorageError> {
        self.execute(
            "record a sent email",
            "INSERT INTO mail_sent (org, idempotency_key, from_address, message_id, sent_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org, idempotency_key) DO NOTHING",
            &[&org, &idempotency_key, &from_address, &message_id, &Utc::now().timestamp_millis()],
        )
        .map(drop)
    }

    // ---- internals ----

    /// Waits on this thread for `work`, with the store's runtime as the
    /// current one (its connections and timers run there).
    fn run<T>(&self, work: impl Future<Output = T>) -> T {
        let _entered = self.runtime.as_ref().map(tokio::runtime::Runtime::enter);
        // Called from async code, the caller's task budget would run out
        // inside this wait, and tokio's resources would then answer
        // "pending, try again" for ever: the wait is outside the budget.
        futures_executor::block_on(tokio::task::unconstrained(work))
    }

    /// A pooled connection.
    async fn client(&self, operation: &'static str) -> Result<deadpool_postgres::Object, StorageError> {
        // A connection the server closed while it sat in the pool (a
        // restart, a failover) is dropped here rather than failing the call.
        for _ in 0..POOL_SIZE {
            match self.pool.get().await {
                Ok(client) if client.is_closed() => drop(deadpool_postgres::Object::take(client)),
                got => return got.map_err(|error| self.checkout_failed(operation, error)),
            }
        }
        self.pool.get().await.map_err(|error| self.checkout_failed(operation, error))
    }

    fn checkout_failed(&self, operation: &'static str, error: PoolError) -> StorageError {
        match error {
            PoolError::Backend(source) => StorageError::from_postgres(&self.url, operation, source),
            PoolError::Timeout(_) => StorageError::PostgresUnreachable {
                url: self.url.clone(),
                operation,
                detail: format!(
                    "no connection within {} s (the server does not answer, or all {POOL_SIZE} connections are busy)",
                    CONNECT_TIMEOUT.as_secs()
                ),
            },
            other => StorageError::PostgresUnreachable { url: self.url.clone(), operation, detail: other.to_string() },
        }
    }

    pub(super) fn failed(&self, operation: &'static str) -> impl Fn(tokio_postgres::Error) -> StorageError + Copy + '_ {
        move |e| StorageError::from_postgres(&self.url, operation, e)
    }

    /// One statement on its own; the rows it changed.
    pub(super) fn execute(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StorageError> {
        let failed = self.failed(operation);
        self.run(async {
            let client = self.client(operation).await?;
            let statement = client.prepare_cached(sql).await.map_err(failed)?;
            client.execute(&statement, params).await.map_err(failed)
        })
    }

    /// The first column of the one row a query returns.
    pub(super) fn query_one<T: for<'a> tokio_postgres::types::FromSql<'a>>(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<T, StorageError> {
        let failed = self.failed(operation);
        self.run(async {
            let client = self.client(operation).await?;
            let statement = client.prepare_cached(sql).await.map_err(failed)?;
            client.query_one(&statement, params).await.and_then(|row| row.try_get(0)).map_err(failed)
        })
    }

    /// The first column of the row a query returns, if it returns one.
    pub(super) fn query_opt<T: for<'a> tokio_postgres::types::FromSql<'a>>(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<T>, StorageError> {
        let failed = self.failed(operation);
        self.run(async {
            let client = self.client(operation).await?;
            let statement = client.prepare_cached(sql).await.map_err(failed)?;
            let row = client.query_opt(&statement, params).await.map_err(failed)?;
            row.map(|row| row.try_get(0)).transpose().map_err(failed)
        })
    }

    /// Rows read by `read`, each turned into a value.
    pub(super) fn query_all<T>(
        &self,
        operation: &'static str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        read: impl Fn(&Row) -> Result<T, tokio_postgres::Error>,
    ) -> Result<Vec<T>, StorageError> {
        let failed = self.failed(operation);
        self.run(async {
            let client = self.client(operation).await?;
            let statement = client.prepare_cached(sql).await.map_err(failed)?;
            let rows = client.query(&statement, params).await.map_err(failed)?;
            rows.iter().map(read).collect::<Result<Vec<_>, _>>().map_err(failed)
        })
    }

    /// One connector commit, in one `SERIALIZABLE` transaction. The outer
    /// error is the database's (a lost race is retried by the caller); the
    /// inner one is the commit refused (a lost lease, a failed expectation).
    async fn try_commit(
        &self,
        client: &mut deadpool_postgres::Object,
        namespace: &str,
        fence: Option<&Fence>,
        expect: &[Expectation],
        writes: &[Write],
    ) -> Result<Result<(), StoreError>, tokio_postgres::Error> {
        let tx = client.build_transaction().isolation_level(IsolationLevel::Serializable).start().await?;
        if let Some(fence) = fence {
            let sql = format!("SELECT {LEASE_COLUMNS}, {NOW_MS} FROM org_lease WHERE org = $1 FOR SHARE");
            let row = tx.query_opt(&sql, &[&fence.org()]).await?;
            let now = row.as_ref().map(|r| r.try_get::<_, i64>(6)).transpose()?.unwrap_or_default();
            let current = row.as_ref().map(lease_row).transpose()?;
            let held = current.as_ref().is_some_and(|row| row.token == fence.token() && row.expires_at > now);
            if fence.org() != namespace || !held {
                return Ok(Err(StoreError::Conflict(lost_lease_message(namespace, fence, current.as_ref(), now))));
            }
        }
        let read = tx.prepare_cached("SELECT value FROM kv WHERE namespace = $1 AND key = $2 FOR UPDATE").await?;
        for expectation in expect {
            let row = tx.query_opt(&read, &[&namespace, &expectation.key]).await?;
            let current: Option<String> = row.map(|r| r.try_get(0)).transpose()?;
            if current != expectation.value {
                return Ok(Err(StoreError::Conflict(expectation.key.clone())));
            }
        }
        let put = tx
            .prepare_cached(
                "INSERT INTO kv (namespace, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value",
            )
            .await?;
        let delete = tx.prepare_cached("DELETE FROM kv WHERE namespace = $1 AND key = $2").await?;
        for write in writes {
            match write {
                Write::Put(entry) => tx.execute(&put, &[&namespace, &entry.key, &entry.value]).await?,
                Write::Delete(key) => tx.execute(&delete, &[&namespace, key]).await?,
            };
        }
        tx.commit().await?;
        Ok(Ok(()))
    }
}

/// A storage failure as the connector sees it: try again later.
fn unavailable(error: StorageError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// Whether the database refused a transaction only because a concurrent
/// one won a race: it is safe to run it again from the start.
fn lost_a_race(error: &tokio_postgres::Error) -> bool {
    error
        .code()
        .is_some_and(|code| *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED)
}

fn lease_row(row: &Row) -> Result<LeaseRow, tokio_postgres::Error> {
    let pid: i64 = row.try_get(1)?;
    Ok(LeaseRow {
        holder: Holder::new(
            row.try_get::<_, String>(0)?,
            u32::try_from(pid).unwrap_or(0),
            row.try_get::<_, String>(2)?,
        ),
        token: row.try_get(3)?,
        acquired_at: row.try_get(4)?,
        expires_at: row.try_get(5)?,
    })
}

fn status_row(row: &Row) -> Result<OrgStatusRow, tokio_postgres::Error> {
    Ok(OrgStatusRow {
        org: row.try_get(0)?,
        last_cycle_started_at: row.try_get(1)?,
        last_cycle_finished_at: row.try_get(2)?,
        last_outcome: row.try_get(3)?,
        last_error: row.try_get(4)?,
        consecutive_failures: row.try_get(5)?,
        next_run_at: row.try_get(6)?,
        api_calls: row.try_get(7)?,
        api_calls_day: row.try_get(8)?,
        token_requests: row.try_get(9)?,
        last_report: row.try_get(10)?,
        last_error_kind: row.try_get(11)?,
        wake_requested_at: row.try_get(12)?,
        stream: row.try_get(13)?,
    })
}

/// Adds `calls` to `org`'s counts (restarting them on a new day); returns the day's totals.
async fn add_calls(
    tx: &deadpool_postgres::Transaction<'_>,
    org: &str,
    calls: &ApiCalls,
) -> Result<ApiCalls, tokio_postgres::Error> {
    let (api, tokens, day) = (i64::from(calls.api), i64::from(calls.token_requests), calls.day.to_string());
    let row = tx
        .query_one(
            "INSERT INTO org_status (org, api_calls, token_requests, api_calls_day) VALUES ($1, $2, $3, $4)
             ON CONFLICT (org) DO UPDATE SET
                 api_calls = CASE WHEN org_status.api_calls_day IS NOT DISTINCT FROM EXCLUDED.api_calls_day
                                  THEN org_status.api_calls + EXCLUDED.api_calls
                                  ELSE EXCLUDED.api_calls END,
                 token_requests = CASE WHEN org_status.api_calls_day IS NOT DISTINCT FROM EXCLUDED.api_calls_day
                                       THEN org_status.token_requests + EXCLUDED.token_requests
                                       ELSE EXCLUDED.token_requests END,
                 api_calls_day = EXCLUDED.api_calls_day
             RETURNING api_calls, token_requests",
            &[&org, &api, &tokens, &day],
        )
        .await?;
    let (api_total, tokens_total): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    tx.execute(
        "INSERT INTO api_usage_day (org, day, api_calls, token_requests) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org, day) DO UPDATE SET
             api_calls = api_usage_day.api_calls + EXCLUDED.api_calls,
             token_requests = api_usage_day.token_requests + EXCLUDED.token_requests",
        &[&org, &day, &api, &tokens],
    )
    .await?;
    Ok(ApiCalls {
        day: calls.day,
        api: u32::try_from(api_total).unwrap_or(u32::MAX),
        token_requests: u32::try_from(tokens_total).unwrap_or(u32::MAX),
    })
}

async fn release_in(tx: &deadpool_postgres::Transaction<'_>, lease: &Lease) -> Result<(), tokio_postgres::Error> {
    tx.execute("UPDATE org_lease SET expires_at = 0 WHERE org = $1 AND token = $2", &[&lease.org(), &lease.token()])
        .await
        .map(drop)
}

impl Leases for PostgresStore {
    fn acquire(&self, org: &str, holder: &Holder, ttl: Duration) -> Result<Acquisition, StorageError> {
        let failed = self.failed("take an org's lease");
        // The fence counts from before the request, on this host's clock.
        let asked_at = Utc::now();
        let taken = self.run(async {
            let mut client = self.client("take an org's lease").await?;
            let tx = client.transaction().await.map_err(failed)?;
            // A row to lock, for the first grant; it never commits as it is.
            tx.execute(
                "INSERT INTO org_lease (org, holder_host, holder_pid, holder_nonce, token, acquired_at, expires_at)
                 VALUES ($1, '', 0, '', 0, 0, 0) ON CONFLICT (org) DO NOTHING",
                &[&org],
            )
            .await
            .map_err(failed)?;
            let sql = format!("SELECT {LEASE_COLUMNS}, {NOW_MS} FROM org_lease WHERE org = $1 FOR UPDATE");
            let row = tx.query_one(&sql, &[&org]).await.map_err(failed)?;
            let now: i64 = row.try_get(6).map_err(failed)?;
            let current = lease_row(&row).map_err(failed)?;
            let current = (current.token > 0).then_some(current);
            let token = match decide_grant(org, current.as_ref(), holder, now) {
                Ok(token) => token,
                Err(held) => return Ok(Err(held)),
            };
            tx.execute(
                "UPDATE org_lease SET holder_host = $2, holder_pid = $3, holder_nonce = $4, token = $5,
                     acquired_at = $6, expires_at = $6::BIGINT + $7::BIGINT WHERE org = $1",
                &[&org, &holder.host(), &i64::from(holder.pid()), &holder.nonce(), &token, &now, &ttl_ms(ttl)],
            )
            .await
            .map_err(failed)?;
            tx.commit().await.map_err(failed)?;
            Ok(Ok(token))
        })?;
        Ok(match taken {
            Ok(token) => {
                let expires_at = asked_at + chrono::Duration::from_std(ttl).unwrap_or_default();
                Acquisition::Acquired(Lease::new(org, holder.clone(), token, expires_at))
            }
            Err((holder, until)) => Acquisition::Held { holder, until: timestamp(&self.path, "lease expiry", until)? },
        })
    }

    fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StorageError> {
        let sql = format!(
            "UPDATE org_lease SET expires_at = {NOW_MS} + $3 WHERE org = $1 AND token = $2 AND expires_at <> 0"
        );
        self.execute("renew an org's lease", &sql, &[&lease.org(), &lease.token(), &ttl_ms(ttl)]).map(|n| n == 1)
    }

    fn release(&self, lease: Lease) -> Result<(), StorageError> {
        self.execute(
            "release an org's lease",
            "UPDATE org_lease SET expires_at = 0 WHERE org = $1 AND token = $2",
            &[&lease.org(), &lease.token()],
        )
        .map(drop)
    }

    fn lease_state(&self, org: &str) -> Result<Option<LeaseState>, StorageError> {
        let sql = format!("SELECT {LEASE_COLUMNS} FROM org_lease WHERE org = $1");
        let rows = self.query_all("read an org's lease", &sql, &[&org], lease_row)?;
        rows.into_iter().next().map(|row| row.into_state(&self.path)).transpose()
    }
}

impl BlockingKeyValueStore for PostgresStore {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, StoreError> {
        check_key(key)?;
        self.query_opt("read a key", "SELECT value FROM kv WHERE namespace = $1 AND key = $2", &[&namespace, &key])
            .map_err(unavailable)
    }

    fn scan(&self, namespace: &str, prefix: &str) -> Result<Vec<Entry>, StoreError> {
        check_key(prefix)?;
        let read = |r: &Row| Ok(Entry { key: r.try_get(0)?, value: r.try_get(1)? });
        let entries = match prefix_successor(prefix) {
            Some(end) => self.query_all(
                "scan keys",
                "SELECT key, value FROM kv WHERE namespace = $1 AND key >= $2 AND key < $3 ORDER BY key",
                &[&namespace, &prefix, &end],
                read,
            ),
            None => self.query_all(
                "scan keys",
                "SELECT key, value FROM kv WHERE namespace = $1 AND key >= $2 ORDER BY key",
                &[&namespace, &prefix],
                read,
            ),
        }
        .map_err(unavailable)?;
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
        let failed = self.failed("commit");
        self.run(async {
            let mut client = self.client("commit").await.map_err(unavailable)?;
            let mut attempt = 0;
            loop {
                match self.try_commit(&mut client, namespace, fence, expect, writes).await {
                    Ok(outcome) => return outcome,
                    Err(error) if lost_a_race(&error) && attempt < SERIALIZATION_RETRIES => {
                        attempt += 1;
                        // Apart a little, so that the racers do not meet again.
                        let jitter = u64::from(std::process::id() % 7) + u64::from(attempt) * 3;
                        tokio::time::sleep(Duration::from_millis(jitter)).await;
                    }
                    Err(error) => return Err(unavailable(failed(error))),
                }
            }
        })
    }
}
