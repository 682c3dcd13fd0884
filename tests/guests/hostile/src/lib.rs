//! A connector component that misbehaves on purpose, so the sandbox tests (E3)
//! can prove the host contains it. It implements the real `connector` world;
//! every export is a typed `unsupported` error or a trivial value, except
//! `sync.run-cycle`, which picks its misbehaviour from the org's `name`:
//!
//! | name         | what the cycle does                                              |
//! |--------------|------------------------------------------------------------------|
//! | `runaway`    | spins forever without calling the host (stopped by the deadline) |
//! | `hungry`     | allocates and writes 1 MiB chunks until allocation fails; after  |
//! |              | each chunk it stores the MiB count under [`HUNGRY_PROGRESS_KEY`] |
//! | `trap`       | panics                                                           |
//! | `exfiltrate` | GETs the org's `login-url` with waki; the outcome is the error   |
//! | anything else| an empty, successful cycle                                       |

mod wit {
    wit_bindgen::generate!({
        path: "../../../wit/since_v0.1.0",
        world: "connector",
    });
}

use std::time::Duration;

use wit::casebridge::connector::{contacts as wc, describe as wd, org as wo, store, types as wt};
use wit::exports::casebridge::connector::{catalog, crm, mapping, matching, resolution, routing, sync};

/// The store key under which `hungry` records how many MiB it holds.
pub const HUNGRY_PROGRESS_KEY: &str = "hungry/mib";

/// Held by `exfiltrate` when a request went through (the `code` of the `salesforce` error).
pub const REACHED: &str = "REACHED";

const CHUNK: usize = 1 << 20;

struct Hostile;

wit::export!(Hostile with_types_in wit);

fn unsupported<T>(what: &str) -> Result<T, wo::SyncError> {
    Err(wo::SyncError::Unsupported(format!("the hostile test component does not implement {what}")))
}

fn empty_report() -> sync::CycleReport {
    sync::CycleReport {
        cases_seen: 0,
        conversations_created: 0,
        conversations_updated: 0,
        replies_posted: 0,
        emails_sent: 0,
        hand_offs: 0,
        state_changes: 0,
        api_calls: 0,
        api_usage: None,
        errors: Vec::new(),
        watermark: None,
    }
}

/// A pure CPU spin: no host call, and `black_box` keeps the optimiser from
/// proving the loop useless. Only the epoch deadline can stop it.
fn spin_forever() -> ! {
    let mut turns: u64 = 0;
    loop {
        turns = std::hint::black_box(turns.wrapping_add(1));
    }
}

/// Grows the heap 1 MiB at a time, writing every byte so the pages are really
/// used, until an allocation fails (which aborts: a trap).
fn eat_memory() -> ! {
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        chunk.resize(CHUNK, 0xA5);
        held.push(std::hint::black_box(chunk));
        let put = store::Write::Put(store::Entry { key: HUNGRY_PROGRESS_KEY.into(), value: held.len().to_string() });
        // Progress for the test; a refused write changes nothing here.
        let _ = store::commit(&[], &[put]);
    }
}

/// One GET to `url`; the outcome always comes back as an error so the test can read it.
fn exfiltrate(url: &str) -> Result<sync::CycleReport, wo::SyncError> {
    match waki::Client::new().get(url).connect_timeout(Duration::from_secs(5)).send() {
        Ok(response) => Err(wo::SyncError::Salesforce(wo::ApiError {
            status: response.status_code(),
            code: REACHED.into(),
            message: format!("the request to {url} went through"),
            fields: Vec::new(),
        })),
        Err(refused) => Err(wo::SyncError::Transport(format!("{refused:?}"))),
    }
}

impl sync::Guest for Hostile {
    fn run_cycle(org: wo::OrgConfig) -> Result<sync::CycleReport, wo::SyncError> {
        match org.name.as_str() {
            "runaway" => spin_forever(),
            "hungry" => eat_memory(),
            "trap" => panic!("the hostile test component traps on purpose"),
            "exfiltrate" => exfiltrate(&org.login_url),
            _ => Ok(empty_report()),
        }
    }

    fn list_users(_org: wo::OrgConfig) -> Result<Vec<sync::UserChoice>, wo::SyncError> {
        unsupported("list-users")
    }

    fn list_queues(_org: wo::OrgConfig) -> Result<Vec<sync::QueueChoice>, wo::SyncError> {
        unsupported("list-queues")
    }

    fn list_conversations(_org: wo::OrgConfig) -> Result<Vec<sync::ConversationSummary>, wo::SyncError> {
        unsupported("list-conversations")
    }

    fn get_conversation(_org: wo::OrgConfig, _case_id: String) -> Result<Option<wt::Conversation>, wo::SyncError> {
        unsupported("get-conversation")
    }

    fn list_errors(_org: wo::OrgConfig) -> Result<Vec<sync::RecordError>, wo::SyncError> {
        unsupported("list-errors")
    }

    fn retry_error(_org: wo::OrgConfig, _error_id: String) -> Result<(), wo::SyncError> {
        unsupported("retry-error")
    }

    fn list_fields(_org: wo::OrgConfig) -> Result<Vec<wd::ObjectCatalog>, wo::SyncError> {
        unsupported("list-fields")
    }

    fn add_field(_org: wo::OrgConfig, _object: String, _field: String) -> Result<wd::ObjectCatalog, wo::SyncError> {
        unsupported("add-field")
    }

    fn remove_field(_org: wo::OrgConfig, _object: String, _field: String) -> Result<wd::ObjectCatalog, wo::SyncError> {
        unsupported("remove-field")
    }

    fn resync_field(_org: wo::OrgConfig, _object: String, _field: String) -> Result<wd::ObjectCatalog, wo::SyncError> {
        unsupported("resync-field")
    }
}

