//! Stored state written by casebridge 0.1 (one `watermark`, every case under
//! `case/`, replies under `outbox/`) brought into today's layout on the first
//! cycle, so an upgrade keeps every conversation and every unsent reply.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::capabilities::Capabilities;
use crate::model::Timestamp;
use crate::salesforce::cases::{ChildKind, SweepKey};

use super::SyncError;
use super::session::cover_history;
use super::state::{
    self, Batch, CaseState, Delivery, HotIndex, OutboxEntry, PollState, ReplyKind, SentRecord, StateView,
};

const OLD_WATERMARK_KEY: &str = "watermark";
const OLD_CASE_PREFIX: &str = "case/";
const OLD_OUTBOX_PREFIX: &str = "outbox/";
/// Cases moved per commit: bounded batches, whatever the history.
const CASES_PER_COMMIT: usize = 200;

#[derive(Deserialize)]
struct OldWatermark {
    read_through: Option<Timestamp>,
}

#[derive(Deserialize)]
enum OldStatus {
    Pending,
    Sent(serde::de::IgnoredAny),
    Failed(String),
}

#[derive(Deserialize)]
struct OldOutboxEntry {
    case_id: String,
    seq: u32,
    kind: ReplyKind,
    body: String,
    email_to: Option<String>,
    email_subject: Option<String>,
    in_reply_to: Option<String>,
    created_at: Timestamp,
    status: OldStatus,
    sent_email: Option<SentRecord>,
}

/// The part the 0.1 connector had taken its turn after, per case.
#[derive(Deserialize)]
struct OldTurnMark {
    answered_through: Option<String>,
}

fn unreadable(key: &str, error: serde_json::Error) -> SyncError {
    SyncError::Storage(format!("the stored value `{key}` (written by casebridge 0.1) cannot be read: {error}"))
}

