//! The messenger (B1–B3): the AI agent answers a platform messenger
//! conversation, and when a person is needed the conversation is handed to a
//! live Salesforce agent through Messaging for In-App and Web (MIAW) and
//! relayed both ways until the session ends.
//!
//! One key per conversation, `messenger/conv/<platform id>` ([`Chat`]),
//! written compare-and-swap after every step that reached the outside
//! world, so a crash repeats at most the last step, and every step is
//! idempotent on its own:
//! - the AI agent's part has the id `ai:<customer part id>`, so a second
//!   turn after a crash posts nothing new;
//! - the MIAW conversation id and every MIAW message id are derived from
//!   platform ids ([`uuid_from`]); a conversation created already answers
//!   409, a message id sent already is not stored twice;
//! - the live agent's messages and the notices get the part id
//!   `miaw:<entry id>`; entries are read from a stored position (their
//!   transcript time and the ids seen at it).
//!
//! `routingAttributes` ([`crate::routing`], seed 002's naming) go with the
//! conversation's creation and with every message and file (B3).

pub mod miaw;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::capabilities::{AgentAction, Capabilities, HostFailure, LogLevel, StoreWrite};
use crate::cycle::SyncError;
use crate::model::{
    Attribute, AttributeValue, AuthorRole, Conversation, ConversationPart, OrgConfig, PartSource, ResolutionState,
    Timestamp,
};
use crate::platform::{AttributeKind, Channel, PlatformConversation, PlatformFailure};
use crate::routing;
use crate::salesforce::transport::Transport;
use crate::workflow;
use miaw::{Entry, FileUpload, Miaw, MiawError, Send};

/// Where each conversation's [`Chat`] is kept.
const KEY_PREFIX: &str = "messenger/conv/";
/// How soon the host should relay again while a hand-off is waiting or live.
pub const LIVE_POLL_MS: u32 = 1_000;
/// A MIAW token older than this is renewed (continuation token) before use.
const TOKEN_RENEW_MS: i64 = 30 * 60 * 1000;
/// Entries read per page (MIAW's maximum).
const ENTRY_PAGE: usize = 50;

/// Who the conversation is with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Phase {
    #[default]
    Agent,
    Waiting,
    Live,
    Ended,
}

/// What the connector keeps about one messenger conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chat {
    pub phase: Phase,
    /// The last customer part the AI agent took its turn on (or handed off).
    pub answered_through: Option<String>,
    /// The current (or last) hand-off.
    pub hand_off: Option<HandOff>,
    /// Hand-offs so far: each has its own MIAW conversation.
    pub hand_offs: u32,
    /// Where the conversation is in the messenger's workflow (A11).
    #[serde(default)]
    pub workflow: crate::workflow::Progress,
}

/// A hand-off to Salesforce: the MIAW conversation and how far the relay got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandOff {
    /// The MIAW `conversationId` (a lowercase UUID).
    pub conversation_id: String,
    /// The anonymous identity's token (only this identity may read the conversation).
    pub token: String,
    pub token_at: Timestamp,
    /// Whether the MIAW conversation exists.
    pub created: bool,
    /// The customer part that was handed off: it and every later one are relayed.
    pub from_part: String,
    /// The last customer part relayed.
    pub sent_through: Option<String>,
    /// Entries read: the newest transcript time, and the ids seen at it.
    pub read_from: i64,
    pub read_ids: Vec<String>,
    /// The next send starts a new messaging session (the last one ended).
    pub new_session: bool,
    /// The newest MessagingSession seen in the entries: only its end ends the hand-off.
    #[serde(default)]
    pub session: Option<String>,
}

/// What one relay did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelayReport {
    pub phase: Phase,
    pub answered: u32,
    pub sent: u32,
    pub received: u32,
    pub poll_after_ms: Option<u32>,
}

