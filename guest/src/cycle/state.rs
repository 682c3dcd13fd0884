//! What the connector keeps between cycles, where it keeps it, and how it
//! commits: every write is compare-and-swap against the value it read.
//!
//! Keys in the org's namespace:
//!
//! | key                    | value                                                            |
//! |------------------------|------------------------------------------------------------------|
//! | `poll`                 | [`PollState`]: how far each sweep has read, Salesforce's clock    |
//! | `hot`                  | [`HotIndex`]: the open conversations and when each needs a look  |
//! | `conv/<case id>`       | [`CaseState`]: a conversation, its facts and its unsent replies  |
//! | `summary/<case id>`    | [`Summary`]: the conversation in brief, for listings             |
//! | `catalog/<object>`     | the object's field catalog                                       |
//! | `error/<id>`           | [`StoredError`]: a failed write (or agent turn) kept for a person |
//! | `usage/<YYYY-MM-DD>`   | API calls spent that UTC day (the last [`USAGE_DAYS_KEPT`] days) |
//! | `topics`               | topic name → Topic Id                                            |
//! | `session`              | the Salesforce session, sealed ([`crate::salesforce::session`])  |
//!
//! A cycle loads the `hot` index and only the conversations it has work for;
//! a conversation that ended (handed off, closed, resolved and quiet) leaves
//! the index and stays readable under `conv/`. Nothing grows per cycle.
//!
//! Every commit carries expectations: each key it writes must still hold the
//! value this cycle read (or last wrote), so a second writer — another
//! process on the same org, an `errors retry` during the cycle — makes the
//! commit fail with `conflict` and nothing of it is written.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::capabilities::{Capabilities, StoreFailure, StoreWrite};
use crate::model::{Conversation, ObjectCatalog, ResolutionState, Timestamp};
use crate::resolution::Event;
use crate::salesforce::cases::{ChildKind, SweepKey};

use super::SyncError;

pub const POLL_KEY: &str = "poll";
pub const HOT_KEY: &str = "hot";
pub const TOPICS_KEY: &str = "topics";
pub const SESSION_KEY: &str = "session";
pub const CONVERSATION_PREFIX: &str = "conv/";
pub const SUMMARY_PREFIX: &str = "summary/";
pub const ERROR_PREFIX: &str = "error/";
pub const USAGE_PREFIX: &str = "usage/";

/// Days of API usage kept: a month, for anyone looking back at the spend.
pub const USAGE_DAYS_KEPT: usize = 35;

pub fn conversation_key(case_id: &str) -> String {
    format!("{CONVERSATION_PREFIX}{case_id}")
}

pub fn summary_key(case_id: &str) -> String {
    format!("{SUMMARY_PREFIX}{case_id}")
}

pub fn catalog_key(object: &str) -> String {
    format!("catalog/{object}")
}

pub fn error_key(id: &str) -> String {
    format!("{ERROR_PREFIX}{id}")
}

pub fn usage_key(day: &str) -> String {
    format!("{USAGE_PREFIX}{day}")
}

/// How far the poll has read, per sweep, by Salesforce's clock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollState {
    /// When the first sweep started (Salesforce time); `None` before the first page.
    pub started_at: Option<Timestamp>,
    /// Whether the first sweep (the agent's open cases, whatever their age)
    /// has read to its end; after it, every change to the agent's cases is read.
    pub first_sweep_done: bool,
    /// The case sweep: by `SystemModstamp`.
    pub cases: SweepKey,
    /// The child sweeps: new posts, comments and emails on the agent's cases, by `CreatedDate`.
    pub children: BTreeMap<ChildKind, SweepKey>,
    /// Salesforce's clock minus the host's (ms), as last measured.
    pub clock_offset_ms: i64,
}

/// The open conversations: case Id → when it next needs a look without news
/// from the poll (a reply to send, a timer, a write that may still land).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HotIndex(pub BTreeMap<String, Timestamp>);

impl HotIndex {
    /// Conversations due at `now`, earliest first, at most `limit`.
    pub fn due(&self, now: Timestamp, limit: usize) -> Vec<String> {
        let mut due: Vec<(&Timestamp, &String)> =
            self.0.iter().filter(|(_, at)| **at <= now).map(|(id, at)| (at, id)).collect();
        due.sort();
        due.into_iter().take(limit).map(|(_, id)| id.clone()).collect()
    }

