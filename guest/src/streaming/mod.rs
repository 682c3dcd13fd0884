//! Near-real-time mode (E4): Change Data Capture over CometD, the host
//! holding the long poll.
//!
//! [`open`] handshakes and subscribes to `/data/ChangeEvents` from the stored
//! replay position and returns the first `/meta/connect` for the host to
//! hold; [`deliver`] reads what that connect brought back, keeps the replay
//! position, and says whether the org's cycle should run now. Events are
//! only a trigger: the cycle reads what changed from its watermark as it
//! always does, so an event that is missed, doubled or arrives out of order
//! changes nothing but latency, and every way the stream can lose events (a
//! gap or overflow event, an expired replay id, a lost client or
//! connection) runs a cycle that covers them.
//!
//! An event wakes the cycle when it concerns the agent: a change to a case
//! in the agent's open conversations (the `hot` index) or one that names
//! the agent as owner, a new email, comment or post on such a case, or a
//! change to a Contact, Lead or Account when a mapping copies that object's
//! fields to the platform. Events of the connector's own writes (their
//! `changeOrigin` names [`CALL_OPTIONS_CLIENT`]) are dropped.
//!
//! What is kept under [`STREAM_KEY`] is [`StreamState`]: the Bayeux client,
//! the replay id of the last event read, Salesforce's cookies, and the
//! failures in a row. Stored after each answer, so a restart resumes from
//! there and no event within the 72 hours of retention is lost.

use serde::{Deserialize, Serialize};

use crate::capabilities::Capabilities;
use crate::cycle::state::{HOT_KEY, HotIndex, SESSION_KEY, StateView};
use crate::cycle::{SyncError, with_budget};
use crate::model::{Direction, OrgConfig};
use crate::salesforce::client::{CALL_OPTIONS_CLIENT, SalesforceClient, Session, streaming_headers};
use crate::salesforce::cometd::{self, ChangeEvent, MetaReply, Reconnect};
use crate::salesforce::ids::canonical_id;
use crate::salesforce::transport::{HttpResponse, Transport};

#[cfg(test)]
mod tests;

/// Where the stream's state is kept in the org's namespace.
pub const STREAM_KEY: &str = "stream";
/// The channel the connector subscribes to: every entity the admin selected.
pub const CHANNEL: &str = cometd::ALL_CHANGE_EVENTS;
/// How much longer than Salesforce's connect timeout the host waits.
const HOLD_MARGIN_MS: u32 = 20_000;
/// The longest back-off between failed connects.
const MAX_BACKOFF_MS: u32 = 60_000;
/// Failed connects in a row before the client is dropped and the stream
/// started again with a handshake.
const FAILURES_BEFORE_HANDSHAKE: u32 = 3;
/// How long the stream stays off when the org's daily event delivery
/// allocation is used up: it is a rolling 24 hours, so an hour later some
/// of it may be free again; meanwhile the org polls.
pub const DELIVERY_LIMIT_PAUSE_MS: u32 = 60 * 60 * 1000;
/// How long the stream stays off when the org has as many streaming clients
/// as its edition allows, or Salesforce refused the subscription.
pub const REFUSED_PAUSE_MS: u32 = 15 * 60 * 1000;

/// A request for the host to hold (see `streaming.held-request`).
#[derive(Clone, PartialEq, Eq)]
pub struct HeldRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay_ms: u32,
    pub timeout_ms: u32,
}

/// Headers carry the access token: never print them.
impl std::fmt::Debug for HeldRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldRequest")
            .field("url", &self.url)
            .field("body", &self.body)
            .field("delay_ms", &self.delay_ms)
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

/// What became of a held request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldAnswer {
    Response(HttpResponse),
    TimedOut,
    Failed(String),
    Refused(String),
}

/// How the stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Live,
    Reconnecting,
    Paused,
}

/// What the host does next (see `streaming.stream-step`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStep {
    pub hold: Option<HeldRequest>,
    pub cycle_now: bool,
    pub retry_after_ms: u32,
    pub health: Health,
    pub detail: String,
    pub events: u32,
    pub own_writes: u32,
    pub relevant: u32,
}

