//! The webhook agent: posts the conversation as JSON to a URL and reads the
//! agent's turn from the response. Put any agent (an LLM, a rules engine, a
//! human-in-the-loop tool) behind one HTTP endpoint.
//!
//! ```no_run
//! # async fn example(conversation: casebridge::runtime::bindings::types::Conversation) -> anyhow::Result<()> {
//! use std::time::Duration;
//! use casebridge::agent::{WebhookAgent, WebhookConfig};
//! use casebridge::runtime::Agent;
//!
//! let config = WebhookConfig::new("https://agent.example.com/turn")?
//!     .bearer_token("s3cr3t")
//!     .timeout(Duration::from_secs(20));
//! let agent = WebhookAgent::new(config)?;
//! let turn = agent.respond("acme", conversation).await;
//! # Ok(()) }
//! ```
//!
//! # The request
//!
//! `POST <url>` with `Content-Type: application/json`, `X-Casebridge-Org:
//! <org>`, and `Authorization: Bearer <token>` when a token is configured. The
//! body:
//!
//! ```json
//! {
//!   "conversation": {
//!     "id": "500xx000001AbCdAAK",
//!     "channel": "salesforce_case",
//!     "platform_id": "c_1042",
//!     "case_number": "00001001",
//!     "subject": "Can't upload photos",
//!     "origin": "Email",
//!     "attributes": { "Priority": "High", "IsEscalated": false },
//!     "person": { "FirstName": "Jane", "Email": "jane@example.com" },
//!     "company": { "Name": "Example Ltd", "NumberOfEmployees": 120 },
//!     "parts": [
//!       {
//!         "id": "0D5xx0000001AbC",
//!         "source": "case_description",
//!         "author": "customer",
//!         "author_name": "Jane Doe",
//!         "text": "The app crashes when I upload a photo.",
//!         "created_at": "2025-01-02T03:04:05.000Z",
//!         "attachments": [
//!           { "name": "crash.png", "content_type": "image/png", "size": 48213,
//!             "content_path": "/services/data/v62.0/sobjects/ContentVersion/068…/VersionData", "inline": true }
//!         ]
//!       }
//!     ],
//!     "resolution": "none"
//!   }
//! }
//! ```
//!
//! - `channel` is `salesforce_case`, `messenger` or `email`; `id` is the case
//!   Id for a case, else the platform's conversation id.
//! - `platform_id`, `case_number`, `subject`, `origin` and `author_name` are
//!   a string or `null` (`case_number` and `origin` are `null` outside cases).
//! - `source` is one of `case_description`, `feed_item`, `feed_comment`,
//!   `email_message`, `case_comment`; `author` one of `customer`, `agent`,
//!   `teammate`, `system`; `resolution` one of `none`, `soft_resolution`,
//!   `hard_resolution`, `abandoned`, `routed_to_team`.
//! - `created_at` is RFC 3339 in UTC with milliseconds (`null` for a timestamp
//!   outside chrono's range). Parts are oldest first.
//! - `attributes`, `person` and `company` are objects from attribute name to
//!   value (when a name repeats, the last value wins). Values are natural JSON:
//!
//! | `attribute-value` | JSON sent |
//! |---|---|
//! | `null` | `null` |
//! | `text(s)` | `"s"` |
//! | `boolean(b)` | `true` / `false` |
//! | `integer(i)` | a number without fraction |
//! | `decimal(f)` | a number (`null` if not finite) |
//! | `date` | `"2025-01-02"` |
//! | `datetime(ms)` | `"2025-01-02T03:04:05.000Z"` |
//! | `time` | `"13:45:00.000"` |
//! | `list(values)` | an array of strings |
//! | `compound(json)` | the JSON value itself (its text when it is not valid JSON) |
//!
//! # The response
//!
//! A 2xx response whose body is one JSON object:
//!
//! ```json
//! { "action": "answer",   "text": "Here's how to …", "detected": { "Type": "Problem" } }
//! { "action": "ask",      "text": "Which device are you using?" }
//! { "action": "hand_off", "reason": "Refund above the agent's limit" }
//! { "action": "solved",   "text": "Glad it works! Closing this case." }
//! ```
//!
//! - `action` (required): `answer` and `ask` need a non-empty `text`;
//!   `hand_off` needs a non-empty `reason` (for the team, not the customer);
//!   `solved` takes an optional `text` (string or `null`), the closing message.
//! - `detected` (optional, object or `null`): attribute values the agent
//!   found in the conversation. JSON maps back to `attribute-value` as:
//!   `null` → `null`; string → `text`; `true`/`false` → `boolean`; a number
//!   without fraction or exponent that fits 64 bits → `integer`, any other
//!   number → `decimal`; an array of strings → `list`; an object →
//!   `compound` (its JSON text). Dates and times come as text: the connector
//!   checks them against the field's type.
//! - Other members are ignored, so an agent may add its own.
//!
//! # Attribute detection
//!
//! When a workflow's detection step runs (A11), the same URL gets the
//! conversation and the list fields to fill, each with its described values:
//!
//! ```json
//! { "conversation": { … },
//!   "detect": [ { "field": "Type", "label": "Type", "multiple": false,
//!                 "values": [ { "value": "Billing", "label": "Billing",
//!                               "description": "Invoices, charges, refunds" } ] } ] }
//! ```
//!
//! and answers `{ "detected": { "Type": "Billing" } }` (a list for a
//! multi-select; a field left out: nothing fits). The connector checks every
//! value against the field and refuses one that is not a described active
//! value. `{ "detected": null }` (or no `detected`) leaves detection to the
//! built-in ranking of the descriptions, as without a webhook.
//!
//! # Errors
//!
//!
//! A timeout, a refused connection, a TLS failure or a non-2xx status is
//! `agent-error::unavailable` (the connector retries next cycle). A 2xx
//! response that is not a turn as above is `agent-error::invalid-turn`,
//! naming what was wrong. Redirects are not followed (a moved webhook is a
//! configuration error, and following one would carry the token elsewhere).
//! The token and the URL's query and credentials never appear in errors or logs.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Client, Url};
use serde_json::{Map, Value, json};

