//! The platform's records, the console's and the messenger's rows and the
//! value descriptions in PostgreSQL: the same calls as the SQLite store's
//! (`storage::platform`, `console`, `messenger`, `descriptions`).

use tokio_postgres::Row;

use super::PostgresStore;
use crate::runtime::bindings::settings::ValueDescription;
use crate::storage::StorageError;
use crate::storage::console::{ConsoleSession, UsageDay, first_usage_day, usage_series};
use crate::storage::messenger::{MessengerFile, Visitor};
use crate::storage::platform::{
    CHANGES_KEPT_MS, ChangeRow, FindBy, Lookup, ModifyError, RecordRow, TokenRow, find_column, in_feed,
};

fn record(r: &Row) -> Result<RecordRow, tokio_postgres::Error> {
    Ok(RecordRow { id: r.try_get(0)?, body: r.try_get(1)?, updated_at: r.try_get(2)? })
}

/// Locks `org`'s platform row until the transaction ends: platform writes
/// of one org are one at a time, and so are their change numbers.
async fn lock_platform(tx: &deadpool_postgres::Transaction<'_>, org: &str) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO platform_org (org, last_seq) VALUES ($1, 0)
         ON CONFLICT (org) DO UPDATE SET last_seq = platform_org.last_seq",
        &[&org],
    )
    .await
    .map(drop)
}

/// Appends a change-feed entry under the org's next number and drops
/// entries older than the feed keeps.
async fn record_change(
    tx: &deadpool_postgres::Transaction<'_>,
    org: &str,
    kind: &str,
    id: &str,
    by_connector: bool,
    now: i64,
) -> Result<(), tokio_postgres::Error> {
    let seq: i64 = tx
        .query_one("UPDATE platform_org SET last_seq = last_seq + 1 WHERE org = $1 RETURNING last_seq", &[&org])
        .await?
        .try_get(0)?;
    tx.execute(
        "INSERT INTO platform_change (org, seq, kind, record_id, by_connector, changed_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&org, &seq, &kind, &id, &by_connector, &now],
    )
    .await?;
    tx.execute("DELETE FROM platform_change WHERE org = $1 AND changed_at < $2", &[&org, &(now - CHANGES_KEPT_MS)])
        .await
        .map(drop)
}

impl PostgresStore {
    // ---- the platform's records ----

    /// One record by id.
    pub fn platform_get(&self, org: &str, kind: &str, id: &str) -> Result<Option<RecordRow>, StorageError> {
        let rows = self.query_all(
            "read a platform record",
            "SELECT id, body, updated_at FROM platform_record WHERE org = $1 AND kind = $2 AND id = $3",
            &[&org, &kind, &id],
            record,
        )?;
        Ok(rows.into_iter().next())
    }

    /// Records whose `by` column holds `value`, most recently changed first.
    pub fn platform_find(
        &self,
        org: &str,
        kind: &str,
        by: FindBy,
        value: &str,
        limit: u32,
    ) -> Result<Vec<RecordRow>, StorageError> {
        let (column, value) = find_column(by, value);
        let sql = format!(
            "SELECT id, body, updated_at FROM platform_record WHERE org = $1 AND kind = $2 AND {column} = $3 \
             ORDER BY updated_at DESC, id LIMIT $4"
        );
        self.query_all("find platform records", &sql, &[&org, &kind, &value, &i64::from(limit)], record)
    }

