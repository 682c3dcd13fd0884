//! Reading the body of `GET /sobjects/{object}/describe` into [`DescribedObject`].
//!
//! ```
//! use casebridge_guest::salesforce::describe::parse_describe;
//! use casebridge_guest::model::FieldType;
//!
//! let body = r#"{"name":"Case","fields":[
//!     {"name":"Priority","label":"Priority","type":"picklist","length":40,
//!      "nillable":true,"createable":true,"updateable":true,"restrictedPicklist":false,
//!      "picklistValues":[{"value":"High","label":"High","active":true,"defaultValue":false}]}
//! ]}"#;
//! let case = parse_describe(body).unwrap();
//! assert_eq!(case.fields[0].field_type, FieldType::Picklist);
//! ```
//!
//! Only what [`FieldDescriptor`] needs is read; every other property is ignored.
//! Orgs and API versions differ, so missing optional properties get defaults
//! that never let the connector write more than Salesforce would accept:
//! `label` = the API name, numbers = 0 (0 means "no limit known"), `nillable` =
//! true (Salesforce stays the judge of required values), `createable` /
//! `updateable` = false, `custom` = the name ends in `__c`, other flags false,
//! lists empty. A property that is present with the wrong JSON kind is an
//! error: that is not a describe body.
//!
//! Unknown field types (Salesforce adds some, e.g. `junctionidlist`) are not an
//! error, so one new field never breaks a whole catalog: the field's
//! `soapType` decides (`xsd:string` → `string`, `xsd:double` → `double`, …),
//! and anything else becomes `complexvalue`, which is read as-is and never
//! written.

use serde_json::{Map, Value};
use thiserror::Error;

use crate::model::{DescribedObject, FieldDescriptor, FieldType, PicklistEntry};

/// Why a describe body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DescribeError {
    #[error(
        "the describe response is not JSON ({detail}); pass the body of \
         GET /sobjects/{{object}}/describe unchanged"
    )]
    NotJson { detail: String },
    #[error(
        "the describe response has no object `name`; is this really the body of \
         GET /sobjects/{{object}}/describe?"
    )]
    MissingObjectName,
    #[error(
        "the {object} describe response has no `fields` list; check that the \
         integration user may read {object}"
    )]
    MissingFields { object: String },
    #[error("field #{index} of the {object} describe response has no `name`")]
    FieldWithoutName { object: String, index: usize },
    #[error(
        "{object}.{field}: describe property `{property}` is {found}, expected {expected}; \
         the org may use an API version casebridge does not read yet"
    )]
    BadProperty { object: String, field: String, property: &'static str, expected: &'static str, found: String },
}

impl DescribeError {
    /// The object the describe was of, empty when unknown.
    pub fn object(&self) -> &str {
        match self {
            DescribeError::NotJson { .. } | DescribeError::MissingObjectName => "",
            DescribeError::MissingFields { object }
            | DescribeError::FieldWithoutName { object, .. }
            | DescribeError::BadProperty { object, .. } => object,
        }
    }

    /// The field at fault, empty when the problem is the whole response.
    pub fn field(&self) -> &str {
        match self {
            DescribeError::BadProperty { field, .. } => field,
            _ => "",
        }
    }
}

impl FieldType {
    /// Every field type, in WIT order.
    pub const ALL: [FieldType; 26] = [
        FieldType::Id,
        FieldType::Reference,
        FieldType::String,
        FieldType::Textarea,
        FieldType::Email,
        FieldType::Phone,
        FieldType::Url,
        FieldType::Picklist,
        FieldType::Multipicklist,
        FieldType::Combobox,
        FieldType::Boolean,
        FieldType::Int,
        FieldType::Long,
        FieldType::Double,
        FieldType::Currency,
        FieldType::Percent,
        FieldType::Date,
        FieldType::Datetime,
        FieldType::Time,
        FieldType::Base64,
        FieldType::Encryptedstring,
        FieldType::Address,
        FieldType::Location,
        FieldType::AnyType,
        FieldType::Complexvalue,
        FieldType::Datacategorygroupreference,
    ];

