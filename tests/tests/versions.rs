//! Every released contract version loads: the last component built against
//! 0.1.0 (a fixture from commit 55dd1dc) runs a full Cases cycle on today's
//! host, through the conversions to the newest types, and so does the last
//! one built against 0.2.0 (commit 1e6fa52), two-way sync included, and the
//! last one built against 0.2.2 (commit 595a5af), its CRM actions and
//! messenger included, and the last one built against 0.2.3 (commit
//! cf3ed3e), which has no streaming mode and says so; a file that is no
//! connector is refused with what it exports.

use casebridge::runtime::bindings::{describe, types};
use casebridge::runtime::{ContractVersion, Runtime};
use casebridge_tests::{TestOrg, runtime, runtime_v0_1_0, runtime_v0_2_0, runtime_v0_2_2, runtime_v0_2_3};

#[test]
fn the_embedded_connector_implements_the_newest_contract_and_the_fixture_the_first() {
    assert_eq!(runtime().version(), ContractVersion::LATEST);
    assert_eq!(runtime().version(), ContractVersion::V0_2_4);
    assert_eq!(runtime_v0_2_3().version(), ContractVersion::V0_2_3);
    assert_eq!(runtime_v0_2_2().version(), ContractVersion::V0_2_2);
    assert_eq!(runtime_v0_2_0().version(), ContractVersion::V0_2_0);
    assert_eq!(runtime_v0_1_0().version(), ContractVersion::V0_1_0);
}

