//! The emulator's HTTP server: a local Salesforce org on three TCP ports.
//!
//! ```no_run
//! use casebridge_emulator::{EmulatorOptions, Seed};
//!
//! let emulator = casebridge_emulator::spawn(EmulatorOptions { seed: Seed::Demo, ..Default::default() }).unwrap();
//! let creds = emulator.credentials();
//! // Any Salesforce client can now log in at `creds.url` with the refresh token,
//! // the username and password, or the client credentials flow, and then
//! // call the REST API at the token response's `instance_url` (`creds.instance_url`).
//! println!("{}", creds.to_json_line());
//! assert_eq!(emulator.counters().total, 0);
//! emulator.shutdown();
//! ```
//!
//! Like a real org, it has two origins. The **login origin** ([`RunningEmulator::url`],
//! as `https://login.salesforce.com`) serves only OAuth (`/services/oauth2/token`,
//! `/services/oauth2/userinfo`, `/id/…`) and the admin API; anything else
//! there is 404 `NOT_FOUND`, so a client that sends REST calls to the login
//! host fails visibly. The **instance origin** ([`RunningEmulator::instance_url`],
//! as `https://acme.my.salesforce.com`) serves everything: the REST API
//! `/services/data/vXX.X/…` (query, search, sObjects, composite, limits),
//! the Streaming API's CometD endpoint `/cometd/XX.X` (Change Data Capture,
//! see [`streaming`]), OAuth too (a My Domain host serves it), and the admin API. The
//! **messaging origin** ([`RunningEmulator::scrt_url`], as
//! `https://acme.my.salesforce-scrt.com`) serves Messaging for In-App and
//! Web, the customer side of Salesforce's messaging (`/iamessage/api/v2/…`
//! and the `/eventrouter/v1/sse` event stream, see [`messaging`]), and the
//! admin API; it serves neither OAuth nor REST.
//!
//! What a client sees is Salesforce's REST API, with Salesforce's bodies,
//! status codes, `Sforce-Limit-Info` header, and a `Date` header from the
//! emulator clock on every response. What a test sees in addition is
//! [`RunningEmulator`] in Rust and the admin paths under `/__emulator/` over
//! HTTP (see [`admin`]): counters, faults, the clock, limits, sessions and
//! bulk seeding.
//!
//! The org's state lives behind one mutex ([`org::Org`]); every request handler
//! works on it synchronously and never holds it across an `.await`, so the only
//! suspension points are the injected latency and the network. A request runs
//! to completion once it has arrived, whether or not its client is still
//! connected, as on Salesforce.

pub mod admin;
mod api;
mod clock;
mod composite;
mod faults;
mod messaging;

/// The developer name of the demo org's Embedded Service deployment (a
/// Custom Client with the standard pre-chat parameters and `user_user_id`).
pub use messaging::DEFAULT_DEPLOYMENT as MESSAGING_DEPLOYMENT;
mod oauth;
mod org;
mod query;
mod request;
mod resources;
mod response;
mod sessions;
mod sobjects;
pub mod streaming;
mod usage;
mod versions;
mod web_flow;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{any, get, post};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::db::Database;
use crate::error::SfError;
use crate::schema::FieldDef;
use crate::seed::{BulkSeed, BulkSeedError, BulkSeeded, Seed, SeededOrg};

pub use faults::{Fault, FaultKind, FaultTarget, Repeat};
pub use streaming::{StreamingCounters, StreamingSettings};
pub use usage::{ApiUsage, CallCounters};

use faults::ConnectionControl;
use org::{Emulator, Origins};

/// Salesforce's default session timeout: two hours.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(2 * 60 * 60);

/// The daily API allowance of a Developer Edition org.
pub const DEFAULT_DAILY_API_LIMIT: u64 = 15_000;

/// Largest request body accepted. Salesforce takes files up to 50 MB through
/// the REST API (base64 in JSON makes them a third larger), so uploads of
/// realistic attachments must fit; axum's default of 2 MB does not.
const MAX_REQUEST_BODY: usize = 70 * 1024 * 1024;

