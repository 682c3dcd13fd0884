use casebridge_emulator::Credentials;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Org, error_codes, status_json};

#[test]
fn faults_are_queued_listed_and_cleared_over_http() {
    let org = Org::demo();
    let (status, queued) = status_json(
        org.admin(Method::POST, "/faults").json(&json!({"kind": "error", "status": 503, "times": 2})).send().unwrap(),
    );
    assert_eq!(status, 201);
    assert_eq!(queued, json!({"kind": "error", "status": 503, "times": 2, "target": "api"}));
    let (_, list) = status_json(org.admin(Method::GET, "/faults").send().unwrap());
    assert_eq!(list["faults"].as_array().unwrap().len(), 1);
    assert_eq!(org.get("/limits").status(), 503);
    assert_eq!(org.admin(Method::DELETE, "/faults").send().unwrap().status(), 204);
    assert_eq!(org.get("/limits").status(), 200);

    let (status, body) =
        status_json(org.admin(Method::POST, "/faults").json(&json!({"kind": "gremlins"})).send().unwrap());
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("unknown fault kind"));

    for kind in ["latency", "drop_request", "drop_response", "malformed_json"] {
        let mut fault = json!({"kind": kind, "target": "token"});
        if kind == "latency" {
            fault["millis"] = json!(10);
            fault["times"] = json!("always");
        }
        assert_eq!(org.admin(Method::POST, "/faults").json(&fault).send().unwrap().status(), 201, "{kind}");
    }
    assert_eq!(status_json(org.admin(Method::GET, "/faults").send().unwrap()).1["faults"].as_array().unwrap().len(), 4);
}

#[test]
fn counters_are_read_and_reset_over_http_and_admin_calls_are_not_counted() {
    let org = Org::demo();
    org.query("SELECT Id FROM Case");
    let (status, counters) = status_json(org.admin(Method::GET, "/counters").send().unwrap());
    assert_eq!(status, 200);
    assert_eq!(counters["total"], 1);
    assert_eq!(counters["by_endpoint"]["GET /query"], 1);
    assert_eq!(counters["token_requests"], 1);
    let (_, reset) = status_json(org.admin(Method::POST, "/counters/reset").send().unwrap());
    assert_eq!(reset["total"], 0);
    assert_eq!(org.emulator.counters().total, 0);
}

