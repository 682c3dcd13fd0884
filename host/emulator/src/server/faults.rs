//! Fault injection: the failures a production integration meets, on demand.
//!
//! ```no_run
//! use std::time::Duration;
//! use casebridge_emulator::{EmulatorOptions, Fault, FaultTarget};
//!
//! let emulator = casebridge_emulator::spawn(EmulatorOptions::default()).unwrap();
//! emulator.inject(Fault::error(503).times(2));                  // next two API calls fail
//! emulator.inject(Fault::latency(Duration::from_millis(300)).always());
//! emulator.inject(Fault::drop_response());                      // processed, but the answer is lost
//! emulator.inject(Fault::error(500).on(FaultTarget::Token));    // the next token request fails
//! ```
//!
//! Faults are used in the order they were queued. Latency faults add up and
//! combine with one other fault; of the other kinds, the first matching one
//! decides what happens to a request. A request answered by a fault that
//! never reached the org (`Error`, `DropRequest`) is not counted as an API call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::response::{ApiResponse, Body};
use crate::error::SfError;

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this status (500, 503 …) and Salesforce's error body; the org never sees the request.
    Error { status: u16 },
    /// Wait this long before handling the request.
    Latency(Duration),
    /// Close the connection without answering; the org never sees the request.
    DropRequest,
    /// Let the org carry out the request, then close the connection without
    /// answering: the client cannot tell whether its write happened.
    DropResponse,
    /// Let the org carry out the request, then answer 200 with the body cut in half.
    MalformedJson,
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    /// REST calls under `/services/data/vXX.X/`.
    #[default]
    Api,
    /// `POST /services/oauth2/token`.
    Token,
    /// The messaging origin (Messaging for In-App and Web: `/iamessage/…`
    /// and `/eventrouter/v1/sse`).
    Messaging,
    /// All of them.
    Any,
}

/// How many requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Times(u32),
    /// Every matching request until the faults are cleared.
    Always,
}

/// A queued fault. Build one with [`Fault::error`], [`Fault::latency`] … and
/// adjust it with [`Fault::times`], [`Fault::always`] and [`Fault::on`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub repeat: Repeat,
    pub target: FaultTarget,
}

impl Fault {
    fn once(kind: FaultKind) -> Self {
        Fault { kind, repeat: Repeat::Times(1), target: FaultTarget::Api }
    }

    /// The next API call fails with `status` (500 → `UNKNOWN_EXCEPTION`, 503 → `SERVER_UNAVAILABLE`).
    pub fn error(status: u16) -> Self {
        Self::once(FaultKind::Error { status })
    }

    /// The next API call waits `delay` first.
    pub fn latency(delay: Duration) -> Self {
        Self::once(FaultKind::Latency(delay))
    }

    /// The next API call's connection is closed before the org sees it.
    pub fn drop_request() -> Self {
        Self::once(FaultKind::DropRequest)
    }

    /// The next API call is carried out, but its connection is closed before the answer.
    pub fn drop_response() -> Self {
        Self::once(FaultKind::DropResponse)
    }

    /// The next API call is carried out and answered 200 with truncated JSON.
    pub fn malformed_json() -> Self {
        Self::once(FaultKind::MalformedJson)
    }

    /// Applies to the next `n` matching requests instead of one.
    pub fn times(mut self, n: u32) -> Self {
        self.repeat = Repeat::Times(n);
        self
    }

    /// Applies to every matching request until cleared.
    pub fn always(mut self) -> Self {
        self.repeat = Repeat::Always;
        self
    }

    /// Applies to other requests than API calls.
    pub fn on(mut self, target: FaultTarget) -> Self {
        self.target = target;
        self
    }

    fn applies_to(&self, target: FaultTarget) -> bool {
        self.target == FaultTarget::Any || self.target == target
    }

    /// Uses one repetition; false once none are left.
    fn consume(&mut self) -> bool {
        match &mut self.repeat {
            Repeat::Always => true,
            Repeat::Times(n) => {
                *n = n.saturating_sub(1);
                *n > 0
            }
        }
    }

    /// The admin API's JSON for this fault (the shape `POST /__emulator/faults` takes).
    pub fn to_json(&self) -> Value {
        let mut v = match self.kind {
            FaultKind::Error { status } => json!({"kind": "error", "status": status}),
            FaultKind::Latency(d) => json!({"kind": "latency", "millis": d.as_millis() as u64}),
            FaultKind::DropRequest => json!({"kind": "drop_request"}),
            FaultKind::DropResponse => json!({"kind": "drop_response"}),
            FaultKind::MalformedJson => json!({"kind": "malformed_json"}),
        };
        v["times"] = match self.repeat {
            Repeat::Times(n) => json!(n),
            Repeat::Always => json!("always"),
        };
        v["target"] = serde_json::to_value(self.target).unwrap_or(Value::Null);
        v
    }

