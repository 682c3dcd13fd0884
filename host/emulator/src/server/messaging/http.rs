//! The messaging origin's customer-side HTTP: the routes, bodies and
//! headers of [`super`]'s table, the server-sent event stream, and the
//! multipart body of a file upload. The work is in [`super::model`].

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use serde_json::Value;
use tokio::sync::watch;

use super::MiawError;
use super::model::{self, EntryQuery, Identity, StreamEvent, Upload};
use crate::server::faults::{ConnectionControl, FaultTarget};
use crate::server::org::{Emulator, Org};

/// How long a quiet stream waits before a `ping` event.
const PING_INTERVAL: Duration = Duration::from_secs(30);

impl IntoResponse for MiawError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, Json(self.body())).into_response()
    }
}

/// The messaging API's routes, with the faults queued for the messaging origin.
pub(crate) fn router(emulator: Arc<Emulator>) -> Router<Arc<Emulator>> {
    const API: &str = "/iamessage/api/v2";
    Router::new()
        .route(&format!("{API}/authorization/unauthenticated/access-token"), post(access_token))
        .route(&format!("{API}/authorization/continuation-access-token"), get(continuation_token))
        .route(&format!("{API}/conversation"), post(create_conversation))
        .route(&format!("{API}/conversation/list"), get(list_conversations))
        .route(&format!("{API}/conversation/{{id}}"), delete(close_conversation))
        .route(&format!("{API}/conversation/{{id}}/entries"), get(list_entries))
        .route(&format!("{API}/conversation/{{id}}/message"), post(send_message))
        .route(&format!("{API}/conversation/{{id}}/file"), post(send_file))
        .route(&format!("{API}/conversation/{{id}}/entry"), post(send_entry))
        .route("/eventrouter/v1/sse", get(events))
        .route_layer(axum::middleware::from_fn_with_state(emulator, faults))
}

/// Any other path of the messaging origin.
pub(crate) async fn not_found() -> Response {
    MiawError::new(404, "The requested resource does not exist.").into_response()
}

/// A known path asked with the wrong method.
pub(crate) async fn method_not_allowed(method: Method) -> Response {
    MiawError::new(405, format!("HTTP method {method} is not allowed for this resource.")).into_response()
}

/// The queued faults of the messaging origin, around each request.
async fn faults(State(emulator): State<Arc<Emulator>>, request: Request, next: Next) -> Response {
    let connection = request.extensions().get::<ConnectionControl>().cloned();
    let decision = emulator.faults().take(FaultTarget::Messaging);
    if let Some(answer) = decision.before_org(connection.as_ref()).await {
        return answer;
    }
    let response = next.run(request).await;
    decision.after_response(response, connection.as_ref()).await
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The token of `Authorization: Bearer …`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    header_text(headers, header::AUTHORIZATION.as_str())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer"))
        .map(|(_, token)| token.trim())
}

fn identity(org: &Org, headers: &HeaderMap) -> Result<Identity, MiawError> {
    org.messaging.identity(bearer(headers), org.clock.now())
}

/// A JSON object body.
fn json_body(raw: &[u8]) -> Result<Value, MiawError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(MiawError::bad_request("The request body is missing."));
    }
    match serde_json::from_slice::<Value>(raw) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(MiawError::bad_request("The request body must be a JSON object.")),
        Err(e) => Err(MiawError::bad_request(format!("The request body is not valid JSON: {e}"))),
    }
}