    /// The open conversations' case Ids.
    pub fn ids(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

/// One known case and its conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseState {
    pub conversation: Conversation,
    /// Whether the agent's session on the case is open (the agent owns it and
    /// the conversation has not ended).
    pub in_session: bool,
    /// The `SystemModstamp` of the case version last processed.
    pub last_modstamp: Timestamp,
    /// The facts the resolution state is decided from, this session.
    pub events: Vec<Event>,
    /// The customer's parts that have had their answer (by the agent's turn,
    /// or by a person who replied): a part not in here gets a turn.
    #[serde(default)]
    pub covered: BTreeSet<String>,
    /// Agent turns this session (answers and questions).
    pub agent_turns: u32,
    /// The resolution state last written to Salesforce (None: nothing written).
    pub written_state: Option<ResolutionState>,
    /// Whether the involved checkbox is known to be true on the case.
    pub involved_written: bool,
    /// Whether the case was handed off this session.
    pub handed_off: bool,
    /// A new owner decided but not yet written (hand-off).
    pub pending_owner: Option<String>,
    /// A case update Salesforce refused (its JSON body): not sent again until retried.
    pub refused_update: Option<String>,
    /// Whether the configured topics were added.
    pub topics_added: bool,
    /// When the resolution state will change by time alone.
    pub changes_at: Option<Timestamp>,
    /// The next reply sequence number for this case.
    pub next_outbox_seq: u32,
    /// Replies not yet known to be on the case, oldest first.
    #[serde(default)]
    pub outbox: Vec<OutboxEntry>,
    /// The email address replies go to, for email-origin cases.
    pub reply_to: Option<String>,
    /// The `Message-ID` of the customer's last email, to keep the thread.
    pub last_message_id: Option<String>,
    /// Why the agent gave no turn last time, while it keeps failing.
    #[serde(default)]
    pub agent_failure: Option<String>,
    /// Where the conversation is in the channel's workflow (A11).
    #[serde(default)]
    pub workflow: crate::workflow::Progress,
    pub updated_at: Timestamp,
}

impl CaseState {
    /// A conversation that has just started its session: nothing answered,
    /// written or pending yet.
    pub fn new(conversation: Conversation, last_modstamp: Timestamp, now: Timestamp) -> Self {
        CaseState {
            conversation,
            in_session: true,
            last_modstamp,
            events: Vec::new(),
            covered: BTreeSet::new(),
            agent_turns: 0,
            written_state: None,
            involved_written: false,
            handed_off: false,
            pending_owner: None,
            refused_update: None,
            topics_added: false,
            changes_at: None,
            next_outbox_seq: 0,
            outbox: Vec::new(),
            reply_to: None,
            last_message_id: None,
            agent_failure: None,
            workflow: crate::workflow::Progress::default(),
            updated_at: now,
        }
    }

    pub fn id(&self) -> &str {
        &self.conversation.id
    }

    /// A conversation of case `500000000000001AAA` with these parts, for tests.
    #[cfg(test)]
    pub fn with_parts(parts: Vec<crate::model::ConversationPart>) -> Self {
        let conversation = Conversation {
            id: "500000000000001AAA".into(),
            channel: crate::platform::Channel::SalesforceCase,
            case_number: "1".into(),
            subject: None,
            origin: None,
            attributes: vec![],
            person: vec![],
            company: vec![],
            parts,
            resolution: ResolutionState::None,
        };
        CaseState::new(conversation, 0, 0)
    }

    /// The conversation in brief.
    pub fn summary(&self) -> Summary {
        Summary {
            case_id: self.conversation.id.clone(),
            case_number: self.conversation.case_number.clone(),
            subject: self.conversation.subject.clone(),
            resolution: self.conversation.resolution,
            parts: u32::try_from(self.conversation.parts.len()).unwrap_or(u32::MAX),
            handed_off: self.handed_off,
            updated_at: self.updated_at,
        }
    }
}

/// A conversation in brief (`list-conversations`), kept apart so a listing
/// never reads whole conversations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub case_id: String,
    pub case_number: String,
    pub subject: Option<String>,
    pub resolution: ResolutionState,
    pub parts: u32,
    pub handed_off: bool,
    pub updated_at: Timestamp,
}

