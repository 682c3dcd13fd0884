//! The JSON shapes the client sends and reads, and the small text formats of
//! the wire (percent-encoding, `Sforce-Limit-Info`). Private to the client.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ApiError, ApiUsage};

// --- OAuth ---------------------------------------------------------------------

/// 200 from `/services/oauth2/token`. Other fields (`issued_at`,
/// `signature`, `token_type`, `scope`) are not needed.
#[derive(Deserialize)]
pub(super) struct TokenResponse {
    /// The identity URL `https://login.salesforce.com/id/00D…/005…`.
    #[serde(default)]
    pub id: Option<String>,
    pub access_token: Option<String>,
    pub instance_url: Option<String>,
}

/// 400 from `/services/oauth2/token`: `{"error":"invalid_grant","error_description":"…"}`.
#[derive(Deserialize)]
pub(super) struct OAuthError {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

// --- errors ----------------------------------------------------------------------

/// One element of Salesforce's error array. sObject Collections name the code
/// `statusCode`; everything else `errorCode`.
#[derive(Deserialize)]
pub(super) struct ErrorItem {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, rename = "errorCode", alias = "statusCode")]
    pub error_code: Option<String>,
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}

/// Errors come as an array; tolerate a single object too.
#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorBody {
    Many(Vec<ErrorItem>),
    One(ErrorItem),
}

/// Salesforce's error body as an [`ApiError`]: the first element's code, every
/// element's message (joined with "; ") and fields. `None` when the body is not
/// an error array (or an empty one).
pub(super) fn parse_api_error(status: u16, body: &[u8]) -> Option<ApiError> {
    let items = match serde_json::from_slice::<ErrorBody>(body).ok()? {
        ErrorBody::Many(items) => items,
        ErrorBody::One(item) => vec![item],
    };
    api_error_from_items(status, items)
}

/// The same, from a JSON value already parsed (a composite subresponse body).
pub(super) fn api_error_from_value(status: u16, body: &Value) -> Option<ApiError> {
    let items = match ErrorBody::deserialize(body).ok()? {
        ErrorBody::Many(items) => items,
        ErrorBody::One(item) => vec![item],
    };
    api_error_from_items(status, items)
}

pub(super) fn api_error_from_items(status: u16, items: Vec<ErrorItem>) -> Option<ApiError> {
    if items.is_empty() || items.iter().all(|item| item.error_code.is_none() && item.message.is_none()) {
        return None;
    }
    let code = items.iter().find_map(|item| item.error_code.clone()).unwrap_or_default();
    let mut messages: Vec<String> = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    for item in items {
        if let Some(message) = item.message.filter(|m| !m.is_empty())
            && !messages.contains(&message)
        {
            messages.push(message);
        }
        for field in item.fields.unwrap_or_default() {
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
    }
    Some(ApiError { status, code, message: messages.join("; "), fields })
}

// --- query and search ------------------------------------------------------------

/// `/query` and `/queryAll`, and each `nextRecordsUrl` page.
#[derive(Deserialize)]
pub(super) struct QueryResponse {
    #[serde(rename = "totalSize", default)]
    pub total_size: u64,
    pub done: bool,
    pub records: Vec<Value>,
    #[serde(rename = "nextRecordsUrl", default)]
    pub next_records_url: Option<String>,
}

/// `/search/`: `{"searchRecords":[…]}`; API versions before 37.0 answered a bare array.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum SearchResponse {
    Wrapped {
        #[serde(rename = "searchRecords")]
        search_records: Vec<Value>,
    },
    Bare(Vec<Value>),
}

// --- sObject writes ----------------------------------------------------------------

/// 201 from `POST /sobjects/{object}`, and each element of an sObject Collections answer.
#[derive(Deserialize)]
pub(super) struct SaveResult {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<ErrorItem>,
}

/// `PATCH /composite/sobjects`.
#[derive(Serialize)]
pub(super) struct CollectionRequest {
    #[serde(rename = "allOrNone")]
    pub all_or_none: bool,
    pub records: Vec<Map<String, Value>>,
}

// --- composite ---------------------------------------------------------------------

#[derive(Serialize)]
pub(super) struct CompositeRequest<'a> {
    #[serde(rename = "allOrNone")]
    pub all_or_none: bool,
    #[serde(rename = "compositeRequest")]
    pub composite_request: Vec<CompositeSubrequest<'a>>,
}

#[derive(Serialize)]
pub(super) struct CompositeSubrequest<'a> {
    pub method: &'static str,
    pub url: &'a str,
    #[serde(rename = "referenceId")]
    pub reference_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<&'a Value>,
    #[serde(rename = "httpHeaders", skip_serializing_if = "BTreeMap::is_empty")]
    pub http_headers: BTreeMap<&'a str, &'a str>,
}

#[derive(Deserialize)]
pub(super) struct CompositeResponse {
    #[serde(rename = "compositeResponse")]
    pub composite_response: Vec<CompositeSubresponse>,
}

#[derive(Deserialize)]
pub(super) struct CompositeSubresponse {
    #[serde(default)]
    pub body: Value,
    #[serde(rename = "httpStatusCode")]
    pub http_status_code: u16,
    #[serde(rename = "referenceId")]
    pub reference_id: String,
}

// --- limits ------------------------------------------------------------------------

/// `GET /limits`: only the daily API requests are read; the rest is kept raw.
#[derive(Deserialize)]
pub(super) struct LimitsResponse {
    #[serde(rename = "DailyApiRequests")]
    pub daily_api_requests: LimitEntry,
}

#[derive(Deserialize)]
pub(super) struct LimitEntry {
    #[serde(rename = "Max")]
    pub max: u32,
    #[serde(rename = "Remaining")]
    pub remaining: u32,
}

/// `api-usage=18/5000`, possibly followed by `; per-app-api-usage=17/250(appName=…)`.
/// `None` when the header holds no readable `api-usage`.
pub fn parse_limit_info(header: &str) -> Option<ApiUsage> {
    header.split([';', ',']).find_map(|part| {
        let (key, value) = part.trim().split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("api-usage") {
            return None;
        }
        let (used, max) = value.trim().split_once('/')?;
        Some(ApiUsage { used: used.trim().parse().ok()?, max: max.trim().parse().ok()? })
    })
}

/// An HTTP `Date` header (RFC 7231 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`)
/// as ms since the epoch.
pub(super) fn parse_http_date(value: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc2822(value.trim()).ok().map(|t| t.timestamp_millis())
}

// --- encoding ------------------------------------------------------------------------

/// Percent-encodes everything but RFC 3986's unreserved characters, so a
/// literal `+` becomes `%2B` (Salesforce would read a bare `+` as a space) and a
/// space `%20`. Used for query parameters, form values and path segments.
pub(super) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `application/x-www-form-urlencoded` with every value percent-encoded.
pub(super) fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// At most `max` characters of a body, for an error message; non-UTF-8 bytes
/// are shown as U+FFFD.
pub(super) fn snippet(body: &[u8], max: usize) -> String {
    if body.is_empty() {
        return "(empty body)".into();
    }
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(max).collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}
