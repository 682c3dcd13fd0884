//! The bundled host's support platform (E9): its people, leads, companies,
//! teammates and conversations in the host's database, the `platform`
//! import the connector reads and writes them through, and a local JSON API
//! ([`api`]) for a support platform to push and read them.
//!
//! ```no_run
//! # fn example(store: std::sync::Arc<casebridge::storage::Store>) -> Result<(), Box<dyn std::error::Error>> {
//! use casebridge::platform::{PersonPatch, StorePlatform};
//! let platform = StorePlatform(store);
//! let ann = PersonPatch { email: Some(Some("ann@example.com".into())), ..PersonPatch::default() };
//! platform.put_person("acme", "p1", ann, false, chrono::Utc::now().timestamp_millis())?;
//! # Ok(()) }
//! ```
//!
//! Each record is kept as the JSON of its contract type; a write checks its
//! attributes against the platform's attribute definitions and records a
//! change-feed entry, `by_connector` when it came through the import.

pub mod api;
pub mod cli;
pub mod crm;
pub mod crm_cli;

use std::sync::Arc;

use crate::runtime::Platform;
use crate::runtime::bindings::platform::{
    AttributeDefinition, AttributeKind, CaseConversation, Change, ChangePage, Company, ConversationState, Note, Person,
    PersonRole, PlatformAttribute, PlatformConversation, PlatformError, RecordKind, SalesforceLink, Teammate,
    ValueType,
};
use crate::runtime::bindings::types::{AttributeValue, Channel, ConversationPart};
use crate::storage::Store;
use crate::storage::platform::{FindBy, Lookup, ModifyError, RecordRow};

/// The most records a find returns, as `platform.wit` says.
pub const FIND_LIMIT: u32 = 50;
/// The longest id the platform accepts, in bytes.
pub const MAX_ID_BYTES: usize = 255;

/// `[api]`: the local JSON API for the support platform.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Whether `casebridge run` serves it.
    pub enabled: bool,
    /// The address it listens on; loopback unless the admin writes another.
    pub listen: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { enabled: true, listen: "127.0.0.1:8710".into() }
    }
}

impl ApiConfig {
    /// The problem with `listen`, if any.
    pub fn problem(&self) -> Option<String> {
        self.listen.parse::<std::net::SocketAddr>().err().map(|_| {
            format!(
                "`{}` is not an address to listen on; write an IP address and a port, e.g. \"127.0.0.1:8710\"",
                self.listen
            )
        })
    }
}

/// Why a write was refused: which field and why, for a person to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Refusal {
    pub field: String,
    pub message: String,
}

impl Refusal {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Refusal {
        Refusal { field: field.into(), message: message.into() }
    }
}

/// Why a platform call failed.
#[derive(Debug, thiserror::Error)]
pub enum PlatformFailure {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("{0}")]
    Unreadable(String),
}

impl From<ModifyError<Refusal>> for PlatformFailure {
    fn from(error: ModifyError<Refusal>) -> Self {
        match error {
            ModifyError::Storage(e) => PlatformFailure::Storage(e),
            ModifyError::Refused(r) => PlatformFailure::Refused(r),
        }
    }
}

impl From<PlatformFailure> for PlatformError {
    fn from(error: PlatformFailure) -> Self {
        match error {
            PlatformFailure::Refused(refusal) => PlatformError::Invalid(refusal.to_string()),
            PlatformFailure::NotFound(what) => PlatformError::NotFound(what),
            PlatformFailure::Storage(e) => PlatformError::Unavailable(e.to_string()),
            PlatformFailure::Unreadable(why) => PlatformError::Unavailable(why),
        }
    }
}

/// Changes to a person: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonPatch {
    pub role: Option<PersonRole>,
    pub name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub company_id: Option<Option<String>>,
    pub owner_id: Option<Option<String>>,
    /// Merged by name; a `null` value removes the attribute.
    pub attributes: Vec<PlatformAttribute>,
    pub salesforce: Option<Option<SalesforceLink>>,
}

/// Changes to a company, as [`PersonPatch`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompanyPatch {
    pub name: Option<Option<String>>,
    pub attributes: Vec<PlatformAttribute>,
    pub account_id: Option<Option<String>>,
}