    /// Parses the admin API's JSON: `{"kind":"error","status":503,"times":2,"target":"api"}`;
    /// `times` is a count or `"always"` (default 1), `target` `api` (default), `token`,
    /// `messaging` or `any`.
    pub fn from_json(v: &Value) -> Result<Fault, String> {
        let kind = match v["kind"].as_str() {
            Some("error") => {
                let status = v["status"].as_u64().unwrap_or(500);
                if !(400..=599).contains(&status) {
                    return Err(format!("status must be between 400 and 599, not {status}"));
                }
                FaultKind::Error { status: status as u16 }
            }
            Some("latency") => match v["millis"].as_u64() {
                Some(ms) => FaultKind::Latency(Duration::from_millis(ms)),
                None => return Err("latency needs \"millis\": a number of milliseconds".into()),
            },
            Some("drop_request") => FaultKind::DropRequest,
            Some("drop_response") => FaultKind::DropResponse,
            Some("malformed_json") => FaultKind::MalformedJson,
            other => {
                return Err(format!(
                    "unknown fault kind {other:?}: use error, latency, drop_request, drop_response or malformed_json"
                ));
            }
        };
        let repeat = match &v["times"] {
            Value::Null => Repeat::Times(1),
            Value::String(s) if s == "always" => Repeat::Always,
            t => match t.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n > 0 => Repeat::Times(n),
                _ => return Err("times must be a positive count or \"always\"".into()),
            },
        };
        let target = match &v["target"] {
            Value::Null => FaultTarget::Api,
            t => serde_json::from_value(t.clone())
                .map_err(|_| "target must be api, token, messaging or any".to_string())?,
        };
        Ok(Fault { kind, repeat, target })
    }
}

/// The queued faults.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    queued: Vec<Fault>,
    injected: u64,
}

impl FaultPlan {
    pub(crate) fn push(&mut self, fault: Fault) {
        if fault.repeat != Repeat::Times(0) {
            self.queued.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.queued.clear();
    }

    pub(crate) fn queued(&self) -> &[Fault] {
        &self.queued
    }

    /// Requests whose answer a fault replaced or broke.
    pub(crate) fn injected(&self) -> u64 {
        self.injected
    }

    pub(crate) fn reset_count(&mut self) {
        self.injected = 0;
    }

    /// Decides what happens to one request to `target`, using up the faults it takes.
    pub(crate) fn take(&mut self, target: FaultTarget) -> FaultDecision {
        let mut decision = FaultDecision { target, delay: Duration::ZERO, outcome: None };
        self.queued.retain_mut(|fault| {
            if !fault.applies_to(target) {
                return true;
            }
            match fault.kind {
                FaultKind::Latency(d) => decision.delay = decision.delay.saturating_add(d),
                kind if decision.outcome.is_none() => decision.outcome = Some(kind),
                _ => return true,
            }
            fault.consume()
        });
        if decision.outcome.is_some() {
            self.injected += 1;
        }
        decision
    }
}

/// What the faults decided for one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaultDecision {
    target: FaultTarget,
    delay: Duration,
    outcome: Option<FaultKind>,
}

impl FaultDecision {
    /// The part that happens before the org: the delay, then an injected error
    /// or a dropped request. `Some` is the answer to send instead of asking the org.
    pub(crate) async fn before_org(&self, connection: Option<&ConnectionControl>) -> Option<Response> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        match self.outcome? {
            FaultKind::Error { status } => Some(self.error_response(status).into_response()),
            FaultKind::DropRequest => Some(drop_connection(connection)),
            _ => None,
        }
    }

    /// The part that happens to the org's answer: a lost or malformed response.
    pub(crate) async fn after_org(&self, answer: ApiResponse, connection: Option<&ConnectionControl>) -> Response {
        match self.outcome {
            Some(FaultKind::DropResponse) => drop_connection(connection),
            Some(FaultKind::MalformedJson) => malformed(answer).into_response(),
            _ => answer.into_response(),
        }
    }

    /// [`FaultDecision::after_org`] for an answer that is already an HTTP
    /// response (the messaging origin's). An event stream is left alone by
    /// `malformed_json`: it has no end to cut in half.
    pub(crate) async fn after_response(&self, response: Response, connection: Option<&ConnectionControl>) -> Response {
        match self.outcome {
            Some(FaultKind::DropResponse) => drop_connection(connection),
            Some(FaultKind::MalformedJson) => {
                let streaming = response
                    .headers()
                    .get(axum::http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("text/event-stream"));
                if streaming {
                    return response;
                }
                let (parts, body) = response.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
                let mut answer = ApiResponse::raw(StatusCode::OK, "application/json", bytes.to_vec());
                answer.headers = Vec::new();
                let mut broken = malformed(answer).into_response();
                for (name, value) in parts.headers.iter().filter(|(n, _)| *n != axum::http::header::CONTENT_LENGTH) {
                    broken.headers_mut().entry(name).or_insert(value.clone());
                }
                broken
            }
            _ => response,
        }
    }

    fn error_response(&self, status: u16) -> ApiResponse {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if self.target == FaultTarget::Token {
            // What the token endpoint answers when Salesforce has an internal error.
            return ApiResponse::json(
                code,
                json!({"error": "unknown_error", "error_description": "retry your request"}),
            );
        }
        if self.target == FaultTarget::Messaging {
            // The messaging API's error bodies carry a `message` (what the
            // official sample client reads); the wording is the emulator's.
            let message = match status {
                503 => "Service temporarily unavailable. Please try again later.",
                429 => "Too many requests. Please try again later.",
                _ => "An unexpected error occurred. Please try again later.",
            };
            return ApiResponse::json(code, json!({"message": message}));
        }
        let error = match status {
            503 => SfError::new(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again later."),
            _ => SfError::new(
                status,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact support: 1962341876-93045 (-1102946714)",
            ),
        };
        ApiResponse::from(error)
    }
}

