//! OAuth 2.0: `POST /services/oauth2/token` (refresh token, authorization
//! code (see [`web_flow`](super::web_flow)), username-password and client
//! credentials grants), `/services/oauth2/userinfo` and the identity URL,
//! with Salesforce's bodies.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::faults::{ConnectionControl, FaultTarget};
use super::org::{Emulator, Org};
use super::response::ApiResponse;
use super::web_flow;
use crate::error::SfError;

/// The scopes the connected app grants.
pub(super) const SCOPE: &str = "api refresh_token offline_access";

pub(super) async fn token(
    State(emulator): State<Arc<Emulator>>,
    connection: Option<Extension<ConnectionControl>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let connection = connection.map(|Extension(c)| c);
    let faults = emulator.faults().take(FaultTarget::Token);
    if let Some(answer) = faults.before_org(connection.as_ref()).await {
        return answer;
    }
    // Salesforce reads the parameters from the form body or the query string.
    let params: HashMap<String, String> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .chain(form_urlencoded::parse(&body))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let answer = {
        let mut org = emulator.org();
        org.counters.token_requests += 1;
        grant(&mut org, &params, &headers)
    };
    faults.after_org(answer, connection.as_ref()).await
}

/// The token endpoint's error body (an object, unlike the REST API's arrays).
pub(super) fn oauth_error(error: &str, description: &str) -> ApiResponse {
    ApiResponse::json(StatusCode::BAD_REQUEST, json!({"error": error, "error_description": description}))
}

fn grant(org: &mut Org, params: &HashMap<String, String>, headers: &HeaderMap) -> ApiResponse {
    let param = |name: &str| params.get(name).map(String::as_str);
    let grant_type = param("grant_type").unwrap_or_default();
    if !matches!(grant_type, "refresh_token" | "authorization_code" | "password" | "client_credentials") {
        return oauth_error("unsupported_grant_type", "grant type not supported");
    }
    let (client_id, client_secret) = match basic_credentials(headers) {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (param("client_id").map(str::to_string), param("client_secret").map(str::to_string)),
    };
    if client_id.as_deref() != Some(org.app.client_id.as_str()) {
        return oauth_error("invalid_client_id", "client identifier invalid");
    }
    if client_secret.as_deref() != Some(org.app.client_secret.as_str()) {
        return oauth_error("invalid_client", "invalid client credentials");
    }
    let user = match grant_type {
        "refresh_token" => {
            let user_id = param("refresh_token").and_then(|t| org.sessions.refresh_user(t)).map(str::to_string);
            match user_id.and_then(|id| org.user_by_id(&id)) {
                Some(user) => user,
                None => return oauth_error("invalid_grant", "expired access/refresh token"),
            }
        }
        "authorization_code" => match web_flow::redeem_code(org, params) {
            Ok(user_id) => match org.user_by_id(&user_id) {
                Some(user) => user,
                None => return oauth_error("invalid_grant", "invalid authorization code"),
            },
            Err(answer) => return answer,
        },
        "password" => {
            let username = param("username").unwrap_or_default();
            let known = org.passwords.get(&username.to_lowercase()).map(String::as_str);
            let user = org.user_by_username(username).and_then(|u| org.user_by_id(&u.id));
            match (known, user) {
                (Some(password), Some(user)) if Some(password) == param("password") => user,
                _ => return oauth_error("invalid_grant", "authentication failure"),
            }
        }
        // Client credentials run as the connected app's "Run As" user: the integration user.
        _ => match org.user_by_id(&org.integration_user_id) {
            Some(user) => user,
            None => return oauth_error("invalid_grant", "no client credentials user enabled"),
        },
    };
    if user["IsActive"] != Value::Bool(true) {
        return oauth_error("invalid_grant", "inactive user");
    }
    let user_id = user["Id"].as_str().unwrap_or_default().to_string();
    if grant_type == "authorization_code" {
        // The code grant is what hands out a refresh token.
        let refresh_token = org.sessions.issue_refresh(&user_id);
        let (_, mut body) = issue(org, &user_id, Some(&refresh_token));
        body["refresh_token"] = json!(refresh_token);
        return ApiResponse::ok(body);
    }
    let refresh_token = if grant_type == "refresh_token" { param("refresh_token") } else { None };
    ApiResponse::ok(issue(org, &user_id, refresh_token).1)
}

