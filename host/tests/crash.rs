//! E1, nothing lost and nothing doubled: the real `casebridge run` process is
//! killed (SIGKILL) at random points while it works an emulated org, the
//! customers write again while it is down, and it is restarted each time.
//! Once the last restart has settled, every customer message has exactly one
//! agent reply after it, on every case.
//!
//! Half the kills come at a random point of a run. The other half come the
//! moment the emulated org has written a reply of the host's (or after two
//! seconds, when the run has nothing to write): that catches the host after
//! Salesforce carried out its write-back and before the host heard the answer
//! and recorded it, the one moment a careless host posts a reply twice.
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

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebridge_emulator::db::{QueryContext, WriteContext};
use casebridge_emulator::{EmulatorOptions, Fault, FaultTarget, RunningEmulator, Seed};
use serde_json::{Value, json};

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
/// The longest the host may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest the last run may take to answer what is left.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the last run keeps cycling after everything is answered, so a
/// reply posted twice late would show.
const AFTER_SETTLED: Duration = Duration::from_millis(2500);

const ORG: &str = "crash";
const CUSTOMER: &str = "support-site.guest@casebridge.example";
const SECRET_ENV: &str = "CASEBRIDGE_CRASH_TEST_CLIENT_SECRET";
const TOKEN_ENV: &str = "CASEBRIDGE_CRASH_TEST_REFRESH_TOKEN";

/// Questions the help centre can answer, so the built-in agent mostly answers.
const QUESTIONS: &[&str] = &[
    "How do I export all our project data as CSV?",
    "The password reset email never arrives, what can I do?",
    "How do I invite teammates to our workspace?",
    "Where can I download my invoices, and how do refunds work?",
    "How do I change our plan to yearly billing?",
    "Two-factor authentication codes are rejected when I log in.",
    "How do I create a new API key for our integration?",
    "How do I update the credit card we pay with?",
    "The app crashes when I upload photos from my phone.",
    "How do I delete my account and all its data?",
];

/// A small, seedable random source (SplitMix64): reproducible without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

/// A `casebridge run` process and what it logged.
struct HostProcess {
    child: Child,
    ready: mpsc::Receiver<()>,
}

impl HostProcess {
    fn start(config: &Path, secret: &str, refresh_token: &str, log: &Arc<Mutex<Vec<String>>>, life: u32) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_casebridge"))
            .args(["run", "--config"])
            .arg(config)
            .env(SECRET_ENV, secret)
            .env(TOKEN_ENV, refresh_token)
            .env("CASEBRIDGE_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("CASEBRIDGE_KEY")
            .env_remove("CASEBRIDGE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the casebridge binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (ready_tx, ready) = mpsc::channel();
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("running; Ctrl-C stops") {
                    let _ = ready_tx.send(());
                }
                log.lock().unwrap().push(format!("[run {life}] {line}"));
            }
        });
        HostProcess { child, ready }
    }

    fn wait_until_running(&mut self, log: &Mutex<Vec<String>>) {
        if self.ready.recv_timeout(START_TIMEOUT).is_err() {
            let _ = self.child.kill();
            panic!("the host did not start within {START_TIMEOUT:?}:\n{}", log.lock().unwrap().join("\n"));
        }
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(mut self) {
        self.child.kill().expect("the host can be killed");
        self.child.wait().expect("the killed host is reaped");
    }
}

/// One message on a case, by the customer or by the agent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Message {
    created: String,
    /// Sorted after a customer message of the same instant.
    by_agent: bool,
    kind: &'static str,
    text: String,
}

/// The emulated org, seen as its customers and as the test's judge.
struct Org {
    emulator: RunningEmulator,
    integration_user: String,
    agent_user: String,
    customer_user: String,
    /// The cases whose messages are checked: the agent's seeded cases and the new ones.
    cases: Vec<String>,
    customer_messages: u32,
    new_cases: u32,
}

impl Org {
    fn query(&self, soql: &str) -> Vec<Value> {
        let ctx = QueryContext {
            now: self.emulator.now(),
            api_version: "62.0".into(),
            user_id: self.integration_user.clone(),
        };
        self.emulator.with_database(|db| db.query(soql, false, &ctx)).expect("the query runs").records
    }

    fn create_as_customer(&self, object: &str, fields: Value) -> String {
        // The clock is read before the database is locked: both sit behind one lock.
        let ctx = WriteContext { now: self.emulator.now(), user_id: self.customer_user.clone() };
        let fields = fields.as_object().cloned().expect("fields are an object");
        self.emulator.with_database(|db| db.create(object, &fields, &ctx)).expect("the record is valid")
    }

