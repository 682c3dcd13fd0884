//! E1, nothing lost and nothing doubled: the real `casebridge run` process is
//! killed (SIGKILL) at random points while it works an emulated org, the
//! customers write again while it is down, and it is restarted each time.
//! Once the last restart has settled, every customer message has exactly one
//! agent reply after it, on every case.
//!
//! A third of the kills come at a random point of a run. A third come the
//! moment the emulated org has written a reply of the host's (or after two
//! seconds, when the run has nothing to write): that catches the host after
//! Salesforce carried out its write-back and before the host heard the answer
//! and recorded it. The last third hold the run's first calls for
//! [`HOLD`] and kill it while its write-back is held: as Salesforce does, the
//! org completes the write after the client is gone, while the next run has
//! already started — the moment a host that resends "unconfirmed" replies
//! posts them twice. Writes whose fate the next run cannot know yet wait until
//! they can no longer land; the last run moves the org's clock past that.
//!
//! The kills are random but replayable: the test prints its seed, and
//! `CASEBRIDGE_CRASH_SEED=<seed>` runs the same kill delays and customer
//! moves again (the process's own timing still varies). `CASEBRIDGE_CRASH_KILLS`
//! sets how many kills (default [`DEFAULT_KILLS`]).
//!
//! Customers write only while the host is down, and only on cases whose last
//! message is the agent's. So on a correct host each case's messages
//! alternate: one or more customer messages, then exactly one agent reply,
//! and so on, ending with the agent's reply. Two agent replies in a row is a
//! reply posted twice; a case ending with the customer is a message skipped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebridge_emulator::{EmulatorOptions, Fault, FaultTarget, Seed};
use serde_json::Value;

mod support;
use support::{HostProcess, Org, Rng, count_files, write_config};

/// Kills when `CASEBRIDGE_CRASH_KILLS` is not set. Each costs a restart, and a
/// debug build compiles the connector for about four seconds at each start.
const DEFAULT_KILLS: u32 = 12;
/// How long after the host is up it is killed: a random point in this range
/// covers the first cycle after a restart (the one with work to do), the idle
/// time after it and the start of the next cycle.
const KILL_AFTER_MS: (u64, u64) = (50, 1200);
/// The longest a kill waits for Salesforce to write a reply: two cycles.
const WAIT_FOR_WRITE: Duration = Duration::from_millis(2000);
/// Latency on every request to the org, so a cycle lasts long enough to be
/// killed in the middle of its calls.
const ORG_LATENCY: Duration = Duration::from_millis(150);
/// How long a held call waits before the org carries it out (whether or not
/// its client is still there).
const HOLD: Duration = Duration::from_secs(3);
/// When a held run is killed: after its held poll, while its write-back is held.
const KILL_WHILE_HELD_MS: (u64, u64) = (3300, 5200);
/// The longest the last run may take to answer what is left.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the last run keeps cycling after everything is answered, so a
/// reply posted twice late would show.
const AFTER_SETTLED: Duration = Duration::from_millis(2500);

const ORG: &str = "crash";

