//! Cases become conversations (A4, A6), and what each conversation needs
//! next: a turn of the agent, a write, a timer, or nothing (it has ended).
//! Pure functions of the stored state and the records read; the cycle does
//! the I/O around them.

use std::collections::BTreeMap;

use crate::mapping::record_to_attributes;
use crate::model::{
    Attribute, AuthorRole, Conversation, ConversationPart, ObjectCatalog, OrgConfig, PartSource, ResolutionState,
    Timestamp, WireField,
};
use crate::resolution::{Event, decide};
use crate::salesforce::cases::{CaseRecord, ChildKind, ChildRecord};
use crate::salesforce::ids::same_record;

use super::outbox;
use super::parts::{self, Authors};
use super::state::CaseState;

/// What the customer is told when a person takes over.
pub const HAND_OFF_MESSAGE: &str =
    "I'm passing your case to our support team so a person can help you. They will reply here.";

/// What the cycle knows while it works on one page of conversations.
pub struct Context<'a> {
    pub org: &'a OrgConfig,
    pub catalogs: &'a BTreeMap<&'static str, ObjectCatalog>,
    /// The agent user and the integration user the connector writes as.
    pub agent_user_ids: &'a [String],
    /// Salesforce's time now.
    pub now: Timestamp,
}

impl Context<'_> {
    pub fn authors(&self) -> Authors<'_> {
        Authors { agent_user_ids: self.agent_user_ids }
    }

    fn owned_by_agent(&self, record: &CaseRecord) -> bool {
        same_record(&record.owner_id, &self.org.agent_user_id)
    }
}

/// What a case record did to its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseChange {
    /// Nothing the conversation cares about (an unknown case not for the agent, a version already seen).
    None,
    /// The agent was assigned: a new session started; the case's history must be read.
    SessionStarted,
    /// The session goes on; the record was newer.
    Updated,
    /// A person took the case over, or it was closed: the session ended.
    SessionEnded,
}

/// Bring a case record into its conversation (`state`: what is stored, if anything).
pub fn apply_case(
    ctx: &Context,
    state: &mut Option<CaseState>,
    record: &CaseRecord,
    warnings: &mut Vec<String>,
) -> CaseChange {
    let owned = ctx.owned_by_agent(record) && !record.is_closed;
    match state {
        Some(case) if case.in_session => {
            if !owned {
                case.in_session = false;
                case.last_modstamp = case.last_modstamp.max(record.modstamp);
                case.updated_at = ctx.now;
                return CaseChange::SessionEnded;
            }
            // Salesforce stamps to the second: a change in the same second as the
            // version last read has the same stamp, so an equal stamp is read too.
            if record.modstamp < case.last_modstamp {
                return CaseChange::None;
            }
            case.last_modstamp = record.modstamp;
            let before = (case.involved_written, case.written_state);
            read_write_back_fields(case, record);
            if before == (case.involved_written, case.written_state) { CaseChange::None } else { CaseChange::Updated }
        }
        _ if owned => {
            let previous = state.take();
            *state = Some(start_session(ctx, record, previous, warnings));
            CaseChange::SessionStarted
        }
        Some(case) => {
            case.last_modstamp = case.last_modstamp.max(record.modstamp);
            CaseChange::None
        }
        None => CaseChange::None,
    }
}

