//! The admin API under `/__emulator/`: what tests and demos use to look inside
//! the org and to make it misbehave. No Salesforce client uses these paths;
//! they need no session and are never counted as API calls. Bodies are JSON;
//! errors are `400 {"error":"…"}`.
//!
//! | method and path | body | what it does |
//! |---|---|---|
//! | `GET /__emulator/` | | this list, as JSON |
//! | `GET /__emulator/credentials` | | the integration user's credentials (the `casebridge emulator` line) |
//! | `GET /__emulator/seed` | | ids of the seeded records (agent user, hand-off queue, cases …) |
//! | `GET /__emulator/counters` | | `{"total","by_endpoint":{"GET /query":n,…},"token_requests","faults_injected"}` |
//! | `POST /__emulator/counters/reset` | | sets the counters to zero (not the daily allowance) |
//! | `GET /__emulator/faults` | | the queued faults |
//! | `POST /__emulator/faults` | `{"kind","times"?,"target"?,…}` | queues a fault, see below |
//! | `DELETE /__emulator/faults` | | removes every queued fault |
//! | `POST /__emulator/sessions` | `{"username"}` | an access token for that active user: the token endpoint's body, so a test can act as a customer or another agent (records then get that `CreatedById`) |
//! | `POST /__emulator/sessions/expire` | | invalidates every access token: the next call gets 401 `INVALID_SESSION_ID` |
//! | `GET /__emulator/limits` | | `{"used","max"}` of the daily API allowance |
//! | `PUT /__emulator/limits` | `{"used"?,"max"?}` | sets calls used and/or the daily maximum |
//! | `GET /__emulator/clock` | | `{"now":"2024-01-02T03:04:05.000+0000"}` (the emulator clock) |
//! | `POST /__emulator/clock/advance` | `{"seconds"}` | moves the clock forward: timestamps, token and locator expiry, the allowance window follow |
//! | `POST /__emulator/fields` | `{"object","name","type",…}` | adds a custom field, see below |
//! | `POST /__emulator/bulk` | `{"cases"?,"owner_id"?,"messages_per_case"?,…}` | adds that many cases with contacts and conversations ([`BulkSeed`], same names): 201 and the [`BulkSeeded`](crate::seed::BulkSeeded) ids and counts |
//!
//! Faults (`POST /__emulator/faults`), used in the order queued:
//! - `{"kind":"error","status":503}` — answer 500/503 (any 4xx/5xx) with Salesforce's error body, without reaching the org;
//! - `{"kind":"latency","millis":800}` — delay the request (combines with one other fault);
//! - `{"kind":"drop_request"}` — close the connection before the org sees the request;
//! - `{"kind":"drop_response"}` — carry the request out, then close the connection without answering;
//! - `{"kind":"malformed_json"}` — carry the request out, then answer 200 with the body cut in half.
//!
//! Each takes `"times"`: a count (default 1) or `"always"`, and `"target"`:
//! `"api"` (default, `/services/data/…`), `"token"` (`/services/oauth2/token`) or `"any"`.
//!
//! Custom fields (`POST /__emulator/fields`): `{"object":"Case","name":"Region__c",
//! "type":"picklist","label":"Region","values":["EMEA","AMER"],"default":"EMEA",
//! "restricted":true}`; also `"length"`, `"precision"`/`"scale"`, `"required"`,
//! `"referenceTo":["Contact"]` with `"relationshipName"`, `"externalId"`, `"unique"`.
//! `type` is a describe type: `string textarea email phone url picklist
//! multipicklist combobox boolean int long double currency percent date
//! datetime time reference`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::faults::Fault;
use super::org::Emulator;
use crate::db::format_datetime;
use crate::schema::{FieldDef, FieldType};
use crate::seed::BulkSeed;

