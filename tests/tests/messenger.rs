//! The messenger's hand-off end to end (B1–B3): a platform messenger
//! conversation, the connector's `messenger.relay` against the emulator's
//! Messaging for In-App and Web, and the live agent's side through the
//! emulator's admin calls. Every relayed message arrives once, with the
//! routing attributes, across lost answers and repeated relays.

use casebridge::platform::{ConversationPatch, PersonPatch, StorePlatform};
use casebridge::runtime::bindings::messenger::Phase;
use casebridge::runtime::bindings::types::{Attachment, AuthorRole, Channel, ConversationPart, PartSource};
use casebridge::storage::messenger::MessengerFile;
use casebridge_emulator::{Fault, FaultTarget};
use casebridge_tests::TestOrg;
use serde_json::Value;

const ORG: &str = "demo";
const CHAT: &str = "chat-1";

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn platform(org: &TestOrg) -> StorePlatform {
    org.platform()
}

/// Ada and her chat, with a first question.
fn ada_asks(org: &TestOrg) {
    let person = PersonPatch {
        name: Some(Some("Ada Lovelace".into())),
        email: Some(Some("ada@example.com".into())),
        ..PersonPatch::default()
    };
    platform(org).put_person(ORG, "ada", person, false, now()).expect("person");
    let chat = ConversationPatch {
        channel: Some(Channel::Messenger),
        person_id: Some(Some("ada".into())),
        subject: Some(Some("Password reset".into())),
        ..ConversationPatch::default()
    };
    platform(org).put_conversation(ORG, CHAT, chat, false, now()).expect("conversation");
    customer_writes(org, "m1", "How do I reset my password?");
}

fn customer_writes(org: &TestOrg, id: &str, text: &str) {
    let part = ConversationPart {
        id: id.into(),
        source: PartSource::FeedItem,
        author: AuthorRole::Customer,
        author_name: Some("Ada".into()),
        text: text.into(),
        created_at: now(),
        attachments: vec![],
    };
    let patch = ConversationPatch { parts: vec![part], ..ConversationPatch::default() };
    platform(org).put_conversation(ORG, CHAT, patch, false, now()).expect("message");
}

fn parts(org: &TestOrg) -> Vec<ConversationPart> {
    platform(org).conversation(ORG, CHAT).expect("read").expect("exists").parts
}

fn texts_by(org: &TestOrg, author: AuthorRole) -> Vec<String> {
    parts(org).into_iter().filter(|p| p.author == author).map(|p| p.text).collect()
}

/// The emulator's only messaging conversation.
fn miaw_conversation(org: &TestOrg) -> Value {
    let sessions = org.emulator.messaging_sessions();
    let id = sessions[0]["conversation_id"].as_str().expect("a session exists").to_string();
    org.emulator.messaging_conversation(&id).expect("the conversation")
}

