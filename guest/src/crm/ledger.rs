//! Idempotency keys of the CRM actions.
//!
//! | key                 | value                                                     |
//! |---------------------|-----------------------------------------------------------|
//! | `crm/ledger/<key>`  | [`Entry`]: the action, when its last attempt began, how it ended |
//! | `crm/queue`         | keys whose action runs again next cycle (a retried error)  |
//!
//! Before a request the entry is committed as in flight; after it, as saved
//! or failed. An entry found in flight means an attempt whose outcome is not
//! known (a crash, a lost answer): the records it would have created are
//! looked up in Salesforce (created by the integration user since the attempt
//! began). Found, they are the result; not found and the attempt is younger
//! than [`SETTLE_WINDOW_MS`], it may still land, and nothing is created.

use serde::{Deserialize, Serialize};

use super::{Action, CrmError, Ctx, SavedRecord, look_up, perform};
use crate::capabilities::{Capabilities, LogLevel};
use crate::cycle::SyncError;
use crate::cycle::outbox::SETTLE_WINDOW_MS;
use crate::cycle::state::{self, Batch, StateView, StoredError};
use crate::model::Timestamp;
use crate::salesforce::transport::Transport;

const PREFIX: &str = "crm/ledger/";
/// Keys whose action the next cycle runs again.
pub const QUEUE_KEY: &str = "crm/queue";
/// How far before an attempt's start a look-up searches, for clock skew
/// between the host and Salesforce.
pub const LOOK_BACK_MS: i64 = 15 * 60 * 1000;
/// The longest idempotency key.
pub const MAX_KEY_CHARS: usize = 200;
/// The prefix of a CRM action's sync error id: `crm:<key>`.
pub const ERROR_PREFIX: &str = "crm:";

/// How an action's last attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Begun; its answer never arrived (or was not recorded).
    InFlight,
    /// Refused: nothing was created.
    Failed,
    /// Done: what it created or found.
    Saved(Vec<SavedRecord>),
}

/// One idempotency key's action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub action: Action,
    pub started_at: Timestamp,
    pub outcome: Outcome,
}

fn entry_key(key: &str) -> String {
    format!("{PREFIX}{key}")
}

/// The idempotency key checked: 1 to [`MAX_KEY_CHARS`] printable characters.
pub fn check_key(key: &str) -> Result<(), CrmError> {
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
        return Err(CrmError::InvalidRequest(format!(
            "the idempotency key must be 1 to {MAX_KEY_CHARS} printable characters; use e.g. a UUID per action"
        )));
    }
    Ok(())
}

fn existed(saved: &[SavedRecord]) -> Vec<SavedRecord> {
    saved.iter().cloned().map(|record| SavedRecord { existed: true, ..record }).collect()
}

/// Run `action` under `key`: the first result when there is one, else the
/// action, at most once at a time and never twice to success.
pub fn run<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    key: &str,
    action: &Action,
) -> Result<Vec<SavedRecord>, CrmError> {
    check_key(key)?;
    let mut view = StateView::default();
    let stored_key = entry_key(key);
    let entry: Option<Entry> = view.load(ctx.caps, &stored_key)?;
    if let Some(entry) = &entry {
        if entry.action.operation() != action.operation() || entry.action.record_id() != action.record_id() {
            return Err(CrmError::InvalidRequest(format!(
                "the idempotency key `{key}` was used for another action ({} of {}); use a new key",
                entry.action.operation(),
                entry.action.record_id()
            )));
        }
        match &entry.outcome {
            Outcome::Saved(saved) => return Ok(existed(saved)),
            Outcome::InFlight => {
                if let Some(found) = look_up(ctx, &entry.action, entry.started_at - LOOK_BACK_MS)? {
                    let mut batch = Batch::default();
                    view.put(
                        &mut batch,
                        stored_key,
                        &Entry { outcome: Outcome::Saved(found.clone()), ..entry.clone() },
                    );
                    batch.delete_unchecked(state::error_key(&format!("{ERROR_PREFIX}{key}")));
                    view.commit(ctx.caps, batch)?;
                    return Ok(existed(&found));
                }
                let settled_at = entry.started_at + SETTLE_WINDOW_MS;
                if ctx.now() < settled_at {
                    return Err(CrmError::InvalidRequest(format!(
                        "an earlier attempt with the key `{key}` may still reach Salesforce and was not found there yet; \
                         try again after {} (UTC), or use a new key to create the record anyway",
                        crate::salesforce::escape::soql_datetime(settled_at)
                    )));
                }
            }
            Outcome::Failed => {}
        }
    }
    // The action runs with the arguments it was first given.
    let action = entry.map_or_else(|| action.clone(), |entry| entry.action);
    let started_at = ctx.now();
    let mut batch = Batch::default();
    view.put(&mut batch, stored_key.clone(), &Entry { action: action.clone(), started_at, outcome: Outcome::InFlight });
    view.commit(ctx.caps, batch)?;

    let result = perform(ctx, key, &action);
    let error_key = state::error_key(&format!("{ERROR_PREFIX}{key}"));
    let mut batch = Batch::default();
    let outcome = match &result {
        Ok(saved) => {
            batch.delete_unchecked(error_key);
            Outcome::Saved(saved.clone())
        }
        Err(error) => {
            let reason = error.reason();
            let stored = StoredError {
                id: format!("{ERROR_PREFIX}{key}"),
                record_id: Some(action.record_id().to_string()),
                operation: action.operation().to_string(),
                status: reason.status,
                code: reason.code,
                message: reason.message,
                fields: reason.fields,
                failed_at: ctx.now(),
                outbox_key: None,
            };
            batch.put_unchecked(error_key, &stored);
            let message = error.to_string();
            ctx.caps.log(
                LogLevel::Warn,
                "a CRM action failed",
                &[("operation", action.operation()), ("record", action.record_id()), ("reason", &message)],
            );
            if error.outcome_unknown() { Outcome::InFlight } else { Outcome::Failed }
        }
    };
    view.put(&mut batch, stored_key, &Entry { action, started_at, outcome });
    view.commit(ctx.caps, batch)?;
    result
}

