//! `casebridge demo`: the whole story against a local Salesforce org, with no
//! set-up. It starts the emulator with demo data, connects an org with the
//! built-in agent and the sample help centre, runs cycles, plays the customers
//! (one confirms, one asks for a person, one goes silent, one never answers
//! the agent's question), and prints per case what happened.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use casebridge_emulator::db::{QueryContext, WriteContext};
use casebridge_emulator::{EmulatorOptions, RunningEmulator, Seed};
use serde_json::{Value, json};

use crate::agent::BuiltinAgent;
use crate::config::Config;
use crate::host::Host;
use crate::mail::OutboxMailer;
use crate::runtime::{Agent, Runtime};
use crate::secrets::{EncryptionKey, OrgSecret, Secret, SecretVault};
use crate::storage::Store;

/// Seconds between the demo's cycles.
const DEMO_POLL_SECONDS: u64 = 2;
/// The demo's resolution timeouts: short, so the story ends in seconds.
const DEMO_TIMEOUT_SECONDS: u32 = 6;
/// The most cycles the demo runs before it prints what it has.
const DEMO_MAX_CYCLES: u32 = 12;
const ORG: &str = "demo";
/// The org the workflow part of the demo runs: the same emulated Salesforce
/// org, with the hand-off user as its agent so it works its own cases.
const WORKFLOW_ORG: &str = "demo-workflow";

/// The cases workflow the demo runs (A11): a branch, Set data, attribute
/// detection, Collect data and a hand-off to the queue.
const DEMO_WORKFLOW: &str = r#"
[[step]]
id = "urgency"
branch = [{ goto = "urgent", all = [{ attribute = "Subject", contains = "urgent" }] }]
otherwise = "kind"

[[step]]
id = "urgent"
set = { field = "Priority", value = "High" }

[[step]]
id = "kind"
detect = ["Type"]

[[step]]
id = "order"
collect = { field = "Order_Number__c", question = "What is the order number on your receipt?", tries = 2 }

[[step]]
id = "team"
hand_off = { queue = "QUEUE" }
"#;

