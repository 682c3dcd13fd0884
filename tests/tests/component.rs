//! The connector component in isolation: the built `.wasm` loaded in wasmtime,
//! with in-memory doubles for its imports, each export called with good and
//! bad input.

use std::sync::Arc;

use casebridge::runtime::bindings::{
    catalog, contacts, describe, mapping, matching, org, resolution, routing, settings, types,
};
use casebridge::runtime::{AllowedHosts, Capabilities, GuestLimits, OrgSettings};
use casebridge_tests::isolated_instance;

fn field(name: &str, kind: types::FieldType) -> describe::FieldDescriptor {
    describe::FieldDescriptor {
        name: name.into(),
        label: name.into(),
        type_: kind,
        length: 255,
        precision: 0,
        scale: 0,
        custom: name.ends_with("__c"),
        nillable: true,
        createable: true,
        defaulted_on_create: false,
        updateable: true,
        calculated: false,
        name_field: false,
        restricted_picklist: false,
        picklist_values: Vec::new(),
        reference_to: Vec::new(),
        relationship_name: None,
    }
}

fn resolution_field() -> describe::FieldDescriptor {
    let mut field = field("FinResolutionState__c", types::FieldType::Picklist);
    field.restricted_picklist = true;
    field.picklist_values = ["Soft Resolution", "Hard Resolution", "Abandoned", "Routed to team"]
        .iter()
        .map(|v| describe::PicklistEntry {
            value: v.to_string(),
            label: v.to_string(),
            active: true,
            is_default: false,
        })
        .collect();
    field
}

const CASE_DESCRIBE: &str = r#"{"name":"Case","label":"Case","fields":[
 {"name":"Id","label":"Case ID","type":"id","length":18,"custom":false,"nillable":false,"createable":false,"updateable":false,"calculated":false,"nameField":false,"restrictedPicklist":false,"picklistValues":[],"referenceTo":[],"relationshipName":null,"precision":0,"scale":0},
 {"name":"CaseNumber","label":"Case Number","type":"string","length":30,"custom":false,"nillable":false,"createable":false,"updateable":false,"calculated":false,"nameField":true,"restrictedPicklist":false,"picklistValues":[],"referenceTo":[],"relationshipName":null,"precision":0,"scale":0},
 {"name":"Priority","label":"Priority","type":"picklist","length":40,"custom":false,"nillable":true,"createable":true,"updateable":true,"calculated":false,"nameField":false,"restrictedPicklist":false,"picklistValues":[{"value":"High","label":"High","active":true,"defaultValue":false},{"value":"Low","label":"Low","active":true,"defaultValue":false}],"referenceTo":[],"relationshipName":null,"precision":0,"scale":0},
 {"name":"Tier__c","label":"Tier","type":"picklist","length":40,"custom":true,"nillable":true,"createable":true,"updateable":true,"calculated":false,"nameField":false,"restrictedPicklist":true,"picklistValues":[{"value":"Gold","label":"Gold","active":true,"defaultValue":false}],"referenceTo":[],"relationshipName":null,"precision":0,"scale":0},
 {"name":"Due__c","label":"Due","type":"date","length":0,"custom":true,"nillable":true,"createable":true,"updateable":true,"calculated":false,"nameField":false,"restrictedPicklist":false,"picklistValues":[],"referenceTo":[],"relationshipName":null,"precision":0,"scale":0}
]}"#;

