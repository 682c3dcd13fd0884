//! E8, one cycle per org across processes: real `casebridge` processes on one
//! database and one emulated org. Two `casebridge run` never answer a
//! customer message twice; `casebridge cycle` while `run` holds the org says
//! who holds it and exits non-zero; the lease of a killed process is taken
//! over at once; and a cycle whose lease was taken over mid-way writes
//! nothing more, neither to the store nor to Salesforce.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebridge::config::Config;
use casebridge::host::{Claimed, Host, OrgError};
use casebridge::runtime::BlockingKeyValueStore as _;
use casebridge::secrets::{OrgSecret, Secret};
use casebridge::storage::{Acquisition, Holder, Leases as _, SqliteStore};
use casebridge_emulator::{EmulatorOptions, Fault, FaultTarget, RunningEmulator, Seed};

mod support;
use support::{HostProcess, Org, Rng, casebridge, write_config};

const ORG: &str = "shared";
/// Rounds of customer messages while both hosts run.
const ROUNDS: u32 = 6;
/// Latency on every request in the two-runs test: each cycle takes about a
/// second, as long as the interval, so the two hosts meet all the time.
const RACE_LATENCY: Duration = Duration::from_millis(120);
/// Latency on every request while a test needs `run` to hold the lease for
/// a while: a cycle of five or more requests then lasts over seven seconds.
const HOLDING_LATENCY: Duration = Duration::from_millis(1500);
/// The longest the hosts may take to answer what the customers wrote.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(40);
/// How long the hosts keep cycling after everything is answered, so a reply
/// posted twice late would show.
const AFTER_SETTLED: Duration = Duration::from_millis(2500);
/// The longest a test waits for `run` to take the org's lease.
const LEASE_TIMEOUT: Duration = Duration::from_secs(30);

fn demo_emulator(latency: Duration) -> RunningEmulator {
    let emulator = casebridge_emulator::spawn(EmulatorOptions { seed: Seed::Demo, ..EmulatorOptions::default() })
        .expect("the emulator starts");
    emulator.inject(Fault::latency(latency).always().on(FaultTarget::Any));
    emulator
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done()
}

/// A host in this process for the emulated org, its secrets stored.
fn connected_host(dir: &std::path::Path, emulator: &RunningEmulator) -> Arc<Host> {
    let config = Config::load(write_config(dir, emulator, ORG, 60)).expect("the configuration loads");
    let host = Arc::new(Host::open(config).expect("the host opens"));
    let credentials = emulator.credentials();
    host.vault().put(ORG, OrgSecret::ClientSecret, &Secret::new(credentials.client_secret.clone())).expect("secret");
    host.vault().put(ORG, OrgSecret::RefreshToken, &Secret::new(credentials.refresh_token.clone())).expect("token");
    host
}

/// Waits until the process with `pid` holds the org's lease.
fn wait_for_lease_of(database: &std::path::Path, pid: u32, log: &Mutex<Vec<String>>) {
    let store = SqliteStore::open(database).expect("the database opens beside the running host");
    let held = wait_until(LEASE_TIMEOUT, || {
        store
            .lease_state(ORG)
            .expect("the lease is readable")
            .is_some_and(|lease| lease.holder.pid() == pid && lease.is_held_at(chrono::Utc::now()))
    });
    assert!(held, "casebridge run (pid {pid}) did not take the lease:\n{}", log.lock().unwrap().join("\n"));
}

fn tail(log: &Mutex<Vec<String>>) -> String {
    let log = log.lock().unwrap();
    log.iter().rev().take(60).rev().cloned().collect::<Vec<_>>().join("\n")
}

#[test]
fn two_runs_on_one_database_never_answer_a_customer_message_twice() {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    let mut rng = Rng(seed);
    let emulator = demo_emulator(RACE_LATENCY);
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 1);
    let mut org = Org::new(emulator);
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut first = HostProcess::run(&config, &credentials, &log, "run a");
    first.wait_until_running(&log);
    let mut second = HostProcess::run(&config, &credentials, &log, "run b");
    second.wait_until_running(&log);

    for _ in 0..ROUNDS {
        wait_until(SETTLE_TIMEOUT, || org.problems().is_empty());
        org.customers_write(&mut rng);
    }
    wait_until(SETTLE_TIMEOUT, || org.problems().is_empty());
    std::thread::sleep(AFTER_SETTLED);
    first.kill();
    second.kill();

    let problems = org.problems();
    let skipped = log.lock().unwrap().iter().filter(|line| line.contains("is being cycled by")).count();
    let replies: usize = org.cases.iter().map(|c| org.messages(c).iter().filter(|m| m.by_agent).count()).sum();
    eprintln!(
        "two runs (seed {seed}): {} customer messages and {} new cases, {replies} agent replies on {} cases, {skipped} cycles skipped because the other run held the org",
        org.customer_messages,
        org.new_cases,
        org.cases.len()
    );
    assert!(
        problems.is_empty(),
        "{} cases are wrong:\n{}\n\nlog:\n{}",
        problems.len(),
        problems.join("\n\n"),
        tail(&log)
    );
    assert!(skipped > 0, "the two runs never met, so the test proved nothing:\n{}", tail(&log));
}