    /// Every customer and agent message on a case, oldest first.
    fn messages(&self, case_id: &str) -> Vec<Message> {
        let text = |record: &Value, field: &str| record[field].as_str().unwrap_or_default().to_string();
        let by_agent = |record: &Value| record["CreatedById"].as_str() == Some(self.integration_user.as_str());
        let mut messages = Vec::new();
        for case in self.query(&format!("SELECT CreatedDate, Description FROM Case WHERE Id = '{case_id}'")) {
            if !text(&case, "Description").trim().is_empty() {
                messages.push(Message {
                    created: text(&case, "CreatedDate"),
                    by_agent: false,
                    kind: "description",
                    text: text(&case, "Description"),
                });
            }
        }
        let children = [
            ("comment", "CaseComment", "CommentBody", " AND IsPublished = true"),
            (
                "post",
                "FeedItem",
                "Body",
                " AND Type IN ('TextPost', 'ContentPost', 'LinkPost', 'QuestionPost', 'AdvancedTextPost')",
            ),
            ("post comment", "FeedComment", "CommentBody", ""),
        ];
        for (kind, object, body, filter) in children {
            let soql =
                format!("SELECT CreatedDate, CreatedById, {body} FROM {object} WHERE ParentId = '{case_id}'{filter}");
            for record in self.query(&soql) {
                messages.push(Message {
                    created: text(&record, "CreatedDate"),
                    by_agent: by_agent(&record),
                    kind,
                    text: text(&record, body),
                });
            }
        }
        for email in self
            .query(&format!("SELECT CreatedDate, Incoming, TextBody FROM EmailMessage WHERE ParentId = '{case_id}'"))
        {
            messages.push(Message {
                created: text(&email, "CreatedDate"),
                by_agent: email["Incoming"] != json!(true),
                kind: "email",
                text: text(&email, "TextBody"),
            });
        }
        messages.sort();
        messages
    }

    /// How many replies the host has written, in all: its case comments and emails.
    fn agent_records(&self) -> usize {
        let by = &self.integration_user;
        self.query(&format!("SELECT Id FROM CaseComment WHERE CreatedById = '{by}'")).len()
            + self.query(&format!("SELECT Id FROM EmailMessage WHERE CreatedById = '{by}'")).len()
    }

    fn owned_by_agent(&self, case_id: &str) -> bool {
        let case = self.query(&format!("SELECT OwnerId FROM Case WHERE Id = '{case_id}'"));
        case.first().and_then(|c| c["OwnerId"].as_str()) == Some(self.agent_user.as_str())
    }

    /// While the host is down: customers write again where the agent has
    /// answered, and new cases arrive for the agent.
    fn customers_write(&mut self, rng: &mut Rng) {
        for case_id in self.cases.clone() {
            let answered = self.messages(&case_id).last().is_some_and(|m| m.by_agent);
            if answered && self.owned_by_agent(&case_id) && rng.chance(2) {
                self.customer_messages += 1;
                let question = QUESTIONS[rng.between(0, QUESTIONS.len() as u64 - 1) as usize];
                let body = format!("{question} (message {})", self.customer_messages);
                self.create_as_customer(
                    "CaseComment",
                    json!({"ParentId": case_id, "CommentBody": body, "IsPublished": true}),
                );
            }
        }
        if rng.chance(2) {
            self.new_cases += 1;
            self.customer_messages += 1;
            let question = QUESTIONS[rng.between(0, QUESTIONS.len() as u64 - 1) as usize];
            let id = self.create_as_customer(
                "Case",
                json!({
                    "Subject": format!("Question {} from the support site", self.new_cases),
                    "Description": question,
                    "Origin": "Web", "Status": "New", "OwnerId": self.agent_user,
                    "SuppliedEmail": "amelia.clarke@northwind.example", "SuppliedName": "Amelia Clarke",
                }),
            );
            self.cases.push(id);
        }
    }

