//! The org's mappings checked against Salesforce's describe and the
//! platform's attribute definitions, before any value moves (C2): every
//! problem names both sides and why.

use crate::convert::value_type_of;
use crate::mapping::{Entity, entity_of};
use crate::model::{Direction, FieldMapping, ObjectCatalog};
use crate::platform::{AttributeDefinition, RecordKind, ValueType, built_in};

/// A mapping that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingProblem {
    pub mapping: FieldMapping,
    pub problem: String,
}

/// Every problem of `mappings`, in mapping order; empty when all work.
pub fn check_mappings(
    mappings: &[FieldMapping],
    catalogs: &[ObjectCatalog],
    definitions: &[AttributeDefinition],
) -> Vec<MappingProblem> {
    mappings
        .iter()
        .filter_map(|mapping| {
            check_one(mapping, catalogs, definitions)
                .err()
                .map(|problem| MappingProblem { mapping: mapping.clone(), problem })
        })
        .collect()
}

fn check_one(
    mapping: &FieldMapping,
    catalogs: &[ObjectCatalog],
    definitions: &[AttributeDefinition],
) -> Result<(), String> {
    let side = format!("{}.{}", mapping.object, mapping.field);
    let entity = match entity_of(&mapping.object) {
        Some(Entity::Person) => RecordKind::Person,
        Some(Entity::Company) => RecordKind::Company,
        Some(Entity::Conversation) => RecordKind::Conversation,
        None => {
            return Err(format!(
                "`{}` is not mapped to the platform; map Contact, Lead, Account or Case",
                mapping.object
            ));
        }
    };
    let catalog = catalogs
        .iter()
        .find(|c| c.object.eq_ignore_ascii_case(&mapping.object))
        .ok_or_else(|| format!("the org has no field catalog of `{}`", mapping.object))?;
    let field = catalog
        .field(&mapping.field)
        .ok_or_else(|| format!("`{side}` does not exist in Salesforce (describe has no such field)"))?;
    if !field.synced {
        return Err(format!(
            "`{side}` is not synced; add it with `casebridge fields add --org <org> {} {}`",
            mapping.object, field.descriptor.name
        ));
    }
    let descriptor = &field.descriptor;
    let who = match entity {
        RecordKind::Person => "person",
        RecordKind::Company => "company",
        RecordKind::Conversation => "conversation",
    };
    let (value_type, options) = match built_in(entity, &mapping.attribute) {
        Some(value_type) => (value_type, &[][..]),
        None => {
            let definition = definitions
                .iter()
                .find(|d| d.entity == entity && d.name == mapping.attribute)
                .ok_or_else(|| format!("the platform defines no {who} attribute `{}`", mapping.attribute))?;
            (definition.value_type, &definition.options[..])
        }
    };
    let attribute = format!("the {} {who} attribute `{}`", value_type.described(), mapping.attribute);
    let Some(field_type) = value_type_of(descriptor.field_type) else {
        return Err(format!("`{side}` has a type whose values vary per record; it cannot be mapped"));
    };
    let field_words = format!("`{side}`, a {} field", field_type.described());
    match mapping.direction {
        Direction::ToSalesforce => {
            if descriptor.calculated || !descriptor.updateable {
                return Err(format!("{attribute} cannot go into {field_words}: Salesforce does not let it be written"));
            }
            if !fits(value_type, field_type) {
                return Err(format!("{attribute} cannot go into {field_words}"));
            }
            if descriptor.restricted_picklist {
                let allowed: Vec<&str> =
                    descriptor.picklist_values.iter().filter(|p| p.active).map(|p| p.value.as_str()).collect();
                if options.is_empty() {
                    return Err(format!(
                        "{attribute} takes any value but {field_words} is a restricted picklist ({}); give the attribute these values as its options",
                        allowed.join(", ")
                    ));
                }
                let outside: Vec<&str> = options.iter().map(String::as_str).filter(|o| !allowed.contains(o)).collect();
                if !outside.is_empty() {
                    return Err(format!(
                        "{attribute} may be {} but the restricted picklist {field_words} allows only {}",
                        outside.join(", "),
                        allowed.join(", ")
                    ));
                }
            }
        }
        Direction::ToPlatform => {
            // A number field without decimals holds whole numbers.
            let whole = field_type == ValueType::Decimal && descriptor.scale == 0;
            if !fits(field_type, value_type) && !(whole && value_type == ValueType::Integer) {
                return Err(format!("{field_words} cannot go into {attribute}"));
            }
        }
    }
    Ok(())
}

