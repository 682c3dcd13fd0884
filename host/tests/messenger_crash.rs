//! The messenger's relay survives SIGKILLs (B3): `casebridge run` serves
//! the web messenger and relays a live hand-off while it is killed and
//! restarted between and during the messages; a customer's message posted
//! while the host is down is posted again (with the same id) once it is
//! back. At the end every customer message reached Salesforce once and
//! every live agent message reached the customer once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebridge_emulator::{EmulatorOptions, Seed};
use serde_json::{Value, json};

mod support;
use support::{HostProcess, Rng, write_config};

const ORG: &str = "acme";
const ROUNDS: usize = 6;
const PATIENCE: Duration = Duration::from_secs(60);

struct Customer {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Customer {
    /// Post until the host takes it (it may be down): the same id every time.
    async fn says(&self, id: &str, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let sent = self
                .http
                .post(format!("{}/api/messages", self.base))
                .bearer_auth(&self.token)
                .json(&json!({"id": id, "text": text}))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if sent.is_ok_and(|r| r.status().as_u16() == 201) {
                return;
            }
            assert!(Instant::now() < deadline, "the messenger took {id:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The chat's parts as the page reads them (waiting while the host is down).
    async fn parts(&self) -> Vec<Value> {
        loop {
            let read = self.http.get(format!("{}/api/conversation", self.base)).bearer_auth(&self.token).send().await;
            if let Ok(response) = read
                && response.status().is_success()
                && let Ok(body) = response.json::<Value>().await
            {
                return body["parts"].as_array().cloned().unwrap_or_default();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn texts_by(&self, author: &str) -> Vec<String> {
        self.parts()
            .await
            .into_iter()
            .filter(|p| p["author"] == author)
            .map(|p| p["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_hand_off_relays_every_message_once_across_sigkills() {
    let seed: u64 = std::env::var("CASEBRIDGE_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64)
    });
    eprintln!("messenger crash test: seed {seed} (replay with CASEBRIDGE_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let emulator = casebridge_emulator::start(EmulatorOptions { seed: Seed::Demo, ..EmulatorOptions::default() })
        .await
        .expect("the emulator starts");
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emulator, ORG, 3600);
    let port = free_port();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\""))
        + &format!(
            "\n[org.messenger]\nurl = \"{}\"\norg_id = \"{}\"\ndeployment = \"{}\"\n",
            credentials.scrt_url,
            credentials.org_id,
            casebridge_emulator::MESSAGING_DEPLOYMENT
        );
    std::fs::write(&config, text).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = |life: usize| {
        let mut host = HostProcess::run(&config, &credentials, &log, &format!("run {life}"));
        host.wait_until_running(&log);
        host
    };
    let mut host = start(0);
    let base = format!("http://127.0.0.1:{port}/messenger/{ORG}");
    let http = reqwest::Client::new();
    let visit: Value =
        http.post(format!("{base}/api/visits")).json(&json!({})).send().await.unwrap().json().await.unwrap();
    let customer = Customer { base, token: visit["token"].as_str().unwrap().into(), http };

    customer.says("q1", "How do I reset my password?").await;
    let deadline = Instant::now() + PATIENCE;
    while customer.texts_by("agent").await.is_empty() {
        assert!(Instant::now() < deadline, "the AI agent answered: {}", log.lock().unwrap().join("\n"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    customer.says("q2", "Can I talk to a person please?").await;
    let deadline = Instant::now() + PATIENCE;
    let session = loop {
        if let Some(id) = emulator.messaging_sessions().get(0).and_then(|s| s["session_id"].as_str()) {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "the hand-off reached Salesforce: {}", log.lock().unwrap().join("\n"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    emulator.accept_messaging_session(&session).expect("accepted");

    let mut kills = 0;
    for round in 0..ROUNDS {
        emulator.agent_writes(&session, &format!("agent message {round}")).expect("the agent writes");
        if rng.chance(2) {
            tokio::time::sleep(Duration::from_millis(rng.between(0, 1200))).await;
            host.kill();
            kills += 1;
            // The customer writes while the host is down; the post is retried.
            host = start(round + 1);
        }
        customer.says(&format!("c{round}"), &format!("customer message {round}")).await;
        tokio::time::sleep(Duration::from_millis(rng.between(0, 800))).await;
    }

    // Everything arrives, once.
    let wanted_agent: Vec<String> = (0..ROUNDS).map(|r| format!("agent message {r}")).collect();
    let mut wanted_customer = vec!["Can I talk to a person please?".to_string()];
    wanted_customer.extend((0..ROUNDS).map(|r| format!("customer message {r}")));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let agent = customer.texts_by("teammate").await;
        let conversation = emulator.messaging_conversation(&session).unwrap();
        let sent: Vec<String> = conversation["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["entryType"] == "Message" && e["sender"]["role"] == "EndUser")
            .map(|e| {
                e["entryPayload"]["abstractMessage"]["staticContent"]["text"].as_str().unwrap_or_default().to_string()
            })
            .collect();
        if agent.len() >= ROUNDS && sent.len() >= wanted_customer.len() {
            assert_eq!(agent, wanted_agent, "each agent message reached the customer once, in order");
            assert_eq!(sent, wanted_customer, "each customer message reached Salesforce once, in order");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not everything arrived: agent {agent:?}, customer {sent:?}\n{}",
            log.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let joined = customer.texts_by("system").await.iter().filter(|t| t.ends_with("joined the conversation.")).count();
    assert_eq!(joined, 1, "the agent joined once");
    assert_eq!(customer.texts_by("agent").await.len(), 1, "the AI agent answered the first question once");
    eprintln!("messenger crash test: seed {seed}: {kills} kills over {ROUNDS} rounds");
    host.kill();
}
