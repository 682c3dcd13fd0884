//! The component glue: the `casebridge:connector` world's exports, each a thin
//! layer that converts the generated types and calls the plain-Rust logic.
//! Compiled only for `wasm32`.

mod convert;

use convert::all;

mod wit {
    wit_bindgen::generate!({
        path: "../wit/since_v0.2.4",
        world: "connector",
    });
}

use wit::casebridge::connector::{contacts as wc, describe as wd, org as wo, types as wt};
use wit::exports::casebridge::connector::{
    catalog, crm, mapping, matching, messenger, resolution, routing, streaming, sync,
};

use crate::cycle::{self, setup};
use crate::model as m;
use crate::salesforce::transport::WakiTransport;
use host::{HostCapabilities, org_settings};

mod host;

struct Connector;

wit::export!(Connector with_types_in wit);

impl catalog::Guest for Connector {
    fn parse_describe(describe_json: String) -> Result<wd::DescribedObject, catalog::CatalogError> {
        crate::salesforce::describe::parse_describe(&describe_json)
            .map(Into::into)
            .map_err(|e| crate::catalog::CatalogError::from(e).into())
    }

    fn from_describe(described: wd::DescribedObject) -> wd::ObjectCatalog {
        crate::catalog::from_describe(described.into()).into()
    }

    fn add_field(catalog: wd::ObjectCatalog, field: String) -> Result<wd::ObjectCatalog, catalog::CatalogError> {
        crate::catalog::add_field(catalog.into(), &field).map(Into::into).map_err(Into::into)
    }

    fn remove_field(catalog: wd::ObjectCatalog, field: String) -> Result<wd::ObjectCatalog, catalog::CatalogError> {
        crate::catalog::remove_field(catalog.into(), &field).map(Into::into).map_err(Into::into)
    }

    fn resync_list_field(
        catalog: wd::ObjectCatalog,
        fresh: wd::FieldDescriptor,
    ) -> Result<wd::ObjectCatalog, catalog::CatalogError> {
        crate::catalog::resync_list_field(catalog.into(), fresh.into()).map(Into::into).map_err(Into::into)
    }

    fn refresh(catalog: wd::ObjectCatalog, described: wd::DescribedObject) -> wd::ObjectCatalog {
        crate::catalog::refresh(catalog.into(), described.into()).into()
    }
}

impl From<crate::catalog::CatalogError> for catalog::CatalogError {
    fn from(e: crate::catalog::CatalogError) -> Self {
        use crate::catalog::CatalogProblem as P;
        let message = e.to_string();
        catalog::CatalogError {
            object: e.object,
            field: e.field,
            problem: match e.problem {
                P::UnknownField => catalog::CatalogProblem::UnknownField,
                P::Locked => catalog::CatalogProblem::Locked,
                P::NotAListField => catalog::CatalogProblem::NotAListField,
                P::MalformedDescribe => catalog::CatalogProblem::MalformedDescribe,
            },
            message,
        }
    }
}

impl mapping::Guest for Connector {
    fn entity_of(object: String) -> Option<mapping::Entity> {
        crate::mapping::entity_of(&object).map(|entity| match entity {
            crate::mapping::Entity::Conversation => mapping::Entity::Conversation,
            crate::mapping::Entity::Person => mapping::Entity::Person,
            crate::mapping::Entity::Company => mapping::Entity::Company,
        })
    }

    fn to_attribute(
        object: String,
        field: wd::FieldDescriptor,
        value: wt::WireValue,
    ) -> Result<wt::AttributeValue, mapping::ConversionError> {
        crate::convert::to_attribute(&object, &field.into(), &value.into()).map(Into::into).map_err(Into::into)
    }

    fn to_wire(
        object: String,
        field: wd::FieldDescriptor,
        value: wt::AttributeValue,
    ) -> Result<wt::WireValue, mapping::ConversionError> {
        crate::convert::to_wire(&object, &field.into(), &value.into()).map(Into::into).map_err(Into::into)
    }

    type FieldCatalog = FieldCatalog;
}