/// Changes to a conversation, as [`PersonPatch`]; parts are added by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationPatch {
    pub channel: Option<Channel>,
    pub state: Option<ConversationState>,
    pub person_id: Option<Option<String>>,
    pub assignee_id: Option<Option<String>>,
    pub subject: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub attributes: Vec<PlatformAttribute>,
    pub parts: Vec<ConversationPart>,
    pub case_id: Option<String>,
}

/// Where the attachments of messenger files point: `messenger/files/<id>`.
pub const MESSENGER_FILES: &str = "messenger/files/";

const PERSON: &str = "person";
const COMPANY: &str = "company";
const TEAMMATE: &str = "teammate";
const CONVERSATION: &str = "conversation";
const ATTRIBUTE: &str = "attribute";

fn entity_name(entity: RecordKind) -> &'static str {
    match entity {
        RecordKind::Person => PERSON,
        RecordKind::Company => COMPANY,
        RecordKind::Conversation => CONVERSATION,
    }
}

fn decode<T: serde::de::DeserializeOwned>(row: &RecordRow) -> Result<T, PlatformFailure> {
    serde_json::from_str(&row.body).map_err(|e| {
        PlatformFailure::Unreadable(format!("the stored platform record `{}` cannot be read: {e}", row.id))
    })
}

fn encode<T: serde::Serialize>(value: &T) -> String {
    // The contract's own types always serialize.
    serde_json::to_string(value).unwrap_or_default()
}

/// An id the platform accepts: 1 to 255 bytes, no control characters.
pub fn check_id(field: &str, id: &str) -> Result<(), Refusal> {
    if id.is_empty() || id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) {
        return Err(Refusal::new(field, format!("must be 1 to {MAX_ID_BYTES} bytes without control characters")));
    }
    Ok(())
}

/// Whether a value is of a type (`null` is of every type).
pub fn value_fits(value: &AttributeValue, value_type: ValueType) -> bool {
    matches!(
        (value, value_type),
        (AttributeValue::Null, _)
            | (AttributeValue::Text(_), ValueType::Text)
            | (AttributeValue::Boolean(_), ValueType::Boolean)
            | (AttributeValue::Integer(_), ValueType::Integer)
            | (AttributeValue::Decimal(_) | AttributeValue::Integer(_), ValueType::Decimal)
            | (AttributeValue::Date(_), ValueType::Date)
            | (AttributeValue::Datetime(_), ValueType::Datetime)
            | (AttributeValue::Time(_), ValueType::Time)
            | (AttributeValue::List(_), ValueType::List)
            | (AttributeValue::Compound(_), ValueType::Compound)
    )
}

/// A type with its article, for messages: "an integer value", "a date value".
pub fn described(value_type: ValueType) -> String {
    let name = type_name(value_type);
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {name} value")
}

/// The word for a type in messages.
pub fn type_name(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Text => "text",
        ValueType::Boolean => "boolean",
        ValueType::Integer => "integer",
        ValueType::Decimal => "decimal",
        ValueType::Date => "date",
        ValueType::Datetime => "datetime",
        ValueType::Time => "time",
        ValueType::List => "list",
        ValueType::Compound => "compound",
    }
}

/// Merge `changes` into `attributes`: by name, `null` removes.
fn merge(attributes: &mut Vec<PlatformAttribute>, changes: Vec<PlatformAttribute>) {
    for change in changes {
        attributes.retain(|a| a.name != change.name);
        if change.value != AttributeValue::Null {
            attributes.push(change);
        }
    }
}

/// The support platform's records over the host's SQLite store. Its
/// blocking methods serve the API and the CLI; the [`Platform`] trait (the
/// connector's import) runs them off the async workers.
#[derive(Clone)]
pub struct StorePlatform(pub Arc<Store>);

impl StorePlatform {
    /// Every attribute definition of `org`.
    pub fn attributes(&self, org: &str) -> Result<Vec<AttributeDefinition>, PlatformFailure> {
        let rows = self.0.platform_list(org, ATTRIBUTE, None, u32::MAX)?;
        rows.iter().map(decode).collect()
    }

