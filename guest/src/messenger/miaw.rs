//! A client of Messaging for In-App and Web's customer-side API (the
//! `…salesforce-scrt.com` origin): the calls a Custom Client deployment
//! makes, as Salesforce's own sample client makes them (paths, bodies, the
//! 417 "no messaging session" answer). See `../shared/docs/SALESFORCE-2.md` §1.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::salesforce::client::ApiError;
use crate::salesforce::transport::{HttpRequest, Method, Transport};

const API: &str = "/iamessage/api/v2";

/// Where the deployment is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The messaging URL, no trailing slash.
    pub url: String,
    pub org_id: String,
    /// `esDeveloperName`.
    pub name: String,
    pub language: Option<String>,
}

/// Why a MIAW call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MiawError {
    /// 401: the token expired or is unknown.
    #[error("the messaging token is no longer valid: {0}")]
    Unauthorized(String),
    /// 417: no messaging session exists; send again with `isNewMessagingSession`.
    #[error("no messaging session exists")]
    NoSession,
    /// Another answer than the call expects (400, 403, 404, 429, 5xx).
    #[error("Messaging for In-App and Web answered {status}: {message}")]
    Refused { status: u16, message: String },
    /// No answer (the connection, the allow-list, a timeout).
    #[error("cannot reach Messaging for In-App and Web: {0}")]
    Transport(String),
    /// An answer that cannot be read.
    #[error("unreadable answer from Messaging for In-App and Web: {0}")]
    Malformed(String),
}

impl MiawError {
    /// As a Salesforce error of the contract (`code` names the MIAW failure).
    pub fn to_api_error(&self) -> ApiError {
        let (status, code) = match self {
            MiawError::Unauthorized(_) => (401, "MIAW_UNAUTHORIZED"),
            MiawError::NoSession => (417, "MIAW_NO_SESSION"),
            MiawError::Refused { status, .. } => (*status, "MIAW_REFUSED"),
            MiawError::Transport(_) => (0, "MIAW_UNREACHABLE"),
            MiawError::Malformed(_) => (0, "MIAW_MALFORMED"),
        };
        ApiError { status, code: code.into(), message: self.to_string(), fields: Vec::new() }
    }
}

/// A new anonymous identity's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub access_token: String,
}

/// One entry of a conversation, as the entries list gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    /// `Message`, `ParticipantChanged`, `RoutingResult`, `SessionStatusChanged`, …
    pub entry_type: String,
    /// `EndUser`, `Agent`, `Chatbot`, `System`, `Router`, `Supervisor`.
    pub role: String,
    pub sender_name: String,
    /// Epoch milliseconds.
    pub transcripted: i64,
    pub payload: Value,
    /// `relatedRecords`: the MessagingSession the entry belongs to, first.
    pub related: Vec<String>,
}

impl Entry {
    /// A message's text.
    pub fn text(&self) -> Option<&str> {
        self.payload.pointer("/abstractMessage/staticContent/text").and_then(Value::as_str)
    }
}

/// A file to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUpload<'a> {
    pub name: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

/// One send: a message or a file, with the routing attributes every send carries (B3).
#[derive(Debug, Clone)]
pub struct Send<'a> {
    pub message_id: &'a str,
    pub text: &'a str,
    pub file: Option<FileUpload<'a>>,
    pub routing: &'a [(String, String)],
    /// Start a new messaging session (after a 417).
    pub new_session: bool,
}

/// The client, over a transport that allows the messaging URL.
pub struct Miaw<'d, T: Transport> {
    pub transport: T,
    pub deployment: &'d Deployment,
}

