use std::time::Duration;

use base64::Engine as _;
use casebridge_emulator::{Credentials, EmulatorOptions};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{Org, refresh, status_json};

fn token_request(org: &Org, form: &[(&str, &str)]) -> (u16, Value) {
    status_json(org.http.post(format!("{}/services/oauth2/token", org.creds.url)).form(form).send().unwrap())
}

#[test]
fn refresh_token_grant_answers_salesforce_token_body_without_a_new_refresh_token() {
    let org = Org::demo();
    let body = refresh(&org.http, &org.creds);
    let token = body["access_token"].as_str().unwrap();
    assert!(token.starts_with("00D") && token.contains("!AR"), "{token}");
    assert_eq!(body["instance_url"], json!(org.creds.instance_url));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api refresh_token offline_access");
    assert!(body.get("refresh_token").is_none(), "no rotation: {body}");
    let issued_at = body["issued_at"].as_str().unwrap();
    assert!(issued_at.parse::<i64>().is_ok_and(|ms| ms > 1_600_000_000_000), "{issued_at}");
    let id = body["id"].as_str().unwrap();
    let user_id = &org.emulator.seeded().integration_user_id;
    assert!(id.starts_with(&format!("{}/id/00D", org.creds.url)) && id.ends_with(&format!("/{user_id}")), "{id}");
    // The signature is HMAC-SHA256(id + issued_at) keyed with the client secret.
    let mut mac = Hmac::<Sha256>::new_from_slice(org.creds.client_secret.as_bytes()).unwrap();
    mac.update(format!("{id}{issued_at}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(body["signature"], json!(expected));
}

#[test]
fn password_and_client_credentials_grants_log_in_the_integration_user() {
    let org = Org::demo();
    let Credentials { client_id, client_secret, username, password, .. } = org.creds.clone();
    let (status, body) = token_request(
        &org,
        &[
            ("grant_type", "password"),
            ("client_id", &client_id),
            ("client_secret", &client_secret),
            ("username", &username),
            ("password", &password),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some());

    // Client id and secret by HTTP Basic.
    let response = org
        .http
        .post(format!("{}/services/oauth2/token", org.creds.url))
        .basic_auth(&client_id, Some(&client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    let (status, body) = status_json(response);
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].as_str().unwrap().ends_with(&org.emulator.seeded().integration_user_id));
}

#[test]
fn bad_credentials_get_salesforce_oauth_errors() {
    let org = Org::demo();
    let c = org.creds.clone();
    let error = |error: &str, description: &str| json!({"error": error, "error_description": description});

    let bad_password = token_request(
        &org,
        &[
            ("grant_type", "password"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("username", &c.username),
            ("password", "wrong"),
        ],
    );
    assert_eq!(bad_password, (400, error("invalid_grant", "authentication failure")));

    let bad_refresh = token_request(
        &org,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("refresh_token", "5Aep861nope"),
        ],
    );
    assert_eq!(bad_refresh, (400, error("invalid_grant", "expired access/refresh token")));

    let unknown_client = token_request(
        &org,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "3MVG9nope"),
            ("client_secret", &c.client_secret),
            ("refresh_token", &c.refresh_token),
        ],
    );
    assert_eq!(unknown_client, (400, error("invalid_client_id", "client identifier invalid")));

    let wrong_secret = token_request(
        &org,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", "0000"),
            ("refresh_token", &c.refresh_token),
        ],
    );
    assert_eq!(wrong_secret, (400, error("invalid_client", "invalid client credentials")));

    let unsupported = token_request(&org, &[("grant_type", "implicit"), ("client_id", &c.client_id)]);
    assert_eq!(unsupported, (400, error("unsupported_grant_type", "grant type not supported")));
}

#[test]
fn expired_or_unknown_access_tokens_get_invalid_session_id() {
    let org = Org::with(EmulatorOptions { token_ttl: Duration::from_secs(600), ..Default::default() });
    let expired = json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]);

    assert_eq!(org.get("/limits").status(), 200);
    org.emulator.advance_clock(Duration::from_secs(601));
    assert_eq!(status_json(org.get("/limits")), (401, expired.clone()));

    let unknown = org.http.get(org.api("/limits")).bearer_auth("00Dxx!ARnope").send().unwrap();
    assert_eq!(status_json(unknown), (401, expired.clone()));
    let missing = org.http.get(org.api("/limits")).send().unwrap();
    assert_eq!(status_json(missing), (401, expired));

    // Refreshing gives a working token again; refused calls were not counted.
    let fresh = refresh(&org.http, &org.creds)["access_token"].as_str().unwrap().to_string();
    let again = org.http.get(org.api("/limits")).bearer_auth(&fresh).send().unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(org.emulator.counters().get("GET /limits"), 2);
    assert_eq!(org.emulator.counters().token_requests, 2);
}

#[test]
fn userinfo_and_identity_url_describe_the_logged_in_user() {
    let org = Org::demo();
    let token = refresh(&org.http, &org.creds);
    let (status, info) = status_json(
        org.http.get(format!("{}/services/oauth2/userinfo", org.creds.url)).bearer_auth(&org.token).send().unwrap(),
    );
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["preferred_username"], json!(org.creds.username));
    assert_eq!(info["user_id"], json!(org.emulator.seeded().integration_user_id));

    let (status, identity) =
        status_json(org.http.get(token["id"].as_str().unwrap()).bearer_auth(&org.token).send().unwrap());
    assert_eq!(status, 200, "{identity}");
    assert_eq!(identity["username"], json!(org.creds.username));
    assert_eq!(identity["urls"]["rest"], json!(format!("{}/services/data/v{{version}}/", org.creds.instance_url)));
}
