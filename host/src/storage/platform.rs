//! The support platform's records in the host's database (E9): people,
//! companies, teammates, conversations and attribute definitions, one row
//! each with the record as JSON (`crate::platform` decides its shape), the
//! change feed, note keys and the platform API's tokens.
//!
//! Every write and its change-feed entry are one transaction, committed with
//! `synchronous = FULL`: these are the platform's own records.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{SqliteStore, StorageError};

/// How long change-feed entries are kept (a reader further behind starts again from the oldest).
pub(super) const CHANGES_KEPT_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// What a record is looked up by, besides its id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    pub email: Option<String>,
    pub salesforce_id: Option<String>,
    pub case_id: Option<String>,
    pub name: Option<String>,
}

/// A column records are found by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindBy {
    /// Case-insensitive.
    Email,
    SalesforceId,
    CaseId,
    /// Case-insensitive.
    Name,
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    pub id: String,
    pub body: String,
    pub updated_at: i64,
}

/// One change-feed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub seq: i64,
    pub kind: String,
    pub record_id: String,
    pub by_connector: bool,
    pub changed_at: i64,
}

/// Why a read-modify-write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ModifyError<E> {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The change was refused by the caller's check; nothing was written.
    #[error("refused")]
    Refused(E),
}

/// An API token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// The column records are found `by`, and `value` as that column keeps it.
pub(super) fn find_column(by: FindBy, value: &str) -> (&'static str, String) {
    match by {
        FindBy::Email => ("email_lower", value.trim().to_lowercase()),
        FindBy::SalesforceId => ("sf_id", value.to_string()),
        FindBy::CaseId => ("case_id", value.to_string()),
        FindBy::Name => ("name_lower", value.trim().to_lowercase()),
    }
}

/// Kinds whose changes appear in the change feed.
pub(super) fn in_feed(kind: &str) -> bool {
    matches!(kind, "person" | "company" | "conversation")
}

