//! Faults (A1, A3, A13, E1): Salesforce failing, dropping connections, losing
//! answers, expiring sessions and refusing calls, on the poll and on the
//! write-back. Each test checks the typed error the cycle returns, that the
//! failed cycle wrote nothing it should not have, and that once the fault is
//! gone every reply is on its case exactly once.
//!
//! A cycle after the first makes two API calls when a customer wrote: the poll
//! (one composite request), then the write-back (one composite request).

use std::collections::BTreeMap;

use casebridge::runtime::bindings::org::SyncError;
use casebridge_emulator::Fault;
use casebridge_tests::TestOrg;

/// What the customer writes after the first answer: the scripted agent asks
/// back, so the reply differs from its first answer on the case.
const FOLLOW_UP: &str = "?";
/// The scripted agent's question.
const QUESTION: &str = "Could you tell me more?";

/// The poll is a cycle's first API call, the write-back its second.
const POLL: u32 = 1;
const WRITE_BACK: u32 = 2;

/// A demo org whose seeded cases the agent answered, where the customer has
/// since written on three of them: two web cases (replies are case comments)
/// and the email case (the reply is emailed and recorded as an EmailMessage).
async fn org_with_follow_ups() -> (TestOrg, Vec<String>) {
    let org = TestOrg::demo();
    org.cycle().await.expect("the first cycle succeeds");
    let seeded = org.emulator.seeded();
    let cases = vec![
        seeded.agent_case_ids[0].clone(),
        seeded.email_case_id.clone().expect("the demo seed has an email case"),
        seeded.screenshot_case_id.clone().expect("the demo seed has a screenshot case"),
    ];
    for case_id in &cases {
        org.customer_writes(case_id, FOLLOW_UP);
    }
    (org, cases)
}

/// No reply is on any case twice.
fn assert_nothing_doubled(counts: &BTreeMap<(String, String), usize>) {
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "replies on a case more than once: {doubled:#?}");
}

/// The next cycle, with the fault gone, answers every follow-up exactly once.
async fn assert_next_cycle_answers_each_follow_up_once(org: &TestOrg, cases: &[String]) {
    let report = org.cycle().await.expect("the cycle after the fault succeeds");
    for case_id in cases {
        let replies = org.replies_on(case_id);
        let questions = replies.iter().filter(|body| *body == QUESTION).count();
        assert_eq!(questions, 1, "case {case_id}: the follow-up is answered once: {replies:#?}\n{report:?}");
    }
    assert_nothing_doubled(&org.reply_counts(&[]));
    let idle = org.cycle().await.expect("an idle cycle succeeds");
    assert_eq!((idle.replies_posted, idle.emails_sent), (0, 0), "nothing left to send: {idle:?}");
    assert_nothing_doubled(&org.reply_counts(&[]));
}

/// A fault on the poll: the cycle fails with the error `expected` accepts,
/// writes nothing, and the next cycle answers every follow-up once.
async fn poll_fault_loses_nothing(fault: Fault, expected: fn(&SyncError) -> bool) {
    let (org, cases) = org_with_follow_ups().await;
    let before = org.reply_counts(&[]);
    let error = org.cycle_with_fault_on_call(POLL, fault).await.expect_err("the poll fails");
    assert!(expected(&error), "unexpected error: {error:?}");
    assert_eq!(org.reply_counts(&[]), before, "a cycle whose poll failed writes nothing");
    assert_eq!(org.mail.sent.lock().unwrap().len(), 1, "only the first cycle's email was sent");
    assert_next_cycle_answers_each_follow_up_once(&org, &cases).await;
}

fn is_server_error(status: u16) -> impl Fn(&SyncError) -> bool {
    move |error| matches!(error, SyncError::Salesforce(api) if api.status == status)
}

fn is_transport(error: &SyncError) -> bool {
    matches!(error, SyncError::Transport(_))
}

fn is_malformed(error: &SyncError) -> bool {
    matches!(error, SyncError::MalformedResponse(_))
}

#[tokio::test]
async fn a_poll_answered_500_fails_as_a_salesforce_error_and_the_next_cycle_answers_once() {
    poll_fault_loses_nothing(Fault::error(500), |e| {
        is_server_error(500)(e) && matches!(e, SyncError::Salesforce(api) if api.code == "UNKNOWN_EXCEPTION")
    })
    .await;
}

#[tokio::test]
async fn a_poll_answered_503_fails_as_a_salesforce_error_and_the_next_cycle_answers_once() {
    poll_fault_loses_nothing(Fault::error(503), |e| {
        is_server_error(503)(e) && matches!(e, SyncError::Salesforce(api) if api.code == "SERVER_UNAVAILABLE")
    })
    .await;
}

