use serde_json::{Value, json};

use crate::support::{Org, error_codes, status_json};

#[test]
fn composite_resolves_references_and_counts_as_one_call() {
    let org = Org::demo();
    let agent = org.emulator.seeded().agent_user_id.clone().unwrap();
    let before = org.emulator.counters().total;
    let (status, body) = status_json(org.post(
        "/composite",
        json!({
            "allOrNone": true,
            "compositeRequest": [
                {"method": "GET", "referenceId": "Cases",
                 "url": format!("/services/data/v59.0/query?q=SELECT+Id,+Subject+FROM+Case+WHERE+OwnerId+=+'{agent}'+ORDER+BY+CreatedDate")},
                {"method": "POST", "referenceId": "Reply", "url": "/services/data/v59.0/sobjects/CaseComment",
                 "body": {"ParentId": "@{Cases.records[0].Id}", "CommentBody": "Re: @{Cases.records[0].Subject}", "IsPublished": true}},
                {"method": "PATCH", "referenceId": "Flag", "url": "/services/data/v59.0/sobjects/Case/@{Cases.records[0].Id}",
                 "body": {"FinInvolved__c": true, "FinResolutionState__c": "Soft Resolution"}},
                {"method": "GET", "referenceId": "Check", "url": "/services/data/v59.0/sobjects/CaseComment/@{Reply.id}?fields=ParentId,CommentBody"},
            ]
        }),
    ));
    assert_eq!(status, 200, "{body}");
    let results = body["compositeResponse"].as_array().unwrap();
    let codes: Vec<&Value> = results.iter().map(|r| &r["httpStatusCode"]).collect();
    assert_eq!(codes, [&json!(200), &json!(201), &json!(204), &json!(200)], "{body}");
    assert_eq!(results[1]["referenceId"], "Reply");
    assert!(
        results[1]["httpHeaders"]["Location"]
            .as_str()
            .unwrap()
            .starts_with("/services/data/v59.0/sobjects/CaseComment/00a")
    );
    assert_eq!(results[2]["body"], Value::Null);
    let first_case = &results[0]["body"]["records"][0];
    assert_eq!(results[3]["body"]["ParentId"], first_case["Id"]);
    assert_eq!(results[3]["body"]["CommentBody"], json!(format!("Re: {}", first_case["Subject"].as_str().unwrap())));

    let counters = org.emulator.counters();
    assert_eq!(counters.total - before, 1, "a composite request is one API call");
    assert_eq!(counters.get("POST /composite"), 1);
}

