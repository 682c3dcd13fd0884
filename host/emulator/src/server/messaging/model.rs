//! The messaging state (deployments, tokens, conversations, the event log)
//! and what each call does to it and to the org's records. Everything runs
//! under the org's lock, so a call's records and events change together.

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac as _};
use rand::Rng as _;
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tokio::sync::watch;

use super::MiawError;
use crate::db::{Value as Field, Values, WriteContext};
use crate::schema::{FieldDef, FieldType};
use crate::server::org::Org;

/// Largest file `POST …/file` takes (a third-party MIAW client library
/// checks the same 5 MB before sending).
pub(crate) const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;

/// The lists' page size: default 20, at most 50 (SAMPLE `constants.js`).
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 50;

/// A pre-chat parameter of a deployment: a routing attribute the channel
/// accepts (its channel variable name), how long its value may be, and the
/// MessagingSession field the channel's Flow writes it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PreChatParameter {
    /// The `routingAttributes` key (case-exact).
    pub name: String,
    pub label: String,
    /// The parameter's Maximum Length, in characters.
    pub max_length: usize,
    /// The MessagingSession field the value is written to, if any.
    pub field: Option<String>,
    /// The form field type: `Text`, `Email`, `Phone`, `Number`, `Checkbox`, `ChoiceList`.
    pub field_type: String,
    pub hidden: bool,
    pub required: bool,
}

/// An Embedded Service deployment (Custom Client) and its channel.
#[derive(Debug, Clone)]
struct Deployment {
    developer_name: String,
    label: String,
    /// The MessagingChannel record (`channelAddressIdentifier`).
    channel_id: String,
    /// Who owns a new session: this queue, else the org's automated process user.
    queue_id: Option<String>,
    pre_chat: Vec<PreChatParameter>,
}

impl Deployment {
    fn parameter(&self, name: &str) -> Option<&PreChatParameter> {
        self.pre_chat.iter().find(|p| p.name == name)
    }

    /// The admin API's JSON for it.
    fn to_json(&self) -> Value {
        let pre_chat: Vec<Value> = self
            .pre_chat
            .iter()
            .map(|p| {
                json!({"name": p.name, "label": p.label, "max_length": p.max_length, "field": p.field,
                       "type": p.field_type, "hidden": p.hidden, "required": p.required})
            })
            .collect();
        json!({"developer_name": self.developer_name, "label": self.label, "channel_id": self.channel_id,
               "queue_id": self.queue_id, "pre_chat": pre_chat})
    }

    /// `context.configuration.embeddedServiceConfig` of a token response.
    fn configuration(&self) -> Value {
        let fields: Vec<Value> = self
            .pre_chat
            .iter()
            .enumerate()
            .map(|(i, p)| {
                json!({"name": p.name, "labels": {"display": p.label}, "type": p.field_type,
                       "isHidden": p.hidden, "required": p.required, "order": i + 1,
                       "maxLength": p.max_length, "choiceListId": null})
            })
            .collect();
        json!({
            "name": self.developer_name,
            "deploymentType": "api",
            "deploymentFeature": "EmbeddedMessaging",
            "embeddedServiceMessagingChannel": {
                "channelAddressIdentifier": self.channel_id,
                "channelDeveloperName": self.developer_name,
            },
            "forms": [{"formType": "PreChat", "displayContext": "Conversation", "formFields": fields}],
            "choiceListConfig": {"choiceList": []},
        })
    }
}

/// An access token the API handed out.
#[derive(Debug, Clone)]
struct Token {
    subject: String,
    deployment: String,
    expires_at: DateTime<Utc>,
}

/// Who a request acts as: the token's anonymous identity.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub subject: String,
    pub deployment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionStatus {
    Waiting,
    Active,
    Ended,
}

impl SessionStatus {
    fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Waiting => "Waiting",
            SessionStatus::Active => "Active",
            SessionStatus::Ended => "Ended",
        }
    }
}

#[derive(Debug, Clone)]
struct Agent {
    user_id: String,
    name: String,
}

/// One MessagingSession of a conversation.
#[derive(Debug, Clone)]
struct Session {
    id: String,
    status: SessionStatus,
    agent: Option<Agent>,
    routing_attributes: BTreeMap<String, String>,
    language: Option<String>,
    started: i64,
    end_user_messages: i64,
    agent_messages: i64,
}

/// A conversation entry, as the entries list and the stream show it.
#[derive(Debug, Clone)]
struct Entry {
    identifier: String,
    entry_type: &'static str,
    sender: Value,
    sender_name: String,
    payload: Value,
    transcripted: i64,
    client: i64,
    related: Vec<String>,
}

impl Entry {
    /// `conversationEntry`: `entryPayload` is a JSON string on the stream
    /// and an object in the entries list.
    fn to_json(&self, payload_as_string: bool) -> Value {
        let payload = if payload_as_string { Value::String(self.payload.to_string()) } else { self.payload.clone() };
        json!({
            "identifier": self.identifier,
            "entryType": self.entry_type,
            "entryPayload": payload,
            "sender": self.sender,
            "senderDisplayName": self.sender_name,
            "transcriptedTimestamp": self.transcripted,
            "clientTimestamp": self.client,
            "clientDuration": 0,
            "relatedRecords": self.related,
        })
    }
}

#[derive(Debug, Clone)]
struct Conversation {
    id: String,
    deployment: String,
    /// The identity (token subject) the conversation belongs to.
    owner: String,
    channel_id: String,
    record_id: String,
    end_user_id: String,
    started: i64,
    closed: Option<i64>,
    sessions: Vec<Session>,
    entries: Vec<Entry>,
    message_ids: HashSet<String>,
    /// Every message and file sent by the end user, as received: its id
    /// and the routing attributes it carried (kept for tests, B3).
    sends: Vec<(String, BTreeMap<String, String>)>,
}

impl Conversation {
    /// The current session when it has not ended.
    fn open_session(&self) -> Option<&Session> {
        self.sessions.last().filter(|s| s.status != SessionStatus::Ended)
    }
}

/// An event on the stream of one identity.
#[derive(Debug, Clone)]
pub(crate) struct StreamEvent {
    pub id: u64,
    owner: String,
    pub name: &'static str,
    /// The `data:` line: one JSON object.
    pub data: String,
}

/// Query parameters of `GET …/entries`.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntryQuery {
    pub limit: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub direction: Option<String>,
    pub types: Option<String>,
}

/// A file of `POST …/file`.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The org's messaging: deployments, tokens, conversations and events.
pub(crate) struct Messaging {
    key: [u8; 32],
    /// Who writes the records (the org's automated process user).
    system_user_id: String,
    token_ttl: chrono::Duration,
    deployments: Vec<Deployment>,
    tokens: HashMap<String, Token>,
    /// MessagingEndUser by (identity, channel).
    end_users: HashMap<(String, String), String>,
    conversations: HashMap<String, Conversation>,
    events: Vec<StreamEvent>,
    last_event_id: u64,
    notify: watch::Sender<u64>,
    /// `Some(reason)`: routing fails for every new session.
    routing_failure: Option<String>,
}

