//! The CRM actions end to end (C3–C9, D1–D5): the platform's records in the
//! host's database, the connector's `crm` exports against the emulator, one
//! test per requirement with its refusals, and a create whose answer was lost
//! retried with its key (nothing created twice).

use casebridge::platform::{CompanyPatch, ConversationPatch, PersonPatch, StorePlatform};
use casebridge::runtime::bindings::contacts::Outcome;
use casebridge::runtime::bindings::crm::{CrmError, SavedRecord};
use casebridge::runtime::bindings::describe::{Direction, FieldMapping};
use casebridge::runtime::bindings::org::SyncError;
use casebridge::runtime::bindings::platform::{
    AttributeDefinition, AttributeKind, ConversationState, LinkedObject, RecordKind, SalesforceLink, Teammate,
    ValueType,
};
use casebridge::runtime::bindings::types::{
    Attribute, AttributeValue, AuthorRole, Channel, ConversationPart, PartSource,
};
use casebridge_emulator::Fault;
use casebridge_emulator::schema::{FieldDef, FieldType};
use casebridge_tests::TestOrg;
use serde_json::json;

const ORG: &str = "demo";

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn platform(org: &TestOrg) -> StorePlatform {
    org.platform()
}

fn put_person(org: &TestOrg, id: &str, name: Option<&str>, email: Option<&str>) {
    let patch = PersonPatch {
        name: Some(name.map(str::to_string)),
        email: Some(email.map(str::to_string)),
        ..PersonPatch::default()
    };
    platform(org).put_person(ORG, id, patch, false, now()).expect("the platform takes the person");
}

fn patch_person(org: &TestOrg, id: &str, patch: PersonPatch) {
    platform(org).put_person(ORG, id, patch, false, now()).expect("the platform takes the change");
}

fn link(org: &TestOrg, person: &str, object: LinkedObject, id: &str) {
    let link = SalesforceLink { object, id: id.to_string() };
    patch_person(org, person, PersonPatch { salesforce: Some(Some(link)), ..PersonPatch::default() });
}

fn message(id: &str, text: &str, at: i64) -> ConversationPart {
    ConversationPart {
        id: id.into(),
        source: PartSource::CaseComment,
        author: AuthorRole::Customer,
        author_name: Some("Ada".into()),
        text: text.into(),
        created_at: at,
        attachments: vec![],
    }
}

/// A messenger conversation of `person` with two messages.
fn put_conversation(org: &TestOrg, id: &str, person: &str, state: ConversationState) {
    let at = now();
    let patch = ConversationPatch {
        channel: Some(Channel::Messenger),
        state: Some(state),
        person_id: Some(Some(person.into())),
        subject: Some(Some("My invoice is wrong".into())),
        parts: vec![
            message(&format!("{id}-m1"), "Hello, my invoice shows the wrong amount.", at),
            message(&format!("{id}-m2"), "It says 120 EUR but my plan is 100 EUR.", at + 1000),
        ],
        ..ConversationPatch::default()
    };
    platform(org).put_conversation(ORG, id, patch, false, now()).expect("the platform takes the conversation");
}

fn assign(org: &TestOrg, conversation: &str, teammate: &str) {
    let patch = ConversationPatch { assignee_id: Some(Some(teammate.into())), ..ConversationPatch::default() };
    platform(org).put_conversation(ORG, conversation, patch, false, now()).unwrap();
}

fn teammate(org: &TestOrg, id: &str, email: &str) {
    let teammate = Teammate { id: id.into(), name: format!("Teammate {id}"), email: Some(email.into()) };
    platform(org).put_teammate(ORG, teammate, now()).unwrap();
}

/// The seeded Contact `index`, its email and its Account.
fn seeded_contact(org: &TestOrg, index: usize) -> (String, String, String) {
    let id = org.emulator.seeded().contact_ids[index].clone();
    let email = org.field("Contact", &id, "Email").as_str().expect("an email").to_string();
    let account = org.field("Contact", &id, "AccountId").as_str().expect("an account").to_string();
    (id, email, account)
}

/// The hand-off user: someone in the org who is not the integration user.
fn colleague(org: &TestOrg) -> (String, String, String) {
    let id = org.emulator.seeded().handoff_user_id.clone().expect("a hand-off user");
    let user = org.query(&format!("SELECT Username, Email FROM User WHERE Id = '{id}'")).remove(0);
    (id, user["Username"].as_str().unwrap().to_string(), user["Email"].as_str().unwrap().to_string())
}

fn count(org: &TestOrg, soql: &str) -> usize {
    org.query(soql).len()
}

fn sync_error(refused: &CrmError) -> Option<&SyncError> {
    match refused {
        CrmError::Sync(error) => Some(error),
        _ => None,
    }
}

