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

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::error::SfError;
use crate::ids;

/// A field's data type, spelled as describe spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Id,
    Reference,
    String,
    Textarea,
    Email,
    Phone,
    Url,
    Picklist,
    Multipicklist,
    Combobox,
    Boolean,
    Int,
    Long,
    Double,
    Currency,
    Percent,
    Date,
    Datetime,
    Time,
    Base64,
    Address,
    Location,
    #[serde(rename = "encryptedstring")]
    EncryptedString,
    #[serde(rename = "anyType")]
    AnyType,
}

impl FieldType {
    /// The describe `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Id => "id",
            FieldType::Reference => "reference",
            FieldType::String => "string",
            FieldType::Textarea => "textarea",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Url => "url",
            FieldType::Picklist => "picklist",
            FieldType::Multipicklist => "multipicklist",
            FieldType::Combobox => "combobox",
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Long => "long",
            FieldType::Double => "double",
            FieldType::Currency => "currency",
            FieldType::Percent => "percent",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Time => "time",
            FieldType::Base64 => "base64",
            FieldType::Address => "address",
            FieldType::Location => "location",
            FieldType::EncryptedString => "encryptedstring",
            FieldType::AnyType => "anyType",
        }
    }

    /// The SOAP type describe reports next to `type`.
    pub fn soap_type(self) -> &'static str {
        match self {
            FieldType::Id | FieldType::Reference => "tns:ID",
            FieldType::Boolean => "xsd:boolean",
            FieldType::Int => "xsd:int",
            FieldType::Long => "xsd:long",
            FieldType::Double | FieldType::Currency | FieldType::Percent => "xsd:double",
            FieldType::Date => "xsd:date",
            FieldType::Datetime => "xsd:dateTime",
            FieldType::Time => "xsd:time",
            FieldType::Base64 => "xsd:base64Binary",
            FieldType::Address => "urn:address",
            FieldType::Location => "urn:location",
            FieldType::AnyType => "xsd:anyType",
            _ => "xsd:string",
        }
    }

    /// Text-valued types: compared case-insensitively, searchable, LIKE-able.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::String
                | FieldType::Textarea
                | FieldType::Email
                | FieldType::Phone
                | FieldType::Url
                | FieldType::Picklist
                | FieldType::Multipicklist
                | FieldType::Combobox
                | FieldType::EncryptedString
        )
    }

    /// Types holding a record id.
    pub fn is_id(self) -> bool {
        matches!(self, FieldType::Id | FieldType::Reference)
    }

    /// Numeric types.
    pub fn is_number(self) -> bool {
        matches!(self, FieldType::Int | FieldType::Long | FieldType::Double | FieldType::Currency | FieldType::Percent)
    }

    /// The type name SOQL uses in "must be of type …" messages.
    pub fn soql_name(self) -> &'static str {
        match self {
            FieldType::Datetime => "dateTime",
            FieldType::Id | FieldType::Reference => "id",
            FieldType::Int => "int",
            FieldType::Long => "long",
            FieldType::Double | FieldType::Percent => "double",
            FieldType::Currency => "currency",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Time => "time",
            _ => "string",
        }
    }
}

/// One value of a picklist field.
#[derive(Debug, Clone, PartialEq)]
pub struct PicklistValue {
    pub value: String,
    pub label: String,
    pub active: bool,
    /// This value is what an insert gets when it leaves the field out.
    pub default_value: bool,
}

impl PicklistValue {
    /// An active value whose label is the value itself.
    pub fn new(value: &str) -> Self {
        PicklistValue { value: value.to_string(), label: value.to_string(), active: true, default_value: false }
    }
}

/// Field names as `&'static str`, each stored once. Field names are a small
/// closed set (the standard objects' and the custom fields added to them), so
/// leaking each one once is bounded, and lets every record key its values by
/// the shared name rather than a copy.
pub(crate) fn field_key(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Mutex::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&key) = names.get(name) {
        return key;
    }
    let key: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(key);
    key
}

/// A field of an sObject. Build one with [`FieldDef::new`] and the builder methods.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub name: String,
    pub label: String,
    pub field_type: FieldType,
    /// Maximum length in characters (text types), 18 for ids, 0 otherwise.
    pub length: u32,
    /// Total digits for numbers.
    pub precision: u32,
    /// Digits after the decimal point.
    pub scale: u32,
    pub custom: bool,
    pub nillable: bool,
    pub createable: bool,
    pub updateable: bool,
    /// Salesforce fills it on insert when it is left out (defaults, owner, system fields).
    pub defaulted_on_create: bool,
    /// Computed by the org (formula, roll-up, derived system field): never written.
    pub calculated: bool,
    pub unique: bool,
    pub external_id: bool,
    /// The record's name field (`Name`, `CaseNumber`, `Subject` …).
    pub name_field: bool,
    pub restricted_picklist: bool,
    pub picklist_values: Vec<PicklistValue>,
    /// Objects a reference may point at; more than one makes it polymorphic.
    pub reference_to: Vec<String>,
    /// Name of the parent relationship a query traverses (`Contact` for `ContactId`).
    pub relationship_name: Option<String>,
    /// The describe `defaultValue` (checkbox defaults); picklist defaults live on the values.
    pub default_value: Option<Json>,
    pub auto_number: bool,
    /// `name`, interned: what records key this field's value by.
    key: &'static str,
}

