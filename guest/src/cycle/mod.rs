//! The sync cycle (A1–A13, E1, E7, E8): read the org page by page, bring
//! cases into conversations, let the agent answer what is owed, write back in
//! as few calls as possible, and commit each page's progress atomically.
//!
//! A cycle reads pages until every sweep has caught up or its work budget is
//! spent ([`CYCLE_WORK_BUDGET_MS`], [`MAX_PAGES_PER_CYCLE`]). Each page:
//! 1. one composite call reads the sweeps that may have more ([`poll`]);
//! 2. the conversations it touches are loaded — never the whole history: the
//!    `hot` index names the open ones, and only those due for a look come too;
//! 3. case records start and end sessions; a new session reads the case's
//!    history; new posts, comments and emails become parts ([`session`]);
//! 4. replies whose write may have landed are settled ([`outbox`]);
//! 5. the agent answers the customer parts owed an answer;
//! 6. **commit**: conversations, replies marked as about to be sent;
//! 7. emails through the host, then composite writes: replies, case fields,
//!    owner on hand-off, topics;
//! 8. **commit**: the outcomes, the open set, the sweeps' keys.
//!
//! Every commit is compare-and-swap against what the cycle read, so a second
//! writer on the same org makes it fail and write nothing.

mod migrate;
pub(crate) mod outbox;
mod parts;
mod poll;
mod session;
pub mod setup;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};

use crate::capabilities::{AgentAction, Capabilities, HostFailure, LogLevel, OutgoingEmail};
use crate::model::{AuthorRole, ObjectCatalog, OrgConfig, Timestamp};
use crate::resolution::Event;
use crate::salesforce::cases::{
    self, CaseWrite, ChildRecord, IDS_PER_QUERY, SweepRequest, WriteBackFields, WriteOutcome, case_select,
};
use crate::salesforce::client::{
    ApiError, ApiUsage, ClientConfig, ClientError, MAX_COMPOSITE_SUBREQUESTS, SalesforceClient,
};
use crate::salesforce::transport::Transport;
use crate::workflow;

use session::{CaseChange, Context};
use state::{Batch, CaseState, DailyUsage, HotIndex, PollState, StateView, StoredError};

pub use outbox::SETTLE_WINDOW_MS;
pub use parts::same_id;

/// Objects whose fields become attributes.
pub const CATALOG_OBJECTS: [&str; 4] = ["Case", "Contact", "Lead", "Account"];

/// A cycle starts no new page after this long (host time): the rest of a
/// backlog waits for the next cycle, which the host runs soon when the
/// report's watermark is far behind. Keeps one cycle far inside the host's deadline.
pub const CYCLE_WORK_BUDGET_MS: i64 = 20_000;
/// The most pages one cycle reads, whatever the time.
pub const MAX_PAGES_PER_CYCLE: u32 = 50;
/// Open conversations due for a look loaded per page.
const DUE_PER_PAGE: usize = 200;

/// Why a cycle or an org-level call failed. No variant carries a secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Unsupported(String),
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("Salesforce refused the org's credentials ({0}); connect the org again")]
    ReconnectRequired(String),
    #[error("the org's Salesforce API limit is reached: {used} of {max} calls used")]
    ApiLimit { used: u32, max: u32 },
    /// The configured `daily_api_budget` is spent for the UTC day.
    #[error("the daily API budget is reached: {used} of {max} calls used today")]
    BudgetReached { used: u32, max: u32 },
    /// This client's share of the daily budget is spent; [`with_budget`] turns
    /// it into [`SyncError::BudgetReached`] with the day's totals.
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

