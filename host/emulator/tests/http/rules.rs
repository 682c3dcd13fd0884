//! Org rules an admin sets up: required fields and duplicate rules.

use casebridge_emulator::{EmulatorOptions, Seed};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Org, error_codes, status_json};

fn empty_org() -> Org {
    Org::with(EmulatorOptions { seed: Seed::Empty, ..Default::default() })
}

fn admin(org: &Org, method: Method, path: &str, body: Value) -> (u16, Value) {
    status_json(org.admin(method, path).json(&body).send().unwrap())
}

fn describe_field(org: &Org, object: &str, field: &str) -> Value {
    let (_, describe) = status_json(org.get(&format!("/sobjects/{object}/describe")));
    describe["fields"].as_array().unwrap().iter().find(|f| f["name"] == field).unwrap().clone()
}

#[test]
fn fields_made_required_are_described_and_enforced() {
    let org = empty_org();
    let (status, body) =
        admin(&org, Method::POST, "/required", json!({"object": "Case", "field": "Reason", "required": true}));
    assert_eq!((status, body), (200, json!({"object": "Case", "field": "Reason", "required": true})));
    let custom = json!({"object": "Case", "name": "Region__c", "type": "string", "length": 20});
    assert_eq!(org.admin(Method::POST, "/fields").json(&custom).send().unwrap().status(), 201);
    assert_eq!(admin(&org, Method::POST, "/required", json!({"object": "case", "field": "region__c"})).0, 200);

    for name in ["Reason", "Region__c"] {
        let field = describe_field(&org, "Case", name);
        assert_eq!(
            (field["nillable"].clone(), field["defaultedOnCreate"].clone()),
            (json!(false), json!(false)),
            "{name}"
        );
        assert_eq!(field["createable"], true);
    }
    let (status, body) = status_json(org.post("/sobjects/Case", json!({"Subject": "x"})));
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!([{"errorCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Reason, Region__c]",
                "fields": ["Reason", "Region__c"]}])
    );
    let case = org.create("Case", json!({"Subject": "x", "Reason": "Other", "Region__c": "EMEA"}));
    let (status, body) = status_json(org.patch(&format!("/sobjects/Case/{case}"), json!({"Reason": null})));
    assert_eq!((status, body[0]["message"].clone()), (400, json!("Required fields are missing: [Reason]")));

    // A required picklist no longer takes its default.
    admin(&org, Method::POST, "/required", json!({"object": "Case", "field": "Priority"}));
    assert_eq!(describe_field(&org, "Case", "Priority")["defaultedOnCreate"], false);
    let (_, body) =
        status_json(org.post("/sobjects/Case", json!({"Subject": "x", "Reason": "Other", "Region__c": "EMEA"})));
    assert_eq!(body[0]["fields"], json!(["Priority"]));
    // And back.
    admin(&org, Method::POST, "/required", json!({"object": "Case", "field": "Priority", "required": false}));
    admin(&org, Method::POST, "/required", json!({"object": "Case", "field": "Reason", "required": false}));
    let field = describe_field(&org, "Case", "Priority");
    assert_eq!((field["nillable"].clone(), field["defaultedOnCreate"].clone()), (json!(true), json!(true)));
    let case = org.create("Case", json!({"Subject": "x", "Region__c": "EMEA"}));
    assert_eq!(
        org.query(&format!("SELECT Priority FROM Case WHERE Id = '{case}'"))["records"][0]["Priority"],
        "Medium"
    );

    for bad in [
        json!({"object": "Case", "field": "Nope"}),
        json!({"object": "Nope", "field": "Reason"}),
        json!({"object": "Case", "field": "IsClosed"}),
        json!({"object": "Case", "field": "CaseNumber"}),
        json!({"object": "Case"}),
    ] {
        assert_eq!(admin(&org, Method::POST, "/required", bad.clone()).0, 400, "{bad}");
    }
}

fn lead_rule(allow_save: bool) -> Value {
    json!({"object": "Lead", "name": "Standard_Lead_Duplicate_Rule", "fields": ["Email"], "allow_save": allow_save,
           "message": "Use one of these records?"})
}

