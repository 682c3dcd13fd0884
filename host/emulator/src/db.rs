//! The org's records: an in-memory store with Salesforce's write rules.
//!
//! Writes validate like Salesforce does (error codes and messages included),
//! fill defaults and system fields, and keep derived fields (`Case.IsClosed`,
//! `Contact.Name`, `ContentVersion.ContentDocumentId` …) up to date. The
//! rules every object shares live here; each object's own (derived fields,
//! side effects, refused updates) live beside its definition in
//! `schema/objects/`, as [`ObjectHooks`](crate::schema) the write path calls.
//! Beyond the fields, a write obeys the org's set-up: the writing user's
//! object permissions ([`Database::set_object_access`]), record types and
//! the picklist values they offer ([`Database::add_record_type`]), fields
//! made required ([`Schema::set_required`]) and duplicate rules
//! ([`Database::add_duplicate_rule`], with [`WriteOptions`] carrying the
//! request's `Sforce-Duplicate-Rule-Header`). Reads go through
//! [`Database::retrieve`], SOQL ([`Database::query`]) and SOSL
//! ([`Database::search`]).
//!
//! ```
//! use casebridge_emulator::db::{Database, QueryContext, WriteContext};
//! use casebridge_emulator::schema::Schema;
//! use serde_json::json;
//!
//! let mut db = Database::new(Schema::standard());
//! let now = chrono::Utc::now();
//! let ctx = WriteContext { now, user_id: "005000000000001AAA".into() };
//! let fields = json!({"Subject": "Printer on fire"});
//! let id = db.create("Case", fields.as_object().unwrap(), &ctx).unwrap();
//! let q = QueryContext { now, api_version: "59.0".into(), user_id: ctx.user_id.clone() };
//! let result = db.query("SELECT Id, Status FROM Case", false, &q).unwrap();
//! assert_eq!(result.total_size, 1);
//! assert_eq!(result.records[0]["Id"], json!(id));
//! assert_eq!(result.records[0]["Status"], json!("New"));
//! ```

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, SubsecRound, Utc};
use serde_json::{Map, Value as Json, json};

use crate::error::SfError;
use crate::ids;
use crate::schema::{
    FieldDef, FieldType, ObjectAccess, ObjectDef, RecordTypePicklist, Schema, address_components,
    configure_record_type, data_path, default_record_type_for_insert,
};

mod changes;
mod duplicates;
mod table;

pub use changes::{ChangeType, RecordChange};

pub use duplicates::DuplicateRule;
pub(crate) use table::TIMELINE_FIELDS;
use table::Table;

/// Who writes and when: every write stamps `LastModifiedDate`/`SystemModstamp`
/// with `now` and `LastModifiedById` with `user_id`.
#[derive(Debug, Clone)]
pub struct WriteContext {
    pub now: DateTime<Utc>,
    pub user_id: String,
}

/// How a write is asked for, beyond its fields: what the REST request's
/// headers say. `WriteOptions::default()` is a plain API write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `Sforce-Duplicate-Rule-Header: allowSave=true`: save despite the
    /// duplicates a rule that allows saving found (a blocking rule still refuses).
    pub allow_save_duplicates: bool,
    /// The API version for record URLs in error bodies (`59.0`); the default is [`DEFAULT_API_VERSION`].
    pub api_version: Option<String>,
}

/// The API version record URLs use when a write does not say which.
pub const DEFAULT_API_VERSION: &str = "59.0";

/// What a query needs besides the text: the clock for `TODAY` and friends,
/// the API version for record URLs, and the running user.
#[derive(Debug, Clone)]
pub struct QueryContext {
    pub now: DateTime<Utc>,
    /// `59.0` or `v59.0`.
    pub api_version: String,
    pub user_id: String,
}

/// Every row a query matched, already rendered as Salesforce JSON. The server
/// pages them; `total_size` can exceed `records.len()` only for `COUNT()`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub total_size: usize,
    pub records: Vec<Json>,
}

/// What to convert a lead into: the admin API's `POST /__emulator/leads/convert`
/// body. The account and contact are created from the lead unless given;
/// an opportunity is created only when `opportunity_name` is given (an
/// empty name takes the lead's company).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadConversion {
    pub lead_id: String,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub opportunity_name: Option<String>,
}

/// What a lead became.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConvertedLead {
    pub lead_id: String,
    pub account_id: String,
    pub contact_id: String,
    pub opportunity_id: Option<String>,
}

/// How many days back `getUpdated` reaches.
pub const UPDATED_WINDOW_DAYS: i64 = 30;
/// How many days the recycle bin keeps deletions for `getDeleted`.
pub const DELETED_WINDOW_DAYS: i64 = 15;
/// `getUpdated` fails past this many ids (`EXCEEDED_ID_LIMIT`).
pub const UPDATED_ID_LIMIT: usize = 600_000;
/// The first `CaseNumber` (and any auto-number) handed out, as Salesforce's default `{00000000}` format starts near.
const FIRST_AUTO_NUMBER: u64 = 1001;

