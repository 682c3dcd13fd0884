//! The platform API: a local JSON HTTP API for a support platform to push
//! and read its people, leads, companies, teammates, conversations and
//! messages, and to follow what changed (E9). Served by `casebridge run` on
//! `[api] listen` (127.0.0.1:8710 by default); every request needs
//! `Authorization: Bearer <token>` with a token from `casebridge api token
//! create`. The README documents every endpoint with `curl`.
//!
//! Values are natural JSON, read by the attribute's defined type; every
//! refusal is `{"error": {"field": …, "message": …}}` naming the field.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use super::{
    CompanyPatch, ConversationPatch, PersonPatch, PlatformFailure, Refusal, StorePlatform, check_id, type_name,
};
use crate::agent::webhook::{attribute_to_json, part_to_json, rfc3339};
use crate::runtime::bindings::platform::{
    AttributeDefinition, AttributeKind, Company, ConversationState, LinkedObject, Person, PersonRole,
    PlatformAttribute, PlatformConversation, RecordKind, SalesforceLink, Teammate, ValueType,
};
use crate::runtime::bindings::types::{
    AttributeValue, AuthorRole, CalendarDate, Channel, ConversationPart, PartSource, TimeOfDay,
};

/// The largest request body, in bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Items per page: the default and the most.
const PAGE_DEFAULT: u32 = 50;
const PAGE_MAX: u32 = 200;

/// What the API serves from.
#[derive(Clone)]
pub struct ApiState {
    pub platform: StorePlatform,
    /// The configured orgs: any other is 404.
    pub orgs: Arc<BTreeSet<String>>,
    /// The host whose connector runs the CRM actions; none: they answer 503.
    pub host: Option<Arc<crate::host::Host>>,
}

/// The API's router.
pub fn router(state: ApiState) -> Router {
    let org = Router::new()
        .route("/attributes", get(list_attributes))
        .route("/attributes/{entity}/{name}", put(define_attribute))
        .route("/people", get(list_people))
        .route("/people/{id}", get(get_person).put(put_person))
        .route("/companies", get(list_companies))
        .route("/companies/{id}", get(get_company).put(put_company))
        .route("/teammates", get(list_teammates))
        .route("/teammates/{id}", put(put_teammate))
        .route("/conversations", get(list_conversations))
        .route("/conversations/{id}", get(get_conversation).put(put_conversation))
        .route("/conversations/{id}/messages", post(add_message))
        .route("/changes", get(changes))
        .merge(super::crm::routes());
    Router::new()
        .nest("/api/v1/orgs/{org}", org)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serve the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, router(state), shutdown).await
}

/// Serve any router (the API with the web messenger beside it) until `shutdown`.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// The SHA-256 a token is kept as.
pub fn token_hash(token: &str) -> Vec<u8> {
    sha2::Sha256::digest(token.as_bytes()).to_vec()
}

/// A new random token: 32 bytes, URL-safe base64.
pub fn new_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An error response.
pub(crate) struct ApiError {
    status: StatusCode,
    field: Option<String>,
    message: String,
    /// More of what went wrong, as JSON members of `error` (e.g. `missing`).
    details: Map<String, Value>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, field: Option<&str>, message: impl Into<String>) -> ApiError {
        ApiError { status, field: field.map(str::to_string), message: message.into(), details: Map::new() }
    }

    /// The error with `details` among the members of `error`.
    pub(crate) fn with_details(mut self, details: Map<String, Value>) -> ApiError {
        self.details = details;
        self
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, Some(field), message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = self.details;
        error.insert("field".into(), json!(self.field));
        error.insert("message".into(), json!(self.message));
        (self.status, Json(json!({"error": error}))).into_response()
    }
}