/// What the demo did, for tests.
#[derive(Debug, Default)]
pub struct DemoSummary {
    pub cycles: u32,
    pub api_calls: u64,
    /// Per case number: (subject, replies, owner name, resolution state).
    pub cases: BTreeMap<String, DemoCase>,
    pub outbox: PathBuf,
    /// The `.eml` files the outbox mailer wrote.
    pub emails: Vec<PathBuf>,
    /// What the CRM actions saved, as `(object, id)`.
    pub crm_records: Vec<(String, String)>,
    /// The messenger's hand-off.
    pub messenger: DemoMessenger,
    /// Per workflow case, its fields as Salesforce has them after the hand-off.
    pub workflow: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoCase {
    pub subject: String,
    pub origin: String,
    pub replies: usize,
    pub owner: String,
    pub resolution: String,
}

/// Run the demo, printing as it goes, in `dir` (created if needed).
pub async fn run(dir: &Path, out: &mut impl Write) -> anyhow::Result<DemoSummary> {
    run_with(dir, out, None).await
}

/// Run the demo, then, with `serve` (an address like `127.0.0.1:8720`),
/// keep the emulated org and the web messenger up until Ctrl-C, printing
/// the page's URL and the live agent's commands.
pub async fn run_with(
    dir: &Path,
    out: &mut impl Write,
    serve: Option<std::net::SocketAddr>,
) -> anyhow::Result<DemoSummary> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Each demo starts a new emulated org: state from an earlier demo in this folder would not match it.
    for stale in ["casebridge.db", "casebridge.db-wal", "casebridge.db-shm"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    let _ = std::fs::remove_dir_all(dir.join("outbox"));
    let emulator =
        casebridge_emulator::start(EmulatorOptions { seed: Seed::Demo, ..EmulatorOptions::default() }).await?;
    let seeded = emulator.seeded().clone();
    let credentials = emulator.credentials();
    let agent_user = seeded.agent_user_id.clone().context("the demo org has an agent user")?;
    let queue = seeded.handoff_queue_id.clone().context("the demo org has a hand-off queue")?;
    let workflow_agent = seeded.handoff_user_id.clone().context("the demo org has a hand-off user")?;
    let workflow_file = dir.join("workflow-cases.toml");
    std::fs::write(&workflow_file, DEMO_WORKFLOW.replace("QUEUE", &queue))
        .with_context(|| format!("cannot write {}", workflow_file.display()))?;
    let config = Config::parse(&format!(
        r#"
[host]
database = "{db}"
key_file = "{key}"

[mail]
kind = "outbox"
outbox = "{outbox}"
from = "support@acme-cloud.example"

[[org]]
name = "{ORG}"
login_url = "{url}"
instance_url = "{instance_url}"
client_id = "{client_id}"
agent_user = "{agent_user}"
hand_off = {{ queue = "{queue}" }}
topics = ["casebridge"]
poll_interval_seconds = {DEMO_POLL_SECONDS}
poll_overlap_seconds = 5
soft_resolution_after_seconds = {DEMO_TIMEOUT_SECONDS}
abandoned_after_seconds = {DEMO_TIMEOUT_SECONDS}

[org.messenger]
url = "{scrt_url}"
org_id = "{org_id}"
deployment = "{deployment}"
language = "en_US"

[[org]]
name = "{WORKFLOW_ORG}"
login_url = "{url}"
instance_url = "{instance_url}"
client_id = "{client_id}"
agent_user = "{workflow_agent}"
hand_off = {{ queue = "{queue}" }}
poll_overlap_seconds = 5

[org.workflow]
cases = "{workflow_file}"
"#,
        workflow_agent = workflow_agent,
        workflow_file = workflow_file.display(),
        db = dir.join("casebridge.db").display(),
        key = dir.join("casebridge.key").display(),
        outbox = dir.join("outbox").display(),
        url = credentials.url,
        instance_url = credentials.instance_url,
        client_id = credentials.client_id,
        scrt_url = credentials.scrt_url,
        org_id = credentials.org_id,
        deployment = casebridge_emulator::MESSAGING_DEPLOYMENT,
    ))?;
    let store = Arc::new(Store::open(&config.host.database)?);
    // The demo's secrets live only as long as the demo: a key in memory is enough.
    let vault = SecretVault::new(store.clone(), EncryptionKey::generate()?);
    for org in [ORG, WORKFLOW_ORG] {
        vault.put(org, OrgSecret::ClientSecret, &Secret::new(credentials.client_secret.clone()))?;
        vault.put(org, OrgSecret::RefreshToken, &Secret::new(credentials.refresh_token.clone()))?;
    }
    let agent: Arc<dyn Agent> = Arc::new(BuiltinAgent::sample());
    let outbox = dir.join("outbox");
    let mail = Arc::new(OutboxMailer::new(&outbox, "support@acme-cloud.example")?);
    let host = Arc::new(Host::new(
        config,
        Runtime::new_cached(crate::GUEST_COMPONENT, dir)?,
        store,
        vault,
        BTreeMap::from([(ORG.into(), agent.clone()), (WORKFLOW_ORG.into(), agent)]),
        mail,
    ));

    writeln!(
        out,
        "casebridge demo: a local Salesforce org (login {}, instance {}), the built-in agent answering from the sample help centre",
        emulator.url(),
        emulator.instance_url()
    )?;
    writeln!(out, "state in {}\n", dir.display())?;

    let customers = Customers { emulator: &emulator, username: seeded.customer_username.clone().unwrap_or_default() };
    let mut summary = DemoSummary { outbox, ..DemoSummary::default() };
    let mut scripted = false;
    for cycle in 1..=DEMO_MAX_CYCLES {
        let report = host.cycle(ORG).await?;
        summary.cycles = cycle;
        writeln!(
            out,
            "cycle {cycle:>2}: {} case(s) read, {} new conversation(s), {} repl(y/ies), {} email(s), {} hand-off(s), {} state change(s), {} API call(s)",
            report.cases_seen,
            report.conversations_created,
            report.replies_posted,
            report.emails_sent,
            report.hand_offs,
            report.state_changes,
            report.api_calls
        )?;
        if !scripted {
            scripted = true;
            customers.act(&agent_user, out)?;
        }
        let cases = case_table(&emulator, &agent_user, &queue)?;
        let settled = cycle > 2 && cases.values().all(|c| !c.resolution.is_empty() || c.replies == 0);
        summary.cases = cases;
        if settled {
            break;
        }
        tokio::time::sleep(Duration::from_secs(DEMO_POLL_SECONDS)).await;
    }
    summary.api_calls = emulator.counters().total;

    writeln!(
        out,
        "\n{:<9} {:<46} {:<6} {:>7}  {:<16} resolution state",
        "case", "subject", "origin", "replies", "owner now"
    )?;
    for (number, case) in &summary.cases {
        let subject: String = case.subject.chars().take(45).collect();
        let resolution = if case.resolution.is_empty() { "(in progress)" } else { &case.resolution };
        writeln!(
            out,
            "{number:<9} {subject:<46} {:<6} {:>7}  {:<16} {resolution}",
            case.origin, case.replies, case.owner
        )?;
    }
    summary.emails = emails_in(&summary.outbox);
    writeln!(
        out,
        "\n{} API calls over {} cycles (an idle cycle costs 1); {} email repl(y/ies) written to {}",
        summary.api_calls,
        summary.cycles,
        summary.emails.len(),
        summary.outbox.display(),
    )?;
    summary.crm_records = crm_actions(&host, &emulator, out).await?;
    summary.messenger = messenger_hand_off(&host, &emulator, out).await?;
    summary.workflow = workflow(&host, &emulator, &workflow_file, &workflow_agent, out).await?;
    if let Some(address) = serve {
        serve_messenger(&host, &emulator, address, out).await?;
    }
    Ok(summary)
}

/// The workflow (A11) on two new cases: descriptions for `Case.Type`, the
/// check against the catalog, a question and its answer, and the values
/// written with the hand-off, as Salesforce has them.
async fn workflow(
    host: &Host,
    emulator: &RunningEmulator,
    file: &Path,
    agent_user: &str,
    out: &mut impl Write,
) -> anyhow::Result<Vec<Value>> {
    use casebridge_emulator::schema::{FieldDef, FieldType};
    writeln!(out, "\nthe cases workflow ({}): branch, Set data, detection, Collect data, hand-off", file.display())?;
    emulator
        .add_custom_field("Case", FieldDef::new("Order_Number__c", "Order Number", FieldType::Double).precision(10, 0))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let now = chrono::Utc::now().timestamp_millis();
    for (value, description) in [
        ("Electrical", "power, battery, charger, cable or a display that won't turn on"),
        ("Mechanical", "grinding noise, jammed gears, a hinge or a lever that broke"),
    ] {
        let described = crate::runtime::bindings::settings::ValueDescription {
            object: "Case".into(),
            field: "Type".into(),
            value: value.into(),
            description: description.into(),
        };
        host.store().put_value_description(WORKFLOW_ORG, &described, now)?;
        writeln!(out, "          described Case.Type = {value}: \"{description}\"")?;
    }
    let problems = host.check_workflows(WORKFLOW_ORG).await?;
    anyhow::ensure!(problems.is_empty(), "the demo workflow has problems: {problems:?}");
    writeln!(out, "          `casebridge workflow check`: every step can work against the org's fields")?;

    let customers = Customers { emulator, username: emulator.seeded().customer_username.clone().unwrap_or_default() };
    let cases = [
        ("URGENT: my charger won't turn on", "The charger stays dark, no power at all."),
        ("Strange noise", "There is a grinding noise and the hinge broke."),
    ];
    let mut ids = Vec::new();
    for (subject, description) in cases {
        let id = customers.write(
            "Case",
            json!({"Subject": subject, "Description": description, "Origin": "Web", "Status": "New", "OwnerId": agent_user}),
        )?;
        writeln!(out, "          a new case: \"{subject}\"")?;
        ids.push(id);
    }
    host.cycle(WORKFLOW_ORG).await?;
    for id in &ids {
        let asked = query(emulator, &format!("SELECT CommentBody FROM CaseComment WHERE ParentId = '{id}'"))?;
        if let Some(question) = asked.last() {
            writeln!(out, "          the workflow asks: \"{}\"", text(question, "CommentBody"))?;
        }
    }
    // The customers answer a few minutes later (past the connector's settle
    // window for its own writes), one of them in a sentence.
    emulator.advance_clock(Duration::from_secs(12 * 60));
    for (id, answer) in ids.iter().zip(["It's 4711.", "10023"]) {
        customers.write("CaseComment", json!({"ParentId": id, "CommentBody": answer, "IsPublished": true}))?;
        writeln!(out, "          customer answers: \"{answer}\"")?;
    }
    host.cycle(WORKFLOW_ORG).await?;

    writeln!(
        out,
        "\n{:<9} {:<34} {:<9} {:<11} {:<13} owner now",
        "case", "subject", "Priority", "Type", "Order_Number"
    )?;
    let mut written = Vec::new();
    for id in &ids {
        let case = query(
            emulator,
            &format!(
                "SELECT CaseNumber, Subject, Priority, Type, Order_Number__c, Owner.Name FROM Case WHERE Id = '{id}'"
            ),
        )?
        .into_iter()
        .next()
        .context("the case exists")?;
        writeln!(
            out,
            "{:<9} {:<34} {:<9} {:<11} {:<13} {}",
            text(&case, "CaseNumber"),
            text(&case, "Subject").chars().take(33).collect::<String>(),
            text(&case, "Priority"),
            text(&case, "Type"),
            case["Order_Number__c"].to_string(),
            case["Owner"]["Name"].as_str().unwrap_or_default()
        )?;
        written.push(case);
    }
    writeln!(
        out,
        "(the first took the branch to Set data; Type was detected from the descriptions; the order number was collected; all went in the hand-off's own write)"
    )?;
    Ok(written)
}

/// The web messenger on `address` for a person to try, until Ctrl-C.
async fn serve_messenger(
    host: &Arc<Host>,
    emulator: &RunningEmulator,
    address: std::net::SocketAddr,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use crate::messenger::{ConnectorRelay, web};
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}; choose another with --serve <address>"))?;
    let state = web::MessengerState {
        platform: host.platform().clone(),
        orgs: Arc::new(BTreeMap::from([(ORG.to_string(), None)])),
        relay: Arc::new(ConnectorRelay::new(host.clone())),
    };
    let admin = format!("{}/__emulator/messaging", emulator.instance_url());
    let url = format!("http://{}/messenger/{ORG}", listener.local_addr()?);
    writeln!(out, "\ntry the messenger: open {url} and ask for a person; then, as the Salesforce agent:")?;
    writeln!(out, "  curl -s '{admin}/sessions?status=Waiting'   # the routed sessions, with their session_id")?;
    writeln!(out, "  curl -s -X POST {admin}/sessions/<session_id>/accept")?;
    writeln!(
        out,
        "  curl -s -X POST {admin}/sessions/<session_id>/messages -d '{{\"text\":\"Hi, how can I help?\"}}'"
    )?;
    writeln!(out, "  curl -s -X POST {admin}/sessions/<session_id>/end")?;
    let password = crate::platform::api::new_token();
    crate::console::set_password(host, crate::console::DEFAULT_ADMIN, &password)?;
    writeln!(
        out,
        "\nthe admin console: open http://{}/console and log in as `{}` with the password {password}",
        listener.local_addr()?,
        crate::console::DEFAULT_ADMIN
    )?;
    writeln!(out, "Ctrl-C stops the demo.")?;
    out.flush()?;
    let routes = web::router(state).merge(crate::console::router(crate::console::ConsoleState::new(host.clone())));
    axum::serve(listener, routes)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// What the messenger's hand-off showed, for tests.
#[derive(Debug, Default)]
pub struct DemoMessenger {
    /// The AI agent's answer, as the customer saw it.
    pub ai_answer: String,
    /// The routing attributes the emulated Salesforce received.
    pub routing_attributes: BTreeMap<String, String>,
    /// The MessagingSession's fields the deployment's Flow filled from them.
    pub session_fields: BTreeMap<String, String>,
    /// The live agent's reply, as the customer saw it.
    pub agent_reply: String,
}

/// One customer in the messenger: the AI agent answers, the customer asks
/// for a person, the conversation goes to a live Salesforce agent through
/// Messaging for In-App and Web, and the agent's reply comes back.
async fn messenger_hand_off(
    host: &Host,
    emulator: &RunningEmulator,
    out: &mut impl Write,
) -> anyhow::Result<DemoMessenger> {
    use crate::platform::{ConversationPatch, PersonPatch};
    use crate::runtime::bindings::types::{AuthorRole, Channel, ConversationPart, PartSource};
    const CHAT: &str = "web-chat-sam";
    let platform = host.platform();
    let customer_says = |id: &str, text: &str| -> anyhow::Result<()> {
        let part = ConversationPart {
            id: id.into(),
            source: PartSource::FeedItem,
            author: AuthorRole::Customer,
            author_name: Some("Sam".into()),
            text: text.into(),
            created_at: chrono::Utc::now().timestamp_millis(),
            attachments: vec![],
        };
        let patch = ConversationPatch { parts: vec![part], ..ConversationPatch::default() };
        platform.put_conversation(ORG, CHAT, patch, false, chrono::Utc::now().timestamp_millis())?;
        Ok(())
    };
    let newest = |author: AuthorRole| -> anyhow::Result<String> {
        let chat = platform.conversation(ORG, CHAT)?.context("the demo chat exists")?;
        Ok(chat.parts.iter().rev().find(|p| p.author == author).map(|p| p.text.clone()).unwrap_or_default())
    };
    let now = chrono::Utc::now().timestamp_millis();
    let sam = PersonPatch {
        name: Some(Some("Sam Okafor".into())),
        email: Some(Some("sam.okafor@example.com".into())),
        ..PersonPatch::default()
    };
    platform.put_person(ORG, "visitor-sam", sam, false, now)?;
    let chat = ConversationPatch {
        channel: Some(Channel::Messenger),
        person_id: Some(Some("visitor-sam".into())),
        subject: Some(Some("Password reset".into())),
        ..ConversationPatch::default()
    };
    platform.put_conversation(ORG, CHAT, chat, false, now)?;

    writeln!(
        out,
        "
the web messenger, and a hand-off to a live Salesforce agent (Messaging for In-App and Web at {}):",
        emulator.scrt_url()
    )?;
    let question = "How do I reset my password?";
    customer_says("sam-1", question)?;
    host.messenger_relay(ORG, CHAT).await?;
    let mut shown = DemoMessenger { ai_answer: newest(AuthorRole::Agent)?, ..DemoMessenger::default() };
    writeln!(out, "  Sam: \"{question}\"\n  AI agent: \"{}\"", first_line(&shown.ai_answer))?;
    let ask = "Thanks, but can I talk to a person?";
    customer_says("sam-2", ask)?;
    host.messenger_relay(ORG, CHAT).await?;
    writeln!(out, "  Sam: \"{ask}\"\n  (to Sam) {}", newest(AuthorRole::System)?)?;
    let session = emulator.messaging_sessions().get(0).cloned().context("Salesforce received the hand-off")?;
    let session_id = session["session_id"].as_str().unwrap_or_default().to_string();
    if let Some(routing) = session["routing_attributes"].as_object() {
        shown.routing_attributes =
            routing.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect();
    }
    writeln!(
        out,
        "  Salesforce received the routingAttributes {}",
        serde_json::to_string(&session["routing_attributes"])?
    )?;
    let fields = query(
        emulator,
        &format!(
            "SELECT Name, Status, FirstName__c, LastName__c, Email__c, Subject__c FROM MessagingSession WHERE Id = '{session_id}'"
        ),
    )?;
    let record = fields.first().context("the MessagingSession exists")?;
    for field in ["FirstName__c", "LastName__c", "Email__c", "Subject__c"] {
        shown.session_fields.insert(field.into(), text(record, field));
    }
    writeln!(
        out,
        "  and its Flow filled the MessagingSession {} ({}): {}",
        text(record, "Name"),
        text(record, "Status"),
        shown.session_fields.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
    )?;
    emulator.accept_messaging_session(&session_id).map_err(|e| anyhow::anyhow!("accept: {e}"))?;
    let reply = "Hi Sam, I'm from the support team. I've sent you a reset link.";
    emulator.agent_writes(&session_id, reply).map_err(|e| anyhow::anyhow!("agent: {e}"))?;
    host.messenger_relay(ORG, CHAT).await?;
    shown.agent_reply = newest(AuthorRole::Teammate)?;
    writeln!(out, "  a Salesforce agent accepts the session and writes; Sam sees: \"{}\"", shown.agent_reply)?;
    Ok(shown)
}

/// The start of a message on one line.
fn first_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 140 { flat } else { flat.chars().take(140).collect::<String>() + "…" }
}