#[tokio::test]
async fn c3_the_profile_view_shows_the_contact_its_account_every_opportunity_and_the_open_cases() {
    let org = TestOrg::demo();
    let (contact, email, account) = seeded_contact(&org, 0);
    let (_, colleague_username, _) = colleague(&org);
    put_person(&org, "p-c3", Some("Ada Lovelace"), Some(&email));
    assert!(
        org.instance().await.crm_profile("p-c3").await.unwrap().unwrap().is_none(),
        "an unlinked person has no profile"
    );
    link(&org, "p-c3", LinkedObject::Contact, &contact);
    let open = org.create_as(
        &colleague_username,
        "Opportunity",
        json!({"Name": "Renewal", "StageName": "Prospecting", "CloseDate": "2030-01-31", "Amount": 1200, "AccountId": account}),
    );
    org.create_as(
        &colleague_username,
        "Opportunity",
        json!({"Name": "First deal", "StageName": "Closed Won", "CloseDate": "2020-01-31", "Amount": 800, "AccountId": account}),
    );
    let case = org.create_as(
        &colleague_username,
        "Case",
        json!({"Subject": "Broken", "ContactId": contact, "Priority": "High"}),
    );

    org.emulator.reset_counters();
    let profile = org.instance().await.crm_profile("p-c3").await.unwrap().unwrap().expect("a profile");
    let calls_unlinked_company = org.emulator.counters().total;
    let shown = profile.contact.expect("the Contact");
    assert_eq!(shown.id, contact);
    assert_eq!(shown.email.as_deref(), Some(email.as_str()));
    assert!(shown.account_owner.is_some(), "the account owner's name: {shown:?}");
    let account_view = profile.account.expect("the Account");
    assert_eq!(account_view.id, account);
    assert!(account_view.domain.as_deref().is_some_and(|d| !d.contains("://")), "{account_view:?}");
    assert!(account_view.country.is_some() && account_view.owner.is_some(), "{account_view:?}");
    let on_account = count(&org, &format!("SELECT Id FROM Opportunity WHERE AccountId = '{account}'"));
    assert_eq!(profile.opportunities.len(), on_account, "every opportunity: {:?}", profile.opportunities);
    let first_closed = profile.opportunities.iter().position(|o| o.closed).expect("the closed one");
    assert!(
        profile.opportunities[first_closed..].iter().all(|o| o.closed),
        "open ones first: {:?}",
        profile.opportunities
    );
    let renewal = profile.opportunities.iter().find(|o| o.id == open).expect("the new one");
    assert_eq!(renewal.amount, Some(1200.0));
    assert_eq!(renewal.stage, "Prospecting");
    assert_eq!(renewal.close_date.as_deref(), Some("2030-01-31"));
    let listed = profile.open_cases.iter().find(|c| c.id == case).expect("the new open case");
    assert_eq!(listed.priority.as_deref(), Some("High"));
    assert!(!listed.number.is_empty());
    assert_eq!(profile.open_case_count as usize, profile.open_cases.len());
    assert!(profile.instance_url.starts_with("http"), "{}", profile.instance_url);

    // With the person's company linked to the Account, it is one composite call.
    platform(&org)
        .put_company(
            ORG,
            "co-1",
            CompanyPatch {
                name: Some(Some("Acme".into())),
                account_id: Some(Some(account)),
                ..CompanyPatch::default()
            },
            false,
            now(),
        )
        .unwrap();
    patch_person(&org, "p-c3", PersonPatch { company_id: Some(Some("co-1".into())), ..PersonPatch::default() });
    org.emulator.reset_counters();
    let again = org.instance().await.crm_profile("p-c3").await.unwrap().unwrap().expect("a profile");
    assert_eq!(again.opportunities.len(), on_account);
    assert_eq!(org.emulator.counters().total, 1, "one composite request (it read {calls_unlinked_company} before)");

    // More open cases than are listed: the count is still exact.
    let open_before = again.open_case_count as usize;
    for n in 0..50 {
        org.create_as(&colleague_username, "Case", json!({"Subject": format!("More {n}"), "ContactId": contact}));
    }
    let many = org.instance().await.crm_profile("p-c3").await.unwrap().unwrap().expect("a profile");
    assert_eq!(many.open_cases.len(), 50, "the list stops at 50");
    assert_eq!(many.open_case_count as usize, open_before + 50);
}

#[tokio::test]
async fn c4_a_lead_is_created_with_mappings_placeholders_and_the_owners_user_once_per_key() {
    let mut org = TestOrg::demo();
    org.emulator.add_custom_field("Lead", FieldDef::new("Plan__c", "Plan", FieldType::String).length(40)).unwrap();
    org.emulator
        .add_custom_field("Lead", FieldDef::new("Region__c", "Region", FieldType::String).length(40).required())
        .unwrap();
    let definition = AttributeDefinition {
        entity: RecordKind::Person,
        name: "plan".into(),
        kind: AttributeKind::Custom,
        value_type: ValueType::Text,
        options: vec![],
    };
    platform(&org).define_attribute(ORG, definition, now()).unwrap();
    org.config.mappings = vec![FieldMapping {
        object: "Lead".into(),
        field: "Plan__c".into(),
        attribute: "plan".into(),
        direction: Direction::ToSalesforce,
    }];
    org.config.crm.maintain_ownership = true;
    let (colleague_id, _, colleague_email) = colleague(&org);
    teammate(&org, "t-owner", &colleague_email);
    teammate(&org, "t-stranger", "nobody@elsewhere.example");

    // Refused without an email, before any call.
    put_person(&org, "p-noemail", Some("No Email"), None);
    let refused = org.instance().await.crm_create_lead("k-0", "p-noemail").await.unwrap().expect_err("refused");
    assert!(matches!(&refused, CrmError::InvalidRequest(why) if why.contains("email")), "{refused:?}");

    put_person(&org, "p-lead", Some("Grace Hopper"), Some("grace@navy.example"));
    patch_person(
        &org,
        "p-lead",
        PersonPatch {
            owner_id: Some(Some("t-owner".into())),
            attributes: vec![casebridge::platform::attribute(
                "plan",
                AttributeKind::Custom,
                AttributeValue::Text("Pro".into()),
            )],
            ..PersonPatch::default()
        },
    );
    let saved = org.instance().await.crm_create_lead("k-1", "p-lead").await.unwrap().expect("a Lead");
    assert_eq!(saved.object, "Lead");
    assert!(!saved.existed);
    assert_eq!(org.field("Lead", &saved.id, "Plan__c"), json!("Pro"), "mapped");
    assert_eq!(org.field("Lead", &saved.id, "LastName"), json!("Hopper"));
    assert_eq!(org.field("Lead", &saved.id, "Email"), json!("grace@navy.example"));
    assert_eq!(org.field("Lead", &saved.id, "Region__c"), json!("[not provided]"), "a placeholder");
    assert_eq!(org.field("Lead", &saved.id, "OwnerId"), json!(colleague_id), "the platform owner's user");
    assert!(saved.notes.iter().any(|n| n.contains("Region")), "the placeholder is said: {:?}", saved.notes);
    let person = platform(&org).person(ORG, "p-lead").unwrap().unwrap();
    assert_eq!(person.salesforce.map(|l| (l.object, l.id)), Some((LinkedObject::Lead, saved.id.clone())));

    // The same key again: the same Lead, nothing new.
    let again = org.instance().await.crm_create_lead("k-1", "p-lead").await.unwrap().expect("the first result");
    assert!(again.existed);
    assert_eq!(again.id, saved.id);
    assert_eq!(count(&org, "SELECT Id FROM Lead WHERE Email = 'grace@navy.example'"), 1);

    // An owner with no Salesforce user: the integration user, and the result says so.
    put_person(&org, "p-lead2", Some("Alan Turing"), Some("alan@bletchley.example"));
    patch_person(&org, "p-lead2", PersonPatch { owner_id: Some(Some("t-stranger".into())), ..PersonPatch::default() });
    let fallback = org.instance().await.crm_create_lead("k-2", "p-lead2").await.unwrap().expect("a Lead");
    assert_eq!(org.field("Lead", &fallback.id, "OwnerId"), json!(org.emulator.seeded().integration_user_id));
    assert!(fallback.notes.iter().any(|n| n.contains("integration user")), "{:?}", fallback.notes);

    // Later platform edits reach the Lead through the mapping.
    patch_person(
        &org,
        "p-lead",
        PersonPatch {
            attributes: vec![casebridge::platform::attribute(
                "plan",
                AttributeKind::Custom,
                AttributeValue::Text("Enterprise".into()),
            )],
            ..PersonPatch::default()
        },
    );
    let report = org.cycle().await.expect("a cycle");
    assert!(report.records_to_salesforce >= 1, "{report:?}");
    assert_eq!(org.field("Lead", &saved.id, "Plan__c"), json!("Enterprise"));
}