    /// Define (or redefine) an attribute.
    pub fn define_attribute(
        &self,
        org: &str,
        definition: AttributeDefinition,
        now: i64,
    ) -> Result<(), PlatformFailure> {
        check_id("name", &definition.name)?;
        if matches!(definition.name.as_str(), "id" | "name" | "email") {
            return Err(
                Refusal::new("name", format!("`{}` is built in; it needs no definition", definition.name)).into()
            );
        }
        let id = format!("{}/{}", entity_name(definition.entity), definition.name);
        let body = encode(&definition);
        self.0.platform_modify::<(), Refusal>(org, ATTRIBUTE, &id, false, now, |_| {
            Ok(Some((Lookup::default(), body, ())))
        })?;
        Ok(())
    }

    /// Check attributes of `entity` against the definitions.
    fn check_attributes(
        &self,
        org: &str,
        entity: RecordKind,
        attributes: &[PlatformAttribute],
    ) -> Result<(), PlatformFailure> {
        if attributes.is_empty() {
            return Ok(());
        }
        let definitions = self.attributes(org)?;
        for attribute in attributes {
            let field = format!("attributes.{}", attribute.name);
            let Some(definition) = definitions.iter().find(|d| d.entity == entity && d.name == attribute.name) else {
                return Err(Refusal::new(
                    field,
                    format!(
                        "no {} attribute `{}` is defined; define it first (PUT /attributes/{}/{})",
                        entity_name(entity),
                        attribute.name,
                        entity_name(entity),
                        attribute.name
                    ),
                )
                .into());
            };
            if !value_fits(&attribute.value, definition.value_type) {
                return Err(Refusal::new(field, format!("must be {}", described(definition.value_type))).into());
            }
            let allowed = |v: &String| definition.options.is_empty() || definition.options.contains(v);
            let outside = match &attribute.value {
                AttributeValue::Text(v) if !allowed(v) => Some(v.clone()),
                AttributeValue::List(vs) => vs.iter().find(|v| !allowed(v)).cloned(),
                _ => None,
            };
            if let Some(value) = outside {
                return Err(
                    Refusal::new(field, format!("`{value}` is not one of {}", definition.options.join(", "))).into()
                );
            }
        }
        Ok(())
    }

    pub fn person(&self, org: &str, id: &str) -> Result<Option<Person>, PlatformFailure> {
        self.0.platform_get(org, PERSON, id)?.as_ref().map(decode).transpose()
    }

    /// Create or change a person; returns it as stored.
    pub fn put_person(
        &self,
        org: &str,
        id: &str,
        patch: PersonPatch,
        by_connector: bool,
        now: i64,
    ) -> Result<Person, PlatformFailure> {
        check_id("id", id)?;
        let mut patch = patch;
        // `name` and `email` are the person's own fields.
        let mut attributes = Vec::new();
        for attribute in std::mem::take(&mut patch.attributes) {
            match (attribute.name.as_str(), &attribute.value) {
                ("name" | "email", AttributeValue::Text(text)) => {
                    let value = Some(Some(text.clone()).filter(|t| !t.is_empty()));
                    if attribute.name == "name" { patch.name = value } else { patch.email = value }
                }
                ("name" | "email", AttributeValue::Null) => {
                    if attribute.name == "name" {
                        patch.name = Some(None)
                    } else {
                        patch.email = Some(None)
                    }
                }
                ("name" | "email", _) => return Err(Refusal::new(attribute.name, "must be text").into()),
                _ => attributes.push(attribute),
            }
        }
        self.check_attributes(org, RecordKind::Person, &attributes)?;
        let stored = self.0.platform_modify(org, PERSON, id, by_connector, now, |current| {
            let mut person: Person = match current {
                Some(body) => serde_json::from_str(body)
                    .map_err(|e| Refusal::new("id", format!("stored record unreadable: {e}")))?,
                None => Person {
                    id: id.to_string(),
                    role: PersonRole::User,
                    name: None,
                    email: None,
                    company_id: None,
                    owner_id: None,
                    attributes: Vec::new(),
                    salesforce: None,
                    updated_at: now,
                },
            };
            let before = encode(&person);
            if let Some(role) = patch.role {
                person.role = role;
            }
            for (field, value) in [
                (&mut person.name, patch.name),
                (&mut person.email, patch.email),
                (&mut person.company_id, patch.company_id),
                (&mut person.owner_id, patch.owner_id),
            ] {
                if let Some(value) = value {
                    *field = value;
                }
            }
            merge(&mut person.attributes, attributes);
            if let Some(link) = patch.salesforce {
                person.salesforce = link;
            }
            if encode(&person) != before || current.is_none() {
                person.updated_at = now;
            }
            let lookup = Lookup {
                email: person.email.clone(),
                salesforce_id: person.salesforce.as_ref().map(|l| l.id.clone()),
                name: person.name.clone(),
                case_id: None,
            };
            Ok(Some((lookup, encode(&person), person)))
        })?;
        stored.ok_or_else(|| PlatformFailure::NotFound(format!("person `{id}`")))
    }