/// The CRM actions beside two messenger chats: a new visitor becomes a
/// Lead; a known customer is linked to their Contact, gets a case with a
/// field and a Task, and their profile view is read.
async fn crm_actions(
    host: &Host,
    emulator: &RunningEmulator,
    out: &mut impl Write,
) -> anyhow::Result<Vec<(String, String)>> {
    use crate::platform::{ConversationPatch, PersonPatch};
    use crate::runtime::bindings::contacts::Outcome;
    use crate::runtime::bindings::platform::ConversationState;
    use crate::runtime::bindings::types::{
        Attribute, AttributeValue, AuthorRole, Channel, ConversationPart, PartSource,
    };
    let now = chrono::Utc::now().timestamp_millis();
    let platform = host.platform();
    let refused = |what: &str, error: crate::runtime::bindings::crm::CrmError| {
        anyhow::anyhow!("{what}: {}", super::platform::crm::crm_error(&error).1)
    };
    writeln!(out, "\nthe support platform's messenger, and the CRM actions beside it:")?;
    let person = |name: &str, email: &str| PersonPatch {
        name: Some(Some(name.into())),
        email: Some(Some(email.into())),
        ..PersonPatch::default()
    };
    platform.put_person(ORG, "visitor-1", person("Rosa Diaz", "rosa.diaz@brightpath.example"), false, now)?;
    let lead = host.crm_create_lead(ORG, "demo-lead-1", "visitor-1").await?.map_err(|e| refused("create lead", e))?;
    writeln!(out, "  a new visitor, Rosa Diaz, becomes the Lead {}{}", lead.id, notes(&lead.notes))?;

    let contact = query(emulator, "SELECT Id, Name, Email FROM Contact ORDER BY CreatedDate LIMIT 1")?;
    let (name, email) = (text(&contact[0], "Name"), text(&contact[0], "Email"));
    platform.put_person(ORG, "customer-1", person(&name, &email), false, now)?;
    let found = host.crm_find_contact(ORG, "customer-1", None).await?.map_err(|e| refused("find contact", e))?;
    let Outcome::Link(best) = found else { anyhow::bail!("{name} should match one Contact: {found:?}") };
    let linked = host
        .crm_link_contact(ORG, "demo-link-1", "customer-1", Some(&best.candidate.id))
        .await?
        .map_err(|e| refused("link contact", e))?;
    writeln!(out, "  {name} chats in; found and linked to the Contact {}", linked.id)?;
    let message = ConversationPart {
        id: "chat-1-m1".into(),
        source: PartSource::CaseComment,
        author: AuthorRole::Customer,
        author_name: Some(name.clone()),
        text: "Our nightly export has failed three times this week.".into(),
        created_at: now,
        attachments: vec![],
    };
    let chat = ConversationPatch {
        channel: Some(Channel::Messenger),
        state: Some(ConversationState::Open),
        person_id: Some(Some("customer-1".into())),
        subject: Some(Some("Nightly export failing".into())),
        parts: vec![message],
        ..ConversationPatch::default()
    };
    platform.put_conversation(ORG, "chat-1", chat, false, now)?;
    let priority = [Attribute { name: "Priority".into(), value: AttributeValue::Text("High".into()) }];
    let case = host
        .crm_create_case(ORG, "demo-case-1", "chat-1", priority.to_vec())
        .await?
        .map_err(|e| refused("create case", e))?;
    let number = query(emulator, &format!("SELECT CaseNumber FROM Case WHERE Id = '{}'", case.id))?;
    writeln!(
        out,
        "  escalated as case {} (Priority High), a note with its link on the chat",
        text(&number[0], "CaseNumber")
    )?;
    let tasks = host.crm_log_task(ORG, "demo-task-1", "chat-1", None).await?.map_err(|e| refused("log task", e))?;
    writeln!(
        out,
        "  logged as {} Task(s) on the Contact{}",
        tasks.len(),
        tasks.first().map_or(String::new(), |t| notes(&t.notes))
    )?;
    let again = host
        .crm_create_case(ORG, "demo-case-1", "chat-1", priority.to_vec())
        .await?
        .map_err(|e| refused("create case", e))?;
    writeln!(
        out,
        "  the same escalation sent again: {} (nothing created twice)",
        if again.existed { "the same case" } else { "a new case!" }
    )?;
    if let Some(profile) = host.crm_profile(ORG, "customer-1").await?.map_err(|e| refused("profile", e))? {
        let account = profile.account.as_ref().and_then(|a| a.name.clone()).unwrap_or_default();
        writeln!(
            out,
            "  profile view: {account}, {} opportunit(y/ies), {} open case(s)",
            profile.opportunities.len(),
            profile.open_case_count
        )?;
    }
    let mut saved = vec![(lead.object, lead.id), (case.object, case.id)];
    saved.extend(tasks.into_iter().map(|t| (t.object, t.id)));
    Ok(saved)
}

