//! What the process tests share: the emulated org seen as its customers and
//! as the judge of the replies, the configuration of an org on the emulator,
//! and `casebridge` processes started from the test.

#![allow(dead_code)] // each test binary uses its own part of it

pub mod databases;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casebridge::config::Config;
use casebridge::host::Host;
use casebridge::scheduler::ScheduleStats;
use casebridge::secrets::{OrgSecret, Secret};
use casebridge_emulator::db::{QueryContext, WriteContext};
use casebridge_emulator::{Credentials, RunningEmulator};
use serde_json::{Value, json};

/// The longest a `casebridge` process may take to start.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The demo org's customer on web cases: the support site's guest user.
pub const CUSTOMER: &str = "support-site.guest@casebridge.example";
/// The environment variables the configuration's `client_secret_env` and
/// `refresh_token_env` name.
pub const SECRET_ENV: &str = "CASEBRIDGE_PROCESS_TEST_CLIENT_SECRET";
pub const TOKEN_ENV: &str = "CASEBRIDGE_PROCESS_TEST_REFRESH_TOKEN";

/// Questions the help centre can answer, so the built-in agent mostly answers.
pub const QUESTIONS: &[&str] = &[
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
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

/// A `casebridge` process started by a test, and what it logs.
pub struct HostProcess {
    pub child: Child,
    ready: mpsc::Receiver<()>,
}

impl HostProcess {
    /// `casebridge run` on `config`, its stderr lines added to `log` as `[label] …`.
    pub fn run(config: &Path, credentials: &Credentials, log: &Arc<Mutex<Vec<String>>>, label: &str) -> Self {
        Self::run_with_env(config, credentials, log, label, &[])
    }

    /// [`run`](Self::run) with more environment variables.
    pub fn run_with_env(
        config: &Path,
        credentials: &Credentials,
        log: &Arc<Mutex<Vec<String>>>,
        label: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = casebridge(config, credentials)
            .envs(env.iter().copied())
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the casebridge binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (ready_tx, ready) = mpsc::channel();
        let (log, label) = (log.clone(), label.to_string());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("running; Ctrl-C stops") {
                    let _ = ready_tx.send(());
                }
                log.lock().unwrap().push(format!("[{label}] {line}"));
            }
        });
        HostProcess { child, ready }
    }

    pub fn wait_until_running(&mut self, log: &Mutex<Vec<String>>) {
        if self.ready.recv_timeout(START_TIMEOUT).is_err() {
            let _ = self.child.kill();
            panic!("the host did not start within {START_TIMEOUT:?}:\n{}", log.lock().unwrap().join("\n"));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().expect("the host can be killed");
        self.child.wait().expect("the killed host is reaped");
    }
}

/// A `casebridge` command on `config`, with the org's secrets in its
/// environment and nothing from the test's (no colours, no other config).
pub fn casebridge(config: &Path, credentials: &Credentials) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_casebridge"));
    command
        .arg("--config")
        .arg(config)
        .env(SECRET_ENV, &credentials.client_secret)
        .env(TOKEN_ENV, &credentials.refresh_token)
        .env("CASEBRIDGE_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("CASEBRIDGE_KEY")
        .env_remove("CASEBRIDGE_CONFIG")
        .stdin(Stdio::null());
    command
}

/// A host in this process for the orgs of `config_text` (written to
/// `dir/casebridge.toml`), every org's secrets in the vault.
pub fn open_host(dir: &Path, config_text: &str, emulator: &RunningEmulator) -> Arc<Host> {
    let path = dir.join("casebridge.toml");
    std::fs::write(&path, config_text).expect("write the configuration");
    let host = Host::open(Config::load(&path).expect("the configuration loads")).expect("the host opens");
    let credentials = emulator.credentials();
    for org in &host.config().orgs {
        host.vault()
            .put(&org.name, OrgSecret::ClientSecret, &Secret::new(credentials.client_secret.clone()))
            .expect("secret");
        host.vault()
            .put(&org.name, OrgSecret::RefreshToken, &Secret::new(credentials.refresh_token.clone()))
            .expect("token");
    }
    Arc::new(host)
}

/// `casebridge run`'s scheduler in this process, until [`stop`](Self::stop).
pub struct Scheduler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<ScheduleStats>,
}