    /// Up to `limit` records after id `after`, by id.
    pub fn platform_list(
        &self,
        org: &str,
        kind: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RecordRow>, StorageError> {
        self.query_all(
            "list platform records",
            "SELECT id, body, updated_at FROM platform_record WHERE org = $1 AND kind = $2 AND id > $3 \
             ORDER BY id LIMIT $4",
            &[&org, &kind, &after.unwrap_or(""), &i64::from(limit)],
            record,
        )
    }

    /// Reads a record, lets `change` decide its new body and lookups (or
    /// refuse), and writes it with its change-feed entry, in one transaction.
    pub fn platform_modify<T, E>(
        &self,
        org: &str,
        kind: &str,
        id: &str,
        by_connector: bool,
        now: i64,
        change: impl FnOnce(Option<&str>) -> Result<Option<(Lookup, String, T)>, E>,
    ) -> Result<Option<T>, ModifyError<E>> {
        let failed = self.failed("write a platform record");
        self.run(async {
            let mut client = self.client("write a platform record").await?;
            let tx = client.transaction().await.map_err(failed)?;
            lock_platform(&tx, org).await.map_err(failed)?;
            let current: Option<String> = tx
                .query_opt(
                    "SELECT body FROM platform_record WHERE org = $1 AND kind = $2 AND id = $3",
                    &[&org, &kind, &id],
                )
                .await
                .and_then(|row| row.map(|r| r.try_get(0)).transpose())
                .map_err(failed)?;
            let Some((lookup, body, value)) = change(current.as_deref()).map_err(ModifyError::Refused)? else {
                return Ok(None);
            };
            if current.as_deref() != Some(body.as_str()) {
                let (email, name) =
                    (lookup.email.map(|e| e.trim().to_lowercase()), lookup.name.map(|n| n.trim().to_lowercase()));
                tx.execute(
                    "INSERT INTO platform_record (org, kind, id, email_lower, sf_id, case_id, name_lower, updated_at, body)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (org, kind, id) DO UPDATE SET email_lower = EXCLUDED.email_lower,
                       sf_id = EXCLUDED.sf_id, case_id = EXCLUDED.case_id, name_lower = EXCLUDED.name_lower,
                       updated_at = EXCLUDED.updated_at, body = EXCLUDED.body",
                    &[&org, &kind, &id, &email, &lookup.salesforce_id, &lookup.case_id, &name, &now, &body],
                )
                .await
                .map_err(failed)?;
                if in_feed(kind) {
                    record_change(&tx, org, kind, id, by_connector, now).await.map_err(failed)?;
                }
            }
            tx.commit().await.map_err(failed)?;
            Ok(Some(value))
        })
    }

    /// Up to `limit` changes after `after`, and whether more are waiting.
    pub fn platform_changes(&self, org: &str, after: i64, limit: u32) -> Result<(Vec<ChangeRow>, bool), StorageError> {
        let mut changes = self.query_all(
            "read the platform's change feed",
            "SELECT seq, kind, record_id, by_connector, changed_at FROM platform_change
             WHERE org = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&org, &after, &(i64::from(limit) + 1)],
            |r| {
                Ok(ChangeRow {
                    seq: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    record_id: r.try_get(2)?,
                    by_connector: r.try_get(3)?,
                    changed_at: r.try_get(4)?,
                })
            },
        )?;
        let more = changes.len() > limit as usize;
        changes.truncate(limit as usize);
        Ok((changes, more))
    }

