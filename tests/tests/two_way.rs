//! Two-way sync of people and companies end to end (C1, C2): the platform's
//! records in the host's database, the connector's cycles against the
//! emulator. A person changed on the platform updates the Contact, a Contact
//! changed in Salesforce updates the person, a conflict follows the mapping's
//! direction, a mapping that cannot work is found before any value moves, a
//! refused write is listed and retried, nothing echoes, and matching links
//! one candidate, never guesses among several.

use casebridge::platform::{CompanyPatch, PersonPatch, StorePlatform};
use casebridge::runtime::bindings::describe::{Direction, FieldMapping};
use casebridge::runtime::bindings::platform::{AttributeDefinition, AttributeKind, RecordKind, ValueType};
use casebridge::runtime::bindings::types::AttributeValue;
use casebridge_emulator::schema::{FieldDef, FieldType};
use casebridge_tests::TestOrg;
use serde_json::json;

const ORG: &str = "demo";

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn mapping(attribute: &str, object: &str, field: &str, direction: Direction) -> FieldMapping {
    FieldMapping { object: object.into(), field: field.into(), attribute: attribute.into(), direction }
}

fn define(platform: &StorePlatform, entity: RecordKind, name: &str, value_type: ValueType) {
    let definition =
        AttributeDefinition { entity, name: name.into(), kind: AttributeKind::Custom, value_type, options: vec![] };
    platform.define_attribute(ORG, definition, now()).expect("defined");
}

fn text(name: &str, value: &str) -> casebridge::runtime::bindings::platform::PlatformAttribute {
    casebridge::platform::attribute(name, AttributeKind::Custom, AttributeValue::Text(value.into()))
}

/// The demo org with `Plan__c` and `Seats__c` on Contact and `Tier__c` on
/// Account, the platform's attributes for them, and the mappings
/// plan → Plan__c, seats ← Seats__c, tier ← Tier__c.
fn org() -> TestOrg {
    let mut org = TestOrg::demo();
    org.emulator.add_custom_field("Contact", FieldDef::new("Plan__c", "Plan", FieldType::String).length(40)).unwrap();
    org.emulator
        .add_custom_field("Contact", FieldDef::new("Seats__c", "Seats", FieldType::Double).precision(18, 0))
        .unwrap();
    org.emulator.add_custom_field("Account", FieldDef::new("Tier__c", "Tier", FieldType::String).length(40)).unwrap();
    let platform = org.platform();
    define(&platform, RecordKind::Person, "plan", ValueType::Text);
    define(&platform, RecordKind::Person, "seats", ValueType::Integer);
    define(&platform, RecordKind::Company, "tier", ValueType::Text);
    org.config.mappings = vec![
        mapping("plan", "Contact", "Plan__c", Direction::ToSalesforce),
        mapping("seats", "Contact", "Seats__c", Direction::ToPlatform),
        mapping("tier", "Account", "Tier__c", Direction::ToPlatform),
    ];
    org
}

/// The first seeded Contact and its email.
fn contact(org: &TestOrg, index: usize) -> (String, String) {
    let id = org.emulator.seeded().contact_ids[index].clone();
    let email = org.field("Contact", &id, "Email").as_str().expect("a seeded contact has an email").to_string();
    (id, email)
}

fn push_person(org: &TestOrg, id: &str, email: &str, plan: &str) {
    let patch = PersonPatch {
        email: Some(Some(email.into())),
        name: Some(Some("Platform Person".into())),
        attributes: vec![text("plan", plan)],
        ..PersonPatch::default()
    };
    org.platform().put_person(ORG, id, patch, false, now()).expect("the platform takes the person");
}

fn person_attribute(org: &TestOrg, id: &str, name: &str) -> Option<AttributeValue> {
    let person = org.platform().person(ORG, id).expect("readable").expect("the person exists");
    person.attributes.into_iter().find(|a| a.name == name).map(|a| a.value)
}

#[tokio::test]
async fn a_person_changed_on_the_platform_updates_the_contact_and_a_contact_changed_in_salesforce_updates_the_person() {
    let org = org();
    let (contact_id, email) = contact(&org, 0);
    // The platform's email differs in case: matching ignores it.
    push_person(&org, "p1", &email.to_uppercase(), "Team");
    let first = org.cycle().await.expect("a cycle");
    assert_eq!(first.records_linked, 1, "{first:?}");
    assert_eq!(first.records_to_salesforce, 1, "{first:?}");
    assert_eq!(org.field("Contact", &contact_id, "Plan__c"), json!("Team"));
    let person = org.platform().person(ORG, "p1").unwrap().unwrap();
    assert_eq!(person.salesforce.map(|l| l.id), Some(contact_id.clone()), "the link lives on the person");

    push_person(&org, "p1", &email, "Enterprise");
    let second = org.cycle().await.expect("a cycle");
    assert_eq!(second.records_to_salesforce, 1, "{second:?}");
    assert_eq!(org.field("Contact", &contact_id, "Plan__c"), json!("Enterprise"));

    org.salesforce_user_updates("Contact", &contact_id, json!({"Seats__c": 12}));
    let third = org.cycle().await.expect("a cycle");
    assert_eq!(third.records_to_platform, 1, "{third:?}");
    assert_eq!(person_attribute(&org, "p1", "seats"), Some(AttributeValue::Integer(12)));
    // The connector's own write to the platform is not read back as news.
    let fourth = org.cycle().await.expect("a cycle");
    assert_eq!((fourth.records_to_salesforce, fourth.records_to_platform), (0, 0), "{fourth:?}");
}

