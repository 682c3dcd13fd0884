//! The Salesforce REST client: OAuth refresh, the calls the connector makes,
//! Salesforce's errors as typed values, and the API budget (A1, A13).
//!
//! ```ignore
//! let config = ClientConfig::for_org(&org, remaining_budget_today);
//! let mut client = SalesforceClient::new(WakiTransport::new(), config);
//! let cases = client.query("SELECT Id, Subject FROM Case WHERE OwnerId = '005…'")?;
//! let comment = client.create("CaseComment", &fields)?;
//! report.api_calls = client.calls();
//! report.api_usage = client.last_usage();
//! ```
//!
//! - It authenticates on its first call (refresh-token grant) and talks to the
//!   `instance_url` the token answer names, not to the login host.
//! - A call answered 401 gets one token refresh and one retry; a second 401 is
//!   an error. A refresh token Salesforce refuses makes every later call fail
//!   with [`ClientError::ReconnectRequired`] without asking again.
//! - Every REST request is counted ([`SalesforceClient::calls`]) and refused
//!   before sending once `call_budget` is spent. Token requests are counted
//!   apart ([`SalesforceClient::token_calls`]): Salesforce does not count them
//!   against the org's API limit.
//! - The client never loops on failures: a 5xx or a transport failure comes
//!   back as an error ([`ClientError::is_retryable`]) for the next cycle.
//! - Secrets (client secret, refresh token, access token) appear in no error,
//!   no `Debug` output and no log.

mod wire;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::transport::{HttpRequest, HttpResponse, Method, Transport, TransportError, url_authority};
use crate::model::OrgConfig;

pub use wire::parse_limit_info;

/// Salesforce runs at most 25 subrequests in one composite request.
pub const MAX_COMPOSITE_SUBREQUESTS: usize = 25;
/// Of a composite request's subrequests, at most five may be queries or
/// collections (Salesforce refuses the request otherwise).
pub const MAX_COMPOSITE_QUERIES: usize = 5;
/// sObject Collections take at most 200 records per request.
pub const MAX_COLLECTION_RECORDS: usize = 200;

const TOKEN_PATH: &str = "/services/oauth2/token";
/// How much of an unreadable body an error shows.
const SNIPPET_CHARS: usize = 200;
/// The client id our calls carry in `Sforce-Call-Options`, so streaming can
/// skip the echoes of our writes (`changeOrigin` names it).
pub const CALL_OPTIONS_CLIENT: &str = "casebridge";
/// `Sforce-Call-Options`, naming [`CALL_OPTIONS_CLIENT`] (checked by a test).
const CALL_OPTIONS: &str = "client=casebridge";
/// Stops active assignment rules from overriding an owner we set.
const AUTO_ASSIGN_HEADER: &str = "Sforce-Auto-Assign";
const JSON: &str = "application/json";

// --- configuration -----------------------------------------------------------------

/// What the client needs to reach one org.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// e.g. `https://login.salesforce.com`, `https://test.salesforce.com` or a My Domain URL.
    pub login_url: String,
    /// e.g. `62.0` (a leading `v` is accepted).
    pub api_version: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// REST calls this client may still spend (what is left of the day's budget).
    pub call_budget: u32,
}

impl ClientConfig {
    /// The client configuration of an org, allowed `call_budget` more calls.
    pub fn for_org(org: &OrgConfig, call_budget: u32) -> Self {
        ClientConfig {
            login_url: org.login_url.clone(),
            api_version: org.api_version.clone(),
            client_id: org.credentials.client_id.clone(),
            client_secret: org.credentials.client_secret.clone(),
            refresh_token: org.credentials.refresh_token.clone(),
            call_budget,
        }
    }

    /// The version without a leading `v`: `62.0`.
    fn version(&self) -> &str {
        self.api_version.trim().trim_start_matches(['v', 'V'])
    }

    fn validate(&self) -> Result<(), ClientError> {
        let login = self.login_url.trim();
        if !(login.starts_with("https://") || login.starts_with("http://")) {
            return Err(ClientError::InvalidConfig(format!(
                "login-url `{login}` is not an http(s) URL: use e.g. https://login.salesforce.com"
            )));
        }
        let version = self.version();
        let valid_version = version.split_once('.').is_some_and(|(major, minor)| is_digits(major) && is_digits(minor));
        if !valid_version {
            return Err(ClientError::InvalidConfig(format!(
                "api-version `{}` is not a Salesforce API version: use e.g. 62.0",
                self.api_version
            )));
        }
        for (name, value) in [
            ("client-id", &self.client_id),
            ("client-secret", &self.client_secret),
            ("refresh-token", &self.refresh_token),
        ] {
            if value.trim().is_empty() {
                return Err(ClientError::InvalidConfig(format!(
                    "{name} is empty: connect the org to get its credentials"
                )));
            }
        }
        Ok(())
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// The secret and the refresh token are never printed.
impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("login_url", &self.login_url)
            .field("api_version", &self.api_version)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("call_budget", &self.call_budget)
            .finish()
    }
}

// --- errors ------------------------------------------------------------------------

/// API usage as Salesforce reports it (`Sforce-Limit-Info: api-usage=18/5000`).
/// `0/0` when Salesforce did not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApiUsage {
    pub used: u32,
    pub max: u32,
}

impl fmt::Display for ApiUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.max == 0 && self.used == 0 {
            f.write_str("usage not reported")
        } else {
            write!(f, "{} of {} calls used", self.used, self.max)
        }
    }
}