    /// Adds a note to a conversation once per idempotency `key`; see
    /// [`SqliteStore::platform_add_note`](crate::storage::SqliteStore::platform_add_note).
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
        let failed = self.failed("add a note");
        self.run(async {
            let mut client = self.client("add a note").await?;
            let tx = client.transaction().await.map_err(failed)?;
            lock_platform(&tx, org).await.map_err(failed)?;
            let kept: Option<String> = tx
                .query_opt(
                    "SELECT note_id FROM platform_note_key WHERE org = $1 AND idempotency_key = $2",
                    &[&org, &key],
                )
                .await
                .and_then(|row| row.map(|r| r.try_get(0)).transpose())
                .map_err(failed)?;
            if let Some(kept) = kept {
                return Ok(Some((kept, false)));
            }
            let body: Option<String> = tx
                .query_opt(
                    "SELECT body FROM platform_record WHERE org = $1 AND kind = 'conversation' AND id = $2",
                    &[&org, &conversation_id],
                )
                .await
                .and_then(|row| row.map(|r| r.try_get(0)).transpose())
                .map_err(failed)?;
            let Some(body) = body.as_deref().and_then(add) else { return Ok(None) };
            tx.execute(
                "UPDATE platform_record SET body = $3, updated_at = $4 WHERE org = $1 AND kind = 'conversation' AND id = $2",
                &[&org, &conversation_id, &body, &now],
            )
            .await
            .map_err(failed)?;
            tx.execute(
                "INSERT INTO platform_note_key (org, idempotency_key, note_id) VALUES ($1, $2, $3)",
                &[&org, &key, &note_id],
            )
            .await
            .map_err(failed)?;
            record_change(&tx, org, "conversation", conversation_id, by_connector, now).await.map_err(failed)?;
            tx.commit().await.map_err(failed)?;
            Ok(Some((note_id.to_string(), true)))
        })
    }

    /// Keep a new API token's hash under `name`; refused when the name is taken.
    pub fn create_api_token(&self, name: &str, sha256: &[u8], now: i64) -> Result<bool, StorageError> {
        self.execute(
            "create an API token",
            "INSERT INTO api_token (name, sha256, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            &[&name, &sha256, &now],
        )
        .map(|inserted| inserted == 1)
    }

    /// The name of the live token with this hash, if any.
    pub fn api_token_named(&self, sha256: &[u8]) -> Result<Option<String>, StorageError> {
        self.query_opt(
            "check an API token",
            "SELECT name FROM api_token WHERE sha256 = $1 AND revoked_at IS NULL",
            &[&sha256],
        )
    }

    /// Every token, by name.
    pub fn api_tokens(&self) -> Result<Vec<TokenRow>, StorageError> {
        self.query_all(
            "list API tokens",
            "SELECT name, created_at, revoked_at FROM api_token ORDER BY name COLLATE \"C\"",
            &[],
            |r| Ok(TokenRow { name: r.try_get(0)?, created_at: r.try_get(1)?, revoked_at: r.try_get(2)? }),
        )
    }

    /// Revoke a token; `false` when there is no live token of that name.
    pub fn revoke_api_token(&self, name: &str, now: i64) -> Result<bool, StorageError> {
        self.execute(
            "revoke an API token",
            "UPDATE api_token SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
            &[&name, &now],
        )
        .map(|changed| changed == 1)
    }

    // ---- the admin console ----

    /// Sets (or replaces) an admin's password hash, ending their sessions.
    pub fn put_console_admin(&self, name: &str, phc: &str, now: i64) -> Result<(), StorageError> {
        self.execute(
            "set a console password",
            "INSERT INTO console_admin (name, phc, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET phc = EXCLUDED.phc, updated_at = EXCLUDED.updated_at",
            &[&name, &phc, &now],
        )?;
        self.execute("end the console sessions", "DELETE FROM console_session WHERE admin = $1", &[&name]).map(drop)
    }

    /// An admin's password hash.
    pub fn console_admin(&self, name: &str) -> Result<Option<String>, StorageError> {
        self.query_opt("read a console admin", "SELECT phc FROM console_admin WHERE name = $1", &[&name])
    }

    /// Whether any admin can log in.
    pub fn has_console_admin(&self) -> Result<bool, StorageError> {
        self.query_one("read the console admins", "SELECT EXISTS (SELECT 1 FROM console_admin)", &[])
    }

    /// Starts a session (expired ones are dropped on the way).
    pub fn create_console_session(
        &self,
        sha256: &[u8],
        session: &ConsoleSession,
        now: i64,
    ) -> Result<(), StorageError> {
        self.execute("drop expired console sessions", "DELETE FROM console_session WHERE expires_at <= $1", &[&now])?;
        self.execute(
            "start a console session",
            "INSERT INTO console_session (sha256, admin, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&sha256, &session.admin, &session.csrf, &now, &session.expires_at],
        )
        .map(drop)
    }

    /// The live session whose cookie hashes to `sha256`.
    pub fn console_session(&self, sha256: &[u8], now: i64) -> Result<Option<ConsoleSession>, StorageError> {
        let rows = self.query_all(
            "read a console session",
            "SELECT admin, csrf, expires_at FROM console_session WHERE sha256 = $1 AND expires_at > $2",
            &[&sha256, &now],
            |r| Ok(ConsoleSession { admin: r.try_get(0)?, csrf: r.try_get(1)?, expires_at: r.try_get(2)? }),
        )?;
        Ok(rows.into_iter().next())
    }

    /// Ends a session (logout).
    pub fn end_console_session(&self, sha256: &[u8]) -> Result<(), StorageError> {
        self.execute("end a console session", "DELETE FROM console_session WHERE sha256 = $1", &[&sha256]).map(drop)
    }

    /// `org`'s API calls on the `days` UTC days up to `today`, oldest first.
    pub fn usage_days(&self, org: &str, today: chrono::NaiveDate, days: u32) -> Result<Vec<UsageDay>, StorageError> {
        let first = first_usage_day(today, days);
        let rows = self.query_all(
            "read the API usage",
            "SELECT day, api_calls, token_requests FROM api_usage_day WHERE org = $1 AND day >= $2 AND day <= $3",
            &[&org, &first.to_string(), &today.to_string()],
            |r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)),
        )?;
        Ok(usage_series(first, today, &rows))
    }

    // ---- the web messenger ----

    /// Keep a visitor under the hash of their token.
    pub fn put_messenger_visitor(
        &self,
        org: &str,
        sha256: &[u8],
        visitor: &Visitor,
        now: i64,
    ) -> Result<(), StorageError> {
        self.execute(
            "keep a messenger visitor",
            "INSERT INTO messenger_visitor (org, sha256, person_id, conversation_id, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org, sha256) DO UPDATE SET person_id = EXCLUDED.person_id, conversation_id = EXCLUDED.conversation_id",
            &[&org, &sha256, &visitor.person_id, &visitor.conversation_id, &now],
        )
        .map(drop)
    }

    /// The visitor a token's hash stands for, if any.
    pub fn messenger_visitor(&self, org: &str, sha256: &[u8]) -> Result<Option<Visitor>, StorageError> {
        let rows = self.query_all(
            "read a messenger visitor",
            "SELECT person_id, conversation_id FROM messenger_visitor WHERE org = $1 AND sha256 = $2",
            &[&org, &sha256],
            |r| Ok(Visitor { person_id: r.try_get(0)?, conversation_id: r.try_get(1)? }),
        )?;
        Ok(rows.into_iter().next())
    }

    /// Keep an attached file under `id` (kept once).
    pub fn put_messenger_file(&self, org: &str, id: &str, file: &MessengerFile, now: i64) -> Result<(), StorageError> {
        self.execute(
            "keep a messenger file",
            "INSERT INTO messenger_file (org, id, conversation_id, name, content_type, bytes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org, id) DO NOTHING",
            &[&org, &id, &file.conversation_id, &file.name, &file.content_type, &file.bytes, &now],
        )
        .map(drop)
    }

    /// An attached file by id, if any.
    pub fn messenger_file(&self, org: &str, id: &str) -> Result<Option<MessengerFile>, StorageError> {
        let rows = self.query_all(
            "read a messenger file",
            "SELECT conversation_id, name, content_type, bytes FROM messenger_file WHERE org = $1 AND id = $2",
            &[&org, &id],
            |r| {
                Ok(MessengerFile {
                    conversation_id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    content_type: r.try_get(2)?,
                    bytes: r.try_get(3)?,
                })
            },
        )?;
        Ok(rows.into_iter().next())
    }

    // ---- value descriptions ----

    /// Keep `description` for one value; an empty description removes it.
    pub fn put_value_description(&self, org: &str, described: &ValueDescription, now: i64) -> Result<(), StorageError> {
        let ValueDescription { object, field, value, description } = described;
        if description.trim().is_empty() {
            return self
                .execute(
                    "remove a value description",
                    "DELETE FROM value_description WHERE org = $1 AND object = $2 AND field = $3 AND value = $4",
                    &[&org, object, field, value],
                )
                .map(drop);
        }
        self.execute(
            "keep a value description",
            "INSERT INTO value_description (org, object, field, value, description, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (org, object, field, value)
             DO UPDATE SET description = EXCLUDED.description, updated_at = EXCLUDED.updated_at",
            &[&org, object, field, value, &description.trim(), &now],
        )
        .map(drop)
    }

    /// Every description of `org`, by object, field and value.
    pub fn value_descriptions(&self, org: &str) -> Result<Vec<ValueDescription>, StorageError> {
        self.query_all(
            "read the value descriptions",
            "SELECT object, field, value, description FROM value_description WHERE org = $1
             ORDER BY object, field, value",
            &[&org],
            |r| {
                Ok(ValueDescription {
                    object: r.try_get(0)?,
                    field: r.try_get(1)?,
                    value: r.try_get(2)?,
                    description: r.try_get(3)?,
                })
            },
        )
    }
}
