//! Figure 3b: a whole sync cycle run in the component against the same
//! cycle compiled natively (the `casebridge_guest` crate), each on its own
//! fresh demo org in the emulator process, with the same workload: every
//! round the customer writes on the open web cases, a busy cycle answers
//! them, and an idle cycle follows. Both sides keep their state in an
//! in-memory SQLite store and have the same scripted agent and mail; the
//! cycles alternate which side goes first. Only the cycle calls are timed
//! (wall time: the emulator's answers are in both).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use casebridge::runtime::bindings::store;
use casebridge::runtime::{
    AllowedHosts, BlockingKeyValueStore, Capabilities, GuestLimits, NoPlatform, OffTheWorkers, OrgSettings,
};
use casebridge::storage::Store;
use casebridge_guest::capabilities::{
    AgentAction, AgentTurn, Capabilities as GuestCapabilities, HostFailure, LogLevel, OutgoingEmail, SentEmail,
    StoreFailure, StoreWrite,
};
use casebridge_guest::model as m;
use casebridge_guest::salesforce::transport::{HttpRequest, HttpResponse, Method, Transport, TransportError};
use casebridge_tests::{RecordingMail, ScriptedAgent};
use serde_json::{Value, json};

use crate::measure::{median, ms};
use crate::remote::RemoteOrg;

/// One side's org, store and timings.
struct Side {
    remote: RemoteOrg,
    customer: String,
    open: Vec<String>,
    busy: Vec<Duration>,
    idle: Vec<Duration>,
}

impl Side {
    fn new() -> anyhow::Result<Side> {
        let remote = RemoteOrg::spawn()?;
        let customer_username = remote.seeded["customer_username"].as_str().context("no community customer")?;
        let customer = remote.user_id(customer_username)?;
        let email_case = remote.seeded_id("email_case_id");
        let open = remote.seeded_ids("agent_case_ids").into_iter().filter(|id| *id != email_case).collect();
        Ok(Side { remote, customer, open, busy: Vec::new(), idle: Vec::new() })
    }

    fn customer_writes(&self, round: usize) -> anyhow::Result<()> {
        for case_id in &self.open {
            let fields = json!({"ParentId": case_id, "CommentBody": format!("Question {round}: how do I export data?"), "IsPublished": true});
            self.remote.create_as(&self.customer, "CaseComment", fields)?;
        }
        Ok(())
    }

    fn settings(&self) -> OrgSettings {
        use casebridge::runtime::bindings::{settings, types};
        let credentials = &self.remote.credentials;
        OrgSettings {
            login_url: credentials.url.clone(),
            credentials: settings::AppCredentials {
                client_id: credentials.client_id.clone(),
                client_secret: credentials.client_secret.clone(),
                refresh_token: credentials.refresh_token.clone(),
            },
            agent_user_id: self.remote.seeded_id("agent_user_id"),
            hand_off: settings::HandOffTarget::Queue(self.remote.seeded_id("handoff_queue_id")),
            daily_api_budget: 1_000_000,
            poll_overlap_seconds: 5,
            resolution_timeouts: types::Timeouts { soft_resolution_after_ms: 3_600_000, abandoned_after_ms: 3_600_000 },
            ..OrgSettings::offline("cycle")
        }
    }
}

pub async fn run(rounds: usize) -> anyhow::Result<Value> {
    let mut component = Side::new()?;
    let mut native = Side::new()?;
    let component_store = Arc::new(Store::in_memory()?);
    let native_store = Arc::new(Store::in_memory()?);
    let settings = component.settings();
    let allowed =
        AllowedHosts::of([component.remote.credentials.url.as_str(), &component.remote.credentials.instance_url])?;
    let capabilities = Capabilities {
        org: settings.name.clone(),
        settings: Arc::new(settings),
        store: Arc::new(OffTheWorkers(component_store.clone())),
        platform: Arc::new(NoPlatform),
        agent: Arc::new(ScriptedAgent::default()),
        mail: Arc::new(RecordingMail::default()),
    };
    let native_org = native_config(&native.settings());
    let runtime = casebridge_tests::runtime();

    let component_cycle = |capabilities: Capabilities, allowed: AllowedHosts| async move {
        let started = Instant::now();
        let mut guest = runtime.instantiate(capabilities, allowed, GuestLimits::default()).await?;
        let report = guest.run_cycle().await?.map_err(|e| anyhow::anyhow!("component cycle: {e:?}"))?;
        anyhow::Ok((started.elapsed(), report.replies_posted))
    };
    let native_cycle = |org: m::OrgConfig, store: Arc<Store>| async move {
        tokio::task::spawn_blocking(move || {
            let mut host = NativeHost { store, org: org.name.clone() };
            let started = Instant::now();
            let report = casebridge_guest::cycle::run_cycle(&org, BlockingHttp::default(), &mut host)
                .map_err(|e| anyhow::anyhow!("native cycle: {e}"))?;
            anyhow::Ok((started.elapsed(), report.replies_posted))
        })
        .await?
    };

    // The first cycles (describe, first poll) are warm-up for both.
    component_cycle(capabilities.clone(), allowed.clone()).await?;
    native_cycle(native_org.clone(), native_store.clone()).await?;
    let (mut replies_component, mut replies_native) = (0, 0);
    for round in 0..rounds {
        component.customer_writes(round)?;
        native.customer_writes(round)?;
        for busy in [true, false] {
            let pair = if round % 2 == 0 { [true, false] } else { [false, true] };
            for component_side in pair {
                if component_side {
                    let (time, replies) = component_cycle(capabilities.clone(), allowed.clone()).await?;
                    replies_component += replies;
                    if busy { component.busy.push(time) } else { component.idle.push(time) }
                } else {
                    let (time, replies) = native_cycle(native_org.clone(), native_store.clone()).await?;
                    replies_native += replies;
                    if busy { native.busy.push(time) } else { native.idle.push(time) }
                }
            }
        }
    }
    anyhow::ensure!(
        replies_component == replies_native,
        "both sides answer alike: {replies_component} vs {replies_native}"
    );
    let figure = |component: &[Duration], native: &[Duration]| {
        let c = median(&component.iter().map(|d| ms(*d)).collect::<Vec<_>>());
        let n = median(&native.iter().map(|d| ms(*d)).collect::<Vec<_>>());
        json!({"component_ms": c, "native_ms": n, "ratio": c / n})
    };
    Ok(json!({
        "rounds": rounds,
        "open_cases": component.open.len(),
        "replies": replies_component,
        "busy_cycle": figure(&component.busy, &native.busy),
        "idle_cycle": figure(&component.idle, &native.idle),
    }))
}

