//! Full cycles: the host runtime, the connector component and the emulated
//! org, one test per requirement of the AI agent on Salesforce Cases.

use casebridge::runtime::bindings::{describe, org, settings, types};
use casebridge_tests::TestOrg;
use serde_json::json;

fn customer(org: &TestOrg) -> String {
    org.emulator.seeded().customer_username.clone().expect("the demo seed has a community customer")
}

/// Agent replies (comments by the integration user) on a case.
fn agent_comments(org: &TestOrg, case_id: &str) -> Vec<String> {
    let integration = &org.emulator.seeded().integration_user_id;
    org.query(&format!(
        "SELECT CommentBody FROM CaseComment WHERE ParentId = '{case_id}' AND CreatedById = '{integration}' ORDER BY CreatedDate"
    ))
    .iter()
    .map(|c| c["CommentBody"].as_str().unwrap_or_default().to_string())
    .collect()
}

#[tokio::test]
async fn first_cycle_answers_every_waiting_case_once_and_an_idle_cycle_costs_one_call() {
    let org = TestOrg::demo();
    let report = org.cycle().await.expect("the cycle succeeds");
    assert!(report.cases_seen >= 6, "{report:?}");
    assert_eq!(report.conversations_created, 6, "{report:?}");
    assert_eq!(report.emails_sent, 1, "the email-origin case is answered by email: {report:?}");
    for case_id in &org.emulator.seeded().agent_case_ids {
        let origin = org.field("Case", case_id, "Origin");
        let replies = agent_comments(&org, case_id).len();
        if origin == json!("Email") {
            assert_eq!(replies, 0, "email cases get emails, not comments");
        } else {
            assert_eq!(replies, 1, "case {case_id} gets one reply");
        }
        assert_eq!(org.field("Case", case_id, "FinInvolved__c"), json!(true));
    }
    let before = org.emulator.counters().total;
    let second = org.cycle().await.expect("the second cycle succeeds");
    assert_eq!((second.replies_posted, second.emails_sent), (0, 0), "nothing new to answer: {second:?}");
    assert_eq!(second.api_calls, 1, "an idle cycle costs one call: {second:?}");
    assert_eq!(org.emulator.counters().total - before, 1, "the emulator counted one call too");
    assert!(second.api_usage.is_some_and(|u| u.max > 0), "Sforce-Limit-Info is read: {second:?}");
}

#[tokio::test]
async fn setup_lists_only_assignable_users_and_case_queues() {
    let org = TestOrg::demo();
    let mut guest = org.instance().await;
    let users = guest.list_users().await.unwrap().unwrap();
    let seeded = org.emulator.seeded();
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert!(ids.contains(&seeded.agent_user_id.as_deref().unwrap()));
    assert!(ids.contains(&seeded.handoff_user_id.as_deref().unwrap()));
    assert!(!ids.contains(&seeded.automated_process_user_id.as_str()), "automated users cannot own cases");
    assert!(!ids.contains(&seeded.customer_user_id.as_deref().unwrap()), "portal users cannot own cases");
    for user in &users {
        let row = org.query(&format!("SELECT IsActive, UserType FROM User WHERE Id = '{}'", user.id));
        assert_eq!((row[0]["IsActive"].clone(), row[0]["UserType"].clone()), (json!(true), json!("Standard")));
    }
    let queues = guest.list_queues().await.unwrap().unwrap();
    let ids: Vec<&str> = queues.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids, vec![seeded.handoff_queue_id.as_deref().unwrap()], "only queues that take cases");
}

#[tokio::test]
async fn case_contact_and_account_fields_become_attributes_at_assignment() {
    let org = TestOrg::demo();
    org.cycle().await.unwrap();
    let case_id = &org.emulator.seeded().agent_case_ids[0];
    let conversation = org.conversation(case_id).await.expect("a conversation per case");
    let attribute =
        |list: &[types::Attribute], name: &str| list.iter().find(|a| a.name == name).map(|a| a.value.clone());
    assert_eq!(attribute(&conversation.attributes, "Priority"), Some(types::AttributeValue::Text("High".into())));
    assert!(matches!(attribute(&conversation.attributes, "CreatedDate"), Some(types::AttributeValue::Datetime(_))));
    assert_eq!(
        attribute(&conversation.person, "Email"),
        Some(types::AttributeValue::Text("amelia.clarke@northwind.example".into()))
    );
    assert!(matches!(attribute(&conversation.company, "Name"), Some(types::AttributeValue::Text(_))));

    // Not refreshed mid-session (A4): a changed priority shows only at the next assignment.
    let ctx = casebridge_emulator::db::WriteContext {
        now: org.emulator.now(),
        user_id: org.emulator.seeded().integration_user_id.clone(),
    };
    org.emulator
        .with_database(|db| db.update("Case", case_id, json!({"Priority": "Low"}).as_object().unwrap(), &ctx))
        .unwrap();
    org.cycle().await.unwrap();
    let conversation = org.conversation(case_id).await.unwrap();
    assert_eq!(attribute(&conversation.attributes, "Priority"), Some(types::AttributeValue::Text("High".into())));
}