#[test]
fn a_duplicate_is_refused_with_salesforces_body() {
    let org = empty_org();
    let first = org.create("Lead", json!({"LastName": "Lee", "Company": "A", "Email": "ann@lee.example"}));
    assert_eq!(admin(&org, Method::POST, "/duplicate-rules", lead_rule(true)).0, 201);
    let (status, body) =
        status_json(org.post("/sobjects/Lead", json!({"LastName": "Lee", "Company": "B", "Email": "ANN@lee.example"})));
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!([{
            "duplicateResult": {
                "allowSave": true,
                "duplicateRule": "Standard_Lead_Duplicate_Rule",
                "duplicateRuleEntityType": "Lead",
                "errorMessage": "Use one of these records?",
                "matchResults": [{
                    "entityType": "Lead",
                    "errors": [],
                    "matchEngine": "ExactMatchEngine",
                    "matchRecords": [{
                        "additionalInformation": [],
                        "fieldDiffs": [],
                        "matchConfidence": 100.0,
                        "record": {"attributes": {"type": "Lead", "url": format!("/services/data/v59.0/sobjects/Lead/{first}")}, "Id": first},
                    }],
                    "rule": "Standard_Lead_Duplicate_Rule",
                    "size": 1,
                    "success": true,
                }],
            },
            "errorCode": "DUPLICATES_DETECTED",
            "fields": [],
            "message": "Use one of these records?",
        }])
    );
    // Blank fields match nothing; other emails pass.
    org.create("Lead", json!({"LastName": "Blank", "Company": "C"}));
    org.create("Lead", json!({"LastName": "Blank", "Company": "D"}));
    let other = org.create("Lead", json!({"LastName": "Kim", "Company": "E", "Email": "kim@e.example"}));
    // An update that makes a duplicate is refused too; the record itself is no duplicate of itself.
    let (status, body) =
        status_json(org.patch(&format!("/sobjects/Lead/{other}"), json!({"Email": "ann@lee.example"})));
    assert_eq!((status, error_codes(&body)), (400, vec!["DUPLICATES_DETECTED".to_string()]));
    assert_eq!(org.patch(&format!("/sobjects/Lead/{first}"), json!({"Title": "CEO"})).status(), 204);
    // Deleted records are not matched.
    assert_eq!(org.delete(&format!("/sobjects/Lead/{first}")).status(), 204);
    org.create("Lead", json!({"LastName": "Lee", "Company": "F", "Email": "ann@lee.example"}));

    let (_, listed) = status_json(org.admin(Method::GET, "/duplicate-rules").send().unwrap());
    assert_eq!(listed["rules"][0]["name"], "Standard_Lead_Duplicate_Rule");
    assert_eq!(org.admin(Method::DELETE, "/duplicate-rules").send().unwrap().status(), 204);
    org.create("Lead", json!({"LastName": "Lee", "Company": "G", "Email": "ann@lee.example"}));
    assert_eq!(
        admin(&org, Method::POST, "/duplicate-rules", json!({"object": "Lead", "name": "x", "fields": ["Nope"]})).0,
        400
    );
    assert_eq!(
        admin(&org, Method::POST, "/duplicate-rules", json!({"object": "Lead", "name": "x", "fields": []})).0,
        400
    );
}

#[test]
fn the_allow_save_header_passes_only_rules_that_allow_saving() {
    let org = empty_org();
    org.create("Lead", json!({"LastName": "Lee", "Company": "A", "Email": "ann@lee.example"}));
    org.create("Contact", json!({"LastName": "Lee", "Email": "ann@lee.example"}));
    admin(&org, Method::POST, "/duplicate-rules", lead_rule(true));
    let blocking = json!({"object": "Contact", "name": "Block_Contacts", "fields": ["Email", "LastName"], "allow_save": false,
                          "message": "You're creating a duplicate record."});
    admin(&org, Method::POST, "/duplicate-rules", blocking);

    let with_header = |path: &str, body: Value| {
        status_json(
            org.request(Method::POST, path)
                .header("Sforce-Duplicate-Rule-Header", "allowSave=true")
                .json(&body)
                .send()
                .unwrap(),
        )
    };
    let (status, _) =
        with_header("/sobjects/Lead", json!({"LastName": "Lee", "Company": "B", "Email": "ann@lee.example"}));
    assert_eq!(status, 201, "an alerting rule lets the save through with the header");
    let (status, body) = with_header("/sobjects/Contact", json!({"LastName": "LEE", "Email": "ann@lee.example"}));
    assert_eq!(status, 400, "a blocking rule still refuses");
    assert_eq!(body[0]["duplicateResult"]["allowSave"], false);
    assert_eq!(body[0]["message"], "You're creating a duplicate record.");
    // Only every field matching is a duplicate.
    org.create("Contact", json!({"LastName": "Other", "Email": "ann@lee.example"}));
    let (status, body) =
        status_json(org.post("/sobjects/Lead", json!({"LastName": "x", "Company": "C", "Email": "ann@lee.example"})));
    assert_eq!(status, 400, "without the header: refused");
    assert_eq!(body[0]["duplicateResult"]["matchResults"][0]["size"], 2);
    let (status, body) = status_json(
        org.request(Method::POST, "/sobjects/Lead")
            .header("Sforce-Duplicate-Rule-Header", "allowSave=false")
            .json(&json!({"LastName": "x", "Company": "C", "Email": "ann@lee.example"}))
            .send()
            .unwrap(),
    );
    assert_eq!((status, error_codes(&body)), (400, vec!["DUPLICATES_DETECTED".to_string()]));
}

