//! Create Lead (C4, D5): a platform person with an email becomes a Lead,
//! with the `to-salesforce` mappings of Lead, the person's name and company,
//! a placeholder in each required field nothing fills, and (with "maintain
//! ownership") the platform owner's Salesforce user as owner. The person is
//! linked to the Lead, so the two-way sync keeps it up to date afterwards.

use serde_json::{Map, Value, json};

use super::salesforce::{NewRecord, ObjectInfo, create_all, created_since, describe, ids, user_by_email};
use super::{CrmError, Ctx, PLACEHOLDER, SavedRecord};
use crate::capabilities::Capabilities;
use crate::catalog;
use crate::mapping::{WritePurpose, attributes_to_record};
use crate::model::{Attribute, DescribedObject, Direction, FieldType, Timestamp};
use crate::platform::{LinkedObject, Person, SalesforceLink};
use crate::salesforce::escape::soql_quoted;
use crate::salesforce::records::wire_json;
use crate::salesforce::transport::Transport;

/// The Lead fields of a person: the mapped attributes, then the email, the
/// names and the company when no mapping gave them.
pub fn lead_fields<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    info: &ObjectInfo,
    person: &Person,
) -> Result<Map<String, Value>, CrmError> {
    let catalog = catalog::from_describe(DescribedObject { object: "Lead".into(), fields: info.fields.clone() });
    let mappings: Vec<_> = ctx
        .org
        .mappings
        .iter()
        .filter(|m| m.object == "Lead" && m.direction == Direction::ToSalesforce)
        .cloned()
        .collect();
    let attributes: Vec<Attribute> = mappings
        .iter()
        .filter_map(|m| person.attribute(&m.attribute).map(|value| Attribute { name: m.attribute.clone(), value }))
        .collect();
    let mapped =
        attributes_to_record(&catalog, &attributes, &mappings, WritePurpose::Create).map_err(CrmError::Conversion)?;
    let mut fields: Map<String, Value> = mapped.iter().map(|f| (f.name.clone(), wire_json(&f.value))).collect();
    let customer = super::contacts::customer(person);
    let mut fill = |name: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.trim().is_empty())
            && fields.get(name).is_none_or(Value::is_null)
        {
            fields.insert(name.to_string(), json!(value));
        }
    };
    fill("Email", person.email.clone());
    fill("FirstName", customer.first_name.clone());
    fill("LastName", customer.last_name.clone());
    if let Some(company) = person.company_id.as_deref() {
        fill("Company", ctx.caps.get_company(company)?.and_then(|c| c.name));
    }
    Ok(fields)
}

/// A placeholder for each required field `fields` leaves empty: the email's
/// local part for `LastName`, the default (or first) value of a picklist,
/// [`PLACEHOLDER`] for text; the notes say which. A required field of
/// another type cannot be guessed: `required-fields-missing`.
pub fn fill_required(
    info: &ObjectInfo,
    fields: &mut Map<String, Value>,
    notes: &mut Vec<String>,
) -> Result<(), CrmError> {
    let mut cannot = Vec::new();
    for missing in info.missing(fields) {
        let Some(field) = info.field(&missing.field) else { continue };
        let placeholder = match field.field_type {
            FieldType::Picklist | FieldType::Combobox => field
                .picklist_values
                .iter()
                .filter(|v| v.active)
                .find(|v| v.is_default)
                .or_else(|| field.picklist_values.iter().find(|v| v.active))
                .map(|v| v.value.clone()),
            _ if field.name == "LastName" => fields
                .get("Email")
                .and_then(Value::as_str)
                .and_then(|email| email.split('@').next())
                .filter(|local| !local.is_empty())
                .map(str::to_string)
                .or_else(|| Some(PLACEHOLDER.to_string())),
            FieldType::String | FieldType::Textarea | FieldType::Phone | FieldType::Url => {
                Some(PLACEHOLDER.to_string())
            }
            _ => None,
        };
        match placeholder {
            Some(value) => {
                let limit = usize::try_from(field.length).unwrap_or(usize::MAX).max(1);
                let value: String = value.chars().take(limit).collect();
                notes.push(format!("{} ({}) was not provided: \"{value}\" was sent", field.label, field.name));
                fields.insert(field.name.clone(), json!(value));
            }
            None => cannot.push(missing),
        }
    }
    if cannot.is_empty() { Ok(()) } else { Err(CrmError::RequiredFieldsMissing(cannot)) }
}