/// 200 with the first half of the real body (JSON objects and arrays cut
/// short never parse).
fn malformed(answer: ApiResponse) -> ApiResponse {
    let mut bytes = answer.body_bytes();
    if bytes.len() < 2 {
        bytes = b"{\"".to_vec();
    } else {
        bytes.truncate(bytes.len() / 2);
    }
    let mut broken = ApiResponse::raw(StatusCode::OK, "application/json;charset=UTF-8", bytes);
    broken.headers = answer.headers;
    debug_assert!(matches!(broken.body, Body::Raw { .. }));
    broken
}

/// Lets a handler close its own connection. The serve loop puts one in every
/// request's extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionControl(Arc<DropSignal>);

#[derive(Debug, Default)]
struct DropSignal {
    notify: Notify,
    asked: AtomicBool,
}

impl ConnectionControl {
    /// Resolves once a handler asked for the connection to be dropped.
    pub(crate) async fn dropped(&self) {
        self.0.notify.notified().await
    }

    /// Whether a handler asked for the connection to be dropped: its answer
    /// must then never be sent.
    pub(crate) fn is_dropped(&self) -> bool {
        self.0.asked.load(Ordering::SeqCst)
    }

    /// Closes this connection without an answer (the handler's answer is withheld).
    pub(crate) fn drop_now(&self) {
        self.0.asked.store(true, Ordering::SeqCst);
        self.0.notify.notify_one();
    }
}

/// Closes the connection without an answer: marks it so the serve loop
/// withholds the answer and drops the connection. The handler itself
/// returns, so its task ends. Without a connection to close (a router used
/// in-process) it answers an empty 502 instead.
fn drop_connection(connection: Option<&ConnectionControl>) -> Response {
    if let Some(connection) = connection {
        connection.0.asked.store(true, Ordering::SeqCst);
        connection.0.notify.notify_one();
    }
    // Never sent when there is a connection: the serve loop sees the mark first.
    StatusCode::BAD_GATEWAY.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_in_order_and_latency_combines() {
        let mut plan = FaultPlan::default();
        plan.push(Fault::latency(Duration::from_millis(5)).always());
        plan.push(Fault::error(503).times(2));
        plan.push(Fault::drop_request());
        plan.push(Fault::error(500).on(FaultTarget::Token));
        let first = plan.take(FaultTarget::Api);
        assert_eq!((first.delay, first.outcome), (Duration::from_millis(5), Some(FaultKind::Error { status: 503 })));
        assert_eq!(plan.take(FaultTarget::Api).outcome, Some(FaultKind::Error { status: 503 }));
        assert_eq!(plan.take(FaultTarget::Api).outcome, Some(FaultKind::DropRequest));
        assert_eq!(plan.take(FaultTarget::Api).outcome, None);
        assert_eq!(plan.take(FaultTarget::Token).outcome, Some(FaultKind::Error { status: 500 }));
        assert_eq!(plan.injected(), 4);
        assert_eq!(plan.queued().len(), 1, "the latency stays");
    }

    #[test]
    fn admin_json_round_trips() {
        let fault = Fault::latency(Duration::from_millis(250)).always().on(FaultTarget::Any);
        assert_eq!(Fault::from_json(&fault.to_json()), Ok(fault));
        assert_eq!(Fault::from_json(&json!({"kind": "error", "status": 503})), Ok(Fault::error(503)));
        assert!(Fault::from_json(&json!({"kind": "error", "status": 200})).is_err());
        assert!(Fault::from_json(&json!({"kind": "explode"})).is_err());
        assert!(Fault::from_json(&json!({"kind": "drop_request", "times": 0})).is_err());
    }

    #[test]
    fn malformed_bodies_do_not_parse() {
        let broken = malformed(ApiResponse::ok(json!({"totalSize": 1, "done": true, "records": []})));
        assert_eq!(broken.status, StatusCode::OK);
        assert!(serde_json::from_slice::<Value>(&broken.body_bytes()).is_err());
        let empty = malformed(ApiResponse::no_content());
        assert!(serde_json::from_slice::<Value>(&empty.body_bytes()).is_err());
    }
}