/// A catalog and the org's mappings, held in the component (`field-catalog`).
pub struct FieldCatalog {
    catalog: m::ObjectCatalog,
    mappings: Vec<m::FieldMapping>,
}

impl mapping::GuestFieldCatalog for FieldCatalog {
    fn new(catalog: wd::ObjectCatalog, mappings: Vec<wd::FieldMapping>) -> Self {
        FieldCatalog { catalog: catalog.into(), mappings: all(mappings) }
    }

    fn records_to_attributes(
        &self,
        records: Vec<Vec<wt::WireField>>,
    ) -> Vec<Result<Vec<wt::Attribute>, Vec<mapping::ConversionError>>> {
        records
            .into_iter()
            .map(|fields| {
                let fields: Vec<m::WireField> = all(fields);
                crate::mapping::record_to_attributes(&self.catalog, &fields, &self.mappings).map(all).map_err(all)
            })
            .collect()
    }

    fn attributes_to_records(
        &self,
        records: Vec<Vec<wt::Attribute>>,
        purpose: mapping::WritePurpose,
    ) -> Vec<Result<Vec<wt::WireField>, Vec<mapping::ConversionError>>> {
        let purpose = match purpose {
            mapping::WritePurpose::Create => crate::mapping::WritePurpose::Create,
            mapping::WritePurpose::Update => crate::mapping::WritePurpose::Update,
        };
        records
            .into_iter()
            .map(|attributes| {
                let attributes: Vec<m::Attribute> = all(attributes);
                crate::mapping::attributes_to_record(&self.catalog, &attributes, &self.mappings, purpose)
                    .map(all)
                    .map_err(all)
            })
            .collect()
    }
}

impl From<crate::convert::ConversionError> for mapping::ConversionError {
    fn from(e: crate::convert::ConversionError) -> Self {
        use crate::convert::ConversionProblem as P;
        use mapping::ConversionProblem as W;
        mapping::ConversionError {
            object: e.object,
            field: e.field,
            value: e.value,
            problem: match e.problem {
                P::WrongType(t) => W::WrongType(t.into()),
                P::InvalidNumber => W::InvalidNumber,
                P::OutOfRange => W::OutOfRange,
                P::InvalidDate => W::InvalidDate,
                P::InvalidDatetime => W::InvalidDatetime,
                P::InvalidTime => W::InvalidTime,
                P::NotInPicklist => W::NotInPicklist,
                P::TooLong(n) => W::TooLong(n),
                P::ReadOnly => W::ReadOnly,
                P::UnknownField => W::UnknownField,
                P::UnsupportedType(t) => W::UnsupportedType(t.into()),
            },
        }
    }
}

impl resolution::Guest for Connector {
    fn decide(
        conversations: Vec<Vec<resolution::Event>>,
        now: wt::Timestamp,
        timeouts: wt::Timeouts,
    ) -> Vec<resolution::Decision> {
        let timeouts = timeouts.into();
        conversations.into_iter().map(|events| decide_one(events, now, &timeouts)).collect()
    }
}

fn decide_one(events: Vec<resolution::Event>, now: wt::Timestamp, timeouts: &m::Timeouts) -> resolution::Decision {
    use crate::resolution::{Event as E, Phase as P};
    use resolution::Event as W;
    let events: Vec<E> = events
        .into_iter()
        .map(|event| match event {
            W::CustomerMessage(at) => E::CustomerMessage(at),
            W::AgentAnswer(at) => E::AgentAnswer(at),
            W::AgentQuestion(at) => E::AgentQuestion(at),
            W::CustomerConfirmed(at) => E::CustomerConfirmed(at),
            W::CustomerAskedForPerson(at) => E::CustomerAskedForPerson(at),
            W::AgentCouldNotHelp(at) => E::AgentCouldNotHelp(at),
        })
        .collect();
    let decision = crate::resolution::decide(&events, now, timeouts);
    resolution::Decision {
        state: decision.state.into(),
        phase: match decision.phase {
            P::AwaitingAgent => resolution::Phase::AwaitingAgent,
            P::Answered => resolution::Phase::Answered,
            P::Asked => resolution::Phase::Asked,
            P::Confirmed => resolution::Phase::Confirmed,
            P::Routed => resolution::Phase::Routed,
        },
        changes_at: decision.changes_at,
    }
}