/// Move 0.1 state, if there is any, to the current layout. Replies 0.1 had
/// pending are treated as writes that may have landed (looked up once they
/// can no longer land); the parts its agent had answered stay answered.
pub fn from_v1(caps: &mut impl Capabilities, view: &mut StateView, overlap_ms: i64) -> Result<(), SyncError> {
    if view.load::<serde_json::Value>(caps, state::POLL_KEY)?.is_some() {
        return Ok(());
    }
    let Some(watermark) = view.load::<OldWatermark>(caps, OLD_WATERMARK_KEY)? else { return Ok(()) };
    let mut outboxes: BTreeMap<String, Vec<(String, OutboxEntry)>> = BTreeMap::new();
    state::for_each_entry(caps, OLD_OUTBOX_PREFIX, &mut |key, text| {
        let old: OldOutboxEntry = serde_json::from_str(&text).map_err(|e| unreadable(&key, e))?;
        let delivery = match old.status {
            OldStatus::Pending => Delivery::Attempted { at: old.created_at, answered: false },
            OldStatus::Failed(reason) => Delivery::Refused(reason),
            OldStatus::Sent(_) => return Ok(()),
        };
        let entry = OutboxEntry {
            seq: old.seq,
            kind: old.kind,
            body: old.body,
            email_to: old.email_to,
            email_subject: old.email_subject,
            in_reply_to: old.in_reply_to,
            created_at: old.created_at,
            delivery,
            sent_email: old.sent_email,
        };
        outboxes.entry(old.case_id).or_default().push((key, entry));
        Ok(())
    })?;
    let mut keys = Vec::new();
    state::for_each_entry(caps, OLD_CASE_PREFIX, &mut |key, _| {
        keys.push(key);
        Ok(())
    })?;
    let mut hot = HotIndex::default();
    for chunk in keys.chunks(CASES_PER_COMMIT) {
        let mut batch = Batch::default();
        for key in chunk {
            let Some(text) = caps.get(key)? else { continue };
            let mut case: CaseState = serde_json::from_str(&text).map_err(|e| unreadable(key, e))?;
            let mark: OldTurnMark = serde_json::from_str(&text).map_err(|e| unreadable(key, e))?;
            cover_history(&mut case);
            if let Some(through) = mark.answered_through
                && let Some(end) = case.conversation.parts.iter().position(|p| p.id == through)
            {
                let answered: Vec<String> = case.conversation.parts[..=end].iter().map(|p| p.id.clone()).collect();
                case.covered.extend(answered);
            }
            for (old_key, entry) in outboxes.remove(case.id()).unwrap_or_default() {
                batch.delete_unchecked(old_key);
                case.outbox.push(entry);
            }
            if case.in_session || case.outbox.iter().any(OutboxEntry::is_unsent) {
                hot.0.insert(case.id().to_string(), 0);
            }
            batch.put_unchecked(state::conversation_key(case.id()), &case);
            batch.put_unchecked(state::summary_key(case.id()), &case.summary());
            batch.delete_unchecked(key.clone());
        }
        StateView::default().commit(caps, batch)?;
    }
    let since = watermark.read_through.map_or(SweepKey::default(), |t| SweepKey::at(t - overlap_ms));
    let poll = PollState {
        started_at: watermark.read_through,
        first_sweep_done: watermark.read_through.is_some(),
        cases: since.clone(),
        children: ChildKind::ALL.into_iter().map(|kind| (kind, since.clone())).collect(),
        clock_offset_ms: 0,
    };
    let mut last = Batch::default();
    view.put(&mut last, state::POLL_KEY.to_string(), &poll);
    view.put(&mut last, state::HOT_KEY.to_string(), &hot);
    view.delete(&mut last, OLD_WATERMARK_KEY.to_string());
    view.commit(caps, last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::testing::MemoryHost;
    use crate::model::{AuthorRole, ConversationPart, PartSource};

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

    #[test]
    fn state_written_by_0_1_keeps_its_conversations_answers_and_pending_replies() {
        let mut host = MemoryHost::default();
        let conversation = CaseState::with_parts(vec![
            part("m1", AuthorRole::Customer, 1),
            part("r1", AuthorRole::Agent, 2),
            part("m2", AuthorRole::Customer, 3),
        ])
        .conversation;
        let old_case = serde_json::json!({
            "conversation": conversation, "in_session": true, "last_modstamp": 3, "events": [],
            "answered_through": "m2", "agent_turns": 1, "written_state": null, "involved_written": true,
            "handed_off": false, "pending_owner": null, "refused_update": null, "topics_added": true,
            "changes_at": null, "next_outbox_seq": 2, "reply_to": null, "last_message_id": null, "updated_at": 3
        });
        host.store.insert("case/500000000000001AAA".into(), old_case.to_string());
        let pending = serde_json::json!({"case_id": "500000000000001AAA", "seq": 1, "kind": "CaseComment",
            "body": "r2", "email_to": null, "email_subject": null, "in_reply_to": null, "created_at": 4,
            "status": "Pending", "sent_email": null});
        host.store.insert("outbox/500000000000001AAA/000001".into(), pending.to_string());
        host.store.insert("watermark".into(), r#"{"read_through":1000000}"#.into());

        let mut view = StateView::default();
        from_v1(&mut host, &mut view, 120_000).unwrap();

        assert!(!host.store.keys().any(|k| k.starts_with("case/") || k.starts_with("outbox/") || k == "watermark"));
        let case: CaseState = serde_json::from_str(&host.store["conv/500000000000001AAA"]).unwrap();
        assert!(case.covered.contains("m1") && case.covered.contains("m2"), "what 0.1 answered stays answered");
        assert_eq!(case.outbox.len(), 1);
        assert_eq!(case.outbox[0].delivery, Delivery::Attempted { at: 4, answered: false }, "may have landed");
        let poll: PollState = serde_json::from_str(&host.store["poll"]).unwrap();
        assert!(poll.first_sweep_done);
        assert_eq!(poll.cases, SweepKey::at(1_000_000 - 120_000));
        let hot: HotIndex = serde_json::from_str(&host.store["hot"]).unwrap();
        assert!(hot.0.contains_key("500000000000001AAA"));
        // A second run finds today's layout and does nothing.
        let before = host.store.clone();
        from_v1(&mut host, &mut StateView::default(), 120_000).unwrap();
        assert_eq!(host.store, before);
    }
}
