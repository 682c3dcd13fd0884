//! Shared support for casebridge's cross-crate tests: one compiled connector
//! per test binary, and fresh sandboxed instances with test doubles for the
//! host's imports.

use std::sync::OnceLock;

use casebridge::runtime::{
    AllowedHosts, Capabilities, GuestInstance, GuestLimits, OffTheWorkers, OrgSettings, Runtime,
};

/// The connector compiled once per test binary (compiling takes a second or two).
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(casebridge::GUEST_COMPONENT).expect("the embedded connector compiles"))
}

/// The last component built against contract 0.1.0 (from commit 55dd1dc,
/// kept in `tests/fixtures/`), compiled once per test binary.
pub fn runtime_v0_1_0() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(CONNECTOR_V0_1_0).expect("the 0.1.0 connector compiles"))
}

/// The last component built against contract 0.2.0 (from commit 1e6fa52,
/// kept in `tests/fixtures/`), compiled once per test binary.
pub fn runtime_v0_2_0() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(CONNECTOR_V0_2_0).expect("the 0.2.0 connector compiles"))
}

/// The last component built against contract 0.2.2 (from commit 595a5af,
/// kept in `tests/fixtures/`), compiled once per test binary.
pub fn runtime_v0_2_2() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(CONNECTOR_V0_2_2).expect("the 0.2.2 connector compiles"))
}

/// The last component built against contract 0.2.3 (from commit cf3ed3e,
/// kept in `tests/fixtures/`), compiled once per test binary.
pub fn runtime_v0_2_3() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(CONNECTOR_V0_2_3).expect("the 0.2.3 connector compiles"))
}

/// The bytes of the 0.2.3 fixture.
pub const CONNECTOR_V0_2_3: &[u8] = include_bytes!("../fixtures/connector-0.2.3.wasm");

/// The bytes of the 0.2.2 fixture.
pub const CONNECTOR_V0_2_2: &[u8] = include_bytes!("../fixtures/connector-0.2.2.wasm");

/// The bytes of the 0.2.0 fixture.
pub const CONNECTOR_V0_2_0: &[u8] = include_bytes!("../fixtures/connector-0.2.0.wasm");

/// The bytes of the 0.1.0 fixture.
pub const CONNECTOR_V0_1_0: &[u8] = include_bytes!("../fixtures/connector-0.1.0.wasm");

/// A fresh instance with an in-memory store, no agent, no mail and no HTTP.
pub async fn isolated_instance() -> GuestInstance {
    runtime()
        .instantiate(Capabilities::in_memory("test-org"), AllowedHosts::none(), GuestLimits::default())
        .await
        .expect("the connector instantiates")
}

use std::sync::{Arc, Mutex};

use casebridge::runtime::bindings::{agent, mail, messenger, org, settings, sync, types};
use casebridge::runtime::{Agent, Mailer};
use casebridge::storage::Store;
use casebridge_emulator::{EmulatorOptions, RunningEmulator, Seed};

/// An agent double: hands off when asked for a person, sees "fixed" as a
/// confirmation, asks back on "?" alone, and otherwise answers; records every
/// conversation it was shown.
#[derive(Default)]
pub struct ScriptedAgent {
    pub seen: Mutex<Vec<types::Conversation>>,
    /// How long each turn takes (a slow agent): the turn is recorded in
    /// `seen` when it starts, and answered after this pause.
    pub thinking_time: Mutex<std::time::Duration>,
    /// What attribute detection returns (as a webhook agent's own
    /// `detected` would); none: the built-in ranking of the descriptions.
    pub detected: Mutex<Option<Vec<types::Attribute>>>,
}

#[async_trait::async_trait]
impl Agent for ScriptedAgent {
    async fn respond(&self, _org: &str, conversation: types::Conversation) -> Result<agent::Turn, agent::AgentError> {
        let last = conversation
            .parts
            .iter()
            .rev()
            .find(|p| p.author == types::AuthorRole::Customer)
            .map(|p| p.text.to_lowercase())
            .unwrap_or_default();
        let subject = conversation.subject.clone().unwrap_or_default();
        self.seen.lock().unwrap().push(conversation);
        let pause = *self.thinking_time.lock().unwrap();
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        let action = if last.contains("person") || last.contains("human") {
            agent::Action::HandOff("the customer asked for a person".into())
        } else if last.contains("fixed") || last.contains("works now") {
            agent::Action::Solved(Some("Glad it works now!".into()))
        } else if last.trim() == "?" {
            agent::Action::Ask("Could you tell me more?".into())
        } else {
            agent::Action::Answer(format!("Here is how to solve \"{subject}\": follow the steps in our help centre."))
        };
        Ok(agent::Turn { action, detected: Vec::new() })
    }

