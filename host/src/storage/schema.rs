//! The database schema and its migrations, in one place.
//!
//! `MIGRATIONS[i]` brings the database from version `i` to `i + 1`; the
//! versions applied are rows of `schema_version`. Append only: a released
//! migration is never edited, a change is a new entry.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StorageError;

/// Every schema change, oldest first.
const MIGRATIONS: &[&str] = &[
    // 1: the connector's key-value store and the host's tables.
    r#"
    -- The connector's state. `key` compares bytewise (BINARY collation), so
    -- the primary key serves exact reads and prefix scans as range queries.
    CREATE TABLE kv (
        namespace TEXT NOT NULL,
        key       TEXT NOT NULL,
        value     TEXT NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID;

    -- One row per org the scheduler has run: schedule, health, API usage.
    CREATE TABLE org_status (
        org                    TEXT PRIMARY KEY NOT NULL,
        last_cycle_started_at  INTEGER,  -- Unix milliseconds
        last_cycle_finished_at INTEGER,  -- Unix milliseconds
        last_outcome           TEXT CHECK (last_outcome IN ('ok', 'error')),
        last_error             TEXT,
        consecutive_failures   INTEGER NOT NULL DEFAULT 0,
        next_run_at            INTEGER,  -- Unix milliseconds
        api_calls              INTEGER NOT NULL DEFAULT 0,
        api_calls_day          TEXT      -- YYYY-MM-DD (UTC) that api_calls counts for
    ) WITHOUT ROWID;

    -- Org credentials, encrypted by the secret vault; never plaintext.
    CREATE TABLE org_secrets (
        org        TEXT NOT NULL,
        name       TEXT NOT NULL,
        blob       BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (org, name)
    ) WITHOUT ROWID;

    -- Recent cycles per org, capped by the retention setting.
    CREATE TABLE cycle_log (
        id          INTEGER PRIMARY KEY,
        org         TEXT NOT NULL,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER,
        report      TEXT,
        error       TEXT
    );
    CREATE INDEX cycle_log_by_org ON cycle_log (org, id);

    -- Emails sent, by the connector's idempotency key: a repeated send
    -- returns the first result instead of mailing the customer again.
    CREATE TABLE mail_sent (
        org             TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        from_address    TEXT NOT NULL,
        message_id      TEXT NOT NULL,
        sent_at         INTEGER NOT NULL,
        PRIMARY KEY (org, idempotency_key)
    ) WITHOUT ROWID;
    "#,
    // 2: one cycle per org across processes, and what `status` reports.
    r#"
    -- Each org's lease (see storage::lease): who cycles it, under which
    -- fencing token, until when. The row stays after a release (expires_at
    -- 0) so that tokens keep increasing.
    CREATE TABLE org_lease (
        org          TEXT PRIMARY KEY NOT NULL,
        holder_host  TEXT NOT NULL,
        holder_pid   INTEGER NOT NULL,
        holder_nonce TEXT NOT NULL,
        token        INTEGER NOT NULL,  -- +1 on every grant, never reused
        acquired_at  INTEGER NOT NULL,  -- Unix milliseconds
        expires_at   INTEGER NOT NULL   -- Unix milliseconds; 0 once released
    ) WITHOUT ROWID;

    -- OAuth token requests, counted apart from API calls, for api_calls_day.
    ALTER TABLE org_status ADD COLUMN token_requests INTEGER NOT NULL DEFAULT 0;
    -- The newest cycle report (JSON), so the watermark survives failed cycles.
    ALTER TABLE org_status ADD COLUMN last_report TEXT;
    -- What kind of failure the last error was (host::OrgError::kind).
    ALTER TABLE org_status ADD COLUMN last_error_kind TEXT;
    -- When `casebridge org connect` asked a running scheduler to try the org
    -- again at once (Unix milliseconds).
    ALTER TABLE org_status ADD COLUMN wake_requested_at INTEGER;
    "#,
    // 3: the support platform's records (storage::platform) and API tokens.
    r#"
    -- People, companies, teammates, conversations and attribute definitions,
    -- one row each: `body` is the record as JSON; the columns beside it are
    -- what it is looked up by.
    CREATE TABLE platform_record (
        org         TEXT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('person', 'company', 'teammate', 'conversation', 'attribute')),
        id          TEXT NOT NULL,
        email_lower TEXT,            -- people: the email, lower-cased
        sf_id       TEXT,            -- people and companies: the linked Salesforce Id
        case_id     TEXT,            -- conversations: the Salesforce case
        name_lower  TEXT,            -- people and companies: the name, lower-cased
        updated_at  INTEGER NOT NULL, -- Unix milliseconds
        body        TEXT NOT NULL,
        PRIMARY KEY (org, kind, id)
    ) WITHOUT ROWID;
    CREATE INDEX platform_record_by_email ON platform_record (org, kind, email_lower) WHERE email_lower IS NOT NULL;
    CREATE INDEX platform_record_by_link ON platform_record (org, kind, sf_id) WHERE sf_id IS NOT NULL;
    CREATE UNIQUE INDEX platform_record_by_case ON platform_record (org, kind, case_id) WHERE case_id IS NOT NULL;
    CREATE INDEX platform_record_by_name ON platform_record (org, kind, name_lower) WHERE name_lower IS NOT NULL;

    -- Notes by idempotency key: a note added twice is kept once.
    CREATE TABLE platform_note_key (
        org             TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        note_id         TEXT NOT NULL,
        PRIMARY KEY (org, idempotency_key)
    ) WITHOUT ROWID;

    -- The change feed: `seq` is the cursor.
    CREATE TABLE platform_change (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        org          TEXT NOT NULL,
        kind         TEXT NOT NULL,
        record_id    TEXT NOT NULL,
        by_connector INTEGER NOT NULL,
        changed_at   INTEGER NOT NULL
    );
    CREATE INDEX platform_change_by_org ON platform_change (org, seq);
    CREATE INDEX platform_change_by_time ON platform_change (org, changed_at);

    -- Tokens for the platform API: their SHA-256 only, never the token.
    CREATE TABLE api_token (
        name       TEXT PRIMARY KEY NOT NULL,
        sha256     BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    ) WITHOUT ROWID;
    "#,
    // 4: the web messenger (storage::messenger): visitors and their files.
    r#"
    -- A messenger visitor: the SHA-256 of the token their browser keeps,
    -- never the token; the platform person and conversation it opens.
    CREATE TABLE messenger_visitor (
        org             TEXT NOT NULL,
        sha256          BLOB NOT NULL,
        person_id       TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        PRIMARY KEY (org, sha256)
    ) WITHOUT ROWID;

    -- Files a customer attached in the messenger, by the id the part's
    -- attachment names.
    CREATE TABLE messenger_file (
        org             TEXT NOT NULL,
        id              TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        name            TEXT NOT NULL,
        content_type    TEXT NOT NULL,
        bytes           BLOB NOT NULL,
        created_at      INTEGER NOT NULL,
        PRIMARY KEY (org, id)
    ) WITHOUT ROWID;
    "#,
    // 5: the workflow (storage::descriptions): what admins wrote about list values.
    r#"
    -- One list value's description, for attribute detection (A11).
    CREATE TABLE value_description (
        org         TEXT NOT NULL,
        object      TEXT NOT NULL,
        field       TEXT NOT NULL,
        value       TEXT NOT NULL,
        description TEXT NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (org, object, field, value)
    ) WITHOUT ROWID;
    "#,
    // 6: streaming mode (E4): how the org's stream stands, for `status`.
    r#"
    -- The newest stream step of a streaming org (JSON, storage::StreamStatus).
    ALTER TABLE org_status ADD COLUMN stream TEXT;
    "#,
    // 7: the admin console (storage::console): its admins, their sessions,
    // and API calls per day for the usage chart.
    r#"
    -- An admin of the console: an Argon2id hash (PHC string), never the password.
    CREATE TABLE console_admin (
        name       TEXT PRIMARY KEY NOT NULL,
        phc        TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- A logged-in browser: the SHA-256 of its cookie, never the cookie, and
    -- the token its forms must carry (CSRF).
    CREATE TABLE console_session (
        sha256     BLOB PRIMARY KEY NOT NULL,
        admin      TEXT NOT NULL,
        csrf       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- API calls per org and UTC day (org_status keeps only today's).
    CREATE TABLE api_usage_day (
        org            TEXT NOT NULL,
        day            TEXT NOT NULL,  -- YYYY-MM-DD (UTC)
        api_calls      INTEGER NOT NULL,
        token_requests INTEGER NOT NULL,
        PRIMARY KEY (org, day)
    ) WITHOUT ROWID;
    INSERT INTO api_usage_day (org, day, api_calls, token_requests)
        SELECT org, api_calls_day, api_calls, token_requests FROM org_status WHERE api_calls_day IS NOT NULL;
    "#,
];

/// The schema version this casebridge writes.
pub(super) fn latest_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Brings the database up to [`latest_version`], each step in its own
/// transaction; refuses a database written by a newer casebridge.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StorageError> {
    let failed = |operation, e| StorageError::from_sqlite(path, operation, e);
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version    INTEGER PRIMARY KEY NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )
    .map_err(|e| failed("create the schema version table", e))?;

    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        // IMMEDIATE: two hosts starting on one file must not both apply a step.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| failed("start a schema upgrade", e))?;
        let current: i64 = tx
            .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |row| row.get(0))
            .map_err(|e| failed("read the schema version", e))?;
        if current >= version {
            continue;
        }
        tx.execute_batch(sql).map_err(|source| StorageError::Migration {
            path: path.to_path_buf(),
            version,
            source,
        })?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            (version, chrono::Utc::now().timestamp_millis()),
        )
        .map_err(|source| StorageError::Migration { path: path.to_path_buf(), version, source })?;
        tx.commit().map_err(|source| StorageError::Migration { path: path.to_path_buf(), version, source })?;
    }

    // A database written by a newer casebridge skipped every step above.
    let current: i64 = conn
        .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |row| row.get(0))
        .map_err(|e| failed("read the schema version", e))?;
    if current > latest_version() {
        return Err(StorageError::NewerSchema {
            path: path.to_path_buf(),
            found: current,
            supported: latest_version(),
        });
    }
    Ok(())
}