#[tokio::test]
async fn c4_a_create_whose_answer_was_lost_is_found_again_and_not_created_twice() {
    let org = TestOrg::demo();
    put_person(&org, "p-lost", Some("Lin Lost"), Some("lost@answer.example"));
    // Call 1 is describe, call 2 the composite create: its answer is dropped.
    let instance = org.instance().await;
    let first = org
        .acting_during_call(1, |emulator| emulator.inject(Fault::drop_response()), async move {
            let mut instance = instance;
            instance.crm_create_lead("k-lost", "p-lost").await.unwrap()
        })
        .await;
    let refused = first.expect_err("the answer was lost");
    assert!(matches!(sync_error(&refused), Some(SyncError::Transport(_))), "{refused:?}");
    assert_eq!(count(&org, "SELECT Id FROM Lead WHERE Email = 'lost@answer.example'"), 1, "it landed");
    let errors = org.errors().await;
    assert!(errors.iter().any(|e| e.id == "crm:k-lost" && e.operation == "create lead"), "{errors:?}");

    let retried = org.instance().await.crm_create_lead("k-lost", "p-lost").await.unwrap().expect("found");
    assert!(retried.existed, "found by its look-up, not created: {retried:?}");
    assert_eq!(count(&org, "SELECT Id FROM Lead WHERE Email = 'lost@answer.example'"), 1, "still one");
    let person = platform(&org).person(ORG, "p-lost").unwrap().unwrap();
    assert_eq!(person.salesforce.map(|l| l.id), Some(retried.id));
    assert!(org.errors().await.iter().all(|e| e.id != "crm:k-lost"), "the error is gone");
}

#[tokio::test]
async fn c4_a_request_that_never_arrived_is_not_created_again_while_it_might_still_land() {
    let org = TestOrg::demo();
    put_person(&org, "p-drop", Some("Dee Dropped"), Some("dropped@request.example"));
    let instance = org.instance().await;
    let first = org
        .acting_during_call(1, |emulator| emulator.inject(Fault::drop_request()), async move {
            let mut instance = instance;
            instance.crm_create_lead("k-drop", "p-drop").await.unwrap()
        })
        .await;
    assert!(first.is_err());
    assert_eq!(count(&org, "SELECT Id FROM Lead WHERE Email = 'dropped@request.example'"), 0);
    let retried = org.instance().await.crm_create_lead("k-drop", "p-drop").await.unwrap().expect_err("waits");
    assert!(
        matches!(&retried, CrmError::InvalidRequest(why) if why.contains("may still reach Salesforce")),
        "{retried:?}"
    );
    assert_eq!(count(&org, "SELECT Id FROM Lead WHERE Email = 'dropped@request.example'"), 0, "nothing created");
    // A new key is the admin's choice to create it anyway.
    let fresh = org.instance().await.crm_create_lead("k-drop-2", "p-drop").await.unwrap().expect("created");
    assert!(!fresh.existed);
}