impl StreamStep {
    /// Start again with [`open`] after `after_ms`.
    fn reopen(after_ms: u32, health: Health, cycle_now: bool, detail: String) -> StreamStep {
        StreamStep {
            hold: None,
            cycle_now,
            retry_after_ms: after_ms,
            health,
            detail,
            events: 0,
            own_writes: 0,
            relevant: 0,
        }
    }
}

/// The stream's state between calls, under [`STREAM_KEY`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    /// The Bayeux client of the current subscription; none: handshake first.
    pub client_id: Option<String>,
    /// The replay id of the last event read on [`CHANNEL`]; none: only new events.
    pub replay_id: Option<i64>,
    /// How long Salesforce holds a connect (ms), as its handshake advised.
    pub timeout_ms: u32,
    /// The cookies Salesforce set (`sfdc-stream` keeps a client on its server).
    pub cookies: Option<String>,
    /// Failed connects in a row.
    pub failures: u32,
    /// The next Bayeux message id.
    pub next_id: u64,
}

impl StreamState {
    fn message_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The next `/meta/connect`, with the back-off the failures so far call for.
    fn connect(&mut self, session: &Session, url: &str, delay_ms: u32) -> Option<HeldRequest> {
        let client_id = self.client_id.clone()?;
        let body = cometd::connect(self.message_id(), &client_id).to_string();
        let mut headers = streaming_headers(&session.access_token);
        if let Some(cookies) = self.cookies.as_ref().filter(|c| !c.is_empty()) {
            headers.push(("Cookie".into(), cookies.clone()));
        }
        let timeout = if self.timeout_ms == 0 { cometd::DEFAULT_CONNECT_TIMEOUT_MS } else { self.timeout_ms };
        Some(HeldRequest {
            url: url.to_string(),
            headers,
            body,
            delay_ms: delay_ms.max(backoff(self.failures)),
            timeout_ms: timeout.saturating_add(HOLD_MARGIN_MS),
        })
    }

    /// Keeps the cookies an answer sets, by name.
    fn take_cookies(&mut self, response: &HttpResponse) {
        let mut jar: Vec<(String, String)> = self
            .cookies
            .iter()
            .flat_map(|c| c.split("; "))
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        for (name, value) in &response.headers {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let Some((cookie, cookie_value)) = value.split(';').next().and_then(|pair| pair.split_once('=')) else {
                continue;
            };
            let cookie = cookie.trim().to_string();
            jar.retain(|(name, _)| *name != cookie);
            jar.push((cookie, cookie_value.trim().to_string()));
        }
        let joined: Vec<String> = jar.iter().map(|(name, value)| format!("{name}={value}")).collect();
        self.cookies = (!joined.is_empty()).then(|| joined.join("; "));
    }
}

/// The wait before the next connect after `failures` failures in a row:
/// none, then 1 s, 2 s, 4 s … up to a minute.
fn backoff(failures: u32) -> u32 {
    match failures {
        0 => 0,
        n => 1000u32.saturating_mul(1 << (n - 1).min(6)).min(MAX_BACKOFF_MS),
    }
}

/// Start the org's stream: authenticate if needed, handshake, subscribe from
/// the stored replay position (an expired one is dropped and the cycle
/// polls instead). Always asks for a cycle: whatever happened while no
/// client was subscribed is read from the watermark.
pub fn open<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
) -> Result<StreamStep, SyncError> {
    let (step, _, _) = with_budget(org, transport, caps, |client, caps| open_with(org, client, caps))?;
    Ok(step)
}

