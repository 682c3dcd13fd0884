use super::*;
use crate::capabilities::testing::MemoryHost;
use crate::catalog::from_describe;
use crate::model::{DescribedObject, FieldDescriptor, PicklistEntry, ResolutionState};

fn field(name: &str, field_type: FieldType, values: &[&str]) -> FieldDescriptor {
    FieldDescriptor {
        name: name.into(),
        label: name.into(),
        field_type,
        length: 255,
        precision: 18,
        scale: 0,
        custom: name.ends_with("__c"),
        nillable: true,
        createable: true,
        defaulted_on_create: false,
        updateable: true,
        calculated: false,
        name_field: false,
        restricted_picklist: false,
        picklist_values: values
            .iter()
            .map(|v| PicklistEntry {
                value: v.to_string(),
                label: format!("{v} label"),
                active: true,
                is_default: false,
            })
            .collect(),
        reference_to: vec![],
        relationship_name: None,
    }
}

fn catalog() -> ObjectCatalog {
    from_describe(DescribedObject {
        object: "Case".into(),
        fields: vec![
            field("Priority", FieldType::Picklist, &["Low", "Medium", "High"]),
            field("Type", FieldType::Picklist, &["Problem", "Question", "Billing"]),
            field("Order_Number__c", FieldType::Double, &[]),
            field("Reason", FieldType::Multipicklist, &["Broken", "Slow"]),
        ],
    })
}

fn conversation(person: Vec<Attribute>) -> Conversation {
    Conversation {
        id: "500000000000001AAA".into(),
        channel: Channel::SalesforceCase,
        case_number: "00001".into(),
        subject: Some("My order".into()),
        origin: None,
        attributes: vec![Attribute { name: "Origin".into(), value: AttributeValue::Text("Web".into()) }],
        person,
        company: vec![],
        parts: vec![],
        resolution: ResolutionState::None,
    }
}

fn step(id: &str, action: Action) -> Step {
    Step { id: id.into(), action, next: None }
}

fn flow(steps: Vec<Step>) -> Workflow {
    Workflow { channel: Channel::SalesforceCase, steps }
}

fn run(host: &mut MemoryHost, wf: &Workflow, progress: &mut Progress, c: &Conversation, answer: &str) -> Stop {
    let catalog = catalog();
    let descriptions = vec![
        ValueDescription {
            object: "Case".into(),
            field: "Type".into(),
            value: "Billing".into(),
            description: "invoices, charges, refunds".into(),
        },
        ValueDescription {
            object: "Case".into(),
            field: "Type".into(),
            value: "Problem".into(),
            description: "something is broken".into(),
        },
    ];
    let inputs = Inputs { conversation: c, case_catalog: Some(&catalog), descriptions: &descriptions, answer };
    let (stop, problems) = advance(host, wf, progress, &inputs);
    host.logs.extend(problems.into_iter().map(|p| format!("{}: {}", p.step, p.message)));
    stop
}

fn vip_branch() -> Workflow {
    let rule = Rule {
        all: vec![Condition { owner: Owner::Person, attribute: "Tier".into(), test: Test::Equals("vip".into()) }],
        goto: "high".into(),
    };
    flow(vec![
        step("tier", Action::Branch(Branch { rules: vec![rule], otherwise: Some("low".into()) })),
        Step {
            id: "high".into(),
            action: Action::SetData { field: "Priority".into(), value: "High".into() },
            next: Some("done".into()),
        },
        step("low", Action::SetData { field: "Priority".into(), value: "low".into() }),
        step("done", Action::LetAgentAnswer),
    ])
}

#[test]
fn a_branch_chooses_the_rule_that_holds_and_set_data_keeps_the_api_value() {
    let mut host = MemoryHost::default();
    let vip = conversation(vec![Attribute { name: "tier".into(), value: AttributeValue::Text("VIP".into()) }]);
    let mut progress = Progress::default();
    assert_eq!(run(&mut host, &vip_branch(), &mut progress, &vip, ""), Stop::AgentAnswers);
    assert_eq!(progress.values.get("Priority"), Some(&WireValue::Text("High".into())));
    assert!(progress.done);

    let mut progress = Progress::default();
    run(&mut host, &vip_branch(), &mut progress, &conversation(vec![]), "");
    assert_eq!(progress.values.get("Priority"), Some(&WireValue::Text("Low".into())), "matched case-insensitively");
    assert!(host.logs.is_empty(), "{:?}", host.logs);
}

#[test]
fn every_test_reads_its_attribute() {
    let text = |t: &str| Some(AttributeValue::Text(t.into()));
    let holds = |t: Test, v: Option<AttributeValue>| test(&t, v.as_ref());
    assert!(holds(Test::Contains("ORD".into()), text("my order")));
    assert!(holds(Test::OneOf(vec!["a".into(), "web".into()]), text("Web")));
    assert!(holds(Test::IsEmpty, None));
    assert!(holds(Test::IsEmpty, text(" ")));
    assert!(holds(Test::IsNotEmpty, text("x")));
    assert!(holds(Test::LessThan(10.0), Some(AttributeValue::Integer(3))));
    assert!(!holds(Test::GreaterThan(10.0), Some(AttributeValue::Decimal(3.5))));
    assert!(!holds(Test::LessThan(10.0), None));
    let day = CalendarDate { year: 2024, month: 6, day: 1 };
    assert!(holds(Test::Before(day), Some(AttributeValue::Date(CalendarDate { year: 2024, month: 5, day: 31 }))));
    assert!(holds(Test::After(day), Some(AttributeValue::Datetime(1_717_286_400_000)))); // 2024-06-02
    assert!(!holds(Test::After(day), text("2024-06-01")));
    let list = AttributeValue::List(vec!["Broken".into(), "Slow".into()]);
    assert!(holds(Test::Equals("slow".into()), Some(list)));
}

