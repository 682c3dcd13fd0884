//! Replies and the write-back (A7–A9, A12, A13, E1): each reply is written
//! to Salesforce exactly once.
//!
//! A reply is an [`OutboxEntry`] of its conversation, committed before it is
//! sent. Just before the write goes out its entry is marked
//! [`Delivery::Attempted`] (in the same commit), so after a crash, a lost
//! answer or a timeout the connector knows the write may have landed:
//!
//! - when the connector's own reply comes back through the poll, the entry is settled;
//! - when Salesforce answered with an error, the write is over: the reply is
//!   looked up on its case in the next cycle and sent again only if it is not there;
//! - when no answer came (timeout, connection lost, crash), Salesforce may
//!   still carry the write out: it is looked up only once it can no longer
//!   land, [`SETTLE_WINDOW_MS`] after it was sent (by Salesforce's clock), and
//!   the conversation waits until then — no turn starts while a reply of it
//!   is unsent.
//!
//! Emails go out through the host with an idempotency key, so a retry never
//! emails the customer twice; their record on the case follows the same rules.
//! Everything a page writes goes out in composite requests of up to 25
//! subrequests (one API call each): replies first, then case updates, then topics.

use serde_json::{Map, Value};

use crate::model::{AuthorRole, ConversationPart, OrgConfig, PartSource, ReplyChannel, ResolutionState, Timestamp};
use crate::salesforce::cases::{CaseWrite, ChildKind, ChildRecord, NewReply, WriteOutcome};
use crate::salesforce::client::ApiError;

use super::state::{CaseState, Delivery, OutboxEntry, ReplyKind, SentRecord, StoredError};

/// Salesforce's limit on a CaseComment body, in bytes.
pub const CASE_COMMENT_MAX_BYTES: usize = 4000;
/// Salesforce's limit on a FeedItem body, in characters (kept in bytes to be safe).
pub const FEED_POST_MAX_BYTES: usize = 10_000;
/// EmailMessage.TextBody holds at most 32,000 characters; the email itself is sent whole.
pub const EMAIL_RECORD_MAX_BYTES: usize = 32_000;

/// How long after it was sent a write may still land: Salesforce ends a
/// synchronous request that runs longer than 10 minutes
/// (`REQUEST_RUNNING_TOO_LONG`), whether or not the client is still there;
/// one more minute covers the one-second resolution of its `Date` header
/// and the request's trip. Measured on Salesforce's clock.
pub const SETTLE_WINDOW_MS: i64 = 11 * 60 * 1000;

/// How far before a reply was sent its record is looked for: Salesforce's
/// `CreatedDate` is its own clock, which the `Date` header tracks to a second.
const LOOKUP_SLACK_MS: i64 = 60 * 1000;

/// How a conversation's replies are written: by email for email-origin cases
/// with an address, else as the org's reply channel says.
pub fn reply_kind(case: &CaseState, org: &OrgConfig) -> ReplyKind {
    let by_email = case.conversation.origin.as_deref() == Some("Email") && case.reply_to.is_some();
    match (by_email, org.reply_as) {
        (true, _) => ReplyKind::Email,
        (false, ReplyChannel::CaseComment) => ReplyKind::CaseComment,
        (false, ReplyChannel::FeedPost) => ReplyKind::FeedPost,
    }
}

/// Record a reply (split to fit Salesforce's limits) in the conversation's outbox.
pub fn add_reply(case: &mut CaseState, kind: ReplyKind, body: &str, now: Timestamp) {
    let limit = match kind {
        ReplyKind::CaseComment => CASE_COMMENT_MAX_BYTES,
        ReplyKind::FeedPost => FEED_POST_MAX_BYTES,
        ReplyKind::Email => usize::MAX,
    };
    for chunk in split_reply(body, limit) {
        let email = kind == ReplyKind::Email;
        case.outbox.push(OutboxEntry {
            seq: case.next_outbox_seq,
            kind,
            body: chunk,
            email_to: email.then(|| case.reply_to.clone()).flatten(),
            email_subject: email.then(|| reply_subject(case)),
            in_reply_to: email.then(|| case.last_message_id.clone()).flatten(),
            created_at: now,
            delivery: Delivery::Queued,
            sent_email: None,
        });
        case.next_outbox_seq += 1;
    }
}

/// The subject of an email reply.
fn reply_subject(case: &CaseState) -> String {
    let subject =
        case.conversation.subject.clone().unwrap_or_else(|| format!("Case {}", case.conversation.case_number));
    if subject.to_ascii_lowercase().starts_with("re:") { subject } else { format!("Re: {subject}") }
}

