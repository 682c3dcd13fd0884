//! Connecting an org with Salesforce's OAuth 2.0 web-server flow and PKCE
//! (A1): the authorize URL an admin opens, the callback that receives the
//! code, the `authorization_code` exchange that yields the refresh token, and
//! revocation at disconnect. Only `api refresh_token offline_access` is
//! asked for. The console and `casebridge org connect --browser` both use it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use base64::Engine as _;
use serde::Deserialize;
use sha2::Digest as _;
use tokio::sync::mpsc;

use crate::platform::api::new_token;
use crate::secrets::Secret;

/// The scopes casebridge asks for: the REST API and a refresh token that
/// works while nobody is logged in. Never `full`.
pub const SCOPES: &str = "api refresh_token offline_access";

/// The path of the callback on casebridge's own address.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// How long `org connect --browser` waits for the admin to log in.
pub const LOGIN_WAIT: Duration = Duration::from_secs(600);

/// What went wrong connecting or disconnecting, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("Salesforce refused the login: {error} ({description}){advice}")]
    Refused { error: String, description: String, advice: &'static str },
    #[error("the callback's state does not match this login; start the connection again from casebridge")]
    StateMismatch,
    #[error("cannot reach {url}: {message}; check the org's login_url and the network")]
    Unreachable { url: String, message: String },
    #[error(
        "Salesforce answered {status} without a refresh token; check that the connected app allows the scopes {SCOPES}"
    )]
    NoRefreshToken { status: u16 },
    #[error(
        "the callback URL `{0}` must be http://127.0.0.1:PORT/… or http://localhost:PORT/…, as in the connected app"
    )]
    BadCallback(String),
    #[error(
        "cannot listen on {address} for the callback: {message}; stop what uses it, or pass --callback with another port (and add it to the connected app)"
    )]
    Listen { address: String, message: String },
    #[error("nobody logged in within {} minutes; run the command again", LOGIN_WAIT.as_secs() / 60)]
    TimedOut,
}

/// One login in progress: the PKCE verifier and the `state` that ties the
/// callback to it.
pub struct Login {
    pub state: String,
    verifier: Secret,
    pub redirect_uri: String,
}

impl Login {
    pub fn new(redirect_uri: &str) -> Login {
        Login { state: new_token(), verifier: Secret::new(new_token()), redirect_uri: redirect_uri.to_string() }
    }

    /// The URL the admin opens: Salesforce's login and consent page.
    pub fn authorize_url(&self, login_url: &str, client_id: &str) -> String {
        let challenge =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(self.verifier.expose()));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", SCOPES)
            .append_pair("state", &self.state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        format!("{}/services/oauth2/authorize?{query}", login_url.trim_end_matches('/'))
    }

    /// The code from the callback's parameters, once their `state` is this
    /// login's; Salesforce's `error` (e.g. the admin chose "Deny") otherwise.
    pub fn code_from(&self, callback: &Callback) -> Result<String, OAuthError> {
        if callback.state.as_deref() != Some(self.state.as_str()) {
            return Err(OAuthError::StateMismatch);
        }
        if let Some(error) = &callback.error {
            return Err(refused(error, callback.error_description.as_deref().unwrap_or_default()));
        }
        callback.code.clone().ok_or_else(|| refused("invalid_request", "the callback carried no code"))
    }

    /// Exchanges the code for a refresh token (`grant_type=authorization_code`).
    pub async fn exchange(
        &self,
        login_url: &str,
        client_id: &str,
        client_secret: &Secret,
        code: &str,
    ) -> Result<Secret, OAuthError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", client_id),
            ("client_secret", client_secret.expose()),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", self.verifier.expose()),
        ];
        let (status, body) =
            post_form(&format!("{}/services/oauth2/token", login_url.trim_end_matches('/')), &form).await?;
        if let Some(error) = body["error"].as_str() {
            return Err(refused(error, body["error_description"].as_str().unwrap_or_default()));
        }
        body["refresh_token"].as_str().map(Secret::new).ok_or(OAuthError::NoRefreshToken { status })
    }
}

/// Revokes a refresh token (and its sessions) at `/services/oauth2/revoke`.
/// A token Salesforce no longer knows counts as revoked.
pub async fn revoke(login_url: &str, token: &Secret) -> Result<(), OAuthError> {
    let url = format!("{}/services/oauth2/revoke", login_url.trim_end_matches('/'));
    let (status, body) = post_form(&url, &[("token", token.expose())]).await?;
    match body["error"].as_str() {
        None if status < 300 => Ok(()),
        Some("invalid_token") => Ok(()),
        error => Err(refused(error.unwrap_or("error"), body["error_description"].as_str().unwrap_or_default())),
    }
}

/// The query of Salesforce's redirect to the callback.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The loopback address a callback URL names, to listen on.
pub fn callback_address(redirect_uri: &str) -> Result<SocketAddr, OAuthError> {
    let bad = || OAuthError::BadCallback(redirect_uri.to_string());
    let url = url::Url::parse(redirect_uri).map_err(|_| bad())?;
    let ip = match url.host_str() {
        Some("127.0.0.1" | "localhost") => std::net::Ipv4Addr::LOCALHOST,
        _ => return Err(bad()),
    };
    match (url.scheme(), url.port()) {
        ("http", Some(port)) if port != 0 => Ok(SocketAddr::from((ip, port))),
        _ => Err(bad()),
    }
}

