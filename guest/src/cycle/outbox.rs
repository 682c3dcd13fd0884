//! The outbox and the write-back (A7–A9, A12, A13, E1).
//!
//! Replies are recorded in the outbox and committed before anything is sent.
//! A reply still pending when a cycle starts may have been written by a cycle
//! that crashed before it could record so: it is looked up on its case first,
//! and sent only if it is not there. Emails are sent through the host with an
//! idempotency key, so a retry never emails the customer twice.
//!
//! Everything a cycle writes goes out in composite requests of up to 25
//! subrequests (one API call each): replies, the involved flag and resolution
//! state (only when they change), the owner on hand-off, topics.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::capabilities::{Capabilities, HostFailure, LogLevel, OutgoingEmail};
use crate::model::{OrgConfig, ResolutionState, Timestamp};
use crate::salesforce::client::{SalesforceClient, SubResponse, Subrequest};
use crate::salesforce::escape::{soql_datetime, soql_quoted};
use crate::salesforce::transport::{Method, Transport};

use super::SyncError;
use super::parts::{same_id, text};
use super::state::{self, Batch, CaseState, OutboxEntry, OutboxStatus, ReplyKind, SentRecord, StoredError};

/// Salesforce's limit on a CaseComment body, in bytes.
pub const CASE_COMMENT_MAX_BYTES: usize = 4000;
/// Salesforce's limit on a FeedItem body, in characters (kept in bytes to be safe).
pub const FEED_POST_MAX_BYTES: usize = 10_000;
/// EmailMessage.TextBody holds at most 32,000 characters; the email itself is sent whole.
pub const EMAIL_RECORD_MAX_BYTES: usize = 32_000;
/// Subrequests in one composite request.
pub const COMPOSITE_MAX_SUBREQUESTS: usize = 25;
/// How far before a pending reply's creation its record is looked for (clock skew).
const CONFIRM_SKEW_MS: i64 = 5 * 60 * 1000;

/// The replies of the org, by store key.
pub struct Outbox {
    entries: BTreeMap<String, OutboxEntry>,
    changed: BTreeSet<String>,
    removed: BTreeSet<String>,
    pending_at_start: Vec<String>,
}

impl Outbox {
    pub fn load(caps: &mut impl Capabilities) -> Result<Self, SyncError> {
        let entries: BTreeMap<String, OutboxEntry> = state::load_all(caps, "outbox/")?.into_iter().collect();
        let pending_at_start =
            entries.iter().filter(|(_, e)| e.status == OutboxStatus::Pending).map(|(k, _)| k.clone()).collect();
        Ok(Outbox { entries, changed: BTreeSet::new(), removed: BTreeSet::new(), pending_at_start })
    }

    /// Record a reply (split to fit Salesforce's limits) for a case.
    pub fn add(&mut self, case: &mut CaseState, kind: ReplyKind, body: &str, now: Timestamp) {
        let limit = match kind {
            ReplyKind::CaseComment => CASE_COMMENT_MAX_BYTES,
            ReplyKind::FeedPost => FEED_POST_MAX_BYTES,
            ReplyKind::Email => usize::MAX,
        };
        for chunk in split_reply(body, limit) {
            let entry = OutboxEntry {
                case_id: case.conversation.id.clone(),
                seq: case.next_outbox_seq,
                kind,
                body: chunk,
                email_to: (kind == ReplyKind::Email).then(|| case.reply_to.clone()).flatten(),
                email_subject: (kind == ReplyKind::Email).then(|| reply_subject(case)),
                in_reply_to: (kind == ReplyKind::Email).then(|| case.last_message_id.clone()).flatten(),
                created_at: now,
                status: OutboxStatus::Pending,
                sent_email: None,
            };
            case.next_outbox_seq += 1;
            let key = entry.key();
            self.changed.insert(key.clone());
            self.entries.insert(key, entry);
        }
    }

    /// Put every change into the batch.
    pub fn stage(&mut self, batch: &mut Batch) {
        for key in std::mem::take(&mut self.changed) {
            if let Some(entry) = self.entries.get(&key) {
                batch.put(key, entry);
            }
        }
        for key in std::mem::take(&mut self.removed) {
            batch.delete(key);
        }
    }

