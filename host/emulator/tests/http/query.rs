use std::time::Duration;

use casebridge_emulator::{EmulatorOptions, Seed};
use serde_json::{Value, json};

use crate::support::{Org, error_codes, status_json};

/// Creates `n` contacts through sObject collections, 200 at a time.
fn create_contacts(org: &Org, n: usize) {
    let mut made = 0;
    while made < n {
        let chunk = (n - made).min(200);
        let records: Vec<Value> = (made..made + chunk)
            .map(|i| json!({"attributes": {"type": "Contact"}, "LastName": format!("Bulk {i:04}"), "Email": format!("bulk{i}@example.com")}))
            .collect();
        let (status, results) =
            status_json(org.post("/composite/sobjects", json!({"allOrNone": true, "records": records})));
        assert_eq!(status, 200);
        assert!(results.as_array().unwrap().iter().all(|r| r["success"] == true), "{results}");
        made += chunk;
    }
}

#[test]
fn the_sync_query_returns_parent_fields_and_child_subqueries() {
    let org = Org::demo();
    let agent = org.emulator.seeded().agent_user_id.clone().unwrap();
    let body = org.query(&format!(
        "SELECT Id, CaseNumber, Subject, Contact.Email, Account.Name, \
         (SELECT Id, Body, CreatedById FROM Feeds ORDER BY CreatedDate), \
         (SELECT Id, FromAddress, Incoming FROM EmailMessages) \
         FROM Case WHERE OwnerId = '{agent}' AND IsClosed = false ORDER BY CreatedDate"
    ));
    assert_eq!(body["totalSize"], 6);
    assert_eq!(body["done"], true);
    assert!(body.get("nextRecordsUrl").is_none());
    let records = body["records"].as_array().unwrap();
    let invoice = records.iter().find(|r| r["Subject"].as_str().unwrap().starts_with("Invoice")).unwrap();
    assert_eq!(invoice["attributes"]["type"], "Case");
    assert!(invoice["attributes"]["url"].as_str().unwrap().starts_with("/services/data/v59.0/sobjects/Case/500"));
    assert_eq!(invoice["Contact"]["Email"], "carla.mendes@globex.example");
    assert_eq!(invoice["Contact"]["attributes"]["type"], "Contact");
    assert_eq!(invoice["Account"]["Name"], "Globex Corporation");
    assert_eq!(invoice["EmailMessages"]["totalSize"], 1);
    assert_eq!(invoice["EmailMessages"]["records"][0]["Incoming"], true);
    assert_eq!(invoice["Feeds"], Value::Null, "an empty child subquery is null");
    let crash = records.iter().find(|r| r["Subject"].as_str().unwrap().contains("crashes")).unwrap();
    let post = crash["Feeds"]["records"][0]["Body"].as_str().unwrap();
    assert!(post.contains("<img src=\"sfdc://069"), "{post}");
}

#[test]
fn pages_follow_next_records_url_with_the_asked_batch_size() {
    let org = Org::with(EmulatorOptions { seed: Seed::Empty, ..Default::default() });
    create_contacts(&org, 450);
    let first = org
        .request(reqwest::Method::GET, "/query")
        .query(&[("q", "SELECT Id, Name FROM Contact ORDER BY Name")])
        .header("Sforce-Query-Options", "batchSize=200")
        .send()
        .unwrap();
    let (status, mut page) = status_json(first);
    assert_eq!(status, 200);
    let mut seen = 0;
    let mut pages = 0;
    loop {
        assert_eq!(page["totalSize"], 450);
        seen += page["records"].as_array().unwrap().len();
        pages += 1;
        if page["done"] == true {
            assert!(page.get("nextRecordsUrl").is_none());
            break;
        }
        let next = page["nextRecordsUrl"].as_str().unwrap().to_string();
        assert!(next.starts_with("/services/data/v59.0/query/01g"), "{next}");
        assert!(next.ends_with(&format!("-{seen}")), "{next}");
        page = status_json(
            org.http.get(format!("{}{next}", org.creds.instance_url)).bearer_auth(&org.token).send().unwrap(),
        )
        .1;
    }
    assert_eq!((seen, pages), (450, 3));
    assert_eq!(org.emulator.counters().get("GET /query"), 3);

    // Without the header a page holds up to 2,000 rows.
    assert_eq!(org.query("SELECT Id FROM Contact")["records"].as_array().unwrap().len(), 450);
}