/// How to start an emulator. `EmulatorOptions::default()` is a demo org on
/// free loopback ports with Salesforce's default limits.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Where the login origin listens; port 0 picks a free port (read it back
    /// from [`RunningEmulator::url`]).
    pub listen: SocketAddr,
    /// Where the instance origin listens. `None`: on `listen`'s address, at
    /// the port after `listen`'s (so a fixed login port gives a predictable
    /// instance port), or at a free port when `listen`'s port is 0 (read it
    /// back from [`RunningEmulator::instance_url`]).
    pub instance_listen: Option<SocketAddr>,
    /// Where the messaging origin listens. `None`: on `listen`'s address, at
    /// the port after the instance origin's when `listen`'s port is fixed,
    /// else at a free port (read it back from [`RunningEmulator::scrt_url`]).
    pub scrt_listen: Option<SocketAddr>,
    /// The records the org starts with.
    pub seed: Seed,
    /// How long an access token stays valid after it is issued (emulator clock).
    pub token_ttl: Duration,
    /// API calls allowed per rolling 24 hours before `REQUEST_LIMIT_EXCEEDED`.
    pub daily_api_limit: u64,
    /// Custom fields added to the schema before seeding: `(object, field)`.
    pub custom_fields: Vec<(String, FieldDef)>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            instance_listen: None,
            scrt_listen: None,
            seed: Seed::Demo,
            token_ttl: DEFAULT_TOKEN_TTL,
            daily_api_limit: DEFAULT_DAILY_API_LIMIT,
            custom_fields: Vec::new(),
        }
    }
}

/// What a client needs to connect to the emulated org as its integration user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The login URL: where the token endpoint is (`https://login.salesforce.com`'s role).
    pub url: String,
    /// The instance URL: where the REST API is, as the token response's
    /// `instance_url` says (`https://acme.my.salesforce.com`'s role).
    pub instance_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub username: String,
    pub password: String,
    /// The messaging URL: where Messaging for In-App and Web is
    /// (`https://acme.my.salesforce-scrt.com`'s role).
    #[serde(default)]
    pub scrt_url: String,
    /// The org's 18-character id (`00D…`), which the messaging API asks for.
    #[serde(default)]
    pub org_id: String,
}

impl Credentials {
    /// The one-line JSON object `casebridge emulator` prints first on stdout:
    /// `{"url":…,"instance_url":…,"client_id":…,"client_secret":…,"refresh_token":…,"username":…,"password":…,"scrt_url":…,"org_id":…}`.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A running emulator. Dropping it stops the server; [`RunningEmulator::shutdown`]
/// also waits for a [`spawn`]ed server's thread to finish.
pub struct RunningEmulator {
    emulator: Arc<Emulator>,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("url", &self.emulator.origins.login_url)
            .field("instance_url", &self.emulator.origins.instance_url)
            .field("scrt_url", &self.emulator.origins.scrt_url)
            .finish_non_exhaustive()
    }
}

/// Starts an emulator on the current tokio runtime.
pub async fn start(options: EmulatorOptions) -> anyhow::Result<RunningEmulator> {
    let (login, login_address) = listen(options.listen, "login").await?;
    let instance_address = options.instance_listen.unwrap_or_else(|| {
        // Past the last port there is no next one: take a free port then too.
        let port = if options.listen.port() == 0 { 0 } else { login_address.port().checked_add(1).unwrap_or(0) };
        SocketAddr::new(options.listen.ip(), port)
    });
    let (instance, instance_address) = listen(instance_address, "instance").await?;
    let scrt_address = options.scrt_listen.unwrap_or_else(|| {
        let port = if options.listen.port() == 0 { 0 } else { instance_address.port().checked_add(1).unwrap_or(0) };
        SocketAddr::new(options.listen.ip(), port)
    });
    let (scrt, scrt_address) = listen(scrt_address, "messaging").await?;
    let origins = Origins {
        login_url: base_url(login_address),
        instance_url: base_url(instance_address),
        scrt_url: base_url(scrt_address),
    };
    let emulator = Arc::new(Emulator::new(origins, &options)?);
    let (shutdown, stop) = watch::channel(false);
    tokio::spawn(serve(login, login_router(emulator.clone()), stop.clone()));
    tokio::spawn(serve(instance, instance_router(emulator.clone()), stop.clone()));
    tokio::spawn(serve(scrt, scrt_router(emulator.clone()), stop));
    Ok(RunningEmulator { emulator, shutdown, thread: None })
}

