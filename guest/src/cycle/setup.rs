//! Org-level calls besides the cycle: set-up discovery (A2), the field catalog
//! (A5), the known conversations and the failed writes (C6).

use serde_json::Value;

use crate::capabilities::Capabilities;
use crate::catalog;
use crate::model::{Conversation, ObjectCatalog, OrgConfig, ResolutionState, Timestamp};
use crate::salesforce::client::SalesforceClient;
use crate::salesforce::describe::parse_describe;
use crate::salesforce::transport::Transport;

use super::outbox::Outbox;
use super::parts::text;
use super::state::{self, Batch, CaseState, StoredError};
use super::{CATALOG_OBJECTS, SyncError, with_budget};

/// A user who can own cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserChoice {
    pub id: String,
    pub name: String,
    pub username: String,
    pub email: Option<String>,
}

/// A queue that handles cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueChoice {
    pub id: String,
    pub name: String,
    pub developer_name: String,
}

/// A known conversation in brief.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSummary {
    pub case_id: String,
    pub case_number: String,
    pub subject: Option<String>,
    pub resolution: ResolutionState,
    pub parts: u32,
    pub handed_off: bool,
    pub updated_at: Timestamp,
}

/// Users who can own cases: active standard users (guests, portal and automated users cannot).
pub const ASSIGNABLE_USERS_SOQL: &str =
    "SELECT Id, Name, Username, Email FROM User WHERE IsActive = true AND UserType = 'Standard' ORDER BY Name";

/// Queues that handle cases.
pub const CASE_QUEUES_SOQL: &str = "SELECT Id, Name, DeveloperName FROM Group WHERE Type = 'Queue' AND Id IN (SELECT QueueId FROM QueueSobject WHERE SobjectType = 'Case') ORDER BY Name";

pub fn list_users<T: Transport>(
    org: &OrgConfig,
    transport: T,
    caps: &mut impl Capabilities,
) -> Result<Vec<UserChoice>, SyncError> {
    let (records, _, _) = with_budget(org, transport, caps, |client, _| Ok(client.query(ASSIGNABLE_USERS_SOQL)?))?;
    Ok(records
        .iter()
        .filter_map(|r| {
            Some(UserChoice {
                id: text(r, "Id")?,
                name: text(r, "Name").unwrap_or_default(),
                username: text(r, "Username").unwrap_or_default(),
                email: text(r, "Email"),
            })
        })
        .collect())
}

pub fn list_queues<T: Transport>(
    org: &OrgConfig,
    transport: T,
    caps: &mut impl Capabilities,
) -> Result<Vec<QueueChoice>, SyncError> {
    let (records, _, _) = with_budget(org, transport, caps, |client, _| Ok(client.query(CASE_QUEUES_SOQL)?))?;
    Ok(records
        .iter()
        .filter_map(|r| {
            Some(QueueChoice {
                id: text(r, "Id")?,
                name: text(r, "Name").unwrap_or_default(),
                developer_name: text(r, "DeveloperName").unwrap_or_default(),
            })
        })
        .collect())
}

/// A fresh catalog of `object` from describe: every field synced.
pub fn describe_catalog<T: Transport>(
    client: &mut SalesforceClient<T>,
    object: &str,
) -> Result<ObjectCatalog, SyncError> {
    let described = describe(client, object)?;
    Ok(catalog::from_describe(described))
}

fn describe<T: Transport>(
    client: &mut SalesforceClient<T>,
    object: &str,
) -> Result<crate::model::DescribedObject, SyncError> {
    let json = client.describe(object)?;
    parse_describe(&json).map_err(|e| SyncError::MalformedResponse(format!("describe of {object}: {e}")))
}

fn checked_object(object: &str) -> Result<&'static str, SyncError> {
    CATALOG_OBJECTS.iter().copied().find(|o| o.eq_ignore_ascii_case(object)).ok_or_else(|| {
        SyncError::InvalidConfig(format!("`{object}` has no field catalog; use one of {}", CATALOG_OBJECTS.join(", ")))
    })
}