    fn pending(&self) -> Vec<OutboxEntry> {
        self.entries.values().filter(|e| e.status == OutboxStatus::Pending).cloned().collect()
    }

    fn mark_sent(&mut self, key: &str) {
        if self.entries.remove(key).is_some() {
            self.changed.remove(key);
            self.removed.insert(key.to_string());
        }
    }

    fn update(&mut self, entry: OutboxEntry) {
        let key = entry.key();
        self.changed.insert(key.clone());
        self.entries.insert(key, entry);
    }

    /// Re-queue a failed reply (`retry-error`).
    pub fn requeue(caps: &mut impl Capabilities, key: &str) -> Result<bool, SyncError> {
        let Some(mut entry) = state::load::<OutboxEntry>(caps, key)? else { return Ok(false) };
        entry.status = OutboxStatus::Pending;
        let mut batch = Batch::default();
        batch.put(key.to_string(), &entry);
        batch.commit(caps)?;
        Ok(true)
    }

    /// Replies pending since a previous cycle: find the ones that were written
    /// before a crash, so they are not written again. One API call when any.
    ///
    /// Pending replies are confirmed before each poll and committed with its
    /// results, so a record a conversation already holds is never one of them:
    /// it is an earlier reply with the same text (the agent asked the same
    /// question twice), and taking it for the pending one would lose a reply.
    pub fn confirm_pending<T: Transport>(
        &mut self,
        client: &mut SalesforceClient<T>,
        org: &OrgConfig,
        cases: &BTreeMap<String, CaseState>,
    ) -> Result<(), SyncError> {
        let pending: Vec<OutboxEntry> = self
            .pending_at_start
            .iter()
            .filter_map(|key| self.entries.get(key))
            .filter(|e| e.status == OutboxStatus::Pending)
            .cloned()
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let case_ids: BTreeSet<&str> = pending.iter().map(|e| e.case_id.as_str()).collect();
        let ids: Vec<String> = case_ids.iter().map(|id| soql_quoted(id)).collect();
        let since = soql_datetime(pending.iter().map(|e| e.created_at).min().unwrap_or(0) - CONFIRM_SKEW_MS);
        let filter = format!("ParentId IN ({}) AND CreatedDate >= {since}", ids.join(", "));
        let queries = [
            ("comments", format!("SELECT Id, ParentId, CommentBody FROM CaseComment WHERE {filter}")),
            ("posts", format!("SELECT Id, ParentId, Body FROM FeedItem WHERE {filter}")),
            ("emails", format!("SELECT Id, ParentId, TextBody FROM EmailMessage WHERE Incoming = false AND {filter}")),
        ];
        let already_known = |parent: &str, id: &str| {
            cases
                .values()
                .filter(|case| same_id(&case.conversation.id, parent))
                .any(|case| case.conversation.parts.iter().any(|part| same_id(&part.id, id)))
        };
        let mut written: Vec<(String, String, String)> = Vec::new();
        for (reference, records) in super::poll::composite_queries(client, &queries)? {
            let body_field = match reference.as_str() {
                "comments" => "CommentBody",
                "posts" => "Body",
                _ => "TextBody",
            };
            for record in records {
                if let (Some(id), Some(parent)) = (text(&record, "Id"), text(&record, "ParentId")) {
                    if !already_known(&parent, &id) {
                        written.push((id, parent, text(&record, body_field).unwrap_or_default()));
                    }
                }
            }
        }
        for entry in pending {
            let record_body = record_body(&entry, org);
            let found = written
                .iter()
                .position(|(_, parent, body)| same_id(parent, &entry.case_id) && body.trim() == record_body.trim());
            if let Some(index) = found {
                written.remove(index);
                self.mark_sent(&entry.key());
            }
        }
        Ok(())
    }
}

/// The subject of an email reply.
fn reply_subject(case: &CaseState) -> String {
    let subject =
        case.conversation.subject.clone().unwrap_or_else(|| format!("Case {}", case.conversation.case_number));
    if subject.to_ascii_lowercase().starts_with("re:") { subject } else { format!("Re: {subject}") }
}