/// The Salesforce user who owns a new record for a platform owner
/// (teammate) with "maintain ownership" on; none: the integration user,
/// and a note says why.
pub fn owner_for<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    teammate_id: Option<&str>,
    notes: &mut Vec<String>,
    whose: &str,
) -> Result<Option<String>, CrmError> {
    let Some(teammate_id) = teammate_id else {
        notes.push(format!("the {whose} has no owner on the platform: the integration user owns it"));
        return Ok(None);
    };
    let teammates = ctx.caps.list_teammates()?;
    let teammate = teammates.iter().find(|t| t.id == teammate_id);
    let name = teammate.map_or(teammate_id, |t| t.name.as_str()).to_string();
    let user = match teammate.and_then(|t| t.email.clone()) {
        Some(email) => user_by_email(ctx, &email)?,
        None => None,
    };
    if user.is_none() {
        notes.push(format!(
            "no active Salesforce user has the email of {name}, the {whose}'s owner: the integration user owns it"
        ));
    }
    Ok(user)
}

/// C4: create the Lead and link the person to it.
pub fn create<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    person_id: &str,
) -> Result<SavedRecord, CrmError> {
    let person = ctx.person(person_id)?;
    if person.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
        return Err(CrmError::InvalidRequest(format!(
            "the person `{person_id}` has no email, and a Lead needs one: add the email on the platform first"
        )));
    }
    match &person.salesforce {
        Some(SalesforceLink { object: LinkedObject::Lead, id }) => {
            return Ok(SavedRecord {
                object: "Lead".into(),
                id: id.clone(),
                existed: true,
                notes: vec!["the person is already linked to this Lead".into()],
            });
        }
        Some(SalesforceLink { object: LinkedObject::Contact, id }) => {
            return Err(CrmError::InvalidRequest(format!(
                "the person `{person_id}` is linked to the Contact {id}; unlink it first to make a Lead"
            )));
        }
        None => {}
    }
    let info = describe(ctx, "Lead")?;
    info.check_createable()?;
    let mut fields = lead_fields(ctx, &info, &person)?;
    let mut notes = Vec::new();
    fill_required(&info, &mut fields, &mut notes)?;
    if ctx.org.crm.maintain_ownership
        && let Some(owner) = owner_for(ctx, person.owner_id.as_deref(), &mut notes, "person")?
    {
        fields.insert("OwnerId".into(), json!(owner));
    }
    let id = create_all(ctx, &[NewRecord { object: "Lead", fields }])?.remove(0);
    link(ctx, &person.id, &id)?;
    Ok(SavedRecord::created("Lead", id, notes))
}

fn link<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    person_id: &str,
    lead_id: &str,
) -> Result<(), CrmError> {
    let link = SalesforceLink { object: LinkedObject::Lead, id: lead_id.to_string() };
    Ok(ctx.caps.link_person(person_id, Some(&link))?)
}

/// The Lead an earlier attempt created for the person (by email), linked now.
pub fn look_up<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    person_id: &str,
    since: Timestamp,
) -> Result<Option<Vec<SavedRecord>>, CrmError> {
    let person = ctx.person(person_id)?;
    let Some(email) = person.email.as_deref() else { return Ok(None) };
    let found = created_since(ctx, "Lead", &format!("Email = {}", soql_quoted(email)), since)?;
    let Some(id) = ids(&found).into_iter().next() else { return Ok(None) };
    link(ctx, person_id, &id)?;
    Ok(Some(vec![SavedRecord::created("Lead", id, vec![])]))
}
