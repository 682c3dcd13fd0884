use serde_json::{Value, json};

use super::*;
use crate::capabilities::testing::MemoryHost;
use crate::cycle::tests::org;
use crate::model::FieldMapping;
use crate::salesforce::transport::ScriptedTransport;

const CASE: &str = "500000000000001AAA";
const OTHER_CASE: &str = "500000000000002AAA";

/// A host with a kept session and one open conversation ([`CASE`]).
fn host() -> MemoryHost {
    let org = org();
    let mut host = MemoryHost { now: 1_700_000_000_000, ..Default::default() };
    let session = Session {
        access_token: "00D!token".into(),
        instance_url: "https://acme.my.salesforce.com".into(),
        identity_user_id: None,
    };
    let sealed = crate::salesforce::session::seal(&session, &org.credentials);
    host.store.insert(SESSION_KEY.into(), serde_json::to_string(&sealed).unwrap());
    let hot = HotIndex([(CASE.to_string(), host.now + 60_000)].into());
    host.store.insert(HOT_KEY.into(), serde_json::to_string(&hot).unwrap());
    host
}

fn state(host: &MemoryHost) -> StreamState {
    serde_json::from_str(&host.store[STREAM_KEY]).unwrap()
}

fn handshake_ok() -> String {
    json!([{"channel":"/meta/handshake","successful":true,"clientId":"c1","version":"1.0",
            "supportedConnectionTypes":["long-polling"],"advice":{"timeout":110000,"interval":0,"reconnect":"retry"}}])
    .to_string()
}

fn subscribe_reply(ok: bool, error: Option<&str>) -> String {
    json!([{"channel":"/meta/subscribe","successful":ok,"clientId":"c1","subscription":CHANNEL,"error":error}])
        .to_string()
}

fn body(request: &crate::salesforce::transport::HttpRequest) -> Value {
    serde_json::from_slice(request.body.as_deref().unwrap()).unwrap()
}

/// An open stream: handshake and subscribe answered.
fn opened(host: &mut MemoryHost) -> StreamStep {
    let mut transport =
        ScriptedTransport::new().answer_json(200, &handshake_ok()).answer_json(200, &subscribe_reply(true, None));
    open(&org(), &mut transport, host).unwrap()
}

fn event(replay: i64, entity: &str, change: &str, origin: &str, fields: Value) -> Value {
    let mut payload = fields.as_object().cloned().unwrap_or_default();
    payload.insert(
        "ChangeEventHeader".into(),
        json!({"entityName":entity,"recordIds":[fields.get("Id").cloned().unwrap_or(json!(CASE))],"changeType":change,
               "changeOrigin":origin,"transactionKey":"t","sequenceNumber":1,"commitTimestamp":1,"changedFields":[]}),
    );
    json!({"channel":CHANNEL,"data":{"schema":"s","payload":payload,"event":{"replayId":replay}}})
}

fn connect_ok() -> Value {
    json!({"channel":"/meta/connect","successful":true,"clientId":"c1","advice":{"reconnect":"retry","interval":0,"timeout":110000}})
}

fn answer(messages: Vec<Value>) -> HeldAnswer {
    HeldAnswer::Response(HttpResponse::new(200, Value::Array(messages).to_string()))
}

#[test]
fn open_handshakes_subscribes_from_the_stored_position_and_holds_a_connect() {
    let mut host = host();
    let stored = StreamState { replay_id: Some(6041), ..Default::default() };
    host.store.insert(STREAM_KEY.into(), serde_json::to_string(&stored).unwrap());
    let mut transport = ScriptedTransport::new()
        .answer(HttpResponse::new(200, handshake_ok()).with_header("Set-Cookie", "sfdc-stream=!abc; path=/"))
        .answer_json(200, &subscribe_reply(true, None));
    let step = open(&org(), &mut transport, &mut host).unwrap();

    let sent = &transport.requests;
    assert_eq!(sent[0].url, "https://acme.my.salesforce.com/cometd/62.0");
    assert_eq!(sent[0].header("Authorization"), Some("Bearer 00D!token"));
    assert_eq!(body(&sent[1])[0]["ext"]["replay"][CHANNEL], 6041, "resumes after the stored replay id");
    assert_eq!(sent[1].header("Cookie"), Some("sfdc-stream=!abc"), "the load balancer's cookie is sent back");
    let hold = step.hold.expect("a connect to hold");
    assert_eq!(serde_json::from_str::<Value>(&hold.body).unwrap()[0]["clientId"], "c1");
    assert_eq!(hold.timeout_ms, 130_000);
    assert!(hold.headers.contains(&("Cookie".into(), "sfdc-stream=!abc".into())));
    assert!(step.cycle_now, "a new subscription polls once for what came before it");
    assert_eq!(step.health, Health::Live);
    assert_eq!(state(&host).client_id.as_deref(), Some("c1"));
    assert!(!format!("{hold:?}").contains("00D!token"), "the token is never printed");
}

