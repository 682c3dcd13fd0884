//! The support platform's side (C1, C2, E9): its people, companies and
//! conversations as the connector sees them through the host's `platform`
//! import, the check of the org's mappings against them, matching platform
//! records to Salesforce records, and the two-way sync.

pub mod check;
pub mod sync;

use serde::{Deserialize, Serialize};

use crate::model::{AttributeValue, ConversationPart, Timestamp};

/// Which group an attribute belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttributeKind {
    Standard,
    Custom,
    Location,
}

/// The type of an attribute's values, as the platform declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueType {
    Text,
    Boolean,
    Integer,
    Decimal,
    Date,
    Datetime,
    Time,
    List,
    Compound,
}

impl ValueType {
    /// The word for people: "a text", "a number", …
    pub fn described(self) -> &'static str {
        match self {
            ValueType::Text => "text",
            ValueType::Boolean => "true/false",
            ValueType::Integer => "whole-number",
            ValueType::Decimal => "decimal",
            ValueType::Date => "date",
            ValueType::Datetime => "date-time",
            ValueType::Time => "time",
            ValueType::List => "list",
            ValueType::Compound => "compound",
        }
    }
}

/// Whose record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordKind {
    Person,
    Company,
    Conversation,
}

/// An attribute the platform defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeDefinition {
    pub entity: RecordKind,
    pub name: String,
    pub kind: AttributeKind,
    pub value_type: ValueType,
    /// The allowed values of a text or list attribute; empty: any.
    pub options: Vec<String>,
}

/// One attribute of a platform record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformAttribute {
    pub name: String,
    pub kind: AttributeKind,
    pub value: AttributeValue,
}

/// Identified user (→ Contact) or lead (→ Lead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersonRole {
    User,
    Lead,
}

/// Contact or Lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkedObject {
    Contact,
    Lead,
}

impl LinkedObject {
    /// The Salesforce object's API name.
    pub fn object(self) -> &'static str {
        match self {
            LinkedObject::Contact => "Contact",
            LinkedObject::Lead => "Lead",
        }
    }
}

/// A person's link to a Contact or Lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesforceLink {
    pub object: LinkedObject,
    pub id: String,
}

/// A person on the platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub role: PersonRole,
    pub name: Option<String>,
    pub email: Option<String>,
    pub company_id: Option<String>,
    pub owner_id: Option<String>,
    pub attributes: Vec<PlatformAttribute>,
    pub salesforce: Option<SalesforceLink>,
    pub updated_at: Timestamp,
}

/// A company on the platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Company {
    pub id: String,
    pub name: Option<String>,
    pub attributes: Vec<PlatformAttribute>,
    pub account_id: Option<String>,
    pub updated_at: Timestamp,
}

/// Whether a conversation needs attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConversationState {
    Open,
    Snoozed,
    Closed,
}

/// A Salesforce case as a platform conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseConversation {
    pub case_id: String,
    pub subject: Option<String>,
    pub state: ConversationState,
    pub person_id: Option<String>,
    pub attributes: Vec<PlatformAttribute>,
    pub parts: Vec<ConversationPart>,
}

/// Where a conversation takes place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Channel {
    #[default]
    SalesforceCase,
    Messenger,
    Email,
}

/// A member of the support team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Teammate {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
}

/// An internal note on a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub author_id: Option<String>,
    pub text: String,
    pub created_at: Timestamp,
}

/// A conversation on the platform, of any channel.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformConversation {
    pub id: String,
    pub channel: Channel,
    pub state: ConversationState,
    pub person_id: Option<String>,
    pub assignee_id: Option<String>,
    pub subject: Option<String>,
    pub tags: Vec<String>,
    pub attributes: Vec<PlatformAttribute>,
    pub parts: Vec<ConversationPart>,
    pub notes: Vec<Note>,
    pub case_id: Option<String>,
    pub updated_at: Timestamp,
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: RecordKind,
    pub id: String,
    pub by_connector: bool,
    pub changed_at: Timestamp,
}

