//! History of any size (E7): a generated org with years of cases, each with
//! its feed. The first poll completes page by page inside the connector's
//! memory cap and the store's limits, answers exactly the cases waiting for
//! an answer, and afterwards an idle cycle reads nothing and loads only the
//! open conversations.

use casebridge_emulator::BulkSeed;
use casebridge_tests::TestOrg;

/// Runs cycles until one starts no conversation and posts nothing (the
/// first poll is done); returns how many cycles it took and the replies.
async fn poll_until_caught_up(org: &TestOrg, most_cycles: u32) -> (u32, u32) {
    let mut replies = 0;
    for cycle in 1..=most_cycles {
        let report = org.cycle().await.unwrap_or_else(|e| panic!("cycle {cycle} failed: {e:?}"));
        replies += report.replies_posted;
        if report.conversations_created == 0 && report.replies_posted == 0 {
            return (cycle, replies);
        }
    }
    panic!("the first poll did not finish in {most_cycles} cycles");
}

async fn first_poll_of(cases: usize, customer_last_every: usize) {
    let org = TestOrg::demo();
    let seeded = org
        .emulator
        .bulk_seed(&BulkSeed {
            cases,
            messages_per_case: 6,
            customer_last_every: Some(customer_last_every),
            history_days: 3 * 365,
            ..BulkSeed::default()
        })
        .expect("the org is generated");
    let (cycles, replies) = poll_until_caught_up(&org, 200).await;
    // The demo's own seven cases are waiting too.
    let waiting = seeded.customer_last_case_ids.len() as u32;
    assert!(replies >= waiting, "{replies} replies for {waiting} waiting cases");
    for case_id in &seeded.customer_last_case_ids {
        assert_eq!(org.replies_on(case_id).len(), 4, "case {case_id}: its three old replies and one new");
    }
    let answered_before = seeded.case_ids.iter().find(|id| !seeded.customer_last_case_ids.contains(id)).unwrap();
    assert_eq!(org.replies_on(answered_before).len(), 3, "a case answered in its history gets no new reply");

    // Only the conversations the agent answered stay open; the history left the open set.
    let hot = casebridge::runtime::BlockingKeyValueStore::get(org.store.as_ref(), &org.config.name, "hot")
        .expect("the store answers")
        .expect("an open set is kept");
    let open: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&hot).expect("JSON");
    assert!(open.len() <= waiting as usize + 10, "{} open conversations for {waiting} answered", open.len());
    // Once the overlap has passed, an idle cycle reads no record.
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(org.config.poll_overlap_seconds) * 1000 + 1500))
        .await;
    org.cycle().await.expect("a cycle re-reading the last overlap");
    let idle = org.cycle().await.expect("an idle cycle");
    assert_eq!((idle.api_calls, idle.cases_seen, idle.replies_posted), (1, 0, 0), "{idle:?}");
    eprintln!("first poll of {cases} cases with feeds: {cycles} cycles, {replies} replies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_poll_of_5000_cases_with_feeds_completes_in_bounded_memory() {
    first_poll_of(5_000, 100).await;
}

/// The same at 100,000 cases (about 700,000 records): about 4 minutes in a
/// debug build, so run on its own: `cargo test -p casebridge-tests --test scale -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long; CI runs it on its own"]
async fn a_first_poll_of_100000_cases_with_feeds_completes_in_bounded_memory() {
    first_poll_of(100_000, 1000).await;
}