#[test]
fn sessions_are_minted_for_any_user_and_expired_over_http() {
    let org = Org::demo();
    let username = org.emulator.seeded().customer_username.clone().unwrap();
    let (status, minted) =
        status_json(org.admin(Method::POST, "/sessions").json(&json!({"username": username})).send().unwrap());
    assert_eq!(status, 200, "{minted}");
    assert!(minted["id"].as_str().unwrap().ends_with(org.emulator.seeded().customer_user_id.as_deref().unwrap()));
    let token = minted["access_token"].as_str().unwrap();
    assert_eq!(org.http.get(org.api("/limits")).bearer_auth(token).send().unwrap().status(), 200);

    let (status, _) = status_json(
        org.admin(Method::POST, "/sessions")
            .json(&json!({"username": "ola.nordmann@casebridge.example"}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 400, "inactive users cannot log in");

    assert_eq!(org.admin(Method::POST, "/sessions/expire").send().unwrap().status(), 204);
    assert_eq!(org.http.get(org.api("/limits")).bearer_auth(token).send().unwrap().status(), 401);
    assert_eq!(org.get("/limits").status(), 401);
}

#[test]
fn limits_and_the_clock_are_set_over_http() {
    let org = Org::demo();
    let (status, usage) =
        status_json(org.admin(Method::PUT, "/limits").json(&json!({"used": 99, "max": 100})).send().unwrap());
    assert_eq!((status, usage), (200, json!({"used": 99, "max": 100})));
    assert_eq!(org.get("/limits").headers()["sforce-limit-info"], "api-usage=100/100");
    let (status, body) = status_json(org.get("/limits"));
    assert_eq!((status, error_codes(&body)), (403, vec!["REQUEST_LIMIT_EXCEEDED".to_string()]));

    let (_, before) = status_json(org.admin(Method::GET, "/clock").send().unwrap());
    let (status, after) =
        status_json(org.admin(Method::POST, "/clock/advance").json(&json!({"seconds": 7200})).send().unwrap());
    assert_eq!(status, 200);
    let parse =
        |v: &Value| chrono::DateTime::parse_from_str(v["now"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.3f%z").unwrap();
    assert!(parse(&after) - parse(&before) >= chrono::Duration::hours(2));
    // Records written now carry the emulator clock.
    org.emulator.set_api_usage(Some(0), Some(1000));
    let fresh = crate::support::refresh(&org.http, &org.creds)["access_token"].as_str().unwrap().to_string();
    let created = org
        .http
        .post(org.api("/sobjects/Account"))
        .bearer_auth(&fresh)
        .json(&json!({"Name": "Future Inc"}))
        .send()
        .unwrap();
    let id = status_json(created).1["id"].as_str().unwrap().to_string();
    let record =
        status_json(org.http.get(org.api(&format!("/sobjects/Account/{id}"))).bearer_auth(&fresh).send().unwrap()).1;
    let created_date =
        chrono::DateTime::parse_from_str(record["CreatedDate"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.3f%z").unwrap();
    assert!(created_date - parse(&before) >= chrono::Duration::hours(2));
}

#[test]
fn custom_fields_added_over_http_are_described_and_writable() {
    let org = Org::demo();
    let field = json!({"object": "Case", "name": "Region__c", "type": "picklist", "label": "Region", "values": ["EMEA", "AMER"], "restricted": true});
    assert_eq!(org.admin(Method::POST, "/fields").json(&field).send().unwrap().status(), 201);
    let (_, describe) = status_json(org.get("/sobjects/Case/describe"));
    let region = describe["fields"].as_array().unwrap().iter().find(|f| f["name"] == "Region__c").cloned().unwrap();
    assert_eq!(region["custom"], true);
    assert_eq!(region["restrictedPicklist"], true);
    let case = org.emulator.seeded().agent_case_ids[0].clone();
    assert_eq!(org.patch(&format!("/sobjects/Case/{case}"), json!({"Region__c": "EMEA"})).status(), 204);
    let (status, body) = status_json(org.patch(&format!("/sobjects/Case/{case}"), json!({"Region__c": "Mars"})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST".to_string()]));
    let (status, _) = status_json(
        org.admin(Method::POST, "/fields")
            .json(&json!({"object": "Case", "name": "Bad", "type": "string"}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 400);
}

#[test]
fn the_cli_line_is_one_json_object_with_the_credentials() {
    let org = Org::demo();
    let line = org.creds.to_json_line();
    assert!(!line.contains('\n'));
    let parsed: Value = serde_json::from_str(&line).unwrap();
    let keys: Vec<&String> = parsed.as_object().unwrap().keys().collect();
    for key in ["url", "instance_url", "client_id", "client_secret", "refresh_token", "username", "password"] {
        assert!(keys.iter().any(|k| *k == key), "{key} in {line}");
    }
    let back: Credentials = serde_json::from_str(&line).unwrap();
    assert_eq!(back, org.creds);
    let (_, over_http) = status_json(org.admin(Method::GET, "/credentials").send().unwrap());
    assert_eq!(over_http, parsed);
    let (_, seed) = status_json(org.admin(Method::GET, "/seed").send().unwrap());
    assert_eq!(seed["agent_user_id"], json!(org.emulator.seeded().agent_user_id));
}

#[test]
fn bulk_seeding_over_http_adds_cases_without_counting_calls() {
    let org = Org::demo();
    let (status, made) = status_json(
        org.admin(Method::POST, "/bulk")
            .json(&json!({"cases": 120, "messages_per_case": 4, "customer_last_every": 3, "closed_every": 40}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["case_ids"].as_array().unwrap().len(), 120);
    assert_eq!(made["customer_last_case_ids"].as_array().unwrap().len(), 40);
    assert_eq!(made["closed_case_ids"].as_array().unwrap().len(), 3);
    assert_eq!((made["feed_items"].as_u64(), made["case_comments"].as_u64()), (Some(240), Some(240)));
    assert_eq!(org.emulator.counters().total, 0, "admin calls are not API calls");

    let agent = org.emulator.seeded().agent_user_id.clone().unwrap();
    let first = made["case_ids"][0].as_str().unwrap();
    let case = org.query(&format!(
        "SELECT OwnerId, Origin, FinInvolved__c, (SELECT Id FROM CaseComments) FROM Case WHERE Id = '{first}'"
    ));
    assert_eq!(case["records"][0]["OwnerId"], json!(agent));
    assert_eq!(case["records"][0]["FinInvolved__c"], true);
    assert_eq!(case["records"][0]["CaseComments"]["totalSize"], 2);
    // On the instance origin too.
    let at_instance =
        org.http.post(format!("{}/__emulator/bulk", org.creds.instance_url)).json(&json!({"cases": 1})).send().unwrap();
    assert_eq!(at_instance.status(), 201);

    let (status, body) = status_json(org.admin(Method::POST, "/bulk").json(&json!({"case": 5})).send().unwrap());
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("unknown field `case`"), "{body}");
    let (status, body) =
        status_json(org.admin(Method::POST, "/bulk").json(&json!({"owner_id": "005000000000000"})).send().unwrap());
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("INVALID_CROSS_REFERENCE_KEY"), "{body}");
}
