//! The field catalog of one object: which described fields are synced (A5).
//!
//! ```
//! use casebridge_guest::catalog::{self, CatalogProblem};
//! use casebridge_guest::salesforce::describe::parse_describe;
//!
//! let described = parse_describe(r#"{"name":"Case","fields":[
//!     {"name":"Id","type":"id"}, {"name":"Priority","type":"picklist"}]}"#).unwrap();
//! let case = catalog::from_describe(described);
//! let case = catalog::remove_field(case, "Priority").unwrap();
//! assert_eq!(case.synced_fields().count(), 1);
//! let refused = catalog::remove_field(case, "Id").unwrap_err();
//! assert_eq!(refused.problem, CatalogProblem::Locked);
//! ```
//!
//! A catalog starts with every described field synced. System fields (see
//! [`SYSTEM_FIELDS`]) are locked: always synced, never removable. Any other
//! field can be removed and added back. Field and object names match
//! ASCII case-insensitively, as Salesforce's API names do.

use thiserror::Error;

use crate::model::{CatalogField, DescribedObject, FieldDescriptor, FieldKind, FieldType, ObjectCatalog};
use crate::salesforce::describe::DescribeError;

/// Matches every object in [`SYSTEM_FIELDS`].
const ANY_OBJECT: &str = "*";

/// A field that is always synced and cannot be removed (A5).
struct SystemField {
    /// The object, or [`ANY_OBJECT`].
    object: &'static str,
    /// The field's API name.
    field: &'static str,
}

const fn system(object: &'static str, field: &'static str) -> SystemField {
    SystemField { object, field }
}

/// The system fields. Besides these, a field is system when its type is `id`
/// or describe marks it as the object's name field (`nameField`, e.g. Case's
/// `CaseNumber`).
const SYSTEM_FIELDS: &[SystemField] = &[
    // Identity and audit fields of every object: the record's Id and name,
    // who created and changed it and when (the watermark reads SystemModstamp),
    // whether it is deleted, and who owns it (hand-off sets OwnerId, A8).
    system(ANY_OBJECT, "Id"),
    system(ANY_OBJECT, "Name"),
    system(ANY_OBJECT, "CreatedDate"),
    system(ANY_OBJECT, "CreatedById"),
    system(ANY_OBJECT, "LastModifiedDate"),
    system(ANY_OBJECT, "LastModifiedById"),
    system(ANY_OBJECT, "SystemModstamp"),
    system(ANY_OBJECT, "IsDeleted"),
    system(ANY_OBJECT, "OwnerId"),
    // Case: what the conversation is built from (A4, A7) — its number, text,
    // state, channel (email-origin cases are answered by email), and the
    // contact, account and web-form sender it belongs to.
    system("Case", "CaseNumber"),
    system("Case", "Subject"),
    system("Case", "Description"),
    system("Case", "Status"),
    system("Case", "Origin"),
    system("Case", "ContactId"),
    system("Case", "AccountId"),
    system("Case", "SuppliedEmail"),
    system("Case", "SuppliedName"),
    // Contact: who the customer is, for matching and linking (D1, D2).
    system("Contact", "FirstName"),
    system("Contact", "LastName"),
    system("Contact", "Email"),
    system("Contact", "AccountId"),
    // Account: the company.
    system("Account", "Name"),
    // Lead: who the lead is; a Lead cannot be created without LastName and
    // Company, and is matched by Email (C1, C4).
    system("Lead", "FirstName"),
    system("Lead", "LastName"),
    system("Lead", "Email"),
    system("Lead", "Company"),
];

/// Whether a field is system, standard or custom (see the module docs).
pub fn field_kind(object: &str, field: &FieldDescriptor) -> FieldKind {
    let listed = SYSTEM_FIELDS.iter().any(|system| {
        (system.object == ANY_OBJECT || system.object.eq_ignore_ascii_case(object))
            && system.field.eq_ignore_ascii_case(&field.name)
    });
    if listed || field.name_field || field.field_type == FieldType::Id {
        FieldKind::System
    } else if field.custom || field.name.to_ascii_lowercase().ends_with("__c") {
        FieldKind::Custom
    } else {
        FieldKind::Standard
    }
}