#[tokio::test]
async fn posts_comments_emails_and_images_become_parts_in_time_order() {
    let org = TestOrg::demo();
    org.cycle().await.unwrap();
    let seeded = org.emulator.seeded().clone();
    let chatter = org.conversation(seeded.chatter_case_id.as_deref().unwrap()).await.unwrap();
    let sources: Vec<types::PartSource> = chatter.parts.iter().map(|p| p.source).collect();
    assert!(
        sources.contains(&types::PartSource::FeedItem) && sources.contains(&types::PartSource::FeedComment),
        "{sources:?}"
    );
    assert!(chatter.parts.windows(2).all(|w| w[0].created_at <= w[1].created_at), "parts are in time order");
    assert_eq!(chatter.parts[0].source, types::PartSource::CaseDescription);
    assert!(
        chatter
            .parts
            .iter()
            .filter(|p| p.source != types::PartSource::CaseComment)
            .all(|p| p.author == types::AuthorRole::Customer)
    );

    let crash = org.conversation(seeded.screenshot_case_id.as_deref().unwrap()).await.unwrap();
    let images: Vec<&types::Attachment> =
        crash.parts.iter().flat_map(|p| p.attachments.iter()).filter(|a| a.inline).collect();
    assert_eq!(images.len(), 1, "the inline screenshot: {crash:#?}");
    assert!(images[0].content_path.contains(seeded.screenshot_content_document_id.as_deref().unwrap()));

    let email = org.conversation(seeded.email_case_id.as_deref().unwrap()).await.unwrap();
    assert!(
        email
            .parts
            .iter()
            .any(|p| p.source == types::PartSource::EmailMessage && p.author == types::AuthorRole::Customer)
    );
}

#[tokio::test]
async fn email_cases_are_answered_by_email_and_recorded_on_the_case() {
    let org = TestOrg::demo();
    org.cycle().await.unwrap();
    let case_id = org.emulator.seeded().email_case_id.clone().unwrap();
    let sent = org.mail.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let (_, email) = &sent[0];
    assert_eq!(email.to, vec!["carla.mendes@globex.example".to_string()]);
    assert!(email.subject.starts_with("Re: Invoice INV-2024-0117"), "{}", email.subject);
    assert_eq!(email.in_reply_to.as_deref(), Some("<CAF7x9Q2@mail.globex.example>"), "the reply stays in the thread");
    let recorded = org.query(&format!(
        "SELECT Id, TextBody, MessageIdentifier FROM EmailMessage WHERE ParentId = '{case_id}' AND Incoming = false"
    ));
    assert_eq!(recorded.len(), 1, "the sent email is recorded on the case");
    assert_eq!(recorded[0]["TextBody"].as_str(), Some(email.text_body.as_str()));
}

#[tokio::test]
async fn replies_can_be_chatter_posts() {
    let mut org = TestOrg::demo();
    org.config.reply_as = settings::ReplyChannel::FeedPost;
    org.cycle().await.unwrap();
    let case_id = &org.emulator.seeded().agent_case_ids[0];
    let integration = &org.emulator.seeded().integration_user_id;
    let posts =
        org.query(&format!("SELECT Body FROM FeedItem WHERE ParentId = '{case_id}' AND CreatedById = '{integration}'"));
    assert_eq!(posts.len(), 1);
    assert!(agent_comments(&org, case_id).is_empty());
}

#[tokio::test]
async fn a_request_for_a_person_hands_the_case_to_the_configured_owner() {
    let mut org = TestOrg::demo();
    let hand_off_user = org.emulator.seeded().handoff_user_id.clone().unwrap();
    org.config.hand_off = settings::HandOffTarget::User(hand_off_user.clone());
    org.cycle().await.unwrap();
    let case_id = org.emulator.seeded().agent_case_ids[0].clone();
    org.create_as(
        &customer(&org),
        "CaseComment",
        json!({"ParentId": case_id, "CommentBody": "Can I talk to a person?", "IsPublished": true}),
    );
    let report = org.cycle().await.unwrap();
    assert_eq!(report.hand_offs, 1, "{report:?}");
    assert_eq!(org.field("Case", &case_id, "OwnerId"), json!(hand_off_user));
    assert_eq!(org.field("Case", &case_id, "FinResolutionState__c"), json!("Routed to team"));
    // Handed off: the agent no longer answers on it.
    org.create_as(
        &customer(&org),
        "CaseComment",
        json!({"ParentId": case_id, "CommentBody": "Hello?", "IsPublished": true}),
    );
    let after = org.cycle().await.unwrap();
    assert_eq!(after.replies_posted, 0, "{after:?}");
}