/// How a reply is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplyKind {
    CaseComment,
    FeedPost,
    Email,
}

/// Where a reply stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// Never sent: send it.
    Queued,
    /// Sent (or about to be) at `at`, Salesforce time, with no answer saying
    /// whether it was written. `answered`: Salesforce answered (an error), so
    /// the write is over and can be looked up at once; otherwise it may still
    /// land until [`super::outbox::SETTLE_WINDOW_MS`] after `at`.
    Attempted { at: Timestamp, answered: bool },
    /// Salesforce refused it; kept as an error until retried.
    Refused(String),
}

/// A reply recorded before it is sent, so none is posted twice and none is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub seq: u32,
    pub kind: ReplyKind,
    pub body: String,
    /// For email replies.
    pub email_to: Option<String>,
    pub email_subject: Option<String>,
    pub in_reply_to: Option<String>,
    pub created_at: Timestamp,
    pub delivery: Delivery,
    /// The email as sent by the host, once it was (email replies only).
    pub sent_email: Option<SentRecord>,
}

impl OutboxEntry {
    /// The idempotency key for mail: unique per org, case and reply.
    pub fn idempotency_key(&self, org: &str, case_id: &str) -> String {
        format!("{org}:{case_id}:{}", self.seq)
    }

    /// Whether the reply is still to be written (sent or not).
    pub fn is_unsent(&self) -> bool {
        !matches!(self.delivery, Delivery::Refused(_))
    }
}

/// What the host reported for a sent email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRecord {
    pub from_address: String,
    pub message_id: String,
    pub sent_at: Timestamp,
}

/// A failed write (or a failing agent) kept until a person retries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredError {
    pub id: String,
    pub record_id: Option<String>,
    pub operation: String,
    pub status: u16,
    pub code: String,
    pub message: String,
    pub fields: Vec<String>,
    pub failed_at: Timestamp,
    /// The reply to re-queue on retry: `<case id>/<seq>`.
    pub outbox_key: Option<String>,
}

/// API calls spent on one UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyUsage {
    pub calls: u32,
}

fn unreadable(key: &str, error: serde_json::Error) -> SyncError {
    SyncError::Storage(format!(
        "the stored value `{key}` cannot be read ({error}); it was changed outside casebridge or by a newer version"
    ))
}

/// The store as this cycle sees it: every value read (or written) so far,
/// for the expectations of the next commit.
#[derive(Debug, Default)]
pub struct StateView {
    seen: BTreeMap<String, Option<String>>,
}

impl StateView {
    /// Read and decode one value, remembering what was read.
    pub fn load<T: serde::de::DeserializeOwned>(
        &mut self,
        caps: &mut impl Capabilities,
        key: &str,
    ) -> Result<Option<T>, SyncError> {
        let text = match self.seen.get(key) {
            Some(text) => text.clone(),
            None => {
                let text = caps.get(key)?;
                self.seen.insert(key.to_string(), text.clone());
                text
            }
        };
        text.map(|text| serde_json::from_str(&text).map_err(|e| unreadable(key, e))).transpose()
    }

