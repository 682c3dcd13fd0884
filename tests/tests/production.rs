//! What real orgs bring, end to end against the emulated org: a slow agent
//! and a customer writing while it composes, a write-back that fails and a
//! customer who writes again, a quiet org, a session kept between cycles,
//! Salesforce's clock ahead of the host's, and Ids in every written form.

use std::time::Duration;

use casebridge::runtime::bindings::types;
use casebridge_emulator::Fault;
use casebridge_tests::TestOrg;

/// The scripted agent's answer on a case with this subject.
fn answer_for(subject: &str) -> String {
    format!("Here is how to solve \"{subject}\": follow the steps in our help centre.")
}

/// Every customer message on `case_id` has exactly one reply: as many
/// replies as customer messages (the description included), and the last
/// word is the agent's. (Two replies may follow each other: a message written
/// while the agent composed is answered after the reply it did not see.)
fn assert_answered_once_each(org: &TestOrg, case_id: &str) {
    let integration = &org.emulator.seeded().integration_user_id;
    let mut items: Vec<(String, String, bool)> = org
        .query(&format!("SELECT CommentBody, CreatedDate, CreatedById, Id FROM CaseComment WHERE ParentId = '{case_id}' ORDER BY CreatedDate, Id"))
        .iter()
        .map(|c| {
            (
                format!("{}{}", c["CreatedDate"].as_str().unwrap_or_default(), c["Id"].as_str().unwrap_or_default()),
                c["CommentBody"].as_str().unwrap_or_default().to_string(),
                c["CreatedById"].as_str() == Some(integration.as_str()),
            )
        })
        .collect();
    items.sort();
    // The case's description is the customer's first message.
    items.insert(0, (String::new(), "(description)".into(), false));
    let by_agent: Vec<bool> = items.iter().map(|(_, _, agent)| *agent).collect();
    let customer_messages = by_agent.iter().filter(|a| !**a).count();
    let replies = by_agent.iter().filter(|a| **a).count();
    let texts: Vec<&str> = items.iter().map(|(_, t, _)| t.as_str()).collect();
    assert_eq!(by_agent.last(), Some(&true), "the customer is left waiting on {case_id}: {texts:#?}");
    assert_eq!(replies, customer_messages, "every customer message has its reply on {case_id}: {texts:#?}");
}

#[tokio::test]
async fn a_message_written_while_the_agent_composes_gets_its_own_answer() {
    let org = TestOrg::demo();
    org.cycle().await.expect("the first cycle answers the seeded cases");
    let case_id = org.emulator.seeded().agent_case_ids[0].clone();
    org.customer_writes(&case_id, "How do I export my data?");
    *org.agent.thinking_time.lock().unwrap() = Duration::from_millis(1500);
    let asked = org.agent.seen.lock().unwrap().len();
    let cycle = org.cycle();
    tokio::pin!(cycle);
    // One second into the agent's turn, the customer writes again.
    let report = loop {
        tokio::select! {
            report = &mut cycle => break report,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                if org.agent.seen.lock().unwrap().len() > asked && org.replies_on(&case_id).len() < 3 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    org.customer_writes(&case_id, "Also, can I export only one project?");
                    break cycle.await;
                }
            }
        }
    };
    report.expect("the slow cycle succeeds");
    *org.agent.thinking_time.lock().unwrap() = Duration::ZERO;
    let next = org.cycle().await.expect("the next cycle succeeds");
    assert_eq!(next.replies_posted, 1, "the message written during the turn is answered: {next:?}");
    let idle = org.cycle().await.expect("an idle cycle");
    assert_eq!(idle.replies_posted, 0, "{idle:?}");
    assert_answered_once_each(&org, &case_id);
}

