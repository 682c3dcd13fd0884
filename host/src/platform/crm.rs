//! The CRM actions on the platform API and the CLI (C3–C9, D1–D5): each runs
//! in the connector (`crm` of the 0.2.1 contract); this module only reads
//! requests, calls the host and writes the answers as JSON.
//!
//! | method and path (under `/api/v1/orgs/{org}`) | action |
//! |---|---|
//! | `GET /people/{id}/salesforce` | the profile view (C3) |
//! | `POST /people/{id}/lead` | create a Lead (C4, D5) |
//! | `GET /people/{id}/contact-matches?q=` | search Contacts (D1, D2) |
//! | `PUT /people/{id}/contact` `{"contact_id"?}` | link a Contact, or a new one (D1) |
//! | `DELETE /people/{id}/contact` | unlink (D3) |
//! | `POST /conversations/{id}/case` `{"fields"?}` | create a case (C9, D5) |
//! | `POST /conversations/{id}/tasks` `{"part_id"?}` | log Tasks (C7, C8) |
//! | `GET /flagged-cases` | cases waiting for a Contact (D4) |
//! | `GET /errors`, `POST /errors/{id}/retry` | failed writes, retried next cycle (C6) |
//!
//! Every create needs an idempotency key: the `Idempotency-Key` header (or
//! `idempotency_key` in the body). The same key again returns the first
//! result with `"existed": true` and creates nothing.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::api::{Answer, ApiError, ApiState, body_object, known_org, only_members};
use crate::host::{Host, OrgError};
use crate::runtime::bindings::contacts::{Outcome, RankedCandidate};
use crate::runtime::bindings::crm::{CrmError, FlaggedCase, ProfileView, SavedRecord};
use crate::runtime::bindings::sync::RecordError;
use crate::runtime::bindings::types::{Attribute, AttributeValue, WireValue};

pub(crate) fn routes() -> axum::Router<ApiState> {
    axum::Router::new()
        .route("/people/{id}/salesforce", get(profile))
        .route("/people/{id}/lead", post(create_lead))
        .route("/people/{id}/contact-matches", get(find_contact))
        .route("/people/{id}/contact", put(link_contact).delete(unlink_contact))
        .route("/conversations/{id}/case", post(create_case))
        .route("/conversations/{id}/tasks", post(log_task))
        .route("/flagged-cases", get(flagged_cases))
        .route("/errors", get(list_errors))
        .route("/errors/{id}/retry", post(retry_error))
}

// ---- JSON shapes, shared with the CLI ----------------------------------------------------------

pub fn saved_json(saved: &SavedRecord) -> Value {
    json!({"object": saved.object, "id": saved.id, "existed": saved.existed, "notes": saved.notes})
}

fn candidate_json(ranked: &RankedCandidate) -> Value {
    let c = &ranked.candidate;
    json!({
        "id": c.id, "first_name": c.first_name, "last_name": c.last_name, "email": c.email,
        "account_id": c.account_id, "score": ranked.score,
        "reasons": ranked.reasons.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>(),
    })
}

pub fn outcome_json(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Link(best) => json!({"outcome": "link", "candidates": [candidate_json(best)]}),
        Outcome::Suggest(all) => {
            json!({"outcome": "suggest", "candidates": all.iter().map(candidate_json).collect::<Vec<_>>()})
        }
        Outcome::Create(fields) => json!({
            "outcome": "create", "candidates": [],
            "new_contact": fields.iter().map(|f| (f.name.clone(), wire_json(&f.value))).collect::<Map<_, _>>(),
        }),
    }
}

fn wire_json(value: &WireValue) -> Value {
    match value {
        WireValue::Null => Value::Null,
        WireValue::Text(text) => json!(text),
        WireValue::Boolean(b) => json!(b),
        WireValue::Number(n) => serde_json::from_str(n).unwrap_or_else(|_| json!(n)),
        WireValue::Compound(text) => serde_json::from_str(text).unwrap_or(Value::Null),
    }
}