/// The text a reply's record holds on the case.
fn record_body(entry: &OutboxEntry, _org: &OrgConfig) -> String {
    match entry.kind {
        ReplyKind::Email => truncate_bytes(&entry.body, EMAIL_RECORD_MAX_BYTES).to_string(),
        _ => entry.body.clone(),
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

/// What the write-back did.
#[derive(Debug, Default)]
pub struct WriteResults {
    pub replies_posted: u32,
    pub emails_sent: u32,
    pub hand_offs: u32,
    pub state_changes: u32,
    pub errors: Vec<StoredError>,
}

/// What a subrequest was for.
enum Purpose {
    Reply { key: String, kind: ReplyKind },
    CaseUpdate { case_id: String, body: Map<String, Value>, state: Option<Option<ResolutionState>>, owner: bool },
    Topic { case_id: String },
}

/// Whether the agent has worked the case, so the write-back fields apply.
fn involved(case: &CaseState) -> bool {
    case.agent_turns > 0 || case.handed_off || case.conversation.resolution != ResolutionState::None
}

/// The case fields to write: only values that differ from the case's (A9).
fn case_update(
    case: &CaseState,
    org: &OrgConfig,
) -> Option<(Map<String, Value>, Option<Option<ResolutionState>>, bool)> {
    let mut body = Map::new();
    let mut state_change = None;
    if involved(case) && !case.involved_written {
        body.insert(org.involved_field.clone(), Value::Bool(true));
    }
    let desired = Some(case.conversation.resolution).filter(|s| *s != ResolutionState::None);
    if involved(case) && desired != case.written_state {
        let value = desired.and_then(ResolutionState::picklist_value).map_or(Value::Null, |v| Value::String(v.into()));
        body.insert(org.resolution_state_field.clone(), value);
        state_change = Some(desired);
    }
    let owner = case.pending_owner.clone();
    if let Some(owner) = &owner {
        body.insert("OwnerId".into(), Value::String(owner.clone()));
    }
    if body.is_empty() {
        return None;
    }
    if case.refused_update.as_deref() == Some(Value::Object(body.clone()).to_string().as_str()) {
        return None;
    }
    Some((body, state_change, owner.is_some()))
}

/// Send everything the cycle decided.
pub fn write_back<T: Transport, C: Capabilities>(
    client: &mut SalesforceClient<T>,
    caps: &mut C,
    org: &OrgConfig,
    cases: &mut BTreeMap<String, CaseState>,
    outbox: &mut Outbox,
    now: Timestamp,
) -> Result<WriteResults, SyncError> {
    let mut results = WriteResults::default();
    send_emails(caps, org, outbox, &mut results, now);

    let version = &org.api_version;
    let mut requests: Vec<(Subrequest, Purpose)> = Vec::new();
    for entry in outbox.pending() {
        let (object, body) = match entry.kind {
            ReplyKind::CaseComment => {
                ("CaseComment", json!({"ParentId": entry.case_id, "CommentBody": entry.body, "IsPublished": true}))
            }
            ReplyKind::FeedPost => (
                "FeedItem",
                json!({"ParentId": entry.case_id, "Body": entry.body, "Type": "TextPost", "IsRichText": false}),
            ),
            ReplyKind::Email => {
                let Some(sent) = &entry.sent_email else { continue };
                let message_date = crate::convert::format_datetime(sent.sent_at);
                (
                    "EmailMessage",
                    json!({
                        "ParentId": entry.case_id,
                        "Incoming": false,
                        "FromAddress": sent.from_address,
                        "ToAddress": entry.email_to,
                        "Subject": entry.email_subject,
                        "TextBody": record_body(&entry, org),
                        "MessageDate": message_date,
                        "MessageIdentifier": sent.message_id,
                        "Status": "3",
                    }),
                )
            }
        };
        requests.push((
            Subrequest {
                method: Method::Post,
                url: format!("/services/data/v{version}/sobjects/{object}"),
                reference_id: format!("reply{}", requests.len()),
                body: Some(body),
            },
            Purpose::Reply { key: entry.key(), kind: entry.kind },
        ));
    }
    for case in cases.values() {
        if let Some((body, state, owner)) = case_update(case, org) {
            requests.push((
                Subrequest {
                    method: Method::Patch,
                    url: format!("/services/data/v{version}/sobjects/Case/{}", case.conversation.id),
                    reference_id: format!("case{}", requests.len()),
                    body: Some(Value::Object(body.clone())),
                },
                Purpose::CaseUpdate { case_id: case.conversation.id.clone(), body, state, owner },
            ));
        }
    }
    let wants_topics: Vec<String> = if org.topics.is_empty() {
        Vec::new()
    } else {
        cases
            .values()
            .filter(|c| c.in_session && !c.topics_added && involved(c))
            .map(|c| c.conversation.id.clone())
            .collect()
    };
    if !wants_topics.is_empty() {
        let topic_ids = ensure_topics(client, caps, org)?;
        for case_id in wants_topics {
            for topic_id in topic_ids.values() {
                requests.push((
                    Subrequest {
                        method: Method::Post,
                        url: format!("/services/data/v{version}/sobjects/TopicAssignment"),
                        reference_id: format!("topic{}", requests.len()),
                        body: Some(json!({"TopicId": topic_id, "EntityId": case_id})),
                    },
                    Purpose::Topic { case_id: case_id.clone() },
                ));
            }
        }
    }

    let mut requests = requests.into_iter().peekable();
    while requests.peek().is_some() {
        let chunk: Vec<(Subrequest, Purpose)> = requests.by_ref().take(COMPOSITE_MAX_SUBREQUESTS).collect();
        let (subrequests, purposes): (Vec<Subrequest>, Vec<Purpose>) = chunk.into_iter().unzip();
        let responses = client.composite(false, subrequests)?;
        for (purpose, response) in purposes.into_iter().zip(responses) {
            apply_response(purpose, &response, cases, outbox, &mut results, now);
        }
    }
    Ok(results)
}

fn send_emails(
    caps: &mut impl Capabilities,
    org: &OrgConfig,
    outbox: &mut Outbox,
    results: &mut WriteResults,
    now: Timestamp,
) {
    for mut entry in outbox.pending().into_iter().filter(|e| e.kind == ReplyKind::Email && e.sent_email.is_none()) {
        let Some(to) = entry.email_to.clone() else { continue };
        let email = OutgoingEmail {
            to: vec![to],
            cc: Vec::new(),
            subject: entry.email_subject.clone().unwrap_or_default(),
            text_body: entry.body.clone(),
            in_reply_to: entry.in_reply_to.clone(),
        };
        match caps.send_mail(&entry.idempotency_key(&org.name), &email) {
            Ok(sent) => {
                entry.sent_email =
                    Some(SentRecord { from_address: sent.from_address, message_id: sent.message_id, sent_at: now });
                results.emails_sent += 1;
                outbox.update(entry);
            }
            Err(HostFailure::Unavailable(reason)) => {
                caps.log(
                    LogLevel::Warn,
                    "mail is unavailable; the reply is retried next cycle",
                    &[("case", entry.case_id.as_str()), ("reason", reason.as_str())],
                );
            }
            Err(HostFailure::Rejected(reason)) => {
                let key = entry.key();
                results.errors.push(StoredError {
                    id: format!("mail:{key}"),
                    record_id: Some(entry.case_id.clone()),
                    operation: "email reply".into(),
                    status: 0,
                    code: "MAIL_REJECTED".into(),
                    message: reason.clone(),
                    fields: Vec::new(),
                    failed_at: now,
                    outbox_key: Some(key),
                });
                entry.status = OutboxStatus::Failed(reason);
                outbox.update(entry);
            }
        }
    }
}

fn apply_response(
    purpose: Purpose,
    response: &SubResponse,
    cases: &mut BTreeMap<String, CaseState>,
    outbox: &mut Outbox,
    results: &mut WriteResults,
    now: Timestamp,
) {
    let ok = (200..300).contains(&response.status);
    let retry_later = response.status >= 500 || response.status == 0;
    let error = |id: String, record: &str, operation: &str, outbox_key: Option<String>| {
        let api = crate::salesforce::client::ClientError::from_subresponse(response);
        let (code, message, fields) = match api {
            crate::salesforce::client::ClientError::Salesforce(e) => (e.code, e.message, e.fields),
            other => ("UNKNOWN".into(), other.to_string(), Vec::new()),
        };
        StoredError {
            id,
            record_id: Some(record.to_string()),
            operation: operation.into(),
            status: response.status,
            code,
            message,
            fields,
            failed_at: now,
            outbox_key,
        }
    };
    match purpose {
        Purpose::Reply { key, kind } => {
            if ok {
                outbox.mark_sent(&key);
                // An email reply is counted when it is sent; its record on the case is bookkeeping.
                if kind != ReplyKind::Email {
                    results.replies_posted += 1;
                }
            } else if !retry_later {
                if let Some(mut entry) = outbox.entries.get(&key).cloned() {
                    let stored = error(format!("reply:{key}"), &entry.case_id, "post reply", Some(key.clone()));
                    entry.status = OutboxStatus::Failed(stored.message.clone());
                    outbox.update(entry);
                    results.errors.push(stored);
                }
            }
        }
        Purpose::CaseUpdate { case_id, body, state, owner } => {
            let Some(case) = cases.get_mut(&case_id) else { return };
            if ok {
                if body.values().any(|v| *v == Value::Bool(true)) {
                    case.involved_written = true;
                }
                if let Some(state) = state {
                    case.written_state = state;
                    results.state_changes += 1;
                }
                if owner {
                    case.pending_owner = None;
                    case.in_session = false;
                    results.hand_offs += 1;
                }
                case.refused_update = None;
            } else if !retry_later {
                case.refused_update = Some(Value::Object(body).to_string());
                results.errors.push(error(format!("case-update:{case_id}"), &case_id, "update case", None));
            }
        }
        Purpose::Topic { case_id } => {
            let duplicate = response.body.to_string().contains("DUPLICATE_VALUE");
            if let Some(case) = cases.get_mut(&case_id) {
                if ok || duplicate || !retry_later {
                    case.topics_added = true;
                }
            }
            if !ok && !duplicate && !retry_later {
                results.errors.push(error(format!("topic:{case_id}"), &case_id, "add topic", None));
            }
        }
    }
}

/// The Ids of the configured topics, created when missing; remembered in the store.
fn ensure_topics<T: Transport>(
    client: &mut SalesforceClient<T>,
    caps: &mut impl Capabilities,
    org: &OrgConfig,
) -> Result<BTreeMap<String, String>, SyncError> {
    let mut known: BTreeMap<String, String> = state::load(caps, state::TOPICS_KEY)?.unwrap_or_default();
    known.retain(|name, _| org.topics.contains(name));
    let missing: Vec<&String> = org.topics.iter().filter(|t| !known.contains_key(*t)).collect();
    if missing.is_empty() {
        return Ok(known);
    }
    let names: Vec<String> = missing.iter().map(|t| soql_quoted(t)).collect();
    for record in client.query(&format!("SELECT Id, Name FROM Topic WHERE Name IN ({})", names.join(", ")))? {
        if let (Some(id), Some(name)) = (text(&record, "Id"), text(&record, "Name")) {
            if let Some(topic) = org.topics.iter().find(|t| t.eq_ignore_ascii_case(&name)) {
                known.insert(topic.clone(), id);
            }
        }
    }
    let to_create: Vec<String> = org.topics.iter().filter(|t| !known.contains_key(*t)).cloned().collect();
    if !to_create.is_empty() {
        let subrequests = to_create
            .iter()
            .enumerate()
            .map(|(i, name)| Subrequest {
                method: Method::Post,
                url: format!("/services/data/v{}/sobjects/Topic", org.api_version),
                reference_id: format!("topic{i}"),
                body: Some(json!({ "Name": name })),
            })
            .collect();
        for (name, response) in to_create.iter().zip(client.composite(false, subrequests)?) {
            if let Some(id) = response.body.get("id").and_then(Value::as_str) {
                known.insert(name.clone(), id.to_string());
            }
        }
    }
    let mut batch = Batch::default();
    batch.put(state::TOPICS_KEY.to_string(), &known);
    batch.commit(caps)?;
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn short_replies_stay_whole() {
        assert_eq!(split_reply("  Hello there  ", 20), vec!["Hello there".to_string()]);
    }
}