impl FieldDef {
    /// A nillable, createable, updateable field of this type with the type's
    /// usual length; `custom` when the name ends in `__c`.
    pub fn new(name: &str, label: &str, field_type: FieldType) -> Self {
        let (length, precision, scale) = match field_type {
            FieldType::Id | FieldType::Reference => (18, 0, 0),
            FieldType::String | FieldType::Combobox | FieldType::Picklist => (255, 0, 0),
            FieldType::Multipicklist => (4099, 0, 0),
            FieldType::Textarea => (32000, 0, 0),
            FieldType::Email => (80, 0, 0),
            FieldType::Phone => (40, 0, 0),
            FieldType::Url => (255, 0, 0),
            FieldType::Int => (0, 9, 0),
            FieldType::Long => (0, 18, 0),
            FieldType::Double | FieldType::Percent => (0, 18, 2),
            FieldType::Currency => (0, 18, 2),
            _ => (0, 0, 0),
        };
        let boolean = field_type == FieldType::Boolean;
        FieldDef {
            name: name.to_string(),
            label: label.to_string(),
            field_type,
            length,
            precision,
            scale,
            custom: name.ends_with("__c"),
            nillable: !boolean,
            createable: true,
            updateable: true,
            defaulted_on_create: boolean,
            calculated: false,
            unique: false,
            external_id: false,
            name_field: false,
            restricted_picklist: false,
            picklist_values: Vec::new(),
            reference_to: Vec::new(),
            relationship_name: None,
            default_value: boolean.then_some(Json::Bool(false)),
            auto_number: false,
            key: field_key(name),
        }
    }

    /// The field's name as records key its value: the same `&'static str`
    /// for every record, so no record holds a copy of it.
    pub(crate) fn key(&self) -> &'static str {
        // `name` is public; should it have been changed since `new`, follow it.
        if self.key == self.name { self.key } else { field_key(&self.name) }
    }

    pub fn length(mut self, length: u32) -> Self {
        self.length = length;
        self
    }

    pub fn precision(mut self, precision: u32, scale: u32) -> Self {
        self.precision = precision;
        self.scale = scale;
        self
    }

    /// Must be given on insert and cannot be set to null.
    pub fn required(mut self) -> Self {
        self.nillable = false;
        self
    }

    /// Set by the org only.
    pub fn read_only(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self
    }

    /// Settable on insert, fixed afterwards.
    pub fn create_only(mut self) -> Self {
        self.updateable = false;
        self
    }

    /// Filled by the org on insert when left out.
    pub fn defaulted(mut self) -> Self {
        self.defaulted_on_create = true;
        self
    }

    /// Derived by the org from other fields: read-only and defaulted.
    pub fn derived(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self.defaulted_on_create = true;
        self
    }

    /// A checkbox defaulting to `default`.
    pub fn checkbox_default(mut self, default: bool) -> Self {
        self.default_value = Some(Json::Bool(default));
        self
    }

    /// Picklist values, in order; `default` marks the value inserts get.
    pub fn values(mut self, values: &[&str], default: Option<&str>) -> Self {
        self.picklist_values = values
            .iter()
            .map(|v| PicklistValue { default_value: Some(*v) == default, ..PicklistValue::new(v) })
            .collect();
        if default.is_some() {
            self.defaulted_on_create = true;
        }
        self
    }

    /// Labels for the picklist values set by [`FieldDef::values`], in the same order.
    pub fn labels(mut self, labels: &[&str]) -> Self {
        for (value, label) in self.picklist_values.iter_mut().zip(labels) {
            value.label = label.to_string();
        }
        self
    }

    /// Only the listed picklist values are accepted.
    pub fn restricted(mut self) -> Self {
        self.restricted_picklist = true;
        self
    }

    /// A lookup to `targets` traversed in queries as `relationship`.
    pub fn references(mut self, targets: &[&str], relationship: &str) -> Self {
        self.reference_to = targets.iter().map(|t| t.to_string()).collect();
        self.relationship_name = Some(relationship.to_string());
        self
    }

    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    pub fn external_id(mut self) -> Self {
        self.external_id = true;
        self
    }

    pub fn name_field(mut self) -> Self {
        self.name_field = true;
        self
    }

    /// An auto-number: read-only, filled on insert with an increasing number.
    pub fn auto_number(mut self) -> Self {
        self.auto_number = true;
        self.read_only().defaulted()
    }

    /// Whether SOQL may filter on it (long text, blobs and compounds cannot).
    pub fn filterable(&self) -> bool {
        match self.field_type {
            FieldType::Textarea => self.length <= 255,
            FieldType::Base64 | FieldType::Address | FieldType::Location | FieldType::AnyType => false,
            _ => true,
        }
    }

    /// Whether SOQL may order by it.
    pub fn sortable(&self) -> bool {
        self.filterable() && self.field_type != FieldType::Multipicklist
    }

    /// Whether SOQL may group by it.
    pub fn groupable(&self) -> bool {
        self.sortable()
            && !matches!(
                self.field_type,
                FieldType::Double | FieldType::Currency | FieldType::Percent | FieldType::Datetime | FieldType::Time
            )
    }

    /// The picklist value inserts get when the field is left out.
    pub fn default_picklist_value(&self) -> Option<&str> {
        self.picklist_values.iter().find(|v| v.default_value && v.active).map(|v| v.value.as_str())
    }

    /// The polymorphic flag describe shows.
    pub fn is_polymorphic(&self) -> bool {
        self.reference_to.len() > 1
    }

    /// Describe's `byteLength`: three bytes per character of text.
    fn byte_length(&self) -> u32 {
        match self.field_type {
            FieldType::Id | FieldType::Reference => 18,
            t if t.is_text() => self.length * 3,
            _ => 0,
        }
    }
}

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