impl From<crate::capabilities::StoreFailure> for SyncError {
    fn from(error: crate::capabilities::StoreFailure) -> Self {
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
    /// Salesforce records written from platform changes (C2).
    pub records_to_salesforce: u32,
    /// Platform people and companies updated from Salesforce changes (C2).
    pub records_to_platform: u32,
    /// Platform people and companies newly linked to a Salesforce record (C1).
    pub records_linked: u32,
    pub api_calls: u32,
    pub api_usage: Option<ApiUsage>,
    pub errors: Vec<StoredError>,
    /// How far the case sweep has read (`SystemModstamp`, Salesforce time).
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

/// Run `work` with a client holding today's remaining budget and the
/// session kept from the last call; afterwards record the calls it spent
/// (whether it succeeded or not) and keep a new session, sealed.
pub fn with_budget<T: Transport, C: Capabilities, R>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
    work: impl FnOnce(&mut SalesforceClient<T>, &mut C) -> Result<R, SyncError>,
) -> Result<(R, u32, Option<ApiUsage>), SyncError> {
    let mut view = StateView::default();
    let day = utc_day(caps.now());
    let usage: DailyUsage = view.load(caps, &state::usage_key(&day))?.unwrap_or_default();
    if usage.calls >= org.daily_api_budget {
        return Err(SyncError::BudgetReached { used: usage.calls, max: org.daily_api_budget });
    }
    let mut client = connect(org, transport, org.daily_api_budget - usage.calls);
    let kept: Option<String> = view.load(caps, state::SESSION_KEY)?;
    if let Some(session) = kept.and_then(|sealed| crate::salesforce::session::open(&sealed, &org.credentials)) {
        client.resume_session(session);
    }
    let spent_before = usage.calls;
    let outcome = work(&mut client, caps).map_err(|error| match error {
        SyncError::BudgetExhausted => {
            SyncError::BudgetReached { used: spent_before.saturating_add(client.calls()), max: org.daily_api_budget }
        }
        other => other,
    });
    let spent = client.calls();
    let sealed = client.new_session().map(|session| crate::salesforce::session::seal(session, &org.credentials));
    // The bookkeeping is committed even when the work failed: calls were spent.
    let kept = keep_bookkeeping(caps, &day, spent, sealed);
    let value = outcome?;
    kept?;
    Ok((value, spent, client.last_usage()))
}

/// Add `spent` calls to the day's count and keep a new session. Another
/// process may count its own calls at the same moment (`setup users` while
/// `run` cycles): a conflict is read again and added again, a few times.
fn keep_bookkeeping(
    caps: &mut impl Capabilities,
    day: &str,
    spent: u32,
    sealed: Option<String>,
) -> Result<(), SyncError> {
    const ATTEMPTS: u32 = 3;
    let mut attempt = 1;
    loop {
        let mut view = StateView::default();
        let mut batch = Batch::default();
        if spent > 0 {
            let usage: DailyUsage = view.load(caps, &state::usage_key(day))?.unwrap_or_default();
            view.put(&mut batch, state::usage_key(day), &DailyUsage { calls: usage.calls.saturating_add(spent) });
        }
        if let Some(sealed) = &sealed {
            // The newest session wins; no other writer's is worth keeping over it.
            batch.put_unchecked(state::SESSION_KEY.to_string(), sealed);
        }
        match view.commit(caps, batch) {
            Err(SyncError::Storage(_)) if attempt < ATTEMPTS => attempt += 1,
            outcome => return outcome,
        }
    }
}

/// Run one full cycle for an org.
pub fn run_cycle<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
) -> Result<CycleReport, SyncError> {
    let org = &validate(org)?;
    let (mut report, calls, usage) = with_budget(org, transport, caps, |client, caps| cycle(org, client, caps))?;
    report.api_calls = calls;
    report.api_usage = usage;
    prune_usage(caps)?;
    let fields = [("calls", calls.to_string()), ("cases", report.cases_seen.to_string())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    caps.log(LogLevel::Info, "cycle finished", &fields);
    Ok(report)
}

/// Drop the API usage of days older than [`state::USAGE_DAYS_KEPT`].
fn prune_usage(caps: &mut impl Capabilities) -> Result<(), SyncError> {
    let mut days = Vec::new();
    state::for_each_entry(caps, state::USAGE_PREFIX, &mut |key, _| {
        days.push(key);
        Ok(())
    })?;
    if days.len() <= state::USAGE_DAYS_KEPT {
        return Ok(());
    }
    let mut batch = Batch::default();
    for key in &days[..days.len() - state::USAGE_DAYS_KEPT] {
        batch.delete_unchecked(key.clone());
    }
    StateView::default().commit(caps, batch)
}

/// The org's settings checked, with its Ids in their 18-character form
/// (the configuration may give 15 characters or any letter case).
fn validate(org: &OrgConfig) -> Result<OrgConfig, SyncError> {
    use crate::salesforce::ids::canonical_id;
    let agent_user_id = canonical_id(org.agent_user_id.trim()).ok_or_else(|| {
        SyncError::InvalidConfig(format!("agent user `{}` is not a Salesforce Id", org.agent_user_id))
    })?;
    let owner = canonical_id(org.hand_off.owner_id().trim()).ok_or_else(|| {
        SyncError::InvalidConfig(format!("hand-off owner `{}` is not a Salesforce Id", org.hand_off.owner_id()))
    })?;
    let hand_off = match org.hand_off {
        crate::model::HandOffTarget::Queue(_) => crate::model::HandOffTarget::Queue(owner),
        crate::model::HandOffTarget::User(_) => crate::model::HandOffTarget::User(owner),
    };
    for field in [&org.involved_field, &org.resolution_state_field] {
        if !cases::is_field_name(field) {
            return Err(SyncError::InvalidConfig(format!("`{field}` is not a field API name")));
        }
    }
    if org.api_version.is_empty() || !org.api_version.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(SyncError::InvalidConfig(format!("API version `{}` is not like 62.0", org.api_version)));
    }
    Ok(OrgConfig { agent_user_id, hand_off, ..org.clone() })
}

/// The catalogs of Case, Contact and Account, read from describe (and
/// committed) the first time.
pub fn catalogs<T: Transport, C: Capabilities>(
    client: &mut SalesforceClient<T>,
    caps: &mut C,
    view: &mut StateView,
) -> Result<BTreeMap<&'static str, ObjectCatalog>, SyncError> {
    let mut catalogs = BTreeMap::new();
    let mut batch = Batch::default();
    for object in CATALOG_OBJECTS {
        let catalog = match state::load_catalog(view, caps, object)? {
            Some(catalog) => catalog,
            None => {
                let catalog = setup::describe_catalog(client, object)?;
                view.put(&mut batch, state::catalog_key(object), &catalog);
                catalog
            }
        };
        catalogs.insert(object, catalog);
    }
    view.commit(caps, batch)?;
    Ok(catalogs)
}

/// Everything one cycle carries from page to page.
struct Cycle<'a> {
    org: &'a OrgConfig,
    catalogs: BTreeMap<&'static str, ObjectCatalog>,
    fields: WriteBackFields,
    select: String,
    view: StateView,
    poll: PollState,
    hot: HotIndex,
    report: CycleReport,
    /// Conversations already looked at this cycle (not loaded again as due).
    looked_at: BTreeSet<String>,
    /// The host keeps no platform records (known after the first attempt).
    no_platform: bool,
}

fn cycle<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    client: &mut SalesforceClient<T>,
    caps: &mut C,
) -> Result<CycleReport, SyncError> {
    let started = caps.now();
    let mut view = StateView::default();
    let catalogs = catalogs(client, caps, &mut view)?;
    let fields =
        WriteBackFields { involved: org.involved_field.clone(), resolution_state: org.resolution_state_field.clone() };
    let select = case_select(
        &[org.involved_field.as_str(), org.resolution_state_field.as_str()],
        &catalogs["Case"],
        &catalogs["Contact"],
        &catalogs["Account"],
    );
    migrate::from_v1(caps, &mut view, i64::from(org.poll_overlap_seconds) * 1000)?;
    let poll: PollState = view.load(caps, state::POLL_KEY)?.unwrap_or_default();
    client.prefer_server_offset(poll.clock_offset_ms);
    let hot: HotIndex = view.load(caps, state::HOT_KEY)?.unwrap_or_default();
    let mut run = Cycle {
        org,
        catalogs,
        fields,
        select,
        view,
        poll,
        hot,
        report: CycleReport::default(),
        looked_at: BTreeSet::new(),
        no_platform: false,
    };
    let mut pending = poll::Pending::start();
    for page in 1..=MAX_PAGES_PER_CYCLE {
        let more_due = run.page(client, caps, &mut pending, page == 1)?;
        if !(pending.any() || more_due) || caps.now() - started >= CYCLE_WORK_BUDGET_MS {
            break;
        }
    }
    run.report.watermark = run.poll.started_at.map(|_| run.poll.cases.stamp);
    let synced = crate::platform::sync::run(org, client, caps, &run.catalogs)?;
    run.report.records_to_salesforce = synced.to_salesforce;
    run.report.records_to_platform = synced.to_platform;
    run.report.records_linked = synced.linked;
    run.report.errors.extend(synced.errors);
    crate::crm::auto::run(&org.crm, caps)?;
    let mut ctx = crate::crm::Ctx { org, client, caps };
    let queued = crate::crm::ledger::run_queued(&mut ctx)?;
    run.report.errors.extend(queued);
    Ok(run.report)
}

