//! Fields: their types as describe spells them, and [`FieldDef`], built with
//! [`FieldDef::new`] and the builder methods.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;
use serde_json::Value as Json;

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

    /// Picklist types: their values are listed in describe.
    pub fn is_picklist(self) -> bool {
        matches!(self, FieldType::Picklist | FieldType::Multipicklist)
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
    pub(super) fn byte_length(&self) -> u32 {
        match self.field_type {
            FieldType::Id | FieldType::Reference => 18,
            t if t.is_text() => self.length * 3,
            _ => 0,
        }
    }
}
