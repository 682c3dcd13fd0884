//! The CRM actions (C3–C9, D1–D5): the profile view, Leads, Cases from
//! conversations, Tasks related to opportunities, and contact links.
//!
//! Every create goes through [`ledger`]: an idempotency key's entry is
//! committed before the request and its result after, so an action retried
//! after a crash or a timeout returns the first result, and an attempt whose
//! outcome is unknown is looked up in Salesforce before anything is created
//! again. A write Salesforce refuses is kept as a sync error (C6) whose retry
//! queues the action for the next cycle.

pub mod auto;
pub mod cases;
pub mod contacts;
pub mod leads;
pub mod ledger;
pub mod profile;
pub mod salesforce;
pub mod tasks;

use serde::{Deserialize, Serialize};

use crate::capabilities::Capabilities;
use crate::convert::ConversionError;
use crate::cycle::{SyncError, with_budget};
use crate::model::{Attribute, OrgConfig, Timestamp};
use crate::platform::{Person, PlatformConversation, PlatformFailure};
use crate::salesforce::client::{ApiError, ClientError, SalesforceClient};
use crate::salesforce::transport::Transport;

/// The placeholder written into a required field nothing maps (C4).
pub const PLACEHOLDER: &str = "[not provided]";

/// When cases are created automatically (C5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseTrigger {
    ConversationCreated,
    ConversationClosed,
    Tagged(String),
    WorkflowStep(String),
}

/// The CRM actions' options (the 0.2.1 `settings`); all off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmOptions {
    pub maintain_ownership: bool,
    pub allow_duplicate_save: bool,
    pub case_record_type: Option<String>,
    pub case_triggers: Vec<CaseTrigger>,
    pub log_conversations_as_tasks: bool,
    pub link_contacts_automatically: bool,
}

/// Salesforce's duplicate rules blocked a save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicates {
    pub message: String,
    pub matched: Vec<String>,
    pub allow_save: bool,
}

/// A required field that was not given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingField {
    pub field: String,
    pub label: String,
}

/// Why a CRM action failed; mirrors the WIT `crm-error`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CrmError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("values cannot be written: {}", join(.0))]
    Conversion(Vec<ConversionError>),
    #[error("Salesforce requires fields that were not given: {}", .0.iter().map(|f| format!("{} ({})", f.label, f.field)).collect::<Vec<_>>().join(", "))]
    RequiredFieldsMissing(Vec<MissingField>),
    #[error("Salesforce's duplicate rules found {} matching record(s) ({}): {}", .0.matched.len(), .0.matched.join(", "), .0.message)]
    Duplicates(Duplicates),
    #[error("{0}")]
    Permission(String),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

fn join(errors: &[ConversionError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl From<ClientError> for CrmError {
    fn from(error: ClientError) -> Self {
        CrmError::Sync(error.into())
    }
}

impl From<PlatformFailure> for CrmError {
    fn from(error: PlatformFailure) -> Self {
        match error {
            PlatformFailure::NotFound(what) => CrmError::InvalidRequest(format!("no such platform record: {what}")),
            other => CrmError::Sync(SyncError::Host(other.to_string())),
        }
    }
}

impl CrmError {
    /// Salesforce's reason, as a sync error keeps it.
    pub fn reason(&self) -> ApiError {
        let plain = |code: &str, fields: Vec<String>| ApiError {
            status: 400,
            code: code.to_string(),
            message: self.to_string(),
            fields,
        };
        match self {
            CrmError::Sync(SyncError::Salesforce(error)) => error.clone(),
            CrmError::Sync(_) => ApiError { status: 0, code: String::new(), message: self.to_string(), fields: vec![] },
            CrmError::InvalidRequest(_) => plain("INVALID_REQUEST", vec![]),
            CrmError::Conversion(errors) => plain("INVALID_VALUE", errors.iter().map(|e| e.field.clone()).collect()),
            CrmError::RequiredFieldsMissing(missing) => {
                plain("REQUIRED_FIELD_MISSING", missing.iter().map(|f| f.field.clone()).collect())
            }
            CrmError::Duplicates(_) => plain("DUPLICATES_DETECTED", vec![]),
            CrmError::Permission(_) => plain("INSUFFICIENT_ACCESS_OR_READONLY", vec![]),
        }
    }

    /// Whether the request may already have been carried out by Salesforce
    /// (the answer was lost), so a retry must look before creating again.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            CrmError::Sync(SyncError::Transport(_) | SyncError::MalformedResponse(_)) => true,
            CrmError::Sync(SyncError::Salesforce(error)) => error.status >= 500,
            _ => false,
        }
    }
}

/// A record an action created or found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRecord {
    pub object: String,
    pub id: String,
    pub existed: bool,
    pub notes: Vec<String>,
}

