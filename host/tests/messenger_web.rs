//! The web messenger's HTTP side (E10): visits and their tokens, messages
//! added once, files and their limit, the email, the event stream resumed
//! with `Last-Event-ID`, signed identities, the page's headers, and no
//! conversation readable with another visitor's token.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use casebridge::messenger::Relay;
use casebridge::messenger::web::{MessengerState, router};
use casebridge::platform::StorePlatform;
use casebridge::runtime::bindings::platform::PersonRole;
use casebridge::storage::Store;
use serde_json::{Value, json};

const ORG: &str = "acme";
const SECRET: &[u8] = b"the site's secret";

#[derive(Default)]
struct Recorded(Mutex<Vec<(String, String)>>);

impl Relay for Recorded {
    fn customer_wrote(&self, org: &str, conversation_id: &str) {
        self.0.lock().unwrap().push((org.into(), conversation_id.into()));
    }
}

struct Site {
    base: String,
    platform: StorePlatform,
    relay: Arc<Recorded>,
    http: reqwest::Client,
}

async fn site() -> Site {
    let platform = StorePlatform(Arc::new(Store::in_memory().unwrap()));
    let relay = Arc::new(Recorded::default());
    let orgs = BTreeMap::from([(ORG.to_string(), Some(SECRET.to_vec())), ("plain".to_string(), None)]);
    let state = MessengerState { platform: platform.clone(), orgs: Arc::new(orgs), relay: relay.clone() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/messenger", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    Site { base, platform, relay, http: reqwest::Client::new() }
}

impl Site {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}/{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn visit(&self, body: Value) -> (String, String) {
        let (status, visit) = self.call(reqwest::Method::POST, &format!("{ORG}/api/visits"), None, Some(body)).await;
        assert_eq!(status, 201, "{visit}");
        (visit["token"].as_str().unwrap().into(), visit["conversation_id"].as_str().unwrap().into())
    }
}

fn sign(user_id: &str, email: &str) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(format!("{user_id}\n{email}").as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn visitors_write_once_read_only_their_own_chat_and_resume_the_stream() {
    let site = site().await;
    let (token, chat) = site.visit(json!({})).await;
    let person = site.platform.conversation(ORG, &chat).unwrap().unwrap().person_id.unwrap();
    assert_eq!(site.platform.person(ORG, &person).unwrap().unwrap().role, PersonRole::Lead, "an anonymous lead");
    let post = json!({"id": "abc-1", "text": "Hello there"});
    for _ in 0..2 {
        let (status, part) =
            site.call(reqwest::Method::POST, &format!("{ORG}/api/messages"), Some(&token), Some(post.clone())).await;
        assert_eq!((status, part["author"].as_str()), (201, Some("customer")));
    }
    let (_, read) = site.call(reqwest::Method::GET, &format!("{ORG}/api/conversation"), Some(&token), None).await;
    assert_eq!(read["parts"].as_array().unwrap().len(), 1, "a retried message is added once");
    assert_eq!(site.relay.0.lock().unwrap().first(), Some(&(ORG.to_string(), chat.clone())), "the relay was told");

    let (other, _) = site.visit(json!({})).await;
    let (_, theirs) = site.call(reqwest::Method::GET, &format!("{ORG}/api/conversation"), Some(&other), None).await;
    assert!(theirs["parts"].as_array().unwrap().is_empty(), "another visitor sees only their own chat");
    let (status, _) = site.call(reqwest::Method::GET, &format!("{ORG}/api/conversation"), Some("forged"), None).await;
    assert_eq!(status, 401);
    let (status, _) = site.call(reqwest::Method::GET, &format!("{ORG}/api/conversation"), None, None).await;
    assert_eq!(status, 401);

    let (status, error) = site
        .call(reqwest::Method::PUT, &format!("{ORG}/api/email"), Some(&token), Some(json!({"email": "nope"})))
        .await;
    assert_eq!(status, 400, "{error}");
    let (status, _) = site
        .call(
            reqwest::Method::PUT,
            &format!("{ORG}/api/email"),
            Some(&token),
            Some(json!({"email": "ada@example.com"})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(site.platform.person(ORG, &person).unwrap().unwrap().email.as_deref(), Some("ada@example.com"));

    // Files: kept, and refused over 5 MB.
    let url = format!("{}/{ORG}/api/files?name=shot.png", site.base);
    let sent = site
        .http
        .post(&url)
        .bearer_auth(&token)
        .header("Content-Type", "image/png")
        .body(vec![1u8; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 201);
    let big = site.http.post(&url).bearer_auth(&token).body(vec![0u8; 5 * 1024 * 1024 + 1]).send().await.unwrap();
    assert_eq!(big.status().as_u16(), 413, "over 5 MB is refused");

    // The stream sends every part, and resumes after the last one seen.
    let events = format!("{}/{ORG}/api/events?token={token}", site.base);
    let mut stream = site.http.get(&events).header("Last-Event-ID", "0").send().await.unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let chunk = String::from_utf8(stream.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(chunk.contains("id: 1") && chunk.contains("shot.png") && !chunk.contains("Hello there"), "{chunk}");
}

#[tokio::test]
async fn signed_identities_are_checked_and_pages_are_locked_down() {
    let site = site().await;
    let good =
        json!({"user_id": "42", "email": "ada@example.com", "name": "Ada", "signature": sign("42", "ada@example.com")});
    let (_, chat) = site.visit(good.clone()).await;
    let person = site.platform.conversation(ORG, &chat).unwrap().unwrap().person_id.unwrap();
    assert_eq!(person, "user-42");
    assert_eq!(site.platform.person(ORG, &person).unwrap().unwrap().role, PersonRole::User);
    let (_, again) = site.visit(good).await;
    assert_eq!(site.platform.conversation(ORG, &again).unwrap().unwrap().person_id.as_deref(), Some("user-42"));
    let forged = json!({"user_id": "43", "email": "ada@example.com", "signature": sign("42", "ada@example.com")});
    let (status, error) = site.call(reqwest::Method::POST, &format!("{ORG}/api/visits"), None, Some(forged)).await;
    assert_eq!(status, 401, "{error}");
    let unsigned = json!({"user_id": "42", "signature": sign("42", "")});
    let (status, _) = site.call(reqwest::Method::POST, "plain/api/visits", None, Some(unsigned)).await;
    assert_eq!(status, 401, "an org without a secret takes no identities");

    let page = site.http.get(format!("{}/{ORG}", site.base)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert!(page.text().await.unwrap().contains("/messenger/acme/messenger.js"));
    let missing = site.http.get(format!("{}/other", site.base)).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404, "no messenger for an org without one");
}