use crate::runtime::Agent;
use crate::runtime::bindings::agent::{Action, AgentError, DetectionField, Turn};
use crate::runtime::bindings::types::{
    Attachment, Attribute, AttributeValue, AuthorRole, Channel, Conversation, ConversationPart, PartSource,
    ResolutionState,
};

/// How long a turn may take, sending to last byte. Language-model agents take
/// seconds per turn; 30 s leaves room for a slow one while a cycle of many
/// cases still fits the guest's five-minute deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest response body accepted. A turn is a reply of a few kilobytes;
/// a megabyte is far beyond any real one and bounds a misbehaving endpoint.
pub const MAX_TURN_BYTES: usize = 1 << 20;

/// How much of an error response's body goes into the error message.
const ERROR_BODY_CHARS: usize = 300;

/// Where the webhook is and how to call it.
#[derive(Clone)]
pub struct WebhookConfig {
    url: Url,
    bearer_token: Option<String>,
    timeout: Duration,
}

/// Why a webhook agent could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("the agent webhook URL {url:?} is not a valid URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("the agent webhook URL must start with http:// or https://, not {scheme}://")]
    UnsupportedScheme { scheme: String },
    #[error("the agent webhook token contains characters not allowed in an HTTP header; use a printable ASCII token")]
    InvalidToken,
    #[error("cannot set up the HTTP client for the agent webhook: {0}")]
    Client(String),
}

impl WebhookConfig {
    /// A webhook at `url` (http or https), with no token and [`DEFAULT_TIMEOUT`].
    pub fn new(url: &str) -> Result<Self, WebhookConfigError> {
        let parsed =
            Url::parse(url).map_err(|e| WebhookConfigError::InvalidUrl { url: redact(url), reason: e.to_string() })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(WebhookConfigError::UnsupportedScheme { scheme: parsed.scheme().to_string() });
        }
        Ok(WebhookConfig { url: parsed, bearer_token: None, timeout: DEFAULT_TIMEOUT })
    }

    /// Send `Authorization: Bearer <token>` with every request.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// Give up on a turn after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &endpoint(&self.url))
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// An agent behind an HTTP endpoint.
pub struct WebhookAgent {
    client: Client,
    url: Url,
    /// The URL without credentials or query, for messages.
    endpoint: String,
    authorization: Option<HeaderValue>,
    timeout: Duration,
}

impl fmt::Debug for WebhookAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookAgent").field("endpoint", &self.endpoint).field("timeout", &self.timeout).finish()
    }
}

