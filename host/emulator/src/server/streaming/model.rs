//! The org's streaming state: the CDC entity selection, the retained change
//! events, the CometD clients with their subscriptions, the delivery
//! allocation and the settings. Lives in [`Org`](crate::server::org::Org),
//! behind its one lock; the long poll waits outside it on [`Streaming::waker`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng as _;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

use crate::db::{ChangeType, RecordChange};
use crate::schema::Schema;

use super::{ALL_CHANGE_EVENTS, DEFAULT_SELECTION, STANDARD_CDC_OBJECTS};

/// The streaming limits and timings; [`Default`] is a Developer Edition org's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamingSettings {
    /// How long `/meta/connect` holds a request without events (real time): 110 s.
    pub connect_timeout: Duration,
    /// How long a client may go without a `/meta/connect` before it is
    /// forgotten (real time): 40 s.
    pub keepalive: Duration,
    /// Concurrent CometD clients of the org: 20.
    pub max_clients: usize,
    /// Events delivered per rolling 24 hours (emulator clock), counted per
    /// client an event reaches: 10,000.
    pub daily_delivery_limit: u64,
    /// How long events are kept for replay (emulator clock): 72 hours.
    pub retention: Duration,
}

impl Default for StreamingSettings {
    fn default() -> Self {
        StreamingSettings {
            connect_timeout: Duration::from_secs(110),
            keepalive: Duration::from_secs(40),
            max_clients: 20,
            daily_delivery_limit: 10_000,
            retention: Duration::from_secs(72 * 3600),
        }
    }
}

/// CometD requests, counted apart from API calls (they are none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamingCounters {
    /// `/meta/handshake` messages, successful or not.
    pub handshakes: u64,
    /// `/meta/connect` messages.
    pub connects: u64,
    /// `/meta/subscribe` messages.
    pub subscribes: u64,
    /// Event messages delivered (one per client and channel an event reached).
    pub events_delivered: u64,
}

/// A retained change event.
#[derive(Debug, Clone)]
struct StoredEvent {
    replay_id: u64,
    entity: String,
    at: DateTime<Utc>,
    /// `{"schema","payload","event":{"replayId"}}`.
    data: Arc<Value>,
}

#[derive(Debug, Clone)]
struct Client {
    user_id: String,
    /// Channel → the replay id delivered up to.
    subscriptions: BTreeMap<String, u64>,
    last_seen: Instant,
    /// `/meta/connect` requests held right now.
    held: usize,
    rehandshake: bool,
}

/// What a `/meta/connect` gets now.
#[derive(Debug)]
pub(crate) enum Poll {
    UnknownClient,
    Rehandshake,
    LimitExceeded,
    /// Event messages `{"channel","data"}` to deliver.
    Events(Vec<Value>),
    /// Nothing yet: hold the request.
    Nothing,
}

pub(crate) struct Streaming {
    pub settings: StreamingSettings,
    selection: BTreeSet<String>,
    events: VecDeque<StoredEvent>,
    last_replay: u64,
    published: u64,
    commit_number: u64,
    clients: HashMap<String, Client>,
    /// Deliveries in the last 24 hours: when and how many.
    deliveries: VecDeque<(DateTime<Utc>, u64)>,
    delivered_in_window: u64,
    pub counters: StreamingCounters,
    waker: watch::Sender<u64>,
    /// Bumped by the drop-connections fault: held connects older than it close.
    pub drops: u64,
}

const DAY: chrono::Duration = chrono::Duration::hours(24);

impl Streaming {
    pub(crate) fn new(schema: &Schema) -> Self {
        let selection = DEFAULT_SELECTION.iter().filter_map(|o| supported_object(schema, o)).collect();
        Streaming {
            settings: StreamingSettings::default(),
            selection,
            events: VecDeque::new(),
            last_replay: 0,
            published: 0,
            commit_number: 10_000_000_000,
            clients: HashMap::new(),
            deliveries: VecDeque::new(),
            delivered_in_window: 0,
            counters: StreamingCounters::default(),
            waker: watch::channel(0).0,
            drops: 0,
        }
    }