#[tokio::test]
async fn a_conflict_follows_each_mappings_direction() {
    let org = org();
    let (contact_id, email) = contact(&org, 1);
    push_person(&org, "p2", &email, "Team");
    org.cycle().await.expect("linked and synced");
    // Both sides change both mapped values between two cycles.
    push_person(&org, "p2", &email, "Pro");
    let seats = casebridge::platform::attribute("seats", AttributeKind::Custom, AttributeValue::Integer(5));
    org.platform()
        .put_person(ORG, "p2", PersonPatch { attributes: vec![seats], ..PersonPatch::default() }, false, now())
        .unwrap();
    org.salesforce_user_updates("Contact", &contact_id, json!({"Plan__c": "Basic", "Seats__c": 20}));
    org.cycle().await.expect("a cycle");
    assert_eq!(
        org.field("Contact", &contact_id, "Plan__c"),
        json!("Pro"),
        "plan goes to Salesforce: the platform wins"
    );
    assert_eq!(person_attribute(&org, "p2", "seats"), Some(AttributeValue::Integer(20)), "seats come from Salesforce");
}

#[tokio::test]
async fn nothing_echoes_over_ten_cycles() {
    let org = org();
    let (contact_id, email) = contact(&org, 2);
    push_person(&org, "p3", &email, "Team");
    org.salesforce_user_updates("Contact", &contact_id, json!({"Seats__c": 7}));
    org.cycle().await.expect("the first sync");
    let writes_before = org.emulator.counters().total;
    let mut moved = Vec::new();
    for _ in 0..10 {
        let report = org.cycle().await.expect("an idle cycle");
        moved.push((report.records_to_salesforce, report.records_to_platform, report.records_linked));
    }
    assert!(moved.iter().all(|m| *m == (0, 0, 0)), "nothing moves again: {moved:?}");
    let calls = org.emulator.counters().total - writes_before;
    assert!(calls <= 20, "at most the poll and the changes read per cycle: {calls} calls in 10 cycles");
    assert_eq!(person_attribute(&org, "p3", "seats"), Some(AttributeValue::Integer(7)));
}

#[tokio::test]
async fn matching_links_one_candidate_reports_several_and_leaves_none_alone() {
    let org = org();
    let (_, email) = contact(&org, 0);
    // A second Contact with the same email: the match is ambiguous.
    let duplicate = org.create_as(
        &org.emulator.seeded().integration_username.clone(),
        "Contact",
        json!({"LastName": "Namesake", "Email": email}),
    );
    push_person(&org, "several", &email, "Team");
    push_person(&org, "nobody", "nobody@nowhere.example", "Team");
    let (_, single) = contact(&org, 3);
    push_person(&org, "one", &single, "Team");
    let report = org.cycle().await.expect("a cycle");
    assert_eq!(report.records_linked, 1, "{report:?}");
    let ambiguous = report.errors.iter().find(|e| e.operation == "match").expect("the ambiguous match is an error");
    assert_eq!(ambiguous.reason.code, "AMBIGUOUS_MATCH");
    assert!(ambiguous.reason.message.contains(&duplicate), "names the candidates: {}", ambiguous.reason.message);
    assert!(org.platform().person(ORG, "several").unwrap().unwrap().salesforce.is_none(), "never guessed");
    assert!(org.platform().person(ORG, "nobody").unwrap().unwrap().salesforce.is_none());
    assert!(org.platform().person(ORG, "one").unwrap().unwrap().salesforce.is_some());
    assert!(org.errors().await.iter().any(|e| e.id == "sync:person:several"), "listed for a person to act on");
}

