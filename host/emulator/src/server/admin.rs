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
//! | `GET /__emulator/connected-app` | | the connected app: `client_id`, `callback_urls`, `scopes`, `pkce_required`, `code_lifetime_seconds` (the web-server flow, [`web_flow`](super::web_flow)) |
//! | `PUT /__emulator/connected-app` | `{"callback_urls":[…]}` | replaces the callback URLs the web-server flow accepts (default casebridge's `http://127.0.0.1:8710/oauth/callback` and the same on `localhost`) |
//! | `GET /__emulator/clock` | | `{"now":"2024-01-02T03:04:05.000+0000"}` (the emulator clock) |
//! | `POST /__emulator/clock/advance` | `{"seconds"}` | moves the clock forward: timestamps, token and locator expiry, the allowance window follow |
//! | `POST /__emulator/fields` | `{"object","name","type",…}` | adds a custom field, see below |
//! | `POST /__emulator/bulk` | `{"cases"?,"owner_id"?,"messages_per_case"?,…}` | adds that many cases with contacts and conversations ([`BulkSeed`], same names): 201 and the [`BulkSeeded`](crate::seed::BulkSeeded) ids and counts |
//! | `POST /__emulator/users` | `{"username","email","last_name","first_name"?,"active"?}` | adds a Standard user (`005…`, profile "Standard User", `IsActive` default true): 201 `{"id"}` |
//! | `POST /__emulator/leads/convert` | `{"lead_id","account_id"?,"contact_id"?,"opportunity_name"?}` | converts a lead as the integration user, see below: 200 `{"lead_id","account_id","contact_id","opportunity_id"}` |
//! | `POST /__emulator/record-types` | `{"object","name","developer_name"?,"description"?,"active"?,"default"?,"picklists"?}` | adds a record type, see below: 201 `{"id"}` (`012…`) |
//! | `POST /__emulator/picklist-values` | `{"object","field","value","label"?}` | adds an active value to a picklist (label default the value): 201 `{"object","field","value"}` |
//! | `POST /__emulator/required` | `{"object","field","required"?}` | makes a standard or custom field required (`required` default true) or optional again: 200 `{"object","field","required"}` |
//! | `GET /__emulator/duplicate-rules` | | `{"rules":[…]}`, each as added |
//! | `POST /__emulator/duplicate-rules` | `{"object","name","fields","allow_save"?,"message"?}` | adds (or replaces, by object and name) a duplicate rule, see below: 201 |
//! | `DELETE /__emulator/duplicate-rules` | | removes every duplicate rule: 204 |
//! | `POST /__emulator/permissions` | `{"username"?,"object","read"?,"create"?,"edit"?,"delete"?}` | sets a user's object permissions, see below: 200 `{"username","user_id","object","read","create","edit","delete"}` |
//! | `GET /__emulator/messaging/deployments` | | the Embedded Service deployments with their pre-chat parameters |
//! | `POST /__emulator/messaging/deployments` | `{"developer_name","label"?,"queue_id"?,"pre_chat":[{"name","max_length"?,"field"?,"type"?,"hidden"?,"required"?}]}` | adds or replaces a Custom Client deployment, its MessagingChannel and a MessagingSession text field for every mapped parameter that lacks one: 201 |
//! | `GET /__emulator/messaging/sessions?status=` | | `{"sessions":[…]}`: each MessagingSession with its conversation, status, agent and routing attributes as received |
//! | `POST /__emulator/messaging/sessions/{id}/accept` | `{"username"?}` | (`{id}`: a MessagingSession id or a conversation id, for its latest session) an agent (default the seeded hand-off user) accepts a waiting session: routing result, the agent joining, `Active` |
//! | `POST /__emulator/messaging/sessions/{id}/messages` | `{"text"}` | the accepted agent writes to the customer: 201 the entry |
//! | `POST /__emulator/messaging/sessions/{id}/typing` | `{"typing"?}` | the agent starts (default) or stops typing |
//! | `POST /__emulator/messaging/sessions/{id}/end` | | the agent ends the session: `Ended`; the customer's next message gets 417 |
//! | `GET /__emulator/messaging/conversations/{id}` | | a conversation with every entry and session, whoever owns it, and `sends`: each message and file the end user sent (resends too) with the routing attributes it carried |
//! | `GET/PUT /__emulator/messaging/routing` | `{"fail":bool,"reason"?}` | makes routing of new sessions fail (`RoutingError`) or succeed again |
//! | `GET /__emulator/streaming` | | CometD clients with their subscriptions, retained events, deliveries, allocation, settings, CDC selection (see [`streaming`](super::streaming)) |
//! | `GET /__emulator/streaming/events` | | the retained change events |
//! | `GET/PUT /__emulator/streaming/settings` | `{"connect_timeout_ms"?,"keepalive_ms"?,"max_clients"?,"daily_delivery_limit"?,"retention_seconds"?}` | streaming limits and timings |
//! | `GET/PUT /__emulator/streaming/selection` | `{"entities":[…]}` | the entities selected for Change Data Capture |
//! | `POST /__emulator/streaming/gap` | `{"entity","change_type","record_ids"}` | publishes a `GAP_…` event: 201 `{"replayId"}` |
//! | `POST /__emulator/streaming/overflow` | `{"entity"}` | publishes a `GAP_OVERFLOW` event: 201 `{"replayId"}` |
//! | `POST /__emulator/streaming/faults/drop-connections` | | closes held connects without an answer: 204 |
//! | `POST /__emulator/streaming/faults/forget-clients` | | forgets every CometD client: 204 |
//! | `POST /__emulator/streaming/faults/rehandshake` | | asks every client to handshake again: 204 |
//!
//! Faults (`POST /__emulator/faults`), used in the order queued:
//! - `{"kind":"error","status":503}` — answer 500/503 (any 4xx/5xx) with Salesforce's error body, without reaching the org;
//! - `{"kind":"latency","millis":800}` — delay the request (combines with one other fault);
//! - `{"kind":"drop_request"}` — close the connection before the org sees the request;
//! - `{"kind":"drop_response"}` — carry the request out, then close the connection without answering;
//! - `{"kind":"malformed_json"}` — carry the request out, then answer 200 with the body cut in half.
//!
//! Each takes `"times"`: a count (default 1) or `"always"`, and `"target"`:
//! `"api"` (default, `/services/data/…`), `"token"` (`/services/oauth2/token`),
//! `"messaging"` (the messaging origin) or `"any"`.
//!
//! Custom fields (`POST /__emulator/fields`): `{"object":"Case","name":"Region__c",
//! "type":"picklist","label":"Region","values":["EMEA","AMER"],"default":"EMEA",
//! "restricted":true}`; also `"length"`, `"precision"`/`"scale"`, `"required"`,
//! `"referenceTo":["Contact"]` with `"relationshipName"`, `"externalId"`, `"unique"`.
//! `type` is a describe type: `string textarea email phone url picklist
//! multipicklist combobox boolean int long double currency percent date
//! datetime time reference`.
//!
//! Lead conversion (`POST /__emulator/leads/convert`) creates an Account
//! (`Name` from `Company`, billing address, phone, website, industry) and a
//! Contact (name, email, phones, title, lead source, mailing address)
//! unless `account_id`/`contact_id` name existing ones (whose empty fields
//! it fills; a contact of another account is refused), an Opportunity
//! (stage Prospecting, closing today, the contact its primary contact role)
//! only when `opportunity_name` is given (`""` takes the company), moves the
//! lead's tasks to the contact, and sets `IsConverted`, `ConvertedDate`,
//! `Converted{Account,Contact,Opportunity}Id` and `Status` "Closed -
//! Converted". From then on any update of the lead fails 400
//! `CANNOT_UPDATE_CONVERTED_LEAD`. Errors: 400 `{"error","errors":[…]}` with
//! Salesforce's error entries.
//!
//! Record types (`POST /__emulator/record-types`): `{"object":"Case",
//! "name":"Support","developer_name":"Support","default":true,"active":true,
//! "picklists":{"Status":["New","Working"]}}`; a picklist may also be given as
//! `{"values":[…],"default":"Working"}`. The record appears as a RecordType
//! (`SobjectType`, `Name`, `DeveloperName`, `IsActive`), in describe's
//! `recordTypeInfos` (Master last, `available:false` once the object has an
//! active record type of its own; exactly one `defaultRecordTypeMapping`),
//! and the object gets a `RecordTypeId` field. Inserts without
//! `RecordTypeId` get the default; an unknown, inactive or other object's
//! record type id fails `INVALID_CROSS_REFERENCE_KEY` ("Record Type ID: this
//! ID value isn't valid for the user: 012…"); a restricted picklist value the
//! record type does not offer fails `INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`
//! (unrestricted picklists take any value, as Salesforce's API does).
//! Deactivate one with `PATCH /sobjects/RecordType/{id} {"IsActive":false}`.
//!
//! Duplicate rules (`POST /__emulator/duplicate-rules`):
//! `{"object":"Lead","name":"Standard_Lead_Duplicate_Rule","fields":["Email"],
//! "allow_save":true,"message":"Use one of these records?"}` matches live
//! records equal (case-insensitively) on every listed field; a REST create or
//! update that matches (single-record, collections, each composite
//! subrequest) fails 400 `DUPLICATES_DETECTED` with Salesforce's
//! `duplicateResult`. `Sforce-Duplicate-Rule-Header: allowSave=true` (on the
//! request, which composite subrequests inherit, or in a subrequest's
//! `httpHeaders`) lets the save through when the rule has `allow_save`.
//!
//! Object permissions (`POST /__emulator/permissions`): for `username`
//! (default the integration user); each permission left out is true. As on
//! a profile, no Read means no other permission and Delete needs Edit. The
//! describe calls show them (`createable`, `updateable`, `deletable`,
//! `queryable`, and every field's `createable`/`updateable`); without Read
//! the object answers as unknown (404 `NOT_FOUND`, `INVALID_TYPE` in SOQL
//! and SOSL, missing from describe global); a create, update or delete
//! without the permission fails 400 `INSUFFICIENT_ACCESS_OR_READONLY`.

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
use super::web_flow;
use crate::db::{DuplicateRule, LeadConversion, format_datetime};
use crate::error::SfError;
use crate::schema::{FieldDef, FieldType, ObjectAccess, RecordTypePicklist};
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
        .route("/users", post(add_user))
        .route("/leads/convert", post(convert_lead))
        .route("/record-types", post(add_record_type))
        .route("/required", post(set_required))
        .route("/picklist-values", post(add_picklist_value))
        .route("/duplicate-rules", get(list_duplicate_rules).post(add_duplicate_rule).delete(clear_duplicate_rules))
        .route("/permissions", post(set_permissions))
        .route("/connected-app", get(connected_app).put(set_connected_app))
        .nest("/messaging", super::messaging::admin_router())
        .nest("/streaming", super::streaming::admin_router())
}