/// A page read, for moving the sweeps' keys once it is in the conversations.
struct Progress<'a> {
    plan: &'a poll::Plan,
    page: &'a cases::SweepPage,
    pending: &'a mut poll::Pending,
    /// Salesforce's time when the page was read.
    now: Timestamp,
}

/// A conversation loaded for this page, and what the page did to it.
#[derive(Default)]
struct Loaded {
    state: Option<CaseState>,
    changed: bool,
}

impl Cycle<'_> {
    fn overlap_ms(&self) -> i64 {
        i64::from(self.org.poll_overlap_seconds) * 1000
    }

    /// One page; returns whether more open conversations are due than this page took.
    fn page<T: Transport, C: Capabilities>(
        &mut self,
        client: &mut SalesforceClient<T>,
        caps: &mut C,
        pending: &mut poll::Pending,
        first: bool,
    ) -> Result<bool, SyncError> {
        let overlap = self.overlap_ms();
        let plan = poll::plan(&self.poll, pending, overlap);
        let watched = self.hot.ids();
        let watched_inline = watched.len() <= IDS_PER_QUERY;
        let request = SweepRequest {
            select: &self.select,
            agent_user_id: &self.org.agent_user_id,
            watched_case_ids: if watched_inline { &watched } else { &[] },
            cases_after: plan.cases.as_ref(),
            open_cases_only: plan.open_cases_only,
            children_after: plan.children.iter().map(|(kind, key)| (*kind, key)).collect(),
        };
        let page = cases::read_sweep(client, &request, &self.fields)?;
        if let Some(offset) = client.server_offset() {
            self.poll.clock_offset_ms = offset;
        }
        let now = client.salesforce_now().unwrap_or_else(|| caps.now() + self.poll.clock_offset_ms);
        let mut departed = Vec::new();
        if first && !watched_inline {
            let since = self.poll.cases.stamp - overlap;
            departed = cases::read_departures(client, &self.org.agent_user_id, &watched, since, &self.fields)?;
        }

        let mut agent_ids = vec![self.org.agent_user_id.clone()];
        agent_ids.extend(client.identity_user_id().and_then(|id| crate::salesforce::ids::canonical_id(&id)));
        let catalogs = std::mem::take(&mut self.catalogs);
        let progress = Progress { plan: &plan, page: &page, pending, now };
        let result = self.work_page(client, caps, progress, &departed, &agent_ids, &catalogs);
        self.catalogs = catalogs;
        let (loaded, written, more_due) = result?;

        // The outcomes of the write-back (its refusals kept as open errors,
        // for `errors list` and retry), and the open set after them.
        self.update_open_set(&loaded, now);
        let mut batch = Batch::default();
        self.stage_conversations(&loaded, &mut batch);
        for error in &written.errors {
            batch.put_unchecked(state::error_key(&error.id), error);
        }
        self.view.put(&mut batch, state::HOT_KEY.to_string(), &self.hot);
        self.view.put(&mut batch, state::POLL_KEY.to_string(), &self.poll);
        self.view.commit(caps, batch)?;
        self.view.forget(state::CONVERSATION_PREFIX);
        self.record_on_platform(caps, &loaded);
        if let Some(error) = written.error {
            return Err(error);
        }
        Ok(more_due)
    }

    /// Each loaded conversation stays in the open set with the time it next
    /// needs a look, or leaves it.
    fn update_open_set(&mut self, loaded: &BTreeMap<String, Loaded>, now: Timestamp) {
        for (id, loaded) in loaded {
            let Some(case) = &loaded.state else { continue };
            let write_pending = outbox::case_update(case, self.org).is_some() || outbox::wants_topics(case, self.org);
            match session::next_look(case, write_pending, case.agent_failure.is_some(), now) {
                Some(at) => {
                    self.hot.0.insert(id.clone(), at);
                }
                None => {
                    self.hot.0.remove(id);
                }
            }
        }
    }

    /// The changed conversations, as the platform's conversations of their
    /// cases (idempotent: sent again whole, the platform keeps each part
    /// once). A host without platform records is asked once per cycle; a
    /// failure is logged and the conversation is sent again when it next
    /// changes.
    fn record_on_platform<C: Capabilities>(&mut self, caps: &mut C, loaded: &BTreeMap<String, Loaded>) {
        for (id, loaded) in loaded {
            let (Some(case), true, false) = (&loaded.state, loaded.changed, self.no_platform) else { continue };
            let recorded = crate::platform::case_conversation(caps, &case.conversation, case.in_session)
                .and_then(|conversation| caps.upsert_case_conversation(&conversation));
            match recorded {
                Ok(_) => {}
                Err(crate::platform::PlatformFailure::Unavailable(why)) => {
                    caps.log(LogLevel::Debug, "no platform records to keep conversations in", &[("why", &why)]);
                    self.no_platform = true;
                }
                Err(error) => {
                    caps.log(
                        LogLevel::Warn,
                        "the platform refused a case's conversation",
                        &[("case", id), ("why", &error.to_string())],
                    );
                }
            }
        }
    }

    fn stage_conversations(&self, loaded: &BTreeMap<String, Loaded>, batch: &mut Batch) {
        for (id, loaded) in loaded {
            if let (Some(case), true) = (&loaded.state, loaded.changed) {
                let key = state::conversation_key(id);
                self.view.put(batch, key.clone(), case);
                // The summary follows its conversation, whose key the commit checks.
                if batch.contains(&key) {
                    batch.put_unchecked(state::summary_key(id), &case.summary());
                }
            }
        }
    }

    fn load<C: Capabilities>(
        &mut self,
        caps: &mut C,
        loaded: &mut BTreeMap<String, Loaded>,
        id: &str,
    ) -> Result<(), SyncError> {
        if !loaded.contains_key(id) {
            let state = self.view.load(caps, &state::conversation_key(id))?;
            loaded.insert(id.to_string(), Loaded { state, changed: false });
            self.looked_at.insert(id.to_string());
        }
        Ok(())
    }

    /// Steps 2–7 of a page; returns the conversations, a write-back failure
    /// to report after the outcomes are committed, and whether more are due.
    #[allow(clippy::type_complexity)]
    fn work_page<T: Transport, C: Capabilities>(
        &mut self,
        client: &mut SalesforceClient<T>,
        caps: &mut C,
        progress: Progress<'_>,
        departed: &[cases::CaseRecord],
        agent_ids: &[String],
        catalogs: &BTreeMap<&'static str, ObjectCatalog>,
    ) -> Result<(BTreeMap<String, Loaded>, WrittenBack, bool), SyncError> {
        let (page, now) = (progress.page, progress.now);
        let ctx = Context { org: self.org, catalogs, agent_user_ids: agent_ids, now };
        let mut loaded: BTreeMap<String, Loaded> = BTreeMap::new();
        let mut warnings = Vec::new();
        let mut new_sessions: Vec<String> = Vec::new();

        // Cases: sessions start and end.
        let case_records: Vec<&cases::CaseRecord> = page.cases.iter().flatten().chain(departed).collect();
        self.report.cases_seen += u32::try_from(page.cases.as_ref().map_or(0, Vec::len)).unwrap_or(u32::MAX);
        for record in &case_records {
            self.load(caps, &mut loaded, &record.id)?;
            self.apply_case(&ctx, &mut loaded, record, &mut new_sessions, &mut warnings);
        }

        // Children whose case is not in a session yet: read the case first.
        let mut children_by_case: BTreeMap<String, Vec<&ChildRecord>> = BTreeMap::new();
        for (_, records) in &page.children {
            for record in records {
                children_by_case.entry(record.parent_id.clone()).or_default().push(record);
            }
        }
        let mut unread = Vec::new();
        for case_id in children_by_case.keys() {
            self.load(caps, &mut loaded, case_id)?;
            let in_session = loaded[case_id].state.as_ref().is_some_and(|c| c.in_session);
            if !in_session && !case_records.iter().any(|r| &r.id == case_id) {
                unread.push(case_id.clone());
            }
        }
        if !unread.is_empty() {
            for record in cases::read_cases(client, &self.select, &unread, &self.fields)? {
                self.apply_case(&ctx, &mut loaded, &record, &mut new_sessions, &mut warnings);
            }
        }

        // A new session's history, then the new children of every session.
        if !new_sessions.is_empty() {
            let history = cases::read_history(client, &new_sessions)?;
            let mut by_case: BTreeMap<&str, Vec<&ChildRecord>> = BTreeMap::new();
            for record in &history {
                by_case.entry(record.parent_id.as_str()).or_default().push(record);
            }
            for id in &new_sessions {
                if let Some(case) = loaded.get_mut(id).and_then(|l| l.state.as_mut()) {
                    session::apply_children(&ctx, case, by_case.get(id.as_str()).map(Vec::as_slice).unwrap_or(&[]));
                    session::cover_history(case);
                }
            }
        }
        for (case_id, records) in &children_by_case {
            let Some(entry) = loaded.get_mut(case_id) else { continue };
            let Some(case) = entry.state.as_mut().filter(|c| c.in_session) else { continue };
            if session::apply_children(&ctx, case, records) > 0 {
                entry.changed = true;
                if !new_sessions.contains(case_id) {
                    self.report.conversations_updated += 1;
                }
            }
        }

        // Open conversations due for a look.
        let due: Vec<String> =
            self.hot.due(now, usize::MAX).into_iter().filter(|id| !self.looked_at.contains(id)).collect();
        let more_due = due.len() > DUE_PER_PAGE;
        for id in due.into_iter().take(DUE_PER_PAGE) {
            self.load(caps, &mut loaded, &id)?;
            if let Some(entry) = loaded.get_mut(&id) {
                entry.changed |= entry.state.is_some();
            }
        }
        for warning in warnings {
            caps.log(LogLevel::Warn, "a field value could not be mapped", &[("error", warning.as_str())]);
        }

        // Replies whose write may have landed.
        self.settle_replies(client, &mut loaded, agent_ids, now)?;

        // The agent's turns and the resolution states.
        let mut errors_now: Vec<(String, Option<StoredError>)> = Vec::new();
        for (id, entry) in loaded.iter_mut() {
            let Some(case) = entry.state.as_mut() else { continue };
            let owed = session::owed_answer(case);
            if !owed.is_empty() {
                entry.changed = true;
                let owed = run_workflow(caps, &ctx, case, owed, &mut errors_now).unwrap_or_default();
                if !owed.is_empty() {
                    let failure = take_turn(caps, &ctx, case, owed);
                    errors_now.push((format!("agent:{id}"), failure));
                }
            }
            let before = (case.conversation.resolution, case.changes_at);
            session::decide_resolution(case, &ctx);
            entry.changed |= before != (case.conversation.resolution, case.changes_at);
        }

        // Mark what is about to be sent, and commit before sending anything.
        let mut sending: Vec<(String, u32)> = Vec::new();
        for (id, entry) in loaded.iter_mut() {
            let Some(case) = entry.state.as_mut() else { continue };
            let seqs = outbox::mark_attempted(case, now);
            entry.changed |= !seqs.is_empty();
            sending.extend(seqs.into_iter().map(|seq| (id.clone(), seq)));
        }
        // The page's records are in the conversations now: the sweeps' keys
        // move on in the same commit, and the open set holds every
        // conversation with a reply about to be sent.
        self.update_open_set(&loaded, now);
        let overlap = self.overlap_ms();
        poll::advance(&mut self.poll, progress.pending, progress.plan, page, now, overlap);
        let mut batch = Batch::default();
        self.stage_conversations(&loaded, &mut batch);
        self.view.put(&mut batch, state::HOT_KEY.to_string(), &self.hot);
        self.view.put(&mut batch, state::POLL_KEY.to_string(), &self.poll);
        for (key, failure) in &errors_now {
            match failure {
                Some(error) => {
                    batch.put_unchecked(state::error_key(key), error);
                    self.report.errors.push(error.clone());
                }
                None => batch.delete_unchecked(state::error_key(key)),
            }
        }
        self.view.commit(caps, batch)?;

        let errors_before = self.report.errors.len();
        let write_error = self.write_back(client, caps, &mut loaded, sending, now);
        let written = WrittenBack { error: write_error, errors: self.report.errors[errors_before..].to_vec() };
        Ok((loaded, written, more_due))
    }

    fn apply_case(
        &mut self,
        ctx: &Context,
        loaded: &mut BTreeMap<String, Loaded>,
        record: &cases::CaseRecord,
        new_sessions: &mut Vec<String>,
        warnings: &mut Vec<String>,
    ) {
        let entry = loaded.entry(record.id.clone()).or_default();
        match session::apply_case(ctx, &mut entry.state, record, warnings) {
            CaseChange::None => {}
            CaseChange::SessionStarted => {
                entry.changed = true;
                new_sessions.push(record.id.clone());
                self.report.conversations_created += 1;
            }
            CaseChange::Updated | CaseChange::SessionEnded => {
                entry.changed = true;
                self.report.conversations_updated += 1;
            }
        }
    }

    /// Look up the replies whose write is over or can no longer land, in one call.
    fn settle_replies<T: Transport>(
        &mut self,
        client: &mut SalesforceClient<T>,
        loaded: &mut BTreeMap<String, Loaded>,
        agent_ids: &[String],
        now: Timestamp,
    ) -> Result<(), SyncError> {
        let due: Vec<(String, Timestamp)> = loaded
            .iter()
            .filter_map(|(id, entry)| {
                entry.state.as_ref().and_then(|c| outbox::lookup_due(c, now)).map(|at| (id.clone(), at))
            })
            .collect();
        let Some(since) = due.iter().map(|(_, at)| *at).min() else { return Ok(()) };
        let ids: Vec<String> = due.iter().map(|(id, _)| id.clone()).collect();
        let found = cases::read_replies_since(client, &ids, agent_ids, since - 60_000)?;
        for id in ids {
            let records: Vec<&ChildRecord> = found.iter().filter(|r| r.parent_id == id).collect();
            if let Some(entry) = loaded.get_mut(&id)
                && let Some(case) = entry.state.as_mut()
            {
                outbox::settle_by_lookup(case, &records, now);
                entry.changed = true;
            }
        }
        Ok(())
    }

    /// Step 7: emails, then the composite writes. A failure of a whole write
    /// request is returned after its outcome is noted on the replies, so the
    /// caller commits what is known before it reports the failure.
    fn write_back<T: Transport, C: Capabilities>(
        &mut self,
        client: &mut SalesforceClient<T>,
        caps: &mut C,
        loaded: &mut BTreeMap<String, Loaded>,
        sending: Vec<(String, u32)>,
        now: Timestamp,
    ) -> Option<SyncError> {
        let org = self.org;
        // Emails first: a reply's record is written once its email is out.
        let mut writes: Vec<(CaseWrite, Purpose)> = Vec::new();
        for (id, seq) in sending {
            let Some(case) = loaded.get_mut(&id).and_then(|l| l.state.as_mut()) else { continue };
            match send_email(caps, org, case, seq, now) {
                Mailed::Sent => self.report.emails_sent += 1,
                Mailed::Refused(error) => self.report.errors.push(error),
                Mailed::NotNeeded | Mailed::Later => {}
            }
            match outbox::reply_write(case, seq) {
                Some(write) => writes.push((write, Purpose::Reply { case_id: id.clone(), seq })),
                None => outbox::unsend(case, seq),
            }
        }
        for (id, entry) in loaded.iter() {
            if let Some(update) = entry.state.as_ref().and_then(|c| outbox::case_update(c, org)) {
                writes.push((
                    CaseWrite::UpdateCase { case_id: id.clone(), fields: update.fields.clone() },
                    Purpose::CaseUpdate { case_id: id.clone(), update },
                ));
            }
        }
        let wants_topics: Vec<String> = loaded
            .iter()
            .filter(|(_, entry)| entry.state.as_ref().is_some_and(|c| outbox::wants_topics(c, org)))
            .map(|(id, _)| id.clone())
            .collect();
        let topic_ids = if wants_topics.is_empty() {
            Vec::new()
        } else {
            // Topics are the least of the writes: without their Ids they wait a cycle.
            self.topic_ids(client, caps).unwrap_or_else(|error| {
                caps.log(LogLevel::Warn, "topics are added next cycle", &[("reason", error.to_string().as_str())]);
                Vec::new()
            })
        };
        {
            for topic_id in topic_ids {
                for case_id in &wants_topics {
                    writes.push((
                        CaseWrite::AssignTopic { topic_id: topic_id.clone(), case_id: case_id.clone() },
                        Purpose::Topic { case_id: case_id.clone() },
                    ));
                }
            }
        }

        let mut failure = None;
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let chunk: Vec<(CaseWrite, Purpose)> = writes.by_ref().take(MAX_COMPOSITE_SUBREQUESTS).collect();
            if failure.is_some() {
                // An earlier request failed as a whole: these were never sent.
                unsend_replies(loaded, &chunk);
                continue;
            }
            let subrequests =
                chunk.iter().enumerate().map(|(i, (write, _))| write.subrequest(client, format!("w{i}"))).collect();
            match client.composite(false, subrequests) {
                Ok(responses) => {
                    for ((_, purpose), response) in chunk.into_iter().zip(responses) {
                        self.apply_outcome(loaded, purpose, &cases::write_outcome(&response), now);
                    }
                }
                Err(error) => {
                    let answered = !matches!(error, ClientError::Transport(_));
                    if matches!(error, ClientError::BudgetExhausted { .. }) {
                        unsend_replies(loaded, &chunk);
                    } else if answered {
                        let error =
                            ApiError { status: 0, code: String::new(), message: error.to_string(), fields: vec![] };
                        for (_, purpose) in chunk {
                            self.apply_outcome(loaded, purpose, &WriteOutcome::TryAgain(error.clone()), now);
                        }
                    }
                    failure = Some(SyncError::from(error));
                }
            }
        }
        for entry in loaded.values_mut() {
            entry.changed |= entry.state.is_some();
        }
        failure
    }

    fn apply_outcome(
        &mut self,
        loaded: &mut BTreeMap<String, Loaded>,
        purpose: Purpose,
        outcome: &WriteOutcome,
        now: Timestamp,
    ) {
        let (case_id, error) = match purpose {
            Purpose::Reply { case_id, seq } => {
                let Some(case) = loaded.get_mut(&case_id).and_then(|l| l.state.as_mut()) else { return };
                let kind = case.outbox.iter().find(|e| e.seq == seq).map(|e| e.kind);
                if matches!(outcome, WriteOutcome::Done(_)) && kind != Some(state::ReplyKind::Email) {
                    // An email reply is counted when it is sent; its record is bookkeeping.
                    self.report.replies_posted += 1;
                }
                let error = outbox::reply_written(case, seq, outcome, now);
                (case_id, error)
            }
            Purpose::CaseUpdate { case_id, update } => {
                let Some(case) = loaded.get_mut(&case_id).and_then(|l| l.state.as_mut()) else { return };
                if matches!(outcome, WriteOutcome::Done(_) | WriteOutcome::AlreadyThere) {
                    if update.state.is_some() {
                        self.report.state_changes += 1;
                    }
                    if update.hands_off {
                        self.report.hand_offs += 1;
                    }
                }
                let error = outbox::case_updated(case, &update, outcome, now);
                (case_id, error)
            }
            Purpose::Topic { case_id } => {
                let Some(case) = loaded.get_mut(&case_id).and_then(|l| l.state.as_mut()) else { return };
                let error = outbox::topic_added(case, outcome, now);
                (case_id, error)
            }
        };
        if let Some(error) = error {
            debug_assert_eq!(error.record_id.as_deref(), Some(case_id.as_str()));
            self.report.errors.push(error);
        }
    }

    /// The configured topics' Ids, created when missing; remembered in the store.
    fn topic_ids<T: Transport, C: Capabilities>(
        &mut self,
        client: &mut SalesforceClient<T>,
        caps: &mut C,
    ) -> Result<Vec<String>, SyncError> {
        let mut known: BTreeMap<String, String> = self.view.load(caps, state::TOPICS_KEY)?.unwrap_or_default();
        known.retain(|name, _| self.org.topics.contains(name));
        let missing: Vec<String> = self.org.topics.iter().filter(|t| !known.contains_key(*t)).cloned().collect();
        if !missing.is_empty() {
            known.extend(cases::ensure_topics(client, &missing)?);
            let mut batch = Batch::default();
            self.view.put(&mut batch, state::TOPICS_KEY.to_string(), &known);
            self.view.commit(caps, batch)?;
        }
        Ok(known.into_values().collect())
    }
}