/// The `routingAttributes` object, in the order given.
fn routing_json(routing: &[(String, String)]) -> Value {
    Value::Object(routing.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

impl<T: Transport> Miaw<'_, T> {
    fn call(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(String, Vec<u8>)>,
    ) -> Result<(u16, Vec<u8>), MiawError> {
        let mut headers = vec![("Accept".to_string(), "application/json".to_string())];
        if let Some(token) = token {
            headers.push(("Authorization".into(), format!("Bearer {token}")));
        }
        let body = body.map(|(content_type, bytes)| {
            headers.push(("Content-Type".into(), content_type));
            bytes
        });
        let request = HttpRequest { method, url: format!("{}{path}", self.deployment.url), headers, body };
        let response = self.transport.send(&request).map_err(|e| MiawError::Transport(e.to_string()))?;
        Ok((response.status, response.body))
    }

    fn json(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        ok: &[u16],
    ) -> Result<Value, MiawError> {
        let body = body.map(|b| ("application/json".to_string(), b.to_string().into_bytes()));
        let (status, bytes) = self.call(method, path, token, body)?;
        answer(status, &bytes, ok)
    }

    /// A new anonymous identity (`…/authorization/unauthenticated/access-token`).
    pub fn access_token(&mut self) -> Result<Token, MiawError> {
        let d = self.deployment;
        let body = json!({"orgId": d.org_id, "esDeveloperName": d.name, "capabilitiesVersion": "1", "platform": "Web",
                          "context": {"appName": "casebridge", "clientVersion": env!("CARGO_PKG_VERSION")}});
        let v = self.json(
            Method::Post,
            &format!("{API}/authorization/unauthenticated/access-token"),
            None,
            Some(body),
            &[200],
        )?;
        token_of(&v)
    }

    /// The same identity with a new token (`…/continuation-access-token`).
    pub fn continue_token(&mut self, token: &str) -> Result<Token, MiawError> {
        let v = self.json(
            Method::Get,
            &format!("{API}/authorization/continuation-access-token"),
            Some(token),
            None,
            &[200],
        )?;
        token_of(&v)
    }

    /// Create the conversation (`conversationId` a lowercase UUID); an id
    /// this identity created already (409) counts as created.
    pub fn create_conversation(
        &mut self,
        token: &str,
        conversation_id: &str,
        routing: &[(String, String)],
    ) -> Result<(), MiawError> {
        let d = self.deployment;
        let mut body = json!({"conversationId": conversation_id, "esDeveloperName": d.name, "routingAttributes": routing_json(routing)});
        if let Some(language) = &d.language {
            body["language"] = json!(language);
        }
        self.json(Method::Post, &format!("{API}/conversation"), Some(token), Some(body), &[200, 201, 409]).map(drop)
    }

    /// Send a message or a file; [`MiawError::NoSession`] on 417.
    pub fn send(&mut self, token: &str, conversation_id: &str, send: &Send<'_>) -> Result<(), MiawError> {
        let d = self.deployment;
        let mut entry = json!({
            "message": {"id": send.message_id},
            "esDeveloperName": d.name,
            "routingAttributes": routing_json(send.routing),
        });
        if send.new_session {
            entry["isNewMessagingSession"] = json!(true);
        }
        if let Some(language) = &d.language {
            entry["language"] = json!(language);
        }
        let (path, body) = match &send.file {
            None => {
                entry["message"]["messageType"] = json!("StaticContentMessage");
                entry["message"]["staticContent"] = json!({"formatType": "Text", "text": send.text});
                (
                    format!("{API}/conversation/{conversation_id}/message"),
                    ("application/json".to_string(), entry.to_string().into_bytes()),
                )
            }
            Some(file) => {
                entry["message"]["fileId"] = json!(send.message_id);
                if !send.text.is_empty() {
                    entry["message"]["text"] = json!(send.text);
                }
                (format!("{API}/conversation/{conversation_id}/file"), multipart(&entry, file, send.message_id))
            }
        };
        let (status, bytes) = self.call(Method::Post, &path, Some(token), Some(body))?;
        answer(status, &bytes, &[200, 201, 202]).map(drop)
    }

    /// Up to 50 entries transcripted at or after `from` (epoch ms), oldest first.
    pub fn entries(&mut self, token: &str, conversation_id: &str, from: i64) -> Result<Vec<Entry>, MiawError> {
        let path =
            format!("{API}/conversation/{conversation_id}/entries?limit=50&direction=FromStart&startTimestamp={from}");
        let v = self.json(Method::Get, &path, Some(token), None, &[200])?;
        let raw: Vec<RawEntry> = serde_json::from_value(v.get("conversationEntries").cloned().unwrap_or(Value::Null))
            .map_err(|e| MiawError::Malformed(format!("conversationEntries: {e}")))?;
        Ok(raw.into_iter().map(RawEntry::into_entry).collect())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    identifier: String,
    entry_type: String,
    #[serde(default)]
    entry_payload: Value,
    #[serde(default)]
    sender: Value,
    #[serde(default)]
    sender_display_name: Option<String>,
    #[serde(default)]
    transcripted_timestamp: i64,
    #[serde(default)]
    related_records: Vec<Value>,
}

impl RawEntry {
    fn into_entry(self) -> Entry {
        // The list gives the payload as an object; the stream as a string.
        let payload = match self.entry_payload {
            Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
            other => other,
        };
        Entry {
            id: self.identifier,
            entry_type: self.entry_type,
            role: self.sender.get("role").and_then(Value::as_str).unwrap_or_default().to_string(),
            sender_name: self.sender_display_name.unwrap_or_default(),
            transcripted: self.transcripted_timestamp,
            payload,
            related: self.related_records.iter().filter_map(|r| r.as_str().map(str::to_string)).collect(),
        }
    }
}

fn token_of(v: &Value) -> Result<Token, MiawError> {
    v.get("accessToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(|t| Token { access_token: t.to_string() })
        .ok_or_else(|| MiawError::Malformed("the token answer has no accessToken".into()))
}

/// The answer's JSON when its status is one of `ok`, else the error it means.
fn answer(status: u16, bytes: &[u8], ok: &[u16]) -> Result<Value, MiawError> {
    if ok.contains(&status) {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(bytes).map_err(|e| MiawError::Malformed(e.to_string()));
    }
    let message = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).chars().take(200).collect());
    Err(match status {
        401 => MiawError::Unauthorized(message),
        417 => MiawError::NoSession,
        _ => MiawError::Refused { status, message },
    })
}

/// A `multipart/form-data` body of the file upload: `messageEntry` (JSON) and `fileData`.
fn multipart(entry: &Value, file: &FileUpload<'_>, boundary_seed: &str) -> (String, Vec<u8>) {
    let boundary = format!("casebridge-{}", boundary_seed.replace('-', ""));
    let safe_name: String = file.name.chars().map(|c| if c == '"' || c.is_control() { '_' } else { c }).collect();
    let mut body = Vec::with_capacity(file.bytes.len() + 512);
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"messageEntry\"\r\nContent-Type: application/json\r\n\r\n{entry}\r\n").as_bytes());
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"fileData\"; filename=\"{safe_name}\"\r\nContent-Type: {}\r\n\r\n", file.content_type).as_bytes());
    body.extend_from_slice(file.bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