impl routing::Guest for Connector {
    fn routing_attributes(hand_offs: Vec<routing::HandOff>) -> Vec<Vec<(String, String)>> {
        hand_offs.into_iter().map(|h| routing_attributes_one(h.person, h.conversation)).collect()
    }
}

fn routing_attributes_one(person: routing::Person, conversation: routing::ConversationData) -> Vec<(String, String)> {
    use crate::routing as r;
    let person = r::Person {
        first_name: person.first_name,
        last_name: person.last_name,
        email: person.email,
        attributes: person
            .attributes
            .into_iter()
            .map(|a| r::PersonAttribute {
                name: a.name,
                kind: match a.kind {
                    routing::PersonAttributeKind::Standard => r::PersonAttributeKind::Standard,
                    routing::PersonAttributeKind::Custom => r::PersonAttributeKind::Custom,
                    routing::PersonAttributeKind::Location => r::PersonAttributeKind::Location,
                },
                value: a.value.into(),
            })
            .collect(),
    };
    let conversation = r::ConversationData {
        subject: conversation.subject,
        attributes: conversation
            .attributes
            .into_iter()
            .map(|a| r::ConversationAttribute { name: a.name, custom: a.custom, value: a.value.into() })
            .collect(),
    };
    r::routing_attributes(&person, &conversation)
}

impl matching::Guest for Connector {
    fn search_for(customers: Vec<wc::Customer>) -> Vec<Result<matching::ContactSearch, matching::MatchingError>> {
        customers.into_iter().map(search_for_one).collect()
    }

    fn rank(requests: Vec<matching::RankRequest>) -> Vec<Result<wc::Outcome, matching::MatchingError>> {
        requests
            .into_iter()
            .map(|request| {
                let candidates: Vec<m::Candidate> = all(request.candidates);
                Ok(crate::matching::rank(&request.customer.into(), &candidates)?.into())
            })
            .collect()
    }

    fn new_contact(customer: wc::Customer) -> Result<Vec<wt::WireField>, matching::MatchingError> {
        Ok(all(crate::matching::new_contact(&customer.into())?))
    }

    fn escape_soql(text: String) -> String {
        crate::salesforce::escape::soql_string(&text)
    }

    fn escape_soql_like(text: String) -> String {
        crate::salesforce::escape::soql_like(&text)
    }

    fn escape_sosl(text: String) -> String {
        crate::salesforce::escape::sosl_term(&text)
    }
}

fn search_for_one(customer: wc::Customer) -> Result<matching::ContactSearch, matching::MatchingError> {
    use crate::matching as mm;
    let search = mm::search_for(&customer.into())?;
    Ok(matching::ContactSearch {
        basis: match search.basis {
            mm::SearchBasis::Name => matching::SearchBasis::Name,
            mm::SearchBasis::Username => matching::SearchBasis::Username,
            mm::SearchBasis::Handle => matching::SearchBasis::Handle,
            mm::SearchBasis::CustomerId => matching::SearchBasis::CustomerId,
        },
        term: search.term,
        query: match search.query {
            mm::ContactQuery::Soql(q) => matching::ContactQuery::Soql(q),
            mm::ContactQuery::Sosl(q) => matching::ContactQuery::Sosl(q),
        },
    })
}

impl From<crate::matching::MatchingError> for matching::MatchingError {
    fn from(e: crate::matching::MatchingError) -> Self {
        match e {
            crate::matching::MatchingError::NothingToSearch => matching::MatchingError::NothingToSearch,
            crate::matching::MatchingError::TooLong(what) => matching::MatchingError::TooLong(what),
        }
    }
}