fn notes(notes: &[String]) -> String {
    if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) }
}

/// The demo's customers, writing on their cases in the emulated org.
struct Customers<'a> {
    emulator: &'a RunningEmulator,
    username: String,
}

impl Customers<'_> {
    fn user_id(&self, username: &str) -> anyhow::Result<String> {
        let users = query(self.emulator, &format!("SELECT Id FROM User WHERE Username = '{username}'"))?;
        users.first().and_then(|u| u["Id"].as_str()).map(str::to_string).context("the demo customer user exists")
    }

    fn write(&self, object: &str, fields: Value) -> anyhow::Result<String> {
        let ctx = WriteContext { now: self.emulator.now(), user_id: self.user_id(&self.username)? };
        let fields = fields.as_object().cloned().unwrap_or_default();
        self.emulator.with_database(|db| db.create(object, &fields, &ctx)).map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    /// One customer confirms, one asks for a person, one opens a vague case; the rest go quiet.
    fn act(&self, agent_user: &str, out: &mut impl Write) -> anyhow::Result<()> {
        let cases = query(
            self.emulator,
            &format!("SELECT Id, CaseNumber, Subject, Origin, SuppliedEmail FROM Case WHERE OwnerId = '{agent_user}'"),
        )?;
        for case in &cases {
            let (id, number, subject) = (text(case, "Id"), text(case, "CaseNumber"), text(case, "Subject"));
            let lower = subject.to_lowercase();
            let said = if lower.contains("password") {
                "That fixed it, thanks! The reset email arrived and I'm back in."
            } else if lower.contains("invoice") {
                "I'd rather talk to a person about this, please."
            } else {
                continue;
            };
            if text(case, "Origin") == "Email" {
                self.write("EmailMessage", json!({
                    "ParentId": id, "Incoming": true, "Status": "0", "FromAddress": text(case, "SuppliedEmail"),
                    "ToAddress": "support@acme-cloud.example", "Subject": format!("Re: {subject}"), "TextBody": said,
                    "MessageDate": casebridge_emulator::db::format_datetime(self.emulator.now()),
                }))?;
            } else {
                self.write("CaseComment", json!({"ParentId": id, "CommentBody": said, "IsPublished": true}))?;
            }
            writeln!(out, "          customer on {number} ({subject}): \"{said}\"")?;
        }
        let vague = "It doesn't work.";
        self.write(
            "Case",
            json!({
                "Subject": "Help", "Description": vague, "Origin": "Web", "Status": "New", "OwnerId": agent_user,
            }),
        )?;
        writeln!(out, "          a new case arrives: \"{vague}\"; the others stay quiet")?;
        Ok(())
    }
}