#[test]
fn an_expired_replay_position_subscribes_to_new_events_and_polls() {
    let mut host = host();
    let stored = StreamState { replay_id: Some(12), ..Default::default() };
    host.store.insert(STREAM_KEY.into(), serde_json::to_string(&stored).unwrap());
    let error = "400::The replayId {12} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.";
    let mut transport = ScriptedTransport::new()
        .answer_json(200, &handshake_ok())
        .answer_json(200, &subscribe_reply(false, Some(error)))
        .answer_json(200, &subscribe_reply(true, None));
    let step = open(&org(), &mut transport, &mut host).unwrap();
    assert_eq!(body(&transport.requests[2])[0]["ext"]["replay"][CHANNEL], -1);
    assert!(step.cycle_now && step.hold.is_some());
    assert!(step.detail.contains("no longer had the stored replay position"), "{}", step.detail);
    assert_eq!(state(&host).replay_id, None);
}

#[test]
fn a_refused_token_is_refreshed_once_before_the_handshake_is_sent_again() {
    let mut host = host();
    let denied = json!([{"channel":"/meta/handshake","successful":false,"error":"403::Handshake denied",
                         "ext":{"sfdc":{"failureReason":"401::Authentication invalid"}},"advice":{"reconnect":"none"}}]);
    let token = r#"{"access_token":"00D!fresh","instance_url":"https://acme.my.salesforce.com","id":"https://login.salesforce.com/id/00D/005000000000009AAA"}"#;
    let mut transport = ScriptedTransport::new()
        .answer_json(200, &denied.to_string())
        .answer_json(200, token)
        .answer_json(200, &handshake_ok())
        .answer_json(200, &subscribe_reply(true, None));
    let step = open(&org(), &mut transport, &mut host).unwrap();
    assert_eq!(transport.requests[2].header("Authorization"), Some("Bearer 00D!fresh"));
    assert!(step.hold.unwrap().headers.contains(&("Authorization".into(), "Bearer 00D!fresh".into())));
}

#[test]
fn a_refused_subscription_pauses_the_stream_with_what_to_set_up() {
    let mut host = host();
    let mut transport = ScriptedTransport::new().answer_json(200, &handshake_ok()).answer_json(
        200,
        &subscribe_reply(
            false,
            Some("400::The channel you requested to subscribe to does not exist {/data/ChangeEvents}"),
        ),
    );
    let step = open(&org(), &mut transport, &mut host).unwrap();
    assert_eq!((step.health, step.hold.is_none(), step.retry_after_ms), (Health::Paused, true, REFUSED_PAUSE_MS));
    assert!(step.detail.contains("Setup → Change Data Capture"), "{}", step.detail);
}

#[test]
fn events_of_the_agents_cases_wake_the_cycle_and_own_writes_are_dropped() {
    let mut host = host();
    opened(&mut host);
    let own =
        event(10, "Case", "UPDATE", "com/salesforce/api/rest/62.0;client=casebridge", json!({"Status":"Working"}));
    let step = deliver(&org(), &mut host, answer(vec![own, connect_ok()])).unwrap();
    assert_eq!((step.events, step.own_writes, step.relevant, step.cycle_now), (1, 1, 0, false));
    assert!(step.hold.is_some(), "connects again");
    assert_eq!(state(&host).replay_id, Some(10));

    let customer = event(17, "EmailMessage", "CREATE", "", json!({"Id":"02s000000000001AAA","ParentId":CASE}));
    let stranger = event(23, "Case", "UPDATE", "com/salesforce/api/rest/62.0", json!({"Id":OTHER_CASE,"Status":"New"}));
    let step = deliver(&org(), &mut host, answer(vec![customer, stranger, connect_ok()])).unwrap();
    assert_eq!((step.events, step.own_writes, step.relevant, step.cycle_now), (2, 0, 1, true));
    assert_eq!(state(&host).replay_id, Some(23), "the last event read is the position");
    assert!(step.detail.contains("after replay 23"));
}

