//! The CRM actions from the platform API (real HTTP, a bearer token, the
//! host's connector against the emulator) and from `casebridge crm`: each
//! action's answer, its idempotency key, its refusals with the details a
//! caller acts on, and nothing readable without the token.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use casebridge::config::Config;
use casebridge::host::Host;
use casebridge::platform::api::{ApiState, new_token, serve, token_hash};
use casebridge::platform::{ConversationPatch, PersonPatch};
use casebridge::runtime::bindings::platform::ConversationState;
use casebridge::runtime::bindings::types::{AuthorRole, Channel, ConversationPart, PartSource};
use casebridge::secrets::{OrgSecret, Secret};
use casebridge_emulator::{EmulatorOptions, RunningEmulator, Seed};
use serde_json::{Value, json};

mod support;
use support::{casebridge, write_config};

const ORG: &str = "acme";

fn open_host(dir: &Path, emulator: &RunningEmulator) -> Arc<Host> {
    let path = write_config(dir, emulator, ORG, 60);
    let host = Host::open(Config::load(&path).expect("the configuration loads")).expect("the host opens");
    let credentials = emulator.credentials();
    host.vault().put(ORG, OrgSecret::ClientSecret, &Secret::new(credentials.client_secret.clone())).unwrap();
    host.vault().put(ORG, OrgSecret::RefreshToken, &Secret::new(credentials.refresh_token.clone())).unwrap();
    Arc::new(host)
}

struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Api {
    async fn start(host: &Arc<Host>) -> Api {
        let token = new_token();
        assert!(host.store().create_api_token("test", &token_hash(&token), 0).unwrap());
        let state = ApiState {
            platform: host.platform().clone(),
            orgs: Arc::new(BTreeSet::from([ORG.to_string()])),
            host: Some(host.clone()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api/v1/orgs/{ORG}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, state, async {
            let _ = stopped.await;
        }));
        Api { base, token, client: reqwest::Client::new(), _stop: stop }
    }

    async fn send(&self, method: reqwest::Method, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn person(host: &Host, id: &str, name: &str, email: Option<&str>) {
    let patch =
        PersonPatch { name: Some(Some(name.into())), email: Some(email.map(str::to_string)), ..PersonPatch::default() };
    host.platform().put_person(ORG, id, patch, false, now()).unwrap();
}

fn conversation(host: &Host, id: &str, person: &str) {
    let part = ConversationPart {
        id: format!("{id}-m1"),
        source: PartSource::CaseComment,
        author: AuthorRole::Customer,
        author_name: None,
        text: "The export button does nothing.".into(),
        created_at: now(),
        attachments: vec![],
    };
    let patch = ConversationPatch {
        channel: Some(Channel::Messenger),
        state: Some(ConversationState::Open),
        person_id: Some(Some(person.into())),
        subject: Some(Some("Export broken".into())),
        parts: vec![part],
        ..ConversationPatch::default()
    };
    host.platform().put_conversation(ORG, id, patch, false, now()).unwrap();
}

#[tokio::test]
async fn every_crm_action_answers_over_the_platform_api() {
    use reqwest::Method;
    let emulator = casebridge_emulator::spawn(EmulatorOptions { seed: Seed::Demo, ..EmulatorOptions::default() })
        .expect("the emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let host = open_host(dir.path(), &emulator);
    let api = Api::start(&host).await;

    // Nothing without the token.
    let (status, _) = reqwest::Client::new()
        .get(format!("{}/people/p-1/salesforce", api.base))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401);

    person(&host, "p-1", "Ivy Api", Some("ivy@api.example"));
    let (status, body) = api.send(Method::GET, "/people/p-1/salesforce", None, None).await;
    assert_eq!((status, &body["linked"]), (200, &json!(false)), "{body}");

    // C4: a key is required; the same key gives the same Lead.
    let (status, body) = api.send(Method::POST, "/people/p-1/lead", None, None).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], json!("idempotency_key"));
    let (status, lead) = api.send(Method::POST, "/people/p-1/lead", Some("api-lead-1"), None).await;
    assert_eq!(status, 201, "{lead}");
    assert_eq!((lead["object"].as_str(), lead["existed"].as_bool()), (Some("Lead"), Some(false)));
    let (status, again) = api.send(Method::POST, "/people/p-1/lead", Some("api-lead-1"), None).await;
    assert_eq!((status, &again["id"], &again["existed"]), (201, &lead["id"], &json!(true)));
    let (status, profile) = api.send(Method::GET, "/people/p-1/salesforce", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(profile["lead"]["id"], lead["id"], "{profile}");
    assert!(profile["lead"]["url"].as_str().unwrap().ends_with("/view"));

    // D1: search, create and link a Contact; D3: unlink.
    person(&host, "p-2", "Otto Contact", Some("otto@contact.example"));
    let (status, found) = api.send(Method::GET, "/people/p-2/contact-matches", None, None).await;
    assert_eq!((status, &found["outcome"]), (200, &json!("create")), "{found}");
    assert_eq!(found["new_contact"]["LastName"], json!("Contact"));
    let (status, linked) = api.send(Method::PUT, "/people/p-2/contact", Some("api-link-1"), Some(json!({}))).await;
    assert_eq!(status, 200, "{linked}");
    let contact = linked["id"].as_str().unwrap().to_string();
    assert!(contact.starts_with("003"));
    let (status, found) = api.send(Method::GET, "/people/p-2/contact-matches?q=Otto", None, None).await;
    assert_eq!(status, 200);
    assert!(found["candidates"].as_array().unwrap().iter().any(|c| c["id"] == json!(contact)), "{found}");

    // C9: a case from a conversation, with fields; then a Task (C7).
    conversation(&host, "c-1", "p-2");
    let body = json!({"fields": {"Priority": "High"}});
    let (status, case) = api.send(Method::POST, "/conversations/c-1/case", Some("api-case-1"), Some(body)).await;
    assert_eq!(status, 201, "{case}");
    assert_eq!(case["object"], json!("Case"));
    let (status, tasks) = api.send(Method::POST, "/conversations/c-1/tasks", Some("api-task-1"), None).await;
    assert_eq!(status, 201, "{tasks}");
    assert_eq!(tasks["tasks"].as_array().map(Vec::len), Some(1));
    let (status, body) = api
        .send(Method::POST, "/conversations/c-1/case", Some("api-case-2"), Some(json!({"fields": {"Nope__c": 1}})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["conversions"][0]["field"], json!("Nope__c"));

    let (status, _) = api.send(Method::DELETE, "/people/p-2/contact", None, None).await;
    assert_eq!(status, 204);
    let (status, body) = api.send(Method::POST, "/conversations/c-1/case", Some("api-case-3"), None).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("not linked"), "{body}");

    let (status, flagged) = api.send(Method::GET, "/flagged-cases", None, None).await;
    assert_eq!((status, &flagged["items"]), (200, &json!([])));
    let (status, errors) = api.send(Method::GET, "/errors", None, None).await;
    assert_eq!(status, 200);
    assert!(
        errors["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == json!("crm:api-case-3") && e["operation"] == json!("create case")),
        "{errors}"
    );
    let (status, _) = api.send(Method::POST, "/errors/crm:api-case-3/retry", None, None).await;
    assert_eq!(status, 202);
    let (status, body) = api.send(Method::GET, "/people/nobody/salesforce", None, None).await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn casebridge_crm_runs_the_same_actions_from_the_terminal() {
    let emulator = casebridge_emulator::spawn(EmulatorOptions { seed: Seed::Demo, ..EmulatorOptions::default() })
        .expect("the emulator starts");
    let dir = tempfile::tempdir().unwrap();
    let host = open_host(dir.path(), &emulator);
    person(&host, "p-cli", "Cleo Line", Some("cleo@cli.example"));
    person(&host, "p-noemail", "Nemo", None);
    let config = dir.path().join("casebridge.toml");
    let credentials = emulator.credentials();
    let run = |args: &[&str]| {
        let output = casebridge(&config, &credentials).args(args).output().expect("casebridge runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&["crm", "lead", "--org", ORG, "p-cli", "--key", "cli-1"]);
    assert!(ok, "{stdout}\n{stderr}");
    let saved: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(saved["object"], json!("Lead"));
    let (ok, stdout, _) = run(&["crm", "lead", "--org", ORG, "p-cli", "--key", "cli-1"]);
    assert!(ok);
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["existed"], json!(true));

    let (ok, _, stderr) = run(&["crm", "lead", "--org", ORG, "p-noemail"]);
    assert!(!ok);
    assert!(stderr.contains("no email"), "{stderr}");

    let (ok, stdout, stderr) = run(&["crm", "profile", "--org", ORG, "p-cli"]);
    assert!(ok, "{stderr}");
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["lead"]["id"], saved["id"]);
    let (ok, stdout, stderr) = run(&["crm", "flagged", "--org", ORG]);
    assert!(ok, "{stderr}");
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["items"], json!([]));
    // Without --key a key is made up and printed, so the action can be retried.
    let (ok, stdout, stderr) = run(&["crm", "link", "--org", ORG, "p-noemail", "--create"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.starts_with("idempotency key: cli-"), "{stdout}");
}