impl Messaging {
    pub(crate) fn new(system_user_id: &str, token_ttl: std::time::Duration) -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill(&mut key);
        Messaging {
            key,
            system_user_id: system_user_id.to_string(),
            token_ttl: chrono::Duration::from_std(token_ttl).unwrap_or(chrono::Duration::days(3650)),
            deployments: Vec::new(),
            tokens: HashMap::new(),
            end_users: HashMap::new(),
            conversations: HashMap::new(),
            events: Vec::new(),
            last_event_id: 0,
            notify: watch::channel(0).0,
            routing_failure: None,
        }
    }

    /// The id of the latest event (what a new token's `lastEventId` says).
    pub(crate) fn last_event_id(&self) -> u64 {
        self.last_event_id
    }

    /// Changes whenever an event is added.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// The identity's events after `after`, in order.
    pub(crate) fn events_after(&self, owner: &str, after: u64) -> Vec<StreamEvent> {
        let start = self.events.partition_point(|e| e.id <= after);
        self.events[start..].iter().filter(|e| e.owner == owner).cloned().collect()
    }

    /// Invalidates every access token.
    pub(crate) fn expire_tokens(&mut self) {
        self.tokens.clear();
    }

    /// The identity an access token acts as.
    pub(crate) fn identity(&self, token: Option<&str>, now: DateTime<Utc>) -> Result<Identity, MiawError> {
        let token = token.ok_or_else(|| MiawError::new(401, "Provide an access token in the Authorization header."))?;
        self.tokens
            .get(token)
            .filter(|t| t.expires_at > now)
            .map(|t| Identity { subject: t.subject.clone(), deployment: t.deployment.clone() })
            .ok_or_else(|| MiawError::new(401, "The access token is invalid or has expired."))
    }

    fn deployment(&self, name: &str) -> Result<&Deployment, MiawError> {
        self.deployments
            .iter()
            .find(|d| d.developer_name == name)
            .ok_or_else(|| MiawError::new(404, format!("No Embedded Service deployment named {name} was found.")))
    }

    /// The admin API's list of deployments.
    pub(crate) fn deployments_json(&self) -> Value {
        json!({"deployments": self.deployments.iter().map(Deployment::to_json).collect::<Vec<_>>()})
    }

    pub(crate) fn routing_json(&self) -> Value {
        json!({"fail": self.routing_failure.is_some(), "reason": self.routing_failure})
    }

    /// Makes routing fail for new sessions (`Some(reason)`) or succeed again.
    pub(crate) fn set_routing_failure(&mut self, reason: Option<String>) {
        self.routing_failure = reason;
    }

    /// A JWT for `identity`, signed with the emulator's key (HS256).
    fn mint(
        &mut self,
        org_id15: &str,
        identity: &Identity,
        channel_id: &str,
        device_id: &str,
        now: DateTime<Utc>,
    ) -> String {
        let expires_at = now.checked_add_signed(self.token_ttl).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let claims = json!({
            "sub": identity.subject,
            "orgId": org_id15,
            "esDeveloperName": identity.deployment,
            "clientId": new_uuid(),
            "clientSessionId": new_uuid(),
            "deviceId": device_id,
            "channelAddId": channel_id,
            "iat": now.timestamp(),
            "exp": expires_at.timestamp(),
            "jti": new_uuid(),
        });
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"casebridge-emulator"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{payload}");
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(signing_input.as_bytes());
        let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        self.tokens.retain(|_, t| t.expires_at > now);
        self.tokens.insert(
            token.clone(),
            Token { subject: identity.subject.clone(), deployment: identity.deployment.clone(), expires_at },
        );
        token
    }

    /// Adds an event for `owner` and wakes the streams.
    fn emit(&mut self, owner: &str, name: &'static str, data: Value) -> u64 {
        self.last_event_id += 1;
        let id = self.last_event_id;
        self.events.push(StreamEvent { id, owner: owner.to_string(), name, data: data.to_string() });
        self.notify.send_replace(id);
        id
    }

    /// Stores an entry in its conversation (when `keep`) and streams it.
    fn publish(&mut self, conversation_id: &str, name: &'static str, entry: Entry, keep: bool) {
        let Some(conversation) = self.conversations.get_mut(conversation_id) else {
            return;
        };
        let data = json!({
            "channelPlatformKey": conversation.owner,
            "channelType": "embedded_messaging",
            "channelAddressIdentifier": conversation.channel_id,
            "conversationId": conversation.id,
            "conversationEntry": entry.to_json(true),
        });
        let owner = conversation.owner.clone();
        if keep {
            conversation.entries.push(entry);
        }
        self.emit(&owner, name, data);
    }

    fn conversation(&self, id: &str, who: &Identity) -> Result<&Conversation, MiawError> {
        let conversation = self
            .conversations
            .get(id)
            .ok_or_else(|| MiawError::new(404, format!("No conversation with the conversationId {id} was found.")))?;
        if conversation.owner != who.subject {
            return Err(MiawError::new(403, "Permission denied: the conversation belongs to another user."));
        }
        Ok(conversation)
    }

    /// The conversation and index of a session, by MessagingSession id or
    /// by conversation id (its latest session).
    fn find_session(&self, reference: &str) -> Result<(String, usize), String> {
        if let Some(c) = self.conversations.get(reference) {
            return Ok((c.id.clone(), c.sessions.len().saturating_sub(1)));
        }
        let id = crate::ids::normalize(reference).unwrap_or_else(|| reference.to_string());
        self.conversations
            .values()
            .find_map(|c| c.sessions.iter().position(|s| s.id == id).map(|i| (c.id.clone(), i)))
            .ok_or_else(|| format!("no messaging session or conversation {reference}"))
    }

    /// The admin API's JSON for a session.
    fn session_json(conversation: &Conversation, session: &Session) -> Value {
        json!({
            "session_id": session.id,
            "conversation_id": conversation.id,
            "conversation_record_id": conversation.record_id,
            "deployment": conversation.deployment,
            "end_user_id": conversation.end_user_id,
            "status": session.status.as_str(),
            "agent_user_id": session.agent.as_ref().map(|a| a.user_id.clone()),
            "routing_attributes": session.routing_attributes,
            "language": session.language,
            "started_at": session.started,
            "end_user_messages": session.end_user_messages,
            "agent_messages": session.agent_messages,
        })
    }

    /// The admin API's list of sessions, oldest first; `status` filters
    /// (`Waiting`, `Active`, `Ended`, case-insensitive).
    pub(crate) fn sessions_json(&self, status: Option<&str>) -> Value {
        let mut rows: Vec<(i64, &str, Value)> = Vec::new();
        for c in self.conversations.values() {
            for s in &c.sessions {
                if status.is_none_or(|wanted| wanted.eq_ignore_ascii_case(s.status.as_str())) {
                    rows.push((s.started, &s.id, Self::session_json(c, s)));
                }
            }
        }
        rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        json!({"sessions": rows.into_iter().map(|(_, _, v)| v).collect::<Vec<_>>()})
    }

    /// The admin API's view of a conversation: its sessions and every entry, oldest first.
    pub(crate) fn conversation_json(&self, reference: &str) -> Result<Value, String> {
        let (id, _) = self.find_session(reference)?;
        let c = &self.conversations[&id];
        Ok(json!({
            "conversation_id": c.id,
            "deployment": c.deployment,
            "subject": c.owner,
            "closed": c.closed.is_some(),
            "sessions": c.sessions.iter().map(|s| Self::session_json(c, s)).collect::<Vec<_>>(),
            "entries": c.entries.iter().map(|e| e.to_json(false)).collect::<Vec<_>>(),
            "sends": c.sends.iter().map(|(id, routing)| json!({"message_id": id, "routing_attributes": routing}))
                .collect::<Vec<_>>(),
        }))
    }
}