/// A UUID (version 4 layout, lowercase) derived from `seed`: the same seed
/// gives the same id on every retry.
pub fn uuid_from(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn platform(error: PlatformFailure) -> SyncError {
    SyncError::Host(error.to_string())
}

fn miaw_error(error: MiawError) -> SyncError {
    match error {
        MiawError::Transport(why) => SyncError::Transport(why),
        MiawError::Malformed(why) => SyncError::MalformedResponse(why),
        other => SyncError::Salesforce(other.to_api_error()),
    }
}

/// The chat and the stored text it was read from (for compare-and-swap).
struct Kept {
    key: String,
    raw: Option<String>,
    chat: Chat,
}

impl Kept {
    fn load(caps: &mut impl Capabilities, conversation_id: &str) -> Result<Kept, SyncError> {
        let key = format!("{KEY_PREFIX}{conversation_id}");
        let raw = caps.get(&key).map_err(|e| SyncError::Storage(e.to_string()))?;
        let chat = match &raw {
            Some(text) => serde_json::from_str(text).map_err(|e| {
                SyncError::Storage(format!("the messenger state of {conversation_id} cannot be read: {e}"))
            })?,
            None => Chat::default(),
        };
        Ok(Kept { key, raw, chat })
    }

    /// Write the chat if it changed, expecting what was read.
    fn save(&mut self, caps: &mut impl Capabilities) -> Result<(), SyncError> {
        let text = serde_json::to_string(&self.chat).map_err(|e| SyncError::Storage(e.to_string()))?;
        if self.raw.as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        caps.commit(&[(self.key.clone(), self.raw.clone())], &[StoreWrite::Put(self.key.clone(), text.clone())])
            .map_err(|e| SyncError::Storage(e.to_string()))?;
        self.raw = Some(text);
        Ok(())
    }
}

/// Bring the messenger conversation up to date: the AI agent's turn on new
/// customer messages, the hand-off, and the relay both ways while it lasts.
pub fn relay<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: T,
    caps: &mut C,
    conversation_id: &str,
) -> Result<RelayReport, SyncError> {
    let conversation = caps
        .get_conversation(conversation_id)
        .map_err(platform)?
        .ok_or_else(|| SyncError::Host(format!("the platform has no conversation {conversation_id}")))?;
    if conversation.channel != Channel::Messenger {
        return Err(SyncError::Host(format!("conversation {conversation_id} is not a messenger conversation")));
    }
    let mut kept = Kept::load(caps, conversation_id)?;
    let mut report = RelayReport::default();
    let mut transport = transport;
    if matches!(kept.chat.phase, Phase::Agent | Phase::Ended) {
        agent_turn(org, &mut transport, caps, &conversation, &mut kept, &mut report)?;
    }
    if matches!(kept.chat.phase, Phase::Waiting | Phase::Live)
        && let Some(deployment) = &org.messenger
    {
        let mut client = Miaw { transport: &mut transport, deployment };
        relay_live(&mut client, caps, &conversation, &mut kept, &mut report)?;
    }
    kept.save(caps)?;
    report.phase = kept.chat.phase;
    report.poll_after_ms = matches!(report.phase, Phase::Waiting | Phase::Live).then_some(LIVE_POLL_MS);
    Ok(report)
}

/// The conversations whose hand-off is waiting or live.
pub fn live_conversations(caps: &mut impl Capabilities) -> Result<Vec<String>, SyncError> {
    let entries = caps.scan(KEY_PREFIX).map_err(|e| SyncError::Storage(e.to_string()))?;
    Ok(entries
        .into_iter()
        .filter(|(_, text)| {
            serde_json::from_str::<Chat>(text).is_ok_and(|c| matches!(c.phase, Phase::Waiting | Phase::Live))
        })
        .filter_map(|(key, _)| key.strip_prefix(KEY_PREFIX).map(str::to_string))
        .collect())
}

/// The customer's parts after `after` (all of them when `after` is none or gone).
fn customer_parts_after<'c>(conversation: &'c PlatformConversation, after: Option<&str>) -> Vec<&'c ConversationPart> {
    let start = after.and_then(|id| conversation.parts.iter().position(|p| p.id == id)).map_or(0, |i| i + 1);
    conversation.parts[start..].iter().filter(|p| p.author == AuthorRole::Customer).collect()
}

/// A part the connector posts into the conversation.
fn part(id: String, author: AuthorRole, author_name: Option<String>, text: String, at: Timestamp) -> ConversationPart {
    ConversationPart {
        id,
        source: PartSource::FeedItem,
        author,
        author_name,
        text,
        created_at: at,
        attachments: Vec::new(),
    }
}

