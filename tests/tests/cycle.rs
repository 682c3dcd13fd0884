//! Full cycles: the host runtime, the connector component and the emulated org.

use casebridge_tests::TestOrg;

#[tokio::test]
async fn first_cycle_answers_every_waiting_case_once() {
    let org = TestOrg::demo();
    let report = org.cycle().await.expect("the cycle succeeds");
    eprintln!("{report:?}");
    assert!(report.cases_seen >= 3, "{report:?}");
    assert!(report.conversations_created >= 3);
    assert!(report.replies_posted + report.emails_sent >= 2, "{report:?}");
    let agent = org.config.agent_user_id.clone();
    let comments = org.query(&format!(
        "SELECT Id, ParentId, CommentBody FROM CaseComment WHERE ParentId IN (SELECT Id FROM Case WHERE OwnerId = '{agent}')"
    ));
    eprintln!("{comments:#?}");
    let involved = org.query(&format!("SELECT Id, FinInvolved__c FROM Case WHERE OwnerId = '{agent}' AND FinInvolved__c = true"));
    assert!(!involved.is_empty());

    let second = org.cycle().await.expect("the second cycle succeeds");
    eprintln!("{second:?}");
    assert_eq!(second.replies_posted, 0, "nothing new to answer: {second:?}");
    assert_eq!(second.api_calls, 1, "an idle cycle costs one call: {second:?}");
}
