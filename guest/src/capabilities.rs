//! What the host gives the connector, as plain Rust: the clock, storage, the
//! agent, mail and logs. In the component these are the WIT imports; in native
//! tests they are doubles.

use crate::model::{Attribute, Conversation, ConversationPart, Timestamp};
use crate::platform::{
    AttributeDefinition, CaseConversation, ChangePage, Company, Person, PlatformAttribute, PlatformConversation,
    PlatformFailure, SalesforceLink, Teammate,
};

/// Why a storage call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreFailure {
    #[error("the stored value of `{0}` changed during the cycle")]
    Conflict(String),
    #[error("a stored value is too large: {0}")]
    TooLarge(String),
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
}

/// One change inside an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreWrite {
    Put(String, String),
    Delete(String),
}

/// The agent's decision.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentAction {
    Answer(String),
    Ask(String),
    HandOff(String),
    Solved(Option<String>),
}

/// The agent's turn.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentTurn {
    pub action: AgentAction,
    pub detected: Vec<Attribute>,
}

/// One value attribute detection may choose, with what the admin wrote about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedValue {
    pub value: String,
    pub label: String,
    pub description: String,
}

/// A list field whose value the agent is asked to detect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionField {
    pub field: String,
    pub label: String,
    /// A multi-select: several values may be chosen.
    pub multiple: bool,
    /// Its active values that have a description.
    pub values: Vec<DescribedValue>,
}

/// An email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub text_body: String,
    pub in_reply_to: Option<String>,
}

/// What the host sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    pub from_address: String,
    pub message_id: String,
}

/// Why the agent or mail failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostFailure {
    /// Retrying later may help.
    #[error("{0}")]
    Unavailable(String),
    /// Retrying will not help.
    #[error("{0}")]
    Rejected(String),
}

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// The host, as the connector uses it.
pub trait Capabilities {
    /// Now, in milliseconds since the Unix epoch.
    fn now(&self) -> Timestamp;
    /// Read one key of this org's namespace.
    fn get(&mut self, key: &str) -> Result<Option<String>, StoreFailure>;
    /// Read every key starting with `prefix`, in key order.
    fn scan(&mut self, prefix: &str) -> Result<Vec<(String, String)>, StoreFailure>;
    /// Apply `writes` atomically if every `(key, value)` expectation holds.
    fn commit(&mut self, expect: &[(String, Option<String>)], writes: &[StoreWrite]) -> Result<(), StoreFailure>;
    /// Ask the agent for its turn.
    fn respond(&mut self, conversation: &Conversation) -> Result<AgentTurn, HostFailure>;
    /// Attribute detection (A11): for each field, the value (or values) whose
    /// description fits the conversation, as attributes named by the field.
    fn detect(
        &mut self,
        _conversation: &Conversation,
        _fields: &[DetectionField],
    ) -> Result<Vec<Attribute>, HostFailure> {
        Err(HostFailure::Unavailable("this host has no attribute detection".into()))
    }
    /// Send an email once per idempotency key.
    fn send_mail(&mut self, idempotency_key: &str, email: &OutgoingEmail) -> Result<SentEmail, HostFailure>;
    /// Write a log line (never with secrets).
    fn log(&mut self, level: LogLevel, message: &str, fields: &[(&str, &str)]);

    // The platform's records (the `platform` import). A host without them
    // answers `Unavailable`, which is what these defaults do.