#[test]
fn a_cycle_while_run_holds_the_org_says_who_holds_it_and_exits_non_zero() {
    let emulator = demo_emulator(HOLDING_LATENCY);
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 1);
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut run = HostProcess::run(&config, &credentials, &log, "run");
    run.wait_until_running(&log);
    let pid = run.pid();
    wait_for_lease_of(&dir.path().join("casebridge.db"), pid, &log);

    let started = Instant::now();
    let cycle = casebridge(&config, &credentials)
        .args(["cycle", "--org", ORG, "--wait-seconds", "1"])
        .output()
        .expect("casebridge cycle runs");
    let waited = started.elapsed();
    run.kill();

    let stderr = String::from_utf8_lossy(&cycle.stderr);
    assert!(!cycle.status.success(), "a cycle that could not run fails: {stderr}");
    let expected = format!("org `{ORG}` is being cycled by casebridge pid {pid} on host ");
    assert!(stderr.contains(&expected) && stderr.contains("; skipped"), "{stderr}");
    assert!(waited < Duration::from_secs(20), "it waited its --wait-seconds, not the default: {waited:?}");
}

#[test]
fn the_lease_of_a_killed_run_is_taken_over_at_once_by_the_next_process() {
    let emulator = demo_emulator(HOLDING_LATENCY);
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 1);
    let database = dir.path().join("casebridge.db");
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut run = HostProcess::run(&config, &credentials, &log, "run");
    run.wait_until_running(&log);
    let killed_pid = run.pid();
    wait_for_lease_of(&database, killed_pid, &log);
    run.kill();
    let store = SqliteStore::open(&database).expect("open");
    let stale = store.lease_state(ORG).expect("lease").expect("the killed run's lease row");
    assert!(stale.is_held_at(chrono::Utc::now()), "the lease has not expired: only the dead pid frees it");
    drop(store);

    // Waiting 0 s: the cycle runs only if the stale lease is taken over at once.
    let cycle = casebridge(&config, &credentials)
        .args(["cycle", "--org", ORG, "--wait-seconds", "0"])
        .output()
        .expect("casebridge cycle runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&cycle.stdout), String::from_utf8_lossy(&cycle.stderr));
    assert!(cycle.status.success(), "the dead holder's lease was taken over:\n{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("{ORG}: ok — ")), "{stdout}");
    let lease = SqliteStore::open(&database).expect("open").lease_state(ORG).expect("lease").expect("row");
    assert!(lease.token > stale.token && lease.holder.pid() != killed_pid, "{lease:?}");
}

/// The race the scheduler closes: a host read the org's status, then
/// another host cycled it, then the first got the lease. Under the lease it
/// sees a newer last cycle and runs nothing; with the current one it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_made_after_another_host_cycled_the_org_runs_nothing() {
    let emulator = demo_emulator(Duration::ZERO);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let host = connected_host(dir.path(), &emulator);
    let next_run_at = chrono::Utc::now() + chrono::Duration::seconds(60);
    host.planned_cycle(ORG, |_| Some(next_run_at)).await.expect("the other host's cycle");
    let cycles = || host.store().recent_cycles(ORG, 100).expect("the cycle log").len();
    assert_eq!(cycles(), 1);

    // What this host read before the other cycle: no finished cycle.
    let claimed = host.planned_cycle_unless_cycled_since(ORG, None, |_| None).await.expect("the claim");
    match claimed {
        Claimed::CycledElsewhere { next_run_at: Some(at) } => {
            assert!((at - next_run_at).num_milliseconds().abs() <= 1, "{at} is the other host's {next_run_at}")
        }
        other => panic!("expected the other host's next run, got {other:?}"),
    }
    assert_eq!(cycles(), 1, "nothing ran");
    let other = Holder::new("another-machine", 4242, "other");
    match host.store().acquire(ORG, &other, Duration::from_secs(10)).expect("a claim") {
        Acquisition::Acquired(lease) => host.store().release(lease).expect("release"),
        Acquisition::Held { holder, .. } => panic!("the lease was not given back: {holder} holds it"),
    }

    let seen = host.store().org_status(ORG).expect("status").and_then(|status| status.last_cycle_finished_at);
    let claimed = host.planned_cycle_unless_cycled_since(ORG, seen, |_| None).await.expect("the claim");
    assert!(matches!(claimed, Claimed::Ran(_)), "{claimed:?}");
    assert_eq!(cycles(), 2);
}

