//! Tasks (C7) related to opportunities (C8).
//!
//! A conversation (or one of its messages or notes) is logged as a Task on
//! the person's Contact or Lead; a person linked to nothing gets a Task on
//! every open Lead with their email, and, for a manual Task only, a new Lead
//! when there is none. The Task is owned by the Salesforce user of the
//! conversation's assignee (by email), completed when the conversation is
//! closed (a message or note is a completed Task at once), and related to the
//! Contact's Account's one open opportunity when the Contact has a role on
//! it; with several open opportunities none is related and the result says so.

use serde_json::{Map, Value, json};

use super::salesforce::{NewRecord, create_all, created_since, ids, user_by_email};
use super::{CrmError, Ctx, SavedRecord};
use crate::capabilities::Capabilities;
use crate::platform::{ConversationState, LinkedObject, PlatformConversation, SalesforceLink};
use crate::salesforce::escape::soql_quoted;
use crate::salesforce::transport::Transport;

/// `Task.Subject` holds 255 characters.
const SUBJECT_MAX_CHARS: usize = 255;
/// A snippet of a message in a subject.
const SNIPPET_CHARS: usize = 80;

fn snippet(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= SNIPPET_CHARS {
        return line;
    }
    let cut: String = line.chars().take(SNIPPET_CHARS - 1).collect();
    format!("{cut}…")
}

/// What one Task records: its subject, its comments and whether it is done.
struct Logged {
    subject: String,
    description: String,
    completed: bool,
}

fn logged(conversation: &PlatformConversation, part_id: Option<&str>) -> Result<Logged, CrmError> {
    let Some(part_id) = part_id else {
        let about = conversation
            .subject
            .clone()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| conversation.parts.first().map(|p| snippet(&p.text)))
            .unwrap_or_else(|| conversation.id.clone());
        return Ok(Logged {
            subject: format!("Conversation: {about}"),
            description: super::cases::transcript(conversation, super::cases::TRANSCRIPT_MAX_CHARS),
            completed: conversation.state == ConversationState::Closed,
        });
    };
    let (kind, text) = if let Some(part) = conversation.parts.iter().find(|p| p.id == part_id) {
        ("Message", part.text.clone())
    } else if let Some(note) = conversation.notes.iter().find(|n| n.id == part_id) {
        ("Note", note.text.clone())
    } else {
        return Err(CrmError::InvalidRequest(format!(
            "the conversation `{}` has no message or note `{part_id}`",
            conversation.id
        )));
    };
    Ok(Logged {
        subject: format!("{kind}: {}", snippet(&text)),
        description: format!(
            "{kind} from conversation {} on the support platform:\n\n{}",
            conversation.id,
            text.trim()
        ),
        completed: true,
    })
}

fn subject_of(logged: &Logged) -> String {
    logged.subject.chars().take(SUBJECT_MAX_CHARS).collect()
}

/// Who the Tasks go on: the person's link, else their open Leads by email,
/// else (manual only) a new Lead.
fn targets<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    conversation: &PlatformConversation,
    manual: bool,
    notes: &mut Vec<String>,
) -> Result<Vec<SalesforceLink>, CrmError> {
    let person_id = conversation.person_id.clone().ok_or_else(|| {
        CrmError::InvalidRequest(format!("the conversation `{}` has no person to log a Task on", conversation.id))
    })?;
    let person = ctx.person(&person_id)?;
    if let Some(link) = person.salesforce.clone() {
        return Ok(vec![link]);
    }
    if let Some(email) = person.email.as_deref().filter(|e| !e.trim().is_empty()) {
        let soql = format!(
            "SELECT Id FROM Lead WHERE Email = {} AND IsConverted = false ORDER BY CreatedDate",
            soql_quoted(email)
        );
        let leads = ids(&ctx.client.query(&soql)?);
        if leads.len() > 1 {
            notes.push(format!("{} Leads have the email {email}: a Task was logged on each", leads.len()));
        }
        if !leads.is_empty() {
            return Ok(leads.into_iter().map(|id| SalesforceLink { object: LinkedObject::Lead, id }).collect());
        }
    }
    if !manual {
        return Err(CrmError::InvalidRequest(format!(
            "the person `{person_id}` is linked to no Contact or Lead and no Lead has their email: \
             automatic Tasks go only on records that exist"
        )));
    }
    let lead = super::leads::create(ctx, &person_id)?;
    notes.push(format!("no Lead or Contact existed: the Lead {} was created for this Task", lead.id));
    notes.extend(lead.notes);
    Ok(vec![SalesforceLink { object: LinkedObject::Lead, id: lead.id }])
}

/// C8: the Contact's Account's one open opportunity on which the Contact has
/// a role; the note says why there is none.
fn opportunity<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    contact_id: &str,
    notes: &mut Vec<String>,
) -> Result<Option<String>, CrmError> {
    let soql = format!("SELECT AccountId FROM Contact WHERE Id = {}", soql_quoted(contact_id));
    let contact = ctx.client.query(&soql)?;
    let Some(account) = contact.first().and_then(|c| c.get("AccountId")).and_then(Value::as_str).map(str::to_string)
    else {
        return Ok(None);
    };
    let soql = format!(
        "SELECT Id, Name, (SELECT ContactId FROM OpportunityContactRoles) FROM Opportunity \
         WHERE AccountId = {} AND IsClosed = false",
        soql_quoted(&account)
    );
    let open = ctx.client.query(&soql)?;
    match open.as_slice() {
        [] => Ok(None),
        [one] => {
            let id = one.get("Id").and_then(Value::as_str).unwrap_or_default().to_string();
            let roles = one.pointer("/OpportunityContactRoles/records").and_then(Value::as_array);
            let has_role = roles.into_iter().flatten().any(|r| {
                r.get("ContactId").and_then(Value::as_str).is_some_and(|c| c.get(..15) == contact_id.get(..15))
            });
            if has_role {
                Ok(Some(id))
            } else {
                notes.push(format!(
                    "the Contact has no role on the account's open opportunity {id}: the Task is not related to it"
                ));
                Ok(None)
            }
        }
        several => {
            notes.push(format!(
                "the account has {} open opportunities: the Task is related to none of them",
                several.len()
            ));
            Ok(None)
        }
    }
}