/// What went wrong with a catalog change; mirrors the WIT `catalog-problem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogProblem {
    /// No such field in the object's describe result.
    UnknownField,
    /// System fields are always synced and cannot be removed.
    Locked,
    /// Re-sync works on list fields only (picklist, multi-select, combobox).
    NotAListField,
    /// The describe JSON could not be read.
    MalformedDescribe,
}

/// A catalog change that was refused; mirrors the WIT `catalog-error`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct CatalogError {
    /// The object.
    pub object: String,
    /// The field, empty when the problem is the describe result.
    pub field: String,
    pub problem: CatalogProblem,
    /// A sentence for people: what is wrong and what to do.
    pub message: String,
}

impl CatalogError {
    fn unknown_field(object: &str, field: &str) -> Self {
        CatalogError {
            object: object.to_string(),
            field: field.to_string(),
            problem: CatalogProblem::UnknownField,
            message: format!(
                "{object} has no field `{field}` in its describe result; check the API name \
                 (custom fields end in __c) or refresh the catalog if the field is new"
            ),
        }
    }
}

impl From<DescribeError> for CatalogError {
    fn from(error: DescribeError) -> Self {
        CatalogError {
            object: error.object().to_string(),
            field: error.field().to_string(),
            problem: CatalogProblem::MalformedDescribe,
            message: error.to_string(),
        }
    }
}

impl ObjectCatalog {
    /// The field named `name` (ASCII case-insensitive), synced or not.
    pub fn field(&self, name: &str) -> Option<&CatalogField> {
        self.fields.iter().find(|f| f.descriptor.name.eq_ignore_ascii_case(name))
    }

    /// The fields synced now, in describe order.
    pub fn synced_fields(&self) -> impl Iterator<Item = &CatalogField> + '_ {
        self.fields.iter().filter(|f| f.synced)
    }

    fn field_mut(&mut self, name: &str) -> Result<&mut CatalogField, CatalogError> {
        let object = self.object.clone();
        self.fields
            .iter_mut()
            .find(|f| f.descriptor.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| CatalogError::unknown_field(&object, name))
    }
}

/// A new catalog in which every described field is synced.
pub fn from_describe(described: DescribedObject) -> ObjectCatalog {
    let object = described.object;
    let fields = described
        .fields
        .into_iter()
        .map(|descriptor| CatalogField { kind: field_kind(&object, &descriptor), descriptor, synced: true })
        .collect();
    ObjectCatalog { object, fields }
}

/// Sync `field` again (or for the first time); adding a synced field changes nothing.
pub fn add_field(mut catalog: ObjectCatalog, field: &str) -> Result<ObjectCatalog, CatalogError> {
    catalog.field_mut(field)?.synced = true;
    Ok(catalog)
}

/// Stop syncing `field`; refused for system fields.
pub fn remove_field(mut catalog: ObjectCatalog, field: &str) -> Result<ObjectCatalog, CatalogError> {
    let object = catalog.object.clone();
    let entry = catalog.field_mut(field)?;
    if entry.kind == FieldKind::System {
        return Err(CatalogError {
            object: object.clone(),
            field: entry.descriptor.name.clone(),
            problem: CatalogProblem::Locked,
            message: format!(
                "{object}.{} is a system field: the connector needs it, so it is always synced \
                 and cannot be removed",
                entry.descriptor.name
            ),
        });
    }
    entry.synced = false;
    Ok(catalog)
}