#[test]
fn all_or_none_composite_rolls_back_and_halts_siblings() {
    let org = Org::demo();
    let (status, body) = status_json(org.post(
        "/composite",
        json!({
            "allOrNone": true,
            "compositeRequest": [
                {"method": "POST", "referenceId": "NewAccount", "url": "/services/data/v59.0/sobjects/Account", "body": {"Name": "Rollback Ltd"}},
                {"method": "POST", "referenceId": "NewContact", "url": "/services/data/v59.0/sobjects/Contact",
                 "body": {"FirstName": "No", "AccountId": "@{NewAccount.id}"}},
                {"method": "GET", "referenceId": "Later", "url": "/services/data/v59.0/limits"},
            ]
        }),
    ));
    assert_eq!(status, 200);
    let results = body["compositeResponse"].as_array().unwrap();
    let halted = json!([{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back since another operation in the same transaction failed."}]);
    assert_eq!(results[0]["httpStatusCode"], 400);
    assert_eq!(results[0]["body"], halted);
    assert_eq!(results[1]["httpStatusCode"], 400);
    assert_eq!(error_codes(&results[1]["body"]), ["REQUIRED_FIELD_MISSING"]);
    assert_eq!(results[2]["body"], halted);
    assert_eq!(org.query("SELECT Id FROM Account WHERE Name = 'Rollback Ltd'")["totalSize"], 0, "rolled back");

    // Without allOrNone the account stays and only the contact fails.
    let (_, body) = status_json(org.post(
        "/composite",
        json!({
            "compositeRequest": [
                {"method": "POST", "referenceId": "NewAccount", "url": "/services/data/v59.0/sobjects/Account", "body": {"Name": "Partial Ltd"}},
                {"method": "POST", "referenceId": "NewContact", "url": "/services/data/v59.0/sobjects/Contact", "body": {"FirstName": "No"}},
                {"method": "GET", "referenceId": "Dependent", "url": "/services/data/v59.0/sobjects/Contact/@{NewContact.id}"},
            ]
        }),
    ));
    let results = body["compositeResponse"].as_array().unwrap();
    assert_eq!(results[0]["httpStatusCode"], 201);
    assert_eq!(results[1]["httpStatusCode"], 400);
    assert_eq!(results[2]["httpStatusCode"], 400);
    assert_eq!(error_codes(&results[2]["body"]), ["PROCESSING_HALTED"]);
    assert_eq!(org.query("SELECT Id FROM Account WHERE Name = 'Partial Ltd'")["totalSize"], 1);
}

#[test]
fn composite_refuses_more_than_25_subrequests() {
    let org = Org::demo();
    let subrequests: Vec<Value> = (0..26)
        .map(|i| json!({"method": "GET", "referenceId": format!("r{i}"), "url": "/services/data/v59.0/limits"}))
        .collect();
    let (status, body) = status_json(org.post("/composite", json!({"compositeRequest": subrequests})));
    assert_eq!(status, 400, "{body}");
    assert!(body.is_array());
}

#[test]
fn sobject_collections_report_per_record_errors_with_status_code() {
    let org = Org::demo();
    let records = json!([
        {"attributes": {"type": "Contact"}, "LastName": "Collected", "Email": "collected@example.com"},
        {"attributes": {"type": "Contact"}, "FirstName": "Nameless"},
        {"attributes": {"type": "Account"}, "Name": "Collected Inc"},
    ]);
    let (status, results) =
        status_json(org.post("/composite/sobjects", json!({"allOrNone": false, "records": records})));
    assert_eq!(status, 200);
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[1]["success"], false);
    assert_eq!(
        results[1]["errors"],
        json!([{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]", "fields": ["LastName"]}])
    );
    assert!(results[1]["errors"][0].get("errorCode").is_none());
    assert_eq!(results[2]["success"], true);
    let contact = results[0]["id"].as_str().unwrap().to_string();
    let account = results[2]["id"].as_str().unwrap().to_string();

    // All or none: the valid record is rolled back too.
    let (_, results) = status_json(org.post(
        "/composite/sobjects",
        json!({"allOrNone": true, "records": [
            {"attributes": {"type": "Account"}, "Name": "Never Inc"},
            {"attributes": {"type": "Contact"}, "FirstName": "Nameless"},
        ]}),
    ));
    assert_eq!(results[0]["errors"][0]["statusCode"], "ALL_OR_NONE_OPERATION_ROLLED_BACK");
    assert_eq!(results[1]["errors"][0]["statusCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(org.query("SELECT Id FROM Account WHERE Name = 'Never Inc'")["totalSize"], 0);

    let (status, results) = status_json(org.patch(
        "/composite/sobjects",
        json!({"records": [{"attributes": {"type": "Contact"}, "id": contact, "Title": "Buyer"}, {"attributes": {"type": "Contact"}, "Title": "No id"}]}),
    ));
    assert_eq!(status, 200);
    assert_eq!(results[0], json!({"id": contact, "success": true, "errors": []}));
    assert_eq!(results[1]["success"], false);

    let (status, records) = status_json(org.get(&format!("/composite/sobjects/Contact?ids={contact}&fields=Title")));
    assert_eq!(status, 200);
    assert_eq!(records[0]["Title"], "Buyer");
    let missing = "003000000000000AAA";
    let (status, records) = status_json(
        org.post("/composite/sobjects/Contact", json!({"ids": [contact, missing], "fields": ["Title", "Email"]})),
    );
    assert_eq!(status, 200);
    assert_eq!(records[0]["Email"], "collected@example.com");
    assert_eq!(records[1], Value::Null);

    let (status, results) =
        status_json(org.delete(&format!("/composite/sobjects?ids={contact},{account},001nonsense&allOrNone=false")));
    assert_eq!(status, 200);
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[1]["success"], true);
    assert_eq!(results[2]["errors"][0]["statusCode"], "MALFORMED_ID");

    let too_many: Vec<Value> =
        (0..201).map(|i| json!({"attributes": {"type": "Contact"}, "LastName": format!("N{i}")})).collect();
    let (status, body) = status_json(org.post("/composite/sobjects", json!({"records": too_many})));
    assert_eq!(status, 400, "{body}");
    assert_eq!(org.emulator.counters().get("POST /composite/sobjects"), 3);
}

#[test]
fn composite_batch_runs_independent_subrequests_and_counts_each() {
    let org = Org::demo();
    let case = org.emulator.seeded().agent_case_ids[0].clone();
    let before = org.emulator.counters().total;
    let (status, body) = status_json(org.post(
        "/composite/batch",
        json!({"haltOnError": true, "batchRequests": [
            {"method": "PATCH", "url": format!("v59.0/sobjects/Case/{case}"), "richInput": {"Priority": "Low"}},
            {"method": "GET", "url": format!("v59.0/sobjects/Case/{case}?fields=Priority")},
            {"method": "POST", "url": "v59.0/sobjects/Contact", "richInput": {"FirstName": "Nameless"}},
            {"method": "GET", "url": "v59.0/limits"},
        ]}),
    ));
    assert_eq!(status, 200);
    assert_eq!(body["hasErrors"], true);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0], json!({"statusCode": 204, "result": null}));
    assert_eq!(results[1]["result"]["Priority"], "Low");
    assert_eq!(results[2]["statusCode"], 400);
    assert_eq!(
        results[3],
        json!({"statusCode": 412, "result": [{"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}]})
    );
    let counters = org.emulator.counters();
    assert_eq!(counters.total - before, 3, "each subrequest that ran is a call");
    assert_eq!(counters.get("PATCH /sobjects/Case"), 1);
    assert_eq!(counters.get("POST /composite/batch"), 0);
}
