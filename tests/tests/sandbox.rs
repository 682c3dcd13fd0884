//! The sandbox (E3): a connector that spins, eats memory, traps or calls out
//! is stopped by the host, reaches only its org's hosts, and never harms the
//! host or another org's cycle. The adversary is `tests/guests/hostile/`.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use casebridge::runtime::bindings::{org, settings, sync};
use casebridge::runtime::{
    AllowedHosts, BlockingKeyValueStore, Capabilities, GuestLimits, MemoryStore, NoAgent, NoMail, NoPlatform,
    OrgSettings, Runtime,
};
use casebridge_tests::{HOSTILE_COMPONENT, TestOrg};
use wasmtime::Trap;

/// Small limits, so a misbehaving cycle is stopped quickly.
const LIMITS: GuestLimits = GuestLimits { memory_bytes: 32 << 20, deadline: Duration::from_secs(1) };

/// Where the hostile component's `hungry` cycle counts the MiB it holds.
const HUNGRY_PROGRESS_KEY: &str = "hungry/mib";

/// A login URL that is never called (only `exfiltrate` calls out).
const UNUSED_URL: &str = "http://127.0.0.1:9/";

type CycleOutcome = wasmtime::Result<Result<sync::CycleReport, org::SyncError>>;

fn hostile() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(HOSTILE_COMPONENT).expect("the hostile component compiles"))
}

/// An org whose `name` tells the hostile component how to misbehave. The
/// hostile component implements contract 0.1.0: it also proves that an old
/// component is sandboxed like a new one.
fn hostile_org(name: &str, login_url: &str) -> OrgSettings {
    OrgSettings {
        login_url: login_url.into(),
        credentials: settings::AppCredentials {
            client_id: "client".into(),
            client_secret: "secret".into(),
            refresh_token: "token".into(),
        },
        agent_user_id: "005000000000001AAA".into(),
        hand_off: settings::HandOffTarget::Queue("00G000000000001AAA".into()),
        daily_api_budget: 1_000,
        poll_overlap_seconds: 5,
        ..OrgSettings::offline(name)
    }
}

/// `org`'s capabilities: its settings, `store`, no platform, agent or mail.
fn capabilities(org: OrgSettings, store: Arc<MemoryStore>) -> Capabilities {
    Capabilities {
        org: org.name.clone(),
        settings: Arc::new(org),
        store,
        platform: Arc::new(NoPlatform),
        agent: Arc::new(NoAgent),
        mail: Arc::new(NoMail),
    }
}

/// `org` with an in-memory store of its own.
fn in_memory(org: OrgSettings) -> Capabilities {
    capabilities(org, Arc::new(MemoryStore::default()))
}

/// One cycle of the hostile component in a fresh instance; the outer error is a trap.
async fn hostile_cycle(capabilities: Capabilities, allowed: AllowedHosts) -> CycleOutcome {
    let mut guest =
        hostile().instantiate(capabilities, allowed, LIMITS).await.expect("the hostile component instantiates");
    guest.run_cycle().await
}

async fn quiet_cycle_succeeds() {
    let outcome = hostile_cycle(in_memory(hostile_org("quiet", UNUSED_URL)), AllowedHosts::none()).await;
    let report = outcome.expect("no trap").expect("the quiet cycle succeeds");
    assert_eq!(report.api_calls, 0);
}

/// Whether the host refused the request (waki reports the `wasi:http` error code).
fn is_denied(outcome: &CycleOutcome) -> bool {
    match outcome {
        Ok(Err(org::SyncError::Transport(error))) => error.contains("HttpRequestDenied"),
        _ => false,
    }
}

fn trap_of(error: &wasmtime::Error) -> Option<Trap> {
    error.downcast_ref::<Trap>().copied()
}

fn stored_mib(store: &MemoryStore, org: &str) -> usize {
    BlockingKeyValueStore::get(store, org, HUNGRY_PROGRESS_KEY)
        .expect("the memory store answers")
        .map_or(0, |mib| mib.parse().expect("a MiB count"))
}

#[tokio::test]
async fn runaway_guest_is_stopped_by_the_deadline() {
    let runtime = hostile();
    let mut guest = runtime
        .instantiate(in_memory(hostile_org("runaway", UNUSED_URL)), AllowedHosts::none(), LIMITS)
        .await
        .expect("instantiates");

    let started = Instant::now();
    let outcome = guest.run_cycle().await;
    let elapsed = started.elapsed();
    eprintln!("the runaway guest was stopped after {elapsed:?} (deadline {:?})", LIMITS.deadline);

    let error = outcome.expect_err("an endless cycle cannot return");
    assert_eq!(trap_of(&error), Some(Trap::Interrupt), "stopped by the epoch deadline: {error:?}");
    assert!(elapsed < Duration::from_secs(10), "stopped in bounded time, took {elapsed:?}");
    assert!(elapsed >= LIMITS.deadline * 9 / 10, "it ran until its deadline, not less: {elapsed:?}");
}