impl SqliteStore {
    /// One record by id.
    pub fn platform_get(&self, org: &str, kind: &str, id: &str) -> Result<Option<RecordRow>, StorageError> {
        self.conn()
            .prepare_cached("SELECT id, body, updated_at FROM platform_record WHERE org = ?1 AND kind = ?2 AND id = ?3")
            .and_then(|mut stmt| stmt.query_row((org, kind, id), row).optional())
            .map_err(self.failed("read a platform record"))
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
            "SELECT id, body, updated_at FROM platform_record WHERE org = ?1 AND kind = ?2 AND {column} = ?3 \
             ORDER BY updated_at DESC, id LIMIT ?4"
        );
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql).map_err(self.failed("find platform records"))?;
        let rows =
            stmt.query_map(params![org, kind, value, limit], row).map_err(self.failed("find platform records"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.failed("find platform records"))
    }

    /// Up to `limit` records after id `after`, by id.
    pub fn platform_list(
        &self,
        org: &str,
        kind: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RecordRow>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, body, updated_at FROM platform_record WHERE org = ?1 AND kind = ?2 AND id > ?3 \
                 ORDER BY id LIMIT ?4",
            )
            .map_err(self.failed("list platform records"))?;
        let rows = stmt
            .query_map(params![org, kind, after.unwrap_or(""), limit], row)
            .map_err(self.failed("list platform records"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.failed("list platform records"))
    }

    /// Reads a record, lets `change` decide its new body and lookups (or
    /// refuse), and writes it with its change-feed entry, in one transaction.
    /// Returns what `change` returned beside the row.
    pub fn platform_modify<T, E>(
        &self,
        org: &str,
        kind: &str,
        id: &str,
        by_connector: bool,
        now: i64,
        change: impl FnOnce(Option<&str>) -> Result<Option<(Lookup, String, T)>, E>,
    ) -> Result<Option<T>, ModifyError<E>> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.failed("write a platform record"))?;
        let current: Option<String> = tx
            .query_row(
                "SELECT body FROM platform_record WHERE org = ?1 AND kind = ?2 AND id = ?3",
                (org, kind, id),
                |r| r.get(0),
            )
            .optional()
            .map_err(self.failed("write a platform record"))?;
        let Some((lookup, body, value)) = change(current.as_deref()).map_err(ModifyError::Refused)? else {
            return Ok(None);
        };
        if current.as_deref() != Some(body.as_str()) {
            tx.execute(
                "INSERT INTO platform_record (org, kind, id, email_lower, sf_id, case_id, name_lower, updated_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (org, kind, id) DO UPDATE SET email_lower = excluded.email_lower, sf_id = excluded.sf_id,
                   case_id = excluded.case_id, name_lower = excluded.name_lower, updated_at = excluded.updated_at,
                   body = excluded.body",
                params![
                    org,
                    kind,
                    id,
                    lookup.email.map(|e| e.trim().to_lowercase()),
                    lookup.salesforce_id,
                    lookup.case_id,
                    lookup.name.map(|n| n.trim().to_lowercase()),
                    now,
                    body
                ],
            )
            .map_err(self.failed("write a platform record"))?;
            if in_feed(kind) {
                tx.execute(
                    "INSERT INTO platform_change (org, kind, record_id, by_connector, changed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![org, kind, id, by_connector, now],
                )
                .map_err(self.failed("record a platform change"))?;
                tx.execute(
                    "DELETE FROM platform_change WHERE org = ?1 AND changed_at < ?2",
                    params![org, now - CHANGES_KEPT_MS],
                )
                .map_err(self.failed("prune the platform's change feed"))?;
            }
        }
        tx.commit().map_err(self.failed("write a platform record"))?;
        Ok(Some(value))
    }

    /// Up to `limit` changes after `after` (a sequence number), and whether
    /// more are waiting.
    pub fn platform_changes(&self, org: &str, after: i64, limit: u32) -> Result<(Vec<ChangeRow>, bool), StorageError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, kind, record_id, by_connector, changed_at FROM platform_change
                 WHERE org = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )
            .map_err(self.failed("read the platform's change feed"))?;
        let rows = stmt
            .query_map(params![org, after, limit + 1], |r| {
                Ok(ChangeRow {
                    seq: r.get(0)?,
                    kind: r.get(1)?,
                    record_id: r.get(2)?,
                    by_connector: r.get(3)?,
                    changed_at: r.get(4)?,
                })
            })
            .map_err(self.failed("read the platform's change feed"))?;
        let mut changes =
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.failed("read the platform's change feed"))?;
        let more = changes.len() > limit as usize;
        changes.truncate(limit as usize);
        Ok((changes, more))
    }

    /// Add a note to a conversation once per idempotency `key`, in one
    /// transaction with the key and the change-feed entry: `add` turns the
    /// conversation's body into the body with the note. Returns the note id
    /// kept for the key (the first call's) and whether this call added it;
    /// `None` when there is no such conversation.
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
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(self.failed("add a note"))?;
        let kept: Option<String> = tx
            .query_row(
                "SELECT note_id FROM platform_note_key WHERE org = ?1 AND idempotency_key = ?2",
                (org, key),
                |r| r.get(0),
            )
            .optional()
            .map_err(self.failed("add a note"))?;
        if let Some(kept) = kept {
            return Ok(Some((kept, false)));
        }
        let body: Option<String> = tx
            .query_row(
                "SELECT body FROM platform_record WHERE org = ?1 AND kind = 'conversation' AND id = ?2",
                (org, conversation_id),
                |r| r.get(0),
            )
            .optional()
            .map_err(self.failed("add a note"))?;
        let Some(body) = body.as_deref().and_then(add) else { return Ok(None) };
        tx.execute(
            "UPDATE platform_record SET body = ?3, updated_at = ?4 WHERE org = ?1 AND kind = 'conversation' AND id = ?2",
            params![org, conversation_id, body, now],
        )
        .map_err(self.failed("add a note"))?;
        tx.execute(
            "INSERT INTO platform_note_key (org, idempotency_key, note_id) VALUES (?1, ?2, ?3)",
            (org, key, note_id),
        )
        .map_err(self.failed("add a note"))?;
        tx.execute(
            "INSERT INTO platform_change (org, kind, record_id, by_connector, changed_at) VALUES (?1, 'conversation', ?2, ?3, ?4)",
            params![org, conversation_id, by_connector, now],
        )
        .map_err(self.failed("add a note"))?;
        tx.commit().map_err(self.failed("add a note"))?;
        Ok(Some((note_id.to_string(), true)))
    }

    /// Keep a new API token's hash under `name`; refused when the name is taken.
    pub fn create_api_token(&self, name: &str, sha256: &[u8], now: i64) -> Result<bool, StorageError> {
        let inserted = self
            .conn()
            .execute(
                "INSERT INTO api_token (name, sha256, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
                params![name, sha256, now],
            )
            .map_err(self.failed("create an API token"))?;
        Ok(inserted == 1)
    }

    /// The name of the live token with this hash, if any.
    pub fn api_token_named(&self, sha256: &[u8]) -> Result<Option<String>, StorageError> {
        self.conn()
            .query_row("SELECT name FROM api_token WHERE sha256 = ?1 AND revoked_at IS NULL", [sha256], |r| r.get(0))
            .optional()
            .map_err(self.failed("check an API token"))
    }

    /// Every token, by name.
    pub fn api_tokens(&self) -> Result<Vec<TokenRow>, StorageError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT name, created_at, revoked_at FROM api_token ORDER BY name")
            .map_err(self.failed("list API tokens"))?;
        let rows = stmt
            .query_map([], |r| Ok(TokenRow { name: r.get(0)?, created_at: r.get(1)?, revoked_at: r.get(2)? }))
            .map_err(self.failed("list API tokens"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.failed("list API tokens"))
    }

    /// Revoke a token; `false` when there is no live token of that name.
    pub fn revoke_api_token(&self, name: &str, now: i64) -> Result<bool, StorageError> {
        let changed = self
            .conn()
            .execute("UPDATE api_token SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL", params![name, now])
            .map_err(self.failed("revoke an API token"))?;
        Ok(changed == 1)
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordRow> {
    Ok(RecordRow { id: r.get(0)?, body: r.get(1)?, updated_at: r.get(2)? })
}
