//! The emulated org's metadata: which sObjects exist, their fields, and the
//! relationships between them — and the describe JSON built from it.
//!
//! ```
//! use casebridge_emulator::schema::{describe_object, FieldDef, FieldType, Schema};
//! let mut schema = Schema::standard();
//! schema
//!     .add_custom_field("Case", FieldDef::new("Region__c", "Region", FieldType::String).length(40))
//!     .unwrap();
//! let case = schema.object("case").unwrap();
//! assert_eq!(case.key_prefix, "500");
//! let describe = describe_object(case, "59.0");
//! assert!(describe["fields"].as_array().unwrap().iter().any(|f| f["name"] == "Region__c"));
//! ```
//!
//! Each standard object is defined in its own module under `objects/`, with
//! the hooks (`ObjectHooks`) that give it its behaviour on writes: derived
//! fields, rules across records, side effects on other records.

mod describe;
mod field;
mod hooks;
mod objects;

use std::collections::HashMap;

use crate::error::SfError;
use crate::ids;

pub use describe::{
    address_components, data_path, describe_global, describe_global_for, describe_object, describe_object_for,
};
pub use field::{FieldDef, FieldType, PicklistValue};
pub(crate) use hooks::{Hooks, ObjectHooks};
pub(crate) use objects::{configure_record_type, convert_lead, default_record_type_for_insert};

/// A parent-to-child relationship, declared on the parent.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildRelationship {
    /// The child's reference field pointing at the parent (`ParentId`).
    pub field: String,
    /// Name used in child subqueries (`CaseComments`).
    pub relationship_name: String,
    pub child_sobject: String,
    /// Deleting the parent deletes the children too (master-detail).
    pub cascade_delete: bool,
}

/// A record type of an object, as describe lists it, with the picklist
/// values it offers.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordTypeInfo {
    pub name: String,
    pub developer_name: String,
    pub record_type_id: String,
    pub active: bool,
    pub available: bool,
    pub default_record_type_mapping: bool,
    pub master: bool,
    /// The values each listed picklist offers under this record type; a
    /// picklist not listed offers all its values.
    pub picklists: Vec<RecordTypePicklist>,
}

/// The values of one picklist under a record type.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordTypePicklist {
    /// The picklist field's name.
    pub field: String,
    pub values: Vec<String>,
    /// What an insert under this record type gets when it leaves the field out.
    pub default: Option<String>,
}

impl RecordTypeInfo {
    /// The values `field` offers under this record type, when it restricts them.
    pub fn picklist(&self, field: &str) -> Option<&RecordTypePicklist> {
        self.picklists.iter().find(|p| p.field.eq_ignore_ascii_case(field))
    }
}

impl RecordTypeInfo {
    /// The "Master" record type every object has.
    pub fn master() -> Self {
        RecordTypeInfo {
            name: "Master".into(),
            developer_name: "Master".into(),
            record_type_id: MASTER_RECORD_TYPE_ID.into(),
            active: true,
            available: true,
            default_record_type_mapping: true,
            master: true,
            picklists: Vec::new(),
        }
    }
}

/// The id Salesforce gives every object's Master record type.
pub const MASTER_RECORD_TYPE_ID: &str = "012000000000000AAA";

/// An sObject type.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDef {
    pub name: String,
    pub label: String,
    pub label_plural: String,
    pub key_prefix: String,
    pub custom: bool,
    pub fields: Vec<FieldDef>,
    pub child_relationships: Vec<ChildRelationship>,
    pub record_types: Vec<RecordTypeInfo>,
    /// Records can be inserted through the API.
    pub createable: bool,
    pub updateable: bool,
    pub deletable: bool,
    /// SOSL can find it.
    pub searchable: bool,
    /// What the object does on writes besides its fields' rules.
    pub(crate) hooks: Hooks,
}

/// What a user may do with an object: the object permissions of a profile
/// or permission set (`PermissionsRead`, `PermissionsCreate`,
/// `PermissionsEdit`, `PermissionsDelete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectAccess {
    pub read: bool,
    pub create: bool,
    pub edit: bool,
    pub delete: bool,
}

impl ObjectAccess {
    /// Every permission: what the integration user (a System Administrator) has.
    pub const ALL: ObjectAccess = ObjectAccess { read: true, create: true, edit: true, delete: true };
}

impl Default for ObjectAccess {
    fn default() -> Self {
        ObjectAccess::ALL
    }
}

