//! `casebridge run`'s scheduler against the emulated org: after an outage an
//! org is back at its next interval (no exponential back-off for transient
//! failures), and a cycle that waits for a concurrency permit counts as late.

use std::time::{Duration, Instant};

use casebridge::host::Host;
use casebridge::storage::CycleOutcome;
use casebridge_emulator::{EmulatorOptions, Fault, FaultTarget, RunningEmulator, Seed};

mod support;
use support::{open_host as host, schedule_until, write_config};

const ORG: &str = "acme";

fn demo_emulator() -> RunningEmulator {
    casebridge_emulator::spawn(EmulatorOptions { seed: Seed::Demo, ..EmulatorOptions::default() })
        .expect("the emulator starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_is_back_at_its_next_interval_after_an_outage() {
    let emulator = demo_emulator();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let text = std::fs::read_to_string(write_config(dir.path(), &emulator, ORG, 1)).expect("read");
    let host = host(dir.path(), &text, &emulator);
    emulator.inject(Fault::error(503).always().on(FaultTarget::Api));
    let failures = |host: &Host| host.store().org_status(ORG).ok().flatten().map_or(0, |s| s.consecutive_failures);

    // A few transient failures in a row: with exponential back-off the
    // fifth attempt would come 16 intervals after the fourth.
    let stats = schedule_until(&host, Duration::from_secs(30), |host| failures(host) >= 4).await;
    assert!(failures(&host) >= 4, "{stats:?}");
    let status = host.store().org_status(ORG).expect("status").expect("recorded");
    let wait = status.next_run_at.expect("planned") - status.last_cycle_finished_at.expect("finished");
    assert!(wait <= chrono::Duration::milliseconds(1500), "the next attempt is an interval away: {wait}");

    emulator.clear_faults();
    let recovering = Instant::now();
    let ok = |host: &Host| {
        host.store().org_status(ORG).ok().flatten().is_some_and(|s| s.last_outcome == Some(CycleOutcome::Ok))
    };
    schedule_until(&host, Duration::from_secs(30), ok).await;
    let recovered_in = recovering.elapsed();
    assert!(ok(&host), "the org recovered");
    // The restarted scheduler runs the org at once; then at most an interval plus a cycle.
    assert!(recovered_in < Duration::from_secs(5), "recovered in {recovered_in:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_that_waits_for_a_concurrency_permit_counts_as_late() {
    let emulator = demo_emulator();
    // Each cycle takes seconds, and only one may run at a time: the second
    // org's cycle waits for the first one's permit.
    emulator.inject(Fault::latency(Duration::from_millis(600)).always().on(FaultTarget::Any));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let one = std::fs::read_to_string(write_config(dir.path(), &emulator, ORG, 1)).expect("read");
    let org_section = &one[one.find("[[org]]").expect("an org section")..];
    let text = format!(
        "{}\n{}",
        one.replace("[host]\n", "[host]\nmax_concurrent_cycles = 1\n"),
        org_section.replace(&format!("name = \"{ORG}\""), "name = \"globex\"")
    );
    let host = host(dir.path(), &text, &emulator);
    assert_eq!(host.config().orgs.len(), 2);

    let stats = schedule_until(&host, Duration::from_secs(8), |_| false).await;
    eprintln!("{stats:?}");
    assert!(stats.cycles_started >= 2, "{stats:?}");
    assert!(stats.cycles_late >= 1 && stats.worst_delay_ms > 1000, "waiting for the permit is being late: {stats:?}");
}
