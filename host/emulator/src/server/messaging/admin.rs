//! `/__emulator/messaging/…`: the Embedded Service deployments (what an
//! admin sets up in Setup and the channel's Flow), and the live agent's
//! side of the sessions (what Omni-Channel and the agent console do). See
//! the table in [`crate::server::admin`].

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::PreChatParameter;
use super::model;
use crate::server::admin::{bad_request, body};
use crate::server::org::Emulator;

pub(crate) fn router() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/deployments", get(deployments).post(add_deployment))
        .route("/sessions", get(sessions))
        .route("/sessions/{id}/accept", post(accept))
        .route("/sessions/{id}/messages", post(agent_message))
        .route("/sessions/{id}/typing", post(agent_typing))
        .route("/sessions/{id}/end", post(end))
        .route("/conversations/{id}", get(conversation))
        .route("/routing", get(routing).put(set_routing).post(set_routing))
}

async fn deployments(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    Json(emulator.org().messaging.deployments_json())
}

/// A pre-chat parameter in the admin API's JSON.
fn parameter(v: &Value) -> Result<PreChatParameter, String> {
    let name = v["name"].as_str().filter(|n| !n.is_empty()).ok_or("each pre-chat parameter needs a \"name\"")?;
    let max_length = match &v["max_length"] {
        Value::Null => 255,
        n => n.as_u64().filter(|n| *n > 0).ok_or_else(|| format!("max_length of {name} must be a positive integer"))?
            as usize,
    };
    let text = |key: &str| v[key].as_str().map(str::to_string);
    Ok(PreChatParameter {
        name: name.to_string(),
        label: text("label").unwrap_or_else(|| name.trim_start_matches('_').replace('_', " ")),
        max_length,
        field: text("field"),
        field_type: text("type").unwrap_or_else(|| "Text".to_string()),
        hidden: v["hidden"].as_bool().unwrap_or(true),
        required: v["required"].as_bool().unwrap_or(false),
    })
}

async fn add_deployment(State(emulator): State<Arc<Emulator>>, raw: Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let Some(name) = request["developer_name"].as_str() else {
        return bad_request("give at least {\"developer_name\":\"Web_Messenger\",\"pre_chat\":[…]}");
    };
    let pre_chat = match &request["pre_chat"] {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(parameter).collect::<Result<Vec<_>, _>>(),
        _ => Err("pre_chat must be a list of parameters".to_string()),
    };
    let pre_chat = match pre_chat {
        Ok(p) => p,
        Err(message) => return bad_request(message),
    };
    let label = request["label"].as_str().unwrap_or(name).to_string();
    let queue = request["queue_id"].as_str().map(str::to_string);
    let added = model::add_deployment(&mut emulator.org(), name, &label, queue, pre_chat);
    match added {
        Ok(deployment) => (StatusCode::CREATED, Json(deployment)).into_response(),
        Err(e) => bad_request(e.message),
    }
}

async fn sessions(State(emulator): State<Arc<Emulator>>, RawQuery(raw): RawQuery) -> Json<Value> {
    let status = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.into_owned());
    Json(emulator.org().messaging.sessions_json(status.as_deref()))
}

fn answer(result: Result<Value, String>, status: StatusCode) -> Response {
    match result {
        Ok(v) => (status, Json(v)).into_response(),
        Err(message) => bad_request(message),
    }
}

/// Accepts as `{"username"}`, by default the seeded hand-off user (the integration user in an empty org).
async fn accept(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>, raw: Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let mut org = emulator.org();
    let agent = match request["username"].as_str() {
        Some(username) => match org.user_by_username(username) {
            Some(user) => user.id,
            None => return bad_request(format!("no user has the username {username}")),
        },
        None => emulator.seeded.handoff_user_id.clone().unwrap_or_else(|| org.integration_user_id.clone()),
    };
    answer(model::accept(&mut org, &id, &agent), StatusCode::OK)
}

async fn agent_message(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>, raw: Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let Some(text) = request["text"].as_str().filter(|t| !t.is_empty()) else {
        return bad_request("give the agent's message as {\"text\":\"…\"}");
    };
    answer(model::agent_message(&mut emulator.org(), &id, text), StatusCode::CREATED)
}

async fn agent_typing(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>, raw: Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let typing = request["typing"].as_bool().unwrap_or(true);
    answer(model::agent_typing(&mut emulator.org(), &id, typing), StatusCode::OK)
}

async fn end(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    answer(model::end(&mut emulator.org(), &id), StatusCode::OK)
}

async fn conversation(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    let found = emulator.org().messaging.conversation_json(&id);
    match found {
        Ok(v) => Json(v).into_response(),
        Err(message) => (StatusCode::NOT_FOUND, Json(json!({"error": message}))).into_response(),
    }
}

async fn routing(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    Json(emulator.org().messaging.routing_json())
}

/// `{"fail":true,"reason"?}` makes routing fail for new sessions; `{"fail":false}` routes again.
async fn set_routing(State(emulator): State<Arc<Emulator>>, raw: Bytes) -> Response {
    let request = match body(&raw) {
        Ok(v) => v,
        Err(message) => return bad_request(message),
    };
    let Some(fail) = request["fail"].as_bool() else {
        return bad_request("give {\"fail\":true} or {\"fail\":false}");
    };
    let reason = request["reason"].as_str().unwrap_or("No agent is available to take the conversation.").to_string();
    let mut org = emulator.org();
    org.messaging.set_routing_failure(fail.then_some(reason));
    Json(org.messaging.routing_json()).into_response()
}