/// A record type of an object, as describe lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordTypeInfo {
    pub name: String,
    pub developer_name: String,
    pub record_type_id: String,
    pub active: bool,
    pub available: bool,
    pub default_record_type_mapping: bool,
    pub master: bool,
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

    fn children(mut self, children: &[(&str, &str, &str, bool)]) -> Self {
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

    fn searchable(mut self) -> Self {
        self.searchable = true;
        self
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
        for object in standard::objects() {
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

/// `/services/data/vXX.X` for an API version given as `59.0` or `v59.0`.
pub fn data_path(api_version: &str) -> String {
    format!("/services/data/v{}", api_version.trim_start_matches(['v', 'V']))
}

/// The describe of one sObject (`GET /sobjects/{name}/describe`).
pub fn describe_object(obj: &ObjectDef, api_version: &str) -> Json {
    let base = format!("{}/sobjects/{}", data_path(api_version), obj.name);
    let fields: Vec<Json> = obj.fields.iter().map(|f| describe_field(obj, f)).collect();
    let children: Vec<Json> = obj
        .child_relationships
        .iter()
        .map(|c| {
            json!({
                "cascadeDelete": c.cascade_delete,
                "childSObject": c.child_sobject,
                "deprecatedAndHidden": false,
                "field": c.field,
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": c.relationship_name,
                "restrictedDelete": false,
            })
        })
        .collect();
    let record_types: Vec<Json> = obj
        .record_types
        .iter()
        .map(|rt| {
            json!({
                "active": rt.active,
                "available": rt.available,
                "defaultRecordTypeMapping": rt.default_record_type_mapping,
                "developerName": rt.developer_name,
                "master": rt.master,
                "name": rt.name,
                "recordTypeId": rt.record_type_id,
                "urls": {"layout": format!("{base}/describe/layouts/{}", rt.record_type_id)},
            })
        })
        .collect();
    let mut out = global_entry(obj, api_version);
    let map = out.as_object_mut().expect("object");
    map.insert("fields".into(), Json::Array(fields));
    map.insert("childRelationships".into(), Json::Array(children));
    map.insert("recordTypeInfos".into(), Json::Array(record_types));
    map.insert("actionOverrides".into(), json!([]));
    map.insert("namedLayoutInfos".into(), json!([]));
    map.insert("networkScopeFieldName".into(), Json::Null);
    map.insert("sobjectDescribeOption".into(), json!("FULL"));
    map.insert("supportedScopes".into(), json!([{"label": "All", "name": "everything"}]));
    out
}

/// The describe of every sObject (`GET /sobjects`).
pub fn describe_global(schema: &Schema, api_version: &str) -> Json {
    let sobjects: Vec<Json> = schema.objects().map(|o| global_entry(o, api_version)).collect();
    json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})
}

/// The object-level properties shared by describe and describe-global.
fn global_entry(obj: &ObjectDef, api_version: &str) -> Json {
    let base = format!("{}/sobjects/{}", data_path(api_version), obj.name);
    json!({
        "activateable": false,
        "associateEntityType": null,
        "associateParentEntity": null,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": false,
        "deepCloneable": false,
        "deletable": obj.deletable,
        "deprecatedAndHidden": false,
        "feedEnabled": matches!(obj.name.as_str(), "Case" | "Account" | "Contact" | "Lead" | "Opportunity" | "User"),
        "hasSubtypes": false,
        "isInterface": false,
        "isSubtype": false,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": true,
        "mergeable": matches!(obj.name.as_str(), "Account" | "Contact" | "Lead" | "Case"),
        "mruEnabled": true,
        "name": obj.name,
        "queryable": true,
        "replicateable": true,
        "retrieveable": true,
        "searchable": obj.searchable,
        "triggerable": true,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": {
            "compactLayouts": format!("{base}/describe/compactLayouts"),
            "rowTemplate": format!("{base}/{{ID}}"),
            "approvalLayouts": format!("{base}/describe/approvalLayouts"),
            "defaultValues": format!("{base}/defaultValues?recordTypeId&fields"),
            "listviews": format!("{base}/listviews"),
            "describe": format!("{base}/describe"),
            "quickActions": format!("{base}/quickActions"),
            "layouts": format!("{base}/describe/layouts"),
            "sobject": base,
        },
    })
}

fn describe_field(obj: &ObjectDef, f: &FieldDef) -> Json {
    let t = f.field_type;
    let picklist: Vec<Json> = f
        .picklist_values
        .iter()
        .map(|p| json!({"active": p.active, "defaultValue": p.default_value, "label": p.label, "validFor": null, "value": p.value}))
        .collect();
    let digits = if matches!(t, FieldType::Int) { f.precision } else { 0 };
    let (precision, scale) = if matches!(t, FieldType::Double | FieldType::Currency | FieldType::Percent) {
        (f.precision, f.scale)
    } else {
        (0, 0)
    };
    let mut out = json!({
        "aggregatable": f.groupable() || t.is_number(),
        "aiPredictionField": false,
        "autoNumber": f.auto_number,
        "byteLength": f.byte_length(),
        "calculated": f.calculated,
        "calculatedFormula": null,
        "cascadeDelete": false,
        "caseSensitive": false,
        "compoundFieldName": compound_field_name(obj, f),
        "controllerName": null,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": f.default_value.clone().unwrap_or(Json::Null),
        "defaultValueFormula": null,
        "defaultedOnCreate": f.defaulted_on_create,
        "dependentPicklist": false,
        "deprecatedAndHidden": false,
        "digits": digits,
        "displayLocationInDecimal": false,
        "encrypted": false,
        "externalId": f.external_id,
        "extraTypeInfo": extra_type_info(f),
        "filterable": f.filterable(),
        "filteredLookupInfo": null,
        "formulaTreatNullNumberAsZero": false,
        "groupable": f.groupable(),
        "highScaleNumber": false,
        "htmlFormatted": f.name == "HtmlBody",
        "idLookup": t == FieldType::Id || f.external_id || (f.unique && t.is_text()),
        "inlineHelpText": null,
    });
    let rest = json!({
        "label": f.label,
        "length": if t.is_text() || t.is_id() { f.length } else { 0 },
        "mask": null,
        "maskType": null,
        "name": f.name,
        "nameField": f.name_field,
        "namePointing": f.is_polymorphic(),
        "nillable": f.nillable,
        "permissionable": f.nillable && !f.calculated && f.createable,
        "picklistValues": picklist,
        "polymorphicForeignKey": f.is_polymorphic(),
        "precision": precision,
        "queryByDistance": false,
        "referenceTargetField": null,
        "referenceTo": f.reference_to,
        "relationshipName": f.relationship_name,
        "relationshipOrder": null,
        "restrictedDelete": false,
        "restrictedPicklist": f.restricted_picklist,
        "scale": scale,
        "searchPrefilterable": t == FieldType::Reference,
        "soapType": t.soap_type(),
        "sortable": f.sortable(),
        "type": t.as_str(),
        "unique": f.unique,
        "updateable": f.updateable,
        "writeRequiresMasterRead": false,
    });
    if let (Some(out), Json::Object(rest)) = (out.as_object_mut(), rest) {
        out.extend(rest);
    }
    out
}

