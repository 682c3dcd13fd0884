//! Records as platform attributes and back (A4, C2).
//!
//! ```
//! use casebridge_guest::catalog;
//! use casebridge_guest::mapping::{record_to_attributes, attributes_to_record, WritePurpose};
//! use casebridge_guest::model::*;
//! use casebridge_guest::salesforce::describe::parse_describe;
//!
//! let case = catalog::from_describe(parse_describe(r#"{"name":"Case","fields":[
//!     {"name":"Priority","type":"picklist","length":40,"createable":true,"updateable":true}]}"#).unwrap());
//! let to_platform = FieldMapping { object: "Case".into(), field: "Priority".into(),
//!     attribute: "urgency".into(), direction: Direction::ToPlatform };
//! let record = [WireField { name: "Priority".into(), value: WireValue::Text("High".into()) }];
//! let attributes = record_to_attributes(&case, &record, &[to_platform.clone()]).unwrap();
//! assert_eq!(attributes[0].name, "urgency");
//!
//! let to_salesforce = FieldMapping { direction: Direction::ToSalesforce, ..to_platform };
//! let urgency = [Attribute { name: "urgency".into(), value: AttributeValue::Text("Low".into()) }];
//! let fields = attributes_to_record(&case, &urgency, &[to_salesforce], WritePurpose::Update).unwrap();
//! assert_eq!(fields, record.map(|f| WireField { value: WireValue::Text("Low".into()), ..f }));
//! ```
//!
//! Reading (`record_to_attributes`) turns every synced catalog field present in
//! a record into an attribute named by the field's API name, or by the
//! attribute of each `ToPlatform` mapping of that field (one attribute per
//! mapping). Writing (`attributes_to_record`) applies only `ToSalesforce`
//! mappings. Both report every bad value, not just the first.

use serde::{Deserialize, Serialize};

use crate::convert::{self, ConversionError, ConversionProblem};
use crate::model::{Attribute, Direction, FieldDescriptor, FieldMapping, ObjectCatalog, WireField};

/// Which platform entity an object's fields describe; mirrors the WIT `entity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Entity {
    /// Case → conversation data.
    Conversation,
    /// Contact (and Lead) → people data.
    Person,
    /// Account → company data.
    Company,
}

/// Whether a write creates or updates a record; mirrors the WIT `write-purpose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WritePurpose {
    Create,
    Update,
}

/// The platform entity `object` maps to (ASCII case-insensitive), if any.
pub fn entity_of(object: &str) -> Option<Entity> {
    const ENTITIES: [(&str, Entity); 4] = [
        ("Case", Entity::Conversation),
        ("Contact", Entity::Person),
        ("Lead", Entity::Person),
        ("Account", Entity::Company),
    ];
    ENTITIES.into_iter().find(|(name, _)| name.eq_ignore_ascii_case(object)).map(|(_, entity)| entity)
}

/// Whether a value may be given for `field` in a write of this purpose:
/// createable (create) or updateable (update), and not a formula or roll-up.
pub fn is_writable(field: &FieldDescriptor, purpose: WritePurpose) -> bool {
    !field.calculated
        && match purpose {
            WritePurpose::Create => field.createable,
            WritePurpose::Update => field.updateable,
        }
}

/// The mappings of `catalog`'s object that copy values in `direction`.
fn mappings_of<'a>(
    catalog: &'a ObjectCatalog,
    mappings: &'a [FieldMapping],
    direction: Direction,
) -> impl Iterator<Item = &'a FieldMapping> + 'a {
    mappings.iter().filter(move |m| m.direction == direction && m.object.eq_ignore_ascii_case(&catalog.object))
}