impl From<PlatformFailure> for ApiError {
    fn from(failure: PlatformFailure) -> Self {
        match failure {
            PlatformFailure::Refused(Refusal { field, message }) => ApiError::invalid(&field, message),
            PlatformFailure::NotFound(what) => ApiError::new(StatusCode::NOT_FOUND, None, format!("{what} not found")),
            other => {
                tracing::error!("the platform API failed: {other}");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, None, "the host's database failed; try again later")
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        // 400 for a body that is not JSON, 413 for one over the limit, 415
        // without a JSON content type.
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the body is larger than {MAX_BODY_BYTES} bytes; send fewer records per request")
        } else {
            format!("the body is not the JSON expected: {}", rejection.body_text())
        };
        ApiError::new(status, None, message)
    }
}

pub(crate) type Answer = Result<Response, ApiError>;

async fn authenticate(State(state): State<ApiState>, headers: HeaderMap, request: Request, next: Next) -> Response {
    let how = "send `Authorization: Bearer <token>` with a token from `casebridge api token create <name>`";
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return ApiError::new(StatusCode::UNAUTHORIZED, None, format!("no token: {how}")).into_response();
    };
    let hash = token_hash(token);
    let store = state.platform.0.clone();
    // The database compares the full hash: a guess learns nothing from timing
    // beyond whether a 256-bit hash exists.
    match tokio::task::spawn_blocking(move || store.api_token_named(&hash)).await {
        Ok(Ok(Some(_))) => next.run(request).await,
        Ok(Ok(None)) => {
            ApiError::new(StatusCode::UNAUTHORIZED, None, format!("the token is unknown or revoked: {how}"))
                .into_response()
        }
        _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, None, "the host's database failed; try again later")
            .into_response(),
    }
}

pub(crate) fn known_org(state: &ApiState, org: &str) -> Result<(), ApiError> {
    if state.orgs.contains(org) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, Some("org"), format!("no org `{org}` in the configuration")))
    }
}

/// Runs a platform call off the async workers.
async fn blocking<T: Send + 'static>(
    state: &ApiState,
    call: impl FnOnce(&StorePlatform) -> Result<T, PlatformFailure> + Send + 'static,
) -> Result<T, ApiError> {
    let platform = state.platform.clone();
    match tokio::task::spawn_blocking(move || call(&platform)).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(_) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "the request failed on its thread")),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Deserialize)]
struct Page {
    limit: Option<u32>,
    cursor: Option<String>,
    email: Option<String>,
}

impl Page {
    fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(PAGE_DEFAULT),
            Some(limit) if (1..=PAGE_MAX).contains(&limit) => Ok(limit),
            Some(_) => Err(ApiError::invalid("limit", format!("must be 1 to {PAGE_MAX}"))),
        }
    }
}

fn page(items: Vec<Value>, next: Option<String>) -> Response {
    Json(json!({"items": items, "next_cursor": next})).into_response()
}

// ---- the JSON shapes ---------------------------------------------------------------------------

pub(crate) fn body_object(body: Result<Json<Value>, JsonRejection>) -> Result<Map<String, Value>, ApiError> {
    match body? {
        Json(Value::Object(object)) => Ok(object),
        _ => Err(ApiError::new(StatusCode::BAD_REQUEST, None, "the body must be a JSON object")),
    }
}

/// A member that is a string or null: `None` absent, `Some(None)` null.
fn optional_text(body: &Map<String, Value>, field: &str) -> Result<Option<Option<String>>, ApiError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()).filter(|s| !s.trim().is_empty()))),
        Some(_) => Err(ApiError::invalid(field, "must be a string or null")),
    }
}

pub(crate) fn only_members(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::invalid(unknown, format!("is not a member here; use {}", allowed.join(", ")))),
        None => Ok(()),
    }
}

fn kind_name(kind: AttributeKind) -> &'static str {
    match kind {
        AttributeKind::Standard => "standard",
        AttributeKind::Custom => "custom",
        AttributeKind::Location => "location",
    }
}

fn entity_of(name: &str) -> Option<RecordKind> {
    match name {
        "person" => Some(RecordKind::Person),
        "company" => Some(RecordKind::Company),
        "conversation" => Some(RecordKind::Conversation),
        _ => None,
    }
}