fn notice(caps: &mut impl Capabilities, conversation_id: &str, id: String, text: &str) -> Result<bool, SyncError> {
    let at = caps.now();
    caps.post_part(conversation_id, &part(id, AuthorRole::System, None, text.to_string(), at)).map_err(platform)
}

/// The AI agent's turn on the customer's newest messages, and the hand-off it may ask for.
fn agent_turn<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: &mut T,
    caps: &mut C,
    conversation: &PlatformConversation,
    kept: &mut Kept,
    report: &mut RelayReport,
) -> Result<(), SyncError> {
    let Some(last) =
        customer_parts_after(conversation, kept.chat.answered_through.as_deref()).last().map(|p| p.id.clone())
    else {
        return Ok(());
    };
    let view = agent_view(caps, conversation)?;
    let now = caps.now();
    let reply = |text: String| part(format!("ai:{last}"), AuthorRole::Agent, None, text, now);
    if let Some(flow) = org.workflow(Channel::Messenger).filter(|_| !kept.chat.workflow.done) {
        let answer: Vec<&str> = customer_parts_after(conversation, kept.chat.answered_through.as_deref())
            .into_iter()
            .map(|p| p.text.trim())
            .filter(|t| !t.is_empty())
            .collect();
        let catalog = crate::cycle::state::load_catalog(&mut Default::default(), caps, workflow::CASE)?;
        let inputs = workflow::Inputs {
            conversation: &view,
            case_catalog: catalog.as_ref(),
            descriptions: &org.value_descriptions,
            answer: &answer.join("\n"),
        };
        let (stop, problems) = workflow::advance(caps, flow, &mut kept.chat.workflow, &inputs);
        workflow_case(org, caps, &conversation.id, &kept.chat.workflow)?;
        for problem in problems {
            caps.log(
                LogLevel::Warn,
                "a workflow step could not do its work",
                &[("conversation", &conversation.id), ("step", &problem.step), ("reason", &problem.message)],
            );
        }
        match stop {
            workflow::Stop::AgentAnswers => {}
            workflow::Stop::Ask(question) => {
                if caps.post_part(&conversation.id, &reply(question)).map_err(platform)? {
                    report.answered += 1;
                }
                kept.chat.answered_through = Some(last);
                return kept.save(caps);
            }
            // A messenger conversation's team is in Salesforce, behind MIAW.
            workflow::Stop::HandOffToSalesforceAgent | workflow::Stop::HandOffToTeam(_) => {
                return hand_off(org, transport, caps, conversation, kept, last, "the workflow's hand-off step");
            }
        }
    }
    let turn = match caps.respond(&view) {
        Ok(turn) => turn,
        Err(HostFailure::Unavailable(why) | HostFailure::Rejected(why)) => {
            return Err(SyncError::Host(format!("the AI agent could not answer: {why}")));
        }
    };
    match turn.action {
        AgentAction::Answer(text) | AgentAction::Ask(text) | AgentAction::Solved(Some(text)) => {
            if caps.post_part(&conversation.id, &reply(text)).map_err(platform)? {
                report.answered += 1;
            }
        }
        AgentAction::Solved(None) => {}
        AgentAction::HandOff(reason) => return hand_off(org, transport, caps, conversation, kept, last, &reason),
    }
    kept.chat.answered_through = Some(last);
    kept.chat.phase = Phase::Agent;
    kept.save(caps)
}

/// A `workflow_step:<id>` case trigger (C5) whose step the conversation's
/// workflow reached: one case for the conversation (the key every automatic
/// case of it shares), with the workflow's values as its fields, created by
/// the next cycle's CRM actions.
fn workflow_case(
    org: &OrgConfig,
    caps: &mut impl Capabilities,
    conversation_id: &str,
    progress: &workflow::Progress,
) -> Result<(), SyncError> {
    use crate::crm::{Action, CaseTrigger, auto, ledger};
    let due = org
        .crm
        .case_triggers
        .iter()
        .any(|t| matches!(t, CaseTrigger::WorkflowStep(step) if progress.passed.contains(step)));
    if !due {
        return Ok(());
    }
    let fields = progress
        .values
        .iter()
        .map(|(field, value)| Attribute { name: field.clone(), value: workflow::wire_attribute(value) })
        .collect();
    let action = Action::CreateCase { conversation_id: conversation_id.to_string(), fields, automatic: true };
    let mut view = crate::cycle::state::StateView::default();
    let mut batch = crate::cycle::state::Batch::default();
    let now = caps.now();
    ledger::enqueue(&mut view, caps, &mut batch, vec![(auto::auto_case_key(conversation_id), action)], now)?;
    view.commit(caps, batch)
}