/// A random version-4 UUID in lowercase.
pub(crate) fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// A UUID in lowercase with an RFC 4122 variant (8, 9, a or b), as the
/// conversation API requires of `conversationId`.
pub(crate) fn is_lowercase_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// A UUID in either case, any variant (message ids).
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `given` names the org (its 15- or 18-character id).
fn is_org(org: &Org, given: &str) -> bool {
    let given = given.trim();
    (given.len() == 15 || given.len() == 18) && given.get(..15) == org.org_id.get(..15)
}

/// Refuses an `X-Org-Id` that does not name the org.
pub(crate) fn check_org_header(org: &Org, given: Option<&str>) -> Result<(), MiawError> {
    match given {
        None => Err(MiawError::bad_request("Provide the org ID in the X-Org-Id header.")),
        Some(id) if is_org(org, id) => Ok(()),
        Some(id) => Err(MiawError::bad_request(format!("The org ID {id} in the X-Org-Id header is not valid."))),
    }
}

fn text<'v>(body: &'v Value, name: &str) -> Result<&'v str, MiawError> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| MiawError::bad_request(format!("Specify {name}.")))
}

fn optional_text(body: &Value, name: &str) -> Result<Option<String>, MiawError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(MiawError::bad_request(format!("{name} must be a string."))),
    }
}

fn flag(body: &Value, name: &str) -> Result<bool, MiawError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(MiawError::bad_request(format!("{name} must be true or false."))),
    }
}

/// The routing attributes of a request that name a pre-chat parameter of
/// the deployment, as strings; other keys are dropped. A value longer than
/// its parameter's maximum length is refused (a guess, see the module docs).
fn routing_attributes(deployment: &Deployment, raw: Option<&Value>) -> Result<BTreeMap<String, String>, MiawError> {
    let map = match raw {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(MiawError::bad_request("routingAttributes must be a JSON object.")),
    };
    let mut out = BTreeMap::new();
    for (key, value) in map {
        // As Jackson binds a map of strings: scalars become strings, nested values are refused.
        let value = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(MiawError::bad_request(format!("The value of routing attribute {key} must be a string.")));
            }
        };
        let Some(parameter) = deployment.parameter(key) else {
            continue;
        };
        let length = value.chars().count();
        if length > parameter.max_length {
            return Err(MiawError::bad_request(format!(
                "The value of routing attribute {key} is {length} characters long; its maximum length is {}.",
                parameter.max_length
            )));
        }
        out.insert(key.clone(), value);
    }
    Ok(out)
}

fn system_ctx(org: &Org) -> WriteContext {
    WriteContext { now: org.clock.now(), user_id: org.messaging.system_user_id.clone() }
}

fn record_error(errors: Vec<crate::error::SfError>) -> MiawError {
    let reasons: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.error_code, e.message)).collect();
    MiawError::new(500, format!("The org could not store the messaging records: {}", reasons.join("; ")))
}

fn end_user_sender(subject: &str) -> Value {
    json!({"role": "EndUser", "appType": "iamessage", "subject": subject})
}

fn agent_sender(agent: &Agent) -> Value {
    json!({"role": "Agent", "appType": "agent", "subject": agent.user_id})
}

fn system_sender(role: &str) -> Value {
    json!({"role": role, "appType": "agent", "subject": "Automated Process"})
}

// ---- deployments ----

/// Adds a deployment (or replaces the pre-chat parameters and queue of one
/// with that name): its MessagingChannel record and any custom
/// MessagingSession field a parameter maps to that does not exist yet (a
/// text field of the parameter's maximum length).
pub(crate) fn add_deployment(
    org: &mut Org,
    developer_name: &str,
    label: &str,
    queue_id: Option<String>,
    pre_chat: Vec<PreChatParameter>,
) -> Result<Value, MiawError> {
    let valid_name = developer_name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && developer_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && developer_name.len() <= 80;
    if !valid_name {
        return Err(MiawError::bad_request(
            "The developer name may contain only letters, digits and underscores, and must begin with a letter.",
        ));
    }
    let mut names = HashSet::new();
    for p in &pre_chat {
        if p.name.trim().is_empty() || !names.insert(p.name.clone()) {
            return Err(MiawError::bad_request(format!(
                "Pre-chat parameter names must be given and distinct: {:?}",
                p.name
            )));
        }
        if p.max_length == 0 {
            return Err(MiawError::bad_request(format!("The maximum length of {} must be at least 1.", p.name)));
        }
    }
    let queue_id = match queue_id {
        Some(id) => {
            let group = org.db.live_record(&id).filter(|(o, _)| o.name == "Group").map(|(_, r)| r.id.clone());
            Some(group.ok_or_else(|| MiawError::bad_request(format!("{id} is not a queue of the org.")))?)
        }
        None => None,
    };
    // Check every mapped field before changing anything.
    let mut to_add: Vec<FieldDef> = Vec::new();
    {
        let session = org.db.schema().object("MessagingSession").expect("a standard object");
        for p in &pre_chat {
            let Some(field) = &p.field else { continue };
            match session.field(field) {
                Some(f) if f.field_type.is_text() && f.updateable && !f.calculated => {
                    if (f.length as usize) < p.max_length {
                        return Err(MiawError::bad_request(format!(
                            "MessagingSession.{} holds {} characters, fewer than the {} of {}.",
                            f.name, f.length, p.max_length, p.name
                        )));
                    }
                }
                Some(f) => {
                    return Err(MiawError::bad_request(format!(
                        "MessagingSession.{} is not a writable text field: {} cannot be mapped to it.",
                        f.name, p.name
                    )));
                }
                None if field.ends_with("__c") && !to_add.iter().any(|f| f.name.eq_ignore_ascii_case(field)) => {
                    let field_label = field.trim_end_matches("__c").replace('_', " ");
                    let def = if p.max_length <= 255 {
                        FieldDef::new(field, &field_label, FieldType::String).length(p.max_length as u32)
                    } else {
                        FieldDef::new(field, &field_label, FieldType::Textarea).length(p.max_length.min(131_072) as u32)
                    };
                    to_add.push(def);
                }
                None if field.ends_with("__c") => {}
                None => {
                    return Err(MiawError::bad_request(format!(
                        "MessagingSession has no field {field} (a new custom field's name must end with __c)."
                    )));
                }
            }
        }
    }
    for def in to_add {
        org.db.schema_mut().add_custom_field("MessagingSession", def).map_err(|e| MiawError::bad_request(e.message))?;
    }
    let existing = org.messaging.deployments.iter().position(|d| d.developer_name == developer_name);
    let channel_id = match existing {
        Some(i) => org.messaging.deployments[i].channel_id.clone(),
        None => {
            let ctx = system_ctx(org);
            let fields =
                json!({"DeveloperName": developer_name, "MasterLabel": label, "MessageType": "EmbeddedMessaging"});
            org.db.create("MessagingChannel", fields.as_object().expect("an object"), &ctx).map_err(record_error)?
        }
    };
    let deployment = Deployment {
        developer_name: developer_name.to_string(),
        label: label.to_string(),
        channel_id,
        queue_id,
        pre_chat,
    };
    let json = deployment.to_json();
    match existing {
        Some(i) => org.messaging.deployments[i] = deployment,
        None => org.messaging.deployments.push(deployment),
    }
    Ok(json)
}