#[tokio::test]
async fn a_0_2_0_component_runs_a_full_cycle_and_answers_that_it_has_no_crm_actions() {
    let org = TestOrg::demo().with_runtime(runtime_v0_2_0());
    let first = org.cycle().await.expect("the 0.2.0 connector's first cycle");
    assert!(first.conversations_created >= 1 && first.replies_posted >= 1, "{first:?}");
    let case_id = org.emulator.seeded().agent_case_ids[0].clone();
    assert_eq!(org.replies_on(&case_id).len(), 1, "the agent answered on the case");
    org.customer_writes(&case_id, "Thanks. And how do I change my email address?");
    let second = org.cycle().await.expect("the second cycle");
    assert_eq!(second.replies_posted, 1, "{second:?}");

    let mut guest = org.instance().await;
    assert_eq!(guest.version(), ContractVersion::V0_2_0);
    let errors = guest.list_errors().await.expect("no trap").expect("errors");
    assert!(errors.is_empty(), "{errors:?}");
    let refused = guest.crm_unlink_contact("p-1").await.expect("no trap").expect_err("no CRM actions in 0.2.0");
    assert!(
        matches!(&refused, casebridge::runtime::bindings::crm::CrmError::Unsupported(why) if why.contains("0.2.0")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_0_2_2_component_runs_a_full_cycle_its_crm_actions_and_its_messenger() {
    let org = TestOrg::demo().with_runtime(runtime_v0_2_2()).with_messenger();
    let first = org.cycle().await.expect("the 0.2.2 connector's first cycle");
    assert!(first.conversations_created >= 1 && first.replies_posted >= 1, "{first:?}");
    let mut guest = org.instance().await;
    assert_eq!(guest.version(), ContractVersion::V0_2_2);
    let errors = guest.list_errors().await.expect("no trap").expect("errors");
    assert!(errors.is_empty(), "{errors:?}");
    // Its exports' answers cross to the newest types by their serde form.
    let flagged = guest.crm_flagged_cases().await.expect("no trap").expect("its CRM actions answer");
    assert!(flagged.is_empty(), "{flagged:?}");
    let refused = guest.crm_unlink_contact("no-such-person").await.expect("no trap").expect_err("no person");
    assert!(!matches!(refused, casebridge::runtime::bindings::crm::CrmError::Unsupported(_)), "{refused:?}");
    let live = guest.messenger_live_conversations().await.expect("no trap").expect("its messenger answers");
    assert!(live.is_empty(), "{live:?}");
}

#[tokio::test]
async fn a_0_1_0_component_runs_a_full_cases_cycle() {
    let org = TestOrg::demo().with_runtime(runtime_v0_1_0());
    let first = org.cycle().await.expect("the 0.1.0 connector's first cycle");
    assert!(first.conversations_created >= 1, "{first:?}");
    assert!(first.replies_posted >= 1, "{first:?}");
    assert_eq!(
        (first.records_to_salesforce, first.records_to_platform, first.records_linked),
        (0, 0, 0),
        "0.1.0 synced no platform records"
    );
    let case_id = org.emulator.seeded().agent_case_ids[0].clone();
    assert_eq!(org.replies_on(&case_id).len(), 1, "the agent answered on the case");

    // Its stored conversation reaches the host in the newest shape.
    let conversation = org.conversation(&case_id).await.expect("the case is a conversation");
    assert_eq!(conversation.id, case_id);
    assert_eq!(conversation.channel, types::Channel::SalesforceCase);
    assert!(conversation.case_number.as_deref().is_some_and(|n| !n.is_empty()), "{conversation:?}");
    assert!(conversation.parts.iter().any(|p| p.author == types::AuthorRole::Agent), "{conversation:?}");

    // The customer writes again: the old connector answers once more.
    org.customer_writes(&case_id, "Thanks. And how do I change my email address?");
    let second = org.cycle().await.expect("the second cycle");
    assert_eq!(second.replies_posted, 1, "{second:?}");
    assert_eq!(org.replies_on(&case_id).len(), 2);

    // Set-up calls work too; describe results of 0.1.0 had no `defaulted-on-create`.
    let mut guest = org.instance().await;
    assert_eq!(guest.version(), ContractVersion::V0_1_0);
    assert!(guest.latest().is_none(), "the newest exports are not there");
    let catalogs = guest.list_fields().await.expect("no trap").expect("catalogs");
    let case = catalogs.iter().find(|c| c.object == "Case").expect("a Case catalog");
    assert!(case.fields.iter().all(|f| !f.descriptor.defaulted_on_create));
    assert!(case.fields.iter().any(|f| f.kind == describe::FieldKind::System));
    let users = guest.list_users().await.expect("no trap").expect("users");
    assert!(!users.is_empty());
}

#[tokio::test]
async fn a_0_2_3_component_runs_a_full_cycle_and_answers_that_it_has_no_streaming_mode() {
    let org = TestOrg::demo().with_runtime(runtime_v0_2_3());
    let first = org.cycle().await.expect("the 0.2.3 connector's first cycle");
    assert!(first.conversations_created >= 1 && first.replies_posted >= 1, "{first:?}");
    let mut guest = org.instance().await;
    assert_eq!(guest.version(), ContractVersion::V0_2_3);
    // Its exports' answers cross to the newest types by their serde form.
    let flagged = guest.crm_flagged_cases().await.expect("no trap").expect("its CRM actions answer");
    assert!(flagged.is_empty(), "{flagged:?}");
    let refused = guest.stream_open().await.expect("no trap").expect_err("no streaming in 0.2.3");
    let why = casebridge::host::describe_sync_error(&refused);
    assert!(why.contains("0.2.3") && why.contains("mode = \"polling\""), "{why}");
}

#[test]
fn a_component_of_no_known_world_is_refused_naming_what_it_exports() {
    let other = include_bytes!("../fixtures/not-a-connector.wasm");
    let error = Runtime::new(other).err().expect("refused").to_string();
    assert!(error.contains("example:other/api@1.0.0"), "names what it exports: {error}");
    assert!(error.contains("casebridge:connector/sync@0.2.0"), "names what a connector exports: {error}");

    let core_module = b"\0asm\x01\0\0\0";
    let error = format!("{:#}", Runtime::new(core_module).err().expect("a core module is refused"));
    assert!(error.contains("not a valid component"), "{error}");
}