/// The compound field a component belongs to: `Name` for the parts of a
/// person's name, `BillingAddress` for `BillingCity`, …
fn compound_field_name(obj: &ObjectDef, f: &FieldDef) -> Option<String> {
    let has_compound_name = obj.field("FirstName").is_some() && obj.field("Name").is_some();
    if has_compound_name && matches!(f.name.as_str(), "FirstName" | "LastName" | "Salutation") {
        return Some("Name".into());
    }
    obj.fields
        .iter()
        .filter(|a| a.field_type == FieldType::Address)
        .find(|a| address_components(&a.name).iter().any(|(_, c)| *c == f.name))
        .map(|a| a.name.clone())
}

/// The component fields of an address compound field, with the key each has
/// in the rendered address object: `BillingAddress` → `("city", "BillingCity")`, …
pub fn address_components(address_field: &str) -> Vec<(&'static str, String)> {
    let prefix = address_field.strip_suffix("Address").unwrap_or("");
    [
        ("city", "City"),
        ("country", "Country"),
        ("geocodeAccuracy", "GeocodeAccuracy"),
        ("latitude", "Latitude"),
        ("longitude", "Longitude"),
        ("postalCode", "PostalCode"),
        ("state", "State"),
        ("street", "Street"),
    ]
    .into_iter()
    .map(|(key, suffix)| (key, format!("{prefix}{suffix}")))
    .collect()
}

fn extra_type_info(f: &FieldDef) -> Option<&'static str> {
    match f.field_type {
        FieldType::Textarea if f.name == "HtmlBody" => Some("richtextarea"),
        FieldType::Textarea => Some("plaintextarea"),
        FieldType::String if f.name == "Name" => Some("personname"),
        _ => None,
    }
}

/// The standard objects. Field lists follow the Salesforce Object Reference,
/// trimmed to what an integration touches.
mod standard {
    use super::{FieldDef, FieldType as T, ObjectDef};

    fn text(name: &str, label: &str, length: u32) -> FieldDef {
        FieldDef::new(name, label, T::String).length(length)
    }
    fn area(name: &str, label: &str, length: u32) -> FieldDef {
        FieldDef::new(name, label, T::Textarea).length(length)
    }
    fn pick(name: &str, label: &str, values: &[&str], default: Option<&str>) -> FieldDef {
        FieldDef::new(name, label, T::Picklist).length(255).values(values, default)
    }
    fn lookup(name: &str, label: &str, targets: &[&str], relationship: &str) -> FieldDef {
        FieldDef::new(name, label, T::Reference).references(targets, relationship)
    }
    fn flag(name: &str, label: &str) -> FieldDef {
        FieldDef::new(name, label, T::Boolean)
    }
    fn of(name: &str, label: &str, t: T) -> FieldDef {
        FieldDef::new(name, label, t)
    }
    /// `OwnerId`: filled with the running user on insert.
    fn owner(targets: &[&str]) -> FieldDef {
        lookup("OwnerId", "Owner ID", targets, "Owner").required().defaulted()
    }
    /// A person's name: `FirstName`, `LastName`, and the derived `Name`.
    fn person_name(last_required: bool) -> Vec<FieldDef> {
        let last = text("LastName", "Last Name", 80);
        vec![
            text("FirstName", "First Name", 40),
            if last_required { last.required() } else { last },
            text("Name", "Full Name", 121).name_field().derived(),
        ]
    }
    fn address(prefix: &str, label: &str) -> Vec<FieldDef> {
        vec![
            area(&format!("{prefix}Street"), &format!("{label} Street"), 255),
            text(&format!("{prefix}City"), &format!("{label} City"), 40),
            text(&format!("{prefix}State"), &format!("{label} State/Province"), 80),
            text(&format!("{prefix}PostalCode"), &format!("{label} Zip/Postal Code"), 20),
            text(&format!("{prefix}Country"), &format!("{label} Country"), 80),
            of(&format!("{prefix}Latitude"), &format!("{label} Latitude"), T::Double).precision(18, 15),
            of(&format!("{prefix}Longitude"), &format!("{label} Longitude"), T::Double).precision(18, 15),
            pick(
                &format!("{prefix}GeocodeAccuracy"),
                &format!("{label} Geocode Accuracy"),
                &[
                    "Address",
                    "NearAddress",
                    "Block",
                    "Street",
                    "ExtendedZip",
                    "Zip",
                    "Neighborhood",
                    "City",
                    "County",
                    "State",
                    "Unknown",
                ],
                None,
            )
            .restricted(),
            of(&format!("{prefix}Address"), &format!("{label} Address"), T::Address).read_only(),
        ]
    }
    /// Everything a feed, file or topic can hang off.
    const FEED_PARENTS: &[&str] = &["Account", "Case", "Contact", "Lead", "Opportunity", "User", "Group", "Topic"];
    /// Everything a file can be shared with.
    const FILE_LINK_TARGETS: &[&str] =
        &["Account", "Case", "Contact", "Lead", "Opportunity", "User", "Group", "Topic", "EmailMessage"];