#[tokio::test]
async fn an_unsent_reply_goes_out_before_the_next_message_is_answered_and_nothing_is_answered_twice() {
    let org = TestOrg::demo();
    org.cycle().await.expect("the first cycle");
    let case_id = org.emulator.seeded().agent_case_ids[0].clone();
    org.customer_writes(&case_id, "How do I export my data?");
    // The write-back (the cycle's second call) is answered 503.
    org.cycle_with_fault_on_call(2, Fault::error(503)).await.expect_err("the write-back fails");
    org.customer_writes(&case_id, "Hello? Are you there?");
    let asked = org.agent.seen.lock().unwrap().len();
    let next = org.cycle().await.expect("the next cycle sends the unsent reply");
    assert_eq!(next.replies_posted, 1, "only the unsent reply: {next:?}");
    assert_eq!(org.agent.seen.lock().unwrap().len(), asked, "no turn while a reply is unsent");
    let after = org.cycle().await.expect("then the new message gets its turn");
    assert_eq!(after.replies_posted, 1, "{after:?}");
    assert_answered_once_each(&org, &case_id);
    let subject = org.field("Case", &case_id, "Subject");
    let replies = org.replies_on(&case_id);
    let same = replies.iter().filter(|r| **r == answer_for(subject.as_str().unwrap())).count();
    assert_eq!(same, 3, "one answer per customer message (the first, the two follow-ups): {replies:#?}");
}

#[tokio::test]
async fn a_quiet_org_reads_no_record_once_the_overlap_has_passed() {
    let org = TestOrg::demo();
    org.cycle().await.expect("the first cycle");
    org.cycle().await.expect("the cycle after it");
    // The test org's overlap is five seconds.
    tokio::time::sleep(Duration::from_millis(u64::from(org.config.poll_overlap_seconds) * 1000 + 1200)).await;
    let settled = org.cycle().await.expect("a cycle after the overlap");
    let idle = org.cycle().await.expect("an idle cycle");
    for report in [&settled, &idle] {
        assert_eq!(report.api_calls, 1, "{report:?}");
    }
    assert_eq!(idle.cases_seen, 0, "no case is read again: {idle:?}");
    assert_eq!(idle.conversations_updated, 0, "{idle:?}");
}

#[tokio::test]
async fn one_access_token_serves_many_cycles() {
    let org = TestOrg::demo();
    let before = org.emulator.counters().token_requests;
    for _ in 0..5 {
        org.cycle().await.expect("a cycle");
    }
    assert_eq!(org.emulator.counters().token_requests - before, 1, "the session is kept between cycles");
    // When it expires, one refresh.
    org.emulator.expire_sessions();
    org.cycle().await.expect("a cycle after the session expired");
    assert_eq!(org.emulator.counters().token_requests - before, 2);
}

#[tokio::test]
async fn the_kept_session_is_never_stored_in_plain_text() {
    let org = TestOrg::demo();
    org.cycle().await.expect("a cycle");
    let store = org.store.clone();
    let values = casebridge::runtime::BlockingKeyValueStore::scan(store.as_ref(), &org.config.name, "")
        .expect("the store can be read");
    let session = values.iter().find(|e| e.key == "session").expect("a session is kept");
    assert!(!session.value.contains("http"), "the instance URL is sealed too: {}", session.value);
    for entry in &values {
        assert!(!entry.value.contains("00D"), "an access token in plain text under {}", entry.key);
    }
}

#[tokio::test]
async fn salesforce_ahead_of_the_host_still_resolves_quiet_cases_on_its_own_clock() {
    let mut org = TestOrg::demo();
    org.config.resolution_timeouts =
        types::Timeouts { soft_resolution_after_ms: 3_600_000, abandoned_after_ms: 3_600_000 };
    // Salesforce's clock is three hours ahead of the host's.
    org.emulator.advance_clock(Duration::from_secs(3 * 3600));
    org.cycle().await.expect("the first cycle answers");
    let quiet = org.emulator.seeded().agent_case_ids[2].clone();
    org.cycle().await.expect("right after: not yet resolved");
    assert_eq!(org.field("Case", &quiet, "FinResolutionState__c"), serde_json::Value::Null, "answered a moment ago");
    // An hour later by Salesforce's clock (the host's has not moved).
    org.emulator.advance_clock(Duration::from_secs(3600 + 60));
    org.cycle().await.expect("an hour later");
    assert_eq!(org.field("Case", &quiet, "FinResolutionState__c"), serde_json::json!("Soft Resolution"));
}