pub fn profile_json(profile: Option<&ProfileView>) -> Value {
    let Some(p) = profile else { return json!({"linked": false}) };
    let link = |object: &str, id: &str| format!("{}/lightning/r/{object}/{id}/view", p.instance_url);
    json!({
        "linked": true,
        "contact": p.contact.as_ref().map(|c| json!({"id": c.id, "name": c.name, "email": c.email, "account_owner": c.account_owner, "url": link("Contact", &c.id)})),
        "lead": p.lead.as_ref().map(|l| json!({"id": l.id, "name": l.name, "email": l.email, "company": l.company, "status": l.status, "owner": l.owner, "converted_contact_id": l.converted_contact_id, "url": link("Lead", &l.id)})),
        "account": p.account.as_ref().map(|a| json!({"id": a.id, "name": a.name, "domain": a.domain, "owner": a.owner, "country": a.country, "url": link("Account", &a.id)})),
        "opportunities": p.opportunities.iter().map(|o| json!({"id": o.id, "name": o.name, "owner": o.owner, "stage": o.stage, "close_date": o.close_date, "amount": o.amount, "closed": o.closed, "url": link("Opportunity", &o.id)})).collect::<Vec<_>>(),
        "open_cases": p.open_cases.iter().map(|c| json!({"id": c.id, "number": c.number, "subject": c.subject, "status": c.status, "priority": c.priority, "url": link("Case", &c.id)})).collect::<Vec<_>>(),
        "open_case_count": p.open_case_count,
    })
}

pub fn flagged_json(flagged: &FlaggedCase) -> Value {
    json!({
        "case_id": flagged.case_id, "conversation_id": flagged.conversation_id, "person_id": flagged.person_id,
        "suggestions": flagged.suggestions.iter().map(candidate_json).collect::<Vec<_>>(),
        "flagged_at": crate::agent::webhook::rfc3339(flagged.flagged_at),
    })
}

pub fn record_error_json(e: &RecordError) -> Value {
    json!({
        "id": e.id, "record_id": e.record_id, "operation": e.operation,
        "reason": {"status": e.reason.status, "code": e.reason.code, "message": e.reason.message, "fields": e.reason.fields},
        "failed_at": crate::agent::webhook::rfc3339(e.failed_at),
    })
}

/// The connector's refusal: its words, the HTTP status that fits, and the
/// details a caller acts on (missing fields, matched duplicates).
pub fn crm_error(error: &CrmError) -> (StatusCode, String, Map<String, Value>) {
    let mut details = Map::new();
    let (status, message) = match error {
        CrmError::Unsupported(what) => (StatusCode::NOT_IMPLEMENTED, what.clone()),
        CrmError::InvalidRequest(why) => (StatusCode::UNPROCESSABLE_ENTITY, why.clone()),
        CrmError::Conversion(errors) => {
            details.insert(
                "conversions".into(),
                json!(errors.iter().map(|e| json!({"object": e.object, "field": e.field, "value": e.value, "problem": format!("{:?}", e.problem)})).collect::<Vec<_>>()),
            );
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                errors
                    .iter()
                    .map(|e| format!("{}.{}: `{}` does not fit ({:?})", e.object, e.field, e.value, e.problem))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        }
        CrmError::RequiredFieldsMissing(missing) => {
            details.insert(
                "missing".into(),
                json!(missing.iter().map(|f| json!({"field": f.field, "label": f.label})).collect::<Vec<_>>()),
            );
            let named = missing.iter().map(|f| format!("{} ({})", f.label, f.field)).collect::<Vec<_>>().join(", ");
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Salesforce requires these fields: {named}; give them and send again"),
            )
        }
        CrmError::DuplicatesDetected(found) => {
            details.insert("matched".into(), json!(found.matched));
            details.insert("allow_save".into(), json!(found.allow_save));
            let how = if found.allow_save {
                "the rule allows saving anyway: set [org.crm] allow_duplicate_save = true, or link the existing record"
            } else {
                "the rule blocks the save: link the existing record instead"
            };
            (
                StatusCode::CONFLICT,
                format!("Salesforce's duplicate rule matched {}: {} ({how})", found.matched.join(", "), found.message),
            )
        }
        CrmError::Permission(why) => (StatusCode::FORBIDDEN, why.clone()),
        CrmError::Sync(error) => (StatusCode::BAD_GATEWAY, crate::host::describe_sync_error(error)),
    };
    (status, message, details)
}

