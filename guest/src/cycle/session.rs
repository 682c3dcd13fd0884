//! Cases become conversations (A4, A6), and the agent takes its turns (A7, A8, A10).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::capabilities::{AgentAction, Capabilities, HostFailure, LogLevel};
use crate::mapping::record_to_attributes;
use crate::model::{
    Attribute, AuthorRole, Conversation, ConversationPart, ObjectCatalog, OrgConfig, ResolutionState, Timestamp,
    WireField, WireValue,
};
use crate::resolution::{Event, decide};
use crate::salesforce::client::SalesforceClient;
use crate::salesforce::transport::Transport;

use super::outbox::Outbox;
use super::parts::{self, Authors, same_id, text};
use super::poll::{Child, PollResult, feed_comments_of};
use super::state::{CaseState, ReplyKind};
use super::{CycleReport, SyncError};

/// What the customer is told when a person takes over.
pub const HAND_OFF_MESSAGE: &str =
    "I'm passing your case to our support team so a person can help you. They will reply here.";

/// The work of one cycle on the org's conversations.
pub struct Sessions<'a> {
    pub org: &'a OrgConfig,
    pub catalogs: &'a BTreeMap<&'static str, ObjectCatalog>,
    pub agent_user_ids: &'a [String],
    pub now: Timestamp,
    pub report: &'a mut CycleReport,
    /// Values that could not be mapped, logged by the cycle.
    pub warnings: std::cell::RefCell<Vec<String>>,
}

