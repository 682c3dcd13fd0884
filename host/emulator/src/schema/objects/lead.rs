//! Lead, and converting a lead into an account, a contact and an opportunity.
//!
//! A converted lead keeps its record, read-only: `IsConverted`,
//! `ConvertedDate` and the `Converted…Id` fields say what it became, and any
//! update fails `CANNOT_UPDATE_CONVERTED_LEAD` ("cannot reference converted
//! lead", the body simple-salesforce #341 and Gravity-Forms-Salesforce #342
//! show). Conversion follows the `convertLead()` call
//! (<https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_convertlead.htm>):
//! a new account and contact unless existing ones are named, data merged
//! into existing records only where their fields are empty, an opportunity
//! only when asked for (with the contact as its primary contact role), and
//! the lead's open activities moved to the contact.

use super::fields::{address, area, flag, lookup, of, owner, person_name, pick, text};
use serde_json::{Map, Value as Json, json};

use crate::db::{ConvertedLead, Database, LeadConversion, Record, Value, WriteContext, render_value, stamp};
use crate::error::SfError;
use crate::ids;
use crate::schema::{FieldType as T, ObjectDef, ObjectHooks};

/// The Lead object.
pub(crate) fn object() -> ObjectDef {
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
    ObjectDef::new("Lead", "Lead", "Leads", "00Q", lead_fields)
        .children(&[
            ("Tasks", "Task", "WhoId", true),
            ("Feeds", "FeedItem", "ParentId", true),
            ("TopicAssignments", "TopicAssignment", "EntityId", true),
        ])
        .searchable()
        .with_hooks(&LeadHooks)
}

/// The status a converted lead gets (the default "converted" status).
const CONVERTED_STATUS: &str = "Closed - Converted";

/// Converted leads refuse every update.
struct LeadHooks;

impl ObjectHooks for LeadHooks {
    fn check_update(&self, record: &Record) -> Result<(), SfError> {
        if record.get("IsConverted").as_bool() {
            return Err(cannot_reference_converted_lead());
        }
        Ok(())
    }
}