/// Hand the conversation to a person, on the customer part `last`: a live
/// Salesforce agent when the org has a MIAW deployment, else a notice.
fn hand_off<T: Transport, C: Capabilities>(
    org: &OrgConfig,
    transport: &mut T,
    caps: &mut C,
    conversation: &PlatformConversation,
    kept: &mut Kept,
    last: String,
    reason: &str,
) -> Result<(), SyncError> {
    caps.log(LogLevel::Info, "messenger hand-off", &[("conversation", &conversation.id), ("reason", reason)]);
    kept.chat.answered_through = Some(last.clone());
    match &org.messenger {
        Some(deployment) => {
            let mut client = Miaw { transport, deployment };
            start_hand_off(&mut client, caps, conversation, kept, &last)
        }
        None => {
            let text = "A person from our team will reply here soon.";
            notice(caps, &conversation.id, format!("handoff:{last}"), text)?;
            kept.chat.phase = Phase::Agent;
            kept.save(caps)
        }
    }
}

/// Hand the conversation to Salesforce: a new anonymous identity (kept
/// before anything is created with it), the MIAW conversation with the
/// routing attributes, and a notice for the customer.
fn start_hand_off<T: Transport, C: Capabilities>(
    client: &mut Miaw<'_, T>,
    caps: &mut C,
    conversation: &PlatformConversation,
    kept: &mut Kept,
    from_part: &str,
) -> Result<(), SyncError> {
    let token = client.access_token().map_err(miaw_error)?;
    kept.chat.hand_offs += 1;
    kept.chat.phase = Phase::Waiting;
    kept.chat.hand_off = Some(HandOff {
        conversation_id: uuid_from(&format!("conversation:{}:{}", conversation.id, kept.chat.hand_offs)),
        token: token.access_token,
        token_at: caps.now(),
        created: false,
        from_part: from_part.to_string(),
        sent_through: None,
        read_from: 0,
        read_ids: Vec::new(),
        new_session: false,
        session: None,
    });
    kept.save(caps)?;
    notice(caps, &conversation.id, format!("connecting:{from_part}"), "Connecting you with a person from our team…")?;
    Ok(())
}

/// The hand-off's relay: create the MIAW conversation if it is not yet,
/// send the customer's new messages and files, post what Salesforce wrote.
fn relay_live<T: Transport, C: Capabilities>(
    client: &mut Miaw<'_, T>,
    caps: &mut C,
    conversation: &PlatformConversation,
    kept: &mut Kept,
    report: &mut RelayReport,
) -> Result<(), SyncError> {
    let routing = routing_attributes(caps, conversation, &kept.chat.workflow)?;
    let Some(mut hand_off) = kept.chat.hand_off.clone() else {
        kept.chat.phase = Phase::Agent;
        return Ok(());
    };
    if caps.now() - hand_off.token_at > TOKEN_RENEW_MS {
        match client.continue_token(&hand_off.token) {
            Ok(token) => {
                hand_off.token = token.access_token;
                hand_off.token_at = caps.now();
            }
            Err(MiawError::Unauthorized(_)) => return lost(caps, conversation, kept),
            Err(other) => return Err(miaw_error(other)),
        }
    }
    if !hand_off.created {
        match client.create_conversation(&hand_off.token, &hand_off.conversation_id, &routing) {
            Ok(()) => hand_off.created = true,
            Err(MiawError::Unauthorized(_)) => return lost(caps, conversation, kept),
            Err(other) => return Err(miaw_error(other)),
        }
        kept.chat.hand_off = Some(hand_off.clone());
        kept.save(caps)?;
    }
    // The customer's messages from the one handed off on, in order.
    let from = conversation.parts.iter().position(|p| p.id == hand_off.from_part).unwrap_or(0);
    let after = hand_off
        .sent_through
        .as_deref()
        .and_then(|id| conversation.parts.iter().position(|p| p.id == id))
        .map_or(from, |i| i + 1);
    let pending: Vec<&ConversationPart> =
        conversation.parts[after.max(from)..].iter().filter(|p| p.author == AuthorRole::Customer).collect();
    for customer_part in pending {
        match send_part(client, caps, &hand_off, customer_part, &routing) {
            Ok(started) => {
                hand_off.new_session = false;
                if started {
                    kept.chat.phase = Phase::Waiting;
                }
            }
            Err(MiawError::Unauthorized(_)) => return lost(caps, conversation, kept),
            Err(other) => {
                kept.chat.hand_off = Some(hand_off);
                kept.save(caps)?;
                return Err(miaw_error(other));
            }
        }
        hand_off.sent_through = Some(customer_part.id.clone());
        report.sent += 1;
        kept.chat.hand_off = Some(hand_off.clone());
        kept.save(caps)?;
    }
    read_entries(client, caps, conversation, kept, &mut hand_off, report)
}