#[tokio::test]
async fn c6_a_refused_create_is_listed_with_salesforces_reason_and_retried_in_the_next_cycle() {
    let org = TestOrg::demo();
    put_person(&org, "p-limit", Some("Max Limit"), Some("limit@reached.example"));
    let usage = org.emulator.api_usage();
    org.emulator.set_api_usage(Some(usage.max), None);
    let refused = org.instance().await.crm_create_lead("k-limit", "p-limit").await.unwrap().expect_err("refused");
    assert!(matches!(sync_error(&refused), Some(SyncError::ApiLimit(_))), "{refused:?}");
    let errors = org.errors().await;
    let error = errors.iter().find(|e| e.id == "crm:k-limit").expect("listed");
    assert_eq!(error.operation, "create lead");
    assert_eq!(error.record_id.as_deref(), Some("p-limit"));
    assert!(!error.reason.message.is_empty());

    org.emulator.set_api_usage(Some(0), None);
    org.instance().await.retry_error("crm:k-limit").await.unwrap().expect("queued");
    let report = org.cycle().await.expect("a cycle");
    assert!(report.errors.iter().all(|e| e.id != "crm:k-limit"), "{report:?}");
    assert_eq!(count(&org, "SELECT Id FROM Lead WHERE Email = 'limit@reached.example'"), 1, "created on retry");
    assert!(org.errors().await.iter().all(|e| e.id != "crm:k-limit"));
    let person = platform(&org).person(ORG, "p-limit").unwrap().unwrap();
    assert_eq!(person.salesforce.map(|l| l.object), Some(LinkedObject::Lead));
}

#[tokio::test]
async fn c9_a_manual_case_needs_a_contact_and_every_required_field_and_leaves_a_note_with_its_link() {
    let org = TestOrg::demo();
    org.emulator
        .add_custom_field("Case", FieldDef::new("Product__c", "Product", FieldType::String).length(80).required())
        .unwrap();
    let (contact, email, _) = seeded_contact(&org, 1);
    put_person(&org, "p-case", Some("Case Person"), Some(&email));
    put_conversation(&org, "c-case", "p-case", ConversationState::Open);

    let refused = org.instance().await.crm_create_case("k-c0", "c-case", &[]).await.unwrap().expect_err("no contact");
    assert!(
        matches!(&refused, CrmError::InvalidRequest(why) if why.contains("not linked to a Salesforce Contact")),
        "{refused:?}"
    );

    link(&org, "p-case", LinkedObject::Contact, &contact);
    let refused = org.instance().await.crm_create_case("k-c1", "c-case", &[]).await.unwrap().expect_err("missing");
    let CrmError::RequiredFieldsMissing(missing) = &refused else { panic!("{refused:?}") };
    assert!(missing.iter().any(|f| f.field == "Product__c" && f.label == "Product"), "{missing:?}");
    assert_eq!(
        count(&org, &format!("SELECT Id FROM Case WHERE ContactId = '{contact}' AND Subject = 'My invoice is wrong'")),
        0
    );

    let fields = [
        Attribute { name: "Product__c".into(), value: AttributeValue::Text("Billing".into()) },
        Attribute { name: "Priority".into(), value: AttributeValue::Text("High".into()) },
    ];
    let saved = org.instance().await.crm_create_case("k-c2", "c-case", &fields).await.unwrap().expect("a case");
    assert_eq!(saved.object, "Case");
    assert_eq!(org.field("Case", &saved.id, "ContactId"), json!(contact));
    assert_eq!(org.field("Case", &saved.id, "Product__c"), json!("Billing"));
    assert_eq!(org.field("Case", &saved.id, "Priority"), json!("High"));
    assert_eq!(org.field("Case", &saved.id, "Subject"), json!("My invoice is wrong"));
    let description = org.field("Case", &saved.id, "Description");
    assert!(description.as_str().is_some_and(|d| d.contains("120 EUR")), "the transcript: {description}");
    let conversation = platform(&org).conversation(ORG, "c-case").unwrap().unwrap();
    let note = conversation.notes.iter().find(|n| n.text.contains(&saved.id)).expect("a note with the link");
    assert!(note.text.contains(&format!("/lightning/r/Case/{}/view", saved.id)), "{}", note.text);

    let again = org.instance().await.crm_create_case("k-c2", "c-case", &fields).await.unwrap().expect("same");
    assert!(again.existed && again.id == saved.id);
    assert_eq!(platform(&org).conversation(ORG, "c-case").unwrap().unwrap().notes.len(), 1, "one note");

    // A value that does not fit its field is refused before Salesforce sees it.
    let wrong = [Attribute { name: "NoSuchField__c".into(), value: AttributeValue::Text("x".into()) }];
    let refused = org.instance().await.crm_create_case("k-c3", "c-case", &wrong).await.unwrap().expect_err("refused");
    assert!(matches!(&refused, CrmError::Conversion(errors) if errors[0].field == "NoSuchField__c"), "{refused:?}");
}