// ---- tokens ----

fn token_body(org: &mut Org, identity: &Identity, device_id: &str, with_last_event: bool) -> Result<Value, MiawError> {
    let deployment = org.messaging.deployment(&identity.deployment)?.clone();
    let org_id15: String = org.org_id.chars().take(15).collect();
    let now = org.clock.now();
    let token = org.messaging.mint(&org_id15, identity, &deployment.channel_id, device_id, now);
    let mut body = json!({
        "accessToken": token,
        "context": {
            "endUser": {"subject": identity.subject, "role": "EndUser"},
            "deviceId": device_id,
            "configuration": {"embeddedServiceConfig": deployment.configuration()},
        },
    });
    if with_last_event {
        body["lastEventId"] = json!(org.messaging.last_event_id().to_string());
    }
    Ok(body)
}

/// `POST …/authorization/unauthenticated/access-token`: a new anonymous identity.
pub(crate) fn access_token(org: &mut Org, body: &Value) -> Result<Value, MiawError> {
    let org_id = text(body, "orgId")?;
    let developer_name = text(body, "esDeveloperName")?;
    text(body, "capabilitiesVersion")?;
    text(body, "platform")?;
    let device_id = optional_text(body, "deviceId")?.unwrap_or_else(new_uuid);
    if !matches!(body.get("context"), None | Some(Value::Null) | Some(Value::Object(_))) {
        return Err(MiawError::bad_request("context must be a JSON object."));
    }
    if !is_org(org, org_id) {
        return Err(MiawError::new(404, format!("No org with the ID {org_id} was found.")));
    }
    org.messaging.deployment(developer_name)?;
    let identity =
        Identity { subject: format!("v2/iamessage/ANON/{}", new_uuid()), deployment: developer_name.to_string() };
    token_body(org, &identity, &device_id, true)
}

/// `GET …/authorization/continuation-access-token`: the same identity, a new token.
pub(crate) fn continuation_token(org: &mut Org, who: &Identity) -> Result<Value, MiawError> {
    token_body(org, who, &new_uuid(), false)
}

// ---- conversations and sessions ----

/// `POST …/conversation`.
pub(crate) fn create_conversation(org: &mut Org, who: &Identity, body: &Value) -> Result<Value, MiawError> {
    let id = body.get("conversationId").and_then(Value::as_str).unwrap_or_default();
    if !is_lowercase_uuid(id) {
        return Err(MiawError::bad_request(
            "Specify the conversationId in UUID format. The UUID must be in lowercase.",
        ));
    }
    let developer_name = text(body, "esDeveloperName")?;
    let deployment = org.messaging.deployment(developer_name)?.clone();
    if deployment.developer_name != who.deployment {
        return Err(MiawError::bad_request(format!(
            "The access token was issued for the deployment {}, not {developer_name}.",
            who.deployment
        )));
    }
    let attributes = routing_attributes(&deployment, body.get("routingAttributes"))?;
    let language = optional_text(body, "language")?;
    if let Some(existing) = org.messaging.conversations.get(id) {
        return Err(if existing.owner == who.subject {
            MiawError::new(409, format!("A conversation with the conversationId {id} already exists."))
        } else {
            MiawError::new(403, "Permission denied: the conversation belongs to another user.")
        });
    }
    let ctx = system_ctx(org);
    let now = org.clock.now_millis();
    let end_user_key = (who.subject.clone(), deployment.channel_id.clone());
    let end_user_id = match org.messaging.end_users.get(&end_user_key) {
        Some(id) => id.clone(),
        None => {
            let values = Values::from([
                ("Name", Field::Text("Guest".into())),
                ("MessagingChannelId", Field::Text(deployment.channel_id.clone())),
                ("MessageType", Field::Text("EmbeddedMessaging".into())),
                ("MessagingPlatformKey", Field::Text(who.subject.clone())),
            ]);
            let id = org.db.insert_system("MessagingEndUser", values, &ctx).map_err(record_error)?;
            org.messaging.end_users.insert(end_user_key, id.clone());
            id
        }
    };
    let conversation_values = Values::from([
        ("Name", Field::Text(id.to_string())),
        ("ConversationIdentifier", Field::Text(id.to_string())),
        ("ConversationChannelId", Field::Text(deployment.channel_id.clone())),
        ("StartTime", Field::DateTime(ctx.now)),
    ]);
    let record_id = org.db.insert_system("Conversation", conversation_values, &ctx).map_err(record_error)?;
    org.messaging.conversations.insert(
        id.to_string(),
        Conversation {
            id: id.to_string(),
            deployment: deployment.developer_name.clone(),
            owner: who.subject.clone(),
            channel_id: deployment.channel_id.clone(),
            record_id,
            end_user_id,
            started: now,
            closed: None,
            sessions: Vec::new(),
            entries: Vec::new(),
            message_ids: HashSet::new(),
            sends: Vec::new(),
        },
    );
    start_session(org, id, attributes, language)?;
    Ok(json!({"conversationId": id}))
}