fn value_type_of(name: &str) -> Option<ValueType> {
    const TYPES: [ValueType; 9] = [
        ValueType::Text,
        ValueType::Boolean,
        ValueType::Integer,
        ValueType::Decimal,
        ValueType::Date,
        ValueType::Datetime,
        ValueType::Time,
        ValueType::List,
        ValueType::Compound,
    ];
    TYPES.into_iter().find(|t| type_name(*t) == name)
}

/// A value of `value_type` from natural JSON; the error says what to send.
pub fn value_from_json(value: &Value, value_type: ValueType) -> Result<AttributeValue, String> {
    use chrono::{NaiveDate, NaiveTime, Timelike as _};
    let wrong = || format!("must be {}", super::described(value_type));
    Ok(match (value_type, value) {
        (_, Value::Null) => AttributeValue::Null,
        (ValueType::Text, Value::String(s)) => AttributeValue::Text(s.clone()),
        (ValueType::Boolean, Value::Bool(b)) => AttributeValue::Boolean(*b),
        (ValueType::Integer, Value::Number(n)) => {
            AttributeValue::Integer(n.as_i64().ok_or_else(|| wrong() + " (a whole number)")?)
        }
        (ValueType::Decimal, Value::Number(n)) => AttributeValue::Decimal(n.as_f64().ok_or_else(wrong)?),
        (ValueType::Date, Value::String(s)) => {
            let date =
                NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("`{s}` is not a date like 2025-01-02"))?;
            use chrono::Datelike as _;
            AttributeValue::Date(CalendarDate { year: date.year(), month: date.month() as u8, day: date.day() as u8 })
        }
        (ValueType::Datetime, Value::String(s)) => AttributeValue::Datetime(
            chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| format!("`{s}` is not a date-time like 2025-01-02T03:04:05Z"))?
                .timestamp_millis(),
        ),
        (ValueType::Time, Value::String(s)) => {
            let time = NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
                .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
                .map_err(|_| format!("`{s}` is not a time like 13:45:00"))?;
            AttributeValue::Time(TimeOfDay {
                hour: time.hour() as u8,
                minute: time.minute() as u8,
                second: time.second() as u8,
                millisecond: (time.nanosecond() / 1_000_000).min(999) as u16,
            })
        }
        (ValueType::List, Value::Array(items)) => AttributeValue::List(
            items
                .iter()
                .map(|item| item.as_str().map(str::to_string).ok_or_else(|| "must be a list of strings".to_string()))
                .collect::<Result<_, _>>()?,
        ),
        (ValueType::Compound, value) => AttributeValue::Compound(value.to_string()),
        _ => return Err(wrong()),
    })
}

/// `"attributes": {...}` read by the org's definitions of `entity`.
fn attributes_from_json(
    body: &Map<String, Value>,
    entity: RecordKind,
    definitions: &[AttributeDefinition],
) -> Result<Vec<PlatformAttribute>, ApiError> {
    let Some(attributes) = body.get("attributes") else { return Ok(Vec::new()) };
    let Value::Object(attributes) = attributes else {
        return Err(ApiError::invalid("attributes", "must be an object from attribute name to value"));
    };
    attributes
        .iter()
        .map(|(name, value)| {
            let field = format!("attributes.{name}");
            let definition = definitions.iter().find(|d| d.entity == entity && d.name == *name).ok_or_else(|| {
                let entity = match entity {
                    RecordKind::Person => "person",
                    RecordKind::Company => "company",
                    RecordKind::Conversation => "conversation",
                };
                ApiError::invalid(
                    &field,
                    format!(
                        "no {entity} attribute `{name}` is defined; define it first (PUT /attributes/{entity}/{name})"
                    ),
                )
            })?;
            let value = value_from_json(value, definition.value_type).map_err(|m| ApiError::invalid(&field, m))?;
            Ok(PlatformAttribute { name: name.clone(), kind: definition.kind, value })
        })
        .collect()
}

fn attributes_json(attributes: &[PlatformAttribute]) -> Value {
    Value::Object(attributes.iter().map(|a| (a.name.clone(), attribute_to_json(&a.value))).collect())
}

