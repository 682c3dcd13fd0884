//! What admins wrote about list values (A11): one description per org,
//! object, field and value, read by attribute detection.

use rusqlite::params;

use super::{SqliteStore, StorageError};
use crate::runtime::bindings::settings::ValueDescription;

impl SqliteStore {
    /// Keep `description` for one value (replacing the one before); an empty
    /// description removes it.
    pub fn put_value_description(&self, org: &str, described: &ValueDescription, now: i64) -> Result<(), StorageError> {
        let ValueDescription { object, field, value, description } = described;
        if description.trim().is_empty() {
            self.conn()
                .execute(
                    "DELETE FROM value_description WHERE org = ?1 AND object = ?2 AND field = ?3 AND value = ?4",
                    params![org, object, field, value],
                )
                .map_err(self.failed("remove a value description"))?;
            return Ok(());
        }
        self.conn()
            .execute(
                "INSERT INTO value_description (org, object, field, value, description, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (org, object, field, value)
                 DO UPDATE SET description = excluded.description, updated_at = excluded.updated_at",
                params![org, object, field, value, description.trim(), now],
            )
            .map_err(self.failed("keep a value description"))?;
        Ok(())
    }

    /// Every description of `org`, by object, field and value.
    pub fn value_descriptions(&self, org: &str) -> Result<Vec<ValueDescription>, StorageError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare(
                "SELECT object, field, value, description FROM value_description WHERE org = ?1
                 ORDER BY object, field, value",
            )
            .map_err(self.failed("read the value descriptions"))?;
        let rows = statement
            .query_map(params![org], |r| {
                Ok(ValueDescription { object: r.get(0)?, field: r.get(1)?, value: r.get(2)?, description: r.get(3)? })
            })
            .map_err(self.failed("read the value descriptions"))?;
        rows.collect::<Result<_, _>>().map_err(self.failed("read the value descriptions"))
    }
}