/// A host on another machine died holding the org's lease: the scheduler
/// finds the org busy and cycles it when that lease expires (plus its
/// margin), not an interval later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_takes_over_a_dead_machines_lease_when_it_expires() {
    let emulator = demo_emulator(Duration::ZERO);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let host = connected_host(dir.path(), &emulator);
    let dead = Holder::new("a-machine-that-died", 4242, "gone");
    let ttl = Duration::from_secs(3);
    let expires_at = match host.store().acquire(ORG, &dead, ttl).expect("the dead machine's lease") {
        Acquisition::Acquired(lease) => lease.expires_at(),
        Acquisition::Held { .. } => panic!("the org was free"),
    };

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(casebridge::scheduler::run(host.clone(), async {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(20);
    let started_at = loop {
        let status = host.store().org_status(ORG).expect("status");
        if let Some(started) = status.and_then(|status| status.last_cycle_started_at) {
            break started;
        }
        assert!(Instant::now() < deadline, "the org was not taken over within 20 s of a 3 s lease");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = stop.send(());
    let stats = scheduler.await.expect("the scheduler stops");
    let after = (started_at - expires_at).to_std().unwrap_or_default();
    assert!(started_at >= expires_at, "cycled at {started_at} while the lease ran to {expires_at}");
    assert!(after < Duration::from_secs(3), "taken over {after:?} after the lease expired");
    assert!(stats.cycles_skipped >= 1, "the org was found busy first: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_whose_lease_was_taken_over_mid_way_writes_nothing_more() {
    let emulator = demo_emulator(Duration::from_millis(1000));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let host = connected_host(dir.path(), &emulator);
    let org = Org::new(emulator);

    let cycle = tokio::spawn({
        let host = host.clone();
        async move { host.cycle(ORG).await }
    });
    // The first request (the token) is held for a second; meanwhile another
    // process is granted the org, as after this one paused past its lease.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let database = dir.path().join("casebridge.db");
    let other = rusqlite::Connection::open(&database).expect("a second connection, as another process has");
    let taken = other
        .execute(
            "UPDATE org_lease SET token = token + 1, holder_host = 'another-machine', holder_pid = 4242 WHERE org = ?1",
            [ORG],
        )
        .expect("take the lease over");
    assert_eq!(taken, 1, "the cycle held the org's lease");
    let store_before = host.store().scan(ORG, "").expect("scan");

    let outcome = cycle.await.expect("the cycle task");
    let error = outcome.expect_err("the cycle cannot finish without its lease");
    assert!(matches!(error, OrgError::LeaseLost { .. }), "{error:?}");
    assert!(error.to_string().contains("lease"), "{error}");
    assert_eq!(host.store().scan(ORG, "").expect("scan"), store_before, "nothing was committed after the takeover");
    assert_eq!(org.agent_records(), 0, "nothing was written to Salesforce after the takeover");
    let status = host.store().org_status(ORG).expect("status").expect("the cycle was recorded");
    assert!(
        matches!(&status.last_outcome, Some(casebridge::storage::CycleOutcome::Error { kind, .. }) if kind == "lease_lost"),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_retry_while_another_host_cycles_the_org_is_refused_with_who_holds_it() {
    let emulator = demo_emulator(Duration::from_millis(1000));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config_path = write_config(dir.path(), &emulator, ORG, 60);
    let credentials = emulator.credentials();
    let open = || {
        let host = Host::open(Config::load(&config_path).expect("config")).expect("the host opens");
        host.vault()
            .put(ORG, OrgSecret::ClientSecret, &Secret::new(credentials.client_secret.clone()))
            .expect("secret");
        host.vault().put(ORG, OrgSecret::RefreshToken, &Secret::new(credentials.refresh_token.clone())).expect("token");
        Arc::new(host)
    };
    let (cycling, retrying) = (open(), open());

    let cycle = tokio::spawn({
        let cycling = cycling.clone();
        async move { cycling.cycle(ORG).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let error = retrying.retry_error(ORG, "reply:500000000000001AAA").await.expect_err("the org is being cycled");
    match &error {
        OrgError::Busy { holder, .. } => assert_eq!(holder, cycling.holder()),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(error.to_string().contains(&format!("is being cycled by casebridge pid {}", std::process::id())));
    cycle.await.expect("the cycle task").expect("the cycle itself succeeds");
}
