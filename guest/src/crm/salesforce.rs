//! What the CRM actions need from Salesforce beyond the cycle's client:
//! describe read for permissions, required fields and record types; creates
//! through one all-or-none composite request with Salesforce's refusals read
//! into [`CrmError`]s (duplicates with their matched records, missing fields
//! by label, missing permissions); users by email.

use serde_json::{Map, Value, json};

use super::{CrmError, Ctx, Duplicates, MissingField};
use crate::capabilities::Capabilities;
use crate::cycle::SyncError;
use crate::model::{FieldDescriptor, FieldType, Timestamp};
use crate::salesforce::client::{ApiError, SubResponse, Subrequest};
use crate::salesforce::describe::parse_describe;
use crate::salesforce::escape::{soql_datetime, soql_quoted};
use crate::salesforce::transport::{Method, Transport};

/// The REST header that saves past a duplicate rule which allows it.
pub const DUPLICATE_RULE_HEADER: &str = "Sforce-Duplicate-Rule-Header";

/// One record type of an object, from describe's `recordTypeInfos`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordType {
    pub id: String,
    pub name: String,
    pub developer_name: Option<String>,
    pub available: bool,
    pub default: bool,
    pub master: bool,
}

/// What describe says about an object, for the calling user.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    pub object: String,
    pub createable: bool,
    pub updateable: bool,
    pub fields: Vec<FieldDescriptor>,
    pub record_types: Vec<RecordType>,
}

impl ObjectInfo {
    pub fn field(&self, name: &str) -> Option<&FieldDescriptor> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The fields Salesforce requires on create: createable, not nillable and
    /// not defaulted on create (checkboxes always have a value).
    pub fn required_on_create(&self) -> impl Iterator<Item = &FieldDescriptor> {
        self.fields
            .iter()
            .filter(|f| f.createable && !f.nillable && !f.defaulted_on_create && f.field_type != FieldType::Boolean)
    }

    /// The required fields `given` leaves out, by label and API name.
    pub fn missing(&self, given: &Map<String, Value>) -> Vec<MissingField> {
        self.required_on_create()
            .filter(|f| {
                given.get(&f.name).is_none_or(|v| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()))
            })
            .map(|f| MissingField { field: f.name.clone(), label: f.label.clone() })
            .collect()
    }

    /// `Err(Permission)` unless the integration user may create records.
    pub fn check_createable(&self) -> Result<(), CrmError> {
        if self.createable {
            return Ok(());
        }
        Err(CrmError::Permission(format!(
            "the integration user may not create {} records (describe says createable: false); \
             give its profile or a permission set Create on {}",
            self.object, self.object
        )))
    }

    /// The record type named by `wanted` (an Id or a DeveloperName or
    /// name), else the user's default; none when the object has no record
    /// types besides Master.
    pub fn record_type(&self, wanted: Option<&str>) -> Result<Option<String>, CrmError> {
        let real: Vec<&RecordType> = self.record_types.iter().filter(|rt| !rt.master).collect();
        if let Some(wanted) = wanted {
            let found = real.iter().find(|rt| {
                rt.id.eq_ignore_ascii_case(wanted)
                    || rt.id.get(..15).is_some_and(|id| id == wanted)
                    || rt.developer_name.as_deref().is_some_and(|d| d.eq_ignore_ascii_case(wanted))
                    || rt.name.eq_ignore_ascii_case(wanted)
            });
            return match found {
                Some(rt) if rt.available => Ok(Some(rt.id.clone())),
                Some(rt) => Err(CrmError::Permission(format!(
                    "the {} record type `{}` is not available to the integration user; assign it to its profile",
                    self.object, rt.name
                ))),
                None => Err(CrmError::InvalidRequest(format!(
                    "the {} record type `{wanted}` does not exist; the org has {}",
                    self.object,
                    if real.is_empty() {
                        "none".to_string()
                    } else {
                        real.iter().map(|rt| rt.name.as_str()).collect::<Vec<_>>().join(", ")
                    }
                ))),
            };
        }
        Ok(real.iter().find(|rt| rt.default && rt.available).map(|rt| rt.id.clone()))
    }
}

