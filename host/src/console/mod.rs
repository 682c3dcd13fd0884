//! The admin console (E11): server-rendered pages under `/console`, served
//! by `casebridge run`'s `[api]` server (loopback by default).
//!
//! - **Login**: an admin's password, set with `casebridge console password`,
//!   checked against its Argon2id hash. A session is a random cookie
//!   (`__Host-casebridge_console`: Secure, HttpOnly, SameSite=Lax) of which
//!   only the SHA-256 is stored, for [`SESSION_HOURS`]; any host on the
//!   database knows it.
//! - **CSRF**: every form carries its session's token; a POST without it, or
//!   from another origin, is refused. The login form is a double submit
//!   (a cookie and a field that must match).
//! - **No scripts**: the pages are HTML and CSS only, under a CSP with
//!   `script-src 'none'`; the usage chart is SVG drawn here.
//! - **Connect (A1)**: the OAuth web-server flow with PKCE ([`crate::oauth`]);
//!   the callback is `/oauth/callback` on the console's own address.

mod chart;
mod pages;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::Markup;
use serde::Deserialize;

use crate::host::{FieldChange, Host};
use crate::oauth::{CALLBACK_PATH, Callback, Login};
use crate::platform::api::{new_token, token_hash};
use crate::secrets::{OrgSecret, Secret};
use crate::storage::console::ConsoleSession;

/// How long a login lasts.
pub const SESSION_HOURS: i64 = 12;
/// The session cookie. `__Host-`: Secure, Path=/, no Domain.
const SESSION_COOKIE: &str = "__Host-casebridge_console";
/// The login form's double-submit cookie.
const LOGIN_COOKIE: &str = "__Host-casebridge_login";
/// The admin `casebridge console password` sets when none is named.
pub const DEFAULT_ADMIN: &str = "admin";
/// Days of API usage the status page charts.
const CHART_DAYS: u32 = 14;
/// Records a list page shows at most.
const LISTED: u32 = 200;

/// What the console's handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    pub host: Arc<Host>,
    /// Logins to Salesforce in progress, by their OAuth `state`.
    connecting: Arc<Mutex<HashMap<String, Connecting>>>,
    /// One message per session for the page after a POST (post/redirect/get).
    notices: Arc<Mutex<HashMap<Vec<u8>, pages::Notice>>>,
}

struct Connecting {
    org: String,
    login: Login,
    client_secret: Secret,
}

impl ConsoleState {
    pub fn new(host: Arc<Host>) -> ConsoleState {
        ConsoleState { host, connecting: Arc::default(), notices: Arc::default() }
    }

    fn notify(&self, admin: &Admin, notice: pages::Notice) {
        crate::storage::lock(&self.notices).insert(admin.session_hash.clone(), notice);
    }

    fn take_notice(&self, admin: &Admin) -> Option<pages::Notice> {
        crate::storage::lock(&self.notices).remove(&admin.session_hash)
    }
}

/// The console's routes, with its headers on every answer.
pub fn router(state: ConsoleState) -> Router {
    let org = Router::new()
        .route("/", get(status_page))
        .route("/connect", post(connect))
        .route("/disconnect", post(disconnect))
        .route("/fields", get(fields_page).post(change_field))
        .route("/fields/describe", post(describe_value))
        .route("/mappings", get(mappings_page))
        .route("/workflow", get(workflow_page))
        .route("/conversations", get(conversations_page))
        .route("/conversations/{case}", get(conversation_page))
        .route("/errors", get(errors_page))
        .route("/errors/retry", post(retry_error))
        .route("/people", get(people_page))
        .route("/people/{id}", get(person_page));
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/console.css", get(stylesheet))
        .route("/console/login", get(login_page).post(log_in))
        .route("/console/logout", post(log_out))
        .route(CALLBACK_PATH, get(oauth_callback))
        .nest("/console/orgs/{org}", org)
        .layer(axum::middleware::map_response(headers))
        .with_state(state)
}

