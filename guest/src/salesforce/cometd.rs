//! The Streaming API's wire: Bayeux messages over CometD long polling, the
//! replay extension, and Change Data Capture events.
//!
//! Salesforce serves CometD at `<instance>/cometd/<version>` (37.0 or later
//! for durable replay), long polling only. A client handshakes (and gets a
//! `clientId`), subscribes to a channel with `ext.replay` naming where to
//! start (`-1`: new events only, `-2`: every retained event, or a replay id
//! it stored: the events after it), then sends `/meta/connect` again and
//! again; each connect is held until events arrive or `advice.timeout`
//! (110 s) passes. Errors come as `"<status>::<reason>"` strings in
//! unsuccessful meta replies, with `advice.reconnect` saying whether to
//! `retry` the connect, `handshake` again, or stop (`none`).

use serde_json::{Value, json};

/// The channel of every entity selected for Change Data Capture.
pub const ALL_CHANGE_EVENTS: &str = "/data/ChangeEvents";

/// Replay from here: only events published after the subscription.
pub const REPLAY_NEW: i64 = -1;

/// Salesforce's connect timeout when the handshake advises none (110 s).
pub const DEFAULT_CONNECT_TIMEOUT_MS: u32 = 110_000;

/// The record id an overflow event names instead of the records.
pub const OVERFLOW_RECORD_ID: &str = "000000000000000AAA";

/// `<instance>/cometd/<version>`.
pub fn endpoint(instance_url: &str, api_version: &str) -> String {
    format!("{}/cometd/{}", instance_url.trim_end_matches('/'), api_version.trim())
}

/// `/meta/handshake`: long polling, and the replay extension.
pub fn handshake(id: u64) -> Value {
    json!([{
        "channel": "/meta/handshake",
        "version": "1.0",
        "minimumVersion": "1.0",
        "supportedConnectionTypes": ["long-polling"],
        "advice": {"timeout": 60000, "interval": 0},
        "ext": {"replay": true},
        "id": id.to_string(),
    }])
}

/// `/meta/subscribe` to `channel` from `replay` (a stored replay id, or [`REPLAY_NEW`]).
pub fn subscribe(id: u64, client_id: &str, channel: &str, replay: i64) -> Value {
    json!([{
        "channel": "/meta/subscribe",
        "clientId": client_id,
        "subscription": channel,
        "ext": {"replay": {channel: replay}},
        "id": id.to_string(),
    }])
}

/// `/meta/connect`: held by Salesforce until events come or the timeout passes.
pub fn connect(id: u64, client_id: &str) -> Value {
    json!([{
        "channel": "/meta/connect",
        "clientId": client_id,
        "connectionType": "long-polling",
        "id": id.to_string(),
    }])
}

/// What Salesforce advises after a meta reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconnect {
    /// Connect again (after `interval`).
    Retry,
    /// The client is gone: handshake again.
    Handshake,
    /// Do not reconnect (authentication lost, a limit reached).
    None,
}

/// One `/meta/…` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaReply {
    pub channel: String,
    pub successful: bool,
    pub client_id: Option<String>,
    /// `"403::Unknown client"` and the like; with a handshake, also
    /// `ext.sfdc.failureReason` after a `;`.
    pub error: Option<String>,
    pub reconnect: Option<Reconnect>,
    /// `advice.interval` (ms): wait this long before the next connect.
    pub interval_ms: Option<u32>,
    /// `advice.timeout` (ms): how long Salesforce holds a connect.
    pub timeout_ms: Option<u32>,
}

impl MetaReply {
    /// Whether Salesforce no longer accepts the session's access token.
    pub fn is_unauthenticated(&self) -> bool {
        self.error.as_deref().is_some_and(|e| e.starts_with("401::") || e.contains("401::Authentication invalid"))
    }
}

