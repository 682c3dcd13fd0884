//! Messaging for In-App and Web on the messaging origin, as a Custom Client
//! (Salesforce's sample app, Fin's hand-off) sees it, and the live agent's
//! side through the admin API.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use casebridge_emulator::{Fault, FaultTarget};
use rand::Rng as _;
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::support::{Org, error_codes, status_json};

const DEPLOYMENT: &str = "Web_Messenger";

fn uuid() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn scrt(org: &Org, method: Method, path: &str) -> RequestBuilder {
    org.http.request(method, format!("{}/iamessage/api/v2{path}", org.creds.scrt_url))
}

/// An anonymous customer: a token and what came with it.
struct Customer {
    token: String,
    last_event_id: String,
    body: Value,
}

fn token_for(org: &Org, deployment: &str) -> Customer {
    let response = scrt(org, Method::POST, "/authorization/unauthenticated/access-token")
        .json(&json!({"orgId": org.creds.org_id, "esDeveloperName": deployment, "capabilitiesVersion": "1",
                      "platform": "Web", "context": {"appName": "casebridge", "clientVersion": "1.0.0"}}))
        .send()
        .unwrap();
    let (status, body) = status_json(response);
    assert_eq!(status, 200, "{body}");
    Customer {
        token: body["accessToken"].as_str().unwrap().to_string(),
        last_event_id: body["lastEventId"].as_str().unwrap().to_string(),
        body,
    }
}

fn customer(org: &Org) -> Customer {
    token_for(org, DEPLOYMENT)
}

fn create(org: &Org, who: &Customer, id: &str, attributes: Value) -> (u16, Value) {
    status_json(
        scrt(org, Method::POST, "/conversation")
            .bearer_auth(&who.token)
            .json(&json!({"conversationId": id, "esDeveloperName": DEPLOYMENT, "routingAttributes": attributes,
                          "language": "en_US"}))
            .send()
            .unwrap(),
    )
}

fn conversation(org: &Org, who: &Customer, attributes: Value) -> String {
    let id = uuid();
    let (status, body) = create(org, who, &id, attributes);
    assert_eq!(status, 201, "{body}");
    id
}