/// The `.eml` files under the outbox (one folder per org).
fn emails_in(outbox: &Path) -> Vec<PathBuf> {
    let Ok(orgs) = std::fs::read_dir(outbox) else { return Vec::new() };
    orgs.flatten()
        .filter_map(|org| std::fs::read_dir(org.path()).ok())
        .flat_map(|files| files.flatten().map(|f| f.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "eml"))
        .collect()
}

fn query(emulator: &RunningEmulator, soql: &str) -> anyhow::Result<Vec<Value>> {
    let ctx = QueryContext {
        now: emulator.now(),
        api_version: "62.0".into(),
        user_id: emulator.seeded().integration_user_id.clone(),
    };
    emulator.with_database(|db| db.query(soql, false, &ctx)).map(|r| r.records).map_err(|e| anyhow::anyhow!("{e:?}"))
}

fn text(record: &Value, field: &str) -> String {
    record.get(field).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Every case the agent worked, as Salesforce has it now.
fn case_table(emulator: &RunningEmulator, agent_user: &str, queue: &str) -> anyhow::Result<BTreeMap<String, DemoCase>> {
    let rows = query(
        emulator,
        &format!(
            "SELECT Id, CaseNumber, Subject, Origin, Owner.Name, FinResolutionState__c, \
             (SELECT Id FROM CaseComments WHERE CreatedById = '{integration}'), \
             (SELECT Id FROM EmailMessages WHERE Incoming = false) \
             FROM Case WHERE (OwnerId = '{agent_user}' OR OwnerId = '{queue}') AND FinInvolved__c = true",
            integration = emulator.seeded().integration_user_id
        ),
    )?;
    Ok(rows
        .iter()
        .filter(|row| row.get("FinResolutionState__c").is_some())
        .map(|row| {
            let count = |rel: &str| row.get(rel).and_then(|r| r["records"].as_array()).map_or(0, Vec::len);
            let case = DemoCase {
                subject: text(row, "Subject"),
                origin: text(row, "Origin"),
                replies: count("CaseComments") + count("EmailMessages"),
                owner: row.get("Owner").map(|o| text(o, "Name")).unwrap_or_default(),
                resolution: text(row, "FinResolutionState__c"),
            };
            (text(row, "CaseNumber"), case)
        })
        .filter(|(_, case)| case.replies > 0)
        .collect())
}