/// An error Salesforce returned: `[{"message","errorCode","fields"}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status (400 for a failed record of an sObject Collections call,
    /// which reports none per record).
    pub status: u16,
    /// Salesforce's `errorCode` (`statusCode` in collections), e.g.
    /// `REQUIRED_FIELD_MISSING`; empty when the body was not Salesforce's error list.
    pub code: String,
    /// Salesforce's messages, joined with "; " when there were several.
    pub message: String,
    /// The fields it names.
    pub fields: Vec<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code.is_empty() {
            write!(f, "HTTP {}: {}", self.status, self.message)?;
        } else {
            write!(f, "{} (HTTP {}): {}", self.code, self.status, self.message)?;
        }
        if !self.fields.is_empty() {
            write!(f, " [fields: {}]", self.fields.join(", "))?;
        }
        Ok(())
    }
}

/// Why a call failed. Each variant is one case of the WIT `sync-error`
/// (`BudgetExhausted` becomes `api-limit`); none carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The configuration cannot work (payload: which option and why). → `invalid-config`
    #[error("the org's configuration is invalid: {0}")]
    InvalidConfig(String),
    /// Salesforce refused the credentials; the org must be connected again. Never retried.
    /// → `reconnect-required`
    #[error("{0}")]
    ReconnectRequired(String),
    /// Salesforce's API limit is reached (403 `REQUEST_LIMIT_EXCEEDED`). → `api-limit`
    #[error(
        "Salesforce's API request limit for the org is reached ({0}): calls resume when Salesforce's rolling 24-hour count drops"
    )]
    ApiLimit(ApiUsage),
    /// This client's call budget is spent; nothing was sent.
    /// → `api-limit(api-usage { used, max: budget })`
    #[error(
        "the connector's API budget is spent ({used} of {budget} calls): further calls wait for the next day (or a larger daily-api-budget)"
    )]
    BudgetExhausted { used: u32, budget: u32 },
    /// Salesforce answered with an error. → `salesforce`
    #[error("Salesforce returned an error: {0}")]
    Salesforce(ApiError),
    /// Salesforce could not be reached (payload: which call, which host, why). → `transport`
    #[error("Salesforce could not be reached: {0}")]
    Transport(String),
    /// Salesforce's answer could not be read (payload: which call and the start of the body).
    /// → `malformed-response`
    #[error("Salesforce answered something that could not be read: {0}")]
    MalformedResponse(String),
    /// The caller asked for something this client does not do (payload: what). → `unsupported`
    #[error("{0}")]
    Unsupported(String),
}

impl ClientError {
    /// A failed composite subrequest as an error: Salesforce's error list in
    /// its body as [`ClientError::Salesforce`].
    pub fn from_subresponse(response: &SubResponse) -> ClientError {
        ClientError::Salesforce(response.api_error())
    }

    /// Whether the same call may succeed later (next cycle): server errors,
    /// transport failures, unreadable answers, row locks and the concurrency
    /// limit. The client itself never retries these.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport(_) | ClientError::MalformedResponse(_) => true,
            ClientError::Salesforce(error) => {
                error.status >= 500
                    || error.status == 429
                    || matches!(
                        error.code.as_str(),
                        "REQUEST_LIMIT_EXCEEDED" | "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE"
                    )
            }
            ClientError::InvalidConfig(_)
            | ClientError::ReconnectRequired(_)
            | ClientError::ApiLimit(_)
            | ClientError::BudgetExhausted { .. }
            | ClientError::Unsupported(_) => false,
        }
    }
}

// --- request and result types ----------------------------------------------------

/// One subrequest of a composite call.
#[derive(Debug, Clone, PartialEq)]
pub struct Subrequest {
    pub method: Method,
    /// Relative to the instance, e.g. `/services/data/v62.0/sobjects/CaseComment`
    /// (see [`SalesforceClient::data_path`]); may use `@{ref.id}` of an earlier subrequest.
    pub url: String,
    pub reference_id: String,
    pub body: Option<Value>,
    /// Extra request headers of this subrequest (`httpHeaders`), e.g.
    /// `Sforce-Duplicate-Rule-Header`.
    pub headers: Vec<(&'static str, &'static str)>,
}

impl Subrequest {
    pub fn new(method: Method, url: impl Into<String>, reference_id: impl Into<String>) -> Self {
        Subrequest { method, url: url.into(), reference_id: reference_id.into(), body: None, headers: Vec::new() }
    }

    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// One subrequest's result.
#[derive(Debug, Clone, PartialEq)]
pub struct SubResponse {
    pub reference_id: String,
    /// The subrequest's HTTP status (`httpStatusCode`).
    pub status: u16,
    /// Its body: the record or `{"id","success","errors"}` on success, an error
    /// array on failure, `null` for 204.
    pub body: Value,
}

impl SubResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error, when the subrequest failed (rolled-back siblings of an
    /// all-or-none request say `PROCESSING_HALTED`).
    pub fn error(&self) -> Option<ApiError> {
        if self.is_success() {
            return None;
        }
        Some(self.api_error())
    }

    /// The body read as Salesforce's error list (for any status).
    fn api_error(&self) -> ApiError {
        wire::api_error_from_value(self.status, &self.body).unwrap_or_else(|| {
            let body = self.body.to_string();
            ApiError {
                status: self.status,
                code: String::new(),
                message: format!(
                    "subrequest {} answered HTTP {}: {}",
                    self.reference_id,
                    self.status,
                    wire::snippet(body.as_bytes(), SNIPPET_CHARS)
                ),
                fields: Vec::new(),
            }
        })
    }
}

/// One record of an sObject Collections update.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordUpdate {
    /// e.g. `Case`.
    pub object: String,
    pub id: String,
    pub fields: Map<String, Value>,
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPage {
    pub total_size: u64,
    pub done: bool,
    pub records: Vec<Value>,
    /// The next page's path, to pass to [`SalesforceClient::query_more`] verbatim.
    pub next_records_url: Option<String>,
}

impl From<wire::QueryResponse> for QueryPage {
    fn from(page: wire::QueryResponse) -> Self {
        QueryPage {
            total_size: page.total_size,
            done: page.done,
            records: page.records,
            next_records_url: page.next_records_url,
        }
    }
}

/// `GET /limits`.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// `DailyApiRequests`: used = `Max - Remaining`.
    pub daily_api_requests: ApiUsage,
    /// The whole answer, for the other limits.
    pub raw: Value,
}

