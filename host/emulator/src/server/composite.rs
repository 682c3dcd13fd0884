//! Composite resources: `/composite` (dependent subrequests with references,
//! one API call), `/composite/sobjects` (sObject collections, up to 200
//! records) and `/composite/batch` (independent subrequests, one call each).
//!
//! Subrequests run through the same [`Org::execute`] as top-level requests;
//! all-or-none goes through [`Org::all_or_none`].

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::org::Org;
use super::request::{ApiRequest, allow_save_option, batch_size_option};
use super::resources::Resource;
use super::response::{ApiResponse, json_parser_error};
use super::sobjects::save_result;
use super::versions;
use crate::error::SfError;
use crate::ids;
use crate::schema::Schema;

type Answer = Result<ApiResponse, Vec<SfError>>;

/// Subrequests a `/composite` request may hold.
const MAX_COMPOSITE_SUBREQUESTS: usize = 25;
/// Subrequests a `/composite/batch` request may hold.
const MAX_BATCH_SUBREQUESTS: usize = 25;
/// Records an sObject collection request may hold.
const MAX_COLLECTION_RECORDS: usize = 200;

fn invalid_input(message: impl Into<String>) -> Vec<SfError> {
    vec![SfError::new(400, "INVALID_API_INPUT", message)]
}

/// A subrequest's URL (`/services/data/v59.0/sobjects/Case`, or for a batch
/// `v59.0/sobjects/Case`) and body as a request to the org. The request
/// holding it (`parent`) passes its `Sforce-Duplicate-Rule-Header` on; the
/// subrequest's own `httpHeaders` take precedence.
fn subrequest(
    parent: &ApiRequest,
    method: &str,
    url: &str,
    body: Option<&Value>,
    headers: Option<&Value>,
) -> Result<ApiRequest, SfError> {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| SfError::new(400, "INVALID_API_INPUT", format!("Invalid HTTP method: {method}")))?;
    let relative = url.strip_prefix("/services/data/").or_else(|| url.strip_prefix("services/data/")).unwrap_or(url);
    let (path, query) = relative.split_once('?').map_or((relative, None), |(p, q)| (p, Some(q)));
    let (version, rest) = path.split_once('/').unwrap_or((path, ""));
    let version = versions::parse(version).ok_or_else(SfError::not_found)?;
    let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default()).unwrap_or_default();
    let mut request = ApiRequest::new(method, &version, rest, query, body);
    let header = |name: &str| {
        headers
            .and_then(Value::as_object)
            .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .and_then(|(_, v)| v.as_str())
    };
    request.batch_size = header("Sforce-Query-Options").and_then(batch_size_option);
    request.allow_save_duplicates =
        header("Sforce-Duplicate-Rule-Header").map_or(parent.allow_save_duplicates, allow_save_option);
    Ok(request)
}

/// Routes and runs a subrequest; `counted` subrequests are API calls of their own.
fn run_subrequest(org: &mut Org, user: &str, request: &ApiRequest, counted: bool) -> ApiResponse {
    let resource = match Resource::route(&request.method, &request.path, org.db.schema()) {
        Ok(Resource::Composite | Resource::CompositeBatch) => {
            return ApiResponse::errors(invalid_input("Composite requests cannot be nested"));
        }
        Ok(resource) => resource,
        Err(e) => return e.into(),
    };
    if counted && let Err(e) = org.admit(&resource, &request.method) {
        return e.into();
    }
    org.execute(user, request, &resource)
}

// ---- /composite ----

struct CompositeSubrequest {
    method: String,
    url: String,
    reference_id: String,
    body: Option<Value>,
    headers: Option<Value>,
}