    /// The name describe uses in a field's `type`, e.g. `multipicklist`, `anyType`.
    pub fn api_name(self) -> &'static str {
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
            FieldType::Encryptedstring => "encryptedstring",
            FieldType::Address => "address",
            FieldType::Location => "location",
            FieldType::AnyType => "anyType",
            FieldType::Complexvalue => "complexvalue",
            FieldType::Datacategorygroupreference => "datacategorygroupreference",
        }
    }

    /// The type describe calls `name` (ASCII case-insensitive), if it is one we know.
    pub fn from_api_name(name: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.api_name().eq_ignore_ascii_case(name))
    }

    /// A list field with allowed values: picklist, multi-select picklist or combobox.
    pub fn is_list(self) -> bool {
        matches!(self, FieldType::Picklist | FieldType::Multipicklist | FieldType::Combobox)
    }
}

/// The type to use for a `type` we do not know, from the field's `soapType`.
fn type_from_soap_type(soap_type: &str) -> FieldType {
    match soap_type {
        "xsd:string" => FieldType::String,
        "xsd:boolean" => FieldType::Boolean,
        "xsd:int" => FieldType::Int,
        "xsd:long" => FieldType::Long,
        "xsd:double" => FieldType::Double,
        "xsd:date" => FieldType::Date,
        "xsd:dateTime" => FieldType::Datetime,
        "xsd:time" => FieldType::Time,
        "xsd:base64Binary" => FieldType::Base64,
        "tns:ID" => FieldType::Reference,
        "xsd:anyType" => FieldType::AnyType,
        "urn:address" => FieldType::Address,
        "urn:location" => FieldType::Location,
        _ => FieldType::Complexvalue,
    }
}

/// Read the JSON body of `GET /sobjects/{object}/describe`.
pub fn parse_describe(json: &str) -> Result<DescribedObject, DescribeError> {
    let root: Value = serde_json::from_str(json).map_err(|e| DescribeError::NotJson { detail: e.to_string() })?;
    let root = root.as_object().ok_or(DescribeError::MissingObjectName)?;
    let object = match root.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ => return Err(DescribeError::MissingObjectName),
    };
    let Some(Value::Array(fields)) = root.get("fields") else {
        return Err(DescribeError::MissingFields { object });
    };
    let fields = fields
        .iter()
        .enumerate()
        .map(|(index, field)| parse_field(&object, index, field))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DescribedObject { object, fields })
}

fn parse_field(object: &str, index: usize, field: &Value) -> Result<FieldDescriptor, DescribeError> {
    let without_name = || DescribeError::FieldWithoutName { object: object.to_string(), index };
    let properties = field.as_object().ok_or_else(without_name)?;
    let name = match properties.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.as_str(),
        _ => return Err(without_name()),
    };
    let read = Properties { object, field: name, properties };

    let type_name = read.text("type")?;
    let soap_type = read.text("soapType")?;
    let field_type = match (type_name, soap_type) {
        (Some(t), soap) => FieldType::from_api_name(t).unwrap_or_else(|| type_from_soap_type(soap.unwrap_or_default())),
        (None, Some(soap)) => type_from_soap_type(soap),
        (None, None) => return Err(read.bad("type", "a field type name", "missing".into())),
    };

    // Whole-number fields report their size in `digits`, not `precision`.
    let mut precision = read.count("precision")?;
    if precision == 0 && matches!(field_type, FieldType::Int | FieldType::Long) {
        precision = read.count("digits")?;
    }

    Ok(FieldDescriptor {
        name: name.to_string(),
        label: read.text("label")?.unwrap_or(name).to_string(),
        field_type,
        length: read.count("length")?,
        precision,
        scale: read.count("scale")?,
        custom: read.flag("custom")?.unwrap_or_else(|| name.to_ascii_lowercase().ends_with("__c")),
        nillable: read.flag("nillable")?.unwrap_or(true),
        createable: read.flag("createable")?.unwrap_or(false),
        defaulted_on_create: read.flag("defaultedOnCreate")?.unwrap_or(false),
        updateable: read.flag("updateable")?.unwrap_or(false),
        calculated: read.flag("calculated")?.unwrap_or(false),
        name_field: read.flag("nameField")?.unwrap_or(false),
        restricted_picklist: read.flag("restrictedPicklist")?.unwrap_or(false),
        picklist_values: read.picklist_values()?,
        reference_to: read.texts("referenceTo")?,
        relationship_name: read.text("relationshipName")?.map(str::to_string),
    })
}

