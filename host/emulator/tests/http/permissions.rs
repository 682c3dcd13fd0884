//! Object permissions per user: what describe shows the session's user,
//! and what writes and reads the org refuses them.

use casebridge_emulator::{EmulatorOptions, Seed};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Org, error_codes, status_json};

fn empty_org() -> Org {
    Org::with(EmulatorOptions { seed: Seed::Empty, ..Default::default() })
}

fn set_permissions(org: &Org, body: Value) -> (u16, Value) {
    status_json(org.admin(Method::POST, "/permissions").json(&body).send().unwrap())
}

/// An access token for a new standard user.
fn agent_token(org: &Org) -> String {
    let user = json!({"username": "agent@acme.example", "email": "agent@acme.example", "last_name": "Agent"});
    assert_eq!(org.admin(Method::POST, "/users").json(&user).send().unwrap().status(), 201);
    let (status, session) = status_json(
        org.admin(Method::POST, "/sessions").json(&json!({"username": "agent@acme.example"})).send().unwrap(),
    );
    assert_eq!(status, 200, "{session}");
    session["access_token"].as_str().unwrap().to_string()
}

fn as_user(org: &Org, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = org.http.request(method, org.api(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    status_json(request.send().unwrap())
}

#[test]
fn describe_shows_the_session_users_permissions() {
    let org = empty_org();
    let token = agent_token(&org);
    let (status, set) = set_permissions(
        &org,
        json!({"username": "agent@acme.example", "object": "Case", "create": false, "edit": true, "read": true, "delete": true}),
    );
    assert_eq!(status, 200, "{set}");
    assert_eq!(
        (set["create"].clone(), set["edit"].clone(), set["delete"].clone()),
        (json!(false), json!(true), json!(true))
    );

    let (_, describe) = as_user(&org, &token, Method::GET, "/sobjects/Case/describe", None);
    assert_eq!((describe["createable"].clone(), describe["updateable"].clone()), (json!(false), json!(true)));
    assert_eq!((describe["deletable"].clone(), describe["queryable"].clone()), (json!(true), json!(true)));
    let subject = describe["fields"].as_array().unwrap().iter().find(|f| f["name"] == "Subject").unwrap();
    assert_eq!((subject["createable"].clone(), subject["updateable"].clone()), (json!(false), json!(true)));
    let (_, global) = as_user(&org, &token, Method::GET, "/sobjects", None);
    let case = global["sobjects"].as_array().unwrap().iter().find(|o| o["name"] == "Case").unwrap();
    assert_eq!(case["createable"], false);

    // The integration user still sees everything.
    let (_, describe) = status_json(org.get("/sobjects/Case/describe"));
    assert_eq!(describe["createable"], true);
    let subject = describe["fields"].as_array().unwrap().iter().find(|f| f["name"] == "Subject").unwrap();
    assert_eq!(subject["createable"], true);
}

#[test]
fn writes_without_the_permission_are_refused() {
    let org = empty_org();
    let token = agent_token(&org);
    let case = org.create("Case", json!({"Subject": "Existing"}));
    set_permissions(
        &org,
        json!({"username": "agent@acme.example", "object": "Case", "create": false, "delete": false}),
    );

    let (status, body) = as_user(&org, &token, Method::POST, "/sobjects/Case", Some(json!({"Subject": "New"})));
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!([{"errorCode": "INSUFFICIENT_ACCESS_OR_READONLY", "message": "insufficient access rights on object id"}])
    );
    let (status, _) =
        as_user(&org, &token, Method::PATCH, &format!("/sobjects/Case/{case}"), Some(json!({"Subject": "Edited"})));
    assert_eq!(status, 204, "edit is still allowed");
    let (status, body) = as_user(&org, &token, Method::DELETE, &format!("/sobjects/Case/{case}"), None);
    assert_eq!((status, error_codes(&body)), (400, vec!["INSUFFICIENT_ACCESS_OR_READONLY".to_string()]));

    // Composite subrequests and collections are refused the same way.
    let (_, body) = as_user(
        &org,
        &token,
        Method::POST,
        "/composite",
        Some(
            json!({"compositeRequest": [{"method": "POST", "referenceId": "c", "url": "/services/data/v59.0/sobjects/Case", "body": {"Subject": "x"}}]}),
        ),
    );
    assert_eq!(body["compositeResponse"][0]["httpStatusCode"], 400);
    assert_eq!(error_codes(&body["compositeResponse"][0]["body"]), ["INSUFFICIENT_ACCESS_OR_READONLY"]);
    let (_, results) = as_user(
        &org,
        &token,
        Method::POST,
        "/composite/sobjects",
        Some(json!({"records": [{"attributes": {"type": "Case"}, "Subject": "x"}]})),
    );
    assert_eq!(results[0]["errors"][0]["statusCode"], "INSUFFICIENT_ACCESS_OR_READONLY");

    // No Edit: updates refused; the integration user (default) is unaffected.
    set_permissions(&org, json!({"username": "agent@acme.example", "object": "Case", "edit": false}));
    let (status, body) =
        as_user(&org, &token, Method::PATCH, &format!("/sobjects/Case/{case}"), Some(json!({"Subject": "Again"})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INSUFFICIENT_ACCESS_OR_READONLY".to_string()]));
    assert_eq!(org.patch(&format!("/sobjects/Case/{case}"), json!({"Subject": "Admin edit"})).status(), 204);
    // Without a username the integration user's permissions change.
    let (status, set) = set_permissions(&org, json!({"object": "Account", "create": false}));
    assert_eq!(status, 200);
    assert_eq!(set["user_id"], json!(org.emulator.seeded().integration_user_id));
    let (status, body) = status_json(org.post("/sobjects/Account", json!({"Name": "x"})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INSUFFICIENT_ACCESS_OR_READONLY".to_string()]));
}

#[test]
fn an_object_without_read_does_not_exist_for_the_user() {
    let org = empty_org();
    let token = agent_token(&org);
    let case = org.create("Case", json!({"Subject": "Hidden"}));
    let contact = org.create("Contact", json!({"LastName": "Lee"}));
    let (_, set) = set_permissions(&org, json!({"username": "agent@acme.example", "object": "Case", "read": false}));
    assert_eq!(
        (set["create"].clone(), set["edit"].clone(), set["delete"].clone()),
        (json!(false), json!(false), json!(false))
    );

    let not_found = json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist: sObject type 'Case' is not supported."}]);
    assert_eq!(as_user(&org, &token, Method::GET, "/sobjects/Case/describe", None), (404, not_found.clone()));
    assert_eq!(as_user(&org, &token, Method::GET, &format!("/sobjects/Case/{case}"), None), (404, not_found.clone()));
    assert_eq!(
        as_user(&org, &token, Method::POST, "/sobjects/Case", Some(json!({"Subject": "x"}))),
        (404, not_found.clone())
    );
    let (_, global) = as_user(&org, &token, Method::GET, "/sobjects", None);
    assert!(global["sobjects"].as_array().unwrap().iter().all(|o| o["name"] != "Case"));

    let query =
        |q: &str| status_json(org.http.get(org.api("/query")).bearer_auth(&token).query(&[("q", q)]).send().unwrap());
    let (status, body) = query("SELECT Id FROM Case");
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_TYPE".to_string()]));
    let (status, body) = query(&format!("SELECT Id, (SELECT Id FROM Cases) FROM Contact WHERE Id = '{contact}'"));
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_TYPE".to_string()]));
    let (status, body) = query("SELECT Id FROM Contact");
    assert_eq!((status, body["totalSize"].clone()), (200, json!(1)));
    let (status, body) = status_json(
        org.http
            .get(org.api("/search"))
            .bearer_auth(&token)
            .query(&[("q", "FIND {Hidden} RETURNING Case(Subject)")])
            .send()
            .unwrap(),
    );
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_TYPE".to_string()]));
    // The integration user still reads them.
    assert_eq!(org.query("SELECT Id FROM Case")["totalSize"], 1);
    assert_eq!(set_permissions(&org, json!({"username": "nobody@acme.example", "object": "Case"})).0, 400);
    assert_eq!(set_permissions(&org, json!({"object": "Nope"})).0, 400);
}
