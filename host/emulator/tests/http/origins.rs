//! Login and instance on different origins, as `login.salesforce.com` and
//! `acme.my.salesforce.com` are.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use casebridge_emulator::{EmulatorOptions, Seed};
use reqwest::Method;
use serde_json::json;

use crate::support::{Org, VERSION, refresh, status_json};

fn not_found() -> serde_json::Value {
    json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
}

#[test]
fn token_responses_send_rest_clients_to_the_instance_origin() {
    let org = Org::demo();
    assert_ne!(org.creds.url, org.creds.instance_url);
    assert_eq!(org.emulator.url(), org.creds.url);
    assert_eq!(org.emulator.instance_url(), org.creds.instance_url);
    let host = |url: &str| url.rsplit_once(':').unwrap().0.to_string();
    assert_eq!(host(&org.creds.url), host(&org.creds.instance_url), "same address, another port");

    let token = refresh(&org.http, &org.creds);
    assert_eq!(token["instance_url"], json!(org.creds.instance_url));
    assert!(token["id"].as_str().unwrap().starts_with(&format!("{}/id/", org.creds.url)));
}

#[test]
fn the_login_origin_answers_rest_calls_with_not_found() {
    let org = Org::demo();
    for path in [
        format!("/services/data/{VERSION}/limits"),
        format!("/services/data/{VERSION}/query?q=SELECT+Id+FROM+Case"),
        "/services/data/".to_string(),
    ] {
        let response = org.http.get(format!("{}{path}", org.creds.url)).bearer_auth(&org.token).send().unwrap();
        assert_eq!(status_json(response), (404, not_found()), "{path}");
    }
    let create = org
        .http
        .post(format!("{}/services/data/{VERSION}/sobjects/Case", org.creds.url))
        .bearer_auth(&org.token)
        .json(&json!({"Subject": "sent to the wrong host"}))
        .send()
        .unwrap();
    assert_eq!(status_json(create), (404, not_found()));
    assert_eq!(org.emulator.counters().total, 0, "nothing reached the org");
    assert_eq!(org.query("SELECT Id FROM Case WHERE Subject = 'sent to the wrong host'")["totalSize"], 0);
}

#[test]
fn both_origins_serve_oauth_and_the_admin_api() {
    let org = Org::demo();
    for base in [&org.creds.url, &org.creds.instance_url] {
        let mut creds = org.creds.clone();
        creds.url = base.clone();
        assert_eq!(refresh(&org.http, &creds)["instance_url"], json!(org.creds.instance_url), "token at {base}");
        let userinfo = org.http.get(format!("{base}/services/oauth2/userinfo")).bearer_auth(&org.token).send().unwrap();
        assert_eq!(userinfo.status(), 200, "userinfo at {base}");
        let (status, counters) = status_json(org.http.get(format!("{base}/__emulator/counters")).send().unwrap());
        assert_eq!(status, 200, "admin at {base}");
        assert_eq!(counters["total"], 0);
    }
    let identity = refresh(&org.http, &org.creds)["id"].as_str().unwrap().to_string();
    let (_, user_id) = identity.rsplit_once('/').unwrap();
    for base in [&org.creds.url, &org.creds.instance_url] {
        let path = identity.strip_prefix(&org.creds.url).unwrap();
        let (status, body) = status_json(org.http.get(format!("{base}{path}")).bearer_auth(&org.token).send().unwrap());
        assert_eq!((status, body["user_id"].as_str()), (200, Some(user_id)), "identity at {base}");
    }
    // The admin API's credentials name both origins.
    let (_, over_http) = status_json(org.admin(Method::GET, "/credentials").send().unwrap());
    assert_eq!(over_http["instance_url"], json!(org.creds.instance_url));
}

#[test]
fn the_instance_origin_listens_where_asked() {
    let free = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let address: SocketAddr = free.local_addr().unwrap();
    drop(free);
    let org = Org::with(EmulatorOptions { seed: Seed::Empty, instance_listen: Some(address), ..Default::default() });
    assert_eq!(org.creds.instance_url, format!("http://{address}"));
    assert_eq!(org.get("/limits").status(), 200);
}
