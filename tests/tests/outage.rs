//! Outages (A3, E2): the connector reads from a stored watermark, so whatever
//! changed while it was down, or while Salesforce was, is caught up by the
//! next cycle that runs: nothing skipped, nothing answered twice.

use std::collections::BTreeMap;
use std::time::Duration;

use casebridge::runtime::bindings::org::SyncError;
use casebridge_emulator::{Fault, FaultTarget};
use casebridge_tests::{CUSTOMER_USERNAME, TestOrg};
use serde_json::json;

/// What the customer writes after the first answer; the scripted agent asks back.
const FOLLOW_UP: &str = "?";
const QUESTION: &str = "Could you tell me more?";

/// The scripted agent's answer on a case with this subject.
fn answer_to(subject: &str) -> String {
    format!("Here is how to solve \"{subject}\": follow the steps in our help centre.")
}

/// The web cases of the demo seed the customer writes on again.
fn web_cases(org: &TestOrg) -> Vec<String> {
    let seeded = org.emulator.seeded();
    [0, 2, 3, 5].iter().map(|&i| seeded.agent_case_ids[i].clone()).collect()
}

fn assert_nothing_doubled(counts: &BTreeMap<(String, String), usize>) {
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "replies on a case more than once: {doubled:#?}");
}

fn questions_on(org: &TestOrg, case_id: &str) -> usize {
    org.replies_on(case_id).iter().filter(|body| *body == QUESTION).count()
}

#[tokio::test]
async fn changes_made_during_a_three_hour_outage_are_all_answered_by_the_next_cycle() {
    let org = TestOrg::demo();
    org.cycle().await.expect("the first cycle succeeds");
    let seeded = org.emulator.seeded().clone();
    let agent = seeded.agent_user_id.clone().expect("the demo seed has an agent user");
    let followed_up = web_cases(&org);

    // Three hours without a cycle: every half hour a customer writes again on
    // a case the agent answered, and four new cases are assigned to the agent.
    let mut new_cases: Vec<(String, String)> = Vec::new();
    for half_hour in 0..6 {
        org.emulator.advance_clock(Duration::from_secs(30 * 60));
        if let Some(case_id) = followed_up.get(half_hour) {
            org.customer_writes(case_id, FOLLOW_UP);
        }
        for n in 0..4 {
            let subject = format!("Outage case {half_hour}-{n}");
            let id = org.create_as(
                CUSTOMER_USERNAME,
                "Case",
                json!({
                    "Subject": subject, "Description": format!("Written {half_hour} half hours into the outage."),
                    "Origin": "Web", "Status": "New", "OwnerId": agent,
                }),
            );
            new_cases.push((id, subject));
        }
    }
    // A teammate gives the agent a case from the queue, late in the outage.
    let reassigned = seeded.queued_case_id.clone().expect("the demo seed has a queued case");
    let teammate = org.query("SELECT Id FROM User WHERE Username = 'maya.patel@casebridge.example'")[0]["Id"]
        .as_str()
        .expect("the hand-off user exists")
        .to_string();
    let last_change = org.emulator.now();
    let ctx = casebridge_emulator::db::WriteContext { now: last_change, user_id: teammate };
    org.emulator
        .with_database(|db| db.update("Case", &reassigned, json!({"OwnerId": agent}).as_object().unwrap(), &ctx))
        .expect("the case is reassigned");

    let report = org.cycle().await.expect("the cycle after the outage succeeds");
    // The poll read everything up to the moment of its query, by Salesforce's
    // clock: the watermark is that moment minus the overlap.
    let overlap_ms = i64::from(org.config.poll_overlap_seconds) * 1000;
    let watermark = report.watermark.expect("a watermark after a poll");
    assert!(
        watermark >= last_change.timestamp_millis() - overlap_ms,
        "three hours on in Salesforce's time: {report:?}"
    );
    assert!(watermark <= org.emulator.now().timestamp_millis() - overlap_ms + 1000, "{report:?}");
    for case_id in &followed_up {
        assert_eq!(questions_on(&org, case_id), 1, "case {case_id}: the follow-up is answered once: {report:?}");
    }
    for (case_id, subject) in &new_cases {
        assert_eq!(org.replies_on(case_id), vec![answer_to(subject)], "new case {subject}: {report:?}");
    }
    let subject = org.field("Case", &reassigned, "Subject");
    let subject = subject.as_str().expect("the case has a subject");
    assert_eq!(org.replies_on(&reassigned), vec![answer_to(subject)], "the reassigned case is answered");
    assert_eq!(report.replies_posted as usize, followed_up.len() + new_cases.len() + 1, "{report:?}");

    let idle = org.cycle().await.expect("an idle cycle succeeds");
    assert_eq!(idle.replies_posted, 0, "nothing is answered twice: {idle:?}");
    let mut everything: Vec<String> = new_cases.into_iter().map(|(id, _)| id).collect();
    everything.push(reassigned);
    assert_nothing_doubled(&org.reply_counts(&everything));
}

#[tokio::test]
async fn an_org_that_fails_every_call_for_an_hour_is_caught_up_once_it_answers_again() {
    let org = TestOrg::demo();
    org.cycle().await.expect("the first cycle succeeds");
    let cases = web_cases(&org);
    let before = org.reply_counts(&[]);
    let counted = org.emulator.counters().total;

    // Salesforce answers 503 to everything, token requests included, while the
    // customers keep writing and the connector keeps trying.
    org.emulator.inject(Fault::error(503).always().on(FaultTarget::Any));
    for case_id in &cases {
        org.customer_writes(case_id, FOLLOW_UP);
        org.emulator.advance_clock(Duration::from_secs(15 * 60));
        let error = org.cycle().await.expect_err("Salesforce is down");
        assert!(matches!(&error, SyncError::Salesforce(api) if api.status == 503), "{error:?}");
    }
    assert_eq!(org.emulator.counters().total, counted, "no call reached the org");
    assert_eq!(org.reply_counts(&[]), before, "nothing written during the outage");

    org.emulator.clear_faults();
    let report = org.cycle().await.expect("the first cycle after the outage succeeds");
    for case_id in &cases {
        assert_eq!(questions_on(&org, case_id), 1, "case {case_id}: answered once: {report:?}");
    }
    let idle = org.cycle().await.expect("an idle cycle succeeds");
    assert_eq!(idle.replies_posted, 0, "{idle:?}");
    assert_nothing_doubled(&org.reply_counts(&[]));
}