impl WebhookAgent {
    /// Set up the HTTP client (rustls, the timeout, no redirects).
    pub fn new(config: WebhookConfig) -> Result<Self, WebhookConfigError> {
        let authorization = match &config.bearer_token {
            Some(token) => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| WebhookConfigError::InvalidToken)?;
                // Keeps the value out of `Debug` output of requests.
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let client = Client::builder()
            .use_rustls_tls()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("casebridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebhookConfigError::Client(e.without_url().to_string()))?;
        Ok(WebhookAgent {
            client,
            endpoint: endpoint(&config.url),
            url: config.url,
            authorization,
            timeout: config.timeout,
        })
    }

    async fn call(&self, org: &str, conversation: &Conversation) -> Result<Turn, AgentError> {
        let body = self.post(org, &json!({ "conversation": conversation_to_json(conversation) })).await?;
        turn_from_json(&body).map_err(|problem| self.invalid(problem, "turn"))
    }

    /// Name the endpoint in an `invalid-turn` error about its `what`.
    fn invalid(&self, problem: AgentError, what: &str) -> AgentError {
        match problem {
            AgentError::InvalidTurn(why) => {
                AgentError::InvalidTurn(format!("the agent webhook {} sent an invalid {what}: {why}", self.endpoint))
            }
            other => other,
        }
    }

    /// POST `body`; the 2xx response's body, at most [`MAX_TURN_BYTES`].
    async fn post(&self, org: &str, body: &Value) -> Result<Vec<u8>, AgentError> {
        let mut request = self.client.post(self.url.clone()).header("X-Casebridge-Org", org).json(body);
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let mut response = request.send().await.map_err(|e| self.unavailable(e))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unavailable(e))? {
            if body.len() + chunk.len() > MAX_TURN_BYTES {
                if !status.is_success() {
                    break;
                }
                return Err(AgentError::InvalidTurn(format!(
                    "the agent webhook {} sent a response larger than {MAX_TURN_BYTES} bytes; a turn is a short JSON object",
                    self.endpoint
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let excerpt: String = text.trim().chars().take(ERROR_BODY_CHARS).collect();
            return Err(AgentError::Unavailable(format!(
                "the agent webhook {} answered HTTP {status}{}{excerpt}",
                self.endpoint,
                if excerpt.is_empty() { "" } else { ": " }
            )));
        }
        Ok(body)
    }

    fn unavailable(&self, error: reqwest::Error) -> AgentError {
        let endpoint = &self.endpoint;
        if error.is_timeout() {
            AgentError::Unavailable(format!(
                "the agent webhook {endpoint} did not answer within {:?}; the conversation is retried next cycle",
                self.timeout
            ))
        } else if error.is_connect() {
            AgentError::Unavailable(format!("cannot connect to the agent webhook {endpoint}: {}", error_chain(&error)))
        } else {
            AgentError::Unavailable(format!("the call to the agent webhook {endpoint} failed: {}", error_chain(&error)))
        }
    }
}

#[async_trait::async_trait]
impl Agent for WebhookAgent {
    async fn respond(&self, org: &str, conversation: Conversation) -> Result<Turn, AgentError> {
        let result = self.call(org, &conversation).await;
        match &result {
            Ok(turn) => {
                tracing::debug!(org, conversation = %conversation.id, endpoint = %self.endpoint, action = action_name(&turn.action), "agent webhook turn")
            }
            Err(error) => tracing::warn!(org, conversation = %conversation.id, ?error, "agent webhook failed"),
        }
        result
    }

    /// The webhook's own detection when it answers one (the module docs),
    /// else the built-in ranking of the descriptions.
    async fn detect(
        &self,
        org: &str,
        conversation: Conversation,
        fields: Vec<DetectionField>,
    ) -> Result<Vec<Attribute>, AgentError> {
        let request = json!({
            "conversation": conversation_to_json(&conversation),
            "detect": fields.iter().map(detection_field_to_json).collect::<Vec<_>>(),
        });
        let body = self.post(org, &request).await?;
        match detected_from_json(&body).map_err(|problem| self.invalid(problem, "detection"))? {
            Some(detected) => Ok(detected),
            None => Ok(super::detect::rank(&conversation, &fields, super::detect::MIN_DETECTION_RELEVANCE)),
        }
    }
}

fn detection_field_to_json(field: &DetectionField) -> Value {
    json!({
        "field": field.field,
        "label": field.label,
        "multiple": field.multiple,
        "values": field.values.iter().map(|v| json!({ "value": v.value, "label": v.label, "description": v.description })).collect::<Vec<_>>(),
    })
}

/// The request body's `conversation` object (see the module docs).
pub fn conversation_to_json(conversation: &Conversation) -> Value {
    json!({
        "id": conversation.id,
        "channel": match conversation.channel {
            Channel::SalesforceCase => "salesforce_case",
            Channel::Messenger => "messenger",
            Channel::Email => "email",
        },
        "platform_id": conversation.platform_id,
        "case_number": conversation.case_number,
        "subject": conversation.subject,
        "origin": conversation.origin,
        "attributes": attributes_to_json(&conversation.attributes),
        "person": attributes_to_json(&conversation.person),
        "company": attributes_to_json(&conversation.company),
        "parts": conversation.parts.iter().map(part_to_json).collect::<Vec<_>>(),
        "resolution": match conversation.resolution {
            ResolutionState::None => "none",
            ResolutionState::SoftResolution => "soft_resolution",
            ResolutionState::HardResolution => "hard_resolution",
            ResolutionState::Abandoned => "abandoned",
            ResolutionState::RoutedToTeam => "routed_to_team",
        },
    })
}

fn attributes_to_json(attributes: &[Attribute]) -> Value {
    Value::Object(attributes.iter().map(|a| (a.name.clone(), attribute_to_json(&a.value))).collect::<Map<_, _>>())
}

pub fn part_to_json(part: &ConversationPart) -> Value {
    json!({
        "id": part.id,
        "source": match part.source {
            PartSource::CaseDescription => "case_description",
            PartSource::FeedItem => "feed_item",
            PartSource::FeedComment => "feed_comment",
            PartSource::EmailMessage => "email_message",
            PartSource::CaseComment => "case_comment",
        },
        "author": match part.author {
            AuthorRole::Customer => "customer",
            AuthorRole::Agent => "agent",
            AuthorRole::Teammate => "teammate",
            AuthorRole::System => "system",
        },
        "author_name": part.author_name,
        "text": part.text,
        "created_at": rfc3339(part.created_at),
        "attachments": part.attachments.iter().map(attachment_to_json).collect::<Vec<_>>(),
    })
}

fn attachment_to_json(attachment: &Attachment) -> Value {
    json!({
        "name": attachment.name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "content_path": attachment.content_path,
        "inline": attachment.inline,
    })
}

/// An attribute value as natural JSON (the table in the module docs).
pub fn attribute_to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::Null => Value::Null,
        AttributeValue::Text(text) => Value::String(text.clone()),
        AttributeValue::Boolean(b) => Value::Bool(*b),
        AttributeValue::Integer(i) => Value::from(*i),
        AttributeValue::Decimal(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        AttributeValue::Date(d) => Value::String(format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)),
        AttributeValue::Datetime(ms) => rfc3339(*ms),
        AttributeValue::Time(t) => {
            Value::String(format!("{:02}:{:02}:{:02}.{:03}", t.hour, t.minute, t.second, t.millisecond))
        }
        AttributeValue::List(values) => Value::from(values.clone()),
        AttributeValue::Compound(text) => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())),
    }
}