/// What the write-back left: the failure that stopped it, and the writes
/// Salesforce (or mail) refused.
struct WrittenBack {
    error: Option<SyncError>,
    errors: Vec<StoredError>,
}

/// What a write of the write-back was for.
enum Purpose {
    Reply { case_id: String, seq: u32 },
    CaseUpdate { case_id: String, update: outbox::CaseUpdate },
    Topic { case_id: String },
}

fn unsend_replies(loaded: &mut BTreeMap<String, Loaded>, chunk: &[(CaseWrite, Purpose)]) {
    for (_, purpose) in chunk {
        if let Purpose::Reply { case_id, seq } = purpose
            && let Some(case) = loaded.get_mut(case_id).and_then(|l| l.state.as_mut())
        {
            outbox::unsend(case, *seq);
        }
    }
}

/// What became of an email reply.
enum Mailed {
    /// Not an email, or already sent.
    NotNeeded,
    Sent,
    /// Mail is unavailable: tried again next cycle.
    Later,
    /// Mail refused it: the error to keep.
    Refused(StoredError),
}

/// Send an email reply through the host, once per idempotency key; its
/// record is written after.
fn send_email(caps: &mut impl Capabilities, org: &OrgConfig, case: &mut CaseState, seq: u32, now: Timestamp) -> Mailed {
    let case_id = case.id().to_string();
    let Some(entry) = case.outbox.iter_mut().find(|e| e.seq == seq) else { return Mailed::NotNeeded };
    if entry.kind != state::ReplyKind::Email || entry.sent_email.is_some() {
        return Mailed::NotNeeded;
    }
    let Some(to) = entry.email_to.clone() else { return Mailed::NotNeeded };
    let email = OutgoingEmail {
        to: vec![to],
        cc: Vec::new(),
        subject: entry.email_subject.clone().unwrap_or_default(),
        text_body: entry.body.clone(),
        in_reply_to: entry.in_reply_to.clone(),
    };
    match caps.send_mail(&entry.idempotency_key(&org.name, &case_id), &email) {
        Ok(sent) => {
            outbox::email_sent(case, seq, sent.from_address, sent.message_id, now);
            Mailed::Sent
        }
        Err(HostFailure::Unavailable(reason)) => {
            caps.log(
                LogLevel::Warn,
                "mail is unavailable; the reply is retried next cycle",
                &[("case", case_id.as_str()), ("reason", reason.as_str())],
            );
            Mailed::Later
        }
        Err(HostFailure::Rejected(reason)) => {
            entry.delivery = state::Delivery::Refused(reason.clone());
            let error = ApiError { status: 0, code: "MAIL_REJECTED".into(), message: reason, fields: vec![] };
            Mailed::Refused(outbox::stored_error(
                format!("mail:{case_id}:{seq}"),
                &case_id,
                "email reply",
                &error,
                now,
                Some(format!("{case_id}/{seq}")),
            ))
        }
    }
}

