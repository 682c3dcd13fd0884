//! `casebridge run`: every org cycled on its interval, many at once, never two
//! cycles of one org at the same time — in this process or any other on the
//! same database (each cycle takes the org's lease).
//!
//! Several hosts on one database (E12) divide the orgs between them without
//! talking to each other: every host schedules every org, and when an org
//! comes due it first reads when the org's last cycle — on whichever host —
//! said it runs next. Is that later, another host has cycled it: this host
//! adopts that time and does nothing. Is it due, the host takes the org's
//! lease and, if the org's last finished cycle is still the one it read
//! (none finished in between), cycles it. A host adopting another's time
//! comes due a random moment after it ([`after_adopting`]), so the host
//! that cycled an org keeps it while it keeps up, and a host that died or
//! fell behind loses its orgs to the others. A host that finds the lease held tries again when
//! the lease would expire (so a host that died mid-cycle is taken over
//! within `[host] lease_ttl_seconds`), and by then finds the org's next run
//! recorded and adopts it.
//!
//! What happens after a cycle ([`plan`]):
//!
//! | outcome | next attempt |
//! |---|---|
//! | success | the org's interval; about a second when the report shows a backlog |
//! | another process cycling the org | when its lease expires (at most the interval later), then a moment after the holder's recorded next run |
//! | transient: Salesforce unreachable, 5xx, storage unavailable, a store conflict, a lost lease | the org's interval, however often it happened: an org recovers at its next interval after an outage |
//! | needs a person: invalid configuration, a refused origin, a trapping component, a 4xx on the poll | exponential back-off from the interval, up to [`MAX_BACKOFF`] |
//! | refused or missing credentials | [`RECONNECT_BACKOFF`], or at once after `casebridge org connect` |
//! | the configured `daily_api_budget` spent | the next UTC midnight |
//! | Salesforce's own API limit | [`SALESFORCE_LIMIT_WAIT`](crate::host::SALESFORCE_LIMIT_WAIT) |
//!
//! `casebridge org connect` records a wake request in the database; the
//! scheduler looks for them every [`WAKE_POLL_EVERY`] and makes the org due
//! at once, clearing its back-off.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::{OrgConfig, SyncMode};
use crate::host::{ApiLimit, Claimed, Host, OrgError};
use crate::runtime::bindings::org::SyncError;
use crate::runtime::bindings::sync::CycleReport;
use crate::secrets::SecretError;

/// The longest a failing org waits between attempts when the failure needs a
/// person (a fix in the configuration or the connector): an hour keeps the
/// log readable and costs next to nothing, and the org resumes within the
/// hour once fixed.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60 * 60);
/// How long an org whose credentials were refused or are missing waits,
/// unless `casebridge org connect` wakes it first: repeated refused logins
/// can get the integration user locked, and only a person can fix them.
pub const RECONNECT_BACKOFF: Duration = Duration::from_secs(6 * 60 * 60);
/// A cycle that starts (has its concurrency permit) later than this after it
/// was due counts as late.
pub const LATE_AFTER: Duration = Duration::from_secs(1);
/// The wait before the next cycle of an org with a backlog: the connector
/// pages through a large first poll or a catch-up one page per cycle, so the
/// next page follows at once instead of an interval later.
pub const BACKLOG_DELAY: Duration = Duration::from_secs(1);
/// How far behind `now − poll_overlap_seconds` a watermark may be before the
/// org counts as having a backlog: ten minutes absorbs clock skew between
/// Salesforce and this host, and a quiet org's watermark that stays where
/// the last change left it is only behind when that change was also seen
/// with cases still coming (`cases_seen > 0`).
pub const BACKLOG_SLACK: Duration = Duration::from_secs(10 * 60);
/// How often the scheduler looks for wake requests (`casebridge org
/// connect`): a read of the small `org_status` table, so a few seconds is cheap.
pub const WAKE_POLL_EVERY: Duration = Duration::from_secs(2);

