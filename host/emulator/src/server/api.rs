//! The HTTP entry point for `/services/data/vXX.X/…`: faults around the org's
//! answer, the org's answer from [`Org::serve_api`](super::org::Org::serve_api).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};

use super::faults::{ConnectionControl, FaultTarget};
use super::org::Emulator;
use super::request::ApiRequest;
use super::response::ApiResponse;
use super::versions;
use crate::error::SfError;

pub(super) async fn handle(
    State(emulator): State<Arc<Emulator>>,
    connection: Option<Extension<ConnectionControl>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().strip_prefix("/services/data/").unwrap_or_default();
    let (version, rest) = path.split_once('/').unwrap_or((path, ""));
    let Some(version) = versions::parse(version) else {
        return ApiResponse::from(SfError::not_found()).into_response();
    };
    let connection = connection.map(|Extension(c)| c);
    let faults = emulator.faults().take(FaultTarget::Api);
    if let Some(answer) = faults.before_org(connection.as_ref()).await {
        return answer;
    }
    let request = ApiRequest::new(method, &version, rest, uri.query(), body.to_vec()).with_headers(&headers);
    let answer = emulator.org().serve_api(&request, &headers);
    faults.after_org(answer, connection.as_ref()).await
}

/// A known path outside `/services/data/vXX.X/` asked with the wrong method.
pub(super) async fn method_not_allowed(method: Method) -> Response {
    ApiResponse::from(SfError::new(405, "METHOD_NOT_ALLOWED", format!("HTTP Method '{method}' not allowed")))
        .into_response()
}

/// Any path Salesforce does not serve.
pub(super) async fn not_found() -> Response {
    ApiResponse::from(SfError::not_found()).into_response()
}