impl SavedRecord {
    pub fn created(object: &str, id: String, notes: Vec<String>) -> SavedRecord {
        SavedRecord { object: object.to_string(), id, existed: false, notes }
    }
}

/// An action with its arguments: what a ledger entry re-runs on retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    CreateLead {
        person_id: String,
    },
    CreateCase {
        conversation_id: String,
        fields: Vec<Attribute>,
        automatic: bool,
    },
    LogTask {
        conversation_id: String,
        part_id: Option<String>,
    },
    LinkContact {
        person_id: String,
        contact_id: Option<String>,
    },
    /// A conversation closed (again): its automatic case and Tasks are
    /// written again (C5, C7).
    CloseConversation {
        conversation_id: String,
    },
}

impl Action {
    /// What is being done, for people (a sync error's `operation`).
    pub fn operation(&self) -> &'static str {
        match self {
            Action::CreateLead { .. } => "create lead",
            Action::CreateCase { .. } => "create case",
            Action::LogTask { .. } => "create task",
            Action::LinkContact { .. } => "create contact",
            Action::CloseConversation { .. } => "update case",
        }
    }

    /// The platform record concerned.
    pub fn record_id(&self) -> &str {
        match self {
            Action::CreateLead { person_id } | Action::LinkContact { person_id, .. } => person_id,
            Action::CreateCase { conversation_id, .. }
            | Action::LogTask { conversation_id, .. }
            | Action::CloseConversation { conversation_id } => conversation_id,
        }
    }
}

/// One action's working context: the org, a client with today's budget and
/// the host.
pub struct Ctx<'a, T: Transport, C: Capabilities> {
    pub org: &'a OrgConfig,
    pub client: &'a mut SalesforceClient<T>,
    pub caps: &'a mut C,
}

impl<T: Transport, C: Capabilities> Ctx<'_, T, C> {
    pub fn now(&self) -> Timestamp {
        self.caps.now()
    }

    /// A platform person, or a clear error naming it.
    pub fn person(&mut self, id: &str) -> Result<Person, CrmError> {
        self.caps.get_person(id)?.ok_or_else(|| CrmError::InvalidRequest(format!("there is no platform person `{id}`")))
    }

    /// A platform conversation, or a clear error naming it.
    pub fn conversation(&mut self, id: &str) -> Result<PlatformConversation, CrmError> {
        self.caps
            .get_conversation(id)?
            .ok_or_else(|| CrmError::InvalidRequest(format!("there is no platform conversation `{id}`")))
    }

    /// Run `action` once per idempotency `key` (see [`ledger`]).
    pub fn run(&mut self, key: &str, action: &Action) -> Result<Vec<SavedRecord>, CrmError> {
        ledger::run(self, key, action)
    }
}

/// Run `work` with a client on the org's budget, as every org-level call does.
pub fn with_org<T: Transport, C: Capabilities, R>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
    work: impl FnOnce(&mut Ctx<'_, T, C>) -> Result<R, CrmError>,
) -> Result<R, CrmError> {
    let mut failure = None;
    let outcome = with_budget(org, transport, caps, |client, caps| {
        let mut ctx = Ctx { org, client, caps };
        match work(&mut ctx) {
            Ok(value) => Ok(Some(value)),
            // Kept aside so that the calls spent are still counted.
            Err(CrmError::Sync(error)) => Err(error),
            Err(other) => {
                failure = Some(other);
                Ok(None)
            }
        }
    });
    match (outcome, failure) {
        (Ok((Some(value), _, _)), _) => Ok(value),
        (Ok((None, _, _)), Some(failure)) => Err(failure),
        (Ok((None, _, _)), None) => Err(CrmError::Sync(SyncError::Host("an action ended without an answer".into()))),
        (Err(error), _) => Err(CrmError::Sync(error)),
    }
}

/// The first saved record of an action that saves one.
fn one(saved: Vec<SavedRecord>) -> Result<SavedRecord, CrmError> {
    saved.into_iter().next().ok_or_else(|| CrmError::Sync(SyncError::Host("the action saved nothing".into())))
}

/// C4 / D5: create a Lead for a person.
pub fn create_lead<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
    key: &str,
    person_id: &str,
) -> Result<SavedRecord, CrmError> {
    ledger::check_key(key)?;
    with_org(org, transport, caps, |ctx| one(ctx.run(key, &Action::CreateLead { person_id: person_id.into() })?))
}

/// C9 / D5: create a Case for a conversation.
pub fn create_case<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
    key: &str,
    conversation_id: &str,
    fields: Vec<Attribute>,
) -> Result<SavedRecord, CrmError> {
    ledger::check_key(key)?;
    let action = Action::CreateCase { conversation_id: conversation_id.into(), fields, automatic: false };
    with_org(org, transport, caps, |ctx| one(ctx.run(key, &action)?))
}

