//! Figure 4: many orgs on one host, each polled on its interval by the real
//! scheduler (`casebridge::scheduler::run`), against the emulator in its own
//! process.
//!
//! Every org polls the same emulated org (the seeded cases are handed to the
//! queue first, so every cycle is an idle one, as most cycles are) under its
//! own name, store namespace and `[[org]]`. The scheduler spreads the first
//! cycles over the first interval (the warm-up: each org's first cycle also
//! reads the field catalogs); the window after it is steady state.
//!
//! Late and missed cycles are read from the host's cycle log, not only from
//! the scheduler's own count: the scheduler counts a cycle as started when it
//! hands it to a task, before the task waits for one of the
//! `max_concurrent_cycles` permits, and it sets the next due time only when
//! it gets round to the finished task. The log has when each cycle really
//! began and ended, so a cycle's delay here is its start minus the previous
//! cycle's end plus the interval (for the first, minus the scheduler's start
//! plus the org's spread offset).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::measure::{max, median, ms, percentile, process_cpu, status_kib};
use crate::remote::RemoteOrg;
use crate::setup::BenchHost;

#[derive(Debug, Clone)]
pub struct Params {
    pub interval: Duration,
    pub warm_up: Duration,
    pub window: Duration,
}

/// Hands the seeded cases of the agent to the hand-off queue, so every cycle is idle.
pub fn make_org_idle(remote: &RemoteOrg) -> anyhow::Result<()> {
    let agent = remote.seeded_id("agent_user_id");
    let queue = remote.seeded_id("handoff_queue_id");
    let integration = remote.seeded_id("integration_user_id");
    for case in remote.query(&format!("SELECT Id FROM Case WHERE OwnerId = '{agent}'"))? {
        let id = case["Id"].as_str().unwrap_or_default();
        remote.update_as(&integration, "Case", id, json!({"OwnerId": queue}))?;
    }
    Ok(())
}

struct Sample {
    cpu: Duration,
    emulator_cpu: Duration,
    calls: u64,
    tokens: u64,
    at: DateTime<Utc>,
}

fn sample(remote: &RemoteOrg) -> anyhow::Result<Sample> {
    let counts = remote.counts()?;
    Ok(Sample { cpu: process_cpu(), emulator_cpu: remote.cpu()?, calls: counts.calls, tokens: counts.tokens, at: Utc::now() })
}

pub async fn run(params: &Params, remote: Arc<RemoteOrg>, bench: &BenchHost) -> anyhow::Result<Value> {
    let host = bench.host.clone();
    let total = params.warm_up + params.window;
    let started = tokio::time::Instant::now();
    let started_at = Utc::now();
    let at_start = sample(&remote)?;
    let sampler = {
        let remote = remote.clone();
        let warm_up = params.warm_up;
        tokio::spawn(async move {
            tokio::time::sleep_until(started + warm_up).await;
            let window_start = sample(&remote);
            tokio::time::sleep_until(started + total - Duration::from_millis(50)).await;
            (window_start, sample(&remote))
        })
    };
    let stats = casebridge::scheduler::run(host.clone(), tokio::time::sleep_until(started + total)).await;
    let ended_at = Utc::now();
    let (window_start, window_end) = sampler.await?;
    let (window_start, window_end) = (window_start?, window_end?);
    let peak_rss_kib = status_kib("VmHWM").unwrap_or(0);
    let rss_kib = status_kib("VmRSS").unwrap_or(0);

    // The cycle log, org by org.
    let interval = chrono::Duration::from_std(params.interval)?;
    let late_after = chrono::Duration::from_std(casebridge::scheduler::LATE_AFTER)?;
    let count = bench.names.len() as i32;
    let (mut cycles, mut in_window, mut failed, mut late, mut missed, mut running) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut delays_ms = Vec::new();
    let mut first_error = None;
    for (index, name) in bench.names.iter().enumerate() {
        let offset = interval * index as i32 / count;
        let mut due = Some(started_at + offset);
        let mut log = host.store().recent_cycles(name, 10_000)?;
        log.reverse();
        for cycle in &log {
            cycles += 1;
            if cycle.started_at >= window_start.at {
                in_window += 1;
            }
            if let Some(due) = due {
                let delay = (cycle.started_at - due).max(chrono::Duration::zero());
                delays_ms.push(delay.num_milliseconds() as f64);
                if delay > late_after {
                    late += 1;
                }
            }
            if let Some(error) = &cycle.error {
                failed += 1;
                first_error.get_or_insert_with(|| error.clone());
            }
            due = cycle.finished_at.map(|finished| finished + interval);
            if cycle.finished_at.is_none() {
                running += 1;
            }
        }
        // A cycle that was due (and late by the end) but never began.
        if due.is_some_and(|due| due + late_after < ended_at) {
            missed += 1;
        }
    }

    let window = (window_end.at - window_start.at).to_std()?;
    let share = |cpu: Duration| cpu.as_secs_f64() / window.as_secs_f64();
    let whole = (ended_at - started_at).to_std()?;
    let window_calls = window_end.calls - window_start.calls;
    Ok(json!({
        "orgs": bench.names.len(),
        "interval_s": params.interval.as_secs(),
        "max_concurrent_cycles": host.config().host.max_concurrent_cycles,
        "run_s": whole.as_secs_f64(),
        "window_s": window.as_secs_f64(),
        "host_cpu_share_window": share(window_end.cpu - window_start.cpu),
        "host_cpu_share_run": (window_end.cpu - at_start.cpu).as_secs_f64() / whole.as_secs_f64(),
        "emulator_cpu_share_window": share(window_end.emulator_cpu - window_start.emulator_cpu),
        "host_cpu_ms_per_cycle_window": ms(window_end.cpu - window_start.cpu) / in_window.max(1) as f64,
        "calls_window": window_calls,
        "token_requests_window": window_end.tokens - window_start.tokens,
        "peak_rss_mib": peak_rss_kib as f64 / 1024.0,
        "rss_end_mib": rss_kib as f64 / 1024.0,
        "scheduler": {
            "cycles_started": stats.cycles_started,
            "cycles_failed": stats.cycles_failed,
            "cycles_late": stats.cycles_late,
            "worst_delay_ms": stats.worst_delay_ms,
        },
        "log": {
            "cycles": cycles,
            "cycles_in_window": in_window,
            "running_at_stop": running,
            "failed": failed,
            "late": late,
            "missed": missed,
            "median_delay_ms": median(&delays_ms),
            "p99_delay_ms": percentile(&delays_ms, 99.0),
            "worst_delay_ms": max(&delays_ms),
            "first_error": first_error,
        },
    }))
}