/// A new session: the agent was assigned the case. Fields are pulled now and
/// kept for the session (A4); the next assignment pulls the latest. Parts,
/// the answered customer parts and unsent replies of an earlier session carry over.
fn start_session(
    ctx: &Context,
    record: &CaseRecord,
    previous: Option<CaseState>,
    warnings: &mut Vec<String>,
) -> CaseState {
    let attributes = attributes(ctx, "Case", Some(&record.fields), warnings);
    let person = attributes_of(ctx, "Contact", record.contact.as_ref(), warnings);
    let company = attributes_of(ctx, "Account", record.account.as_ref(), warnings);
    let (mut parts, covered, outbox, next_seq, reply_to, last_message_id) = match previous {
        Some(p) => (p.conversation.parts, p.covered, p.outbox, p.next_outbox_seq, p.reply_to, p.last_message_id),
        None => Default::default(),
    };
    parts.retain(|p| p.source != PartSource::CaseDescription);
    let conversation = Conversation {
        id: record.id.clone(),
        channel: crate::platform::Channel::SalesforceCase,
        case_number: record.case_number.clone(),
        subject: record.subject.clone(),
        origin: record.origin.clone(),
        attributes,
        person,
        company,
        parts,
        resolution: ResolutionState::None,
    };
    let mut case = CaseState::new(conversation, record.modstamp, ctx.now);
    case.covered = covered;
    case.outbox = outbox;
    case.next_outbox_seq = next_seq;
    case.reply_to = reply_to.or_else(|| record.contact_email.clone()).or_else(|| record.supplied_email.clone());
    case.last_message_id = last_message_id;
    read_write_back_fields(&mut case, record);
    let existing: Vec<ConversationPart> = std::mem::take(&mut case.conversation.parts);
    merge_parts(&mut case, existing, false);
    merge_parts(&mut case, parts::description_part(record).into_iter().collect(), true);
    case
}

/// After the history of a new session is merged: every customer part older
/// than the latest reply of the agent or a person has had its answer.
pub fn cover_history(case: &mut CaseState) {
    let answered_until = case
        .conversation
        .parts
        .iter()
        .filter(|p| matches!(p.author, AuthorRole::Agent | AuthorRole::Teammate))
        .map(|p| p.created_at)
        .max();
    if let Some(until) = answered_until {
        let answered: Vec<String> = case
            .conversation
            .parts
            .iter()
            .filter(|p| p.author == AuthorRole::Customer && p.created_at < until)
            .map(|p| p.id.clone())
            .collect();
        case.covered.extend(answered);
    }
}

/// The current values of the write-back fields, so only changes are written (A9).
fn read_write_back_fields(case: &mut CaseState, record: &CaseRecord) {
    if let Some(involved) = record.involved {
        case.involved_written = involved;
    }
    if let Some(value) = &record.resolution_state {
        case.written_state = value.as_deref().and_then(state_from_picklist);
    }
}

fn attributes_of(
    ctx: &Context,
    object: &str,
    fields: Option<&Vec<WireField>>,
    warnings: &mut Vec<String>,
) -> Vec<Attribute> {
    attributes(ctx, object, fields.map(Vec::as_slice), warnings)
}

fn attributes(ctx: &Context, object: &str, fields: Option<&[WireField]>, warnings: &mut Vec<String>) -> Vec<Attribute> {
    let (Some(fields), Some(catalog)) = (fields, ctx.catalogs.get(object)) else {
        return Vec::new();
    };
    let mappings: Vec<_> = ctx.org.mappings.iter().filter(|m| m.object.eq_ignore_ascii_case(object)).cloned().collect();
    match record_to_attributes(catalog, fields, &mappings) {
        Ok(attributes) => attributes,
        Err(errors) => {
            // Keep every good value; a bad one is reported, never guessed.
            warnings.extend(errors.iter().map(|e| e.to_string()));
            let good: Vec<WireField> = fields
                .iter()
                .filter(|f| !errors.iter().any(|e| e.field.eq_ignore_ascii_case(&f.name)))
                .cloned()
                .collect();
            record_to_attributes(catalog, &good, &mappings).unwrap_or_default()
        }
    }
}

/// Bring child records (posts, comments, emails) into a conversation in
/// session. Returns how many parts were new. A reply of the connector's own
/// that comes back through the poll settles its outbox entry.
pub fn apply_children(ctx: &Context, case: &mut CaseState, records: &[&ChildRecord]) -> usize {
    note_incoming_emails(case, records);
    let authors = ctx.authors();
    let mut new_parts = Vec::new();
    for record in records {
        if authors.is_agent(&record.author) {
            outbox::settle_seen_reply(case, record);
        }
        if let Some(part) = parts::child_part(record, &authors, &ctx.org.api_version) {
            new_parts.push(part);
        }
    }
    let added = merge_parts(case, new_parts, case.in_session);
    if added > 0 {
        case.updated_at = ctx.now;
    }
    added
}