/// Describe `object` for the integration user.
pub fn describe<T: Transport, C: Capabilities>(ctx: &mut Ctx<'_, T, C>, object: &str) -> Result<ObjectInfo, CrmError> {
    let json = ctx.client.describe(object)?;
    let malformed =
        |what: String| CrmError::Sync(SyncError::MalformedResponse(format!("describe of {object}: {what}")));
    let described = parse_describe(&json).map_err(|e| malformed(e.to_string()))?;
    let raw: Value = serde_json::from_str(&json).map_err(|e| malformed(e.to_string()))?;
    let flag = |name: &str| raw.get(name).and_then(Value::as_bool).unwrap_or(false);
    let record_types = raw
        .get("recordTypeInfos")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|rt| {
            let text = |name: &str| rt.get(name).and_then(Value::as_str).map(str::to_string);
            let yes = |name: &str| rt.get(name).and_then(Value::as_bool).unwrap_or(false);
            Some(RecordType {
                id: text("recordTypeId")?,
                name: text("name").unwrap_or_default(),
                developer_name: text("developerName"),
                available: yes("available"),
                default: yes("defaultRecordTypeMapping"),
                master: yes("master"),
            })
        })
        .collect();
    Ok(ObjectInfo {
        object: described.object,
        createable: flag("createable"),
        updateable: flag("updateable"),
        fields: described.fields,
        record_types,
    })
}

/// One record to create: its object and fields; a field's value may be
/// `@{rN.id}`, the Id of the Nth record of the same request.
pub struct NewRecord {
    pub object: &'static str,
    pub fields: Map<String, Value>,
}

/// Create `records` in one all-or-none composite request; their Ids in
/// order. A duplicate rule that allows the save is passed (with
/// [`DUPLICATE_RULE_HEADER`]) only when the admin turned that on.
pub fn create_all<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    records: &[NewRecord],
) -> Result<Vec<String>, CrmError> {
    match create_once(ctx, records, false) {
        Err(CrmError::Duplicates(found)) if found.allow_save && ctx.org.crm.allow_duplicate_save => {
            create_once(ctx, records, true)
        }
        other => other,
    }
}

fn create_once<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    records: &[NewRecord],
    allow_save: bool,
) -> Result<Vec<String>, CrmError> {
    let subrequests = records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let request =
                Subrequest::new(Method::Post, ctx.client.sobject_path(record.object, None), format!("r{index}"))
                    .with_body(Value::Object(record.fields.clone()));
            if allow_save { request.with_header(DUPLICATE_RULE_HEADER, "allowSave=true") } else { request }
        })
        .collect();
    let responses = ctx.client.composite(true, subrequests)?;
    if let Some(failed) = first_failure(&responses) {
        return Err(refusal(failed));
    }
    responses
        .iter()
        .map(|response| {
            response.body.get("id").and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                CrmError::Sync(SyncError::MalformedResponse(format!(
                    "composite create {} answered no id",
                    response.reference_id
                )))
            })
        })
        .collect()
}