    /// Every value under a prefix, decoded. The keys are remembered as read.
    /// When the prefix holds more than the host returns in one scan, the
    /// scan is split by the next character of the key, as often as needed.
    pub fn load_all<T: serde::de::DeserializeOwned>(
        &mut self,
        caps: &mut impl Capabilities,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, SyncError> {
        let mut out = Vec::new();
        for_each_entry(caps, prefix, &mut |key, text| {
            let value = serde_json::from_str(&text).map_err(|e| unreadable(&key, e))?;
            self.seen.insert(key.clone(), Some(text));
            out.push((key, value));
            Ok(())
        })?;
        Ok(out)
    }

    /// Forget what was read under `prefix` (a page's conversations, once
    /// committed), so a cycle's memory stays bounded by one page. A key read
    /// again is read from the store, and expected as read then.
    pub fn forget(&mut self, prefix: &str) {
        self.seen.retain(|key, _| !key.starts_with(prefix));
    }

    /// Stage `value` under `key` in `batch` unless the store already holds exactly it.
    pub fn put<T: Serialize>(&self, batch: &mut Batch, key: String, value: &T) {
        // Serializing the connector's own plain data types cannot fail.
        let text = serde_json::to_string(value).unwrap_or_default();
        if self.seen.get(&key).and_then(Option::as_deref) != Some(text.as_str()) {
            batch.writes.insert(key, Some(text));
        }
    }

    /// Stage the removal of `key` unless it is known to be absent.
    pub fn delete(&self, batch: &mut Batch, key: String) {
        if !matches!(self.seen.get(&key), Some(None)) {
            batch.writes.insert(key, None);
        }
    }

    /// Commit `batch` atomically, expecting every key it writes to hold what
    /// this view last saw (keys never read must be absent, except the ones
    /// staged with [`Batch::put_unchecked`]).
    pub fn commit(&mut self, caps: &mut impl Capabilities, batch: Batch) -> Result<(), SyncError> {
        if batch.writes.is_empty() {
            return Ok(());
        }
        let expect: Vec<(String, Option<String>)> = batch
            .writes
            .keys()
            .filter(|key| !batch.unchecked.contains(*key))
            .map(|key| (key.clone(), self.seen.get(key).cloned().flatten()))
            .collect();
        let writes: Vec<StoreWrite> = batch
            .writes
            .iter()
            .map(|(key, value)| match value {
                Some(value) => StoreWrite::Put(key.clone(), value.clone()),
                None => StoreWrite::Delete(key.clone()),
            })
            .collect();
        caps.commit(&expect, &writes).map_err(|error| match error {
            StoreFailure::Conflict(key) => SyncError::Storage(format!(
                "`{key}` was changed by another writer during this cycle (another casebridge process on this org, or a retry from the command line); nothing was written and the next cycle does the work again"
            )),
            other => SyncError::from(other),
        })?;
        for (key, value) in batch.writes {
            self.seen.insert(key, value);
        }
        Ok(())
    }
}

/// Calls `visit` for every entry under `prefix`, in key order, splitting
/// the scan by the next key character when the host says one scan would be
/// too large. Keys under the connector's prefixes are ASCII.
pub fn for_each_entry(
    caps: &mut impl Capabilities,
    prefix: &str,
    visit: &mut dyn FnMut(String, String) -> Result<(), SyncError>,
) -> Result<(), SyncError> {
    /// Characters that can follow a prefix in the connector's keys: Ids and days.
    const KEY_CHARACTERS: &str = "-/0123456789:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
    /// Beyond this depth a prefix holds a single key's worth: give up splitting.
    const MAX_DEPTH: usize = 24;
    fn walk(
        caps: &mut impl Capabilities,
        prefix: &str,
        depth: usize,
        visit: &mut dyn FnMut(String, String) -> Result<(), SyncError>,
    ) -> Result<(), SyncError> {
        match caps.scan(prefix) {
            Ok(entries) => {
                for (key, value) in entries {
                    visit(key, value)?;
                }
                Ok(())
            }
            Err(StoreFailure::TooLarge(_)) if depth < MAX_DEPTH => {
                // The exact key `prefix` itself, then every longer key by its next character.
                if let Some(value) = caps.get(prefix)? {
                    visit(prefix.to_string(), value)?;
                }
                for next in KEY_CHARACTERS.chars() {
                    walk(caps, &format!("{prefix}{next}"), depth + 1, visit)?;
                }
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }
    walk(caps, prefix, 0, visit)
}

/// Changes gathered during a cycle and committed together.
#[derive(Debug, Default)]
pub struct Batch {
    writes: BTreeMap<String, Option<String>>,
    unchecked: BTreeSet<String>,
}

impl Batch {
    /// Stage a write whose key is owned by nobody else (an error record):
    /// committed without an expectation.
    pub fn put_unchecked<T: Serialize>(&mut self, key: String, value: &T) {
        let text = serde_json::to_string(value).unwrap_or_default();
        self.unchecked.insert(key.clone());
        self.writes.insert(key, Some(text));
    }

    /// Stage the removal of a key owned by nobody else.
    pub fn delete_unchecked(&mut self, key: String) {
        self.unchecked.insert(key.clone());
        self.writes.insert(key, None);
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Whether the batch writes `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.writes.contains_key(key)
    }
}

/// Load an object's stored catalog.
pub fn load_catalog(
    view: &mut StateView,
    caps: &mut impl Capabilities,
    object: &str,
) -> Result<Option<ObjectCatalog>, SyncError> {
    view.load(caps, &catalog_key(object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::testing::MemoryHost;

    #[test]
    fn a_commit_expects_what_the_cycle_read_and_a_second_writer_makes_it_write_nothing() {
        let mut host = MemoryHost::default();
        host.store.insert("poll".into(), "1".into());
        let mut view = StateView::default();
        assert_eq!(view.load::<u32>(&mut host, "poll").unwrap(), Some(1));
        // Another writer moves the key after this cycle read it.
        host.store.insert("poll".into(), "2".into());
        let mut batch = Batch::default();
        view.put(&mut batch, "poll".into(), &3u32);
        view.put(&mut batch, "conv/x".into(), &"new");
        let error = view.commit(&mut host, batch).unwrap_err();
        assert!(matches!(&error, SyncError::Storage(m) if m.contains("another writer")), "{error:?}");
        assert_eq!(host.store.get("poll").map(String::as_str), Some("2"));
        assert!(!host.store.contains_key("conv/x"), "nothing of the batch was written");
    }

    #[test]
    fn unchanged_values_are_not_written_and_later_commits_expect_the_cycles_own_writes() {
        let mut host = MemoryHost::default();
        let mut view = StateView::default();
        let mut batch = Batch::default();
        view.put(&mut batch, "hot".into(), &1u32);
        view.commit(&mut host, batch).unwrap();
        let mut batch = Batch::default();
        view.put(&mut batch, "hot".into(), &1u32);
        assert!(batch.is_empty(), "the same value is not written again");
        view.put(&mut batch, "hot".into(), &2u32);
        view.commit(&mut host, batch).unwrap();
        assert_eq!(host.commits.last(), Some(&vec!["hot".to_string()]));
    }

    #[test]
    fn a_prefix_too_large_for_one_scan_is_read_in_parts() {
        struct Limited(MemoryHost);
        impl Capabilities for Limited {
            fn now(&self) -> Timestamp {
                0
            }
            fn get(&mut self, key: &str) -> Result<Option<String>, StoreFailure> {
                self.0.get(key)
            }
            fn scan(&mut self, prefix: &str) -> Result<Vec<(String, String)>, StoreFailure> {
                let entries = self.0.scan(prefix)?;
                if entries.len() > 3 { Err(StoreFailure::TooLarge(prefix.into())) } else { Ok(entries) }
            }
            fn commit(&mut self, e: &[(String, Option<String>)], w: &[StoreWrite]) -> Result<(), StoreFailure> {
                self.0.commit(e, w)
            }
            fn respond(
                &mut self,
                c: &Conversation,
            ) -> Result<crate::capabilities::AgentTurn, crate::capabilities::HostFailure> {
                self.0.respond(c)
            }
            fn send_mail(
                &mut self,
                k: &str,
                m: &crate::capabilities::OutgoingEmail,
            ) -> Result<crate::capabilities::SentEmail, crate::capabilities::HostFailure> {
                self.0.send_mail(k, m)
            }
            fn log(&mut self, l: crate::capabilities::LogLevel, m: &str, f: &[(&str, &str)]) {
                self.0.log(l, m, f)
            }
        }
        let mut host = Limited(MemoryHost::default());
        for i in 0..20 {
            host.0.store.insert(format!("summary/500{i:02}"), "{}".into());
        }
        host.0.store.insert("summary0".into(), "{}".into());
        let mut keys = Vec::new();
        for_each_entry(&mut host, SUMMARY_PREFIX, &mut |key, _| {
            keys.push(key);
            Ok(())
        })
        .unwrap();
        assert_eq!(keys.len(), 20);
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "in key order");
    }
}
