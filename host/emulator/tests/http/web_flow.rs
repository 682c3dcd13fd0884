//! The OAuth web-server flow with PKCE: the login page, the redirect with a
//! code, the code grant, and revocation.

use base64::Engine as _;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::support::{Org, status_json};

const CALLBACK: &str = "http://127.0.0.1:8710/oauth/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9c3h2W7Fq8aZjRrG0xL5kPcS3vYtN1";

/// A client that shows redirects instead of following them, as a test of
/// where the browser is sent needs.
fn browser() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_url(org: &Org, extra: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("response_type", "code");
    query.append_pair("client_id", &org.creds.client_id);
    query.append_pair("redirect_uri", CALLBACK);
    query.append_pair("state", "s-42");
    query.append_pair("code_challenge", &challenge(VERIFIER));
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    format!("{}/services/oauth2/authorize?{}", org.creds.url, query.finish())
}

/// Logs in on the page and says "Allow" (or `action`): the response.
fn submit(org: &Org, url: &str, password: &str, action: &str) -> Response {
    browser()
        .post(url)
        .form(&[("username", org.creds.username.as_str()), ("password", password), ("action", action)])
        .send()
        .unwrap()
}

/// The callback's query parameters from a 302.
fn callback_params(response: &Response) -> Vec<(String, String)> {
    assert_eq!(response.status(), 302, "a redirect to the callback");
    let location = response.headers()["location"].to_str().unwrap();
    let (target, query) = location.split_once('?').expect("a query");
    assert_eq!(target, CALLBACK);
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn exchange(org: &Org, code: &str, verifier: &str, redirect_uri: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", org.creds.client_id.as_str()),
        ("client_secret", org.creds.client_secret.as_str()),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    status_json(org.http.post(format!("{}/services/oauth2/token", org.creds.url)).form(&form).send().unwrap())
}

fn code(org: &Org) -> String {
    let params = callback_params(&submit(org, &authorize_url(org, &[]), &org.creds.password, "allow"));
    assert_eq!(param(&params, "state"), Some("s-42"));
    param(&params, "code").expect("a code").to_string()
}

#[test]
fn the_login_page_labels_its_controls_and_carries_the_request() {
    let org = Org::demo();
    let response = browser().get(authorize_url(&org, &[("scope", "api refresh_token")])).send().unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().unwrap();
    for needle in
        [r#"<label for="username">"#, r#"<label for="password">"#, r#"value="s-42""#, "api refresh_token", "Allow"]
    {
        assert!(page.contains(needle), "{needle} in {page}");
    }
}

#[test]
fn allow_redirects_with_a_code_that_buys_a_refresh_token_once() {
    let org = Org::demo();
    let code = code(&org);
    let (status, body) = exchange(&org, &code, VERIFIER, CALLBACK);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "api refresh_token offline_access");
    let refresh_token = body["refresh_token"].as_str().expect("the code grant hands out a refresh token");
    // The refresh token works like any other.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", org.creds.client_id.as_str()),
        ("client_secret", org.creds.client_secret.as_str()),
    ];
    let (status, _) =
        status_json(org.http.post(format!("{}/services/oauth2/token", org.creds.url)).form(&form).send().unwrap());
    assert_eq!(status, 200);

    let (status, again) = exchange(&org, &code, VERIFIER, CALLBACK);
    assert_eq!((status, &again["error"]), (400, &json!("invalid_grant")), "a code is good once: {again}");
}

#[test]
fn the_code_grant_checks_the_verifier_the_callback_and_the_code_age() {
    let org = Org::demo();
    let (status, body) = exchange(&org, &code(&org), "not-the-verifier", CALLBACK);
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(body["error_description"], "invalid code verifier");

    let (status, body) = exchange(&org, &code(&org), VERIFIER, "http://localhost:8710/oauth/callback");
    assert_eq!((status, body["error"].as_str()), (400, Some("redirect_uri_mismatch")), "{body}");

    let late = code(&org);
    org.admin(reqwest::Method::POST, "/clock/advance").json(&json!({"seconds": 15 * 60})).send().unwrap();
    let (status, body) = exchange(&org, &late, VERIFIER, CALLBACK);
    assert_eq!((status, body["error_description"].as_str()), (400, Some("invalid authorization code")), "{body}");
}

#[test]
fn deny_a_wrong_password_and_bad_requests_are_answered_as_salesforce_does() {
    let org = Org::demo();
    let denied = callback_params(&submit(&org, &authorize_url(&org, &[]), "", "deny"));
    assert_eq!(param(&denied, "error"), Some("access_denied"));
    assert_eq!(param(&denied, "state"), Some("s-42"));

    let wrong = submit(&org, &authorize_url(&org, &[]), "wrong password", "allow");
    assert_eq!(wrong.status(), 200, "the page again");
    assert!(wrong.text().unwrap().contains("Please check your username and password"));

    // An unknown callback is never redirected to.
    let url = authorize_url(&org, &[]).replace("127.0.0.1%3A8710", "evil.example.com");
    let page = browser().get(url).send().unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().unwrap().contains("redirect_uri_mismatch"));

    let no_pkce = authorize_url(&org, &[]).replace("code_challenge=", "ignored=");
    let refused = callback_params(&browser().get(no_pkce).send().unwrap());
    assert_eq!(param(&refused, "error_description"), Some("missing required code challenge"));

    let refused = callback_params(&browser().get(authorize_url(&org, &[("scope", "full")])).send().unwrap());
    assert_eq!(param(&refused, "error"), Some("invalid_scope"));
}

#[test]
fn revoking_a_refresh_token_ends_it_and_its_sessions() {
    let org = Org::demo();
    let (_, body) = exchange(&org, &code(&org), VERIFIER, CALLBACK);
    let refresh_token = body["refresh_token"].as_str().unwrap();
    let access_token = body["access_token"].as_str().unwrap();
    let api = org.api("/limits");
    assert_eq!(org.http.get(&api).bearer_auth(access_token).send().unwrap().status(), 200);

    let revoke = |token: &str| {
        org.http.post(format!("{}/services/oauth2/revoke", org.creds.url)).form(&[("token", token)]).send().unwrap()
    };
    assert_eq!(revoke(refresh_token).status(), 200);
    assert_eq!(org.http.get(&api).bearer_auth(access_token).send().unwrap().status(), 401);
    let (status, body) = status_json(revoke(refresh_token));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_token")));
    // The integration user's own session is untouched.
    assert_eq!(org.get("/limits").status(), 200);
}

#[test]
fn the_admin_api_sets_the_callback_urls() {
    let org = Org::demo();
    let (status, app) = status_json(org.admin(reqwest::Method::GET, "/connected-app").send().unwrap());
    assert_eq!(status, 200);
    assert_eq!(app["callback_urls"][0], CALLBACK);
    let (status, app) = status_json(
        org.admin(reqwest::Method::PUT, "/connected-app")
            .json(&json!({"callback_urls": ["http://127.0.0.1:9999/cb"]}))
            .send()
            .unwrap(),
    );
    assert_eq!((status, app["callback_urls"].clone()), (200, json!(["http://127.0.0.1:9999/cb"])));
    let page = browser().get(authorize_url(&org, &[])).send().unwrap();
    assert_eq!(page.status(), 400, "the old callback is no longer the app's");
    let (status, _) = status_json(
        org.admin(reqwest::Method::PUT, "/connected-app").json(&json!({"callback_urls": "x"})).send().unwrap(),
    );
    assert_eq!(status, 400);
}
