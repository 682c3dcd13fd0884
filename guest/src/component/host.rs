//! [`Capabilities`] on the component's imports: the host's clock, store,
//! agent, mail and log.

use super::wit::casebridge::connector::{agent, log, mail, store};
use crate::capabilities::{
    AgentAction, AgentTurn, Capabilities, HostFailure, LogLevel, OutgoingEmail, SentEmail, StoreFailure, StoreWrite,
};
use crate::model::{Conversation, Timestamp};

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
}