/// Binds one origin's listener and returns it with the address it got.
async fn listen(address: SocketAddr, origin: &str) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} for the {origin} origin (is the port taken?)"))?;
    let bound = listener.local_addr().with_context(|| format!("the {origin} socket has no local address"))?;
    Ok((listener, bound))
}

/// Starts an emulator on its own thread with its own tokio runtime, for
/// synchronous code (tests, tools). Returns once it accepts connections.
pub fn spawn(options: EmulatorOptions) -> anyhow::Result<RunningEmulator> {
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("salesforce-emulator".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = started_tx.send(Err(anyhow::Error::new(e).context("cannot start a tokio runtime")));
                    return;
                }
            };
            runtime.block_on(async move {
                match start(options).await {
                    Ok(running) => {
                        let mut stop = running.shutdown.subscribe();
                        if started_tx.send(Ok(running)).is_ok() {
                            while !*stop.borrow_and_update() {
                                if stop.changed().await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                    }
                }
            });
        })
        .context("cannot start the emulator thread")?;
    let mut running = started_rx.recv().context("the emulator thread stopped before it started")??;
    running.thread = Some(thread);
    Ok(running)
}

/// Serves a seeded org until Ctrl-C: the `casebridge emulator` command. The
/// login origin listens at `listen`, the instance origin at the next port
/// and the messaging origin at the one after (or at free ports when
/// `listen`'s port is 0). Once all three accept connections it prints
/// [`Credentials::to_json_line`] as the first line on stdout.
pub async fn run_cli(listen: SocketAddr, seed: Seed) -> anyhow::Result<()> {
    use std::io::Write as _;
    let running = start(EmulatorOptions { listen, seed, ..Default::default() }).await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", running.credentials().to_json_line()).context("cannot write to stdout")?;
        stdout.flush().context("cannot write to stdout")?;
    }
    tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
    running.shutdown();
    Ok(())
}

impl RunningEmulator {
    /// The login URL, e.g. `http://127.0.0.1:41234`: OAuth and the admin API.
    pub fn url(&self) -> &str {
        &self.emulator.origins.login_url
    }

    /// The instance URL, e.g. `http://127.0.0.1:41235`: the REST API (and OAuth
    /// and the admin API too), as a token response's `instance_url` says.
    pub fn instance_url(&self) -> &str {
        &self.emulator.origins.instance_url
    }

    /// The messaging URL, e.g. `http://127.0.0.1:41236`: Messaging for In-App
    /// and Web (`/iamessage/api/v2/…`, `/eventrouter/v1/sse`) and the admin API.
    pub fn scrt_url(&self) -> &str {
        &self.emulator.origins.scrt_url
    }

    /// The org's 18-character id (`00D…`).
    pub fn org_id(&self) -> String {
        self.emulator.org().org_id.clone()
    }

    /// The integration user's credentials and the connected app's keys.
    pub fn credentials(&self) -> Credentials {
        self.emulator.credentials()
    }

    /// Ids of the records the seed created (users, queues, cases …).
    pub fn seeded(&self) -> &SeededOrg {
        &self.emulator.seeded
    }

    /// API calls counted so far, in total and by endpoint (`"GET /query"`).
    pub fn counters(&self) -> CallCounters {
        self.emulator.counters()
    }

