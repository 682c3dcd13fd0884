//! The connector's domain types: plain Rust mirrors of the WIT package's shared
//! types (`types`, `describe`, `contacts` in `wit/`). The component glue converts
//! between these and the generated bindings; everything else uses only these.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// A Salesforce field type, as `describe` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Id,
    Reference,
    String,
    Textarea,
    Email,
    Phone,
    Url,
    Picklist,
    Multipicklist,
    Combobox,
    Boolean,
    Int,
    Long,
    Double,
    Currency,
    Percent,
    Date,
    Datetime,
    Time,
    Base64,
    Encryptedstring,
    Address,
    Location,
    #[serde(rename = "anyType")]
    AnyType,
    Complexvalue,
    Datacategorygroupreference,
}

/// One field value as it travels on the Salesforce wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WireValue {
    Null,
    Text(String),
    Boolean(bool),
    /// A JSON number kept as its decimal text, so no digit is lost.
    Number(String),
    /// A JSON object or array, as JSON text.
    Compound(String),
}

/// One named field of a Salesforce record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireField {
    pub name: String,
    pub value: WireValue,
}

/// A calendar date with no time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CalendarDate {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

/// A time of day with no date and no time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimeOfDay {
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub millisecond: u16,
}

/// A typed value of a platform attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AttributeValue {
    Null,
    Text(String),
    Boolean(bool),
    Integer(i64),
    Decimal(f64),
    Date(CalendarDate),
    /// An instant, milliseconds since the Unix epoch.
    Datetime(Timestamp),
    Time(TimeOfDay),
    List(Vec<String>),
    /// A compound value (address, location) as JSON text.
    Compound(String),
}

/// A named platform attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub value: AttributeValue,
}

/// Who wrote a part of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthorRole {
    Customer,
    Agent,
    Teammate,
    System,
}

/// Where a conversation part came from on the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartSource {
    CaseDescription,
    FeedItem,
    FeedComment,
    EmailMessage,
    CaseComment,
}

/// A file on a conversation part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// REST path, relative to the instance URL, that returns the bytes.
    pub content_path: String,
    pub inline: bool,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationPart {
    pub id: String,
    pub source: PartSource,
    pub author: AuthorRole,
    pub author_name: Option<String>,
    pub text: String,
    pub created_at: Timestamp,
    pub attachments: Vec<Attachment>,
}

/// The resolution state written to `FinResolutionState__c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResolutionState {
    None,
    SoftResolution,
    HardResolution,
    Abandoned,
    RoutedToTeam,
}

impl ResolutionState {
    /// The picklist value Salesforce stores, or `None` for [`ResolutionState::None`].
    pub fn picklist_value(self) -> Option<&'static str> {
        match self {
            ResolutionState::None => None,
            ResolutionState::SoftResolution => Some("Soft Resolution"),
            ResolutionState::HardResolution => Some("Hard Resolution"),
            ResolutionState::Abandoned => Some("Abandoned"),
            ResolutionState::RoutedToTeam => Some("Routed to team"),
        }
    }
}

/// A Salesforce case seen as a platform conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    /// Where it takes place: a case, or (since the messenger) a platform chat.
    #[serde(default)]
    pub channel: crate::platform::Channel,
    pub case_number: String,
    pub subject: Option<String>,
    pub origin: Option<String>,
    pub attributes: Vec<Attribute>,
    pub person: Vec<Attribute>,
    pub company: Vec<Attribute>,
    pub parts: Vec<ConversationPart>,
    pub resolution: ResolutionState,
}

/// How long a quiet conversation waits before it counts as resolved or abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    pub soft_resolution_after_ms: u64,
    pub abandoned_after_ms: u64,
}

// --- describe ---------------------------------------------------------------

/// One allowed value of a list field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PicklistEntry {
    pub value: String,
    pub label: String,
    pub active: bool,
    pub is_default: bool,
}

/// A field as Salesforce describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDescriptor {
    pub name: String,
    pub label: String,
    pub field_type: FieldType,
    pub length: u32,
    pub precision: u32,
    pub scale: u32,
    pub custom: bool,
    pub nillable: bool,
    pub createable: bool,
    /// Salesforce fills the field on create when it is not given. Catalogs
    /// stored before this was read have it false.
    #[serde(default)]
    pub defaulted_on_create: bool,
    pub updateable: bool,
    pub calculated: bool,
    pub name_field: bool,
    pub restricted_picklist: bool,
    pub picklist_values: Vec<PicklistEntry>,
    pub reference_to: Vec<String>,
    pub relationship_name: Option<String>,
}