/// A record's synced fields as attributes, in record order.
///
/// Fields not in the catalog, or not synced, are skipped (a query may return
/// more, e.g. relationship objects). Every value that cannot be converted is
/// reported.
pub fn record_to_attributes(
    catalog: &ObjectCatalog,
    fields: &[WireField],
    mappings: &[FieldMapping],
) -> Result<Vec<Attribute>, Vec<ConversionError>> {
    let mut attributes = Vec::new();
    let mut errors = Vec::new();
    for wire in fields {
        let Some(entry) = catalog.field(&wire.name).filter(|f| f.synced) else {
            continue;
        };
        let field = &entry.descriptor;
        let value = match convert::to_attribute(&catalog.object, field, &wire.value) {
            Ok(value) => value,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let mut names: Vec<&str> = mappings_of(catalog, mappings, Direction::ToPlatform)
            .filter(|m| m.field.eq_ignore_ascii_case(&field.name))
            .map(|m| m.attribute.as_str())
            .collect();
        if names.is_empty() {
            names.push(&field.name);
        }
        for name in names {
            attributes.push(Attribute { name: name.to_string(), value: value.clone() });
        }
    }
    if errors.is_empty() { Ok(attributes) } else { Err(errors) }
}

/// The fields to write for the `ToSalesforce` mappings whose attribute is present.
///
/// Each mapped field must be in the catalog (synced or not: the catalog is what
/// the platform reads, not what it may write), be writable for `purpose`, and
/// take the value (see [`convert::to_wire`]). When several mappings write the
/// same field, the first present one wins, so a record never names a field twice.
/// Fields come out in mapping order, under their API names.
pub fn attributes_to_record(
    catalog: &ObjectCatalog,
    attributes: &[Attribute],
    mappings: &[FieldMapping],
    purpose: WritePurpose,
) -> Result<Vec<WireField>, Vec<ConversionError>> {
    let mut record: Vec<WireField> = Vec::new();
    let mut errors = Vec::new();
    for mapping in mappings_of(catalog, mappings, Direction::ToSalesforce) {
        let Some(attribute) = attributes.iter().find(|a| a.name == mapping.attribute) else {
            continue;
        };
        let value_text = convert::attribute_text(&attribute.value);
        let Some(entry) = catalog.field(&mapping.field) else {
            errors.push(ConversionError::new(
                &catalog.object,
                &mapping.field,
                &value_text,
                ConversionProblem::UnknownField,
            ));
            continue;
        };
        let field = &entry.descriptor;
        if record.iter().any(|w| w.name == field.name) {
            continue;
        }
        if !is_writable(field, purpose) {
            errors.push(ConversionError::on_field(&catalog.object, field, &value_text, ConversionProblem::ReadOnly));
            continue;
        }
        match convert::to_wire(&catalog.object, field, &attribute.value) {
            Ok(value) => record.push(WireField { name: field.name.clone(), value }),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() { Ok(record) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;
    use crate::model::{AttributeValue, CalendarDate, FieldType, WireValue};
    use crate::salesforce::describe::parse_describe;

    const CASE_DESCRIBE: &str = include_str!("../tests/fixtures/case_describe.json");

    fn case_catalog() -> ObjectCatalog {
        catalog::from_describe(parse_describe(CASE_DESCRIBE).unwrap())
    }

    fn mapping(field: &str, attribute: &str, direction: Direction) -> FieldMapping {
        FieldMapping { object: "Case".into(), field: field.into(), attribute: attribute.into(), direction }
    }

    fn wire(name: &str, value: WireValue) -> WireField {
        WireField { name: name.into(), value }
    }

    fn attribute(name: &str, value: AttributeValue) -> Attribute {
        Attribute { name: name.into(), value }
    }

    fn text(s: &str) -> WireValue {
        WireValue::Text(s.into())
    }

    fn names(attributes: &[Attribute]) -> Vec<&str> {
        attributes.iter().map(|a| a.name.as_str()).collect()
    }

    #[test]
    fn objects_map_to_their_platform_entities() {
        assert_eq!(entity_of("Case"), Some(Entity::Conversation));
        assert_eq!(entity_of("Contact"), Some(Entity::Person));
        assert_eq!(entity_of("Lead"), Some(Entity::Person));
        assert_eq!(entity_of("Account"), Some(Entity::Company));
        assert_eq!(entity_of("account"), Some(Entity::Company));
        assert_eq!(entity_of("Opportunity"), None);
    }

    #[test]
    fn synced_fields_become_attributes_named_by_api_name() {
        let record = [
            wire("Id", text("500000000000001AAA")),
            wire("priority", text("High")),
            wire("IsEscalated", WireValue::Boolean(false)),
            wire("Follow_Up_Date__c", text("2024-03-31")),
            wire("Contact", WireValue::Compound("{\"Email\":\"a@b.c\"}".into())),
            wire("Unknown__c", text("x")),
        ];
        let attributes = record_to_attributes(&case_catalog(), &record, &[]).unwrap();
        assert_eq!(names(&attributes), vec!["Id", "Priority", "IsEscalated", "Follow_Up_Date__c"]);
        assert_eq!(attributes[3].value, AttributeValue::Date(CalendarDate { year: 2024, month: 3, day: 31 }));
    }

    #[test]
    fn unsynced_fields_are_skipped_even_when_mapped() {
        let case = catalog::remove_field(case_catalog(), "Priority").unwrap();
        let record = [wire("Priority", text("High")), wire("Subject", text("Help"))];
        let mappings = [mapping("Priority", "urgency", Direction::ToPlatform)];
        let attributes = record_to_attributes(&case, &record, &mappings).unwrap();
        assert_eq!(names(&attributes), vec!["Subject"]);
    }

    #[test]
    fn to_platform_mappings_rename_and_to_salesforce_ones_do_not_apply() {
        let record = [wire("Priority", text("High")), wire("Subject", text("Help"))];
        let mappings = [
            mapping("Priority", "urgency", Direction::ToPlatform),
            mapping("Priority", "priority_copy", Direction::ToPlatform),
            mapping("Subject", "title", Direction::ToSalesforce),
            FieldMapping { object: "Contact".into(), ..mapping("Subject", "contact_subject", Direction::ToPlatform) },
        ];
        let attributes = record_to_attributes(&case_catalog(), &record, &mappings).unwrap();
        assert_eq!(names(&attributes), vec!["urgency", "priority_copy", "Subject"]);
    }

    #[test]
    fn every_bad_value_of_a_record_is_reported() {
        let record = [
            wire("IsEscalated", text("yes")),
            wire("Subject", text("fine")),
            wire("Follow_Up_Date__c", text("2024-02-30")),
            wire("Refund_Amount__c", WireValue::Number("9007199254740993".into())),
        ];
        let errors = record_to_attributes(&case_catalog(), &record, &[]).unwrap_err();
        let problems: Vec<(&str, ConversionProblem)> = errors.iter().map(|e| (e.field.as_str(), e.problem)).collect();
        assert_eq!(
            problems,
            vec![
                ("IsEscalated", ConversionProblem::WrongType(FieldType::Boolean)),
                ("Follow_Up_Date__c", ConversionProblem::InvalidDate),
                ("Refund_Amount__c", ConversionProblem::InvalidNumber),
            ]
        );
        assert!(errors.iter().all(|e| e.object == "Case"));
    }

    #[test]
    fn to_salesforce_mappings_write_present_attributes_under_api_names() {
        let mappings = [
            mapping("finresolutionstate__c", "resolution", Direction::ToSalesforce),
            mapping("FinInvolved__c", "fin_involved", Direction::ToSalesforce),
            mapping("Priority", "urgency", Direction::ToSalesforce),
            mapping("Subject", "subject", Direction::ToPlatform),
        ];
        let attributes = [
            attribute("resolution", AttributeValue::Text("Soft Resolution".into())),
            attribute("fin_involved", AttributeValue::Boolean(true)),
            attribute("subject", AttributeValue::Text("not written".into())),
        ];
        let record = attributes_to_record(&case_catalog(), &attributes, &mappings, WritePurpose::Update).unwrap();
        assert_eq!(
            record,
            vec![
                wire("FinResolutionState__c", text("Soft Resolution")),
                wire("FinInvolved__c", WireValue::Boolean(true)),
            ]
        );
    }

    #[test]
    fn writes_check_catalog_writability_and_values_reporting_all() {
        let mappings = [
            mapping("Missing__c", "a", Direction::ToSalesforce),
            mapping("CaseNumber", "b", Direction::ToSalesforce),
            mapping("Age_Days__c", "c", Direction::ToSalesforce),
            mapping("FinResolutionState__c", "d", Direction::ToSalesforce),
            mapping("Subject", "e", Direction::ToSalesforce),
        ];
        let attributes = [
            attribute("a", AttributeValue::Text("x".into())),
            attribute("b", AttributeValue::Text("00001001".into())),
            attribute("c", AttributeValue::Decimal(3.0)),
            attribute("d", AttributeValue::Text("Solved".into())),
            attribute("e", AttributeValue::Text("ok".into())),
        ];
        let errors = attributes_to_record(&case_catalog(), &attributes, &mappings, WritePurpose::Create).unwrap_err();
        let problems: Vec<(&str, &str, ConversionProblem)> =
            errors.iter().map(|e| (e.field.as_str(), e.value.as_str(), e.problem)).collect();
        assert_eq!(
            problems,
            vec![
                ("Missing__c", "x", ConversionProblem::UnknownField),
                ("CaseNumber", "00001001", ConversionProblem::ReadOnly),
                ("Age_Days__c", "3", ConversionProblem::ReadOnly),
                ("FinResolutionState__c", "Solved", ConversionProblem::NotInPicklist),
            ]
        );
    }

    #[test]
    fn create_and_update_check_their_own_permission() {
        // SuppliedCompany can be set on create but not changed afterwards.
        let mappings = [mapping("SuppliedCompany", "company", Direction::ToSalesforce)];
        let attributes = [attribute("company", AttributeValue::Text("Acme".into()))];
        let case = case_catalog();
        assert_eq!(
            attributes_to_record(&case, &attributes, &mappings, WritePurpose::Create).unwrap(),
            vec![wire("SuppliedCompany", text("Acme"))]
        );
        let errors = attributes_to_record(&case, &attributes, &mappings, WritePurpose::Update).unwrap_err();
        assert_eq!(errors[0].problem, ConversionProblem::ReadOnly);
    }

    #[test]
    fn absent_attributes_and_other_objects_mappings_write_nothing() {
        let mappings = [
            mapping("Subject", "missing", Direction::ToSalesforce),
            FieldMapping { object: "Contact".into(), ..mapping("Subject", "subject", Direction::ToSalesforce) },
        ];
        let attributes = [attribute("subject", AttributeValue::Text("x".into()))];
        assert_eq!(
            attributes_to_record(&case_catalog(), &attributes, &mappings, WritePurpose::Update).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_field_mapped_twice_is_written_once_by_the_first_present_mapping() {
        let mappings = [
            mapping("Subject", "absent", Direction::ToSalesforce),
            mapping("Subject", "first", Direction::ToSalesforce),
            mapping("subject", "second", Direction::ToSalesforce),
        ];
        let attributes = [
            attribute("second", AttributeValue::Text("two".into())),
            attribute("first", AttributeValue::Text("one".into())),
        ];
        let record = attributes_to_record(&case_catalog(), &attributes, &mappings, WritePurpose::Update).unwrap();
        assert_eq!(record, vec![wire("Subject", text("one"))]);
    }

    #[test]
    fn null_attributes_clear_nillable_fields() {
        let mappings = [mapping("Follow_Up_Date__c", "follow_up", Direction::ToSalesforce)];
        let attributes = [attribute("follow_up", AttributeValue::Null)];
        let record = attributes_to_record(&case_catalog(), &attributes, &mappings, WritePurpose::Update).unwrap();
        assert_eq!(record, vec![wire("Follow_Up_Date__c", WireValue::Null)]);
    }

    #[test]
    fn writability_follows_purpose_and_formulas() {
        let case = case_catalog();
        let field = |name: &str| case.field(name).map(|f| f.descriptor.clone()).unwrap();
        assert!(is_writable(&field("Subject"), WritePurpose::Create));
        assert!(is_writable(&field("Subject"), WritePurpose::Update));
        assert!(!is_writable(&field("Id"), WritePurpose::Update));
        assert!(!is_writable(&field("Age_Days__c"), WritePurpose::Create));
        let formula_marked_writable = FieldDescriptor { createable: true, updateable: true, ..field("Age_Days__c") };
        assert!(!is_writable(&formula_marked_writable, WritePurpose::Update));
    }
}
