//! What an object does on writes besides its fields' own rules.
//!
//! [`Database`] applies the rules every object shares (field types,
//! lengths, picklists, references, defaults, required fields, unique
//! fields); each object adds its own through an [`ObjectHooks`]
//! implementation kept beside its definition in `objects/`: which fields it
//! derives from others, which pairs of fields are unique together, when an
//! update is refused, and what an insert changes in other records.

use crate::db::{Database, Record, Values, WriteContext};
use crate::error::SfError;

/// An object's behaviour on writes. Every method has a default that does
/// nothing, so an object implements only what it needs.
pub(crate) trait ObjectHooks: Sync {
    /// Recomputes the fields the org derives from others (`Case.IsClosed`,
    /// `Task.AccountId`, …) in `values`, the record as it will be stored.
    /// `previous` is the stored record on update, `None` on insert.
    fn derive(&self, _db: &Database, _values: &mut Values, _previous: Option<&Record>, _ctx: &WriteContext) {}

    /// Fields the record must have besides the non-nillable ones (a text
    /// post's `Body`), reported with them in `REQUIRED_FIELD_MISSING`.
    fn missing_fields(&self, _values: &Values) -> Vec<&'static str> {
        Vec::new()
    }

    /// Pairs of fields no two live records may share (`DUPLICATE_VALUE`).
    fn unique_together(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Refuses any update of this stored record (a converted lead).
    fn check_update(&self, _record: &Record) -> Result<(), SfError> {
        Ok(())
    }

    /// Changes to other records (and to the schema) once a record is inserted.
    fn after_insert(&self, _db: &mut Database, _id: &str, _ctx: &WriteContext) {}

    /// Changes to other records (and to the schema) once a record is updated.
    fn after_update(&self, _db: &mut Database, _id: &str, _ctx: &WriteContext) {}
}

/// The hooks of an object with no behaviour of its own (custom objects).
struct NoHooks;

impl ObjectHooks for NoHooks {}

/// An object's hooks, as [`ObjectDef`](super::ObjectDef) holds them.
#[derive(Clone, Copy)]
pub(crate) struct Hooks(pub(crate) &'static dyn ObjectHooks);

impl Hooks {
    /// No behaviour beyond the shared rules.
    pub(crate) const NONE: Hooks = Hooks(&NoHooks);
}

impl std::ops::Deref for Hooks {
    type Target = dyn ObjectHooks;

    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hooks")
    }
}

impl PartialEq for Hooks {
    /// The same hooks: the same static table.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(self.0, other.0)
    }
}