/// What comes after a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The org's interval.
    NextInterval,
    /// [`BACKLOG_DELAY`]: the connector has more to read.
    Backlog,
    /// Exponential back-off: the failure needs a person.
    BackOff,
    /// [`RECONNECT_BACKOFF`], or a wake request, whichever comes first.
    Reconnect,
    /// A fixed time: when an API limit resets.
    At(DateTime<Utc>),
    /// When another process's lease on the org expires: by then it has
    /// recorded the org's next run, or it died and the org is free.
    LeaseExpiry(DateTime<Utc>),
}

/// What comes after a cycle of `org` that ended with `outcome`, at `now`.
pub fn plan(org: &OrgConfig, outcome: &Result<CycleReport, OrgError>, now: DateTime<Utc>) -> Plan {
    match outcome {
        Ok(report) if has_backlog(org, report, now) => Plan::Backlog,
        Ok(_) => Plan::NextInterval,
        Err(error) => plan_after(error, now),
    }
}

/// What comes after a call for an org that failed with `error` at `now`.
pub fn plan_after(error: &OrgError, now: DateTime<Utc>) -> Plan {
    match error {
        OrgError::Busy { until, .. } => Plan::LeaseExpiry(*until),
        OrgError::Storage { .. } | OrgError::LeaseLost { .. } => Plan::NextInterval,
        OrgError::Credentials { source, .. } if matches!(**source, SecretError::Storage(_)) => Plan::NextInterval,
        OrgError::Credentials { .. } => Plan::Reconnect,
        OrgError::UnknownOrg(_)
        | OrgError::Setup { .. }
        | OrgError::Stopped { .. }
        | OrgError::RefusedOrigin { .. } => Plan::BackOff,
        OrgError::ApiLimit { limit: ApiLimit::Budget { resets_at, .. }, .. } => Plan::At(*resets_at),
        OrgError::ApiLimit { limit: ApiLimit::Salesforce { retry_at, .. }, .. } => Plan::At(*retry_at),
        OrgError::Sync { error, .. } => match error {
            SyncError::Transport(_) | SyncError::Storage(_) | SyncError::Host(_) => Plan::NextInterval,
            SyncError::Salesforce(api) if is_transient_status(api.status, &api.code) => Plan::NextInterval,
            SyncError::ReconnectRequired(_) => Plan::Reconnect,
            SyncError::ApiLimit(_) => {
                Plan::At(now + chrono::Duration::from_std(crate::host::SALESFORCE_LIMIT_WAIT).unwrap_or_default())
            }
            SyncError::Salesforce(_)
            | SyncError::InvalidConfig(_)
            | SyncError::Unsupported(_)
            | SyncError::MalformedResponse(_) => Plan::BackOff,
        },
    }
}

/// Salesforce answers that may go away by themselves: server errors,
/// throttling and row locks.
fn is_transient_status(status: u16, code: &str) -> bool {
    status >= 500 || status == 429 || matches!(code, "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE")
}

/// Whether the report shows that the poll is behind: it read cases and its
/// watermark is older than the overlap plus [`BACKLOG_SLACK`].
fn has_backlog(org: &OrgConfig, report: &CycleReport, now: DateTime<Utc>) -> bool {
    let Some(watermark) = report.watermark.and_then(DateTime::from_timestamp_millis) else { return false };
    let behind = Duration::from_secs(u64::from(org.poll_overlap_seconds)) + BACKLOG_SLACK;
    report.cases_seen > 0 && watermark < now - chrono::Duration::from_std(behind).unwrap_or_default()
}

