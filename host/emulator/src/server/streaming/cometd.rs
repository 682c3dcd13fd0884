//! `POST /cometd/{version}[/…]`: Bayeux over HTTP long polling, as
//! Salesforce's Streaming API speaks it (see the table in [`super`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::model::Poll;
use crate::server::faults::ConnectionControl;
use crate::server::org::Emulator;

/// The oldest version served: durable streaming (replay) needs 37.0.
const MIN_VERSION: f64 = 37.0;

pub(crate) fn router() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/cometd", post(no_version))
        .route("/cometd/", post(no_version))
        .route("/cometd/{version}", post(handle))
        .route("/cometd/{version}/{*message_type}", post(handle_suffixed))
}

fn newest() -> String {
    format!("{}.0", crate::server::versions::NEWEST)
}

fn answer(status: StatusCode, messages: Vec<Value>) -> Response {
    let mut response = (status, axum::Json(Value::Array(messages))).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json;charset=UTF-8"));
    response
}

/// The request's messages: a JSON array, or one object.
fn messages(body: &[u8]) -> Result<Vec<Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => Ok(items.into_iter().filter(Value::is_object).collect()),
        Ok(v @ Value::Object(_)) => Ok(vec![v]),
        Ok(_) => Err("400::Invalid Bayeux message".into()),
        Err(_) => Err("400::Invalid JSON".into()),
    }
}

/// Every message refused with the same error (URI and body errors).
fn refuse_all(body: &[u8], error: &str) -> Response {
    let items = messages(body).unwrap_or_else(|_| vec![json!({})]);
    let replies = items
        .iter()
        .map(|m| {
            let mut reply = json!({"channel": m["channel"], "successful": false, "error": error});
            copy_id(m, &mut reply);
            reply
        })
        .collect();
    answer(StatusCode::BAD_REQUEST, replies)
}

async fn no_version(body: Bytes) -> Response {
    let error = format!("400::API version in the URI is mandatory. URI format: '/cometd/{}'", newest());
    refuse_all(&body, &error)
}

async fn handle_suffixed(
    State(emulator): State<Arc<Emulator>>,
    Path((version, _message_type)): Path<(String, String)>,
    connection: Option<Extension<ConnectionControl>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(emulator, version, connection.map(|Extension(c)| c), headers, body).await
}

async fn handle(
    State(emulator): State<Arc<Emulator>>,
    Path(version): Path<String>,
    connection: Option<Extension<ConnectionControl>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(emulator, version, connection.map(|Extension(c)| c), headers, body).await
}

fn copy_id(from: &Value, to: &mut Value) {
    if let Some(id) = from.get("id") {
        to["id"] = id.clone();
    }
}

fn reply(message: &Value, channel: &str) -> Value {
    let mut r = json!({"channel": channel});
    if let Some(client) = message.get("clientId") {
        r["clientId"] = client.clone();
    }
    copy_id(message, &mut r);
    r
}

fn failure(message: &Value, channel: &str, error: &str, advice: Option<Value>) -> Value {
    let mut r = reply(message, channel);
    if channel == "/meta/subscribe" || channel == "/meta/unsubscribe" {
        r["subscription"] = message["subscription"].clone();
    }
    r["error"] = json!(error);
    r["successful"] = json!(false);
    if let Some(advice) = advice {
        r["advice"] = advice;
    }
    r
}

/// Who is asking: `Ok(user)`, or the failure reason.
enum Auth {
    User(String),
    Missing,
    Invalid,
}

