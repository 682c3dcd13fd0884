//! `casebridge run`: every org cycled on its interval, many at once, never two
//! cycles of one org at the same time; a failing org backs off and its error
//! is recorded, without slowing the others.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::host::{Host, OrgError};
use crate::runtime::bindings::org::SyncError;

/// The longest a failing org waits between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60 * 60);
/// How long an org whose API limit is reached waits before trying again.
pub const API_LIMIT_BACKOFF: Duration = Duration::from_secs(60 * 60);
/// How long an org whose credentials were refused waits: it needs a person.
pub const RECONNECT_BACKOFF: Duration = Duration::from_secs(6 * 60 * 60);
/// A cycle that starts later than this after it was due counts as late.
pub const LATE_AFTER: Duration = Duration::from_secs(1);

/// When an org should next run after a cycle, given its interval and outcome.
pub fn next_delay(interval: Duration, outcome: &Result<(), OrgError>, consecutive_failures: u32) -> Duration {
    match outcome {
        Ok(()) => interval,
        Err(error) => match error.sync_error() {
            Some(SyncError::ApiLimit(_)) => API_LIMIT_BACKOFF,
            Some(SyncError::ReconnectRequired(_)) => RECONNECT_BACKOFF,
            _ => {
                let factor = 1u32 << consecutive_failures.min(6);
                (interval * factor).min(MAX_BACKOFF)
            }
        },
    }
}

/// What the scheduler has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleStats {
    pub cycles_started: u64,
    pub cycles_failed: u64,
    /// Cycles that started more than [`LATE_AFTER`] after they were due.
    pub cycles_late: u64,
    /// The longest delay between due and start, in milliseconds.
    pub worst_delay_ms: u64,
}

struct OrgSchedule {
    interval: Duration,
    due: Instant,
    running: bool,
    failures: u32,
}

/// Run every configured org until `shutdown` resolves; returns what was done.
pub async fn run(host: Arc<Host>, shutdown: impl std::future::Future<Output = ()>) -> ScheduleStats {
    let max_concurrent = usize::try_from(host.config().host.max_concurrent_cycles).unwrap_or(1).max(1);
    let permits = Arc::new(Semaphore::new(max_concurrent));
    let start = Instant::now();
    let mut orgs: BTreeMap<String, OrgSchedule> = host
        .config()
        .orgs
        .iter()
        .enumerate()
        .map(|(i, org)| {
            // Spread the first cycles over the interval so many orgs don't start at once.
            let count = host.config().orgs.len().max(1) as u32;
            let offset = org.poll_interval() * u32::try_from(i).unwrap_or(0) / count;
            (
                org.name.clone(),
                OrgSchedule { interval: org.poll_interval(), due: start + offset, running: false, failures: 0 },
            )
        })
        .collect();
    let mut stats = ScheduleStats::default();
    let mut running: JoinSet<(String, Result<(), OrgError>)> = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let now = Instant::now();
        for (name, schedule) in orgs.iter_mut().filter(|(_, s)| !s.running && s.due <= now) {
            let delay = now.saturating_duration_since(schedule.due);
            stats.cycles_started += 1;
            stats.worst_delay_ms = stats.worst_delay_ms.max(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
            if delay > LATE_AFTER {
                stats.cycles_late += 1;
            }
            schedule.running = true;
            let (host, permits, name) = (host.clone(), permits.clone(), name.clone());
            running.spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    return (name, Ok(()));
                };
                let outcome = host.cycle(&name).await.map(|_| ());
                (name, outcome)
            });
        }
        let next_due = orgs.values().filter(|s| !s.running).map(|s| s.due).min();
        tokio::select! {
            _ = &mut shutdown => break,
            Some(done) = running.join_next() => {
                let Ok((name, outcome)) = done else { continue };
                if let Err(error) = &outcome {
                    stats.cycles_failed += 1;
                    tracing::warn!(org = %name, "cycle failed: {error}");
                }
                if let Some(schedule) = orgs.get_mut(&name) {
                    schedule.failures = if outcome.is_ok() { 0 } else { schedule.failures.saturating_add(1) };
                    let delay = next_delay(schedule.interval, &outcome, schedule.failures.saturating_sub(1));
                    schedule.due = Instant::now() + delay;
                    schedule.running = false;
                    let at = chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    let _ = host.store().set_next_run(&name, at);
                }
            }
            _ = sleep_until(next_due) => {}
        }
    }
    running.shutdown().await;
    stats
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
    use crate::runtime::bindings::org::ApiUsage;

    fn failed(error: SyncError) -> Result<(), OrgError> {
        Err(OrgError::Sync { org: "acme".into(), error })
    }

    #[test]
    fn failing_orgs_back_off_exponentially_up_to_an_hour() {
        let minute = Duration::from_secs(60);
        let transport = || failed(SyncError::Transport("down".into()));
        assert_eq!(next_delay(minute, &Ok(()), 0), minute);
        assert_eq!(next_delay(minute, &transport(), 0), minute);
        assert_eq!(next_delay(minute, &transport(), 1), minute * 2);
        assert_eq!(next_delay(minute, &transport(), 3), minute * 8);
        assert_eq!(next_delay(minute, &transport(), 30), MAX_BACKOFF);
    }

    #[test]
    fn api_limits_and_refused_credentials_wait_longer() {
        let minute = Duration::from_secs(60);
        let limit = failed(SyncError::ApiLimit(ApiUsage { used: 5, max: 5 }));
        assert_eq!(next_delay(minute, &limit, 0), API_LIMIT_BACKOFF);
        let refused = failed(SyncError::ReconnectRequired("invalid_grant".into()));
        assert_eq!(next_delay(minute, &refused, 0), RECONNECT_BACKOFF);
    }
}