#[tokio::test]
async fn a_poll_whose_connection_drops_before_salesforce_sees_it_fails_as_transport_and_loses_nothing() {
    poll_fault_loses_nothing(Fault::drop_request(), is_transport).await;
}

#[tokio::test]
async fn a_poll_whose_answer_is_lost_fails_as_transport_and_loses_nothing() {
    poll_fault_loses_nothing(Fault::drop_response(), is_transport).await;
}

#[tokio::test]
async fn a_poll_answered_with_malformed_json_fails_as_malformed_response_and_loses_nothing() {
    poll_fault_loses_nothing(Fault::malformed_json(), is_malformed).await;
}

#[tokio::test]
async fn an_expired_session_is_refreshed_once_and_the_cycle_succeeds() {
    let (org, cases) = org_with_follow_ups().await;
    let before = org.emulator.counters();
    // The cycle has its token; the session expires while its poll is on the way.
    let report = org
        .cycle_acting_during_call(POLL, |emulator| emulator.expire_sessions())
        .await
        .expect("the connector refreshes the session and the cycle succeeds");
    let after = org.emulator.counters();
    assert_eq!(after.token_requests - before.token_requests, 1, "the kept token is refused, then one refresh");
    assert_eq!((report.replies_posted, report.emails_sent), (2, 1), "two case comments and one email: {report:?}");
    for case_id in &cases {
        assert_eq!(org.replies_on(case_id).iter().filter(|b| *b == QUESTION).count(), 1, "case {case_id}");
    }
    assert_nothing_doubled(&org.reply_counts(&[]));
}

#[tokio::test]
async fn request_limit_exceeded_fails_as_api_limit_without_writing_and_the_next_cycle_recovers() {
    let (org, cases) = org_with_follow_ups().await;
    let before = org.reply_counts(&[]);
    let limit = org.emulator.api_usage();
    org.emulator.set_api_usage(Some(limit.max), None);
    let counted = org.emulator.counters().total;

    let error = org.cycle().await.expect_err("Salesforce refuses the poll");
    let SyncError::ApiLimit(reached) = &error else { panic!("expected api-limit, got {error:?}") };
    assert_eq!(reached.kind, casebridge::runtime::bindings::org::LimitKind::OrgLimit, "the org's limit: {error:?}");
    let usage = &reached.usage;
    assert_eq!((u64::from(usage.used), u64::from(usage.max)), (limit.max, limit.max), "Salesforce's own count");
    assert_eq!(org.emulator.counters().total, counted, "a refused call is not counted");
    assert_eq!(org.reply_counts(&[]), before, "nothing written");

    org.emulator.set_api_usage(Some(0), None);
    assert_next_cycle_answers_each_follow_up_once(&org, &cases).await;
}

/// Whether Salesforce answered the failed write-back (the write is over) or
/// the connection broke (the write may still land for a while).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Given,
    Lost,
}

/// A fault on the write-back, carried out before Salesforce sees the request:
/// nothing is written. When Salesforce answered, the next cycle posts every
/// reply once. When the connection broke, the replies may still land, so they
/// wait — no second write, no second turn — until they can no longer land,
/// and are then posted once.
async fn write_back_fault_before_salesforce_loses_nothing(
    fault: Fault,
    answer: Answer,
    expected: fn(&SyncError) -> bool,
) {
    let (org, cases) = org_with_follow_ups().await;
    let before = org.reply_counts(&[]);
    let composites = org.emulator.counters().get("POST /composite");
    let error = org.cycle_with_fault_on_call(WRITE_BACK, fault).await.expect_err("the write-back fails");
    assert!(expected(&error), "unexpected error: {error:?}");
    assert_eq!(org.emulator.counters().get("POST /composite"), composites + 1, "the poll went through");
    assert_eq!(org.reply_counts(&[]), before, "Salesforce never saw the write-back");
    if answer == Answer::Lost {
        let asked = org.agent.seen.lock().unwrap().len();
        let waiting = org.cycle().await.expect("a cycle inside the settle window succeeds");
        assert_eq!(waiting.replies_posted, 0, "a write that may still land is not made again: {waiting:?}");
        assert_eq!(org.agent.seen.lock().unwrap().len(), asked, "no second turn while a reply is unsent");
        org.pass_settle_window();
    }
    assert_next_cycle_answers_each_follow_up_once(&org, &cases).await;
}

#[tokio::test]
async fn a_write_back_answered_503_is_sent_again_next_cycle_and_posted_once() {
    write_back_fault_before_salesforce_loses_nothing(Fault::error(503), Answer::Given, |e| is_server_error(503)(e))
        .await;
}

#[tokio::test]
async fn a_write_back_whose_connection_drops_is_posted_once_after_it_can_no_longer_land() {
    write_back_fault_before_salesforce_loses_nothing(Fault::drop_request(), Answer::Lost, is_transport).await;
}

