//! [`Store`]: the host's database, whichever backend `[host] database`
//! names — an SQLite file (the embedded default) or a PostgreSQL server
//! shared by several hosts. Every call means the same in both; the storage
//! tests run each against both.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use super::console::{ConsoleSession, UsageDay};
use super::messenger::{MessengerFile, Visitor};
use super::platform::{ChangeRow, FindBy, Lookup, ModifyError, RecordRow, TokenRow};
use super::postgres::{self, PostgresStore};
use super::{
    Acquisition, ApiCalls, CycleEnd, CycleRecord, Fence, Holder, Lease, LeaseState, Leases, OrgStatus, SqliteStore,
    StorageError, StreamStatus,
};
use crate::runtime::BlockingKeyValueStore;
use crate::runtime::bindings::settings::ValueDescription;
use crate::runtime::bindings::store::{Entry, Expectation, StoreError, Write};

/// The host's database: one of the two backends.
#[derive(Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl From<SqliteStore> for Store {
    fn from(store: SqliteStore) -> Self {
        Store::Sqlite(store)
    }
}

impl From<PostgresStore> for Store {
    fn from(store: PostgresStore) -> Self {
        Store::Postgres(store)
    }
}

/// Calls of both backends with the same signature, forwarded.
macro_rules! forward {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self {
                        Store::Sqlite(store) => store.$name($($arg),*),
                        Store::Postgres(store) => store.$name($($arg),*),
                    }
                }
            )*
        }
    };
}

impl Store {
    /// Opens the database `[host] database` names: a `postgres://` URL, or
    /// an SQLite file.
    pub fn open(database: &Path) -> Result<Store, StorageError> {
        match database.to_str().filter(|name| postgres::is_url(name)) {
            Some(url) => PostgresStore::open(url).map(Store::Postgres),
            None => SqliteStore::open(database).map(Store::Sqlite),
        }
    }

    /// A fresh SQLite database in memory: for tests.
    pub fn in_memory() -> Result<Store, StorageError> {
        SqliteStore::in_memory().map(Store::Sqlite)
    }

    /// Keeps at most `kept` cycles per org in the cycle log (at least one).
    #[must_use]
    pub fn with_cycle_log_per_org(self, kept: u32) -> Self {
        match self {
            Store::Sqlite(store) => Store::Sqlite(store.with_cycle_log_per_org(kept)),
            Store::Postgres(store) => Store::Postgres(store.with_cycle_log_per_org(kept)),
        }
    }

    /// Whether other hosts may share this database (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    /// Reads a record, lets `change` decide, and writes it with its change-feed entry.
    pub fn platform_modify<T, E>(
        &self,
        org: &str,
        kind: &str,
        id: &str,
        by_connector: bool,
        now: i64,
        change: impl FnOnce(Option<&str>) -> Result<Option<(Lookup, String, T)>, E>,
    ) -> Result<Option<T>, ModifyError<E>> {
        match self {
            Store::Sqlite(store) => store.platform_modify(org, kind, id, by_connector, now, change),
            Store::Postgres(store) => store.platform_modify(org, kind, id, by_connector, now, change),
        }
    }