/// The channel's workflow on the customer parts `owed` (A11), before the
/// agent: `Some(owed)` when the agent is to take its turn on them, `None`
/// when the workflow answered (a question, a hand-off). Steps that could not
/// do their work are kept as errors; the conversation carries on.
fn run_workflow(
    caps: &mut impl Capabilities,
    ctx: &Context,
    case: &mut CaseState,
    owed: Vec<String>,
    errors: &mut Vec<(String, Option<StoredError>)>,
) -> Option<Vec<String>> {
    let Some(flow) = ctx.org.workflow(crate::platform::Channel::SalesforceCase) else { return Some(owed) };
    if case.workflow.done {
        return Some(owed);
    }
    let answer: Vec<&str> = case
        .conversation
        .parts
        .iter()
        .filter(|p| owed.contains(&p.id))
        .map(|p| p.text.trim())
        .filter(|t| !t.is_empty())
        .collect();
    let answer = answer.join("\n");
    let inputs = workflow::Inputs {
        conversation: &case.conversation,
        case_catalog: ctx.catalogs.get("Case"),
        descriptions: &ctx.org.value_descriptions,
        answer: &answer,
    };
    let mut progress = case.workflow.clone();
    let (stop, problems) = workflow::advance(caps, flow, &mut progress, &inputs);
    case.workflow = progress;
    for problem in problems {
        let error = ApiError { status: 0, code: "WORKFLOW_STEP".into(), message: problem.message, fields: vec![] };
        let id = format!("workflow:{}:{}", case.id(), problem.step);
        let stored = outbox::stored_error(id.clone(), case.id(), "workflow step", &error, ctx.now, None);
        errors.push((id, Some(stored)));
    }
    let kind = outbox::reply_kind(case, ctx.org);
    let target = match stop {
        workflow::Stop::AgentAnswers => return Some(owed),
        workflow::Stop::Ask(question) => {
            outbox::add_reply(case, kind, &question, ctx.now);
            case.events.push(Event::AgentQuestion(ctx.now));
            case.agent_turns += 1;
            case.covered.extend(owed);
            case.updated_at = ctx.now;
            return None;
        }
        workflow::Stop::HandOffToTeam(target) => target,
        // Cases have no live chat: a Salesforce agent is the org's hand-off target.
        workflow::Stop::HandOffToSalesforceAgent => ctx.org.hand_off.clone(),
    };
    outbox::add_reply(case, kind, session::HAND_OFF_MESSAGE, ctx.now);
    case.events.push(Event::AgentCouldNotHelp(ctx.now));
    case.handed_off = true;
    case.pending_owner = Some(target.owner_id().to_string());
    case.covered.extend(owed);
    case.updated_at = ctx.now;
    None
}