/// A page of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePage {
    pub changes: Vec<Change>,
    pub cursor: String,
    pub more: bool,
}

/// Why a platform call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformFailure {
    #[error("no such platform record: {0}")]
    NotFound(String),
    #[error("the platform refused a value: {0}")]
    Invalid(String),
    #[error("the platform is unavailable: {0}")]
    Unavailable(String),
}

impl Person {
    /// The value of a person attribute by name; `name`, `email` and `id` are
    /// the person's own fields.
    pub fn attribute(&self, name: &str) -> Option<AttributeValue> {
        own_or_attribute(name, &self.id, self.name.as_deref(), &self.attributes, Some(("email", self.email.as_deref())))
    }
}

impl Company {
    /// The value of a company attribute by name; `name` and `id` are the
    /// company's own fields.
    pub fn attribute(&self, name: &str) -> Option<AttributeValue> {
        own_or_attribute(name, &self.id, self.name.as_deref(), &self.attributes, None)
    }
}

fn own_or_attribute(
    name: &str,
    id: &str,
    own_name: Option<&str>,
    attributes: &[PlatformAttribute],
    email: Option<(&str, Option<&str>)>,
) -> Option<AttributeValue> {
    let text = |value: Option<&str>| Some(value.map_or(AttributeValue::Null, |v| AttributeValue::Text(v.to_string())));
    match name {
        "id" => text(Some(id)),
        "name" => text(own_name),
        _ if email.is_some_and(|(field, _)| field == name) => text(email.and_then(|(_, value)| value)),
        _ => attributes.iter().find(|a| a.name == name).map(|a| a.value.clone()),
    }
}

/// A value read from Salesforce in the type the platform defines: a whole
/// decimal (a number field with no scale reads as one) as an integer, an
/// integer as a decimal.
pub fn as_type(value: AttributeValue, value_type: ValueType) -> AttributeValue {
    match (value, value_type) {
        (AttributeValue::Decimal(d), ValueType::Integer) if d.fract() == 0.0 && d.abs() < 9.0e15 => {
            AttributeValue::Integer(d as i64)
        }
        (AttributeValue::Integer(i), ValueType::Decimal) => AttributeValue::Decimal(i as f64),
        (value, _) => value,
    }
}

/// The attributes every person and company has without a definition.
pub fn built_in(entity: RecordKind, name: &str) -> Option<ValueType> {
    match (entity, name) {
        (_, "id") | (RecordKind::Person | RecordKind::Company, "name") | (RecordKind::Person, "email") => {
            Some(ValueType::Text)
        }
        _ => None,
    }
}

/// A Salesforce case's conversation as the platform records it: channel
/// `salesforce-case`, the case fields as conversation attributes, the
/// person linked to the case's Contact (if any), every part.
pub fn case_conversation(
    caps: &mut impl crate::capabilities::Capabilities,
    conversation: &crate::model::Conversation,
    open: bool,
) -> Result<CaseConversation, PlatformFailure> {
    let contact_id = conversation.person.iter().find(|a| a.name == "Id").and_then(|a| match &a.value {
        AttributeValue::Text(id) if !id.is_empty() => Some(id.clone()),
        _ => None,
    });
    let person_id = match contact_id {
        Some(id) => caps
            .find_linked_people(&SalesforceLink { object: LinkedObject::Contact, id })?
            .into_iter()
            .next()
            .map(|person| person.id),
        None => None,
    };
    Ok(CaseConversation {
        case_id: conversation.id.clone(),
        subject: conversation.subject.clone(),
        state: if open { ConversationState::Open } else { ConversationState::Closed },
        person_id,
        attributes: conversation
            .attributes
            .iter()
            .map(|a| PlatformAttribute { name: a.name.clone(), kind: AttributeKind::Standard, value: a.value.clone() })
            .collect(),
        parts: conversation.parts.clone(),
    })
}