#[tokio::test]
async fn memory_hungry_guest_is_stopped_by_the_limit() {
    let store = Arc::new(MemoryStore::default());
    let org = hostile_org("hungry", UNUSED_URL);

    let started = Instant::now();
    let outcome = hostile_cycle(capabilities(org, store.clone()), AllowedHosts::none()).await;
    let elapsed = started.elapsed();

    let error = outcome.expect_err("an allocation beyond the limit fails, and the guest aborts");
    let trap = trap_of(&error);
    assert!(trap.is_some(), "the failure is a trap: {error:?}");
    let held = stored_mib(&store, "hungry");
    eprintln!("the hungry guest held {held} MiB when it trapped ({trap:?}) after {elapsed:?}");
    let limit_mib = LIMITS.memory_bytes >> 20;
    assert!(held < limit_mib, "the guest never got past the {limit_mib} MiB limit: it held {held} MiB");
    assert!(held >= limit_mib / 2, "the guest really did allocate up to near the limit: {held} MiB");

    // The host is fine: the same runtime runs the next instance normally.
    quiet_cycle_succeeds().await;
}

#[tokio::test]
async fn trapping_guest_does_not_poison_the_host() {
    let runtime = hostile();
    let mut guest = runtime
        .instantiate(in_memory(hostile_org("trap", UNUSED_URL)), AllowedHosts::none(), LIMITS)
        .await
        .expect("instantiates");

    let error = guest.run_cycle().await.expect_err("it traps");
    assert_eq!(trap_of(&error), Some(Trap::UnreachableCodeReached), "a panic aborts: {error:?}");

    // The trapped instance itself is not trusted again ...
    let again = guest.run_cycle().await;
    assert!(again.is_err(), "a trapped instance refuses further calls: {again:?}");

    // ... but a fresh one from the same runtime works.
    quiet_cycle_succeeds().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_org_never_affects_another_orgs_cycle() {
    let demo = Arc::new(TestOrg::demo());
    // Compile both components first, so the clock measures only the cycles.
    casebridge_tests::runtime();
    hostile();
    let case_comments = |demo: &TestOrg| demo.query("SELECT Id FROM CaseComment").len();
    let comments_before = case_comments(&demo);

    // Like the scheduler: each cycle is its own task on the host's runtime.
    // An epoch deadline traps but never yields, so the runaway holds one of
    // the two workers until its deadline; the demo cycle runs on the other.
    let started = Instant::now();
    let timed = move |cycle| async move {
        let outcome = cycle.await;
        (outcome, started.elapsed())
    };
    let hungry_store = Arc::new(MemoryStore::default());
    let runaway =
        tokio::spawn(timed(hostile_cycle(in_memory(hostile_org("runaway", UNUSED_URL)), AllowedHosts::none())));
    let hungry = tokio::spawn(timed(hostile_cycle(
        capabilities(hostile_org("hungry", UNUSED_URL), hungry_store.clone()),
        AllowedHosts::none(),
    )));
    let normal = tokio::spawn({
        let demo = demo.clone();
        async move {
            let outcome = demo.cycle().await;
            (outcome, started.elapsed())
        }
    });
    let (runaway, hungry, normal) = tokio::join!(runaway, hungry, normal);
    let ((runaway, runaway_at), (hungry, hungry_at), (normal, normal_at)) =
        (runaway.expect("task"), hungry.expect("task"), normal.expect("task"));
    eprintln!("runaway stopped at {runaway_at:?}, hungry at {hungry_at:?}, the demo cycle finished at {normal_at:?}");

    let runaway = runaway.expect_err("the runaway org's cycle fails");
    assert_eq!(trap_of(&runaway), Some(Trap::Interrupt), "{runaway:?}");
    let hungry = hungry.expect_err("the hungry org's cycle fails");
    assert!(trap_of(&hungry).is_some(), "{hungry:?}");
    assert!(stored_mib(&hungry_store, "hungry") < LIMITS.memory_bytes >> 20);

    let report = normal.expect("the demo org's cycle succeeds next to the faulty ones");
    assert!(report.replies_posted >= 1, "the demo org's replies were posted: {report:?}");
    assert!(report.errors.is_empty(), "{report:?}");
    let comments_after = case_comments(&demo);
    assert!(
        comments_after > comments_before,
        "the replies are in the org: {comments_before} → {comments_after} case comments"
    );
}

#[tokio::test]
async fn guest_reaches_only_allowed_hosts() {
    let demo = TestOrg::demo();
    let emulator_url = demo.config.login_url.clone();
    let allowed = demo.allowed_hosts();
    let exfiltrate = |url: &str| hostile_cycle(in_memory(hostile_org("exfiltrate", url)), allowed.clone());

    // (a) Another port on the emulator's own address: refused, and nothing connects.
    let decoy = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a local port");
    let decoy_url = format!("http://127.0.0.1:{}/steal", decoy.local_addr().expect("bound").port());
    let outcome = exfiltrate(&decoy_url).await;
    assert!(is_denied(&outcome), "{decoy_url} is not allowed: {outcome:?}");
    let connection = tokio::time::timeout(Duration::from_millis(300), decoy.accept()).await;
    assert!(connection.is_err(), "the decoy listener received a connection");

    // (b) A host that is not on the list: refused before any DNS lookup.
    let outcome = exfiltrate("http://example.invalid/").await;
    assert!(is_denied(&outcome), "example.invalid is not allowed: {outcome:?}");

    // (c) The org's own host goes through.
    let outcome = exfiltrate(&format!("{emulator_url}/")).await;
    assert!(
        matches!(&outcome, Ok(Err(org::SyncError::Salesforce(reached))) if reached.code == "REACHED"),
        "the emulator is allowed: {outcome:?}"
    );
}