/// A detected value from natural JSON (the mapping in the module docs); the
/// error says what is wrong with it.
pub fn attribute_from_json(value: &Value) -> Result<AttributeValue, String> {
    Ok(match value {
        Value::Null => AttributeValue::Null,
        Value::Bool(b) => AttributeValue::Boolean(*b),
        Value::String(text) => AttributeValue::Text(text.clone()),
        Value::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(i), _) => AttributeValue::Integer(i),
            (None, Some(f)) => AttributeValue::Decimal(f),
            (None, None) => return Err(format!("the number {number} is out of range")),
        },
        Value::Array(items) => AttributeValue::List(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(text) => Ok(text.clone()),
                    other => Err(format!("a list holds only strings, but item {i} is {}", kind(other))),
                })
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(_) => AttributeValue::Compound(value.to_string()),
    })
}

/// Read a turn from a response body (the shape in the module docs). Every
/// problem is `invalid-turn`, naming the member at fault.
pub fn turn_from_json(body: &[u8]) -> Result<Turn, AgentError> {
    let invalid = |what: String| AgentError::InvalidTurn(what);
    let value: Value = serde_json::from_slice(body).map_err(|e| invalid(format!("the body is not JSON ({e})")))?;
    let Value::Object(object) = value else {
        return Err(invalid(format!("the body must be a JSON object with an `action`, not {}", kind(&value))));
    };
    let action = match object.get("action") {
        Some(Value::String(action)) => action.as_str(),
        Some(other) => return Err(invalid(format!("`action` must be a string, not {}", kind(other)))),
        None => {
            return Err(invalid(
                "`action` is missing; expected \"answer\", \"ask\", \"hand_off\" or \"solved\"".into(),
            ));
        }
    };
    let required = |member: &str| match object.get(member) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        Some(Value::String(_)) => Err(invalid(format!("`{member}` is empty; action \"{action}\" needs it"))),
        Some(other) => Err(invalid(format!("`{member}` must be a string, not {}", kind(other)))),
        None => Err(invalid(format!("`{member}` is missing; action \"{action}\" needs it"))),
    };
    let action = match action {
        "answer" => Action::Answer(required("text")?),
        "ask" => Action::Ask(required("text")?),
        "hand_off" => Action::HandOff(required("reason")?),
        "solved" => Action::Solved(match object.get("text") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.trim().is_empty() => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => return Err(invalid(format!("`text` must be a string or null, not {}", kind(other)))),
        }),
        other => {
            return Err(invalid(format!(
                "`action` is \"{other}\"; expected \"answer\", \"ask\", \"hand_off\" or \"solved\""
            )));
        }
    };
    let detected = detected_member(&object)?.unwrap_or_default();
    Ok(Turn { action, detected })
}