#[test]
fn what_concerns_the_agent() {
    let org = org();
    let hot = HotIndex([(CASE.to_string(), 0)].into());
    let parse = |value: Value| {
        crate::salesforce::cometd::parse_answer(&Value::Array(vec![value]).to_string()).unwrap().events.remove(0)
    };
    let assigned = parse(event(1, "Case", "CREATE", "", json!({"Id":OTHER_CASE,"OwnerId":"005000000000001"})));
    assert_eq!(concern(&org, &hot, &assigned), Concern::Agent, "a case now owned by the agent (15-character owner id)");
    let someone_elses = parse(event(2, "Case", "CREATE", "", json!({"Id":OTHER_CASE,"OwnerId":"005000000000002AAA"})));
    assert_eq!(concern(&org, &hot, &someone_elses), Concern::Other);
    let comment = parse(event(3, "CaseComment", "CREATE", "", json!({"Id":"00a000000000001AAA","ParentId":CASE})));
    assert_eq!(concern(&org, &hot, &comment), Concern::Agent);
    let gap = parse(event(4, "Case", "GAP_UPDATE", "", json!({})));
    assert_eq!(concern(&org, &hot, &gap), Concern::Gap);
    let contact = parse(event(5, "Contact", "UPDATE", "", json!({"Id":"003000000000001AAA","Phone":"1"})));
    assert_eq!(concern(&org, &hot, &contact), Concern::Other, "no mapping copies Contacts to the platform");
    let mut synced = org.clone();
    synced.mappings.push(FieldMapping {
        object: "Contact".into(),
        field: "Phone".into(),
        attribute: "phone".into(),
        direction: Direction::ToPlatform,
    });
    assert_eq!(concern(&synced, &hot, &contact), Concern::Agent);
}

#[test]
fn a_gap_or_overflow_event_polls() {
    let mut host = host();
    opened(&mut host);
    let overflow = event(30, "Case", "GAP_OVERFLOW", "", json!({"Id":"000000000000000AAA"}));
    let step = deliver(&org(), &mut host, answer(vec![overflow, connect_ok()])).unwrap();
    assert!(step.cycle_now && step.hold.is_some());
    assert!(step.detail.contains("gap or overflow"), "{}", step.detail);
}

#[test]
fn an_unknown_client_handshakes_again_and_polls() {
    let mut host = host();
    opened(&mut host);
    let forgotten = json!({"channel":"/meta/connect","successful":false,"error":"403::Unknown client",
                           "advice":{"reconnect":"handshake","interval":0}});
    let step = deliver(&org(), &mut host, answer(vec![forgotten])).unwrap();
    assert_eq!((step.hold.is_none(), step.retry_after_ms, step.cycle_now), (true, 0, true));
    assert_eq!(step.health, Health::Reconnecting);
    assert_eq!(state(&host).client_id, None);
}

#[test]
fn the_daily_delivery_allocation_pauses_the_stream_for_an_hour() {
    let mut host = host();
    opened(&mut host);
    let spent = json!({"channel":"/meta/connect","successful":false,
                       "error":"403::Organization total events daily limit exceeded","advice":{"reconnect":"none"}});
    let step = deliver(&org(), &mut host, answer(vec![spent])).unwrap();
    assert_eq!((step.health, step.retry_after_ms, step.cycle_now), (Health::Paused, DELIVERY_LIMIT_PAUSE_MS, true));
    assert!(step.detail.contains("daily event delivery allocation"), "{}", step.detail);
}

#[test]
fn dropped_connects_back_off_then_handshake_again() {
    let mut host = host();
    opened(&mut host);
    let first = deliver(&org(), &mut host, HeldAnswer::Failed("connection reset".into())).unwrap();
    assert_eq!(first.hold.as_ref().map(|h| h.delay_ms), Some(1000));
    assert!(first.cycle_now, "a drop may have hidden events");
    let second = deliver(&org(), &mut host, HeldAnswer::TimedOut).unwrap();
    assert_eq!(second.hold.as_ref().map(|h| h.delay_ms), Some(2000));
    let third = deliver(&org(), &mut host, HeldAnswer::Failed("connection reset".into())).unwrap();
    assert!(third.hold.is_none(), "the third failure in a row starts again with a handshake");
    assert_eq!(third.retry_after_ms, 4000);
    let ok = opened(&mut host);
    assert_eq!(ok.hold.map(|h| h.delay_ms), Some(0), "a new subscription clears the back-off");
}

#[test]
fn an_empty_connect_answer_connects_again_at_once() {
    let mut host = host();
    opened(&mut host);
    let step = deliver(&org(), &mut host, answer(vec![connect_ok()])).unwrap();
    assert_eq!((step.events, step.cycle_now, step.health), (0, false, Health::Live));
    assert_eq!(step.hold.map(|h| h.delay_ms), Some(0));
}