    /// Sets every counter back to zero (the daily allowance is not touched).
    pub fn reset_counters(&self) {
        self.emulator.reset_counters();
    }

    /// The daily allowance: calls used in the current 24 hours and the maximum.
    pub fn api_usage(&self) -> ApiUsage {
        self.emulator.org().usage()
    }

    /// Sets the calls used so far and/or the daily maximum.
    pub fn set_api_usage(&self, used: Option<u64>, max: Option<u64>) {
        self.emulator.org().set_usage(used, max);
    }

    /// Queues a fault for the next matching requests.
    pub fn inject(&self, fault: Fault) {
        self.emulator.faults().push(fault);
    }

    /// Removes every queued fault.
    pub fn clear_faults(&self) {
        self.emulator.faults().clear();
    }

    /// Every messaging session, as `GET /__emulator/messaging/sessions` lists them.
    pub fn messaging_sessions(&self) -> serde_json::Value {
        self.emulator.org().messaging.sessions_json(None)["sessions"].clone()
    }

    /// A messaging conversation with its sessions, entries and sends, as
    /// `GET /__emulator/messaging/conversations/{id}` shows it.
    pub fn messaging_conversation(&self, reference: &str) -> Result<serde_json::Value, String> {
        self.emulator.org().messaging.conversation_json(reference)
    }

    /// The seeded hand-off user (the integration user in an empty org)
    /// accepts a waiting messaging session (or a conversation's latest).
    pub fn accept_messaging_session(&self, reference: &str) -> Result<serde_json::Value, String> {
        let mut org = self.emulator.org();
        let agent = self.emulator.seeded.handoff_user_id.clone().unwrap_or_else(|| org.integration_user_id.clone());
        messaging::accept(&mut org, reference, &agent)
    }

    /// The accepted agent writes to the customer.
    pub fn agent_writes(&self, reference: &str, text: &str) -> Result<serde_json::Value, String> {
        messaging::agent_message(&mut self.emulator.org(), reference, text)
    }

    /// Makes routing of new messaging sessions fail with `reason` (`None`: route again).
    pub fn fail_messaging_routing(&self, reason: Option<&str>) {
        self.emulator.org().messaging.set_routing_failure(reason.map(str::to_string));
    }

    /// The agent ends the session.
    pub fn end_messaging_session(&self, reference: &str) -> Result<serde_json::Value, String> {
        messaging::end(&mut self.emulator.org(), reference)
    }

    /// Invalidates every access token, the messaging API's too (refresh tokens stay valid).
    pub fn expire_sessions(&self) {
        self.emulator.org().expire_sessions();
    }

    /// Moves the emulator clock forward: record timestamps, token expiry,
    /// query locator expiry and the daily allowance all follow it.
    pub fn advance_clock(&self, by: Duration) {
        self.emulator.clock.advance(by);
    }