fn open_with<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    client: &mut SalesforceClient<T>,
    caps: &mut C,
) -> Result<StreamStep, SyncError> {
    let mut view = StateView::default();
    let mut state: StreamState = view.load(caps, STREAM_KEY)?.unwrap_or_default();
    state.client_id = None;
    let url = cometd::endpoint(&client.current_session()?.instance_url, &org.api_version);

    let mut handshake = meta(client, &url, &mut state, cometd::handshake(0), "/meta/handshake")?;
    if handshake.is_unauthenticated() {
        client.authenticate()?;
        handshake = meta(client, &url, &mut state, cometd::handshake(0), "/meta/handshake")?;
    }
    let client_id = match (&handshake.client_id, handshake.successful) {
        (Some(id), true) => id.clone(),
        _ => {
            let error = handshake.error.clone().unwrap_or_else(|| "no clientId".into());
            save(caps, &state)?;
            return Ok(refused("the handshake", &error));
        }
    };
    state.timeout_ms = handshake.timeout_ms.unwrap_or(cometd::DEFAULT_CONNECT_TIMEOUT_MS);

    let from = state.replay_id.unwrap_or(cometd::REPLAY_NEW);
    let id = state.message_id();
    let mut subscribed =
        meta(client, &url, &mut state, cometd::subscribe(id, &client_id, CHANNEL, from), "/meta/subscribe")?;
    let mut expired = None;
    if !subscribed.successful && subscribed.error.as_deref().is_some_and(cometd::is_invalid_replay) {
        expired = subscribed.error.take();
        state.replay_id = None;
        let id = state.message_id();
        subscribed = meta(
            client,
            &url,
            &mut state,
            cometd::subscribe(id, &client_id, CHANNEL, cometd::REPLAY_NEW),
            "/meta/subscribe",
        )?;
    }
    if !subscribed.successful {
        let error = subscribed.error.unwrap_or_else(|| "refused".into());
        save(caps, &state)?;
        return Ok(refused(&format!("the subscription to {CHANNEL}"), &error));
    }
    state.client_id = Some(client_id);
    state.failures = 0;
    let detail = match (&expired, state.replay_id) {
        (Some(error), _) => format!(
            "live on {CHANNEL} from new events: Salesforce no longer had the stored replay position ({error}), so the cycle polls from the watermark"
        ),
        (None, Some(replay)) => format!("live on {CHANNEL} after replay {replay}"),
        (None, None) => format!("live on {CHANNEL} from new events"),
    };
    let session = client.current_session()?;
    let hold = state.connect(&session, &url, 0);
    save(caps, &state)?;
    Ok(StreamStep {
        hold,
        cycle_now: true,
        retry_after_ms: 0,
        health: Health::Live,
        detail,
        events: 0,
        own_writes: 0,
        relevant: 0,
    })
}

/// Sends one meta message and reads its reply (an HTTP 401 reads as an
/// unauthenticated reply, so the caller refreshes the token).
fn meta<T: Transport>(
    client: &mut SalesforceClient<T>,
    url: &str,
    state: &mut StreamState,
    message: serde_json::Value,
    channel: &str,
) -> Result<MetaReply, SyncError> {
    let response = client.send_streaming(url, &message, state.cookies.as_deref())?;
    state.take_cookies(&response);
    let body = String::from_utf8_lossy(&response.body);
    if response.status == 401 {
        return Ok(MetaReply {
            channel: channel.to_string(),
            successful: false,
            client_id: None,
            error: Some(format!("401::{}", body.trim())),
            reconnect: Some(Reconnect::None),
            interval_ms: None,
            timeout_ms: None,
        });
    }
    if !(200..300).contains(&response.status) {
        return Err(SyncError::Salesforce(crate::salesforce::client::ApiError {
            status: response.status,
            code: "STREAMING_API".into(),
            message: format!("{channel} at {url}: HTTP {} {}", response.status, snippet(&body)),
            fields: Vec::new(),
        }));
    }
    let answer = cometd::parse_answer(&body).map_err(|e| SyncError::MalformedResponse(format!("{channel}: {e}")))?;
    answer
        .reply(channel)
        .cloned()
        .ok_or_else(|| SyncError::MalformedResponse(format!("the answer to {channel} has no {channel} reply")))
}

fn snippet(text: &str) -> String {
    text.chars().take(200).collect()
}

/// The stream is off for now: Salesforce refused `what` with `error`.
fn refused(what: &str, error: &str) -> StreamStep {
    let (pause, advice) = if cometd::is_delivery_limit(error) {
        (DELIVERY_LIMIT_PAUSE_MS, "the org's daily event delivery allocation is used up; polling until it frees up")
    } else if cometd::is_client_limit(error) {
        (REFUSED_PAUSE_MS, "the org has as many streaming clients as its edition allows; polling meanwhile")
    } else {
        (
            REFUSED_PAUSE_MS,
            "check that Change Data Capture is on for Case and EmailMessage (Setup → Change Data Capture) and that the integration user has the API Enabled and View All Data (or per-object Read) permissions; polling meanwhile",
        )
    };
    StreamStep::reopen(pause, Health::Paused, true, format!("paused: Salesforce refused {what} ({error}): {advice}"))
}

