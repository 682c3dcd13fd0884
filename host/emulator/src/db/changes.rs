//! Change capture: the record changes Change Data Capture publishes.
//!
//! While capture is on ([`Database::set_change_capture`]) every insert,
//! update, delete and undelete of a record of a captured object is noted
//! as it happens, whoever writes it (REST, composite, hooks' side effects,
//! system writes, the admin API, `with_database`): the first change type
//! and, for anything but a create, the record as it was before. A
//! savepoint rolled back forgets the notes taken after it.
//! [`Database::take_changes`] ends the transaction: one [`RecordChange`]
//! per record, with its *first* change type and its *committed* data, as
//! Salesforce publishes several changes to one record in one transaction
//! (`cdc_general_considerations`). Capture is off in a new database, while
//! an org is seeded and during a bulk seed (not a transaction that streams:
//! a 100,000-case seed publishes nothing).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};

use super::{Database, Record, Value, render_value};

/// What happened to a record, as `ChangeEventHeader.changeType` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeType {
    Create,
    Update,
    Delete,
    Undelete,
    GapCreate,
    GapUpdate,
    GapDelete,
    GapUndelete,
    GapOverflow,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Create => "CREATE",
            ChangeType::Update => "UPDATE",
            ChangeType::Delete => "DELETE",
            ChangeType::Undelete => "UNDELETE",
            ChangeType::GapCreate => "GAP_CREATE",
            ChangeType::GapUpdate => "GAP_UPDATE",
            ChangeType::GapDelete => "GAP_DELETE",
            ChangeType::GapUndelete => "GAP_UNDELETE",
            ChangeType::GapOverflow => "GAP_OVERFLOW",
        }
    }

    /// `CREATE`, `GAP_UPDATE` … back to a change type.
    pub fn parse(s: &str) -> Option<ChangeType> {
        [
            ChangeType::Create,
            ChangeType::Update,
            ChangeType::Delete,
            ChangeType::Undelete,
            ChangeType::GapCreate,
            ChangeType::GapUpdate,
            ChangeType::GapDelete,
            ChangeType::GapUndelete,
            ChangeType::GapOverflow,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// One record's change in a committed transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordChange {
    /// The canonical object name (`Case`).
    pub object: String,
    pub record_id: String,
    pub change_type: ChangeType,
    /// On update: the fields whose committed value differs from the value
    /// before the transaction, `LastModifiedDate` always among them. Empty
    /// on create (API 47.0 and later), delete and undelete.
    pub changed_fields: Vec<String>,
    /// On update: the changed fields that are now null.
    pub nulled_fields: Vec<String>,
    /// Create: every non-null field; update: the changed fields' new values
    /// (null for nulled ones); delete and undelete: none. Never `Id`,
    /// `IsDeleted`, `SystemModstamp` or calculated fields. Datetimes in
    /// ISO 8601 UTC with `Z` (`2024-01-02T03:04:05.000Z`), as change events
    /// carry them.
    pub values: Map<String, Json>,
    /// Who wrote the record last in the transaction (its `LastModifiedById`).
    pub user_id: String,
}

/// The notes of the transaction in progress.
#[derive(Debug, Clone, Default)]
pub(crate) struct Capture {
    objects: HashSet<String>,
    touched: Vec<Touched>,
    /// Index into `touched` by record id.
    index: HashMap<String, usize>,
}

#[derive(Debug, Clone)]
struct Touched {
    object: String,
    id: String,
    kind: ChangeType,
    /// The record before the transaction's first change (none for a create).
    before: Option<Record>,
}

/// Fields change events never carry.
const NEVER: [&str; 3] = ["Id", "IsDeleted", "SystemModstamp"];

impl Capture {
    fn wants(&self, object: &str, id: &str) -> bool {
        self.objects.contains(object) && !self.index.contains_key(id)
    }

    fn note(&mut self, object: &str, id: &str, kind: ChangeType, before: Option<Record>) {
        self.index.insert(id.to_string(), self.touched.len());
        self.touched.push(Touched { object: object.to_string(), id: id.to_string(), kind, before });
    }

    pub(crate) fn mark(&self) -> usize {
        self.touched.len()
    }

    pub(crate) fn rollback_to(&mut self, mark: usize) {
        for t in self.touched.drain(mark.min(self.touched.len())..) {
            self.index.remove(&t.id);
        }
    }
}

impl Database {
    /// Turns change capture on for these objects (canonical names), or off
    /// with `None`. Turning it off forgets the transaction in progress.
    pub fn set_change_capture(&mut self, objects: Option<HashSet<String>>) {
        self.capture = objects.map(|objects| {
            let mut capture = self.capture.take().unwrap_or_default();
            capture.objects = objects;
            capture
        });
    }

    /// The objects captured, `None` when capture is off.
    pub fn change_capture(&self) -> Option<&HashSet<String>> {
        self.capture.as_ref().map(|c| &c.objects)
    }

    /// Whether the transaction in progress changed a captured record.
    pub fn has_changes(&self) -> bool {
        self.capture.as_ref().is_some_and(|c| !c.touched.is_empty())
    }

    /// Notes an insert (called by `insert_row`).
    pub(super) fn note_insert(&mut self, object: &str, id: &str) {
        if let Some(capture) = self.capture.as_mut().filter(|c| c.wants(object, id)) {
            capture.note(object, id, ChangeType::Create, None);
        }
    }

    /// Whether a change of this record is to be noted: then `change_row`
    /// keeps the record before and calls [`Database::note_change`].
    pub(super) fn capturing(&self, object: &str, id: &str) -> bool {
        self.capture.as_ref().is_some_and(|c| c.wants(object, id))
    }

    pub(super) fn note_change(&mut self, object: &str, before: Record, deleted_after: bool) {
        let kind = match (before.is_deleted(), deleted_after) {
            (false, true) => ChangeType::Delete,
            (true, false) => ChangeType::Undelete,
            _ => ChangeType::Update,
        };
        if let Some(capture) = self.capture.as_mut() {
            let id = before.id.clone();
            capture.note(object, &id, kind, Some(before));
        }
    }

    /// Ends the transaction in progress: its changes, one per record, in
    /// the order first changed. Records created and rolled back are gone.
    pub fn take_changes(&mut self) -> Vec<RecordChange> {
        let Some(capture) = self.capture.as_mut() else {
            return Vec::new();
        };
        let touched = std::mem::take(&mut capture.touched);
        capture.index.clear();
        touched.into_iter().filter_map(|t| self.change_of(t)).collect()
    }

    fn change_of(&self, t: Touched) -> Option<RecordChange> {
        let obj = self.schema.object(&t.object)?;
        let row = &self.tables.get(&t.object)?.rows()[self.position(&t.object, &t.id)?];
        let user_id = row.get("LastModifiedById").as_str().unwrap_or_default().to_string();
        let fields = obj.fields.iter().filter(|f| !f.calculated && !NEVER.contains(&f.name.as_str()));
        let mut change = RecordChange {
            object: obj.name.clone(),
            record_id: t.id.clone(),
            change_type: t.kind,
            changed_fields: Vec::new(),
            nulled_fields: Vec::new(),
            values: Map::new(),
            user_id,
        };
        match (t.kind, &t.before) {
            (ChangeType::Create, _) => {
                for f in fields {
                    let v = row.get(&f.name);
                    if !v.is_null() && !matches!(v, Value::Blob(_)) {
                        change.values.insert(f.name.clone(), event_value(v));
                    }
                }
            }
            (ChangeType::Update, Some(before)) => {
                for f in fields {
                    let (old, new) = (before.get(&f.name), row.get(&f.name));
                    if old == new && f.name != "LastModifiedDate" {
                        continue;
                    }
                    change.changed_fields.push(f.name.clone());
                    if new.is_null() {
                        change.nulled_fields.push(f.name.clone());
                    }
                    let rendered = if matches!(new, Value::Blob(_)) { Json::Null } else { event_value(new) };
                    change.values.insert(f.name.clone(), rendered);
                }
            }
            _ => {}
        }
        Some(change)
    }
}

/// A stored value as a change event carries it.
fn event_value(value: &Value) -> Json {
    match value {
        Value::DateTime(t) => Json::String(event_datetime(*t)),
        v => render_value(v),
    }
}

/// `2024-01-02T03:04:05.000Z`.
fn event_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
