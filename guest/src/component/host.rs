//! [`Capabilities`] on the component's imports: the host's clock, store,
//! agent, mail and log.

use super::convert::all;
use super::wit::casebridge::connector::{agent, log, mail, platform, store};
use crate::capabilities::{
    AgentAction, AgentTurn, Capabilities, DetectionField, HostFailure, LogLevel, OutgoingEmail, SentEmail,
    StoreFailure, StoreWrite,
};
use crate::model::{Attribute, Conversation, Timestamp};
use crate::platform::{
    AttributeDefinition, CaseConversation, ChangePage, Company, Person, PlatformAttribute, PlatformConversation,
    PlatformFailure, SalesforceLink, Teammate,
};

/// The host, reached through the WIT imports.
pub struct HostCapabilities;

fn store_failure(error: store::StoreError) -> StoreFailure {
    match error {
        store::StoreError::Conflict(key) => StoreFailure::Conflict(key),
        store::StoreError::TooLarge(what) => StoreFailure::TooLarge(what),
        store::StoreError::Unavailable(why) => StoreFailure::Unavailable(why),
    }
}

impl Capabilities for HostCapabilities {
    fn now(&self) -> Timestamp {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    fn get(&mut self, key: &str) -> Result<Option<String>, StoreFailure> {
        store::get(key).map_err(store_failure)
    }

    fn scan(&mut self, prefix: &str) -> Result<Vec<(String, String)>, StoreFailure> {
        Ok(store::scan(prefix).map_err(store_failure)?.into_iter().map(|e| (e.key, e.value)).collect())
    }

    fn commit(&mut self, expect: &[(String, Option<String>)], writes: &[StoreWrite]) -> Result<(), StoreFailure> {
        let expect: Vec<store::Expectation> =
            expect.iter().map(|(key, value)| store::Expectation { key: key.clone(), value: value.clone() }).collect();
        let writes: Vec<store::Write> = writes
            .iter()
            .map(|write| match write {
                StoreWrite::Put(key, value) => {
                    store::Write::Put(store::Entry { key: key.clone(), value: value.clone() })
                }
                StoreWrite::Delete(key) => store::Write::Delete(key.clone()),
            })
            .collect();
        store::commit(&expect, &writes).map_err(store_failure)
    }

    fn respond(&mut self, conversation: &Conversation) -> Result<AgentTurn, HostFailure> {
        let turn = agent::respond(&conversation.clone().into()).map_err(|error| match error {
            agent::AgentError::Unavailable(why) => HostFailure::Unavailable(why),
            agent::AgentError::InvalidTurn(why) => HostFailure::Rejected(why),
        })?;
        let action = match turn.action {
            agent::Action::Answer(text) => AgentAction::Answer(text),
            agent::Action::Ask(text) => AgentAction::Ask(text),
            agent::Action::HandOff(reason) => AgentAction::HandOff(reason),
            agent::Action::Solved(closing) => AgentAction::Solved(closing),
        };
        Ok(AgentTurn { action, detected: super::convert::all(turn.detected) })
    }

    fn detect(
        &mut self,
        conversation: &Conversation,
        fields: &[DetectionField],
    ) -> Result<Vec<Attribute>, HostFailure> {
        let fields: Vec<agent::DetectionField> = fields
            .iter()
            .map(|f| agent::DetectionField {
                field: f.field.clone(),
                label: f.label.clone(),
                multiple: f.multiple,
                values: f
                    .values
                    .iter()
                    .map(|v| agent::DescribedValue {
                        value: v.value.clone(),
                        label: v.label.clone(),
                        description: v.description.clone(),
                    })
                    .collect(),
            })
            .collect();
        let detected = agent::detect(&conversation.clone().into(), &fields).map_err(|error| match error {
            agent::AgentError::Unavailable(why) => HostFailure::Unavailable(why),
            agent::AgentError::InvalidTurn(why) => HostFailure::Rejected(why),
        })?;
        Ok(all(detected))
    }

    fn send_mail(&mut self, idempotency_key: &str, email: &OutgoingEmail) -> Result<SentEmail, HostFailure> {
        let message = mail::Email {
            to: email.to.clone(),
            cc: email.cc.clone(),
            subject: email.subject.clone(),
            text_body: email.text_body.clone(),
            in_reply_to: email.in_reply_to.clone(),
        };
        let sent = mail::send(idempotency_key, &message).map_err(|error| match error {
            mail::MailError::Rejected(why) => HostFailure::Rejected(why),
            mail::MailError::Unavailable(why) => HostFailure::Unavailable(why),
        })?;
        Ok(SentEmail { from_address: sent.from_address, message_id: sent.message_id })
    }

    fn log(&mut self, level: LogLevel, message: &str, fields: &[(&str, &str)]) {
        let level = match level {
            LogLevel::Debug => log::Level::Debug,
            LogLevel::Info => log::Level::Info,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Error => log::Level::Error,
        };
        let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        log::write(level, message, &fields);
    }

    fn list_attributes(&mut self) -> Result<Vec<AttributeDefinition>, PlatformFailure> {
        Ok(all(platform::list_attributes()?))
    }

    fn get_person(&mut self, id: &str) -> Result<Option<Person>, PlatformFailure> {
        Ok(platform::get_person(id)?.map(Into::into))
    }

    fn find_people(&mut self, attribute: &str, value: &str) -> Result<Vec<Person>, PlatformFailure> {
        Ok(all(platform::find_people(attribute, value)?))
    }

    fn find_linked_people(&mut self, link: &SalesforceLink) -> Result<Vec<Person>, PlatformFailure> {
        Ok(all(platform::find_linked_people(&link.clone().into())?))
    }

    fn get_company(&mut self, id: &str) -> Result<Option<Company>, PlatformFailure> {
        Ok(platform::get_company(id)?.map(Into::into))
    }

    fn find_companies(&mut self, attribute: &str, value: &str) -> Result<Vec<Company>, PlatformFailure> {
        Ok(all(platform::find_companies(attribute, value)?))
    }

    fn changes(&mut self, cursor: Option<&str>, limit: u32) -> Result<ChangePage, PlatformFailure> {
        Ok(platform::changes(cursor, limit)?.into())
    }

    fn set_person_attributes(&mut self, id: &str, attributes: &[PlatformAttribute]) -> Result<(), PlatformFailure> {
        Ok(platform::set_person_attributes(id, &all(attributes.to_vec()))?)
    }

    fn link_person(&mut self, id: &str, link: Option<&SalesforceLink>) -> Result<(), PlatformFailure> {
        Ok(platform::link_person(id, link.cloned().map(Into::into).as_ref())?)
    }

    fn set_company_attributes(&mut self, id: &str, attributes: &[PlatformAttribute]) -> Result<(), PlatformFailure> {
        Ok(platform::set_company_attributes(id, &all(attributes.to_vec()))?)
    }

    fn link_company(&mut self, id: &str, account_id: Option<&str>) -> Result<(), PlatformFailure> {
        Ok(platform::link_company(id, account_id)?)
    }

    fn upsert_case_conversation(&mut self, conversation: &CaseConversation) -> Result<String, PlatformFailure> {
        Ok(platform::upsert_case_conversation(&conversation.into())?)
    }

    fn get_conversation(&mut self, id: &str) -> Result<Option<PlatformConversation>, PlatformFailure> {
        Ok(platform::get_conversation(id)?.map(Into::into))
    }

    fn list_teammates(&mut self) -> Result<Vec<Teammate>, PlatformFailure> {
        Ok(platform::list_teammates()?
            .into_iter()
            .map(|t| Teammate { id: t.id, name: t.name, email: t.email })
            .collect())
    }

    fn add_note(&mut self, conversation_id: &str, key: &str, text: &str) -> Result<String, PlatformFailure> {
        Ok(platform::add_note(conversation_id, key, text)?)
    }

    fn post_part(
        &mut self,
        conversation_id: &str,
        part: &crate::model::ConversationPart,
    ) -> Result<bool, PlatformFailure> {
        Ok(platform::post_part(conversation_id, &part.clone().into())?)
    }

    fn read_file(&mut self, content_path: &str) -> Result<Vec<u8>, PlatformFailure> {
        Ok(platform::read_file(content_path)?)
    }
}

/// The org's settings, read from the `settings` import.
pub fn org_settings() -> crate::model::OrgConfig {
    use super::wit::casebridge::connector::settings as s;
    use crate::model as m;
    let credentials = s::credentials();
    let timeouts = s::resolution_timeouts();
    let key = |k: s::MatchKey| m::MatchKey { field: k.field, attribute: k.attribute };
    m::OrgConfig {
        name: s::org_name(),
        login_url: s::login_url(),
        api_version: s::api_version(),
        credentials: m::Credentials {
            client_id: credentials.client_id,
            client_secret: credentials.client_secret,
            refresh_token: credentials.refresh_token,
        },
        agent_user_id: s::agent_user_id(),
        hand_off: match s::hand_off() {
            s::HandOffTarget::Queue(id) => m::HandOffTarget::Queue(id),
            s::HandOffTarget::User(id) => m::HandOffTarget::User(id),
        },
        reply_as: match s::reply_as() {
            s::ReplyChannel::CaseComment => m::ReplyChannel::CaseComment,
            s::ReplyChannel::FeedPost => m::ReplyChannel::FeedPost,
        },
        involved_field: s::involved_field(),
        resolution_state_field: s::resolution_state_field(),
        topics: s::topics(),
        daily_api_budget: s::daily_api_budget(),
        poll_overlap_seconds: s::poll_overlap_seconds(),
        resolution_timeouts: m::Timeouts {
            soft_resolution_after_ms: timeouts.soft_resolution_after_ms,
            abandoned_after_ms: timeouts.abandoned_after_ms,
        },
        mappings: super::convert::all(s::mappings()),
        person_match_key: key(s::person_match_key()),
        company_match_key: key(s::company_match_key()),
        crm: crate::crm::CrmOptions {
            maintain_ownership: s::maintain_ownership(),
            allow_duplicate_save: s::allow_duplicate_save(),
            case_record_type: s::case_record_type(),
            case_triggers: s::case_triggers()
                .into_iter()
                .map(|trigger| match trigger {
                    s::CaseTrigger::ConversationCreated => crate::crm::CaseTrigger::ConversationCreated,
                    s::CaseTrigger::ConversationClosed => crate::crm::CaseTrigger::ConversationClosed,
                    s::CaseTrigger::Tagged(tag) => crate::crm::CaseTrigger::Tagged(tag),
                    s::CaseTrigger::WorkflowStep(step) => crate::crm::CaseTrigger::WorkflowStep(step),
                })
                .collect(),
            log_conversations_as_tasks: s::log_conversations_as_tasks(),
            link_contacts_automatically: s::link_contacts_automatically(),
        },
        messenger: s::messenger().map(|d| crate::messenger::miaw::Deployment {
            url: d.url.trim_end_matches('/').to_string(),
            org_id: d.org_id,
            name: d.deployment,
            language: d.language,
        }),
        workflows: [s::Channel::SalesforceCase, s::Channel::Messenger]
            .into_iter()
            .filter_map(s::channel_workflow)
            .map(super::convert::workflow)
            .collect(),
        value_descriptions: s::value_descriptions()
            .into_iter()
            .map(|d| crate::workflow::ValueDescription {
                object: d.object,
                field: d.field,
                value: d.value,
                description: d.description,
            })
            .collect(),
    }
}