/// Decoded query parameters.
fn query(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn param(query: &[(String, String)], name: &str) -> Option<String> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn respond(status: StatusCode, result: Result<Value, MiawError>) -> Response {
    match result {
        Ok(body) => (status, Json(body)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn access_token(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    let result = json_body(&body).and_then(|body| model::access_token(&mut emulator.org(), &body));
    respond(StatusCode::OK, result)
}

async fn continuation_token(State(emulator): State<Arc<Emulator>>, headers: HeaderMap) -> Response {
    let mut org = emulator.org();
    let result = identity(&org, &headers).and_then(|who| model::continuation_token(&mut org, &who));
    respond(StatusCode::OK, result)
}

async fn create_conversation(State(emulator): State<Arc<Emulator>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut org = emulator.org();
    let result = identity(&org, &headers)
        .and_then(|who| json_body(&body).and_then(|body| model::create_conversation(&mut org, &who, &body)));
    respond(StatusCode::CREATED, result)
}

async fn list_conversations(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(raw.as_deref());
    let org = emulator.org();
    let result = identity(&org, &headers).and_then(|who| {
        model::list_conversations(&org, &who, param(&q, "inclClosedConvs").as_deref(), param(&q, "limit").as_deref())
    });
    respond(StatusCode::OK, result)
}

async fn list_entries(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(raw.as_deref());
    let entry_query = EntryQuery {
        limit: param(&q, "limit"),
        start: param(&q, "startTimestamp"),
        end: param(&q, "endTimestamp"),
        direction: param(&q, "direction"),
        types: param(&q, "entryTypeFilter"),
    };
    let org = emulator.org();
    let result = identity(&org, &headers).and_then(|who| model::list_entries(&org, &who, &id, &entry_query));
    respond(StatusCode::OK, result)
}

async fn send_message(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut org = emulator.org();
    let result = identity(&org, &headers)
        .and_then(|who| json_body(&body).and_then(|body| model::send_message(&mut org, &who, &id, &body)));
    respond(StatusCode::ACCEPTED, result)
}

async fn send_entry(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut org = emulator.org();
    let result = identity(&org, &headers)
        .and_then(|who| json_body(&body).and_then(|body| model::send_entry(&mut org, &who, &id, &body)));
    match result {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn close_conversation(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(raw.as_deref());
    let mut org = emulator.org();
    let result = identity(&org, &headers)
        .and_then(|who| model::close_conversation(&mut org, &who, &id, param(&q, "esDeveloperName").as_deref()));
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn send_file(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let upload = multipart(&headers, &body).and_then(|parts| {
        let entry = parts
            .iter()
            .find(|p| p.name == "messageEntry")
            .ok_or_else(|| MiawError::bad_request("Specify the messageEntry part."))?;
        let entry = json_body(&entry.data)?;
        let file = parts
            .into_iter()
            .find(|p| p.name == "fileData")
            .ok_or_else(|| MiawError::bad_request("Specify the fileData part."))?;
        let upload = Upload {
            file_name: file.file_name.filter(|n| !n.is_empty()).unwrap_or_else(|| "file".to_string()),
            content_type: file.content_type.unwrap_or_else(|| "application/octet-stream".to_string()),
            bytes: file.data,
        };
        Ok((entry, upload))
    });
    let mut org = emulator.org();
    let result = identity(&org, &headers)
        .and_then(|who| upload.and_then(|(entry, file)| model::send_file(&mut org, &who, &id, &entry, file)));
    respond(StatusCode::ACCEPTED, result)
}

/// `GET /eventrouter/v1/sse`.
async fn events(State(emulator): State<Arc<Emulator>>, headers: HeaderMap) -> Response {
    let opened = {
        let org = emulator.org();
        open_stream(&org, &headers)
    };
    match opened {
        Ok((subject, after, changes)) => {
            let keep_alive = KeepAlive::new().interval(PING_INTERVAL).event(Event::default().event("ping").data("0"));
            Sse::new(event_stream(emulator, subject, after, changes)).keep_alive(keep_alive).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Who the stream is for, where it resumes, and the subscription taken
/// under the same lock (so no event falls between the two).
fn open_stream(org: &Org, headers: &HeaderMap) -> Result<(String, u64, watch::Receiver<u64>), MiawError> {
    let who = identity(org, headers)?;
    model::check_org_header(org, header_text(headers, "x-org-id"))?;
    let after = match header_text(headers, "last-event-id").map(str::trim) {
        None | Some("") => org.messaging.last_event_id(),
        Some(id) => id.parse::<u64>().map_err(|_| MiawError::bad_request(format!("{id} is not a Last-Event-Id.")))?,
    };
    Ok((who.subject, after, org.messaging.subscribe()))
}

/// The identity's events after `after`, then each new one as it is added.
fn event_stream(
    emulator: Arc<Emulator>,
    subject: String,
    after: u64,
    changes: watch::Receiver<u64>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Cursor {
        emulator: Arc<Emulator>,
        subject: String,
        scanned: u64,
        changes: watch::Receiver<u64>,
        pending: VecDeque<StreamEvent>,
    }
    let cursor = Cursor { emulator, subject, scanned: after, changes, pending: VecDeque::new() };
    stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(e) = c.pending.pop_front() {
                let event = Event::default().id(e.id.to_string()).event(e.name).data(e.data);
                return Some((Ok(event), c));
            }
            let (fresh, latest) = {
                let org = c.emulator.org();
                (org.messaging.events_after(&c.subject, c.scanned), org.messaging.last_event_id())
            };
            c.scanned = c.scanned.max(latest);
            if fresh.is_empty() {
                if c.changes.changed().await.is_err() {
                    return None;
                }
                continue;
            }
            c.pending.extend(fresh);
        }
    })
}

/// One part of a `multipart/form-data` body.
#[derive(Debug)]
struct Part {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

/// The parts of a `multipart/form-data` body (RFC 7578).
fn multipart(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Part>, MiawError> {
    let content_type = header_text(headers, header::CONTENT_TYPE.as_str()).unwrap_or_default();
    let (kind, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return Err(MiawError::bad_request("The request body must be multipart/form-data."));
    }
    let boundary = header_params(params)
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| MiawError::bad_request("The multipart body has no boundary."))?;
    let malformed = || MiawError::bad_request("The multipart body is malformed.");
    let delimiter = format!("--{boundary}").into_bytes();
    let mut rest = &body[find(body, &delimiter).ok_or_else(malformed)? + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or_else(malformed)?;
        let header_end = find(rest, b"\r\n\r\n").ok_or_else(malformed)?;
        let head = std::str::from_utf8(&rest[..header_end]).map_err(|_| malformed())?;
        rest = &rest[header_end + 4..];
        let closing = [b"\r\n".as_slice(), &delimiter].concat();
        let end = find(rest, &closing).ok_or_else(malformed)?;
        let data = rest[..end].to_vec();
        rest = &rest[end + closing.len()..];
        let mut part = Part { name: String::new(), file_name: None, content_type: None, data };
        for line in head.split("\r\n") {
            let Some((name, value)) = line.split_once(':') else { continue };
            if name.trim().eq_ignore_ascii_case("content-disposition") {
                let (_, params) = value.split_once(';').unwrap_or((value, ""));
                for (k, v) in header_params(params) {
                    match k.to_ascii_lowercase().as_str() {
                        "name" => part.name = v,
                        "filename" => part.file_name = Some(v),
                        _ => {}
                    }
                }
            } else if name.trim().eq_ignore_ascii_case("content-type") {
                part.content_type = Some(value.trim().to_string());
            }
        }
        parts.push(part);
    }
}

/// `a=1; b="x; y"` as pairs, quotes removed.
fn header_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.trim().is_empty() {
            return out;
        }
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => v.extend(chars.next()),
                    '"' => break,
                    c => v.push(c),
                }
            }
            chars.by_ref().take_while(|c| *c != ';').for_each(drop);
            v
        } else {
            chars.by_ref().take_while(|c| *c != ';').collect::<String>().trim().to_string()
        };
        out.push((key.trim().trim_start_matches(';').trim().to_string(), value));
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    (0..=haystack.len() - needle.len()).find(|&i| haystack[i] == first && &haystack[i..i + needle.len()] == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_are_split_into_named_parts() {
        let body = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"messageEntry\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"fileData\"; filename=\"a; b.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ--\r\n";
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "multipart/form-data; boundary=\"XyZ\"".parse().unwrap());
        let parts = multipart(&headers, body).unwrap();
        assert_eq!(parts[0].name, "messageEntry");
        assert_eq!(parts[0].data, b"{\"a\":1}");
        assert_eq!(parts[1].file_name.as_deref(), Some("a; b.png"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[1].data, b"\x89PNG");
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert_eq!(multipart(&headers, body).unwrap_err().status, 400);
    }

    #[test]
    fn header_parameters_are_unquoted() {
        assert_eq!(
            header_params(" name=\"a\\\"b\"; filename=c.txt"),
            vec![("name".to_string(), "a\"b".to_string()), ("filename".to_string(), "c.txt".to_string())]
        );
    }
}