/// How long to wait after `plan`, for an org with this `interval` that has
/// failed `failures` times in a row (this cycle included).
pub fn delay(plan: Plan, interval: Duration, failures: u32, now: DateTime<Utc>) -> Duration {
    match plan {
        Plan::NextInterval => interval,
        Plan::Backlog => BACKLOG_DELAY.min(interval),
        Plan::BackOff => {
            let factor = 1u32 << failures.saturating_sub(1).min(6);
            // Never shorter than the interval, even when that is over an hour.
            (interval * factor).min(MAX_BACKOFF.max(interval))
        }
        Plan::Reconnect => RECONNECT_BACKOFF,
        Plan::At(at) => (at - now).to_std().unwrap_or(Duration::ZERO).max(interval.min(BACKLOG_DELAY)),
        Plan::LeaseExpiry(until) => {
            let expiry = (until - now).to_std().unwrap_or(Duration::ZERO) + LEASE_EXPIRY_MARGIN;
            expiry.clamp(BACKLOG_DELAY.min(interval), interval)
        }
    }
}

/// What the scheduler has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleStats {
    /// Cycles that got their concurrency permit (skipped ones included).
    pub cycles_started: u64,
    pub cycles_failed: u64,
    /// Cycles not run because another process was cycling the org.
    pub cycles_skipped: u64,
    /// Cycles not run because another host had already cycled the org
    /// (its recorded next run was later): this host adopted that time.
    pub cycles_adopted: u64,
    /// Cycles that got their permit more than [`LATE_AFTER`] after they were due.
    pub cycles_late: u64,
    /// The longest delay between due and permit, in milliseconds.
    pub worst_delay_ms: u64,
}

struct OrgSchedule {
    due: Instant,
    running: bool,
    failures: u32,
    /// A wake request came while the org was running: due at once after it.
    woken: bool,
    /// Due early (a wake request, a stream event): cycle without first
    /// adopting another host's recorded next run.
    forced: bool,
    /// The org's stream is live: the safety poll's interval applies
    /// (streaming mode; always false for a polling org).
    stream_live: Arc<AtomicBool>,
}

/// How long after another process's lease expires this host tries the org
/// again: time for a holder that finished to have recorded the next run.
pub const LEASE_EXPIRY_MARGIN: Duration = Duration::from_millis(500);
/// How much later than now an org's recorded next run must be for this
/// host to take it as another host's cycle and adopt it (this host's own
/// record is, at the instant it is due, never later than now).
pub const ADOPT_AFTER: Duration = Duration::from_secs(1);

/// See [`after_adopting`]: longer than an idle cycle takes, so a live
/// holder has recorded its cycle by then.
pub const ADOPT_GRACE: Duration = Duration::from_secs(1);

/// What one scheduled cycle task reports back.
struct Finished {
    org: String,
    outcome: Result<(), OrgError>,
    /// The wait before the next attempt.
    next: Duration,
    failures: u32,
}

/// The statistics, shared with the cycle tasks (which count a cycle as
/// started, and how late, the moment they get their permit).
type SharedStats = Arc<std::sync::Mutex<ScheduleStats>>;

