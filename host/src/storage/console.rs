//! The admin console's tables: admins (Argon2id hashes), sessions (by the
//! SHA-256 of their cookie, with their CSRF token) and API calls per day.

use rusqlite::{OptionalExtension as _, params};

use super::{SqliteStore, StorageError};

/// A live console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub admin: String,
    /// The token every form of this session carries.
    pub csrf: String,
    pub expires_at: i64,
}

/// API calls of one org on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDay {
    pub day: chrono::NaiveDate,
    pub api_calls: u32,
    pub token_requests: u32,
}

impl SqliteStore {
    /// Sets (or replaces) an admin's password hash.
    pub fn put_console_admin(&self, name: &str, phc: &str, now: i64) -> Result<(), StorageError> {
        self.conn()
            .execute(
                "INSERT INTO console_admin (name, phc, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET phc = excluded.phc, updated_at = excluded.updated_at",
                params![name, phc, now],
            )
            .map_err(self.failed("set a console password"))?;
        // A new password ends the admin's sessions.
        self.conn()
            .execute("DELETE FROM console_session WHERE admin = ?1", params![name])
            .map_err(self.failed("end the console sessions"))?;
        Ok(())
    }

    /// An admin's password hash.
    pub fn console_admin(&self, name: &str) -> Result<Option<String>, StorageError> {
        self.conn()
            .query_row("SELECT phc FROM console_admin WHERE name = ?1", params![name], |r| r.get(0))
            .optional()
            .map_err(self.failed("read a console admin"))
    }

    /// Whether any admin can log in.
    pub fn has_console_admin(&self) -> Result<bool, StorageError> {
        self.conn()
            .query_row("SELECT EXISTS (SELECT 1 FROM console_admin)", [], |r| r.get(0))
            .map_err(self.failed("read the console admins"))
    }

    /// Starts a session (expired ones are dropped on the way).
    pub fn create_console_session(
        &self,
        sha256: &[u8],
        session: &ConsoleSession,
        now: i64,
    ) -> Result<(), StorageError> {
        let conn = self.conn();
        conn.execute("DELETE FROM console_session WHERE expires_at <= ?1", params![now])
            .map_err(self.failed("drop expired console sessions"))?;
        conn.execute(
            "INSERT INTO console_session (sha256, admin, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sha256, session.admin, session.csrf, now, session.expires_at],
        )
        .map_err(self.failed("start a console session"))?;
        Ok(())
    }

    /// The live session whose cookie hashes to `sha256`.
    pub fn console_session(&self, sha256: &[u8], now: i64) -> Result<Option<ConsoleSession>, StorageError> {
        self.conn()
            .query_row(
                "SELECT admin, csrf, expires_at FROM console_session WHERE sha256 = ?1 AND expires_at > ?2",
                params![sha256, now],
                |r| Ok(ConsoleSession { admin: r.get(0)?, csrf: r.get(1)?, expires_at: r.get(2)? }),
            )
            .optional()
            .map_err(self.failed("read a console session"))
    }

    /// Ends a session (logout).
    pub fn end_console_session(&self, sha256: &[u8]) -> Result<(), StorageError> {
        self.conn()
            .execute("DELETE FROM console_session WHERE sha256 = ?1", params![sha256])
            .map_err(self.failed("end a console session"))?;
        Ok(())
    }

    /// `org`'s API calls on the `days` UTC days up to `today`, oldest first;
    /// a day without calls counts zero.
    pub fn usage_days(&self, org: &str, today: chrono::NaiveDate, days: u32) -> Result<Vec<UsageDay>, StorageError> {
        let first = first_usage_day(today, days);
        let conn = self.conn();
        let mut statement = conn
            .prepare(
                "SELECT day, api_calls, token_requests FROM api_usage_day
                 WHERE org = ?1 AND day >= ?2 AND day <= ?3",
            )
            .map_err(self.failed("read the API usage"))?;
        let rows: Vec<(String, i64, i64)> = statement
            .query_map(params![org, first.to_string(), today.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(Iterator::collect)
            .map_err(self.failed("read the API usage"))?;
        Ok(usage_series(first, today, &rows))
    }
}

/// The first of the `days` UTC days up to `today`.
pub(super) fn first_usage_day(today: chrono::NaiveDate, days: u32) -> chrono::NaiveDate {
    today - chrono::Days::new(u64::from(days.saturating_sub(1)))
}

/// One entry per day from `first` to `today` from the stored (day, API
/// calls, token requests) rows; a day without a row counts zero.
pub(super) fn usage_series(
    first: chrono::NaiveDate,
    today: chrono::NaiveDate,
    rows: &[(String, i64, i64)],
) -> Vec<UsageDay> {
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    first
        .iter_days()
        .take_while(|day| *day <= today)
        .map(|day| {
            let found = rows.iter().find(|(d, _, _)| *d == day.to_string());
            UsageDay {
                day,
                api_calls: found.map_or(0, |r| count(r.1)),
                token_requests: found.map_or(0, |r| count(r.2)),
            }
        })
        .collect()
}