#[test]
fn query_locators_expire_when_idle() {
    let org = Org::with(EmulatorOptions { seed: Seed::Empty, ..Default::default() });
    create_contacts(&org, 250);
    let (_, page) = status_json(
        org.request(reqwest::Method::GET, "/query")
            .query(&[("q", "SELECT Id FROM Contact")])
            .header("Sforce-Query-Options", "batchSize=200")
            .send()
            .unwrap(),
    );
    let next = page["nextRecordsUrl"].as_str().unwrap().to_string();
    org.emulator.advance_clock(Duration::from_secs(16 * 60));
    let (status, body) =
        status_json(org.http.get(format!("{}{next}", org.creds.instance_url)).bearer_auth(&org.token).send().unwrap());
    assert_eq!(
        (status, body),
        (400, json!([{"errorCode": "INVALID_QUERY_LOCATOR", "message": "invalid query locator"}]))
    );
    let (status, body) = status_json(org.get("/query/01gnonsense"));
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_QUERY_LOCATOR".to_string()]));
}

#[test]
fn count_queries_report_the_count_with_no_records() {
    let org = Org::demo();
    let body = org.query("SELECT COUNT() FROM Contact");
    assert_eq!(body, json!({"totalSize": 7, "done": true, "records": []}));
}

#[test]
fn bad_queries_get_malformed_query_and_invalid_field() {
    let org = Org::demo();
    let run =
        |soql: &str| status_json(org.request(reqwest::Method::GET, "/query").query(&[("q", soql)]).send().unwrap());

    let (status, body) = run("SELEC Id FROM Case");
    assert_eq!((status, error_codes(&body)), (400, vec!["MALFORMED_QUERY".to_string()]), "{body}");
    let (status, body) = run("SELECT Nope__c FROM Case");
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_FIELD".to_string()]), "{body}");
    assert!(body[0]["message"].as_str().unwrap().contains("No such column 'Nope__c' on entity 'Case'"), "{body}");
    let (status, body) = run("SELECT Id FROM Nope__c");
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_TYPE".to_string()]), "{body}");
    let (status, body) = status_json(org.get("/query"));
    assert_eq!((status, error_codes(&body)), (400, vec!["MALFORMED_QUERY".to_string()]));
}

#[test]
fn query_all_sees_deleted_records_and_query_does_not() {
    let org = Org::demo();
    let id = org.create("Contact", json!({"LastName": "Gone", "Email": "gone@example.com"}));
    assert_eq!(org.delete(&format!("/sobjects/Contact/{id}")).status(), 204);
    let soql = "SELECT Id, IsDeleted FROM Contact WHERE LastName = 'Gone'";
    assert_eq!(org.query(soql)["totalSize"], 0);
    let (status, all) =
        status_json(org.request(reqwest::Method::GET, "/queryAll").query(&[("q", soql)]).send().unwrap());
    assert_eq!(status, 200);
    assert_eq!(all["totalSize"], 1);
    assert_eq!(all["records"][0]["IsDeleted"], true);
    assert_eq!(org.emulator.counters().get("GET /queryAll"), 1);
}

#[test]
fn sosl_search_finds_contacts_by_email() {
    let org = Org::demo();
    let (status, body) = status_json(
        org.request(reqwest::Method::GET, "/search")
            .query(&[("q", "FIND {carla.mendes@globex.example} IN EMAIL FIELDS RETURNING Contact(Id, Name, Email)")])
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{body}");
    let found = body["searchRecords"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["Name"], "Carla Mendes");
    assert_eq!(found[0]["attributes"]["type"], "Contact");

    let (status, body) = status_json(
        org.request(reqwest::Method::GET, "/parameterizedSearch")
            .query(&[("q", "Volkov"), ("sobject", "Contact"), ("Contact.fields", "Id,Email")])
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["searchRecords"][0]["Email"], "dmitri.volkov@initech.example");

    let (status, body) =
        status_json(org.request(reqwest::Method::GET, "/search").query(&[("q", "FIND carla")]).send().unwrap());
    assert_eq!((status, error_codes(&body)), (400, vec!["MALFORMED_SEARCH".to_string()]), "{body}");
}
