//! Change Data Capture over CometD (`/cometd/59.0`), as a Bayeux client sees it.

use std::time::{Duration, Instant};

use casebridge_emulator::StreamingSettings;
use serde_json::{Value, json};

use crate::support::Org;

const CASES: &str = "/data/CaseChangeEvent";

/// A demo org whose connects hold `hold` at most.
fn org_with(hold: Duration) -> Org {
    let org = Org::demo();
    org.emulator.set_streaming_settings(StreamingSettings { connect_timeout: hold, ..Default::default() });
    org
}

fn org() -> Org {
    org_with(Duration::from_millis(300))
}

struct Client<'a> {
    org: &'a Org,
    token: String,
    id: String,
    next: u64,
}

fn url(org: &Org) -> String {
    format!("{}/cometd/59.0", org.creds.instance_url)
}

/// Posts Bayeux messages with a token; the status and the answer array.
fn post(org: &Org, token: Option<&str>, path: &str, body: Value) -> (u16, Value) {
    let mut request = org.http.post(format!("{}{path}", org.creds.instance_url)).json(&body);
    if let Some(token) = token {
        request = request.header("Authorization", format!("OAuth {token}"));
    }
    let response = request.send().expect("cometd POST");
    let status = response.status().as_u16();
    (status, response.json().expect("cometd JSON"))
}

impl<'a> Client<'a> {
    fn handshake(org: &'a Org) -> Client<'a> {
        let reply = Client::try_handshake(org);
        assert_eq!(reply["successful"], true, "{reply}");
        Client { org, token: org.token.clone(), id: reply["clientId"].as_str().unwrap().to_string(), next: 2 }
    }

    fn try_handshake(org: &Org) -> Value {
        let (status, body) = post(
            org,
            Some(&org.token),
            "/cometd/59.0",
            json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling","websocket"],"id":"1"}]),
        );
        assert_eq!(status, 200);
        body[0].clone()
    }

    fn send(&mut self, mut message: Value) -> Vec<Value> {
        message["clientId"] = json!(self.id);
        message["id"] = json!(self.next.to_string());
        self.next += 1;
        let (status, body) = post(self.org, Some(&self.token), "/cometd/59.0", json!([message]));
        assert_eq!(status, 200, "{body}");
        body.as_array().unwrap().clone()
    }

    fn subscribe(&mut self, channel: &str, replay: Option<i64>) -> Value {
        let mut message = json!({"channel":"/meta/subscribe","subscription":channel});
        if let Some(replay) = replay {
            message["ext"] = json!({"replay": {channel: replay}});
        }
        self.send(message).remove(0)
    }

    /// One connect: the event messages and the connect reply (last).
    fn connect(&mut self) -> (Vec<Value>, Value) {
        let mut all = self.send(json!({"channel":"/meta/connect","connectionType":"long-polling"}));
        let reply = all.pop().expect("a connect reply");
        assert_eq!(reply["channel"], "/meta/connect");
        (all, reply)
    }

    /// The events of one connect, which must succeed.
    fn events(&mut self) -> Vec<Value> {
        let (events, reply) = self.connect();
        assert_eq!(reply["successful"], true, "{reply}");
        events
    }
}

/// A new access token (the clock moved past the old one's life).
fn fresh_token(org: &Org) -> String {
    crate::support::refresh(&org.http, &org.creds)["access_token"].as_str().unwrap().to_string()
}

fn header(event: &Value) -> &Value {
    &event["data"]["payload"]["ChangeEventHeader"]
}

fn create_case(org: &Org, subject: &str) -> String {
    let response = org
        .request(reqwest::Method::POST, "/sobjects/Case")
        .header("Sforce-Call-Options", "client=casebridge")
        .json(&json!({"Subject": subject}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().unwrap()["id"].as_str().unwrap().to_string()
}

#[test]
fn a_held_connect_receives_the_create_event_of_a_rest_case() {
    let org = org_with(Duration::from_secs(10));
    let mut client = Client::handshake(&org);
    assert_eq!(client.subscribe(CASES, Some(-1))["successful"], true);
    let instance = org.creds.instance_url.clone();
    let token = org.token.clone();
    let creator = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let response = reqwest::blocking::Client::new()
            .post(format!("{instance}/services/data/v59.0/sobjects/Case"))
            .bearer_auth(token)
            .header("Sforce-Call-Options", "client=casebridge")
            .json(&json!({"Subject": "Printer on fire", "Description": "smoke"}))
            .send()
            .unwrap();
        response.json::<Value>().unwrap()["id"].as_str().unwrap().to_string()
    });
    let started = Instant::now();
    let events = client.events();
    let id = creator.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "answered as the event arrived");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["channel"], CASES);
    let h = header(event);
    assert_eq!(h["entityName"], "Case");
    assert_eq!(h["changeType"], "CREATE");
    assert_eq!(h["recordIds"], json!([id]));
    assert_eq!(h["changeOrigin"], "com/salesforce/api/rest/59.0;client=casebridge");
    assert_eq!(h["commitUser"], json!(org.emulator.seeded().integration_user_id));
    assert_eq!(h["sequenceNumber"], 1);
    assert_eq!(h["changedFields"], json!([]));
    assert_eq!(h["transactionKey"].as_str().unwrap().len(), 36);
    assert!(h["commitTimestamp"].as_i64().unwrap() > 1_600_000_000_000);
    assert!(h["commitNumber"].is_u64());
    let payload = &event["data"]["payload"];
    assert_eq!(payload["Subject"], "Printer on fire");
    assert_eq!(payload["Status"], "New");
    assert!(payload["CreatedDate"].as_str().unwrap().ends_with('Z'));
    for never in ["Id", "IsDeleted", "SystemModstamp"] {
        assert!(payload.get(never).is_none(), "{never} in {payload}");
    }
    assert!(event["data"]["schema"].as_str().unwrap().len() > 10);
    assert!(event["data"]["event"]["replayId"].as_u64().unwrap() > 0);
}