/// Starts a messaging session in a conversation: the MessagingSession, its
/// mapped fields, and the routing.
fn start_session(
    org: &mut Org,
    conversation_id: &str,
    attributes: BTreeMap<String, String>,
    language: Option<String>,
) -> Result<String, MiawError> {
    let conversation = org.messaging.conversations.get(conversation_id).expect("a known conversation").clone();
    let deployment = org.messaging.deployment(&conversation.deployment)?.clone();
    let ctx = system_ctx(org);
    let owner = deployment.queue_id.clone().unwrap_or_else(|| ctx.user_id.clone());
    let values = Values::from([
        ("MessagingChannelId", Field::Text(conversation.channel_id.clone())),
        ("MessagingEndUserId", Field::Text(conversation.end_user_id.clone())),
        ("ConversationId", Field::Text(conversation.record_id.clone())),
        ("Status", Field::Text("Waiting".into())),
        ("ChannelType", Field::Text("EmbeddedMessaging".into())),
        ("Origin", Field::Text("InboundInitiated".into())),
        ("StartTime", Field::DateTime(ctx.now)),
        ("AgentMessageCount", Field::Int(0)),
        ("EndUserMessageCount", Field::Int(0)),
        ("OwnerId", Field::Text(owner)),
    ]);
    let session_id = org.db.insert_system("MessagingSession", values, &ctx).map_err(record_error)?;
    // What the channel's Flow does with the parameters: one Update Records
    // element; should the org refuse a value, that element fails and the
    // session keeps none of them.
    let mapped: Map<String, Value> = attributes
        .iter()
        .filter_map(|(k, v)| deployment.parameter(k).and_then(|p| p.field.clone()).map(|f| (f, json!(v))))
        .collect();
    if !mapped.is_empty() {
        let _ = org.db.update("MessagingSession", &session_id, &mapped, &ctx);
    }
    let session = Session {
        id: session_id.clone(),
        status: SessionStatus::Waiting,
        agent: None,
        routing_attributes: attributes,
        language,
        started: org.clock.now_millis(),
        end_user_messages: 0,
        agent_messages: 0,
    };
    if let Some(c) = org.messaging.conversations.get_mut(conversation_id) {
        c.sessions.push(session);
    }
    if let Some(reason) = org.messaging.routing_failure.clone() {
        let now = org.clock.now_millis();
        let entry_id = new_uuid();
        let entry = Entry {
            identifier: entry_id.clone(),
            entry_type: "RoutingResult",
            sender: system_sender("Router"),
            sender_name: "Automated Process".into(),
            payload: json!({"entryType": "RoutingResult", "id": entry_id, "routingType": "Initial",
                            "failureType": "RoutingError", "reasonForNotRouting": reason, "recordId": session_id}),
            transcripted: now,
            client: now,
            related: vec![session_id.clone()],
        };
        org.messaging.publish(conversation_id, "CONVERSATION_ROUTING_RESULT", entry, true);
        end_session(org, conversation_id, false)?;
    }
    Ok(session_id)
}

/// Ends the conversation's open session: the record, the agent leaving,
/// the status change event. `by_end_user` when the customer closed the conversation.
fn end_session(org: &mut Org, conversation_id: &str, by_end_user: bool) -> Result<(), MiawError> {
    let Some((session_id, agent)) = org
        .messaging
        .conversations
        .get(conversation_id)
        .and_then(Conversation::open_session)
        .map(|s| (s.id.clone(), s.agent.clone()))
    else {
        return Ok(());
    };
    let ctx = system_ctx(org);
    org.db
        .update_system(
            "MessagingSession",
            &session_id,
            Values::from([("Status", Field::Text("Ended".into())), ("EndTime", Field::DateTime(ctx.now))]),
            &ctx,
        )
        .map_err(record_error)?;
    if let Some(s) = org.messaging.conversations.get_mut(conversation_id).and_then(|c| c.sessions.last_mut()) {
        s.status = SessionStatus::Ended;
    }
    let now = org.clock.now_millis();
    if let Some(agent) = agent {
        let entry_id = new_uuid();
        let entry = Entry {
            identifier: entry_id.clone(),
            entry_type: "ParticipantChanged",
            sender: system_sender("System"),
            sender_name: "Automated Process".into(),
            payload: json!({"entryType": "ParticipantChanged", "id": entry_id, "entries": [
                {"operation": "remove", "displayName": agent.name, "participant": agent_sender(&agent)}]}),
            transcripted: now,
            client: now,
            related: vec![session_id.clone()],
        };
        org.messaging.publish(conversation_id, "CONVERSATION_PARTICIPANT_CHANGED", entry, true);
    }
    let entry_id = new_uuid();
    let entry = Entry {
        identifier: entry_id.clone(),
        entry_type: "SessionStatusChanged",
        sender: system_sender("System"),
        sender_name: "Automated Process".into(),
        payload: json!({"entryType": "SessionStatusChanged", "id": entry_id, "sessionId": session_id,
                        "sessionStatus": "Ended", "endedByEndUser": by_end_user}),
        transcripted: now,
        client: now,
        related: vec![session_id],
    };
    org.messaging.publish(conversation_id, "CONVERSATION_SESSION_STATUS_CHANGED", entry, true);
    Ok(())
}

/// What a message or a file is sent into: the session, after the checks
/// every send makes. `Ok(None)`: the id was stored already.
fn prepare_send(
    org: &mut Org,
    who: &Identity,
    conversation_id: &str,
    body: &Value,
    message_id: &str,
) -> Result<Option<String>, MiawError> {
    let conversation = org.messaging.conversation(conversation_id, who)?;
    if conversation.closed.is_some() {
        return Err(MiawError::bad_request(format!("The conversation {conversation_id} is closed.")));
    }
    if let Some(name) = optional_text(body, "esDeveloperName")?
        && name != conversation.deployment
    {
        return Err(MiawError::bad_request(format!(
            "The conversation {conversation_id} belongs to the deployment {}, not {name}.",
            conversation.deployment
        )));
    }
    let deployment = org.messaging.deployment(&conversation.deployment)?.clone();
    let attributes = routing_attributes(&deployment, body.get("routingAttributes"))?;
    let language = optional_text(body, "language")?;
    let new_session = flag(body, "isNewMessagingSession")?;
    if let Some(c) = org.messaging.conversations.get_mut(conversation_id) {
        c.sends.push((message_id.to_string(), attributes.clone()));
    }
    let conversation = org.messaging.conversation(conversation_id, who)?;
    if conversation.message_ids.contains(message_id) {
        return Ok(None);
    }
    if let Some(open) = conversation.open_session() {
        return Ok(Some(open.id.clone()));
    }
    if !new_session {
        return Err(MiawError::new(
            417,
            "No messaging session exists for this conversation. Send the message again with isNewMessagingSession set to true and the routingAttributes.",
        ));
    }
    start_session(org, conversation_id, attributes, language).map(Some)
}

/// Stores and streams an end user's message entry, and counts it on the session.
fn add_end_user_message(
    org: &mut Org,
    who: &Identity,
    conversation_id: &str,
    session_id: &str,
    message_id: &str,
    abstract_message: Value,
) -> Result<Value, MiawError> {
    let now = org.clock.now_millis();
    let entry = Entry {
        identifier: message_id.to_string(),
        entry_type: "Message",
        sender: end_user_sender(&who.subject),
        sender_name: "Guest".into(),
        payload: json!({"entryType": "Message", "id": message_id, "abstractMessage": abstract_message}),
        transcripted: now,
        client: now,
        related: vec![session_id.to_string()],
    };
    let count = {
        let c = org.messaging.conversations.get_mut(conversation_id).expect("a known conversation");
        c.message_ids.insert(message_id.to_string());
        let s = c.sessions.iter_mut().find(|s| s.id == session_id).expect("a session of the conversation");
        s.end_user_messages += 1;
        s.end_user_messages
    };
    let ctx = system_ctx(org);
    org.db
        .update_system("MessagingSession", session_id, Values::from([("EndUserMessageCount", Field::Int(count))]), &ctx)
        .map_err(record_error)?;
    org.messaging.publish(conversation_id, "CONVERSATION_MESSAGE", entry, true);
    Ok(accepted(message_id, now))
}