// --- the client ----------------------------------------------------------------------

/// A Salesforce REST client for one org and one cycle. See the module docs.
pub struct SalesforceClient<T: Transport> {
    transport: T,
    config: ClientConfig,
    session: Option<Session>,
    /// Set when Salesforce refused the refresh token: later calls fail at once.
    reconnect_required: Option<String>,
    calls: u32,
    token_calls: u32,
    last_usage: Option<ApiUsage>,
    /// The user the refresh token belongs to (`005…`), from the token answer's `id`.
    identity_user_id: Option<String>,
    /// Whether the session was obtained by this client (and should be kept).
    session_is_new: bool,
    /// Salesforce's clock minus the local clock (ms): an estimate inside `server_offset_bounds`.
    server_offset_ms: Option<i64>,
    /// The offsets every `Date` header so far allows (ms, inclusive), narrowed answer by answer.
    server_offset_bounds: Option<(i64, i64)>,
}

/// An access token and the instance it is for: what the token answer gives,
/// kept between cycles (encrypted, see [`super::session`]) so a token is
/// requested once per session lifetime, not once per cycle.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub access_token: String,
    /// Without a trailing `/`.
    pub instance_url: String,
    /// The user the org was connected as (`005…`), from the token answer's `id`.
    #[serde(default)]
    pub identity_user_id: Option<String>,
}

/// The access token is never printed.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("instance_url", &self.instance_url)
            .field("identity_user_id", &self.identity_user_id)
            .finish_non_exhaustive()
    }
}

/// One REST request, described once so it can be sent again after a token refresh.
struct RestCall<'a> {
    /// What the call does, for errors: `query`, `create CaseComment`, ...
    label: &'a str,
    method: Method,
    /// Relative to the instance: `/services/...`.
    path: String,
    body: Option<Vec<u8>>,
    accept: &'static str,
    headers: Vec<(String, String)>,
}

impl<'a> RestCall<'a> {
    fn new(label: &'a str, method: Method, path: String) -> Self {
        RestCall { label, method, path, body: None, accept: JSON, headers: Vec::new() }
    }

    fn json_body(mut self, body: &impl serde::Serialize) -> Result<Self, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            ClientError::Unsupported(format!("{}: the request body cannot be written as JSON: {e}", self.label))
        })?;
        self.body = Some(bytes);
        Ok(self)
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