#[test]
fn handshake_answers_as_salesforce_does() {
    let org = org();
    let reply = Client::try_handshake(&org);
    assert_eq!(reply["channel"], "/meta/handshake");
    assert_eq!(reply["id"], "1");
    assert_eq!(reply["supportedConnectionTypes"], json!(["long-polling"]));
    assert_eq!(reply["ext"], json!({"replay": true, "payload.format": true}));
    assert_eq!(reply["advice"], json!({"interval": 0, "timeout": 300, "reconnect": "retry"}));
    assert_eq!(reply["version"], "1.0");
    // CometD's Java client appends the message type; one object is taken too.
    let (status, body) = post(
        &org,
        Some(&org.token),
        "/cometd/59.0/handshake",
        json!({"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["websocket"]}),
    );
    assert_eq!(status, 200);
    assert_eq!(body[0]["successful"], false);
    assert_eq!(body[0]["error"], "400::Invalid connection type {websocket}");
}

#[test]
fn updates_carry_the_changed_fields_only() {
    let org = org();
    let id = create_case(&org, "Before");
    let mut client = Client::handshake(&org);
    client.subscribe(CASES, None);
    let patched = org.patch(&format!("/sobjects/Case/{id}"), json!({"Subject": "After", "Description": null}));
    assert_eq!(patched.status(), 204);
    let events = client.events();
    assert_eq!(events.len(), 1);
    let h = header(&events[0]);
    assert_eq!(h["changeType"], "UPDATE");
    assert_eq!(h["changeOrigin"], "com/salesforce/api/rest/59.0");
    let changed: Vec<&str> = h["changedFields"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(changed.contains(&"Subject") && changed.contains(&"LastModifiedDate"), "{changed:?}");
    assert!(!changed.contains(&"Status") && !changed.contains(&"Description"), "{changed:?}");
    let payload = &events[0]["data"]["payload"];
    assert_eq!(payload["Subject"], "After");
    assert!(payload.get("Status").is_none());
    // Nulling a field that had a value.
    org.patch(&format!("/sobjects/Case/{id}"), json!({"Description": "x"}));
    client.events();
    org.patch(&format!("/sobjects/Case/{id}"), json!({"Description": null}));
    let h = header(&client.events()[0]).clone();
    assert_eq!(h["nulledFields"], json!(["Description"]));
    // Delete and undelete are header only.
    assert_eq!(org.delete(&format!("/sobjects/Case/{id}")).status(), 204);
    let deleted = client.events();
    assert_eq!(header(&deleted[0])["changeType"], "DELETE");
    assert_eq!(deleted[0]["data"]["payload"].as_object().unwrap().len(), 1);
}

#[test]
fn a_composite_is_one_transaction_with_one_event_per_record() {
    let org = org();
    let mut client = Client::handshake(&org);
    client.subscribe(CASES, Some(-1));
    let base = "/services/data/v59.0/sobjects/Case";
    let response = org
        .request(reqwest::Method::POST, "/composite")
        .header("Sforce-Call-Options", "client=batcher")
        .json(&json!({"allOrNone": true, "compositeRequest": [
            {"method":"POST","url":base,"referenceId":"a","body":{"Subject":"first"}},
            {"method":"PATCH","url":format!("{base}/@{{a.id}}"),"referenceId":"a2","body":{"Subject":"first, edited"}},
            {"method":"POST","url":base,"referenceId":"b","body":{"Subject":"second"}},
        ]}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = client.events();
    assert_eq!(events.len(), 2, "{events:?}");
    let (a, b) = (header(&events[0]), header(&events[1]));
    assert_eq!(a["changeType"], "CREATE", "the first change type");
    assert_eq!(events[0]["data"]["payload"]["Subject"], "first, edited", "the committed data");
    assert_eq!(a["transactionKey"], b["transactionKey"]);
    assert_eq!((a["sequenceNumber"].as_u64(), b["sequenceNumber"].as_u64()), (Some(1), Some(2)));
    assert_eq!(a["changeOrigin"], "com/salesforce/api/rest/59.0;client=batcher");
    // Replay ids increase, not one by one every time.
    let ids: Vec<u64> = events.iter().map(|e| e["data"]["event"]["replayId"].as_u64().unwrap()).collect();
    assert!(ids[1] > ids[0]);
}

#[test]
fn a_rolled_back_composite_publishes_nothing() {
    let org = org();
    let mut client = Client::handshake(&org);
    client.subscribe(CASES, Some(-1));
    let base = "/services/data/v59.0/sobjects/Case";
    let response = org.post(
        "/composite",
        json!({"allOrNone": true, "compositeRequest": [
            {"method":"POST","url":base,"referenceId":"a","body":{"Subject":"kept?"}},
            {"method":"PATCH","url":format!("{base}/500000000000000AAA"),"referenceId":"bad","body":{"Subject":"x"}},
        ]}),
    );
    assert_eq!(response.status(), 200);
    assert!(client.events().is_empty());
    assert_eq!(org.emulator.streaming_state()["retained_events"], 0);
}

#[test]
fn replay_all_from_a_stored_id_and_refuse_an_expired_one() {
    let mut org = org();
    let first = create_case(&org, "one");
    let second = create_case(&org, "two");
    let mut all = Client::handshake(&org);
    all.subscribe(CASES, Some(-2));
    let events = all.events();
    let ids: Vec<&Value> = events.iter().map(|e| &header(e)["recordIds"][0]).collect();
    assert_eq!(ids, vec![&json!(first), &json!(second)]);
    let stored = events[0]["data"]["event"]["replayId"].as_i64().unwrap();
    let mut after = Client::handshake(&org);
    after.subscribe(CASES, Some(stored));
    let events = after.events();
    assert_eq!(events.len(), 1);
    assert_eq!(header(&events[0])["recordIds"][0], json!(second));
    // Past the 72 h retention the id is gone.
    org.emulator.advance_clock(Duration::from_secs(73 * 3600));
    org.token = fresh_token(&org);
    let mut late = Client::handshake(&org);
    let refused = late.subscribe(CASES, Some(stored));
    assert_eq!(refused["successful"], false);
    assert_eq!(
        refused["error"],
        format!(
            "400::The replayId {{{stored}}} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
        )
    );
    assert_eq!(refused["subscription"], CASES);
}

#[test]
fn a_quiet_connect_answers_empty_after_the_timeout() {
    let org = org();
    let mut client = Client::handshake(&org);
    client.subscribe(CASES, None);
    let started = Instant::now();
    let (events, reply) = client.connect();
    assert!(events.is_empty());
    assert_eq!(reply["successful"], true);
    assert_eq!(reply["advice"]["reconnect"], "retry");
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A connect asking for timeout 0 is answered at once.
    let started = Instant::now();
    let answer = client.send(json!({"channel":"/meta/connect","connectionType":"long-polling","advice":{"timeout":0}}));
    assert_eq!(answer[0]["successful"], true);
    assert!(started.elapsed() < Duration::from_millis(250));
}

#[test]
fn forgotten_clients_and_rehandshakes() {
    let org = org();
    let mut client = Client::handshake(&org);
    client.subscribe(CASES, None);
    org.emulator.forget_streaming_clients();
    let (_, reply) = client.connect();
    assert_eq!(reply["successful"], false);
    assert_eq!(reply["error"], "403::Unknown client");
    assert_eq!(reply["advice"], json!({"reconnect": "handshake", "interval": 0}));
    let mut client = Client::handshake(&org);
    client.subscribe(CASES, None);
    let (status, _) = status_of(org.admin(reqwest::Method::POST, "/streaming/faults/rehandshake").send().unwrap());
    assert_eq!(status, 204);
    let (_, reply) = client.connect();
    assert_eq!(reply["successful"], false);
    assert_eq!(reply["advice"]["reconnect"], "handshake");
    // Keepalive: a client that does not connect for it is forgotten.
    org.emulator.set_streaming_settings(StreamingSettings {
        connect_timeout: Duration::from_millis(300),
        keepalive: Duration::from_millis(100),
        ..Default::default()
    });
    let mut idle = Client::handshake(&org);
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(idle.connect().1["error"], "403::Unknown client");
}

fn status_of(response: reqwest::blocking::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

#[test]
fn dropped_connections_are_closed_without_an_answer() {
    let org = org_with(Duration::from_secs(10));
    let mut client = Client::handshake(&org);
    client.subscribe(CASES, None);
    let (url, token, id) = (url(&org), org.token.clone(), client.id.clone());
    let held = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(url)
            .header("Authorization", format!("Bearer {token}"))
            .json(&json!([{"channel":"/meta/connect","clientId":id,"connectionType":"long-polling","id":"9"}]))
            .send()
            .and_then(|r| r.text())
    });
    std::thread::sleep(Duration::from_millis(300));
    org.emulator.drop_streaming_connections();
    assert!(held.join().unwrap().is_err(), "the held connect's socket closes without an answer");
    // The client survives: its next connect is served.
    client.org.emulator.set_streaming_settings(StreamingSettings {
        connect_timeout: Duration::from_millis(200),
        ..Default::default()
    });
    assert_eq!(client.connect().1["successful"], true);
}

#[test]
fn the_daily_delivery_allocation_is_counted_per_client() {
    let org = org();
    org.emulator.set_streaming_settings(StreamingSettings {
        connect_timeout: Duration::from_millis(300),
        daily_delivery_limit: 3,
        ..Default::default()
    });
    let mut a = Client::handshake(&org);
    let mut b = Client::handshake(&org);
    a.subscribe(CASES, None);
    b.subscribe(CASES, None);
    create_case(&org, "one");
    create_case(&org, "two");
    assert_eq!(a.events().len(), 2);
    assert_eq!(b.events().len(), 1, "the fourth delivery is over the allocation");
    let (events, reply) = b.connect();
    assert!(events.is_empty());
    assert_eq!(reply["successful"], false);
    assert_eq!(reply["error"], "403::Organization total events daily limit exceeded");
    let limits = org.get("/limits").json::<Value>().unwrap();
    assert_eq!(limits["DailyDurableStreamingApiEvents"], json!({"Max": 3, "Remaining": 0}));
    assert_eq!(limits["DurableStreamingApiConcurrentClients"]["Max"], 20);
    // The window rolls with the emulator clock.
    org.emulator.advance_clock(Duration::from_secs(25 * 3600));
    b.token = fresh_token(&org);
    assert_eq!(b.connect().1["successful"], true);
}

#[test]
fn the_concurrent_client_limit_denies_handshakes() {
    let org = org();
    org.emulator.set_streaming_settings(StreamingSettings {
        connect_timeout: Duration::from_millis(300),
        max_clients: 2,
        ..Default::default()
    });
    Client::handshake(&org);
    Client::handshake(&org);
    let denied = Client::try_handshake(&org);
    assert_eq!(denied["successful"], false);
    assert_eq!(denied["error"], "403::Handshake denied");
    assert_eq!(denied["ext"]["sfdc"]["failureReason"], "403::Organization concurrent user limit exceeded");
    assert_eq!(denied["advice"]["reconnect"], "none");
}

#[test]
fn gap_and_overflow_events_are_header_only() {
    let org = org();
    let mut client = Client::handshake(&org);
    client.subscribe("/data/ChangeEvents", None);
    let id = "500000000000001AAA";
    let (status, body) = status_of(
        org.admin(reqwest::Method::POST, "/streaming/gap")
            .json(&json!({"entity":"Case","change_type":"GAP_UPDATE","record_ids":[id]}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 201, "{body}");
    org.emulator.publish_overflow("Account").unwrap();
    let events = client.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["channel"], "/data/ChangeEvents");
    assert_eq!(header(&events[0])["changeType"], "GAP_UPDATE");
    assert_eq!(header(&events[0])["recordIds"], json!([id]));
    assert_eq!(events[0]["data"]["payload"].as_object().unwrap().len(), 1);
    assert_eq!(header(&events[1])["changeType"], "GAP_OVERFLOW");
    assert_eq!(header(&events[1])["entityName"], "Account");
    assert_eq!(header(&events[1])["recordIds"], json!(["000000000000000AAA"]));
}

#[test]
fn objects_without_change_events_have_no_channel() {
    let org = org();
    let mut client = Client::handshake(&org);
    for channel in ["/data/FeedItemChangeEvent", "/data/CaseCommentChangeEvent", "/data/casechangeevent"] {
        let refused = client.subscribe(channel, None);
        assert_eq!(refused["successful"], false);
        assert_eq!(
            refused["error"],
            format!("400::The channel you requested to subscribe to does not exist {{{channel}}}")
        );
    }
    // A supported but unselected entity: the channel exists and stays quiet.
    assert_eq!(client.subscribe("/data/TaskChangeEvent", None)["successful"], true);
    assert_eq!(client.subscribe("/data/ChangeEvents", None)["successful"], true);
    org.create("Task", json!({"Subject": "Call back"}));
    let case = org.create("Case", json!({"Subject": "x"}));
    let _comment = org.create("CaseComment", json!({"ParentId": case, "CommentBody": "hi"}));
    let events = client.events();
    let entities: Vec<(&str, &str)> =
        events.iter().map(|e| (e["channel"].as_str().unwrap(), header(e)["entityName"].as_str().unwrap())).collect();
    assert_eq!(entities, vec![("/data/ChangeEvents", "Case")]);
    assert!(org.emulator.set_cdc_selection(&["FeedItem"]).is_err());
    org.emulator.set_cdc_selection(&["Case", "Task"]).unwrap();
    org.create("Task", json!({"Subject": "Call again"}));
    let events = client.events();
    assert_eq!(events.len(), 2, "on the Task channel and on ChangeEvents: {events:?}");
}

#[test]
fn admin_and_database_writes_have_an_empty_origin() {
    let org = org();
    let mut client = Client::handshake(&org);
    client.subscribe(CASES, None);
    let user = org.emulator.seeded().integration_user_id.clone();
    org.emulator.with_database(|db| {
        let ctx = casebridge_emulator::db::WriteContext { now: chrono::Utc::now(), user_id: user.clone() };
        db.create("Case", json!({"Subject": "from the UI"}).as_object().unwrap(), &ctx).unwrap();
    });
    let events = client.events();
    assert_eq!(events.len(), 1);
    assert_eq!(header(&events[0])["changeOrigin"], "");
    assert_eq!(header(&events[0])["commitUser"], json!(user));
    // A bulk seed is not a transaction that streams.
    org.emulator.bulk_seed(&casebridge_emulator::BulkSeed { cases: 50, ..Default::default() }).unwrap();
    assert_eq!(org.emulator.streaming_state()["retained_events"], 1);
}

#[test]
fn cometd_calls_are_not_api_calls() {
    let org = org();
    let before = org.get("/limits").headers()["Sforce-Limit-Info"].to_str().unwrap().to_string();
    org.emulator.reset_counters();
    let mut client = Client::handshake(&org);
    client.subscribe(CASES, None);
    client.connect();
    let counters = org.emulator.counters();
    assert_eq!(counters.total, 0);
    assert_eq!((counters.streaming.handshakes, counters.streaming.subscribes, counters.streaming.connects), (1, 1, 1));
    let after = org.get("/limits").headers()["Sforce-Limit-Info"].to_str().unwrap().to_string();
    let used = |h: &str| h.trim_start_matches("api-usage=").split('/').next().unwrap().parse::<u64>().unwrap();
    assert_eq!(used(&after), used(&before) + 1, "only the /limits call counted");
}

#[test]
fn uri_and_authentication_errors() {
    let org = org();
    let handshake = json!([{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]);
    let (status, body) = post(&org, Some(&org.token), "/cometd", handshake.clone());
    assert_eq!(status, 400);
    assert_eq!(body[0]["error"], "400::API version in the URI is mandatory. URI format: '/cometd/64.0'");
    let (status, body) = post(&org, Some(&org.token), "/cometd/36.0", handshake.clone());
    assert_eq!(status, 400);
    assert!(body[0]["error"].as_str().unwrap().starts_with("400::Unsupported API version."));
    let (_, body) = post(&org, None, "/cometd/59.0", handshake.clone());
    assert_eq!(body[0]["error"], "403::Handshake denied");
    assert_eq!(body[0]["ext"]["sfdc"]["failureReason"], "401::Request requires authentication");
    let (_, body) = post(&org, Some("not-a-token"), "/cometd/59.0", handshake);
    assert_eq!(body[0]["error"], "403::Handshake denied");
    assert_eq!(body[0]["ext"]["sfdc"]["failureReason"], "401::Authentication invalid");
    let mut client = Client::handshake(&org);
    client.token = "expired".into();
    let (_, reply) = client.connect();
    assert_eq!(reply["error"], "401::Authentication invalid");
    assert_eq!(reply["advice"], json!({"reconnect": "none", "interval": 0}));
}
