//! Cases from platform conversations: manual (C9, D5) and automatic (C5).
//!
//! A case needs the integration user's Create on Case (describe) and the
//! person linked to a Contact; the error says which check failed. Its
//! fields: the conversation attributes mapped to Case fields, then the
//! fields given by name, the subject, the transcript in `Description`, the
//! record type (configured, else the user's default). Every field Salesforce
//! requires must be filled, or the missing ones are listed by label. After
//! the create, a note with the case's link goes on the conversation.
//!
//! An automatic case of a person with no link is linked first when
//! `link-contacts-automatically` is on (D2): one match is linked; none, a
//! Contact is created in the same composite request as the case; several,
//! the case is created without a Contact and flagged with them (D4). When
//! the conversation closes, the mapped fields and the transcript are written
//! again; the case's Status never is.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::contacts::{self, FlaggedCase};
use super::salesforce::{NewRecord, ObjectInfo, create_all, created_since, describe, ids, record_url, update_all};
use super::{CrmError, Ctx, SavedRecord};
use crate::capabilities::{Capabilities, LogLevel};
use crate::catalog;
use crate::convert::{self, ConversionError, ConversionProblem};
use crate::cycle::state::{Batch, StateView};
use crate::mapping::{WritePurpose, attributes_to_record};
use crate::model::{Attribute, AuthorRole, DescribedObject, Direction, Outcome, RankedCandidate, Timestamp};
use crate::platform::{Channel, LinkedObject, PlatformConversation, SalesforceLink};
use crate::salesforce::escape::soql_quoted;
use crate::salesforce::records::wire_json;
use crate::salesforce::transport::Transport;

const CASE_OF_PREFIX: &str = "crm/case-of/";
/// The most characters of a transcript (`Case.Description` holds 32,000).
pub const TRANSCRIPT_MAX_CHARS: usize = 32_000;

/// The case created automatically for a conversation (C5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseOf {
    pub case_id: String,
}

pub fn case_of_key(conversation_id: &str) -> String {
    format!("{CASE_OF_PREFIX}{conversation_id}")
}

/// The conversation as plain text, oldest first: each message and note with
/// who wrote it and when (UTC), cut to `max_chars`.
pub fn transcript(conversation: &PlatformConversation, max_chars: usize) -> String {
    let mut lines: Vec<(Timestamp, String)> =
        conversation
            .parts
            .iter()
            .map(|part| {
                let who = part.author_name.clone().unwrap_or_else(|| {
                    match part.author {
                        AuthorRole::Customer => "Customer",
                        AuthorRole::Agent => "AI agent",
                        AuthorRole::Teammate => "Teammate",
                        AuthorRole::System => "System",
                    }
                    .to_string()
                });
                (part.created_at, format!("[{}] {who}: {}", stamp(part.created_at), part.text.trim()))
            })
            .chain(conversation.notes.iter().map(|note| {
                (note.created_at, format!("[{}] Internal note: {}", stamp(note.created_at), note.text.trim()))
            }))
            .collect();
    lines.sort_by_key(|(at, _)| *at);
    let text = format!(
        "Conversation {} on the support platform\n\n{}",
        conversation.id,
        lines.into_iter().map(|(_, line)| line).collect::<Vec<_>>().join("\n")
    );
    if text.chars().count() <= max_chars {
        return text;
    }
    let cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{cut}…")
}