#[tokio::test]
async fn companies_match_by_name_and_take_the_accounts_values() {
    let org = org();
    let account_id = org.emulator.seeded().account_ids[0].clone();
    let name = org.field("Account", &account_id, "Name").as_str().unwrap().to_string();
    org.salesforce_user_updates("Account", &account_id, json!({"Tier__c": "Gold"}));
    let patch = CompanyPatch { name: Some(Some(name)), ..CompanyPatch::default() };
    org.platform().put_company(ORG, "c1", patch, false, now()).unwrap();
    let report = org.cycle().await.expect("a cycle");
    assert_eq!(report.records_linked, 1, "{report:?}");
    let company = org.platform().company(ORG, "c1").unwrap().unwrap();
    assert_eq!(company.account_id.as_deref(), Some(account_id.as_str()));
    assert_eq!(
        company.attributes.iter().find(|a| a.name == "tier").map(|a| a.value.clone()),
        Some(AttributeValue::Text("Gold".into()))
    );
}

#[tokio::test]
async fn a_refused_write_is_listed_and_written_again_when_retried() {
    let org = org();
    let (contact_id, email) = contact(&org, 0);
    push_person(&org, "p4", &email, "Team");
    org.cycle().await.expect("linked");
    org.salesforce_user_deletes("Contact", &contact_id);
    push_person(&org, "p4", &email, "Enterprise");
    let refused = org.cycle().await.expect("the cycle itself succeeds");
    let error = refused.errors.iter().find(|e| e.id == "sync:person:p4").expect("the refused update is an error");
    assert_eq!(error.operation, "update contact");
    assert_eq!(error.record_id.as_deref(), Some(contact_id.as_str()));
    assert!(!error.reason.code.is_empty(), "Salesforce's reason: {error:?}");
    assert!(org.errors().await.iter().any(|e| e.id == "sync:person:p4"), "listed");

    // The admin links the person to another Contact and retries.
    let (other_id, _) = contact(&org, 4);
    let link = casebridge::runtime::bindings::platform::SalesforceLink {
        object: casebridge::runtime::bindings::platform::LinkedObject::Contact,
        id: other_id.clone(),
    };
    org.platform()
        .put_person(ORG, "p4", PersonPatch { salesforce: Some(Some(link)), ..PersonPatch::default() }, false, now())
        .unwrap();
    org.instance().await.retry_error("sync:person:p4").await.expect("no trap").expect("queued");
    let retried = org.cycle().await.expect("a cycle");
    assert!(retried.errors.is_empty(), "{retried:?}");
    assert_eq!(org.field("Contact", &other_id, "Plan__c"), json!("Enterprise"));
    assert!(!org.errors().await.iter().any(|e| e.id == "sync:person:p4"), "the error is gone");
}

#[tokio::test]
async fn a_mapping_that_cannot_work_is_found_before_any_value_moves() {
    let mut org = org();
    org.config.mappings.push(mapping("plan", "Contact", "Seats__c", Direction::ToSalesforce));
    org.config.mappings.push(mapping("nickname", "Contact", "Plan__c", Direction::ToPlatform));
    org.config.mappings.push(mapping("plan", "Contact", "Nope__c", Direction::ToSalesforce));
    let problems = org.instance().await.check_mappings().await.expect("no trap").expect("checked");
    let text: Vec<&str> = problems.iter().map(|p| p.problem.as_str()).collect();
    assert_eq!(problems.len(), 3, "{text:#?}");
    assert!(
        text[0].contains("`plan`") && text[0].contains("Contact.Seats__c") && text[0].contains("decimal"),
        "{}",
        text[0]
    );
    assert!(text[1].contains("no person attribute `nickname`"), "{}", text[1]);
    assert!(text[2].contains("Contact.Nope__c` does not exist"), "{}", text[2]);
}

#[tokio::test]
async fn a_person_unlinked_on_the_platform_is_left_alone() {
    let org = org();
    let (contact_id, email) = contact(&org, 1);
    push_person(&org, "p5", &email, "Team");
    org.cycle().await.expect("linked");
    assert_eq!(org.field("Contact", &contact_id, "Plan__c"), json!("Team"));
    // The admin removes the link (D3: the Contact stays); the person changes.
    org.platform()
        .put_person(ORG, "p5", PersonPatch { salesforce: Some(None), ..PersonPatch::default() }, false, now())
        .unwrap();
    push_person(&org, "p5", &email, "Enterprise");
    let report = org.cycle().await.expect("a cycle");
    assert_eq!((report.records_linked, report.records_to_salesforce), (0, 0), "{report:?}");
    assert_eq!(org.field("Contact", &contact_id, "Plan__c"), json!("Team"), "the Contact is left as it was");
    assert!(org.platform().person(ORG, "p5").unwrap().unwrap().salesforce.is_none(), "not matched again");
    org.salesforce_user_updates("Contact", &contact_id, json!({"Seats__c": 99}));
    org.cycle().await.expect("a cycle");
    assert_eq!(person_attribute(&org, "p5", "seats"), None, "nor synced from Salesforce");
}
