//! Figures 6 and 7: history of any size (E7). An org with `known` cases (the
//! demo's own and generated ones, each with a feed of six messages over three
//! years, one in a thousand waiting for an answer) is polled for the first
//! time by the real host until a cycle starts no conversation and posts
//! nothing; then, once the overlap has passed, idle cycles run one poll
//! interval apart on the org's clock.
//!
//! The first poll's cycles run back to back, as the scheduler runs an org
//! with a backlog (one second apart). Each size runs in its own process, so
//! the peak RSS is that size's own.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use casebridge::host::Host;
use casebridge::runtime::BlockingKeyValueStore as _;
use casebridge_emulator::BulkSeed;
use serde_json::{Value, json};

use crate::measure::{median, ms, process_cpu, status_kib};
use crate::remote::RemoteOrg;

/// One poll interval (the default), the org's clock moves this before each idle cycle.
const POLL_INTERVAL_SECONDS: u64 = 60;
/// A first poll that needs more cycles than this is reported as a failure.
const MOST_CYCLES: usize = 1_000;

#[derive(Debug, Clone)]
pub struct Params {
    /// Cases the connector knows after the first poll (demo cases included).
    pub known: usize,
    pub idle_cycles: usize,
}

pub async fn run(params: &Params, remote: &RemoteOrg, host: &Host, name: &str) -> anyhow::Result<Value> {
    let demo_cases = remote.query("SELECT Id FROM Case")?.len();
    let generated = params.known.saturating_sub(demo_cases);
    let seeding = Instant::now();
    let seeded = if generated > 0 {
        remote.bulk_seed(&BulkSeed {
            cases: generated,
            messages_per_case: 6,
            customer_last_every: Some(1_000),
            history_days: 3 * 365,
            ..BulkSeed::default()
        })?
    } else {
        json!({"cases": 0, "customer_last": 0, "feed_items": 0, "case_comments": 0})
    };
    let seeding_s = seeding.elapsed().as_secs_f64();

    // The first poll.
    let (counts, cpu, wall) = (remote.counts()?, process_cpu(), Instant::now());
    let (mut cycles, mut created, mut replies, mut reported_calls) = (0usize, 0u64, 0u64, 0u64);
    let mut cycle_wall_ms = Vec::new();
    loop {
        cycles += 1;
        if cycles > MOST_CYCLES {
            bail!("the first poll of {} cases did not finish in {MOST_CYCLES} cycles", params.known);
        }
        let started = Instant::now();
        let report = host.cycle(name).await.with_context(|| format!("first poll, cycle {cycles}"))?;
        cycle_wall_ms.push(ms(started.elapsed()));
        created += u64::from(report.conversations_created);
        replies += u64::from(report.replies_posted);
        reported_calls += u64::from(report.api_calls);
        if report.conversations_created == 0 && report.replies_posted == 0 {
            break;
        }
    }
    let first_poll_wall = wall.elapsed();
    let first_poll_cpu = process_cpu() - cpu;
    let first_poll_counts = remote.counts()? - counts;
    let peak_rss_kib = status_kib("VmHWM").unwrap_or(0);

    // The overlap passes: the next cycle reads it once more, then nothing.
    let overlap =
        u64::from(host.config().orgs.iter().find(|o| o.name == name).context("the org")?.poll_overlap_seconds);
    remote.advance_clock(overlap + POLL_INTERVAL_SECONDS)?;
    host.cycle(name).await.context("the cycle after the overlap")?;

    let (mut idle_wall_ms, mut idle_cpu_ms) = (Vec::new(), Vec::new());
    let (mut idle_calls, mut idle_cases_seen) = (0u64, 0u64);
    for cycle in 1..=params.idle_cycles {
        remote.advance_clock(POLL_INTERVAL_SECONDS)?;
        let before = remote.counts()?;
        let (cpu, wall) = (process_cpu(), Instant::now());
        let report = host.cycle(name).await.with_context(|| format!("idle cycle {cycle}"))?;
        idle_wall_ms.push(ms(wall.elapsed()));
        idle_cpu_ms.push(ms(process_cpu() - cpu));
        idle_calls += (remote.counts()? - before).calls;
        idle_cases_seen += u64::from(report.cases_seen);
    }
    let open = host
        .store()
        .get(name, "hot")?
        .map(|hot| serde_json::from_str::<serde_json::Map<String, Value>>(&hot).map(|m| m.len()))
        .transpose()?
        .unwrap_or(0);
    Ok(json!({
        "known": demo_cases + seeded["cases"].as_u64().unwrap_or(0) as usize,
        "generated": seeded,
        "seeding_s": seeding_s,
        "first_poll": {
            "cycles": cycles,
            "conversations_created": created,
            "replies": replies,
            "wall_s": first_poll_wall.as_secs_f64(),
            "host_cpu_s": first_poll_cpu.as_secs_f64(),
            "median_cycle_wall_ms": median(&cycle_wall_ms),
            "calls": first_poll_counts.calls,
            "reported_calls": reported_calls,
            "token_requests": first_poll_counts.tokens,
        },
        "peak_rss_mib": peak_rss_kib as f64 / 1024.0,
        "open_conversations": open,
        "idle": {
            "cycles": params.idle_cycles,
            "median_wall_ms": median(&idle_wall_ms),
            "median_host_cpu_ms": median(&idle_cpu_ms),
            "calls_per_cycle": idle_calls as f64 / params.idle_cycles.max(1) as f64,
            "cases_seen": idle_cases_seen,
        },
    }))
}

/// OAuth token requests over a day of idle cycles (figure 8): one cycle per
/// poll interval on the org's clock, whose access tokens last two hours as
/// Salesforce's default session does.
pub async fn token_day(remote: &RemoteOrg, host: &Host, name: &str, hours: u64) -> anyhow::Result<Value> {
    host.cycle(name).await.context("the first cycle")?;
    let before = remote.counts()?;
    let cycles = hours * 3600 / POLL_INTERVAL_SECONDS;
    let started = Instant::now();
    for cycle in 1..=cycles {
        remote.advance_clock(POLL_INTERVAL_SECONDS)?;
        host.cycle(name).await.with_context(|| format!("idle cycle {cycle}"))?;
    }
    let spent = remote.counts()? - before;
    let token_ttl = casebridge_emulator::server::DEFAULT_TOKEN_TTL;
    Ok(json!({
        "hours": hours,
        "cycles": cycles,
        "token_requests": spent.tokens,
        "calls": spent.calls,
        "token_lifetime_s": token_ttl.as_secs(),
        "lifetimes_in_span": (Duration::from_secs(hours * 3600).as_secs_f64() / token_ttl.as_secs_f64()).ceil(),
        "wall_s": started.elapsed().as_secs_f64(),
    }))
}