    /// The attributes the platform defines.
    fn list_attributes(&mut self) -> Result<Vec<AttributeDefinition>, PlatformFailure> {
        Err(no_platform())
    }
    /// One person by platform id.
    fn get_person(&mut self, _id: &str) -> Result<Option<Person>, PlatformFailure> {
        Err(no_platform())
    }
    /// The people whose `attribute` holds `value`.
    fn find_people(&mut self, _attribute: &str, _value: &str) -> Result<Vec<Person>, PlatformFailure> {
        Err(no_platform())
    }
    /// The people linked to a Contact or Lead.
    fn find_linked_people(&mut self, _link: &SalesforceLink) -> Result<Vec<Person>, PlatformFailure> {
        Err(no_platform())
    }
    /// One company by platform id.
    fn get_company(&mut self, _id: &str) -> Result<Option<Company>, PlatformFailure> {
        Err(no_platform())
    }
    /// The companies whose `attribute` holds `value`.
    fn find_companies(&mut self, _attribute: &str, _value: &str) -> Result<Vec<Company>, PlatformFailure> {
        Err(no_platform())
    }
    /// The change feed after `cursor`.
    fn changes(&mut self, _cursor: Option<&str>, _limit: u32) -> Result<ChangePage, PlatformFailure> {
        Err(no_platform())
    }
    /// Set a person's attributes.
    fn set_person_attributes(&mut self, _id: &str, _attributes: &[PlatformAttribute]) -> Result<(), PlatformFailure> {
        Err(no_platform())
    }
    /// Link a person to a Contact or Lead, or unlink.
    fn link_person(&mut self, _id: &str, _link: Option<&SalesforceLink>) -> Result<(), PlatformFailure> {
        Err(no_platform())
    }
    /// Set a company's attributes.
    fn set_company_attributes(&mut self, _id: &str, _attributes: &[PlatformAttribute]) -> Result<(), PlatformFailure> {
        Err(no_platform())
    }
    /// Link a company to an Account, or unlink.
    fn link_company(&mut self, _id: &str, _account_id: Option<&str>) -> Result<(), PlatformFailure> {
        Err(no_platform())
    }
    /// Create or update a case's platform conversation; its platform id.
    fn upsert_case_conversation(&mut self, _conversation: &CaseConversation) -> Result<String, PlatformFailure> {
        Err(no_platform())
    }
    /// One conversation by platform id.
    fn get_conversation(&mut self, _id: &str) -> Result<Option<PlatformConversation>, PlatformFailure> {
        Err(no_platform())
    }
    /// Every teammate.
    fn list_teammates(&mut self) -> Result<Vec<Teammate>, PlatformFailure> {
        Err(no_platform())
    }
    /// Add an internal note once per key; the note's id.
    fn add_note(&mut self, _conversation_id: &str, _key: &str, _text: &str) -> Result<String, PlatformFailure> {
        Err(no_platform())
    }
    /// Add a part the customer sees, once per part id; true when this call added it.
    fn post_part(&mut self, _conversation_id: &str, _part: &ConversationPart) -> Result<bool, PlatformFailure> {
        Err(no_platform())
    }
    /// A platform file's bytes by an attachment's content path.
    fn read_file(&mut self, _content_path: &str) -> Result<Vec<u8>, PlatformFailure> {
        Err(no_platform())
    }
}

fn no_platform() -> PlatformFailure {
    PlatformFailure::Unavailable("this host keeps no platform records".into())
}

/// A host for native tests: an in-memory store with the host's
/// compare-and-swap semantics, an agent that answers from a script, mail
/// that records, and a fixed clock.
#[cfg(test)]
pub mod testing {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, Default)]
    pub struct MemoryHost {
        pub store: BTreeMap<String, String>,
        pub now: Timestamp,
        /// Turns to give, in order; when empty the agent is unavailable.
        pub turns: Vec<AgentTurn>,
        /// Conversations the agent was shown.
        pub asked: Vec<Conversation>,
        pub mailed: Vec<(String, OutgoingEmail)>,
        pub logs: Vec<String>,
        /// Commits that carried expectations, as the keys they expected.
        pub commits: Vec<Vec<String>>,
        /// What attribute detection returns; none: it is unavailable.
        pub detected: Option<Vec<Attribute>>,
        /// The fields detection was asked about.
        pub detection_asked: Vec<Vec<DetectionField>>,
    }

    impl Capabilities for MemoryHost {
        fn now(&self) -> Timestamp {
            self.now
        }

        fn get(&mut self, key: &str) -> Result<Option<String>, StoreFailure> {
            Ok(self.store.get(key).cloned())
        }

        fn scan(&mut self, prefix: &str) -> Result<Vec<(String, String)>, StoreFailure> {
            Ok(self
                .store
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect())
        }

        fn commit(&mut self, expect: &[(String, Option<String>)], writes: &[StoreWrite]) -> Result<(), StoreFailure> {
            for (key, value) in expect {
                if self.store.get(key) != value.as_ref() {
                    return Err(StoreFailure::Conflict(key.clone()));
                }
            }
            self.commits.push(expect.iter().map(|(k, _)| k.clone()).collect());
            for write in writes {
                match write {
                    StoreWrite::Put(key, value) => {
                        self.store.insert(key.clone(), value.clone());
                    }
                    StoreWrite::Delete(key) => {
                        self.store.remove(key);
                    }
                }
            }
            Ok(())
        }

        fn respond(&mut self, conversation: &Conversation) -> Result<AgentTurn, HostFailure> {
            self.asked.push(conversation.clone());
            if self.turns.is_empty() {
                return Err(HostFailure::Unavailable("no scripted turn".into()));
            }
            Ok(self.turns.remove(0))
        }

        fn detect(
            &mut self,
            _conversation: &Conversation,
            fields: &[DetectionField],
        ) -> Result<Vec<Attribute>, HostFailure> {
            self.detection_asked.push(fields.to_vec());
            self.detected.clone().ok_or_else(|| HostFailure::Unavailable("no scripted detection".into()))
        }

        fn send_mail(&mut self, idempotency_key: &str, email: &OutgoingEmail) -> Result<SentEmail, HostFailure> {
            self.mailed.push((idempotency_key.to_string(), email.clone()));
            Ok(SentEmail {
                from_address: "support@example.com".into(),
                message_id: format!("<{idempotency_key}@example.com>"),
            })
        }

        fn log(&mut self, _level: LogLevel, message: &str, _fields: &[(&str, &str)]) {
            self.logs.push(message.to_string());
        }
    }
}