/// What the action under `key` saved, if it is done.
pub fn saved(caps: &mut impl Capabilities, key: &str) -> Result<Vec<SavedRecord>, SyncError> {
    let entry: Option<Entry> = StateView::default().load(caps, &entry_key(key))?;
    Ok(match entry.map(|e| e.outcome) {
        Some(Outcome::Saved(saved)) => saved,
        _ => Vec::new(),
    })
}

/// Queue the action of a `crm:<key>` error for the next cycle (C6).
pub fn queue_retry(
    view: &mut StateView,
    caps: &mut impl Capabilities,
    batch: &mut Batch,
    error_id: &str,
) -> Result<bool, SyncError> {
    let Some(key) = error_id.strip_prefix(ERROR_PREFIX) else {
        return Ok(false);
    };
    let mut queue: Vec<String> = view.load(caps, QUEUE_KEY)?.unwrap_or_default();
    if !queue.iter().any(|queued| queued == key) {
        queue.push(key.to_string());
    }
    view.put(batch, QUEUE_KEY.to_string(), &queue);
    Ok(true)
}

/// Queue automatic actions, each under its key (once: a key already in the
/// ledger is not queued again); how many were new.
pub fn enqueue(
    view: &mut StateView,
    caps: &mut impl Capabilities,
    batch: &mut Batch,
    actions: Vec<(String, Action)>,
    now: Timestamp,
) -> Result<u32, SyncError> {
    if actions.is_empty() {
        return Ok(0);
    }
    let mut queue: Vec<String> = view.load(caps, QUEUE_KEY)?.unwrap_or_default();
    let mut added = 0;
    for (key, action) in actions {
        if queue.contains(&key) || view.load::<Entry>(caps, &entry_key(&key))?.is_some() {
            continue;
        }
        view.put(batch, entry_key(&key), &Entry { action, started_at: now, outcome: Outcome::Failed });
        queue.push(key);
        added += 1;
    }
    view.put(batch, QUEUE_KEY.to_string(), &queue);
    Ok(added)
}

/// Run the queued actions (a cycle's last step); a failure stays a sync
/// error and leaves the queue. Returns the errors of this run.
pub fn run_queued<T: Transport, C: Capabilities>(ctx: &mut Ctx<'_, T, C>) -> Result<Vec<StoredError>, SyncError> {
    let mut view = StateView::default();
    let queue: Vec<String> = view.load(ctx.caps, QUEUE_KEY)?.unwrap_or_default();
    if queue.is_empty() {
        return Ok(Vec::new());
    }
    let mut errors = Vec::new();
    let mut done = Vec::new();
    for key in &queue {
        let Some(entry) = StateView::default().load::<Entry>(ctx.caps, &entry_key(key))? else {
            done.push(key.clone());
            continue;
        };
        match run(ctx, key, &entry.action) {
            Ok(_) => {}
            // The same run happens next cycle.
            Err(CrmError::Sync(error @ (SyncError::BudgetReached { .. } | SyncError::Storage(_)))) => {
                return Err(error);
            }
            Err(_) => {
                let stored: Option<StoredError> =
                    StateView::default().load(ctx.caps, &state::error_key(&format!("{ERROR_PREFIX}{key}")))?;
                errors.extend(stored);
            }
        }
        // An attempt whose outcome is unknown stays queued until it is found
        // or settled; a refusal waits for a person's retry (C6).
        let after: Option<Entry> = StateView::default().load(ctx.caps, &entry_key(key))?;
        if !matches!(after.map(|e| e.outcome), Some(Outcome::InFlight)) {
            done.push(key.clone());
        }
    }
    // Keys queued while these ran stay for the next cycle.
    let mut view = StateView::default();
    let now_queued: Vec<String> = view.load(ctx.caps, QUEUE_KEY)?.unwrap_or_default();
    let rest: Vec<String> = now_queued.into_iter().filter(|key| !done.contains(key)).collect();
    let mut batch = Batch::default();
    if rest.is_empty() {
        view.delete(&mut batch, QUEUE_KEY.to_string());
    } else {
        view.put(&mut batch, QUEUE_KEY.to_string(), &rest);
    }
    view.commit(ctx.caps, batch)?;
    Ok(errors)
}