async fn serve(
    emulator: Arc<Emulator>,
    version: String,
    connection: Option<ConnectionControl>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Option<f64> = version.parse().ok().filter(|v: &f64| v.is_finite());
    let Some(number) = parsed else {
        return no_version(body).await;
    };
    if number < MIN_VERSION || number > f64::from(crate::server::versions::NEWEST) {
        let error = format!(
            "400::Unsupported API version. Only API versions '37.0' and later are supported. URI format: '/cometd/{}'",
            newest()
        );
        return refuse_all(&body, &error);
    }
    let items = match messages(&body) {
        Ok(items) => items,
        Err(error) => return refuse_all(&body, &error),
    };
    let auth = {
        let has_token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .is_some_and(|(_, t)| !t.trim().is_empty());
        if !has_token {
            Auth::Missing
        } else {
            match emulator.org().authenticate(&headers) {
                Ok(user) => Auth::User(user),
                Err(_) => Auth::Invalid,
            }
        }
    };
    let mut replies = Vec::new();
    let mut connect = None;
    let mut cookie = false;
    for message in &items {
        let channel = message["channel"].as_str().unwrap_or_default();
        if channel == "/meta/connect" && matches!(auth, Auth::User(_)) {
            connect = Some(message.clone());
            continue;
        }
        if channel == "/meta/handshake" {
            cookie = true;
        }
        replies.push(handle_message(&emulator, message, channel, &auth));
    }
    if let Some(message) = connect {
        match hold_connect(&emulator, &message, connection.as_ref()).await {
            Some(mut out) => replies.append(&mut out),
            None => {
                // The connection is closed without an answer.
                return StatusCode::BAD_GATEWAY.into_response();
            }
        }
    }
    let mut response = answer(StatusCode::OK, replies);
    if cookie {
        let value: u64 = rand::random();
        if let Ok(v) = HeaderValue::from_str(&format!("BAYEUX_BROWSER={value:x}; Path=/")) {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    response
}

fn auth_failure(message: &Value, channel: &str, auth: &Auth) -> Option<Value> {
    let reason = match auth {
        Auth::User(_) => return None,
        Auth::Missing => "401::Request requires authentication",
        Auth::Invalid => "401::Authentication invalid",
    };
    Some(if channel == "/meta/handshake" {
        let mut r = failure(message, channel, "403::Handshake denied", Some(json!({"reconnect": "none"})));
        r["ext"] = json!({"sfdc": {"failureReason": reason}});
        r
    } else {
        failure(message, channel, reason, Some(json!({"reconnect": "none", "interval": 0})))
    })
}

fn unknown_client(message: &Value, channel: &str) -> Value {
    let mut r =
        failure(message, channel, "403::Unknown client", Some(json!({"reconnect": "handshake", "interval": 0})));
    if let Some(obj) = r.as_object_mut() {
        obj.remove("clientId");
    }
    r
}

fn handle_message(emulator: &Emulator, message: &Value, channel: &str, auth: &Auth) -> Value {
    let mut org = emulator.org();
    if channel == "/meta/handshake" {
        org.streaming.counters.handshakes += 1;
    }
    if channel == "/meta/connect" {
        org.streaming.counters.connects += 1;
    }
    if let Some(refused) = auth_failure(message, channel, auth) {
        return refused;
    }
    let Auth::User(user) = auth else { unreachable!("refused above") };
    let client_id = message["clientId"].as_str().unwrap_or_default().to_string();
    let now = org.clock.now();
    let org = &mut *org;
    match channel {
        "/meta/handshake" => {
            let offered: Vec<&str> = message["supportedConnectionTypes"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_else(|| vec!["long-polling"]);
            if !offered.contains(&"long-polling") {
                return failure(
                    message,
                    channel,
                    &format!("400::Invalid connection type {{{}}}", offered.join(",")),
                    Some(json!({"reconnect": "none"})),
                );
            }
            match org.streaming.handshake(user) {
                Some(id) => {
                    let mut r = reply(message, channel);
                    r["clientId"] = json!(id);
                    r["version"] = json!("1.0");
                    r["minimumVersion"] = json!("1.0");
                    r["supportedConnectionTypes"] = json!(["long-polling"]);
                    r["advice"] = connect_advice(org.streaming.settings.connect_timeout);
                    r["ext"] = json!({"replay": true, "payload.format": true});
                    r["successful"] = json!(true);
                    r
                }
                None => {
                    let mut r = failure(message, channel, "403::Handshake denied", Some(json!({"reconnect": "none"})));
                    r["ext"] = json!({
                        "sfdc": {"failureReason": "403::Organization concurrent user limit exceeded"},
                        "replay": true,
                        "payload.format": true,
                    });
                    r
                }
            }
        }
        "/meta/subscribe" => {
            if !org.streaming.is_known(&client_id) {
                org.streaming.counters.subscribes += 1;
                return unknown_client(message, channel);
            }
            let subscription = message["subscription"].as_str().unwrap_or_default();
            let replay = message["ext"]["replay"]
                .get(subscription)
                .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())));
            match org.streaming.subscribe(org.db.schema(), &client_id, subscription, replay, now) {
                Ok(()) => {
                    let mut r = reply(message, channel);
                    r["subscription"] = json!(subscription);
                    r["successful"] = json!(true);
                    r
                }
                Err(e) if e == "403::Unknown client" => unknown_client(message, channel),
                Err(e) => failure(message, channel, &e, None),
            }
        }
        "/meta/unsubscribe" => {
            let subscription = message["subscription"].as_str().unwrap_or_default();
            match org.streaming.unsubscribe(&client_id, subscription) {
                Ok(()) => {
                    let mut r = reply(message, channel);
                    r["subscription"] = json!(subscription);
                    r["successful"] = json!(true);
                    r
                }
                Err(_) => unknown_client(message, channel),
            }
        }
        "/meta/disconnect" => {
            if org.streaming.disconnect(&client_id) {
                let mut r = reply(message, channel);
                r["successful"] = json!(true);
                r
            } else {
                unknown_client(message, channel)
            }
        }
        "/meta/connect" => unreachable!("connects are held, not handled here"),
        _ if channel.is_empty() => failure(message, channel, "400::Channel name not specified", None),
        // Publishing over CometD is not offered for change events.
        _ => failure(message, channel, "403::Publish denied", None),
    }
}

