//! The workflow on the Cases channel (A11), end to end: the host runtime,
//! the connector component and the emulated org. Each test reads its
//! workflow from the TOML an admin writes (`casebridge::workflow::parse`).

use casebridge::runtime::bindings::settings::ValueDescription;
use casebridge::runtime::bindings::types::{self, Channel};
use casebridge_emulator::schema::{FieldDef, FieldType};
use casebridge_tests::{CUSTOMER_USERNAME, TestOrg};
use serde_json::json;

/// The demo org running `workflow` on cases, with descriptions of two
/// values of `Case.Type`, and a number field to collect.
fn org_with(workflow: &str) -> TestOrg {
    let mut org = TestOrg::demo();
    org.emulator
        .add_custom_field("Case", FieldDef::new("Order_Number__c", "Order Number", FieldType::Double).precision(10, 0))
        .unwrap();
    org.config.workflows =
        vec![casebridge::workflow::parse(workflow, Channel::SalesforceCase).expect("a valid workflow")];
    let describe = |value: &str, description: &str| ValueDescription {
        object: "Case".into(),
        field: "Type".into(),
        value: value.into(),
        description: description.into(),
    };
    org.config.value_descriptions = vec![
        describe("Electrical", "power, battery, charger, cable or display that won't turn on"),
        describe("Mechanical", "grinding noise, jammed gears, a hinge or lever that broke"),
    ];
    org
}

/// A new web case for the agent; its Id.
fn new_case(org: &TestOrg, subject: &str, description: &str) -> String {
    let agent = org.emulator.seeded().agent_user_id.clone().unwrap();
    org.create_as(
        CUSTOMER_USERNAME,
        "Case",
        json!({"Subject": subject, "Description": description, "Origin": "Web", "Status": "New", "OwnerId": agent}),
    )
}

const BRANCH_SET_DETECT_HAND_OFF: &str = r#"
[[step]]
id = "web"
branch = [{ goto = "urgent", all = [{ attribute = "Origin", equals = "web" }, { attribute = "Subject", contains = "charger" }] }]
otherwise = "detect"

[[step]]
id = "urgent"
set = { field = "Priority", value = "high" }

[[step]]
id = "detect"
detect = ["Type"]

[[step]]
id = "team"
hand_off = { user = "HAND_OFF_USER" }
"#;

#[tokio::test]
async fn a_branch_set_data_and_detection_reach_the_case_in_the_hand_offs_own_write() {
    let user = TestOrg::demo().emulator.seeded().handoff_user_id.clone().unwrap();
    let org = org_with(&BRANCH_SET_DETECT_HAND_OFF.replace("HAND_OFF_USER", &user));
    let charger = new_case(&org, "The charger does nothing", "The charger won't turn on since yesterday.");
    let other = new_case(&org, "Noise", "There is a grinding noise when the lid closes; the hinge broke.");
    org.cycle().await.expect("the cycle succeeds");

    // The branch held for the charger case only; detection chose from the descriptions.
    assert_eq!(org.field("Case", &charger, "Priority"), json!("High"), "Set data, in the value's API form");
    assert_eq!(org.field("Case", &charger, "Type"), json!("Electrical"));
    assert_eq!(org.field("Case", &other, "Priority"), json!("Medium"), "the else branch skipped Set data");
    assert_eq!(org.field("Case", &other, "Type"), json!("Mechanical"));
    // The hand-off step's own user, the values and the hand-off in one write per case.
    for case in [&charger, &other] {
        assert_eq!(org.field("Case", case, "OwnerId"), json!(user));
        assert_eq!(org.field("Case", case, "FinInvolved__c"), json!(true));
        assert_eq!(org.replies_on(case).len(), 1, "the hand-off message only");
    }
    let counters = org.emulator.counters();
    assert_eq!(counters.get("PATCH /sobjects/Case"), 0, "every case write went in the composite");
    assert!(org.errors().await.is_empty(), "{:?}", org.errors().await);

    // Written once: the next cycle is idle (its one call is the poll).
    org.emulator.reset_counters();
    org.cycle().await.expect("an idle cycle");
    assert_eq!(org.emulator.counters().total, 1, "{:?}", org.emulator.counters().by_endpoint);
}

const COLLECT: &str = r#"
[[step]]
id = "order"
collect = { field = "Order_Number__c", question = "What is your order number?", tries = 2 }

[[step]]
id = "answer"
agent = true
"#;