#[tokio::test]
async fn c7_c8_tasks_go_on_the_contact_with_the_assignees_user_and_the_one_open_opportunity() {
    let org = TestOrg::demo();
    let (colleague_id, colleague_username, colleague_email) = colleague(&org);
    // An Account of its own, with no opportunity yet.
    let account = org.create_as(&colleague_username, "Account", json!({"Name": "Tasks Inc"}));
    let email = "task.person@tasks.example".to_string();
    let contact = org.create_as(
        &colleague_username,
        "Contact",
        json!({"LastName": "Person", "Email": email, "AccountId": account}),
    );
    teammate(&org, "t-1", &colleague_email);
    put_person(&org, "p-task", Some("Task Person"), Some(&email));
    link(&org, "p-task", LinkedObject::Contact, &contact);
    put_conversation(&org, "c-task", "p-task", ConversationState::Closed);
    assign(&org, "c-task", "t-1");
    let opportunity = org.create_as(
        &colleague_username,
        "Opportunity",
        json!({"Name": "Upsell", "StageName": "Prospecting", "CloseDate": "2031-06-30", "AccountId": account}),
    );

    // No contact role: not related, and the result says why.
    let tasks = org.instance().await.crm_log_task("k-t1", "c-task", None).await.unwrap().expect("a Task");
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(org.field("Task", &task.id, "WhoId"), json!(contact));
    assert_eq!(org.field("Task", &task.id, "WhatId"), json!(null));
    assert_eq!(org.field("Task", &task.id, "OwnerId"), json!(colleague_id), "the assignee's user");
    assert_eq!(org.field("Task", &task.id, "Status"), json!("Completed"), "the conversation is closed");
    assert!(task.notes.iter().any(|n| n.contains("no role")), "{:?}", task.notes);

    // With a role on the one open opportunity: related.
    org.create_as(
        &colleague_username,
        "OpportunityContactRole",
        json!({"OpportunityId": opportunity, "ContactId": contact, "Role": "Decision Maker"}),
    );
    let related =
        org.instance().await.crm_log_task("k-t2", "c-task", Some("c-task-m2")).await.unwrap().expect("a Task");
    assert_eq!(org.field("Task", &related[0].id, "WhatId"), json!(opportunity));
    assert!(org.field("Task", &related[0].id, "Subject").as_str().unwrap().starts_with("Message: It says 120 EUR"));

    // Two open opportunities: none is related.
    org.create_as(
        &colleague_username,
        "Opportunity",
        json!({"Name": "Second", "StageName": "Qualification", "CloseDate": "2031-07-30", "AccountId": account}),
    );
    let several = org.instance().await.crm_log_task("k-t3", "c-task", None).await.unwrap().expect("a Task");
    assert_eq!(org.field("Task", &several[0].id, "WhatId"), json!(null));
    assert!(several[0].notes.iter().any(|n| n.contains("2 open opportunities")), "{:?}", several[0].notes);

    // An unknown part is refused.
    let refused =
        org.instance().await.crm_log_task("k-t4", "c-task", Some("nope")).await.unwrap().expect_err("refused");
    assert!(matches!(&refused, CrmError::InvalidRequest(why) if why.contains("nope")), "{refused:?}");
}

#[tokio::test]
async fn c7_an_email_of_several_leads_gives_a_task_on_each_and_a_lead_is_created_only_for_a_manual_task() {
    let org = TestOrg::demo();
    let (_, colleague_username, _) = colleague(&org);
    for last in ["One", "Two"] {
        org.create_as(
            &colleague_username,
            "Lead",
            json!({"LastName": last, "Company": "Twins", "Email": "twins@leads.example"}),
        );
    }
    put_person(&org, "p-twins", Some("Twin Leads"), Some("twins@leads.example"));
    put_conversation(&org, "c-twins", "p-twins", ConversationState::Open);
    let tasks = org.instance().await.crm_log_task("k-w1", "c-twins", None).await.unwrap().expect("Tasks");
    assert_eq!(tasks.len(), 2, "one per Lead: {tasks:?}");
    assert_eq!(org.field("Task", &tasks[0].id, "Status"), json!("In Progress"), "the conversation is open");

    put_person(&org, "p-new", Some("Nora New"), Some("nora@new.example"));
    put_conversation(&org, "c-new", "p-new", ConversationState::Open);
    let refused = org.instance().await.crm_log_task("k-w2", "c-new", None).await.unwrap().expect_err("no Lead");
    assert!(matches!(&refused, CrmError::InvalidRequest(why) if why.contains("automatic Tasks")), "{refused:?}");
    assert_eq!(count(&org, "SELECT Id FROM Lead WHERE Email = 'nora@new.example'"), 0);
    let manual: Vec<SavedRecord> =
        org.instance().await.crm_log_task("k-w3", "c-new", Some("c-new-m1")).await.unwrap().expect("a Task");
    let lead = org.query("SELECT Id FROM Lead WHERE Email = 'nora@new.example'");
    assert_eq!(lead.len(), 1, "a Lead for the manual Task");
    assert_eq!(org.field("Task", &manual[0].id, "WhoId"), lead[0]["Id"]);
}