/// What the last held connect brought back: read the events, keep the
/// replay position, and say what comes next.
pub fn deliver<C: Capabilities>(org: &OrgConfig, caps: &mut C, answer: HeldAnswer) -> Result<StreamStep, SyncError> {
    let mut view = StateView::default();
    let mut state: StreamState = view.load(caps, STREAM_KEY)?.unwrap_or_default();
    let session = stored_session(org, &mut view, caps)?;
    let (Some(session), Some(_)) = (session, state.client_id.as_ref()) else {
        return Ok(StreamStep::reopen(0, Health::Reconnecting, false, "starting the stream again".into()));
    };
    let url = cometd::endpoint(&session.instance_url, &org.api_version);
    let response = match answer {
        HeldAnswer::Response(response) => response,
        HeldAnswer::TimedOut => return connect_failed(caps, state, &session, &url, "the held connect timed out"),
        HeldAnswer::Failed(why) => return connect_failed(caps, state, &session, &url, &why),
        HeldAnswer::Refused(why) => {
            state.client_id = None;
            save(caps, &state)?;
            return Ok(StreamStep::reopen(
                REFUSED_PAUSE_MS,
                Health::Paused,
                true,
                format!("paused: the host did not send the connect ({why})"),
            ));
        }
    };
    state.take_cookies(&response);
    let body = String::from_utf8_lossy(&response.body);
    if response.status == 401 || response.status == 403 {
        state.client_id = None;
        save(caps, &state)?;
        let detail = format!("reconnecting: the connect was refused with HTTP {}", response.status);
        return Ok(StreamStep::reopen(0, Health::Reconnecting, true, detail));
    }
    if response.status != 200 {
        let why = format!("HTTP {} from the connect: {}", response.status, snippet(&body));
        return connect_failed(caps, state, &session, &url, &why);
    }
    let answer = match cometd::parse_answer(&body) {
        Ok(answer) => answer,
        Err(why) => return connect_failed(caps, state, &session, &url, &why),
    };

    let mut step = read_events(org, &mut view, caps, &mut state, &answer.events)?;
    match answer.reply("/meta/connect") {
        Some(reply) if !reply.successful => {
            let error = reply.error.clone().unwrap_or_else(|| "unsuccessful".into());
            state.client_id = None;
            let mut next = if cometd::is_delivery_limit(&error) {
                refused("the connect", &error)
            } else if reply.is_unauthenticated() {
                StreamStep::reopen(0, Health::Reconnecting, false, format!("reconnecting: {error}"))
            } else if reply.reconnect == Some(Reconnect::Handshake) || error.contains("Unknown client") {
                StreamStep::reopen(0, Health::Reconnecting, true, format!("reconnecting: {error}"))
            } else {
                state.failures = state.failures.saturating_add(1);
                StreamStep::reopen(
                    backoff(state.failures),
                    Health::Reconnecting,
                    true,
                    format!("reconnecting: {error}"),
                )
            };
            next.cycle_now |= step.cycle_now;
            (next.events, next.own_writes, next.relevant) = (step.events, step.own_writes, step.relevant);
            step = next;
        }
        reply => {
            state.failures = 0;
            let interval = reply.and_then(|r| r.interval_ms).unwrap_or(0);
            if let Some(timeout) = reply.and_then(|r| r.timeout_ms) {
                state.timeout_ms = timeout;
            }
            step.hold = state.connect(&session, &url, interval);
        }
    }
    save(caps, &state)?;
    Ok(step)
}

/// A connect that got no usable answer: connect again after a back-off
/// (the subscription survives on Salesforce's side for a while); after
/// [`FAILURES_BEFORE_HANDSHAKE`] in a row, start again with a handshake.
/// Either way a cycle runs, in case the drop hid events.
fn connect_failed<C: Capabilities>(
    caps: &mut C,
    mut state: StreamState,
    session: &Session,
    url: &str,
    why: &str,
) -> Result<StreamStep, SyncError> {
    state.failures = state.failures.saturating_add(1);
    let detail = format!("reconnecting after {} failed connect(s): {why}", state.failures);
    let step = if state.failures >= FAILURES_BEFORE_HANDSHAKE {
        state.client_id = None;
        StreamStep::reopen(backoff(state.failures), Health::Reconnecting, true, detail)
    } else {
        let hold = state.connect(session, url, 0);
        StreamStep { hold, ..StreamStep::reopen(0, Health::Reconnecting, true, detail) }
    };
    save(caps, &state)?;
    Ok(step)
}

