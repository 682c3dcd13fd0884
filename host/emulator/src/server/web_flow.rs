//! The OAuth 2.0 web-server flow with PKCE, as an admin meets it on
//! Salesforce: `GET /services/oauth2/authorize` shows a login and consent
//! page, `POST` of that page redirects to the connected app's callback with
//! `code` and `state` (or `error=access_denied`), the code is exchanged at
//! the token endpoint with `grant_type=authorization_code` (see
//! [`redeem_code`]), and `POST /services/oauth2/revoke` revokes a refresh or
//! access token.
//!
//! As Salesforce does: the `redirect_uri` must be one of the connected app's
//! callback URLs exactly (otherwise an error page, never a redirect), the app
//! requires PKCE (`code_challenge`, the base64url SHA-256 of the verifier),
//! a code lives 15 minutes and is good once, and scopes must be among the
//! app's.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maud::{DOCTYPE, Markup, html};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::oauth::{SCOPE, oauth_error};
use super::org::{Emulator, Org};
use super::response::ApiResponse;
use super::sessions::CodeGrant;

/// How long an authorization code can be exchanged.
const CODE_LIFETIME: chrono::Duration = chrono::Duration::minutes(15);

/// Salesforce's answer to a wrong username or password on its login page.
const LOGIN_FAILED: &str =
    "Please check your username and password. If you still can't log in, contact your Salesforce administrator.";

/// `GET /services/oauth2/authorize`: the login and consent page.
pub(super) async fn authorize_page(State(emulator): State<Arc<Emulator>>, uri: Uri) -> Response {
    let params = parse(uri.query().unwrap_or(""), &[]);
    let org = emulator.org();
    match AuthorizeRequest::check(&org, &params) {
        Ok(request) => Html(login_page(&request, None).into_string()).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// `POST /services/oauth2/authorize`: the login page's form. "Allow" with the
/// right password redirects with a code; "Deny" redirects with
/// `error=access_denied`; a wrong password shows the page again.
pub(super) async fn authorize_submit(State(emulator): State<Arc<Emulator>>, uri: Uri, body: Bytes) -> Response {
    let params = parse(uri.query().unwrap_or(""), &body);
    let mut org = emulator.org();
    let request = match AuthorizeRequest::check(&org, &params) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    if params.get("action").map(String::as_str) == Some("deny") {
        return request.redirect(&[("error", "access_denied"), ("error_description", "end-user denied authorization")]);
    }
    let username = params.get("username").map(String::as_str).unwrap_or_default();
    let user = org
        .passwords
        .get(&username.to_lowercase())
        .filter(|password| params.get("password") == Some(*password))
        .and_then(|_| org.user_by_username(username))
        .and_then(|user| org.user_by_id(&user.id))
        .filter(|user| user["IsActive"] == Value::Bool(true));
    let Some(user) = user else {
        return (StatusCode::OK, Html(login_page(&request, Some(LOGIN_FAILED)).into_string())).into_response();
    };
    let now = org.clock.now();
    let code = org.sessions.issue_code(
        CodeGrant {
            user_id: user["Id"].as_str().unwrap_or_default().to_string(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
        },
        now + CODE_LIFETIME,
        now,
    );
    request.redirect(&[("code", &code)])
}

/// `POST|GET /services/oauth2/revoke` with `token`: a refresh token is revoked
/// with every access token issued from it; an access token alone. 200 with
/// an empty body, or 400 `invalid_token`.
pub(super) async fn revoke(State(emulator): State<Arc<Emulator>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let body = if method == Method::POST { &body[..] } else { &[] };
    let params = parse(uri.query().unwrap_or(""), body);
    let mut org = emulator.org();
    match params.get("token").filter(|token| !token.is_empty()) {
        Some(token) if org.sessions.revoke(token) => StatusCode::OK.into_response(),
        Some(_) => oauth_error("invalid_token", "invalid token").into_response(),
        None => oauth_error("unsupported_token_type", "token type not supported").into_response(),
    }
}

/// The `authorization_code` grant: the code's user id when `code`,
/// `redirect_uri` and `code_verifier` match what was authorized, or the
/// token endpoint's error. The code is spent either way.
pub(super) fn redeem_code(org: &mut Org, params: &HashMap<String, String>) -> Result<String, ApiResponse> {
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    let now = org.clock.now();
    let grant = org
        .sessions
        .redeem_code(param("code"), now)
        .ok_or_else(|| oauth_error("invalid_grant", "invalid authorization code"))?;
    if param("redirect_uri") != grant.redirect_uri {
        return Err(oauth_error("redirect_uri_mismatch", "redirect_uri must match configuration"));
    }
    if code_challenge(param("code_verifier")) != grant.code_challenge {
        return Err(oauth_error("invalid_grant", "invalid code verifier"));
    }
    Ok(grant.user_id)
}

/// The base64url (unpadded) SHA-256 of a PKCE code verifier.
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// An authorize request whose client and callback are the connected app's.
struct AuthorizeRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scope: Option<String>,
    code_challenge: String,
}

/// Why an authorize request is not shown a login page.
enum Refusal {
    /// Client or callback unknown: Salesforce's error page, no redirect.
    Page { error: &'static str, description: &'static str },
    /// The callback is the app's: the error goes back to it.
    Redirect(Response),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Page { error, description } => {
                (StatusCode::BAD_REQUEST, Html(error_page(error, description).into_string())).into_response()
            }
            Refusal::Redirect(response) => response,
        }
    }
}

