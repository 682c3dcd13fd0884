//! Record types: added over the admin API, described, defaulted on create,
//! and restricting picklist values as Salesforce does.

use casebridge_emulator::{EmulatorOptions, Seed};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Org, error_codes, status_json};

fn empty_org() -> Org {
    Org::with(EmulatorOptions { seed: Seed::Empty, ..Default::default() })
}

fn add_record_type(org: &Org, body: Value) -> (u16, Value) {
    status_json(org.admin(Method::POST, "/record-types").json(&body).send().unwrap())
}

fn record_type_infos(org: &Org, object: &str) -> Vec<Value> {
    let (_, describe) = status_json(org.get(&format!("/sobjects/{object}/describe")));
    describe["recordTypeInfos"].as_array().unwrap().clone()
}

fn has_field(org: &Org, object: &str, field: &str) -> bool {
    let (_, describe) = status_json(org.get(&format!("/sobjects/{object}/describe")));
    describe["fields"].as_array().unwrap().iter().any(|f| f["name"] == field)
}

#[test]
fn an_object_without_record_types_has_only_master_and_no_record_type_field() {
    let org = empty_org();
    let infos = record_type_infos(&org, "Case");
    assert_eq!(
        infos,
        [json!({"active": true, "available": true, "defaultRecordTypeMapping": true, "developerName": "Master",
                "master": true, "name": "Master", "recordTypeId": "012000000000000AAA",
                "urls": {"layout": "/services/data/v59.0/sobjects/Case/describe/layouts/012000000000000AAA"}})]
    );
    assert!(!has_field(&org, "Case", "RecordTypeId"));
    let (status, body) =
        status_json(org.post("/sobjects/Case", json!({"Subject": "x", "RecordTypeId": "012000000000000AAA"})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_FIELD".to_string()]));
}

#[test]
fn record_types_are_described_queryable_and_defaulted_on_create() {
    let org = empty_org();
    let (status, made) = add_record_type(
        &org,
        json!({"object": "Case", "name": "Support", "developer_name": "Support", "default": true, "active": true,
               "picklists": {"Status": ["New", "Working"]}}),
    );
    assert_eq!(status, 201, "{made}");
    let support = made["id"].as_str().unwrap().to_string();
    assert!(support.starts_with("012"));
    let (_, made) = add_record_type(&org, json!({"object": "Case", "name": "Billing Questions"}));
    let billing = made["id"].as_str().unwrap().to_string();

    let infos = record_type_infos(&org, "Case");
    let names: Vec<&str> = infos.iter().map(|i| i["developerName"].as_str().unwrap()).collect();
    assert_eq!(names, ["Support", "Billing_Questions", "Master"]);
    let defaults: Vec<&Value> = infos.iter().filter(|i| i["defaultRecordTypeMapping"] == true).collect();
    assert_eq!(defaults.len(), 1, "exactly one default: {infos:?}");
    assert_eq!(defaults[0]["recordTypeId"], json!(support));
    let master = infos.iter().find(|i| i["master"] == true).unwrap();
    assert_eq!((master["available"].clone(), master["defaultRecordTypeMapping"].clone()), (json!(false), json!(false)));
    for info in &infos {
        for key in [
            "available",
            "defaultRecordTypeMapping",
            "master",
            "name",
            "developerName",
            "recordTypeId",
            "active",
            "urls",
        ] {
            assert!(info.get(key).is_some(), "{key} in {info}");
        }
    }
    assert_eq!(
        infos[0]["urls"]["layout"],
        json!(format!("/services/data/v59.0/sobjects/Case/describe/layouts/{support}"))
    );

    let (_, describe) = status_json(org.get("/sobjects/Case/describe"));
    let field = describe["fields"].as_array().unwrap().iter().find(|f| f["name"] == "RecordTypeId").unwrap().clone();
    assert_eq!((field["type"].clone(), field["referenceTo"].clone()), (json!("reference"), json!(["RecordType"])));
    assert_eq!(
        (field["relationshipName"].clone(), field["defaultedOnCreate"].clone()),
        (json!("RecordType"), json!(true))
    );

    let rows = org.query("SELECT Id, Name, DeveloperName, SobjectType, IsActive FROM RecordType WHERE SobjectType = 'Case' ORDER BY Name");
    assert_eq!(rows["totalSize"], 2);
    assert_eq!(rows["records"][1]["DeveloperName"], "Support");
    assert_eq!(rows["records"][1]["IsActive"], true);
    assert_eq!(rows["records"][0]["Id"], json!(billing));

    let case = org.create("Case", json!({"Subject": "Defaulted"}));
    let row = &org
        .query(&format!("SELECT RecordTypeId, RecordType.DeveloperName, Status FROM Case WHERE Id = '{case}'"))["records"]
        [0];
    assert_eq!(row["RecordTypeId"], json!(support));
    assert_eq!(row["RecordType"]["DeveloperName"], "Support");
    assert_eq!(row["Status"], "New");
    let chosen = org.create("Case", json!({"Subject": "Chosen", "RecordTypeId": billing}));
    assert_eq!(
        org.query(&format!("SELECT RecordTypeId FROM Case WHERE Id = '{chosen}'"))["records"][0]["RecordTypeId"],
        json!(billing)
    );

    // Another default moves the mapping: still exactly one.
    add_record_type(&org, json!({"object": "Case", "name": "Escalations", "default": true}));
    let infos = record_type_infos(&org, "Case");
    let defaults: Vec<&str> = infos
        .iter()
        .filter(|i| i["defaultRecordTypeMapping"] == true)
        .map(|i| i["developerName"].as_str().unwrap())
        .collect();
    assert_eq!(defaults, ["Escalations"]);
    // Objects without record types are untouched.
    assert!(!has_field(&org, "Lead", "RecordTypeId"));
}

#[test]
fn unknown_inactive_and_foreign_record_types_are_not_valid_for_the_user() {
    let org = empty_org();
    let (_, made) = add_record_type(&org, json!({"object": "Case", "name": "Support", "default": true}));
    let support = made["id"].as_str().unwrap().to_string();
    let (_, made) = add_record_type(&org, json!({"object": "Case", "name": "Retired", "active": false}));
    let retired = made["id"].as_str().unwrap().to_string();
    let (_, made) = add_record_type(&org, json!({"object": "Account", "name": "Partner"}));
    let partner = made["id"].as_str().unwrap().to_string();
    let unknown = "012000000000099";
    for id in [retired.as_str(), partner.as_str(), unknown, "012000000000000AAA"] {
        let (status, body) = status_json(org.post("/sobjects/Case", json!({"Subject": "x", "RecordTypeId": id})));
        assert_eq!(status, 400, "{id}");
        let id18 = body[0]["message"].as_str().unwrap().rsplit(' ').next().unwrap().to_string();
        assert_eq!(
            body,
            json!([{"errorCode": "INVALID_CROSS_REFERENCE_KEY", "fields": ["RecordTypeId"],
                    "message": format!("Record Type ID: this ID value isn't valid for the user: {id18}")}]),
            "{id}"
        );
    }
    let inactive = record_type_infos(&org, "Case").into_iter().find(|i| i["recordTypeId"] == json!(retired)).unwrap();
    assert_eq!((inactive["active"].clone(), inactive["available"].clone()), (json!(false), json!(false)));

    // Deactivating the default one through the API: the next active one (or Master) takes over.
    let case = org.create("Case", json!({"Subject": "Before"}));
    assert_eq!(org.patch(&format!("/sobjects/RecordType/{support}"), json!({"IsActive": false})).status(), 204);
    let (status, body) = status_json(org.patch(&format!("/sobjects/Case/{case}"), json!({"RecordTypeId": support})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_CROSS_REFERENCE_KEY".to_string()]));
    let infos = record_type_infos(&org, "Case");
    let master = infos.iter().find(|i| i["master"] == true).unwrap();
    assert_eq!((master["available"].clone(), master["defaultRecordTypeMapping"].clone()), (json!(true), json!(true)));
    let after = org.create("Case", json!({"Subject": "After"}));
    assert_eq!(
        org.query(&format!("SELECT RecordTypeId FROM Case WHERE Id = '{after}'"))["records"][0]["RecordTypeId"],
        Value::Null
    );
}

#[test]
fn a_record_types_values_restrict_restricted_picklists_only() {
    let org = empty_org();
    // A restricted custom picklist and the standard (unrestricted) Status.
    let field = json!({"object": "Case", "name": "Tier__c", "type": "picklist", "values": ["Gold", "Silver", "Bronze"],
                       "default": "Bronze", "restricted": true});
    assert_eq!(org.admin(Method::POST, "/fields").json(&field).send().unwrap().status(), 201);
    let (status, made) = add_record_type(
        &org,
        json!({"object": "Case", "name": "Premium", "default": true,
               "picklists": {"Tier__c": {"values": ["Gold", "Silver"], "default": "Silver"}, "Status": ["New", "Working"]}}),
    );
    assert_eq!(status, 201, "{made}");

    let case = org.create("Case", json!({"Subject": "x"}));
    let row = &org.query(&format!("SELECT Tier__c, Status FROM Case WHERE Id = '{case}'"))["records"][0];
    assert_eq!(
        (row["Tier__c"].clone(), row["Status"].clone()),
        (json!("Silver"), json!("New")),
        "the record type's defaults"
    );
    let (status, body) = status_json(org.post("/sobjects/Case", json!({"Subject": "x", "Tier__c": "Bronze"})));
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!([{"errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["Tier__c"],
                "message": "Tier: bad value for restricted picklist field: Bronze"}])
    );
    let (status, body) = status_json(org.patch(&format!("/sobjects/Case/{case}"), json!({"Tier__c": "bronze"})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST".to_string()]));
    assert_eq!(org.patch(&format!("/sobjects/Case/{case}"), json!({"Tier__c": "gold"})).status(), 204);
    // An unrestricted picklist takes a value its record type does not offer, as Salesforce's API does.
    assert_eq!(org.patch(&format!("/sobjects/Case/{case}"), json!({"Status": "Escalated"})).status(), 204);

    let (status, _) =
        add_record_type(&org, json!({"object": "Case", "name": "Bad", "picklists": {"Tier__c": ["Platinum"]}}));
    assert_eq!(status, 400);
    let (status, _) = add_record_type(&org, json!({"object": "Case", "name": "Bad", "picklists": {"Subject": ["x"]}}));
    assert_eq!(status, 400);
    let (status, _) = add_record_type(&org, json!({"object": "Nope", "name": "Bad"}));
    assert_eq!(status, 400);
    assert_eq!(
        org.query("SELECT Id FROM RecordType WHERE Name = 'Bad'")["totalSize"],
        0,
        "refused record types are not kept"
    );
}