/// Whose an event is, for the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concern {
    /// The connector's own write: dropped.
    Own,
    /// A gap or overflow event: the data must be read again.
    Gap,
    /// The agent's cases, or CRM records the org syncs to the platform.
    Agent,
    /// Nothing the connector works on.
    Other,
}

/// What `event` means to the org whose open conversations are `hot`.
pub fn concern(org: &OrgConfig, hot: &HotIndex, event: &ChangeEvent) -> Concern {
    if event.origin_client.as_deref() == Some(CALL_OPTIONS_CLIENT) {
        return Concern::Own;
    }
    if event.is_gap() {
        return Concern::Gap;
    }
    let is_open = |id: &str| canonical_id(id).is_some_and(|id| hot.0.contains_key(&id));
    let agent = canonical_id(&org.agent_user_id);
    let relevant = match event.entity.as_str() {
        "Case" => {
            event.record_ids.iter().any(|id| is_open(id))
                || event.text("OwnerId").and_then(canonical_id).is_some_and(|owner| Some(owner) == agent)
        }
        "EmailMessage" | "CaseComment" | "FeedItem" => event.text("ParentId").is_some_and(is_open),
        object @ ("Contact" | "Lead" | "Account") => {
            org.mappings.iter().any(|m| m.object == object && m.direction == Direction::ToPlatform)
        }
        _ => false,
    };
    if relevant { Concern::Agent } else { Concern::Other }
}

/// Counts and judges the events, keeps the last replay id; the step asks
/// for a cycle when one concerned the agent or was a gap.
fn read_events<C: Capabilities>(
    org: &OrgConfig,
    view: &mut StateView,
    caps: &mut C,
    state: &mut StreamState,
    events: &[ChangeEvent],
) -> Result<StreamStep, SyncError> {
    let mut step = StreamStep {
        hold: None,
        cycle_now: false,
        retry_after_ms: 0,
        health: Health::Live,
        detail: match state.replay_id {
            Some(replay) => format!("live on {CHANNEL} after replay {replay}"),
            None => format!("live on {CHANNEL} from new events"),
        },
        events: 0,
        own_writes: 0,
        relevant: 0,
    };
    if events.is_empty() {
        return Ok(step);
    }
    let hot: HotIndex = view.load(caps, HOT_KEY)?.unwrap_or_default();
    let mut gaps = 0;
    for event in events {
        step.events += 1;
        match concern(org, &hot, event) {
            Concern::Own => step.own_writes += 1,
            Concern::Gap => gaps += 1,
            Concern::Agent => step.relevant += 1,
            Concern::Other => {}
        }
        state.replay_id = Some(event.replay_id);
    }
    step.cycle_now = step.relevant > 0 || gaps > 0;
    let replay = state.replay_id.unwrap_or_default();
    step.detail = if gaps > 0 {
        format!(
            "live on {CHANNEL} after replay {replay}; {gaps} gap or overflow event(s): the cycle reads the records again"
        )
    } else {
        format!("live on {CHANNEL} after replay {replay}")
    };
    Ok(step)
}

/// The session the cycle keeps (sealed) in the store, if it opens.
fn stored_session<C: Capabilities>(
    org: &OrgConfig,
    view: &mut StateView,
    caps: &mut C,
) -> Result<Option<Session>, SyncError> {
    let sealed: Option<String> = view.load(caps, SESSION_KEY)?;
    Ok(sealed.and_then(|sealed| crate::salesforce::session::open(&sealed, &org.credentials)))
}

/// Stores the stream's state. Only the stream writes this key; should
/// another process stream the same org, the last answer's position wins,
/// which at worst replays events the cycle has already covered.
fn save<C: Capabilities>(caps: &mut C, state: &StreamState) -> Result<(), SyncError> {
    let text = serde_json::to_string(state).unwrap_or_default();
    caps.commit(&[], &[crate::capabilities::StoreWrite::Put(STREAM_KEY.to_string(), text)])?;
    Ok(())
}