/// Headers for every console answer: no caching, no framing, no scripts.
async fn headers(mut response: Response) -> Response {
    let set = response.headers_mut();
    let fixed = [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: with it, browsers send `Origin: null` on a
        // same-origin POST, which the origin check must refuse.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // form-action allows http(s): Chrome applies it to the redirect a
        // form answers with, and "Connect" redirects to Salesforce's login.
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'none'; \
             form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'",
        ),
    ];
    for (name, value) in fixed {
        set.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Why a console request was refused.
#[derive(Debug)]
enum Refused {
    /// No live session: a page asks to log in.
    LogIn,
    /// A form without its session's token, or from another origin.
    Forbidden(&'static str),
    /// Not one of the configured orgs.
    UnknownOrg(String),
    /// Something failed inside: said in words, with what to do.
    Failed(String),
}

impl From<anyhow::Error> for Refused {
    fn from(error: anyhow::Error) -> Self {
        Refused::Failed(format!("{error:#}"))
    }
}

impl From<crate::storage::StorageError> for Refused {
    fn from(error: crate::storage::StorageError) -> Self {
        Refused::Failed(error.to_string())
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::LogIn => Redirect::to("/console/login").into_response(),
            Refused::Forbidden(why) => {
                (StatusCode::FORBIDDEN, html(pages::problem("Refused", why, "/console/login"))).into_response()
            }
            Refused::UnknownOrg(org) => (
                StatusCode::NOT_FOUND,
                html(pages::problem(
                    "No such org",
                    &format!("there is no org named `{org}` in the configuration"),
                    "/console",
                )),
            )
                .into_response(),
            Refused::Failed(why) => {
                (StatusCode::INTERNAL_SERVER_ERROR, html(pages::problem("Something failed", &why, "/console")))
                    .into_response()
            }
        }
    }
}

/// A logged-in admin, from the session cookie. For anything but GET and
/// HEAD, the request must also come from the console's own origin.
struct Admin {
    name: String,
    csrf: String,
    session_hash: Vec<u8>,
}

impl Admin {
    /// Refuses a form that does not carry this session's token.
    fn check(&self, csrf: &str) -> Result<(), Refused> {
        if !constant_time_eq(csrf.as_bytes(), self.csrf.as_bytes()) {
            return Err(Refused::Forbidden(
                "this form is not from your console session (a missing or wrong CSRF token); reload the page and try again",
            ));
        }
        Ok(())
    }
}

impl FromRequestParts<ConsoleState> for Admin {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD);
        if unsafe_method && !same_origin(&parts.headers) {
            return Err(Refused::Forbidden("a form from another site cannot change the console"));
        }
        let Some(cookie) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(if unsafe_method { Refused::Forbidden("log in first") } else { Refused::LogIn });
        };
        let hash = token_hash(&cookie);
        let now = chrono::Utc::now().timestamp_millis();
        match state.host.store().console_session(&hash, now)? {
            Some(ConsoleSession { admin, csrf, .. }) => Ok(Admin { name: admin, csrf, session_hash: hash }),
            None if unsafe_method => Err(Refused::Forbidden("your session has ended; log in again")),
            None => Err(Refused::LogIn),
        }
    }
}

/// An `Origin` (or, without it, `Referer`) naming the `Host` the request was
/// sent to. A request with neither is refused: browsers send `Origin` on POST.
/// A browser's `Sec-Fetch-Site` must say `same-origin` too.
fn same_origin(headers: &HeaderMap) -> bool {
    if headers.get("sec-fetch-site").is_some_and(|site| site != "same-origin") {
        return false;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|o| o.to_str().ok())
        .and_then(|o| url::Url::parse(o).ok());
    origin.is_some_and(|o| {
        let authority = match o.port() {
            Some(port) => format!("{}:{port}", o.host_str().unwrap_or_default()),
            None => o.host_str().unwrap_or_default().to_string(),
        };
        authority.eq_ignore_ascii_case(host)
    })
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

fn set_cookie(name: &str, value: &str, max_age_seconds: i64, same_site: &str) -> (header::HeaderName, String) {
    (
        header::SET_COOKIE,
        format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite={same_site}; Max-Age={max_age_seconds}"),
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The Argon2id hash (PHC string) of a new password.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no random salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?
        .to_string())
}

fn password_matches(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
    PasswordHash::new(phc)
        .is_ok_and(|hash| argon2::Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// The shortest password `console password` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Sets an admin's password (and ends their sessions).
pub fn set_password(host: &Host, admin: &str, password: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        password.chars().count() >= MIN_PASSWORD_CHARS,
        "the password has {} characters; give at least {MIN_PASSWORD_CHARS}",
        password.chars().count()
    );
    anyhow::ensure!(
        !admin.is_empty() && admin.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c)),
        "`{admin}` is not an admin name; use letters, digits, `.`, `_`, `-` or `@`"
    );
    host.store().put_console_admin(admin, &hash_password(password)?, chrono::Utc::now().timestamp_millis())?;
    Ok(())
}