/// The Salesforce user of the conversation's assignee, if any.
fn owner<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    conversation: &PlatformConversation,
    notes: &mut Vec<String>,
) -> Result<Option<String>, CrmError> {
    let Some(assignee) = conversation.assignee_id.as_deref() else { return Ok(None) };
    let teammates = ctx.caps.list_teammates()?;
    let Some(teammate) = teammates.iter().find(|t| t.id == assignee) else { return Ok(None) };
    let user = match teammate.email.as_deref() {
        Some(email) => user_by_email(ctx, email)?,
        None => None,
    };
    if user.is_none() {
        notes.push(format!(
            "no active Salesforce user has the email of {}, the assignee: the integration user owns the Task",
            teammate.name
        ));
    }
    Ok(user)
}

/// C7: log the conversation (or one part) as Tasks.
pub fn log<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    conversation_id: &str,
    part_id: Option<&str>,
) -> Result<Vec<SavedRecord>, CrmError> {
    let conversation = ctx.conversation(conversation_id)?;
    let logged = logged(&conversation, part_id)?;
    let mut notes = Vec::new();
    let targets = targets(ctx, &conversation, part_id.is_some(), &mut notes)?;
    let owner = owner(ctx, &conversation, &mut notes)?;
    let today = chrono::DateTime::from_timestamp_millis(ctx.now()).map(|t| t.format("%Y-%m-%d").to_string());
    let mut records = Vec::with_capacity(targets.len());
    for target in &targets {
        let mut fields = Map::new();
        fields.insert("WhoId".into(), json!(target.id));
        // A Task on a Lead cannot be related to anything else (WhatId).
        if target.object == LinkedObject::Contact
            && let Some(opportunity) = opportunity(ctx, &target.id, &mut notes)?
        {
            fields.insert("WhatId".into(), json!(opportunity));
        }
        fields.insert("Subject".into(), json!(subject_of(&logged)));
        fields.insert("Description".into(), json!(logged.description));
        fields.insert("Status".into(), json!(if logged.completed { "Completed" } else { "In Progress" }));
        fields.insert("Priority".into(), json!("Normal"));
        fields.insert("TaskSubtype".into(), json!("Task"));
        if let Some(today) = &today {
            fields.insert("ActivityDate".into(), json!(today));
        }
        if let Some(owner) = &owner {
            fields.insert("OwnerId".into(), json!(owner));
        }
        records.push(NewRecord { object: "Task", fields });
    }
    let created = create_all(ctx, &records)?;
    Ok(created.into_iter().map(|id| SavedRecord::created("Task", id, notes.clone())).collect())
}

/// The Tasks an earlier attempt created: same subject, by the integration user.
pub fn look_up<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    conversation_id: &str,
    part_id: Option<&str>,
    since: crate::model::Timestamp,
) -> Result<Option<Vec<SavedRecord>>, CrmError> {
    let conversation = ctx.conversation(conversation_id)?;
    let logged = logged(&conversation, part_id)?;
    let found = created_since(ctx, "Task", &format!("Subject = {}", soql_quoted(&subject_of(&logged))), since)?;
    let tasks: Vec<SavedRecord> = ids(&found).into_iter().map(|id| SavedRecord::created("Task", id, vec![])).collect();
    Ok((!tasks.is_empty()).then_some(tasks))
}

/// C7: the conversation closed: its open automatic Tasks are completed, with
/// the whole transcript. A Task someone completed in Salesforce already is
/// left as it is.
pub fn complete<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    conversation_id: &str,
    task_ids: &[String],
) -> Result<Vec<SavedRecord>, CrmError> {
    if task_ids.is_empty() {
        return Ok(Vec::new());
    }
    let conversation = ctx.conversation(conversation_id)?;
    let quoted: Vec<String> = task_ids.iter().map(|id| soql_quoted(id)).collect();
    let soql = format!("SELECT Id FROM Task WHERE Id IN ({}) AND IsClosed = false", quoted.join(", "));
    let open = ids(&ctx.client.query(&soql)?);
    let description = super::cases::transcript(&conversation, super::cases::TRANSCRIPT_MAX_CHARS);
    let updates: Vec<(&'static str, String, Map<String, Value>)> = open
        .iter()
        .map(|id| {
            let fields = Map::from_iter([
                ("Status".to_string(), json!("Completed")),
                ("Description".to_string(), json!(description)),
            ]);
            ("Task", id.clone(), fields)
        })
        .collect();
    if !updates.is_empty() {
        super::salesforce::update_all(ctx, &updates)?;
    }
    Ok(open
        .into_iter()
        .map(|id| SavedRecord { object: "Task".into(), id, existed: true, notes: vec!["completed".into()] })
        .collect())
}