#[tokio::test]
async fn d1_d3_contacts_are_searched_linked_created_and_unlinked_on_the_person() {
    let org = TestOrg::demo();
    let (contact, email, account) = seeded_contact(&org, 3);
    let first = org.field("Contact", &contact, "FirstName").as_str().unwrap().to_string();
    let last = org.field("Contact", &contact, "LastName").as_str().unwrap().to_string();
    put_person(&org, "p-d1", Some(&format!("{first} {last}")), Some(&email));

    // By the person's own names and email: one clear match.
    let outcome = org.instance().await.crm_find_contact("p-d1", None).await.unwrap().expect("searched");
    assert!(matches!(&outcome, Outcome::Link(best) if best.candidate.id == contact), "{outcome:?}");
    // By what someone typed (SOSL, escaped: the quote and braces are text).
    let typed = format!("{}'}}", &last[..3]);
    let outcome = org.instance().await.crm_find_contact("p-d1", Some(&typed)).await.unwrap();
    assert!(outcome.is_ok(), "a typed search with reserved characters is escaped: {outcome:?}");
    let outcome = org.instance().await.crm_find_contact("p-d1", Some(&last[..3])).await.unwrap().expect("found");
    let candidates = match &outcome {
        Outcome::Link(best) => vec![best.candidate.id.clone()],
        Outcome::Suggest(all) => all.iter().map(|c| c.candidate.id.clone()).collect(),
        Outcome::Create(_) => vec![],
    };
    assert!(candidates.contains(&contact), "{outcome:?}");
    let refused = org.instance().await.crm_find_contact("p-d1", Some("a")).await.unwrap().expect_err("too short");
    assert!(matches!(&refused, CrmError::InvalidRequest(_)), "{refused:?}");

    // Link the one found; the link lives on the person.
    let linked = org.instance().await.crm_link_contact("k-d1", "p-d1", Some(&contact)).await.unwrap().expect("linked");
    assert!(linked.existed);
    let person = platform(&org).person(ORG, "p-d1").unwrap().unwrap();
    assert_eq!(person.salesforce.map(|l| l.id), Some(contact.clone()));
    let refused = org
        .instance()
        .await
        .crm_link_contact("k-d1b", "p-d1", Some("003000000000000AAA"))
        .await
        .unwrap()
        .expect_err("no such");
    assert!(matches!(&refused, CrmError::InvalidRequest(why) if why.contains("no Contact")), "{refused:?}");

    // Unlink keeps the Contact.
    org.instance().await.crm_unlink_contact("p-d1").await.unwrap().expect("unlinked");
    assert!(platform(&org).person(ORG, "p-d1").unwrap().unwrap().salesforce.is_none());
    assert_eq!(count(&org, &format!("SELECT Id FROM Contact WHERE Id = '{contact}'")), 1, "the Contact is kept");
    let refused = org.instance().await.crm_unlink_contact("p-d1").await.unwrap().expect_err("not linked");
    assert!(matches!(&refused, CrmError::InvalidRequest(_)), "{refused:?}");

    // Create one from a new person, in their company's Account, once per key.
    platform(&org)
        .put_company(
            ORG,
            "co-d1",
            CompanyPatch {
                name: Some(Some("Acme".into())),
                account_id: Some(Some(account.clone())),
                ..CompanyPatch::default()
            },
            false,
            now(),
        )
        .unwrap();
    put_person(&org, "p-new", Some("Brand New"), Some("brand.new@example.org"));
    patch_person(&org, "p-new", PersonPatch { company_id: Some(Some("co-d1".into())), ..PersonPatch::default() });
    let outcome = org.instance().await.crm_find_contact("p-new", None).await.unwrap().expect("searched");
    assert!(matches!(&outcome, Outcome::Create(_)), "{outcome:?}");
    let created = org.instance().await.crm_link_contact("k-d2", "p-new", None).await.unwrap().expect("created");
    assert!(!created.existed && created.id.starts_with("003"));
    assert_eq!(org.field("Contact", &created.id, "AccountId"), json!(account));
    assert_eq!(org.field("Contact", &created.id, "LastName"), json!("New"));
    let again = org.instance().await.crm_link_contact("k-d2", "p-new", None).await.unwrap().expect("the same");
    assert!(again.existed && again.id == created.id);
    assert_eq!(count(&org, "SELECT Id FROM Contact WHERE Email = 'brand.new@example.org'"), 1);
}

fn set_state(org: &TestOrg, conversation: &str, state: ConversationState, tags: Option<Vec<String>>) {
    let patch = ConversationPatch { state: Some(state), tags, ..ConversationPatch::default() };
    platform(org).put_conversation(ORG, conversation, patch, false, now()).unwrap();
}

#[tokio::test]
async fn c5_a_tag_creates_the_case_once_and_every_close_writes_the_transcript_again_but_never_the_status() {
    use casebridge::runtime::bindings::settings::CaseTrigger;
    let mut org = TestOrg::demo();
    org.emulator.add_custom_field("Case", FieldDef::new("Topic__c", "Topic", FieldType::String).length(80)).unwrap();
    let definition = AttributeDefinition {
        entity: RecordKind::Conversation,
        name: "topic".into(),
        kind: AttributeKind::Custom,
        value_type: ValueType::Text,
        options: vec![],
    };
    platform(&org).define_attribute(ORG, definition, now()).unwrap();
    org.config.mappings = vec![FieldMapping {
        object: "Case".into(),
        field: "Topic__c".into(),
        attribute: "topic".into(),
        direction: Direction::ToSalesforce,
    }];
    org.config.crm.case_triggers = vec![CaseTrigger::Tagged("escalate".into())];
    org.config.crm.log_conversations_as_tasks = true;
    let (contact, email, _) = seeded_contact(&org, 4);
    put_person(&org, "p-auto", Some("Auto Person"), Some(&email));
    link(&org, "p-auto", LinkedObject::Contact, &contact);
    // Conversations from before the automation are left alone.
    put_conversation(&org, "c-before", "p-auto", ConversationState::Open);
    org.cycle().await.expect("the first cycle reads to the end of the feed");
    set_state(&org, "c-before", ConversationState::Snoozed, None);

    put_conversation(&org, "c-auto", "p-auto", ConversationState::Open);
    let topic = casebridge::platform::attribute("topic", AttributeKind::Custom, AttributeValue::Text("billing".into()));
    platform(&org)
        .put_conversation(
            ORG,
            "c-auto",
            ConversationPatch { attributes: vec![topic], ..ConversationPatch::default() },
            false,
            now(),
        )
        .unwrap();
    let report = org.cycle().await.expect("a cycle");
    assert!(report.errors.is_empty(), "{report:?}");
    let tasks = org.query(&format!("SELECT Id, Status FROM Task WHERE WhoId = '{contact}'"));
    assert_eq!(tasks.len(), 1, "a Task when the conversation started (c-before changed, it did not start): {tasks:?}");
    assert_eq!(tasks[0]["Status"], json!("In Progress"));
    let cases_of = |org: &TestOrg| {
        org.query(&format!("SELECT Id, Status, Topic__c, Description FROM Case WHERE ContactId = '{contact}' AND Subject = 'My invoice is wrong'"))
    };
    assert!(cases_of(&org).is_empty(), "not tagged yet");

    set_state(&org, "c-auto", ConversationState::Open, Some(vec!["Escalate".into()]));
    org.cycle().await.expect("a cycle");
    let cases = cases_of(&org);
    assert_eq!(cases.len(), 1, "one case for the tag: {cases:?}");
    let case_id = cases[0]["Id"].as_str().unwrap().to_string();
    assert_eq!(cases[0]["Topic__c"], json!("billing"), "mapped conversation attributes fill case fields");
    let conversation = platform(&org).conversation(ORG, "c-auto").unwrap().unwrap();
    assert!(conversation.notes.iter().any(|n| n.text.contains(&case_id)), "a note with the link");

    // An agent works the case in Salesforce; the conversation goes on and closes.
    org.salesforce_user_updates("Case", &case_id, json!({"Status": "Working"}));
    let late = ConversationPatch {
        parts: vec![message("c-auto-m3", "Thanks, that fixed it.", now())],
        attributes: vec![casebridge::platform::attribute(
            "topic",
            AttributeKind::Custom,
            AttributeValue::Text("refunds".into()),
        )],
        ..ConversationPatch::default()
    };
    platform(&org).put_conversation(ORG, "c-auto", late, false, now()).unwrap();
    set_state(&org, "c-auto", ConversationState::Closed, Some(vec![]));
    let report = org.cycle().await.expect("a cycle");
    assert!(report.errors.is_empty(), "{report:?}");
    let cases = cases_of(&org);
    assert_eq!(cases.len(), 1, "still one case");
    assert_eq!(cases[0]["Status"], json!("Working"), "the Status is never changed");
    assert_eq!(cases[0]["Topic__c"], json!("refunds"), "written again on close");
    assert!(cases[0]["Description"].as_str().unwrap().contains("that fixed it"), "the transcript is updated");
    let tasks = org.query(&format!("SELECT Id, Status FROM Task WHERE WhoId = '{contact}'"));
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["Status"], json!("Completed"), "the Task is completed when the conversation closes");

    // Reopened, changed and closed again: written again.
    set_state(&org, "c-auto", ConversationState::Open, None);
    org.cycle().await.expect("a cycle");
    let topic =
        casebridge::platform::attribute("topic", AttributeKind::Custom, AttributeValue::Text("accounts".into()));
    platform(&org)
        .put_conversation(
            ORG,
            "c-auto",
            ConversationPatch { attributes: vec![topic], ..ConversationPatch::default() },
            false,
            now(),
        )
        .unwrap();
    set_state(&org, "c-auto", ConversationState::Closed, None);
    org.cycle().await.expect("a cycle");
    assert_eq!(cases_of(&org)[0]["Topic__c"], json!("accounts"));
    // Quiet cycles queue nothing new.
    let quiet = org.cycle().await.expect("a cycle");
    assert!(quiet.errors.is_empty());
    assert_eq!(cases_of(&org).len(), 1);
}