fn connect_advice(timeout: Duration) -> Value {
    json!({"interval": 0, "timeout": timeout.as_millis() as u64, "reconnect": "retry"})
}

/// What a connect answers from `poll`; `None` while there is nothing.
fn connect_answer(message: &Value, poll: Poll, timeout: Duration, final_poll: bool) -> Option<Vec<Value>> {
    let channel = "/meta/connect";
    match poll {
        Poll::UnknownClient => Some(vec![unknown_client(message, channel)]),
        Poll::Rehandshake => Some(vec![unknown_client(message, channel)]),
        Poll::LimitExceeded => Some(vec![failure(
            message,
            channel,
            "403::Organization total events daily limit exceeded",
            Some(json!({"reconnect": "none", "interval": 0})),
        )]),
        Poll::Events(mut events) => {
            events.push(connect_success(message, timeout));
            Some(events)
        }
        Poll::Nothing if final_poll => Some(vec![connect_success(message, timeout)]),
        Poll::Nothing => None,
    }
}

fn connect_success(message: &Value, timeout: Duration) -> Value {
    let mut r = reply(message, "/meta/connect");
    r["advice"] = connect_advice(timeout);
    r["successful"] = json!(true);
    r
}

/// Answers a `/meta/connect` at once when it has something, else holds it
/// (without the org's lock) until an event, a fault or the timeout.
/// `None`: the connection is to be closed without an answer.
async fn hold_connect(
    emulator: &Emulator,
    message: &Value,
    connection: Option<&ConnectionControl>,
) -> Option<Vec<Value>> {
    let client_id = message["clientId"].as_str().unwrap_or_default().to_string();
    let requested = message["advice"]["timeout"].as_u64().map(Duration::from_millis);
    let (mut waker, drops, timeout, hold) = {
        let mut org = emulator.org();
        let now = org.clock.now();
        let org = &mut *org;
        org.streaming.counters.connects += 1;
        let timeout = org.streaming.settings.connect_timeout;
        if message["connectionType"].as_str().is_some_and(|t| t != "long-polling") {
            let t = message["connectionType"].as_str().unwrap_or_default();
            return Some(vec![failure(
                message,
                "/meta/connect",
                &format!("400::Invalid connection type {{{t}}}"),
                None,
            )]);
        }
        let hold = requested.map_or(timeout, |r| r.min(timeout));
        let poll = org.streaming.poll(&client_id, org.db.schema(), now);
        if let Some(out) = connect_answer(message, poll, timeout, hold.is_zero()) {
            return Some(out);
        }
        org.streaming.hold(&client_id, true);
        (org.streaming.waker(), org.streaming.drops, timeout, hold)
    };
    let deadline = tokio::time::Instant::now() + hold;
    loop {
        let timed_out = tokio::select! {
            changed = waker.changed() => changed.is_err(),
            _ = tokio::time::sleep_until(deadline) => true,
        };
        let mut org = emulator.org();
        let now = org.clock.now();
        let org = &mut *org;
        if org.streaming.drops != drops {
            org.streaming.hold(&client_id, false);
            drop_connection(connection);
            return None;
        }
        let poll = org.streaming.poll(&client_id, org.db.schema(), now);
        if let Some(out) = connect_answer(message, poll, timeout, timed_out) {
            org.streaming.hold(&client_id, false);
            return Some(out);
        }
    }
}

fn drop_connection(connection: Option<&ConnectionControl>) {
    if let Some(c) = connection {
        c.drop_now();
    }
}