#[test]
fn composite_subrequests_inherit_the_header_or_give_their_own() {
    let org = empty_org();
    org.create("Lead", json!({"LastName": "Lee", "Company": "A", "Email": "ann@lee.example"}));
    admin(&org, Method::POST, "/duplicate-rules", lead_rule(true));
    let duplicate = json!({"LastName": "Lee", "Company": "Dup", "Email": "ann@lee.example"});
    let composite = |headers: Option<&str>, sub_headers: Option<Value>| {
        let mut sub = json!({"method": "POST", "referenceId": "lead", "url": "/services/data/v59.0/sobjects/Lead", "body": duplicate});
        if let Some(h) = sub_headers {
            sub["httpHeaders"] = h;
        }
        let mut request = org.request(Method::POST, "/composite");
        if let Some(h) = headers {
            request = request.header("Sforce-Duplicate-Rule-Header", h);
        }
        let (status, body) = status_json(request.json(&json!({"compositeRequest": [sub]})).send().unwrap());
        assert_eq!(status, 200);
        body["compositeResponse"][0].clone()
    };
    let refused = composite(None, None);
    assert_eq!(refused["httpStatusCode"], 400);
    assert_eq!(error_codes(&refused["body"]), ["DUPLICATES_DETECTED"]);
    assert_eq!(refused["body"][0]["duplicateResult"]["duplicateRule"], "Standard_Lead_Duplicate_Rule");
    assert_eq!(composite(Some("allowSave=true"), None)["httpStatusCode"], 201, "the top-level header applies");
    let own = composite(None, Some(json!({"Sforce-Duplicate-Rule-Header": "allowSave=true"})));
    assert_eq!(own["httpStatusCode"], 201, "a subrequest's own header applies");
    let overridden =
        composite(Some("allowSave=true"), Some(json!({"Sforce-Duplicate-Rule-Header": "allowSave=false"})));
    assert_eq!(overridden["httpStatusCode"], 400, "the subrequest's header wins");

    // sObject collections honour the header too, record by record.
    let records = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Lead"}, "LastName": "Coll", "Company": "X", "Email": "ann@lee.example"},
        {"attributes": {"type": "Lead"}, "LastName": "Coll", "Company": "Y", "Email": "fresh@lee.example"},
    ]});
    let (_, results) = status_json(org.post("/composite/sobjects", records.clone()));
    assert_eq!(results[0]["errors"][0]["statusCode"], "DUPLICATES_DETECTED");
    assert_eq!(results[1]["success"], true);
    let (_, results) = status_json(
        org.request(Method::POST, "/composite/sobjects")
            .header("Sforce-Duplicate-Rule-Header", "allowSave=true")
            .json(&records)
            .send()
            .unwrap(),
    );
    assert_eq!(results[0]["success"], true, "{results}");
}

#[test]
fn a_picklist_value_added_by_the_admin_is_described_and_accepted() {
    let org = empty_org();
    let before = describe_field(&org, "Case", "Reason")["picklistValues"].clone();
    assert!(!before.as_array().unwrap().iter().any(|v| v["value"] == "Billing"), "not a value yet: {before}");
    let (status, body) =
        admin(&org, Method::POST, "/picklist-values", json!({"object": "Case", "field": "Reason", "value": "Billing"}));
    assert_eq!((status, body), (201, json!({"object": "Case", "field": "Reason", "value": "Billing"})));
    let values = describe_field(&org, "Case", "Reason")["picklistValues"].clone();
    assert!(values.as_array().unwrap().iter().any(|v| v["value"] == "Billing" && v["active"] == true), "{values}");
    org.create("Case", json!({"Subject": "x", "Reason": "Billing"}));

    let again =
        admin(&org, Method::POST, "/picklist-values", json!({"object": "Case", "field": "Reason", "value": "billing"}));
    assert_eq!(again.0, 400, "{again:?}");
    let not_a_list =
        admin(&org, Method::POST, "/picklist-values", json!({"object": "Case", "field": "Subject", "value": "x"}));
    assert_eq!(not_a_list.0, 400);
    assert!(not_a_list.1.to_string().contains("not a picklist"), "{}", not_a_list.1);
}