#[tokio::test]
async fn c5_d2_d4_an_automatic_case_links_the_person_or_creates_the_contact_or_is_flagged_with_suggestions() {
    use casebridge::runtime::bindings::settings::CaseTrigger;
    let mut org = TestOrg::demo();
    org.config.crm.case_triggers = vec![CaseTrigger::ConversationCreated];
    org.config.crm.link_contacts_automatically = true;
    let (_, colleague_username, _) = colleague(&org);
    org.cycle().await.expect("the automation starts at the feed's end");

    // One Contact matches by name (D2): linked, and the case has it.
    let (contact, _, _) = seeded_contact(&org, 5);
    let first = org.field("Contact", &contact, "FirstName").as_str().unwrap().to_string();
    let last = org.field("Contact", &contact, "LastName").as_str().unwrap().to_string();
    put_person(&org, "p-match", Some(&format!("{first} {last}")), None);
    put_conversation(&org, "c-match", "p-match", ConversationState::Open);
    // None matches: a Contact is created with the case, in one request.
    put_person(&org, "p-none", Some("Zed Nobody"), Some("zed@nowhere.example"));
    put_conversation(&org, "c-none", "p-none", ConversationState::Open);
    // Several match: the case is created without a Contact and flagged (D4).
    for email in ["sam.one@twins.example", "sam.two@twins.example"] {
        org.create_as(&colleague_username, "Contact", json!({"FirstName": "Sam", "LastName": "Twin", "Email": email}));
    }
    put_person(&org, "p-many", Some("Sam Twin"), None);
    put_conversation(&org, "c-many", "p-many", ConversationState::Open);
    let report = org.cycle().await.expect("a cycle");
    assert!(report.errors.is_empty(), "{report:?}");

    let linked = platform(&org).person(ORG, "p-match").unwrap().unwrap().salesforce.map(|l| l.id);
    assert_eq!(linked, Some(contact.clone()));
    assert_eq!(
        count(&org, &format!("SELECT Id FROM Case WHERE ContactId = '{contact}' AND Subject = 'My invoice is wrong'")),
        1
    );

    let created = platform(&org).person(ORG, "p-none").unwrap().unwrap().salesforce.expect("linked to a new Contact");
    assert_eq!(org.field("Contact", &created.id, "Email"), json!("zed@nowhere.example"));
    assert_eq!(count(&org, &format!("SELECT Id FROM Case WHERE ContactId = '{}'", created.id)), 1);

    let flagged = org.instance().await.crm_flagged_cases().await.unwrap().expect("listed");
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert_eq!(flagged[0].person_id, "p-many");
    assert_eq!(flagged[0].suggestions.len(), 2, "both Sams are suggested");
    assert_eq!(org.field("Case", &flagged[0].case_id, "ContactId"), json!(null));
    // Linking one of the suggestions gives the flagged case its Contact.
    let chosen = flagged[0].suggestions[0].candidate.id.clone();
    org.instance().await.crm_link_contact("k-pick", "p-many", Some(&chosen)).await.unwrap().expect("linked");
    assert_eq!(org.field("Case", &flagged[0].case_id, "ContactId"), json!(chosen));
    assert!(org.instance().await.crm_flagged_cases().await.unwrap().unwrap().is_empty(), "no longer flagged");

    // With automatic linking off, an unlinked person's case fails the check and says which.
    org.config.crm.link_contacts_automatically = false;
    put_person(&org, "p-off", Some("Off Person"), Some("off@person.example"));
    put_conversation(&org, "c-off", "p-off", ConversationState::Open);
    let report = org.cycle().await.expect("a cycle");
    let error = report.errors.iter().find(|e| e.record_id.as_deref() == Some("c-off")).expect("a sync error");
    assert_eq!(error.operation, "create case");
    assert!(error.reason.message.contains("not linked to a Salesforce Contact"), "{error:?}");
}