impl messenger::Guest for Connector {
    fn relay(conversation_id: String) -> Result<messenger::RelayReport, wo::SyncError> {
        use crate::messenger::Phase;
        let report =
            crate::messenger::relay(&org_settings(), WakiTransport::new(), &mut HostCapabilities, &conversation_id)?;
        Ok(messenger::RelayReport {
            phase: match report.phase {
                Phase::Agent => messenger::Phase::Agent,
                Phase::Waiting => messenger::Phase::Waiting,
                Phase::Live => messenger::Phase::Live,
                Phase::Ended => messenger::Phase::Ended,
            },
            answered: report.answered,
            sent: report.sent,
            received: report.received,
            poll_after_ms: report.poll_after_ms,
        })
    }

    fn live_conversations() -> Result<Vec<String>, wo::SyncError> {
        Ok(crate::messenger::live_conversations(&mut HostCapabilities)?)
    }
}

impl streaming::Guest for Connector {
    fn open() -> Result<streaming::StreamStep, wo::SyncError> {
        let step = crate::streaming::open(&org_settings(), WakiTransport::new(), &mut HostCapabilities)?;
        Ok(stream_step(step))
    }

    fn deliver(answer: streaming::HeldAnswer) -> Result<streaming::StreamStep, wo::SyncError> {
        use crate::salesforce::transport::HttpResponse;
        use crate::streaming::HeldAnswer;
        let answer = match answer {
            streaming::HeldAnswer::Response(r) => {
                HeldAnswer::Response(HttpResponse { status: r.status, headers: r.headers, body: r.body.into_bytes() })
            }
            streaming::HeldAnswer::TimedOut => HeldAnswer::TimedOut,
            streaming::HeldAnswer::Failed(why) => HeldAnswer::Failed(why),
            streaming::HeldAnswer::Refused(why) => HeldAnswer::Refused(why),
        };
        let step = crate::streaming::deliver(&org_settings(), &mut HostCapabilities, answer)?;
        Ok(stream_step(step))
    }
}

fn stream_step(step: crate::streaming::StreamStep) -> streaming::StreamStep {
    use crate::streaming::Health;
    streaming::StreamStep {
        hold: step.hold.map(|h| streaming::HeldRequest {
            url: h.url,
            headers: h.headers,
            body: h.body,
            delay_ms: h.delay_ms,
            timeout_ms: h.timeout_ms,
        }),
        cycle_now: step.cycle_now,
        retry_after_ms: step.retry_after_ms,
        health: match step.health {
            Health::Live => streaming::StreamHealth::Live,
            Health::Reconnecting => streaming::StreamHealth::Reconnecting,
            Health::Paused => streaming::StreamHealth::Paused,
        },
        detail: step.detail,
        events: step.events,
        own_writes: step.own_writes,
        relevant: step.relevant,
    }
}

impl sync::Guest for Connector {
    fn run_cycle() -> Result<sync::CycleReport, wo::SyncError> {
        let org = org_settings();
        let report = cycle::run_cycle(&org, WakiTransport::new(), &mut HostCapabilities)?;
        Ok(sync::CycleReport {
            cases_seen: report.cases_seen,
            conversations_created: report.conversations_created,
            conversations_updated: report.conversations_updated,
            replies_posted: report.replies_posted,
            emails_sent: report.emails_sent,
            hand_offs: report.hand_offs,
            state_changes: report.state_changes,
            records_to_salesforce: report.records_to_salesforce,
            records_to_platform: report.records_to_platform,
            records_linked: report.records_linked,
            api_calls: report.api_calls,
            api_usage: report.api_usage.map(|u| wo::ApiUsage { used: u.used, max: u.max }),
            errors: all(report.errors),
            watermark: report.watermark,
        })
    }

    fn list_users() -> Result<Vec<sync::UserChoice>, wo::SyncError> {
        let users = setup::list_users(&org_settings(), WakiTransport::new(), &mut HostCapabilities)?;
        Ok(users
            .into_iter()
            .map(|u| sync::UserChoice { id: u.id, name: u.name, username: u.username, email: u.email })
            .collect())
    }