/// A stored field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    /// Every text type, ids, picklists, and multipicklists (`"a;b"`).
    Text(String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    Time(NaiveTime),
    Blob(Vec<u8>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> bool {
        matches!(self, Value::Bool(true))
    }
}

static NULL: Value = Value::Null;

/// Field values on their way into a record, by canonical field name. A
/// B-tree rather than a hash map: every write builds one, and a hash map of a
/// few dozen entries is one large allocation, slow to get and to give back;
/// a B-tree's nodes are small, it hashes nothing, and its entries come out
/// sorted, as [`Fields`] keeps them.
pub(crate) type Values = BTreeMap<&'static str, Value>;

/// A stored record's values: `(field, value)` pairs sorted by canonical
/// field name, nulls left out. One allocation per record, and a lookup is a
/// binary search over a few dozen names: a big org's records take a
/// fraction of the memory (and of the time to create and scan) a map per
/// record would.
#[derive(Debug, Clone, Default, PartialEq)]
struct Fields(Vec<(&'static str, Value)>);

impl Fields {
    fn from_values(values: Values) -> Fields {
        // Sized up front: collecting a filtered iterator grows the vector
        // through reallocations, a seventh of a bulk load's time. Already in name order.
        let mut pairs = Vec::with_capacity(values.values().filter(|v| !v.is_null()).count());
        pairs.extend(values.into_iter().filter(|(_, v)| !v.is_null()));
        Fields(pairs)
    }

    fn to_values(&self) -> Values {
        self.0.iter().cloned().collect()
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.0.binary_search_by(|(name, _)| (*name).cmp(field)).ok().map(|i| &self.0[i].1)
    }

    /// Sets one field; null removes it.
    fn set(&mut self, field: &'static str, value: Value) {
        match (self.0.binary_search_by(|(name, _)| (*name).cmp(field)), value.is_null()) {
            (Ok(i), true) => {
                self.0.remove(i);
            }
            (Ok(i), false) => self.0[i].1 = value,
            (Err(_), true) => {}
            (Err(i), false) => self.0.insert(i, (field, value)),
        }
    }

    fn extend(&mut self, values: Values) {
        for (field, value) in values {
            self.set(field, value);
        }
    }
}

/// One row of an sObject table. Values are keyed by the field's canonical name;
/// a field missing from the map (a custom field added later) reads as null.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    values: Fields,
    /// Set while the record sits in the recycle bin.
    deleted_at: Option<DateTime<Utc>>,
}

impl Record {
    /// The value of a field by canonical name (null when never set).
    pub fn get(&self, field: &str) -> &Value {
        self.values.get(field).unwrap_or(&NULL)
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// The id in a reference field, if set.
    pub fn reference(&self, field: &str) -> Option<&str> {
        self.get(field).as_str()
    }

    /// Sets one stored value; null removes it. Only through
    /// [`Database::change_row`], which journals and re-indexes.
    pub(crate) fn set(&mut self, field: &'static str, value: Value) {
        self.values.set(field, value);
    }

    /// Sets several stored values.
    pub(crate) fn set_all(&mut self, values: Values) {
        self.values.extend(values);
    }
}

/// The org: schema plus records. Cloning copies every record (a snapshot).
#[derive(Debug, Clone)]
pub struct Database {
    schema: Schema,
    /// By canonical object name.
    tables: HashMap<String, Table>,
    /// Numbers every id; one sequence for all objects keeps ids unique and ordered.
    next_id: u64,
    /// Next value per auto-number field, keyed `Object.Field`.
    auto_numbers: HashMap<String, u64>,
    /// Ids deleted together, by the id whose delete started the cascade:
    /// undeleting that id restores them all.
    recycle_bin: HashMap<String, Vec<String>>,
    /// Undo entries since the outermost open [`Savepoint`]; `None` when none is open.
    journal: Option<Vec<Undo>>,
    /// The org's duplicate rules, in the order added.
    duplicate_rules: Vec<DuplicateRule>,
    /// Object permissions that differ from full access, by user id then object name.
    permissions: HashMap<String, HashMap<String, ObjectAccess>>,
    /// Change capture for Change Data Capture; `None` when off (see [`changes`]).
    capture: Option<changes::Capture>,
}

/// How to undo one change to a table.
#[derive(Debug, Clone)]
enum Undo {
    /// A row was appended: remove the table's last row.
    Insert { object: String },
    /// A row was changed: put this copy back.
    Restore { object: String, index: usize, record: Record },
}

/// A point [`Database::rollback`] returns the records to. Cheaper than
/// cloning the database: only the rows changed after it are copied.
/// Savepoints nest; release or roll back inner ones first.
#[must_use = "release or roll back the savepoint"]
#[derive(Debug)]
pub struct Savepoint {
    mark: usize,
    outermost: bool,
    schema: Schema,
    next_id: u64,
    auto_numbers: HashMap<String, u64>,
    recycle_bin: HashMap<String, Vec<String>>,
    /// Where the change capture stood.
    capture_mark: Option<usize>,
}

/// Whether a write inserts or updates; decides which fields may be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    Insert,
    Update,
}

impl Database {
    pub fn new(schema: Schema) -> Self {
        Database {
            schema,
            tables: HashMap::new(),
            next_id: 1,
            auto_numbers: HashMap::new(),
            recycle_bin: HashMap::new(),
            journal: None,
            duplicate_rules: Vec::new(),
            permissions: HashMap::new(),
            capture: None,
        }
    }

    /// What `user_id` may do with `object`: full access unless
    /// [`Database::set_object_access`] said otherwise.
    pub fn object_access(&self, user_id: &str, object: &str) -> ObjectAccess {
        let Some(by_object) = self.permissions.get(user_id) else {
            return ObjectAccess::ALL;
        };
        let name = self.schema.object(object).map_or(object, |o| o.name.as_str());
        by_object.get(name).copied().unwrap_or(ObjectAccess::ALL)
    }

    /// Sets what `user_id` may do with `object` (its profile's object permissions).
    pub fn set_object_access(&mut self, user_id: &str, object: &str, access: ObjectAccess) -> Result<(), SfError> {
        let name = self.object_def(object)?.name.clone();
        self.permissions.entry(user_id.to_string()).or_default().insert(name, access);
        Ok(())
    }

    /// Adds a duplicate rule (replacing one of the same object and name).
    pub fn add_duplicate_rule(&mut self, mut rule: DuplicateRule) -> Result<(), SfError> {
        let obj = self.object_def(&rule.object)?;
        rule.object = obj.name.clone();
        if rule.fields.is_empty() {
            return Err(SfError::new(400, "INVALID_INPUT", "A duplicate rule needs at least one field to match on"));
        }
        for field in &mut rule.fields {
            let f = obj.field(field).ok_or_else(|| SfError::no_such_column_on_sobject(field, &obj.name))?;
            *field = f.name.clone();
        }
        self.duplicate_rules.retain(|r| !(r.object == rule.object && r.name == rule.name));
        self.duplicate_rules.push(rule);
        Ok(())
    }

    /// Removes every duplicate rule.
    pub fn clear_duplicate_rules(&mut self) {
        self.duplicate_rules.clear();
    }

    /// The duplicate rules, in the order added.
    pub fn duplicate_rules(&self) -> &[DuplicateRule] {
        &self.duplicate_rules
    }

    /// Adds a record type to an object as an admin does in Setup: the
    /// `RecordType` record, the picklist values it offers (by field; a
    /// picklist not listed offers all its values) and, when `make_default`,
    /// the default record type of new records. Returns its id (`012…`).
    pub fn add_record_type(
        &mut self,
        record_type: &Map<String, Json>,
        picklists: Vec<RecordTypePicklist>,
        make_default: bool,
        ctx: &WriteContext,
    ) -> Result<String, Vec<SfError>> {
        let savepoint = self.savepoint();
        let added = self
            .create("RecordType", record_type, ctx)
            .and_then(|id| configure_record_type(self, &id, picklists, make_default).map(|()| id).map_err(|e| vec![e]));
        match added {
            Ok(_) => self.release(savepoint),
            Err(_) => self.rollback(savepoint),
        }
        added
    }

    /// Makes room for `additional` more records of `object`, so a bulk load
    /// does not grow the table and its id index step by step.
    pub fn reserve(&mut self, object: &str, additional: usize) {
        let Some(obj) = self.schema.object(object) else {
            return;
        };
        self.tables.entry(obj.name.clone()).or_insert_with(|| Table::new(obj)).reserve(additional);
    }

    /// Starts recording changes so [`Database::rollback`] can undo them
    /// (composite `allOrNone`).
    pub fn savepoint(&mut self) -> Savepoint {
        let outermost = self.journal.is_none();
        let journal = self.journal.get_or_insert_with(Vec::new);
        Savepoint {
            mark: journal.len(),
            outermost,
            schema: self.schema.clone(),
            next_id: self.next_id,
            auto_numbers: self.auto_numbers.clone(),
            recycle_bin: self.recycle_bin.clone(),
            capture_mark: self.capture.as_ref().map(|c| c.mark()),
        }
    }

    /// Undoes every change made since `savepoint`.
    pub fn rollback(&mut self, savepoint: Savepoint) {
        let journal = self.journal.as_mut().map(std::mem::take).unwrap_or_default();
        let (kept, undo) = journal.split_at(savepoint.mark.min(journal.len()));
        for entry in undo.iter().rev() {
            match entry {
                Undo::Insert { object } => {
                    if let Some(table) = self.tables.get_mut(object) {
                        table.pop();
                    }
                }
                Undo::Restore { object, index, record } => {
                    if let Some(table) = self.tables.get_mut(object).filter(|t| *index < t.rows().len()) {
                        table.change(*index, |row| *row = record.clone());
                    }
                }
            }
        }
        self.journal = (!savepoint.outermost).then(|| kept.to_vec());
        self.schema = savepoint.schema;
        self.next_id = savepoint.next_id;
        self.auto_numbers = savepoint.auto_numbers;
        self.recycle_bin = savepoint.recycle_bin;
        if let (Some(capture), Some(mark)) = (self.capture.as_mut(), savepoint.capture_mark) {
            capture.rollback_to(mark);
        }
    }

    /// Keeps the changes made since `savepoint`.
    pub fn release(&mut self, savepoint: Savepoint) {
        if savepoint.outermost {
            self.journal = None;
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn schema_mut(&mut self) -> &mut Schema {
        &mut self.schema
    }

    // ---- reads used by SOQL and SOSL ----

    /// All rows of an object, recycle bin included, in insertion order.
    pub(crate) fn rows(&self, object: &str) -> &[Record] {
        self.tables.get(object).map(|t| t.rows()).unwrap_or(&[])
    }

    /// The rows of `object` whose reference `field` holds `id` (18
    /// characters), recycle bin included, in insertion order.
    pub(crate) fn rows_referencing(&self, object: &str, field: &str, id: &str) -> Vec<&Record> {
        let rows = self.rows(object);
        match self.tables.get(object).and_then(|t| t.referencing(field, id)) {
            Some(positions) => positions.iter().map(|&p| &rows[p]).collect(),
            None => rows.iter().filter(|r| r.reference(field) == Some(id)).collect(),
        }
    }

    /// Positions in [`Database::rows`] of the rows whose reference `field`
    /// holds `id`, in order; `None` when the field has no index.
    pub(crate) fn lookup(&self, object: &str, field: &str, id: &str) -> Option<&[usize]> {
        self.tables.get(object).map_or(Some(&[][..]), |t| t.referencing(field, id))
    }

    /// Whether queries can find the rows of `object` by `field` without reading them all.
    pub(crate) fn has_lookup(&self, object: &str, field: &str) -> bool {
        self.tables.get(object).is_none_or(|t| t.has_lookup(field))
    }

    /// The position in [`Database::rows`] of the record `id` (18 characters) of `object`.
    pub(crate) fn position(&self, object: &str, id: &str) -> Option<usize> {
        self.tables.get(object)?.position(id)
    }

    /// Positions in [`Database::rows`] ordered by the timestamp `field` (one
    /// of [`TIMELINE_FIELDS`]), then by id, within the bounds.
    pub(crate) fn timeline(
        &self,
        object: &str,
        field: &str,
        from: std::ops::Bound<DateTime<Utc>>,
        to: std::ops::Bound<DateTime<Utc>>,
    ) -> Option<Box<dyn DoubleEndedIterator<Item = usize> + '_>> {
        match self.tables.get(object) {
            Some(table) => Some(Box::new(table.timeline(field, from, to)?)),
            None => Some(Box::new(std::iter::empty())),
        }
    }

    /// A record by 15- or 18-character id, recycle bin included.
    pub fn record(&self, id: &str) -> Option<(&ObjectDef, &Record)> {
        let id = ids::canonical(id)?;
        let obj = self.schema.object_for_id(&id)?;
        let table = self.tables.get(&obj.name)?;
        table.position(&id).map(|i| (obj, &table.rows()[i]))
    }

    /// A live (not deleted) record by id.
    pub(crate) fn live_record(&self, id: &str) -> Option<(&ObjectDef, &Record)> {
        self.record(id).filter(|(_, r)| !r.is_deleted())
    }

    fn object_def(&self, object: &str) -> Result<&ObjectDef, SfError> {
        self.schema.object(object).ok_or_else(|| SfError::unknown_sobject(object))
    }

    /// The record `id` of `object`, or NOT_FOUND / ENTITY_IS_DELETED / MALFORMED_ID.
    fn existing(&self, object: &str, id: &str) -> Result<(&ObjectDef, &Record), SfError> {
        let obj = self.object_def(object)?;
        let Some(id18) = ids::normalize(id) else {
            return Err(SfError::malformed_id(Some(&format!("{} ID", obj.label)), id).with_fields(vec![]));
        };
        match self.record(&id18) {
            Some((o, r)) if o.name == obj.name => {
                if r.is_deleted() {
                    Err(SfError::entity_is_deleted())
                } else {
                    Ok((o, r))
                }
            }
            _ => Err(SfError::not_found()),
        }
    }

    // ---- writes ----

    /// Inserts a record and returns its 18-character id.
    pub fn create(
        &mut self,
        object: &str,
        fields: &Map<String, Json>,
        ctx: &WriteContext,
    ) -> Result<String, Vec<SfError>> {
        self.create_with(object, fields, ctx, &WriteOptions::default())
    }

    /// [`Database::create`] as a REST request with these headers asks for it.
    pub fn create_with(
        &mut self,
        object: &str,
        fields: &Map<String, Json>,
        ctx: &WriteContext,
        options: &WriteOptions,
    ) -> Result<String, Vec<SfError>> {
        let obj = self.createable(object, &ctx.user_id)?;
        let values = self.validate_input(obj, None, fields, WriteKind::Insert)?;
        let obj_name = obj.name.clone();
        self.insert_validated(&obj_name, values, ctx, options)
    }

    /// Inserts a record given as typed values by canonical field name, under
    /// every rule [`Database::create`] applies to a JSON body (writable
    /// fields, lengths, picklists, references, defaults, derived fields,
    /// required fields, ids and auto-numbers). For loads too big to go
    /// through JSON: the records are the same as created ones.
    pub fn create_typed<K: AsRef<str>>(
        &mut self,
        object: &str,
        values: impl IntoIterator<Item = (K, Value)>,
        ctx: &WriteContext,
    ) -> Result<String, Vec<SfError>> {
        let obj = self.createable(object, &ctx.user_id)?;
        let values = self.validate_values(obj, values, WriteKind::Insert)?;
        let obj_name = obj.name.clone();
        self.insert_validated(&obj_name, values, ctx, &WriteOptions::default())
    }

    /// An object `user_id` may read: others answer as if they did not exist.
    fn readable(&self, object: &str, user_id: &str) -> Result<(&ObjectDef, ObjectAccess), SfError> {
        let obj = self.object_def(object)?;
        let access = self.object_access(user_id, &obj.name);
        if !access.read {
            return Err(SfError::unknown_sobject(object));
        }
        Ok((obj, access))
    }

    /// An object records may be inserted into by `user_id`.
    fn createable(&self, object: &str, user_id: &str) -> Result<&ObjectDef, Vec<SfError>> {
        let (obj, access) = self.readable(object, user_id).map_err(|e| vec![e])?;
        if !access.create {
            return Err(vec![insufficient_access()]);
        }
        if !obj.createable {
            return Err(vec![SfError::new(
                400,
                "INVALID_TYPE_FOR_OPERATION",
                format!("entity type cannot be inserted: {}", obj.label),
            )]);
        }
        Ok(obj)
    }

    /// Inserts a record the org writes itself (a messaging session, its
    /// conversation): fields read-only to the API and objects closed to API
    /// inserts included; the values are typed and trusted, and every other
    /// rule of an insert applies (defaults, derived fields, auto-numbers,
    /// required fields, hooks). `object` is the canonical name.
    pub(crate) fn insert_system(
        &mut self,
        object: &str,
        values: Values,
        ctx: &WriteContext,
    ) -> Result<String, Vec<SfError>> {
        self.insert_validated(object, values, ctx, &WriteOptions::default())
    }

    /// Updates fields the org sets itself (a session's status and times),
    /// as [`Database::insert_system`] inserts.
    pub(crate) fn update_system(
        &mut self,
        object: &str,
        id: &str,
        values: Values,
        ctx: &WriteContext,
    ) -> Result<(), Vec<SfError>> {
        self.update_validated(object, id, values, ctx, &WriteOptions::default())
    }

    /// The rest of an insert once the given values are valid: defaults,
    /// derived fields, required fields, rules across records, the row, and
    /// its side effects on other records.
    fn insert_validated(
        &mut self,
        obj_name: &str,
        mut values: Values,
        ctx: &WriteContext,
        options: &WriteOptions,
    ) -> Result<String, Vec<SfError>> {
        let obj = self.object_def(obj_name).map_err(|e| vec![e])?;
        // Only objects with record types of their own (besides Master) have the field.
        if obj.record_types.len() > 1
            && values.get("RecordTypeId").is_none_or(Value::is_null)
            && let Some(default) = default_record_type_for_insert(obj)
        {
            values.insert("RecordTypeId", Value::Text(default.record_type_id.clone()));
        }
        self.fill_defaults(obj, &mut values, ctx);
        self.derive(obj_name, &mut values, None, ctx);
        let obj = self.object_def(obj_name).map_err(|e| vec![e])?;
        self.check_required(obj, &values, WriteKind::Insert)?;
        self.check_record_type_values(obj, &values, None)?;
        self.check_record_rules(obj, None, &values)?;
        self.check_duplicates(obj, None, &values, options)?;
        let id = self.insert_row(obj_name, values, ctx);
        self.after_insert(obj_name, &id, ctx);
        Ok(id)
    }

    /// Updates the given fields of a record.
    pub fn update(
        &mut self,
        object: &str,
        id: &str,
        fields: &Map<String, Json>,
        ctx: &WriteContext,
    ) -> Result<(), Vec<SfError>> {
        self.update_with(object, id, fields, ctx, &WriteOptions::default())
    }

    /// [`Database::update`] as a REST request with these headers asks for it.
    pub fn update_with(
        &mut self,
        object: &str,
        id: &str,
        fields: &Map<String, Json>,
        ctx: &WriteContext,
        options: &WriteOptions,
    ) -> Result<(), Vec<SfError>> {
        let (obj, record) = self.updateable(object, id, &ctx.user_id)?;
        let changes = self.validate_input(obj, Some(&record.id), fields, WriteKind::Update)?;
        let (obj_name, id) = (obj.name.clone(), record.id.clone());
        self.update_validated(&obj_name, &id, changes, ctx, options)
    }

    /// Updates a record with typed values by canonical field name, under
    /// every rule [`Database::update`] applies to a JSON body.
    pub fn update_typed<K: AsRef<str>>(
        &mut self,
        object: &str,
        id: &str,
        values: impl IntoIterator<Item = (K, Value)>,
        ctx: &WriteContext,
    ) -> Result<(), Vec<SfError>> {
        let (obj, record) = self.updateable(object, id, &ctx.user_id)?;
        let changes = self.validate_values(obj, values, WriteKind::Update)?;
        let (obj_name, id) = (obj.name.clone(), record.id.clone());
        self.update_validated(&obj_name, &id, changes, ctx, &WriteOptions::default())
    }

    /// A live record that `user_id` may update.
    fn updateable(&self, object: &str, id: &str, user_id: &str) -> Result<(&ObjectDef, &Record), Vec<SfError>> {
        let (_, access) = self.readable(object, user_id).map_err(|e| vec![e])?;
        let (obj, record) = self.existing(object, id).map_err(|e| vec![e])?;
        if !access.edit {
            return Err(vec![insufficient_access()]);
        }
        if !obj.updateable {
            return Err(vec![SfError::new(
                400,
                "INVALID_TYPE_FOR_OPERATION",
                format!("entity type cannot be updated: {}", obj.label),
            )]);
        }
        obj.hooks.check_update(record).map_err(|e| vec![e])?;
        Ok((obj, record))
    }

    /// The rest of an update once the changes are valid: derived fields,
    /// required fields, rules across records, the system stamps.
    fn update_validated(
        &mut self,
        obj_name: &str,
        id: &str,
        changes: Values,
        ctx: &WriteContext,
        options: &WriteOptions,
    ) -> Result<(), Vec<SfError>> {
        let (_, record) = self.existing(obj_name, id).map_err(|e| vec![e])?;
        let changed: Vec<&'static str> = changes.keys().copied().collect();
        let mut merged = record.values.to_values();
        merged.extend(changes);
        self.derive(obj_name, &mut merged, Some(record), ctx);
        let obj = self.object_def(obj_name).map_err(|e| vec![e])?;
        self.check_required(obj, &merged, WriteKind::Update)?;
        self.check_record_type_values(obj, &merged, Some(&changed))?;
        self.check_record_rules(obj, Some(id), &merged)?;
        self.check_duplicates(obj, Some(id), &merged, options)?;
        merged.insert("LastModifiedDate", Value::DateTime(stamp(ctx.now)));
        merged.insert("LastModifiedById", Value::Text(ctx.user_id.clone()));
        merged.insert("SystemModstamp", Value::DateTime(stamp(ctx.now)));
        merged.retain(|_, v| !v.is_null());
        let merged = Fields::from_values(merged);
        self.change_row(obj_name, id, |row| row.values = merged);
        if let Some(hooks) = self.schema.object(obj_name).map(|o| o.hooks) {
            hooks.after_update(self, id, ctx);
        }
        Ok(())
    }

    /// Converts a lead into an account, a contact and, when asked, an
    /// opportunity, as `convertLead()` does; all or nothing.
    pub fn convert_lead(
        &mut self,
        conversion: &LeadConversion,
        ctx: &WriteContext,
    ) -> Result<ConvertedLead, Vec<SfError>> {
        let savepoint = self.savepoint();
        let converted = crate::schema::convert_lead(self, conversion, ctx);
        match converted {
            Ok(_) => self.release(savepoint),
            Err(_) => self.rollback(savepoint),
        }
        converted
    }

    /// Moves a record to the recycle bin (`IsDeleted = true`), with the
    /// children whose relationship cascades deletes.
    pub fn delete(&mut self, object: &str, id: &str, ctx: &WriteContext) -> Result<(), Vec<SfError>> {
        let (_, access) = self.readable(object, &ctx.user_id).map_err(|e| vec![e])?;
        let (obj, record) = self.existing(object, id).map_err(|e| vec![e])?;
        if !access.delete {
            return Err(vec![insufficient_access()]);
        }
        if !obj.deletable {
            return Err(vec![SfError::new(
                400,
                "INVALID_TYPE_FOR_OPERATION",
                format!("entity type cannot be deleted: {}", obj.label),
            )]);
        }
        let root = record.id.clone();
        let mut doomed = vec![root.clone()];
        let mut collected: std::collections::HashSet<String> = doomed.iter().cloned().collect();
        let mut i = 0;
        while i < doomed.len() {
            let (parent_obj, _) = self.record(&doomed[i]).expect("collected from live rows");
            for rel in parent_obj.child_relationships.iter().filter(|rel| rel.cascade_delete) {
                for child in self.rows_referencing(&rel.child_sobject, &rel.field, &doomed[i]) {
                    if !child.is_deleted() && collected.insert(child.id.clone()) {
                        doomed.push(child.id.clone());
                    }
                }
            }
            i += 1;
        }
        for doomed_id in &doomed {
            let (o, _) = self.record(doomed_id).expect("collected above");
            let o = o.name.clone();
            self.change_row(&o, doomed_id, |row| {
                row.deleted_at = Some(stamp(ctx.now));
                row.values.set("IsDeleted", Value::Bool(true));
                row.values.set("LastModifiedDate", Value::DateTime(stamp(ctx.now)));
                row.values.set("LastModifiedById", Value::Text(ctx.user_id.clone()));
                row.values.set("SystemModstamp", Value::DateTime(stamp(ctx.now)));
            });
        }
        self.recycle_bin.insert(root, doomed);
        Ok(())
    }

    /// Restores a record from the recycle bin, with everything its delete cascaded to.
    pub fn undelete(&mut self, id: &str, ctx: &WriteContext) -> Result<(), Vec<SfError>> {
        let Some(id18) = ids::normalize(id) else {
            return Err(vec![SfError::malformed_id(None, id)]);
        };
        let Some((_, record)) = self.record(&id18) else {
            return Err(vec![SfError::not_found()]);
        };
        if !record.is_deleted() {
            return Err(vec![SfError::new(400, "UNDELETE_FAILED", "Entity is not in the recycle bin")]);
        }
        let restored = self.recycle_bin.remove(&id18).unwrap_or_else(|| vec![id18.clone()]);
        for rid in restored {
            let Some((o, _)) = self.record(&rid) else {
                continue;
            };
            let o = o.name.clone();
            self.change_row(&o, &rid, |row| {
                row.deleted_at = None;
                row.values.set("IsDeleted", Value::Bool(false));
                row.values.set("LastModifiedDate", Value::DateTime(stamp(ctx.now)));
                row.values.set("LastModifiedById", Value::Text(ctx.user_id.clone()));
                row.values.set("SystemModstamp", Value::DateTime(stamp(ctx.now)));
            });
        }
        Ok(())
    }

    /// One record as `GET /sobjects/{object}/{id}` returns it: `attributes`
    /// first, then the requested fields (all fields when `fields` is `None`).
    pub fn retrieve(
        &self,
        object: &str,
        id: &str,
        fields: Option<&[String]>,
        api_version: &str,
    ) -> Result<Json, SfError> {
        let (obj, record) = self.existing(object, id)?;
        let selected: Vec<&FieldDef> = match fields {
            None => obj.fields.iter().collect(),
            Some(names) => names
                .iter()
                .map(|n| n.trim())
                .filter(|n| !n.is_empty())
                .map(|n| obj.field(n).ok_or_else(|| SfError::no_such_column_on_entity(n, &obj.name)))
                .collect::<Result<_, _>>()?,
        };
        let mut out = Map::new();
        out.insert("attributes".into(), attributes(obj, &record.id, api_version));
        for f in selected {
            out.insert(f.name.clone(), self.render_field(obj, record, f, api_version));
        }
        Ok(Json::Object(out))
    }

    /// Runs a SOQL query; `include_deleted` is queryAll.
    pub fn query(&self, soql: &str, include_deleted: bool, ctx: &QueryContext) -> Result<QueryResult, SfError> {
        crate::soql::execute(self, soql, include_deleted, ctx)
    }

    /// Runs a SOSL search and returns the `searchRecords`.
    pub fn search(&self, sosl: &str, ctx: &QueryContext) -> Result<Vec<Json>, SfError> {
        crate::sosl::search(self, sosl, ctx)
    }

    /// `GET /sobjects/{object}/updated/?start=…&end=…`: ids of live records
    /// whose `SystemModstamp` falls in `[start, end]`, both rounded down to the minute.
    pub fn updated(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Json, SfError> {
        let obj = self.object_def(object)?;
        let (start, end) = replication_window(start, end, now, UPDATED_WINDOW_DAYS)?;
        let mut ids: Vec<&str> = self
            .rows(&obj.name)
            .iter()
            .filter(|r| !r.is_deleted())
            .filter(|r| matches!(r.get("SystemModstamp"), Value::DateTime(t) if *t >= start && *t <= end))
            .map(|r| r.id.as_str())
            .collect();
        if ids.len() > UPDATED_ID_LIMIT {
            return Err(SfError::new(
                400,
                "EXCEEDED_ID_LIMIT",
                format!("record limit reached. cannot submit more than {UPDATED_ID_LIMIT} records into this call"),
            ));
        }
        ids.sort_unstable();
        Ok(json!({"ids": ids, "latestDateCovered": format_datetime(end)}))
    }

    /// `GET /sobjects/{object}/deleted/?start=…&end=…`: records moved to the
    /// recycle bin in `[start, end]`.
    pub fn deleted(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Json, SfError> {
        let obj = self.object_def(object)?;
        let (start, end) = replication_window(start, end, now, DELETED_WINDOW_DAYS)?;
        let mut deleted: Vec<(DateTime<Utc>, &str)> = self
            .rows(&obj.name)
            .iter()
            .filter_map(|r| r.deleted_at.filter(|t| *t >= start && *t <= end).map(|t| (t, r.id.as_str())))
            .collect();
        deleted.sort_unstable();
        let records: Vec<Json> =
            deleted.iter().map(|(t, id)| json!({"id": id, "deletedDate": format_datetime(*t)})).collect();
        Ok(json!({
            "deletedRecords": records,
            // Nothing is ever purged here, so the whole window is available.
            "earliestDateAvailable": format_datetime(start.min(earliest_available(now))),
            "latestDateCovered": format_datetime(end),
        }))
    }

    /// The bytes of a base64 field (`ContentVersion.VersionData`, `Attachment.Body`).
    pub fn blob(&self, object: &str, id: &str, field: &str) -> Result<Vec<u8>, SfError> {
        let (obj, record) = self.existing(object, id)?;
        let f = obj.field(field).filter(|f| f.field_type == FieldType::Base64).ok_or_else(SfError::not_found)?;
        match record.get(&f.name) {
            Value::Blob(bytes) => Ok(bytes.clone()),
            _ => Err(SfError::not_found()),
        }
    }

    // ---- rendering ----

    /// A field's value as Salesforce JSON.
    pub(crate) fn render_field(&self, obj: &ObjectDef, record: &Record, field: &FieldDef, api_version: &str) -> Json {
        match field.field_type {
            FieldType::Address => {
                let parts: Vec<(&str, Json)> = address_components(&field.name)
                    .into_iter()
                    .filter_map(|(key, component)| {
                        obj.field(&component).map(|f| (key, render_value(record.get(&f.name))))
                    })
                    .collect();
                if parts.iter().all(|(_, v)| v.is_null()) {
                    Json::Null
                } else {
                    Json::Object(parts.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }
            }
            // Checkboxes added after a record was written read as false, never null.
            FieldType::Boolean => Json::Bool(record.get(&field.name).as_bool()),
            FieldType::Base64 if !record.get(&field.name).is_null() => {
                json!(format!("{}/sobjects/{}/{}/{}", data_path(api_version), obj.name, record.id, field.name))
            }
            _ => render_value(record.get(&field.name)),
        }
    }

    // ---- write internals ----

    /// Turns the JSON body of a create or update into typed values, checking
    /// that every field exists, may be written, and holds a valid value.
    fn validate_input(
        &self,
        obj: &ObjectDef,
        record_id: Option<&str>,
        fields: &Map<String, Json>,
        kind: WriteKind,
    ) -> Result<Values, Vec<SfError>> {
        let mut known: Vec<(&FieldDef, &Json)> = Vec::new();
        for (key, raw) in fields {
            if key == "attributes" {
                continue;
            }
            if key.eq_ignore_ascii_case("Id") {
                match (kind, record_id, raw.as_str().and_then(ids::normalize)) {
                    (WriteKind::Update, Some(current), Some(given)) if given == current => continue,
                    (WriteKind::Update, _, _) if raw.is_null() => continue,
                    (WriteKind::Insert, _, _) => {
                        return Err(vec![
                            SfError::new(
                                400,
                                "INVALID_FIELD_FOR_INSERT_UPDATE",
                                "Record ID: cannot specify Id in an insert call",
                            )
                            .with_fields(vec!["Id".into()]),
                        ]);
                    }
                    _ => {
                        return Err(vec![SfError::new(
                            400,
                            "INVALID_ID_FIELD",
                            "The Id field should not be specified in the sobject data.",
                        )]);
                    }
                }
            }
            match obj.field(key) {
                Some(f) => known.push((f, raw)),
                None => return Err(vec![SfError::no_such_column_on_sobject(key, &obj.name)]),
            }
        }
        self.check_fields(obj, known, kind, coerce)
    }

    /// [`Database::validate_input`] for typed values: each must be of its
    /// field's type (`Text` for text, ids and picklists).
    fn validate_values<K: AsRef<str>>(
        &self,
        obj: &ObjectDef,
        values: impl IntoIterator<Item = (K, Value)>,
        kind: WriteKind,
    ) -> Result<Values, Vec<SfError>> {
        let mut known: Vec<(&FieldDef, Value)> = Vec::new();
        for (key, value) in values {
            match obj.field(key.as_ref()) {
                Some(f) => known.push((f, value)),
                None => return Err(vec![SfError::no_such_column_on_sobject(key.as_ref(), &obj.name)]),
            }
        }
        self.check_fields(obj, known, kind, |f, value| {
            if value_fits(f.field_type, &value) {
                Ok(value)
            } else {
                Err(SfError::new(
                    400,
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    format!("{}: value not of required type: {value:?}", f.label),
                )
                .with_fields(vec![f.name.clone()]))
            }
        })
    }

    /// Checks that every given field may be written, turns each given value
    /// into a stored value with `to_value`, and checks it against its field.
    fn check_fields<'o, T>(
        &self,
        obj: &'o ObjectDef,
        known: Vec<(&'o FieldDef, T)>,
        kind: WriteKind,
        to_value: impl Fn(&FieldDef, T) -> Result<Value, SfError>,
    ) -> Result<Values, Vec<SfError>> {
        let not_writable: Vec<String> = known
            .iter()
            .filter(|(f, _)| match kind {
                WriteKind::Insert => !f.createable,
                WriteKind::Update => !f.updateable,
            })
            .map(|(f, _)| f.name.clone())
            .collect();
        if !not_writable.is_empty() {
            let verb = if kind == WriteKind::Insert { "create" } else { "update" };
            return Err(vec![SfError::new(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                format!(
                    "Unable to {verb} fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                    not_writable.join(", ")
                ),
            )
            .with_fields(not_writable)]);
        }
        let mut values = Values::new();
        let mut errors = Vec::new();
        for (f, given) in known {
            match to_value(f, given).and_then(|v| self.check_value(obj, f, v)) {
                Ok(v) => {
                    values.insert(f.key(), v);
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() { Ok(values) } else { Err(errors) }
    }

    /// Checks a typed value against the field's rules: length, picklist
    /// values, email format, and reference targets.
    fn check_value(&self, obj: &ObjectDef, f: &FieldDef, value: Value) -> Result<Value, SfError> {
        let Value::Text(text) = &value else {
            return Ok(value);
        };
        let t = f.field_type;
        if t.is_text() && f.length > 0 && text.chars().count() > f.length as usize {
            let shown: String = text.chars().take(100).collect();
            return Err(SfError::new(
                400,
                "STRING_TOO_LONG",
                format!("{}: data value too large: {shown} (max length={})", f.label, f.length),
            )
            .with_fields(vec![f.name.clone()]));
        }
        match t {
            FieldType::Email if !is_email(text) => {
                Err(SfError::new(400, "INVALID_EMAIL_ADDRESS", format!("{}: invalid email address: {text}", f.label))
                    .with_fields(vec![f.name.clone()]))
            }
            FieldType::Picklist if f.restricted_picklist => match picklist_canonical(f, text) {
                Some(v) if v == text => Ok(value),
                Some(v) => Ok(Value::Text(v.to_string())),
                None => Err(bad_picklist(f, text)),
            },
            FieldType::Multipicklist => {
                let mut chosen: Vec<String> = Vec::new();
                for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                    let canonical = match picklist_canonical(f, part) {
                        Some(v) => v.to_string(),
                        None if f.restricted_picklist => return Err(bad_picklist(f, part)),
                        None => part.to_string(),
                    };
                    if !chosen.iter().any(|c| c.eq_ignore_ascii_case(&canonical)) {
                        chosen.push(canonical);
                    }
                }
                Ok(if chosen.is_empty() { Value::Null } else { Value::Text(chosen.join(";")) })
            }
            FieldType::Picklist => match picklist_canonical(f, text) {
                Some(v) if v != text => Ok(Value::Text(v.to_string())),
                _ => Ok(value),
            },
            FieldType::Reference => {
                // Keep the given text when it already is the 18-character id.
                let canonical = match self.check_reference(obj, f, text)? {
                    std::borrow::Cow::Borrowed(_) => None,
                    std::borrow::Cow::Owned(id) => Some(id),
                };
                Ok(canonical.map_or(value, Value::Text))
            }
            _ => Ok(value),
        }
    }

    /// A reference must name a live record of one of the field's target
    /// objects; owners must be active users or queues taking this object.
    fn check_reference<'v>(
        &self,
        obj: &ObjectDef,
        f: &FieldDef,
        raw: &'v str,
    ) -> Result<std::borrow::Cow<'v, str>, SfError> {
        let wrong_type = || {
            SfError::new(400, "FIELD_INTEGRITY_EXCEPTION", format!("{}: id value of incorrect type: {raw}", f.label))
                .with_fields(vec![f.name.clone()])
        };
        let Some(id) = ids::canonical(raw) else {
            return Err(SfError::malformed_id(Some(&f.label), raw).with_fields(vec![f.name.clone()]));
        };
        let Some(target) = self.schema.object_for_id(&id) else {
            return Err(wrong_type());
        };
        if !f.reference_to.contains(&target.name) {
            return Err(wrong_type());
        }
        if f.name == "RecordTypeId" && target.name == "RecordType" {
            // Unknown, inactive, another object's or not assigned to the user: one answer for all.
            if obj.record_type_for_user(&id).is_none() {
                return Err(SfError::new(
                    400,
                    "INVALID_CROSS_REFERENCE_KEY",
                    format!("{}: this ID value isn't valid for the user: {id}", f.label),
                )
                .with_fields(vec![f.name.clone()]));
            }
            return Ok(id);
        }
        let Some((_, record)) = self.record(&id) else {
            return Err(SfError::new(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
                .with_fields(vec![f.name.clone()]));
        };
        if record.is_deleted() {
            return Err(SfError::new(400, "ENTITY_IS_DELETED", "entity is deleted").with_fields(vec![f.name.clone()]));
        }
        if f.name == "OwnerId" {
            match target.name.as_str() {
                "User" if !record.get("IsActive").as_bool() => {
                    return Err(SfError::new(
                        400,
                        "INACTIVE_OWNER_OR_USER",
                        format!(
                            "operation performed with inactive user [{id}] as owner of {}",
                            obj.name.to_ascii_lowercase()
                        ),
                    ));
                }
                "Group" if !self.queue_takes(&id, &obj.name) => return Err(wrong_type()),
                _ => {}
            }
        }
        Ok(id)
    }

    /// Whether group `group_id` is a queue that accepts records of `object`.
    fn queue_takes(&self, group_id: &str, object: &str) -> bool {
        let is_queue = self.live_record(group_id).is_some_and(|(_, g)| g.get("Type").as_str() == Some("Queue"));
        is_queue
            && self.rows("QueueSobject").iter().any(|q| {
                !q.is_deleted()
                    && q.reference("QueueId") == Some(group_id)
                    && q.get("SobjectType").as_str() == Some(object)
            })
    }

    /// Insert-time defaults: checkbox and picklist defaults (the record
    /// type's where it sets one), the owner.
    fn fill_defaults(&self, obj: &ObjectDef, values: &mut Values, ctx: &WriteContext) {
        let record_type = values
            .get("RecordTypeId")
            .and_then(Value::as_str)
            .and_then(|id| obj.record_types.iter().find(|rt| rt.record_type_id == id));
        for f in &obj.fields {
            // Which fields have a default is cheaper to tell than whether a value was given.
            let default = match f.field_type {
                FieldType::Boolean => Value::Bool(f.default_value.as_ref().and_then(Json::as_bool).unwrap_or(false)),
                FieldType::Picklist | FieldType::Multipicklist => {
                    let field_default = f.default_picklist_value().filter(|_| f.defaulted_on_create);
                    let default = match record_type.and_then(|rt| rt.picklist(&f.name)) {
                        // The record type's own default, else the field's when the record type offers it.
                        Some(offered) => offered
                            .default
                            .as_deref()
                            .or(field_default.filter(|d| offered.values.iter().any(|v| v == d))),
                        None => field_default,
                    };
                    match default {
                        Some(v) => Value::Text(v.to_string()),
                        None => continue,
                    }
                }
                FieldType::Reference if f.name == "OwnerId" && f.createable => Value::Text(ctx.user_id.clone()),
                _ => continue,
            };
            values.entry(f.key()).or_insert(default);
        }
    }

    /// Recomputes the fields Salesforce derives from others: a person's
    /// `Name` here, the rest through the object's hooks. `previous` is the
    /// stored record on update.
    fn derive(&self, object: &str, values: &mut Values, previous: Option<&Record>, ctx: &WriteContext) {
        let Some(obj) = self.schema.object(object) else {
            return;
        };
        if obj.field("FirstName").is_some() && obj.field("LastName").is_some() && obj.field("Name").is_some() {
            let name = ["FirstName", "LastName"]
                .into_iter()
                .filter_map(|f| values.get(f).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            values.insert("Name", if name.is_empty() { Value::Null } else { Value::Text(name) });
        }
        obj.hooks.derive(self, values, previous, ctx);
    }

    /// `REQUIRED_FIELD_MISSING` for every non-nillable field left empty, and
    /// the fields the object's hooks require besides.
    fn check_required(&self, obj: &ObjectDef, values: &Values, kind: WriteKind) -> Result<(), Vec<SfError>> {
        let empty = |f: &str| values.get(f).is_none_or(|v| v.is_null() || v.as_str() == Some(""));
        let mut missing: Vec<&str> = obj
            .fields
            .iter()
            .filter(|f| !f.nillable && f.field_type != FieldType::Boolean)
            .filter(|f| match kind {
                WriteKind::Insert => f.createable,
                WriteKind::Update => f.updateable,
            })
            .filter(|f| empty(&f.name))
            .map(|f| f.name.as_str())
            .collect();
        for extra in obj.hooks.missing_fields(values) {
            if !missing.contains(&extra) {
                missing.push(extra);
            }
        }
        if missing.is_empty() { Ok(()) } else { Err(vec![SfError::required_field_missing(&missing)]) }
    }

    /// A picklist value the record's record type does not offer. Salesforce
    /// enforces a record type's values only for restricted picklists
    /// (`INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`); "the API does not
    /// enforce the list of values for advisory (unrestricted) picklist
    /// fields on create() or update()" (SOAP API Developer Guide, Field
    /// Types, Picklist), so an unrestricted picklist takes a value its
    /// record type does not list. On update only the changed picklists are
    /// checked, or all of them when the record type changes.
    fn check_record_type_values(
        &self,
        obj: &ObjectDef,
        values: &Values,
        changed: Option<&[&'static str]>,
    ) -> Result<(), Vec<SfError>> {
        let Some(record_type) = values
            .get("RecordTypeId")
            .and_then(Value::as_str)
            .and_then(|id| obj.record_types.iter().find(|rt| rt.record_type_id == id))
        else {
            return Ok(());
        };
        let all = changed.is_none_or(|c| c.contains(&"RecordTypeId"));
        let mut errors = Vec::new();
        for offered in &record_type.picklists {
            let Some(f) = obj.field(&offered.field).filter(|f| f.restricted_picklist) else {
                continue;
            };
            if !all && !changed.is_some_and(|c| c.contains(&f.key())) {
                continue;
            }
            let Some(Value::Text(value)) = values.get(f.key()) else {
                continue;
            };
            let parts: Vec<&str> =
                if f.field_type == FieldType::Multipicklist { value.split(';').collect() } else { vec![value] };
            if let Some(bad) = parts.into_iter().find(|p| !offered.values.iter().any(|v| v.eq_ignore_ascii_case(p))) {
                errors.push(bad_picklist(f, bad));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// `DUPLICATES_DETECTED` for each duplicate rule of the object that
    /// finds live records matching this one and does not let it be saved.
    fn check_duplicates(
        &self,
        obj: &ObjectDef,
        own_id: Option<&str>,
        values: &Values,
        options: &WriteOptions,
    ) -> Result<(), Vec<SfError>> {
        if self.duplicate_rules.is_empty() {
            return Ok(());
        }
        let version = options.api_version.as_deref().unwrap_or(DEFAULT_API_VERSION);
        let errors: Vec<SfError> = self
            .duplicate_rules
            .iter()
            .filter(|rule| rule.object == obj.name)
            .filter(|rule| !(rule.allow_save && options.allow_save_duplicates))
            .filter_map(|rule| {
                let matches: Vec<&Record> = self
                    .rows(&obj.name)
                    .iter()
                    .filter(|r| !r.is_deleted() && Some(r.id.as_str()) != own_id)
                    .filter(|r| rule.matches(values, r))
                    .collect();
                (!matches.is_empty()).then(|| rule.error(obj, &matches, version))
            })
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// Rules across records: unique fields, and the pairs of fields the
    /// object's hooks keep unique together (one assignment per topic and
    /// record, one link per document and entity).
    fn check_record_rules(&self, obj: &ObjectDef, own_id: Option<&str>, values: &Values) -> Result<(), Vec<SfError>> {
        let others = || self.rows(&obj.name).iter().filter(|r| !r.is_deleted() && Some(r.id.as_str()) != own_id);
        for f in obj.fields.iter().filter(|f| f.unique) {
            let Some(Value::Text(v)) = values.get(f.name.as_str()) else {
                continue;
            };
            if let Some(dup) = others().find(|r| r.get(&f.name).as_str().is_some_and(|o| o.eq_ignore_ascii_case(v))) {
                return Err(vec![duplicate_value(&f.name, &dup.id)]);
            }
        }
        for (a, b) in obj.hooks.unique_together() {
            let (va, vb) = (values.get(*a), values.get(*b));
            if let Some(dup) = others().find(|r| Some(r.get(a)) == va && Some(r.get(b)) == vb) {
                return Err(vec![duplicate_value(&format!("{a}, {b}"), &dup.id).with_fields(vec![])]);
            }
        }
        Ok(())
    }

    /// Stores a validated record with its id, auto-numbers and system fields.
    pub(crate) fn insert_row(&mut self, object: &str, mut values: Values, ctx: &WriteContext) -> String {
        let obj = self.schema.object(object).expect("validated object");
        let id = ids::new_id(&obj.key_prefix, self.next_id);
        self.next_id += 1;
        for f in obj.fields.iter().filter(|f| f.auto_number) {
            let counter = self.auto_numbers.entry(format!("{}.{}", obj.name, f.name)).or_insert(FIRST_AUTO_NUMBER);
            values.insert(f.key(), Value::Text(format!("{:08}", *counter)));
            *counter += 1;
        }
        let now = Value::DateTime(stamp(ctx.now));
        let user = Value::Text(ctx.user_id.clone());
        values.insert("Id", Value::Text(id.clone()));
        values.insert("IsDeleted", Value::Bool(false));
        values.insert("CreatedDate", now.clone());
        values.insert("CreatedById", user.clone());
        values.insert("LastModifiedDate", now.clone());
        values.insert("LastModifiedById", user);
        values.insert("SystemModstamp", now);
        // Absent means null; not storing nulls keeps 100k-record orgs small.
        values.retain(|_, v| !v.is_null());
        if let Some(journal) = &mut self.journal {
            journal.push(Undo::Insert { object: obj.name.clone() });
        }
        if !self.tables.contains_key(&obj.name) {
            self.tables.insert(obj.name.clone(), Table::new(obj));
        }
        let table = self.tables.get_mut(&obj.name).expect("inserted above");
        table.push(Record { id: id.clone(), values: Fields::from_values(values), deleted_at: None });
        let object = obj.name.clone();
        self.note_insert(&object, &id);
        id
    }

    /// Side effects of an insert on other records, through the object's hooks.
    fn after_insert(&mut self, object: &str, id: &str, ctx: &WriteContext) {
        if let Some(hooks) = self.schema.object(object).map(|o| o.hooks) {
            hooks.after_insert(self, id, ctx);
        }
    }

    /// Changes a stored row through `f` (nothing when there is no such row).
    /// The one way rows change: the journal keeps the previous state when a
    /// savepoint is open, and the table keeps its indexes current.
    pub(crate) fn change_row<R>(&mut self, object: &str, id: &str, f: impl FnOnce(&mut Record) -> R) -> Option<R> {
        let capturing = self.capturing(object, id);
        let table = self.tables.get_mut(object)?;
        let i = table.position(id)?;
        if let Some(journal) = &mut self.journal {
            journal.push(Undo::Restore { object: object.to_string(), index: i, record: table.rows()[i].clone() });
        }
        let before = capturing.then(|| table.rows()[i].clone());
        let out = table.change(i, f);
        if let Some(before) = before {
            let deleted_after = table.rows()[i].is_deleted();
            self.note_change(object, before, deleted_after);
        }
        Some(out)
    }
}

/// `{"type": …, "url": …}` for a record.
pub(crate) fn attributes(obj: &ObjectDef, id: &str, api_version: &str) -> Json {
    json!({"type": obj.name, "url": format!("{}/sobjects/{}/{}", data_path(api_version), obj.name, id)})
}

/// A stored value as Salesforce JSON (base64 and address fields are rendered by [`Database::render_field`]).
pub(crate) fn render_value(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => json!(i),
        Value::Double(d) => serde_json::Number::from_f64(*d).map(Json::Number).unwrap_or(Json::Null),
        Value::Text(s) => Json::String(s.clone()),
        Value::Date(d) => Json::String(d.format("%Y-%m-%d").to_string()),
        Value::DateTime(t) => Json::String(format_datetime(*t)),
        Value::Time(t) => Json::String(format!("{}Z", t.format("%H:%M:%S%.3f"))),
        Value::Blob(_) => Json::Null,
    }
}

/// Salesforce's datetime format: `2024-01-02T03:04:05.000+0000`.
pub fn format_datetime(dt: DateTime<Utc>) -> String {
    dt.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

/// Parses the datetimes Salesforce accepts in JSON bodies and URLs:
/// `2024-01-02T03:04:05Z`, `…+00:00`, `…+0000`, with or without fractional
/// seconds; a bare date or a datetime without offset is taken as UTC.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| d.and_time(NaiveTime::MIN).and_utc())
}

/// Salesforce keeps timestamps to the millisecond.
pub(crate) fn stamp(now: DateTime<Utc>) -> DateTime<Utc> {
    now.trunc_subsecs(3)
}

/// Checks a getUpdated/getDeleted window and rounds it down to the minute.
fn replication_window(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    max_days: i64,
) -> Result<(DateTime<Utc>, DateTime<Utc>), SfError> {
    let minute = |t: DateTime<Utc>| chrono::Timelike::with_second(&t.trunc_subsecs(0), 0).unwrap_or(t);
    let (start, end) = (minute(start), minute(end.min(now)));
    if start > end {
        return Err(SfError::new(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate"));
    }
    let oldest = now.checked_sub_signed(Duration::days(max_days)).map_or(now, minute);
    if start < oldest {
        return Err(SfError::new(
            400,
            "INVALID_REPLICATION_DATE",
            format!("startDate cannot be more than {max_days} days ago"),
        ));
    }
    Ok((start, end))
}

/// The oldest moment getDeleted covers.
fn earliest_available(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_sub_signed(Duration::days(DELETED_WINDOW_DAYS)).unwrap_or(now).trunc_subsecs(0)
}

/// A write the user's object permissions do not allow.
///
/// Salesforce's answer is `INSUFFICIENT_ACCESS_OR_READONLY`, "You can't
/// perform the specified action because you don't have sufficient
/// permissions" (SOAP API Developer Guide, StatusCode), with the message
/// "insufficient access rights on object id" that REST bodies carry (seen
/// in client code handling it, e.g. simple-salesforce's malformed-request
/// errors) and HTTP 400 like every other failed DML; some clients'
/// mocks use 403 instead, which we have not seen from a real org.
fn insufficient_access() -> SfError {
    SfError::new(400, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")
}

fn duplicate_value(field: &str, other_id: &str) -> SfError {
    SfError::new(
        400,
        "DUPLICATE_VALUE",
        format!("duplicate value found: {field} duplicates value on record with id: {other_id}"),
    )
    .with_fields(vec![field.to_string()])
}

fn bad_picklist(f: &FieldDef, value: &str) -> SfError {
    SfError::new(
        400,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        format!("{}: bad value for restricted picklist field: {value}", f.label),
    )
    .with_fields(vec![f.name.clone()])
}

/// The defined picklist value matching `value` case-insensitively.
fn picklist_canonical<'a>(f: &'a FieldDef, value: &str) -> Option<&'a str> {
    f.picklist_values.iter().find(|p| p.value.eq_ignore_ascii_case(value)).map(|p| p.value.as_str())
}

/// A plausible `local@domain.tld` address, the check Salesforce applies to email fields.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c == ',' || c == ';')
}

/// Whether a typed value can be stored in a field of this type as it is
/// (what [`coerce`] would have made of a JSON value).
fn value_fits(t: FieldType, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(_) => t == FieldType::Boolean,
        Value::Int(_) => matches!(t, FieldType::Int | FieldType::Long),
        Value::Double(_) => matches!(t, FieldType::Double | FieldType::Currency | FieldType::Percent),
        Value::Date(_) => t == FieldType::Date,
        Value::DateTime(_) => t == FieldType::Datetime,
        Value::Time(_) => t == FieldType::Time,
        Value::Blob(_) => t == FieldType::Base64,
        // Text, ids, picklists and every other type stored as text.
        Value::Text(_) => !matches!(
            t,
            FieldType::Boolean
                | FieldType::Int
                | FieldType::Long
                | FieldType::Double
                | FieldType::Currency
                | FieldType::Percent
                | FieldType::Date
                | FieldType::Datetime
                | FieldType::Time
                | FieldType::Base64
                | FieldType::Address
                | FieldType::Location
                | FieldType::AnyType
        ),
    }
}

/// A JSON value the body gave for `f`, converted to the field's type.
fn coerce(f: &FieldDef, raw: &Json) -> Result<Value, SfError> {
    let t = f.field_type;
    let parser_error = |found: &str| {
        SfError::new(
            400,
            "JSON_PARSER_ERROR",
            format!(
                "Cannot deserialize instance of {} from {found} or request may be missing a required field",
                t.soql_name()
            ),
        )
    };
    let value_desc = |raw: &Json| match raw {
        Json::String(s) => format!("VALUE_STRING value {s}"),
        Json::Number(n) => format!("VALUE_NUMBER value {n}"),
        Json::Bool(b) => format!("VALUE_{} value {b}", if *b { "TRUE" } else { "FALSE" }),
        Json::Array(_) => "START_ARRAY value [".to_string(),
        Json::Object(_) => "START_OBJECT value {".to_string(),
        Json::Null => "VALUE_NULL".to_string(),
    };
    if raw.is_null() {
        // Checkboxes are never null: null clears them to false.
        return Ok(if t == FieldType::Boolean { Value::Bool(false) } else { Value::Null });
    }
    if raw.is_array() || raw.is_object() {
        return Err(parser_error(&value_desc(raw)));
    }
    // Scalars arrive in three shapes; each type accepts the ones Salesforce's parser accepts.
    let as_text = || match raw {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    match t {
        FieldType::Boolean => match raw {
            Json::Bool(b) => Ok(Value::Bool(*b)),
            Json::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Json::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(parser_error(&value_desc(raw))),
        },
        FieldType::Int | FieldType::Long => {
            let n = match raw {
                Json::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                Json::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if t == FieldType::Long || i32::try_from(n).is_ok() => Ok(Value::Int(n)),
                Some(_) => Err(SfError::new(
                    400,
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    format!("{}: value outside of valid range on numeric field: {}", f.label, as_text()),
                )
                .with_fields(vec![f.name.clone()])),
                None if raw.is_number() => Err(SfError::new(
                    400,
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    format!("{}: value not of required type: {}", f.label, as_text()),
                )
                .with_fields(vec![f.name.clone()])),
                None => Err(parser_error(&value_desc(raw))),
            }
        }
        FieldType::Double | FieldType::Currency | FieldType::Percent => {
            let n = match raw {
                Json::Number(n) => n.as_f64(),
                Json::String(s) => s.trim().parse::<f64>().ok().filter(|d| d.is_finite()),
                _ => None,
            };
            let n = n.ok_or_else(|| parser_error(&value_desc(raw)))?;
            let integer_digits = f.precision.saturating_sub(f.scale);
            if f.precision > 0 && n.abs() >= 10f64.powi(integer_digits as i32) {
                return Err(SfError::new(
                    400,
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    format!("{}: value outside of valid range on numeric field: {n}", f.label),
                )
                .with_fields(vec![f.name.clone()]));
            }
            let factor = 10f64.powi(f.scale as i32);
            Ok(Value::Double(if f.precision > 0 { (n * factor).round() / factor } else { n }))
        }
        FieldType::Date => match raw {
            Json::String(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .ok()
                .or_else(|| parse_datetime(s).map(|t| t.date_naive()))
                .map(Value::Date)
                .ok_or_else(|| parser_error(&value_desc(raw))),
            _ => Err(parser_error(&value_desc(raw))),
        },
        FieldType::Datetime => match raw {
            Json::String(s) => {
                parse_datetime(s).map(|t| Value::DateTime(stamp(t))).ok_or_else(|| parser_error(&value_desc(raw)))
            }
            _ => Err(parser_error(&value_desc(raw))),
        },
        FieldType::Time => match raw {
            Json::String(s) => {
                let s = s.trim().trim_end_matches('Z');
                ["%H:%M:%S%.f", "%H:%M:%S", "%H:%M"]
                    .iter()
                    .find_map(|fmt| NaiveTime::parse_from_str(s, fmt).ok())
                    .map(Value::Time)
                    .ok_or_else(|| parser_error(&value_desc(raw)))
            }
            _ => Err(parser_error(&value_desc(raw))),
        },
        FieldType::Base64 => match raw {
            Json::String(s) => {
                let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact.as_bytes())
                    .map(Value::Blob)
                    .map_err(|_| parser_error("VALUE_STRING value (invalid base64)"))
            }
            _ => Err(parser_error(&value_desc(raw))),
        },
        FieldType::Address | FieldType::Location | FieldType::AnyType => Err(parser_error(&value_desc(raw))),
        FieldType::Id | FieldType::Reference => match raw {
            Json::String(s) if s.is_empty() => Ok(Value::Null),
            Json::String(s) => Ok(Value::Text(s.trim().to_string())),
            _ => Err(SfError::malformed_id(Some(&f.label), &as_text()).with_fields(vec![f.name.clone()])),
        },
        _ => {
            let s = as_text();
            Ok(if s.is_empty() { Value::Null } else { Value::Text(s) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const USER: &str = "005000000000001AAA";

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
    }
    fn ctx() -> WriteContext {
        WriteContext { now: t0(), user_id: USER.into() }
    }
    fn body(v: Json) -> Map<String, Json> {
        v.as_object().unwrap().clone()
    }
    fn db() -> Database {
        Database::new(Schema::standard())
    }
    fn codes(r: Result<impl std::fmt::Debug, Vec<SfError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.error_code).collect()
    }

    #[test]
    fn case_insert_fills_defaults_auto_number_and_system_fields() {
        let mut db = db();
        let id = db.create("Case", &body(json!({"Subject": "Hi"})), &ctx()).unwrap();
        let id2 = db.create("case", &body(json!({"subject": "Again"})), &ctx()).unwrap();
        let r = db.retrieve("Case", &id, None, "59.0").unwrap();
        assert_eq!(r["attributes"]["url"], json!(format!("/services/data/v59.0/sobjects/Case/{id}")));
        assert_eq!(r["Status"], "New");
        assert_eq!(r["Priority"], "Medium");
        assert_eq!(r["IsClosed"], false);
        assert_eq!(r["FinInvolved__c"], false);
        assert_eq!(r["CaseNumber"], "00001001");
        assert_eq!(r["OwnerId"], USER);
        assert_eq!(r["CreatedDate"], "2024-01-02T03:04:05.000+0000");
        assert_eq!(db.retrieve("Case", &id2, None, "v59.0").unwrap()["CaseNumber"], "00001002");
        assert_eq!(db.retrieve("Case", &id2, None, "v59.0").unwrap()["Subject"], "Again");
    }

    #[test]
    fn update_stamps_last_modified_and_closing_sets_closed_date() {
        let mut db = db();
        let id = db.create("Case", &body(json!({"Subject": "Hi"})), &ctx()).unwrap();
        let later = WriteContext { now: t0() + Duration::hours(1), user_id: "005000000000002AAA".into() };
        db.update("Case", &id, &body(json!({"Status": "Closed"})), &later).unwrap();
        let r = db.retrieve("Case", &id, None, "59.0").unwrap();
        assert_eq!(r["IsClosed"], true);
        assert_eq!(r["ClosedDate"], "2024-01-02T04:04:05.000+0000");
        assert_eq!(r["SystemModstamp"], "2024-01-02T04:04:05.000+0000");
        assert_eq!(r["LastModifiedById"], "005000000000002AAA");
        assert_eq!(r["CreatedDate"], "2024-01-02T03:04:05.000+0000");
        db.update("Case", &id, &body(json!({"Status": "Working"})), &later).unwrap();
        let r = db.retrieve("Case", &id, None, "59.0").unwrap();
        assert_eq!((r["IsClosed"].clone(), r["ClosedDate"].clone()), (json!(false), Json::Null));
    }

    #[test]
    fn required_fields_are_reported_together() {
        let mut db = db();
        let err = db.create("Lead", &body(json!({"FirstName": "Ann"})), &ctx()).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].error_code, "REQUIRED_FIELD_MISSING");
        assert_eq!(err[0].message, "Required fields are missing: [LastName, Company]");
        assert_eq!(err[0].fields, vec!["LastName", "Company"]);
        let id = db.create("Contact", &body(json!({"LastName": "Lee", "FirstName": "Ann"})), &ctx()).unwrap();
        assert_eq!(db.retrieve("Contact", &id, None, "59.0").unwrap()["Name"], "Ann Lee");
        let err = db.update("Contact", &id, &body(json!({"LastName": null})), &ctx()).unwrap_err();
        assert_eq!(err[0].error_code, "REQUIRED_FIELD_MISSING");
    }

    #[test]
    fn unknown_and_read_only_fields_are_rejected() {
        let mut db = db();
        let err = db.create("Case", &body(json!({"Foo": 1})), &ctx()).unwrap_err();
        assert_eq!(err[0].message, "No such column 'Foo' on sobject of type Case");
        assert_eq!(err[0].error_code, "INVALID_FIELD");
        assert_eq!(
            codes(db.create("Case", &body(json!({"CaseNumber": "1", "IsClosed": true})), &ctx())),
            ["INVALID_FIELD_FOR_INSERT_UPDATE"]
        );
        let case = db_case(&mut db);
        let id = db.create("CaseComment", &body(json!({"ParentId": case, "CommentBody": "x"})), &ctx()).unwrap();
        let err = db.update("CaseComment", &id, &body(json!({"ParentId": null})), &ctx()).unwrap_err();
        assert_eq!(err[0].fields, vec!["ParentId"]);
        assert_eq!(
            codes(db.create("Case", &body(json!({"Id": "500000000000001"})), &ctx())),
            ["INVALID_FIELD_FOR_INSERT_UPDATE"]
        );
    }

    fn db_case(db: &mut Database) -> String {
        db.create("Case", &body(json!({"Subject": "parent"})), &ctx()).unwrap()
    }

    #[test]
    fn values_are_checked_against_their_field() {
        let mut db = db();
        let err = db.create("Case", &body(json!({"FinResolutionState__c": "Maybe"})), &ctx()).unwrap_err();
        assert_eq!(err[0].error_code, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
        assert_eq!(err[0].message, "Fin Resolution State: bad value for restricted picklist field: Maybe");
        let id = db.create("Case", &body(json!({"FinResolutionState__c": "soft resolution"})), &ctx()).unwrap();
        assert_eq!(db.retrieve("Case", &id, None, "59.0").unwrap()["FinResolutionState__c"], "Soft Resolution");
        assert_eq!(codes(db.create("Case", &body(json!({"Subject": "x".repeat(256)})), &ctx())), ["STRING_TOO_LONG"]);
        assert_eq!(
            codes(db.create("Case", &body(json!({"SuppliedEmail": "nope"})), &ctx())),
            ["INVALID_EMAIL_ADDRESS"]
        );
        assert_eq!(codes(db.create("Case", &body(json!({"IsEscalated": "yes"})), &ctx())), ["JSON_PARSER_ERROR"]);
        assert_eq!(codes(db.create("Case", &body(json!({"Subject": {"a": 1}})), &ctx())), ["JSON_PARSER_ERROR"]);
        assert_eq!(codes(db.create("Case", &body(json!({"ContactId": "abc"})), &ctx())), ["MALFORMED_ID"]);
        assert_eq!(
            codes(db.create("Case", &body(json!({"ContactId": ids::new_id("003", 999)})), &ctx())),
            ["INVALID_CROSS_REFERENCE_KEY"]
        );
        assert_eq!(codes(db.create("Case", &body(json!({"ContactId": id})), &ctx())), ["FIELD_INTEGRITY_EXCEPTION"]);
        let opp = json!({"Name": "Deal", "StageName": "Closed Won", "CloseDate": "2024-13-01"});
        assert_eq!(codes(db.create("Opportunity", &body(opp), &ctx())), ["JSON_PARSER_ERROR"]);
    }

    #[test]
    fn datetimes_are_accepted_in_every_offset_spelling() {
        for s in [
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05.000+0000",
            "2024-01-02T04:04:05+01:00",
            "2024-01-02T03:04:05.000Z",
        ] {
            assert_eq!(parse_datetime(s), Some(t0()), "{s}");
        }
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(format_datetime(t0()), "2024-01-02T03:04:05.000+0000");
    }

    #[test]
    fn owners_must_be_active_users_or_queues_for_the_object() {
        let mut db = db();
        let user = db
            .create(
                "User",
                &body(json!({"Username": "a@x.com", "LastName": "A", "Email": "a@x.com", "IsActive": false})),
                &ctx(),
            )
            .unwrap();
        assert_eq!(codes(db.create("Case", &body(json!({"OwnerId": user})), &ctx())), ["INACTIVE_OWNER_OR_USER"]);
        let queue = db.create("Group", &body(json!({"Name": "Support", "Type": "Queue"})), &ctx()).unwrap();
        assert_eq!(codes(db.create("Case", &body(json!({"OwnerId": queue})), &ctx())), ["FIELD_INTEGRITY_EXCEPTION"]);
        db.create("QueueSobject", &body(json!({"QueueId": queue, "SobjectType": "Case"})), &ctx()).unwrap();
        db.create("Case", &body(json!({"OwnerId": queue})), &ctx()).unwrap();
        assert_eq!(db.retrieve("Group", &queue, None, "59.0").unwrap()["DeveloperName"], "Support");
    }

    #[test]
    fn topic_names_are_unique_case_insensitively() {
        let mut db = db();
        let id = db.create("Topic", &body(json!({"Name": "Billing"})), &ctx()).unwrap();
        let err = db.create("Topic", &body(json!({"Name": "billing"})), &ctx()).unwrap_err();
        assert_eq!(err[0].error_code, "DUPLICATE_VALUE");
        assert!(err[0].message.contains(&id));
    }

    #[test]
    fn delete_cascades_to_the_recycle_bin_and_undelete_restores() {
        let mut db = db();
        let case = db_case(&mut db);
        let comment = db.create("CaseComment", &body(json!({"ParentId": case, "CommentBody": "x"})), &ctx()).unwrap();
        db.delete("Case", &case, &ctx()).unwrap();
        assert_eq!(db.retrieve("CaseComment", &comment, None, "59.0").unwrap_err().error_code, "ENTITY_IS_DELETED");
        assert_eq!(codes(db.delete("Case", &case, &ctx())), ["ENTITY_IS_DELETED"]);
        assert_eq!(codes(db.update("Case", &case, &Map::new(), &ctx())), ["ENTITY_IS_DELETED"]);
        assert_eq!(db.retrieve("Case", &ids::new_id("500", 999), None, "59.0").unwrap_err().status, 404);
        assert_eq!(db.retrieve("Case", "bogus", None, "59.0").unwrap_err().error_code, "MALFORMED_ID");
        db.undelete(&case, &ctx()).unwrap();
        assert_eq!(db.retrieve("CaseComment", &comment, None, "59.0").unwrap()["IsDeleted"], false);
    }

    #[test]
    fn content_version_creates_its_document_and_links() {
        let mut db = db();
        let case = db_case(&mut db);
        let data = base64::engine::general_purpose::STANDARD.encode(b"hello");
        let cv = json!({"PathOnClient": "notes/Report.PDF", "VersionData": data, "FirstPublishLocationId": case});
        let id = db.create("ContentVersion", &body(cv), &ctx()).unwrap();
        let v = db.retrieve("ContentVersion", &id, None, "59.0").unwrap();
        assert_eq!(
            (v["Title"].clone(), v["FileType"].clone(), v["FileExtension"].clone(), v["ContentSize"].clone()),
            (json!("Report"), json!("PDF"), json!("pdf"), json!(5))
        );
        assert_eq!(v["VersionData"], json!(format!("/services/data/v59.0/sobjects/ContentVersion/{id}/VersionData")));
        assert_eq!(db.blob("ContentVersion", &id, "VersionData").unwrap(), b"hello");
        let doc = v["ContentDocumentId"].as_str().unwrap();
        assert_eq!(db.retrieve("ContentDocument", doc, None, "59.0").unwrap()["LatestPublishedVersionId"], json!(id));
        let links: Vec<_> = db.rows("ContentDocumentLink").iter().map(|l| l.get("LinkedEntityId").clone()).collect();
        assert_eq!(links, vec![Value::Text(USER.into()), Value::Text(case)]);
    }

    #[test]
    fn rollback_undoes_everything_since_the_savepoint() {
        let mut db = db();
        let kept = db_case(&mut db);
        let before = db.retrieve("Case", &kept, None, "59.0").unwrap();
        let outer = db.savepoint();
        db.update("Case", &kept, &body(json!({"Subject": "changed"})), &ctx()).unwrap();
        let inner = db.savepoint();
        let doomed = db_case(&mut db);
        db.create("ContentVersion", &body(json!({"PathOnClient": "a.txt", "VersionData": "aGk="})), &ctx()).unwrap();
        db.release(inner);
        db.delete("Case", &kept, &ctx()).unwrap();
        db.rollback(outer);
        assert_eq!(db.retrieve("Case", &kept, None, "59.0").unwrap(), before);
        assert_eq!(db.retrieve("Case", &doomed, None, "59.0").unwrap_err().error_code, "NOT_FOUND");
        assert!(db.rows("ContentDocument").is_empty());
        // Numbering continues as if the rolled-back inserts never happened.
        assert_eq!(db_case(&mut db), doomed);
        let inner_only = db.savepoint();
        db.delete("Case", &doomed, &ctx()).unwrap();
        db.release(inner_only);
        assert_eq!(db.retrieve("Case", &doomed, None, "59.0").unwrap_err().error_code, "ENTITY_IS_DELETED");
    }

    #[test]
    fn typed_writes_keep_the_rules_of_json_writes() {
        let mut db = db();
        let typed = |pairs: &[(&str, Value)]| -> HashMap<String, Value> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
        };
        let from_json = db.create("Case", &body(json!({"Subject": "Hi", "Status": "closed"})), &ctx()).unwrap();
        let from_values = db
            .create_typed(
                "Case",
                typed(&[("Subject", Value::Text("Hi".into())), ("Status", Value::Text("closed".into()))]),
                &ctx(),
            )
            .unwrap();
        let mut a = db.retrieve("Case", &from_json, None, "59.0").unwrap();
        let mut b = db.retrieve("Case", &from_values, None, "59.0").unwrap();
        assert_eq!(b["CaseNumber"], "00001002");
        assert_eq!(b["Status"], "Closed", "picklist values are canonicalised");
        assert_eq!(b["IsClosed"], true, "derived fields are derived");
        for r in [&mut a, &mut b] {
            let r = r.as_object_mut().unwrap();
            for varying in ["attributes", "Id", "CaseNumber"] {
                r.remove(varying);
            }
        }
        assert_eq!(a, b);
        let later = WriteContext { now: t0() + Duration::hours(1), user_id: USER.into() };
        db.update_typed("Case", &from_values, typed(&[("FinInvolved__c", Value::Bool(true))]), &later).unwrap();
        assert_eq!(
            db.retrieve("Case", &from_values, None, "59.0").unwrap()["SystemModstamp"],
            "2024-01-02T04:04:05.000+0000"
        );

        let rejected =
            |db: &mut Database, pairs: &[(&str, Value)]| codes(db.create_typed("Case", typed(pairs), &ctx()));
        assert_eq!(
            rejected(&mut db, &[("IsEscalated", Value::Text("yes".into()))]),
            ["INVALID_TYPE_ON_FIELD_IN_RECORD"]
        );
        assert_eq!(
            rejected(&mut db, &[("FinResolutionState__c", Value::Text("Maybe".into()))]),
            ["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"]
        );
        assert_eq!(
            rejected(&mut db, &[("ContactId", Value::Text(ids::new_id("003", 999)))]),
            ["INVALID_CROSS_REFERENCE_KEY"]
        );
        assert_eq!(rejected(&mut db, &[("CaseNumber", Value::Text("1".into()))]), ["INVALID_FIELD_FOR_INSERT_UPDATE"]);
        assert_eq!(rejected(&mut db, &[("Nope", Value::Null)]), ["INVALID_FIELD"]);
        assert_eq!(codes(db.create_typed("CaseComment", typed(&[]), &ctx())), ["REQUIRED_FIELD_MISSING"]);
    }

    #[test]
    fn indexes_follow_inserts_changes_and_rollbacks() {
        use std::ops::Bound::{Included, Unbounded};
        let mut db = db();
        let case = db_case(&mut db);
        let other = db_case(&mut db);
        let comment = |db: &mut Database, parent: &str, at: DateTime<Utc>| {
            let ctx = WriteContext { now: at, user_id: USER.into() };
            db.create("CaseComment", &body(json!({"ParentId": parent, "CommentBody": "x"})), &ctx).unwrap()
        };
        let first = comment(&mut db, &case, t0() + Duration::hours(2));
        let second = comment(&mut db, &case, t0() + Duration::hours(1));
        comment(&mut db, &other, t0());
        let ids = |db: &Database, positions: Vec<usize>| -> Vec<String> {
            positions.into_iter().map(|p| db.rows("CaseComment")[p].id.clone()).collect()
        };
        let children =
            |db: &Database, parent: &str| ids(db, db.lookup("CaseComment", "ParentId", parent).unwrap().to_vec());
        assert_eq!(children(&db, &case), [first.clone(), second.clone()]);
        let created = |db: &Database| -> Vec<String> {
            ids(
                db,
                db.timeline("CaseComment", "CreatedDate", Included(t0() + Duration::hours(1)), Unbounded)
                    .unwrap()
                    .collect(),
            )
        };
        assert_eq!(created(&db), [second.clone(), first.clone()], "timestamp order, from the bound on");

        // An update moves the case in the owner index and on its timeline.
        let owner = db
            .create("User", &body(json!({"Username": "o@x.com", "LastName": "O", "Email": "o@x.com"})), &ctx())
            .unwrap();
        let later = WriteContext { now: t0() + Duration::days(1), user_id: USER.into() };
        db.update("Case", &case, &body(json!({"OwnerId": owner})), &later).unwrap();
        assert_eq!(db.lookup("Case", "OwnerId", &owner).unwrap().len(), 1);
        assert_eq!(db.lookup("Case", "OwnerId", USER).unwrap().len(), 1);
        let modified: Vec<usize> = db.timeline("Case", "SystemModstamp", Unbounded, Unbounded).unwrap().collect();
        assert_eq!(
            modified.iter().map(|&p| db.rows("Case")[p].id.clone()).collect::<Vec<_>>(),
            [other.clone(), case.clone()]
        );

        // A rollback takes inserts and changes out of the indexes again.
        let savepoint = db.savepoint();
        let doomed = comment(&mut db, &other, t0() + Duration::days(2));
        let next = db
            .create("User", &body(json!({"Username": "n@x.com", "LastName": "N", "Email": "n@x.com"})), &ctx())
            .unwrap();
        db.update("Case", &case, &body(json!({"OwnerId": next})), &later).unwrap();
        assert_eq!(db.lookup("Case", "OwnerId", &next).unwrap().len(), 1);
        db.rollback(savepoint);
        assert_eq!(children(&db, &other).len(), 1);
        assert!(!created(&db).contains(&doomed));
        assert_eq!(db.lookup("Case", "OwnerId", &owner).unwrap().len(), 1);
        assert_eq!(db.lookup("Case", "OwnerId", &next).unwrap().len(), 0);
        // Audit references are not indexed; queries on them read every row.
        assert!(!db.has_lookup("Case", "CreatedById"));
    }

    #[test]
    fn updated_and_deleted_cover_the_window() {
        let mut db = db();
        let a = db_case(&mut db);
        let b = db_case(&mut db);
        let later = WriteContext { now: t0() + Duration::days(1), user_id: USER.into() };
        db.delete("Case", &b, &later).unwrap();
        let now = t0() + Duration::days(2);
        let u = db.updated("Case", t0() - Duration::minutes(1), now, now).unwrap();
        assert_eq!(u["ids"], json!([a]));
        assert_eq!(u["latestDateCovered"], json!(format_datetime(now.trunc_subsecs(0) - Duration::seconds(5))));
        let d = db.deleted("Case", t0(), now, now).unwrap();
        assert_eq!(d["deletedRecords"][0]["id"], json!(b));
        assert_eq!(
            db.updated("Case", now - Duration::days(31), now, now).unwrap_err().error_code,
            "INVALID_REPLICATION_DATE"
        );
        assert_eq!(
            db.deleted("Case", now - Duration::days(16), now, now).unwrap_err().error_code,
            "INVALID_REPLICATION_DATE"
        );
        assert_eq!(db.updated("Case", now, t0(), now).unwrap_err().error_code, "INVALID_REPLICATION_DATE");
    }
}
