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
}