fn collect(tries: u32) -> Workflow {
    flow(vec![
        step(
            "order",
            Action::CollectData {
                field: "Order_Number__c".into(),
                question: "What is your order number?".into(),
                tries,
            },
        ),
        step("agent", Action::LetAgentAnswer),
    ])
}

#[test]
fn collect_data_asks_checks_the_answer_and_asks_again_with_the_reason() {
    let mut host = MemoryHost::default();
    let c = conversation(vec![]);
    let mut progress = Progress::default();
    assert_eq!(run(&mut host, &collect(3), &mut progress, &c, "hi"), Stop::Ask("What is your order number?".into()));
    let again = run(&mut host, &collect(3), &mut progress, &c, "it's 12 or 13");
    assert_eq!(
        again,
        Stop::Ask(
            "That is not a number I can take; please give a plain number like 42. What is your order number?".into()
        )
    );
    assert_eq!(run(&mut host, &collect(3), &mut progress, &c, "Sure, it's 12345."), Stop::AgentAnswers);
    assert_eq!(progress.values.get("Order_Number__c"), Some(&WireValue::Number("12345".into())));
}

#[test]
fn collect_data_gives_up_after_its_tries() {
    let mut host = MemoryHost::default();
    let c = conversation(vec![]);
    let mut progress = Progress::default();
    run(&mut host, &collect(2), &mut progress, &c, "");
    assert!(matches!(run(&mut host, &collect(2), &mut progress, &c, "no"), Stop::Ask(_)));
    assert_eq!(run(&mut host, &collect(2), &mut progress, &c, "still no"), Stop::AgentAnswers);
    assert!(progress.values.is_empty());
    assert!(host.logs.iter().any(|l| l.contains("gave up")), "{:?}", host.logs);
}

#[test]
fn a_picklist_answer_names_the_choices_when_it_does_not_fit() {
    let mut host = MemoryHost::default();
    let wf = flow(vec![step(
        "prio",
        Action::CollectData { field: "Priority".into(), question: "How urgent?".into(), tries: 2 },
    )]);
    let mut progress = Progress::default();
    run(&mut host, &wf, &mut progress, &conversation(vec![]), "");
    let Stop::Ask(text) = run(&mut host, &wf, &mut progress, &conversation(vec![]), "very") else { panic!() };
    assert!(text.contains("Low label, Medium label, High label"), "{text}");
    run(&mut host, &wf, &mut progress, &conversation(vec![]), "medium label");
    assert_eq!(progress.values.get("Priority"), Some(&WireValue::Text("Medium".into())));
}

#[test]
fn detection_offers_only_described_active_values_and_refuses_others() {
    let wf = flow(vec![step("detect", Action::DetectAttributes(vec!["Type".into()]))]);
    let c = conversation(vec![]);

    let mut host = MemoryHost {
        detected: Some(vec![Attribute { name: "Type".into(), value: AttributeValue::Text("Billing".into()) }]),
        ..MemoryHost::default()
    };
    let mut progress = Progress::default();
    run(&mut host, &wf, &mut progress, &c, "");
    let offered: Vec<&str> = host.detection_asked[0][0].values.iter().map(|v| v.value.as_str()).collect();
    assert_eq!(offered, ["Problem", "Billing"], "Question has no description");
    assert_eq!(progress.values.get("Type"), Some(&WireValue::Text("Billing".into())));

    for wrong in ["Question", "Refund"] {
        let mut host = MemoryHost {
            detected: Some(vec![Attribute { name: "Type".into(), value: AttributeValue::Text(wrong.into()) }]),
            ..MemoryHost::default()
        };
        let mut progress = Progress::default();
        run(&mut host, &wf, &mut progress, &c, "");
        assert!(progress.values.is_empty(), "{wrong} was kept");
        assert!(host.logs.iter().any(|l| l.contains("refused")), "{:?}", host.logs);
    }
}

#[test]
fn a_hand_off_step_ends_the_workflow_with_its_own_target_and_a_loop_ends_it_too() {
    let mut host = MemoryHost::default();
    let target = HandOffTarget::Queue("00G000000000002AAA".into());
    let wf = flow(vec![
        step("set", Action::SetData { field: "Type".into(), value: "Problem".into() }),
        step("team", Action::HandOffToTeam(target.clone())),
    ]);
    let mut progress = Progress::default();
    assert_eq!(run(&mut host, &wf, &mut progress, &conversation(vec![]), ""), Stop::HandOffToTeam(target));
    assert!(progress.done);
    assert_eq!(run(&mut host, &wf, &mut progress, &conversation(vec![]), "more"), Stop::AgentAnswers);

    let looping = flow(vec![Step {
        id: "again".into(),
        action: Action::Branch(Branch { rules: vec![], otherwise: None }),
        next: Some("again".into()),
    }]);
    let mut progress = Progress::default();
    assert_eq!(run(&mut host, &looping, &mut progress, &conversation(vec![]), ""), Stop::AgentAnswers);
    assert!(host.logs.iter().any(|l| l.contains("loop")), "{:?}", host.logs);
}

#[test]
fn values_once_settled_are_not_written_again() {
    let mut progress = Progress::default();
    progress.values.insert("Type".into(), WireValue::Text("Problem".into()));
    assert_eq!(progress.unwritten().count(), 1);
    progress.settle(&["Type".to_string()]);
    assert_eq!(progress.unwritten().count(), 0);
    progress.values.insert("Type".into(), WireValue::Text("Billing".into()));
    assert_eq!(progress.unwritten().count(), 1, "a changed value is written again");
}