    async fn detect(
        &self,
        _org: &str,
        conversation: types::Conversation,
        fields: Vec<agent::DetectionField>,
    ) -> Result<Vec<types::Attribute>, agent::AgentError> {
        if let Some(detected) = self.detected.lock().unwrap().clone() {
            return Ok(detected);
        }
        let min = casebridge::agent::detect::MIN_DETECTION_RELEVANCE;
        Ok(casebridge::agent::detect::rank(&conversation, &fields, min))
    }
}

/// A mailer double that records what it sent, once per idempotency key.
#[derive(Default)]
pub struct RecordingMail {
    pub sent: Mutex<Vec<(String, mail::Email)>>,
}

#[async_trait::async_trait]
impl Mailer for RecordingMail {
    async fn send(&self, _org: &str, key: &str, email: mail::Email) -> Result<mail::Sent, mail::MailError> {
        let mut sent = self.sent.lock().unwrap();
        if !sent.iter().any(|(k, _)| k == key) {
            sent.push((key.to_string(), email));
        }
        Ok(mail::Sent { from_address: "support@example.com".into(), message_id: format!("<{key}@example.com>") })
    }
}

/// An emulated demo org with the connector configured for it.
pub struct TestOrg {
    pub emulator: RunningEmulator,
    pub config: OrgSettings,
    /// The runtime its instances come from (the embedded connector unless
    /// [`TestOrg::with_runtime`] chose another).
    pub runtime: &'static Runtime,
    pub agent: Arc<ScriptedAgent>,
    pub mail: Arc<RecordingMail>,
    /// The host's real store (SQLite, in memory): its limits apply.
    pub store: Arc<Store>,
}

impl TestOrg {
    /// The demo org, with timeouts short enough for a test.
    pub fn demo() -> TestOrg {
        let emulator = casebridge_emulator::spawn(EmulatorOptions { seed: Seed::Demo, ..EmulatorOptions::default() })
            .expect("emulator starts");
        let credentials = emulator.credentials();
        let seeded = emulator.seeded().clone();
        let config = OrgSettings {
            name: "demo".into(),
            login_url: credentials.url.clone(),
            api_version: "62.0".into(),
            credentials: settings::AppCredentials {
                client_id: credentials.client_id.clone(),
                client_secret: credentials.client_secret.clone(),
                refresh_token: credentials.refresh_token.clone(),
            },
            agent_user_id: seeded.agent_user_id.clone().expect("the demo seed has an agent user"),
            hand_off: settings::HandOffTarget::Queue(
                seeded.handoff_queue_id.clone().expect("the demo seed has a queue"),
            ),
            reply_as: settings::ReplyChannel::CaseComment,
            involved_field: "FinInvolved__c".into(),
            resolution_state_field: "FinResolutionState__c".into(),
            topics: vec!["casebridge".into()],
            daily_api_budget: 10_000,
            poll_overlap_seconds: 5,
            resolution_timeouts: types::Timeouts { soft_resolution_after_ms: 3_600_000, abandoned_after_ms: 3_600_000 },
            mappings: Vec::new(),
            ..OrgSettings::offline("demo")
        };
        TestOrg {
            emulator,
            config,
            runtime: runtime(),
            agent: Arc::new(ScriptedAgent::default()),
            mail: Arc::new(RecordingMail::default()),
            store: Arc::new(Store::in_memory().expect("an in-memory database")),
        }
    }

