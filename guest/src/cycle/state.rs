//! What the connector keeps between cycles, and where it keeps it.
//!
//! Keys in the org's namespace:
//!
//! | key                       | value                                              |
//! |---------------------------|----------------------------------------------------|
//! | `watermark`               | [`Watermark`]: how far the poll has read            |
//! | `case/<case id>`          | [`CaseState`]: the conversation and its facts       |
//! | `outbox/<case id>/<seq>`  | [`OutboxEntry`]: a reply recorded before it is sent |
//! | `catalog/<object>`        | the object's field catalog                          |
//! | `error/<id>`              | [`StoredError`]: a failed write kept for retry      |
//! | `usage/<YYYY-MM-DD>`      | API calls spent that UTC day                        |
//! | `topics`                  | topic name → Topic Id                               |
//!
//! Every cycle's changes are committed in one atomic batch, so a crash leaves
//! either the state before the cycle or after it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::capabilities::{Capabilities, StoreWrite};
use crate::model::{Conversation, ObjectCatalog, ResolutionState, Timestamp};
use crate::resolution::Event;

use super::SyncError;

pub const WATERMARK_KEY: &str = "watermark";
pub const TOPICS_KEY: &str = "topics";

pub fn case_key(case_id: &str) -> String {
    format!("case/{case_id}")
}

pub fn outbox_key(case_id: &str, seq: u32) -> String {
    format!("outbox/{case_id}/{seq:06}")
}

pub fn catalog_key(object: &str) -> String {
    format!("catalog/{object}")
}

pub fn error_key(id: &str) -> String {
    format!("error/{id}")
}

pub fn usage_key(day: &str) -> String {
    format!("usage/{day}")
}

/// How far the poll has read: the newest `SystemModstamp` / `CreatedDate` seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// None before the first successful poll.
    pub read_through: Option<Timestamp>,
}

/// One known case and its conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseState {
    pub conversation: Conversation,
    /// Whether the agent owns the case now (a session is open).
    pub in_session: bool,
    /// The `SystemModstamp` of the case version last processed.
    pub last_modstamp: Timestamp,
    /// The facts the resolution state is decided from, this session.
    pub events: Vec<Event>,
    /// Parts the agent has already taken its turn after (by part id).
    pub answered_through: Option<String>,
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
    /// The next outbox sequence number for this case.
    pub next_outbox_seq: u32,
    /// The email address replies go to, for email-origin cases.
    pub reply_to: Option<String>,
    /// The `Message-ID` of the customer's last email, to keep the thread.
    pub last_message_id: Option<String>,
    pub updated_at: Timestamp,
}

/// How a reply is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplyKind {
    CaseComment,
    FeedPost,
    Email,
}

/// Where an outbox entry stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboxStatus {
    /// Recorded, not yet confirmed written.
    Pending,
    /// Written; the Salesforce Id of the record.
    Sent(String),
    /// Salesforce refused it; kept as an error for retry.
    Failed(String),
}

/// A reply recorded before it is sent, so none is posted twice and none is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub case_id: String,
    pub seq: u32,
    pub kind: ReplyKind,
    pub body: String,
    /// For email replies.
    pub email_to: Option<String>,
    pub email_subject: Option<String>,
    pub in_reply_to: Option<String>,
    pub created_at: Timestamp,
    pub status: OutboxStatus,
    /// The email as sent by the host, once it was (email replies only).
    pub sent_email: Option<SentRecord>,
}

/// What the host reported for a sent email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRecord {
    pub from_address: String,
    pub message_id: String,
    pub sent_at: Timestamp,
}

impl OutboxEntry {
    pub fn key(&self) -> String {
        outbox_key(&self.case_id, self.seq)
    }

    /// The idempotency key for mail: unique per org, case and entry.
    pub fn idempotency_key(&self, org: &str) -> String {
        format!("{org}:{}:{}", self.case_id, self.seq)
    }
}

/// A failed write kept until it is retried.
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
    /// The outbox entry to re-queue on retry, if the failed write was a reply.
    pub outbox_key: Option<String>,
}

/// API calls spent on one UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyUsage {
    pub calls: u32,
}

/// Read and decode one stored value.
pub fn load<T: serde::de::DeserializeOwned>(caps: &mut impl Capabilities, key: &str) -> Result<Option<T>, SyncError> {
    match caps.get(key)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| SyncError::Storage(format!("stored value `{key}` cannot be read: {e}"))),
    }
}

/// Read and decode every value under a prefix.
pub fn load_all<T: serde::de::DeserializeOwned>(
    caps: &mut impl Capabilities,
    prefix: &str,
) -> Result<Vec<(String, T)>, SyncError> {
    caps.scan(prefix)?
        .into_iter()
        .map(|(key, text)| {
            serde_json::from_str(&text)
                .map(|value| (key.clone(), value))
                .map_err(|e| SyncError::Storage(format!("stored value `{key}` cannot be read: {e}")))
        })
        .collect()
}

/// Changes gathered during a cycle and committed together.
#[derive(Debug, Default)]
pub struct Batch {
    writes: BTreeMap<String, Option<String>>,
}

impl Batch {
    pub fn put<T: Serialize>(&mut self, key: String, value: &T) {
        // Serializing our own plain data types cannot fail.
        let text = serde_json::to_string(value).unwrap_or_default();
        self.writes.insert(key, Some(text));
    }

    pub fn delete(&mut self, key: String) {
        self.writes.insert(key, None);
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Commit everything gathered so far in one atomic write, and start afresh.
    pub fn commit(&mut self, caps: &mut impl Capabilities) -> Result<(), SyncError> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let writes: Vec<StoreWrite> = std::mem::take(&mut self.writes)
            .into_iter()
            .map(|(key, value)| match value {
                Some(value) => StoreWrite::Put(key, value),
                None => StoreWrite::Delete(key),
            })
            .collect();
        caps.commit(&[], &writes)?;
        Ok(())
    }
}

/// Load an object's stored catalog.
pub fn load_catalog(caps: &mut impl Capabilities, object: &str) -> Result<Option<ObjectCatalog>, SyncError> {
    load(caps, &catalog_key(object))
}