/// One field's properties, read with errors that name the field.
struct Properties<'a> {
    object: &'a str,
    field: &'a str,
    properties: &'a Map<String, Value>,
}

impl<'a> Properties<'a> {
    fn bad(&self, property: &'static str, expected: &'static str, found: String) -> DescribeError {
        DescribeError::BadProperty {
            object: self.object.to_string(),
            field: self.field.to_string(),
            property,
            expected,
            found,
        }
    }

    /// The property, `None` when missing or JSON `null`.
    fn get(&self, property: &str) -> Option<&'a Value> {
        self.properties.get(property).filter(|v| !v.is_null())
    }

    fn text(&self, property: &'static str) -> Result<Option<&'a str>, DescribeError> {
        match self.get(property) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.bad(property, "a string", kind_of(other))),
        }
    }

    fn flag(&self, property: &'static str) -> Result<Option<bool>, DescribeError> {
        match self.get(property) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.bad(property, "true or false", kind_of(other))),
        }
    }

    /// A size or count: a whole number from 0 to 4,294,967,295; 0 when missing.
    fn count(&self, property: &'static str) -> Result<u32, DescribeError> {
        match self.get(property) {
            None => Ok(0),
            Some(value) => value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| self.bad(property, "a whole number of at least 0", kind_of(value))),
        }
    }

    fn texts(&self, property: &'static str) -> Result<Vec<String>, DescribeError> {
        let Some(value) = self.get(property) else {
            return Ok(Vec::new());
        };
        let expected = "a list of strings";
        let items = value.as_array().ok_or_else(|| self.bad(property, expected, kind_of(value)))?;
        items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(|| self.bad(property, expected, kind_of(item))))
            .collect()
    }

    fn picklist_values(&self) -> Result<Vec<PicklistEntry>, DescribeError> {
        const PROPERTY: &str = "picklistValues";
        const EXPECTED: &str = "a list of entries with a string `value`";
        let Some(value) = self.get(PROPERTY) else {
            return Ok(Vec::new());
        };
        let entries = value.as_array().ok_or_else(|| self.bad(PROPERTY, EXPECTED, kind_of(value)))?;
        entries
            .iter()
            .map(|entry| {
                let bad = || self.bad(PROPERTY, EXPECTED, kind_of(entry));
                let entry = entry.as_object().ok_or_else(bad)?;
                let value = entry.get("value").and_then(Value::as_str).ok_or_else(bad)?;
                let label = entry.get("label").and_then(Value::as_str).unwrap_or(value);
                Ok(PicklistEntry {
                    value: value.to_string(),
                    label: label.to_string(),
                    // Older API versions omit `active`; listed values were active then.
                    active: entry.get("active").and_then(Value::as_bool).unwrap_or(true),
                    is_default: entry.get("defaultValue").and_then(Value::as_bool).unwrap_or(false),
                })
            })
            .collect()
    }
}

