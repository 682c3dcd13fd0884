//! The platform API over real HTTP (E9): tokens refused and accepted,
//! validation errors that name the field, paging, the change feed (the
//! platform's writes apart from the connector's), and the records as the
//! connector's `platform` import sees them.

use std::collections::BTreeSet;
use std::sync::Arc;

use casebridge::platform::StorePlatform;
use casebridge::platform::api::{ApiState, new_token, serve, token_hash};
use casebridge::runtime::Platform;
use casebridge::runtime::bindings::platform::{
    AttributeKind, CaseConversation, ConversationState, LinkedObject, PlatformAttribute, SalesforceLink,
};
use casebridge::runtime::bindings::types::{AttributeValue, AuthorRole, ConversationPart, PartSource};
use casebridge::storage::Store;

#[macro_use]
#[path = "support/databases.rs"]
mod databases;
use databases::{Backend, TestDatabase};
use serde_json::{Value, json};

const ORG: &str = "acme";

struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
    platform: StorePlatform,
    store: Arc<Store>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Api {
    async fn start(db: &TestDatabase) -> Api {
        let store = Arc::new(db.open());
        let token = new_token();
        assert!(store.create_api_token("test", &token_hash(&token), 0).unwrap());
        let platform = StorePlatform(store.clone());
        let state =
            ApiState { platform: platform.clone(), orgs: Arc::new(BTreeSet::from([ORG.to_string()])), host: None };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api/v1/orgs/{ORG}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, state, async {
            let _ = stopped.await;
        }));
        Api { base, token, client: reqwest::Client::new(), platform, store, _stop: stop }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None, Some(&self.token.clone())).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body), Some(&self.token.clone())).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body), Some(&self.token.clone())).await
    }
}