impl crm::Guest for Hostile {
    fn create_lead(_org: wo::OrgConfig, _attributes: Vec<wt::Attribute>) -> Result<String, wo::SyncError> {
        unsupported("create-lead")
    }

    fn create_case(
        _org: wo::OrgConfig,
        _contact_id: String,
        _attributes: Vec<wt::Attribute>,
    ) -> Result<String, wo::SyncError> {
        unsupported("create-case")
    }

    fn log_task(
        _org: wo::OrgConfig,
        _who_id: String,
        _subject: String,
        _transcript: String,
        _completed: bool,
    ) -> Result<String, wo::SyncError> {
        unsupported("log-task")
    }

    fn find_contact(_org: wo::OrgConfig, _customer: wc::Customer) -> Result<wc::Outcome, wo::SyncError> {
        unsupported("find-contact")
    }

    fn link_contact(
        _org: wo::OrgConfig,
        _customer: wc::Customer,
        _contact_id: Option<String>,
        _fields: Vec<wt::WireField>,
    ) -> Result<String, wo::SyncError> {
        unsupported("link-contact")
    }

    fn unlink_contact(_org: wo::OrgConfig, _customer_id: String) -> Result<(), wo::SyncError> {
        unsupported("unlink-contact")
    }
}

fn catalog_unsupported<T>(object: String) -> Result<T, catalog::CatalogError> {
    Err(catalog::CatalogError {
        object,
        field: String::new(),
        problem: catalog::CatalogProblem::MalformedDescribe,
        message: "the hostile test component does not implement catalogs".into(),
    })
}

impl catalog::Guest for Hostile {
    fn parse_describe(_describe_json: String) -> Result<wd::DescribedObject, catalog::CatalogError> {
        catalog_unsupported(String::new())
    }

    fn from_describe(described: wd::DescribedObject) -> wd::ObjectCatalog {
        wd::ObjectCatalog { object: described.object, fields: Vec::new() }
    }

    fn add_field(catalog: wd::ObjectCatalog, _field: String) -> Result<wd::ObjectCatalog, catalog::CatalogError> {
        catalog_unsupported(catalog.object)
    }

    fn remove_field(catalog: wd::ObjectCatalog, _field: String) -> Result<wd::ObjectCatalog, catalog::CatalogError> {
        catalog_unsupported(catalog.object)
    }

    fn resync_list_field(
        catalog: wd::ObjectCatalog,
        _fresh: wd::FieldDescriptor,
    ) -> Result<wd::ObjectCatalog, catalog::CatalogError> {
        catalog_unsupported(catalog.object)
    }

    fn refresh(catalog: wd::ObjectCatalog, _described: wd::DescribedObject) -> wd::ObjectCatalog {
        catalog
    }
}

fn conversion_unsupported<T>(object: String, field: &wd::FieldDescriptor) -> Result<T, mapping::ConversionError> {
    Err(mapping::ConversionError {
        object,
        field: field.name.clone(),
        value: String::new(),
        problem: mapping::ConversionProblem::UnsupportedType(field.type_),
    })
}

impl mapping::Guest for Hostile {
    fn entity_of(_object: String) -> Option<mapping::Entity> {
        None
    }

    fn to_attribute(
        object: String,
        field: wd::FieldDescriptor,
        _value: wt::WireValue,
    ) -> Result<wt::AttributeValue, mapping::ConversionError> {
        conversion_unsupported(object, &field)
    }

    fn to_wire(
        object: String,
        field: wd::FieldDescriptor,
        _value: wt::AttributeValue,
    ) -> Result<wt::WireValue, mapping::ConversionError> {
        conversion_unsupported(object, &field)
    }

    fn record_to_attributes(
        _catalog: wd::ObjectCatalog,
        _fields: Vec<wt::WireField>,
        _mappings: Vec<wd::FieldMapping>,
    ) -> Result<Vec<wt::Attribute>, Vec<mapping::ConversionError>> {
        Ok(Vec::new())
    }

    fn attributes_to_record(
        _catalog: wd::ObjectCatalog,
        _attributes: Vec<wt::Attribute>,
        _mappings: Vec<wd::FieldMapping>,
        _purpose: mapping::WritePurpose,
    ) -> Result<Vec<wt::WireField>, Vec<mapping::ConversionError>> {
        Ok(Vec::new())
    }
}

impl resolution::Guest for Hostile {
    fn decide(_events: Vec<resolution::Event>, _now: wt::Timestamp, _timeouts: wt::Timeouts) -> resolution::Decision {
        resolution::Decision {
            state: wt::ResolutionState::None,
            phase: resolution::Phase::AwaitingAgent,
            changes_at: None,
        }
    }
}

impl routing::Guest for Hostile {
    fn routing_attributes(_person: routing::Person, _conversation: routing::ConversationData) -> Vec<(String, String)> {
        Vec::new()
    }
}

impl matching::Guest for Hostile {
    fn search_for(_customer: wc::Customer) -> Result<matching::ContactSearch, matching::MatchingError> {
        Err(matching::MatchingError::NothingToSearch)
    }

    fn rank(_customer: wc::Customer, _candidates: Vec<wc::Candidate>) -> Result<wc::Outcome, matching::MatchingError> {
        Err(matching::MatchingError::NothingToSearch)
    }

    fn new_contact(_customer: wc::Customer) -> Result<Vec<wt::WireField>, matching::MatchingError> {
        Err(matching::MatchingError::NothingToSearch)
    }

    fn escape_soql(_text: String) -> String {
        String::new()
    }

    fn escape_soql_like(_text: String) -> String {
        String::new()
    }

    fn escape_sosl(_text: String) -> String {
        String::new()
    }
}