    /// The same org run by another component (an older contract version).
    pub fn with_runtime(mut self, runtime: &'static Runtime) -> TestOrg {
        self.runtime = runtime;
        self
    }

    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            org: self.config.name.clone(),
            settings: Arc::new(self.config.clone()),
            store: Arc::new(OffTheWorkers(self.store.clone())),
            platform: Arc::new(self.platform()),
            agent: self.agent.clone(),
            mail: self.mail.clone(),
        }
    }

    pub fn allowed_hosts(&self) -> AllowedHosts {
        let mut allowed = AllowedHosts::of([self.config.login_url.as_str(), self.emulator.instance_url()])
            .expect("the emulator URLs are valid");
        if let Some(messenger) = &self.config.messenger {
            allowed.allow(&messenger.url).expect("the messaging URL is valid");
        }
        allowed
    }

    /// The same org with the messenger's deployment: the emulator's
    /// messaging origin and its demo Embedded Service deployment.
    pub fn with_messenger(mut self) -> TestOrg {
        self.config.messenger = Some(settings::MessengerSettings {
            url: self.emulator.scrt_url().to_string(),
            org_id: self.emulator.org_id(),
            deployment: casebridge_emulator::MESSAGING_DEPLOYMENT.into(),
            language: Some("en_US".into()),
        });
        self
    }

    /// `messenger.relay` in a fresh instance.
    pub async fn relay(&self, conversation_id: &str) -> Result<messenger::RelayReport, org::SyncError> {
        self.instance().await.messenger_relay(conversation_id).await.expect("no trap")
    }

    /// A fresh connector instance for this org.
    pub async fn instance(&self) -> GuestInstance {
        self.runtime
            .instantiate(self.capabilities(), self.allowed_hosts(), GuestLimits::default())
            .await
            .expect("instantiates")
    }

    /// One cycle in a fresh instance.
    pub async fn cycle(&self) -> Result<sync::CycleReport, org::SyncError> {
        self.instance().await.run_cycle().await.expect("no trap")
    }

    /// The conversation the connector keeps for a case.
    pub async fn conversation(&self, case_id: &str) -> Option<types::Conversation> {
        self.instance().await.get_conversation(case_id).await.expect("no trap").expect("stored")
    }

    /// The failed writes and agent turns the connector keeps.
    pub async fn errors(&self) -> Vec<sync::RecordError> {
        self.instance().await.list_errors().await.expect("no trap").expect("listed")
    }

    /// One field of one record, as Salesforce has it now.
    pub fn field(&self, object: &str, id: &str, field: &str) -> serde_json::Value {
        self.query(&format!("SELECT {field} FROM {object} WHERE Id = '{id}'"))
            .first()
            .map(|r| r[field].clone())
            .unwrap_or(serde_json::Value::Null)
    }

    /// Run a SOQL query against the emulator as the integration user.
    pub fn query(&self, soql: &str) -> Vec<serde_json::Value> {
        let ctx = casebridge_emulator::db::QueryContext {
            now: self.emulator.now(),
            api_version: "62.0".into(),
            user_id: self.emulator.seeded().integration_user_id.clone(),
        };
        self.emulator.with_database(|db| db.query(soql, false, &ctx)).expect("query runs").records
    }

    /// The platform's records, in the same database as the connector's state.
    pub fn platform(&self) -> casebridge::platform::StorePlatform {
        casebridge::platform::StorePlatform(self.store.clone())
    }

    /// A person in Salesforce changes a record: the hand-off user, as a teammate would.
    pub fn salesforce_user_updates(&self, object: &str, id: &str, fields: serde_json::Value) {
        let user_id = self.emulator.seeded().handoff_user_id.clone().expect("the demo seed has a hand-off user");
        let ctx = casebridge_emulator::db::WriteContext { now: self.emulator.now(), user_id };
        let fields = fields.as_object().cloned().expect("fields are an object");
        self.emulator.with_database(|db| db.update(object, id, &fields, &ctx)).expect("the update is valid");
    }

    /// A person in Salesforce deletes a record.
    pub fn salesforce_user_deletes(&self, object: &str, id: &str) {
        let user_id = self.emulator.seeded().integration_user_id.clone();
        let ctx = casebridge_emulator::db::WriteContext { now: self.emulator.now(), user_id };
        self.emulator.with_database(|db| db.delete(object, id, &ctx)).expect("the record is deleted");
    }

    /// Write a record as `username` (a customer or a teammate).
    pub fn create_as(&self, username: &str, object: &str, fields: serde_json::Value) -> String {
        let user_id = self
            .query(&format!("SELECT Id FROM User WHERE Username = '{username}'"))
            .first()
            .and_then(|u| u["Id"].as_str().map(str::to_string))
            .expect("the user exists");
        let ctx = casebridge_emulator::db::WriteContext { now: self.emulator.now(), user_id };
        let fields = fields.as_object().cloned().expect("fields are an object");
        self.emulator.with_database(|db| db.create(object, &fields, &ctx)).expect("the record is valid")
    }
}

/// A connector component that misbehaves on purpose (`tests/guests/hostile/`,
/// built by `tests/build.rs`): its `sync.run-cycle` spins, eats memory, traps
/// or calls out, chosen by the org's `name`. For the sandbox tests (E3).
pub const HOSTILE_COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hostile.wasm"));

// ---------------------------------------------------------------------------
// Faults and outages (tests/tests/faults.rs, tests/tests/outage.rs): acting
// in the middle of a cycle, and counting what the connector wrote.
// ---------------------------------------------------------------------------

/// The demo org's customer on web cases: the support site's guest user.
pub const CUSTOMER_USERNAME: &str = "support-site.guest@casebridge.example";

/// How long [`TestOrg::cycle_acting_during_call`] holds an API call back:
/// long enough for the test to act, short enough to keep tests quick.
pub const HOLD: std::time::Duration = std::time::Duration::from_millis(400);