impl Sessions<'_> {
    fn authors(&self) -> Authors<'_> {
        Authors { agent_user_ids: self.agent_user_ids }
    }

    /// Bring the poll's cases and child records into the conversations.
    pub fn apply_poll<T: Transport>(
        &mut self,
        client: &mut SalesforceClient<T>,
        cases: &mut BTreeMap<String, CaseState>,
        polled: PollResult,
    ) -> Result<(), SyncError> {
        let mut new_sessions_with_comments = Vec::new();
        for record in &polled.cases {
            let Some(id) = text(record, "Id") else { continue };
            let owner = text(record, "OwnerId").unwrap_or_default();
            let closed = record.get("IsClosed").and_then(Value::as_bool).unwrap_or(false);
            let modstamp = record
                .get("SystemModstamp")
                .and_then(Value::as_str)
                .and_then(crate::convert::parse_datetime)
                .unwrap_or(self.now);
            let owned = same_id(&owner, &self.org.agent_user_id);
            let in_session = cases.get(&id).is_some_and(|c| c.in_session);
            if owned && !closed && !in_session {
                let case = self.start_session(record, cases.remove(&id))?;
                if child_records(record, "Feeds")
                    .iter()
                    .any(|f| f.get("CommentCount").and_then(Value::as_u64).unwrap_or(0) > 0)
                {
                    new_sessions_with_comments.push(id.clone());
                }
                cases.insert(id, case);
                self.report.conversations_created += 1;
                continue;
            }
            let Some(case) = cases.get_mut(&id).filter(|c| c.in_session) else { continue };
            case.last_modstamp = case.last_modstamp.max(modstamp);
            self.read_write_back_fields(case, record);
            Self::note_incoming_emails(case, &child_records(record, "EmailMessages").iter().collect::<Vec<_>>());
            let added = self.merge_parts(case, self.record_parts(record));
            if !owned || closed {
                // A person took the case over or closed it: the agent's session ends.
                case.in_session = false;
            }
            if added > 0 || !case.in_session {
                case.updated_at = self.now;
                self.report.conversations_updated += 1;
            }
        }
        for (case_id, children) in polled.children {
            let Some(case) = cases.get_mut(&case_id).filter(|c| c.in_session) else { continue };
            let emails: Vec<&Value> =
                children.iter().filter_map(|c| if let Child::Email(r) = c { Some(r) } else { None }).collect();
            Self::note_incoming_emails(case, &emails);
            let parts: Vec<ConversationPart> = children.iter().filter_map(|child| self.child_part(child)).collect();
            if self.merge_parts(case, parts) > 0 {
                case.updated_at = self.now;
                self.report.conversations_updated += 1;
            }
        }
        for comment in feed_comments_of(client, &new_sessions_with_comments)? {
            let Some(case_id) = text(&comment, "ParentId") else { continue };
            let part = parts::feed_comment_part(&comment, &self.authors(), &self.org.api_version);
            if let (Some(case), Some(part)) = (cases.get_mut(&case_id), part) {
                self.merge_parts(case, vec![part]);
            }
        }
        Ok(())
    }

    /// A new session: the agent was assigned the case. Fields are pulled now and
    /// kept for the session (A4); the next assignment pulls the latest.
    fn start_session(&self, record: &Value, previous: Option<CaseState>) -> Result<CaseState, SyncError> {
        let id = text(record, "Id").unwrap_or_default();
        let attributes = self.attributes("Case", Some(record));
        let person = self.attributes("Contact", record.get("Contact"));
        let company = self.attributes("Account", record.get("Account"));
        let mut parts: Vec<ConversationPart> = previous.map(|p| p.conversation.parts).unwrap_or_default();
        parts.retain(|p| !p.id.ends_with(":description"));
        let conversation = Conversation {
            id: id.clone(),
            case_number: text(record, "CaseNumber").unwrap_or_default(),
            subject: text(record, "Subject"),
            origin: text(record, "Origin"),
            attributes,
            person,
            company,
            parts,
            resolution: ResolutionState::None,
        };
        let reply_to = record.get("Contact").and_then(|c| text(c, "Email")).or_else(|| text(record, "SuppliedEmail"));
        let mut case = CaseState {
            conversation,
            in_session: true,
            last_modstamp: record
                .get("SystemModstamp")
                .and_then(Value::as_str)
                .and_then(crate::convert::parse_datetime)
                .unwrap_or(self.now),
            events: Vec::new(),
            answered_through: None,
            agent_turns: 0,
            written_state: None,
            involved_written: false,
            handed_off: false,
            pending_owner: None,
            refused_update: None,
            topics_added: false,
            changes_at: None,
            next_outbox_seq: 0,
            reply_to,
            last_message_id: None,
            updated_at: self.now,
        };
        self.read_write_back_fields(&mut case, record);
        Self::note_incoming_emails(&mut case, &child_records(record, "EmailMessages").iter().collect::<Vec<_>>());
        let mut all_parts: Vec<ConversationPart> = parts::description_part(record).into_iter().collect();
        all_parts.extend(self.record_parts(record));
        self.merge_parts(&mut case, all_parts);
        Ok(case)
    }

    /// The current values of the write-back fields, so only changes are written (A9).
    fn read_write_back_fields(&self, case: &mut CaseState, record: &Value) {
        if let Some(involved) = record.get(&self.org.involved_field).and_then(Value::as_bool) {
            case.involved_written = involved;
        }
        if let Some(value) = record.get(&self.org.resolution_state_field) {
            case.written_state = value.as_str().and_then(state_from_picklist);
        }
    }

    fn attributes(&self, object: &str, record: Option<&Value>) -> Vec<Attribute> {
        let (Some(record), Some(catalog)) = (record.filter(|r| r.is_object()), self.catalogs.get(object)) else {
            return Vec::new();
        };
        let fields = wire_fields(record);
        let mappings: Vec<_> =
            self.org.mappings.iter().filter(|m| m.object.eq_ignore_ascii_case(object)).cloned().collect();
        match record_to_attributes(catalog, &fields, &mappings) {
            Ok(attributes) => attributes,
            Err(errors) => {
                // Keep every good value; a bad one is reported, never guessed.
                self.warnings.borrow_mut().extend(errors.iter().map(|e| e.to_string()));
                let good: Vec<WireField> = fields
                    .into_iter()
                    .filter(|f| !errors.iter().any(|e| e.field.eq_ignore_ascii_case(&f.name)))
                    .collect();
                record_to_attributes(catalog, &good, &mappings).unwrap_or_default()
            }
        }
    }

    /// Where email replies go: the sender of the customer's latest email, in its thread.
    fn note_incoming_emails(case: &mut CaseState, emails: &[&Value]) {
        let mut latest: Option<(&Value, String)> = None;
        for email in emails.iter().filter(|e| e.get("Incoming").and_then(Value::as_bool) == Some(true)) {
            let at = text(email, "MessageDate").or_else(|| text(email, "CreatedDate")).unwrap_or_default();
            if latest.as_ref().is_none_or(|(_, seen)| at >= *seen) {
                latest = Some((email, at));
            }
        }
        if let Some((email, _)) = latest {
            if let Some(from) = text(email, "FromAddress") {
                case.reply_to = Some(from);
            }
            case.last_message_id = text(email, "MessageIdentifier").or(case.last_message_id.take());
        }
    }

    fn record_parts(&self, record: &Value) -> Vec<ConversationPart> {
        let authors = self.authors();
        let mut parts = Vec::new();
        parts
            .extend(child_records(record, "CaseComments").iter().filter_map(|r| parts::case_comment_part(r, &authors)));
        parts.extend(child_records(record, "EmailMessages").iter().filter_map(|r| parts::email_part(r, &authors)));
        parts.extend(
            child_records(record, "Feeds")
                .iter()
                .filter_map(|r| parts::feed_item_part(r, &authors, &self.org.api_version)),
        );
        parts
    }

    fn child_part(&self, child: &Child) -> Option<ConversationPart> {
        let authors = self.authors();
        match child {
            Child::CaseComment(r) => parts::case_comment_part(r, &authors),
            Child::Email(r) => parts::email_part(r, &authors),
            Child::FeedItem(r) => parts::feed_item_part(r, &authors, &self.org.api_version),
            Child::FeedComment(r) => parts::feed_comment_part(r, &authors, &self.org.api_version),
        }
    }

    /// Add parts not seen before, keep time order, and record the customer's
    /// messages as resolution facts. Returns how many were added.
    fn merge_parts(&self, case: &mut CaseState, parts: Vec<ConversationPart>) -> usize {
        let mut added = 0;
        for part in parts {
            if case.conversation.parts.iter().any(|p| p.id == part.id) {
                continue;
            }
            if part.author == AuthorRole::Customer {
                case.events.push(Event::CustomerMessage(part.created_at));
            }
            case.conversation.parts.push(part);
            added += 1;
        }
        // Time order; the case's description opens the conversation even when a
        // post was created in the same instant.
        let opening = |p: &ConversationPart| p.source != crate::model::PartSource::CaseDescription;
        case.conversation.parts.sort_by(|a, b| {
            a.created_at.cmp(&b.created_at).then_with(|| opening(a).cmp(&opening(b))).then_with(|| a.id.cmp(&b.id))
        });
        added
    }

    /// Ask the agent for its turn wherever the customer wrote last (A7, A8).
    pub fn take_turns<C: Capabilities>(
        &mut self,
        caps: &mut C,
        cases: &mut BTreeMap<String, CaseState>,
        outbox: &mut Outbox,
    ) -> Result<(), SyncError> {
        for case in cases.values_mut().filter(|c| c.in_session && !c.handed_off) {
            let Some(last) = case.conversation.parts.iter().rev().find(|p| p.author != AuthorRole::System) else {
                continue;
            };
            if last.author != AuthorRole::Customer || case.answered_through.as_deref() == Some(last.id.as_str()) {
                continue;
            }
            let (last_id, last_at) = (last.id.clone(), last.created_at);
            let turn = match caps.respond(&case.conversation) {
                Ok(turn) => turn,
                Err(HostFailure::Unavailable(reason)) | Err(HostFailure::Rejected(reason)) => {
                    caps.log(
                        LogLevel::Warn,
                        "the agent gave no turn; retrying next cycle",
                        &[("case", case.conversation.id.as_str()), ("reason", reason.as_str())],
                    );
                    continue;
                }
            };
            case.answered_through = Some(last_id);
            case.updated_at = self.now;
            for detected in turn.detected {
                match case.conversation.attributes.iter_mut().find(|a| a.name == detected.name) {
                    Some(existing) => existing.value = detected.value,
                    None => case.conversation.attributes.push(detected),
                }
            }
            let kind = self.reply_kind(case);
            match turn.action {
                AgentAction::Answer(text) => {
                    outbox.add(case, kind, &text, self.now);
                    case.events.push(Event::AgentAnswer(self.now));
                    case.agent_turns += 1;
                }
                AgentAction::Ask(text) => {
                    outbox.add(case, kind, &text, self.now);
                    case.events.push(Event::AgentQuestion(self.now));
                    case.agent_turns += 1;
                }
                AgentAction::HandOff(_reason) => {
                    outbox.add(case, kind, HAND_OFF_MESSAGE, self.now);
                    case.events.push(Event::AgentCouldNotHelp(self.now));
                    case.handed_off = true;
                    case.pending_owner = Some(self.org.hand_off.owner_id().to_string());
                }
                AgentAction::Solved(closing) => {
                    if let Some(text) = closing.filter(|t| !t.trim().is_empty()) {
                        outbox.add(case, kind, &text, self.now);
                    }
                    case.events.push(Event::CustomerConfirmed(last_at));
                }
            }
        }
        Ok(())
    }

    fn reply_kind(&self, case: &CaseState) -> ReplyKind {
        let by_email = case.conversation.origin.as_deref() == Some("Email") && case.reply_to.is_some();
        match (by_email, self.org.reply_as) {
            (true, _) => ReplyKind::Email,
            (false, crate::model::ReplyChannel::CaseComment) => ReplyKind::CaseComment,
            (false, crate::model::ReplyChannel::FeedPost) => ReplyKind::FeedPost,
        }
    }

    /// The resolution state of every conversation in session, by the state machine (A10).
    pub fn decide_resolutions(&mut self, cases: &mut BTreeMap<String, CaseState>) {
        for case in cases.values_mut().filter(|c| c.in_session || c.handed_off) {
            let decision = decide(&case.events, self.now, &self.org.resolution_timeouts);
            case.conversation.resolution = decision.state;
            case.changes_at = decision.changes_at;
        }
    }
}

