//! The admin console (E11) in a real headless browser: Chromium from the
//! distribution over WebDriver, against the console as `casebridge run`
//! serves it and the emulator's OAuth login page. An admin logs in, connects
//! the org through Salesforce's web-server flow, removes and re-adds a field
//! (a system field cannot be removed), re-syncs a picklist after a value was
//! added in Salesforce, and retries sync errors until they are gone. A
//! request without a session or with a wrong CSRF token is refused. Each
//! page is saved as a screenshot under `target/tmp/console-screenshots/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use casebridge::config::Config;
use casebridge::console::{ConsoleState, router, set_password};
use casebridge::host::Host;
use casebridge::secrets::OrgSecret;
use casebridge_emulator::RunningEmulator;
use fantoccini::{Client, Locator};
use serde_json::json;

#[path = "support/browser.rs"]
mod browser;
mod support;
use browser::{Driver, browser_installed, demo_emulator};
use support::write_config;

const ORG: &str = "acme";
const PASSWORD: &str = "correct horse battery staple";

/// The console as `casebridge run` serves it, on a free port; its URL.
async fn serve(dir: &Path, emulator: &RunningEmulator) -> (Arc<Host>, String) {
    let path = write_config(dir, emulator, ORG, 3600);
    let host = Arc::new(Host::open(Config::load(&path).expect("the configuration loads")).expect("the host opens"));
    set_password(&host, "admin", PASSWORD).expect("the password is set");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes = router(ConsoleState::new(host.clone()));
    tokio::spawn(async move { axum::serve(listener, routes).await });
    (host, base)
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn snap(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// The page's text; empty while the browser is between pages.
async fn text(browser: &Client) -> String {
    match browser.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn count(browser: &Client, css: &str) -> usize {
    browser.find_all(Locator::Css(css)).await.map_or(0, |found| found.len())
}

/// The page's text once it contains `needle` (actions do not wait for the
/// page they lead to).
async fn until(browser: &Client, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let shown = text(browser).await;
        if shown.contains(needle) {
            return shown;
        }
        assert!(std::time::Instant::now() < deadline, "no {needle:?} in the page: {shown}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn click(browser: &Client, css: &str) {
    browser.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("no {css}")).click().await.expect("clicked");
}

async fn has(browser: &Client, css: &str) -> bool {
    browser.find(Locator::Css(css)).await.is_ok()
}

/// The session cookie and CSRF token of the browser's console session.
async fn session_of(browser: &Client) -> (String, String) {
    let cookie = browser.get_named_cookie("__Host-casebridge_console").await.expect("a session cookie");
    let csrf = browser
        .find(Locator::Css("input[name=csrf]"))
        .await
        .expect("a form")
        .attr("value")
        .await
        .unwrap()
        .expect("a CSRF token");
    (cookie.value().to_string(), csrf)
}

/// A form POST from outside the browser (no redirects followed).
async fn post(base: &str, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut request = client.post(format!("{base}{path}")).header("origin", base).form(form);
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("__Host-casebridge_console={cookie}"));
    }
    request.send().await.unwrap()
}

async fn open(browser: &Client, base: &str, path: &str, shot: &str) -> String {
    browser.goto(&format!("{base}{path}")).await.expect("the page opens");
    snap(browser, shot).await;
    text(browser).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_connects_the_org_manages_fields_and_retries_sync_errors_in_the_browser() {
    if !browser_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let emulator = demo_emulator().await;
    let credentials = emulator.credentials();
    let (host, base) = serve(dir.path(), &emulator).await;
    let admin = reqwest::Client::new();
    let answer = admin
        .put(format!("{}/__emulator/connected-app", emulator.url()))
        .json(&json!({"callback_urls": [format!("{base}/oauth/callback")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    // Nothing is readable or changeable without a session.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = no_redirects.get(format!("{base}/console/orgs/{ORG}/errors")).send().await.unwrap();
    assert_eq!((page.status().as_u16(), page.headers()["location"].to_str().unwrap()), (303, "/console/login"));
    let refused = post(&base, &format!("/console/orgs/{ORG}/errors/retry"), None, &[("error_id", "x")]).await;
    assert_eq!(refused.status(), 403);
    let login = post(&base, "/console/login", None, &[("name", "admin"), ("password", PASSWORD), ("csrf", "x")]).await;
    assert_eq!(login.status(), 403, "a login form without its cookie");

    let driver = Driver::start();
    let browser = driver.browser(1280, 800).await;

    // Log in: a wrong password first, then the right one with Enter.
    browser.goto(&format!("{base}/console")).await.unwrap();
    assert!(browser.current_url().await.unwrap().path().ends_with("/console/login"));
    snap(&browser, "01-login").await;
    browser.find(Locator::Id("password")).await.unwrap().send_keys("not the password\n").await.unwrap();
    until(&browser, "do not match").await;
    snap(&browser, "02-login-refused").await;
    browser.find(Locator::Id("password")).await.unwrap().send_keys(&format!("{PASSWORD}\n")).await.unwrap();
    let home = until(&browser, "Every configured org").await;
    assert!(home.contains(ORG), "{home}");
    snap(&browser, "03-orgs").await;

    // A forged form: the right session, a wrong CSRF token.
    let (cookie, csrf) = session_of(&browser).await;
    let forged = post(
        &base,
        &format!("/console/orgs/{ORG}/errors/retry"),
        Some(&cookie),
        &[("csrf", "forged"), ("error_id", "x")],
    )
    .await;
    assert_eq!(forged.status(), 403);
    let other_site = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cross = other_site
        .post(format!("{base}/console/orgs/{ORG}/errors/retry"))
        .header("origin", "http://evil.example")
        .header("cookie", format!("__Host-casebridge_console={cookie}"))
        .form(&[("csrf", csrf.as_str()), ("error_id", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403, "a form from another origin");

    // Connect through Salesforce's login and consent page.
    let status = open(&browser, &base, &format!("/console/orgs/{ORG}"), "04-status-not-connected").await;
    assert!(status.contains("not connected"), "{status}");
    browser.find(Locator::Id("client_secret")).await.unwrap().send_keys(&credentials.client_secret).await.unwrap();
    click(&browser, "form[action$='/connect'] button").await;
    browser
        .wait()
        .for_element(Locator::Id("username"))
        .await
        .expect("Salesforce's login page")
        .send_keys(&credentials.username)
        .await
        .unwrap();
    browser.find(Locator::Id("password")).await.unwrap().send_keys(&credentials.password).await.unwrap();
    snap(&browser, "05-salesforce-login").await;
    click(&browser, "#allow").await;
    until(&browser, "connected: the refresh token").await;
    snap(&browser, "06-status-connected").await;
    let token = host.vault().get(ORG, OrgSecret::RefreshToken).unwrap().expect("a stored token");
    assert_ne!(token.expose(), credentials.refresh_token, "a new token from the login");

    // Case updates fail while a required field is empty; the cycle runs
    // with the token the login gave.
    let custom = json!({"object": "Case", "name": "Region__c", "type": "string", "length": 20});
    assert_eq!(
        admin.post(format!("{}/__emulator/fields", emulator.url())).json(&custom).send().await.unwrap().status(),
        201
    );
    let required = json!({"object": "Case", "field": "Region__c", "required": true});
    assert_eq!(
        admin.post(format!("{}/__emulator/required", emulator.url())).json(&required).send().await.unwrap().status(),
        200
    );
    host.cycle(ORG).await.expect("a cycle with the connected token");
    let errors = open(&browser, &base, &format!("/console/orgs/{ORG}/errors"), "07-sync-errors").await;
    assert!(errors.contains("REQUIRED_FIELD_MISSING") && errors.contains("update case"), "{errors}");

    // Fixed in Salesforce, retried from the console: gone after the next cycle.
    let optional = json!({"object": "Case", "field": "Region__c", "required": false});
    assert_eq!(
        admin.post(format!("{}/__emulator/required", emulator.url())).json(&optional).send().await.unwrap().status(),
        200
    );
    let retry = "form[action$='/errors/retry'] button";
    loop {
        let open = count(&browser, retry).await;
        if open == 0 {
            break;
        }
        click(&browser, retry).await;
        // The next page: one error fewer (each retried error leaves the list).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while !(text(&browser).await.contains("is retried in the next cycle") && count(&browser, retry).await < open) {
            assert!(std::time::Instant::now() < deadline, "the retried error left the list");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    snap(&browser, "08-errors-retried").await;
    host.cycle(ORG).await.expect("the retry cycle");
    let errors = open(&browser, &base, &format!("/console/orgs/{ORG}/errors"), "09-no-errors").await;
    assert!(errors.contains("No open sync errors"), "{errors}");

    // Remove and re-add Case.Reason; a system field has no Remove, and a forged one is refused.
    let fields = open(&browser, &base, &format!("/console/orgs/{ORG}/fields"), "10-fields").await;
    assert!(fields.contains("locked"), "{fields}");
    assert!(!has(&browser, "button[aria-label='Remove Case.Status']").await, "a system field cannot be removed");
    if has(&browser, "button[aria-label='Add Case.Reason']").await {
        click(&browser, "button[aria-label='Add Case.Reason']").await;
        until(&browser, "Case.Reason added").await;
    }
    click(&browser, "button[aria-label='Remove Case.Reason']").await;
    until(&browser, "Case.Reason removed").await;
    assert!(has(&browser, "button[aria-label='Add Case.Reason']").await);
    click(&browser, "button[aria-label='Add Case.Reason']").await;
    until(&browser, "Case.Reason added").await;
    let (cookie, csrf) = session_of(&browser).await;
    let system = [("csrf", csrf.as_str()), ("action", "remove"), ("object", "Case"), ("field", "Status")];
    assert_eq!(post(&base, &format!("/console/orgs/{ORG}/fields"), Some(&cookie), &system).await.status(), 303);
    browser.refresh().await.unwrap();
    until(&browser, "Case.Status:").await;
    assert!(has(&browser, "p.notice.problem").await);
    snap(&browser, "11-system-field-refused").await;

    // A value added to the picklist in Salesforce shows after a re-sync.
    emulator.add_picklist_value("Case", "Reason", "Billing question").expect("added in Salesforce");
    click(&browser, "button[aria-label='Re-sync Case.Reason']").await;
    until(&browser, "Case.Reason re-synced").await;
    click(&browser, "#values-Case-Reason summary").await;
    let listed = browser.find(Locator::Css("#values-Case-Reason")).await.unwrap().text().await.unwrap();
    assert!(listed.contains("Billing question"), "the new value is listed: {listed}");
    snap(&browser, "12-picklist-resynced").await;

    // Every other page opens, and reads at a phone's width too.
    for (path, shot, expect) in [
        ("/mappings", "13-mappings", "mappings"),
        ("/workflow", "14-workflow", "workflow"),
        ("/conversations", "15-conversations", "Resolution"),
        ("/people", "16-people", "Companies"),
    ] {
        let shown = open(&browser, &base, &format!("/console/orgs/{ORG}{path}"), shot).await;
        assert!(shown.to_lowercase().contains(&expect.to_lowercase()), "{path}: {shown}");
    }
    browser.goto(&format!("{base}/console/orgs/{ORG}/conversations")).await.unwrap();
    click(&browser, "tbody th a").await;
    until(&browser, "Open the case in Salesforce").await;
    assert!(has(&browser, "li.part").await, "the conversation's parts");
    assert!(text(&browser).await.contains("Contact fields"), "the linked Contact's fields");
    snap(&browser, "17-conversation").await;
    browser.set_window_size(390, 844).await.unwrap();
    open(&browser, &base, &format!("/console/orgs/{ORG}"), "18-status-phone").await;
    browser.set_window_size(1280, 800).await.unwrap();

    // Disconnect revokes the token; log out ends the session.
    click(&browser, "form[action$='/disconnect'] button").await;
    until(&browser, "disconnected").await;
    assert!(host.vault().get(ORG, OrgSecret::RefreshToken).unwrap().is_none());
    click(&browser, "form.logout button").await;
    until(&browser, "casebridge console").await;
    assert!(browser.current_url().await.unwrap().path().ends_with("/console/login"));
    let after = no_redirects
        .get(format!("{base}/console/orgs/{ORG}"))
        .header("cookie", format!("__Host-casebridge_console={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303, "the session ended at logout");
    browser.close().await.expect("the browser closes");
}