/// The text a reply's record holds on the case.
fn record_body(entry: &OutboxEntry) -> &str {
    match entry.kind {
        ReplyKind::Email => truncate_bytes(&entry.body, EMAIL_RECORD_MAX_BYTES),
        _ => &entry.body,
    }
}

fn record_kind(kind: ReplyKind) -> ChildKind {
    match kind {
        ReplyKind::CaseComment => ChildKind::CaseComment,
        ReplyKind::FeedPost => ChildKind::FeedItem,
        ReplyKind::Email => ChildKind::EmailMessage,
    }
}

/// Whether `record` is the record `entry` would have written.
fn is_record_of(entry: &OutboxEntry, record: &ChildRecord) -> bool {
    let Delivery::Attempted { at, .. } = entry.delivery else { return false };
    let outgoing = record.email.as_ref().is_none_or(|e| !e.incoming);
    record.kind == record_kind(entry.kind)
        && outgoing
        && record.created_at >= at - LOOKUP_SLACK_MS
        && record.body.trim() == record_body(entry).trim()
}

/// A record the connector wrote came back through the poll: if it is an
/// attempted reply's, that reply is on the case. The oldest matching entry
/// is the one settled, so two replies with the same text settle one each.
pub fn settle_seen_reply(case: &mut CaseState, record: &ChildRecord) {
    if case.conversation.parts.iter().any(|p| p.id == record.id) {
        return;
    }
    if let Some(index) = case.outbox.iter().position(|entry| is_record_of(entry, record)) {
        case.outbox.remove(index);
    }
}

/// Whether an attempted reply of the conversation can be looked up now:
/// Salesforce answered, or the write can no longer land.
pub fn lookup_due(case: &CaseState, now: Timestamp) -> Option<Timestamp> {
    case.outbox
        .iter()
        .filter_map(|entry| match entry.delivery {
            Delivery::Attempted { at, answered } if answered || now >= at + SETTLE_WINDOW_MS => Some(at),
            _ => None,
        })
        .min()
}

/// The replies found on the case decide every attempted reply that was due
/// for a look-up: found, it is settled (and becomes a part of the
/// conversation); not found, it is queued to be sent again.
pub fn settle_by_lookup(case: &mut CaseState, found: &[&ChildRecord], now: Timestamp) {
    let mut found: Vec<&ChildRecord> =
        found.iter().copied().filter(|record| !case.conversation.parts.iter().any(|p| p.id == record.id)).collect();
    let mut settled = Vec::new();
    for entry in case.outbox.iter_mut() {
        let Delivery::Attempted { at, answered } = entry.delivery else { continue };
        if !answered && now < at + SETTLE_WINDOW_MS {
            continue;
        }
        match found.iter().position(|record| is_record_of(entry, record)) {
            Some(index) => {
                let record = found.remove(index);
                settled.push((entry.seq, reply_part(entry, &record.id, record.created_at)));
            }
            None => entry.delivery = Delivery::Queued,
        }
    }
    for (seq, part) in settled {
        case.outbox.retain(|e| e.seq != seq);
        case.conversation.parts.push(part);
    }
}

/// The conversation part of a reply written with Id `id`.
fn reply_part(entry: &OutboxEntry, id: &str, created_at: Timestamp) -> ConversationPart {
    ConversationPart {
        id: id.to_string(),
        source: match entry.kind {
            ReplyKind::CaseComment => PartSource::CaseComment,
            ReplyKind::FeedPost => PartSource::FeedItem,
            ReplyKind::Email => PartSource::EmailMessage,
        },
        author: AuthorRole::Agent,
        author_name: None,
        text: entry.body.clone(),
        created_at,
        attachments: Vec::new(),
    }
}

/// Mark every queued reply as about to be sent at `now`; returns their sequence numbers.
pub fn mark_attempted(case: &mut CaseState, now: Timestamp) -> Vec<u32> {
    case.outbox
        .iter_mut()
        .filter(|entry| entry.delivery == Delivery::Queued)
        .map(|entry| {
            entry.delivery = Delivery::Attempted { at: now, answered: false };
            entry.seq
        })
        .collect()
}

/// A reply that did not go out after all (mail unavailable, no write made):
/// back in the queue.
pub fn unsend(case: &mut CaseState, seq: u32) {
    if let Some(entry) =
        case.outbox.iter_mut().find(|e| e.seq == seq && matches!(e.delivery, Delivery::Attempted { .. }))
    {
        entry.delivery = Delivery::Queued;
    }
}

