//! The web messenger's own rows (E10): its visitors, kept by the SHA-256 of
//! the token their browser holds, and the files customers attach, kept
//! until the connector has relayed them (and after, for the transcript).

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, StorageError};

/// Who a messenger token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visitor {
    pub person_id: String,
    pub conversation_id: String,
}

/// A file a customer attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessengerFile {
    pub conversation_id: String,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl SqliteStore {
    /// Keep a visitor under the hash of their token (a new token each time).
    pub fn put_messenger_visitor(
        &self,
        org: &str,
        sha256: &[u8],
        visitor: &Visitor,
        now: i64,
    ) -> Result<(), StorageError> {
        self.conn()
            .execute(
                "INSERT INTO messenger_visitor (org, sha256, person_id, conversation_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (org, sha256) DO UPDATE SET person_id = excluded.person_id, conversation_id = excluded.conversation_id",
                params![org, sha256, visitor.person_id, visitor.conversation_id, now],
            )
            .map_err(self.failed("keep a messenger visitor"))?;
        Ok(())
    }

    /// The visitor a token's hash stands for, if any.
    pub fn messenger_visitor(&self, org: &str, sha256: &[u8]) -> Result<Option<Visitor>, StorageError> {
        self.conn()
            .query_row(
                "SELECT person_id, conversation_id FROM messenger_visitor WHERE org = ?1 AND sha256 = ?2",
                params![org, sha256],
                |r| Ok(Visitor { person_id: r.get(0)?, conversation_id: r.get(1)? }),
            )
            .optional()
            .map_err(self.failed("read a messenger visitor"))
    }

    /// Keep an attached file under `id` (kept once: a second write of the id changes nothing).
    pub fn put_messenger_file(&self, org: &str, id: &str, file: &MessengerFile, now: i64) -> Result<(), StorageError> {
        self.conn()
            .execute(
                "INSERT INTO messenger_file (org, id, conversation_id, name, content_type, bytes, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (org, id) DO NOTHING",
                params![org, id, file.conversation_id, file.name, file.content_type, file.bytes, now],
            )
            .map_err(self.failed("keep a messenger file"))?;
        Ok(())
    }

    /// An attached file by id, if any.
    pub fn messenger_file(&self, org: &str, id: &str) -> Result<Option<MessengerFile>, StorageError> {
        self.conn()
            .query_row(
                "SELECT conversation_id, name, content_type, bytes FROM messenger_file WHERE org = ?1 AND id = ?2",
                params![org, id],
                |r| {
                    Ok(MessengerFile {
                        conversation_id: r.get(0)?,
                        name: r.get(1)?,
                        content_type: r.get(2)?,
                        bytes: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(self.failed("read a messenger file"))
    }
}
