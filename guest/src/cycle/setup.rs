//! Org-level calls besides the cycle: set-up discovery (A2), the field catalog
//! (A5), the known conversations and the failed writes (C6).

use serde_json::Value;

use crate::capabilities::Capabilities;
use crate::catalog;
use crate::model::{Conversation, ObjectCatalog, OrgConfig};
use crate::salesforce::client::SalesforceClient;
use crate::salesforce::describe::parse_describe;
use crate::salesforce::directory;
use crate::salesforce::transport::Transport;

use super::state::{self, Batch, CaseState, Delivery, StateView, StoredError, Summary};
use super::{CATALOG_OBJECTS, SyncError, with_budget};

pub use crate::salesforce::directory::{QueueChoice, UserChoice};

/// A known conversation in brief.
pub use super::state::Summary as ConversationSummary;

pub fn list_users<T: Transport>(
    org: &OrgConfig,
    transport: T,
    caps: &mut impl Capabilities,
) -> Result<Vec<UserChoice>, SyncError> {
    let (users, _, _) = with_budget(org, transport, caps, |client, _| Ok(directory::assignable_users(client)?))?;
    Ok(users)
}

pub fn list_queues<T: Transport>(
    org: &OrgConfig,
    transport: T,
    caps: &mut impl Capabilities,
) -> Result<Vec<QueueChoice>, SyncError> {
    let (queues, _, _) = with_budget(org, transport, caps, |client, _| Ok(directory::case_queues(client)?))?;
    Ok(queues)
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
        let catalogs = super::catalogs(client, caps, &mut StateView::default())?;
        Ok(catalogs.into_values().collect())
    })?;
    Ok(catalogs)
}

/// The org's mappings checked against the catalogs (described when absent)
/// and the platform's attribute definitions; no call when there are none.
pub fn check_mappings<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
) -> Result<Vec<crate::platform::check::MappingProblem>, SyncError> {
    if org.mappings.is_empty() {
        return Ok(Vec::new());
    }
    let catalogs = list_fields(org, transport, caps)?;
    let definitions = caps.list_attributes().map_err(|e| SyncError::Host(e.to_string()))?;
    Ok(crate::platform::check::check_mappings(&org.mappings, &catalogs, &definitions))
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
        let mut view = StateView::default();
        let current = super::catalogs(client, caps, &mut view)?
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
        let mut batch = Batch::default();
        view.put(&mut batch, state::catalog_key(object), &updated);
        view.commit(caps, batch)?;
        Ok(updated)
    })?;
    Ok(catalog)
}

/// Every known conversation in brief, from the stored summaries (a listing
/// never reads whole conversations, however many the org has).
pub fn list_conversations(caps: &mut impl Capabilities) -> Result<Vec<ConversationSummary>, SyncError> {
    let mut summaries = Vec::new();
    state::for_each_entry(caps, state::SUMMARY_PREFIX, &mut |key, text| {
        let summary: Summary = serde_json::from_str(&text)
            .map_err(|e| SyncError::Storage(format!("the stored value `{key}` cannot be read ({e})")))?;
        summaries.push(summary);
        Ok(())
    })?;
    Ok(summaries)
}

/// One conversation by case Id, in any of the Id's forms (15 characters, or
/// 18 in any letter case).
pub fn get_conversation(caps: &mut impl Capabilities, case_id: &str) -> Result<Option<Conversation>, SyncError> {
    let Some(id) = crate::salesforce::ids::canonical_id(case_id.trim()) else {
        return Err(SyncError::InvalidConfig(format!(
            "`{case_id}` is not a Salesforce case Id (15 or 18 letters and digits, like 500Ws00000AbCdE)"
        )));
    };
    Ok(StateView::default().load::<CaseState>(caps, &state::conversation_key(&id))?.map(|case| case.conversation))
}

pub fn list_errors(caps: &mut impl Capabilities) -> Result<Vec<StoredError>, SyncError> {
    Ok(StateView::default().load_all::<StoredError>(caps, state::ERROR_PREFIX)?.into_iter().map(|(_, e)| e).collect())
}

/// Retry a failed write: re-queue its reply or let the case update go out
/// again next cycle, and drop the error. Committed against what was read, so
/// a cycle running at the same time cannot undo it (nor it the cycle's work).
pub fn retry_error(caps: &mut impl Capabilities, error_id: &str) -> Result<(), SyncError> {
    let mut view = StateView::default();
    let key = state::error_key(error_id);
    let Some(error) = view.load::<StoredError>(caps, &key)? else {
        return Err(SyncError::InvalidConfig(format!("there is no error `{error_id}`; `errors list` shows them")));
    };
    let mut batch = Batch::default();
    if crate::crm::ledger::queue_retry(&mut view, caps, &mut batch, error_id)? {
        // A CRM action: run again, with its key, next cycle.
    } else if let Some(record) = crate::platform::sync::error_record(error_id) {
        // A platform record's write or match: looked at again next cycle.
        let mut retries: Vec<(crate::platform::RecordKind, String)> =
            view.load(caps, crate::platform::sync::RETRY_KEY)?.unwrap_or_default();
        if !retries.contains(&record) {
            retries.push(record);
        }
        view.put(&mut batch, crate::platform::sync::RETRY_KEY.to_string(), &retries);
    } else if let Some(case_id) = &error.record_id {
        let conversation = state::conversation_key(case_id);
        if let Some(mut case) = view.load::<CaseState>(caps, &conversation)? {
            let seq =
                error.outbox_key.as_deref().and_then(|k| k.rsplit('/').next()).and_then(|s| s.parse::<u32>().ok());
            for entry in case.outbox.iter_mut().filter(|e| Some(e.seq) == seq) {
                entry.delivery = Delivery::Queued;
            }
            case.refused_update = None;
            if error.operation == "add topic" {
                case.topics_added = false;
            }
            view.put(&mut batch, conversation, &case);
            // Back in the open set, due now.
            let mut hot: state::HotIndex = view.load(caps, state::HOT_KEY)?.unwrap_or_default();
            hot.0.insert(case.id().to_string(), 0);
            view.put(&mut batch, state::HOT_KEY.to_string(), &hot);
        }
    }
    view.delete(&mut batch, key);
    view.commit(caps, batch)
}

/// A JSON value's text, for error messages.
pub fn brief(value: &Value) -> String {
    let text = value.to_string();
    text.chars().take(200).collect()
}