/// Add parts not seen before and keep time order; the customer's new
/// messages are resolution facts when `in_session`. Returns how many were added.
pub fn merge_parts(case: &mut CaseState, parts: Vec<ConversationPart>, in_session: bool) -> usize {
    let mut added = 0;
    for part in parts {
        if let Some(known) = case.conversation.parts.iter_mut().find(|p| p.id == part.id) {
            // Salesforce's record is the truth about when it was written (a
            // reply of the connector's own was noted with an estimate).
            known.created_at = part.created_at;
            continue;
        }
        if in_session && part.author == AuthorRole::Customer {
            case.events.push(Event::CustomerMessage(part.created_at));
        }
        case.conversation.parts.push(part);
        added += 1;
    }
    // Time order; the case's description opens the conversation even when a
    // post was created in the same instant.
    let opening = |p: &ConversationPart| p.source != PartSource::CaseDescription;
    case.conversation.parts.sort_by(|a, b| {
        a.created_at.cmp(&b.created_at).then_with(|| opening(a).cmp(&opening(b))).then_with(|| a.id.cmp(&b.id))
    });
    added
}

/// Where email replies go: the sender of the customer's latest email, in its thread.
fn note_incoming_emails(case: &mut CaseState, records: &[&ChildRecord]) {
    let latest = records
        .iter()
        .filter(|r| r.kind == ChildKind::EmailMessage)
        .filter_map(|r| r.email.as_ref().filter(|e| e.incoming).map(|e| (e.message_date.unwrap_or(r.created_at), e)))
        .max_by_key(|(at, _)| *at);
    if let Some((_, email)) = latest {
        if let Some(from) = &email.from_address {
            case.reply_to = Some(from.clone());
        }
        if let Some(id) = &email.message_id {
            case.last_message_id = Some(id.clone());
        }
    }
}

/// The customer parts that are owed an answer now, oldest first; empty when
/// the agent must not take a turn: no session, handed off, a reply of the
/// conversation still unsent (it goes first), or nothing unanswered.
///
/// A customer part a person answered (a teammate's reply after it) counts
/// as answered and is marked so.
pub fn owed_answer(case: &mut CaseState) -> Vec<String> {
    if !case.in_session || case.handed_off || case.outbox.iter().any(|e| e.is_unsent()) {
        return Vec::new();
    }
    let open: Vec<(String, Timestamp)> = case
        .conversation
        .parts
        .iter()
        .filter(|p| p.author == AuthorRole::Customer && !case.covered.contains(&p.id))
        .map(|p| (p.id.clone(), p.created_at))
        .collect();
    let Some(latest) = open.iter().map(|(_, at)| *at).max() else { return Vec::new() };
    let person_replied =
        case.conversation.parts.iter().any(|p| p.author == AuthorRole::Teammate && p.created_at > latest);
    if person_replied {
        case.covered.extend(open.into_iter().map(|(id, _)| id));
        return Vec::new();
    }
    open.into_iter().map(|(id, _)| id).collect()
}

/// The resolution state of a conversation by the state machine (A10), as of `now`.
pub fn decide_resolution(case: &mut CaseState, ctx: &Context) {
    if case.in_session || case.handed_off {
        let decision = decide(&case.events, ctx.now, &ctx.org.resolution_timeouts);
        case.conversation.resolution = decision.state;
        case.changes_at = decision.changes_at;
    } else {
        case.changes_at = None;
    }
}