pub(crate) fn person_json(person: &Person) -> Value {
    json!({
        "id": person.id,
        "role": match person.role { PersonRole::User => "user", PersonRole::Lead => "lead" },
        "name": person.name,
        "email": person.email,
        "company_id": person.company_id,
        "owner_id": person.owner_id,
        "attributes": attributes_json(&person.attributes),
        "salesforce": person.salesforce.as_ref().map(|l| json!({
            "object": match l.object { LinkedObject::Contact => "contact", LinkedObject::Lead => "lead" },
            "id": l.id,
        })),
        "updated_at": rfc3339(person.updated_at),
    })
}

pub(crate) fn company_json(company: &Company) -> Value {
    json!({
        "id": company.id,
        "name": company.name,
        "attributes": attributes_json(&company.attributes),
        "account_id": company.account_id,
        "updated_at": rfc3339(company.updated_at),
    })
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::SalesforceCase => "salesforce_case",
        Channel::Messenger => "messenger",
        Channel::Email => "email",
    }
}

fn state_name(state: ConversationState) -> &'static str {
    match state {
        ConversationState::Open => "open",
        ConversationState::Snoozed => "snoozed",
        ConversationState::Closed => "closed",
    }
}

pub(crate) fn conversation_json(conversation: &PlatformConversation, with_parts: bool) -> Value {
    let mut value = json!({
        "id": conversation.id,
        "channel": channel_name(conversation.channel),
        "state": state_name(conversation.state),
        "person_id": conversation.person_id,
        "assignee_id": conversation.assignee_id,
        "subject": conversation.subject,
        "tags": conversation.tags,
        "attributes": attributes_json(&conversation.attributes),
        "case_id": conversation.case_id,
        "parts": conversation.parts.len(),
        "updated_at": rfc3339(conversation.updated_at),
    });
    if with_parts {
        value["parts"] = Value::from(conversation.parts.iter().map(part_json).collect::<Vec<_>>());
        value["notes"] = Value::from(
            conversation
                .notes
                .iter()
                .map(|n| json!({"id": n.id, "author_id": n.author_id, "text": n.text, "created_at": rfc3339(n.created_at)}))
                .collect::<Vec<_>>(),
        );
    }
    value
}

fn part_json(part: &ConversationPart) -> Value {
    part_to_json(part)
}

// ---- the endpoints -------------------------------------------------------------------------------

async fn list_attributes(State(state): State<ApiState>, Path(org): Path<String>) -> Answer {
    known_org(&state, &org)?;
    let definitions = blocking(&state, move |p| p.attributes(&org)).await?;
    let items: Vec<Value> = definitions
        .iter()
        .map(|d| {
            json!({
                "entity": match d.entity { RecordKind::Person => "person", RecordKind::Company => "company", RecordKind::Conversation => "conversation" },
                "name": d.name, "kind": kind_name(d.kind), "type": type_name(d.value_type), "options": d.options,
            })
        })
        .collect();
    Ok(Json(json!({"items": items})).into_response())
}

