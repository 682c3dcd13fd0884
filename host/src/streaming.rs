//! Streaming mode (E4): one task per `mode = "streaming"` org drives the
//! connector's `streaming` export. The connector speaks CometD, keeps the
//! replay position and decides what each event means; this task only does
//! what a sandboxed component cannot: it holds the long `/meta/connect`
//! open ([`send_held`], under the org's allow-list) with no guest instance
//! alive while it waits, and tells the scheduler when to cycle.
//!
//! ```text
//! open ─▶ step ─┬─ hold: wait delay-ms, send and hold ─▶ deliver ─▶ step …
//!               └─ no hold: wait retry-after-ms ─▶ open
//! ```
//!
//! Each step goes to the scheduler as a [`StreamSignal`] (cycle now; is the
//! stream live, which decides between the safety poll and the ordinary
//! interval) and, when it says something new, into the org's status row.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::UnboundedSender;

use crate::host::{Host, OrgError};
use crate::runtime::bindings::streaming::StreamHealth;
use crate::runtime::held::send_held;
use crate::scheduler::{Plan, delay, plan_after};
use crate::storage::StreamStatus;

/// The first wait before `open` is tried again after it failed for a
/// reason that may pass (Salesforce or the network down); it doubles with
/// each failure in a row, up to the scheduler's back-off ceiling.
pub const STREAM_RETRY: Duration = Duration::from_secs(15);

/// What a stream step tells the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSignal {
    pub org: String,
    /// Run the org's cycle now.
    pub cycle_now: bool,
    /// The stream is subscribed: the safety poll's interval applies.
    pub live: bool,
}

/// The name `status` shows for a health.
pub fn health_name(health: StreamHealth) -> &'static str {
    match health {
        StreamHealth::Live => "live",
        StreamHealth::Reconnecting => "reconnecting",
        StreamHealth::Paused => "paused",
    }
}

/// How the stream stands, kept between steps for the status row.
struct Tracker {
    org: String,
    status: Option<StreamStatus>,
}

impl Tracker {
    /// Record `health` and `detail` with this step's counts; writes the
    /// status row when something changed (an idle connect that comes back
    /// empty writes nothing).
    async fn record(&mut self, host: &Arc<Host>, health: &str, detail: String, counts: [u32; 3]) {
        let now = Utc::now();
        let previous = self.status.as_ref();
        let unchanged = previous.is_some_and(|p| p.health == health && p.detail == detail) && counts[0] == 0;
        if unchanged {
            return;
        }
        let since = previous.filter(|p| p.health == health).map_or(now, |p| p.since);
        let total = |index: usize, of: fn(&StreamStatus) -> u64| {
            previous.map_or(0, of).saturating_add(u64::from(counts[index]))
        };
        let status = StreamStatus {
            health: health.to_string(),
            detail,
            at: now,
            since,
            events: total(0, |p| p.events),
            own_writes: total(1, |p| p.own_writes),
            relevant: total(2, |p| p.relevant),
        };
        let (store, org, row) = (host.store().clone(), self.org.clone(), status.clone());
        match tokio::task::spawn_blocking(move || store.set_stream_status(&org, &row)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(org = %self.org, "cannot record the stream's status: {error}"),
            Err(_) => {}
        }
        self.status = Some(status);
    }
}

/// Run `name`'s stream until the task is dropped (the scheduler aborts it
/// at shutdown: nothing is lost, the replay position is stored per step).
///
/// `permits` are the scheduler's: each step's short guest call takes one,
/// as a cycle does, so a thousand streams opening at once never hold more
/// component instances than `max_concurrent_cycles` (the held connect
/// itself takes none).
pub async fn run(host: Arc<Host>, name: String, signals: UnboundedSender<StreamSignal>, permits: Arc<Semaphore>) {
    let Some(org) = host.config().org(&name).cloned() else { return };
    let allowed = match org.allowed_hosts() {
        Ok(allowed) => allowed,
        Err(error) => {
            tracing::warn!(org = %name, "the org's stream cannot start: {error:#}");
            return;
        }
    };
    let mut tracker = Tracker { org: name.clone(), status: None };
    let mut failures = 0u32;
    loop {
        let opened = match permits.acquire().await {
            Ok(_permit) => host.stream_open(&name).await,
            Err(_) => return, // the scheduler is gone
        };
        let mut step = match opened {
            Ok(step) => {
                failures = 0;
                step
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let wait = open_retry(&error, failures);
                tracing::warn!(org = %name, retry_in_s = wait.as_secs(), "the org's stream cannot open: {error}");
                let detail = format!("cannot open: {} (trying again in {} s)", error.reason(), wait.as_secs());
                tracker.record(&host, "reconnecting", detail, [0; 3]).await;
                let _ = signals.send(StreamSignal { org: name.clone(), cycle_now: false, live: false });
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        loop {
            let live = step.health == StreamHealth::Live;
            tracing::debug!(org = %name, health = health_name(step.health), events = step.events, relevant = step.relevant, "stream step");
            let counts = [step.events, step.own_writes, step.relevant];
            tracker.record(&host, health_name(step.health), step.detail.clone(), counts).await;
            let signal = StreamSignal { org: name.clone(), cycle_now: step.cycle_now, live };
            if signals.send(signal).is_err() {
                return; // the scheduler is gone
            }
            let Some(hold) = step.hold.take() else {
                tokio::time::sleep(Duration::from_millis(u64::from(step.retry_after_ms))).await;
                break;
            };
            tokio::time::sleep(Duration::from_millis(u64::from(hold.delay_ms))).await;
            let answer = send_held(&allowed, &hold).await;
            let delivered = match permits.acquire().await {
                Ok(_permit) => host.stream_deliver(&name, answer).await,
                Err(_) => return,
            };
            step = match delivered {
                Ok(next) => next,
                Err(error) => {
                    // The connector could not read the answer (its store
                    // unavailable, a crash): start over from the stored
                    // replay position.
                    tracing::warn!(org = %name, "the org's stream lost a step: {error}");
                    let detail = format!("lost a step: {}", error.reason());
                    tracker.record(&host, "reconnecting", detail, [0; 3]).await;
                    let _ = signals.send(StreamSignal { org: name.clone(), cycle_now: false, live: false });
                    tokio::time::sleep(STREAM_RETRY).await;
                    break;
                }
            };
        }
    }
}

/// How long to wait before `open` again after it failed with `error` for
/// the `failures`-th time in a row: the scheduler's plan for the same
/// failure with [`STREAM_RETRY`] as the interval (refused credentials wait
/// for a reconnect, a spent budget for its reset), and a transient failure
/// backs off too: the org is polled on its interval meanwhile.
fn open_retry(error: &OrgError, failures: u32) -> Duration {
    let now = Utc::now();
    let plan = match plan_after(error, now) {
        Plan::NextInterval => Plan::BackOff,
        other => other,
    };
    delay(plan, STREAM_RETRY, failures, now)
}