/// Why a field counts as system, standard or custom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldKind {
    /// Always synced, cannot be removed.
    System,
    Standard,
    Custom,
}

/// One field of a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogField {
    pub descriptor: FieldDescriptor,
    pub kind: FieldKind,
    pub synced: bool,
}

/// The catalog of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCatalog {
    pub object: String,
    pub fields: Vec<CatalogField>,
}

/// A describe result read into descriptors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribedObject {
    pub object: String,
    pub fields: Vec<FieldDescriptor>,
}

/// Which way a mapping copies values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    ToPlatform,
    ToSalesforce,
}

/// One attribute mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMapping {
    pub object: String,
    pub field: String,
    pub attribute: String,
    pub direction: Direction,
}

// --- contacts ---------------------------------------------------------------

/// A support customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub username: Option<String>,
    pub handle: Option<String>,
    pub phone: Option<String>,
}

/// A Contact found by a search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub account_id: Option<String>,
}

/// Why a candidate matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchReason {
    EmailExact,
    NameExact,
    LastNameExact,
    FirstNameExact,
    EmailConflict,
    TermFound,
}

/// A candidate with its score (higher is better).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankedCandidate {
    pub candidate: Candidate,
    pub score: u32,
    pub reasons: Vec<MatchReason>,
}

/// What to do with a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Link(RankedCandidate),
    Suggest(Vec<RankedCandidate>),
    Create(Vec<WireField>),
}

// --- org --------------------------------------------------------------------

/// The connected app credentials (never logged, never in an error).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// Who takes over a case when a person is needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HandOffTarget {
    Queue(String),
    User(String),
}

impl HandOffTarget {
    /// The Salesforce Id of the queue or user.
    pub fn owner_id(&self) -> &str {
        match self {
            HandOffTarget::Queue(id) | HandOffTarget::User(id) => id,
        }
    }
}

/// How replies are written on cases that did not come by email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplyChannel {
    CaseComment,
    FeedPost,
}

/// Everything the connector needs to run one org.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgConfig {
    pub name: String,
    pub login_url: String,
    pub api_version: String,
    pub credentials: Credentials,
    pub agent_user_id: String,
    pub hand_off: HandOffTarget,
    pub reply_as: ReplyChannel,
    pub involved_field: String,
    pub resolution_state_field: String,
    pub topics: Vec<String>,
    pub daily_api_budget: u32,
    pub poll_overlap_seconds: u32,
    pub resolution_timeouts: Timeouts,
    pub mappings: Vec<FieldMapping>,
    /// How people are matched to Contacts and Leads (C1).
    pub person_match_key: MatchKey,
    /// How companies are matched to Accounts (C1).
    pub company_match_key: MatchKey,
    /// What the CRM actions do.
    pub crm: crate::crm::CrmOptions,
    /// The messenger's Messaging for In-App and Web deployment (B1); none: no hand-off to Salesforce.
    pub messenger: Option<crate::messenger::miaw::Deployment>,
    /// The workflows (A11), at most one per channel.
    pub workflows: Vec<crate::workflow::Workflow>,
    /// What the admin wrote about list values, for attribute detection.
    pub value_descriptions: Vec<crate::workflow::ValueDescription>,
}

impl OrgConfig {
    /// The workflow of `channel`, if the admin arranged one.
    pub fn workflow(&self, channel: crate::platform::Channel) -> Option<&crate::workflow::Workflow> {
        self.workflows.iter().find(|w| w.channel == channel)
    }
}

/// A platform record matches a Salesforce record when the Salesforce
/// `field` holds the platform `attribute`'s value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchKey {
    pub field: String,
    pub attribute: String,
}

impl MatchKey {
    /// People by email: `Email` ↔ `email`.
    pub fn by_email() -> MatchKey {
        MatchKey { field: "Email".into(), attribute: "email".into() }
    }

    /// Companies by name: `Name` ↔ `name`.
    pub fn by_name() -> MatchKey {
        MatchKey { field: "Name".into(), attribute: "name".into() }
    }
}