async fn define_attribute(
    State(state): State<ApiState>,
    Path((org, entity, name)): Path<(String, String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    known_org(&state, &org)?;
    let body = body_object(body)?;
    only_members(&body, &["kind", "type", "options"])?;
    let entity = entity_of(&entity)
        .ok_or_else(|| ApiError::invalid("entity", format!("`{entity}` is not person, company or conversation")))?;
    let kind = match body.get("kind").and_then(Value::as_str).unwrap_or("custom") {
        "standard" => AttributeKind::Standard,
        "custom" => AttributeKind::Custom,
        "location" if entity == RecordKind::Person => AttributeKind::Location,
        other => {
            return Err(ApiError::invalid(
                "kind",
                format!("`{other}` is not standard, custom or (for people) location"),
            ));
        }
    };
    let value_type = body.get("type").and_then(Value::as_str).and_then(value_type_of).ok_or_else(|| {
        ApiError::invalid("type", "must be text, boolean, integer, decimal, date, datetime, time, list or compound")
    })?;
    let options: Vec<String> = match body.get("options") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| ApiError::invalid("options", "must be a list of strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::invalid("options", "must be a list of strings")),
    };
    if !options.is_empty() && !matches!(value_type, ValueType::Text | ValueType::List) {
        return Err(ApiError::invalid("options", "only text and list attributes have options"));
    }
    let definition = AttributeDefinition { entity, name, kind, value_type, options };
    blocking(&state, move |p| p.define_attribute(&org, definition, now())).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_people(State(state): State<ApiState>, Path(org): Path<String>, Query(query): Query<Page>) -> Answer {
    known_org(&state, &org)?;
    let limit = query.limit()?;
    if let Some(email) = query.email.clone() {
        let people = blocking(&state, move |p| p.people_by_email(&org, &email)).await?;
        return Ok(page(people.iter().map(person_json).collect(), None));
    }
    let (people, next) =
        blocking(&state, move |p| p.list::<Person>(&org, "person", query.cursor.as_deref(), limit)).await?;
    Ok(page(people.iter().map(person_json).collect(), next))
}

async fn get_person(State(state): State<ApiState>, Path((org, id)): Path<(String, String)>) -> Answer {
    known_org(&state, &org)?;
    let found = blocking(&state, move |p| p.person(&org, &id)).await?;
    found
        .map(|p| Json(person_json(&p)).into_response())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, None, "no such person"))
}

async fn put_person(
    State(state): State<ApiState>,
    Path((org, id)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    known_org(&state, &org)?;
    check_id("id", &id).map_err(|r| ApiError::invalid(&r.field, r.message))?;
    let body = body_object(body)?;
    only_members(&body, &["role", "name", "email", "company_id", "owner_id", "attributes", "salesforce"])?;
    let role = match body.get("role") {
        None => None,
        Some(Value::String(r)) if r == "user" => Some(PersonRole::User),
        Some(Value::String(r)) if r == "lead" => Some(PersonRole::Lead),
        Some(_) => return Err(ApiError::invalid("role", "must be \"user\" (an identified user) or \"lead\"")),
    };
    let email = optional_text(&body, "email")?;
    if let Some(Some(email)) = &email {
        if !email.contains('@') || email.len() > 255 {
            return Err(ApiError::invalid("email", format!("`{email}` is not an email address")));
        }
    }
    let salesforce = match body.get("salesforce") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Object(link)) => {
            let object = match link.get("object").and_then(Value::as_str) {
                Some("contact") => LinkedObject::Contact,
                Some("lead") => LinkedObject::Lead,
                _ => return Err(ApiError::invalid("salesforce.object", "must be \"contact\" or \"lead\"")),
            };
            let id = link.get("id").and_then(Value::as_str).unwrap_or_default();
            let prefix = if object == LinkedObject::Contact { "003" } else { "00Q" };
            if !(id.len() == 15 || id.len() == 18) || !id.starts_with(prefix) {
                return Err(ApiError::invalid("salesforce.id", format!("must be a {prefix}… Salesforce Id")));
            }
            Some(Some(SalesforceLink { object, id: id.to_string() }))
        }
        Some(_) => return Err(ApiError::invalid("salesforce", "must be {\"object\": …, \"id\": …} or null")),
    };
    let patch_base = PersonPatch {
        role,
        name: optional_text(&body, "name")?,
        email,
        company_id: optional_text(&body, "company_id")?,
        owner_id: optional_text(&body, "owner_id")?,
        attributes: Vec::new(),
        salesforce,
    };
    let person = blocking(&state, move |p| {
        let definitions = p.attributes(&org)?;
        let attributes = attributes_from_json(&body, RecordKind::Person, &definitions)
            .map_err(|e| Refusal::new(e.field.unwrap_or_default(), e.message))?;
        p.put_person(&org, &id, PersonPatch { attributes, ..patch_base }, false, now())
    })
    .await?;
    Ok(Json(person_json(&person)).into_response())
}

