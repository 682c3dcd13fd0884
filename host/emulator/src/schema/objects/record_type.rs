//! RecordType, and how record types shape the object they belong to.
//!
//! A RecordType record (`SobjectType`, `Name`, `DeveloperName`, `IsActive`)
//! becomes one of its object's `recordTypeInfos`; the first one also gives
//! the object its `RecordTypeId` field, as Salesforce adds that field only
//! to objects that have record types. The running user gets exactly one
//! default record type per object: the one made default, else the first
//! active one; the Master record type is available, and the default, only
//! while the object has no active record type of its own (Salesforce's
//! describe then lists Master with `"available":false`).

use super::fields::{area, flag, lookup, pick, text};
use crate::db::{Database, Record, Value, Values, WriteContext};
use crate::error::SfError;
use crate::schema::{MASTER_RECORD_TYPE_ID, ObjectDef, ObjectHooks, RecordTypeInfo, RecordTypePicklist};

/// The objects record types can be made for.
const RECORD_TYPE_OBJECTS: &[&str] = &["Account", "Case", "Contact", "Lead", "Opportunity", "Task"];

/// The RecordType object.
pub(crate) fn object() -> ObjectDef {
    let record_type = ObjectDef::new(
        "RecordType",
        "Record Type",
        "Record Types",
        "012",
        vec![
            text("Name", "Record Type Name", 80).required().name_field(),
            text("DeveloperName", "Record Type Name", 80).defaulted(),
            area("Description", "Description", 255),
            pick("SobjectType", "SObject Type Name", RECORD_TYPE_OBJECTS, None).required().restricted().create_only(),
            flag("IsActive", "Active").checkbox_default(true),
        ],
    );
    ObjectDef { deletable: false, ..record_type.with_hooks(&RecordTypeHooks) }
}

/// `DeveloperName` defaults to the name; every insert and update is
/// reflected in the object's `recordTypeInfos`.
struct RecordTypeHooks;

impl ObjectHooks for RecordTypeHooks {
    fn derive(&self, _db: &Database, values: &mut Values, previous: Option<&Record>, _ctx: &WriteContext) {
        default_developer_name(values, previous);
    }

    fn after_insert(&self, db: &mut Database, id: &str, _ctx: &WriteContext) {
        reflect(db, id);
    }

    fn after_update(&self, db: &mut Database, id: &str, _ctx: &WriteContext) {
        reflect(db, id);
    }
}

/// `DeveloperName` from `Name` on insert, when not given (`My Queue` → `My_Queue`).
pub(super) fn default_developer_name(values: &mut Values, previous: Option<&Record>) {
    if previous.is_some() || values.get("DeveloperName").is_some_and(|v| !v.is_null()) {
        return;
    }
    if let Some(name) = values.get("Name").and_then(Value::as_str).map(developer_name) {
        values.insert("DeveloperName", Value::Text(name));
    }
}

/// `My Queue` → `My_Queue`.
pub(crate) fn developer_name(name: &str) -> String {
    let cleaned: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    cleaned.trim_matches('_').to_string()
}

/// Brings the RecordType record `id` into its object's `recordTypeInfos`
/// (keeping the picklists and default already set for it).
fn reflect(db: &mut Database, id: &str) {
    let Some((_, rt)) = db.record(id) else {
        return;
    };
    let text = |f: &str| rt.get(f).as_str().unwrap_or_default().to_string();
    let (name, developer_name, target, active) =
        (text("Name"), text("DeveloperName"), text("SobjectType"), rt.get("IsActive").as_bool());
    let Some(obj) = db.schema_mut().object_mut(&target) else {
        return;
    };
    match obj.record_types.iter_mut().find(|i| i.record_type_id == id) {
        Some(info) => {
            info.name = name;
            info.developer_name = developer_name;
            info.active = active;
        }
        None => {
            let info = RecordTypeInfo {
                name,
                developer_name,
                record_type_id: id.to_string(),
                active,
                available: active,
                default_record_type_mapping: false,
                master: false,
                picklists: Vec::new(),
            };
            // Salesforce lists the object's own record types first, Master last.
            let at = obj.record_types.iter().position(|i| i.master).unwrap_or(obj.record_types.len());
            obj.record_types.insert(at, info);
        }
    }
    if obj.field("RecordTypeId").is_none() {
        let field = lookup("RecordTypeId", "Record Type ID", &["RecordType"], "RecordType").defaulted();
        // Among the object's own fields, before the audit fields `ObjectDef::new` puts last.
        let at = obj.fields.iter().position(|f| f.name == "CreatedDate").unwrap_or(obj.fields.len());
        obj.fields.insert(at, field);
    }
    settle_defaults(obj, None);
}

