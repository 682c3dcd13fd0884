//! The sync cycle (A1–A13): poll the org, bring cases into conversations,
//! let the agent take its turns, write back in as few calls as possible, and
//! commit the new state atomically.
//!
//! A cycle, in order:
//! 1. load the stored state (watermark, conversations, outbox, catalogs);
//! 2. confirm replies a crashed cycle left pending (were they written?);
//! 3. poll: one composite call for changed cases and new posts, comments, emails;
//! 4. map each case into its conversation, ask the agent where the customer wrote last;
//! 5. commit the agent's replies to the outbox *before* sending anything;
//! 6. send: emails through the host, then composite requests for replies,
//!    resolution state, the involved flag, hand-offs and topics;
//! 7. commit the results and the new watermark in one atomic write.
//!
//! A crash anywhere leaves the outbox to finish the job: a pending reply is
//! looked up on its case before it is sent again, so it is written exactly once.

mod outbox;
mod parts;
mod poll;
mod session;
pub mod setup;
pub mod state;

use std::collections::BTreeMap;

use crate::capabilities::{Capabilities, LogLevel, StoreFailure};
use crate::model::{ObjectCatalog, OrgConfig, Timestamp};
use crate::salesforce::client::{ApiError, ApiUsage, ClientConfig, ClientError, SalesforceClient};
use crate::salesforce::transport::Transport;

use state::{Batch, CaseState, DailyUsage, StoredError, Watermark};

pub use parts::same_id;

/// Objects whose fields become attributes.
pub const CATALOG_OBJECTS: [&str; 3] = ["Case", "Contact", "Account"];

/// Why a cycle or an org-level call failed. No variant carries a secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Unsupported(String),
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("Salesforce refused the org's credentials ({0}); connect the org again")]
    ReconnectRequired(String),
    #[error("API limit reached: {used} of {max} calls used today")]
    ApiLimit { used: u32, max: u32 },
    /// This client's share of the daily budget is spent; [`with_budget`] turns
    /// it into [`SyncError::ApiLimit`] with the day's totals.
    #[error("the daily API budget is spent")]
    BudgetExhausted,
    #[error("Salesforce error {}: {} ({})", .0.status, .0.code, .0.message)]
    Salesforce(ApiError),
    #[error("cannot reach Salesforce: {0}")]
    Transport(String),
    #[error("unreadable answer from Salesforce: {0}")]
    MalformedResponse(String),
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("a host capability failed: {0}")]
    Host(String),
}

impl From<ClientError> for SyncError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::ReconnectRequired(reason) => SyncError::ReconnectRequired(reason),
            ClientError::ApiLimit(usage) => SyncError::ApiLimit { used: usage.used, max: usage.max },
            ClientError::BudgetExhausted { .. } => SyncError::BudgetExhausted,
            ClientError::Salesforce(api) => SyncError::Salesforce(api),
            ClientError::Transport(reason) => SyncError::Transport(reason),
            ClientError::MalformedResponse(reason) => SyncError::MalformedResponse(reason),
            ClientError::InvalidConfig(reason) => SyncError::InvalidConfig(reason),
            ClientError::Unsupported(what) => SyncError::Unsupported(what),
        }
    }
}

impl From<StoreFailure> for SyncError {
    fn from(error: StoreFailure) -> Self {
        SyncError::Storage(error.to_string())
    }
}

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CycleReport {
    pub cases_seen: u32,
    pub conversations_created: u32,
    pub conversations_updated: u32,
    pub replies_posted: u32,
    pub emails_sent: u32,
    pub hand_offs: u32,
    pub state_changes: u32,
    pub api_calls: u32,
    pub api_usage: Option<ApiUsage>,
    pub errors: Vec<StoredError>,
    pub watermark: Option<Timestamp>,
}

/// A Salesforce client for one org, with the day's remaining API budget.
pub fn connect<T: Transport>(org: &OrgConfig, transport: T, calls_left: u32) -> SalesforceClient<T> {
    SalesforceClient::new(transport, ClientConfig::for_org(org, calls_left))
}

/// The UTC day `now` falls on, as `YYYY-MM-DD`.
pub fn utc_day(now: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(now)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

/// Run `work` with a client holding today's remaining budget, and record the
/// calls it spent whether it succeeded or not.
pub fn with_budget<T: Transport, C: Capabilities, R>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
    work: impl FnOnce(&mut SalesforceClient<T>, &mut C) -> Result<R, SyncError>,
) -> Result<(R, u32, Option<ApiUsage>), SyncError> {
    let day = utc_day(caps.now());
    let usage: DailyUsage = state::load(caps, &state::usage_key(&day))?.unwrap_or_default();
    if usage.calls >= org.daily_api_budget {
        return Err(SyncError::ApiLimit { used: usage.calls, max: org.daily_api_budget });
    }
    let mut client = connect(org, transport, org.daily_api_budget - usage.calls);
    let spent_before = usage.calls;
    let outcome = work(&mut client, caps).map_err(|error| match error {
        SyncError::BudgetExhausted => {
            SyncError::ApiLimit { used: spent_before.saturating_add(client.calls()), max: org.daily_api_budget }
        }
        other => other,
    });
    let spent = client.calls();
    if spent > 0 {
        let mut batch = Batch::default();
        batch.put(state::usage_key(&day), &DailyUsage { calls: usage.calls.saturating_add(spent) });
        batch.commit(caps)?;
    }
    outcome.map(|value| (value, spent, client.last_usage()))
}