/// Record what the host did with an email reply.
pub fn email_sent(case: &mut CaseState, seq: u32, from_address: String, message_id: String, now: Timestamp) {
    if let Some(entry) = case.outbox.iter_mut().find(|e| e.seq == seq) {
        entry.sent_email = Some(SentRecord { from_address, message_id, sent_at: now });
    }
}

/// The write of an attempted reply (an email's record only once the email was sent).
pub fn reply_write(case: &CaseState, seq: u32) -> Option<CaseWrite> {
    let entry = case.outbox.iter().find(|e| e.seq == seq)?;
    let case_id = case.conversation.id.clone();
    let reply = match entry.kind {
        ReplyKind::CaseComment => NewReply::CaseComment { case_id, body: entry.body.clone() },
        ReplyKind::FeedPost => NewReply::FeedPost { case_id, body: entry.body.clone() },
        ReplyKind::Email => {
            let sent = entry.sent_email.as_ref()?;
            NewReply::EmailRecord {
                case_id,
                from_address: sent.from_address.clone(),
                to_address: entry.email_to.clone(),
                subject: entry.email_subject.clone(),
                text_body: record_body(entry).to_string(),
                message_date: sent.sent_at,
                message_id: sent.message_id.clone(),
            }
        }
    };
    Some(CaseWrite::Reply(reply))
}

/// What happened to a reply's write; returns the error to keep, if refused.
pub fn reply_written(case: &mut CaseState, seq: u32, outcome: &WriteOutcome, now: Timestamp) -> Option<StoredError> {
    let index = case.outbox.iter().position(|e| e.seq == seq)?;
    match outcome {
        WriteOutcome::Done(id) => {
            let entry = case.outbox.remove(index);
            let id = id.clone().unwrap_or_else(|| format!("{}:reply:{seq}", case.conversation.id));
            // Salesforce stamps to the second; the poll brings the exact stamp back.
            case.conversation.parts.push(reply_part(&entry, &id, now - now.rem_euclid(1000)));
            None
        }
        WriteOutcome::AlreadyThere => {
            case.outbox.remove(index);
            None
        }
        WriteOutcome::TryAgain(_) => {
            if let Delivery::Attempted { at, .. } = case.outbox[index].delivery {
                case.outbox[index].delivery = Delivery::Attempted { at, answered: true };
            }
            None
        }
        WriteOutcome::Refused(error) => {
            case.outbox[index].delivery = Delivery::Refused(error.message.clone());
            let operation =
                if case.outbox[index].kind == ReplyKind::Email { "record email reply" } else { "post reply" };
            Some(stored_error(
                format!("reply:{}:{seq}", case.conversation.id),
                &case.conversation.id,
                operation,
                error,
                now,
                Some(format!("{}/{seq}", case.conversation.id)),
            ))
        }
    }
}

/// A failed write (or agent turn) as the error kept for a person.
pub fn stored_error(
    id: String,
    record: &str,
    operation: &str,
    error: &ApiError,
    now: Timestamp,
    outbox_key: Option<String>,
) -> StoredError {
    StoredError {
        id,
        record_id: Some(record.to_string()),
        operation: operation.into(),
        status: error.status,
        code: error.code.clone(),
        message: error.message.clone(),
        fields: error.fields.clone(),
        failed_at: now,
        outbox_key,
    }
}

/// Whether the agent has worked the case, so the write-back fields apply.
fn involved(case: &CaseState) -> bool {
    case.agent_turns > 0 || case.handed_off || case.conversation.resolution != ResolutionState::None
}

/// A case update and what it changes, once written.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseUpdate {
    pub fields: Map<String, Value>,
    /// The resolution state it writes (`Some(None)`: clears it).
    pub state: Option<Option<ResolutionState>>,
    /// Whether it hands the case off.
    pub hands_off: bool,
    /// The workflow's values among `fields` (A11).
    pub workflow_fields: Vec<String>,
}