    /// The emulator clock's current time (what responses' `Date` header says).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.emulator.clock.now()
    }

    /// An access token acting as the active user with this username (a
    /// customer, another agent), as if that user had logged in.
    pub fn access_token_for(&self, username: &str) -> Result<String, SfError> {
        self.emulator.org().mint_session(username).map(|(token, _)| token)
    }

    /// Adds thousands of cases with their contacts and conversations, dated
    /// over the past (see [`BulkSeed`]); never counted as API calls. Requests
    /// wait while it runs: about 4 s for 100,000 cases (711,000 records) in a
    /// release build, 20 s in a debug build.
    pub fn bulk_seed(&self, options: &BulkSeed) -> Result<BulkSeeded, BulkSeedError> {
        self.emulator.bulk_seed(options)
    }

    /// Adds a custom field to an object, as an admin would in Setup.
    pub fn add_custom_field(&self, object: &str, field: FieldDef) -> Result<(), SfError> {
        self.emulator.org().db.schema_mut().add_custom_field(object, field)
    }

    /// Adds an active value to a picklist, as an admin does in Setup.
    pub fn add_picklist_value(&self, object: &str, field: &str, value: &str) -> Result<(), SfError> {
        self.emulator.org().db.schema_mut().add_picklist_value(object, field, value, None)
    }

    /// The streaming state, as `GET /__emulator/streaming` shows it: clients
    /// with their subscriptions, retained event count, deliveries, allocation,
    /// settings, selection.
    pub fn streaming_state(&self) -> serde_json::Value {
        let org = self.emulator.org();
        org.streaming.state_json(org.db.schema(), org.clock.now())
    }

    /// The retained change events, oldest first: `[{"replayId","entity","data"}]`.
    pub fn streaming_events(&self) -> serde_json::Value {
        self.emulator.org().streaming.events_json()
    }

    /// The streaming limits and timings in force.
    pub fn streaming_settings(&self) -> StreamingSettings {
        self.emulator.org().streaming.settings.clone()
    }

    /// Sets the connect timeout, keepalive, concurrent client limit, daily
    /// delivery allocation and retention (held connects see it at once).
    pub fn set_streaming_settings(&self, settings: StreamingSettings) {
        let mut org = self.emulator.org();
        org.streaming.settings = settings;
        org.streaming.settings_changed();
    }

    /// The entities selected for Change Data Capture.
    pub fn cdc_selection(&self) -> Vec<String> {
        self.emulator.org().streaming.selection().iter().cloned().collect()
    }

    /// Selects the entities for Change Data Capture, as Setup's Change Data
    /// Capture page does; an object without change events is refused.
    pub fn set_cdc_selection(&self, entities: &[&str]) -> Result<(), String> {
        let entities: Vec<String> = entities.iter().map(|e| e.to_string()).collect();
        self.emulator.org().set_cdc_selection(&entities)
    }

    /// Publishes a header-only gap event (`change_type` one of
    /// `GAP_CREATE`, `GAP_UPDATE`, `GAP_DELETE`, `GAP_UNDELETE`) for these
    /// records; returns its replay id.
    pub fn publish_gap(&self, entity: &str, change_type: &str, record_ids: &[&str]) -> Result<u64, String> {
        let kind = crate::db::ChangeType::parse(change_type)
            .filter(|k| k.as_str().starts_with("GAP_") && *k != crate::db::ChangeType::GapOverflow)
            .ok_or_else(|| format!("{change_type} is not a gap change type"))?;
        let ids = record_ids.iter().map(|id| id.to_string()).collect();
        self.emulator.publish_header_only(entity, kind, ids)
    }

    /// Publishes a `GAP_OVERFLOW` event for an entity; returns its replay id.
    pub fn publish_overflow(&self, entity: &str) -> Result<u64, String> {
        self.emulator.publish_header_only(entity, crate::db::ChangeType::GapOverflow, Vec::new())
    }

    /// Closes the socket of every held `/meta/connect` without an answer.
    pub fn drop_streaming_connections(&self) {
        self.emulator.org().streaming.drop_connections();
    }

    /// Forgets every CometD client: its next connect gets `403::Unknown client`.
    pub fn forget_streaming_clients(&self) {
        self.emulator.org().streaming.forget_clients();
    }

    /// Every client's next (or held) connect answers unsuccessful with
    /// `advice.reconnect:"handshake"`.
    pub fn request_streaming_rehandshake(&self) {
        self.emulator.org().streaming.request_rehandshake();
    }

    /// Direct access to the org's records for assertions and set-up. Keep the
    /// closure short: every request waits while it runs. Its writes are one
    /// transaction for Change Data Capture, with an empty `changeOrigin`.
    pub fn with_database<R>(&self, f: impl FnOnce(&mut Database) -> R) -> R {
        f(&mut self.emulator.org().db)
    }

    /// Stops the server and, for a [`spawn`]ed one, waits for its thread.
    pub fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// The URL clients use for a listening address; a wildcard address is