#[tokio::test]
async fn collect_data_asks_again_with_the_reason_and_writes_the_answer_that_fits() {
    let org = org_with(COLLECT);
    let case = new_case(&org, "Where is my parcel", "It has not arrived.");
    org.cycle().await.expect("cycle 1");
    assert_eq!(org.replies_on(&case), ["What is your order number?"]);

    org.pass_settle_window();
    org.customer_writes(&case, "I don't have it here");
    org.cycle().await.expect("cycle 2");
    let replies = org.replies_on(&case);
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(replies[1].starts_with("That is not a number"), "the reason first: {}", replies[1]);
    assert!(replies[1].ends_with("What is your order number?"), "then the question again: {}", replies[1]);
    assert_eq!(org.field("Case", &case, "Order_Number__c"), json!(null));

    org.pass_settle_window();
    org.customer_writes(&case, "It's 4711");
    org.cycle().await.expect("cycle 3");
    let replies = org.replies_on(&case);
    assert_eq!(org.field("Case", &case, "Order_Number__c"), json!(4711.0));
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert!(replies[2].starts_with("Here is how to solve"), "the agent answers after the workflow: {}", replies[2]);
}

#[tokio::test]
async fn collect_data_gives_up_after_its_tries_and_a_customer_who_never_answers_is_asked_once() {
    let org = org_with(COLLECT);
    let silent = new_case(&org, "Silent", "Nothing more to say.");
    let wrong = new_case(&org, "Wrong", "I never know numbers.");
    org.cycle().await.expect("cycle 1");
    for _ in 0..2 {
        org.pass_settle_window();
        org.customer_writes(&wrong, "no idea");
        org.cycle().await.expect("a cycle");
    }
    assert_eq!(org.replies_on(&silent), ["What is your order number?"], "asked once, never again");
    let replies = org.replies_on(&wrong);
    assert_eq!(replies.len(), 3, "question, again with the reason, then the agent: {replies:?}");
    assert!(replies[2].starts_with("Here is how to solve"), "{}", replies[2]);
    for case in [&silent, &wrong] {
        assert_eq!(org.field("Case", case, "Order_Number__c"), json!(null));
    }
    let errors = org.errors().await;
    assert!(
        errors.iter().any(|e| e.id == format!("workflow:{wrong}:order") && e.reason.message.contains("gave up")),
        "{errors:?}"
    );
}

const DETECT: &str = r#"
[[step]]
id = "kind"
detect = ["Type"]

[[step]]
id = "answer"
agent = true
"#;