    pub fn company(&self, org: &str, id: &str) -> Result<Option<Company>, PlatformFailure> {
        self.0.platform_get(org, COMPANY, id)?.as_ref().map(decode).transpose()
    }

    /// Create or change a company; returns it as stored.
    pub fn put_company(
        &self,
        org: &str,
        id: &str,
        patch: CompanyPatch,
        by_connector: bool,
        now: i64,
    ) -> Result<Company, PlatformFailure> {
        check_id("id", id)?;
        let mut patch = patch;
        let mut attributes = Vec::new();
        for attribute in std::mem::take(&mut patch.attributes) {
            match (attribute.name.as_str(), &attribute.value) {
                ("name", AttributeValue::Text(text)) => patch.name = Some(Some(text.clone()).filter(|t| !t.is_empty())),
                ("name", AttributeValue::Null) => patch.name = Some(None),
                ("name", _) => return Err(Refusal::new("name", "must be text").into()),
                _ => attributes.push(attribute),
            }
        }
        self.check_attributes(org, RecordKind::Company, &attributes)?;
        let stored = self.0.platform_modify(org, COMPANY, id, by_connector, now, |current| {
            let mut company: Company = match current {
                Some(body) => serde_json::from_str(body)
                    .map_err(|e| Refusal::new("id", format!("stored record unreadable: {e}")))?,
                None => Company {
                    id: id.to_string(),
                    name: None,
                    attributes: Vec::new(),
                    account_id: None,
                    updated_at: now,
                },
            };
            let before = encode(&company);
            if let Some(name) = patch.name {
                company.name = name;
            }
            merge(&mut company.attributes, attributes);
            if let Some(account) = patch.account_id {
                company.account_id = account;
            }
            if encode(&company) != before || current.is_none() {
                company.updated_at = now;
            }
            let lookup =
                Lookup { salesforce_id: company.account_id.clone(), name: company.name.clone(), ..Lookup::default() };
            Ok(Some((lookup, encode(&company), company)))
        })?;
        stored.ok_or_else(|| PlatformFailure::NotFound(format!("company `{id}`")))
    }

    pub fn teammates(&self, org: &str) -> Result<Vec<Teammate>, PlatformFailure> {
        self.0.platform_list(org, TEAMMATE, None, u32::MAX)?.iter().map(decode).collect()
    }

    pub fn put_teammate(&self, org: &str, teammate: Teammate, now: i64) -> Result<(), PlatformFailure> {
        check_id("id", &teammate.id)?;
        if teammate.name.trim().is_empty() {
            return Err(Refusal::new("name", "is empty; give the teammate's name").into());
        }
        let lookup = Lookup { email: teammate.email.clone(), name: Some(teammate.name.clone()), ..Lookup::default() };
        let body = encode(&teammate);
        self.0.platform_modify::<(), Refusal>(org, TEAMMATE, &teammate.id.clone(), false, now, |_| {
            Ok(Some((lookup, body, ())))
        })?;
        Ok(())
    }

    pub fn conversation(&self, org: &str, id: &str) -> Result<Option<PlatformConversation>, PlatformFailure> {
        self.0.platform_get(org, CONVERSATION, id)?.as_ref().map(decode).transpose()
    }