fn update(stats: &SharedStats, change: impl FnOnce(&mut ScheduleStats)) {
    change(&mut stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
}

/// Run every configured org until `shutdown` resolves; returns what was done.
pub async fn run(host: Arc<Host>, shutdown: impl std::future::Future<Output = ()>) -> ScheduleStats {
    let max_concurrent = usize::try_from(host.config().host.max_concurrent_cycles).unwrap_or(1).max(1);
    let permits = Arc::new(Semaphore::new(max_concurrent));
    let start = Instant::now();
    let count = u32::try_from(host.config().orgs.len()).unwrap_or(u32::MAX).max(1);
    let shared = host.store().is_shared();
    let mut orgs: BTreeMap<String, OrgSchedule> = host
        .config()
        .orgs
        .iter()
        .enumerate()
        .map(|(i, org)| {
            // Spread the first cycles over the interval so many orgs don't
            // start at once; on a shared database, hosts started together
            // don't all claim an org at the same instant either.
            let mut offset = org.poll_interval() * u32::try_from(i).unwrap_or(0) / count;
            if shared {
                offset += ADOPT_GRACE.min(org.poll_interval() / 4).mul_f64(random_fraction());
            }
            let schedule = OrgSchedule {
                due: start + offset,
                running: false,
                failures: 0,
                woken: false,
                forced: false,
                stream_live: Arc::default(),
            };
            (org.name.clone(), schedule)
        })
        .collect();
    let mut wakes_seen = wake_requests(&host).await;
    let stats: SharedStats = Arc::default();
    let mut running: JoinSet<Finished> = JoinSet::new();
    // Streaming orgs (E4): one stream task each, signalling back here.
    let (signal_tx, mut signals) = tokio::sync::mpsc::unbounded_channel();
    let mut streams = JoinSet::new();
    for org in host.config().orgs.iter().filter(|org| org.mode == SyncMode::Streaming) {
        streams.spawn(crate::streaming::run(host.clone(), org.name.clone(), signal_tx.clone(), permits.clone()));
    }
    let mut wake_poll = tokio::time::interval_at(start + WAKE_POLL_EVERY, WAKE_POLL_EVERY);
    wake_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        let now = Instant::now();
        for (name, schedule) in orgs.iter_mut().filter(|(_, s)| !s.running && s.due <= now) {
            schedule.running = true;
            let (host, permits, name) = (host.clone(), permits.clone(), name.clone());
            let (due, failures, live) = (schedule.due, schedule.failures, schedule.stream_live.clone());
            let due = Due { at: due, forced: std::mem::take(&mut schedule.forced) };
            running.spawn(scheduled_cycle(host, permits, stats.clone(), name, due, failures, live));
        }
        let next_due = orgs.values().filter(|s| !s.running).map(|s| s.due).min();
        tokio::select! {
            _ = &mut shutdown => break,
            Some(done) = running.join_next() => {
                let Ok(done) = done else { continue };
                match &done.outcome {
                    Err(error @ OrgError::Busy { .. }) => {
                        update(&stats, |stats| stats.cycles_skipped += 1);
                        tracing::info!(org = %done.org, "{error}");
                    }
                    Err(error) => {
                        update(&stats, |stats| stats.cycles_failed += 1);
                        tracing::warn!(org = %done.org, next_attempt_in_s = done.next.as_secs(), "cycle failed: {error}");
                    }
                    Ok(()) => {}
                }
                if let Some(schedule) = orgs.get_mut(&done.org) {
                    schedule.failures = done.failures;
                    schedule.due = Instant::now() + if schedule.woken { Duration::ZERO } else { done.next };
                    schedule.forced = schedule.woken;
                    schedule.running = false;
                    schedule.woken = false;
                }
            }
            _ = wake_poll.tick() => {
                let requests = wake_requests(&host).await;
                for (org, at) in &requests {
                    if wakes_seen.get(org).is_some_and(|seen| seen >= at) {
                        continue;
                    }
                    if let Some(schedule) = orgs.get_mut(org) {
                        tracing::info!(org = %org, "the org was connected again; trying it now");
                        schedule.failures = 0;
                        if schedule.running {
                            schedule.woken = true;
                        } else {
                            schedule.due = Instant::now();
                            schedule.forced = true;
                        }
                    }
                }
                wakes_seen = requests;
            }
            Some(signal) = signals.recv() => {
                let Some(schedule) = orgs.get_mut(&signal.org) else { continue };
                let was_live = schedule.stream_live.swap(signal.live, Ordering::Relaxed);
                if signal.cycle_now && schedule.failures == 0 {
                    // A change to the agent's cases, or events the stream may
                    // have missed: cycle now (a failing org keeps its back-off).
                    if schedule.running {
                        schedule.woken = true;
                    } else {
                        schedule.due = Instant::now();
                        schedule.forced = true;
                    }
                } else if was_live && !signal.live && !schedule.running {
                    // The stream went down: poll on the ordinary interval again.
                    let interval = host.config().org(&signal.org).map(OrgConfig::poll_interval).unwrap_or_default();
                    schedule.due = schedule.due.min(Instant::now() + interval);
                }
            }
            _ = sleep_until(next_due) => {}
        }
    }
    drop(signal_tx);
    streams.shutdown().await;
    running.shutdown().await;
    stats.lock().map_or_else(|poisoned| *poisoned.into_inner(), |stats| *stats)
}