impl ObjectDef {
    /// An object with the system fields every record has (`Id`, `IsDeleted`,
    /// `CreatedDate`, `CreatedById`, `LastModifiedDate`, `LastModifiedById`,
    /// `SystemModstamp`) around `fields`.
    pub fn new(name: &str, label: &str, label_plural: &str, key_prefix: &str, fields: Vec<FieldDef>) -> Self {
        let user_ref = |n: &str, l: &str, rel: &str| {
            FieldDef::new(n, l, FieldType::Reference).references(&["User"], rel).required().derived()
        };
        let stamp = |n: &str, l: &str| FieldDef::new(n, l, FieldType::Datetime).required().derived();
        let mut all = vec![
            FieldDef::new("Id", &format!("{label} ID"), FieldType::Id).required().derived(),
            FieldDef::new("IsDeleted", "Deleted", FieldType::Boolean).derived(),
        ];
        all.extend(fields);
        all.extend([
            stamp("CreatedDate", "Created Date"),
            user_ref("CreatedById", "Created By ID", "CreatedBy"),
            stamp("LastModifiedDate", "Last Modified Date"),
            user_ref("LastModifiedById", "Last Modified By ID", "LastModifiedBy"),
            stamp("SystemModstamp", "System Modstamp"),
        ]);
        ObjectDef {
            name: name.to_string(),
            label: label.to_string(),
            label_plural: label_plural.to_string(),
            key_prefix: key_prefix.to_string(),
            custom: name.ends_with("__c"),
            fields: all,
            child_relationships: Vec::new(),
            record_types: vec![RecordTypeInfo::master()],
            createable: true,
            updateable: true,
            deletable: true,
            searchable: false,
            hooks: Hooks::NONE,
        }
    }

    /// A field by name, case-insensitively.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        // Most callers give the canonical name: an exact match is cheaper to find.
        self.fields
            .iter()
            .find(|f| f.name == name)
            .or_else(|| self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)))
    }

    /// The reference field whose parent relationship has this name, case-insensitively.
    pub fn field_by_relationship(&self, relationship: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.relationship_name.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(relationship)))
    }

    /// A child relationship by name, case-insensitively.
    pub fn child_relationship(&self, name: &str) -> Option<&ChildRelationship> {
        self.child_relationships.iter().find(|c| c.relationship_name.eq_ignore_ascii_case(name))
    }

    /// The record's name field, if it has one.
    pub fn name_field(&self) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name_field)
    }

    /// The child relationships: `(relationship, child object, child's field, cascade delete)`.
    pub(crate) fn children(mut self, children: &[(&str, &str, &str, bool)]) -> Self {
        self.child_relationships = children
            .iter()
            .map(|(relationship, child, field, cascade)| ChildRelationship {
                field: field.to_string(),
                relationship_name: relationship.to_string(),
                child_sobject: child.to_string(),
                cascade_delete: *cascade,
            })
            .collect();
        self
    }

    /// SOSL finds its records.
    pub(crate) fn searchable(mut self) -> Self {
        self.searchable = true;
        self
    }

    /// The behaviour its records have on writes.
    pub(crate) fn with_hooks(mut self, hooks: &'static dyn ObjectHooks) -> Self {
        self.hooks = Hooks(hooks);
        self
    }

    /// The record types a user may create records with: the active,
    /// available ones (the Master one only when no other is).
    pub fn record_type_for_user(&self, id: &str) -> Option<&RecordTypeInfo> {
        self.record_types.iter().find(|rt| rt.record_type_id == id && rt.active && rt.available)
    }

    /// The record type an insert without `RecordTypeId` gets.
    pub fn default_record_type(&self) -> Option<&RecordTypeInfo> {
        self.record_types.iter().find(|rt| rt.default_record_type_mapping)
    }
}

/// All sObject types of the org.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    objects: Vec<ObjectDef>,
    /// By lower-cased name.
    by_name: HashMap<String, usize>,
    /// By canonical name: found without lower-casing (every write looks its object up).
    by_canonical_name: HashMap<String, usize>,
    by_prefix: HashMap<String, usize>,
}

impl Schema {
    /// An empty schema; add objects with [`Schema::add_object`].
    pub fn empty() -> Self {
        Schema::default()
    }

    /// The standard objects casebridge touches, with their usual fields, plus
    /// Case's `FinInvolved__c` and `FinResolutionState__c`.
    pub fn standard() -> Self {
        let mut schema = Schema::empty();
        for object in objects::standard() {
            schema.add_object(object);
        }
        schema
    }

    /// Adds (or replaces) an object type.
    pub fn add_object(&mut self, object: ObjectDef) {
        let key = object.name.to_ascii_lowercase();
        if let Some(&i) = self.by_name.get(&key) {
            self.by_prefix.remove(&self.objects[i].key_prefix);
            self.by_canonical_name.remove(&self.objects[i].name);
            self.by_prefix.insert(object.key_prefix.clone(), i);
            self.by_canonical_name.insert(object.name.clone(), i);
            self.objects[i] = object;
        } else {
            self.by_name.insert(key, self.objects.len());
            self.by_prefix.insert(object.key_prefix.clone(), self.objects.len());
            self.by_canonical_name.insert(object.name.clone(), self.objects.len());
            self.objects.push(object);
        }
    }