    /// Create or change a conversation; returns it as stored.
    pub fn put_conversation(
        &self,
        org: &str,
        id: &str,
        patch: ConversationPatch,
        by_connector: bool,
        now: i64,
    ) -> Result<PlatformConversation, PlatformFailure> {
        check_id("id", id)?;
        self.check_attributes(org, RecordKind::Conversation, &patch.attributes)?;
        self.write_conversation(org, id, patch, by_connector, now)
    }

    /// Merge `patch` into the conversation and write it, unchecked.
    fn write_conversation(
        &self,
        org: &str,
        id: &str,
        patch: ConversationPatch,
        by_connector: bool,
        now: i64,
    ) -> Result<PlatformConversation, PlatformFailure> {
        let stored = self.0.platform_modify(org, CONVERSATION, id, by_connector, now, |current| {
            let mut conversation: PlatformConversation = match current {
                Some(body) => serde_json::from_str(body)
                    .map_err(|e| Refusal::new("id", format!("stored record unreadable: {e}")))?,
                None => PlatformConversation {
                    id: id.to_string(),
                    channel: patch.channel.unwrap_or(Channel::Messenger),
                    state: ConversationState::Open,
                    person_id: None,
                    assignee_id: None,
                    subject: None,
                    tags: Vec::new(),
                    attributes: Vec::new(),
                    parts: Vec::new(),
                    notes: Vec::new(),
                    case_id: None,
                    updated_at: now,
                },
            };
            let before = encode(&conversation);
            if let Some(channel) = patch.channel {
                conversation.channel = channel;
            }
            if let Some(state) = patch.state {
                conversation.state = state;
            }
            for (field, value) in [
                (&mut conversation.person_id, patch.person_id),
                (&mut conversation.assignee_id, patch.assignee_id),
                (&mut conversation.subject, patch.subject),
            ] {
                if let Some(value) = value {
                    *field = value;
                }
            }
            if let Some(tags) = patch.tags {
                conversation.tags = tags;
            }
            if patch.case_id.is_some() {
                conversation.case_id = patch.case_id;
            }
            merge(&mut conversation.attributes, patch.attributes);
            for part in patch.parts {
                if !conversation.parts.iter().any(|p| p.id == part.id) {
                    conversation.parts.push(part);
                }
            }
            conversation.parts.sort_by_key(|p| p.created_at);
            if encode(&conversation) != before || current.is_none() {
                conversation.updated_at = now;
            }
            let lookup = Lookup { case_id: conversation.case_id.clone(), ..Lookup::default() };
            Ok(Some((lookup, encode(&conversation), conversation)))
        })?;
        stored.ok_or_else(|| PlatformFailure::NotFound(format!("conversation `{id}`")))
    }

    /// Add a note to a conversation once per `key` (atomically with the
    /// key); its id, the same for the same key every time.
    pub fn add_note(
        &self,
        org: &str,
        conversation_id: &str,
        key: &str,
        text: &str,
        by_connector: bool,
        now: i64,
    ) -> Result<String, PlatformFailure> {
        use sha2::Digest as _;
        check_id("idempotency_key", key)?;
        let digest = sha2::Sha256::digest(key.as_bytes());
        let note_id: String =
            std::iter::once("note-".to_string()).chain(digest.iter().take(12).map(|b| format!("{b:02x}"))).collect();
        let note = Note { id: note_id.clone(), author_id: None, text: text.to_string(), created_at: now };
        let added = self.0.platform_add_note(org, conversation_id, key, &note_id, by_connector, now, |body| {
            let mut conversation: PlatformConversation = serde_json::from_str(body).ok()?;
            conversation.notes.push(note);
            conversation.updated_at = now;
            Some(encode(&conversation))
        })?;
        added.map(|(id, _)| id).ok_or_else(|| PlatformFailure::NotFound(format!("conversation `{conversation_id}`")))
    }

