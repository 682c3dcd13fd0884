//! A seeded emulator on a free port and a logged-in HTTP client for it.

use casebridge_emulator::{Credentials, EmulatorOptions, RunningEmulator, Seed, spawn};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

pub const VERSION: &str = "v59.0";

pub struct Org {
    pub emulator: RunningEmulator,
    pub creds: Credentials,
    pub http: Client,
    pub token: String,
}

impl Org {
    /// A demo org, logged in as the integration user with the refresh token.
    pub fn demo() -> Org {
        Org::with(EmulatorOptions { seed: Seed::Demo, ..Default::default() })
    }

    pub fn with(options: EmulatorOptions) -> Org {
        let emulator = spawn(options).expect("the emulator starts");
        let creds = emulator.credentials();
        let http = Client::builder().timeout(std::time::Duration::from_secs(20)).build().expect("client");
        let token = refresh(&http, &creds)["access_token"].as_str().expect("an access token").to_string();
        Org { emulator, creds, http, token }
    }

    /// `{instance_url}/services/data/v59.0{path}`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/services/data/{VERSION}{path}", self.creds.instance_url)
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.api(path)).bearer_auth(&self.token)
    }

    pub fn get(&self, path: &str) -> Response {
        self.request(reqwest::Method::GET, path).send().expect("GET")
    }

    pub fn post(&self, path: &str, body: Value) -> Response {
        self.request(reqwest::Method::POST, path).json(&body).send().expect("POST")
    }

    pub fn patch(&self, path: &str, body: Value) -> Response {
        self.request(reqwest::Method::PATCH, path).json(&body).send().expect("PATCH")
    }

    pub fn delete(&self, path: &str) -> Response {
        self.request(reqwest::Method::DELETE, path).send().expect("DELETE")
    }

    /// Runs a SOQL query and returns the first page's body.
    pub fn query(&self, soql: &str) -> Value {
        let response = self.request(reqwest::Method::GET, "/query").query(&[("q", soql)]).send().expect("query");
        assert_eq!(response.status(), 200, "query {soql}");
        response.json().expect("query JSON")
    }

    /// `{url}/__emulator{path}` on the login origin, without a session.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}/__emulator{path}", self.creds.url))
    }

    /// Creates a record and returns its id.
    pub fn create(&self, object: &str, fields: Value) -> String {
        let response = self.post(&format!("/sobjects/{object}"), fields);
        let status = response.status();
        let body: Value = response.json().expect("create JSON");
        assert_eq!(status, 201, "create {object}: {body}");
        body["id"].as_str().expect("id").to_string()
    }
}

/// The refresh-token grant with the form-encoded client id and secret.
pub fn refresh(http: &Client, creds: &Credentials) -> Value {
    let response = http
        .post(format!("{}/services/oauth2/token", creds.url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", creds.refresh_token.as_str()),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.as_str()),
        ])
        .send()
        .expect("token request");
    assert_eq!(response.status(), 200);
    response.json().expect("token JSON")
}

/// Status and JSON body of a response.
pub fn status_json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or_else(|_| json!(text)) };
    (status, body)
}

/// The error codes of a Salesforce error array.
pub fn error_codes(body: &Value) -> Vec<String> {
    body.as_array()
        .map(|errors| errors.iter().filter_map(|e| e["errorCode"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}
