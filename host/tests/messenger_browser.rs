//! The web messenger in a real headless browser (E10, B1–B3): Chromium from
//! the distribution, driven over WebDriver (chromedriver, the `fantoccini`
//! crate), against the whole stack: the page and its event stream served
//! as `casebridge run` serves them, the connector relaying through the
//! emulator's Messaging for In-App and Web, a live agent on the emulator's
//! side. A customer types, reads the AI answer, asks for a person, reads
//! the live agent's reply, reloads and finds the history.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use casebridge::config::Config;
use casebridge::host::Host;
use casebridge::messenger::ConnectorRelay;
use casebridge::messenger::web::{MessengerState, router};
use casebridge::secrets::{OrgSecret, Secret};
use casebridge_emulator::RunningEmulator;
use fantoccini::Locator;

#[path = "support/browser.rs"]
mod browser;
mod support;
use browser::{Driver, browser_installed, demo_emulator};
use support::write_config;

const ORG: &str = "acme";
/// The longest a step may take to show in the page.
const PATIENCE: Duration = Duration::from_secs(20);

/// The host of `casebridge run` with the messenger, its API server on a free port.
async fn serve(dir: &Path, emulator: &RunningEmulator) -> (Arc<Host>, String) {
    let path = write_config(dir, emulator, ORG, 3600);
    let credentials = emulator.credentials();
    let messenger = format!(
        "\n[org.messenger]\nurl = \"{}\"\norg_id = \"{}\"\ndeployment = \"{}\"\n",
        credentials.scrt_url,
        credentials.org_id,
        casebridge_emulator::MESSAGING_DEPLOYMENT
    );
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&messenger);
    std::fs::write(&path, text).unwrap();
    let host = Host::open(Config::load(&path).expect("the configuration loads")).expect("the host opens");
    host.vault().put(ORG, OrgSecret::ClientSecret, &Secret::new(credentials.client_secret.clone())).unwrap();
    host.vault().put(ORG, OrgSecret::RefreshToken, &Secret::new(credentials.refresh_token.clone())).unwrap();
    let host = Arc::new(host);
    let state = MessengerState {
        platform: host.platform().clone(),
        orgs: Arc::new([(ORG.to_string(), None)].into()),
        relay: Arc::new(ConnectorRelay::new(host.clone())),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    (host, base)
}

/// The page's messages by author, as the customer sees them.
async fn shown(browser: &fantoccini::Client, author: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for item in browser.find_all(Locator::Css(&format!("#log li.{author} .text"))).await.unwrap_or_default() {
        texts.push(item.text().await.unwrap_or_default());
    }
    texts
}

/// Waits until a message of `author` contains `needle`.
async fn wait_for(browser: &fantoccini::Client, author: &str, needle: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = shown(browser, author).await.into_iter().find(|t| t.contains(needle)) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no {author} message with {needle:?}; the page shows {:?}",
            page_text(browser).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn page_text(browser: &fantoccini::Client) -> String {
    match browser.find(Locator::Css("#log")).await {
        Ok(log) => log.text().await.unwrap_or_default(),
        Err(_) => browser.source().await.unwrap_or_default(),
    }
}

async fn say(browser: &fantoccini::Client, text: &str) {
    let input = browser.find(Locator::Id("text")).await.expect("the message box");
    input.send_keys(&format!("{text}\n")).await.expect("typed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_chats_with_the_ai_agent_is_handed_to_a_live_agent_and_finds_the_chat_after_a_reload() {
    if !browser_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let emulator = demo_emulator().await;
    let (_host, base) = serve(dir.path(), &emulator).await;
    let driver = Driver::start();
    let browser = driver.browser(1280, 800).await;

    let page = format!("{base}/messenger/{ORG}");
    browser.goto(&page).await.expect("the page opens");
    say(&browser, "How do I reset my password?").await;
    wait_for(&browser, "customer", "reset my password").await;
    let answer = wait_for(&browser, "agent", "").await;
    assert!(!answer.is_empty(), "the AI agent answered");

    say(&browser, "Can I talk to a person please?").await;
    wait_for(&browser, "system", "Connecting you").await;
    // A Salesforce agent takes the routed session and writes.
    let deadline = Instant::now() + PATIENCE;
    let session = loop {
        if let Some(id) = emulator.messaging_sessions()[0]["session_id"].as_str() {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "the hand-off reached Salesforce");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(emulator.messaging_sessions()[0]["routing_attributes"]["_subject"], "");
    emulator.accept_messaging_session(&session).expect("accepted");
    emulator.agent_writes(&session, "Hi, this is support. I can help with that.").expect("written");
    wait_for(&browser, "system", "joined the conversation").await;
    wait_for(&browser, "teammate", "Hi, this is support").await;
    say(&browser, "Thank you!").await;
    let deadline = Instant::now() + PATIENCE;
    while emulator.messaging_conversation(&session).unwrap()["sends"].as_array().map_or(0, Vec::len) < 2 {
        assert!(Instant::now() < deadline, "the customer's reply reached the agent");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A reload finds the whole chat again, nothing doubled.
    browser.refresh().await.expect("reloads");
    wait_for(&browser, "teammate", "Hi, this is support").await;
    let customer = shown(&browser, "customer").await;
    assert_eq!(customer.len(), 3, "{customer:?}");
    assert_eq!(shown(&browser, "teammate").await.len(), 1);
    browser.close().await.expect("the browser closes");
}