/// The 202 body of a send.
fn accepted(message_id: &str, timestamp: i64) -> Value {
    json!({"conversationEntries": [{"id": message_id, "clientTimestamp": timestamp, "entryType": "Message"}]})
}

/// The time a stored message was sent, for answering its resend as the first send was answered.
fn stored_time(org: &Org, conversation_id: &str, message_id: &str) -> i64 {
    org.messaging
        .conversations
        .get(conversation_id)
        .and_then(|c| c.entries.iter().find(|e| e.identifier == message_id))
        .map_or(0, |e| e.client)
}

fn message_id(message: &Value) -> Result<String, MiawError> {
    let id = message.get("id").and_then(Value::as_str).unwrap_or_default();
    if !is_uuid(id) {
        return Err(MiawError::bad_request("Specify the message id in UUID format."));
    }
    Ok(id.to_string())
}

/// `POST …/conversation/{id}/message`.
pub(crate) fn send_message(
    org: &mut Org,
    who: &Identity,
    conversation_id: &str,
    body: &Value,
) -> Result<Value, MiawError> {
    let message =
        body.get("message").filter(|m| m.is_object()).ok_or_else(|| MiawError::bad_request("Specify message."))?;
    let id = message_id(message)?;
    if message.get("messageType").and_then(Value::as_str) != Some("StaticContentMessage") {
        return Err(MiawError::bad_request("message.messageType must be StaticContentMessage."));
    }
    let content = message.get("staticContent").filter(|c| c.is_object());
    if content.and_then(|c| c.get("formatType")).and_then(Value::as_str) != Some("Text") {
        return Err(MiawError::bad_request("message.staticContent.formatType must be Text."));
    }
    let text = content
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| MiawError::bad_request("Specify message.staticContent.text."))?
        .to_string();
    let in_reply_to = optional_text(message, "inReplyToMessageId")?;
    let Some(session_id) = prepare_send(org, who, conversation_id, body, &id)? else {
        return Ok(accepted(&id, stored_time(org, conversation_id, &id)));
    };
    let mut abstract_message = json!({"messageType": "StaticContentMessage", "id": id,
                                      "staticContent": {"formatType": "Text", "text": text}});
    if let Some(reply) = in_reply_to {
        abstract_message["inReplyToMessageId"] = json!(reply);
    }
    add_end_user_message(org, who, conversation_id, &session_id, &id, abstract_message)
}

/// `POST …/conversation/{id}/file`: the file becomes a ContentVersion
/// published to the session, and the entry a message with the attachment.
pub(crate) fn send_file(
    org: &mut Org,
    who: &Identity,
    conversation_id: &str,
    entry: &Value,
    file: Upload,
) -> Result<Value, MiawError> {
    let message =
        entry.get("message").filter(|m| m.is_object()).ok_or_else(|| MiawError::bad_request("Specify message."))?;
    let id = message_id(message)?;
    let file_id = optional_text(message, "fileId")?.unwrap_or_else(new_uuid);
    let text = optional_text(message, "text")?.unwrap_or_default();
    let in_reply_to = optional_text(message, "inReplyToMessageId")?;
    if file.bytes.is_empty() {
        return Err(MiawError::bad_request("The fileData part is empty."));
    }
    if file.bytes.len() > MAX_FILE_BYTES {
        return Err(MiawError::new(413, "The file is larger than the 5 MB limit."));
    }
    let Some(session_id) = prepare_send(org, who, conversation_id, entry, &id)? else {
        return Ok(accepted(&id, stored_time(org, conversation_id, &id)));
    };
    let ctx = system_ctx(org);
    let fields = json!({
        "PathOnClient": file.file_name,
        "VersionData": BASE64.encode(&file.bytes),
        "FirstPublishLocationId": session_id,
        "Description": format!("Sent in the messaging conversation {conversation_id}"),
    });
    let version_id =
        org.db.create("ContentVersion", fields.as_object().expect("an object"), &ctx).map_err(record_error)?;
    let document_id = org
        .db
        .retrieve("ContentVersion", &version_id, Some(&["ContentDocumentId".to_string()]), "59.0")
        .ok()
        .and_then(|r| r["ContentDocumentId"].as_str().map(str::to_string));
    let url =
        format!("{}/services/data/v59.0/sobjects/ContentVersion/{version_id}/VersionData", org.origins.instance_url);
    let mut abstract_message = json!({
        "messageType": "StaticContentMessage",
        "id": id,
        "staticContent": {
            "formatType": "Attachments",
            "text": text,
            "attachments": [{
                "id": file_id, "name": file.file_name, "mimeType": file.content_type, "fileSize": file.bytes.len(),
                "url": url, "contentVersionId": version_id, "contentDocumentId": document_id,
            }],
        },
    });
    if let Some(reply) = in_reply_to {
        abstract_message["inReplyToMessageId"] = json!(reply);
    }
    add_end_user_message(org, who, conversation_id, &session_id, &id, abstract_message)
}

/// `POST …/conversation/{id}/entry`: a typing indicator, streamed, not stored.
pub(crate) fn send_entry(org: &mut Org, who: &Identity, conversation_id: &str, body: &Value) -> Result<(), MiawError> {
    let conversation = org.messaging.conversation(conversation_id, who)?;
    if conversation.closed.is_some() {
        return Err(MiawError::bad_request(format!("The conversation {conversation_id} is closed.")));
    }
    let related: Vec<String> = conversation.open_session().map(|s| s.id.clone()).into_iter().collect();
    let (entry_type, name) = match body.get("entryType").and_then(Value::as_str) {
        Some("TypingStartedIndicator") => ("TypingStartedIndicator", "CONVERSATION_TYPING_STARTED_INDICATOR"),
        Some("TypingStoppedIndicator") => ("TypingStoppedIndicator", "CONVERSATION_TYPING_STOPPED_INDICATOR"),
        _ => return Err(MiawError::bad_request("entryType must be TypingStartedIndicator or TypingStoppedIndicator.")),
    };
    let id = optional_text(body, "id")?.unwrap_or_else(new_uuid);
    let now = org.clock.now_millis();
    let entry = Entry {
        identifier: id.clone(),
        entry_type,
        sender: end_user_sender(&who.subject),
        sender_name: "Guest".into(),
        payload: json!({"entryType": entry_type, "id": id}),
        transcripted: now,
        client: now,
        related,
    };
    org.messaging.publish(conversation_id, name, entry, false);
    Ok(())
}