fn org_config<'h>(host: &'h Host, org: &str) -> Result<&'h crate::config::OrgConfig, Refused> {
    host.config().org(org).ok_or_else(|| Refused::UnknownOrg(org.to_string()))
}

/// The page for the admin: its notice (if any) and the org's navigation.
fn page(state: &ConsoleState, admin: &Admin, org: Option<&str>, section: &str, body: Markup) -> Response {
    let orgs: Vec<&str> = state.host.config().orgs.iter().map(|o| o.name.as_str()).collect();
    let frame = pages::Frame { admin: &admin.name, csrf: &admin.csrf, orgs: &orgs, org, section };
    html(pages::layout(&frame, state.take_notice(admin).as_ref(), body)).into_response()
}

fn html(markup: Markup) -> Html<String> {
    Html(markup.into_string())
}

fn back_to(org: &str, section: &str) -> Redirect {
    Redirect::to(&format!("/console/orgs/{org}{section}"))
}

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("console.css"))
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    csrf: String,
}

async fn login_page(State(state): State<ConsoleState>) -> Result<Response, Refused> {
    let token = new_token();
    let no_admin = !state.host.store().has_console_admin()?;
    let cookie = set_cookie(LOGIN_COOKIE, &token, 3600, "Strict");
    Ok(([cookie], html(pages::login(&token, None, no_admin))).into_response())
}