fn send_with(
    org: &Org,
    who: &Customer,
    conversation: &str,
    message_id: &str,
    text: &str,
    extra: Value,
) -> (u16, Value) {
    let mut body = json!({
        "message": {"id": message_id, "messageType": "StaticContentMessage",
                    "staticContent": {"formatType": "Text", "text": text}},
        "esDeveloperName": DEPLOYMENT,
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    status_json(
        scrt(org, Method::POST, &format!("/conversation/{conversation}/message"))
            .bearer_auth(&who.token)
            .json(&body)
            .send()
            .unwrap(),
    )
}

fn send(org: &Org, who: &Customer, conversation: &str, text: &str) -> (u16, Value) {
    send_with(org, who, conversation, &uuid(), text, json!({}))
}

fn entries(org: &Org, who: &Customer, conversation: &str, query: &str) -> (u16, Value) {
    status_json(
        scrt(org, Method::GET, &format!("/conversation/{conversation}/entries{query}"))
            .bearer_auth(&who.token)
            .send()
            .unwrap(),
    )
}

fn admin(org: &Org, method: Method, path: &str, body: Value) -> (u16, Value) {
    status_json(org.admin(method, &format!("/messaging{path}")).json(&body).send().unwrap())
}

/// The messaging session records of a conversation, oldest first.
fn sessions(org: &Org, conversation: &str, fields: &str) -> Vec<Value> {
    let soql = format!(
        "SELECT Id, {fields} FROM MessagingSession WHERE Conversation.ConversationIdentifier = '{conversation}' ORDER BY Name"
    );
    org.query(&soql)["records"].as_array().unwrap().clone()
}

fn session_id(org: &Org, conversation: &str) -> String {
    sessions(org, conversation, "Status").last().unwrap()["Id"].as_str().unwrap().to_string()
}

/// One server-sent event.
#[derive(Debug)]
struct Sse {
    id: String,
    event: String,
    data: Value,
}

impl Sse {
    /// `data.conversationEntry.entryPayload`, parsed (it is a JSON string on the stream).
    fn payload(&self) -> Value {
        let raw = self.data["conversationEntry"]["entryPayload"].as_str().expect("entryPayload is a string");
        serde_json::from_str(raw).unwrap()
    }
}

struct Stream(BufReader<Response>);

impl Stream {
    fn open(org: &Org, who: &Customer, last_event_id: Option<&str>) -> Stream {
        let client = Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
        let mut request = client
            .get(format!("{}/eventrouter/v1/sse", org.creds.scrt_url))
            .bearer_auth(&who.token)
            .header("Accept", "text/event-stream")
            .header("X-Org-Id", &org.creds.org_id[..15]);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-Id", id);
        }
        let response = request.send().unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Stream(BufReader::new(response))
    }

    /// The next event other than a ping.
    fn next(&mut self) -> Sse {
        loop {
            let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
            loop {
                let mut line = String::new();
                assert!(self.0.read_line(&mut line).unwrap() > 0, "the stream ended");
                let line = line.trim_end_matches(['\r', '\n']);
                if line.is_empty() {
                    break;
                }
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if event.is_empty() || event == "ping" {
                continue;
            }
            return Sse { id, event, data: serde_json::from_str(&data).unwrap() };
        }
    }

    fn take(&mut self, n: usize) -> Vec<Sse> {
        (0..n).map(|_| self.next()).collect()
    }
}

#[test]
fn tokens_answer_like_salesforce_and_unknown_orgs_or_deployments_are_refused() {
    let org = Org::demo();
    assert_ne!(org.creds.scrt_url, org.creds.instance_url);
    assert_eq!(org.emulator.scrt_url(), org.creds.scrt_url);
    assert!(org.creds.org_id.starts_with("00D") && org.creds.org_id.len() == 18);
    let who = customer(&org);
    assert_eq!(who.token.split('.').count(), 3, "a JWT");
    assert!(who.last_event_id.parse::<u64>().is_ok());
    let context = &who.body["context"];
    assert!(context["endUser"]["subject"].as_str().unwrap().starts_with("v2/iamessage/ANON/"));
    let config = &context["configuration"]["embeddedServiceConfig"];
    assert_eq!(config["name"], DEPLOYMENT);
    assert_eq!(config["deploymentType"], "api");
    let fields = config["forms"][0]["formFields"].as_array().unwrap();
    let email = fields.iter().find(|f| f["name"] == "_email").unwrap();
    assert_eq!((email["maxLength"].as_u64(), email["isHidden"].as_bool()), (Some(80), Some(true)));
    // The JWT's claims name the org by its 15-character id.
    use base64::Engine as _;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(who.token.split('.').nth(1).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&claims).unwrap();
    assert_eq!(claims["orgId"], json!(&org.creds.org_id[..15]));
    assert_eq!(claims["sub"], context["endUser"]["subject"]);

    let ask = |body: Value| {
        status_json(scrt(&org, Method::POST, "/authorization/unauthenticated/access-token").json(&body).send().unwrap())
    };
    let base = json!({"orgId": org.creds.org_id, "esDeveloperName": DEPLOYMENT, "capabilitiesVersion": "1", "platform": "Web"});
    let with = |key: &str, value: Value| {
        let mut b = base.clone();
        b[key] = value;
        b
    };
    let (status, body) = ask(with("orgId", json!("00D5g000000XXXXAAA")));
    assert_eq!(status, 404, "{body}");
    assert!(body["message"].is_string());
    assert_eq!(ask(with("esDeveloperName", json!("No_Such_Deployment"))).0, 404);
    assert_eq!(ask(with("orgId", json!(&org.creds.org_id[..15]))).0, 200, "15 characters work too");
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("capabilitiesVersion");
    assert_eq!(ask(missing).0, 400);
    // The messaging origin serves neither REST nor OAuth, but the admin API.
    let (status, body) =
        status_json(org.http.get(format!("{}/services/data/v59.0/limits", org.creds.scrt_url)).send().unwrap());
    assert_eq!((status, body["message"].is_string()), (404, true));
    assert_eq!(
        org.http.get(format!("{}/__emulator/messaging/deployments", org.creds.scrt_url)).send().unwrap().status(),
        200
    );
    let (_, line) = status_json(org.admin(Method::GET, "/credentials").send().unwrap());
    assert_eq!(
        (line["scrt_url"].as_str(), line["org_id"].as_str()),
        (Some(org.creds.scrt_url.as_str()), Some(org.creds.org_id.as_str()))
    );
    assert_eq!(org.emulator.counters().total, 0, "messaging calls are not REST API calls");
}

#[test]
fn a_new_token_is_a_new_identity_and_the_continuation_token_keeps_it() {
    let org = Org::demo();
    let alice = customer(&org);
    let id = conversation(&org, &alice, json!({"_firstName": "Alice"}));
    assert_eq!(entries(&org, &alice, &id, "").0, 200);

    let stranger = customer(&org);
    assert_ne!(stranger.body["context"]["endUser"]["subject"], alice.body["context"]["endUser"]["subject"]);
    let (status, body) = entries(&org, &stranger, &id, "");
    assert_eq!(status, 403, "{body}");
    assert_eq!(send(&org, &stranger, &id, "let me in").0, 403);
    let (status, body) =
        status_json(scrt(&org, Method::GET, "/conversation/list").bearer_auth(&stranger.token).send().unwrap());
    assert_eq!((status, body["openConversationsFound"].as_u64()), (200, Some(0)));
    assert_eq!(create(&org, &stranger, &id, json!({})).0, 403, "someone else's conversation id");

    let (status, renewed) = status_json(
        scrt(&org, Method::GET, "/authorization/continuation-access-token").bearer_auth(&alice.token).send().unwrap(),
    );
    assert_eq!(status, 200, "{renewed}");
    assert_ne!(renewed["accessToken"], json!(alice.token));
    assert_eq!(renewed["context"]["endUser"]["subject"], alice.body["context"]["endUser"]["subject"]);
    let again = Customer {
        token: renewed["accessToken"].as_str().unwrap().to_string(),
        last_event_id: String::new(),
        body: renewed,
    };
    assert_eq!(send(&org, &again, &id, "still me").0, 202);
    let (_, list) =
        status_json(scrt(&org, Method::GET, "/conversation/list").bearer_auth(&again.token).send().unwrap());
    assert_eq!(list["conversations"][0]["conversationId"], json!(id));

    let nobody = Customer { token: "not-a-token".into(), last_event_id: String::new(), body: Value::Null };
    assert_eq!(entries(&org, &nobody, &id, "").0, 401);
    org.emulator.expire_sessions();
    let (status, body) = entries(&org, &again, &id, "");
    assert_eq!((status, body["message"].is_string()), (401, true));
}

#[test]
fn conversation_ids_must_be_lowercase_uuids_and_are_used_once() {
    let org = Org::demo();
    let who = customer(&org);
    let id = uuid();
    for bad in [id.to_uppercase(), "not-a-uuid".to_string(), "123e4567-e89b-12d3-c456-426614174000".to_string()] {
        let (status, body) = create(&org, &who, &bad, json!({}));
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["message"], "Specify the conversationId in UUID format. The UUID must be in lowercase.");
    }
    assert_eq!(create(&org, &who, &id, json!({})), (201, json!({"conversationId": id})));
    assert_eq!(create(&org, &who, &id, json!({})).0, 409);
    let (status, _) = create(&org, &who, &uuid(), json!("not an object"));
    assert_eq!(status, 400);
    assert_eq!(sessions(&org, &id, "Status").len(), 1);
}

#[test]
fn messages_are_accepted_listed_and_not_stored_twice() {
    let org = Org::demo();
    let who = customer(&org);
    let id = conversation(&org, &who, json!({"_firstName": "Amelia"}));
    let first = uuid();
    let (status, body) = send_with(&org, &who, &id, &first, "Hello, I need help", json!({}));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["conversationEntries"][0]["id"], json!(first));
    assert_eq!(send(&org, &who, &id, "My export fails").0, 202);
    // The same id again: accepted as the first time, not stored again.
    let (status, again) = send_with(&org, &who, &id, &first, "Hello again?", json!({}));
    assert_eq!((status, again), (202, body));

    let (status, list) = entries(&org, &who, &id, "");
    assert_eq!(status, 200);
    let list = list["conversationEntries"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    // Newest first, with the payload as an object.
    let texts: Vec<&str> =
        list.iter().map(|e| e["entryPayload"]["abstractMessage"]["staticContent"]["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["My export fails", "Hello, I need help"]);
    let oldest = &list[1];
    assert_eq!(oldest["identifier"], json!(first));
    assert_eq!(oldest["entryType"], "Message");
    assert_eq!(oldest["entryPayload"]["entryType"], "Message");
    assert_eq!(oldest["entryPayload"]["abstractMessage"]["messageType"], "StaticContentMessage");
    assert_eq!(oldest["sender"]["role"], "EndUser");
    assert_eq!(oldest["senderDisplayName"], "Guest");
    assert!(oldest["transcriptedTimestamp"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(oldest["relatedRecords"], json!([session_id(&org, &id)]));

    let (_, from_start) = entries(&org, &who, &id, "?direction=FromStart&limit=1");
    assert_eq!(from_start["conversationEntries"][0]["identifier"], json!(first));
    let (_, filtered) = entries(&org, &who, &id, "?entryTypeFilter=ParticipantChanged,RoutingResult");
    assert_eq!(filtered["conversationEntries"], json!([]));
    assert_eq!(entries(&org, &who, &id, "?limit=51").0, 400);
    let after = list[0]["transcriptedTimestamp"].as_i64().unwrap() + 1;
    let (_, later) = entries(&org, &who, &id, &format!("?startTimestamp={after}"));
    assert_eq!(later["conversationEntries"], json!([]));

    for bad in [
        json!({"message": {"id": uuid(), "messageType": "StaticContentMessage", "staticContent": {"formatType": "Text"}}}),
        json!({"message": {"id": "1", "messageType": "StaticContentMessage", "staticContent": {"formatType": "Text", "text": "x"}}}),
        json!({"message": {"id": uuid(), "messageType": "Nope", "staticContent": {"formatType": "Text", "text": "x"}}}),
    ] {
        let response = scrt(&org, Method::POST, &format!("/conversation/{id}/message"))
            .bearer_auth(&who.token)
            .json(&bad)
            .send()
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    assert_eq!(send(&org, &who, &uuid(), "to nowhere").0, 404);
    let counts = &sessions(&org, &id, "EndUserMessageCount")[0];
    assert_eq!(counts["EndUserMessageCount"], 2);

    let (_, listed) =
        status_json(scrt(&org, Method::GET, "/conversation/list?limit=20").bearer_auth(&who.token).send().unwrap());
    assert_eq!(listed["openConversationsFound"], 1);
    assert_eq!(listed["conversations"][0]["conversationId"], json!(id));
    assert!(listed["conversations"][0]["startTimestamp"].is_i64());
}

#[test]
fn pre_chat_parameters_fill_the_messaging_session_unknown_keys_are_dropped_and_long_values_refused() {
    let org = Org::demo();
    let who = customer(&org);
    // Fin's attributes (B2): only the deployment's parameters reach the session.
    let id = conversation(
        &org,
        &who,
        json!({
            "_firstName": "Amelia", "_lastName": "Clarke", "_email": "amelia.clarke@northwind.example",
            "_subject": "Can't reset my password", "user_user_id": "4a7a9b3d-951e-47d4-ae41-8e3f05a6969a",
            "user_geoip_data_city_name": "Seattle", "conversation_custom_data_AI Tone of Voice": "Friendly",
            "user_browser_locale": "en", "user_email": "x".repeat(500), "Status": "Ended",
        }),
    );
    let rows = sessions(
        &org,
        &id,
        "Status, ChannelType, FirstName__c, LastName__c, Email__c, Subject__c, FinUserId__c, OwnerId, \
         MessagingEndUser.Name, MessagingEndUser.MessagingPlatformKey, Conversation.ConversationIdentifier",
    );
    assert_eq!(rows.len(), 1);
    let s = &rows[0];
    assert_eq!(s["Status"], "Waiting");
    assert_eq!(s["ChannelType"], "EmbeddedMessaging");
    assert_eq!(s["FirstName__c"], "Amelia");
    assert_eq!(s["LastName__c"], "Clarke");
    assert_eq!(s["Email__c"], "amelia.clarke@northwind.example");
    assert_eq!(s["Subject__c"], "Can't reset my password");
    assert_eq!(s["FinUserId__c"], "4a7a9b3d-951e-47d4-ae41-8e3f05a6969a");
    assert_eq!(s["OwnerId"], json!(org.emulator.seeded().handoff_queue_id), "routed to the hand-off queue");
    assert_eq!(s["MessagingEndUser"]["Name"], "Guest");
    assert_eq!(s["MessagingEndUser"]["MessagingPlatformKey"], who.body["context"]["endUser"]["subject"]);
    assert_eq!(s["Conversation"]["ConversationIdentifier"], json!(id));
    // The records read through the sObject API too.
    let session_id = s["Id"].as_str().unwrap();
    let (status, record) = status_json(org.get(&format!("/sobjects/MessagingSession/{session_id}")));
    assert_eq!((status, record["Email__c"].as_str()), (200, Some("amelia.clarke@northwind.example")));
    let end_user = record["MessagingEndUserId"].as_str().unwrap();
    let (status, user) = status_json(org.get(&format!("/sobjects/MessagingEndUser/{end_user}")));
    assert_eq!((status, user["MessageType"].as_str()), (200, Some("EmbeddedMessaging")));
    // What the org sets is read-only to the API.
    let (status, body) =
        status_json(org.patch(&format!("/sobjects/MessagingSession/{session_id}"), json!({"Status": "Ended"})));
    assert_eq!((status, error_codes(&body)), (400, vec!["INVALID_FIELD_FOR_INSERT_UPDATE".to_string()]));
    assert_eq!(
        org.patch(
            &format!("/sobjects/MessagingSession/{session_id}"),
            json!({"CaseId": org.emulator.seeded().agent_case_ids[0]})
        )
        .status(),
        204
    );

    // A value longer than its parameter's maximum length is refused, and nothing is created.
    let long = uuid();
    let (status, body) = create(&org, &who, &long, json!({"_email": format!("{}@example.com", "a".repeat(70))}));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("_email"), "{body}");
    assert!(sessions(&org, &long, "Status").is_empty());
    let exactly = format!("{}@example.com", "a".repeat(80 - "@example.com".len()));
    let fits = conversation(&org, &who, json!({"_email": exactly}));
    assert_eq!(sessions(&org, &fits, "Email__c")[0]["Email__c"], json!(exactly));
    assert_eq!(
        send_with(&org, &who, &fits, &uuid(), "hi", json!({"routingAttributes": {"_firstName": "x".repeat(41)}})).0,
        400
    );
}

#[test]
fn deployments_are_set_up_through_the_admin_api() {
    let org = Org::demo();
    let (status, body) = admin(
        &org,
        Method::POST,
        "/deployments",
        json!({"developer_name": "Support_Chat", "label": "Support Chat", "queue_id": null, "pre_chat": [
            {"name": "user_email", "max_length": 80, "field": "Email__c"},
            {"name": "conversation_custom_data_Plan", "max_length": 10, "field": "Plan__c", "label": "Plan"},
            {"name": "user_user_id", "max_length": 36}
        ]}),
    );
    assert_eq!(status, 201, "{body}");
    assert!(body["channel_id"].as_str().unwrap().starts_with("0Mj"));
    let channel =
        org.query("SELECT DeveloperName, MessageType FROM MessagingChannel WHERE DeveloperName = 'Support_Chat'");
    assert_eq!(channel["records"][0]["MessageType"], "EmbeddedMessaging");
    let (_, all) = admin(&org, Method::GET, "/deployments", Value::Null);
    assert_eq!(all["deployments"].as_array().unwrap().len(), 2);
    for bad in [
        json!({"developer_name": "1bad"}),
        json!({"developer_name": "Bad_Field", "pre_chat": [{"name": "x", "field": "Status"}]}),
        json!({"developer_name": "Short_Field", "pre_chat": [{"name": "x", "max_length": 200, "field": "FirstName__c"}]}),
        json!({"developer_name": "No_Field", "pre_chat": [{"name": "x", "field": "NoSuchField"}]}),
    ] {
        assert_eq!(admin(&org, Method::POST, "/deployments", bad.clone()).0, 400, "{bad}");
    }

    let who = token_for(&org, "Support_Chat");
    let id = uuid();
    let (status, body) = status_json(
        scrt(&org, Method::POST, "/conversation")
            .bearer_auth(&who.token)
            .json(&json!({"conversationId": id, "esDeveloperName": "Support_Chat", "routingAttributes":
                {"user_email": "ben@northwind.example", "conversation_custom_data_Plan": "Team", "_firstName": "Ben"}}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 201, "{body}");
    let s = &sessions(&org, &id, "Email__c, Plan__c, FirstName__c, OwnerId")[0];
    assert_eq!((s["Email__c"].as_str(), s["Plan__c"].as_str()), (Some("ben@northwind.example"), Some("Team")));
    assert_eq!(s["FirstName__c"], Value::Null, "_firstName is not a parameter of this deployment");
    // A token of one deployment cannot open conversations in another.
    let (status, _) = create(&org, &who, &uuid(), json!({}));
    assert_eq!(status, 400);
}

#[test]
fn an_ended_session_answers_417_until_the_client_starts_a_new_one() {
    let org = Org::demo();
    let who = customer(&org);
    let id = conversation(&org, &who, json!({"_subject": "First problem"}));
    assert_eq!(send(&org, &who, &id, "hello").0, 202);
    let (status, waiting) = admin(&org, Method::GET, "/sessions?status=Waiting", Value::Null);
    assert_eq!(status, 200);
    let listed =
        waiting["sessions"].as_array().unwrap().iter().find(|s| s["conversation_id"] == json!(id)).unwrap().clone();
    assert_eq!(listed["routing_attributes"], json!({"_subject": "First problem"}));
    let session = listed["session_id"].as_str().unwrap().to_string();
    let (status, accepted) = admin(&org, Method::POST, &format!("/sessions/{session}/accept"), json!({}));
    assert_eq!((status, accepted["status"].as_str()), (200, Some("Active")), "{accepted}");
    assert_eq!(
        admin(&org, Method::POST, &format!("/sessions/{session}/messages"), json!({"text": "Hi, Maya here"})).0,
        201
    );
    let (status, ended) = admin(&org, Method::POST, &format!("/sessions/{session}/end"), json!({}));
    assert_eq!((status, ended["status"].as_str()), (200, Some("Ended")));
    let rows = sessions(&org, &id, "Status, AcceptTime, EndTime, AgentType, AgentMessageCount, OwnerId");
    let s = &rows[0];
    assert_eq!(s["Status"], "Ended");
    assert!(s["AcceptTime"].is_string() && s["EndTime"].is_string());
    assert_eq!((s["AgentType"].as_str(), s["AgentMessageCount"].as_i64()), (Some("Agent"), Some(1)));
    assert_eq!(s["OwnerId"], json!(org.emulator.seeded().handoff_user_id));

    let retry = uuid();
    let (status, body) = send_with(&org, &who, &id, &retry, "one more thing", json!({}));
    assert_eq!(status, 417, "{body}");
    assert!(body["message"].is_string());
    assert_eq!(send_with(&org, &who, &id, &retry, "one more thing", json!({})).0, 417, "still no session");
    let (status, _) = send_with(
        &org,
        &who,
        &id,
        &retry,
        "one more thing",
        json!({"isNewMessagingSession": true, "routingAttributes": {"_subject": "Second problem"}, "language": "en_US"}),
    );
    assert_eq!(status, 202);
    let rows = sessions(&org, &id, "Status, Subject__c, EndUserMessageCount");
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[1]["Status"].as_str(), rows[1]["Subject__c"].as_str()), (Some("Waiting"), Some("Second problem")));
    assert_eq!(rows[1]["EndUserMessageCount"], 1);
    assert_eq!(send(&org, &who, &id, "and now?").0, 202, "the new session takes messages");
    // Ending again is refused; accepting a session that is not waiting too.
    assert_eq!(admin(&org, Method::POST, &format!("/sessions/{session}/end"), json!({})).0, 400);
    assert_eq!(admin(&org, Method::POST, &format!("/sessions/{session}/accept"), json!({})).0, 400);
    let (_, all) = entries(&org, &who, &id, "?direction=FromStart&entryTypeFilter=Message");
    let senders: Vec<&str> =
        all["conversationEntries"].as_array().unwrap().iter().map(|e| e["sender"]["role"].as_str().unwrap()).collect();
    assert_eq!(senders, ["EndUser", "Agent", "EndUser", "EndUser"]);
}

/// A `multipart/form-data` body with the two parts of a file upload.
fn multipart(entry: &Value, file_name: &str, content_type: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("casebridge-{}", uuid());
    let mut body = Vec::new();
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"messageEntry\"\r\nContent-Type: application/json\r\n\r\n").bytes());
    body.extend(entry.to_string().bytes());
    body.extend(format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"fileData\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n").bytes());
    body.extend(bytes);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[test]
fn files_are_uploaded_as_files_of_the_session() {
    let org = Org::demo();
    let who = customer(&org);
    let id = conversation(&org, &who, json!({}));
    let png: &[u8] = b"\x89PNG\r\n\x1a\n not really an image \r\n--";
    let message_id = uuid();
    let entry = json!({"message": {"id": message_id, "fileId": uuid(), "text": "Here is the screenshot"},
                       "esDeveloperName": DEPLOYMENT, "routingAttributes": {"_email": "amelia@northwind.example"}});
    let (content_type, body) = multipart(&entry, "crash.png", "image/png", png);
    let upload = |content_type: &str, body: Vec<u8>| {
        status_json(
            scrt(&org, Method::POST, &format!("/conversation/{id}/file"))
                .bearer_auth(&who.token)
                .header("Content-Type", content_type)
                .body(body)
                .send()
                .unwrap(),
        )
    };
    let (status, answer) = upload(&content_type, body.clone());
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["conversationEntries"][0]["id"], json!(message_id));
    assert_eq!(upload(&content_type, body).0, 202, "the same message id is not stored twice");

    let (_, list) = entries(&org, &who, &id, "");
    let list = list["conversationEntries"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let content = &list[0]["entryPayload"]["abstractMessage"]["staticContent"];
    assert_eq!(content["formatType"], "Attachments");
    assert_eq!(content["text"], "Here is the screenshot");
    let attachment = &content["attachments"][0];
    assert_eq!((attachment["name"].as_str(), attachment["mimeType"].as_str()), (Some("crash.png"), Some("image/png")));
    let version = attachment["contentVersionId"].as_str().unwrap();
    let bytes = org
        .request(Method::GET, &format!("/sobjects/ContentVersion/{version}/VersionData"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(bytes.as_ref(), png);
    let session = session_id(&org, &id);
    let links = org.query(&format!(
        "SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId = '{session}' AND ContentDocumentId = '{}'",
        attachment["contentDocumentId"].as_str().unwrap()
    ));
    assert_eq!(links["totalSize"], 1);

    let (content_type, body) = multipart(&json!({"message": {"id": uuid()}}), "a.txt", "text/plain", b"");
    assert_eq!(upload(&content_type, body).0, 400, "an empty file");
    let too_long = json!({"message": {"id": uuid()}, "routingAttributes": {"_email": "e".repeat(81)}});
    let (content_type, body) = multipart(&too_long, "a.txt", "text/plain", b"x");
    assert_eq!(upload(&content_type, body).0, 400, "routing attributes follow the same rule");
    let (_, only_entry) = multipart(&json!({}), "a.txt", "text/plain", b"x");
    assert_eq!(upload("application/json", only_entry).0, 400, "not multipart");
    let big = vec![7u8; 5 * 1024 * 1024 + 1];
    let (content_type, body) =
        multipart(&json!({"message": {"id": uuid()}}), "big.bin", "application/octet-stream", &big);
    assert_eq!(upload(&content_type, body).0, 413);
}

#[test]
fn events_stream_in_order_with_ids_and_resume_after_last_event_id() {
    let org = Org::demo();
    let who = customer(&org);
    let missing_org =
        org.http.get(format!("{}/eventrouter/v1/sse", org.creds.scrt_url)).bearer_auth(&who.token).send().unwrap();
    assert_eq!(missing_org.status(), 400, "X-Org-Id is required");
    let mut stream = Stream::open(&org, &who, Some(&who.last_event_id));
    let id = conversation(&org, &who, json!({"_firstName": "Dmitri"}));
    let mine = uuid();
    assert_eq!(send_with(&org, &who, &id, &mine, "The export is stuck", json!({})).0, 202);
    let typing = json!({"entryType": "TypingStartedIndicator", "id": uuid()});
    let response = scrt(&org, Method::POST, &format!("/conversation/{id}/entry"))
        .bearer_auth(&who.token)
        .json(&typing)
        .send()
        .unwrap();
    assert_eq!(response.status(), 202);
    let session = session_id(&org, &id);
    assert_eq!(
        admin(
            &org,
            Method::POST,
            &format!("/sessions/{id}/accept"),
            json!({"username": "tom.becker@casebridge.example"})
        )
        .0,
        200
    );
    assert_eq!(admin(&org, Method::POST, &format!("/sessions/{session}/typing"), json!({"typing": true})).0, 200);
    assert_eq!(
        admin(&org, Method::POST, &format!("/sessions/{session}/messages"), json!({"text": "Looking into it"})).0,
        201
    );
    assert_eq!(admin(&org, Method::POST, &format!("/sessions/{session}/end"), json!({})).0, 200);

    let events = stream.take(9);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "CONVERSATION_MESSAGE",
            "CONVERSATION_TYPING_STARTED_INDICATOR",
            "CONVERSATION_ROUTING_RESULT",
            "CONVERSATION_PARTICIPANT_CHANGED",
            "CONVERSATION_SESSION_STATUS_CHANGED",
            "CONVERSATION_TYPING_STARTED_INDICATOR",
            "CONVERSATION_MESSAGE",
            "CONVERSATION_PARTICIPANT_CHANGED",
            "CONVERSATION_SESSION_STATUS_CHANGED",
        ]
    );
    let ids: Vec<u64> = events.iter().map(|e| e.id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // The customer's own message comes back, with its id.
    let echo = &events[0];
    assert_eq!(echo.data["conversationId"], json!(id));
    assert_eq!(echo.data["channelType"], "embedded_messaging");
    assert!(echo.data["channelAddressIdentifier"].as_str().unwrap().starts_with("0Mj"));
    assert_eq!(echo.data["conversationEntry"]["identifier"], json!(mine));
    assert_eq!(echo.data["conversationEntry"]["sender"]["role"], "EndUser");
    assert_eq!(echo.payload()["abstractMessage"]["staticContent"]["text"], "The export is stuck");
    assert_eq!(echo.data["conversationEntry"]["relatedRecords"], json!([session]));
    let routing = events[2].payload();
    assert_eq!(
        (routing["entryType"].as_str(), routing["routingType"].as_str(), routing["failureType"].as_str()),
        (Some("RoutingResult"), Some("Initial"), Some("None"))
    );
    let joined = events[3].payload();
    assert_eq!(joined["entries"][0]["operation"], "add");
    assert_eq!(joined["entries"][0]["displayName"], "Tom Becker");
    assert_eq!(joined["entries"][0]["participant"]["role"], "Agent");
    assert_eq!(events[4].payload()["sessionStatus"], "Active");
    assert_eq!(events[5].data["conversationEntry"]["sender"]["role"], "Agent");
    let reply = &events[6];
    assert_eq!(reply.data["conversationEntry"]["sender"]["role"], "Agent");
    assert_eq!(reply.data["conversationEntry"]["senderDisplayName"], "Tom Becker");
    assert_eq!(reply.payload()["abstractMessage"]["staticContent"]["text"], "Looking into it");
    assert_eq!(events[7].payload()["entries"][0]["operation"], "remove");
    assert_eq!(events[8].payload()["sessionStatus"], "Ended");
    drop(stream);

    // Resuming after the third event replays the rest, then streams what comes next.
    let mut resumed = Stream::open(&org, &who, Some(&events[2].id));
    let replayed = resumed.take(6);
    assert_eq!(
        replayed.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        events[3..].iter().map(|e| e.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        send_with(&org, &who, &id, &uuid(), "new session please", json!({"isNewMessagingSession": true})).0,
        202
    );
    let live = resumed.next();
    assert_eq!(live.event, "CONVERSATION_MESSAGE");
    assert_eq!(live.payload()["abstractMessage"]["staticContent"]["text"], "new session please");

    // Another identity's stream carries none of it.
    let other = customer(&org);
    let mut theirs = Stream::open(&org, &other, Some("0"));
    let their_id = conversation(&org, &other, json!({}));
    assert_eq!(send(&org, &other, &their_id, "mine only").0, 202);
    let first = theirs.next();
    assert_eq!(first.data["conversationId"], json!(their_id));
    // Without Last-Event-Id a stream starts from now.
    let mut fresh = Stream::open(&org, &who, None);
    assert_eq!(send(&org, &who, &id, "after connecting").0, 202);
    assert_eq!(fresh.next().payload()["abstractMessage"]["staticContent"]["text"], "after connecting");
}

#[test]
fn routing_can_be_made_to_fail() {
    let org = Org::demo();
    let (status, body) = admin(&org, Method::PUT, "/routing", json!({"fail": true, "reason": "No agents online"}));
    assert_eq!((status, body["fail"].as_bool()), (200, Some(true)));
    let who = customer(&org);
    let mut stream = Stream::open(&org, &who, Some(&who.last_event_id));
    let id = conversation(&org, &who, json!({}));
    let events = stream.take(2);
    assert_eq!(events[0].event, "CONVERSATION_ROUTING_RESULT");
    let result = events[0].payload();
    assert_eq!(
        (result["failureType"].as_str(), result["reasonForNotRouting"].as_str()),
        (Some("RoutingError"), Some("No agents online"))
    );
    assert_eq!(events[1].event, "CONVERSATION_SESSION_STATUS_CHANGED");
    assert_eq!(sessions(&org, &id, "Status")[0]["Status"], "Ended");
    let (_, waiting) = admin(&org, Method::GET, "/sessions?status=Waiting", Value::Null);
    assert_eq!(waiting["sessions"], json!([]));
    assert_eq!(send(&org, &who, &id, "anyone?").0, 417);

    admin(&org, Method::PUT, "/routing", json!({"fail": false}));
    assert_eq!(send_with(&org, &who, &id, &uuid(), "anyone now?", json!({"isNewMessagingSession": true})).0, 202);
    assert_eq!(sessions(&org, &id, "Status")[1]["Status"], "Waiting");
}

#[test]
fn closing_a_conversation_ends_it_for_good() {
    let org = Org::demo();
    let who = customer(&org);
    let id = conversation(&org, &who, json!({}));
    let mut stream = Stream::open(&org, &who, Some(&who.last_event_id));
    let close = |query: &str| {
        scrt(&org, Method::DELETE, &format!("/conversation/{id}{query}")).bearer_auth(&who.token).send().unwrap()
    };
    assert_eq!(close("").status(), 400, "esDeveloperName is required");
    let closed = close(&format!("?esDeveloperName={DEPLOYMENT}"));
    assert_eq!(closed.status(), 204);
    let events = stream.take(2);
    assert_eq!(events[0].event, "CONVERSATION_SESSION_STATUS_CHANGED");
    assert_eq!(events[1].event, "CONVERSATION_CLOSE_CONVERSATION");
    assert_eq!(sessions(&org, &id, "Status")[0]["Status"], "Ended");
    let ended = org.query(&format!("SELECT EndTime FROM Conversation WHERE ConversationIdentifier = '{id}'"));
    assert!(ended["records"][0]["EndTime"].is_string());
    assert_eq!(send(&org, &who, &id, "hello?").0, 400);
    let list = |query: &str| {
        status_json(
            scrt(&org, Method::GET, &format!("/conversation/list{query}")).bearer_auth(&who.token).send().unwrap(),
        )
        .1
    };
    let open = list("");
    assert_eq!(
        (open["openConversationsFound"].as_u64(), open["closedConversationsFound"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(open["conversations"], json!([]));
    let all = list("?inclClosedConvs=true");
    assert_eq!(all["conversations"][0]["conversationId"], json!(id));
    assert!(all["conversations"][0]["endTimestamp"].is_i64());
    assert_eq!(entries(&org, &who, &id, "").0, 200, "the transcript stays readable");
}

#[test]
fn faults_apply_to_the_messaging_origin() {
    let org = Org::demo();
    org.emulator.inject(Fault::error(503).on(FaultTarget::Messaging));
    assert_eq!(org.get("/limits").status(), 200, "REST calls are not messaging calls");
    let (status, body) = status_json(
        scrt(&org, Method::POST, "/authorization/unauthenticated/access-token")
            .json(&json!({"orgId": org.creds.org_id, "esDeveloperName": DEPLOYMENT, "capabilitiesVersion": "1", "platform": "Web"}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 503);
    assert!(body["message"].is_string());
    let who = customer(&org);
    org.emulator.inject(Fault::drop_response().on(FaultTarget::Messaging));
    let id = uuid();
    let lost = scrt(&org, Method::POST, "/conversation")
        .bearer_auth(&who.token)
        .json(&json!({"conversationId": id, "esDeveloperName": DEPLOYMENT}))
        .send();
    assert!(lost.is_err(), "the answer is lost");
    assert_eq!(create(&org, &who, &id, json!({})).0, 409, "but the conversation was created");
    let (status, faults) = status_json(
        org.admin(Method::POST, "/faults")
            .json(&json!({"kind": "error", "status": 500, "target": "messaging"}))
            .send()
            .unwrap(),
    );
    assert_eq!((status, faults["target"].as_str()), (201, Some("messaging")));
    assert_eq!(send(&org, &who, &id, "x").0, 500);
}