#[tokio::test]
async fn catalog_is_built_from_describe_with_system_fields_locked() {
    let mut guest = isolated_instance().await;
    let (connector, store) = guest.latest().expect("a 0.2.0 component");
    let exports = connector.casebridge_connector_catalog();
    let described = exports.call_parse_describe(&mut *store, CASE_DESCRIBE).await.unwrap().unwrap();
    assert_eq!(described.object, "Case");
    assert_eq!(described.fields.len(), 5);
    let catalog = exports.call_from_describe(&mut *store, &described).await.unwrap();
    assert!(catalog.fields.iter().all(|f| f.synced));
    let kind = |name: &str| catalog.fields.iter().find(|f| f.descriptor.name == name).unwrap().kind;
    assert_eq!(kind("Id"), describe::FieldKind::System);
    assert_eq!(kind("Tier__c"), describe::FieldKind::Custom);

    let locked = exports.call_remove_field(&mut *store, &catalog, "Id").await.unwrap().unwrap_err();
    assert_eq!(locked.problem, catalog::CatalogProblem::Locked);
    assert_eq!(locked.field, "Id");

    let removed = exports.call_remove_field(&mut *store, &catalog, "Tier__c").await.unwrap().unwrap();
    assert!(!removed.fields.iter().find(|f| f.descriptor.name == "Tier__c").unwrap().synced);
    let added = exports.call_add_field(&mut *store, &removed, "Tier__c").await.unwrap().unwrap();
    assert!(added.fields.iter().find(|f| f.descriptor.name == "Tier__c").unwrap().synced);

    let unknown = exports.call_add_field(&mut *store, &catalog, "Nope__c").await.unwrap().unwrap_err();
    assert_eq!(unknown.problem, catalog::CatalogProblem::UnknownField);

    let mut fresh = described.fields.iter().find(|f| f.name == "Priority").unwrap().clone();
    fresh.picklist_values.push(describe::PicklistEntry {
        value: "Urgent".into(),
        label: "Urgent".into(),
        active: true,
        is_default: false,
    });
    let resynced = exports.call_resync_list_field(&mut *store, &catalog, &fresh).await.unwrap().unwrap();
    let priority = resynced.fields.iter().find(|f| f.descriptor.name == "Priority").unwrap();
    assert!(priority.descriptor.picklist_values.iter().any(|p| p.value == "Urgent"));
    let not_list = field("Due__c", types::FieldType::Date);
    let refused = exports.call_resync_list_field(&mut *store, &catalog, &not_list).await.unwrap().unwrap_err();
    assert_eq!(refused.problem, catalog::CatalogProblem::NotAListField);

    let malformed = exports.call_parse_describe(&mut *store, "{not json").await.unwrap().unwrap_err();
    assert_eq!(malformed.problem, catalog::CatalogProblem::MalformedDescribe);
}

