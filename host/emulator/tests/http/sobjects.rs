use chrono::{Duration, Utc};
use serde_json::json;

use crate::support::{Org, error_codes, status_json};

#[test]
fn describe_global_object_info_and_describe_have_salesforce_shape() {
    let org = Org::demo();
    let (status, global) = status_json(org.get("/sobjects"));
    assert_eq!(status, 200);
    assert_eq!(global["maxBatchSize"], 200);
    assert!(global["sobjects"].as_array().unwrap().iter().any(|o| o["name"] == "Case" && o["keyPrefix"] == "500"));

    let (status, info) = status_json(org.get("/sobjects/case"));
    assert_eq!(status, 200);
    assert_eq!(info["objectDescribe"]["name"], "Case");
    assert_eq!(info["recentItems"], json!([]));

    let (status, describe) = status_json(org.get("/sobjects/Case/describe"));
    assert_eq!(status, 200);
    for key in [
        "name",
        "label",
        "labelPlural",
        "keyPrefix",
        "fields",
        "childRelationships",
        "recordTypeInfos",
        "urls",
        "createable",
    ] {
        assert!(describe.get(key).is_some(), "describe has {key}");
    }
    let status_field = describe["fields"].as_array().unwrap().iter().find(|f| f["name"] == "Status").unwrap();
    assert_eq!(status_field["type"], "picklist");
    assert!(status_field["picklistValues"].as_array().unwrap().iter().any(|v| v["value"] == "Closed"));

    let (status, body) = status_json(org.get("/sobjects/Nope__c/describe"));
    assert_eq!((status, error_codes(&body)), (404, vec!["NOT_FOUND".to_string()]));
}

#[test]
fn records_are_created_read_updated_and_deleted_by_15_and_18_character_ids() {
    let org = Org::demo();
    let contact = org.emulator.seeded().contact_ids[0].clone();
    let response = org
        .request(reqwest::Method::POST, "/sobjects/Case")
        .header("Sforce-Auto-Assign", "FALSE")
        .json(&json!({"Subject": "Printer on fire", "Origin": "Web", "ContactId": contact}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
    let (_, created) = status_json(response);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created, json!({"id": id, "success": true, "errors": []}));
    assert_eq!(id.len(), 18);

    let id15 = &id[..15];
    let (status, case) = status_json(org.get(&format!("/sobjects/Case/{id15}")));
    assert_eq!(status, 200);
    assert_eq!(case["Id"], json!(id));
    assert_eq!(case["Status"], "New");
    assert_eq!(case["CreatedById"], json!(org.emulator.seeded().integration_user_id));

    let (status, some) = status_json(org.get(&format!("/sobjects/Case/{id}?fields=Subject,Priority")));
    assert_eq!(status, 200);
    let keys: Vec<&String> = some.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "attributes and the two fields: {some}");

    let response = org.patch(&format!("/sobjects/Case/{id15}"), json!({"Status": "Working"}));
    assert_eq!(response.status(), 204);
    assert_eq!(response.text().unwrap(), "");
    assert_eq!(status_json(org.get(&format!("/sobjects/Case/{id}"))).1["Status"], "Working");

    let response = org.delete(&format!("/sobjects/Case/{id}"));
    assert_eq!(response.status(), 204);
    let (status, body) = status_json(org.get(&format!("/sobjects/Case/{id}")));
    assert_eq!((status, error_codes(&body)), (404, vec!["ENTITY_IS_DELETED".to_string()]));
}

#[test]
fn write_errors_are_salesforce_error_arrays() {
    let org = Org::demo();
    let (status, body) = status_json(org.post("/sobjects/Contact", json!({"FirstName": "No last name"})));
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!([{"errorCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]", "fields": ["LastName"]}])
    );

    let (status, body) = status_json(org.post("/sobjects/Contact", json!({"LastName": "X", "Shoe__c": 42})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_FIELD".to_string()]));

    let response = org
        .request(reqwest::Method::POST, "/sobjects/Contact")
        .header("Content-Type", "application/json")
        .body("{\"LastName\": ")
        .send()
        .unwrap();
    let (status, body) = status_json(response);
    assert_eq!((status, error_codes(&body)), (400, vec!["JSON_PARSER_ERROR".to_string()]), "{body}");

    let case = org.emulator.seeded().agent_case_ids[0].clone();
    let (status, body) = status_json(
        org.request(reqwest::Method::PUT, &format!("/sobjects/Case/{case}")).json(&json!({})).send().unwrap(),
    );
    assert_eq!(status, 405);
    assert_eq!(
        body,
        json!([{"errorCode": "METHOD_NOT_ALLOWED", "message": "HTTP Method 'PUT' not allowed. Allowed are HEAD,GET,PATCH,DELETE"}])
    );

    let (status, body) = status_json(org.get("/sobjects/Case/500000000000000AAA"));
    assert_eq!((status, error_codes(&body)), (404, vec!["NOT_FOUND".to_string()]));
    let (status, body) = status_json(org.get("/no/such/resource"));
    assert_eq!(
        (status, body),
        (404, json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]))
    );
}

