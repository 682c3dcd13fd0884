//! `/__emulator/streaming/…`: the org's Change Data Capture set-up (the
//! Setup page's entity selection), its streaming limits and timings, gap
//! and overflow events and the streaming faults. See the table in [`super`].

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::db::ChangeType;
use crate::server::admin::{bad_request, body};
use crate::server::org::Emulator;

pub(crate) fn router() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/", get(state))
        .route("/events", get(events))
        .route("/settings", get(settings).put(set_settings).post(set_settings))
        .route("/selection", get(selection).put(set_selection).post(set_selection))
        .route("/gap", post(gap))
        .route("/overflow", post(overflow))
        .route("/faults/drop-connections", post(drop_connections))
        .route("/faults/forget-clients", post(forget_clients))
        .route("/faults/rehandshake", post(rehandshake))
}

async fn state(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    let org = emulator.org();
    Json(org.streaming.state_json(org.db.schema(), org.clock.now()))
}

async fn events(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    Json(json!({"events": emulator.org().streaming.events_json()}))
}

async fn settings(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    Json(emulator.org().streaming.settings_json())
}

/// `{"connect_timeout_ms"?,"keepalive_ms"?,"max_clients"?,"daily_delivery_limit"?,"retention_seconds"?}`.
async fn set_settings(State(emulator): State<Arc<Emulator>>, raw: Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let number = |key: &str| -> Result<Option<u64>, String> {
        match &request[key] {
            Value::Null => Ok(None),
            v => v.as_u64().map(Some).ok_or_else(|| format!("{key} must be a non-negative integer")),
        }
    };
    let read = || -> Result<_, String> {
        Ok((
            number("connect_timeout_ms")?,
            number("keepalive_ms")?,
            number("max_clients")?,
            number("daily_delivery_limit")?,
            number("retention_seconds")?,
        ))
    };
    let (timeout, keepalive, max_clients, limit, retention) = match read() {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let mut org = emulator.org();
    let s = &mut org.streaming.settings;
    if let Some(ms) = timeout {
        s.connect_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = keepalive {
        s.keepalive = Duration::from_millis(ms);
    }
    if let Some(n) = max_clients {
        s.max_clients = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = limit {
        s.daily_delivery_limit = n;
    }
    if let Some(secs) = retention {
        s.retention = Duration::from_secs(secs);
    }
    org.streaming.settings_changed();
    Json(org.streaming.settings_json()).into_response()
}

async fn selection(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    let org = emulator.org();
    Json(json!({"entities": org.streaming.selection(), "supported": super::model::supported_objects(org.db.schema())}))
}

/// `{"entities":["Case","Contact"]}`.
async fn set_selection(State(emulator): State<Arc<Emulator>>, raw: Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let Some(entities) = request["entities"].as_array() else {
        return bad_request("give {\"entities\":[\"Case\",…]}");
    };
    let entities: Vec<String> = entities.iter().filter_map(Value::as_str).map(str::to_string).collect();
    let mut org = emulator.org();
    match org.set_cdc_selection(&entities) {
        Ok(()) => Json(json!({"entities": org.streaming.selection()})).into_response(),
        Err(message) => bad_request(message),
    }
}

/// `{"entity":"Case","change_type":"GAP_UPDATE","record_ids":["500…"]}`.
async fn gap(State(emulator): State<Arc<Emulator>>, raw: Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let Some(entity) = request["entity"].as_str() else {
        return bad_request("give {\"entity\",\"change_type\",\"record_ids\"}");
    };
    let kind = request["change_type"].as_str().unwrap_or("GAP_UPDATE");
    let Some(kind) =
        ChangeType::parse(kind).filter(|k| k.as_str().starts_with("GAP_") && *k != ChangeType::GapOverflow)
    else {
        return bad_request("change_type must be GAP_CREATE, GAP_UPDATE, GAP_DELETE or GAP_UNDELETE");
    };
    let ids: Vec<String> = request["record_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    published(emulator.publish_header_only(entity, kind, ids))
}

/// `{"entity":"Case"}`.
async fn overflow(State(emulator): State<Arc<Emulator>>, raw: Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let Some(entity) = request["entity"].as_str() else {
        return bad_request("give {\"entity\":\"Case\"}");
    };
    published(emulator.publish_header_only(entity, ChangeType::GapOverflow, Vec::new()))
}

fn published(result: Result<u64, String>) -> Response {
    match result {
        Ok(id) => (StatusCode::CREATED, Json(json!({"replayId": id}))).into_response(),
        Err(message) => bad_request(message),
    }
}

async fn drop_connections(State(emulator): State<Arc<Emulator>>) -> StatusCode {
    emulator.org().streaming.drop_connections();
    StatusCode::NO_CONTENT
}

async fn forget_clients(State(emulator): State<Arc<Emulator>>) -> StatusCode {
    emulator.org().streaming.forget_clients();
    StatusCode::NO_CONTENT
}

async fn rehandshake(State(emulator): State<Arc<Emulator>>) -> StatusCode {
    emulator.org().streaming.request_rehandshake();
    StatusCode::NO_CONTENT
}