impl Scheduler {
    pub fn start(host: &Arc<Host>) -> Scheduler {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(casebridge::scheduler::run(host.clone(), async {
            let _ = stopped.await;
        }));
        Scheduler { stop, task }
    }

    pub async fn stop(self) -> ScheduleStats {
        let _ = self.stop.send(());
        self.task.await.expect("the scheduler stops")
    }
}

/// Waits until `done` says so (checked every 50 ms, at most `limit`);
/// returns whether it did.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while !done() {
        if started.elapsed() >= limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Runs the scheduler until `done` says so (checked every 100 ms, at most `limit`).
pub async fn schedule_until(host: &Arc<Host>, limit: Duration, mut done: impl FnMut(&Host) -> bool) -> ScheduleStats {
    let scheduler = Scheduler::start(host);
    wait_until(limit, || done(host)).await;
    scheduler.stop().await
}

/// Writes `casebridge.toml` in `dir` for one org `name` on the emulator's
/// demo org, polled every `poll_interval_seconds`; returns its path.
pub fn write_config(dir: &Path, emulator: &RunningEmulator, name: &str, poll_interval_seconds: u32) -> PathBuf {
    let seeded = emulator.seeded();
    let help_center = Path::new(env!("CARGO_MANIFEST_DIR")).join("help-center");
    let config = format!(
        r#"[host]
database = "casebridge.db"
key_file = "casebridge.key"
cycle_log_per_org = 100000

[api]
listen = "127.0.0.1:0"

[agent]
kind = "builtin"
help_center = "{help_center}"

[mail]
kind = "outbox"
outbox = "outbox"
from = "support@example.com"

[[org]]
name = "{name}"
login_url = "{url}"
instance_url = "{instance_url}"
client_id = "{client_id}"
client_secret_env = "{SECRET_ENV}"
refresh_token_env = "{TOKEN_ENV}"
agent_user = "{agent}"
hand_off = {{ queue = "{queue}" }}
topics = ["casebridge"]
poll_interval_seconds = {poll_interval_seconds}
poll_overlap_seconds = 5
"#,
        help_center = help_center.display(),
        url = emulator.url(),
        instance_url = emulator.instance_url(),
        client_id = emulator.credentials().client_id,
        agent = seeded.agent_user_id.as_deref().expect("the demo seed has an agent user"),
        queue = seeded.handoff_queue_id.as_deref().expect("the demo seed has a queue"),
    );
    let path = dir.join("casebridge.toml");
    std::fs::write(&path, config).expect("the configuration is written");
    path
}

/// One message on a case, by the customer or by the agent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Message {
    pub created: String,
    /// The emulator's creation sequence (the counter part of the record's Id,
    /// one counter for every object), for the order within one second.
    pub sequence: String,
    pub by_agent: bool,
    pub kind: &'static str,
    pub text: String,
}

/// The emulated org, seen as its customers and as the test's judge.
pub struct Org {
    pub emulator: RunningEmulator,
    pub integration_user: String,
    pub agent_user: String,
    pub customer_user: String,
    /// The cases whose messages are checked: the agent's seeded cases and the new ones.
    pub cases: Vec<String>,
    pub customer_messages: u32,
    pub new_cases: u32,
}

impl Org {
    /// The emulated demo org, judged on the agent's seeded cases.
    pub fn new(emulator: RunningEmulator) -> Org {
        let seeded = emulator.seeded().clone();
        let ctx = QueryContext {
            now: emulator.now(),
            api_version: "62.0".into(),
            user_id: seeded.integration_user_id.clone(),
        };
        let users = emulator
            .with_database(|db| db.query(&format!("SELECT Id FROM User WHERE Username = '{CUSTOMER}'"), false, &ctx))
            .expect("the query runs")
            .records;
        Org {
            integration_user: seeded.integration_user_id.clone(),
            agent_user: seeded.agent_user_id.clone().expect("the demo seed has an agent user"),
            customer_user: users[0]["Id"].as_str().expect("the customer exists").to_string(),
            cases: seeded.agent_case_ids.clone(),
            customer_messages: 0,
            new_cases: 0,
            emulator,
        }
    }