/// The records of a child subquery (`null` when there are none).
fn child_records<'v>(record: &'v Value, relationship: &str) -> &'v [Value] {
    record.get(relationship).and_then(|r| r.get("records")).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// A record's scalar fields on the wire (relationships and subqueries left out).
fn wire_fields(record: &Value) -> Vec<WireField> {
    let Some(object) = record.as_object() else { return Vec::new() };
    object
        .iter()
        .filter(|(name, _)| name.as_str() != "attributes")
        .filter_map(|(name, value)| {
            let value = match value {
                Value::Null => WireValue::Null,
                Value::Bool(b) => WireValue::Boolean(*b),
                Value::Number(n) => WireValue::Number(n.to_string()),
                Value::String(s) => WireValue::Text(s.clone()),
                Value::Object(o) if o.contains_key("attributes") || o.contains_key("records") => return None,
                other => WireValue::Compound(other.to_string()),
            };
            Some(WireField { name: name.clone(), value })
        })
        .collect()
}

/// The state a picklist value names.
pub fn state_from_picklist(value: &str) -> Option<ResolutionState> {
    [
        ResolutionState::SoftResolution,
        ResolutionState::HardResolution,
        ResolutionState::Abandoned,
        ResolutionState::RoutedToTeam,
    ]
    .into_iter()
    .find(|state| state.picklist_value().is_some_and(|v| v.eq_ignore_ascii_case(value)))
}