    pub(super) fn objects() -> Vec<ObjectDef> {
        let case_fields = vec![
            text("CaseNumber", "Case Number", 30).auto_number().name_field(),
            lookup("ContactId", "Contact ID", &["Contact"], "Contact"),
            lookup("AccountId", "Account ID", &["Account"], "Account"),
            lookup("ParentId", "Parent Case ID", &["Case"], "Parent"),
            lookup("RecordTypeId", "Record Type ID", &["RecordType"], "RecordType"),
            FieldDef::new("SuppliedName", "Name", T::String).length(80),
            FieldDef::new("SuppliedEmail", "Email Address", T::Email),
            FieldDef::new("SuppliedPhone", "Phone", T::String).length(40),
            FieldDef::new("SuppliedCompany", "Company", T::String).length(80),
            pick("Type", "Case Type", &["Mechanical", "Electrical", "Electronic", "Structural", "Other"], None),
            pick("Status", "Status", &["New", "Working", "Escalated", "Closed"], Some("New")),
            pick(
                "Reason",
                "Case Reason",
                &[
                    "Installation",
                    "Equipment Complexity",
                    "Performance",
                    "Breakdown",
                    "Equipment Design",
                    "Feedback",
                    "Other",
                ],
                None,
            ),
            pick("Origin", "Case Origin", &["Phone", "Email", "Web"], None),
            text("Subject", "Subject", 255),
            pick("Priority", "Priority", &["High", "Medium", "Low"], Some("Medium")),
            area("Description", "Description", 32000),
            flag("IsClosed", "Closed").derived(),
            of("ClosedDate", "Closed Date", T::Datetime).derived(),
            flag("IsEscalated", "Escalated"),
            owner(&["Group", "User"]),
            flag("FinInvolved__c", "Fin Involved"),
            pick(
                "FinResolutionState__c",
                "Fin Resolution State",
                &["Soft Resolution", "Hard Resolution", "Abandoned", "Routed to team"],
                None,
            )
            .restricted(),
        ];
        let case = ObjectDef::new("Case", "Case", "Cases", "500", case_fields)
            .children(&[
                ("Cases", "Case", "ParentId", false),
                ("CaseComments", "CaseComment", "ParentId", true),
                ("EmailMessages", "EmailMessage", "ParentId", true),
                ("Feeds", "FeedItem", "ParentId", true),
                ("Tasks", "Task", "WhatId", true),
                ("TopicAssignments", "TopicAssignment", "EntityId", true),
                ("Attachments", "Attachment", "ParentId", true),
                ("ContentDocumentLinks", "ContentDocumentLink", "LinkedEntityId", true),
            ])
            .searchable();

        let mut contact_fields = vec![pick("Salutation", "Salutation", &["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."], None)];
        contact_fields.extend(person_name(true));
        contact_fields.extend([
            lookup("AccountId", "Account ID", &["Account"], "Account"),
            of("Email", "Email", T::Email),
            of("Phone", "Business Phone", T::Phone),
            of("MobilePhone", "Mobile Phone", T::Phone),
            text("Title", "Title", 128),
            text("Department", "Department", 80),
            pick(
                "LeadSource",
                "Lead Source",
                &["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"],
                None,
            ),
            flag("HasOptedOutOfEmail", "Email Opt Out"),
            area("Description", "Contact Description", 32000),
            owner(&["User"]),
        ]);
        contact_fields.extend(address("Mailing", "Mailing"));
        let contact = ObjectDef::new("Contact", "Contact", "Contacts", "003", contact_fields)
            .children(&[
                ("Cases", "Case", "ContactId", false),
                ("Tasks", "Task", "WhoId", true),
                ("OpportunityContactRoles", "OpportunityContactRole", "ContactId", true),
                ("Feeds", "FeedItem", "ParentId", true),
                ("TopicAssignments", "TopicAssignment", "EntityId", true),
                ("ContentDocumentLinks", "ContentDocumentLink", "LinkedEntityId", true),
            ])
            .searchable();

        let mut account_fields = vec![
            text("Name", "Account Name", 255).required().name_field(),
            pick(
                "Type",
                "Account Type",
                &[
                    "Prospect",
                    "Customer - Direct",
                    "Customer - Channel",
                    "Channel Partner / Reseller",
                    "Installation Partner",
                    "Technology Partner",
                    "Other",
                ],
                None,
            ),
            lookup("ParentId", "Parent Account ID", &["Account"], "Parent"),
            of("Phone", "Account Phone", T::Phone),
            of("Website", "Website", T::Url),
            pick(
                "Industry",
                "Industry",
                &[
                    "Agriculture",
                    "Apparel",
                    "Banking",
                    "Biotechnology",
                    "Chemicals",
                    "Communications",
                    "Construction",
                    "Consulting",
                    "Education",
                    "Electronics",
                    "Energy",
                    "Engineering",
                    "Entertainment",
                    "Environmental",
                    "Finance",
                    "Food & Beverage",
                    "Government",
                    "Healthcare",
                    "Hospitality",
                    "Insurance",
                    "Machinery",
                    "Manufacturing",
                    "Media",
                    "Not For Profit",
                    "Recreation",
                    "Retail",
                    "Shipping",
                    "Technology",
                    "Telecommunications",
                    "Transportation",
                    "Utilities",
                    "Other",
                ],
                None,
            ),
            of("AnnualRevenue", "Annual Revenue", T::Currency),
            of("NumberOfEmployees", "Employees", T::Int).precision(8, 0),
            area("Description", "Account Description", 32000),
            owner(&["User"]),
        ];
        account_fields.extend(address("Billing", "Billing"));
        account_fields.extend(address("Shipping", "Shipping"));
        let account = ObjectDef::new("Account", "Account", "Accounts", "001", account_fields)
            .children(&[
                ("Contacts", "Contact", "AccountId", true),
                ("Cases", "Case", "AccountId", false),
                ("Opportunities", "Opportunity", "AccountId", true),
                ("ChildAccounts", "Account", "ParentId", false),
                ("Tasks", "Task", "WhatId", true),
                ("Feeds", "FeedItem", "ParentId", true),
                ("TopicAssignments", "TopicAssignment", "EntityId", true),
                ("ContentDocumentLinks", "ContentDocumentLink", "LinkedEntityId", true),
            ])
            .searchable();

        let mut lead_fields = person_name(true);
        lead_fields.extend([
            text("Company", "Company", 255).required(),
            text("Title", "Title", 128),
            of("Email", "Email", T::Email),
            of("Phone", "Phone", T::Phone),
            of("MobilePhone", "Mobile Phone", T::Phone),
            of("Website", "Website", T::Url),
            area("Description", "Description", 32000),
            pick(
                "LeadSource",
                "Lead Source",
                &["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"],
                None,
            ),
            pick(
                "Status",
                "Status",
                &["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"],
                Some("Open - Not Contacted"),
            )
            .required(),
            pick("Industry", "Industry", &["Banking", "Technology", "Retail", "Other"], None),
            owner(&["Group", "User"]),
            flag("IsConverted", "Converted").derived(),
            of("ConvertedDate", "Converted Date", T::Date).derived(),
            lookup("ConvertedAccountId", "Converted Account ID", &["Account"], "ConvertedAccount").derived(),
            lookup("ConvertedContactId", "Converted Contact ID", &["Contact"], "ConvertedContact").derived(),
            lookup("ConvertedOpportunityId", "Converted Opportunity ID", &["Opportunity"], "ConvertedOpportunity")
                .derived(),
        ]);
        lead_fields.extend(address("", ""));
        let lead = ObjectDef::new("Lead", "Lead", "Leads", "00Q", lead_fields)
            .children(&[
                ("Tasks", "Task", "WhoId", true),
                ("Feeds", "FeedItem", "ParentId", true),
                ("TopicAssignments", "TopicAssignment", "EntityId", true),
            ])
            .searchable();

        let mut user_fields = vec![text("Username", "Username", 80).required().unique()];
        user_fields.extend(person_name(true));
        user_fields.extend([
            text("Alias", "Alias", 8),
            of("Email", "Email", T::Email).required(),
            flag("IsActive", "Active").checkbox_default(true),
            pick(
                "UserType",
                "User Type",
                &[
                    "Standard",
                    "PowerPartner",
                    "CspLitePortal",
                    "CustomerSuccess",
                    "PowerCustomerSuccess",
                    "CsnOnly",
                    "Guest",
                    "SelfService",
                    "AutomatedProcess",
                ],
                Some("Standard"),
            )
            .restricted()
            .create_only(),
            lookup("ProfileId", "Profile ID", &["Profile"], "Profile"),
            lookup("ManagerId", "Manager ID", &["User"], "Manager"),
            text("Title", "Title", 80),
            text("Department", "Department", 80),
            text("CompanyName", "Company Name", 80),
            of("Phone", "Phone", T::Phone),
            of("MobilePhone", "Mobile", T::Phone),
            pick(
                "TimeZoneSidKey",
                "Time Zone",
                &["GMT", "Europe/London", "Europe/Paris", "America/New_York", "America/Los_Angeles"],
                Some("GMT"),
            ),
        ]);
        let user = ObjectDef::new("User", "User", "Users", "005", user_fields)
            .children(&[("Feeds", "FeedItem", "ParentId", true)])
            .searchable();
        let user = ObjectDef { deletable: false, ..user };

        let group = ObjectDef::new(
            "Group",
            "Group",
            "Groups",
            "00G",
            vec![
                text("Name", "Name", 40).required().name_field(),
                text("DeveloperName", "Developer Name", 80).defaulted(),
                pick(
                    "Type",
                    "Type",
                    &["Regular", "Queue", "Role", "RoleAndSubordinates", "Organization", "Manager"],
                    Some("Regular"),
                )
                .restricted()
                .required()
                .create_only(),
                of("Email", "Email", T::Email),
                flag("DoesSendEmailToMembers", "Send Email to Members"),
                owner(&["User"]),
            ],
        )
        .children(&[("QueueSobjects", "QueueSobject", "QueueId", true)]);

        let queue_sobject = ObjectDef::new(
            "QueueSobject",
            "Queue Sobject",
            "Queue Sobjects",
            "03g",
            vec![
                lookup("QueueId", "Group ID", &["Group"], "Queue").required().create_only(),
                pick("SobjectType", "Sobject Type", &["Case", "Lead", "Task", "ContentVersion"], None)
                    .required()
                    .restricted()
                    .create_only(),
            ],
        );
        let queue_sobject = ObjectDef { updateable: false, ..queue_sobject };

        let case_comment = ObjectDef::new(
            "CaseComment",
            "Case Comment",
            "Case Comments",
            "00a",
            vec![
                lookup("ParentId", "Parent ID", &["Case"], "Parent").required().create_only(),
                flag("IsPublished", "Published"),
                area("CommentBody", "Body", 4000),
            ],
        );

        let feed_item = ObjectDef::new(
            "FeedItem",
            "Feed Item",
            "Feed Items",
            "0D5",
            vec![
                lookup("ParentId", "Parent ID", FEED_PARENTS, "Parent").required().create_only(),
                pick(
                    "Type",
                    "Feed Item Type",
                    &[
                        "TextPost",
                        "ContentPost",
                        "LinkPost",
                        "TrackedChange",
                        "CaseCommentPost",
                        "EmailMessageEvent",
                        "CallLogPost",
                        "ChangeStatusPost",
                        "QuestionPost",
                        "PollPost",
                        "AdvancedTextPost",
                    ],
                    Some("TextPost"),
                )
                .restricted()
                .create_only(),
                area("Body", "Body", 10000),
                flag("IsRichText", "Is Rich Text"),
                text("Title", "Title", 255),
                FieldDef::new("LinkUrl", "Link Url", T::Url).length(1000),
                lookup("RelatedRecordId", "Related Record ID", &["ContentVersion"], "RelatedRecord"),
                pick("Visibility", "Visibility", &["AllUsers", "InternalUsers"], Some("InternalUsers")).restricted(),
                of("CommentCount", "Comment Count", T::Int).derived(),
                of("LikeCount", "Like Count", T::Int).derived(),
                lookup("InsertedById", "InsertedBy ID", &["User"], "InsertedBy").derived(),
            ],
        )
        .children(&[("FeedComments", "FeedComment", "FeedItemId", true)]);

        let feed_comment = ObjectDef::new(
            "FeedComment",
            "Feed Comment",
            "Feed Comments",
            "0D7",
            vec![
                lookup("FeedItemId", "Feed Item ID", &["FeedItem"], "FeedItem").required().create_only(),
                lookup("ParentId", "Parent ID", FEED_PARENTS, "Parent").derived(),
                area("CommentBody", "Comment Body", 10000).required(),
                flag("IsRichText", "Is Rich Text"),
                pick("CommentType", "Comment Type", &["TextComment", "ContentComment"], Some("TextComment"))
                    .restricted()
                    .create_only(),
                lookup("RelatedRecordId", "Related Record ID", &["ContentVersion"], "RelatedRecord"),
                lookup("InsertedById", "InsertedBy ID", &["User"], "InsertedBy").derived(),
            ],
        );

        let email_message = ObjectDef::new(
            "EmailMessage",
            "Email Message",
            "Email Messages",
            "02s",
            vec![
                lookup("ParentId", "Case ID", &["Case"], "Parent").create_only(),
                lookup(
                    "RelatedToId",
                    "Related To ID",
                    &["Account", "Case", "Contact", "Lead", "Opportunity"],
                    "RelatedTo",
                ),
                flag("Incoming", "Is Incoming").create_only(),
                text("FromName", "From Name", 1000),
                FieldDef::new("FromAddress", "From Address", T::Email).length(1000),
                area("ToAddress", "To Address", 4000),
                area("CcAddress", "CC Address", 4000),
                area("BccAddress", "BCC Address", 4000),
                text("Subject", "Subject", 3000).name_field(),
                area("TextBody", "Text Body", 131072),
                area("HtmlBody", "HTML Body", 131072),
                area("Headers", "Headers", 32000),
                of("MessageDate", "Message Date", T::Datetime),
                FieldDef::new("Status", "Status", T::Picklist)
                    .values(&["0", "1", "2", "3", "4", "5"], None)
                    .labels(&["New", "Read", "Replied", "Sent", "Forwarded", "Draft"])
                    .restricted()
                    .required(),
                flag("HasAttachment", "Has Attachment").derived(),
                text("MessageIdentifier", "Message ID", 255),
                text("ThreadIdentifier", "Thread ID", 255),
                flag("IsExternallyVisible", "Externally Visible"),
            ],
        )
        .children(&[
            ("Attachments", "Attachment", "ParentId", true),
            ("ContentDocumentLinks", "ContentDocumentLink", "LinkedEntityId", true),
        ]);

        let attachment = ObjectDef::new(
            "Attachment",
            "Attachment",
            "Attachments",
            "00P",
            vec![
                lookup(
                    "ParentId",
                    "Parent ID",
                    &["Account", "Case", "Contact", "Lead", "Opportunity", "EmailMessage", "Task"],
                    "Parent",
                )
                .required()
                .create_only(),
                text("Name", "File Name", 255).required().name_field(),
                flag("IsPrivate", "Private"),
                text("ContentType", "Content Type", 120),
                of("BodyLength", "Body Length", T::Int).derived(),
                of("Body", "Body", T::Base64).required(),
                text("Description", "Description", 500),
                owner(&["User"]),
            ],
        );

        let content_version = ObjectDef::new(
            "ContentVersion",
            "Content Version",
            "Content Versions",
            "068",
            vec![
                lookup("ContentDocumentId", "ContentDocument ID", &["ContentDocument"], "ContentDocument")
                    .create_only()
                    .defaulted(),
                flag("IsLatest", "Is Latest").derived(),
                text("Title", "Title", 255).name_field().defaulted(),
                text("Description", "Description", 1000),
                text("PathOnClient", "Path On Client", 500).required().create_only(),
                of("VersionData", "Version Data", T::Base64).required().create_only(),
                text("VersionNumber", "Version Number", 20).derived(),
                text("FileType", "File Type", 20).derived(),
                text("FileExtension", "File Extension", 40).derived(),
                of("ContentSize", "Size", T::Int).derived(),
                text("ReasonForChange", "Reason For Change", 1000),
                pick("Origin", "Content Origin", &["C", "H"], Some("C")).restricted().create_only(),
                pick("ContentLocation", "Content Location", &["S", "E", "L"], Some("S")).restricted().create_only(),
                lookup(
                    "FirstPublishLocationId",
                    "First Publish Location ID",
                    FILE_LINK_TARGETS,
                    "FirstPublishLocation",
                )
                .create_only(),
                owner(&["User"]),
            ],
        );

        let content_document = ObjectDef::new(
            "ContentDocument",
            "Content Document",
            "Content Documents",
            "069",
            vec![
                text("Title", "Title", 255).name_field(),
                lookup(
                    "LatestPublishedVersionId",
                    "Latest Published Version ID",
                    &["ContentVersion"],
                    "LatestPublishedVersion",
                )
                .derived(),
                text("FileType", "File Type", 20).derived(),
                text("FileExtension", "File Extension", 40).derived(),
                of("ContentSize", "Size", T::Int).derived(),
                text("Description", "Description", 1000),
                lookup("OwnerId", "Owner ID", &["User"], "Owner").derived(),
            ],
        )
        .children(&[
            ("ContentVersions", "ContentVersion", "ContentDocumentId", true),
            ("ContentDocumentLinks", "ContentDocumentLink", "ContentDocumentId", true),
        ]);
        let content_document = ObjectDef { createable: false, ..content_document };

        let content_document_link = ObjectDef::new(
            "ContentDocumentLink",
            "Content Document Link",
            "Content Document Links",
            "06A",
            vec![
                lookup("LinkedEntityId", "Linked Entity ID", FILE_LINK_TARGETS, "LinkedEntity")
                    .required()
                    .create_only(),
                lookup("ContentDocumentId", "ContentDocument ID", &["ContentDocument"], "ContentDocument")
                    .required()
                    .create_only(),
                FieldDef::new("ShareType", "Share Type", T::Picklist)
                    .values(&["V", "C", "I"], Some("V"))
                    .labels(&["Viewer", "Collaborator", "Inferred"])
                    .restricted(),
                pick("Visibility", "Visibility", &["AllUsers", "InternalUsers", "SharedUsers"], Some("AllUsers"))
                    .restricted(),
            ],
        );

        let task = ObjectDef::new(
            "Task",
            "Task",
            "Tasks",
            "00T",
            vec![
                lookup("WhoId", "Name ID", &["Contact", "Lead"], "Who"),
                lookup("WhatId", "Related To ID", &["Account", "Case", "Opportunity"], "What"),
                FieldDef::new("Subject", "Subject", T::Combobox)
                    .values(&["Call", "Send Letter", "Send Quote", "Other"], None)
                    .name_field(),
                of("ActivityDate", "Due Date Only", T::Date),
                pick(
                    "Status",
                    "Status",
                    &["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"],
                    Some("Not Started"),
                )
                .required(),
                pick("Priority", "Priority", &["High", "Normal", "Low"], Some("Normal")).required(),
                owner(&["Group", "User"]),
                area("Description", "Description", 32000),
                pick("Type", "Type", &["Call", "Email", "Meeting", "Other"], None),
                pick(
                    "TaskSubtype",
                    "Task Subtype",
                    &["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"],
                    Some("Task"),
                )
                .restricted()
                .create_only(),
                flag("IsClosed", "Closed").derived(),
                lookup("AccountId", "Account ID", &["Account"], "Account").derived(),
            ],
        );

        let opportunity = ObjectDef::new(
            "Opportunity",
            "Opportunity",
            "Opportunities",
            "006",
            vec![
                lookup("AccountId", "Account ID", &["Account"], "Account"),
                text("Name", "Name", 120).required().name_field(),
                area("Description", "Description", 32000),
                pick(
                    "StageName",
                    "Stage",
                    &[
                        "Prospecting",
                        "Qualification",
                        "Needs Analysis",
                        "Value Proposition",
                        "Id. Decision Makers",
                        "Perception Analysis",
                        "Proposal/Price Quote",
                        "Negotiation/Review",
                        "Closed Won",
                        "Closed Lost",
                    ],
                    None,
                )
                .required(),
                of("Amount", "Amount", T::Currency),
                of("Probability", "Probability (%)", T::Percent).precision(3, 0),
                of("CloseDate", "Close Date", T::Date).required(),
                pick(
                    "Type",
                    "Opportunity Type",
                    &["Existing Customer - Upgrade", "Existing Customer - Replacement", "New Customer"],
                    None,
                ),
                pick(
                    "LeadSource",
                    "Lead Source",
                    &["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"],
                    None,
                ),
                flag("IsClosed", "Closed").derived(),
                flag("IsWon", "Won").derived(),
                owner(&["User"]),
            ],
        )
        .children(&[
            ("OpportunityContactRoles", "OpportunityContactRole", "OpportunityId", true),
            ("Tasks", "Task", "WhatId", true),
            ("Feeds", "FeedItem", "ParentId", true),
        ])
        .searchable();

        let opportunity_contact_role = ObjectDef::new(
            "OpportunityContactRole",
            "Opportunity Contact Role",
            "Opportunity Contact Role",
            "00K",
            vec![
                lookup("OpportunityId", "Opportunity ID", &["Opportunity"], "Opportunity").required().create_only(),
                lookup("ContactId", "Contact ID", &["Contact"], "Contact").required(),
                pick(
                    "Role",
                    "Role",
                    &[
                        "Business User",
                        "Decision Maker",
                        "Economic Buyer",
                        "Economic Decision Maker",
                        "Evaluator",
                        "Executive Sponsor",
                        "Influencer",
                        "Technical Buyer",
                        "Other",
                    ],
                    None,
                ),
                flag("IsPrimary", "Primary"),
            ],
        );

        let topic = ObjectDef::new(
            "Topic",
            "Topic",
            "Topics",
            "0TO",
            vec![
                text("Name", "Name", 255).required().unique().name_field(),
                area("Description", "Description", 1000),
                of("TalkingAbout", "Talking About", T::Int).derived(),
            ],
        )
        .children(&[("TopicAssignments", "TopicAssignment", "TopicId", true)])
        .searchable();

        let topic_assignment = ObjectDef::new(
            "TopicAssignment",
            "Topic Assignment",
            "Topic Assignments",
            "0FT",
            vec![
                lookup("TopicId", "Topic ID", &["Topic"], "Topic").required().create_only(),
                lookup(
                    "EntityId",
                    "Entity ID",
                    &["Account", "Case", "Contact", "Lead", "Opportunity", "FeedItem"],
                    "Entity",
                )
                .required()
                .create_only(),
                text("EntityKeyPrefix", "Entity Key Prefix", 3).derived(),
                text("EntityType", "Entity Type", 255).derived(),
            ],
        );
        let topic_assignment = ObjectDef { updateable: false, ..topic_assignment };

        let record_type = ObjectDef::new(
            "RecordType",
            "Record Type",
            "Record Types",
            "012",
            vec![
                text("Name", "Record Type Name", 80).required().name_field(),
                text("DeveloperName", "Record Type Name", 80).defaulted(),
                area("Description", "Description", 255),
                pick(
                    "SobjectType",
                    "SObject Type Name",
                    &["Account", "Case", "Contact", "Lead", "Opportunity", "Task"],
                    None,
                )
                .required()
                .restricted()
                .create_only(),
                flag("IsActive", "Active").checkbox_default(true),
            ],
        );
        let record_type = ObjectDef { deletable: false, ..record_type };

        let profile = ObjectDef::new(
            "Profile",
            "Profile",
            "Profiles",
            "00e",
            vec![
                text("Name", "Name", 255).required().name_field(),
                pick("UserType", "User Type", &["Standard", "Guest"], Some("Standard")),
            ],
        );

        vec![
            account,
            contact,
            lead,
            case,
            case_comment,
            user,
            group,
            queue_sobject,
            feed_item,
            feed_comment,
            email_message,
            attachment,
            content_version,
            content_document,
            content_document_link,
            task,
            opportunity,
            opportunity_contact_role,
            topic,
            topic_assignment,
            record_type,
            profile,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