/// `POST /composite`.
pub(crate) fn composite(org: &mut Org, user: &str, request: &ApiRequest) -> Answer {
    let body = request.json_object().map_err(|e| vec![e])?;
    let all_or_none = body.get("allOrNone").and_then(Value::as_bool).unwrap_or(false);
    let Some(items) = body.get("compositeRequest").and_then(Value::as_array) else {
        return Err(vec![json_parser_error("compositeRequest: a list of subrequests is required")]);
    };
    if items.is_empty() || items.len() > MAX_COMPOSITE_SUBREQUESTS {
        return Err(invalid_input(format!(
            "A composite request must hold between 1 and {MAX_COMPOSITE_SUBREQUESTS} subrequests; this one holds {}",
            items.len()
        )));
    }
    let mut subrequests = Vec::with_capacity(items.len());
    for item in items {
        let field = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_string);
        let (Some(method), Some(url), Some(reference_id)) = (field("method"), field("url"), field("referenceId"))
        else {
            return Err(invalid_input("Each subrequest needs a method, a url and a referenceId"));
        };
        if !is_reference_id(&reference_id) {
            return Err(invalid_input(format!(
                "Invalid referenceId {reference_id}: use letters, numbers and underscores, starting with a letter"
            )));
        }
        if subrequests.iter().any(|s: &CompositeSubrequest| s.reference_id == reference_id) {
            return Err(invalid_input(format!("Duplicate referenceId provided in the request: {reference_id}")));
        }
        let body = item.get("body").filter(|b| !b.is_null()).cloned();
        subrequests.push(CompositeSubrequest {
            method,
            url,
            reference_id,
            body,
            headers: item.get("httpHeaders").cloned(),
        });
    }
    let answers = if all_or_none {
        org.all_or_none(|org| {
            let answers = run_composite(org, user, request, &subrequests, true);
            let keep = answers.iter().all(ApiResponse::is_success);
            (answers, keep)
        })
    } else {
        run_composite(org, user, request, &subrequests, false)
    };
    let results: Vec<Value> = answers
        .iter()
        .zip(&subrequests)
        .map(|(answer, sub)| {
            let headers: Map<String, Value> = answer
                .headers
                .iter()
                .filter(|(name, _)| *name == "Location")
                .map(|(name, value)| (name.to_string(), json!(value)))
                .collect();
            json!({
                "body": answer.body_json(),
                "httpHeaders": headers,
                "httpStatusCode": answer.status.as_u16(),
                "referenceId": sub.reference_id,
            })
        })
        .collect();
    Ok(ApiResponse::ok(json!({"compositeResponse": results})))
}

/// Runs the subrequests in order, resolving references to earlier results.
/// Under all-or-none, the first failure halts the rest and every other
/// result becomes `PROCESSING_HALTED` (the caller rolls the records back).
fn run_composite(
    org: &mut Org,
    user: &str,
    parent: &ApiRequest,
    subrequests: &[CompositeSubrequest],
    all_or_none: bool,
) -> Vec<ApiResponse> {
    let mut results: HashMap<&str, Value> = HashMap::new();
    let mut answers: Vec<ApiResponse> = Vec::with_capacity(subrequests.len());
    let mut failed: Option<usize> = None;
    for (i, sub) in subrequests.iter().enumerate() {
        if failed.is_some() {
            answers.push(rolled_back());
            continue;
        }
        let answer = match resolve_references(sub, &results).and_then(|(url, mut body)| {
            // An all-or-none composite makes its collections all-or-none too.
            if all_or_none
                && url.contains("/composite/sobjects")
                && let Some(Value::Object(b)) = body.as_mut()
            {
                b.insert("allOrNone".into(), Value::Bool(true));
            }
            subrequest(parent, &sub.method, &url, body.as_ref(), sub.headers.as_ref())
        }) {
            Ok(request) => run_subrequest(org, user, &request, false),
            Err(e) => e.into(),
        };
        if answer.is_success() {
            results.insert(&sub.reference_id, answer.body_json());
        } else if all_or_none {
            failed = Some(i);
        }
        answers.push(answer);
    }
    if let Some(failed) = failed {
        for (i, answer) in answers.iter_mut().enumerate() {
            if i != failed {
                *answer = rolled_back();
            }
        }
    }
    answers
}

fn rolled_back() -> ApiResponse {
    SfError::new(
        400,
        "PROCESSING_HALTED",
        "The transaction was rolled back since another operation in the same transaction failed.",
    )
    .into()
}