/// Run one full cycle for an org.
pub fn run_cycle<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
) -> Result<CycleReport, SyncError> {
    validate(org)?;
    let (mut report, calls, usage) = with_budget(org, transport, caps, |client, caps| cycle(org, client, caps))?;
    report.api_calls = calls;
    report.api_usage = usage;
    let fields = [("calls", calls.to_string()), ("cases", report.cases_seen.to_string())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    caps.log(LogLevel::Info, "cycle finished", &fields);
    Ok(report)
}

fn validate(org: &OrgConfig) -> Result<(), SyncError> {
    let id_ok = |id: &str| crate::salesforce::escape::salesforce_id(id).is_some();
    if !id_ok(&org.agent_user_id) {
        return Err(SyncError::InvalidConfig(format!("agent user `{}` is not a Salesforce Id", org.agent_user_id)));
    }
    if !id_ok(org.hand_off.owner_id()) {
        return Err(SyncError::InvalidConfig(format!(
            "hand-off owner `{}` is not a Salesforce Id",
            org.hand_off.owner_id()
        )));
    }
    for field in [&org.involved_field, &org.resolution_state_field] {
        if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(SyncError::InvalidConfig(format!("`{field}` is not a field API name")));
        }
    }
    if org.api_version.is_empty() || !org.api_version.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(SyncError::InvalidConfig(format!("API version `{}` is not like 62.0", org.api_version)));
    }
    Ok(())
}

/// The catalogs of Case, Contact and Account, read from describe the first time.
pub fn catalogs<T: Transport, C: Capabilities>(
    client: &mut SalesforceClient<T>,
    caps: &mut C,
    batch: &mut Batch,
) -> Result<BTreeMap<&'static str, ObjectCatalog>, SyncError> {
    let mut catalogs = BTreeMap::new();
    for object in CATALOG_OBJECTS {
        let catalog = match state::load_catalog(caps, object)? {
            Some(catalog) => catalog,
            None => {
                let catalog = setup::describe_catalog(client, object)?;
                batch.put(state::catalog_key(object), &catalog);
                catalog
            }
        };
        catalogs.insert(object, catalog);
    }
    Ok(catalogs)
}

fn cycle<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    client: &mut SalesforceClient<T>,
    caps: &mut C,
) -> Result<CycleReport, SyncError> {
    let mut report = CycleReport::default();
    let mut batch = Batch::default();
    let catalogs = catalogs(client, caps, &mut batch)?;
    let watermark: Watermark = state::load(caps, state::WATERMARK_KEY)?.unwrap_or_default();
    let mut cases: BTreeMap<String, CaseState> = state::load_all::<CaseState>(caps, "case/")?
        .into_iter()
        .map(|(_, case)| (case.conversation.id.clone(), case))
        .collect();

    // 2. Replies a crashed cycle left pending.
    let mut outbox = outbox::Outbox::load(caps)?;
    outbox.confirm_pending(client, org, &cases)?;

    // 3. Poll.
    let known_open: Vec<String> = cases.values().filter(|c| c.in_session).map(|c| c.conversation.id.clone()).collect();
    let overlap = i64::from(org.poll_overlap_seconds) * 1000;
    let since = watermark.read_through.map(|t| t.saturating_sub(overlap));
    let extra_fields = vec![org.involved_field.clone(), org.resolution_state_field.clone()];
    let catalog_refs =
        poll::Catalogs { case: &catalogs["Case"], contact: &catalogs["Contact"], account: &catalogs["Account"] };
    let request = poll::PollRequest {
        agent_user_id: &org.agent_user_id,
        extra_case_fields: &extra_fields,
        known_open_cases: &known_open,
        since,
    };
    let polled = poll::poll(client, &request, &catalog_refs)?;
    report.cases_seen = u32::try_from(polled.cases.len()).unwrap_or(u32::MAX);
    let poll_newest = polled.newest;

    // 4. Conversations and the agent's turns.
    let now = caps.now();
    let mut agent_ids = vec![org.agent_user_id.clone()];
    agent_ids.extend(client.identity_user_id());
    let mut sessions = session::Sessions {
        org,
        catalogs: &catalogs,
        agent_user_ids: &agent_ids,
        now,
        report: &mut report,
        warnings: Default::default(),
    };
    sessions.apply_poll(client, &mut cases, polled)?;
    sessions.take_turns(caps, &mut cases, &mut outbox)?;
    sessions.decide_resolutions(&mut cases);
    for warning in sessions.warnings.take() {
        caps.log(LogLevel::Warn, "a field value could not be mapped", &[("error", warning.as_str())]);
    }

    // 5. Record the replies before sending anything.
    for case in cases.values() {
        batch.put(state::case_key(&case.conversation.id), case);
    }
    outbox.stage(&mut batch);
    batch.commit(caps)?;

    // 6. Send.
    let results = outbox::write_back(client, caps, org, &mut cases, &mut outbox, now)?;
    report.replies_posted += results.replies_posted;
    report.emails_sent += results.emails_sent;
    report.hand_offs += results.hand_offs;
    report.state_changes += results.state_changes;
    for error in &results.errors {
        batch.put(state::error_key(&error.id), error);
    }
    report.errors = results.errors;

    // 7. Commit results and the watermark together.
    for case in cases.values() {
        batch.put(state::case_key(&case.conversation.id), case);
    }
    outbox.stage(&mut batch);
    let watermark = Watermark { read_through: watermark.read_through.max(poll_newest) };
    report.watermark = watermark.read_through;
    batch.put(state::WATERMARK_KEY.to_string(), &watermark);
    batch.commit(caps)?;
    Ok(report)
}