/// When a conversation next needs a look although the poll brings nothing
/// (`Some`: it stays open), or `None`: nothing is left to do and it leaves
/// the open set. `write_pending`: a case update is still to be written.
pub fn next_look(case: &CaseState, write_pending: bool, turn_failed: bool, now: Timestamp) -> Option<Timestamp> {
    let mut at: Option<Timestamp> = None;
    let mut wake = |t: Timestamp| at = Some(at.map_or(t, |a| a.min(t)));
    for entry in &case.outbox {
        match &entry.delivery {
            crate::cycle::state::Delivery::Queued => wake(now),
            crate::cycle::state::Delivery::Attempted { at, answered: true } => wake(now.max(*at)),
            crate::cycle::state::Delivery::Attempted { at, answered: false } => wake(at + outbox::SETTLE_WINDOW_MS),
            crate::cycle::state::Delivery::Refused(_) => {}
        }
    }
    if write_pending || turn_failed {
        wake(now);
    }
    if case.in_session
        && !case.handed_off
        && let Some(changes_at) = case.changes_at
    {
        wake(changes_at);
    }
    at
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cycle::state::{Delivery, OutboxEntry, ReplyKind};

    fn part(id: &str, author: AuthorRole, at: Timestamp) -> ConversationPart {
        ConversationPart {
            id: id.into(),
            source: PartSource::CaseComment,
            author,
            author_name: None,
            text: id.into(),
            created_at: at,
            attachments: vec![],
        }
    }

    fn case(parts: Vec<ConversationPart>) -> CaseState {
        CaseState::with_parts(parts)
    }

    #[test]
    fn a_message_written_while_the_agent_composed_is_still_owed_an_answer() {
        // The agent's turn covered m1; m2 arrived before the reply was created.
        let mut state = case(vec![
            part("m1", AuthorRole::Customer, 10),
            part("m2", AuthorRole::Customer, 11),
            part("r1", AuthorRole::Agent, 14),
        ]);
        state.covered.insert("m1".into());
        assert_eq!(owed_answer(&mut state), vec!["m2".to_string()]);
    }

    #[test]
    fn no_turn_while_a_reply_is_unsent() {
        let mut state = case(vec![part("m1", AuthorRole::Customer, 10), part("m2", AuthorRole::Customer, 20)]);
        state.covered.insert("m1".into());
        state.outbox.push(OutboxEntry {
            seq: 0,
            kind: ReplyKind::CaseComment,
            body: "r1".into(),
            email_to: None,
            email_subject: None,
            in_reply_to: None,
            created_at: 12,
            delivery: Delivery::Attempted { at: 12, answered: true },
            sent_email: None,
        });
        assert!(owed_answer(&mut state).is_empty());
        state.outbox[0].delivery = Delivery::Refused("no".into());
        assert_eq!(owed_answer(&mut state), vec!["m2".to_string()]);
    }

    #[test]
    fn a_persons_reply_answers_the_customer() {
        let mut state = case(vec![part("m1", AuthorRole::Customer, 10), part("t1", AuthorRole::Teammate, 11)]);
        assert!(owed_answer(&mut state).is_empty());
        assert!(state.covered.contains("m1"));
    }

    #[test]
    fn history_before_the_last_reply_is_answered() {
        let mut state = case(vec![
            part("m1", AuthorRole::Customer, 10),
            part("r1", AuthorRole::Agent, 11),
            part("m2", AuthorRole::Customer, 12),
        ]);
        cover_history(&mut state);
        assert_eq!(owed_answer(&mut state), vec!["m2".to_string()]);
    }

    #[test]
    fn a_write_that_may_still_land_wakes_the_conversation_after_the_settle_window() {
        let mut state = case(vec![]);
        state.outbox.push(OutboxEntry {
            seq: 0,
            kind: ReplyKind::CaseComment,
            body: "r".into(),
            email_to: None,
            email_subject: None,
            in_reply_to: None,
            created_at: 100,
            delivery: Delivery::Attempted { at: 100, answered: false },
            sent_email: None,
        });
        assert_eq!(next_look(&state, false, false, 200), Some(100 + outbox::SETTLE_WINDOW_MS));
        state.outbox.clear();
        assert_eq!(next_look(&state, false, false, 200), None, "nothing left: the conversation leaves the open set");
        state.changes_at = Some(5000);
        assert_eq!(next_look(&state, false, false, 200), Some(5000));
    }
}