/// The stored catalogs of Case, Contact and Account (read from describe when absent).
pub fn list_fields<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
) -> Result<Vec<ObjectCatalog>, SyncError> {
    let (catalogs, _, _) = with_budget(org, transport, caps, |client, caps| {
        let mut batch = Batch::default();
        let catalogs = super::catalogs(client, caps, &mut batch)?;
        batch.commit(caps)?;
        Ok(catalogs.into_values().collect())
    })?;
    Ok(catalogs)
}

/// The kinds of change an admin makes to a catalog.
pub enum FieldChange<'a> {
    Add(&'a str),
    Remove(&'a str),
    Resync(&'a str),
}

/// Apply an admin's change to an object's catalog and store it.
pub fn change_field<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
    object: &str,
    change: FieldChange,
) -> Result<ObjectCatalog, SyncError> {
    let object = checked_object(object)?;
    let invalid = |e: catalog::CatalogError| SyncError::InvalidConfig(e.to_string());
    let (catalog, _, _) = with_budget(org, transport, caps, |client, caps| {
        let mut batch = Batch::default();
        let current = super::catalogs(client, caps, &mut batch)?
            .remove(object)
            .unwrap_or_else(|| ObjectCatalog { object: object.to_string(), fields: Vec::new() });
        let updated = match change {
            FieldChange::Remove(field) => catalog::remove_field(current, field).map_err(invalid)?,
            FieldChange::Add(field) => {
                // New fields may have been created since the catalog was built.
                let refreshed = catalog::refresh(current, describe(client, object)?);
                catalog::add_field(refreshed, field).map_err(invalid)?
            }
            FieldChange::Resync(field) => {
                let fresh = describe(client, object)?
                    .fields
                    .into_iter()
                    .find(|f| f.name.eq_ignore_ascii_case(field))
                    .ok_or_else(|| SyncError::InvalidConfig(format!("{object} has no field `{field}`")))?;
                catalog::resync_list_field(current, fresh).map_err(invalid)?
            }
        };
        batch.put(state::catalog_key(object), &updated);
        batch.commit(caps)?;
        Ok(updated)
    })?;
    Ok(catalog)
}

pub fn list_conversations(caps: &mut impl Capabilities) -> Result<Vec<ConversationSummary>, SyncError> {
    Ok(state::load_all::<CaseState>(caps, "case/")?
        .into_iter()
        .map(|(_, case)| ConversationSummary {
            parts: u32::try_from(case.conversation.parts.len()).unwrap_or(u32::MAX),
            case_id: case.conversation.id,
            case_number: case.conversation.case_number,
            subject: case.conversation.subject,
            resolution: case.conversation.resolution,
            handed_off: case.handed_off,
            updated_at: case.updated_at,
        })
        .collect())
}

pub fn get_conversation(caps: &mut impl Capabilities, case_id: &str) -> Result<Option<Conversation>, SyncError> {
    Ok(state::load::<CaseState>(caps, &state::case_key(case_id))?.map(|case| case.conversation))
}

pub fn list_errors(caps: &mut impl Capabilities) -> Result<Vec<StoredError>, SyncError> {
    Ok(state::load_all::<StoredError>(caps, "error/")?.into_iter().map(|(_, e)| e).collect())
}

/// Retry a failed write: re-queue its reply or let the case update go out again
/// next cycle, and drop the error.
pub fn retry_error(caps: &mut impl Capabilities, error_id: &str) -> Result<(), SyncError> {
    let key = state::error_key(error_id);
    let Some(error) = state::load::<StoredError>(caps, &key)? else {
        return Err(SyncError::InvalidConfig(format!("there is no error `{error_id}`; `errors list` shows them")));
    };
    if let Some(outbox_key) = &error.outbox_key {
        Outbox::requeue(caps, outbox_key)?;
    }
    let mut batch = Batch::default();
    if let Some(case_id) = &error.record_id {
        if let Some(mut case) = state::load::<CaseState>(caps, &state::case_key(case_id))? {
            case.refused_update = None;
            if error.operation == "add topic" {
                case.topics_added = false;
            }
            batch.put(state::case_key(case_id), &case);
        }
    }
    batch.delete(key);
    batch.commit(caps)
}

/// A JSON value's text, for error messages.
pub fn brief(value: &Value) -> String {
    let text = value.to_string();
    text.chars().take(200).collect()
}