impl From<OrgError> for ApiError {
    fn from(error: OrgError) -> Self {
        let status = match &error {
            OrgError::UnknownOrg(_) => StatusCode::NOT_FOUND,
            OrgError::Busy { .. } | OrgError::ApiLimit { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, None, error.reason())
    }
}

fn answer<T>(
    result: Result<Result<T, CrmError>, OrgError>,
    ok: StatusCode,
    render: impl FnOnce(&T) -> Value,
) -> Answer {
    match result? {
        Ok(value) => Ok((ok, Json(render(&value))).into_response()),
        Err(refused) => Err(refusal(&refused)),
    }
}

fn refusal(refused: &CrmError) -> ApiError {
    let (status, message, details) = crm_error(refused);
    ApiError::new(status, None, message).with_details(details)
}

fn host(state: &ApiState, org: &str) -> Result<Arc<Host>, ApiError> {
    known_org(state, org)?;
    state.host.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "this server runs no connector: CRM actions need `casebridge run`",
        )
    })
}

/// The idempotency key of a create: the `Idempotency-Key` header, else the
/// body's `idempotency_key`.
fn idempotency_key(headers: &HeaderMap, body: &Map<String, Value>) -> Result<String, ApiError> {
    let from_header = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::trim);
    let from_body = body.get("idempotency_key").and_then(Value::as_str).map(str::trim);
    from_header.or(from_body).filter(|k| !k.is_empty()).map(str::to_string).ok_or_else(|| {
        ApiError::invalid(
            "idempotency_key",
            "a create needs an idempotency key (the Idempotency-Key header or idempotency_key): a new UUID per action, the same one when retrying it",
        )
    })
}

/// A body that may be absent.
fn optional_body(body: Result<Json<Value>, JsonRejection>) -> Result<Map<String, Value>, ApiError> {
    match body {
        Err(JsonRejection::MissingJsonContentType(_)) => Ok(Map::new()),
        other => body_object(other),
    }
}

/// A member that is an id or null (absent: null); `wrong` says what it must be.
fn optional_id(body: &Map<String, Value>, member: &str, wrong: &str) -> Result<Option<String>, ApiError> {
    match body.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(_) => Err(ApiError::invalid(member, wrong)),
    }
}

/// A Case field's value from natural JSON; the connector converts it to
/// the field's type.
pub fn attribute_value(value: &Value) -> Option<AttributeValue> {
    Some(match value {
        Value::Null => AttributeValue::Null,
        Value::Bool(b) => AttributeValue::Boolean(*b),
        Value::String(s) => AttributeValue::Text(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AttributeValue::Integer(i),
            None => AttributeValue::Decimal(n.as_f64()?),
        },
        Value::Array(items) => {
            AttributeValue::List(items.iter().map(|i| i.as_str().map(str::to_string)).collect::<Option<Vec<_>>>()?)
        }
        Value::Object(_) => return None,
    })
}

async fn profile(State(state): State<ApiState>, Path((org, id)): Path<(String, String)>) -> Answer {
    let host = host(&state, &org)?;
    answer(host.crm_profile(&org, &id).await, StatusCode::OK, |p| profile_json(p.as_ref()))
}

async fn create_lead(
    State(state): State<ApiState>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    let host = host(&state, &org)?;
    let body = optional_body(body)?;
    only_members(&body, &["idempotency_key"])?;
    let key = idempotency_key(&headers, &body)?;
    answer(host.crm_create_lead(&org, &key, &id).await, StatusCode::CREATED, saved_json)
}

#[derive(Deserialize)]
struct Search {
    q: Option<String>,
}