/// Send one customer part (its text, then each file), starting a new
/// messaging session when Salesforce says none exists (417). True when a
/// new session was started.
fn send_part<T: Transport, C: Capabilities>(
    client: &mut Miaw<'_, T>,
    caps: &mut C,
    hand_off: &HandOff,
    customer_part: &ConversationPart,
    routing: &[(String, String)],
) -> Result<bool, MiawError> {
    let mut started = false;
    let mut new_session = hand_off.new_session;
    let files: Vec<(String, Vec<u8>, &crate::model::Attachment)> = customer_part
        .attachments
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.content_path.starts_with('/'))
        .filter_map(|(i, a)| match caps.read_file(&a.content_path) {
            Ok(bytes) => Some((uuid_from(&format!("file:{}:{i}", customer_part.id)), bytes, a)),
            Err(error) => {
                caps.log(
                    LogLevel::Warn,
                    "a messenger file cannot be read",
                    &[("file", &a.name), ("error", &error.to_string())],
                );
                None
            }
        })
        .collect();
    let mut sends: Vec<Send<'_>> = Vec::new();
    let text_id = uuid_from(&format!("message:{}", customer_part.id));
    if !customer_part.text.trim().is_empty() || files.is_empty() {
        sends.push(Send { message_id: &text_id, text: &customer_part.text, file: None, routing, new_session });
    }
    for (id, bytes, attachment) in &files {
        let file = FileUpload { name: &attachment.name, content_type: &attachment.content_type, bytes };
        sends.push(Send { message_id: id, text: "", file: Some(file), routing, new_session });
    }
    for mut send in sends {
        send.new_session = new_session;
        match client.send(&hand_off.token, &hand_off.conversation_id, &send) {
            Ok(()) => {}
            Err(MiawError::NoSession) if !new_session => {
                started = true;
                send.new_session = true;
                client.send(&hand_off.token, &hand_off.conversation_id, &send)?;
            }
            Err(other) => return Err(other),
        }
        new_session = false;
    }
    Ok(started)
}

/// Post what Salesforce wrote since the stored position, and follow the
/// session's state.
fn read_entries<T: Transport, C: Capabilities>(
    client: &mut Miaw<'_, T>,
    caps: &mut C,
    conversation: &PlatformConversation,
    kept: &mut Kept,
    hand_off: &mut HandOff,
    report: &mut RelayReport,
) -> Result<(), SyncError> {
    loop {
        let page = match client.entries(&hand_off.token, &hand_off.conversation_id, hand_off.read_from) {
            Ok(page) => page,
            Err(MiawError::Unauthorized(_)) => return lost(caps, conversation, kept),
            Err(other) => return Err(miaw_error(other)),
        };
        let full = page.len() >= ENTRY_PAGE;
        let mut progressed = false;
        for entry in page {
            if entry.transcripted < hand_off.read_from
                || (entry.transcripted == hand_off.read_from && hand_off.read_ids.contains(&entry.id))
            {
                continue;
            }
            progressed = true;
            // The first entry of a newer session (one a 417 started): waiting again.
            let ended = entry.payload.get("sessionStatus").and_then(Value::as_str) == Some("Ended");
            let newer = entry.related.first().filter(|s| hand_off.session.as_ref() != Some(*s)).cloned();
            let current = match newer {
                Some(session) => {
                    hand_off.session = Some(session);
                    if !ended {
                        kept.chat.phase = Phase::Waiting;
                    }
                    true
                }
                None => entry.related.first().is_none_or(|s| hand_off.session.as_ref() == Some(s)),
            };
            apply_entry(caps, conversation, kept, &entry, current, report)?;
            // The next message after an end starts a new session.
            hand_off.new_session |= ended && current;
            if entry.transcripted > hand_off.read_from {
                hand_off.read_from = entry.transcripted;
                hand_off.read_ids.clear();
            }
            hand_off.read_ids.push(entry.id.clone());
        }
        kept.chat.hand_off = Some(hand_off.clone());
        kept.save(caps)?;
        if !full || !progressed {
            return Ok(());
        }
    }
}