    /// An object by API name, case-insensitively.
    pub fn object(&self, name: &str) -> Option<&ObjectDef> {
        let i = self.by_canonical_name.get(name).or_else(|| self.by_name.get(&name.to_ascii_lowercase()))?;
        Some(&self.objects[*i])
    }

    pub(crate) fn object_mut(&mut self, name: &str) -> Option<&mut ObjectDef> {
        self.by_name.get(&name.to_ascii_lowercase()).map(|&i| &mut self.objects[i])
    }

    pub fn objects(&self) -> impl Iterator<Item = &ObjectDef> {
        self.objects.iter()
    }

    /// The object an id belongs to, by its key prefix.
    pub fn object_for_id(&self, id: &str) -> Option<&ObjectDef> {
        ids::key_prefix(id).and_then(|p| self.by_prefix.get(p)).map(|&i| &self.objects[i])
    }

    /// Makes a standard or custom field required on create and update (or
    /// no longer required), as the field's "Required" setting in Setup does:
    /// describe then says `nillable:false` and `defaultedOnCreate:false`, and
    /// a write that leaves it empty fails `REQUIRED_FIELD_MISSING`. A
    /// required picklist no longer takes its default value on insert.
    /// Checkboxes are never empty, and fields the org fills cannot be made required.
    pub fn set_required(&mut self, object: &str, field: &str, required: bool) -> Result<(), SfError> {
        let Some(obj) = self.object_mut(object) else {
            return Err(SfError::unknown_sobject(object));
        };
        let object_name = obj.name.clone();
        let Some(f) = obj.fields.iter_mut().find(|f| f.name.eq_ignore_ascii_case(field)) else {
            return Err(SfError::no_such_column_on_sobject(field, &object_name));
        };
        if f.field_type == FieldType::Boolean || !f.createable || f.calculated {
            return Err(SfError::new(
                400,
                "INVALID_FIELD",
                format!("{object_name}.{} is filled by the org and cannot be made required", f.name),
            ));
        }
        f.nillable = !required;
        f.defaulted_on_create = !required && (f.default_picklist_value().is_some() || f.name == "OwnerId");
        Ok(())
    }

    /// Adds an active value to a picklist or multi-select picklist (what an
    /// admin does in Setup, "Values" → "New"); the label defaults to the value.
    pub fn add_picklist_value(
        &mut self,
        object: &str,
        field: &str,
        value: &str,
        label: Option<&str>,
    ) -> Result<(), SfError> {
        let Some(obj) = self.object_mut(object) else {
            return Err(SfError::unknown_sobject(object));
        };
        let object_name = obj.name.clone();
        let Some(f) = obj.fields.iter_mut().find(|f| f.name.eq_ignore_ascii_case(field)) else {
            return Err(SfError::no_such_column_on_sobject(field, &object_name));
        };
        if !f.field_type.is_picklist() {
            return Err(SfError::new(
                400,
                "INVALID_FIELD",
                format!("{object_name}.{} is not a picklist; values can only be added to picklists", f.name),
            ));
        }
        if value.trim().is_empty() || f.picklist_values.iter().any(|v| v.value.eq_ignore_ascii_case(value)) {
            return Err(SfError::new(
                400,
                "DUPLICATE_VALUE",
                format!("{object_name}.{} already has the value '{value}' (or it is empty)", f.name),
            ));
        }
        let mut added = field::PicklistValue::new(value);
        if let Some(label) = label {
            added.label = label.to_string();
        }
        f.picklist_values.push(added);
        Ok(())
    }