impl AuthorizeRequest {
    fn check(org: &Org, params: &HashMap<String, String>) -> Result<AuthorizeRequest, Refusal> {
        let param = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
        if param("client_id").as_deref() != Some(org.app.client_id.as_str()) {
            return Err(Refusal::Page { error: "invalid_client_id", description: "client identifier invalid" });
        }
        let redirect_uri = param("redirect_uri").unwrap_or_default();
        if !org.app.callback_urls.contains(&redirect_uri) {
            return Err(Refusal::Page {
                error: "redirect_uri_mismatch",
                description: "redirect_uri must match configuration",
            });
        }
        let request = AuthorizeRequest {
            client_id: org.app.client_id.clone(),
            redirect_uri,
            state: param("state"),
            scope: param("scope"),
            code_challenge: param("code_challenge").unwrap_or_default(),
        };
        let refuse = |error, description| {
            Err(Refusal::Redirect(request.redirect(&[("error", error), ("error_description", description)])))
        };
        if param("response_type").as_deref() != Some("code") {
            return refuse("unsupported_response_type", "response type not supported");
        }
        if request.code_challenge.is_empty() {
            return refuse("invalid_request", "missing required code challenge");
        }
        if param("code_challenge_method").is_some_and(|method| method != "S256") {
            return refuse("invalid_request", "invalid code challenge method");
        }
        let granted: Vec<&str> = SCOPE.split(' ').collect();
        if let Some(scope) = &request.scope
            && !scope.split(' ').filter(|s| !s.is_empty()).all(|s| granted.contains(&s))
        {
            return refuse("invalid_scope", "the requested scope is not allowed");
        }
        Ok(request)
    }

    /// 302 to the callback with `extra` and the request's `state`.
    fn redirect(&self, extra: &[(&str, &str)]) -> Response {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in extra {
            query.append_pair(name, value);
        }
        if let Some(state) = &self.state {
            query.append_pair("state", state);
        }
        let separator = if self.redirect_uri.contains('?') { '&' } else { '?' };
        let location = format!("{}{separator}{}", self.redirect_uri, query.finish());
        (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
    }
}

fn parse(query: &str, body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes())
        .chain(form_urlencoded::parse(body))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn page(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " | Salesforce (emulated)" }
            }
            body { main { (content) } }
        }
    }
}

/// The login form carries the authorize parameters as hidden fields.
fn login_page(request: &AuthorizeRequest, error: Option<&str>) -> Markup {
    let hidden = [
        ("response_type", Some("code")),
        ("client_id", Some(request.client_id.as_str())),
        ("redirect_uri", Some(request.redirect_uri.as_str())),
        ("state", request.state.as_deref()),
        ("scope", request.scope.as_deref()),
        ("code_challenge", Some(request.code_challenge.as_str())),
    ];
    let scopes = request.scope.as_deref().unwrap_or(SCOPE);
    page(
        "Login",
        html! {
            h1 { "Log in to Salesforce" }
            @if let Some(error) = error { p id="error" role="alert" { (error) } }
            form method="post" action="/services/oauth2/authorize" {
                @for (name, value) in hidden {
                    @if let Some(value) = value { input type="hidden" name=(name) value=(value); }
                }
                p { label for="username" { "Username" } br; input id="username" name="username" type="email" autocomplete="username" required; }
                p { label for="password" { "Password" } br; input id="password" name="password" type="password" autocomplete="current-password" required; }
                h2 { "Allow access?" }
                p { "The connected app asks to: " (scopes) "." }
                button id="allow" type="submit" name="action" value="allow" { "Allow" }
                " "
                button id="deny" type="submit" name="action" value="deny" formnovalidate { "Deny" }
            }
        },
    )
}

fn error_page(error: &str, description: &str) -> Markup {
    page(
        "OAuth Error",
        html! {
            h1 { "OAuth Error" }
            p id="error" { "error=" (error) "&error_description=" (description) }
            p { "The connected app's settings do not match this request: check its consumer key and callback URL." }
        },
    )
}

/// The admin API's view of the connected app.
pub(super) fn describe(org: &Org) -> Value {
    json!({
        "client_id": org.app.client_id,
        "callback_urls": org.app.callback_urls,
        "scopes": SCOPE.split(' ').collect::<Vec<_>>(),
        "pkce_required": true,
        "code_lifetime_seconds": CODE_LIFETIME.num_seconds(),
    })
}