    fn list_queues() -> Result<Vec<sync::QueueChoice>, wo::SyncError> {
        let queues = setup::list_queues(&org_settings(), WakiTransport::new(), &mut HostCapabilities)?;
        Ok(queues
            .into_iter()
            .map(|q| sync::QueueChoice { id: q.id, name: q.name, developer_name: q.developer_name })
            .collect())
    }

    fn list_conversations() -> Result<Vec<sync::ConversationSummary>, wo::SyncError> {
        Ok(setup::list_conversations(&mut HostCapabilities)?
            .into_iter()
            .map(|c| sync::ConversationSummary {
                case_id: c.case_id,
                case_number: c.case_number,
                subject: c.subject,
                resolution: c.resolution.into(),
                parts: c.parts,
                handed_off: c.handed_off,
                updated_at: c.updated_at,
            })
            .collect())
    }

    fn get_conversation(case_id: String) -> Result<Option<wt::Conversation>, wo::SyncError> {
        Ok(setup::get_conversation(&mut HostCapabilities, &case_id)?.map(Into::into))
    }

    fn list_errors() -> Result<Vec<sync::RecordError>, wo::SyncError> {
        Ok(all(setup::list_errors(&mut HostCapabilities)?))
    }

    fn retry_error(error_id: String) -> Result<(), wo::SyncError> {
        Ok(setup::retry_error(&mut HostCapabilities, &error_id)?)
    }

    fn list_fields() -> Result<Vec<wd::ObjectCatalog>, wo::SyncError> {
        Ok(all(setup::list_fields(&org_settings(), WakiTransport::new(), &mut HostCapabilities)?))
    }

    fn check_mappings() -> Result<Vec<sync::MappingProblem>, wo::SyncError> {
        let problems = setup::check_mappings(&org_settings(), WakiTransport::new(), &mut HostCapabilities)?;
        Ok(problems
            .into_iter()
            .map(|p| sync::MappingProblem { mapping: p.mapping.into(), problem: p.problem })
            .collect())
    }

    fn add_field(object: String, field: String) -> Result<wd::ObjectCatalog, wo::SyncError> {
        change_field(&object, setup::FieldChange::Add(&field))
    }

    fn remove_field(object: String, field: String) -> Result<wd::ObjectCatalog, wo::SyncError> {
        change_field(&object, setup::FieldChange::Remove(&field))
    }

    fn resync_field(object: String, field: String) -> Result<wd::ObjectCatalog, wo::SyncError> {
        change_field(&object, setup::FieldChange::Resync(&field))
    }
}

fn change_field(object: &str, change: setup::FieldChange) -> Result<wd::ObjectCatalog, wo::SyncError> {
    Ok(setup::change_field(&org_settings(), WakiTransport::new(), &mut HostCapabilities, object, change)?.into())
}

impl crm::Guest for Connector {
    fn profile(person_id: String) -> Result<Option<crm::ProfileView>, crm::CrmError> {
        let profile = crate::crm::profile(&org_settings(), WakiTransport::new(), &mut HostCapabilities, &person_id)?;
        Ok(profile.map(profile_view))
    }

    fn create_lead(key: String, person_id: String) -> Result<crm::SavedRecord, crm::CrmError> {
        let saved =
            crate::crm::create_lead(&org_settings(), WakiTransport::new(), &mut HostCapabilities, &key, &person_id)?;
        Ok(saved.into())
    }

    fn create_case(
        key: String,
        conversation_id: String,
        fields: Vec<wt::Attribute>,
    ) -> Result<crm::SavedRecord, crm::CrmError> {
        let org = org_settings();
        let saved = crate::crm::create_case(
            &org,
            WakiTransport::new(),
            &mut HostCapabilities,
            &key,
            &conversation_id,
            all(fields),
        )?;
        Ok(saved.into())
    }