#[tokio::test]
async fn detection_finds_nothing_below_the_threshold_and_refuses_a_value_outside_the_picklist() {
    let org = org_with(DETECT);
    let vague = new_case(&org, "Hello", "Please call me back tomorrow.");
    org.cycle().await.expect("cycle 1");
    assert_eq!(org.field("Case", &vague, "Type"), json!(null), "no description fits well enough");
    assert_eq!(org.replies_on(&vague).len(), 1, "the agent still answers");

    // An agent of its own (a webhook) chooses a value that is not in the picklist.
    *org.agent.detected.lock().unwrap() =
        Some(vec![types::Attribute { name: "Type".into(), value: types::AttributeValue::Text("Plasma".into()) }]);
    let odd = new_case(&org, "The charger won't turn on", "No power at all.");
    org.cycle().await.expect("cycle 2");
    assert_eq!(org.field("Case", &odd, "Type"), json!(null), "refused before Salesforce saw it");
    let errors = org.errors().await;
    assert!(
        errors.iter().any(|e| e.id == format!("workflow:{odd}:kind") && e.reason.message.contains("`Plasma`")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_question_whose_write_lands_after_the_client_gave_up_is_not_asked_again() {
    // How many calls the first cycle makes: the last one is the composite write.
    let probe = org_with(COLLECT);
    new_case(&probe, "Where is my parcel", "It has not arrived.");
    probe.cycle().await.expect("the probe cycle");
    let calls = u32::try_from(probe.emulator.counters().total).unwrap();

    let org = org_with(COLLECT);
    let case = new_case(&org, "Where is my parcel", "It has not arrived.");
    let lost = org.cycle_with_fault_on_call(calls, casebridge_emulator::Fault::drop_response()).await;
    assert!(lost.is_err(), "the write's answer was lost: {lost:?}");
    assert_eq!(org.replies_on(&case), ["What is your order number?"], "Salesforce has the question");

    // The next process finds the question on the case and waits for the answer.
    org.pass_settle_window();
    org.cycle().await.expect("the cycle after");
    org.customer_writes(&case, "4711");
    org.pass_settle_window();
    org.cycle().await.expect("the answer's cycle");
    let replies = org.replies_on(&case);
    assert_eq!(replies.iter().filter(|r| r.contains("order number")).count(), 1, "asked once: {replies:?}");
    assert_eq!(org.field("Case", &case, "Order_Number__c"), json!(4711.0));
}

#[test]
fn workflow_files_report_every_mistake_with_its_step() {
    let problems = casebridge::workflow::parse(
        r#"
[[step]]
id = "a"
set = { field = "Priority", value = "High" }
collect = { field = "Order_Number__c", question = "?" }

[[step]]
id = "a"
branch = [{ goto = "nowhere", all = [{ attribute = "Tier", equals = "x", contains = "y" }] }]

[[step]]
id = "b c"
detect = []
next = "missing"

[[step]]
id = "live"
hand_off_to_salesforce_agent = true

[[step]]
id = "when"
branch = [{ goto = "a", all = [{ attribute = "Due", before = "next week" }] }]

[[step]]
id = "ask"
collect = { field = "Bad Field", question = " ", tries = 0 }
"#,
        Channel::SalesforceCase,
    )
    .expect_err("invalid");
    let expect = [
        ("step `a`", "does exactly one thing"),
        ("step `a`", "names two steps"),
        ("step `a`", "goes to `nowhere`"),
        ("step `a`", "has 2 tests"),
        ("step `b c`", "letters, digits"),
        ("step `b c`", "`missing` is not a step"),
        ("step `b c`", "names no field"),
        ("step `live`", "is for the messenger workflow"),
        ("step `when`", "is not a date"),
        ("step `ask`", "`Bad Field` is not a field API name"),
        ("step `ask`", "is empty"),
        ("step `ask`", "give 1 to 10"),
    ];
    for (step, text) in expect {
        assert!(problems.iter().any(|p| p.starts_with(step) && p.contains(text)), "{step}: {text} in {problems:#?}");
    }
    let messenger = casebridge::workflow::parse(
        "[[step]]\nid = \"t\"\nhand_off = { queue = \"00G000000000001AAA\" }\n",
        Channel::Messenger,
    )
    .expect_err("no team hand-off in the messenger");
    assert!(messenger[0].contains("hand_off_to_salesforce_agent"), "{messenger:?}");
    let empty = casebridge::workflow::parse("", Channel::SalesforceCase).expect_err("no steps");
    assert!(empty[0].contains("no steps"), "{empty:?}");
}

#[tokio::test]
async fn fields_are_checked_against_the_catalog_before_the_workflow_runs() {
    let org = org_with(
        r#"
[[step]]
id = "prio"
set = { field = "Priority", value = "Urgent" }

[[step]]
id = "num"
set = { field = "Order_Number__c", value = "twelve" }

[[step]]
id = "ghost"
collect = { field = "NoSuchField__c", question = "?" }

[[step]]
id = "text"
detect = ["Subject"]

[[step]]
id = "undescribed"
detect = ["Reason"]

[[step]]
id = "fine"
detect = ["Type"]
"#,
    );
    let mut instance = org.instance().await;
    let catalogs = instance.list_fields().await.unwrap().expect("the catalog");
    let case = catalogs.into_iter().find(|c| c.object == "Case").unwrap();
    let workflow = &org.config.workflows[0];
    let mut fits = |d: &casebridge::runtime::bindings::describe::FieldDescriptor, value: &str| {
        if d.name == "Order_Number__c" && value.parse::<f64>().is_err() {
            Err("is not a number".to_string())
        } else {
            Ok(())
        }
    };
    let problems = casebridge::workflow::check_fields(workflow, &case, &org.config.value_descriptions, &mut fits);
    let expect = [
        ("step `prio`", "Urgent is not an active value; choose one of: High, Medium, Low"),
        ("step `num`", "is not a number"),
        ("step `ghost`", "Case has no field `NoSuchField__c`"),
        ("step `text`", "not a picklist or multi-select"),
        ("step `undescribed`", "fields describe-value"),
    ];
    for (step, text) in expect {
        assert!(problems.iter().any(|p| p.starts_with(step) && p.contains(text)), "{step}: {text} in {problems:#?}");
    }
    assert_eq!(problems.len(), expect.len(), "`fine` is fine: {problems:#?}");
}