/// Makes exactly one record type the default: `preferred` when given (and
/// active), else the current default if it is still active, else the first
/// active record type of the object's own, else Master. Master is available
/// only when no other record type is.
fn settle_defaults(obj: &mut ObjectDef, preferred: Option<&str>) {
    for info in obj.record_types.iter_mut().filter(|i| !i.master) {
        info.available = info.active;
    }
    let own_available = obj.record_types.iter().any(|i| !i.master && i.available);
    for info in obj.record_types.iter_mut().filter(|i| i.master) {
        info.available = !own_available;
    }
    let usable = |i: &RecordTypeInfo| i.available && i.active;
    let chosen = preferred
        .and_then(|id| obj.record_types.iter().find(|i| i.record_type_id == id && usable(i)))
        .or_else(|| obj.record_types.iter().find(|i| i.default_record_type_mapping && usable(i)))
        .or_else(|| obj.record_types.iter().find(|i| !i.master && usable(i)))
        .or_else(|| obj.record_types.iter().find(|i| i.master))
        .map(|i| i.record_type_id.clone());
    for info in &mut obj.record_types {
        info.default_record_type_mapping = chosen.as_deref() == Some(info.record_type_id.as_str());
    }
}

/// Sets the picklist values a record type offers, and makes it the
/// default when `make_default`: what an admin sets on the record type and
/// on the profile's record type assignment. Each picklist must be a
/// picklist field of the object, its values among the field's values.
pub(crate) fn configure(
    db: &mut Database,
    record_type_id: &str,
    picklists: Vec<RecordTypePicklist>,
    make_default: bool,
) -> Result<(), SfError> {
    let invalid = |message: String| SfError::new(400, "INVALID_INPUT", message);
    let target = db
        .record(record_type_id)
        .filter(|(o, _)| o.name == "RecordType")
        .and_then(|(_, r)| r.get("SobjectType").as_str().map(str::to_string))
        .ok_or_else(|| invalid(format!("No record type has the id {record_type_id}")))?;
    let obj = db.schema_mut().object_mut(&target).ok_or_else(|| SfError::unknown_sobject(&target))?;
    let mut checked = Vec::with_capacity(picklists.len());
    for mut picklist in picklists {
        let field = obj
            .field(&picklist.field)
            .filter(|f| f.field_type.is_picklist())
            .ok_or_else(|| invalid(format!("{} has no picklist field {}", obj.name, picklist.field)))?;
        picklist.field = field.name.clone();
        for value in picklist.values.iter_mut().chain(picklist.default.as_mut()) {
            let known = field.picklist_values.iter().find(|p| p.value.eq_ignore_ascii_case(value));
            let known = known.ok_or_else(|| invalid(format!("{}.{} has no value {value}", obj.name, field.name)))?;
            *value = known.value.clone();
        }
        if let Some(default) = &picklist.default
            && !picklist.values.contains(default)
        {
            return Err(invalid(format!("The default {default} of {} is not among its values", field.name)));
        }
        checked.push(picklist);
    }
    let info = obj
        .record_types
        .iter_mut()
        .find(|i| i.record_type_id == record_type_id)
        .ok_or_else(|| invalid(format!("No record type has the id {record_type_id}")))?;
    info.picklists = checked;
    settle_defaults(obj, make_default.then_some(record_type_id));
    Ok(())
}

/// The record type an insert gets when it leaves `RecordTypeId` out (`None`:
/// the Master record type, stored as no record type).
pub(crate) fn default_for_insert(obj: &ObjectDef) -> Option<&RecordTypeInfo> {
    obj.default_record_type().filter(|i| !i.master && i.record_type_id != MASTER_RECORD_TYPE_ID)
}