    pub fn query(&self, soql: &str) -> Vec<Value> {
        let ctx = QueryContext {
            now: self.emulator.now(),
            api_version: "62.0".into(),
            user_id: self.integration_user.clone(),
        };
        self.emulator.with_database(|db| db.query(soql, false, &ctx)).expect("the query runs").records
    }

    pub fn create_as_customer(&self, object: &str, fields: Value) -> String {
        // The clock is read before the database is locked: both sit behind one lock.
        let ctx = WriteContext { now: self.emulator.now(), user_id: self.customer_user.clone() };
        let fields = fields.as_object().cloned().expect("fields are an object");
        self.emulator.with_database(|db| db.create(object, &fields, &ctx)).expect("the record is valid")
    }

    /// Every customer and agent message on a case, oldest first.
    pub fn messages(&self, case_id: &str) -> Vec<Message> {
        let text = |record: &Value, field: &str| record[field].as_str().unwrap_or_default().to_string();
        let by_agent = |record: &Value| record["CreatedById"].as_str() == Some(self.integration_user.as_str());
        let mut messages = Vec::new();
        let sequence = |record: &Value| text(record, "Id").get(6..15).unwrap_or_default().to_string();
        for case in self.query(&format!("SELECT Id, CreatedDate, Description FROM Case WHERE Id = '{case_id}'")) {
            if !text(&case, "Description").trim().is_empty() {
                messages.push(Message {
                    created: text(&case, "CreatedDate"),
                    sequence: sequence(&case),
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
            let soql = format!(
                "SELECT Id, CreatedDate, CreatedById, {body} FROM {object} WHERE ParentId = '{case_id}'{filter}"
            );
            for record in self.query(&soql) {
                messages.push(Message {
                    created: text(&record, "CreatedDate"),
                    sequence: sequence(&record),
                    by_agent: by_agent(&record),
                    kind,
                    text: text(&record, body),
                });
            }
        }
        for email in self.query(&format!(
            "SELECT Id, CreatedDate, Incoming, TextBody FROM EmailMessage WHERE ParentId = '{case_id}'"
        )) {
            messages.push(Message {
                created: text(&email, "CreatedDate"),
                sequence: sequence(&email),
                by_agent: email["Incoming"] != json!(true),
                kind: "email",
                text: text(&email, "TextBody"),
            });
        }
        messages.sort();
        messages
    }

    /// How many replies the host has written, in all: its case comments and emails.
    pub fn agent_records(&self) -> usize {
        let by = &self.integration_user;
        self.query(&format!("SELECT Id FROM CaseComment WHERE CreatedById = '{by}'")).len()
            + self.query(&format!("SELECT Id FROM EmailMessage WHERE CreatedById = '{by}'")).len()
    }

    pub fn owned_by_agent(&self, case_id: &str) -> bool {
        let case = self.query(&format!("SELECT OwnerId FROM Case WHERE Id = '{case_id}'"));
        case.first().and_then(|c| c["OwnerId"].as_str()) == Some(self.agent_user.as_str())
    }

    /// While the host is down: customers write again where the agent has
    /// answered, and new cases arrive for the agent.
    pub fn customers_write(&mut self, rng: &mut Rng) {
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

    /// Cases where a customer message went unanswered or was answered twice.
    ///
    /// Messages come in runs: customer messages, then agent replies. A run of
    /// replies may be longer than one — a message written while the agent
    /// composed its reply to the ones before gets a reply of its own, after
    /// that one — but never longer than the run of customer messages before
    /// it: more replies than messages is a reply posted twice.
    pub fn problems(&self) -> Vec<String> {
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
            let mut runs: Vec<(bool, usize)> = Vec::new();
            for message in &messages {
                match runs.last_mut() {
                    Some((by_agent, length)) if *by_agent == message.by_agent => *length += 1,
                    _ => runs.push((message.by_agent, 1)),
                }
            }
            let doubled = runs.windows(2).any(|pair| !pair[0].0 && pair[1].0 && pair[1].1 > pair[0].1);
            if doubled {
                problems.push(format!(
                    "case {case_id}: more agent replies than the customer messages before them (a reply posted twice):\n{}",
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

pub fn count_files(dir: &Path, extension: &str) -> usize {
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