/// reached through loopback.
fn base_url(address: SocketAddr) -> String {
    let ip = match address.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, address.port()))
}

/// The paths both origins serve: OAuth and the admin API.
fn oauth_and_admin() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/services/oauth2/token", post(oauth::token))
        .route("/services/oauth2/authorize", get(web_flow::authorize_page).post(web_flow::authorize_submit))
        .route("/services/oauth2/revoke", post(web_flow::revoke).get(web_flow::revoke))
        .route("/services/oauth2/userinfo", get(oauth::userinfo).post(oauth::userinfo))
        .route("/id/{org_id}/{user_id}", get(oauth::identity))
        .nest("/__emulator", admin::router())
}

/// The login origin: OAuth and the admin API; everything else is not found.
fn login_router(emulator: Arc<Emulator>) -> Router {
    origin(oauth_and_admin(), emulator)
}

/// The instance origin: the REST API besides OAuth and the admin API.
fn instance_router(emulator: Arc<Emulator>) -> Router {
    let rest = Router::new()
        .route("/services/data", get(versions::list))
        .route("/services/data/", get(versions::list))
        .route("/services/data/{*rest}", any(api::handle))
        .merge(streaming::router());
    origin(oauth_and_admin().merge(rest), emulator)
}

/// The messaging origin: Messaging for In-App and Web and the admin API,
/// with the messaging API's `{"message"}` bodies for unknown paths.
fn scrt_router(emulator: Arc<Emulator>) -> Router {
    let routes = messaging::router(emulator.clone()).nest("/__emulator", admin::router());
    routes
        .fallback(messaging::not_found)
        .method_not_allowed_fallback(messaging::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .layer(axum::middleware::map_response_with_state(emulator.clone(), date_header))
        .with_state(emulator)
}

/// What every origin does around its routes: Salesforce's 404 and 405
/// bodies, the body limit, the `Date` header.
fn origin(routes: Router<Arc<Emulator>>, emulator: Arc<Emulator>) -> Router {
    routes
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .layer(axum::middleware::map_response_with_state(emulator.clone(), date_header))
        .with_state(emulator)
}

/// Every answer carries `Date` from the emulator clock, as Salesforce's carry
/// its own time: a client can read the org's "now" from any response.
async fn date_header(State(emulator): State<Arc<Emulator>>, mut response: Response) -> Response {
    if let Ok(date) = HeaderValue::from_str(&clock::http_date(emulator.clock.now())) {
        response.headers_mut().insert(header::DATE, date);
    }
    response
}

/// What Salesforce answers when it fails inside (here: a handler panicked).
fn internal_error() -> Response {
    response::ApiResponse::from(SfError::new(
        500,
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support.",
    ))
    .into_response()
}

/// Accepts connections until `stop` turns true. Each connection carries a
/// [`ConnectionControl`] so a fault can close its socket without answering,
/// which `axum::serve` cannot do.
async fn serve(listener: TcpListener, app: Router, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("emulator: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            changed = stop.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return, // the RunningEmulator is gone
            },
        };
        let app = app.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let control = ConnectionControl::default();
            let service = {
                let control = control.clone();
                tower::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(control.clone());
                    // Detached, so the request is carried out even if the
                    // client disconnects and hyper drops this future, as
                    // Salesforce carries out a request whose client is gone.
                    let handling = tokio::spawn(app.clone().oneshot(request));
                    let control = control.clone();
                    async move {
                        let response = match handling.await {
                            Ok(Ok(response)) => response,
                            Ok(Err(infallible)) => match infallible {},
                            Err(_) => internal_error(),
                        };
                        if control.is_dropped() {
                            // A fault closes this connection: no answer, ever.
                            std::future::pending::<()>().await;
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    }
                })
            };
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::select! {
                _ = connection => {}
                // Dropping the connection future closes the socket mid-request.
                _ = control.dropped() => {}
                _ = stop.changed() => {}
            }
        });
    }
}