/// When an org came due, and whether early.
struct Due {
    at: Instant,
    forced: bool,
}

/// One cycle: wait for a concurrency permit; unless another host has
/// cycled the org since (adopt its next run), run the cycle under the org's
/// lease and record when it runs next (in the cycle's own transaction).
async fn scheduled_cycle(
    host: Arc<Host>,
    permits: Arc<Semaphore>,
    stats: SharedStats,
    name: String,
    due: Due,
    failures: u32,
    stream_live: Arc<AtomicBool>,
) -> Finished {
    let Ok(_permit) = permits.acquire_owned().await else {
        return Finished { org: name, outcome: Ok(()), next: Duration::ZERO, failures };
    };
    let interval = host.config().org(&name).map(|org| org.cycle_interval(stream_live.load(Ordering::Relaxed)));
    // Unless forced, look first: another host may have cycled the org.
    let seen = match (due.forced, interval) {
        (false, Some(interval)) => match look(&host, &name, interval).await {
            Some(Look::CycledElsewhere(until)) => {
                update(&stats, |stats| stats.cycles_adopted += 1);
                return Finished { org: name, outcome: Ok(()), next: after_adopting(until, interval), failures };
            }
            Some(Look::Due { last_finished }) => Some(last_finished),
            None => None,
        },
        _ => None,
    };
    // Late is measured here: waiting for a permit is being late.
    let late_by = Instant::now().saturating_duration_since(due.at);
    update(&stats, |stats| {
        stats.cycles_started += 1;
        stats.worst_delay_ms = stats.worst_delay_ms.max(u64::try_from(late_by.as_millis()).unwrap_or(u64::MAX));
        if late_by > LATE_AFTER {
            stats.cycles_late += 1;
        }
    });
    let Some(org) = host.config().org(&name).cloned() else {
        return Finished { org: name, outcome: Ok(()), next: MAX_BACKOFF, failures };
    };
    let mut next = org.poll_interval();
    let mut failures_after = failures;
    let plan = |outcome: &Result<CycleReport, OrgError>| {
        let now = Utc::now();
        let plan = plan(&org, outcome, now);
        failures_after = match outcome {
            Ok(_) => 0,
            // Another process cycling the org is not this org failing.
            Err(OrgError::Busy { .. }) => failures,
            Err(_) => failures.saturating_add(1),
        };
        let interval = org.cycle_interval(stream_live.load(Ordering::Relaxed));
        next = delay(plan, interval, failures_after, now);
        Some(now + chrono::Duration::from_std(next).unwrap_or_default())
    };
    let outcome = match seen {
        None => host.planned_cycle(&name, plan).await.map(drop),
        Some(last_finished) => match host.planned_cycle_unless_cycled_since(&name, last_finished, plan).await {
            Ok(Claimed::Ran(_)) => Ok(()),
            Ok(Claimed::CycledElsewhere { next_run_at }) => {
                // Between the look and the lease: adopt the other run.
                update(&stats, |stats| stats.cycles_adopted += 1);
                let interval = org.cycle_interval(stream_live.load(Ordering::Relaxed));
                let until = next_run_at.and_then(|at| (at - Utc::now()).to_std().ok()).unwrap_or(interval);
                let next = after_adopting(until.min(interval), interval);
                return Finished { org: name, outcome: Ok(()), next, failures };
            }
            Err(error) => Err(error),
        },
    };
    match &outcome {
        Ok(()) => tracing::debug!(org = %name, next_in_ms = next.as_millis(), "cycled"),
        // Nothing ran, so nothing was planned: try when the holder's lease expires.
        Err(busy @ OrgError::Busy { .. }) => {
            let now = Utc::now();
            next = delay(plan_after(busy, now), org.cycle_interval(stream_live.load(Ordering::Relaxed)), failures, now);
        }
        Err(_) => {}
    }
    Finished { org: name, outcome, next, failures: failures_after }
}