impl TestOrg {
    /// Moves the emulated org's clock past the time a write sent now could
    /// still land ([`casebridge_guest::cycle::SETTLE_WINDOW_MS`]), so the
    /// connector looks such writes up.
    pub fn pass_settle_window(&self) {
        let window = u64::try_from(casebridge_guest::cycle::SETTLE_WINDOW_MS).unwrap_or(u64::MAX);
        self.emulator.advance_clock(std::time::Duration::from_millis(window + 1000));
    }

    /// A published CaseComment by the customer; returns its Id.
    pub fn customer_writes(&self, case_id: &str, text: &str) -> String {
        self.create_as(
            CUSTOMER_USERNAME,
            "CaseComment",
            serde_json::json!({"ParentId": case_id, "CommentBody": text, "IsPublished": true}),
        )
    }

    /// The bodies of the replies the connector wrote on a case (case
    /// comments, feed posts and outgoing emails by the integration user), oldest first.
    pub fn replies_on(&self, case_id: &str) -> Vec<String> {
        let by = &self.emulator.seeded().integration_user_id;
        let mut replies: Vec<(String, String)> = Vec::new();
        for (object, body, extra) in [
            ("CaseComment", "CommentBody", ""),
            ("FeedItem", "Body", ""),
            ("EmailMessage", "TextBody", " AND Incoming = false"),
        ] {
            let soql = format!(
                "SELECT {body}, CreatedDate FROM {object} WHERE ParentId = '{case_id}' AND CreatedById = '{by}'{extra}"
            );
            for record in self.query(&soql) {
                let text = |field: &str| record[field].as_str().unwrap_or_default().to_string();
                replies.push((text("CreatedDate"), text(body)));
            }
        }
        replies.sort();
        replies.into_iter().map(|(_, body)| body).collect()
    }

    /// How many times each reply body is on each case, for every case the
    /// agent was given in the seed and `more`: `(case, body) -> count`.
    pub fn reply_counts(&self, more: &[String]) -> std::collections::BTreeMap<(String, String), usize> {
        let mut counts = std::collections::BTreeMap::new();
        for case_id in self.emulator.seeded().agent_case_ids.iter().chain(more) {
            for body in self.replies_on(case_id) {
                *counts.entry((case_id.clone(), body)).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Runs one cycle and, while the cycle's `call`-th API call (1 is the
    /// first; token requests are not API calls) is held back for [`HOLD`]
    /// before the org sees it, runs `act`. Panics if the cycle ends first.
    pub async fn cycle_acting_during_call(
        &self,
        call: u32,
        act: impl FnOnce(&RunningEmulator),
    ) -> Result<sync::CycleReport, org::SyncError> {
        self.acting_during_call(call, act, self.cycle()).await
    }

    /// Runs `work` (anything that calls the org) and, while its `call`-th
    /// API call is held back for [`HOLD`], runs `act`. Panics if `work` ends first.
    pub async fn acting_during_call<T: std::fmt::Debug>(
        &self,
        call: u32,
        act: impl FnOnce(&RunningEmulator),
        work: impl std::future::Future<Output = T>,
    ) -> T {
        assert!(call >= 1, "API calls are counted from 1");
        assert_eq!(self.queued_faults().await, 0, "no other fault may be queued: the hold counts calls");
        self.emulator.inject(casebridge_emulator::Fault::latency(HOLD).times(call));
        tokio::pin!(work);
        let mut act = Some(act);
        loop {
            tokio::select! {
                result = &mut work => {
                    assert!(act.is_none(), "the work made fewer than {call} API calls: {result:?}");
                    return result;
                }
                _ = tokio::time::sleep(std::time::Duration::from_millis(5)), if act.is_some() => {
                    // The held call took the last of the latency when the queue is empty.
                    if self.queued_faults().await == 0
                        && let Some(act) = act.take()
                    {
                        act(&self.emulator);
                    }
                }
            }
        }
    }

    /// Runs one cycle whose `call`-th API call (1 is the first) meets `fault`.
    pub async fn cycle_with_fault_on_call(
        &self,
        call: u32,
        fault: casebridge_emulator::Fault,
    ) -> Result<sync::CycleReport, org::SyncError> {
        if call <= 1 {
            self.emulator.inject(fault);
            return self.cycle().await;
        }
        self.cycle_acting_during_call(call - 1, move |emulator| emulator.inject(fault)).await
    }

    /// How many faults the emulator still has queued (its admin API is the
    /// only place that says).
    pub async fn queued_faults(&self) -> usize {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let address = self.emulator.url().trim_start_matches("http://").to_string();
        let mut stream = tokio::net::TcpStream::connect(&address).await.expect("the emulator accepts connections");
        let request = format!("GET /__emulator/faults HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("the admin request is sent");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("the admin API answers");
        let body = answer.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default();
        let faults: serde_json::Value = serde_json::from_str(body).expect("the admin API answers JSON");
        faults["faults"].as_array().map_or(0, Vec::len)
    }
}
