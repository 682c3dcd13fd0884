//! The PostgreSQL schema: the same tables as SQLite's (`storage::schema`),
//! in PostgreSQL types, applied by the same versioned, append-only steps.
//!
//! Kept to SQL that PostgreSQL-compatible distributed databases also run
//! (CockroachDB, YugabyteDB): plain tables, `BIGSERIAL`, partial indexes,
//! `INSERT … ON CONFLICT`, `SELECT … FOR UPDATE / FOR SHARE`, `COLLATE "C"`.
//! No advisory locks, triggers, stored procedures or `LISTEN`.
//!
//! `MIGRATIONS[i]` brings the database from version `i` to `i + 1`, as in
//! SQLite, so a version means the same tables in both backends.

use tokio_postgres::Client;

use super::super::StorageError;

/// Every schema change, oldest first. Times are Unix milliseconds (`BIGINT`),
/// as in SQLite, so both backends share their row conversions.
const MIGRATIONS: &[&str] = &[
    // 1: the connector's key-value store and the host's tables.
    r#"
    -- `key` compares bytewise (COLLATE "C"): prefix scans are ranges on the primary key.
    CREATE TABLE kv (
        namespace TEXT NOT NULL,
        key       TEXT COLLATE "C" NOT NULL,
        value     TEXT NOT NULL,
        PRIMARY KEY (namespace, key)
    );
    CREATE TABLE org_status (
        org                    TEXT PRIMARY KEY NOT NULL,
        last_cycle_started_at  BIGINT,
        last_cycle_finished_at BIGINT,
        last_outcome           TEXT CHECK (last_outcome IN ('ok', 'error')),
        last_error             TEXT,
        consecutive_failures   BIGINT NOT NULL DEFAULT 0,
        next_run_at            BIGINT,
        api_calls              BIGINT NOT NULL DEFAULT 0,
        api_calls_day          TEXT
    );
    CREATE TABLE org_secrets (
        org        TEXT NOT NULL,
        name       TEXT NOT NULL,
        blob       BYTEA NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (org, name)
    );
    CREATE TABLE cycle_log (
        id          BIGSERIAL PRIMARY KEY,
        org         TEXT NOT NULL,
        started_at  BIGINT NOT NULL,
        finished_at BIGINT,
        report      TEXT,
        error       TEXT
    );
    CREATE INDEX cycle_log_by_org ON cycle_log (org, id);
    CREATE TABLE mail_sent (
        org             TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        from_address    TEXT NOT NULL,
        message_id      TEXT NOT NULL,
        sent_at         BIGINT NOT NULL,
        PRIMARY KEY (org, idempotency_key)
    );
    "#,
    // 2: leases and what `status` reports.
    r#"
    CREATE TABLE org_lease (
        org          TEXT PRIMARY KEY NOT NULL,
        holder_host  TEXT NOT NULL,
        holder_pid   BIGINT NOT NULL,
        holder_nonce TEXT NOT NULL,
        token        BIGINT NOT NULL,
        acquired_at  BIGINT NOT NULL,
        expires_at   BIGINT NOT NULL
    );
    ALTER TABLE org_status ADD COLUMN token_requests BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE org_status ADD COLUMN last_report TEXT;
    ALTER TABLE org_status ADD COLUMN last_error_kind TEXT;
    ALTER TABLE org_status ADD COLUMN wake_requested_at BIGINT;
    "#,
    // 3: the support platform's records and API tokens.
    r#"
    CREATE TABLE platform_record (
        org         TEXT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('person', 'company', 'teammate', 'conversation', 'attribute')),
        id          TEXT COLLATE "C" NOT NULL,
        email_lower TEXT,
        sf_id       TEXT,
        case_id     TEXT,
        name_lower  TEXT,
        updated_at  BIGINT NOT NULL,
        body        TEXT NOT NULL,
        PRIMARY KEY (org, kind, id)
    );
    CREATE INDEX platform_record_by_email ON platform_record (org, kind, email_lower) WHERE email_lower IS NOT NULL;
    CREATE INDEX platform_record_by_link ON platform_record (org, kind, sf_id) WHERE sf_id IS NOT NULL;
    CREATE UNIQUE INDEX platform_record_by_case ON platform_record (org, kind, case_id) WHERE case_id IS NOT NULL;
    CREATE INDEX platform_record_by_name ON platform_record (org, kind, name_lower) WHERE name_lower IS NOT NULL;
    CREATE TABLE platform_note_key (
        org             TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        note_id         TEXT NOT NULL,
        PRIMARY KEY (org, idempotency_key)
    );
    -- The change feed. A sequence would hand out numbers in insert order,
    -- not commit order, and a reader could step past a number still being
    -- committed; so each org's numbers come from its row here, which every
    -- platform write of the org locks until it commits.
    CREATE TABLE platform_org (
        org      TEXT PRIMARY KEY NOT NULL,
        last_seq BIGINT NOT NULL
    );
    CREATE TABLE platform_change (
        org          TEXT NOT NULL,
        seq          BIGINT NOT NULL,
        kind         TEXT NOT NULL,
        record_id    TEXT NOT NULL,
        by_connector BOOLEAN NOT NULL,
        changed_at   BIGINT NOT NULL,
        PRIMARY KEY (org, seq)
    );
    CREATE INDEX platform_change_by_time ON platform_change (org, changed_at);
    CREATE TABLE api_token (
        name       TEXT PRIMARY KEY NOT NULL,
        sha256     BYTEA NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    "#,
    // 4: the web messenger.
    r#"
    CREATE TABLE messenger_visitor (
        org             TEXT NOT NULL,
        sha256          BYTEA NOT NULL,
        person_id       TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        created_at      BIGINT NOT NULL,
        PRIMARY KEY (org, sha256)
    );
    CREATE TABLE messenger_file (
        org             TEXT NOT NULL,
        id              TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        name            TEXT NOT NULL,
        content_type    TEXT NOT NULL,
        bytes           BYTEA NOT NULL,
        created_at      BIGINT NOT NULL,
        PRIMARY KEY (org, id)
    );
    "#,
    // 5: list value descriptions.
    r#"
    CREATE TABLE value_description (
        org         TEXT NOT NULL,
        object      TEXT COLLATE "C" NOT NULL,
        field       TEXT COLLATE "C" NOT NULL,
        value       TEXT COLLATE "C" NOT NULL,
        description TEXT NOT NULL,
        updated_at  BIGINT NOT NULL,
        PRIMARY KEY (org, object, field, value)
    );
    "#,
    // 6: streaming mode.
    r#"
    ALTER TABLE org_status ADD COLUMN stream TEXT;
    "#,
    // 7: the admin console.
    r#"
    CREATE TABLE console_admin (
        name       TEXT PRIMARY KEY NOT NULL,
        phc        TEXT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE console_session (
        sha256     BYTEA PRIMARY KEY NOT NULL,
        admin      TEXT NOT NULL,
        csrf       TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE TABLE api_usage_day (
        org            TEXT NOT NULL,
        day            TEXT NOT NULL,
        api_calls      BIGINT NOT NULL,
        token_requests BIGINT NOT NULL,
        PRIMARY KEY (org, day)
    );
    "#,
];

/// The schema version this casebridge writes (the same number as SQLite's).
pub(super) fn latest_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Brings the database up to [`latest_version`], each step in its own
/// transaction; refuses a database written by a newer casebridge. Hosts
/// starting at once queue on the row of `schema_lock`, so each step is
/// applied once.
pub(super) async fn migrate(client: &mut Client, url: &str) -> Result<(), StorageError> {
    let failed = |operation, e| StorageError::from_postgres(url, operation, e);
    // Two sessions creating one table at once can collide in the catalog;
    // the loser finds it there on its second try.
    let bootstrap = "CREATE TABLE IF NOT EXISTS schema_version (
            version    BIGINT PRIMARY KEY NOT NULL,
            applied_at BIGINT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS schema_lock (id BIGINT PRIMARY KEY NOT NULL);
        INSERT INTO schema_lock (id) VALUES (1) ON CONFLICT (id) DO NOTHING;";
    if client.batch_execute(bootstrap).await.is_err() {
        client.batch_execute(bootstrap).await.map_err(|e| failed("create the schema version table", e))?;
    }
    let current_sql = "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version";
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        let tx = client.transaction().await.map_err(|e| failed("start a schema upgrade", e))?;
        tx.execute("SELECT id FROM schema_lock WHERE id = 1 FOR UPDATE", &[])
            .await
            .map_err(|e| failed("lock the schema", e))?;
        let current: i64 =
            tx.query_one(current_sql, &[]).await.map_err(|e| failed("read the schema version", e))?.get(0);
        if current >= version {
            continue;
        }
        let migration = |source| StorageError::PostgresMigration { url: url.to_string(), version, source };
        tx.batch_execute(sql).await.map_err(migration)?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
            &[&version, &chrono::Utc::now().timestamp_millis()],
        )
        .await
        .map_err(migration)?;
        tx.commit().await.map_err(migration)?;
    }
    let current: i64 =
        client.query_one(current_sql, &[]).await.map_err(|e| failed("read the schema version", e))?.get(0);
    if current > latest_version() {
        return Err(StorageError::NewerSchema { path: url.into(), found: current, supported: latest_version() });
    }
    Ok(())
}
