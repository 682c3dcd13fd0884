//! Figure 9: several hosts on one PostgreSQL database (E12).
//!
//! - `hosts`: one, two or three hosts (real `Host`s with the real scheduler,
//!   in this process, each with its own store and connection pool) share
//!   one database and the same idle orgs, polled every interval. From the
//!   shared cycle log: cycles in a steady-state window, late ones (a start
//!   more than a second after the previous cycle's end plus the interval,
//!   whichever host ran either), overlapping ones (two cycles of one org at
//!   once: never), and what each host's scheduler did (cycled, adopted
//!   another host's run, found the org busy). Also the cost of a lease
//!   claim (acquire and release) and of a renewal, on PostgreSQL and SQLite.
//! - `takeover`: a host that died holding the leases of many orgs (leases
//!   granted to a holder on another machine that never renews them); a
//!   live host's scheduler takes each org over when its lease expires: the
//!   time from the expiry to the org's first cycle.
//!
//! The server is the one `CASEBRIDGE_TEST_POSTGRES` names (`source
//! tests/postgres/server.sh` starts one); each run gets a fresh database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use casebridge::storage::{Acquisition, Holder, Leases as _, Store};
use chrono::Utc;
use serde_json::{Value, json};

use crate::measure::{max, median, ms, percentile, process_cpu};
use crate::remote::RemoteOrg;
use crate::setup::{BenchHost, OrgSettings, build_host};

/// The variable naming the PostgreSQL server.
pub const SERVER_ENV: &str = "CASEBRIDGE_TEST_POSTGRES";

#[derive(Debug, Clone)]
pub struct Params {
    pub hosts: usize,
    pub orgs: usize,
    pub interval: Duration,
    pub window: Duration,
    pub lease_ttl_seconds: u32,
}

/// A fresh database on the server; its URL.
pub async fn fresh_database(server: &str, name: &str) -> anyhow::Result<String> {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls).await?;
    let connection = tokio::spawn(connection);
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    client.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    drop(client);
    let _ = connection.await;
    let mut url = url::Url::parse(server)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// CPU time of every `postgres` process on this machine (the server).
fn postgres_cpu() -> Duration {
    let ticks = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((name, rest)) = stat.split_once(") ") else { continue };
        if !name.ends_with("(postgres") {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (user, system) = (fields.get(11), fields.get(12));
        total += user.and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
            + system.and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    }
    Duration::from_secs_f64(total / ticks)
}

/// Median microseconds of `rounds` lease claims (acquire + release) and renewals.
fn lease_costs(store: &Store, rounds: usize) -> anyhow::Result<Value> {
    let holder = Holder::this_process();
    let ttl = Duration::from_secs(30);
    let (mut claims, mut renewals) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let org = format!("lease-bench-{}", round % 50);
        let started = Instant::now();
        let Acquisition::Acquired(lease) = store.acquire(&org, &holder, ttl)? else { anyhow::bail!("held") };
        let acquired = started.elapsed();
        let started = Instant::now();
        anyhow::ensure!(store.renew(&lease, ttl)?, "the renewal failed");
        renewals.push(ms(started.elapsed()) * 1000.0);
        let started = Instant::now();
        store.release(lease)?;
        claims.push(ms(acquired + started.elapsed()) * 1000.0);
    }
    Ok(json!({"claim_us": median(&claims), "claim_p99_us": percentile(&claims, 99.0),
              "renew_us": median(&renewals), "renew_p99_us": percentile(&renewals, 99.0)}))
}

fn settings(params: &Params, database: &str) -> OrgSettings {
    OrgSettings {
        poll_interval_seconds: params.interval.as_secs() as u32,
        max_concurrent_cycles: 32,
        streaming_safety_poll_seconds: None,
        database: Some(database.to_string()),
        lease_ttl_seconds: Some(params.lease_ttl_seconds),
    }
}