/// A Change Data Capture event, as far as the connector reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub replay_id: i64,
    /// `Case`, `EmailMessage`, …
    pub entity: String,
    pub record_ids: Vec<String>,
    /// `CREATE`, `UPDATE`, `DELETE`, `UNDELETE`, `GAP_*`, `GAP_OVERFLOW`.
    pub change_type: String,
    /// The `client=` part of `changeOrigin` (`com/salesforce/api/rest/62.0;client=casebridge`), if any.
    pub origin_client: Option<String>,
    /// The fields the event carries (the changed ones on update), without the header.
    pub fields: serde_json::Map<String, Value>,
}

impl ChangeEvent {
    /// A gap or overflow event: a header only, the data must be read again.
    pub fn is_gap(&self) -> bool {
        self.change_type.starts_with("GAP_")
    }

    /// A text field of the event's body.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_str)
    }
}

/// Everything one CometD answer held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub meta: Vec<MetaReply>,
    pub events: Vec<ChangeEvent>,
}

impl Answer {
    /// The reply on `channel` (`/meta/connect`, …), if there was one.
    pub fn reply(&self, channel: &str) -> Option<&MetaReply> {
        self.meta.iter().find(|m| m.channel == channel)
    }
}

/// Reads a CometD answer: a JSON array of messages (or one message).
/// Messages on channels other than `/meta/…` and `/data/…` are skipped; an
/// event without a replay id or header is an error, since its position
/// could not be kept.
pub fn parse_answer(body: &str) -> Result<Answer, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("the CometD answer is not JSON: {e}"))?;
    let messages = match value {
        Value::Array(messages) => messages,
        message @ Value::Object(_) => vec![message],
        _ => return Err("the CometD answer is neither a message nor a list of messages".into()),
    };
    let mut answer = Answer::default();
    for message in &messages {
        let channel = message.get("channel").and_then(Value::as_str).unwrap_or_default();
        if channel.starts_with("/meta/") {
            answer.meta.push(meta_reply(channel, message));
        } else if channel.starts_with("/data/") {
            answer.events.push(change_event(channel, message)?);
        }
    }
    Ok(answer)
}

fn meta_reply(channel: &str, message: &Value) -> MetaReply {
    let advice = message.get("advice");
    let number = |name: &str| {
        advice.and_then(|a| a.get(name)).and_then(Value::as_u64).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    let failure = message.pointer("/ext/sfdc/failureReason").and_then(Value::as_str);
    let error = message.get("error").and_then(Value::as_str).map(|error| match failure {
        Some(reason) => format!("{error}; {reason}"),
        None => error.to_string(),
    });
    MetaReply {
        channel: channel.to_string(),
        successful: message.get("successful").and_then(Value::as_bool).unwrap_or(false),
        client_id: message.get("clientId").and_then(Value::as_str).map(str::to_string),
        error,
        reconnect: advice.and_then(|a| a.get("reconnect")).and_then(Value::as_str).map(|r| match r {
            "handshake" => Reconnect::Handshake,
            "none" => Reconnect::None,
            _ => Reconnect::Retry,
        }),
        interval_ms: number("interval"),
        timeout_ms: number("timeout"),
    }
}

fn change_event(channel: &str, message: &Value) -> Result<ChangeEvent, String> {
    let data = message.get("data").ok_or_else(|| format!("an event on {channel} has no data"))?;
    let replay_id = data
        .pointer("/event/replayId")
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("an event on {channel} has no event.replayId"))?;
    let mut fields = data.get("payload").and_then(Value::as_object).cloned().unwrap_or_default();
    let header = fields
        .remove("ChangeEventHeader")
        .ok_or_else(|| format!("the event {replay_id} on {channel} has no ChangeEventHeader"))?;
    let text = |name: &str| header.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    let record_ids = header
        .get("recordIds")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    Ok(ChangeEvent {
        replay_id,
        entity: text("entityName"),
        record_ids,
        change_type: text("changeType"),
        origin_client: origin_client(&text("changeOrigin")),
        fields,
    })
}

/// The client id in a `changeOrigin`
/// (`com/salesforce/api/<api>/<version>;client=<client id>`).
fn origin_client(origin: &str) -> Option<String> {
    origin.split(';').find_map(|part| part.trim().strip_prefix("client=")).map(|c| c.trim().to_string())
}

