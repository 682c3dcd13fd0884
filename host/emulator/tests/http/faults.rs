use std::time::{Duration, Instant};

use casebridge_emulator::{Fault, FaultTarget};
use serde_json::{Value, json};

use crate::support::{Org, error_codes, status_json};

#[test]
fn injected_errors_fail_the_next_calls_without_counting_them() {
    let org = Org::demo();
    org.emulator.inject(Fault::error(503).times(2));
    let (status, body) = status_json(org.get("/limits"));
    assert_eq!((status, error_codes(&body)), (503, vec!["SERVER_UNAVAILABLE".to_string()]));
    assert_eq!(org.get("/limits").status(), 503);
    assert_eq!(org.get("/limits").status(), 200);

    org.emulator.inject(Fault::error(500));
    let (status, body) = status_json(org.get("/limits"));
    assert_eq!((status, error_codes(&body)), (500, vec!["UNKNOWN_EXCEPTION".to_string()]));

    let counters = org.emulator.counters();
    assert_eq!(counters.total, 1);
    assert_eq!(counters.faults_injected, 3);
}

#[test]
fn token_endpoint_faults_leave_api_calls_alone() {
    let org = Org::demo();
    org.emulator.inject(Fault::error(500).on(FaultTarget::Token));
    assert_eq!(org.get("/limits").status(), 200);
    let response = org
        .http
        .post(format!("{}/services/oauth2/token", org.creds.url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", org.creds.refresh_token.as_str()),
            ("client_id", org.creds.client_id.as_str()),
            ("client_secret", org.creds.client_secret.as_str()),
        ])
        .send()
        .unwrap();
    assert_eq!(
        status_json(response),
        (500, json!({"error": "unknown_error", "error_description": "retry your request"}))
    );
}

#[test]
fn latency_delays_calls() {
    let org = Org::demo();
    org.emulator.inject(Fault::latency(Duration::from_millis(300)).times(2));
    for _ in 0..2 {
        let started = Instant::now();
        assert_eq!(org.get("/limits").status(), 200);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
    let started = Instant::now();
    org.get("/limits");
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[test]
fn dropped_connections_give_no_response_and_drop_response_still_writes() {
    let org = Org::demo();
    org.emulator.inject(Fault::drop_request());
    let lost = org.request(reqwest::Method::POST, "/sobjects/Account").json(&json!({"Name": "Never Written"})).send();
    assert!(lost.is_err(), "the connection closes without an answer");
    assert_eq!(org.query("SELECT Id FROM Account WHERE Name = 'Never Written'")["totalSize"], 0);

    org.emulator.inject(Fault::drop_response());
    let lost = org.request(reqwest::Method::POST, "/sobjects/Account").json(&json!({"Name": "Written Anyway"})).send();
    assert!(lost.is_err(), "the connection closes without an answer");
    assert_eq!(org.query("SELECT Id FROM Account WHERE Name = 'Written Anyway'")["totalSize"], 1, "the write happened");
    assert_eq!(org.emulator.counters().get("POST /sobjects/Account"), 1);
}

#[test]
fn malformed_json_is_a_truncated_200() {
    let org = Org::demo();
    org.emulator.inject(Fault::malformed_json());
    let response = org.get("/limits");
    assert_eq!(response.status(), 200);
    let text = response.text().unwrap();
    assert!(!text.is_empty());
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    assert_eq!(org.get("/limits").status(), 200);
}

#[test]
fn expired_sessions_answer_401_until_refreshed() {
    let org = Org::demo();
    org.emulator.expire_sessions();
    assert_eq!(
        status_json(org.get("/limits")),
        (401, json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]))
    );
}

#[test]
fn a_write_completes_after_its_client_gives_up() {
    let org = Org::demo();
    let latency = Duration::from_secs(2);
    org.emulator.inject(Fault::latency(latency));
    let impatient = reqwest::blocking::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let started = Instant::now();
    let gave_up = impatient
        .post(org.api("/sobjects/Case"))
        .bearer_auth(&org.token)
        .json(&json!({"Subject": "Written after the client left"}))
        .send();
    assert!(gave_up.is_err(), "the client times out first");
    let written = || {
        org.emulator.with_database(|db| {
            let ctx = casebridge_emulator::db::QueryContext {
                now: chrono::Utc::now(),
                api_version: "59.0".into(),
                user_id: String::new(),
            };
            db.query("SELECT Id FROM Case WHERE Subject = 'Written after the client left'", false, &ctx)
                .unwrap()
                .total_size
        })
    };
    assert_eq!(written(), 0, "not before the latency has passed");
    while written() == 0 && started.elapsed() < latency + Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(written(), 1, "Salesforce carries out a request whose client is gone");
    assert!(started.elapsed() >= latency);
    assert_eq!(org.emulator.counters().get("POST /sobjects/Case"), 1);
    assert_eq!(org.emulator.counters().total, 1);
}