    /// Adds a custom field to an object. It then behaves like any other field
    /// (describe, query, write, validation). A custom lookup also gets a child
    /// relationship on its target named `<ObjectPlural>__r` unless one exists.
    pub fn add_custom_field(&mut self, object: &str, mut field: FieldDef) -> Result<(), SfError> {
        let Some(obj) = self.object(object) else {
            return Err(SfError::unknown_sobject(object));
        };
        if !field.name.ends_with("__c") {
            return Err(SfError::new(
                400,
                "INVALID_FIELD",
                format!("Custom field names must end with '__c': {}", field.name),
            ));
        }
        if obj.field(&field.name).is_some() {
            return Err(SfError::new(
                400,
                "DUPLICATE_DEVELOPER_NAME",
                format!("There is already a field named {} on {}.", field.name, obj.name),
            ));
        }
        field.custom = true;
        let child_object = obj.name.clone();
        let child_plural = obj.label_plural.replace(' ', "_");
        if field.field_type == FieldType::Reference && field.relationship_name.is_none() {
            field.relationship_name = Some(format!("{}__r", field.name.trim_end_matches("__c")));
        }
        let child_link = (field.field_type == FieldType::Reference).then(|| {
            (
                field.reference_to.clone(),
                ChildRelationship {
                    field: field.name.clone(),
                    relationship_name: format!("{child_plural}__r"),
                    child_sobject: child_object.clone(),
                    cascade_delete: false,
                },
            )
        });
        self.object_mut(object).expect("checked above").fields.push(field);
        if let Some((targets, relationship)) = child_link {
            for target in targets {
                if let Some(parent) = self.object_mut(&target)
                    && parent.child_relationship(&relationship.relationship_name).is_none()
                {
                    parent.child_relationships.push(relationship.clone());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_are_found_case_insensitively_and_by_id_prefix() {
        let schema = Schema::standard();
        assert_eq!(schema.object("cAsE").unwrap().name, "Case");
        assert_eq!(schema.object_for_id("5005g00000001AAAAA").unwrap().name, "Case");
        assert!(schema.object("Nope").is_none());
        // Every object's key prefix is distinct.
        let mut prefixes: Vec<_> = schema.objects().map(|o| o.key_prefix.clone()).collect();
        prefixes.sort();
        prefixes.dedup();
        assert_eq!(prefixes.len(), schema.objects().count());
    }

    #[test]
    fn child_relationships_point_at_real_reference_fields() {
        let schema = Schema::standard();
        for parent in schema.objects() {
            for rel in &parent.child_relationships {
                let child = schema.object(&rel.child_sobject).unwrap_or_else(|| panic!("{}", rel.child_sobject));
                let field = child.field(&rel.field).unwrap_or_else(|| panic!("{}.{}", child.name, rel.field));
                assert!(
                    field.reference_to.contains(&parent.name),
                    "{}.{} does not reference {}",
                    child.name,
                    rel.field,
                    parent.name
                );
            }
        }
    }

    #[test]
    fn every_reference_target_exists() {
        let schema = Schema::standard();
        for obj in schema.objects() {
            for f in &obj.fields {
                for target in &f.reference_to {
                    assert!(schema.object(target).is_some(), "{}.{} → {target}", obj.name, f.name);
                }
            }
        }
    }

    #[test]
    fn describe_has_the_documented_shape() {
        let schema = Schema::standard();
        let d = describe_object(schema.object("Case").unwrap(), "v59.0");
        for key in [
            "name",
            "label",
            "labelPlural",
            "keyPrefix",
            "custom",
            "fields",
            "childRelationships",
            "recordTypeInfos",
            "urls",
            "createable",
            "updateable",
            "deletable",
            "queryable",
        ] {
            assert!(d.get(key).is_some(), "{key}");
        }
        assert_eq!(d["urls"]["sobject"], "/services/data/v59.0/sobjects/Case");
        let status = d["fields"].as_array().unwrap().iter().find(|f| f["name"] == "Status").unwrap();
        assert_eq!(status["type"], "picklist");
        assert_eq!(status["soapType"], "xsd:string");
        assert_eq!(status["picklistValues"][0]["value"], "New");
        assert_eq!(status["picklistValues"][0]["defaultValue"], true);
        let state = d["fields"].as_array().unwrap().iter().find(|f| f["name"] == "FinResolutionState__c").unwrap();
        assert_eq!(state["restrictedPicklist"], true);
        assert_eq!(state["custom"], true);
        let owner = d["fields"].as_array().unwrap().iter().find(|f| f["name"] == "OwnerId").unwrap();
        assert_eq!(owner["referenceTo"], json!(["Group", "User"]));
        assert_eq!(owner["polymorphicForeignKey"], true);
        let feeds =
            d["childRelationships"].as_array().unwrap().iter().find(|c| c["relationshipName"] == "Feeds").unwrap();
        assert_eq!(feeds["childSObject"], "FeedItem");
    }

    #[test]
    fn custom_fields_need_the_suffix_and_a_free_name() {
        let mut schema = Schema::standard();
        assert!(schema.add_custom_field("Case", FieldDef::new("Region", "Region", FieldType::String)).is_err());
        schema.add_custom_field("Case", FieldDef::new("Region__c", "Region", FieldType::String)).unwrap();
        assert!(schema.add_custom_field("Case", FieldDef::new("region__c", "Region", FieldType::String)).is_err());
        assert!(schema.add_custom_field("Nope", FieldDef::new("X__c", "X", FieldType::String)).is_err());
        schema
            .add_custom_field(
                "Case",
                FieldDef::new("Sponsor__c", "Sponsor", FieldType::Reference).references(&["Contact"], "Sponsor__r"),
            )
            .unwrap();
        assert!(schema.object("Contact").unwrap().child_relationship("Cases__r").is_some());
    }
}