/// Update records in one all-or-none composite request.
pub fn update_all<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    updates: &[(&'static str, String, Map<String, Value>)],
) -> Result<(), CrmError> {
    let subrequests = updates
        .iter()
        .enumerate()
        .map(|(index, (object, id, fields))| {
            Subrequest::new(Method::Patch, ctx.client.sobject_path(object, Some(id)), format!("u{index}"))
                .with_body(Value::Object(fields.clone()))
        })
        .collect();
    let responses = ctx.client.composite(true, subrequests)?;
    match first_failure(&responses) {
        Some(failed) => Err(refusal(failed)),
        None => Ok(()),
    }
}

/// The subrequest that failed for its own reason (its all-or-none siblings
/// say `PROCESSING_HALTED`).
fn first_failure(responses: &[SubResponse]) -> Option<&SubResponse> {
    let failed = || responses.iter().filter(|r| !r.is_success());
    failed().find(|r| r.error().is_some_and(|e| e.code != "PROCESSING_HALTED")).or_else(|| failed().next())
}

/// A refused subrequest as the error people can act on.
fn refusal(response: &SubResponse) -> CrmError {
    let error = response.error().unwrap_or(ApiError {
        status: response.status,
        code: String::new(),
        message: response.body.to_string(),
        fields: Vec::new(),
    });
    match error.code.as_str() {
        "DUPLICATES_DETECTED" => CrmError::Duplicates(duplicates(&response.body, &error)),
        "REQUIRED_FIELD_MISSING" => CrmError::RequiredFieldsMissing(
            error.fields.iter().map(|f| MissingField { field: f.clone(), label: f.clone() }).collect(),
        ),
        "INSUFFICIENT_ACCESS_OR_READONLY" | "INSUFFICIENT_ACCESS" | "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
            if error.message.to_ascii_lowercase().contains("access") =>
        {
            CrmError::Permission(format!("Salesforce refused the integration user: {}", error.message))
        }
        _ => CrmError::Sync(SyncError::Salesforce(error)),
    }
}

/// `DUPLICATES_DETECTED`'s `duplicateResult`: the matched Ids and `allowSave`.
fn duplicates(body: &Value, error: &ApiError) -> Duplicates {
    let result = body.as_array().and_then(|items| items.iter().find_map(|item| item.get("duplicateResult")));
    let matched = result
        .and_then(|r| r.get("matchResults"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|m| m.get("matchRecords").and_then(Value::as_array).into_iter().flatten())
        .filter_map(|m| m.pointer("/record/Id").and_then(Value::as_str).map(str::to_string))
        .collect();
    Duplicates {
        message: error.message.clone(),
        matched,
        allow_save: result.and_then(|r| r.get("allowSave")).and_then(Value::as_bool).unwrap_or(false),
    }
}

/// The active user whose email is `email` (case-insensitive), if any.
pub fn user_by_email<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    email: &str,
) -> Result<Option<String>, CrmError> {
    let email = email.trim();
    if email.is_empty() {
        return Ok(None);
    }
    let soql = format!(
        "SELECT Id FROM User WHERE Email = {} AND IsActive = true ORDER BY CreatedDate LIMIT 1",
        soql_quoted(email)
    );
    Ok(ctx.client.query(&soql)?.first().and_then(|u| u.get("Id")).and_then(Value::as_str).map(str::to_string))
}

/// The integration user's Id.
pub fn integration_user<T: Transport, C: Capabilities>(ctx: &mut Ctx<'_, T, C>) -> Result<String, CrmError> {
    if ctx.client.identity_user_id().is_none() {
        ctx.client.authenticate()?;
    }
    ctx.client
        .identity_user_id()
        .ok_or_else(|| CrmError::Sync(SyncError::MalformedResponse("the token answer named no user (`id`)".into())))
}

/// The `object` records matching `condition` that the integration user
/// created since `since` (their Ids): what an earlier attempt may have left.
pub fn created_since<T: Transport, C: Capabilities>(
    ctx: &mut Ctx<'_, T, C>,
    object: &str,
    condition: &str,
    since: Timestamp,
) -> Result<Vec<Value>, CrmError> {
    let me = integration_user(ctx)?;
    let soql = format!(
        "SELECT Id FROM {object} WHERE {condition} AND CreatedById = {} AND CreatedDate >= {} \
         ORDER BY CreatedDate LIMIT 50",
        soql_quoted(&me),
        soql_datetime(since)
    );
    Ok(ctx.client.query(&soql)?)
}

/// The Ids in query records.
pub fn ids(records: &[Value]) -> Vec<String> {
    records.iter().filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_string)).collect()
}

/// A text value, or JSON null.
pub fn text_or_null(value: Option<&str>) -> Value {
    value.filter(|v| !v.trim().is_empty()).map_or(Value::Null, |v| json!(v))
}

/// `<instance>/lightning/r/<object>/<id>/view`, the record's page.
pub fn record_url<T: Transport, C: Capabilities>(ctx: &Ctx<'_, T, C>, object: &str, id: &str) -> String {
    format!("{}/lightning/r/{object}/{id}/view", ctx.client.instance_url().unwrap_or_default())
}