/// C7 / C8: log a conversation or one of its parts as Tasks.
pub fn log_task<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
    key: &str,
    conversation_id: &str,
    part_id: Option<String>,
) -> Result<Vec<SavedRecord>, CrmError> {
    ledger::check_key(key)?;
    let action = Action::LogTask { conversation_id: conversation_id.into(), part_id };
    with_org(org, transport, caps, |ctx| ctx.run(key, &action))
}

/// D1: link a person to a Contact, or to a new one.
pub fn link_contact<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
    key: &str,
    person_id: &str,
    contact_id: Option<String>,
) -> Result<SavedRecord, CrmError> {
    ledger::check_key(key)?;
    let action = Action::LinkContact { person_id: person_id.into(), contact_id };
    with_org(org, transport, caps, |ctx| one(ctx.run(key, &action)?))
}

/// C3: the profile view of a person.
pub fn profile<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
    person_id: &str,
) -> Result<Option<profile::Profile>, CrmError> {
    with_org(org, transport, caps, |ctx| profile::profile(ctx, person_id))
}

/// D1, D2: Contacts for a person, ranked.
pub fn find_contact<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
    person_id: &str,
    typed: Option<&str>,
) -> Result<crate::model::Outcome, CrmError> {
    with_org(org, transport, caps, |ctx| contacts::find(ctx, person_id, typed))
}

/// D3: unlink a person; no Salesforce call.
pub fn unlink_contact(caps: &mut impl Capabilities, person_id: &str) -> Result<(), CrmError> {
    contacts::unlink(caps, person_id)
}

/// D4: the cases waiting for a Contact; no Salesforce call.
pub fn flagged_cases(caps: &mut impl Capabilities) -> Result<Vec<contacts::FlaggedCase>, CrmError> {
    contacts::flagged_cases(caps)
}

/// Run one action for real (the ledger calls this once it decided to).
fn perform<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    key: &str,
    action: &Action,
) -> Result<Vec<SavedRecord>, CrmError> {
    match action {
        Action::CreateLead { person_id } => leads::create(ctx, person_id).map(|saved| vec![saved]),
        Action::CreateCase { conversation_id, fields, automatic } => {
            cases::create(ctx, key, conversation_id, fields, *automatic).map(|saved| vec![saved])
        }
        Action::LogTask { conversation_id, part_id } => tasks::log(ctx, conversation_id, part_id.as_deref()),
        Action::LinkContact { person_id, contact_id } => {
            contacts::link(ctx, person_id, contact_id.as_deref()).map(|saved| vec![saved])
        }
        Action::CloseConversation { conversation_id } => close(ctx, conversation_id),
    }
}

/// C5, C7: a conversation closed: its automatic case gets the mapped fields
/// and the transcript again, and its automatic Tasks are completed.
fn close<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    conversation_id: &str,
) -> Result<Vec<SavedRecord>, CrmError> {
    let mut view = crate::cycle::state::StateView::default();
    let mut saved = Vec::new();
    let case: Option<cases::CaseOf> = view.load(ctx.caps, &cases::case_of_key(conversation_id))?;
    if let Some(case) = case {
        cases::update_on_close(ctx, conversation_id, &case.case_id)?;
        saved.push(SavedRecord {
            object: "Case".into(),
            id: case.case_id,
            existed: true,
            notes: vec!["the mapped fields and the transcript were written again; the Status was not changed".into()],
        });
    }
    let logged = ledger::saved(ctx.caps, &auto::auto_task_key(conversation_id))?;
    let task_ids: Vec<String> = logged.into_iter().filter(|r| r.object == "Task").map(|r| r.id).collect();
    saved.extend(tasks::complete(ctx, conversation_id, &task_ids)?);
    Ok(saved)
}

/// What an earlier attempt of `action` begun at `since` may have created.
fn look_up<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    action: &Action,
    since: Timestamp,
) -> Result<Option<Vec<SavedRecord>>, CrmError> {
    match action {
        Action::CreateLead { person_id } => leads::look_up(ctx, person_id, since),
        Action::CreateCase { conversation_id, .. } => cases::look_up(ctx, conversation_id, since),
        Action::LogTask { conversation_id, part_id } => tasks::look_up(ctx, conversation_id, part_id.as_deref(), since),
        Action::LinkContact { person_id, contact_id } => {
            contacts::look_up(ctx, person_id, contact_id.as_deref(), since)
        }
        // Writing the same values again changes nothing: it is simply done again.
        Action::CloseConversation { conversation_id } => close(ctx, conversation_id).map(Some),
    }
}