/// The end user's message entries' texts, in order.
fn end_user_messages(conversation: &Value) -> Vec<String> {
    conversation["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["entryType"] == "Message" && e["sender"]["role"] == "EndUser")
        .map(|e| {
            e["entryPayload"]["abstractMessage"]["staticContent"]["text"]
                .as_str()
                .or(e["entryPayload"]["abstractMessage"]["text"].as_str())
                .unwrap_or("[file]")
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ai_agent_answers_then_hands_off_with_the_routing_attributes_and_relays_both_ways() {
    let org = TestOrg::demo().with_messenger();
    ada_asks(&org);
    let report = org.relay(CHAT).await.expect("relays");
    assert_eq!((report.phase, report.answered), (Phase::Agent, 1));
    assert!(texts_by(&org, AuthorRole::Agent)[0].contains("Password reset"), "the AI agent answered");
    assert!(org.emulator.messaging_sessions().as_array().unwrap().is_empty(), "nothing went to Salesforce");
    assert_eq!(org.relay(CHAT).await.expect("relays").answered, 0, "the agent answers a message once");

    customer_writes(&org, "m2", "I want to talk to a person");
    let report = org.relay(CHAT).await.expect("hands off");
    assert_eq!(report.phase, Phase::Waiting);
    assert_eq!(report.poll_after_ms, Some(1000), "the host is asked to relay again soon");
    assert_eq!(report.sent, 1, "the message that asked for a person is relayed");
    assert!(texts_by(&org, AuthorRole::System).iter().any(|t| t.starts_with("Connecting you")));

    // The session's mapped fields carry the routing attributes (the Flow's work, B2).
    let session = &org.emulator.messaging_sessions()[0];
    assert_eq!(session["status"], "Waiting");
    let routed = &session["routing_attributes"];
    assert_eq!(routed["_firstName"], "Ada");
    assert_eq!(routed["_lastName"], "Lovelace");
    assert_eq!(routed["_email"], "ada@example.com");
    assert_eq!(routed["_subject"], "Password reset");
    assert_eq!(routed["user_user_id"], "ada");
    let session_id = session["session_id"].as_str().unwrap().to_string();
    assert_eq!(org.field("MessagingSession", &session_id, "FirstName__c"), "Ada");
    assert_eq!(org.field("MessagingSession", &session_id, "Email__c"), "ada@example.com");

    // The live agent joins and writes; the customer writes back.
    org.emulator.accept_messaging_session(&session_id).expect("accepted");
    org.emulator.agent_writes(&session_id, "Hi Ada, this is support. Let me help.").expect("written");
    let report = org.relay(CHAT).await.expect("relays");
    assert_eq!(report.phase, Phase::Live);
    assert_eq!(texts_by(&org, AuthorRole::Teammate), ["Hi Ada, this is support. Let me help."]);
    assert!(texts_by(&org, AuthorRole::System).iter().any(|t| t.ends_with("joined the conversation.")));
    customer_writes(&org, "m3", "Thanks! My username is ada");
    assert_eq!(org.relay(CHAT).await.expect("relays").sent, 1);
    assert_eq!(
        org.relay(CHAT).await.expect("relays"),
        casebridge::runtime::bindings::messenger::RelayReport {
            phase: Phase::Live,
            answered: 0,
            sent: 0,
            received: 0,
            poll_after_ms: Some(1000)
        },
        "nothing is relayed twice"
    );
    let conversation = miaw_conversation(&org);
    assert_eq!(end_user_messages(&conversation), ["I want to talk to a person", "Thanks! My username is ada"]);
    for send in conversation["sends"].as_array().unwrap() {
        assert_eq!(send["routing_attributes"]["_email"], "ada@example.com", "every message carries them (B3)");
    }
    assert_eq!(texts_by(&org, AuthorRole::Teammate).len(), 1, "the agent's message was posted once");
    let live = org.instance().await.messenger_live_conversations().await.unwrap().unwrap();
    assert_eq!(live, [CHAT]);

    // The agent ends the session: the customer is told, and the AI agent is back.
    org.emulator.end_messaging_session(&session_id).expect("ended");
    let report = org.relay(CHAT).await.expect("relays");
    assert_eq!((report.phase, report.poll_after_ms), (Phase::Ended, None));
    assert!(texts_by(&org, AuthorRole::System).iter().any(|t| t.contains("has ended")));
    customer_writes(&org, "m4", "One more question about billing");
    let report = org.relay(CHAT).await.expect("relays");
    assert_eq!((report.phase, report.answered), (Phase::Agent, 1));
    assert!(org.instance().await.messenger_live_conversations().await.unwrap().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_retried_without_doubling_a_message() {
    let org = TestOrg::demo().with_messenger();
    ada_asks(&org);
    org.relay(CHAT).await.expect("the AI answers");
    customer_writes(&org, "m2", "a person please");
    org.relay(CHAT).await.expect("hands off");
    customer_writes(&org, "m3", "Are you there?");
    // The send lands, its answer is lost.
    org.emulator.inject(Fault::drop_response().on(FaultTarget::Messaging));
    assert!(org.relay(CHAT).await.is_err(), "the relay sees the lost answer");
    org.relay(CHAT).await.expect("relays again");
    let conversation = miaw_conversation(&org);
    assert_eq!(end_user_messages(&conversation), ["a person please", "Are you there?"], "once each");
    let resends = conversation["sends"].as_array().unwrap().len();
    assert_eq!(resends, 3, "the lost one was sent again, with the same id");

    // The agent writes; the first read of it is lost; it is posted once.
    let session_id = org.emulator.messaging_sessions()[0]["session_id"].as_str().unwrap().to_string();
    org.emulator.accept_messaging_session(&session_id).expect("accepted");
    org.emulator.agent_writes(&session_id, "Yes, I am here.").expect("written");
    org.emulator.inject(Fault::drop_response().on(FaultTarget::Messaging));
    assert!(org.relay(CHAT).await.is_err());
    org.relay(CHAT).await.expect("relays again");
    org.relay(CHAT).await.expect("and again");
    assert_eq!(texts_by(&org, AuthorRole::Teammate), ["Yes, I am here."]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_relayed_with_the_routing_attributes() {
    let org = TestOrg::demo().with_messenger();
    ada_asks(&org);
    org.relay(CHAT).await.expect("the AI answers");
    customer_writes(&org, "m2", "a human, please");
    org.relay(CHAT).await.expect("hands off");
    let file = MessengerFile {
        conversation_id: CHAT.into(),
        name: "screenshot.png".into(),
        content_type: "image/png".into(),
        bytes: b"\x89PNG fake".to_vec(),
    };
    org.store.put_messenger_file(ORG, "f1", &file, now()).expect("kept");
    let part = ConversationPart {
        id: "m3".into(),
        source: PartSource::FeedItem,
        author: AuthorRole::Customer,
        author_name: None,
        text: String::new(),
        created_at: now(),
        attachments: vec![Attachment {
            name: "screenshot.png".into(),
            content_type: "image/png".into(),
            size: 9,
            content_path: "messenger/files/f1".into(),
            inline: false,
        }],
    };
    let patch = ConversationPatch { parts: vec![part], ..ConversationPatch::default() };
    platform(&org).put_conversation(ORG, CHAT, patch, false, now()).expect("file part");
    assert_eq!(org.relay(CHAT).await.expect("relays").sent, 1);
    let conversation = miaw_conversation(&org);
    let sends = conversation["sends"].as_array().unwrap();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[1]["routing_attributes"]["_firstName"], "Ada");
    let versions = org.query("SELECT Title, PathOnClient FROM ContentVersion WHERE PathOnClient = 'screenshot.png'");
    assert_eq!(versions.len(), 1, "the file reached Salesforce: {versions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_routing_is_said_and_the_ai_agent_takes_over_again() {
    let org = TestOrg::demo().with_messenger();
    org.emulator.fail_messaging_routing(Some("No agent is online."));
    ada_asks(&org);
    org.relay(CHAT).await.expect("the AI answers");
    customer_writes(&org, "m2", "Let me speak to a person");
    org.relay(CHAT).await.expect("hands off");
    let report = org.relay(CHAT).await.expect("reads the routing result");
    assert_eq!(report.phase, Phase::Ended);
    assert!(texts_by(&org, AuthorRole::System).iter().any(|t| t.starts_with("No one from the team")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_deployment_a_hand_off_stays_with_the_platform_team() {
    let org = TestOrg::demo();
    ada_asks(&org);
    customer_writes(&org, "m2", "a person, please");
    let report = org.relay(CHAT).await.expect("relays");
    assert_eq!(report.phase, Phase::Agent);
    assert_eq!(texts_by(&org, AuthorRole::System), ["A person from our team will reply here soon."]);
    assert!(org.emulator.messaging_sessions().as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_written_as_the_session_ends_starts_a_new_one_with_the_routing_attributes() {
    let org = TestOrg::demo().with_messenger();
    ada_asks(&org);
    org.relay(CHAT).await.expect("the AI answers");
    customer_writes(&org, "m2", "a person please");
    org.relay(CHAT).await.expect("hands off");
    let first = org.emulator.messaging_sessions()[0]["session_id"].as_str().unwrap().to_string();
    org.emulator.accept_messaging_session(&first).expect("accepted");
    org.relay(CHAT).await.expect("the agent joined");
    // The agent ends the session, and the customer writes before the relay has seen it.
    org.emulator.end_messaging_session(&first).expect("ended");
    customer_writes(&org, "m3", "wait, one more thing");
    let report = org.relay(CHAT).await.expect("relays");
    assert_eq!(report.phase, Phase::Waiting, "a new session waits for an agent");
    let sessions = org.emulator.messaging_sessions();
    assert_eq!(sessions.as_array().unwrap().len(), 2, "{sessions:#}");
    assert_eq!(sessions[1]["status"], "Waiting");
    assert_eq!(sessions[1]["routing_attributes"]["_email"], "ada@example.com", "routed again with every attribute");
    assert_eq!(end_user_messages(&miaw_conversation(&org)), ["a person please", "wait, one more thing"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_messenger_workflow_collects_a_value_and_hands_off_with_it_in_the_routing_attributes() {
    let mut org = TestOrg::demo().with_messenger();
    let workflow = r#"
[[step]]
id = "urgency"
collect = { field = "Priority", question = "How urgent is it: high, medium or low?", tries = 2 }

[[step]]
id = "live"
hand_off_to_salesforce_agent = true
"#;
    org.config.workflows = vec![casebridge::workflow::parse(workflow, Channel::Messenger).expect("valid")];
    // A case for the conversation once its workflow reaches the hand-off (C5).
    org.config.crm.case_triggers =
        vec![casebridge::runtime::bindings::settings::CaseTrigger::WorkflowStep("live".into())];
    org.config.crm.link_contacts_automatically = true;
    // The admin adds a pre-chat parameter for the collected value (Salesforce
    // drops routing attributes that are not parameters).
    let parameter =
        |name: &str, field: &str, max: u32| serde_json::json!({"name": name, "field": field, "max_length": max});
    let deployment = serde_json::json!({
        "developer_name": casebridge_emulator::MESSAGING_DEPLOYMENT,
        "pre_chat": [
            parameter("_firstName", "FirstName__c", 40), parameter("_lastName", "LastName__c", 80),
            parameter("_email", "Email__c", 80), parameter("_subject", "Subject__c", 255),
            parameter("user_user_id", "FinUserId__c", 255),
            parameter("conversation_custom_data_Priority", "CasePriority__c", 40),
        ],
    });
    let url = format!("{}/__emulator/messaging/deployments", org.emulator.url());
    let status = tokio::task::spawn_blocking(move || {
        reqwest::blocking::Client::new()
            .post(url)
            .json(&deployment)
            .send()
            .map(|r| (r.status(), r.text().unwrap_or_default()))
    })
    .await
    .unwrap()
    .expect("the admin API answers");
    assert!(status.0.is_success(), "{status:?}");
    org.cycle().await.expect("a cycle reads the Case catalog");
    ada_asks(&org);
    org.relay(CHAT).await.expect("relays");
    assert_eq!(
        texts_by(&org, AuthorRole::Agent),
        ["How urgent is it: high, medium or low?"],
        "the workflow asks first"
    );
    customer_writes(&org, "m2", "very!");
    org.relay(CHAT).await.expect("relays");
    let asked = texts_by(&org, AuthorRole::Agent);
    assert!(asked[1].starts_with("That is not one of the choices (High, Medium, Low)."), "{asked:?}");
    assert!(org.emulator.messaging_sessions().as_array().unwrap().is_empty(), "not handed off yet");

    customer_writes(&org, "m3", "High");
    let report = org.relay(CHAT).await.expect("hands off");
    assert_eq!(report.phase, Phase::Waiting);
    assert_eq!(texts_by(&org, AuthorRole::Agent).len(), 2, "the AI agent did not answer: the workflow handed off");
    let conversation = miaw_conversation(&org);
    let send = &conversation["sends"][0];
    assert_eq!(send["routing_attributes"]["conversation_custom_data_Priority"], "High", "{send}");
    assert_eq!(send["routing_attributes"]["_email"], "ada@example.com");
    let session = org.emulator.messaging_sessions()[0]["session_id"].as_str().unwrap().to_string();
    assert_eq!(org.field("MessagingSession", &session, "CasePriority__c"), "High", "as Salesforce has it");

    // The `workflow_step:live` trigger: the next cycle creates the case, with the collected value.
    org.cycle().await.expect("the cycle runs the CRM actions");
    org.cycle().await.expect("and again: nothing twice");
    let cases = org.query("SELECT Id, Priority, Subject FROM Case WHERE Subject = 'Password reset'");
    assert_eq!(cases.len(), 1, "{cases:?} {:?}", org.errors().await);
    assert_eq!(cases[0]["Priority"], "High");
}