    /// Add a part to an existing conversation once per part id, as the
    /// connector's write; true when this call added it.
    pub fn post_part(
        &self,
        org: &str,
        conversation_id: &str,
        part: ConversationPart,
        now: i64,
    ) -> Result<bool, PlatformFailure> {
        check_id("id", &part.id)?;
        let Some(current) = self.conversation(org, conversation_id)? else {
            return Err(PlatformFailure::NotFound(format!("conversation `{conversation_id}`")));
        };
        if current.parts.iter().any(|p| p.id == part.id) {
            return Ok(false);
        }
        let patch = ConversationPatch { parts: vec![part], ..ConversationPatch::default() };
        self.write_conversation(org, conversation_id, patch, true, now)?;
        Ok(true)
    }

    /// A file the platform keeps, by the `content_path` of its attachment
    /// (`messenger/files/<id>`: a file a customer attached in the messenger).
    pub fn read_file(&self, org: &str, content_path: &str) -> Result<Vec<u8>, PlatformFailure> {
        let file = match content_path.strip_prefix(MESSENGER_FILES) {
            Some(id) => self.0.messenger_file(org, id)?,
            None => None,
        };
        file.map(|f| f.bytes).ok_or_else(|| PlatformFailure::NotFound(format!("file `{content_path}`")))
    }

    /// A page of `kind` records after `cursor`, decoded.
    pub fn list<T: serde::de::DeserializeOwned>(
        &self,
        org: &str,
        kind: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<T>, Option<String>), PlatformFailure> {
        let rows = self.0.platform_list(org, kind, cursor, limit + 1)?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        let next = if more { rows.last().map(|r| r.id.clone()) } else { None };
        Ok((rows.iter().map(decode).collect::<Result<_, _>>()?, next))
    }

    /// People with this email (case-insensitively).
    pub fn people_by_email(&self, org: &str, email: &str) -> Result<Vec<Person>, PlatformFailure> {
        self.0.platform_find(org, PERSON, FindBy::Email, email, FIND_LIMIT)?.iter().map(decode).collect()
    }

    /// The change feed after `cursor` (a sequence number as text; none: the start).
    pub fn changes(&self, org: &str, cursor: Option<&str>, limit: u32) -> Result<ChangePage, PlatformFailure> {
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => 0,
            Some(cursor) => cursor
                .parse::<i64>()
                .map_err(|_| Refusal::new("cursor", format!("`{cursor}` is not a cursor this feed gave")))?,
        };
        let (rows, more) = self.0.platform_changes(org, after, limit.clamp(1, 1000))?;
        let cursor = rows.last().map_or(after, |r| r.seq).to_string();
        let changes = rows
            .into_iter()
            .map(|row| Change {
                kind: match row.kind.as_str() {
                    PERSON => RecordKind::Person,
                    COMPANY => RecordKind::Company,
                    _ => RecordKind::Conversation,
                },
                id: row.record_id,
                by_connector: row.by_connector,
                changed_at: row.changed_at,
            })
            .collect();
        Ok(ChangePage { changes, cursor, more })
    }

    fn find_people(&self, org: &str, attribute: &str, value: &str) -> Result<Vec<Person>, PlatformFailure> {
        match attribute {
            "id" => Ok(self.person(org, value)?.into_iter().collect()),
            "email" => self.people_by_email(org, value),
            "name" => self.0.platform_find(org, PERSON, FindBy::Name, value, FIND_LIMIT)?.iter().map(decode).collect(),
            other => {
                // Any other attribute: a scan of the org's people (the platform's own
                // attributes are not indexed).
                let (people, _) = self.list::<Person>(org, PERSON, None, u32::MAX - 1)?;
                let wanted = AttributeValue::Text(value.to_string());
                let mut found: Vec<Person> = people
                    .into_iter()
                    .filter(|p| p.attributes.iter().any(|a| a.name == other && a.value == wanted))
                    .collect();
                found.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
                found.truncate(FIND_LIMIT as usize);
                Ok(found)
            }
        }
    }

    fn find_companies(&self, org: &str, attribute: &str, value: &str) -> Result<Vec<Company>, PlatformFailure> {
        match attribute {
            "id" => Ok(self.company(org, value)?.into_iter().collect()),
            "name" => self.0.platform_find(org, COMPANY, FindBy::Name, value, FIND_LIMIT)?.iter().map(decode).collect(),
            other => {
                let (companies, _) = self.list::<Company>(org, COMPANY, None, u32::MAX - 1)?;
                let wanted = AttributeValue::Text(value.to_string());
                Ok(companies
                    .into_iter()
                    .filter(|c| c.attributes.iter().any(|a| a.name == other && a.value == wanted))
                    .take(FIND_LIMIT as usize)
                    .collect())
            }
        }
    }

    fn upsert_case(&self, org: &str, case: CaseConversation, now: i64) -> Result<String, PlatformFailure> {
        let existing = self.0.platform_find(org, CONVERSATION, FindBy::CaseId, &case.case_id, 1)?;
        let id = existing.first().map_or_else(|| format!("case-{}", case.case_id), |row| row.id.clone());
        let patch = ConversationPatch {
            channel: Some(Channel::SalesforceCase),
            state: Some(case.state),
            person_id: case.person_id.map(Some),
            subject: Some(case.subject),
            attributes: case.attributes,
            parts: case.parts,
            case_id: Some(case.case_id),
            ..ConversationPatch::default()
        };
        // Case fields are the case's: they need no definition on the platform.
        self.write_conversation(org, &id, patch, true, now)?;
        Ok(id)
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs a blocking platform call off the async workers.
async fn off_the_workers<T: Send + 'static>(
    platform: &StorePlatform,
    call: impl FnOnce(&StorePlatform) -> Result<T, PlatformFailure> + Send + 'static,
) -> Result<T, PlatformError> {
    let platform = platform.clone();
    match tokio::task::spawn_blocking(move || call(&platform)).await {
        Ok(result) => result.map_err(PlatformError::from),
        Err(failed) => Err(PlatformError::Unavailable(format!("the platform call failed on its thread: {failed}"))),
    }
}