async fn log_in(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, Refused> {
    let double_submitted = cookie(&headers, LOGIN_COOKIE)
        .is_some_and(|c| !form.csrf.is_empty() && constant_time_eq(c.as_bytes(), form.csrf.as_bytes()));
    if !same_origin(&headers) || !double_submitted {
        return Err(Refused::Forbidden("this login form is not from this console; open the login page again"));
    }
    let store = state.host.store();
    let known = store.console_admin(form.name.trim())?;
    // An unknown name costs the same as a wrong password.
    let phc = known.clone().unwrap_or_else(|| hash_password("not a password anybody has").unwrap_or_default());
    if known.is_none() || !password_matches(&form.password, &phc) {
        tracing::warn!(admin = form.name.trim(), "console login refused");
        let token = new_token();
        let cookie = set_cookie(LOGIN_COOKIE, &token, 3600, "Strict");
        let message =
            "that name and password do not match; try again, or set a password with `casebridge console password`";
        return Ok(
            (StatusCode::UNAUTHORIZED, [cookie], html(pages::login(&token, Some(message), false))).into_response()
        );
    }
    let session = new_token();
    let now = chrono::Utc::now();
    let expires = now + chrono::Duration::hours(SESSION_HOURS);
    let record = ConsoleSession {
        admin: form.name.trim().to_string(),
        csrf: new_token(),
        expires_at: expires.timestamp_millis(),
    };
    store.create_console_session(&token_hash(&session), &record, now.timestamp_millis())?;
    tracing::info!(admin = record.admin, "console login");
    let cookies = axum::response::AppendHeaders([
        set_cookie(SESSION_COOKIE, &session, SESSION_HOURS * 3600, "Lax"),
        set_cookie(LOGIN_COOKIE, "", 0, "Strict"),
    ]);
    Ok((cookies, Redirect::to("/console")).into_response())
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn log_out(
    State(state): State<ConsoleState>,
    admin: Admin,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refused> {
    admin.check(&form.csrf)?;
    state.host.store().end_console_session(&admin.session_hash)?;
    crate::storage::lock(&state.notices).remove(&admin.session_hash);
    Ok(([set_cookie(SESSION_COOKIE, "", 0, "Lax")], Redirect::to("/console/login")).into_response())
}

async fn home(State(state): State<ConsoleState>, admin: Admin) -> Result<Response, Refused> {
    let status = crate::status::collect(&state.host).await?;
    Ok(page(&state, &admin, None, "", pages::home(&status)))
}

async fn status_page(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path(org): Path<String>,
) -> Result<Response, Refused> {
    let config = org_config(&state.host, &org)?;
    let status = crate::status::collect(&state.host).await?;
    let report = status.orgs.into_iter().find(|o| o.org == org).context("the org's status")?;
    let today = chrono::Utc::now().date_naive();
    let usage = state.host.store().usage_days(&org, today, CHART_DAYS)?;
    let connected = state.host.vault().get(&org, OrgSecret::RefreshToken).map_err(anyhow::Error::from)?.is_some();
    let has_secret = known_client_secret(&state.host, config)?.is_some();
    let body =
        pages::status(&report, &chart::usage(&usage, config.daily_api_budget), connected, has_secret, &admin.csrf);
    Ok(page(&state, &admin, Some(&org), "", body))
}

#[derive(Deserialize)]
struct ConnectForm {
    csrf: String,
    #[serde(default)]
    client_secret: String,
}

/// "Connect to Salesforce": to Salesforce's login and consent page, with a
/// PKCE challenge; [`oauth_callback`] finishes.
async fn connect(
    State(state): State<ConsoleState>,
    admin: Admin,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(form): Form<ConnectForm>,
) -> Result<Response, Refused> {
    admin.check(&form.csrf)?;
    let config = org_config(&state.host, &org)?;
    let typed = form.client_secret.trim();
    let client_secret = match typed.is_empty() {
        false => Secret::new(typed.to_string()),
        true => match known_client_secret(&state.host, config)? {
            Some(secret) => secret,
            None => {
                state.notify(
                    &admin,
                    pages::Notice::problem(
                        "give the connected app's consumer secret: casebridge has none stored for this org",
                    ),
                );
                return Ok(back_to(&org, "").into_response());
            }
        },
    };
    let Some(address) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return Err(Refused::Forbidden("the request names no Host"));
    };
    let login = Login::new(&format!("http://{address}{CALLBACK_PATH}"));
    let url = login.authorize_url(&config.login_url, &config.client_id);
    let mut connecting = crate::storage::lock(&state.connecting);
    // At most one login in progress per org.
    connecting.retain(|_, c| c.org != org);
    connecting.insert(login.state.clone(), Connecting { org: org.clone(), login, client_secret });
    Ok(Redirect::to(&url).into_response())
}

async fn oauth_callback(
    State(state): State<ConsoleState>,
    admin: Admin,
    Query(callback): Query<Callback>,
) -> Result<Response, Refused> {
    let pending = callback.state.as_ref().and_then(|s| crate::storage::lock(&state.connecting).remove(s));
    let Some(Connecting { org, login, client_secret }) = pending else {
        return Err(Refused::Forbidden(
            "this Salesforce login was not started from this console (or was finished already); choose Connect again",
        ));
    };
    let config = org_config(&state.host, &org)?;
    let token = match login.code_from(&callback) {
        Ok(code) => login.exchange(&config.login_url, &config.client_id, &client_secret, &code).await,
        Err(error) => Err(error),
    };
    match token {
        Ok(token) => {
            let vault = state.host.vault();
            vault.put(&org, OrgSecret::ClientSecret, &client_secret).map_err(anyhow::Error::from)?;
            vault.put(&org, OrgSecret::RefreshToken, &token).map_err(anyhow::Error::from)?;
            state.host.store().request_wake(&org, chrono::Utc::now())?;
            tracing::info!(org, admin = admin.name, "org connected from the console");
            state.notify(&admin, pages::Notice::done(&format!(
                "connected: the refresh token of `{org}` is stored, encrypted; a running `casebridge run` starts its next cycle within {} s",
                crate::scheduler::WAKE_POLL_EVERY.as_secs()
            )));
        }
        Err(error) => state.notify(&admin, pages::Notice::problem(&format!("not connected: {error}"))),
    }
    Ok(back_to(&org, "").into_response())
}

async fn disconnect(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path(org): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refused> {
    admin.check(&form.csrf)?;
    let config = org_config(&state.host, &org)?;
    let vault = state.host.vault();
    let notice = match vault.get(&org, OrgSecret::RefreshToken).map_err(anyhow::Error::from)? {
        None => pages::Notice::problem("no refresh token is stored for this org; nothing to disconnect"),
        Some(token) => match crate::oauth::revoke(&config.login_url, &token).await {
            Ok(()) => {
                vault.delete(&org, OrgSecret::RefreshToken).map_err(anyhow::Error::from)?;
                tracing::info!(org, admin = admin.name, "org disconnected from the console");
                pages::Notice::done("disconnected: the refresh token was revoked at Salesforce and removed")
            }
            Err(error) => pages::Notice::problem(&format!("not disconnected: {error}")),
        },
    };
    state.notify(&admin, notice);
    Ok(back_to(&org, "").into_response())
}

async fn fields_page(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path(org): Path<String>,
) -> Result<Response, Refused> {
    org_config(&state.host, &org)?;
    let body = match state.host.list_fields(&org).await {
        Ok(catalogs) => {
            let descriptions = state.host.store().value_descriptions(&org)?;
            pages::fields(&org, &catalogs, &descriptions, &admin.csrf)
        }
        Err(error) => pages::unavailable("Fields", &error.to_string()),
    };
    Ok(page(&state, &admin, Some(&org), "/fields", body))
}

#[derive(Deserialize)]
struct FieldForm {
    csrf: String,
    action: String,
    object: String,
    field: String,
}

async fn change_field(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path(org): Path<String>,
    Form(form): Form<FieldForm>,
) -> Result<Response, Refused> {
    admin.check(&form.csrf)?;
    org_config(&state.host, &org)?;
    let (change, done) = match form.action.as_str() {
        "add" => (FieldChange::Add, "added; it syncs from the next cycle"),
        "remove" => (FieldChange::Remove, "removed; it is no longer synced"),
        "resync" => (FieldChange::Resync, "re-synced: its list values are read again from Salesforce"),
        other => {
            state.notify(&admin, pages::Notice::problem(&format!("`{other}` is not add, remove or resync")));
            return Ok(back_to(&org, "/fields").into_response());
        }
    };
    let (object, field) = (form.object.trim(), form.field.trim());
    let notice = match state.host.change_field(&org, change, object, field).await {
        Ok(_) => pages::Notice::done(&format!("{object}.{field} {done}")),
        Err(error) => pages::Notice::problem(&format!("{object}.{field}: {error}")),
    };
    state.notify(&admin, notice);
    Ok(back_to(&org, "/fields").into_response())
}

#[derive(Deserialize)]
struct DescribeForm {
    csrf: String,
    object: String,
    field: String,
    value: String,
    description: String,
}

async fn describe_value(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path(org): Path<String>,
    Form(form): Form<DescribeForm>,
) -> Result<Response, Refused> {
    admin.check(&form.csrf)?;
    org_config(&state.host, &org)?;
    let described = crate::runtime::bindings::settings::ValueDescription {
        object: form.object.clone(),
        field: form.field.clone(),
        value: form.value.clone(),
        description: form.description.clone(),
    };
    state.host.store().put_value_description(&org, &described, chrono::Utc::now().timestamp_millis())?;
    let what = format!("{}.{} = {}", form.object, form.field, form.value);
    state.notify(
        &admin,
        pages::Notice::done(&if form.description.trim().is_empty() {
            format!("removed the description of {what}")
        } else {
            format!("described {what}; detection uses it from the next cycle")
        }),
    );
    Ok(back_to(&org, "/fields").into_response())
}

async fn mappings_page(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path(org): Path<String>,
) -> Result<Response, Refused> {
    let config = org_config(&state.host, &org)?;
    let problems = if config.mappings.is_empty() {
        Ok(Vec::new())
    } else {
        state.host.check_mappings(&org).await.map_err(|e| e.to_string())
    };
    Ok(page(&state, &admin, Some(&org), "/mappings", pages::mappings(&config.mappings, &problems)))
}

async fn workflow_page(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path(org): Path<String>,
) -> Result<Response, Refused> {
    let config = org_config(&state.host, &org)?;
    let files: Vec<(String, String, String)> = config
        .workflow
        .files()
        .map(|(channel, path)| {
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read the file: {e})"));
            (format!("{channel:?}"), path.display().to_string(), text)
        })
        .collect();
    let problems = if config.workflows.is_empty() {
        Ok(Vec::new())
    } else {
        state.host.check_workflows(&org).await.map_err(|e| e.to_string())
    };
    Ok(page(&state, &admin, Some(&org), "/workflow", pages::workflow(&files, &problems)))
}

async fn conversations_page(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path(org): Path<String>,
) -> Result<Response, Refused> {
    org_config(&state.host, &org)?;
    let body = match state.host.list_conversations(&org).await {
        Ok(list) => pages::conversations(&org, &list),
        Err(error) => pages::unavailable("Conversations", &error.to_string()),
    };
    Ok(page(&state, &admin, Some(&org), "/conversations", body))
}

async fn conversation_page(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path((org, case)): Path<(String, String)>,
) -> Result<Response, Refused> {
    let config = org_config(&state.host, &org)?;
    let body = match state.host.conversation(&org, &case).await {
        Ok(Some(conversation)) => pages::conversation(&conversation, config.instance_url.as_deref()),
        Ok(None) => pages::unavailable("Conversation", &format!("no conversation for case {case}")),
        Err(error) => pages::unavailable("Conversation", &error.to_string()),
    };
    Ok(page(&state, &admin, Some(&org), "/conversations", body))
}

async fn errors_page(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path(org): Path<String>,
) -> Result<Response, Refused> {
    org_config(&state.host, &org)?;
    let body = match state.host.list_errors(&org).await {
        Ok(errors) => pages::errors(&org, &errors, &admin.csrf),
        Err(error) => pages::unavailable("Sync errors", &error.to_string()),
    };
    Ok(page(&state, &admin, Some(&org), "/errors", body))
}

#[derive(Deserialize)]
struct RetryForm {
    csrf: String,
    error_id: String,
}

async fn retry_error(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path(org): Path<String>,
    Form(form): Form<RetryForm>,
) -> Result<Response, Refused> {
    admin.check(&form.csrf)?;
    org_config(&state.host, &org)?;
    let notice = match state.host.retry_error(&org, &form.error_id).await {
        Ok(()) => {
            // Retried now, not at the next poll.
            state.host.store().request_wake(&org, chrono::Utc::now())?;
            pages::Notice::done(&format!("{} is retried in the next cycle", form.error_id))
        }
        Err(error) => pages::Notice::problem(&format!("{}: {error}", form.error_id)),
    };
    state.notify(&admin, notice);
    Ok(back_to(&org, "/errors").into_response())
}

async fn people_page(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path(org): Path<String>,
) -> Result<Response, Refused> {
    use crate::runtime::bindings::platform::{Company, Person};
    org_config(&state.host, &org)?;
    let platform = state.host.platform();
    let (people, more_people) = platform.list::<Person>(&org, "person", None, LISTED).map_err(failure)?;
    let (companies, more_companies) = platform.list::<Company>(&org, "company", None, LISTED).map_err(failure)?;
    let more = more_people.is_some() || more_companies.is_some();
    Ok(page(&state, &admin, Some(&org), "/people", pages::people(&org, &people, &companies, more)))
}

async fn person_page(
    State(state): State<ConsoleState>,
    admin: Admin,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, Refused> {
    org_config(&state.host, &org)?;
    let Some(person) = state.host.platform().person(&org, &id).map_err(failure)? else {
        let body = pages::unavailable("Person", &format!("there is no person `{id}` on the platform"));
        return Ok(page(&state, &admin, Some(&org), "/people", body));
    };
    let profile = match state.host.crm_profile(&org, &id).await {
        Ok(Ok(profile)) => Ok(profile),
        Ok(Err(refused)) => Err(crate::platform::crm::crm_error(&refused).1),
        Err(error) => Err(error.to_string()),
    };
    Ok(page(&state, &admin, Some(&org), "/people", pages::person(&person, &profile)))
}

/// The consumer secret from `client_secret_env`, or the stored one.
fn known_client_secret(host: &Host, config: &crate::config::OrgConfig) -> Result<Option<Secret>, Refused> {
    if let Some(secret) = config.client_secret_env.as_ref().and_then(|name| std::env::var(name).ok()) {
        return Ok(Some(Secret::new(secret)));
    }
    Ok(host.vault().get(&config.name, OrgSecret::ClientSecret).map_err(anyhow::Error::from)?)
}

fn failure(error: crate::platform::PlatformFailure) -> Refused {
    Refused::Failed(error.to_string())
}