pub(super) fn bad_request(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message.into()}))).into_response()
}

/// The JSON body (`{}` when empty), or what is wrong with it.
pub(super) fn body(raw: &[u8]) -> Result<Value, String> {
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
            "POST /__emulator/users {\"username\",\"email\",\"last_name\",\"first_name\",\"active\"}",
            "POST /__emulator/leads/convert {\"lead_id\",\"account_id\",\"contact_id\",\"opportunity_name\"}",
            "POST /__emulator/record-types {\"object\",\"name\",\"developer_name\",\"description\",\"active\",\"default\",\"picklists\"}",
            "POST /__emulator/required {\"object\",\"field\",\"required\"}",
            "POST /__emulator/picklist-values {\"object\",\"field\",\"value\",\"label\"}",
            "GET|POST|DELETE /__emulator/duplicate-rules {\"object\",\"name\",\"fields\",\"allow_save\",\"message\"}",
            "POST /__emulator/permissions {\"username\",\"object\",\"read\",\"create\",\"edit\",\"delete\"}",
            "GET /__emulator/streaming",
            "GET /__emulator/streaming/events",
            "GET|PUT /__emulator/streaming/settings {\"connect_timeout_ms\",\"keepalive_ms\",\"max_clients\",\"daily_delivery_limit\",\"retention_seconds\"}",
            "GET|PUT /__emulator/streaming/selection {\"entities\"}",
            "POST /__emulator/streaming/gap {\"entity\",\"change_type\",\"record_ids\"}",
            "POST /__emulator/streaming/overflow {\"entity\"}",
            "POST /__emulator/streaming/faults/drop-connections",
            "POST /__emulator/streaming/faults/forget-clients",
            "POST /__emulator/streaming/faults/rehandshake",
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
    emulator.org().expire_sessions();
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

async fn connected_app(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    Json(web_flow::describe(&emulator.org()))
}

/// `{"callback_urls":[…]}`: the web-server flow's allowed callbacks, replaced.
async fn set_connected_app(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let urls: Option<Vec<String>> = request["callback_urls"]
        .as_array()
        .and_then(|urls| urls.iter().map(|url| url.as_str().map(str::to_string)).collect());
    let Some(urls) =
        urls.filter(|urls| urls.iter().all(|url| url.starts_with("http://") || url.starts_with("https://")))
    else {
        return bad_request("callback_urls must be a list of http:// or https:// URLs");
    };
    let mut org = emulator.org();
    org.app.callback_urls = urls;
    Json(web_flow::describe(&org)).into_response()
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

/// 400 with Salesforce's error entries beside the admin API's `error`.
fn refused(errors: Vec<SfError>) -> Response {
    let summary: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.error_code, e.message)).collect();
    let body = json!({"error": summary.join("; "), "errors": serde_json::to_value(&errors).unwrap_or_default()});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn add_user(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let text = |name: &str| request[name].as_str().map(str::to_string);
    let (Some(username), Some(email), Some(last_name)) = (text("username"), text("email"), text("last_name")) else {
        return bad_request("give at least {\"username\",\"email\",\"last_name\"}");
    };
    let mut org = emulator.org();
    let ctx = org.write_context(&org.integration_user_id.clone());
    let profile = org
        .db
        .query("SELECT Id FROM Profile WHERE Name = 'Standard User'", false, &org.query_context(&ctx.user_id, "59.0"))
        .ok()
        .and_then(|r| r.records.first().and_then(|p| p["Id"].as_str().map(str::to_string)));
    let mut fields = json!({
        "Username": username, "Email": email, "LastName": last_name, "UserType": "Standard",
        "IsActive": request["active"].as_bool().unwrap_or(true),
    });
    if let Some(first_name) = text("first_name") {
        fields["FirstName"] = json!(first_name);
    }
    if let Some(profile) = profile {
        fields["ProfileId"] = json!(profile);
    }
    let created = org.db.create("User", fields.as_object().expect("an object"), &ctx);
    match created {
        Ok(id) => (StatusCode::CREATED, Json(json!({"id": id}))).into_response(),
        Err(errors) => refused(errors),
    }
}

async fn convert_lead(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let conversion = match body(&raw)
        .and_then(|v| serde_json::from_value::<LeadConversion>(v).map_err(|e| format!("lead conversion: {e}")))
    {
        Ok(conversion) => conversion,
        Err(message) => return bad_request(message),
    };
    let mut org = emulator.org();
    let ctx = org.write_context(&org.integration_user_id.clone());
    match org.db.convert_lead(&conversion, &ctx) {
        Ok(converted) => Json(serde_json::to_value(converted).unwrap_or_default()).into_response(),
        Err(errors) => refused(errors),
    }
}

/// `{"Status":["New","Working"]}` or `{"Status":{"values":[…],"default":"New"}}`.
fn record_type_picklists(v: &Value) -> Result<Vec<RecordTypePicklist>, String> {
    let Some(map) = v.as_object() else {
        return if v.is_null() { Ok(Vec::new()) } else { Err("picklists must be an object of field: values".into()) };
    };
    let strings = |v: &Value| -> Result<Vec<String>, String> {
        v.as_array()
            .ok_or("picklist values must be a list of strings")?
            .iter()
            .map(|s| s.as_str().map(str::to_string).ok_or_else(|| "picklist values must be strings".to_string()))
            .collect()
    };
    map.iter()
        .map(|(field, spec)| {
            let (values, default) = match spec {
                Value::Object(o) => (
                    strings(o.get("values").unwrap_or(&Value::Null))?,
                    o.get("default").and_then(Value::as_str).map(str::to_string),
                ),
                other => (strings(other)?, None),
            };
            Ok(RecordTypePicklist { field: field.clone(), values, default })
        })
        .collect()
}

async fn add_record_type(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let (Some(object), Some(name)) = (request["object"].as_str(), request["name"].as_str()) else {
        return bad_request("give at least {\"object\":\"Case\",\"name\":\"Support\"}");
    };
    let picklists = match record_type_picklists(&request["picklists"]) {
        Ok(p) => p,
        Err(message) => return bad_request(message),
    };
    let mut org = emulator.org();
    let Some(object) = org.db.schema().object(object).map(|o| o.name.clone()) else {
        return refused(vec![SfError::unknown_sobject(object)]);
    };
    let mut fields =
        json!({"SobjectType": object, "Name": name, "IsActive": request["active"].as_bool().unwrap_or(true)});
    for (key, field) in [("developer_name", "DeveloperName"), ("description", "Description")] {
        if let Some(v) = request[key].as_str() {
            fields[field] = json!(v);
        }
    }
    let ctx = org.write_context(&org.integration_user_id.clone());
    let make_default = request["default"].as_bool().unwrap_or(false);
    match org.db.add_record_type(fields.as_object().expect("an object"), picklists, make_default, &ctx) {
        Ok(id) => (StatusCode::CREATED, Json(json!({"id": id}))).into_response(),
        Err(errors) => refused(errors),
    }
}

async fn add_picklist_value(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let (Some(object), Some(field), Some(value)) =
        (request["object"].as_str(), request["field"].as_str(), request["value"].as_str())
    else {
        return bad_request(
            "give {\"object\":\"Case\",\"field\":\"Reason\",\"value\":\"Billing\",\"label\":\"Billing\"}",
        );
    };
    let added = emulator.org().db.schema_mut().add_picklist_value(object, field, value, request["label"].as_str());
    match added {
        Ok(()) => {
            (StatusCode::CREATED, Json(json!({"object": object, "field": field, "value": value}))).into_response()
        }
        Err(e) => refused(vec![e]),
    }
}

async fn set_required(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let (Some(object), Some(field)) = (request["object"].as_str(), request["field"].as_str()) else {
        return bad_request("give {\"object\":\"Case\",\"field\":\"Reason\",\"required\":true}");
    };
    let required = request["required"].as_bool().unwrap_or(true);
    let set = emulator.org().db.schema_mut().set_required(object, field, required);
    match set {
        Ok(()) => Json(json!({"object": object, "field": field, "required": required})).into_response(),
        Err(e) => refused(vec![e]),
    }
}

async fn list_duplicate_rules(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    Json(json!({"rules": serde_json::to_value(emulator.org().db.duplicate_rules()).unwrap_or_default()}))
}

async fn add_duplicate_rule(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let rule = match body(&raw)
        .and_then(|v| serde_json::from_value::<DuplicateRule>(v).map_err(|e| format!("duplicate rule: {e}")))
    {
        Ok(rule) => rule,
        Err(message) => return bad_request(message),
    };
    let added = emulator.org().db.add_duplicate_rule(rule);
    match added {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => refused(vec![e]),
    }
}

async fn clear_duplicate_rules(State(emulator): State<Arc<Emulator>>) -> StatusCode {
    emulator.org().db.clear_duplicate_rules();
    StatusCode::NO_CONTENT
}

async fn set_permissions(State(emulator): State<Arc<Emulator>>, raw: axum::body::Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let Some(object) = request["object"].as_str() else {
        return bad_request("give at least {\"object\":\"Case\"} and the permissions to change");
    };
    let flag = |name: &str| request[name].as_bool().unwrap_or(true);
    // A profile cannot grant more than Read allows, nor Delete without Edit.
    let read = flag("read");
    let edit = read && flag("edit");
    let access = ObjectAccess { read, create: read && flag("create"), edit, delete: edit && flag("delete") };
    let mut org = emulator.org();
    let (user_id, username) = match request["username"].as_str() {
        Some(username) => match org.user_by_username(username) {
            Some(user) => (user.id, user.username),
            None => return bad_request(format!("no user has the username {username}")),
        },
        None => (org.integration_user_id.clone(), emulator.seeded.integration_username.clone()),
    };
    match org.db.set_object_access(&user_id, object, access) {
        Ok(()) => {
            let object = org.db.schema().object(object).map_or(object.to_string(), |o| o.name.clone());
            Json(json!({
                "username": username, "user_id": user_id, "object": object,
                "read": access.read, "create": access.create, "edit": access.edit, "delete": access.delete,
            }))
            .into_response()
        }
        Err(e) => refused(vec![e]),
    }
}