#[async_trait::async_trait]
impl Platform for StorePlatform {
    async fn list_attributes(&self, org: &str) -> Result<Vec<AttributeDefinition>, PlatformError> {
        let org = org.to_string();
        off_the_workers(self, move |p| p.attributes(&org)).await
    }

    async fn get_person(&self, org: &str, id: &str) -> Result<Option<Person>, PlatformError> {
        let (org, id) = (org.to_string(), id.to_string());
        off_the_workers(self, move |p| p.person(&org, &id)).await
    }

    async fn find_people(&self, org: &str, attribute: &str, value: &str) -> Result<Vec<Person>, PlatformError> {
        let (org, attribute, value) = (org.to_string(), attribute.to_string(), value.to_string());
        off_the_workers(self, move |p| p.find_people(&org, &attribute, &value)).await
    }

    async fn find_linked_people(&self, org: &str, link: &SalesforceLink) -> Result<Vec<Person>, PlatformError> {
        let (org, link) = (org.to_string(), link.clone());
        off_the_workers(self, move |p| {
            let rows = p.0.platform_find(&org, PERSON, FindBy::SalesforceId, &link.id, FIND_LIMIT)?;
            let people: Vec<Person> = rows.iter().map(decode).collect::<Result<_, _>>()?;
            Ok(people.into_iter().filter(|person| person.salesforce.as_ref() == Some(&link)).collect())
        })
        .await
    }

    async fn get_company(&self, org: &str, id: &str) -> Result<Option<Company>, PlatformError> {
        let (org, id) = (org.to_string(), id.to_string());
        off_the_workers(self, move |p| p.company(&org, &id)).await
    }

    async fn find_companies(&self, org: &str, attribute: &str, value: &str) -> Result<Vec<Company>, PlatformError> {
        let (org, attribute, value) = (org.to_string(), attribute.to_string(), value.to_string());
        off_the_workers(self, move |p| p.find_companies(&org, &attribute, &value)).await
    }

    async fn list_teammates(&self, org: &str) -> Result<Vec<Teammate>, PlatformError> {
        let org = org.to_string();
        off_the_workers(self, move |p| p.teammates(&org)).await
    }

