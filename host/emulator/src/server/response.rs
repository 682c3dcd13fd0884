//! What a resource answers, before it becomes an HTTP response — so composite
//! requests can embed the same answer in their own body.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::SfError;

/// Salesforce's JSON content type.
const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

#[derive(Debug, Clone)]
pub(crate) enum Body {
    Json(Value),
    /// 204 and friends.
    Empty,
    /// File contents and deliberately broken bodies.
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct ApiResponse {
    pub status: StatusCode,
    pub body: Body,
    /// Extra headers in their display spelling (`Location`, `Sforce-Limit-Info`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiResponse {
    pub(crate) fn json(status: StatusCode, body: Value) -> Self {
        ApiResponse { status, body: Body::Json(body), headers: Vec::new() }
    }

    pub(crate) fn ok(body: Value) -> Self {
        Self::json(StatusCode::OK, body)
    }

    pub(crate) fn no_content() -> Self {
        ApiResponse { status: StatusCode::NO_CONTENT, body: Body::Empty, headers: Vec::new() }
    }

    pub(crate) fn raw(status: StatusCode, content_type: &str, bytes: Vec<u8>) -> Self {
        ApiResponse { status, body: Body::Raw { content_type: content_type.to_string(), bytes }, headers: Vec::new() }
    }

    /// The one place Salesforce's error array is rendered: the status comes
    /// from the first error, the body lists them all.
    pub(crate) fn errors(errors: Vec<SfError>) -> Self {
        let status = errors.first().map_or(400, |e| e.status);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        Self::json(status, serde_json::to_value(&errors).unwrap_or_else(|_| json!([])))
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The body as JSON for a composite result: `null` when there is none.
    pub(crate) fn body_json(&self) -> Value {
        match &self.body {
            Body::Json(v) => v.clone(),
            Body::Empty | Body::Raw { .. } => Value::Null,
        }
    }

    /// The body as bytes, as it goes on the wire.
    pub(crate) fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            Body::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
            Body::Empty => Vec::new(),
            Body::Raw { bytes, .. } => bytes.clone(),
        }
    }
}

impl From<SfError> for ApiResponse {
    fn from(error: SfError) -> Self {
        ApiResponse::errors(vec![error])
    }
}

impl From<Vec<SfError>> for ApiResponse {
    fn from(errors: Vec<SfError>) -> Self {
        ApiResponse::errors(errors)
    }
}

impl IntoResponse for ApiResponse {
    fn into_response(self) -> Response {
        let (content_type, bytes) = match self.body {
            Body::Json(v) => (Some(JSON_CONTENT_TYPE.to_string()), serde_json::to_vec(&v).unwrap_or_default()),
            Body::Empty => (None, Vec::new()),
            Body::Raw { content_type, bytes } => (Some(content_type), bytes),
        };
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        match content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
            Some(value) => {
                headers.insert(header::CONTENT_TYPE, value);
            }
            None => {
                headers.remove(header::CONTENT_TYPE);
            }
        }
        for (name, value) in self.headers {
            // `from_bytes` lower-cases the display spelling kept for composite bodies.
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// Salesforce's `JSON_PARSER_ERROR` for a body that is not the JSON expected.
pub(crate) fn json_parser_error(message: impl Into<String>) -> SfError {
    SfError::new(400, "JSON_PARSER_ERROR", message)
}

/// `JSON_PARSER_ERROR` worded like Salesforce's (Jackson's) messages, with the position.
pub(crate) fn json_syntax_error(e: &serde_json::Error) -> SfError {
    // serde_json appends " at line L column C"; the position is given Jackson's way below.
    let reason = e.to_string();
    let reason = reason.split(" at line ").next().unwrap_or_default();
    let what = match e.classify() {
        serde_json::error::Category::Eof => "Unexpected end-of-input".to_string(),
        _ => format!("Unexpected character: {reason}"),
    };
    json_parser_error(format!("{what} at [line:{}, column:{}]", e.line(), e.column()))
}