#[tokio::test]
async fn resolution_states_are_written_only_when_they_change() {
    let mut org = TestOrg::demo();
    org.config.resolution_timeouts = types::Timeouts { soft_resolution_after_ms: 1_000, abandoned_after_ms: 1_000 };
    org.cycle().await.unwrap();
    let cases = org.emulator.seeded().agent_case_ids.clone();
    let (confirmed, quiet) = (&cases[0], &cases[2]);
    org.create_as(
        &customer(&org),
        "CaseComment",
        json!({"ParentId": confirmed, "CommentBody": "That fixed it, thanks!", "IsPublished": true}),
    );
    org.cycle().await.unwrap();
    assert_eq!(org.field("Case", confirmed, "FinResolutionState__c"), json!("Hard Resolution"));
    assert_eq!(org.field("Case", quiet, "FinResolutionState__c"), serde_json::Value::Null, "still within the timeout");

    // Salesforce's clock (its `Date` header) has whole seconds: wait a second more than the timeout.
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let report = org.cycle().await.unwrap();
    assert!(report.state_changes >= 1, "{report:?}");
    assert_eq!(org.field("Case", quiet, "FinResolutionState__c"), json!("Soft Resolution"));
    assert_eq!(org.field("Case", confirmed, "FinResolutionState__c"), json!("Hard Resolution"));

    let idle = org.cycle().await.unwrap();
    assert_eq!((idle.state_changes, idle.api_calls), (0, 1), "unchanged values are not written again: {idle:?}");

    // Someone clears the checkbox: the next cycle that reads the case writes it back.
    let ctx = casebridge_emulator::db::WriteContext {
        now: org.emulator.now(),
        user_id: org.emulator.seeded().integration_user_id.clone(),
    };
    org.emulator
        .with_database(|db| db.update("Case", quiet, json!({"FinInvolved__c": false}).as_object().unwrap(), &ctx))
        .unwrap();
    org.cycle().await.unwrap();
    assert_eq!(org.field("Case", quiet, "FinInvolved__c"), json!(true));
}

#[tokio::test]
async fn topics_are_added_to_worked_cases() {
    let org = TestOrg::demo();
    org.cycle().await.unwrap();
    let topic = org.query("SELECT Id FROM Topic WHERE Name = 'casebridge'");
    assert_eq!(topic.len(), 1);
    let topic_id = topic[0]["Id"].as_str().unwrap().to_string();
    for case_id in &org.emulator.seeded().agent_case_ids {
        let assigned = org
            .query(&format!("SELECT Id FROM TopicAssignment WHERE TopicId = '{topic_id}' AND EntityId = '{case_id}'"));
        assert_eq!(assigned.len(), 1, "case {case_id}");
    }
}

#[tokio::test]
async fn the_field_catalog_is_discovered_and_managed_per_org() {
    let org = TestOrg::demo();
    let mut guest = org.instance().await;
    let catalogs = guest.list_fields().await.unwrap().unwrap();
    let objects: Vec<&str> = catalogs.iter().map(|c| c.object.as_str()).collect();
    assert_eq!(objects, vec!["Account", "Case", "Contact", "Lead"]);
    let case = catalogs.iter().find(|c| c.object == "Case").unwrap();
    assert!(case.fields.iter().all(|f| f.synced), "every field is synced at first");
    assert!(
        case.fields
            .iter()
            .any(|f| f.descriptor.name == "FinResolutionState__c" && f.kind == describe::FieldKind::Custom)
    );

    let refused =
        guest.change_field(casebridge::runtime::FieldChange::Remove, "Case", "Id").await.unwrap().unwrap_err();
    assert!(matches!(refused, org::SyncError::InvalidConfig(ref m) if m.contains("Id")), "{refused:?}");
    let removed =
        guest.change_field(casebridge::runtime::FieldChange::Remove, "Case", "FinInvolved__c").await.unwrap().unwrap();
    assert!(!removed.fields.iter().find(|f| f.descriptor.name == "FinInvolved__c").unwrap().synced);

    // A field created in Salesforce later can be added.
    org.emulator
        .add_custom_field(
            "Case",
            casebridge_emulator::schema::FieldDef::new(
                "Tier__c",
                "Tier",
                casebridge_emulator::schema::FieldType::Picklist,
            )
            .values(&["Gold", "Silver"], None),
        )
        .unwrap();
    let added = guest.change_field(casebridge::runtime::FieldChange::Add, "Case", "Tier__c").await.unwrap().unwrap();
    assert!(added.fields.iter().any(|f| f.descriptor.name == "Tier__c" && f.synced));
    let resynced =
        guest.change_field(casebridge::runtime::FieldChange::Resync, "Case", "Tier__c").await.unwrap().unwrap();
    let tier = resynced.fields.iter().find(|f| f.descriptor.name == "Tier__c").unwrap();
    assert_eq!(tier.descriptor.picklist_values.len(), 2);
}