#[tokio::test]
async fn c4_duplicate_rules_are_reported_with_the_matches_and_passed_only_when_allowed_and_wanted() {
    let mut org = TestOrg::demo();
    let (_, colleague_username, _) = colleague(&org);
    let existing = org.create_as(
        &colleague_username,
        "Lead",
        json!({"LastName": "Dup", "Company": "Dups", "Email": "dup@leads.example"}),
    );
    let rule = |allow_save: bool| casebridge_emulator::db::DuplicateRule {
        object: "Lead".into(),
        name: "Standard_Lead_Duplicate_Rule".into(),
        fields: vec!["Email".into()],
        allow_save,
        message: "Use one of these records?".into(),
    };
    org.emulator.with_database(|db| db.add_duplicate_rule(rule(false))).unwrap();
    put_person(&org, "p-dup", Some("Dup Licate"), Some("dup@leads.example"));

    let refused = org.instance().await.crm_create_lead("k-dup1", "p-dup").await.unwrap().expect_err("blocked");
    let CrmError::DuplicatesDetected(found) = &refused else { panic!("{refused:?}") };
    assert_eq!(found.matched, [existing.clone()]);
    assert!(!found.allow_save);
    assert_eq!(found.message, "Use one of these records?");

    // The rule allows saving, but the admin did not turn that on: reported still.
    org.emulator.with_database(|db| db.add_duplicate_rule(rule(true))).unwrap();
    let refused = org.instance().await.crm_create_lead("k-dup2", "p-dup").await.unwrap().expect_err("reported");
    assert!(matches!(&refused, CrmError::DuplicatesDetected(found) if found.allow_save), "{refused:?}");
    // A blocking rule is not passed even with the option on.
    org.config.crm.allow_duplicate_save = true;
    org.emulator.with_database(|db| db.add_duplicate_rule(rule(false))).unwrap();
    let refused = org.instance().await.crm_create_lead("k-dup3", "p-dup").await.unwrap().expect_err("blocked");
    assert!(matches!(&refused, CrmError::DuplicatesDetected(_)), "{refused:?}");
    // Allowed and wanted: saved with the header.
    org.emulator.with_database(|db| db.add_duplicate_rule(rule(true))).unwrap();
    let saved = org.instance().await.crm_create_lead("k-dup4", "p-dup").await.unwrap().expect("saved past the rule");
    assert_ne!(saved.id, existing);
    assert_eq!(count(&org, "SELECT Id FROM Lead WHERE Email = 'dup@leads.example'"), 2);
}

#[tokio::test]
async fn c5_c9_no_permission_to_create_cases_is_said_and_the_configured_record_type_is_used() {
    use casebridge_emulator::schema::ObjectAccess;
    let mut org = TestOrg::demo();
    let (contact, email, _) = seeded_contact(&org, 6);
    put_person(&org, "p-perm", Some("Perm Person"), Some(&email));
    link(&org, "p-perm", LinkedObject::Contact, &contact);
    put_conversation(&org, "c-perm", "p-perm", ConversationState::Open);
    let me = org.emulator.seeded().integration_user_id.clone();
    let no_create = ObjectAccess { create: false, ..ObjectAccess::ALL };
    org.emulator.with_database(|db| db.set_object_access(&me, "Case", no_create)).unwrap();
    let refused = org.instance().await.crm_create_case("k-p1", "c-perm", &[]).await.unwrap().expect_err("refused");
    assert!(matches!(&refused, CrmError::Permission(why) if why.contains("Create on Case")), "{refused:?}");
    org.emulator.with_database(|db| db.set_object_access(&me, "Case", ObjectAccess::ALL)).unwrap();

    // Record types: the configured one by DeveloperName, else the user's default.
    let ctx = casebridge_emulator::db::WriteContext { now: org.emulator.now(), user_id: me.clone() };
    let add = |name: &str, default: bool| {
        let record_type = json!({"Name": name, "DeveloperName": name, "SobjectType": "Case", "IsActive": true});
        org.emulator
            .with_database(|db| db.add_record_type(record_type.as_object().unwrap(), vec![], default, &ctx))
            .expect("a record type")
    };
    let support = add("Support", true);
    let billing = add("Billing", false);
    let by_default = org.instance().await.crm_create_case("k-p2", "c-perm", &[]).await.unwrap().expect("a case");
    assert_eq!(org.field("Case", &by_default.id, "RecordTypeId"), json!(support), "the user's default");
    org.config.crm.case_record_type = Some("Billing".into());
    let configured = org.instance().await.crm_create_case("k-p3", "c-perm", &[]).await.unwrap().expect("a case");
    assert_eq!(org.field("Case", &configured.id, "RecordTypeId"), json!(billing), "the configured one");
    org.config.crm.case_record_type = Some("Nope".into());
    let refused = org.instance().await.crm_create_case("k-p4", "c-perm", &[]).await.unwrap().expect_err("unknown");
    assert!(
        matches!(&refused, CrmError::InvalidRequest(why) if why.contains("Nope") && why.contains("Support")),
        "{refused:?}"
    );
}