    fn log_task(
        key: String,
        conversation_id: String,
        part_id: Option<String>,
    ) -> Result<Vec<crm::SavedRecord>, crm::CrmError> {
        let org = org_settings();
        let saved =
            crate::crm::log_task(&org, WakiTransport::new(), &mut HostCapabilities, &key, &conversation_id, part_id)?;
        Ok(all(saved))
    }

    fn find_contact(person_id: String, query: Option<String>) -> Result<wc::Outcome, crm::CrmError> {
        let org = org_settings();
        let outcome =
            crate::crm::find_contact(&org, WakiTransport::new(), &mut HostCapabilities, &person_id, query.as_deref())?;
        Ok(outcome.into())
    }

    fn link_contact(
        key: String,
        person_id: String,
        contact_id: Option<String>,
    ) -> Result<crm::SavedRecord, crm::CrmError> {
        let org = org_settings();
        let saved =
            crate::crm::link_contact(&org, WakiTransport::new(), &mut HostCapabilities, &key, &person_id, contact_id)?;
        Ok(saved.into())
    }

    fn unlink_contact(person_id: String) -> Result<(), crm::CrmError> {
        Ok(crate::crm::unlink_contact(&mut HostCapabilities, &person_id)?)
    }

    fn flagged_cases() -> Result<Vec<crm::FlaggedCase>, crm::CrmError> {
        Ok(crate::crm::flagged_cases(&mut HostCapabilities)?
            .into_iter()
            .map(|f| crm::FlaggedCase {
                case_id: f.case_id,
                conversation_id: f.conversation_id,
                person_id: f.person_id,
                suggestions: all(f.suggestions),
                flagged_at: f.flagged_at,
            })
            .collect())
    }
}

impl From<crate::crm::SavedRecord> for crm::SavedRecord {
    fn from(r: crate::crm::SavedRecord) -> Self {
        crm::SavedRecord { object: r.object, id: r.id, existed: r.existed, notes: r.notes }
    }
}

impl From<crate::crm::CrmError> for crm::CrmError {
    fn from(e: crate::crm::CrmError) -> Self {
        use crate::crm::CrmError as E;
        match e {
            E::InvalidRequest(why) => crm::CrmError::InvalidRequest(why),
            E::Conversion(errors) => crm::CrmError::Conversion(all(errors)),
            E::RequiredFieldsMissing(missing) => crm::CrmError::RequiredFieldsMissing(
                missing.into_iter().map(|f| crm::MissingField { field: f.field, label: f.label }).collect(),
            ),
            E::Duplicates(d) => crm::CrmError::DuplicatesDetected(crm::Duplicates {
                message: d.message,
                matched: d.matched,
                allow_save: d.allow_save,
            }),
            E::Permission(why) => crm::CrmError::Permission(why),
            E::Sync(error) => crm::CrmError::Sync(error.into()),
        }
    }
}

fn profile_view(p: crate::crm::profile::Profile) -> crm::ProfileView {
    crm::ProfileView {
        instance_url: p.instance_url,
        contact: p.contact.map(|c| crm::ContactView {
            id: c.id,
            name: c.name,
            email: c.email,
            account_owner: c.account_owner,
        }),
        lead: p.lead.map(|l| crm::LeadView {
            id: l.id,
            name: l.name,
            email: l.email,
            company: l.company,
            status: l.status,
            owner: l.owner,
            converted_contact_id: l.converted_contact_id,
        }),
        account: p.account.map(|a| crm::AccountView {
            id: a.id,
            name: a.name,
            domain: a.domain,
            owner: a.owner,
            country: a.country,
        }),
        opportunities: p
            .opportunities
            .into_iter()
            .map(|o| crm::OpportunityView {
                id: o.id,
                name: o.name,
                owner: o.owner,
                stage: o.stage,
                close_date: o.close_date,
                amount: o.amount,
                closed: o.closed,
            })
            .collect(),
        open_cases: p
            .open_cases
            .into_iter()
            .map(|c| crm::CaseView {
                id: c.id,
                number: c.number,
                subject: c.subject,
                status: c.status,
                priority: c.priority,
            })
            .collect(),
        open_case_count: p.open_case_count,
    }
}
