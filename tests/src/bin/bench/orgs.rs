//! Figure 4: many orgs on one host, each polled on its interval by the real
//! scheduler (`casebridge::scheduler::run`), against the emulator in its own
//! process.
//!
//! Every org polls the same emulated org (the seeded cases are handed to the
//! queue first, so every cycle is an idle one, as most cycles are) under its
//! own name, store namespace and `[[org]]`. The scheduler spreads the first
//! cycles over the first interval. Each org's first cycle also reads the
//! field catalogs (three describe calls) and stores them; the warm-up lasts
//! until every org has finished its first cycle (at least one interval, at
//! most `warm_up_max`); when the first cycles fell behind, the backlog of
//! second cycles gets as long to drain as the warm-up overran (at most an
//! interval). The window after it is steady
//! state; the whole run (late first cycles included) is reported too.
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
    /// The window starts once every org has finished its first cycle, and
    /// no earlier than this …
    pub warm_up_min: Duration,
    /// … and no later than this.
    pub warm_up_max: Duration,
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
    Ok(Sample {
        cpu: process_cpu(),
        emulator_cpu: remote.cpu()?,
        calls: counts.calls,
        tokens: counts.tokens,
        at: Utc::now(),
    })
}

pub async fn run(params: &Params, remote: Arc<RemoteOrg>, bench: &BenchHost) -> anyhow::Result<Value> {
    let host = bench.host.clone();
    let started = tokio::time::Instant::now();
    let started_at = Utc::now();
    let at_start = sample(&remote)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sampler = {
        let (remote, host, params) = (remote.clone(), host.clone(), params.clone());
        let orgs = bench.names.len();
        tokio::spawn(async move {
            // Warm-up: until every org has had its first cycle (it reads and stores the field catalogs).
            tokio::time::sleep_until(started + params.warm_up_min).await;
            let mut warmed = 0;
            while started.elapsed() < params.warm_up_max {
                warmed = host
                    .store()
                    .org_statuses()
                    .map_or(0, |all| all.iter().filter(|s| s.last_cycle_finished_at.is_some()).count());
                if warmed >= orgs {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            // First cycles that fell behind leave second cycles due in a backlog:
            // give it as long to drain as the warm-up overran (at most an
            // interval), so the window is steady state.
            let overran = started.elapsed().saturating_sub(params.warm_up_min);
            let settled = overran > Duration::from_secs(5);
            if settled {
                tokio::time::sleep(overran.min(params.interval)).await;
            }
            let warm_up = started.elapsed();
            let window_start = sample(&remote);
            tokio::time::sleep(params.window).await;
            let window_end = sample(&remote);
            let _ = stop.send(());
            (warm_up, warmed, settled, window_start, window_end)
        })
    };
    let stats = casebridge::scheduler::run(host.clone(), async {
        let _ = stopped.await;
    })
    .await;
    let ended_at = Utc::now();
    let (warm_up, warmed, settled, window_start, window_end) = sampler.await?;
    let (window_start, window_end) = (window_start?, window_end?);
    let peak_rss_kib = status_kib("VmHWM").unwrap_or(0);
    let rss_kib = status_kib("VmRSS").unwrap_or(0);

    // The cycle log, org by org.
    let interval = chrono::Duration::from_std(params.interval)?;
    let late_after = chrono::Duration::from_std(casebridge::scheduler::LATE_AFTER)?;
    let count = bench.names.len() as i32;
    let (mut cycles, mut in_window, mut failed, mut late, mut missed, mut running) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut delays_ms = Vec::new();
    // Cycles that began in the steady-state window: (delay, late).
    let mut window_delays_ms = Vec::new();
    let mut window_late = 0u64;
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
                if cycle.started_at >= window_start.at {
                    window_delays_ms.push(delay.num_milliseconds() as f64);
                    window_late += u64::from(delay > late_after);
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
        "warm_up_s": warm_up.as_secs_f64(),
        "orgs_warmed_up": warmed,
        "settled_one_more_interval": settled,
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
        "window": {
            "cycles": in_window,
            "cycles_per_s": in_window as f64 / window.as_secs_f64(),
            "needed_per_s": bench.names.len() as f64 / params.interval.as_secs_f64(),
            "late": window_late,
            "median_delay_ms": median(&window_delays_ms),
            "p99_delay_ms": percentile(&window_delays_ms, 99.0),
            "worst_delay_ms": max(&window_delays_ms),
        },
    }))
}

/// The hidden argument that makes the bench write and fsync to a folder
/// instead: another process contending for the disk.
pub const DISK_WRITER_ARG: &str = "__disk_writer";

/// Bytes per write, as a small database commit.
const DISK_WRITE_BYTES: usize = 4096;
/// The writer cycles through a file of this size.
const DISK_WRITER_FILE_BYTES: u64 = 64 << 20;

/// Writes 4 KiB and `fdatasync`s, in a loop, to a file in `dir` until stdin
/// closes; then prints how many writes it made.
pub fn write_to_disk_until_stdin_closes(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Read as _;
    use std::os::unix::fs::FileExt as _;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            stop.store(true, Ordering::Relaxed);
        });
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dir.join("contention.bin"))?;
    let block = vec![0xa5u8; DISK_WRITE_BYTES];
    let (mut writes, mut offset) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        file.write_all_at(&block, offset)?;
        file.sync_data()?;
        writes += 1;
        offset = (offset + DISK_WRITE_BYTES as u64) % DISK_WRITER_FILE_BYTES;
    }
    println!("{writes}");
    Ok(())
}

/// The writer process, running until [`DiskWriter::finish`].
pub struct DiskWriter {
    child: std::process::Child,
    started: std::time::Instant,
}

impl DiskWriter {
    pub fn start(dir: &std::path::Path) -> anyhow::Result<DiskWriter> {
        let child = std::process::Command::new(std::env::current_exe()?)
            .arg(DISK_WRITER_ARG)
            .arg(dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        Ok(DiskWriter { child, started: std::time::Instant::now() })
    }

    /// Stops the writer; what it did.
    pub fn finish(mut self) -> anyhow::Result<Value> {
        drop(self.child.stdin.take());
        let output = self.child.wait_with_output()?;
        let writes: u64 = String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(0);
        let seconds = self.started.elapsed().as_secs_f64();
        Ok(json!({"writes": writes, "fsyncs_per_s": writes as f64 / seconds, "bytes_per_write": DISK_WRITE_BYTES}))
    }
}