pub async fn run(params: &Params, remote: Arc<RemoteOrg>, server: &str) -> anyhow::Result<Value> {
    let database = fresh_database(server, &format!("casebridge_bench_hosts_{}", params.hosts)).await?;
    let names = crate::setup::org_names(params.orgs);
    let hosts: Vec<BenchHost> = (0..params.hosts)
        .map(|_| build_host(&remote, &names, &settings(params, &database)))
        .collect::<Result<_, _>>()?;
    let store = hosts[0].host.store().clone();
    let leases = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || lease_costs(&store, 500)).await??
    };
    let sqlite_leases = {
        let dir = tempfile::tempdir()?;
        let sqlite = Store::open(&dir.path().join("leases.db"))?;
        tokio::task::spawn_blocking(move || lease_costs(&sqlite, 500)).await??
    };

    let started_at = Utc::now();
    let mut stops = Vec::new();
    let mut schedulers = Vec::new();
    for bench in &hosts {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        schedulers.push(tokio::spawn(casebridge::scheduler::run(bench.host.clone(), async {
            let _ = stopped.await;
        })));
    }
    // Warm-up: every org's first cycle (catalogs read and stored), then one
    // more interval for the second cycles to settle on their times.
    let warm_up_started = Instant::now();
    while warm_up_started.elapsed() < 3 * params.interval {
        let store = store.clone();
        let warmed = tokio::task::spawn_blocking(move || store.org_statuses())
            .await??
            .iter()
            .filter(|s| s.last_cycle_finished_at.is_some())
            .count();
        if warmed >= params.orgs {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(params.interval).await;
    let window_start = Utc::now();
    let (cpu_start, pg_start) = (process_cpu(), postgres_cpu());
    tokio::time::sleep(params.window).await;
    let (cpu_end, pg_end) = (process_cpu(), postgres_cpu());
    let window_end = Utc::now();
    for stop in stops {
        let _ = stop.send(());
    }
    let mut per_host = Vec::new();
    for scheduler in schedulers {
        let stats = scheduler.await?;
        per_host.push(json!({"cycled": stats.cycles_started - stats.cycles_skipped, "adopted": stats.cycles_adopted,
                             "busy": stats.cycles_skipped, "failed": stats.cycles_failed}));
    }

    let interval = chrono::Duration::from_std(params.interval)?;
    let late_after = chrono::Duration::from_std(casebridge::scheduler::LATE_AFTER)?;
    let (mut in_window, mut late, mut overlapping, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let mut delays_ms = Vec::new();
    for name in &names {
        let mut log = store.recent_cycles(name, 10_000)?;
        log.reverse();
        for pair in log.windows(2) {
            let (previous, cycle) = (&pair[0], &pair[1]);
            let Some(previous_end) = previous.finished_at else { continue };
            if cycle.started_at < previous_end {
                overlapping += 1;
            }
            if cycle.started_at < window_start || cycle.started_at >= window_end {
                continue;
            }
            in_window += 1;
            failed += u64::from(cycle.error.is_some());
            let delay = (cycle.started_at - (previous_end + interval)).max(chrono::Duration::zero());
            delays_ms.push(delay.num_milliseconds() as f64);
            late += u64::from(delay > late_after);
        }
    }
    let window = (window_end - window_start).to_std()?;
    Ok(json!({
        "hosts": params.hosts,
        "orgs": params.orgs,
        "interval_s": params.interval.as_secs(),
        "lease_ttl_s": params.lease_ttl_seconds,
        "run_s": (window_end - started_at).to_std()?.as_secs_f64(),
        "window_s": window.as_secs_f64(),
        "cycles_in_window": in_window,
        "cycles_per_s": in_window as f64 / window.as_secs_f64(),
        "needed_per_s": params.orgs as f64 / params.interval.as_secs_f64(),
        "late": late,
        "overlapping": overlapping,
        "failed": failed,
        "median_delay_ms": median(&delays_ms),
        "worst_delay_ms": max(&delays_ms),
        "hosts_cpu_share": (cpu_end - cpu_start).as_secs_f64() / window.as_secs_f64(),
        "postgres_cpu_share": (pg_end - pg_start).as_secs_f64() / window.as_secs_f64(),
        "per_host": per_host,
        "leases_postgres": leases,
        "leases_sqlite": sqlite_leases,
    }))
}

/// A dead host's `orgs` taken over by a live one.
pub async fn takeover(params: &Params, remote: Arc<RemoteOrg>, server: &str) -> anyhow::Result<Value> {
    let database = fresh_database(server, "casebridge_bench_takeover").await?;
    let names = crate::setup::org_names(params.orgs);
    let bench = build_host(&remote, &names, &settings(params, &database))?;
    let store = bench.host.store().clone();
    let dead = Holder::new("a-machine-that-died", 4242, "gone");
    let ttl = Duration::from_secs(u64::from(params.lease_ttl_seconds));
    let mut expiries = std::collections::BTreeMap::new();
    for name in &names {
        match store.acquire(name, &dead, ttl)? {
            Acquisition::Acquired(lease) => expiries.insert(name.clone(), lease.expires_at()),
            Acquisition::Held { .. } => anyhow::bail!("{name} was held"),
        };
    }
    let (started, started_at) = (Instant::now(), Utc::now());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(casebridge::scheduler::run(bench.host.clone(), async {
        let _ = stopped.await;
    }));
    // Until every org has had a cycle, at most the TTL plus two intervals.
    let limit = ttl + 2 * params.interval;
    loop {
        let store = store.clone();
        let done = tokio::task::spawn_blocking(move || store.org_statuses())
            .await??
            .iter()
            .filter(|s| s.last_cycle_started_at.is_some())
            .count();
        if done >= params.orgs || started.elapsed() > limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop.send(());
    scheduler.await?;
    // From the later of the lease's expiry and the org's first due time
    // (the scheduler spreads first cycles over the interval).
    let count = i32::try_from(params.orgs).unwrap_or(i32::MAX).max(1);
    let interval = chrono::Duration::from_std(params.interval)?;
    let mut after_expiry_ms = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let due = started_at + interval * i32::try_from(index).unwrap_or(0) / count;
        let first = store.org_status(name)?.and_then(|status| status.last_cycle_started_at);
        if let (Some(first), Some(expiry)) = (first, expiries.get(name)) {
            after_expiry_ms.push((first - (*expiry).max(due)).num_milliseconds() as f64);
        }
    }
    let never = params.orgs - after_expiry_ms.len();
    Ok(json!({
        "orgs": params.orgs,
        "lease_ttl_s": params.lease_ttl_seconds,
        "interval_s": params.interval.as_secs(),
        "taken_over": after_expiry_ms.len(),
        "never": never,
        "median_after_expiry_ms": median(&after_expiry_ms),
        "worst_after_expiry_ms": max(&after_expiry_ms),
        "all_done_s": started.elapsed().as_secs_f64(),
    }))
}