/// Salesforce refused the stored replay id (older than the retention, or
/// not one of this org's).
pub fn is_invalid_replay(error: &str) -> bool {
    let lower = error.to_ascii_lowercase();
    lower.contains("replayid") && (lower.contains("invalid") || lower.contains("not valid"))
}

/// The org's delivered-event allocation for the rolling 24 hours is used up.
pub fn is_delivery_limit(error: &str) -> bool {
    error.to_ascii_lowercase().contains("daily limit")
}

/// The org has as many streaming clients as its edition allows.
pub fn is_client_limit(error: &str) -> bool {
    let lower = error.to_ascii_lowercase();
    lower.contains("concurrent") || (lower.contains("maximum") && lower.contains("client"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_holds_events_and_the_connect_reply() {
        let body = r#"[
          {"channel":"/data/ChangeEvents","data":{"schema":"s1","payload":{
             "ChangeEventHeader":{"entityName":"Case","recordIds":["500000000000001AAA"],"changeType":"UPDATE",
               "changeOrigin":"com/salesforce/api/rest/62.0;client=casebridge","transactionKey":"t","sequenceNumber":1,
               "commitTimestamp":1700000000000,"changedFields":["Status","LastModifiedDate"]},
             "Status":"Working"},"event":{"replayId":6041}}},
          {"channel":"/meta/connect","successful":true,"clientId":"abc","advice":{"reconnect":"retry","interval":0,"timeout":110000}}
        ]"#;
        let answer = parse_answer(body).unwrap();
        let event = &answer.events[0];
        assert_eq!(event.replay_id, 6041);
        assert_eq!(event.entity, "Case");
        assert_eq!(event.origin_client.as_deref(), Some("casebridge"));
        assert_eq!(event.text("Status"), Some("Working"));
        assert!(!event.fields.contains_key("ChangeEventHeader"));
        let connect = answer.reply("/meta/connect").unwrap();
        assert!(connect.successful);
        assert_eq!(connect.reconnect, Some(Reconnect::Retry));
        assert_eq!(connect.timeout_ms, Some(110_000));
    }

    #[test]
    fn errors_and_advice_are_read() {
        let answer = parse_answer(
            r#"{"channel":"/meta/handshake","successful":false,"error":"403::Handshake denied",
                "ext":{"sfdc":{"failureReason":"401::Authentication invalid"}},"advice":{"reconnect":"none"}}"#,
        )
        .unwrap();
        let reply = answer.reply("/meta/handshake").unwrap();
        assert!(reply.is_unauthenticated());
        assert_eq!(reply.reconnect, Some(Reconnect::None));
        assert!(is_invalid_replay(
            "400::The replayId {42} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
        ));
        assert!(is_delivery_limit("403::Organization total events daily limit exceeded"));
        assert!(is_client_limit("403::Organization concurrent user limit exceeded"));
        assert!(!is_client_limit("403::Unknown client"));
    }

    #[test]
    fn an_origin_without_a_client_names_none_and_broken_events_are_refused() {
        assert_eq!(origin_client("com/salesforce/api/rest/62.0"), None);
        assert_eq!(origin_client(""), None);
        assert!(parse_answer(r#"[{"channel":"/data/ChangeEvents","data":{"payload":{}}}]"#).is_err());
        assert!(parse_answer("not json").is_err());
        assert!(parse_answer("42").is_err());
    }

    #[test]
    fn requests_carry_the_client_and_the_replay_position() {
        let subscribe = subscribe(2, "abc", ALL_CHANGE_EVENTS, 6041);
        assert_eq!(subscribe[0]["ext"]["replay"]["/data/ChangeEvents"], 6041);
        assert_eq!(connect(3, "abc")[0]["connectionType"], "long-polling");
        assert_eq!(endpoint("https://acme.my.salesforce.com/", "62.0"), "https://acme.my.salesforce.com/cometd/62.0");
    }
}