/// The callback's loopback address, bound before the authorize URL is shown
/// so the browser can never come back to a port nobody listens on yet.
pub struct CallbackListener(tokio::net::TcpListener);

/// Binds the callback address of `login`'s redirect URI.
pub async fn listen_for_callback(login: &Login) -> Result<CallbackListener, OAuthError> {
    let address = callback_address(&login.redirect_uri)?;
    tokio::net::TcpListener::bind(address)
        .await
        .map(CallbackListener)
        .map_err(|e| OAuthError::Listen { address: address.to_string(), message: e.to_string() })
}

/// Serves the callback on `listener` until Salesforce sends the browser back
/// (at most [`LOGIN_WAIT`]): the code of that login.
pub async fn wait_for_code(login: &Login, listener: CallbackListener) -> Result<String, OAuthError> {
    let path = url::Url::parse(&login.redirect_uri).map(|u| u.path().to_string()).unwrap_or_default();
    let listener = listener.0;
    let (send, mut received) = mpsc::channel::<Callback>(1);
    let app = Router::new().route(&path, get(callback_page)).with_state(send);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let outcome = tokio::time::timeout(LOGIN_WAIT, async {
        // A stray request (another tab, a wrong state) does not end the wait.
        loop {
            match received.recv().await {
                Some(callback) => match login.code_from(&callback) {
                    Err(OAuthError::StateMismatch) => continue,
                    other => return other,
                },
                None => return Err(OAuthError::TimedOut),
            }
        }
    })
    .await
    .unwrap_or(Err(OAuthError::TimedOut));
    // Let the page reach the browser before the server goes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.abort();
    outcome
}

async fn callback_page(State(send): State<mpsc::Sender<Callback>>, Query(callback): Query<Callback>) -> Html<String> {
    let denied = callback.error.is_some();
    let _ = send.send(callback).await;
    Html(if denied {
        "<!DOCTYPE html><title>casebridge</title><p>The connection was not made: go back to the terminal to see why.</p>".into()
    } else {
        "<!DOCTYPE html><title>casebridge</title><p>Connected. You can close this tab and go back to the terminal.</p>"
            .into()
    })
}

fn refused(error: &str, description: &str) -> OAuthError {
    let advice = match error {
        "access_denied" => "; the login was denied: run it again and choose Allow",
        "redirect_uri_mismatch" => "; add the callback URL to the connected app's Callback URL list, exactly",
        "invalid_client_id" | "invalid_client" => "; check the org's client_id and the client secret",
        "invalid_grant" => "; the code expired or was used: start the connection again",
        _ => "",
    };
    OAuthError::Refused { error: error.to_string(), description: description.to_string(), advice }
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> Result<(u16, serde_json::Value), OAuthError> {
    let unreachable = |e: reqwest::Error| OAuthError::Unreachable { url: url.to_string(), message: e.to_string() };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(unreachable)?;
    let response = client.post(url).form(form).send().await.map_err(unreachable)?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(unreachable)?;
    Ok((status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_url_asks_for_the_three_scopes_with_a_s256_challenge() {
        let login = Login::new("http://127.0.0.1:8710/oauth/callback");
        let url = url::Url::parse(&login.authorize_url("https://login.salesforce.com/", "3MVG9abc")).unwrap();
        assert_eq!(url.path(), "/services/oauth2/authorize");
        let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(params["scope"], "api refresh_token offline_access");
        assert_eq!(params["code_challenge_method"], "S256");
        assert_eq!(params["state"], login.state);
        assert_eq!(params["code_challenge"].len(), 43);
        assert_ne!(params["code_challenge"], login.verifier.expose());
    }

    #[test]
    fn a_callback_of_another_login_or_a_denial_gives_no_code() {
        let login = Login::new("http://127.0.0.1:8710/oauth/callback");
        let other = Callback { code: Some("c".into()), state: Some("other".into()), ..Default::default() };
        assert!(matches!(login.code_from(&other), Err(OAuthError::StateMismatch)));
        let denied =
            Callback { state: Some(login.state.clone()), error: Some("access_denied".into()), ..Default::default() };
        assert!(login.code_from(&denied).unwrap_err().to_string().contains("choose Allow"));
        let good = Callback { state: Some(login.state.clone()), code: Some("aPrx1".into()), ..Default::default() };
        assert_eq!(login.code_from(&good).unwrap(), "aPrx1");
    }

    #[test]
    fn only_a_loopback_http_callback_with_a_port_is_listened_on() {
        assert_eq!(callback_address("http://localhost:8710/oauth/callback").unwrap().port(), 8710);
        for bad in ["https://example.com/cb", "http://10.0.0.1:80/cb", "http://127.0.0.1/cb", "not a url"] {
            assert!(callback_address(bad).is_err(), "{bad}");
        }
    }
}