/// What one entry means for the conversation; `current` when it belongs to
/// the newest session (an older session's end changes nothing but a notice).
fn apply_entry(
    caps: &mut impl Capabilities,
    conversation: &PlatformConversation,
    kept: &mut Kept,
    entry: &Entry,
    current: bool,
    report: &mut RelayReport,
) -> Result<(), SyncError> {
    let id = format!("miaw:{}", entry.id);
    let person = matches!(entry.role.as_str(), "Agent" | "Chatbot" | "Supervisor");
    let posted = match entry.entry_type.as_str() {
        "Message" if person => {
            let text = entry.text().unwrap_or_default().to_string();
            let name = Some(entry.sender_name.clone()).filter(|n| !n.is_empty());
            let live = part(id, AuthorRole::Teammate, name, text, caps.now());
            caps.post_part(&conversation.id, &live).map_err(platform)?
        }
        // The customer's own messages, echoed.
        "Message" => false,
        "ParticipantChanged" => {
            let mut posted = false;
            for change in entry.payload.get("entries").and_then(|v| v.as_array()).into_iter().flatten() {
                let role = change.pointer("/participant/role").and_then(|v| v.as_str()).unwrap_or_default();
                if !matches!(role, "Agent" | "Chatbot" | "Supervisor") {
                    continue;
                }
                let name = change.get("displayName").and_then(|v| v.as_str()).unwrap_or("An agent");
                let (text, phase) = match change.get("operation").and_then(|v| v.as_str()) {
                    Some("add") => (format!("{name} joined the conversation."), Some(Phase::Live)),
                    Some("remove") => (format!("{name} left the conversation."), None),
                    _ => continue,
                };
                if let Some(phase) = phase {
                    kept.chat.phase = phase;
                }
                posted |= notice(caps, &conversation.id, id.clone(), &text)?;
            }
            posted
        }
        "RoutingResult" => {
            let failure = entry.payload.get("failureType").and_then(|v| v.as_str()).unwrap_or("None");
            if failure == "None" {
                false
            } else {
                if current {
                    kept.chat.phase = Phase::Ended;
                }
                let text = "No one from the team can take the conversation right now. The AI agent is here to help in the meantime; ask again for a person any time.";
                notice(caps, &conversation.id, id, text)?
            }
        }
        "SessionStatusChanged" => match entry.payload.get("sessionStatus").and_then(|v| v.as_str()) {
            Some("Ended") => {
                if current {
                    kept.chat.phase = Phase::Ended;
                }
                notice(caps, &conversation.id, id, "The conversation with our team has ended. Write again any time.")?
            }
            Some("Active") if current => {
                kept.chat.phase = Phase::Live;
                false
            }
            _ => false,
        },
        _ => false,
    };
    if posted {
        report.received += 1;
    }
    Ok(())
}

/// The MIAW identity is gone (its token expired beyond renewal): say so and
/// let the AI agent take the conversation back.
fn lost(caps: &mut impl Capabilities, conversation: &PlatformConversation, kept: &mut Kept) -> Result<(), SyncError> {
    let id = kept.chat.hand_off.as_ref().map_or_else(String::new, |h| h.conversation_id.clone());
    kept.chat.phase = Phase::Ended;
    notice(
        caps,
        &conversation.id,
        format!("lost:{id}"),
        "The connection to our team was lost. Write again to be connected.",
    )?;
    kept.save(caps)
}