pub(super) fn router() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/", get(index))
        .route("/credentials", get(credentials))
        .route("/seed", get(seed))
        .route("/counters", get(counters))
        .route("/counters/reset", post(reset_counters))
        .route("/faults", get(list_faults).post(add_fault).delete(clear_faults))
        .route("/sessions", post(mint_session))
        .route("/sessions/expire", post(expire_sessions))
        .route("/limits", get(limits).put(set_limits).post(set_limits))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance_clock))
        .route("/fields", post(add_field))
        .route("/bulk", post(bulk_seed))
}

fn bad_request(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message.into()}))).into_response()
}

/// The JSON body (`{}` when empty), or what is wrong with it.
fn body(raw: &[u8]) -> Result<Value, String> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(raw).map_err(|e| format!("the body is not JSON: {e}"))
}

async fn index() -> Json<Value> {
    Json(json!({
        "endpoints": [
            "GET /__emulator/credentials",
            "GET /__emulator/seed",
            "GET /__emulator/counters",
            "POST /__emulator/counters/reset",
            "GET|POST|DELETE /__emulator/faults",
            "POST /__emulator/sessions {\"username\"}",
            "POST /__emulator/sessions/expire",
            "GET|PUT /__emulator/limits {\"used\",\"max\"}",
            "GET /__emulator/clock",
            "POST /__emulator/clock/advance {\"seconds\"}",
            "POST /__emulator/fields {\"object\",\"name\",\"type\",…}",
            "POST /__emulator/bulk {\"cases\",\"owner_id\",\"messages_per_case\",\"customer_last_every\",\"closed_every\",\"cases_per_contact\",\"contacts_per_account\",\"history_days\"}",
        ]
    }))
}

async fn credentials(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    Json(serde_json::to_value(emulator.credentials()).unwrap_or_default())
}

async fn seed(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    Json(serde_json::to_value(&emulator.seeded).unwrap_or_default())
}

async fn counters(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    Json(serde_json::to_value(emulator.counters()).unwrap_or_default())
}

async fn reset_counters(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    emulator.reset_counters();
    Json(serde_json::to_value(emulator.counters()).unwrap_or_default())
}

async fn list_faults(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    let faults: Vec<Value> = emulator.faults().queued().iter().map(Fault::to_json).collect();
    Json(json!({"faults": faults}))
}

async fn add_fault(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let fault = match body(&raw).and_then(|v| Fault::from_json(&v)) {
        Ok(fault) => fault,
        Err(message) => return bad_request(message),
    };
    let json = fault.to_json();
    emulator.faults().push(fault);
    (StatusCode::CREATED, Json(json)).into_response()
}

async fn clear_faults(State(emulator): State<Arc<Emulator>>) -> StatusCode {
    emulator.faults().clear();
    StatusCode::NO_CONTENT
}

async fn mint_session(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let Some(username) = request["username"].as_str() else {
        return bad_request("give the user as {\"username\":\"…\"}");
    };
    let minted = emulator.org().mint_session(username);
    match minted {
        Ok((_, token_body)) => Json(token_body).into_response(),
        Err(e) => bad_request(e.message),
    }
}

async fn expire_sessions(State(emulator): State<Arc<Emulator>>) -> StatusCode {
    emulator.org().sessions.expire_all();
    StatusCode::NO_CONTENT
}

async fn limits(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    Json(serde_json::to_value(emulator.org().usage()).unwrap_or_default())
}

async fn set_limits(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let number = |name: &str| match &request[name] {
        Value::Null => Ok(None),
        v => v.as_u64().map(Some).ok_or_else(|| format!("{name} must be a non-negative integer")),
    };
    let (used, max) = match (number("used"), number("max")) {
        (Ok(used), Ok(max)) => (used, max),
        (Err(message), _) | (_, Err(message)) => return bad_request(message),
    };
    let mut org = emulator.org();
    org.set_usage(used, max);
    Json(serde_json::to_value(org.usage()).unwrap_or_default()).into_response()
}

async fn clock(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    Json(json!({"now": format_datetime(emulator.clock.now())}))
}