/// `DELETE …/conversation/{id}?esDeveloperName=`: ends the session and closes the conversation.
pub(crate) fn close_conversation(
    org: &mut Org,
    who: &Identity,
    conversation_id: &str,
    developer_name: Option<&str>,
) -> Result<(), MiawError> {
    let conversation = org.messaging.conversation(conversation_id, who)?;
    match developer_name {
        None | Some("") => return Err(MiawError::bad_request("Specify esDeveloperName.")),
        Some(name) if name != conversation.deployment => {
            return Err(MiawError::bad_request(format!(
                "The conversation {conversation_id} belongs to the deployment {}, not {name}.",
                conversation.deployment
            )));
        }
        Some(_) => {}
    }
    if conversation.closed.is_some() {
        return Ok(());
    }
    let record_id = conversation.record_id.clone();
    end_session(org, conversation_id, true)?;
    let ctx = system_ctx(org);
    org.db
        .update_system("Conversation", &record_id, Values::from([("EndTime", Field::DateTime(ctx.now))]), &ctx)
        .map_err(record_error)?;
    let now = org.clock.now_millis();
    if let Some(c) = org.messaging.conversations.get_mut(conversation_id) {
        c.closed = Some(now);
    }
    let entry_id = new_uuid();
    let entry = Entry {
        identifier: entry_id.clone(),
        entry_type: "CloseConversation",
        sender: end_user_sender(&who.subject),
        sender_name: "Guest".into(),
        payload: json!({"entryType": "CloseConversation", "id": entry_id}),
        transcripted: now,
        client: now,
        related: Vec::new(),
    };
    org.messaging.publish(conversation_id, "CONVERSATION_CLOSE_CONVERSATION", entry, false);
    Ok(())
}

fn limit(raw: Option<&str>) -> Result<usize, MiawError> {
    match raw {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| MiawError::bad_request(format!("limit must be a number from 1 to {MAX_LIMIT}."))),
    }
}

/// `GET …/conversation/list?inclClosedConvs=&limit=`: the identity's conversations, newest first.
pub(crate) fn list_conversations(
    org: &Org,
    who: &Identity,
    include_closed: Option<&str>,
    raw_limit: Option<&str>,
) -> Result<Value, MiawError> {
    let include_closed = match include_closed {
        None | Some("") => false,
        Some(s) if s.eq_ignore_ascii_case("true") => true,
        Some(s) if s.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(MiawError::bad_request("inclClosedConvs must be true or false.")),
    };
    let limit = limit(raw_limit)?;
    let mut mine: Vec<&Conversation> =
        org.messaging.conversations.values().filter(|c| c.owner == who.subject).collect();
    mine.sort_by(|a, b| (b.started, &b.id).cmp(&(a.started, &a.id)));
    let open = mine.iter().filter(|c| c.closed.is_none()).count();
    let closed = mine.len() - open;
    let conversations: Vec<Value> = mine
        .into_iter()
        .filter(|c| include_closed || c.closed.is_none())
        .take(limit)
        .map(|c| {
            json!({"conversationId": c.id, "esDeveloperName": c.deployment, "startTimestamp": c.started,
                   "endTimestamp": c.closed})
        })
        .collect();
    Ok(json!({"openConversationsFound": open, "closedConversationsFound": closed, "conversations": conversations}))
}

/// `GET …/conversation/{id}/entries`.
pub(crate) fn list_entries(
    org: &Org,
    who: &Identity,
    conversation_id: &str,
    query: &EntryQuery,
) -> Result<Value, MiawError> {
    let conversation = org.messaging.conversation(conversation_id, who)?;
    let limit = limit(query.limit.as_deref())?;
    let timestamp = |name: &str, raw: &Option<String>| -> Result<Option<i64>, MiawError> {
        match raw.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(Some)
                .map_err(|_| MiawError::bad_request(format!("{name} must be a time in epoch milliseconds."))),
        }
    };
    let start = timestamp("startTimestamp", &query.start)?;
    let end = timestamp("endTimestamp", &query.end)?;
    let from_start = match query.direction.as_deref() {
        None | Some("") | Some("FromEnd") => false,
        Some("FromStart") => true,
        Some(_) => return Err(MiawError::bad_request("direction must be FromStart or FromEnd.")),
    };
    let types: Option<Vec<&str>> = query
        .types
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.split(',').map(str::trim).filter(|t| !t.is_empty()).collect());
    let matching = conversation.entries.iter().filter(|e| {
        start.is_none_or(|s| e.transcripted >= s)
            && end.is_none_or(|t| e.transcripted <= t)
            && types.as_ref().is_none_or(|types| types.contains(&e.entry_type))
    });
    let entries: Vec<Value> = if from_start {
        matching.take(limit).map(|e| e.to_json(false)).collect()
    } else {
        let all: Vec<&Entry> = matching.collect();
        all.into_iter().rev().take(limit).map(|e| e.to_json(false)).collect()
    };
    Ok(json!({"conversationEntries": entries}))
}

// ---- the agent's side (admin API) ----

/// An agent accepts a waiting session: the routing result, the agent joining, the session active.
pub(crate) fn accept(org: &mut Org, reference: &str, agent_user_id: &str) -> Result<Value, String> {
    let (conversation_id, index) = org.messaging.find_session(reference)?;
    let session = org.messaging.conversations[&conversation_id].sessions[index].clone();
    if session.status != SessionStatus::Waiting {
        return Err(format!("the session {} is {}, not Waiting", session.id, session.status.as_str()));
    }
    let user = org.user_by_id(agent_user_id).ok_or_else(|| format!("no user {agent_user_id}"))?;
    if user["IsActive"] != true {
        return Err(format!("the user {agent_user_id} is inactive"));
    }
    let agent = Agent {
        user_id: user["Id"].as_str().unwrap_or(agent_user_id).to_string(),
        name: user["Name"].as_str().unwrap_or("Agent").to_string(),
    };
    let ctx = system_ctx(org);
    org.db
        .update_system(
            "MessagingSession",
            &session.id,
            Values::from([
                ("Status", Field::Text("Active".into())),
                ("AcceptTime", Field::DateTime(ctx.now)),
                ("AgentType", Field::Text("Agent".into())),
                ("OwnerId", Field::Text(agent.user_id.clone())),
            ]),
            &ctx,
        )
        .map_err(|e| record_error(e).message)?;
    if let Some(s) = org.messaging.conversations.get_mut(&conversation_id).map(|c| &mut c.sessions[index]) {
        s.status = SessionStatus::Active;
        s.agent = Some(agent.clone());
    }
    let now = org.clock.now_millis();
    let related = vec![session.id.clone()];
    let routing_id = new_uuid();
    let routing = Entry {
        identifier: routing_id.clone(),
        entry_type: "RoutingResult",
        sender: system_sender("Router"),
        sender_name: "Automated Process".into(),
        payload: json!({"entryType": "RoutingResult", "id": routing_id, "routingType": "Initial",
                        "failureType": "None", "recordId": session.id}),
        transcripted: now,
        client: now,
        related: related.clone(),
    };
    org.messaging.publish(&conversation_id, "CONVERSATION_ROUTING_RESULT", routing, true);
    let joined_id = new_uuid();
    let joined = Entry {
        identifier: joined_id.clone(),
        entry_type: "ParticipantChanged",
        sender: system_sender("System"),
        sender_name: "Automated Process".into(),
        payload: json!({"entryType": "ParticipantChanged", "id": joined_id, "entries": [
            {"operation": "add", "displayName": agent.name, "participant": agent_sender(&agent)}]}),
        transcripted: now,
        client: now,
        related: related.clone(),
    };
    org.messaging.publish(&conversation_id, "CONVERSATION_PARTICIPANT_CHANGED", joined, true);
    let status_id = new_uuid();
    let status = Entry {
        identifier: status_id.clone(),
        entry_type: "SessionStatusChanged",
        sender: system_sender("System"),
        sender_name: "Automated Process".into(),
        payload: json!({"entryType": "SessionStatusChanged", "id": status_id, "sessionId": session.id,
                        "sessionStatus": "Active"}),
        transcripted: now,
        client: now,
        related,
    };
    org.messaging.publish(&conversation_id, "CONVERSATION_SESSION_STATUS_CHANGED", status, true);
    let c = &org.messaging.conversations[&conversation_id];
    Ok(Messaging::session_json(c, &c.sessions[index]))
}

