//! E12, several hosts on one PostgreSQL database: three `casebridge run`
//! processes share an emulated org while its customers write. Random hosts
//! are SIGKILLed and started again, and random hosts have their database
//! connections cut by the server; through all of it every customer message
//! is answered exactly once, the org is never left uncycled for longer than
//! the interval plus the lease's expiry, and the hosts divide the cycles.
//!
//! Each host names itself differently in its leases (`CASEBRIDGE_HOST_NAME`),
//! as hosts on different machines do, and a killed host comes back under a
//! new name, as a replacement machine would: a killed host's lease is then
//! taken over when it expires, not at once because its pid is gone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebridge::storage::Leases as _;

use casebridge_emulator::{EmulatorOptions, Fault, FaultTarget, Seed};

mod support;
use support::databases::{self, Backend, TestDatabase};
use support::{HostProcess, Org, Rng, write_config};

const ORG: &str = "shared";
const HOSTS: usize = 3;
/// `[host] lease_ttl_seconds` in the test: short, so take-overs show.
const LEASE_TTL_SECONDS: u64 = 10;
/// Latency on every request: a cycle takes about a second, as long as the
/// interval, so the hosts meet all the time.
const LATENCY: Duration = Duration::from_millis(100);
/// Rounds of customer messages, with a host killed or cut off between them.
const ROUNDS: u32 = 8;
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the hosts keep cycling after everything is answered, so a reply
/// posted twice late would show.
const AFTER_SETTLED: Duration = Duration::from_secs(3);
/// The longest the org may go between the starts of two cycles: the
/// interval, a take-over of a killed holder's lease (its expiry, a renewal
/// period early at most), a cycle that failed on a cut connection, and the
/// cycle itself.
const CYCLE_GAP_BOUND: Duration = Duration::from_secs(1 + LEASE_TTL_SECONDS + 1 + 6);

fn tail(log: &Mutex<Vec<String>>) -> String {
    let log = log.lock().unwrap();
    log.iter().rev().take(80).rev().cloned().collect::<Vec<_>>().join("\n")
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    done()
}

#[test]
fn three_hosts_with_random_kills_and_cut_connections_answer_every_message_once_and_on_time() {
    let Some(database) = TestDatabase::new(Backend::Postgres) else { return };
    let server = databases::postgres_server().expect("a server");
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    let mut rng = Rng(seed);
    let emulator = casebridge_emulator::spawn(EmulatorOptions { seed: Seed::Demo, ..EmulatorOptions::default() })
        .expect("the emulator starts");
    emulator.inject(Fault::latency(LATENCY).always().on(FaultTarget::Any));
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator, ORG, 1);
    let text = std::fs::read_to_string(&config).expect("read the configuration");
    let url = database.location().to_str().expect("a URL");
    let text = text.replace(
        "database = \"casebridge.db\"",
        &format!("database = \"{url}\"\nlease_ttl_seconds = {LEASE_TTL_SECONDS}"),
    );
    std::fs::write(&config, text).expect("write the configuration");
    let mut org = Org::new(emulator);
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = |name: &str| {
        let env = [("CASEBRIDGE_HOST_NAME", name), ("CASEBRIDGE_LOG", "info,casebridge::scheduler=debug")];
        let mut host = HostProcess::run_with_env(&config, &credentials, &log, name, &env);
        host.wait_until_running(&log);
        host
    };
    let mut names: Vec<String> = (0..HOSTS).map(|i| format!("host-{}", (b'a' + i as u8) as char)).collect();
    let mut seen = names.clone();
    let mut hosts: Vec<Option<HostProcess>> = names.iter().map(|name| Some(start(name))).collect();
    let began = chrono::Utc::now();

    let store = database.open();
    let (mut kills, mut held_kills, mut cuts) = (0, 0, 0);
    for round in 0..ROUNDS {
        wait_until(SETTLE_TIMEOUT, || org.problems().is_empty());
        org.customers_write(&mut rng);
        // Let the hosts get going on what the customers wrote, then strike.
        std::thread::sleep(Duration::from_millis(rng.between(200, 1500)));
        let mut victim = usize::try_from(rng.between(0, HOSTS as u64 - 1)).unwrap_or(0);
        if round % 2 == 0 {
            // The host in the middle of a cycle, when one is: its lease must
            // run out before another takes the org over.
            let holder = || {
                let lease = store.lease_state(ORG).ok().flatten()?;
                lease.is_held_at(chrono::Utc::now()).then(|| lease.holder.host().to_string())
            };
            if wait_until(Duration::from_secs(3), || holder().is_some())
                && let Some(index) = holder().and_then(|name| names.iter().position(|n| *n == name))
            {
                victim = index;
                held_kills += 1;
            }
            let host = hosts[victim].take().expect("every host runs between rounds");
            host.kill();
            kills += 1;
            std::thread::sleep(Duration::from_millis(rng.between(500, 3000)));
            // Its replacement comes up as a new machine would, under another
            // name: the killed host's lease has to run out.
            let name = format!("{}-{round}", names[victim]);
            hosts[victim] = Some(start(&name));
            names[victim] = name;
            seen.push(names[victim].clone());
        } else if let Some(host) = &hosts[victim] {
            // The server drops the host's connections, as in a failover.
            databases::sql(
                &server,
                &format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'casebridge pid {}'",
                    host.pid()
                ),
            );
            cuts += 1;
        }
    }
    let settled = wait_until(SETTLE_TIMEOUT, || org.problems().is_empty());
    std::thread::sleep(AFTER_SETTLED);
    for host in hosts.into_iter().flatten() {
        host.kill();
    }

    let problems = org.problems();
    let replies: usize = org.cases.iter().map(|c| org.messages(c).iter().filter(|m| m.by_agent).count()).sum();
    let lines = log.lock().unwrap().clone();
    let cycles_by: Vec<usize> = seen
        .iter()
        .map(|name| {
            lines
                .iter()
                .filter(|l| l.starts_with(&format!("[{name}]")) && l.contains("casebridge::scheduler: cycled"))
                .count()
        })
        .collect();
    let mut starts: Vec<_> =
        store.recent_cycles(ORG, 1_000_000).expect("the cycle log").into_iter().map(|c| c.started_at).collect();
    starts.sort();
    let worst_gap = starts
        .windows(2)
        .filter(|pair| pair[0] >= began)
        .map(|pair| (pair[1] - pair[0]).to_std().unwrap_or_default())
        .max()
        .unwrap_or_default();
    eprintln!(
        "three hosts (seed {seed}): {} customer messages and {} new cases, {replies} agent replies on {} cases; {kills} hosts killed ({held_kills} holding the org), {cuts} cut off; cycles by host {cycles_by:?}, {} in the log, the longest gap between two {worst_gap:?}",
        org.customer_messages,
        org.new_cases,
        org.cases.len(),
        starts.len()
    );
    assert!(
        settled && problems.is_empty(),
        "{} cases are wrong:\n{}\n\nlog:\n{}",
        problems.len(),
        problems.join("\n\n"),
        tail(&log)
    );
    assert!(worst_gap <= CYCLE_GAP_BOUND, "the org went {worst_gap:?} without a cycle:\n{}", tail(&log));
    assert!(
        cycles_by.iter().filter(|&&n| n > 0).count() >= 2,
        "the hosts did not divide the work: {cycles_by:?}\n{}",
        tail(&log)
    );
}