/// Ask the agent for its turn on the customer parts `owed` (A7, A8).
/// Returns the error to keep while the agent fails.
fn take_turn(
    caps: &mut impl Capabilities,
    ctx: &Context,
    case: &mut CaseState,
    owed: Vec<String>,
) -> Option<StoredError> {
    // The agent sees the messages it owes an answer last, after every reply
    // already written (a message written while the agent composed its last
    // reply is older than that reply, but that reply did not answer it).
    let mut shown = case.conversation.clone();
    let (answered, unanswered): (Vec<_>, Vec<_>) = shown.parts.into_iter().partition(|p| !owed.contains(&p.id));
    shown.parts = answered.into_iter().chain(unanswered).collect();
    let turn = match caps.respond(&shown) {
        Ok(turn) => turn,
        Err(HostFailure::Unavailable(reason)) | Err(HostFailure::Rejected(reason)) => {
            caps.log(
                LogLevel::Warn,
                "the agent gave no turn; retrying next cycle",
                &[("case", case.id()), ("reason", reason.as_str())],
            );
            case.agent_failure = Some(reason.clone());
            let error = ApiError { status: 0, code: "AGENT_FAILED".into(), message: reason, fields: vec![] };
            return Some(outbox::stored_error(
                format!("agent:{}", case.id()),
                case.id(),
                "agent turn",
                &error,
                ctx.now,
                None,
            ));
        }
    };
    case.agent_failure = None;
    let last_at = case
        .conversation
        .parts
        .iter()
        .filter(|p| p.author == AuthorRole::Customer && owed.contains(&p.id))
        .map(|p| p.created_at)
        .max()
        .unwrap_or(ctx.now);
    case.covered.extend(owed);
    case.updated_at = ctx.now;
    for detected in turn.detected {
        match case.conversation.attributes.iter_mut().find(|a| a.name == detected.name) {
            Some(existing) => existing.value = detected.value,
            None => case.conversation.attributes.push(detected),
        }
    }
    let kind = outbox::reply_kind(case, ctx.org);
    match turn.action {
        AgentAction::Answer(text) => {
            outbox::add_reply(case, kind, &text, ctx.now);
            case.events.push(Event::AgentAnswer(ctx.now));
            case.agent_turns += 1;
        }
        AgentAction::Ask(text) => {
            outbox::add_reply(case, kind, &text, ctx.now);
            case.events.push(Event::AgentQuestion(ctx.now));
            case.agent_turns += 1;
        }
        AgentAction::HandOff(_reason) => {
            outbox::add_reply(case, kind, session::HAND_OFF_MESSAGE, ctx.now);
            case.events.push(Event::AgentCouldNotHelp(ctx.now));
            case.handed_off = true;
            case.pending_owner = Some(ctx.org.hand_off.owner_id().to_string());
        }
        AgentAction::Solved(closing) => {
            if let Some(text) = closing.filter(|t| !t.trim().is_empty()) {
                outbox::add_reply(case, kind, &text, ctx.now);
            }
            case.events.push(Event::CustomerConfirmed(last_at));
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::capabilities::testing::MemoryHost;
    use crate::model::{Credentials, HandOffTarget, ReplyChannel, Timeouts};
    use crate::salesforce::client::Session;
    use crate::salesforce::transport::{HttpResponse, ScriptedTransport};

    pub(crate) fn org() -> OrgConfig {
        OrgConfig {
            name: "acme".into(),
            login_url: "https://login.salesforce.com".into(),
            api_version: "62.0".into(),
            credentials: Credentials { client_id: "app".into(), client_secret: "s".into(), refresh_token: "r".into() },
            agent_user_id: "005000000000001AAA".into(),
            hand_off: HandOffTarget::Queue("00G000000000001AAA".into()),
            reply_as: ReplyChannel::CaseComment,
            involved_field: "FinInvolved__c".into(),
            resolution_state_field: "FinResolutionState__c".into(),
            topics: vec![],
            daily_api_budget: 100,
            poll_overlap_seconds: 120,
            resolution_timeouts: Timeouts::default(),
            mappings: vec![],
            person_match_key: crate::model::MatchKey::by_email(),
            company_match_key: crate::model::MatchKey::by_name(),
            crm: crate::crm::CrmOptions::default(),
            messenger: None,
            workflows: Vec::new(),
            value_descriptions: Vec::new(),
        }
    }

    /// A host whose org was set up (catalogs, a kept session) and has polled before.
    fn polled_host(org: &OrgConfig) -> MemoryHost {
        let mut host = MemoryHost { now: 1_700_000_000_000, ..Default::default() };
        for object in CATALOG_OBJECTS {
            let catalog = ObjectCatalog { object: object.into(), fields: vec![] };
            host.store.insert(state::catalog_key(object), serde_json::to_string(&catalog).unwrap());
        }
        let session = Session {
            access_token: "00D!token".into(),
            instance_url: "https://acme.my.salesforce.com".into(),
            identity_user_id: Some("005000000000009AAA".into()),
        };
        let sealed = crate::salesforce::session::seal(&session, &org.credentials);
        host.store.insert(state::SESSION_KEY.into(), serde_json::to_string(&sealed).unwrap());
        let poll = PollState {
            started_at: Some(host.now - 3_600_000),
            first_sweep_done: true,
            cases: cases::SweepKey::at(host.now - 120_000),
            children: crate::salesforce::cases::ChildKind::ALL
                .into_iter()
                .map(|k| (k, cases::SweepKey::at(host.now - 120_000)))
                .collect(),
            clock_offset_ms: 0,
        };
        host.store.insert(state::POLL_KEY.into(), serde_json::to_string(&poll).unwrap());
        host
    }

    fn empty_sweep() -> HttpResponse {
        let results: Vec<serde_json::Value> = ["cases", "CaseComment", "EmailMessage", "FeedItem", "FeedComment"]
            .iter()
            .map(|reference| {
                serde_json::json!({"body": {"totalSize": 0, "done": true, "records": []},
                    "httpHeaders": {}, "httpStatusCode": 200, "referenceId": reference})
            })
            .collect();
        HttpResponse::new(200, serde_json::json!({ "compositeResponse": results }).to_string())
            .with_header("Date", "Tue, 14 Nov 2023 22:13:20 GMT")
    }

    #[test]
    fn an_idle_cycle_is_one_call_with_the_kept_session_and_writes_only_its_bookkeeping() {
        let org = org();
        let mut host = polled_host(&org);
        let transport = ScriptedTransport::new().answer(empty_sweep());
        let report = run_cycle(&org, transport, &mut host).expect("the idle cycle succeeds");
        assert_eq!(report.api_calls, 1, "{report:?}");
        assert_eq!((report.cases_seen, report.replies_posted), (0, 0));
        // The bookkeeping (the day's calls) and the sweep keys are written; no conversation is.
        assert!(!host.store.keys().any(|k| k.starts_with(state::CONVERSATION_PREFIX)));
        let poll: PollState = serde_json::from_str(&host.store[state::POLL_KEY]).unwrap();
        let salesforce_now = 1_700_000_000_000 + 500;
        assert!(
            (poll.cases.stamp - (salesforce_now - 120_000)).abs() < 1000,
            "caught up by Salesforce's clock: {poll:?}"
        );
    }

    #[test]
    fn a_second_writer_during_the_cycle_makes_it_fail_and_write_nothing_of_its_page() {
        let org = org();
        let mut host = polled_host(&org);
        // Another process moves the poll state after this cycle read it:
        // simulated by a store that changes `poll` on the first commit attempt.
        struct Racing(MemoryHost, bool);
        impl Capabilities for Racing {
            fn now(&self) -> Timestamp {
                self.0.now
            }
            fn get(&mut self, key: &str) -> Result<Option<String>, crate::capabilities::StoreFailure> {
                self.0.get(key)
            }
            fn scan(&mut self, prefix: &str) -> Result<Vec<(String, String)>, crate::capabilities::StoreFailure> {
                self.0.scan(prefix)
            }
            fn commit(
                &mut self,
                expect: &[(String, Option<String>)],
                writes: &[crate::capabilities::StoreWrite],
            ) -> Result<(), crate::capabilities::StoreFailure> {
                if !self.1 && expect.iter().any(|(k, _)| k == state::POLL_KEY) {
                    self.1 = true;
                    self.0.store.insert(state::POLL_KEY.into(), "{\"started_at\":null,\"first_sweep_done\":false,\"cases\":{\"stamp\":0,\"id\":\"\"},\"children\":{},\"clock_offset_ms\":0}".into());
                }
                self.0.commit(expect, writes)
            }
            fn respond(
                &mut self,
                c: &crate::model::Conversation,
            ) -> Result<crate::capabilities::AgentTurn, HostFailure> {
                self.0.respond(c)
            }
            fn send_mail(&mut self, k: &str, m: &OutgoingEmail) -> Result<crate::capabilities::SentEmail, HostFailure> {
                self.0.send_mail(k, m)
            }
            fn log(&mut self, l: LogLevel, m: &str, f: &[(&str, &str)]) {
                self.0.log(l, m, f)
            }
        }
        host.now += 1;
        let mut racing = Racing(host, false);
        let error = run_cycle(&org, ScriptedTransport::new().answer(empty_sweep()), &mut racing).unwrap_err();
        assert!(matches!(&error, SyncError::Storage(m) if m.contains("another writer")), "{error:?}");
        let poll: PollState = serde_json::from_str(&racing.0.store[state::POLL_KEY]).unwrap();
        assert_eq!(poll.started_at, None, "the other writer's state stands");
    }
}
