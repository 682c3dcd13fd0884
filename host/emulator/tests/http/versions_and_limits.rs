use casebridge_emulator::{EmulatorOptions, Seed};
use serde_json::json;

use crate::support::{Org, status_json};

#[test]
fn versions_are_listed_without_a_session_and_unknown_versions_are_not_found() {
    let org = Org::with(EmulatorOptions { seed: Seed::Empty, ..Default::default() });
    let (status, versions) =
        status_json(org.http.get(format!("{}/services/data/", org.creds.instance_url)).send().unwrap());
    assert_eq!(status, 200);
    let versions = versions.as_array().unwrap();
    for v in 50..=62 {
        let version = format!("{v}.0");
        let entry =
            versions.iter().find(|e| e["version"] == json!(version)).unwrap_or_else(|| panic!("{version} listed"));
        assert_eq!(entry["url"], json!(format!("/services/data/v{version}")));
    }
    assert!(
        versions.iter().any(|e| e == &json!({"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"}))
    );

    let unknown = org
        .http
        .get(format!("{}/services/data/v12.0/limits", org.creds.instance_url))
        .bearer_auth(&org.token)
        .send()
        .unwrap();
    assert_eq!(
        status_json(unknown),
        (404, json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]))
    );

    let wrong_method = org.http.delete(format!("{}/services/data/", org.creds.instance_url)).send().unwrap();
    let (status, body) = status_json(wrong_method);
    assert_eq!((status, body[0]["errorCode"].clone()), (405, json!("METHOD_NOT_ALLOWED")));

    let (status, resources) = status_json(org.get("/"));
    assert_eq!(status, 200);
    assert_eq!(resources["query"], "/services/data/v59.0/query");
    assert_eq!(resources["sobjects"], "/services/data/v59.0/sobjects");
}

#[test]
fn every_api_response_carries_the_limit_header_and_limits_reports_the_allowance() {
    let org = Org::with(EmulatorOptions { daily_api_limit: 5000, ..Default::default() });
    let first = org.get("/limits");
    assert_eq!(first.headers()["sforce-limit-info"], "api-usage=1/5000");
    let (_, limits) = status_json(first);
    assert_eq!(limits["DailyApiRequests"], json!({"Max": 5000, "Remaining": 4999}));
    // Errors carry it too.
    let not_found = org.get("/sobjects/Case/500000000000000");
    assert_eq!(not_found.headers()["sforce-limit-info"], "api-usage=2/5000");
}

#[test]
fn calls_past_the_daily_allowance_get_request_limit_exceeded() {
    let org = Org::with(EmulatorOptions { daily_api_limit: 3, seed: Seed::Empty, ..Default::default() });
    for _ in 0..3 {
        assert_eq!(org.get("/limits").status(), 200);
    }
    let refused = org.get("/limits");
    assert_eq!(refused.headers()["sforce-limit-info"], "api-usage=3/3");
    assert_eq!(
        status_json(refused),
        (403, json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]))
    );
    assert_eq!(org.emulator.counters().total, 3, "refused calls are not counted");

    // A day later the allowance is back (with a new session: the old one expired meanwhile).
    org.emulator.advance_clock(std::time::Duration::from_secs(24 * 3600));
    let token = crate::support::refresh(&org.http, &org.creds)["access_token"].as_str().unwrap().to_string();
    let again = org.http.get(org.api("/limits")).bearer_auth(token).send().unwrap();
    assert_eq!(again.headers()["sforce-limit-info"], "api-usage=1/3");
}

#[test]
fn calls_are_counted_by_endpoint() {
    let org = Org::demo();
    org.query("SELECT Id FROM Case");
    org.query("SELECT Id FROM Contact");
    org.get("/sobjects/Case/describe");
    let case = org.emulator.seeded().agent_case_ids[0].clone();
    assert_eq!(org.patch(&format!("/sobjects/Case/{case}"), json!({"Priority": "Low"})).status(), 204);
    let counters = org.emulator.counters();
    assert_eq!(counters.get("GET /query"), 2);
    assert_eq!(counters.get("GET /sobjects/Case/describe"), 1);
    assert_eq!(counters.get("PATCH /sobjects/Case"), 1);
    assert_eq!(counters.total, 4);
    assert_eq!(org.emulator.api_usage().used, 4);
}

/// The `Date` header of a response, parsed.
fn date_of(response: &reqwest::blocking::Response) -> chrono::DateTime<chrono::FixedOffset> {
    assert_eq!(response.headers().get_all("date").iter().count(), 1, "hyper adds no second Date");
    let date = response.headers()["date"].to_str().unwrap().to_string();
    // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`, always 29 characters.
    assert!(date.len() == 29 && date.ends_with(" GMT"), "{date}");
    chrono::DateTime::parse_from_rfc2822(&date).unwrap_or_else(|e| panic!("{date}: {e}"))
}

#[test]
fn every_response_carries_a_date_header_that_follows_the_emulator_clock() {
    let org = Org::demo();
    let before = date_of(&org.get("/limits"));
    assert!((before.to_utc() - org.emulator.now()).num_seconds().abs() <= 2);

    org.emulator.advance_clock(std::time::Duration::from_secs(3 * 24 * 3600));
    let api = org.get("/limits");
    let admin = org.admin(reqwest::Method::GET, "/clock").send().unwrap();
    let not_found = org.http.get(format!("{}/nowhere", org.creds.url)).send().unwrap();
    for response in [&api, &admin, &not_found] {
        let moved = date_of(response) - before;
        assert!(moved >= chrono::Duration::days(3) && moved < chrono::Duration::days(3) + chrono::Duration::minutes(1));
    }
}
