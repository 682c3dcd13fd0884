//! `casebridge org connect --browser` and `org disconnect` against the
//! emulator's OAuth web-server flow: the admin opens the printed URL, logs
//! in and allows (or denies); the refresh token lands encrypted in the vault
//! and works; disconnect revokes it at Salesforce.

mod support;

use std::io::{BufRead as _, Write as _};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use casebridge::config::Config;
use casebridge::host::Host;
use casebridge::secrets::OrgSecret;
use casebridge_emulator::{Credentials, EmulatorOptions, RunningEmulator, Seed};
use serde_json::{Value, json};
use support::{casebridge, write_config};

const ORG: &str = "acme";

/// `org connect --browser` running, and the authorize URL it printed.
struct Connecting {
    child: Child,
    url: String,
    stderr: mpsc::Receiver<String>,
}

fn start_connect(config: &std::path::Path, credentials: &Credentials, callback: &str) -> Connecting {
    let mut child = casebridge(config, credentials)
        .args(["org", "connect", ORG, "--browser", "--callback", callback])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("org connect starts");
    writeln!(child.stdin.take().expect("stdin"), "{}", credentials.client_secret).expect("the secret is written");
    let (send, stderr) = mpsc::channel();
    let pipe = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    let url = loop {
        let line = stderr.recv_timeout(Duration::from_secs(30)).expect("org connect prints the URL to open");
        if line.contains("/services/oauth2/authorize?") {
            break line.trim().to_string();
        }
    };
    Connecting { child, url, stderr }
}

/// What the admin's browser does: log in on the page, choose `action`, and
/// follow Salesforce's redirect to the callback.
async fn log_in(url: &str, credentials: &Credentials, action: &str) -> String {
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = [("username", credentials.username.as_str()), ("password", &credentials.password), ("action", action)];
    let answer = browser.post(url).form(&form).send().await.expect("the login page answers");
    assert_eq!(answer.status(), 302, "Salesforce sends the browser back");
    let callback = answer.headers()["location"].to_str().unwrap().to_string();
    browser.get(callback).send().await.expect("casebridge's callback answers").text().await.unwrap()
}

fn finish(connecting: Connecting) -> (bool, String) {
    let output = connecting.child.wait_with_output().expect("org connect ends");
    let rest: Vec<String> = connecting.stderr.try_iter().collect();
    (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), rest.join("\n")))
}

/// A free loopback callback URL, made the connected app's only callback.
async fn callback_for(emulator: &RunningEmulator) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let callback = format!("http://127.0.0.1:{port}/oauth/callback");
    let answer = reqwest::Client::new()
        .put(format!("{}/__emulator/connected-app", emulator.url()))
        .json(&json!({"callback_urls": [callback]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    callback
}

async fn token_works(emulator: &RunningEmulator, credentials: &Credentials, refresh_token: &str) -> Value {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", credentials.client_id.as_str()),
        ("client_secret", credentials.client_secret.as_str()),
    ];
    let answer = reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", emulator.url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    answer.json().await.unwrap()
}

fn stored_refresh_token(config: &std::path::Path) -> Option<String> {
    let host = Host::open(Config::load(config).expect("config")).expect("host");
    host.vault().get(ORG, OrgSecret::RefreshToken).expect("vault").map(|s| s.expose().to_string())
}

/// An emulated org, a config for it and a callback the connected app lists.
struct Setup {
    emulator: RunningEmulator,
    credentials: Credentials,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    callback: String,
}

async fn set_up() -> Setup {
    let emulator = casebridge_emulator::spawn(EmulatorOptions { seed: Seed::Demo, ..Default::default() }).unwrap();
    let credentials = emulator.credentials();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emulator, ORG, 60);
    let callback = callback_for(&emulator).await;
    Setup { emulator, credentials, dir, config, callback }
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_in_the_browser_stores_a_working_refresh_token_and_disconnect_revokes_it() {
    let Setup { emulator, credentials, dir, config, callback } = set_up().await;

    let connecting = start_connect(&config, &credentials, &callback);
    assert!(connecting.url.contains("scope=api+refresh_token+offline_access"), "{}", connecting.url);
    assert!(connecting.url.contains("code_challenge_method=S256"), "{}", connecting.url);
    let page = log_in(&connecting.url, &credentials, "allow").await;
    assert!(page.contains("Connected"), "{page}");
    let (ok, output) = finish(connecting);
    assert!(ok, "{output}");
    assert!(output.contains("stored the credentials of `acme`, encrypted"), "{output}");

    let token = stored_refresh_token(&config).expect("a refresh token is stored");
    assert_ne!(token, credentials.refresh_token, "a new token, from the login");
    assert!(token_works(&emulator, &credentials, &token).await["access_token"].is_string());
    let database = std::fs::read(dir.path().join("casebridge.db")).unwrap();
    assert!(!database.windows(token.len()).any(|w| w == token.as_bytes()), "the token is encrypted at rest");

    let disconnect = casebridge(&config, &credentials).args(["org", "disconnect", ORG]).output().unwrap();
    assert!(disconnect.status.success(), "{}", String::from_utf8_lossy(&disconnect.stderr));
    assert_eq!(token_works(&emulator, &credentials, &token).await["error"], "invalid_grant", "revoked at Salesforce");
    assert_eq!(stored_refresh_token(&config), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_login_stores_nothing_and_says_what_to_do() {
    let Setup { emulator: _emulator, credentials, dir: _dir, config, callback } = set_up().await;

    let connecting = start_connect(&config, &credentials, &callback);
    let page = log_in(&connecting.url, &credentials, "deny").await;
    assert!(page.contains("not made"), "{page}");
    let (ok, output) = finish(connecting);
    assert!(!ok);
    assert!(output.contains("access_denied") && output.contains("choose Allow"), "{output}");
    assert_eq!(stored_refresh_token(&config), None);

    // A callback the connected app does not list is refused by Salesforce itself.
    let connecting = start_connect(&config, &credentials, "http://127.0.0.1:9/oauth/callback");
    let page = reqwest::get(&connecting.url).await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("redirect_uri_mismatch"));
    let mut child = connecting.child;
    child.kill().unwrap();
    child.wait().unwrap();
}