#[tokio::test]
async fn field_values_convert_both_ways_and_bad_values_are_typed_errors() {
    let mut guest = isolated_instance().await;
    let (connector, store) = guest.latest().expect("a 0.2.0 component");
    let exports = connector.casebridge_connector_mapping();

    let when = field("CreatedDate", types::FieldType::Datetime);
    let value = exports
        .call_to_attribute(&mut *store, "Case", &when, &types::WireValue::Text("2024-01-02T03:04:05.000+0000".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(value, types::AttributeValue::Datetime(1_704_164_645_000));
    let back = exports.call_to_wire(&mut *store, "Case", &when, &value).await.unwrap().unwrap();
    assert_eq!(back, types::WireValue::Text("2024-01-02T03:04:05.000+0000".into()));

    let due = field("Due__c", types::FieldType::Date);
    let date = exports
        .call_to_attribute(&mut *store, "Case", &due, &types::WireValue::Text("2024-03-31".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(date, types::AttributeValue::Date(types::CalendarDate { year: 2024, month: 3, day: 31 }));

    let bad_date = exports
        .call_to_attribute(&mut *store, "Case", &due, &types::WireValue::Text("2024-02-30".into()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((bad_date.object.as_str(), bad_date.field.as_str()), ("Case", "Due__c"));
    assert_eq!(bad_date.value, "2024-02-30");
    assert_eq!(bad_date.problem, mapping::ConversionProblem::InvalidDate);

    let topics = {
        let mut f = field("Topics__c", types::FieldType::Multipicklist);
        f.picklist_values = ["A", "B"]
            .iter()
            .map(|v| describe::PicklistEntry {
                value: v.to_string(),
                label: v.to_string(),
                active: true,
                is_default: false,
            })
            .collect();
        f
    };
    let list = exports
        .call_to_attribute(&mut *store, "Case", &topics, &types::WireValue::Text("A;B".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(list, types::AttributeValue::List(vec!["A".into(), "B".into()]));

    let state = resolution_field();
    let refused = exports
        .call_to_wire(&mut *store, "Case", &state, &types::AttributeValue::Text("Solved-ish".into()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.problem, mapping::ConversionProblem::NotInPicklist);
    assert_eq!(refused.value, "Solved-ish");

    let count = field("Seats__c", types::FieldType::Int);
    let not_a_number = exports
        .call_to_attribute(&mut *store, "Account", &count, &types::WireValue::Text("many".into()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(
        not_a_number.problem,
        mapping::ConversionProblem::WrongType(_) | mapping::ConversionProblem::InvalidNumber
    ));

    assert_eq!(exports.call_entity_of(&mut *store, "Case").await.unwrap(), Some(mapping::Entity::Conversation));
    assert_eq!(exports.call_entity_of(&mut *store, "Contact").await.unwrap(), Some(mapping::Entity::Person));
    assert_eq!(exports.call_entity_of(&mut *store, "Account").await.unwrap(), Some(mapping::Entity::Company));
    assert_eq!(exports.call_entity_of(&mut *store, "Opportunity").await.unwrap(), None);
}

#[tokio::test]
async fn records_map_to_attributes_and_back_by_direction() {
    let mut guest = isolated_instance().await;
    let (connector, store) = guest.latest().expect("a 0.2.0 component");
    let catalog_exports = connector.casebridge_connector_catalog();
    let described = catalog_exports.call_parse_describe(&mut *store, CASE_DESCRIBE).await.unwrap().unwrap();
    let catalog = catalog_exports.call_from_describe(&mut *store, &described).await.unwrap();
    let record = vec![
        types::WireField { name: "Id".into(), value: types::WireValue::Text("500000000000001AAA".into()) },
        types::WireField { name: "Priority".into(), value: types::WireValue::Text("High".into()) },
        types::WireField { name: "Due__c".into(), value: types::WireValue::Null },
    ];
    let mappings = vec![describe::FieldMapping {
        object: "Case".into(),
        field: "Priority".into(),
        attribute: "priority".into(),
        direction: describe::Direction::ToPlatform,
    }];
    let api = connector.casebridge_connector_mapping().field_catalog();
    let inbound = api.call_constructor(&mut *store, &catalog, &mappings).await.unwrap();
    let bad = vec![types::WireField { name: "Due__c".into(), value: types::WireValue::Text("31/03/2024".into()) }];
    // One call, one result per record, in order: a bad record fails alone.
    let results = api.call_records_to_attributes(&mut *store, inbound, &[record.clone(), bad, record]).await.unwrap();
    assert_eq!(results.len(), 3);
    let attributes = results[0].clone().unwrap();
    assert!(attributes.iter().any(|a| a.name == "priority" && a.value == types::AttributeValue::Text("High".into())));
    assert!(attributes.iter().any(|a| a.name == "Id"));
    let errors = results[1].clone().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "Due__c");
    assert_eq!(results[2], results[0]);
    assert!(api.call_records_to_attributes(&mut *store, inbound, &[]).await.unwrap().is_empty());
    inbound.resource_drop_async(&mut *store).await.unwrap();

    let outbound = vec![describe::FieldMapping {
        object: "Case".into(),
        field: "Tier__c".into(),
        attribute: "tier".into(),
        direction: describe::Direction::ToSalesforce,
    }];
    let good = vec![types::Attribute { name: "tier".into(), value: types::AttributeValue::Text("Gold".into()) }];
    let wrong = vec![types::Attribute { name: "tier".into(), value: types::AttributeValue::Text("Bronze".into()) }];
    let outgoing = api.call_constructor(&mut *store, &catalog, &outbound).await.unwrap();
    let results = api
        .call_attributes_to_records(&mut *store, outgoing, &[good, wrong], mapping::WritePurpose::Update)
        .await
        .unwrap();
    let fields = results[0].clone().unwrap();
    assert_eq!(fields, vec![types::WireField { name: "Tier__c".into(), value: types::WireValue::Text("Gold".into()) }]);
    let errors = results[1].clone().unwrap_err();
    assert_eq!(errors[0].problem, mapping::ConversionProblem::NotInPicklist);
    let read_only = vec![describe::FieldMapping {
        object: "Case".into(),
        field: "CaseNumber".into(),
        attribute: "number".into(),
        direction: describe::Direction::ToSalesforce,
    }];
    let number = vec![types::Attribute { name: "number".into(), value: types::AttributeValue::Text("1".into()) }];
    let locked = api.call_constructor(&mut *store, &catalog, &read_only).await.unwrap();
    let results =
        api.call_attributes_to_records(&mut *store, locked, &[number], mapping::WritePurpose::Update).await.unwrap();
    let errors = results[0].clone().unwrap_err();
    assert_eq!(errors[0].problem, mapping::ConversionProblem::ReadOnly);
}

#[tokio::test]
async fn resolution_state_follows_the_documented_machine() {
    let mut guest = isolated_instance().await;
    let (connector, store) = guest.latest().expect("a 0.2.0 component");
    let exports = connector.casebridge_connector_resolution();
    let timeouts = types::Timeouts { soft_resolution_after_ms: 1_000, abandoned_after_ms: 2_000 };
    use resolution::Event as E;
    let cases: Vec<(Vec<E>, i64, types::ResolutionState)> = vec![
        (vec![], 10_000, types::ResolutionState::None),
        (vec![E::CustomerMessage(0)], 10_000, types::ResolutionState::None),
        (vec![E::CustomerMessage(0), E::AgentAnswer(100)], 500, types::ResolutionState::None),
        (vec![E::CustomerMessage(0), E::AgentAnswer(100)], 1_100, types::ResolutionState::SoftResolution),
        (vec![E::CustomerMessage(0), E::AgentQuestion(100)], 1_100, types::ResolutionState::None),
        (vec![E::CustomerMessage(0), E::AgentQuestion(100)], 2_100, types::ResolutionState::Abandoned),
        (
            vec![E::CustomerMessage(0), E::AgentAnswer(100), E::CustomerConfirmed(200)],
            300,
            types::ResolutionState::HardResolution,
        ),
        (vec![E::CustomerMessage(0), E::CustomerAskedForPerson(50)], 60, types::ResolutionState::RoutedToTeam),
        (
            vec![E::AgentCouldNotHelp(50), E::CustomerMessage(60), E::AgentAnswer(70)],
            10_000,
            types::ResolutionState::RoutedToTeam,
        ),
        // Out of order: the same facts in another order decide the same.
        (vec![E::AgentAnswer(100), E::CustomerMessage(0)], 1_100, types::ResolutionState::SoftResolution),
        // Reopened after a confirmation.
        (vec![E::CustomerConfirmed(100), E::CustomerMessage(200)], 10_000, types::ResolutionState::None),
    ];
    for (events, now, expected) in &cases {
        let decisions = exports.call_decide(&mut *store, std::slice::from_ref(events), *now, timeouts).await.unwrap();
        assert_eq!(decisions.len(), 1);
        assert_eq!(decisions[0].state, *expected, "events {events:?} at {now}");
    }
    // Many conversations in one call: one decision each, in order.
    let at = 10_000;
    let all: Vec<Vec<E>> = cases.iter().filter(|(_, now, _)| *now == at).map(|(e, _, _)| e.clone()).collect();
    let decisions = exports.call_decide(&mut *store, &all, at, timeouts).await.unwrap();
    let expected: Vec<_> = cases.iter().filter(|(_, now, _)| *now == at).map(|(_, _, state)| *state).collect();
    assert_eq!(decisions.iter().map(|d| d.state).collect::<Vec<_>>(), expected);
    assert!(exports.call_decide(&mut *store, &[], at, timeouts).await.unwrap().is_empty());
    let pending = exports
        .call_decide(&mut *store, &[vec![E::CustomerMessage(0), E::AgentAnswer(100)]], 500, timeouts)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(pending.phase, resolution::Phase::Answered);
    assert_eq!(pending.changes_at, Some(1_100));
}

#[tokio::test]
async fn routing_attributes_reproduce_the_seed_naming() {
    let mut guest = isolated_instance().await;
    let (connector, store) = guest.latest().expect("a 0.2.0 component");
    let exports = connector.casebridge_connector_routing();
    let person = routing::Person {
        first_name: Some("John".into()),
        last_name: Some("Smith".into()),
        email: Some("john.smith.999@gmail.com".into()),
        attributes: vec![
            routing::PersonAttribute {
                name: "first_name".into(),
                kind: routing::PersonAttributeKind::Standard,
                value: types::AttributeValue::Text("John".into()),
            },
            routing::PersonAttribute {
                name: "created_at".into(),
                kind: routing::PersonAttributeKind::Standard,
                value: types::AttributeValue::Null,
            },
            routing::PersonAttribute {
                name: "last_request_at".into(),
                kind: routing::PersonAttributeKind::Standard,
                value: types::AttributeValue::Datetime(1_754_926_002_000),
            },
            routing::PersonAttribute {
                name: "country_name".into(),
                kind: routing::PersonAttributeKind::Location,
                value: types::AttributeValue::Text("United States".into()),
            },
            routing::PersonAttribute {
                name: "plan".into(),
                kind: routing::PersonAttributeKind::Custom,
                value: types::AttributeValue::Integer(3),
            },
        ],
    };
    let conversation = routing::ConversationData {
        subject: Some("Next".into()),
        attributes: vec![routing::ConversationAttribute {
            name: "Fin AI Agent: Preview".into(),
            custom: true,
            value: types::AttributeValue::Boolean(false),
        }],
    };
    let hand_off = routing::HandOff { person, conversation };
    let mut all = exports.call_routing_attributes(&mut *store, &[hand_off.clone(), hand_off]).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], all[1]);
    let pairs = all.remove(0);
    let expected: Vec<(String, String)> = [
        ("_firstName", "John"),
        ("_lastName", "Smith"),
        ("_email", "john.smith.999@gmail.com"),
        ("_subject", "Next"),
        ("conversation_custom_data_Fin AI Agent: Preview", "false"),
        ("user_first_name", "John"),
        ("user_created_at", ""),
        ("user_last_request_at", "2025-08-11 15:26:42 +0000"),
        ("user_geoip_data_country_name", "United States"),
        ("user_custom_data_plan", "3"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(pairs, expected);
}

#[tokio::test]
async fn matching_escapes_every_term_and_ranks_candidates() {
    let mut guest = isolated_instance().await;
    let (connector, store) = guest.latest().expect("a 0.2.0 component");
    let exports = connector.casebridge_connector_matching();
    assert_eq!(exports.call_escape_soql(&mut *store, "O'Brien\\").await.unwrap(), "O\\'Brien\\\\");
    assert_eq!(exports.call_escape_soql_like(&mut *store, "50%_off").await.unwrap(), "50\\%\\_off");
    let sosl = exports.call_escape_sosl(&mut *store, "a} OR {b").await.unwrap();
    assert!(!sosl.contains("a}") && sosl.contains("\\}"), "{sosl}");

    let customer = |first: Option<&str>, last: Option<&str>, username: Option<&str>| contacts::Customer {
        id: "cust-42".into(),
        first_name: first.map(Into::into),
        last_name: last.map(Into::into),
        email: Some("ann@example.com".into()),
        username: username.map(Into::into),
        handle: Some("@ann".into()),
        phone: None,
    };
    let nobody = contacts::Customer {
        id: String::new(),
        first_name: None,
        last_name: None,
        email: None,
        username: None,
        handle: None,
        phone: None,
    };
    let searches = exports
        .call_search_for(
            &mut *store,
            &[
                customer(Some("Ann"), Some("O'Neil"), None),
                customer(None, None, Some("ann_w")),
                customer(None, None, None),
                nobody,
            ],
        )
        .await
        .unwrap();
    let [by_name, by_username, by_handle, nothing] = <[_; 4]>::try_from(searches).expect("one search per customer");
    let (by_name, by_username, by_handle) = (by_name.unwrap(), by_username.unwrap(), by_handle.unwrap());
    assert_eq!(by_name.basis, matching::SearchBasis::Name);
    let matching::ContactQuery::Soql(soql) = &by_name.query else {
        panic!("a name search is SOQL: {:?}", by_name.query)
    };
    assert!(soql.contains("O\\'Neil"), "{soql}");
    assert_eq!(by_username.basis, matching::SearchBasis::Username);
    assert!(matches!(by_username.query, matching::ContactQuery::Sosl(_)));
    assert_eq!(by_handle.basis, matching::SearchBasis::Handle);
    assert_eq!(nothing.unwrap_err(), matching::MatchingError::NothingToSearch);

    let ann = customer(Some("Ann"), Some("Lee"), None);
    let candidate = |id: &str, first: &str, last: &str, email: &str| contacts::Candidate {
        id: id.into(),
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        email: Some(email.into()),
        account_id: None,
    };
    let request = |candidates: Vec<contacts::Candidate>| matching::RankRequest { customer: ann.clone(), candidates };
    let ranked = exports
        .call_rank(
            &mut *store,
            &[
                request(vec![
                    candidate("003A", "Bob", "Ray", "bob@example.com"),
                    candidate("003B", "Ann", "Lee", "ann@example.com"),
                ]),
                request(vec![
                    candidate("003C", "Ann", "Lee", "ann.lee@work.example"),
                    candidate("003D", "Ann", "Lee", "a.lee@home.example"),
                ]),
                request(vec![]),
            ],
        )
        .await
        .unwrap();
    let [exact, ambiguous, none] = <[_; 3]>::try_from(ranked).expect("one outcome per request");
    let exact = exact.unwrap();
    let contacts::Outcome::Link(linked) = exact else { panic!("an exact email match links: {exact:?}") };
    assert_eq!(linked.candidate.id, "003B");
    let ambiguous = ambiguous.unwrap();
    assert!(matches!(ambiguous, contacts::Outcome::Suggest(ref list) if list.len() == 2), "{ambiguous:?}");
    let none = none.unwrap();
    let contacts::Outcome::Create(fields) = none else { panic!("no candidate creates: {none:?}") };
    assert!(fields.iter().any(|f| f.name == "LastName" && f.value == types::WireValue::Text("Lee".into())));
    let fields = exports.call_new_contact(&mut *store, &customer(None, None, Some("ann_w"))).await.unwrap().unwrap();
    assert!(fields.iter().any(|f| f.name == "LastName"), "a Contact needs a last name: {fields:?}");
}

#[tokio::test]
async fn org_level_calls_fail_with_typed_errors_without_network() {
    let settings = OrgSettings {
        login_url: "https://login.salesforce.com".into(),
        credentials: settings::AppCredentials {
            client_id: "id".into(),
            client_secret: "very-secret-value".into(),
            refresh_token: "refresh-secret-value".into(),
        },
        agent_user_id: "005000000000001AAA".into(),
        hand_off: settings::HandOffTarget::Queue("00G000000000001AAA".into()),
        daily_api_budget: 1000,
        poll_overlap_seconds: 60,
        ..OrgSettings::offline("test-org")
    };
    let instance = |settings: OrgSettings| {
        let capabilities = Capabilities { settings: Arc::new(settings), ..Capabilities::in_memory("test-org") };
        casebridge_tests::runtime().instantiate(capabilities, AllowedHosts::none(), GuestLimits::default())
    };
    // The instance may reach no host: the cycle fails as a transport error, naming no secret.
    let error = instance(settings.clone()).await.unwrap().run_cycle().await.unwrap().unwrap_err();
    let text = format!("{error:?}");
    assert!(matches!(error, org::SyncError::Transport(_)), "{text}");
    assert!(!text.contains("very-secret-value") && !text.contains("refresh-secret-value"), "{text}");

    let bad = OrgSettings { agent_user_id: "x' OR Id != '".into(), ..settings };
    let error = instance(bad).await.unwrap().run_cycle().await.unwrap().unwrap_err();
    assert!(matches!(error, org::SyncError::InvalidConfig(_)), "{error:?}");
}

#[tokio::test]
async fn crm_actions_of_an_offline_instance_are_typed_errors_and_make_no_call() {
    use casebridge::runtime::bindings::crm::CrmError;
    use casebridge::runtime::bindings::org::{LimitKind, SyncError};
    let mut guest = isolated_instance().await;
    let (connector, store) = guest.latest().expect("a 0.2.1 component");
    let crm = connector.casebridge_connector_crm();
    let answers = [
        ("profile", crm.call_profile(&mut *store, "p1").await.unwrap().map(drop)),
        ("create-lead", crm.call_create_lead(&mut *store, "key-1", "p1").await.unwrap().map(drop)),
        ("create-case", crm.call_create_case(&mut *store, "key-2", "c1", &[]).await.unwrap().map(drop)),
        ("log-task", crm.call_log_task(&mut *store, "key-3", "c1", None).await.unwrap().map(drop)),
        ("find-contact", crm.call_find_contact(&mut *store, "p1", Some("Ann")).await.unwrap().map(drop)),
        ("link-contact", crm.call_link_contact(&mut *store, "key-4", "p1", None).await.unwrap().map(drop)),
    ];
    // An offline instance has no API budget: nothing reaches Salesforce.
    for (name, answer) in answers {
        assert!(
            matches!(&answer, Err(CrmError::Sync(SyncError::ApiLimit(limit))) if limit.kind == LimitKind::Budget),
            "{name}: {answer:?}"
        );
    }
    // Unlinking needs no Salesforce call, only the platform, which this host has not.
    let unlinked = crm.call_unlink_contact(&mut *store, "p1").await.unwrap();
    assert!(
        matches!(&unlinked, Err(CrmError::Sync(SyncError::Host(why))) if why.contains("platform records")),
        "{unlinked:?}"
    );
    let refused = crm.call_create_lead(&mut *store, "", "p1").await.unwrap();
    assert!(matches!(&refused, Err(CrmError::InvalidRequest(why)) if why.contains("idempotency key")), "{refused:?}");
    let flagged = crm.call_flagged_cases(&mut *store).await.unwrap().expect("none flagged");
    assert!(flagged.is_empty());
    assert_eq!(guest.store.data().activity().api_calls(), 0, "no Salesforce call");
}

#[tokio::test]
async fn an_org_without_mappings_has_nothing_to_check_and_spends_no_call() {
    let mut guest = isolated_instance().await;
    let problems = guest.check_mappings().await.expect("no trap").expect("checked");
    assert!(problems.is_empty());
    assert_eq!(guest.store.data().activity().api_calls(), 0);
}