#[tokio::test]
async fn a_conversation_is_found_by_its_id_in_every_written_form() {
    let org = TestOrg::demo();
    org.cycle().await.expect("a cycle");
    let id = org.emulator.seeded().agent_case_ids[0].clone();
    let mut guest = org.instance().await;
    for form in [id.clone(), id[..15].to_string(), id.to_ascii_lowercase(), id.to_ascii_uppercase()] {
        let found = guest.get_conversation(&form).await.expect("no trap");
        let found = found.unwrap_or_else(|e| panic!("{form}: {e:?}"));
        assert_eq!(found.map(|c| c.id), Some(id.clone()), "{form}");
    }
    let refused = guest.get_conversation("500 OR 1=1").await.expect("no trap");
    assert!(matches!(refused, Err(casebridge::runtime::bindings::org::SyncError::InvalidConfig(_))), "{refused:?}");
}

#[tokio::test]
async fn a_write_that_lands_after_the_host_died_is_not_posted_again_by_the_next_one() {
    let org = TestOrg::demo();
    org.cycle().await.expect("the first cycle");
    let case_id = org.emulator.seeded().agent_case_ids[0].clone();
    org.customer_writes(&case_id, "How do I export my data?");
    // The poll and the write-back are each held three seconds; the org
    // carries them out although the client is gone, as Salesforce does.
    org.emulator.inject(Fault::latency(Duration::from_secs(3)).times(2));
    let died = tokio::time::timeout(Duration::from_millis(4500), org.cycle()).await;
    assert!(died.is_err(), "the host died during its held write-back");
    // A new host starts at once: the write may still land, so it waits.
    let asked = org.agent.seen.lock().unwrap().len();
    let restarted = org.cycle().await.expect("the restarted host's cycle");
    assert_eq!(restarted.replies_posted, 0, "{restarted:?}");
    assert_eq!(org.agent.seen.lock().unwrap().len(), asked, "no second turn for the same message");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(org.replies_on(&case_id).len(), 2, "the held write landed after the host died");
    let settled = org.cycle().await.expect("the held reply comes back through the poll");
    assert_eq!(settled.replies_posted, 0, "{settled:?}");
    org.pass_settle_window();
    let later = org.cycle().await.expect("after the settle window");
    assert_eq!(later.replies_posted, 0, "{later:?}");
    assert_answered_once_each(&org, &case_id);
}

#[tokio::test]
async fn a_failing_agent_shows_in_the_errors_until_it_answers_again() {
    let org = TestOrg::demo();
    // An agent that answers nonsense: every turn is refused.
    let broken = std::sync::Arc::new(BrokenAgent);
    let capabilities = casebridge::runtime::Capabilities { agent: broken, ..org.capabilities() };
    let mut guest = casebridge_tests::runtime()
        .instantiate(capabilities, org.allowed_hosts(), casebridge::runtime::GuestLimits::default())
        .await
        .expect("instantiates");
    let report = guest.run_cycle().await.expect("no trap").expect("the cycle itself succeeds");
    assert!(
        report.errors.iter().any(|e| e.operation == "agent turn" && e.reason.message.contains("not a turn")),
        "{report:?}"
    );
    let listed = org.errors().await;
    assert!(listed.iter().any(|e| e.operation == "agent turn"), "{listed:?}");
    // The agent works again: the turns are taken and the errors are gone.
    let report = org.cycle().await.expect("a cycle with a working agent");
    assert!(report.replies_posted > 0, "{report:?}");
    assert!(!org.errors().await.iter().any(|e| e.operation == "agent turn"));
}

struct BrokenAgent;

#[async_trait::async_trait]
impl casebridge::runtime::Agent for BrokenAgent {
    async fn respond(
        &self,
        _org: &str,
        _conversation: types::Conversation,
    ) -> Result<casebridge::runtime::bindings::agent::Turn, casebridge::runtime::bindings::agent::AgentError> {
        Err(casebridge::runtime::bindings::agent::AgentError::InvalidTurn(
            "the webhook answered a body that is not a turn".into(),
        ))
    }
}