async fn find_contact(
    State(state): State<ApiState>,
    Path((org, id)): Path<(String, String)>,
    Query(search): Query<Search>,
) -> Answer {
    let host = host(&state, &org)?;
    answer(host.crm_find_contact(&org, &id, search.q.as_deref()).await, StatusCode::OK, outcome_json)
}

async fn link_contact(
    State(state): State<ApiState>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    let host = host(&state, &org)?;
    let body = optional_body(body)?;
    only_members(&body, &["idempotency_key", "contact_id"])?;
    let contact = optional_id(&body, "contact_id", "must be a Contact Id (003…) or null to create one")?;
    let key = idempotency_key(&headers, &body)?;
    answer(host.crm_link_contact(&org, &key, &id, contact.as_deref()).await, StatusCode::OK, saved_json)
}

async fn unlink_contact(State(state): State<ApiState>, Path((org, id)): Path<(String, String)>) -> Answer {
    let host = host(&state, &org)?;
    match host.crm_unlink_contact(&org, &id).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(refused) => Err(refusal(&refused)),
    }
}

async fn create_case(
    State(state): State<ApiState>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    let host = host(&state, &org)?;
    let body = optional_body(body)?;
    only_members(&body, &["idempotency_key", "fields"])?;
    let mut fields = Vec::new();
    match body.get("fields") {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => {
            for (name, value) in given {
                let value = attribute_value(value).ok_or_else(|| {
                    ApiError::invalid(
                        &format!("fields.{name}"),
                        "must be a string, number, boolean, null or list of strings",
                    )
                })?;
                fields.push(Attribute { name: name.clone(), value });
            }
        }
        Some(_) => return Err(ApiError::invalid("fields", "must be an object of Case field API names to values")),
    }
    let key = idempotency_key(&headers, &body)?;
    answer(host.crm_create_case(&org, &key, &id, fields).await, StatusCode::CREATED, saved_json)
}

async fn log_task(
    State(state): State<ApiState>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Answer {
    let host = host(&state, &org)?;
    let body = optional_body(body)?;
    only_members(&body, &["idempotency_key", "part_id"])?;
    let part = optional_id(&body, "part_id", "must be the id of a message or note, or null")?;
    let key = idempotency_key(&headers, &body)?;
    answer(
        host.crm_log_task(&org, &key, &id, part.as_deref()).await,
        StatusCode::CREATED,
        |tasks| json!({"tasks": tasks.iter().map(saved_json).collect::<Vec<_>>()}),
    )
}

async fn flagged_cases(State(state): State<ApiState>, Path(org): Path<String>) -> Answer {
    let host = host(&state, &org)?;
    answer(
        host.crm_flagged_cases(&org).await,
        StatusCode::OK,
        |flagged| json!({"items": flagged.iter().map(flagged_json).collect::<Vec<_>>()}),
    )
}

async fn list_errors(State(state): State<ApiState>, Path(org): Path<String>) -> Answer {
    let host = host(&state, &org)?;
    let errors = host.list_errors(&org).await?;
    Ok(Json(json!({"items": errors.iter().map(record_error_json).collect::<Vec<_>>()})).into_response())
}

async fn retry_error(State(state): State<ApiState>, Path((org, id)): Path<(String, String)>) -> Answer {
    let host = host(&state, &org)?;
    host.retry_error(&org, &id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_field_values_come_from_natural_json() {
        assert_eq!(attribute_value(&json!("High")), Some(AttributeValue::Text("High".into())));
        assert_eq!(attribute_value(&json!(3)), Some(AttributeValue::Integer(3)));
        assert_eq!(attribute_value(&json!(2.5)), Some(AttributeValue::Decimal(2.5)));
        assert_eq!(attribute_value(&json!(["a", "b"])), Some(AttributeValue::List(vec!["a".into(), "b".into()])));
        assert_eq!(attribute_value(&json!({"a": 1})), None);
        assert_eq!(attribute_value(&json!([1])), None);
    }
}