async fn advance_clock(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let Some(seconds) = request["seconds"].as_f64().filter(|s| s.is_finite() && *s >= 0.0) else {
        return bad_request("give how far to move the clock as {\"seconds\": n} (n ≥ 0)");
    };
    emulator.clock.advance(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
    Json(json!({"now": format_datetime(emulator.clock.now())})).into_response()
}

async fn bulk_seed(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let options = match body(&raw)
        .and_then(|v| serde_json::from_value::<BulkSeed>(v).map_err(|e| format!("bulk seed options: {e}")))
    {
        Ok(options) => options,
        Err(message) => return bad_request(message),
    };
    // Seconds of work for a big org: off the runtime's worker threads.
    let seeded = tokio::task::spawn_blocking(move || emulator.bulk_seed(&options)).await;
    match seeded {
        Ok(Ok(made)) => (StatusCode::CREATED, Json(serde_json::to_value(made).unwrap_or_default())).into_response(),
        Ok(Err(e)) => bad_request(e.to_string()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": format!("the bulk seed failed: {e}")})))
            .into_response(),
    }
}

async fn add_field(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let (Some(object), Some(field)) = (request["object"].as_str(), field_from_json(&request).transpose()) else {
        return bad_request("give at least {\"object\":\"Case\",\"name\":\"Region__c\",\"type\":\"string\"}");
    };
    let field = match field {
        Ok(field) => field,
        Err(message) => return bad_request(message),
    };
    let added = emulator.org().db.schema_mut().add_custom_field(object, field);
    match added {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => bad_request(e.message),
    }
}

/// Every field type a custom field can have, by its describe name.
const CUSTOM_FIELD_TYPES: &[FieldType] = &[
    FieldType::String,
    FieldType::Textarea,
    FieldType::Email,
    FieldType::Phone,
    FieldType::Url,
    FieldType::Picklist,
    FieldType::Multipicklist,
    FieldType::Combobox,
    FieldType::Boolean,
    FieldType::Int,
    FieldType::Long,
    FieldType::Double,
    FieldType::Currency,
    FieldType::Percent,
    FieldType::Date,
    FieldType::Datetime,
    FieldType::Time,
    FieldType::Reference,
];

/// The admin JSON for a custom field; `Ok(None)` when name or type is missing.
fn field_from_json(v: &Value) -> Result<Option<FieldDef>, String> {
    let (Some(name), Some(type_name)) = (v["name"].as_str(), v["type"].as_str()) else {
        return Ok(None);
    };
    let Some(field_type) = CUSTOM_FIELD_TYPES.iter().copied().find(|t| t.as_str().eq_ignore_ascii_case(type_name))
    else {
        return Err(format!("unknown field type {type_name}"));
    };
    let label =
        v["label"].as_str().map(str::to_string).unwrap_or_else(|| name.trim_end_matches("__c").replace('_', " "));
    let mut field = FieldDef::new(name, &label, field_type);
    if let Some(length) = v["length"].as_u64().and_then(|l| u32::try_from(l).ok()) {
        field = field.length(length);
    }
    if let (Some(precision), scale) = (v["precision"].as_u64(), v["scale"].as_u64().unwrap_or(0)) {
        field = field.precision(precision.min(18) as u32, scale.min(18) as u32);
    }
    if let Some(values) = v["values"].as_array() {
        let values: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        field = field.values(&values, v["default"].as_str());
    }
    if v["restricted"] == true {
        field = field.restricted();
    }
    if let Some(targets) = v["referenceTo"].as_array() {
        let targets: Vec<&str> = targets.iter().filter_map(Value::as_str).collect();
        let relationship = v["relationshipName"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}__r", name.trim_end_matches("__c")));
        field = field.references(&targets, &relationship);
    }
    if v["required"] == true {
        field = field.required();
    }
    if v["externalId"] == true {
        field = field.external_id();
    }
    if v["unique"] == true {
        field = field.unique();
    }
    Ok(Some(field))
}