/// The `detected` member of a response object; none when absent or `null`.
fn detected_member(object: &Map<String, Value>) -> Result<Option<Vec<Attribute>>, AgentError> {
    let invalid = |what: String| AgentError::InvalidTurn(what);
    match object.get("detected") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(values)) => values
            .iter()
            .map(|(name, value)| {
                attribute_from_json(value)
                    .map(|value| Attribute { name: name.clone(), value })
                    .map_err(|what| invalid(format!("`detected.{name}`: {what}")))
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(other) => Err(invalid(format!("`detected` must be an object of attribute values, not {}", kind(other)))),
    }
}

/// Read a detection response (`{"detected": {...}}`, see the module docs):
/// none when the webhook leaves detection to the built-in ranking.
pub fn detected_from_json(body: &[u8]) -> Result<Option<Vec<Attribute>>, AgentError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| AgentError::InvalidTurn(format!("the body is not JSON ({e})")))?;
    match value {
        Value::Object(object) => detected_member(&object),
        other => Err(AgentError::InvalidTurn(format!("the body must be a JSON object, not {}", kind(&other)))),
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> Value {
    DateTime::from_timestamp_millis(ms)
        .map_or(Value::Null, |t| Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true)))
}

/// What kind of JSON value this is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Answer(_) => "answer",
        Action::Ask(_) => "ask",
        Action::HandOff(_) => "hand_off",
        Action::Solved(_) => "solved",
    }
}

/// `scheme://host[:port]/path`: no credentials, no query, no fragment.
fn endpoint(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

/// A URL that did not parse, cut before anything that may be a secret.
fn redact(url: &str) -> String {
    let before_query = url.split(['?', '#']).next().unwrap_or("");
    match before_query.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.rsplit_once('@').map_or(rest, |(_, host)| host)),
        None => before_query.to_string(),
    }
}

/// An error and its sources, without the URL (it may hold a secret query).
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.is_empty() { "no further detail".into() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detection_answer_is_its_values_or_none_for_the_built_in_ranking() {
        let found = detected_from_json(br#"{"detected": {"Type": "Billing", "Reason": ["a", "b"]}}"#).unwrap().unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(detected_from_json(br#"{"action": "answer", "text": "hi"}"#).unwrap(), None, "a turn-only webhook");
        assert_eq!(detected_from_json(br#"{"detected": null}"#).unwrap(), None);
        assert!(matches!(detected_from_json(br#"{"detected": 3}"#), Err(AgentError::InvalidTurn(_))));
        assert!(matches!(detected_from_json(b"[]"), Err(AgentError::InvalidTurn(_))));
    }

    #[test]
    fn endpoints_hide_credentials_and_queries() {
        let url = Url::parse("https://user:pw@agent.example.com:8443/turn?token=abc#x").expect("valid URL");
        assert_eq!(endpoint(&url), "https://agent.example.com:8443/turn");
        assert_eq!(redact("https://user:pw@host/x?token=abc"), "https://host/x");
    }

    #[test]
    fn debug_output_redacts_the_token() {
        let config = WebhookConfig::new("https://agent.example.com/turn").expect("valid").bearer_token("s3cr3t");
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }
}