fn stamp(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(at).map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// The case fields of a conversation: mapped attributes, then `given`
/// (attributes named by Case field API names) on top.
fn case_fields(
    ctx_mappings: &[crate::model::FieldMapping],
    info: &ObjectInfo,
    conversation: &PlatformConversation,
    given: &[Attribute],
) -> Result<Map<String, Value>, CrmError> {
    let catalog = catalog::from_describe(DescribedObject { object: "Case".into(), fields: info.fields.clone() });
    let mappings: Vec<_> =
        ctx_mappings.iter().filter(|m| m.object == "Case" && m.direction == Direction::ToSalesforce).cloned().collect();
    let attributes: Vec<Attribute> =
        conversation.attributes.iter().map(|a| Attribute { name: a.name.clone(), value: a.value.clone() }).collect();
    let mut errors = Vec::new();
    let mut fields: Map<String, Value> =
        match attributes_to_record(&catalog, &attributes, &mappings, WritePurpose::Create) {
            Ok(mapped) => mapped.iter().map(|f| (f.name.clone(), wire_json(&f.value))).collect(),
            Err(problems) => {
                errors.extend(problems);
                Map::new()
            }
        };
    for attribute in given {
        let Some(field) = info.field(&attribute.name) else {
            errors.push(ConversionError::new(
                "Case",
                &attribute.name,
                &convert::attribute_text(&attribute.value),
                ConversionProblem::UnknownField,
            ));
            continue;
        };
        match convert::to_wire("Case", field, &attribute.value) {
            Ok(value) => {
                fields.insert(field.name.clone(), wire_json(&value));
            }
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() { Ok(fields) } else { Err(CrmError::Conversion(errors)) }
}

/// Whose Contact the case gets: the linked one, one found or created now
/// (automatic cases with D2 on), or none with suggestions (D4).
enum ContactFor {
    Linked(String),
    /// No Contact matched: create this one with the case.
    Create(Map<String, Value>),
    Suggested(Vec<RankedCandidate>),
}

fn contact_for<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    person_id: &str,
    automatic: bool,
    notes: &mut Vec<String>,
) -> Result<ContactFor, CrmError> {
    let person = ctx.person(person_id)?;
    match &person.salesforce {
        Some(SalesforceLink { object: LinkedObject::Contact, id }) => return Ok(ContactFor::Linked(id.clone())),
        Some(SalesforceLink { object: LinkedObject::Lead, id }) => {
            return Err(CrmError::InvalidRequest(format!(
                "the person `{person_id}` is linked to the Lead {id}, not a Contact: a case needs a Contact \
                 (convert the Lead in Salesforce, or escalate as a Lead instead)"
            )));
        }
        None => {}
    }
    if !(automatic && ctx.org.crm.link_contacts_automatically) {
        return Err(CrmError::InvalidRequest(format!(
            "the person `{person_id}` is not linked to a Salesforce Contact: search and link one, or create one, first"
        )));
    }
    Ok(match contacts::find(ctx, person_id, None)? {
        Outcome::Link(found) => {
            contacts::link(ctx, person_id, Some(&found.candidate.id))?;
            notes.push(format!("the person was linked to the Contact {} it matched", found.candidate.id));
            ContactFor::Linked(found.candidate.id)
        }
        Outcome::Create(fields) => {
            notes.push("no Contact matched the person: one was created with the case".into());
            let mut record: Map<String, Value> = fields.iter().map(|f| (f.name.clone(), wire_json(&f.value))).collect();
            if let Some(account) = person
                .company_id
                .as_deref()
                .and_then(|c| ctx.caps.get_company(c).ok().flatten())
                .and_then(|c| c.account_id)
            {
                record.insert("AccountId".into(), json!(account));
            }
            ContactFor::Create(record)
        }
        Outcome::Suggest(candidates) => {
            notes.push(format!(
                "{} Contacts might be the person: the case was created without one and flagged",
                candidates.len()
            ));
            ContactFor::Suggested(candidates)
        }
    })
}

/// Create the case of a conversation.
pub fn create<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    key: &str,
    conversation_id: &str,
    given: &[Attribute],
    automatic: bool,
) -> Result<SavedRecord, CrmError> {
    let conversation = ctx.conversation(conversation_id)?;
    if conversation.channel == Channel::SalesforceCase {
        return Err(CrmError::InvalidRequest(format!(
            "the conversation `{conversation_id}` is the Salesforce case {} already",
            conversation.case_id.as_deref().unwrap_or("?")
        )));
    }
    let info = describe(ctx, "Case")?;
    info.check_createable()?;
    let person_id = conversation.person_id.clone().ok_or_else(|| {
        CrmError::InvalidRequest(format!(
            "the conversation `{conversation_id}` has no person, and a case needs one linked to a Contact"
        ))
    })?;
    let mut notes = Vec::new();
    let contact = contact_for(ctx, &person_id, automatic, &mut notes)?;
    let mut fields = case_fields(&ctx.org.mappings, &info, &conversation, given)?;
    if let Some(subject) = conversation.subject.as_deref().filter(|s| !s.trim().is_empty()) {
        fields.entry("Subject").or_insert_with(|| json!(subject.chars().take(255).collect::<String>()));
    }
    fields.entry("Description").or_insert_with(|| json!(transcript(&conversation, TRANSCRIPT_MAX_CHARS)));
    if let Some(record_type) = info.record_type(ctx.org.crm.case_record_type.as_deref())? {
        fields.insert("RecordTypeId".into(), json!(record_type));
    }
    let mut records = Vec::new();
    match &contact {
        ContactFor::Linked(id) => {
            fields.insert("ContactId".into(), json!(id));
        }
        ContactFor::Create(contact) => {
            records.push(NewRecord { object: "Contact", fields: contact.clone() });
            fields.insert("ContactId".into(), json!("@{r0.id}"));
        }
        ContactFor::Suggested(_) => {}
    }
    let missing = info.missing(&fields);
    if !missing.is_empty() {
        return Err(CrmError::RequiredFieldsMissing(missing));
    }
    records.push(NewRecord { object: "Case", fields });
    let mut created = create_all(ctx, &records)?;
    let case_id = created.pop().unwrap_or_default();
    if let (ContactFor::Create(_), Some(contact_id)) = (&contact, created.first()) {
        let link = SalesforceLink { object: LinkedObject::Contact, id: contact_id.clone() };
        ctx.caps.link_person(&person_id, Some(&link))?;
    }
    let mut view = StateView::default();
    let mut batch = Batch::default();
    if automatic {
        view.put(&mut batch, case_of_key(conversation_id), &CaseOf { case_id: case_id.clone() });
    }
    if let ContactFor::Suggested(suggestions) = contact {
        let flagged = FlaggedCase {
            case_id: case_id.clone(),
            conversation_id: conversation_id.to_string(),
            person_id: person_id.clone(),
            suggestions,
            flagged_at: ctx.now(),
        };
        contacts::flag(&mut view, &mut batch, &flagged);
    }
    view.commit(ctx.caps, batch)?;
    let url = record_url(ctx, "Case", &case_id);
    let note = format!("Salesforce case created: {url}");
    if let Err(error) = ctx.caps.add_note(conversation_id, &format!("case-link:{key}"), &note) {
        notes.push(format!("the note with the case's link could not be added: {error}"));
    }
    ctx.caps.log(LogLevel::Info, "created a case", &[("conversation", conversation_id), ("case", &case_id)]);
    Ok(SavedRecord::created("Case", case_id, notes))
}

/// C5: the conversation closed: its mapped fields and transcript go to the
/// case again. The Status is not written.
pub fn update_on_close<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    conversation_id: &str,
    case_id: &str,
) -> Result<(), CrmError> {
    let conversation = ctx.conversation(conversation_id)?;
    let info = describe(ctx, "Case")?;
    let mut fields = case_fields(&ctx.org.mappings, &info, &conversation, &[])?;
    fields.retain(|name, _| info.field(name).is_some_and(|f| f.updateable) && name != "Status");
    fields.insert("Description".into(), json!(transcript(&conversation, TRANSCRIPT_MAX_CHARS)));
    update_all(ctx, &[("Case", case_id.to_string(), fields)])
}

/// The case an earlier attempt created for the conversation: by the
/// person's Contact (or, with none, the subject).
pub fn look_up<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    conversation_id: &str,
    since: Timestamp,
) -> Result<Option<Vec<SavedRecord>>, CrmError> {
    let conversation = ctx.conversation(conversation_id)?;
    let contact = match conversation.person_id.as_deref() {
        Some(person) => ctx.person(person)?.salesforce.filter(|l| l.object == LinkedObject::Contact).map(|l| l.id),
        None => None,
    };
    let condition = match (contact, conversation.subject.as_deref()) {
        (Some(contact), _) => format!("ContactId = {}", soql_quoted(&contact)),
        (None, Some(subject)) => format!("Subject = {}", soql_quoted(subject)),
        (None, None) => return Ok(None),
    };
    let found = created_since(ctx, "Case", &condition, since)?;
    Ok(ids(&found).pop().map(|id| vec![SavedRecord::created("Case", id, vec![])]))
}