/// The component's settings as the guest crate's own type.
fn native_config(settings: &OrgSettings) -> m::OrgConfig {
    use casebridge::runtime::bindings::settings::HandOffTarget;
    m::OrgConfig {
        name: settings.name.clone(),
        login_url: settings.login_url.clone(),
        api_version: settings.api_version.clone(),
        credentials: m::Credentials {
            client_id: settings.credentials.client_id.clone(),
            client_secret: settings.credentials.client_secret.clone(),
            refresh_token: settings.credentials.refresh_token.clone(),
        },
        agent_user_id: settings.agent_user_id.clone(),
        hand_off: match &settings.hand_off {
            HandOffTarget::Queue(id) => m::HandOffTarget::Queue(id.clone()),
            HandOffTarget::User(id) => m::HandOffTarget::User(id.clone()),
        },
        reply_as: m::ReplyChannel::CaseComment,
        involved_field: settings.involved_field.clone(),
        resolution_state_field: settings.resolution_state_field.clone(),
        topics: settings.topics.clone(),
        daily_api_budget: settings.daily_api_budget,
        poll_overlap_seconds: settings.poll_overlap_seconds,
        resolution_timeouts: m::Timeouts {
            soft_resolution_after_ms: settings.resolution_timeouts.soft_resolution_after_ms,
            abandoned_after_ms: settings.resolution_timeouts.abandoned_after_ms,
        },
        mappings: Vec::new(),
        person_match_key: m::MatchKey::by_email(),
        company_match_key: m::MatchKey::by_name(),
        crm: casebridge_guest::crm::CrmOptions::default(),
        messenger: None,
        workflows: Vec::new(),
        value_descriptions: Vec::new(),
    }
}

/// HTTP for the native cycle: blocking, plain (the emulator is local).
#[derive(Default)]
struct BlockingHttp {
    client: reqwest::blocking::Client,
}

impl Transport for BlockingHttp {
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = builder.send().map_err(|e| TransportError::Other(e.to_string()))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = response.bytes().map_err(|e| TransportError::Other(e.to_string()))?.to_vec();
        Ok(HttpResponse { status, headers, body })
    }
}

/// The native cycle's host: the same SQLite store, a scripted agent that
/// decides like the component side's, mail that is accepted.
struct NativeHost {
    store: Arc<Store>,
    org: String,
}

fn failure(error: store::StoreError) -> StoreFailure {
    match error {
        store::StoreError::Conflict(key) => StoreFailure::Conflict(key),
        store::StoreError::TooLarge(what) => StoreFailure::TooLarge(what),
        store::StoreError::Unavailable(why) => StoreFailure::Unavailable(why),
    }
}

impl GuestCapabilities for NativeHost {
    fn now(&self) -> m::Timestamp {
        chrono::Utc::now().timestamp_millis()
    }

    fn get(&mut self, key: &str) -> Result<Option<String>, StoreFailure> {
        BlockingKeyValueStore::get(self.store.as_ref(), &self.org, key).map_err(failure)
    }

    fn scan(&mut self, prefix: &str) -> Result<Vec<(String, String)>, StoreFailure> {
        let entries = BlockingKeyValueStore::scan(self.store.as_ref(), &self.org, prefix).map_err(failure)?;
        Ok(entries.into_iter().map(|e| (e.key, e.value)).collect())
    }

    fn commit(&mut self, expect: &[(String, Option<String>)], writes: &[StoreWrite]) -> Result<(), StoreFailure> {
        let expect: Vec<store::Expectation> =
            expect.iter().map(|(key, value)| store::Expectation { key: key.clone(), value: value.clone() }).collect();
        let writes: Vec<store::Write> = writes
            .iter()
            .map(|write| match write {
                StoreWrite::Put(key, value) => {
                    store::Write::Put(store::Entry { key: key.clone(), value: value.clone() })
                }
                StoreWrite::Delete(key) => store::Write::Delete(key.clone()),
            })
            .collect();
        BlockingKeyValueStore::commit(self.store.as_ref(), &self.org, None, &expect, &writes).map_err(failure)
    }

    /// What `ScriptedAgent` answers to a plain question.
    fn respond(&mut self, conversation: &m::Conversation) -> Result<AgentTurn, HostFailure> {
        let subject = conversation.subject.clone().unwrap_or_default();
        let text = format!("Here is how to solve \"{subject}\": follow the steps in our help centre.");
        Ok(AgentTurn { action: AgentAction::Answer(text), detected: Vec::new() })
    }

    fn send_mail(&mut self, key: &str, _email: &OutgoingEmail) -> Result<SentEmail, HostFailure> {
        Ok(SentEmail { from_address: "support@example.com".into(), message_id: format!("<{key}@example.com>") })
    }

    fn log(&mut self, _level: LogLevel, _message: &str, _fields: &[(&str, &str)]) {}
}