    async fn get_conversation(&self, org: &str, id: &str) -> Result<Option<PlatformConversation>, PlatformError> {
        let (org, id) = (org.to_string(), id.to_string());
        off_the_workers(self, move |p| p.conversation(&org, &id)).await
    }

    async fn changes(&self, org: &str, cursor: Option<&str>, limit: u32) -> Result<ChangePage, PlatformError> {
        let (org, cursor) = (org.to_string(), cursor.map(str::to_string));
        off_the_workers(self, move |p| p.changes(&org, cursor.as_deref(), limit)).await
    }

    async fn set_person_attributes(
        &self,
        org: &str,
        id: &str,
        attributes: Vec<PlatformAttribute>,
    ) -> Result<(), PlatformError> {
        let (org, id) = (org.to_string(), id.to_string());
        off_the_workers(self, move |p| {
            if p.person(&org, &id)?.is_none() {
                return Err(PlatformFailure::NotFound(format!("person `{id}`")));
            }
            p.put_person(&org, &id, PersonPatch { attributes, ..PersonPatch::default() }, true, now()).map(drop)
        })
        .await
    }

    async fn link_person(&self, org: &str, id: &str, link: Option<SalesforceLink>) -> Result<(), PlatformError> {
        let (org, id) = (org.to_string(), id.to_string());
        off_the_workers(self, move |p| {
            if p.person(&org, &id)?.is_none() {
                return Err(PlatformFailure::NotFound(format!("person `{id}`")));
            }
            p.put_person(&org, &id, PersonPatch { salesforce: Some(link), ..PersonPatch::default() }, true, now())
                .map(drop)
        })
        .await
    }

    async fn set_company_attributes(
        &self,
        org: &str,
        id: &str,
        attributes: Vec<PlatformAttribute>,
    ) -> Result<(), PlatformError> {
        let (org, id) = (org.to_string(), id.to_string());
        off_the_workers(self, move |p| {
            if p.company(&org, &id)?.is_none() {
                return Err(PlatformFailure::NotFound(format!("company `{id}`")));
            }
            p.put_company(&org, &id, CompanyPatch { attributes, ..CompanyPatch::default() }, true, now()).map(drop)
        })
        .await
    }

    async fn link_company(&self, org: &str, id: &str, account_id: Option<String>) -> Result<(), PlatformError> {
        let (org, id) = (org.to_string(), id.to_string());
        off_the_workers(self, move |p| {
            if p.company(&org, &id)?.is_none() {
                return Err(PlatformFailure::NotFound(format!("company `{id}`")));
            }
            p.put_company(
                &org,
                &id,
                CompanyPatch { account_id: Some(account_id), ..CompanyPatch::default() },
                true,
                now(),
            )
            .map(drop)
        })
        .await
    }

    async fn upsert_case_conversation(
        &self,
        org: &str,
        conversation: CaseConversation,
    ) -> Result<String, PlatformError> {
        let org = org.to_string();
        off_the_workers(self, move |p| p.upsert_case(&org, conversation, now())).await
    }

    async fn add_note(
        &self,
        org: &str,
        conversation_id: &str,
        idempotency_key: &str,
        text: &str,
    ) -> Result<String, PlatformError> {
        let (org, conversation_id, key, text) =
            (org.to_string(), conversation_id.to_string(), idempotency_key.to_string(), text.to_string());
        off_the_workers(self, move |p| p.add_note(&org, &conversation_id, &key, &text, true, now())).await
    }

    async fn post_part(&self, org: &str, conversation_id: &str, part: ConversationPart) -> Result<bool, PlatformError> {
        let (org, conversation_id) = (org.to_string(), conversation_id.to_string());
        off_the_workers(self, move |p| p.post_part(&org, &conversation_id, part, now())).await
    }

    async fn read_file(&self, org: &str, content_path: &str) -> Result<Vec<u8>, PlatformError> {
        let (org, content_path) = (org.to_string(), content_path.to_string());
        off_the_workers(self, move |p| p.read_file(&org, &content_path)).await
    }
}

/// An attribute as the connector and the API carry it.
pub fn attribute(name: &str, kind: AttributeKind, value: AttributeValue) -> PlatformAttribute {
    PlatformAttribute { name: name.to_string(), kind, value }
}