/// The case fields to write: only values that differ from the case's (A9),
/// and nothing Salesforce refused before until it is retried.
pub fn case_update(case: &CaseState, org: &OrgConfig) -> Option<CaseUpdate> {
    let mut fields = Map::new();
    let mut state = None;
    if involved(case) && !case.involved_written {
        fields.insert(org.involved_field.clone(), Value::Bool(true));
    }
    let desired = Some(case.conversation.resolution).filter(|s| *s != ResolutionState::None);
    if involved(case) && desired != case.written_state {
        let value = desired.and_then(ResolutionState::picklist_value).map_or(Value::Null, |v| Value::String(v.into()));
        fields.insert(org.resolution_state_field.clone(), value);
        state = Some(desired);
    }
    if let Some(owner) = &case.pending_owner {
        fields.insert("OwnerId".into(), Value::String(owner.clone()));
    }
    // The workflow's values go with the first write, at the latest in the
    // hand-off's own request (A11).
    let mut workflow_fields = Vec::new();
    for (field, value) in case.workflow.unwritten() {
        if !fields.contains_key(field) {
            fields.insert(field.clone(), crate::salesforce::records::wire_json(value));
            workflow_fields.push(field.clone());
        }
    }
    if fields.is_empty() || case.refused_update.as_deref() == Some(Value::Object(fields.clone()).to_string().as_str()) {
        return None;
    }
    Some(CaseUpdate { fields, state, hands_off: case.pending_owner.is_some(), workflow_fields })
}

/// What happened to a case update. Returns the error to keep when it was refused.
pub fn case_updated(
    case: &mut CaseState,
    update: &CaseUpdate,
    outcome: &WriteOutcome,
    now: Timestamp,
) -> Option<StoredError> {
    match outcome {
        WriteOutcome::Done(_) | WriteOutcome::AlreadyThere => {
            if update.fields.values().any(|v| *v == Value::Bool(true)) {
                case.involved_written = true;
            }
            if let Some(state) = update.state {
                case.written_state = state;
            }
            if update.hands_off {
                case.pending_owner = None;
                case.in_session = false;
            }
            case.refused_update = None;
            case.workflow.settle(&update.workflow_fields);
            None
        }
        WriteOutcome::TryAgain(_) => None,
        WriteOutcome::Refused(error) if !update.workflow_fields.is_empty() => {
            // The workflow's values are the likeliest cause (a validation
            // rule, a value deactivated since): they are dropped and kept as
            // an error; the rest of the update is tried again without them.
            case.workflow.settle(&update.workflow_fields);
            let what = format!("write workflow values ({})", update.workflow_fields.join(", "));
            Some(stored_error(format!("workflow:{}:values", case.id()), case.id(), &what, error, now, None))
        }
        WriteOutcome::Refused(error) => {
            case.refused_update = Some(Value::Object(update.fields.clone()).to_string());
            Some(stored_error(format!("case-update:{}", case.id()), case.id(), "update case", error, now, None))
        }
    }
}

/// Whether the configured topics are still to be added to the case (A12).
pub fn wants_topics(case: &CaseState, org: &OrgConfig) -> bool {
    !org.topics.is_empty() && case.in_session && !case.topics_added && involved(case)
}

/// What happened to a topic assignment. Returns the error to keep when refused.
pub fn topic_added(case: &mut CaseState, outcome: &WriteOutcome, now: Timestamp) -> Option<StoredError> {
    match outcome {
        WriteOutcome::Done(_) | WriteOutcome::AlreadyThere => {
            case.topics_added = true;
            None
        }
        WriteOutcome::TryAgain(_) => None,
        WriteOutcome::Refused(error) => {
            case.topics_added = true;
            Some(stored_error(format!("topic:{}", case.id()), case.id(), "add topic", error, now, None))
        }
    }
}

fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Split a reply into pieces of at most `limit` bytes, at paragraph, line,
/// word or character boundaries, in that order of preference.
pub fn split_reply(body: &str, limit: usize) -> Vec<String> {
    let body = body.trim();
    if body.len() <= limit {
        return vec![body.to_string()];
    }
    let mut pieces = Vec::new();
    let mut rest = body;
    while rest.len() > limit {
        let window = truncate_bytes(rest, limit);
        let cut = ["\n\n", "\n", " "]
            .iter()
            .find_map(|sep| window.rfind(sep).filter(|&at| at > limit / 2).map(|at| at + sep.len()))
            .unwrap_or(window.len());
        let cut = cut.max(1);
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece.trim().to_string());
        rest = tail.trim_start();
    }
    if !rest.is_empty() {
        pieces.push(rest.to_string());
    }
    pieces.retain(|p| !p.is_empty());
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::WireValue;
    use crate::salesforce::cases::RecordAuthor;

    #[test]
    fn long_replies_are_split_within_the_limit_without_losing_text() {
        let paragraph = "word ".repeat(300);
        let body = format!("{paragraph}\n\n{paragraph}\n\n{}", "é".repeat(3000));
        let pieces = split_reply(&body, CASE_COMMENT_MAX_BYTES);
        assert!(pieces.len() >= 2);
        assert!(pieces.iter().all(|p| p.len() <= CASE_COMMENT_MAX_BYTES && !p.is_empty()));
        let joined: String = pieces.concat().split_whitespace().collect();
        let original: String = body.split_whitespace().collect();
        assert_eq!(joined, original);
    }

    #[test]
    fn workflow_values_go_in_the_hand_offs_own_update_and_a_refusal_drops_only_them() {
        let org = crate::cycle::tests::org();
        let mut case = CaseState::with_parts(vec![]);
        case.pending_owner = Some("00G000000000002AAA".into());
        case.workflow.values.insert("Priority".into(), WireValue::Text("High".into()));
        let update = case_update(&case, &org).expect("an update");
        assert!(update.hands_off);
        assert_eq!(update.fields["OwnerId"], "00G000000000002AAA");
        assert_eq!(update.fields["Priority"], "High");
        assert_eq!(update.workflow_fields, ["Priority"]);

        let error = ApiError {
            status: 400,
            code: "FIELD_CUSTOM_VALIDATION_EXCEPTION".into(),
            message: "no".into(),
            fields: vec![],
        };
        let kept = case_updated(&mut case, &update, &WriteOutcome::Refused(error), 5).expect("kept as an error");
        assert_eq!(kept.id, format!("workflow:{}:values", case.id()));
        let retry = case_update(&case, &org).expect("the hand-off is tried again");
        assert!(retry.hands_off && retry.workflow_fields.is_empty() && !retry.fields.contains_key("Priority"));
        case_updated(&mut case, &retry, &WriteOutcome::Done(None), 6);
        assert_eq!(case_update(&case, &org), None, "nothing left to write");
    }

    #[test]
    fn short_replies_stay_whole() {
        assert_eq!(split_reply("  Hello there  ", 20), vec!["Hello there".to_string()]);
    }

    fn state() -> CaseState {
        let mut case = CaseState::with_parts(vec![]);
        add_reply(&mut case, ReplyKind::CaseComment, "Same words", 1_000);
        add_reply(&mut case, ReplyKind::CaseComment, "Same words", 1_000);
        case
    }

    fn comment(id: &str, body: &str, at: Timestamp) -> ChildRecord {
        ChildRecord {
            kind: ChildKind::CaseComment,
            id: id.into(),
            parent_id: "500000000000001AAA".into(),
            created_at: at,
            author: RecordAuthor::default(),
            body: body.into(),
            rich_text: false,
            published: true,
            feed_type: None,
            related_record_id: None,
            title: None,
            comment_count: 0,
            email: None,
        }
    }

    #[test]
    fn a_write_with_no_answer_is_looked_up_only_after_it_can_no_longer_land() {
        let mut case = state();
        assert_eq!(mark_attempted(&mut case, 10_000), vec![0, 1]);
        assert_eq!(lookup_due(&case, 10_000 + SETTLE_WINDOW_MS - 1), None);
        assert_eq!(lookup_due(&case, 10_000 + SETTLE_WINDOW_MS), Some(10_000));
        // Only the first landed: it is settled, the second is sent again.
        let landed = comment("00a000000000001AAA", "Same words", 10_500);
        settle_by_lookup(&mut case, &[&landed], 10_000 + SETTLE_WINDOW_MS);
        assert_eq!(case.outbox.len(), 1);
        assert_eq!(case.outbox[0].delivery, Delivery::Queued);
        assert_eq!(case.conversation.parts.len(), 1);
    }

    #[test]
    fn a_reply_seen_in_the_poll_settles_one_entry_and_an_older_twin_settles_none() {
        let mut case = state();
        mark_attempted(&mut case, 10_000);
        // A reply with the same words written long before this attempt is not this one.
        settle_seen_reply(&mut case, &comment("00a000000000009AAA", "Same words", 10_000 - 10 * LOOKUP_SLACK_MS));
        assert_eq!(case.outbox.len(), 2);
        settle_seen_reply(&mut case, &comment("00a000000000001AAA", "Same words", 10_200));
        assert_eq!(case.outbox.len(), 1);
        assert_eq!(case.outbox[0].seq, 1);
    }

    #[test]
    fn an_answered_failure_is_looked_up_at_once() {
        let mut case = state();
        mark_attempted(&mut case, 10_000);
        let error = ApiError { status: 503, code: "SERVER_UNAVAILABLE".into(), message: "down".into(), fields: vec![] };
        reply_written(&mut case, 0, &WriteOutcome::TryAgain(error), 10_100);
        assert_eq!(lookup_due(&case, 10_200), Some(10_000));
    }
}