#[test]
fn every_reply_is_on_its_case_exactly_once_after_the_host_is_killed_at_random_points() {
    let started = Instant::now();
    let seed = std::env::var("CASEBRIDGE_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    let kills: u32 = std::env::var("CASEBRIDGE_CRASH_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_KILLS);
    eprintln!("crash test: seed {seed}, {kills} kills (replay with CASEBRIDGE_CRASH_SEED={seed})");
    let mut rng = Rng(seed);

    let emulator = casebridge_emulator::spawn(EmulatorOptions { seed: Seed::Demo, ..EmulatorOptions::default() })
        .expect("the emulator starts");
    emulator.inject(Fault::latency(ORG_LATENCY).always().on(FaultTarget::Any));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 1);
    let credentials = emulator.credentials();
    let mut org = Org::new(emulator);
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut start_ups = Duration::ZERO;
    let mut start = |life: u32| {
        let starting = Instant::now();
        let mut host = HostProcess::run(&config, &credentials, &log, &format!("run {life}"));
        host.wait_until_running(&log);
        start_ups += starting.elapsed();
        host
    };

    let mut kills_as_salesforce_wrote = 0;
    let mut held_kills = 0;
    for life in 0..kills {
        let written = org.agent_records();
        let host = start(life);
        let at_random = Duration::from_millis(rng.between(KILL_AFTER_MS.0, KILL_AFTER_MS.1));
        if rng.chance(3) {
            // The run's first two calls (its poll and its write-back) are held,
            // then carried out after the kill; the next run starts at once.
            org.emulator.clear_faults();
            org.emulator.inject(Fault::latency(HOLD).times(2));
            org.emulator.inject(Fault::latency(ORG_LATENCY).always().on(FaultTarget::Any));
            std::thread::sleep(Duration::from_millis(rng.between(KILL_WHILE_HELD_MS.0, KILL_WHILE_HELD_MS.1)));
            held_kills += 1;
        } else if rng.chance(2) {
            let deadline = Instant::now() + WAIT_FOR_WRITE;
            while org.agent_records() == written && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            kills_as_salesforce_wrote += usize::from(org.agent_records() != written);
        } else {
            std::thread::sleep(at_random);
        }
        host.kill();
        org.customers_write(&mut rng);
    }

    // The last run: let it answer everything, then watch it a little longer.
    let host = start(kills);
    let settle_started = Instant::now();
    let mut clock_moved = Instant::now();
    while !org.problems().is_empty() && settle_started.elapsed() < SETTLE_TIMEOUT {
        std::thread::sleep(Duration::from_millis(300));
        if clock_moved.elapsed() > Duration::from_secs(2) {
            // Writes a killed run may have left in flight can no longer land.
            let window = u64::try_from(casebridge_guest::cycle::SETTLE_WINDOW_MS).unwrap_or(u64::MAX);
            org.emulator.advance_clock(Duration::from_millis(window + 1000));
            clock_moved = Instant::now();
        }
    }
    std::thread::sleep(AFTER_SETTLED);
    host.kill();

    let problems = org.problems();
    let store = casebridge::storage::SqliteStore::open(dir.path().join("casebridge.db")).expect("the database opens");
    let cycles = store.recent_cycles(ORG, 1_000_000).expect("the cycle log is readable");
    let interrupted = cycles
        .iter()
        .filter(|c| c.finished_at.is_none() || c.error.as_deref().is_some_and(|e| e.contains("stopped")))
        .count();
    let failed = cycles.iter().filter(|c| c.error.as_deref().is_some_and(|e| !e.contains("stopped"))).count();
    let replies: usize = org.cases.iter().map(|c| org.messages(c).iter().filter(|m| m.by_agent).count()).sum();
    let email_replies: usize =
        org.cases.iter().map(|c| org.messages(c).iter().filter(|m| m.by_agent && m.kind == "email").count()).sum();
    let emails_sent = count_files(&dir.path().join("outbox"), "eml");
    // Comments the finished cycles did not report posting were written by a
    // cycle killed before it recorded them, and found by a later one.
    let reported: u64 = cycles
        .iter()
        .filter_map(|c| c.report_json.as_deref())
        .filter_map(|report| serde_json::from_str::<Value>(report).ok())
        .filter_map(|report| report["replies_posted"].as_u64())
        .sum();
    let unreported = (replies - email_replies).saturating_sub(usize::try_from(reported).unwrap_or(usize::MAX));
    eprintln!(
        "crash test: seed {seed}: {kills} kills ({kills_as_salesforce_wrote} as Salesforce wrote a reply, {held_kills} while a write-back was held), {} cycles ({interrupted} killed mid-cycle, {failed} failed), {} customer messages and {} new cases written, {replies} agent replies on {} cases checked ({unreported} written by a run killed before it recorded them), {emails_sent} emails sent, {:.1} s ({:.1} s of it starting the host {} times)",
        cycles.len(),
        org.customer_messages,
        org.new_cases,
        org.cases.len(),
        started.elapsed().as_secs_f64(),
        start_ups.as_secs_f64(),
        kills + 1,
    );
    if !problems.is_empty() {
        let log = log.lock().unwrap();
        let tail = log.iter().rev().take(60).rev().cloned().collect::<Vec<_>>().join("\n");
        // What the connector kept: its open set, sweep keys and errors.
        let kept: Vec<String> = casebridge::runtime::BlockingKeyValueStore::scan(&store, ORG, "")
            .unwrap_or_default()
            .into_iter()
            .filter(|e| ["hot", "poll"].contains(&e.key.as_str()) || e.key.starts_with("error/"))
            .map(|e| format!("  {} = {}", e.key, e.value))
            .collect();
        panic!(
            "seed {seed}: {} cases are wrong:\n{}\n\nthe connector's state:\n{}\n\nlast host log lines:\n{tail}",
            problems.len(),
            problems.join("\n\n"),
            kept.join("\n")
        );
    }
    assert_eq!(emails_sent, email_replies, "each email reply was sent once and recorded once (seed {seed})");
}