/// `client_id:client_secret` from `Authorization: Basic …`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Issues an access token for `user_id` (from `refresh_token`, if any: revoking
/// that revokes it) and returns it with the token endpoint's success body,
/// without a refresh token (rotation off).
pub(crate) fn issue(org: &mut Org, user_id: &str, refresh_token: Option<&str>) -> (String, Value) {
    let now = org.clock.now();
    let access_token = org.sessions.issue(user_id, refresh_token, now);
    let issued_at = now.timestamp_millis().to_string();
    let id = identity_url(org, user_id);
    let body = json!({
        "access_token": access_token,
        "signature": signature(&org.app.client_secret, &id, &issued_at),
        "scope": SCOPE,
        "instance_url": org.origins.instance_url,
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
    });
    (access_token, body)
}

/// On the login origin, as Salesforce's `https://login.salesforce.com/id/00D…/005…`
/// (both origins serve it).
fn identity_url(org: &Org, user_id: &str) -> String {
    format!("{}/id/{}/{}", org.origins.login_url, org.org_id, user_id)
}

/// Base64 HMAC-SHA256 of `id + issued_at` keyed with the client secret, which
/// lets a client check the response came from the org.
fn signature(client_secret: &str, id: &str, issued_at: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(id.as_bytes());
            mac.update(issued_at.as_bytes());
            BASE64.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// `GET|POST /services/oauth2/userinfo`: the OpenID Connect user info.
pub(super) async fn userinfo(State(emulator): State<Arc<Emulator>>, headers: HeaderMap) -> Response {
    let org = emulator.org();
    let answer = signed_in_user(&org, &headers).map(|user| {
        let user_id = user["Id"].as_str().unwrap_or_default();
        json!({
            "sub": identity_url(&org, user_id),
            "user_id": user_id,
            "organization_id": org.org_id,
            "preferred_username": user["Username"],
            "nickname": user["Username"],
            "name": user["Name"],
            "email": user["Email"],
            "email_verified": true,
            "given_name": user["FirstName"],
            "family_name": user["LastName"],
            "zoneinfo": user["TimeZoneSidKey"],
            "active": user["IsActive"],
            "user_type": user_type(&user),
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": 0,
            "updated_at": user["LastModifiedDate"],
            "urls": urls(&org, user_id),
        })
    });
    respond(answer)
}

/// `GET /id/{org}/{user}`: the identity URL a token response points at.
pub(super) async fn identity(
    State(emulator): State<Arc<Emulator>>,
    Path((org_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let org = emulator.org();
    let answer = signed_in_user(&org, &headers).and_then(|_| {
        if org_id != org.org_id {
            return Err(SfError::new(403, "Bad_Id", "Bad_Id"));
        }
        let user = org.user_by_id(&user_id).ok_or_else(SfError::not_found)?;
        let user_id = user["Id"].as_str().unwrap_or_default();
        Ok(json!({
            "id": identity_url(&org, user_id),
            "asserted_user": true,
            "user_id": user_id,
            "organization_id": org.org_id,
            "username": user["Username"],
            "nick_name": user["Username"],
            "display_name": user["Name"],
            "email": user["Email"],
            "email_verified": true,
            "first_name": user["FirstName"],
            "last_name": user["LastName"],
            "timezone": user["TimeZoneSidKey"],
            "active": user["IsActive"],
            "user_type": user_type(&user),
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": 0,
            "last_modified_date": user["LastModifiedDate"],
            "is_app_installed": true,
            "urls": urls(&org, user_id),
        }))
    });
    respond(answer)
}

fn respond(answer: Result<Value, SfError>) -> Response {
    match answer {
        Ok(body) => ApiResponse::ok(body).into_response(),
        Err(e) => ApiResponse::from(e).into_response(),
    }
}

fn signed_in_user(org: &Org, headers: &HeaderMap) -> Result<Value, SfError> {
    let user_id = org.authenticate(headers)?;
    org.user_by_id(&user_id).ok_or_else(SfError::not_found)
}

/// Identity responses spell user types in upper case (`STANDARD`).
fn user_type(user: &Value) -> String {
    user["UserType"].as_str().unwrap_or("Standard").to_uppercase()
}

/// The `urls` of an identity, on the instance origin; `{version}` is
/// literal, for the client to fill in.
fn urls(org: &Org, user_id: &str) -> Value {
    let base = &org.origins.instance_url;
    json!({
        "rest": format!("{base}/services/data/v{{version}}/"),
        "sobjects": format!("{base}/services/data/v{{version}}/sobjects/"),
        "search": format!("{base}/services/data/v{{version}}/search/"),
        "query": format!("{base}/services/data/v{{version}}/query/"),
        "recent": format!("{base}/services/data/v{{version}}/recent/"),
        "limits": format!("{base}/services/data/v{{version}}/limits/"),
        "profile": format!("{base}/{user_id}"),
        "custom_domain": base,
    })
}