/// Whether values of type `from` can be stored as type `to` without loss.
fn fits(from: ValueType, to: ValueType) -> bool {
    from == to || matches!((from, to), (ValueType::Integer, ValueType::Decimal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;
    use crate::platform::AttributeKind;
    use crate::salesforce::describe::parse_describe;

    fn contact() -> ObjectCatalog {
        catalog::from_describe(
            parse_describe(
                r#"{"name":"Contact","fields":[
                {"name":"Email","type":"email","length":80,"createable":true,"updateable":true,"nillable":true},
                {"name":"Seats__c","type":"double","precision":18,"scale":2,"createable":true,"updateable":true,"nillable":true,"custom":true},
                {"name":"Tier__c","type":"picklist","length":40,"createable":true,"updateable":true,"nillable":true,"custom":true,
                 "restrictedPicklist":true,"picklistValues":[{"value":"Gold","label":"Gold","active":true},{"value":"Silver","label":"Silver","active":true}]},
                {"name":"Age__c","type":"double","calculated":true,"custom":true}]}"#,
            )
            .unwrap(),
        )
    }

    fn defined(name: &str, value_type: ValueType, options: &[&str]) -> AttributeDefinition {
        AttributeDefinition {
            entity: RecordKind::Person,
            name: name.into(),
            kind: AttributeKind::Custom,
            value_type,
            options: options.iter().map(|o| o.to_string()).collect(),
        }
    }

    fn mapping(attribute: &str, field: &str, direction: Direction) -> FieldMapping {
        FieldMapping { object: "Contact".into(), field: field.into(), attribute: attribute.into(), direction }
    }

    fn problems(mappings: &[FieldMapping], definitions: &[AttributeDefinition]) -> Vec<String> {
        check_mappings(mappings, &[contact()], definitions).into_iter().map(|p| p.problem).collect()
    }

    #[test]
    fn mappings_that_fit_have_no_problem() {
        let definitions = [defined("seats", ValueType::Integer, &[]), defined("tier", ValueType::Text, &["Gold"])];
        let fine = [
            mapping("email", "Email", Direction::ToSalesforce),
            mapping("seats", "Seats__c", Direction::ToSalesforce),
            mapping("tier", "Tier__c", Direction::ToSalesforce),
        ];
        assert_eq!(problems(&fine, &definitions), Vec::<String>::new());
    }

    #[test]
    fn each_problem_names_both_sides_and_why() {
        let definitions = [
            defined("plan", ValueType::Text, &[]),
            defined("seats", ValueType::Integer, &[]),
            defined("tier", ValueType::Text, &["Gold", "Bronze"]),
        ];
        let found = problems(
            &[
                mapping("plan", "Seats__c", Direction::ToSalesforce),
                mapping("tier", "Tier__c", Direction::ToSalesforce),
                mapping("plan", "Tier__c", Direction::ToSalesforce),
                mapping("seats", "Age__c", Direction::ToSalesforce),
                mapping("seats", "Seats__c", Direction::ToPlatform),
                mapping("unknown", "Email", Direction::ToPlatform),
                mapping("plan", "Nope__c", Direction::ToPlatform),
            ],
            &definitions,
        );
        assert_eq!(found.len(), 7, "{found:#?}");
        assert!(
            found[0].contains("text person attribute `plan`")
                && found[0].contains("`Contact.Seats__c`, a decimal field"),
            "{}",
            found[0]
        );
        assert!(found[1].contains("Bronze") && found[1].contains("allows only Gold, Silver"), "{}", found[1]);
        assert!(found[2].contains("takes any value") && found[2].contains("restricted picklist"), "{}", found[2]);
        assert!(found[3].contains("does not let it be written"), "{}", found[3]);
        assert!(
            found[4].contains("decimal field cannot go into the whole-number person attribute `seats`"),
            "{}",
            found[4]
        );
        assert!(found[5].contains("defines no person attribute `unknown`"), "{}", found[5]);
        assert!(found[6].contains("`Contact.Nope__c` does not exist"), "{}", found[6]);
    }
}