/// What a host finds when a due org's status is read before claiming it.
enum Look {
    /// The org's recorded next run is later than now by more than
    /// [`ADOPT_AFTER`] and at most an interval: another host cycled it since
    /// this host planned. Wait this long.
    CycledElsewhere(Duration),
    /// Due. The end of its last finished cycle: the claim goes ahead only if
    /// that is still its last when the lease is held.
    Due { last_finished: Option<DateTime<Utc>> },
}

/// Read the org's status before claiming it (`None` when the store cannot
/// say: cycle without conditions). A recorded next run further away than an
/// interval — a back-off, a previous run's plan — is not inherited (a
/// restart retries at once).
async fn look(host: &Arc<Host>, org: &str, interval: Duration) -> Option<Look> {
    let (store, name) = (host.store().clone(), org.to_string());
    let status = tokio::task::spawn_blocking(move || store.org_status(&name)).await.ok()?.ok()?;
    let Some(status) = status else { return Some(Look::Due { last_finished: None }) };
    let until = status.next_run_at.and_then(|at| (at - Utc::now()).to_std().ok());
    match until {
        Some(until) if until > ADOPT_AFTER && until <= interval + ADOPT_AFTER => {
            tracing::debug!(org, "cycled by another host; next at {:?}", status.next_run_at);
            Some(Look::CycledElsewhere(until))
        }
        _ => Some(Look::Due { last_finished: status.last_cycle_finished_at }),
    }
}

/// How long after another host's recorded next run this host comes due
/// for the org: between one and two [`ADOPT_GRACE`]s (a quarter of the
/// interval at most), at random. The host that ran the last cycle comes
/// due at that time itself, so it keeps the org and the others find its
/// cycle recorded (one read each) instead of racing it for the lease; when
/// it has died, or is behind (waiting for a concurrency permit), one of the
/// others claims the org a moment later.
fn after_adopting(until: Duration, interval: Duration) -> Duration {
    let grace = ADOPT_GRACE.min(interval / 4);
    until + grace + grace.mul_f64(random_fraction())
}

/// A random number in [0, 1) (std's randomly keyed hasher: enough to keep
/// hosts from coming due at the same instant).
fn random_fraction() -> f64 {
    use std::hash::BuildHasher as _;
    let random = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    (random >> 11) as f64 / (1u64 << 53) as f64
}