/// Replace a list field's descriptor, and so its allowed values, with `fresh`
/// from a new describe of it. Refused unless both the catalog's field and
/// `fresh` are list fields; whether it is synced does not change.
pub fn resync_list_field(mut catalog: ObjectCatalog, fresh: FieldDescriptor) -> Result<ObjectCatalog, CatalogError> {
    let object = catalog.object.clone();
    let entry = catalog.field_mut(&fresh.name)?;
    let not_a_list = [entry.descriptor.field_type, fresh.field_type].into_iter().find(|t| !t.is_list());
    if let Some(field_type) = not_a_list {
        return Err(CatalogError {
            object: object.clone(),
            field: entry.descriptor.name.clone(),
            problem: CatalogProblem::NotAListField,
            message: format!(
                "{object}.{} is a {} field; only list fields (picklist, multi-select picklist, \
                 combobox) can be re-synced — other fields are refreshed with the catalog",
                entry.descriptor.name,
                field_type.api_name()
            ),
        });
    }
    entry.kind = field_kind(&object, &fresh);
    entry.descriptor = fresh;
    Ok(catalog)
}

/// Merge a fresh describe into a catalog: fields keep their synced state and
/// take the fresh descriptor; new fields are added synced; vanished fields are
/// dropped. A field the admin removed stays removed unless it is (now) a
/// system field. The catalog keeps its object name and takes describe order.
pub fn refresh(catalog: ObjectCatalog, described: DescribedObject) -> ObjectCatalog {
    let fields = described
        .fields
        .into_iter()
        .map(|descriptor| {
            let kind = field_kind(&catalog.object, &descriptor);
            let was_synced = catalog.field(&descriptor.name).is_none_or(|f| f.synced);
            CatalogField { synced: was_synced || kind == FieldKind::System, kind, descriptor }
        })
        .collect();
    ObjectCatalog { object: catalog.object, fields }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PicklistEntry;
    use crate::salesforce::describe::parse_describe;

    const CASE_DESCRIBE: &str = include_str!("../tests/fixtures/case_describe.json");

    fn case_catalog() -> ObjectCatalog {
        from_describe(parse_describe(CASE_DESCRIBE).unwrap())
    }

    fn descriptor(name: &str, field_type: FieldType) -> FieldDescriptor {
        FieldDescriptor {
            name: name.into(),
            label: name.into(),
            field_type,
            length: 255,
            precision: 0,
            scale: 0,
            custom: name.ends_with("__c"),
            nillable: true,
            createable: true,
            defaulted_on_create: false,
            updateable: true,
            calculated: false,
            name_field: false,
            restricted_picklist: false,
            picklist_values: vec![],
            reference_to: vec![],
            relationship_name: None,
        }
    }

    fn entry(value: &str, active: bool) -> PicklistEntry {
        PicklistEntry { value: value.into(), label: value.into(), active, is_default: false }
    }

    fn kind(catalog: &ObjectCatalog, name: &str) -> FieldKind {
        catalog.field(name).map(|f| f.kind).unwrap()
    }

    fn synced(catalog: &ObjectCatalog, name: &str) -> bool {
        catalog.field(name).map(|f| f.synced).unwrap()
    }

    #[test]
    fn new_catalog_syncs_every_described_field() {
        let case = case_catalog();
        assert_eq!(case.object, "Case");
        assert_eq!(case.fields.len(), 42);
        assert_eq!(case.synced_fields().count(), 42);
    }

    #[test]
    fn id_name_audit_and_connector_fields_are_system() {
        let case = case_catalog();
        for name in [
            "Id",
            "CaseNumber",
            "Subject",
            "Description",
            "Status",
            "Origin",
            "ContactId",
            "AccountId",
            "SuppliedEmail",
            "SuppliedName",
            "OwnerId",
            "CreatedDate",
            "CreatedById",
            "LastModifiedDate",
            "LastModifiedById",
            "SystemModstamp",
            "IsDeleted",
        ] {
            assert_eq!(kind(&case, name), FieldKind::System, "{name}");
        }
        for name in ["Priority", "Type", "Reason", "SuppliedPhone", "ParentId", "IsEscalated"] {
            assert_eq!(kind(&case, name), FieldKind::Standard, "{name}");
        }
        for name in ["FinInvolved__c", "Refund_Amount__c", "Site_Location__Latitude__s"] {
            assert_eq!(kind(&case, name), FieldKind::Custom, "{name}");
        }
    }

    #[test]
    fn system_fields_depend_on_the_object() {
        let email = descriptor("Email", FieldType::Email);
        assert_eq!(field_kind("Contact", &email), FieldKind::System);
        assert_eq!(field_kind("contact", &email), FieldKind::System);
        assert_eq!(field_kind("Lead", &email), FieldKind::System);
        assert_eq!(field_kind("Case", &email), FieldKind::Standard);
        assert_eq!(field_kind("Account", &descriptor("Name", FieldType::String)), FieldKind::System);
        assert_eq!(field_kind("Account", &descriptor("Industry", FieldType::Picklist)), FieldKind::Standard);
        let named = FieldDescriptor { name_field: true, ..descriptor("Title__c", FieldType::String) };
        assert_eq!(field_kind("Thing__c", &named), FieldKind::System);
        let unflagged_custom = FieldDescriptor { custom: false, ..descriptor("Tier__c", FieldType::String) };
        assert_eq!(field_kind("Account", &unflagged_custom), FieldKind::Custom);
    }

    #[test]
    fn custom_and_standard_fields_can_be_removed_and_added_back() {
        let case = remove_field(case_catalog(), "Refund_Amount__c").unwrap();
        let case = remove_field(case, "priority").unwrap();
        assert!(!synced(&case, "Refund_Amount__c") && !synced(&case, "Priority"));
        assert_eq!(case.synced_fields().count(), 40);
        assert!(case.synced_fields().all(|f| f.descriptor.name != "Priority"));
        let case = add_field(case, "Refund_Amount__c").unwrap();
        assert!(synced(&case, "Refund_Amount__c"));
        let again = add_field(case.clone(), "Refund_Amount__c").unwrap();
        assert_eq!(again, case, "adding a synced field changes nothing");
    }

    #[test]
    fn system_fields_are_locked() {
        for name in ["Id", "CaseNumber", "Status", "SystemModstamp", "ownerid"] {
            let err = remove_field(case_catalog(), name).unwrap_err();
            assert_eq!(err.problem, CatalogProblem::Locked, "{name}");
            assert_eq!(err.object, "Case");
            assert!(err.message.contains("always synced"), "{}", err.message);
        }
        assert_eq!(remove_field(case_catalog(), "Status").unwrap_err().field, "Status");
    }

    #[test]
    fn unknown_fields_are_refused_with_a_hint() {
        for result in [add_field(case_catalog(), "Nope__c"), remove_field(case_catalog(), "Nope__c")] {
            let err = result.unwrap_err();
            assert_eq!(err.problem, CatalogProblem::UnknownField);
            assert_eq!((err.object.as_str(), err.field.as_str()), ("Case", "Nope__c"));
            assert!(err.to_string().contains("refresh the catalog"), "{err}");
        }
        let fresh = descriptor("Nope__c", FieldType::Picklist);
        assert_eq!(resync_list_field(case_catalog(), fresh).unwrap_err().problem, CatalogProblem::UnknownField);
    }

    #[test]
    fn resync_replaces_a_list_fields_values() {
        let case = remove_field(case_catalog(), "Priority").unwrap();
        let mut fresh = case.field("Priority").unwrap().descriptor.clone();
        fresh.picklist_values = vec![entry("P1", true), entry("P2", true), entry("High", false)];
        fresh.restricted_picklist = true;
        let case = resync_list_field(case, fresh.clone()).unwrap();
        let priority = case.field("Priority").unwrap();
        assert_eq!(priority.descriptor, fresh);
        assert!(!priority.synced, "re-sync does not change whether the field is synced");
        for name in ["Products__c", "Channel__c"] {
            let fresh = case.field(name).unwrap().descriptor.clone();
            assert!(resync_list_field(case.clone(), fresh).is_ok(), "{name}");
        }
    }

    #[test]
    fn resync_refuses_fields_that_are_not_lists() {
        let case = case_catalog();
        let subject = case.field("Subject").unwrap().descriptor.clone();
        let err = resync_list_field(case.clone(), subject).unwrap_err();
        assert_eq!(err.problem, CatalogProblem::NotAListField);
        assert!(err.message.contains("string field"), "{}", err.message);
        // A list field that turned into text in Salesforce needs a refresh, not a re-sync.
        let became_text =
            FieldDescriptor { field_type: FieldType::String, ..case.field("Priority").unwrap().descriptor.clone() };
        assert_eq!(resync_list_field(case, became_text).unwrap_err().problem, CatalogProblem::NotAListField);
    }

    #[test]
    fn refresh_adds_new_drops_vanished_and_keeps_removals() {
        let case = remove_field(case_catalog(), "Priority").unwrap();
        let case = remove_field(case, "Refund_Amount__c").unwrap();
        let mut described = parse_describe(CASE_DESCRIBE).unwrap();
        described.fields.retain(|f| f.name != "Reason" && f.name != "Refund_Amount__c");
        described.fields.push(descriptor("NPS__c", FieldType::Double));
        if let Some(subject) = described.fields.iter_mut().find(|f| f.name == "Subject") {
            subject.length = 300;
        }
        let refreshed = refresh(case, described);
        assert!(refreshed.field("Reason").is_none() && refreshed.field("Refund_Amount__c").is_none());
        assert!(synced(&refreshed, "NPS__c"));
        assert_eq!(kind(&refreshed, "NPS__c"), FieldKind::Custom);
        assert!(!synced(&refreshed, "Priority"), "the admin's removal is kept");
        assert_eq!(refreshed.field("Subject").unwrap().descriptor.length, 300);
        assert_eq!(refreshed.fields.last().map(|f| f.descriptor.name.as_str()), Some("NPS__c"));
    }

    #[test]
    fn refresh_keeps_a_removal_when_the_field_reappears_in_other_case() {
        let case = remove_field(case_catalog(), "Priority").unwrap();
        let mut described = parse_describe(CASE_DESCRIBE).unwrap();
        if let Some(p) = described.fields.iter_mut().find(|f| f.name == "Priority") {
            p.name = "PRIORITY".into();
        }
        assert!(!synced(&refresh(case, described), "Priority"));
    }

    #[test]
    fn refresh_syncs_a_removed_field_that_became_system() {
        let contact = from_describe(DescribedObject {
            object: "Contact".into(),
            fields: vec![descriptor("Id", FieldType::Id), descriptor("Nickname__c", FieldType::String)],
        });
        let contact = remove_field(contact, "Nickname__c").unwrap();
        let renamed_name_field = FieldDescriptor { name_field: true, ..descriptor("Nickname__c", FieldType::String) };
        let refreshed = refresh(
            contact,
            DescribedObject {
                object: "Contact".into(),
                fields: vec![descriptor("Id", FieldType::Id), renamed_name_field],
            },
        );
        assert!(synced(&refreshed, "Nickname__c"));
        assert_eq!(kind(&refreshed, "Nickname__c"), FieldKind::System);
    }

    #[test]
    fn malformed_describe_becomes_a_catalog_error() {
        let err = CatalogError::from(parse_describe(r#"{"name":"Case"}"#).unwrap_err());
        assert_eq!(err.problem, CatalogProblem::MalformedDescribe);
        assert_eq!((err.object.as_str(), err.field.as_str()), ("Case", ""));
        assert!(err.message.contains("`fields`"), "{}", err.message);
    }

    #[test]
    fn field_lookup_ignores_case() {
        let case = case_catalog();
        assert_eq!(case.field("casenumber").map(|f| f.descriptor.name.as_str()), Some("CaseNumber"));
        assert!(case.field("Missing").is_none());
    }
}