    /// Cases whose messages do not alternate customer → one agent reply.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for case_id in &self.cases {
            let messages = self.messages(case_id);
            let describe = || {
                messages
                    .iter()
                    .map(|m| {
                        format!(
                            "  {} {:<8} {:<12} {}",
                            m.created,
                            if m.by_agent { "agent" } else { "customer" },
                            m.kind,
                            m.text.chars().take(70).collect::<String>()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            match messages.first() {
                None => problems.push(format!("case {case_id} has no messages")),
                Some(first) if first.by_agent => {
                    problems.push(format!("case {case_id}: the agent wrote first:\n{}", describe()))
                }
                _ => {}
            }
            if messages.windows(2).any(|pair| pair[0].by_agent && pair[1].by_agent) {
                problems.push(format!(
                    "case {case_id}: two agent replies in a row (a reply posted twice):\n{}",
                    describe()
                ));
            }
            if messages.last().is_some_and(|m| !m.by_agent) {
                problems.push(format!("case {case_id}: the customer's last message has no reply:\n{}", describe()));
            }
        }
        problems
    }
}

fn write_config(dir: &Path, emulator: &RunningEmulator) -> PathBuf {
    let seeded = emulator.seeded();
    let help_center = Path::new(env!("CARGO_MANIFEST_DIR")).join("help-center");
    let config = format!(
        r#"[host]
database = "casebridge.db"
key_file = "casebridge.key"
cycle_log_per_org = 100000

[agent]
kind = "builtin"
help_center = "{help_center}"

[mail]
kind = "outbox"
outbox = "outbox"
from = "support@example.com"

[[org]]
name = "{ORG}"
login_url = "{url}"
client_id = "{client_id}"
client_secret_env = "{SECRET_ENV}"
refresh_token_env = "{TOKEN_ENV}"
agent_user = "{agent}"
hand_off = {{ queue = "{queue}" }}
topics = ["casebridge"]
poll_interval_seconds = 1
poll_overlap_seconds = 5
"#,
        help_center = help_center.display(),
        url = emulator.url(),
        client_id = emulator.credentials().client_id,
        agent = seeded.agent_user_id.as_deref().expect("the demo seed has an agent user"),
        queue = seeded.handoff_queue_id.as_deref().expect("the demo seed has a queue"),
    );
    let path = dir.join("casebridge.toml");
    std::fs::write(&path, config).expect("the configuration is written");
    path
}

fn count_files(dir: &Path, extension: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| entry.path())
        .map(|path| {
            if path.is_dir() {
                count_files(&path, extension)
            } else {
                usize::from(path.extension().is_some_and(|e| e == extension))
            }
        })
        .sum()
}

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
    let credentials = emulator.credentials();
    let seeded = emulator.seeded().clone();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = write_config(dir.path(), &emulator);
    let customer_user = {
        let ctx = QueryContext {
            now: emulator.now(),
            api_version: "62.0".into(),
            user_id: seeded.integration_user_id.clone(),
        };
        let users = emulator
            .with_database(|db| db.query(&format!("SELECT Id FROM User WHERE Username = '{CUSTOMER}'"), false, &ctx))
            .expect("the query runs")
            .records;
        users[0]["Id"].as_str().expect("the customer exists").to_string()
    };
    let mut org = Org {
        integration_user: seeded.integration_user_id.clone(),
        agent_user: seeded.agent_user_id.clone().expect("the demo seed has an agent user"),
        customer_user,
        cases: seeded.agent_case_ids.clone(),
        customer_messages: 0,
        new_cases: 0,
        emulator,
    };
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut start_ups = Duration::ZERO;
    let mut start = |life: u32| {
        let starting = Instant::now();
        let mut host = HostProcess::start(&config, &credentials.client_secret, &credentials.refresh_token, &log, life);
        host.wait_until_running(&log);
        start_ups += starting.elapsed();
        host
    };

    let mut kills_as_salesforce_wrote = 0;
    for life in 0..kills {
        let written = org.agent_records();
        let host = start(life);
        let at_random = Duration::from_millis(rng.between(KILL_AFTER_MS.0, KILL_AFTER_MS.1));
        if rng.chance(2) {
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
    while !org.problems().is_empty() && settle_started.elapsed() < SETTLE_TIMEOUT {
        std::thread::sleep(Duration::from_millis(300));
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
        "crash test: seed {seed}: {kills} kills ({kills_as_salesforce_wrote} as Salesforce wrote a reply), {} cycles ({interrupted} killed mid-cycle, {failed} failed), {} customer messages and {} new cases written, {replies} agent replies on {} cases checked ({unreported} written by a run killed before it recorded them), {emails_sent} emails sent, {:.1} s ({:.1} s of it starting the host {} times)",
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
        panic!(
            "seed {seed}: {} cases are wrong:\n{}\n\nlast host log lines:\n{tail}",
            problems.len(),
            problems.join("\n\n")
        );
    }
    assert_eq!(emails_sent, email_replies, "each email reply was sent once and recorded once (seed {seed})");
}