fn is_reference_id(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The subrequest's URL and body with every `@{ref.path}` replaced by the
/// value at `path` in the earlier result `ref` (`@{NewCase.id}`,
/// `@{Cases.records[0].Id}`). A body string that is exactly one reference
/// takes the referenced value's JSON type.
fn resolve_references(
    sub: &CompositeSubrequest,
    results: &HashMap<&str, Value>,
) -> Result<(String, Option<Value>), SfError> {
    let url = substitute(&sub.url, results)?;
    let body = match &sub.body {
        Some(body) => Some(substitute_json(body, results)?),
        None => None,
    };
    Ok((url, body))
}

fn substitute_json(value: &Value, results: &HashMap<&str, Value>) -> Result<Value, SfError> {
    Ok(match value {
        Value::String(s) => match whole_reference(s) {
            Some(expr) => lookup(expr, results)?,
            None => Value::String(substitute(s, results)?),
        },
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute_json(v, results)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), substitute_json(v, results)?))).collect::<Result<_, SfError>>()?,
        ),
        other => other.clone(),
    })
}

/// `expr` when `s` is exactly `@{expr}`.
fn whole_reference(s: &str) -> Option<&str> {
    let expr = s.strip_prefix("@{")?.strip_suffix('}')?;
    (!expr.contains('}')).then_some(expr)
}