    /// Adds a note to a conversation once per idempotency `key`.
    #[allow(clippy::too_many_arguments)]
    pub fn platform_add_note(
        &self,
        org: &str,
        conversation_id: &str,
        key: &str,
        note_id: &str,
        by_connector: bool,
        now: i64,
        add: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Option<(String, bool)>, StorageError> {
        match self {
            Store::Sqlite(store) => store.platform_add_note(org, conversation_id, key, note_id, by_connector, now, add),
            Store::Postgres(store) => {
                store.platform_add_note(org, conversation_id, key, note_id, by_connector, now, add)
            }
        }
    }
}

forward! {
    /// The database file, or the PostgreSQL URL without its password.
    fn path(&self) -> &Path;
    /// The schema version the database is at.
    fn schema_version(&self) -> Result<i64, StorageError>;
    /// One org's status; `None` before its first cycle.
    fn org_status(&self, org: &str) -> Result<Option<OrgStatus>, StorageError>;
    /// Every org's status, by name.
    fn org_statuses(&self) -> Result<Vec<OrgStatus>, StorageError>;
    /// Records one cycle and gives up its lease, in one transaction.
    fn record_cycle(&self, org: &str, end: &CycleEnd, release: Option<&Lease>) -> Result<OrgStatus, StorageError>;
    /// Sets when the scheduler runs `org` next.
    fn set_next_run(&self, org: &str, at: DateTime<Utc>) -> Result<(), StorageError>;
    /// Adds requests sent outside a cycle to the day's counts.
    fn count_calls(&self, org: &str, calls: &ApiCalls) -> Result<ApiCalls, StorageError>;
    /// Asks every running scheduler to try `org` at once.
    fn request_wake(&self, org: &str, at: DateTime<Utc>) -> Result<(), StorageError>;
    /// Records how `org`'s stream stands.
    fn set_stream_status(&self, org: &str, stream: &StreamStatus) -> Result<(), StorageError>;
    /// Every org's latest wake request.
    fn wake_requests(&self) -> Result<Vec<(String, DateTime<Utc>)>, StorageError>;
    /// Closes cycles an older version left open.
    fn close_interrupted_cycles(&self, at: DateTime<Utc>) -> Result<usize, StorageError>;
    /// `org`'s most recent cycles, newest first.
    fn recent_cycles(&self, org: &str, limit: u32) -> Result<Vec<CycleRecord>, StorageError>;
    /// Stores an encrypted secret blob (the vault only).
    fn put_secret_blob(&self, org: &str, name: &str, blob: &[u8]) -> Result<(), StorageError>;
    /// The encrypted blob of a secret.
    fn secret_blob(&self, org: &str, name: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Whether any org has a stored secret.
    fn has_secrets(&self) -> Result<bool, StorageError>;
    /// Removes a stored secret; `true` if there was one.
    fn delete_secret(&self, org: &str, name: &str) -> Result<bool, StorageError>;
    /// The email sent for an idempotency key, if any.
    fn find_sent_mail(&self, org: &str, idempotency_key: &str) -> Result<Option<(String, String)>, StorageError>;
    /// Records a sent email; the first record wins.
    fn record_sent_mail(&self, org: &str, idempotency_key: &str, from_address: &str, message_id: &str) -> Result<(), StorageError>;
    /// One platform record by id.
    fn platform_get(&self, org: &str, kind: &str, id: &str) -> Result<Option<RecordRow>, StorageError>;
    /// Platform records by a lookup column.
    fn platform_find(&self, org: &str, kind: &str, by: FindBy, value: &str, limit: u32) -> Result<Vec<RecordRow>, StorageError>;
    /// Platform records after an id, by id.
    fn platform_list(&self, org: &str, kind: &str, after: Option<&str>, limit: u32) -> Result<Vec<RecordRow>, StorageError>;
    /// The platform's change feed after a sequence number.
    fn platform_changes(&self, org: &str, after: i64, limit: u32) -> Result<(Vec<ChangeRow>, bool), StorageError>;
    /// Keeps a new API token's hash.
    fn create_api_token(&self, name: &str, sha256: &[u8], now: i64) -> Result<bool, StorageError>;
    /// The live API token with this hash.
    fn api_token_named(&self, sha256: &[u8]) -> Result<Option<String>, StorageError>;
    /// Every API token.
    fn api_tokens(&self) -> Result<Vec<TokenRow>, StorageError>;
    /// Revokes an API token.
    fn revoke_api_token(&self, name: &str, now: i64) -> Result<bool, StorageError>;
    /// Sets an admin's password hash.
    fn put_console_admin(&self, name: &str, phc: &str, now: i64) -> Result<(), StorageError>;
    /// An admin's password hash.
    fn console_admin(&self, name: &str) -> Result<Option<String>, StorageError>;
    /// Whether any admin can log in.
    fn has_console_admin(&self) -> Result<bool, StorageError>;
    /// Starts a console session.
    fn create_console_session(&self, sha256: &[u8], session: &ConsoleSession, now: i64) -> Result<(), StorageError>;
    /// The live console session with this cookie hash.
    fn console_session(&self, sha256: &[u8], now: i64) -> Result<Option<ConsoleSession>, StorageError>;
    /// Ends a console session.
    fn end_console_session(&self, sha256: &[u8]) -> Result<(), StorageError>;
    /// API calls per day.
    fn usage_days(&self, org: &str, today: NaiveDate, days: u32) -> Result<Vec<UsageDay>, StorageError>;
    /// Keeps a messenger visitor.
    fn put_messenger_visitor(&self, org: &str, sha256: &[u8], visitor: &Visitor, now: i64) -> Result<(), StorageError>;
    /// The messenger visitor of a token hash.
    fn messenger_visitor(&self, org: &str, sha256: &[u8]) -> Result<Option<Visitor>, StorageError>;
    /// Keeps an attached file.
    fn put_messenger_file(&self, org: &str, id: &str, file: &MessengerFile, now: i64) -> Result<(), StorageError>;
    /// An attached file.
    fn messenger_file(&self, org: &str, id: &str) -> Result<Option<MessengerFile>, StorageError>;
    /// Keeps a list value's description.
    fn put_value_description(&self, org: &str, described: &ValueDescription, now: i64) -> Result<(), StorageError>;
    /// Every value description of an org.
    fn value_descriptions(&self, org: &str) -> Result<Vec<ValueDescription>, StorageError>;
}

impl Leases for Store {
    fn acquire(&self, org: &str, holder: &Holder, ttl: Duration) -> Result<Acquisition, StorageError> {
        match self {
            Store::Sqlite(store) => store.acquire(org, holder, ttl),
            Store::Postgres(store) => store.acquire(org, holder, ttl),
        }
    }

    fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StorageError> {
        match self {
            Store::Sqlite(store) => store.renew(lease, ttl),
            Store::Postgres(store) => store.renew(lease, ttl),
        }
    }

    fn release(&self, lease: Lease) -> Result<(), StorageError> {
        match self {
            Store::Sqlite(store) => store.release(lease),
            Store::Postgres(store) => store.release(lease),
        }
    }

    fn lease_state(&self, org: &str) -> Result<Option<LeaseState>, StorageError> {
        match self {
            Store::Sqlite(store) => store.lease_state(org),
            Store::Postgres(store) => store.lease_state(org),
        }
    }
}

impl BlockingKeyValueStore for Store {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, StoreError> {
        match self {
            Store::Sqlite(store) => store.get(namespace, key),
            Store::Postgres(store) => store.get(namespace, key),
        }
    }

    fn scan(&self, namespace: &str, prefix: &str) -> Result<Vec<Entry>, StoreError> {
        match self {
            Store::Sqlite(store) => store.scan(namespace, prefix),
            Store::Postgres(store) => store.scan(namespace, prefix),
        }
    }

    fn commit(
        &self,
        namespace: &str,
        fence: Option<&Fence>,
        expect: &[Expectation],
        writes: &[Write],
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(store) => store.commit(namespace, fence, expect, writes),
            Store::Postgres(store) => store.commit(namespace, fence, expect, writes),
        }
    }
}