async fn list_companies(State(state): State<ApiState>, Path(org): Path<String>, Query(query): Query<Page>) -> Answer {
    known_org(&state, &org)?;
    let limit = query.limit()?;
    let (companies, next) =
        blocking(&state, move |p| p.list::<Company>(&org, "company", query.cursor.as_deref(), limit)).await?;
    Ok(page(companies.iter().map(company_json).collect(), next))
}

async fn get_company(State(state): State<ApiState>, Path((org, id)): Path<(String, String)>) -> Answer {
    known_org(&state, &org)?;
    let found = blocking(&state, move |p| p.company(&org, &id)).await?;
    found
        .map(|c| Json(company_json(&c)).into_response())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, None, "no such company"))
}

async fn put_company(
    State(state): State<ApiState>,
    Path((org, id)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    known_org(&state, &org)?;
    check_id("id", &id).map_err(|r| ApiError::invalid(&r.field, r.message))?;
    let body = body_object(body)?;
    only_members(&body, &["name", "attributes", "account_id"])?;
    let name = optional_text(&body, "name")?;
    let account_id = optional_text(&body, "account_id")?;
    if let Some(Some(account)) = &account_id {
        if !(account.len() == 15 || account.len() == 18) || !account.starts_with("001") {
            return Err(ApiError::invalid("account_id", "must be an 001… Salesforce Account Id"));
        }
    }
    let company = blocking(&state, move |p| {
        let definitions = p.attributes(&org)?;
        let attributes = attributes_from_json(&body, RecordKind::Company, &definitions)
            .map_err(|e| Refusal::new(e.field.unwrap_or_default(), e.message))?;
        p.put_company(&org, &id, CompanyPatch { name, attributes, account_id }, false, now())
    })
    .await?;
    Ok(Json(company_json(&company)).into_response())
}

async fn list_teammates(State(state): State<ApiState>, Path(org): Path<String>) -> Answer {
    known_org(&state, &org)?;
    let teammates = blocking(&state, move |p| p.teammates(&org)).await?;
    let items: Vec<Value> = teammates.iter().map(|t| json!({"id": t.id, "name": t.name, "email": t.email})).collect();
    Ok(page(items, None))
}

async fn put_teammate(
    State(state): State<ApiState>,
    Path((org, id)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    known_org(&state, &org)?;
    let body = body_object(body)?;
    only_members(&body, &["name", "email"])?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    let email = optional_text(&body, "email")?.flatten();
    blocking(&state, move |p| p.put_teammate(&org, Teammate { id, name, email }, now())).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_conversations(
    State(state): State<ApiState>,
    Path(org): Path<String>,
    Query(query): Query<Page>,
) -> Answer {
    known_org(&state, &org)?;
    let limit = query.limit()?;
    let (conversations, next) =
        blocking(&state, move |p| p.list::<PlatformConversation>(&org, "conversation", query.cursor.as_deref(), limit))
            .await?;
    Ok(page(conversations.iter().map(|c| conversation_json(c, false)).collect(), next))
}

async fn get_conversation(State(state): State<ApiState>, Path((org, id)): Path<(String, String)>) -> Answer {
    known_org(&state, &org)?;
    let found = blocking(&state, move |p| p.conversation(&org, &id)).await?;
    found
        .map(|c| Json(conversation_json(&c, true)).into_response())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, None, "no such conversation"))
}

async fn put_conversation(
    State(state): State<ApiState>,
    Path((org, id)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    known_org(&state, &org)?;
    check_id("id", &id).map_err(|r| ApiError::invalid(&r.field, r.message))?;
    let body = body_object(body)?;
    only_members(&body, &["channel", "state", "person_id", "assignee_id", "subject", "tags", "attributes"])?;
    let channel = match body.get("channel").and_then(Value::as_str) {
        None => None,
        Some("messenger") => Some(Channel::Messenger),
        Some("email") => Some(Channel::Email),
        Some(_) => {
            return Err(ApiError::invalid(
                "channel",
                "must be \"messenger\" or \"email\" (cases come from Salesforce)",
            ));
        }
    };
    let state_value = match body.get("state").and_then(Value::as_str) {
        None => None,
        Some("open") => Some(ConversationState::Open),
        Some("snoozed") => Some(ConversationState::Snoozed),
        Some("closed") => Some(ConversationState::Closed),
        Some(_) => return Err(ApiError::invalid("state", "must be open, snoozed or closed")),
    };
    let tags = match body.get("tags") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_string).ok_or_else(|| ApiError::invalid("tags", "must be a list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(ApiError::invalid("tags", "must be a list of strings")),
    };
    let base = ConversationPatch {
        channel,
        state: state_value,
        person_id: optional_text(&body, "person_id")?,
        assignee_id: optional_text(&body, "assignee_id")?,
        subject: optional_text(&body, "subject")?,
        tags,
        ..ConversationPatch::default()
    };
    let conversation = blocking(&state, move |p| {
        let definitions = p.attributes(&org)?;
        let attributes = attributes_from_json(&body, RecordKind::Conversation, &definitions)
            .map_err(|e| Refusal::new(e.field.unwrap_or_default(), e.message))?;
        p.put_conversation(&org, &id, ConversationPatch { attributes, ..base }, false, now())
    })
    .await?;
    Ok(Json(conversation_json(&conversation, false)).into_response())
}

async fn add_message(
    State(state): State<ApiState>,
    Path((org, id)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    known_org(&state, &org)?;
    let body = body_object(body)?;
    only_members(&body, &["id", "author", "author_name", "text", "created_at"])?;
    let message_id = body.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    check_id("id", &message_id).map_err(|r| ApiError::invalid(&r.field, r.message))?;
    let author = match body.get("author").and_then(Value::as_str) {
        Some("customer") => AuthorRole::Customer,
        Some("agent") => AuthorRole::Agent,
        Some("teammate") => AuthorRole::Teammate,
        Some("system") => AuthorRole::System,
        _ => return Err(ApiError::invalid("author", "must be customer, agent, teammate or system")),
    };
    let text = body.get("text").and_then(Value::as_str).unwrap_or_default().to_string();
    if text.trim().is_empty() {
        return Err(ApiError::invalid("text", "is empty; send the message's plain text"));
    }
    let created_at = match body.get("created_at") {
        None | Some(Value::Null) => now(),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|_| {
                ApiError::invalid("created_at", format!("`{s}` is not a date-time like 2025-01-02T03:04:05Z"))
            })?
            .timestamp_millis(),
        Some(_) => return Err(ApiError::invalid("created_at", "must be an RFC 3339 date-time")),
    };
    let part = ConversationPart {
        id: message_id,
        source: PartSource::FeedItem,
        author,
        author_name: optional_text(&body, "author_name")?.flatten(),
        text,
        created_at,
        attachments: Vec::new(),
    };
    let conversation = blocking(&state, move |p| {
        if p.conversation(&org, &id)?.is_none() {
            return Err(PlatformFailure::NotFound(format!("conversation `{id}`")));
        }
        p.put_conversation(
            &org,
            &id,
            ConversationPatch { parts: vec![part], ..ConversationPatch::default() },
            false,
            now(),
        )
    })
    .await?;
    Ok((StatusCode::CREATED, Json(conversation_json(&conversation, false))).into_response())
}

async fn changes(State(state): State<ApiState>, Path(org): Path<String>, Query(query): Query<Page>) -> Answer {
    known_org(&state, &org)?;
    let limit = query.limit()?;
    let page = blocking(&state, move |p| p.changes(&org, query.cursor.as_deref(), limit)).await?;
    let changes: Vec<Value> = page
        .changes
        .iter()
        .map(|c| {
            json!({
                "kind": match c.kind { RecordKind::Person => "person", RecordKind::Company => "company", RecordKind::Conversation => "conversation" },
                "id": c.id,
                "by_connector": c.by_connector,
                "changed_at": rfc3339(c.changed_at),
            })
        })
        .collect();
    Ok(Json(json!({"changes": changes, "cursor": page.cursor, "more": page.more})).into_response())
}