on_both_backends! {
    async fn every_request_needs_a_live_token(db) {
        let api = Api::start(db).await;
        let (status, body) = api.send(reqwest::Method::GET, "/people", None, None).await;
        assert_eq!(status, 401);
        assert!(body["error"]["message"].as_str().unwrap().contains("casebridge api token create"), "{body}");
        let (status, _) = api.send(reqwest::Method::GET, "/people", None, Some("not-a-token")).await;
        assert_eq!(status, 401);
        let (status, _) = api.get("/people").await;
        assert_eq!(status, 200);
        assert!(api.store.revoke_api_token("test", 1).unwrap());
        let (status, body) = api.get("/people").await;
        assert_eq!(status, 401, "a revoked token is refused: {body}");
    }

    async fn an_org_that_is_not_configured_is_not_found(db) {
        let api = Api::start(db).await;
        let other = api.base.replace("/orgs/acme", "/orgs/globex");
        let response = api.client.get(format!("{other}/people")).bearer_auth(&api.token).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 404);
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("globex"), "{body}");
    }

    async fn validation_errors_name_the_field(db) {
        let api = Api::start(db).await;
        let (status, _) = api.put("/attributes/person/seats", json!({"kind": "custom", "type": "integer"})).await;
        assert_eq!(status, 204);
        let (status, _) = api.put("/attributes/person/renewal", json!({"type": "date"})).await;
        assert_eq!(status, 204);
        let refused = [
            (json!({"attributes": {"plan": "Team"}}), "attributes.plan", "define it first"),
            (json!({"attributes": {"seats": "twelve"}}), "attributes.seats", "integer"),
            (json!({"attributes": {"seats": 1.5}}), "attributes.seats", "whole number"),
            (json!({"attributes": {"renewal": "31/01/2026"}}), "attributes.renewal", "2025-01-02"),
            (json!({"role": "customer"}), "role", "lead"),
            (json!({"email": "not an address"}), "email", "email address"),
            (json!({"salesforce": {"object": "contact", "id": "001000000000001AAA"}}), "salesforce.id", "003"),
            (json!({"favourite": 1}), "favourite", "not a member"),
        ];
        for (body, field, says) in refused {
            let (status, answer) = api.put("/people/p1", body.clone()).await;
            assert_eq!(status, 422, "{body} → {answer}");
            assert_eq!(answer["error"]["field"], json!(field), "{body} → {answer}");
            assert!(answer["error"]["message"].as_str().unwrap().contains(says), "{body} → {answer}");
        }
        let (status, answer) = api
            .client
            .put(format!("{}/people/p1", api.base))
            .bearer_auth(&api.token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .map(|r| (r.status().as_u16(), r))
            .unwrap();
        assert_eq!(status, 400);
        let answer: Value = answer.json().await.unwrap();
        assert!(answer["error"]["message"].as_str().unwrap().contains("JSON"), "{answer}");
        let (status, _) = api.get("/people/p1").await;
        assert_eq!(status, 404, "nothing refused was written");
    }

    async fn values_of_every_type_round_trip(db) {
        let api = Api::start(db).await;
        let types = [
            ("plan", "text", json!("Team")),
            ("vip", "boolean", json!(true)),
            ("seats", "integer", json!(12)),
            ("mrr", "decimal", json!(99.5)),
            ("renewal", "date", json!("2026-01-31")),
            ("signed_up_at", "datetime", json!("2025-01-02T03:04:05.000Z")),
            ("call_at", "time", json!("09:30:00.000")),
            ("products", "list", json!(["web", "ios"])),
            ("address", "compound", json!({"city": "Dublin"})),
        ];
        let mut attributes = serde_json::Map::new();
        for (name, kind, value) in &types {
            let (status, answer) = api.put(&format!("/attributes/person/{name}"), json!({"type": kind})).await;
            assert_eq!(status, 204, "{answer}");
            attributes.insert(name.to_string(), value.clone());
        }
        let (status, created) =
            api.put("/people/p1", json!({"email": "Ann@Example.com", "name": "Ann Lee", "attributes": attributes})).await;
        assert_eq!(status, 200, "{created}");
        let (_, read) = api.get("/people/p1").await;
        for (name, _, value) in &types {
            assert_eq!(&read["attributes"][name], value, "{name}: {read}");
        }
        // `null` removes one attribute; the rest stay.
        let (_, changed) = api.put("/people/p1", json!({"attributes": {"vip": null}})).await;
        assert!(changed["attributes"].get("vip").is_none() && changed["attributes"]["seats"] == json!(12), "{changed}");
    }

    async fn lists_are_paged_with_cursors(db) {
        let api = Api::start(db).await;
        for i in 0..120 {
            let (status, _) = api.put(&format!("/people/p{i:03}"), json!({"name": format!("Person {i}")})).await;
            assert_eq!(status, 200);
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/people?limit=50&cursor={c}"),
                None => "/people?limit=50".to_string(),
            };
            let (status, page) = api.get(&path).await;
            assert_eq!(status, 200);
            seen.extend(page["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 120);
        assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 120, "no person twice");
        let (status, answer) = api.get("/people?limit=500").await;
        assert_eq!((status, answer["error"]["field"].clone()), (422, json!("limit")));
    }

    async fn the_change_feed_tells_the_platforms_writes_from_the_connectors(db) {
        let api = Api::start(db).await;
        api.put("/attributes/person/plan", json!({"type": "text"})).await;
        api.put("/people/p1", json!({"email": "ann@example.com"})).await;
        api.put("/companies/c1", json!({"name": "Acme"})).await;
        let (_, first) = api.get("/changes").await;
        let kinds: Vec<(&str, bool)> = first["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["kind"].as_str().unwrap(), c["by_connector"].as_bool().unwrap()))
            .collect();
        assert_eq!(kinds, vec![("person", false), ("company", false)]);
        let cursor = first["cursor"].as_str().unwrap().to_string();

        // The connector writes through its import: marked as its own.
        let plan = PlatformAttribute {
            name: "plan".into(),
            kind: AttributeKind::Custom,
            value: AttributeValue::Text("Team".into()),
        };
        api.platform.set_person_attributes(ORG, "p1", vec![plan]).await.unwrap();
        // Writing what is already there changes nothing and records nothing.
        api.put("/companies/c1", json!({"name": "Acme"})).await;
        let (_, next) = api.get(&format!("/changes?cursor={cursor}")).await;
        let changes = next["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "{next}");
        assert_eq!((changes[0]["id"].clone(), changes[0]["by_connector"].clone()), (json!("p1"), json!(true)));
        assert_eq!(next["more"], json!(false));

        let page = Platform::changes(&api.platform, ORG, Some(&cursor), 10).await.unwrap();
        assert_eq!(page.changes.len(), 1);
        assert!(page.changes[0].by_connector);
    }

    async fn the_import_finds_links_and_keeps_case_conversations_and_notes_once(db) {
        let api = Api::start(db).await;
        api.put(
            "/people/p1",
            json!({"email": "Ann@Example.com", "salesforce": {"object": "contact", "id": "003000000000001AAA"}}),
        )
        .await;
        api.put("/people/p2", json!({"email": "ann@example.com"})).await;
        let found = api.platform.find_people(ORG, "email", "ANN@example.COM").await.unwrap();
        assert_eq!(found.len(), 2, "emails compare case-insensitively");
        let link = SalesforceLink { object: LinkedObject::Contact, id: "003000000000001AAA".into() };
        let linked = api.platform.find_linked_people(ORG, &link).await.unwrap();
        assert_eq!(linked.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), vec!["p1"]);

        let part = |id: &str, at: i64| ConversationPart {
            id: id.into(),
            source: PartSource::CaseComment,
            author: AuthorRole::Customer,
            author_name: None,
            text: format!("message {id}"),
            created_at: at,
            attachments: vec![],
        };
        let case = |parts: Vec<ConversationPart>| CaseConversation {
            case_id: "500000000000001AAA".into(),
            subject: Some("Help".into()),
            state: ConversationState::Open,
            person_id: Some("p1".into()),
            attributes: vec![],
            parts,
        };
        let first = api.platform.upsert_case_conversation(ORG, case(vec![part("a", 1)])).await.unwrap();
        let again = api.platform.upsert_case_conversation(ORG, case(vec![part("a", 1), part("b", 2)])).await.unwrap();
        assert_eq!(first, again, "one conversation per case");
        let (_, conversation) = api.get(&format!("/conversations/{first}")).await;
        assert_eq!(conversation["channel"], json!("salesforce_case"));
        assert_eq!(conversation["parts"].as_array().unwrap().len(), 2, "each part once: {conversation}");

        let note = Platform::add_note(&api.platform, ORG, &first, "key-1", "Escalated").await.unwrap();
        let same = Platform::add_note(&api.platform, ORG, &first, "key-1", "Escalated").await.unwrap();
        assert_eq!(note, same);
        let (_, conversation) = api.get(&format!("/conversations/{first}")).await;
        assert_eq!(conversation["notes"].as_array().unwrap().len(), 1, "{conversation}");

        // Messages pushed by the platform are kept once per id.
        let (status, _) = api.put("/conversations/chat-1", json!({"channel": "messenger", "subject": "Hi"})).await;
        assert_eq!(status, 200);
        for _ in 0..2 {
            let (status, _) = api
                .post("/conversations/chat-1/messages", json!({"id": "m1", "author": "customer", "text": "Hello"}))
                .await;
            assert_eq!(status, 201);
        }
        let (_, chat) = api.get("/conversations/chat-1").await;
        assert_eq!(chat["parts"].as_array().unwrap().len(), 1);
        let (status, answer) =
            api.post("/conversations/nope/messages", json!({"id": "m1", "author": "customer", "text": "x"})).await;
        assert_eq!(status, 404, "{answer}");
    }

    async fn the_scheme_is_case_insensitive_and_an_oversized_body_is_413(db) {
        let api = Api::start(db).await;
        let response = api
            .client
            .get(format!("{}/people", api.base))
            .header("authorization", format!("bearer {}", api.token))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "`bearer` in lower case works");
        let huge = json!({"name": "x".repeat(casebridge::platform::api::MAX_BODY_BYTES + 1)});
        let (status, answer) = api.put("/people/p1", huge).await;
        assert_eq!(status, 413, "{answer}");
    }
}

mod sync_calls {
    use super::*;

    on_both_backends! {
        fn notes_of_different_keys_never_share_an_id(db) {
            let store = Arc::new(db.open());
            let platform = StorePlatform(store);
            let conversation = casebridge::platform::ConversationPatch::default();
            platform.put_conversation(ORG, "chat-1", conversation, false, 1).unwrap();
            // Same length, same millisecond.
            let first = platform.add_note(ORG, "chat-1", "key-a", "one", false, 5).unwrap();
            let second = platform.add_note(ORG, "chat-1", "key-b", "two", false, 5).unwrap();
            assert_ne!(first, second);
            assert_eq!(platform.add_note(ORG, "chat-1", "key-a", "one", false, 6).unwrap(), first, "one note per key");
            let notes = platform.conversation(ORG, "chat-1").unwrap().unwrap().notes;
            assert_eq!(notes.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(), vec!["one", "two"]);
            let missing = platform.add_note(ORG, "nope", "key-c", "three", false, 7);
            assert!(matches!(missing, Err(casebridge::platform::PlatformFailure::NotFound(_))), "{missing:?}");
        }
    }
}