/// A fault on the write-back that Salesforce carried out before the answer
/// was lost or broken: the replies are on the cases, the connector does not
/// know, and the next cycle finds them instead of posting them again.
async fn write_back_fault_after_salesforce_doubles_nothing(fault: Fault, expected: fn(&SyncError) -> bool) {
    let (org, cases) = org_with_follow_ups().await;
    let error = org.cycle_with_fault_on_call(WRITE_BACK, fault).await.expect_err("the write-back's answer is lost");
    assert!(expected(&error), "unexpected error: {error:?}");
    for case_id in &cases {
        let replies = org.replies_on(case_id);
        assert_eq!(replies.iter().filter(|b| *b == QUESTION).count(), 1, "Salesforce wrote the reply: {replies:#?}");
    }
    let report = org.cycle().await.expect("the next cycle succeeds");
    assert_eq!(report.replies_posted, 0, "the pending replies were found on their cases: {report:?}");
    assert_next_cycle_answers_each_follow_up_once(&org, &cases).await;
}

#[tokio::test]
async fn replies_written_whose_answer_was_lost_are_found_and_not_posted_again() {
    write_back_fault_after_salesforce_doubles_nothing(Fault::drop_response(), is_transport).await;
}

#[tokio::test]
async fn replies_written_whose_answer_was_malformed_are_found_and_not_posted_again() {
    write_back_fault_after_salesforce_doubles_nothing(Fault::malformed_json(), is_malformed).await;
}

#[tokio::test]
async fn a_pending_reply_identical_to_an_earlier_reply_is_still_posted() {
    // The agent asks the same question twice; the second question's write-back
    // never reaches Salesforce. The earlier, identical question on the case must
    // not be taken for it.
    let (org, cases) = org_with_follow_ups().await;
    org.cycle().await.expect("the first question is posted");
    for case_id in &cases {
        org.customer_writes(case_id, FOLLOW_UP);
    }
    let error =
        org.cycle_with_fault_on_call(WRITE_BACK, Fault::drop_request()).await.expect_err("the write-back is lost");
    assert!(is_transport(&error), "{error:?}");
    org.pass_settle_window();
    org.cycle().await.expect("the next cycle succeeds");
    for case_id in &cases {
        let replies = org.replies_on(case_id);
        let questions = replies.iter().filter(|b| *b == QUESTION).count();
        assert_eq!(questions, 2, "case {case_id}: one question per follow-up: {replies:#?}");
    }
}

#[tokio::test]
async fn a_daily_budget_smaller_than_a_cycle_fails_as_api_limit_without_a_call_beyond_it() {
    let mut org = TestOrg::demo();
    org.config.daily_api_budget = 2;
    let error = org.cycle().await.expect_err("a first cycle needs more than two calls");
    assert!(
        matches!(&error, SyncError::ApiLimit(reached)
            if (reached.usage.used, reached.usage.max) == (2, 2)
                && reached.kind == casebridge::runtime::bindings::org::LimitKind::Budget
                && reached.resets_at.is_some_and(|at| at % 86_400_000 == 0)),
        "the budget, reset at a UTC midnight: {error:?}"
    );
    let counters = org.emulator.counters();
    assert_eq!(counters.total, 2, "no call beyond the budget: {counters:?}");

    let error = org.cycle().await.expect_err("the day's budget is spent");
    assert!(
        matches!(&error, SyncError::ApiLimit(reached)
            if (reached.usage.used, reached.usage.max) == (2, 2)
                && reached.kind == casebridge::runtime::bindings::org::LimitKind::Budget
                && reached.resets_at.is_some_and(|at| at % 86_400_000 == 0)),
        "the budget, reset at a UTC midnight: {error:?}"
    );
    let after = org.emulator.counters();
    assert_eq!(
        (after.total, after.token_requests),
        (counters.total, counters.token_requests),
        "nothing is sent at all"
    );
    assert!(org.reply_counts(&[]).is_empty(), "nothing written");
}

#[tokio::test]
async fn a_budget_spent_between_poll_and_write_back_loses_no_reply() {
    let (mut org, cases) = org_with_follow_ups().await;
    let spent_today = org.emulator.counters().total as u32;
    let before = org.reply_counts(&[]);
    // Room for the poll, not for the write-back.
    org.config.daily_api_budget = spent_today + 1;
    let error = org.cycle().await.expect_err("the write-back is over budget");
    assert!(matches!(&error, SyncError::ApiLimit(_)), "{error:?}");
    assert_eq!(org.emulator.counters().total, u64::from(spent_today) + 1, "only the poll was sent");
    assert_eq!(org.reply_counts(&[]), before, "nothing written");

    org.config.daily_api_budget = 10_000;
    assert_next_cycle_answers_each_follow_up_once(&org, &cases).await;
}