fn cannot_reference_converted_lead() -> SfError {
    SfError::new(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
}

/// Lead fields copied to the account a conversion creates, as Salesforce maps them.
const TO_ACCOUNT: &[(&str, &str)] = &[
    ("Company", "Name"),
    ("Phone", "Phone"),
    ("Website", "Website"),
    ("Industry", "Industry"),
    ("Street", "BillingStreet"),
    ("City", "BillingCity"),
    ("State", "BillingState"),
    ("PostalCode", "BillingPostalCode"),
    ("Country", "BillingCountry"),
];

/// Lead fields copied to the contact a conversion creates (or merged into
/// the empty fields of an existing one).
const TO_CONTACT: &[(&str, &str)] = &[
    ("FirstName", "FirstName"),
    ("LastName", "LastName"),
    ("Email", "Email"),
    ("Phone", "Phone"),
    ("MobilePhone", "MobilePhone"),
    ("Title", "Title"),
    ("LeadSource", "LeadSource"),
    ("Description", "Description"),
    ("Street", "MailingStreet"),
    ("City", "MailingCity"),
    ("State", "MailingState"),
    ("PostalCode", "MailingPostalCode"),
    ("Country", "MailingCountry"),
];

/// Converts a lead. The caller runs it in a savepoint: on an error some
/// records may have been written.
pub(crate) fn convert_lead(
    db: &mut Database,
    conversion: &LeadConversion,
    ctx: &WriteContext,
) -> Result<ConvertedLead, Vec<SfError>> {
    let one = |e: SfError| vec![e];
    let id_of = |object: &str, raw: &str, db: &Database| -> Result<String, SfError> {
        let id = ids::normalize(raw).ok_or_else(|| SfError::malformed_id(None, raw))?;
        match db.live_record(&id) {
            Some((o, r)) if o.name == object => Ok(r.id.clone()),
            _ => Err(SfError::new(400, "INVALID_CROSS_REFERENCE_KEY", format!("invalid cross reference id: {raw}"))),
        }
    };
    let lead_id = id_of("Lead", &conversion.lead_id, db).map_err(one)?;
    let (_, lead) = db.live_record(&lead_id).ok_or_else(|| vec![SfError::not_found()])?;
    if lead.get("IsConverted").as_bool() {
        return Err(vec![cannot_reference_converted_lead()]);
    }
    let lead_value = |f: &str| render_value(lead.get(f));
    // Converted records belong to a user: a lead owned by a queue goes to the converting user.
    let owner = lead.reference("OwnerId").filter(|o| o.starts_with("005")).unwrap_or(&ctx.user_id).to_string();
    let account_fields = copied(TO_ACCOUNT, &lead_value, &owner);
    let contact_fields = copied(TO_CONTACT, &lead_value, &owner);
    let company = lead_value("Company");
    let lead_source = lead_value("LeadSource");

    let contact_id = conversion.contact_id.as_deref().map(|c| id_of("Contact", c, db)).transpose().map_err(one)?;
    let mut account_id = conversion.account_id.as_deref().map(|a| id_of("Account", a, db)).transpose().map_err(one)?;
    if let Some(contact) = &contact_id {
        let contact_account = db.live_record(contact).and_then(|(_, c)| c.reference("AccountId").map(str::to_string));
        match (&account_id, contact_account) {
            (Some(given), Some(actual)) if *given != actual => {
                return Err(vec![SfError::new(
                    400,
                    "INVALID_CROSS_REFERENCE_KEY",
                    format!("contact {contact} is not associated with account {given}"),
                )]);
            }
            (None, Some(actual)) => account_id = Some(actual),
            _ => {}
        }
    }

    let account_id = match account_id {
        Some(id) => {
            merge_empty(db, "Account", &id, &account_fields, ctx)?;
            id
        }
        None => db.create("Account", &account_fields, ctx)?,
    };
    let contact_id = match contact_id {
        Some(id) => {
            let mut fields = contact_fields.clone();
            fields.insert("AccountId".into(), json!(account_id));
            merge_empty(db, "Contact", &id, &fields, ctx)?;
            id
        }
        None => {
            let mut fields = contact_fields.clone();
            fields.insert("AccountId".into(), json!(account_id));
            db.create("Contact", &fields, ctx)?
        }
    };
    let opportunity_id = match &conversion.opportunity_name {
        Some(name) => {
            let name =
                if name.trim().is_empty() { company.as_str().unwrap_or_default().to_string() } else { name.clone() };
            let fields = json!({
                "Name": name, "AccountId": account_id, "StageName": "Prospecting", "OwnerId": owner,
                "CloseDate": ctx.now.date_naive().format("%Y-%m-%d").to_string(),
                "LeadSource": lead_source,
            });
            let id = db.create("Opportunity", as_fields(&fields), ctx)?;
            let role = json!({"OpportunityId": id, "ContactId": contact_id, "IsPrimary": true});
            db.create("OpportunityContactRole", as_fields(&role), ctx)?;
            Some(id)
        }
        None => None,
    };

    let now = stamp(ctx.now);
    let mut converted = vec![
        ("IsConverted", Value::Bool(true)),
        ("ConvertedDate", Value::Date(now.date_naive())),
        ("ConvertedAccountId", Value::Text(account_id.clone())),
        ("ConvertedContactId", Value::Text(contact_id.clone())),
        ("Status", Value::Text(CONVERTED_STATUS.to_string())),
        ("LastModifiedDate", Value::DateTime(now)),
        ("LastModifiedById", Value::Text(ctx.user_id.clone())),
        ("SystemModstamp", Value::DateTime(now)),
    ];
    if let Some(opportunity) = &opportunity_id {
        converted.push(("ConvertedOpportunityId", Value::Text(opportunity.clone())));
    }
    db.change_row("Lead", &lead_id, |row| {
        for (field, value) in converted {
            row.set(field, value);
        }
    });

    // The lead's activities now belong to the contact.
    let tasks: Vec<String> = db
        .rows_referencing("Task", "WhoId", &lead_id)
        .iter()
        .filter(|t| !t.is_deleted())
        .map(|t| t.id.clone())
        .collect();
    for task in tasks {
        db.update("Task", &task, as_fields(&json!({"WhoId": contact_id})), ctx)?;
    }
    Ok(ConvertedLead { lead_id, account_id, contact_id, opportunity_id })
}

/// The lead's non-empty values under the target object's field names, with the owner.
fn copied(map: &[(&str, &str)], lead_value: &dyn Fn(&str) -> Json, owner: &str) -> Map<String, Json> {
    let mut fields: Map<String, Json> =
        map.iter().map(|(from, to)| (to.to_string(), lead_value(from))).filter(|(_, v)| !v.is_null()).collect();
    fields.insert("OwnerId".into(), json!(owner));
    fields
}

/// Writes the fields of `fields` that are empty on the existing record
/// (never its owner): conversion does not overwrite existing data.
fn merge_empty(
    db: &mut Database,
    object: &str,
    id: &str,
    fields: &Map<String, Json>,
    ctx: &WriteContext,
) -> Result<(), Vec<SfError>> {
    let Some((_, record)) = db.live_record(id) else {
        return Err(vec![SfError::not_found()]);
    };
    let empty: Map<String, Json> = fields
        .iter()
        .filter(|(name, _)| name.as_str() != "OwnerId" && record.get(name).is_null())
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    if empty.is_empty() {
        return Ok(());
    }
    db.update(object, id, &empty, ctx)
}

fn as_fields(value: &Json) -> &Map<String, Json> {
    value.as_object().expect("built as an object above")
}