/// The conversation as the AI agent sees it: its parts and the attributes of
/// the conversation, its person and their company.
fn agent_view(caps: &mut impl Capabilities, conversation: &PlatformConversation) -> Result<Conversation, SyncError> {
    let plain = |attrs: &[crate::platform::PlatformAttribute]| -> Vec<Attribute> {
        attrs.iter().map(|a| Attribute { name: a.name.clone(), value: a.value.clone() }).collect()
    };
    let person = match &conversation.person_id {
        Some(id) => caps.get_person(id).map_err(platform)?,
        None => None,
    };
    let company = match person.as_ref().and_then(|p| p.company_id.clone()) {
        Some(id) => caps.get_company(&id).map_err(platform)?,
        None => None,
    };
    let mut person_attributes = Vec::new();
    if let Some(p) = &person {
        for (name, value) in [("name", &p.name), ("email", &p.email)] {
            if let Some(value) = value {
                person_attributes.push(Attribute { name: name.into(), value: AttributeValue::Text(value.clone()) });
            }
        }
        person_attributes.extend(plain(&p.attributes));
    }
    Ok(Conversation {
        id: conversation.id.clone(),
        channel: Channel::Messenger,
        case_number: String::new(),
        subject: conversation.subject.clone(),
        origin: None,
        attributes: plain(&conversation.attributes),
        person: person_attributes,
        company: company.map(|c| plain(&c.attributes)).unwrap_or_default(),
        parts: conversation.parts.clone(),
        resolution: ResolutionState::None,
    })
}

/// Every person and conversation attribute as `routingAttributes` (B2):
/// the person's name split in first and last, their email, their platform
/// id as `user_user_id`, then the rest by kind.
fn routing_attributes(
    caps: &mut impl Capabilities,
    conversation: &PlatformConversation,
    workflow: &crate::workflow::Progress,
) -> Result<Vec<(String, String)>, SyncError> {
    let person = match &conversation.person_id {
        Some(id) => caps.get_person(id).map_err(platform)?,
        None => None,
    };
    let kind = |k: AttributeKind| match k {
        AttributeKind::Standard => routing::PersonAttributeKind::Standard,
        AttributeKind::Custom => routing::PersonAttributeKind::Custom,
        AttributeKind::Location => routing::PersonAttributeKind::Location,
    };
    let routed_person = match &person {
        Some(p) => {
            let (first, last) = match p.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                Some(name) => match name.rsplit_once(' ') {
                    Some((first, last)) => (Some(first.to_string()), Some(last.to_string())),
                    None => (Some(name.to_string()), None),
                },
                None => (None, None),
            };
            let mut attributes = vec![routing::PersonAttribute {
                name: "user_id".into(),
                kind: routing::PersonAttributeKind::Standard,
                value: AttributeValue::Text(p.id.clone()),
            }];
            if let Some(email) = &p.email {
                attributes.push(routing::PersonAttribute {
                    name: "email".into(),
                    kind: routing::PersonAttributeKind::Standard,
                    value: AttributeValue::Text(email.clone()),
                });
            }
            attributes.extend(p.attributes.iter().map(|a| routing::PersonAttribute {
                name: a.name.clone(),
                kind: kind(a.kind),
                value: a.value.clone(),
            }));
            routing::Person { first_name: first, last_name: last, email: p.email.clone(), attributes }
        }
        None => routing::Person::default(),
    };
    let data = routing::ConversationData {
        subject: conversation.subject.clone(),
        attributes: conversation
            .attributes
            .iter()
            .map(|a| routing::ConversationAttribute {
                name: a.name.clone(),
                custom: a.kind == AttributeKind::Custom,
                value: a.value.clone(),
            })
            // The workflow's values, as custom conversation attributes
            // named by their Case field (A11).
            .chain(workflow.values.iter().map(|(field, value)| routing::ConversationAttribute {
                name: field.clone(),
                custom: true,
                value: crate::workflow::wire_attribute(value),
            }))
            .collect(),
    };
    Ok(routing::routing_attributes(&routed_person, &data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_lowercase_version_4_uuids() {
        let id = uuid_from("message:web-1");
        assert_eq!(id, uuid_from("message:web-1"));
        assert_ne!(id, uuid_from("message:web-2"));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(id, id.to_lowercase());
    }
}
