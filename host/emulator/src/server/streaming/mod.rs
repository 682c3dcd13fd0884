//! Change Data Capture over CometD: the Streaming API of the instance
//! origin ([`RunningEmulator::instance_url`](crate::RunningEmulator::instance_url)),
//! wire-compatible with Salesforce's (`/cometd/XX.X`, Bayeux long polling,
//! durable replay), and its admin side under `/__emulator/streaming/…`.
//!
//! # Change capture
//!
//! Every committed insert, update, delete and undelete of a record of a
//! *selected* entity is one change event, whoever writes it: REST,
//! composite, hooks' side effects, system writes (messaging), the admin API
//! and [`RunningEmulator::with_database`](crate::RunningEmulator::with_database).
//! The database notes the changes ([`crate::db::RecordChange`]); a
//! transaction is one hold of the org's lock, so one REST request (a
//! composite, `allOrNone` or not, included) is one transaction: one
//! `transactionKey`, `sequenceNumber` 1, 2 … within it, one
//! `commitTimestamp` (ms, emulator clock) and `commitNumber`. Changes rolled
//! back by a savepoint (`allOrNone`) publish nothing. Several changes to one
//! record in a transaction are one event with the first change type and
//! the committed data (`cdc_general_considerations`).
//!
//! - `changeOrigin`: `com/salesforce/api/rest/<version>;client=<X>` for a
//!   REST request with `Sforce-Call-Options: client=<X>` (composite
//!   subrequests share the outer request's), `com/salesforce/api/rest/<version>`
//!   without it; the empty string for admin-API and `with_database` writes
//!   (Salesforce fills it only for API and Lightning changes; a person in
//!   the UI is the closest).
//! - `commitUser`: the request's user; else the record's `LastModifiedById`.
//! - `changedFields`: on update the fields whose value differs from before
//!   the transaction, `LastModifiedDate` always; `[]` on create (API 47.0+),
//!   delete, undelete. `nulledFields`: the changed fields now null.
//!   `diffFields`: always `[]` (the emulator sends whole text values).
//! - Fields: create carries every non-null field; update the changed
//!   fields (nulled ones as `null`); delete and undelete none (header
//!   only). Never `Id`, `IsDeleted`, `SystemModstamp` or calculated fields.
//!   Datetimes are `2024-01-02T03:04:05.000Z`. Compound fields (`Name` of a
//!   Contact, addresses) are sent flat, as the emulator stores them
//!   (Salesforce nests them: not modelled).
//! - Seeding and [`RunningEmulator::bulk_seed`](crate::RunningEmulator::bulk_seed)
//!   are not transactions that stream: capture is off while they run, so a
//!   100,000-case seed retains no events.
//!
//! # Which objects stream
//!
//! Sources: the Change Data Capture guide's "Change Event Object Support"
//! list (developer.salesforce.com/docs/atlas.en-us.226.0.change_data_capture.meta/change_data_capture/cdc_object_support.htm,
//! also the 220.0 and 230.0 copies) and the object reference's
//! `StandardObjectNameChangeEvent` page
//! (developer.salesforce.com/docs/atlas.en-us.object_reference.meta/api/sforce_api_associated_objects_change_event.htm):
//! change events exist for all custom objects and a subset of standard
//! objects. Of the emulator's objects **Account, Case, Contact,
//! EmailMessage (API 48.0+), Lead, Opportunity, OpportunityContactRole,
//! Task and User** are in the list; **CaseComment, FeedItem, FeedComment**
//! (and Attachment, the Content objects, Conversation, the messaging
//! objects, Group, Profile, RecordType, Topic) are not. An object without
//! change events has no channel: subscribing to `/data/FeedItemChangeEvent`
//! fails like any unknown channel, and its records never appear on
//! `/data/ChangeEvents`. (MessagingSession was not found in the lists
//! seen; it is treated as not streaming.)
//!
//! Entity selection (Setup → Change Data Capture): one per org, default
//! Case, EmailMessage, Contact, Account, Lead (the usual five of an org
//! without the add-on). Only selected entities produce events ("To receive
//! change event notifications on a standard channel, enable the entities
//! for Change Data Capture", `cdc_subscribe_channels`): `/data/ChangeEvents`
//! carries the selected entities, and the channel of a supported but
//! unselected entity accepts subscriptions and delivers nothing (guessed:
//! Salesforce's exact behaviour was not found). Change it with
//! `PUT /__emulator/streaming/selection` or
//! [`RunningEmulator::set_cdc_selection`](crate::RunningEmulator::set_cdc_selection).
//!
//! # What a client sees
//!
//! `POST /cometd/{version}` (and `/cometd/{version}/handshake`,
//! `/connect` … as CometD's Java client appends), a JSON array of Bayeux
//! messages (one object is taken too), HTTP 200 with a JSON array.
//! `Authorization: Bearer|OAuth <token>`, the REST session token. CometD
//! requests are not API calls: `Sforce-Limit-Info` does not move; they are
//! counted in [`CallCounters::streaming`](crate::CallCounters::streaming).
//!
//! | message | answer |
//! |---|---|
//! | `/meta/handshake` `{"version","supportedConnectionTypes":["long-polling",…]}` | `{"clientId","version":"1.0","minimumVersion":"1.0","supportedConnectionTypes":["long-polling"],"advice":{"interval":0,"timeout":110000,"reconnect":"retry"},"ext":{"replay":true,"payload.format":true},"successful":true}`, cookie `BAYEUX_BROWSER` |
//! | `/meta/subscribe` `{"clientId","subscription","ext":{"replay":{"<channel>":-1\|-2\|<replayId>}}}` | `{"subscription","successful":true}` |
//! | `/meta/connect` `{"clientId","connectionType":"long-polling"}` | the pending events `{"channel","data":{"schema","payload":{"ChangeEventHeader":{…},<fields>},"event":{"replayId"}}}` (one per subscribed channel that carries the event), then `{"channel":"/meta/connect","successful":true,"advice":{…}}`; held until an event or the connect timeout without any |
//! | `/meta/unsubscribe`, `/meta/disconnect` | `successful:true` |
//!
//! Replay ids are increasing, not contiguous. A connect's `advice.timeout`
//! shortens the hold (0: answer at once, as CometD clients ask on their
//! first connect).
//!
//! Errors (`error` of an unsuccessful reply; sources: Streaming API guide
//! `streaming_error_codes` (v230–v264), `streaming_handling_errors`, GitHub
//! issues quoting Salesforce's answers):
//! - `/cometd` or `/cometd/`: HTTP 400, `400::API version in the URI is mandatory. URI format: '/cometd/64.0'`;
//!   a version below 37.0 or above the newest served: HTTP 400,
//!   `400::Unsupported API version. Only API versions '37.0' and later are supported. URI format: '/cometd/64.0'`
//!   (error-code table; the HTTP status of these two is guessed).
//! - No token: `401::Request requires authentication` (on a handshake:
//!   `403::Handshake denied` with `ext.sfdc.failureReason` that text).
//!   Invalid or expired token: handshake `403::Handshake denied` with
//!   `ext.sfdc.failureReason:"401::Authentication invalid"`,
//!   `advice {"reconnect":"none"}`; others `401::Authentication invalid`,
//!   `advice {"reconnect":"none","interval":0}`.
//! - Handshake without long-polling: `400::Invalid connection type {websocket}`.
//! - Over the concurrent client limit: `403::Handshake denied`,
//!   `ext.sfdc.failureReason:"403::Organization concurrent user limit exceeded"`,
//!   `advice {"reconnect":"none"}` (SalesforceFoundation/salesforce-streaming-client#15).
//! - Unknown channel (objects without change events included):
//!   `400::The channel you requested to subscribe to does not exist {/data/FeedItemChangeEvent}`.
//! - Replay id not retained (expired or never issued):
//!   `400::The replayId {N} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.`
//!   (two spaces, as quoted in forcedotcom/EMP-Connector#14).
//! - Unknown or forgotten client (no connect for the keepalive, 40 s, or
//!   the forget fault), and a requested re-handshake:
//!   `403::Unknown client`, `advice {"reconnect":"handshake","interval":0}`,
//!   no `clientId` (as kdcllc/CometD.NetCore.Salesforce#43 shows it).
//! - Over the daily delivery allocation, on connect and subscribe:
//!   `403::Organization total events daily limit exceeded`, `advice
//!   {"reconnect":"none","interval":0}` on connect (the advice is guessed).
//! - Publishing on a channel: `403::Publish denied` (guessed).
//!
//! # Limits (Developer Edition defaults, [`StreamingSettings`])
//!
//! 20 concurrent clients; 10,000 delivered events per rolling 24 h
//! (emulator clock), counted per client an event reaches; 72 h retention
//! (emulator clock); 110 s connect hold and 40 s keepalive (real time).
//! `GET /services/data/vXX.X/limits` shows `DurableStreamingApiConcurrentClients`
//! and `DailyDurableStreamingApiEvents` live.
//!
//! # Admin API (`/__emulator/streaming/…`)
//!
//! | method and path | body | what it does |
//! |---|---|---|
//! | `GET /__emulator/streaming` | | `{"clients":[{"client_id","user_id","subscriptions","replay_positions","held_connects","idle_ms"}],"retained_events","last_replay_id","delivered","allocation":{"used","max","remaining"},"settings","selection","supported","counters"}` |
//! | `GET /__emulator/streaming/events` | | `{"events":[{"replayId","entity","data"}]}`: the retained events |
//! | `GET/PUT /__emulator/streaming/settings` | `{"connect_timeout_ms"?,"keepalive_ms"?,"max_clients"?,"daily_delivery_limit"?,"retention_seconds"?}` | the settings after the change |
//! | `GET/PUT /__emulator/streaming/selection` | `{"entities":["Case",…]}` | the CDC entity selection; 400 for an object without change events |
//! | `POST /__emulator/streaming/gap` | `{"entity","change_type":"GAP_CREATE\|GAP_UPDATE\|GAP_DELETE\|GAP_UNDELETE","record_ids":[…]}` | publishes a header-only gap event: 201 `{"replayId"}` |
//! | `POST /__emulator/streaming/overflow` | `{"entity"}` | publishes `GAP_OVERFLOW` (`recordIds:["000000000000000AAA"]`): 201 `{"replayId"}` |
//! | `POST /__emulator/streaming/faults/drop-connections` | | closes every held connect's socket without an answer: 204 |
//! | `POST /__emulator/streaming/faults/forget-clients` | | forgets every client (next connect: `403::Unknown client`): 204 |
//! | `POST /__emulator/streaming/faults/rehandshake` | | every client's next (or held) connect answers `403::Unknown client` with `reconnect:"handshake"`: 204 |
//!
//! The Rust side: [`RunningEmulator::streaming_state`](crate::RunningEmulator::streaming_state),
//! `streaming_settings`, `set_streaming_settings`, `cdc_selection`,
//! `set_cdc_selection`, `publish_gap`, `publish_overflow`,
//! `drop_streaming_connections`, `forget_streaming_clients`,
//! `request_streaming_rehandshake`.
//!
//! Held connects wait on a `tokio::sync::watch` outside the org's lock;
//! a thousand of them cost a task and a receiver each.

mod admin;
mod cometd;
mod model;

pub(crate) use admin::router as admin_router;
pub(crate) use cometd::router;
pub(crate) use model::Streaming;
pub use model::{StreamingCounters, StreamingSettings};

/// The channel of every selected entity's change events.
pub const ALL_CHANGE_EVENTS: &str = "/data/ChangeEvents";

/// The emulator's standard objects that Salesforce publishes change events
/// for (see the module doc for the source); custom objects all do.
pub const STANDARD_CDC_OBJECTS: [&str; 9] =
    ["Account", "Case", "Contact", "EmailMessage", "Lead", "Opportunity", "OpportunityContactRole", "Task", "User"];

/// The entities selected for Change Data Capture in a new org.
pub const DEFAULT_SELECTION: [&str; 5] = ["Case", "EmailMessage", "Contact", "Account", "Lead"];