/// A short description of a JSON value for error messages.
fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASE_DESCRIBE: &str = include_str!("../../tests/fixtures/case_describe.json");

    fn field<'a>(object: &'a DescribedObject, name: &str) -> &'a FieldDescriptor {
        match object.fields.iter().find(|f| f.name == name) {
            Some(f) => f,
            None => panic!("fixture has no field {name}"),
        }
    }

    #[test]
    fn case_fixture_reads_every_field_in_describe_order() {
        let case = parse_describe(CASE_DESCRIBE).unwrap();
        assert_eq!(case.object, "Case");
        let names: Vec<&str> = case.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names.first(), Some(&"Id"));
        assert!(names.contains(&"FinResolutionState__c"));
        assert_eq!(names.len(), 42);
    }

    #[test]
    fn case_fixture_id_and_audit_fields_are_read_only() {
        let case = parse_describe(CASE_DESCRIBE).unwrap();
        let id = field(&case, "Id");
        assert_eq!(id.field_type, FieldType::Id);
        assert_eq!(id.length, 18);
        assert!(!id.createable && !id.updateable && !id.nillable);
        let created = field(&case, "CreatedDate");
        assert_eq!(created.field_type, FieldType::Datetime);
        assert!(!created.createable && !created.updateable);
    }

    #[test]
    fn case_fixture_picklist_keeps_values_activity_and_default() {
        let case = parse_describe(CASE_DESCRIBE).unwrap();
        let status = field(&case, "Status");
        assert_eq!(status.field_type, FieldType::Picklist);
        assert_eq!(status.length, 40);
        let values: Vec<(&str, bool, bool)> =
            status.picklist_values.iter().map(|e| (e.value.as_str(), e.active, e.is_default)).collect();
        assert_eq!(
            values,
            vec![
                ("New", true, true),
                ("Working", true, false),
                ("Escalated", true, false),
                ("Closed", true, false),
                ("On Hold", false, false),
            ]
        );
        assert!(field(&case, "FinResolutionState__c").restricted_picklist);
        assert!(!status.restricted_picklist);
    }

    #[test]
    fn case_fixture_reference_keeps_targets_and_relationship() {
        let case = parse_describe(CASE_DESCRIBE).unwrap();
        let owner = field(&case, "OwnerId");
        assert_eq!(owner.field_type, FieldType::Reference);
        assert_eq!(owner.reference_to, vec!["Group".to_string(), "User".to_string()]);
        assert_eq!(owner.relationship_name.as_deref(), Some("Owner"));
        assert_eq!(field(&case, "Subject").relationship_name, None);
    }

    #[test]
    fn case_fixture_numbers_keep_precision_and_scale() {
        let case = parse_describe(CASE_DESCRIBE).unwrap();
        let amount = field(&case, "Refund_Amount__c");
        assert_eq!((amount.field_type, amount.precision, amount.scale), (FieldType::Currency, 18, 2));
        assert!(amount.custom);
        let score = field(&case, "Satisfaction__c");
        assert_eq!((score.field_type, score.precision, score.scale), (FieldType::Percent, 5, 2));
        let formula = field(&case, "Age_Days__c");
        assert!(formula.calculated && !formula.createable && !formula.updateable);
    }

    #[test]
    fn case_fixture_name_field_is_case_number() {
        let case = parse_describe(CASE_DESCRIBE).unwrap();
        let named: Vec<&str> = case.fields.iter().filter(|f| f.name_field).map(|f| f.name.as_str()).collect();
        assert_eq!(named, vec!["CaseNumber"]);
    }

    #[test]
    fn case_fixture_every_type_is_recognised() {
        let case = parse_describe(CASE_DESCRIBE).unwrap();
        let expect = [
            ("Description", FieldType::Textarea),
            ("SuppliedEmail", FieldType::Email),
            ("SuppliedPhone", FieldType::Phone),
            ("IsEscalated", FieldType::Boolean),
            ("Products__c", FieldType::Multipicklist),
            ("Channel__c", FieldType::Combobox),
            ("Follow_Up_Date__c", FieldType::Date),
            ("Callback_Time__c", FieldType::Time),
            ("Portal_Url__c", FieldType::Url),
            ("Verification_Code__c", FieldType::Encryptedstring),
            ("Site_Location__c", FieldType::Location),
            ("Escalation_Count__c", FieldType::Double),
        ];
        for (name, t) in expect {
            assert_eq!(field(&case, name).field_type, t, "{name}");
        }
    }

    #[test]
    fn int_and_long_take_their_size_from_digits() {
        let json = r#"{"name":"Account","fields":[
            {"name":"NumberOfEmployees","type":"int","precision":0,"digits":8,"scale":0},
            {"name":"Big__c","type":"long","digits":18}]}"#;
        let account = parse_describe(json).unwrap();
        let sizes: Vec<u32> = account.fields.iter().map(|f| f.precision).collect();
        assert_eq!(sizes, vec![8, 18]);
    }

    #[test]
    fn missing_optional_properties_get_safe_defaults() {
        let json = r#"{"name":"Contact","fields":[{"name":"Nickname__c","type":"string"}]}"#;
        let contact = parse_describe(json).unwrap();
        let nick = &contact.fields[0];
        assert_eq!(nick.label, "Nickname__c");
        assert_eq!((nick.length, nick.precision, nick.scale), (0, 0, 0));
        assert!(nick.custom, "custom follows the __c suffix");
        assert!(nick.nillable);
        assert!(!nick.createable && !nick.updateable && !nick.calculated);
        assert!(nick.picklist_values.is_empty() && nick.reference_to.is_empty());
    }

    #[test]
    fn null_properties_count_as_missing() {
        let json = r#"{"name":"Case","fields":[{"name":"X__c","type":"string","label":null,
            "length":null,"referenceTo":null,"picklistValues":null,"relationshipName":null}]}"#;
        let case = parse_describe(json).unwrap();
        assert_eq!(case.fields[0].label, "X__c");
    }

    #[test]
    fn unknown_type_falls_back_to_its_soap_type() {
        let json = r#"{"name":"Case","fields":[
            {"name":"A__c","type":"richtext2","soapType":"xsd:string"},
            {"name":"B__c","type":"futurenumber","soapType":"xsd:double"},
            {"name":"TaskWhoIds","type":"junctionidlist","soapType":"urn:JunctionIdListNames"},
            {"name":"C__c","soapType":"xsd:dateTime"}]}"#;
        let types: Vec<FieldType> = parse_describe(json).unwrap().fields.iter().map(|f| f.field_type).collect();
        assert_eq!(types, vec![FieldType::String, FieldType::Double, FieldType::Complexvalue, FieldType::Datetime]);
    }

    #[test]
    fn field_without_any_type_is_reported() {
        let json = r#"{"name":"Case","fields":[{"name":"A__c"}]}"#;
        let err = parse_describe(json).unwrap_err();
        assert_eq!(err.object(), "Case");
        assert_eq!(err.field(), "A__c");
        assert!(err.to_string().contains("`type`"), "{err}");
    }

    #[test]
    fn wrong_property_kinds_name_object_field_and_property() {
        let json = r#"{"name":"Case","fields":[{"name":"Subject","type":"string","length":"255"}]}"#;
        let err = parse_describe(json).unwrap_err();
        assert_eq!(
            err,
            DescribeError::BadProperty {
                object: "Case".into(),
                field: "Subject".into(),
                property: "length",
                expected: "a whole number of at least 0",
                found: "a string".into(),
            }
        );
        let negative = r#"{"name":"Case","fields":[{"name":"Subject","type":"string","length":-1}]}"#;
        assert!(matches!(parse_describe(negative), Err(DescribeError::BadProperty { property: "length", .. })));
        let flag = r#"{"name":"Case","fields":[{"name":"Subject","type":"string","nillable":"yes"}]}"#;
        assert!(matches!(parse_describe(flag), Err(DescribeError::BadProperty { property: "nillable", .. })));
        let entry =
            r#"{"name":"Case","fields":[{"name":"Status","type":"picklist","picklistValues":[{"label":"New"}]}]}"#;
        assert!(matches!(parse_describe(entry), Err(DescribeError::BadProperty { property: "picklistValues", .. })));
    }

    #[test]
    fn malformed_responses_are_reported() {
        assert!(matches!(parse_describe("not json"), Err(DescribeError::NotJson { .. })));
        assert_eq!(parse_describe("[]"), Err(DescribeError::MissingObjectName));
        assert_eq!(parse_describe(r#"{"fields":[]}"#), Err(DescribeError::MissingObjectName));
        assert_eq!(parse_describe(r#"{"name":"Case"}"#), Err(DescribeError::MissingFields { object: "Case".into() }));
        assert_eq!(
            parse_describe(r#"{"name":"Case","fields":[{"type":"string"}]}"#),
            Err(DescribeError::FieldWithoutName { object: "Case".into(), index: 0 })
        );
        // Salesforce's error array for an unknown object is not a describe either.
        let not_found = r#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#;
        assert_eq!(parse_describe(not_found), Err(DescribeError::MissingObjectName));
    }

    #[test]
    fn api_names_agree_with_the_serde_names() {
        for t in FieldType::ALL {
            let serde_name = serde_json::to_value(t).unwrap();
            assert_eq!(serde_name.as_str(), Some(t.api_name()));
            assert_eq!(FieldType::from_api_name(t.api_name()), Some(t));
        }
        assert_eq!(FieldType::from_api_name("ANYTYPE"), Some(FieldType::AnyType));
        assert_eq!(FieldType::from_api_name("junctionidlist"), None);
    }
}