impl<T: Transport> fmt::Debug for SalesforceClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceClient")
            .field("config", &self.config)
            .field("instance_url", &self.session.as_ref().map(|s| s.instance_url.as_str()))
            .field("reconnect_required", &self.reconnect_required.is_some())
            .field("calls", &self.calls)
            .field("token_calls", &self.token_calls)
            .field("last_usage", &self.last_usage)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> SalesforceClient<T> {
    /// A client that has not talked to Salesforce yet; it authenticates on its first call.
    pub fn new(transport: T, config: ClientConfig) -> Self {
        SalesforceClient {
            transport,
            config,
            session: None,
            reconnect_required: None,
            calls: 0,
            token_calls: 0,
            last_usage: None,
            identity_user_id: None,
            session_is_new: false,
            server_offset_ms: None,
            server_offset_bounds: None,
        }
    }

    /// Starts from a session kept from an earlier cycle: no token request
    /// until Salesforce answers 401 (then one refresh and one retry).
    pub fn resume_session(&mut self, session: Session) {
        self.identity_user_id = session.identity_user_id.clone().or(self.identity_user_id.take());
        self.session = Some(session);
        self.session_is_new = false;
    }

    /// The session this client obtained with a token request, if it did:
    /// keep it for the next cycle.
    pub fn new_session(&self) -> Option<&Session> {
        self.session.as_ref().filter(|_| self.session_is_new)
    }

    /// Salesforce's time now, by the `Date` header of its last answer and the
    /// local clock's progress since; `None` before any answer carried one.
    pub fn salesforce_now(&self) -> Option<crate::model::Timestamp> {
        self.server_offset_ms.map(|offset| local_now().saturating_add(offset))
    }

    /// Remembers how far Salesforce's clock is from ours. A header names a
    /// whole second, stamped somewhere between sending and receiving, so it
    /// bounds the offset to an interval; intervals are intersected and the
    /// estimate moves only when it falls outside them. A steady estimate
    /// keeps Salesforce's time moving forward from cycle to cycle, which a
    /// fresh guess per answer (jumping by up to a second) would not.
    fn note_server_time(&mut self, response: &HttpResponse, sent_at: crate::model::Timestamp) {
        let Some(server) = response.header("Date").and_then(wire::parse_http_date) else { return };
        let received_at = local_now();
        let allowed = (server - received_at, server + 999 - sent_at.min(received_at));
        let bounds = match self.server_offset_bounds {
            Some((low, high)) if low.max(allowed.0) <= high.min(allowed.1) => (low.max(allowed.0), high.min(allowed.1)),
            // No overlap: a clock was set in between; start again from this answer.
            _ => allowed,
        };
        self.server_offset_bounds = Some(bounds);
        if !self.server_offset_ms.is_some_and(|offset| (bounds.0..=bounds.1).contains(&offset)) {
            self.server_offset_ms = Some(bounds.0 + (bounds.1 - bounds.0) / 2);
        }
    }

    /// Keeps an earlier cycle's offset while every answer so far allows it,
    /// so the time Salesforce is taken to be does not step back between cycles.
    /// Before any answer it is taken as it is, until an answer rules it out.
    pub fn prefer_server_offset(&mut self, earlier: i64) {
        if self.server_offset_bounds.is_none_or(|(low, high)| (low..=high).contains(&earlier)) {
            self.server_offset_ms = Some(earlier);
        }
    }

    /// Salesforce's clock minus the local clock (ms), from the last `Date` header.
    pub fn server_offset(&self) -> Option<i64> {
        self.server_offset_ms
    }

    /// REST requests sent so far (each composite or collection request is one).
    pub fn calls(&self) -> u32 {
        self.calls
    }

    /// OAuth token requests sent so far (not counted by Salesforce's API limit).
    pub fn token_calls(&self) -> u32 {
        self.token_calls
    }

    /// The usage Salesforce last reported in `Sforce-Limit-Info` (or `/limits`).
    pub fn last_usage(&self) -> Option<ApiUsage> {
        self.last_usage
    }

    /// REST calls this client may still make.
    pub fn remaining_budget(&self) -> u32 {
        self.config.call_budget.saturating_sub(self.calls)
    }

    /// The instance URL of the current session, once authenticated.
    pub fn instance_url(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.instance_url.as_str())
    }

    /// The Id (`005…`) of the user the org was connected as, once authenticated:
    /// the last segment of the token answer's identity URL `…/id/00D…/005…`.
    pub fn identity_user_id(&self) -> Option<String> {
        self.identity_user_id.clone()
    }

    /// The transport (tests read the requests a fake recorded).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// `/services/data/v{version}/{rest}`: the path composite subrequests and
    /// attachment paths are written with.
    pub fn data_path(&self, rest: &str) -> String {
        format!("/services/data/v{}/{}", self.config.version(), rest.trim_start_matches('/'))
    }

    /// `/services/data/v{version}/sobjects/{object}[/{id}]`, segments encoded.
    pub fn sobject_path(&self, object: &str, id: Option<&str>) -> String {
        match id {
            Some(id) => self.data_path(&format!("sobjects/{}/{}", segment(object), segment(id))),
            None => self.data_path(&format!("sobjects/{}", segment(object))),
        }
    }

    // --- OAuth ---------------------------------------------------------------------

    /// Gets an access token with the refresh token (done by the first call
    /// anyway). A refused refresh token is remembered: later calls fail at once.
    pub fn authenticate(&mut self) -> Result<(), ClientError> {
        if let Some(reason) = &self.reconnect_required {
            return Err(ClientError::ReconnectRequired(reason.clone()));
        }
        self.config.validate()?;
        self.session = None;

        let form = wire::form_encode(&[
            ("grant_type", "refresh_token"),
            ("client_id", self.config.client_id.trim()),
            ("client_secret", self.config.client_secret.trim()),
            ("refresh_token", self.config.refresh_token.trim()),
        ]);
        let request = HttpRequest {
            method: Method::Post,
            url: format!("{}{TOKEN_PATH}", self.config.login_url.trim().trim_end_matches('/')),
            headers: vec![
                ("Content-Type".into(), "application/x-www-form-urlencoded".into()),
                ("Accept".into(), JSON.into()),
            ],
            body: Some(form.into_bytes()),
        };
        self.token_calls += 1;
        let sent_at = local_now();
        let response = self
            .transport
            .send(&request)
            .map_err(|error| self.transport_error("token request", &request.url, error))?;
        self.note_server_time(&response, sent_at);

        if (200..300).contains(&response.status) {
            // The body holds the access token: no error below quotes it.
            let token: wire::TokenResponse = serde_json::from_slice(&response.body).map_err(|e| {
                ClientError::MalformedResponse(format!(
                    "token request: HTTP {} answer is not the expected token JSON ({:?} error at line {} column {})",
                    response.status,
                    e.classify(),
                    e.line(),
                    e.column()
                ))
            })?;
            let access_token = token.access_token.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                ClientError::MalformedResponse("token request: the answer has no access_token".into())
            })?;
            let instance_url = token
                .instance_url
                .map(|url| url.trim().trim_end_matches('/').to_string())
                .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
                .ok_or_else(|| {
                    ClientError::MalformedResponse("token request: the answer has no http(s) instance_url".into())
                })?;
            if let Some(user_id) = token.id.as_deref().and_then(identity_user_id) {
                self.identity_user_id = Some(user_id);
            }
            self.session =
                Some(Session { access_token, instance_url, identity_user_id: self.identity_user_id.clone() });
            self.session_is_new = true;
            return Ok(());
        }

        if (400..500).contains(&response.status)
            && let Ok(refusal) = serde_json::from_slice::<wire::OAuthError>(&response.body)
        {
            let reason = self.scrub(&reconnect_reason(&refusal));
            self.reconnect_required = Some(reason.clone());
            return Err(ClientError::ReconnectRequired(reason));
        }
        Err(self.error_from_response("token request", &response))
    }

    // --- query and search ----------------------------------------------------------

    /// Every record a SOQL query returns, following `nextRecordsUrl` until done
    /// (each page is one call).
    pub fn query(&mut self, soql: &str) -> Result<Vec<Value>, ClientError> {
        self.query_records("query", soql)
    }

    /// Like [`query`](Self::query), including deleted and archived rows (`/queryAll`).
    pub fn query_all(&mut self, soql: &str) -> Result<Vec<Value>, ClientError> {
        self.query_records("queryAll", soql)
    }

    /// The first page of a SOQL query.
    pub fn query_page(&mut self, soql: &str) -> Result<QueryPage, ClientError> {
        let path = self.query_path(soql);
        self.fetch_page("query", path)
    }

    /// `/services/data/vXX.X/query?q=…` with the SOQL encoded: the URL of a
    /// query subrequest in a composite call.
    pub fn query_path(&self, soql: &str) -> String {
        self.data_path(&format!("query?q={}", wire::percent_encode(soql)))
    }

    /// Every record of a query result already in hand (a composite query
    /// subrequest's body), following its `nextRecordsUrl` until done.
    pub fn all_records(&mut self, query_result: Value) -> Result<Vec<Value>, ClientError> {
        let page = <wire::QueryResponse as serde::Deserialize>::deserialize(&query_result).map_err(|e| {
            let body = query_result.to_string();
            ClientError::MalformedResponse(format!(
                "query (composite): expected a query result ({e}): {}",
                wire::snippet(body.as_bytes(), SNIPPET_CHARS)
            ))
        })?;
        self.collect_pages("query", page.into())
    }

    /// The page at a `nextRecordsUrl` Salesforce returned, requested verbatim.
    pub fn query_more(&mut self, next_records_url: &str) -> Result<QueryPage, ClientError> {
        let path = self.instance_path(next_records_url).ok_or_else(|| {
            ClientError::MalformedResponse(format!(
                "query: nextRecordsUrl `{}` is not a path on the instance",
                wire::snippet(next_records_url.as_bytes(), SNIPPET_CHARS)
            ))
        })?;
        self.fetch_page("query (next page)", path)
    }

    fn query_records(&mut self, resource: &str, soql: &str) -> Result<Vec<Value>, ClientError> {
        let path = self.data_path(&format!("{resource}?q={}", wire::percent_encode(soql)));
        let page = self.fetch_page(resource, path)?;
        self.collect_pages(resource, page)
    }

    /// The records of `page` and of every page after it.
    fn collect_pages(&mut self, resource: &str, mut page: QueryPage) -> Result<Vec<Value>, ClientError> {
        let mut records = std::mem::take(&mut page.records);
        let mut visited = HashSet::new();
        while !page.done {
            let next = page.next_records_url.take().ok_or_else(|| {
                ClientError::MalformedResponse(format!("{resource}: a page says done=false but has no nextRecordsUrl"))
            })?;
            if !visited.insert(next.clone()) {
                return Err(ClientError::MalformedResponse(format!(
                    "{resource}: nextRecordsUrl `{next}` was already followed"
                )));
            }
            page = self.query_more(&next)?;
            records.append(&mut page.records);
        }
        Ok(records)
    }

    fn fetch_page(&mut self, label: &str, path: String) -> Result<QueryPage, ClientError> {
        let response = self.rest(RestCall::new(label, Method::Get, path))?;
        let page: wire::QueryResponse = self.parse(label, "a query result", &response)?;
        Ok(page.into())
    }

    /// The records a SOSL search finds (`searchRecords`). Escape search terms
    /// with `crate::salesforce::escape::sosl_term`.
    pub fn search(&mut self, sosl: &str) -> Result<Vec<Value>, ClientError> {
        let path = self.data_path(&format!("search/?q={}", wire::percent_encode(sosl)));
        let response = self.rest(RestCall::new("search", Method::Get, path))?;
        match self.parse::<wire::SearchResponse>("search", "a search result", &response)? {
            wire::SearchResponse::Wrapped { search_records } => Ok(search_records),
            wire::SearchResponse::Bare(records) => Ok(records),
        }
    }

    // --- reads ---------------------------------------------------------------------

    /// `GET /sobjects/{object}/describe`, the JSON body as it came.
    pub fn describe(&mut self, object: &str) -> Result<String, ClientError> {
        let label = format!("describe {object}");
        let path = self.data_path(&format!("sobjects/{}/describe", segment(object)));
        let response = self.rest(RestCall::new(&label, Method::Get, path))?;
        String::from_utf8(response.body)
            .map_err(|e| ClientError::MalformedResponse(format!("{label}: the body is not UTF-8 text ({e})")))
    }

    /// A GET under `/services/data/vXX.X/` (e.g. `sobjects/Case/updated/?start=…&end=…`,
    /// query parameters already encoded), the JSON answer; `null` for an empty body.
    pub fn get_json(&mut self, path: &str) -> Result<Value, ClientError> {
        let label = format!("GET {}", path.split('?').next().unwrap_or(path));
        let full = self.data_path(path);
        let response = self.rest(RestCall::new(&label, Method::Get, full))?;
        if response.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        self.parse(&label, "JSON", &response)
    }

    /// The raw bytes at a path on the instance (e.g. a ContentVersion's
    /// `/services/data/v62.0/sobjects/ContentVersion/068…/VersionData`).
    /// An absolute URL is accepted only on the instance itself: the access
    /// token goes to no other host.
    pub fn get_bytes(&mut self, path: &str) -> Result<Vec<u8>, ClientError> {
        if !path.starts_with('/') && self.session.is_none() {
            self.authenticate()?;
        }
        let relative = self.instance_path(path).ok_or_else(|| {
            ClientError::Unsupported(format!(
                "get_bytes: `{}` is neither a path nor a URL on the org's instance; the access token is sent nowhere else",
                wire::snippet(path.as_bytes(), SNIPPET_CHARS)
            ))
        })?;
        let mut call = RestCall::new("download", Method::Get, relative);
        call.accept = "*/*";
        Ok(self.rest(call)?.body)
    }

    /// `GET /limits`; also updates [`last_usage`](Self::last_usage).
    pub fn limits(&mut self) -> Result<Limits, ClientError> {
        let path = self.data_path("limits");
        let response = self.rest(RestCall::new("limits", Method::Get, path))?;
        let raw: Value = self.parse("limits", "the limits JSON", &response)?;
        let parsed = <wire::LimitsResponse as serde::Deserialize>::deserialize(&raw)
            .map_err(|e| ClientError::MalformedResponse(format!("limits: no readable DailyApiRequests ({e})")))?;
        let usage = ApiUsage {
            used: parsed.daily_api_requests.max.saturating_sub(parsed.daily_api_requests.remaining),
            max: parsed.daily_api_requests.max,
        };
        self.last_usage = Some(usage);
        Ok(Limits { daily_api_requests: usage, raw })
    }

    // --- writes --------------------------------------------------------------------

    /// Creates a record; returns its Id. Setting `OwnerId` sends
    /// `Sforce-Auto-Assign: FALSE` so assignment rules keep our owner.
    pub fn create(&mut self, object: &str, fields: &Map<String, Value>) -> Result<String, ClientError> {
        let label = format!("create {object}");
        let path = self.sobject_path(object, None);
        let mut call = RestCall::new(&label, Method::Post, path).json_body(fields)?;
        if fields.contains_key("OwnerId") {
            call = call.header(AUTO_ASSIGN_HEADER, "FALSE");
        }
        let response = self.rest(call)?;
        let saved: wire::SaveResult = self.parse(&label, "a save result", &response)?;
        if !saved.success {
            return Err(ClientError::Salesforce(save_error(response.status, saved.errors)));
        }
        saved
            .id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| self.malformed(&label, "a save result with an id", &response, None))
    }

    /// Updates a record's fields (PATCH, 204). Setting `OwnerId` sends
    /// `Sforce-Auto-Assign: FALSE`.
    pub fn update(&mut self, object: &str, id: &str, fields: &Map<String, Value>) -> Result<(), ClientError> {
        let label = format!("update {object} {id}");
        let path = self.sobject_path(object, Some(id));
        let mut call = RestCall::new(&label, Method::Patch, path).json_body(fields)?;
        if fields.contains_key("OwnerId") {
            call = call.header(AUTO_ASSIGN_HEADER, "FALSE");
        }
        self.rest(call).map(drop)
    }

    /// Deletes a record (204).
    pub fn delete(&mut self, object: &str, id: &str) -> Result<(), ClientError> {
        let label = format!("delete {object} {id}");
        let path = self.sobject_path(object, Some(id));
        self.rest(RestCall::new(&label, Method::Delete, path)).map(drop)
    }

    /// Runs SOQL queries as composite query subrequests (five per call, the
    /// most Salesforce allows), following each result's further pages; returns
    /// each query's records by reference id, in order.
    pub fn query_many(&mut self, queries: &[(String, String)]) -> Result<Vec<(String, Vec<Value>)>, ClientError> {
        let mut results = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(MAX_COMPOSITE_QUERIES) {
            let subrequests = chunk
                .iter()
                .map(|(reference, soql)| Subrequest::new(Method::Get, self.query_path(soql), reference.clone()))
                .collect();
            for response in self.composite(false, subrequests)? {
                if !response.is_success() {
                    return Err(ClientError::from_subresponse(&response));
                }
                let records = self.all_records(response.body)?;
                results.push((response.reference_id, records));
            }
        }
        Ok(results)
    }

    /// Runs subrequests through `POST /composite`, one call per 25. More than 25
    /// are split into several requests only when `all_or_none` is false (a
    /// later request cannot then refer to an earlier one's `@{ref}`); with
    /// `all_or_none` they are refused. Results come in request order. A
    /// subrequest body that sets `OwnerId` gets `Sforce-Auto-Assign: FALSE`.
    ///
    /// When a later request of a split fails as a whole, the error is returned
    /// and the results of the earlier ones, already applied, are not.
    pub fn composite(
        &mut self,
        all_or_none: bool,
        subrequests: Vec<Subrequest>,
    ) -> Result<Vec<SubResponse>, ClientError> {
        if subrequests.is_empty() {
            return Ok(Vec::new());
        }
        if all_or_none && subrequests.len() > MAX_COMPOSITE_SUBREQUESTS {
            return Err(ClientError::Unsupported(format!(
                "composite: {} subrequests in one all-or-none request; Salesforce runs at most {MAX_COMPOSITE_SUBREQUESTS}",
                subrequests.len()
            )));
        }
        self.check_budget_for(subrequests.len().div_ceil(MAX_COMPOSITE_SUBREQUESTS))?;

        let mut results = Vec::with_capacity(subrequests.len());
        for chunk in subrequests.chunks(MAX_COMPOSITE_SUBREQUESTS) {
            results.extend(self.composite_request(all_or_none, chunk)?);
        }
        Ok(results)
    }

    fn composite_request(&mut self, all_or_none: bool, chunk: &[Subrequest]) -> Result<Vec<SubResponse>, ClientError> {
        let composite_request = chunk
            .iter()
            .map(|sub| {
                let mut http_headers = BTreeMap::new();
                let sets_owner =
                    sub.body.as_ref().and_then(Value::as_object).is_some_and(|b| b.contains_key("OwnerId"));
                if sets_owner && matches!(sub.method, Method::Post | Method::Patch) {
                    http_headers.insert(AUTO_ASSIGN_HEADER, "FALSE");
                }
                http_headers.extend(sub.headers.iter().copied());
                wire::CompositeSubrequest {
                    method: sub.method.as_str(),
                    url: &sub.url,
                    reference_id: &sub.reference_id,
                    body: sub.body.as_ref(),
                    http_headers,
                }
            })
            .collect();
        let body = wire::CompositeRequest { all_or_none, composite_request };
        let path = self.data_path("composite");
        let call = RestCall::new("composite", Method::Post, path).json_body(&body)?;
        let response = self.rest(call)?;
        let parsed: wire::CompositeResponse = self.parse("composite", "a composite response", &response)?;
        Ok(parsed
            .composite_response
            .into_iter()
            .map(|sub| SubResponse { reference_id: sub.reference_id, status: sub.http_status_code, body: sub.body })
            .collect())
    }

    /// Updates records through `PATCH /composite/sobjects`, one call per 200;
    /// one result per record, in order (`Err` with Salesforce's `statusCode`).
    /// More than 200 with `all_or_none` are refused (they would not be atomic).
    pub fn collection_update(
        &mut self,
        records: Vec<RecordUpdate>,
        all_or_none: bool,
    ) -> Result<Vec<Result<(), ApiError>>, ClientError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        if all_or_none && records.len() > MAX_COLLECTION_RECORDS {
            return Err(ClientError::Unsupported(format!(
                "collection update: {} records in one all-or-none request; Salesforce takes at most {MAX_COLLECTION_RECORDS}",
                records.len()
            )));
        }
        self.check_budget_for(records.len().div_ceil(MAX_COLLECTION_RECORDS))?;

        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(MAX_COLLECTION_RECORDS) {
            results.extend(self.collection_request(all_or_none, chunk)?);
        }
        Ok(results)
    }

    fn collection_request(
        &mut self,
        all_or_none: bool,
        chunk: &[RecordUpdate],
    ) -> Result<Vec<Result<(), ApiError>>, ClientError> {
        let sets_owner = chunk.iter().any(|record| record.fields.contains_key("OwnerId"));
        let records = chunk
            .iter()
            .map(|record| {
                let mut body = Map::new();
                body.insert("attributes".into(), serde_json::json!({ "type": record.object }));
                body.insert("id".into(), Value::String(record.id.clone()));
                for (name, value) in &record.fields {
                    if !matches!(name.as_str(), "attributes" | "id" | "Id") {
                        body.insert(name.clone(), value.clone());
                    }
                }
                body
            })
            .collect();
        let path = self.data_path("composite/sobjects");
        let mut call = RestCall::new("collection update", Method::Patch, path)
            .json_body(&wire::CollectionRequest { all_or_none, records })?;
        if sets_owner {
            call = call.header(AUTO_ASSIGN_HEADER, "FALSE");
        }
        let response = self.rest(call)?;
        let saved: Vec<wire::SaveResult> = self.parse("collection update", "a list of save results", &response)?;
        if saved.len() != chunk.len() {
            return Err(self.malformed(
                "collection update",
                &format!("{} save results (one per record)", chunk.len()),
                &response,
                None,
            ));
        }
        Ok(saved
            .into_iter()
            .map(|result| if result.success { Ok(()) } else { Err(save_error(400, result.errors)) })
            .collect())
    }

    // --- the REST exchange -----------------------------------------------------------

    /// Sends a REST call: authenticates when needed, refreshes the token and
    /// retries once on 401, and turns any non-2xx answer into an error.
    fn rest(&mut self, call: RestCall<'_>) -> Result<HttpResponse, ClientError> {
        // A spent budget sends nothing, not even a token request.
        self.check_budget_for(1)?;
        if self.session.is_none() {
            self.authenticate()?;
        }
        let mut response = self.send_once(&call)?;
        if response.status == 401 {
            self.authenticate()?;
            response = self.send_once(&call)?;
            if response.status == 401 {
                return Err(self.session_refused(call.label, &response));
            }
        }
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(self.error_from_response(call.label, &response))
        }
    }

    fn send_once(&mut self, call: &RestCall<'_>) -> Result<HttpResponse, ClientError> {
        self.check_budget_for(1)?;
        if self.session.is_none() {
            self.authenticate()?;
        }
        let Some(session) = &self.session else {
            return Err(ClientError::Transport(format!("{}: no session after authenticating", call.label)));
        };
        let mut headers = vec![
            ("Authorization".to_string(), format!("Bearer {}", session.access_token)),
            ("Accept".to_string(), call.accept.to_string()),
            ("Sforce-Call-Options".to_string(), CALL_OPTIONS.to_string()),
        ];
        if call.body.is_some() {
            headers.push(("Content-Type".into(), JSON.into()));
        }
        headers.extend(call.headers.iter().cloned());
        let request = HttpRequest {
            method: call.method,
            url: format!("{}{}", session.instance_url, call.path),
            headers,
            body: call.body.clone(),
        };

        self.calls += 1;
        let sent_at = local_now();
        let response =
            self.transport.send(&request).map_err(|error| self.transport_error(call.label, &request.url, error))?;
        if let Some(usage) = response.header("Sforce-Limit-Info").and_then(parse_limit_info) {
            self.last_usage = Some(usage);
        }
        self.note_server_time(&response, sent_at);
        Ok(response)
    }

    fn check_budget_for(&self, calls: usize) -> Result<(), ClientError> {
        let needed = u32::try_from(calls).unwrap_or(u32::MAX);
        if self.calls.saturating_add(needed) > self.config.call_budget {
            return Err(ClientError::BudgetExhausted { used: self.calls, budget: self.config.call_budget });
        }
        Ok(())
    }

    /// A path on the instance for `url`: a `/path` as is, or an absolute URL
    /// that starts with the session's instance URL. Anything else: `None`.
    fn instance_path(&self, url: &str) -> Option<String> {
        if url.starts_with('/') && !url.starts_with("//") {
            return Some(url.to_string());
        }
        let instance = &self.session.as_ref()?.instance_url;
        url.strip_prefix(instance.as_str())
            .filter(|rest| rest.starts_with('/') && !rest.starts_with("//"))
            .map(str::to_string)
    }

    // --- turning answers into values and errors ----------------------------------------

    fn parse<D: DeserializeOwned>(&self, label: &str, what: &str, response: &HttpResponse) -> Result<D, ClientError> {
        serde_json::from_slice(&response.body).map_err(|e| self.malformed(label, what, response, Some(e)))
    }

    fn malformed(
        &self,
        label: &str,
        what: &str,
        response: &HttpResponse,
        error: Option<serde_json::Error>,
    ) -> ClientError {
        let reason = error.map(|e| format!(" ({e})")).unwrap_or_default();
        ClientError::MalformedResponse(self.scrub(&format!(
            "{label}: expected {what}, got HTTP {}{reason}: {}",
            response.status,
            wire::snippet(&response.body, SNIPPET_CHARS)
        )))
    }

    fn transport_error(&self, label: &str, url: &str, error: TransportError) -> ClientError {
        ClientError::Transport(self.scrub(&format!("{label} to {}: {error}", url_authority(url))))
    }

    /// A non-2xx answer as an error: Salesforce's error list when it is one.
    fn error_from_response(&self, label: &str, response: &HttpResponse) -> ClientError {
        let status = response.status;
        match wire::parse_api_error(status, &response.body) {
            // "ConcurrentPerOrgLongTxn Limit exceeded." shares the code but passes in seconds.
            Some(error)
                if status == 403 && error.code == "REQUEST_LIMIT_EXCEEDED" && !error.message.contains("Concurrent") =>
            {
                ClientError::ApiLimit(self.last_usage.unwrap_or_default())
            }
            Some(mut error) => {
                error.message = self.scrub(&error.message);
                ClientError::Salesforce(error)
            }
            None => ClientError::Salesforce(ApiError {
                status,
                code: String::new(),
                message: self.scrub(&format!(
                    "{label}: HTTP {status} with a body that is not Salesforce's error list: {}",
                    wire::snippet(&response.body, SNIPPET_CHARS)
                )),
                fields: Vec::new(),
            }),
        }
    }

    fn session_refused(&self, label: &str, response: &HttpResponse) -> ClientError {
        let mut error = wire::parse_api_error(response.status, &response.body).unwrap_or_else(|| ApiError {
            status: response.status,
            code: String::new(),
            message: String::new(),
            fields: Vec::new(),
        });
        error.message = self.scrub(&format!(
            "{label}: {} (refused again right after a token refresh: check the connected app's session and IP policies and the user's API access)",
            if error.message.is_empty() { "session refused" } else { &error.message }
        ));
        ClientError::Salesforce(error)
    }

    // --- the Streaming API ------------------------------------------------------------

    /// The session, authenticating first when there is none (for the
    /// Streaming API, whose requests are sent by [`Self::send_streaming`]
    /// and by the host).
    pub fn current_session(&mut self) -> Result<Session, ClientError> {
        if self.session.is_none() {
            self.authenticate()?;
        }
        self.session.clone().ok_or_else(|| ClientError::Transport("no session after authenticating".into()))
    }

    /// Sends one CometD request (JSON `body`, POST to `url` with the session's
    /// token and `cookies`). Not a REST API call: not counted against the
    /// budget. Any HTTP answer is returned; a transport failure is an error.
    pub fn send_streaming(
        &mut self,
        url: &str,
        body: &Value,
        cookies: Option<&str>,
    ) -> Result<HttpResponse, ClientError> {
        let session = self.current_session()?;
        let mut headers = streaming_headers(&session.access_token);
        if let Some(cookies) = cookies.filter(|c| !c.is_empty()) {
            headers.push(("Cookie".into(), cookies.to_string()));
        }
        let request = HttpRequest {
            method: Method::Post,
            url: url.to_string(),
            headers,
            body: Some(serde_json::to_vec(body).unwrap_or_default()),
        };
        let sent_at = local_now();
        let response = self.transport.send(&request).map_err(|error| self.transport_error("streaming", url, error))?;
        self.note_server_time(&response, sent_at);
        Ok(response)
    }

    /// Removes any secret from text bound for an error.
    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_string();
        let access_token = self.session.as_ref().map(|s| s.access_token.as_str());
        for secret in [Some(self.config.client_secret.as_str()), Some(self.config.refresh_token.as_str()), access_token]
            .into_iter()
            .flatten()
        {
            let secret = secret.trim();
            if !secret.is_empty() {
                text = text.replace(secret, "[redacted]");
                let encoded = wire::percent_encode(secret);
                if encoded != secret {
                    text = text.replace(&encoded, "[redacted]");
                }
            }
        }
        text
    }
}