/// Replaces every `@{expr}` in a string with the referenced value as text.
fn substitute(s: &str, results: &HashMap<&str, Value>) -> Result<String, SfError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("@{") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let value = lookup(&rest[start + 2..start + 2 + len], results)?;
        match value {
            Value::String(text) => out.push_str(&text),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[start + 2 + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Evaluates `ref.field[0].other` against the earlier results.
fn lookup(expr: &str, results: &HashMap<&str, Value>) -> Result<Value, SfError> {
    let split = expr.find(['.', '[']).unwrap_or(expr.len());
    let (reference_id, mut path) = expr.split_at(split);
    let missing = || {
        SfError::new(
            400,
            "PROCESSING_HALTED",
            format!(
                "Invalid reference specified. No value for {expr} found in {reference_id}. Provided referenceId {reference_id}"
            ),
        )
    };
    let mut value = results.get(reference_id).ok_or_else(missing)?;
    while !path.is_empty() {
        if let Some(after) = path.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            value = value.get(&after[..end]).ok_or_else(missing)?;
            path = &after[end..];
        } else if let Some(after) = path.strip_prefix('[') {
            let end = after.find(']').ok_or_else(missing)?;
            let index: usize = after[..end].trim().parse().map_err(|_| missing())?;
            value = value.get(index).ok_or_else(missing)?;
            path = &after[end + 1..];
        } else {
            return Err(missing());
        }
    }
    if value.is_null() {
        return Err(missing());
    }
    Ok(value.clone())
}

// ---- /composite/sobjects ----

/// A per-record error in a collection result: `statusCode`, not `errorCode`,
/// and `fields` always present.
fn record_error(e: &SfError) -> Value {
    json!({"statusCode": e.error_code, "message": e.message, "fields": e.fields})
}

fn record_failure(id: Option<&str>, errors: &[SfError]) -> Value {
    let mut v = json!({"success": false, "errors": errors.iter().map(record_error).collect::<Vec<_>>()});
    if let Some(id) = id {
        v["id"] = json!(id);
    }
    v
}

fn rolled_back_record(result: &Value) -> Value {
    let error = SfError::new(
        400,
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using AllOrNone header",
    );
    record_failure(result["id"].as_str(), &[error])
}

/// `POST|PATCH|DELETE /composite/sobjects`: results in input order, HTTP 200
/// even when records fail.
pub(crate) fn collection(org: &mut Org, user: &str, request: &ApiRequest) -> Answer {
    let (all_or_none, operations) = if request.method == Method::DELETE {
        delete_operations(request, org.db.schema())?
    } else {
        save_operations(request)?
    };
    let options = request.write_options();
    let run = |org: &mut Org| -> Vec<Value> {
        let ctx = org.write_context(user);
        operations
            .iter()
            .map(|op| match op {
                Operation::Invalid { id, error } => record_failure(id.as_deref(), std::slice::from_ref(error)),
                Operation::Create { object, fields } => match org.db.create_with(object, fields, &ctx, &options) {
                    Ok(id) => save_result(&id),
                    Err(errors) => record_failure(None, &errors),
                },
                Operation::Update { object, id, fields } => {
                    match org.db.update_with(object, id, fields, &ctx, &options) {
                        Ok(()) => save_result(id),
                        Err(errors) => record_failure(Some(id), &errors),
                    }
                }
                Operation::Delete { object, id } => match org.db.delete(object, id, &ctx) {
                    Ok(()) => save_result(id),
                    Err(errors) => record_failure(Some(id), &errors),
                },
            })
            .collect()
    };
    let results = if all_or_none {
        org.all_or_none(|org| {
            let results = run(org);
            let keep = results.iter().all(|r| r["success"] == true);
            let results = if keep {
                results
            } else {
                results.iter().map(|r| if r["success"] == true { rolled_back_record(r) } else { r.clone() }).collect()
            };
            (results, keep)
        })
    } else {
        run(org)
    };
    Ok(ApiResponse::ok(Value::Array(results)))
}

enum Operation {
    Create {
        object: String,
        fields: Map<String, Value>,
    },
    Update {
        object: String,
        id: String,
        fields: Map<String, Value>,
    },
    Delete {
        object: String,
        id: String,
    },
    /// A record the request itself got wrong (no type, no id).
    Invalid {
        id: Option<String>,
        error: SfError,
    },
}

/// `{"allOrNone":…, "records":[{"attributes":{"type":"Case"}, …}]}` for POST and PATCH.
fn save_operations(request: &ApiRequest) -> Result<(bool, Vec<Operation>), Vec<SfError>> {
    let body = request.json_object().map_err(|e| vec![e])?;
    let all_or_none = body.get("allOrNone").and_then(Value::as_bool).unwrap_or(false);
    let Some(records) = body.get("records").and_then(Value::as_array) else {
        return Err(vec![json_parser_error("records: a list of sObjects is required")]);
    };
    check_collection_size(records.len())?;
    let update = request.method == Method::PATCH;
    let operations = records
        .iter()
        .map(|record| {
            let Some(fields) = record.as_object() else {
                return Operation::Invalid { id: None, error: json_parser_error("Each record must be a JSON object") };
            };
            let mut fields = fields.clone();
            fields.remove("attributes");
            let id = if update {
                let key = fields.keys().find(|k| k.eq_ignore_ascii_case("id")).cloned();
                key.and_then(|k| fields.remove(&k)).and_then(|v| v.as_str().map(str::to_string))
            } else {
                None
            };
            let Some(object) = record["attributes"]["type"].as_str().map(str::to_string) else {
                return Operation::Invalid {
                    id,
                    error: SfError::new(
                        400,
                        "INVALID_TYPE",
                        "No SObject type found in attributes: add \"attributes\":{\"type\":…}",
                    ),
                };
            };
            match (update, id) {
                (false, _) => Operation::Create { object, fields },
                (true, Some(id)) => Operation::Update { object, id, fields },
                (true, None) => Operation::Invalid {
                    id: None,
                    error: SfError::new(400, "MISSING_ARGUMENT", "Id not specified in an update call")
                        .with_fields(vec!["Id".into()]),
                },
            }
        })
        .collect();
    Ok((all_or_none, operations))
}

/// `DELETE /composite/sobjects?ids=…&allOrNone=…`.
fn delete_operations(request: &ApiRequest, schema: &Schema) -> Result<(bool, Vec<Operation>), Vec<SfError>> {
    let all_or_none = request.param("allOrNone").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let ids: Vec<&str> =
        request.param("ids").unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if ids.is_empty() {
        return Err(vec![SfError::new(400, "MISSING_ARGUMENT", "Missing required parameter: ids")]);
    }
    check_collection_size(ids.len())?;
    let operations = ids
        .iter()
        .map(|raw| match ids::normalize(raw) {
            None => Operation::Invalid { id: Some(raw.to_string()), error: SfError::malformed_id(None, raw) },
            Some(id) => match schema.object_for_id(&id) {
                Some(object) => Operation::Delete { object: object.name.clone(), id },
                None => Operation::Invalid { id: Some(id), error: SfError::not_found() },
            },
        })
        .collect();
    Ok((all_or_none, operations))
}

fn check_collection_size(n: usize) -> Result<(), Vec<SfError>> {
    if n > MAX_COLLECTION_RECORDS {
        return Err(vec![SfError::new(
            400,
            "EXCEEDED_ID_LIMIT",
            format!("record limit reached. cannot submit more than {MAX_COLLECTION_RECORDS} records into this call"),
        )]);
    }
    Ok(())
}

/// `GET /composite/sobjects/{object}?ids=…&fields=…`, or `POST` with
/// `{"ids":[…],"fields":[…]}`: records in id order, `null` for missing ones.
pub(crate) fn retrieve_collection(org: &Org, user: &str, request: &ApiRequest, object: &str) -> Answer {
    if !org.db.object_access(user, object).read {
        return Err(vec![SfError::unknown_sobject(object)]);
    }
    let (ids, fields): (Vec<String>, Vec<String>) = if request.method == Method::POST {
        let body = request.json_object().map_err(|e| vec![e])?;
        let strings = |name: &str| -> Vec<String> {
            body.get(name)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        (strings("ids"), strings("fields"))
    } else {
        let list = |name: &str| -> Vec<String> {
            request
                .param(name)
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        (list("ids"), list("fields"))
    };
    if fields.is_empty() {
        return Err(vec![SfError::new(400, "MISSING_ARGUMENT", "Missing required parameter: fields")]);
    }
    check_collection_size(ids.len())?;
    let mut records = Vec::with_capacity(ids.len());
    for id in &ids {
        match org.db.retrieve(object, id, Some(&fields), &request.version) {
            Ok(record) => records.push(record),
            Err(e) if e.error_code == "INVALID_FIELD" => return Err(vec![e]),
            Err(_) => records.push(Value::Null),
        }
    }
    Ok(ApiResponse::ok(Value::Array(records)))
}

// ---- /composite/batch ----

/// `POST /composite/batch`: each subrequest is its own API call;
/// `haltOnError` answers the rest 412 `BATCH_PROCESSING_HALTED`.
pub(crate) fn batch(org: &mut Org, user: &str, request: &ApiRequest) -> Answer {
    let body = request.json_object().map_err(|e| vec![e])?;
    let halt_on_error = body.get("haltOnError").and_then(Value::as_bool).unwrap_or(false);
    let Some(items) = body.get("batchRequests").and_then(Value::as_array) else {
        return Err(vec![json_parser_error("batchRequests: a list of subrequests is required")]);
    };
    if items.is_empty() || items.len() > MAX_BATCH_SUBREQUESTS {
        return Err(invalid_input(format!(
            "A batch must hold between 1 and {MAX_BATCH_SUBREQUESTS} subrequests; this one holds {}",
            items.len()
        )));
    }
    let mut halted = false;
    let mut has_errors = false;
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        let answer = if halted {
            ApiResponse::json(
                StatusCode::PRECONDITION_FAILED,
                json!([{"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}]),
            )
        } else {
            let method = item["method"].as_str().unwrap_or_default();
            let url = item["url"].as_str().unwrap_or_default();
            let body = item.get("richInput").filter(|b| !b.is_null());
            match subrequest(request, method, url, body, item.get("httpHeaders")) {
                Ok(sub) => run_subrequest(org, user, &sub, true),
                Err(e) => e.into(),
            }
        };
        if !answer.is_success() {
            has_errors = true;
            halted |= halt_on_error;
        }
        results.push(json!({"statusCode": answer.status.as_u16(), "result": answer.body_json()}));
    }
    Ok(ApiResponse::ok(json!({"hasErrors": has_errors, "results": results})))
}