    /// The selected entities (canonical object names).
    pub(crate) fn selection(&self) -> &BTreeSet<String> {
        &self.selection
    }

    /// Replaces the selection; every name must be an object that supports
    /// change events. Returns the canonical names.
    pub(crate) fn set_selection(&mut self, schema: &Schema, entities: &[String]) -> Result<(), String> {
        let mut selection = BTreeSet::new();
        for e in entities {
            let name = supported_object(schema, e)
                .ok_or_else(|| format!("{e} does not support Change Data Capture (no {e}ChangeEvent)"))?;
            selection.insert(name);
        }
        self.selection = selection;
        self.wake();
        Ok(())
    }

    /// A receiver that changes whenever a held connect may have something to answer.
    pub(crate) fn waker(&self) -> watch::Receiver<u64> {
        self.waker.subscribe()
    }

    fn wake(&self) {
        self.waker.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn next_replay_id(&mut self) -> u64 {
        // Opaque and increasing, never contiguous: steps of 1 to 7.
        self.published += 1;
        self.last_replay += 1 + (self.published * 5 + 3) % 7;
        self.last_replay
    }

    fn prune_events(&mut self, now: DateTime<Utc>) {
        let retention = chrono::Duration::from_std(self.settings.retention).unwrap_or(chrono::Duration::MAX);
        let oldest = now.checked_sub_signed(retention);
        while let Some(front) = self.events.front() {
            match oldest {
                Some(oldest) if front.at < oldest => {
                    self.events.pop_front();
                }
                _ => break,
            }
        }
    }

    /// The changes of one committed transaction, as events. `origin` is
    /// the `changeOrigin`; `commit_user` the writing user (else each
    /// record's last modifier).
    pub(crate) fn publish(
        &mut self,
        changes: Vec<RecordChange>,
        origin: &str,
        commit_user: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let changes: Vec<RecordChange> = changes.into_iter().filter(|c| self.selection.contains(&c.object)).collect();
        if changes.is_empty() {
            return;
        }
        let transaction_key = transaction_key();
        self.commit_number += 1 + (self.published % 3);
        for (i, change) in changes.into_iter().enumerate() {
            let header = json!({
                "entityName": change.object,
                "recordIds": [change.record_id],
                "changeType": change.change_type.as_str(),
                "changeOrigin": origin,
                "transactionKey": transaction_key,
                "sequenceNumber": i + 1,
                "commitTimestamp": now.timestamp_millis(),
                "commitNumber": self.commit_number,
                "commitUser": commit_user.unwrap_or(&change.user_id),
                "nulledFields": change.nulled_fields,
                "diffFields": [],
                "changedFields": change.changed_fields,
            });
            let mut payload = serde_json::Map::new();
            payload.insert("ChangeEventHeader".into(), header);
            payload.extend(change.values);
            self.store(change.object, Value::Object(payload), now);
        }
        self.wake();
    }

    /// A header-only event (`GAP_…`, `GAP_OVERFLOW`) for `entity`.
    pub(crate) fn publish_header_only(
        &mut self,
        schema: &Schema,
        entity: &str,
        change_type: ChangeType,
        record_ids: Vec<String>,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, String> {
        let entity =
            supported_object(schema, entity).ok_or_else(|| format!("{entity} does not support Change Data Capture"))?;
        let record_ids = if change_type == ChangeType::GapOverflow {
            vec!["000000000000000AAA".to_string()]
        } else if record_ids.is_empty() {
            return Err("a gap event needs record_ids".into());
        } else {
            record_ids
        };
        self.commit_number += 1;
        let payload = json!({"ChangeEventHeader": {
            "entityName": entity,
            "recordIds": record_ids,
            "changeType": change_type.as_str(),
            "changeOrigin": "",
            "transactionKey": transaction_key(),
            "sequenceNumber": 1,
            "commitTimestamp": now.timestamp_millis(),
            "commitNumber": self.commit_number,
            "commitUser": user,
            "nulledFields": [],
            "diffFields": [],
            "changedFields": [],
        }});
        let id = self.store(entity, payload, now);
        self.wake();
        Ok(id)
    }

    fn store(&mut self, entity: String, payload: Value, now: DateTime<Utc>) -> u64 {
        self.prune_events(now);
        let replay_id = self.next_replay_id();
        let data = json!({"schema": schema_id(&entity), "payload": payload, "event": {"replayId": replay_id}});
        self.events.push_back(StoredEvent { replay_id, entity, at: now, data: Arc::new(data) });
        replay_id
    }

    // ---- clients ----

    fn forget_idle(&mut self) {
        let keepalive = self.settings.keepalive;
        self.clients.retain(|_, c| c.held > 0 || c.last_seen.elapsed() <= keepalive);
    }

    /// A new client for `user_id`, or `None` over the concurrent client limit.
    pub(crate) fn handshake(&mut self, user_id: &str) -> Option<String> {
        self.forget_idle();
        if self.clients.len() >= self.settings.max_clients {
            return None;
        }
        let id = client_id();
        let client = Client {
            user_id: user_id.to_string(),
            subscriptions: BTreeMap::new(),
            last_seen: Instant::now(),
            held: 0,
            rehandshake: false,
        };
        self.clients.insert(id.clone(), client);
        Some(id)
    }

    /// A known client (one idle past the keepalive is forgotten now), seen now.
    fn client(&mut self, client_id: &str) -> Option<&mut Client> {
        let keepalive = self.settings.keepalive;
        let idle = self.clients.get(client_id).is_some_and(|c| c.held == 0 && c.last_seen.elapsed() > keepalive);
        if idle {
            self.clients.remove(client_id);
            return None;
        }
        let client = self.clients.get_mut(client_id)?;
        client.last_seen = Instant::now();
        Some(client)
    }

    pub(crate) fn is_known(&mut self, client_id: &str) -> bool {
        self.client(client_id).is_some()
    }

    /// Subscribes a known client. `replay`: -1 (or none) new events only,
    /// -2 every retained event, else a retained event's replay id.
    pub(crate) fn subscribe(
        &mut self,
        schema: &Schema,
        client_id: &str,
        channel: &str,
        replay: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        self.counters.subscribes += 1;
        if channel.is_empty() {
            return Err("400::Channel name not specified".into());
        }
        if !channel.starts_with('/') {
            return Err("400::Channel subscriptions must start with a leading '/'".into());
        }
        if channel_entity(schema, channel).is_none() {
            return Err(format!("400::The channel you requested to subscribe to does not exist {{{channel}}}"));
        }
        if self.used(now) >= self.settings.daily_delivery_limit {
            return Err("403::Organization total events daily limit exceeded".into());
        }
        self.prune_events(now);
        let cursor = match replay {
            None | Some(-1) => self.last_replay,
            Some(-2) => 0,
            Some(id) if id > 0 && self.events.iter().any(|e| e.replay_id == id as u64) => id as u64,
            Some(id) => {
                return Err(format!(
                    "400::The replayId {{{id}}} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
                ));
            }
        };
        let client = self.client(client_id).ok_or("403::Unknown client")?;
        client.subscriptions.insert(channel.to_string(), cursor);
        Ok(())
    }

    pub(crate) fn unsubscribe(&mut self, client_id: &str, channel: &str) -> Result<(), String> {
        let client = self.client(client_id).ok_or("403::Unknown client")?;
        client.subscriptions.remove(channel);
        Ok(())
    }

    pub(crate) fn disconnect(&mut self, client_id: &str) -> bool {
        self.clients.remove(client_id).is_some()
    }

    /// Marks a connect held (so keepalive does not forget its client) or released.
    pub(crate) fn hold(&mut self, client_id: &str, held: bool) {
        if let Some(c) = self.clients.get_mut(client_id) {
            if held {
                c.held += 1;
            } else {
                c.held = c.held.saturating_sub(1);
            }
            c.last_seen = Instant::now();
        }
    }

    fn used(&mut self, now: DateTime<Utc>) -> u64 {
        while let Some((at, n)) = self.deliveries.front().copied() {
            if now - at >= DAY {
                self.deliveries.pop_front();
                self.delivered_in_window = self.delivered_in_window.saturating_sub(n);
            } else {
                break;
            }
        }
        self.delivered_in_window
    }

    /// What a `/meta/connect` of `client_id` answers now.
    pub(crate) fn poll(&mut self, client_id: &str, schema: &Schema, now: DateTime<Utc>) -> Poll {
        let Some(client) = self.client(client_id) else {
            return Poll::UnknownClient;
        };
        if client.rehandshake {
            self.clients.remove(client_id);
            return Poll::Rehandshake;
        }
        let limit = self.settings.daily_delivery_limit;
        let used = self.used(now);
        if used >= limit {
            return Poll::LimitExceeded;
        }
        self.prune_events(now);
        let client = self.clients.get(client_id).expect("checked above");
        let mut pending: Vec<(u64, &str, &Arc<Value>)> = Vec::new();
        for (channel, cursor) in &client.subscriptions {
            let Some(filter) = channel_entity(schema, channel) else { continue };
            let start = self.events.partition_point(|e| e.replay_id <= *cursor);
            for e in self.events.range(start..) {
                let matches = match &filter {
                    None => self.selection.contains(&e.entity),
                    Some(entity) => *entity == e.entity,
                };
                if matches {
                    pending.push((e.replay_id, channel.as_str(), &e.data));
                }
            }
        }
        if pending.is_empty() {
            return Poll::Nothing;
        }
        pending.sort_by_key(|(id, _, _)| *id);
        pending.truncate(usize::try_from(limit - used).unwrap_or(usize::MAX));
        let messages: Vec<Value> =
            pending.iter().map(|(_, channel, data)| json!({"channel": channel, "data": (***data).clone()})).collect();
        let advanced: Vec<(String, u64)> = pending.iter().map(|(id, ch, _)| (ch.to_string(), *id)).collect();
        let n = messages.len() as u64;
        let client = self.clients.get_mut(client_id).expect("checked above");
        for (channel, id) in advanced {
            if let Some(cursor) = client.subscriptions.get_mut(&channel) {
                *cursor = (*cursor).max(id);
            }
        }
        self.deliveries.push_back((now, n));
        self.delivered_in_window += n;
        self.counters.events_delivered += n;
        Poll::Events(messages)
    }

    // ---- faults ----

    /// Closes every held connect without an answer.
    pub(crate) fn drop_connections(&mut self) {
        self.drops += 1;
        self.wake();
    }

    /// Forgets every client: their next connect gets `403::Unknown client`.
    pub(crate) fn forget_clients(&mut self) {
        self.clients.clear();
        self.wake();
    }

    /// Asks every client to handshake again on its next (or held) connect.
    pub(crate) fn request_rehandshake(&mut self) {
        for c in self.clients.values_mut() {
            c.rehandshake = true;
        }
        self.wake();
    }

    /// Wakes held connects after the settings changed.
    pub(crate) fn settings_changed(&mut self) {
        self.wake();
    }

    // ---- views ----

    pub(crate) fn live_clients(&self) -> usize {
        let keepalive = self.settings.keepalive;
        self.clients.values().filter(|c| c.held > 0 || c.last_seen.elapsed() <= keepalive).count()
    }

    fn used_now(&self, now: DateTime<Utc>) -> u64 {
        self.deliveries.iter().filter(|(at, _)| now - *at < DAY).map(|(_, n)| n).sum()
    }

    /// `DurableStreamingApiConcurrentClients` and `DailyDurableStreamingApiEvents` for `/limits`.
    pub(crate) fn limits(&self, now: DateTime<Utc>) -> (Value, Value) {
        let max = self.settings.max_clients as u64;
        let clients = json!({"Max": max, "Remaining": max.saturating_sub(self.live_clients() as u64)});
        let limit = self.settings.daily_delivery_limit;
        let events = json!({"Max": limit, "Remaining": limit.saturating_sub(self.used_now(now))});
        (clients, events)
    }

    pub(crate) fn settings_json(&self) -> Value {
        let s = &self.settings;
        json!({
            "connect_timeout_ms": s.connect_timeout.as_millis() as u64,
            "keepalive_ms": s.keepalive.as_millis() as u64,
            "max_clients": s.max_clients,
            "daily_delivery_limit": s.daily_delivery_limit,
            "retention_seconds": s.retention.as_secs(),
        })
    }

    pub(crate) fn state_json(&self, schema: &Schema, now: DateTime<Utc>) -> Value {
        let keepalive = self.settings.keepalive;
        let mut clients: Vec<Value> = self
            .clients
            .iter()
            .filter(|(_, c)| c.held > 0 || c.last_seen.elapsed() <= keepalive)
            .map(|(id, c)| {
                json!({
                    "client_id": id,
                    "user_id": c.user_id,
                    "subscriptions": c.subscriptions.keys().collect::<Vec<_>>(),
                    "replay_positions": c.subscriptions,
                    "held_connects": c.held,
                    "idle_ms": c.last_seen.elapsed().as_millis() as u64,
                })
            })
            .collect();
        clients.sort_by(|a, b| a["client_id"].as_str().cmp(&b["client_id"].as_str()));
        let used = self.used_now(now);
        json!({
            "clients": clients,
            "retained_events": self.events.len(),
            "last_replay_id": self.last_replay,
            "delivered": self.counters.events_delivered,
            "allocation": {"used": used, "max": self.settings.daily_delivery_limit, "remaining": self.settings.daily_delivery_limit.saturating_sub(used)},
            "settings": self.settings_json(),
            "selection": self.selection,
            "supported": supported_objects(schema),
            "counters": self.counters,
        })
    }

    /// The retained events, oldest first, as `{"replayId","entity","data"}`.
    pub(crate) fn events_json(&self) -> Value {
        Value::Array(
            self.events
                .iter()
                .map(|e| json!({"replayId": e.replay_id, "entity": e.entity, "data": (*e.data).clone()}))
                .collect(),
        )
    }
}

/// The canonical name of an object that supports change events.
pub(crate) fn supported_object(schema: &Schema, name: &str) -> Option<String> {
    let obj = schema.object(name)?;
    (obj.custom || obj.name.ends_with("__c") || STANDARD_CDC_OBJECTS.contains(&obj.name.as_str()))
        .then(|| obj.name.clone())
}

/// Every object of the schema that supports change events.
pub(crate) fn supported_objects(schema: &Schema) -> Vec<String> {
    let mut names: Vec<String> = schema.objects().filter_map(|o| supported_object(schema, &o.name)).collect();
    names.sort();
    names
}

/// `/data/ChangeEvents` → `Some(None)`; `/data/CaseChangeEvent` →
/// `Some(Some("Case"))`; `/data/Foo__ChangeEvent` → `Some(Some("Foo__c"))`;
/// anything else (objects without change events included) → `None`.
/// Channel names are case-sensitive.
pub(crate) fn channel_entity(schema: &Schema, channel: &str) -> Option<Option<String>> {
    if channel == ALL_CHANGE_EVENTS {
        return Some(None);
    }
    let name = channel.strip_prefix("/data/")?;
    let object = match name.strip_suffix("__ChangeEvent") {
        Some(custom) => format!("{custom}__c"),
        None => name.strip_suffix("ChangeEvent")?.to_string(),
    };
    let canonical = supported_object(schema, &object)?;
    (canonical == object).then_some(Some(canonical))
}

/// A client id as Salesforce's look: 27 base-36 characters.
fn client_id() -> String {
    let mut rng = rand::rng();
    (0..27).map(|_| char::from_digit(rng.random_range(0..36u32), 36).unwrap_or('0')).collect()
}

/// A transaction key: a random UUID-shaped string.
fn transaction_key() -> String {
    let n: u128 = rand::rng().random();
    let h = format!("{n:032x}");
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The event schema id of an entity: 22 URL-safe base-64 characters,
/// stable for the entity (Salesforce's change with the object's fields).
fn schema_id(entity: &str) -> String {
    use base64::Engine as _;
    let digest = Sha256::digest(format!("ChangeEvent:{entity}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}