#[test]
fn updated_and_deleted_list_changes_in_the_window() {
    let org = Org::demo();
    // The seed's own writes are a few minutes older than the window.
    org.emulator.advance_clock(std::time::Duration::from_secs(180));
    let start = org.emulator.now();
    let case = org.emulator.seeded().agent_case_ids[1].clone();
    assert_eq!(org.patch(&format!("/sobjects/Case/{case}"), json!({"Priority": "High"})).status(), 204);
    let doomed = org.create("Case", json!({"Subject": "Duplicate"}));
    assert_eq!(org.delete(&format!("/sobjects/Case/{doomed}")).status(), 204);
    // getUpdated covers whole minutes up to now: let the minute of the changes pass.
    org.emulator.advance_clock(std::time::Duration::from_secs(120));
    let end = org.emulator.now();
    let window = [("start", start.to_rfc3339()), ("end", end.to_rfc3339())];

    let (status, updated) =
        status_json(org.request(reqwest::Method::GET, "/sobjects/Case/updated/").query(&window).send().unwrap());
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["ids"], json!([case]));
    assert!(updated["latestDateCovered"].as_str().unwrap().ends_with("+0000"));

    let (status, deleted) =
        status_json(org.request(reqwest::Method::GET, "/sobjects/Case/deleted/").query(&window).send().unwrap());
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["deletedRecords"][0]["id"], json!(doomed));
    assert!(deleted.get("earliestDateAvailable").is_some());

    let (status, body) = status_json(org.get("/sobjects/Case/updated/"));
    assert_eq!(status, 400, "{body}");
}

#[test]
fn files_are_served_as_raw_bytes() {
    let org = Org::demo();
    let seeded = org.emulator.seeded().clone();
    let version = seeded.screenshot_content_version_id.unwrap();
    let response = org.get(&format!("/sobjects/ContentVersion/{version}/VersionData"));
    assert_eq!(response.status(), 200);
    let png = response.bytes().unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));

    let attachment = seeded.attachment_id.unwrap();
    let response = org.get(&format!("/sobjects/Attachment/{attachment}/Body"));
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert!(response.text().unwrap().contains("NSRangeException"));

    // The rich-text post points at the document that holds the screenshot.
    let case = seeded.screenshot_case_id.unwrap();
    let feed = org.query(&format!("SELECT Body, IsRichText FROM FeedItem WHERE ParentId = '{case}'"));
    let document = seeded.screenshot_content_document_id.unwrap();
    assert!(feed["records"][0]["Body"].as_str().unwrap().contains(&format!("sfdc://{document}")));
    let links =
        org.query(&format!("SELECT LinkedEntityId FROM ContentDocumentLink WHERE ContentDocumentId = '{document}'"));
    assert!(links["records"].as_array().unwrap().iter().any(|l| l["LinkedEntityId"] == json!(case)));
}

#[test]
fn a_minted_session_writes_as_another_user() {
    let org = Org::demo();
    let seeded = org.emulator.seeded().clone();
    let token = org.emulator.access_token_for(seeded.customer_username.as_deref().unwrap()).unwrap();
    let case = seeded.chatter_case_id.unwrap();
    let post = org.query(&format!("SELECT Id FROM FeedItem WHERE ParentId = '{case}'"))["records"][0]["Id"].clone();
    let response = org
        .http
        .post(org.api("/sobjects/FeedComment"))
        .bearer_auth(token)
        .json(&json!({"FeedItemId": post, "CommentBody": "Any update?"}))
        .send()
        .unwrap();
    let (status, created) = status_json(response);
    assert_eq!(status, 201, "{created}");
    let (_, comment) = status_json(org.get(&format!("/sobjects/FeedComment/{}", created["id"].as_str().unwrap())));
    assert_eq!(comment["CreatedById"], json!(seeded.customer_user_id.unwrap()));
    assert!(
        Utc::now() - Duration::minutes(1)
            < chrono::DateTime::parse_from_str(comment["CreatedDate"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.3f%z")
                .unwrap()
    );
}

#[test]
fn concurrent_clients_are_all_served() {
    let org = Org::demo();
    std::thread::scope(|scope| {
        for client in 0..8 {
            let org = &org;
            scope.spawn(move || {
                for i in 0..20 {
                    org.create("Account", json!({"Name": format!("Concurrent {client}-{i}")}));
                    assert_eq!(org.get("/limits").status(), 200);
                }
            });
        }
    });
    assert_eq!(org.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Concurrent %'")["totalSize"], 160);
    assert_eq!(org.emulator.counters().get("POST /sobjects/Account"), 160);
}
