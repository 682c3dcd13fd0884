//! `casebridge demo` tells the whole story: every resolution state, a hand-off
//! and an email reply, with no set-up.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_every_behaviour() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut printed = Vec::new();
    let summary = casebridge::demo::run(dir.path(), &mut printed).await.expect("the demo runs");
    let printed = String::from_utf8(printed).expect("UTF-8");
    let states: Vec<&str> = summary.cases.values().map(|c| c.resolution.as_str()).collect();
    for state in ["Hard Resolution", "Routed to team", "Soft Resolution", "Abandoned"] {
        assert!(states.contains(&state), "the demo shows {state}: {printed}");
    }
    let handed_off = summary.cases.values().find(|c| c.resolution == "Routed to team").expect("a hand-off");
    assert_ne!(handed_off.owner, "Fin Agent", "the case moved to the hand-off queue");
    assert!(summary.cases.values().any(|c| c.origin == "Email" && c.replies >= 1), "an email reply");
    assert!(!summary.emails.is_empty(), "the email reply is in the outbox: {printed}");
    assert!(printed.contains("resolution state") && printed.contains("API calls"), "{printed}");
    let objects: Vec<&str> = summary.crm_records.iter().map(|(object, _)| object.as_str()).collect();
    assert_eq!(objects, ["Lead", "Case", "Task"], "{printed}");
    assert!(printed.contains("nothing created twice") && printed.contains("the same case"), "{printed}");
    let messenger = &summary.messenger;
    assert!(!messenger.ai_answer.is_empty(), "the AI agent answered in the messenger: {printed}");
    assert_eq!(messenger.routing_attributes.get("_firstName").map(String::as_str), Some("Sam"), "{printed}");
    assert_eq!(messenger.routing_attributes.get("user_user_id").map(String::as_str), Some("visitor-sam"));
    assert_eq!(messenger.session_fields.get("Email__c").map(String::as_str), Some("sam.okafor@example.com"));
    assert!(messenger.agent_reply.starts_with("Hi Sam"), "the live agent's reply reached the customer: {printed}");
    // The workflow: a branch to Set data, a detected and a collected value, written with the hand-off.
    let [urgent, noisy] = summary.workflow.as_slice() else { panic!("two workflow cases: {printed}") };
    assert_eq!((urgent["Priority"].as_str(), urgent["Type"].as_str()), (Some("High"), Some("Electrical")), "{printed}");
    assert_eq!((noisy["Priority"].as_str(), noisy["Type"].as_str()), (Some("Medium"), Some("Mechanical")), "{printed}");
    assert_eq!((urgent["Order_Number__c"].as_f64(), noisy["Order_Number__c"].as_f64()), (Some(4711.0), Some(10023.0)));
    assert!(printed.contains("the workflow asks: \"What is the order number"), "{printed}");
}