/// The headers of a CometD request: the bearer token and JSON both ways.
pub fn streaming_headers(access_token: &str) -> Vec<(String, String)> {
    vec![
        ("Authorization".into(), format!("Bearer {access_token}")),
        ("Content-Type".into(), JSON.into()),
        ("Accept".into(), JSON.into()),
    ]
}

/// The local wall clock, ms since the epoch (`wasi:clocks` in the component).
fn local_now() -> crate::model::Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What to tell the user when the token endpoint refuses.
fn reconnect_reason(refusal: &wire::OAuthError) -> String {
    let description = refusal.error_description.as_deref().unwrap_or("no description");
    match refusal.error.as_str() {
        "invalid_grant" => format!(
            "Salesforce refused the refresh token (invalid_grant: {description}): it has expired or been revoked. Connect the org again."
        ),
        "invalid_client_id" | "invalid_client" | "unauthorized_client" => format!(
            "Salesforce refused the connected app's credentials ({}: {description}): check the client id and secret, then connect the org again.",
            refusal.error
        ),
        other => {
            format!("Salesforce refused to issue an access token ({other}: {description}): connect the org again.")
        }
    }
}

/// `https://login.salesforce.com/id/00D…/005…` → `005…`.
fn identity_user_id(identity_url: &str) -> Option<String> {
    let last = identity_url.trim_end_matches('/').rsplit('/').next()?;
    (last.len() >= 15 && last.starts_with("005") && last.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| last.to_string())
}

/// A failed save's errors as one [`ApiError`].
fn save_error(status: u16, errors: Vec<wire::ErrorItem>) -> ApiError {
    wire::api_error_from_items(status, errors).unwrap_or_else(|| ApiError {
        status,
        code: String::new(),
        message: "the record was not saved and Salesforce gave no reason".into(),
        fields: Vec::new(),
    })
}

/// A path segment (object name or Id), encoded so it cannot leave its segment.
fn segment(text: &str) -> String {
    wire::percent_encode(text)
}