/// Every org's latest wake request (empty when the store cannot say: the
/// next poll asks again).
async fn wake_requests(host: &Arc<Host>) -> BTreeMap<String, DateTime<Utc>> {
    let store = host.store().clone();
    match tokio::task::spawn_blocking(move || store.wake_requests()).await {
        Ok(Ok(requests)) => requests.into_iter().collect(),
        Ok(Err(error)) => {
            tracing::warn!("cannot read wake requests: {error}");
            BTreeMap::new()
        }
        Err(_) => BTreeMap::new(),
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Stop;
    use crate::runtime::bindings::org::{self, ApiError, ApiUsage};

    const MINUTE: Duration = Duration::from_secs(60);

    fn org() -> OrgConfig {
        crate::config::Config::parse(crate::config::EXAMPLE_CONFIG).expect("the example parses").orgs[0].clone()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z").expect("a time").with_timezone(&Utc)
    }

    fn failed(error: SyncError) -> Result<CycleReport, OrgError> {
        Err(OrgError::Sync { org: "acme".into(), error })
    }

    fn next(outcome: &Result<CycleReport, OrgError>, failures: u32) -> Duration {
        delay(plan(&org(), outcome, now()), MINUTE, failures, now())
    }

    fn report(cases_seen: u32, watermark_minutes_ago: i64) -> CycleReport {
        CycleReport {
            cases_seen,
            conversations_created: 0,
            conversations_updated: 0,
            replies_posted: 0,
            emails_sent: 0,
            hand_offs: 0,
            state_changes: 0,
            records_to_salesforce: 0,
            records_to_platform: 0,
            records_linked: 0,
            api_calls: 1,
            api_usage: None,
            errors: Vec::new(),
            watermark: Some((now() - chrono::Duration::minutes(watermark_minutes_ago)).timestamp_millis()),
        }
    }

    #[test]
    fn transient_failures_are_tried_again_at_the_next_interval_however_often_they_happen() {
        let transport = failed(SyncError::Transport("connection refused".into()));
        let server = failed(SyncError::Salesforce(ApiError {
            status: 503,
            code: "SERVER_UNAVAILABLE".into(),
            message: "down".into(),
            fields: Vec::new(),
        }));
        let storage = failed(SyncError::Storage("conflict on watermark".into()));
        let lost = Err(OrgError::LeaseLost { org: "acme".into(), detail: "taken over".into() });
        for outcome in [&transport, &server, &storage, &lost] {
            for failures in [1, 5, 40] {
                assert_eq!(next(outcome, failures), MINUTE, "{outcome:?} after {failures} failures");
            }
        }
    }

    #[test]
    fn failures_that_need_a_person_back_off_exponentially_up_to_an_hour() {
        let config = failed(SyncError::InvalidConfig("agent_user is not a user".into()));
        let trap = Err(OrgError::Stopped { org: "acme".into(), stop: Stop::Crashed { trap: "unreachable".into() } });
        for outcome in [&config, &trap] {
            assert_eq!(next(outcome, 1), MINUTE);
            assert_eq!(next(outcome, 2), MINUTE * 2);
            assert_eq!(next(outcome, 4), MINUTE * 8);
            assert_eq!(next(outcome, 30), MAX_BACKOFF);
        }
    }

    #[test]
    fn refused_credentials_wait_for_a_reconnect() {
        let refused = failed(SyncError::ReconnectRequired("invalid_grant".into()));
        assert_eq!(next(&refused, 1), RECONNECT_BACKOFF);
    }

    #[test]
    fn the_daily_budget_waits_until_the_next_utc_midnight_and_salesforces_limit_an_hour() {
        let budget = org().daily_api_budget;
        let spent = Err(OrgError::ApiLimit {
            org: "acme".into(),
            limit: ApiLimit::Budget { used: budget, budget, resets_at: crate::host::next_utc_midnight(now()) },
        });
        assert_eq!(next(&spent, 1), Duration::from_secs(12 * 60 * 60));
        let salesforce = failed(SyncError::ApiLimit(org::ApiLimit {
            kind: org::LimitKind::OrgLimit,
            usage: ApiUsage { used: 15_000, max: 15_000 },
            resets_at: None,
        }));
        assert_eq!(next(&salesforce, 1), crate::host::SALESFORCE_LIMIT_WAIT);
    }

    #[test]
    fn a_backlog_brings_the_next_cycle_forward_and_a_caught_up_org_waits_its_interval() {
        assert_eq!(next(&Ok(report(2000, 24 * 60)), 0), BACKLOG_DELAY);
        assert_eq!(next(&Ok(report(3, 1)), 0), MINUTE, "caught up");
        assert_eq!(next(&Ok(report(0, 24 * 60)), 0), MINUTE, "quiet org with an old watermark");
        let mut no_watermark = report(5, 0);
        no_watermark.watermark = None;
        assert_eq!(next(&Ok(no_watermark), 0), MINUTE);
    }

    #[test]
    fn another_process_cycling_the_org_is_tried_again_when_its_lease_expires() {
        let busy = |until| {
            Err(OrgError::Busy { org: "acme".into(), holder: crate::storage::Holder::new("x", 1234, "ab"), until })
        };
        let in_20_s = now() + chrono::Duration::seconds(20);
        assert_eq!(next(&busy(in_20_s), 3), Duration::from_secs(20) + LEASE_EXPIRY_MARGIN);
        assert_eq!(next(&busy(now() + chrono::Duration::hours(1)), 3), MINUTE, "at most the interval");
        assert_eq!(next(&busy(now() - chrono::Duration::seconds(5)), 3), BACKLOG_DELAY, "expired: soon");
    }
}
