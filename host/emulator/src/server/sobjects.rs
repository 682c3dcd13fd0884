//! sObject resources: describe, create, retrieve, update, delete,
//! getUpdated/getDeleted and blob fields.
//!
//! Each answers as the session's user may see it: an object the user's
//! profile cannot read does not exist for them (404 `NOT_FOUND`, left out
//! of describe global, `INVALID_TYPE` in queries), and describe shows
//! what they may create, edit and delete. "The API respects object-level
//! and field-level security configured in the user interface. You can
//! access objects and fields only if the logged-in user's permissions and
//! access settings allow such access" (Object Reference, Factors that
//! Affect Data Access). Writes without the permission are refused by the
//! data layer ([`Database::create_with`](crate::db::Database::create_with)).

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::org::Org;
use super::request::ApiRequest;
use super::response::ApiResponse;
use crate::db::parse_datetime;
use crate::error::SfError;
use crate::schema::{ObjectDef, describe_global_for, describe_object_for};

type Answer = Result<ApiResponse, Vec<SfError>>;

/// An object `user` may read, or 404 as for an unknown one.
fn readable<'o>(org: &'o Org, user: &str, object: &str) -> Result<&'o ObjectDef, Vec<SfError>> {
    org.db
        .schema()
        .object(object)
        .filter(|o| org.db.object_access(user, &o.name).read)
        .ok_or_else(|| vec![SfError::unknown_sobject(object)])
}

/// `GET /sobjects`.
pub(crate) fn describe_global(org: &Org, user: &str, request: &ApiRequest) -> ApiResponse {
    ApiResponse::ok(describe_global_for(org.db.schema(), &request.version, &|o| org.db.object_access(user, o)))
}

/// `GET /sobjects/{object}/describe`.
pub(crate) fn describe(org: &Org, user: &str, request: &ApiRequest, object: &str) -> Answer {
    let obj = readable(org, user, object)?;
    Ok(ApiResponse::ok(describe_object_for(obj, &request.version, org.db.object_access(user, &obj.name))))
}

/// `GET /sobjects/{object}`: the object's describe-global entry and the
/// records recently viewed (none: nobody views records in an emulator).
pub(crate) fn info(org: &Org, user: &str, request: &ApiRequest, object: &str) -> Answer {
    readable(org, user, object)?;
    let all = describe_global_for(org.db.schema(), &request.version, &|o| org.db.object_access(user, o));
    let entry = all["sobjects"]
        .as_array()
        .and_then(|objects| objects.iter().find(|o| o["name"] == object))
        .cloned()
        .ok_or_else(|| vec![SfError::unknown_sobject(object)])?;
    Ok(ApiResponse::ok(json!({"objectDescribe": entry, "recentItems": []})))
}

/// The success body of a create, in REST and in collections.
pub(crate) fn save_result(id: &str) -> Value {
    json!({"id": id, "success": true, "errors": []})
}

/// The URL of a record, as `Location` headers give it.
pub(crate) fn record_url(request: &ApiRequest, object: &str, id: &str) -> String {
    format!("/services/data/v{}/sobjects/{object}/{id}", request.version)
}

/// `POST /sobjects/{object}` → 201 `{"id","success":true,"errors":[]}`.
pub(crate) fn create(org: &mut Org, user: &str, request: &ApiRequest, object: &str) -> Answer {
    let fields = request.json_object().map_err(|e| vec![e])?;
    let ctx = org.write_context(user);
    let id = org.db.create_with(object, &fields, &ctx, &request.write_options())?;
    Ok(ApiResponse::json(StatusCode::CREATED, save_result(&id))
        .with_header("Location", record_url(request, object, &id)))
}

/// `GET /sobjects/{object}/{id}?fields=A,B`.
pub(crate) fn retrieve(org: &Org, user: &str, request: &ApiRequest, object: &str, id: &str) -> Answer {
    readable(org, user, object)?;
    let fields: Option<Vec<String>> =
        request.param("fields").map(|f| f.split(',').map(|s| s.trim().to_string()).collect());
    let record = org.db.retrieve(object, id, fields.as_deref(), &request.version).map_err(|e| vec![e])?;
    Ok(ApiResponse::ok(record))
}

/// `PATCH /sobjects/{object}/{id}` → 204.
pub(crate) fn update(org: &mut Org, user: &str, request: &ApiRequest, object: &str, id: &str) -> Answer {
    let fields = request.json_object().map_err(|e| vec![e])?;
    let ctx = org.write_context(user);
    org.db.update_with(object, id, &fields, &ctx, &request.write_options())?;
    Ok(ApiResponse::no_content())
}

/// `DELETE /sobjects/{object}/{id}` → 204.
pub(crate) fn delete(org: &mut Org, user: &str, object: &str, id: &str) -> Answer {
    let ctx = org.write_context(user);
    org.db.delete(object, id, &ctx)?;
    Ok(ApiResponse::no_content())
}

/// `GET /sobjects/{object}/updated/?start=&end=` and `/deleted/`.
pub(crate) fn updated(org: &Org, user: &str, request: &ApiRequest, object: &str, deleted: bool) -> Answer {
    readable(org, user, object)?;
    let bound = |name: &str| -> Result<_, Vec<SfError>> {
        let raw = request.param(name).ok_or_else(|| {
            vec![
                SfError::new(400, "MISSING_ARGUMENT", format!("Missing required parameter: {name}"))
                    .with_fields(vec![name.to_string()]),
            ]
        })?;
        parse_datetime(raw).ok_or_else(|| {
            vec![
                SfError::new(400, "INVALID_REPLICATION_DATE", format!("Invalid {name} date: {raw}"))
                    .with_fields(vec![name.to_string()]),
            ]
        })
    };
    let (start, end) = (bound("start")?, bound("end")?);
    let now = org.clock.now();
    let body = if deleted { org.db.deleted(object, start, end, now) } else { org.db.updated(object, start, end, now) };
    Ok(ApiResponse::ok(body.map_err(|e| vec![e])?))
}

/// `GET /sobjects/{object}/{id}/{field}`: the raw bytes of a base64 field
/// (`ContentVersion/…/VersionData`, `Attachment/…/Body`).
pub(crate) fn blob(org: &Org, user: &str, object: &str, id: &str, field: &str) -> Answer {
    readable(org, user, object)?;
    let bytes = org.db.blob(object, id, field).map_err(|e| vec![e])?;
    // Attachments know their content type; Salesforce serves everything else as a binary stream.
    let content_type = org
        .db
        .schema()
        .object(object)
        .and_then(|o| o.field("ContentType"))
        .and_then(|_| org.db.retrieve(object, id, Some(&["ContentType".to_string()]), "59.0").ok())
        .and_then(|r| r["ContentType"].as_str().map(str::to_string))
        .unwrap_or_else(|| "application/octetstream".to_string());
    Ok(ApiResponse::raw(StatusCode::OK, &content_type, bytes))
}