/// The accepted session a reference names, and its agent.
fn active_session(org: &Org, reference: &str) -> Result<(String, usize, Agent), String> {
    let (conversation_id, index) = org.messaging.find_session(reference)?;
    let session = &org.messaging.conversations[&conversation_id].sessions[index];
    match (&session.agent, session.status) {
        (Some(agent), SessionStatus::Active) => Ok((conversation_id, index, agent.clone())),
        _ => {
            Err(format!("the session {} is {} and has no agent: accept it first", session.id, session.status.as_str()))
        }
    }
}

/// The agent writes to the customer.
pub(crate) fn agent_message(org: &mut Org, reference: &str, text: &str) -> Result<Value, String> {
    let (conversation_id, index, agent) = active_session(org, reference)?;
    let session_id = org.messaging.conversations[&conversation_id].sessions[index].id.clone();
    let id = new_uuid();
    let now = org.clock.now_millis();
    let entry = Entry {
        identifier: id.clone(),
        entry_type: "Message",
        sender: agent_sender(&agent),
        sender_name: agent.name.clone(),
        payload: json!({"entryType": "Message", "id": id, "abstractMessage": {
            "messageType": "StaticContentMessage", "id": id,
            "staticContent": {"formatType": "Text", "text": text}}}),
        transcripted: now,
        client: now,
        related: vec![session_id.clone()],
    };
    let count = {
        let c = org.messaging.conversations.get_mut(&conversation_id).expect("found above");
        c.message_ids.insert(id.clone());
        c.sessions[index].agent_messages += 1;
        c.sessions[index].agent_messages
    };
    let ctx = WriteContext { now: org.clock.now(), user_id: agent.user_id.clone() };
    org.db
        .update_system("MessagingSession", &session_id, Values::from([("AgentMessageCount", Field::Int(count))]), &ctx)
        .map_err(|e| record_error(e).message)?;
    org.messaging.publish(&conversation_id, "CONVERSATION_MESSAGE", entry, true);
    Ok(json!({"id": id, "session_id": session_id, "conversation_id": conversation_id, "timestamp": now}))
}

/// The agent starts or stops typing.
pub(crate) fn agent_typing(org: &mut Org, reference: &str, typing: bool) -> Result<Value, String> {
    let (conversation_id, index, agent) = active_session(org, reference)?;
    let session_id = org.messaging.conversations[&conversation_id].sessions[index].id.clone();
    let (entry_type, name) = if typing {
        ("TypingStartedIndicator", "CONVERSATION_TYPING_STARTED_INDICATOR")
    } else {
        ("TypingStoppedIndicator", "CONVERSATION_TYPING_STOPPED_INDICATOR")
    };
    let id = new_uuid();
    let now = org.clock.now_millis();
    let entry = Entry {
        identifier: id.clone(),
        entry_type,
        sender: agent_sender(&agent),
        sender_name: agent.name.clone(),
        payload: json!({"entryType": entry_type, "id": id}),
        transcripted: now,
        client: now,
        related: vec![session_id],
    };
    org.messaging.publish(&conversation_id, name, entry, false);
    Ok(json!({"typing": typing}))
}

/// The agent (or the org) ends a session: `Status` `Ended`; the customer's next message gets 417.
pub(crate) fn end(org: &mut Org, reference: &str) -> Result<Value, String> {
    let (conversation_id, index) = org.messaging.find_session(reference)?;
    let session = &org.messaging.conversations[&conversation_id].sessions[index];
    if session.status == SessionStatus::Ended {
        return Err(format!("the session {} has ended already", session.id));
    }
    if index + 1 != org.messaging.conversations[&conversation_id].sessions.len() {
        return Err(format!("the session {} is not its conversation's latest", session.id));
    }
    end_session(org, &conversation_id, false).map_err(|e| e.message)?;
    let c = &org.messaging.conversations[&conversation_id];
    Ok(Messaging::session_json(c, &c.sessions[index]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids_must_be_lowercase_uuids() {
        let id = new_uuid();
        assert!(is_lowercase_uuid(&id), "{id}");
        assert!(!is_lowercase_uuid(&id.to_uppercase()));
        assert!(!is_lowercase_uuid("not-a-uuid"));
        assert!(!is_lowercase_uuid("123e4567-e89b-12d3-c456-426614174000"), "variant c");
        assert!(is_lowercase_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(is_uuid("123E4567-E89B-12D3-A456-426614174000"));
        assert!(!is_uuid("123E4567E89B12D3A456426614174000"));
    }

    fn deployment() -> Deployment {
        Deployment {
            developer_name: "Web".into(),
            label: "Web".into(),
            channel_id: "0Mj".into(),
            queue_id: None,
            pre_chat: vec![PreChatParameter {
                name: "_email".into(),
                label: "Email".into(),
                max_length: 5,
                field: None,
                field_type: "Text".into(),
                hidden: true,
                required: false,
            }],
        }
    }

    #[test]
    fn routing_attributes_keep_parameters_only_and_refuse_long_values() {
        let d = deployment();
        let kept = routing_attributes(&d, Some(&json!({"_email": "a@b.c", "other": "x", "n": 3}))).unwrap();
        assert_eq!(kept, BTreeMap::from([("_email".to_string(), "a@b.c".to_string())]));
        let err = routing_attributes(&d, Some(&json!({"_email": "toolong"}))).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("_email"), "{}", err.message);
        assert_eq!(routing_attributes(&d, Some(&json!(["x"]))).unwrap_err().status, 400);
        assert_eq!(routing_attributes(&d, Some(&json!({"_email": {"a": 1}}))).unwrap_err().status, 400);
        assert!(routing_attributes(&d, None).unwrap().is_empty());
    }
}
