//! The automatic CRM actions, run by every cycle (C5, C7): the platform's
//! conversations (not of channel `salesforce-case`) that changed since the
//! last cycle, compared with what the connector last saw of them, become
//! queued actions with keys derived from the conversation, so a crash or a
//! second process never runs one twice.
//!
//! - created, and `conversation-created` is a trigger → a case
//!   (`auto-case:<id>`);
//! - given a tag that is a `tagged` trigger → a case (the same key: one case
//!   per conversation);
//! - closed, and `conversation-closed` is a trigger → a case;
//! - created, with `log-conversations-as-tasks` → a Task (`auto-task:<id>`);
//! - closed again (every time) → the case's mapped fields and transcript are
//!   written again, its Status never, and the conversation's automatic Tasks
//!   are completed (`close:<id>:<n>`).
//!
//! The first cycle with automation on reads the change feed to its end and
//! only notes each conversation's state and tags: conversations from before
//! are not "created" then, though their later changes count. One older than
//! the feed's 30 days that changes later counts as created only when its
//! first message is newer than the automation.
//!
//! | key                 | value                                                 |
//! |---------------------|-------------------------------------------------------|
//! | `crm/auto`          | [`Feed`]: the place in the change feed                |
//! | `crm/conv/<id>`     | [`Seen`]: a conversation's state and tags when last seen |

use serde::{Deserialize, Serialize};

use super::{Action, CaseTrigger, CrmOptions};
use crate::capabilities::Capabilities;
use crate::cycle::SyncError;
use crate::cycle::state::{Batch, StateView};
use crate::model::Timestamp;
use crate::platform::{Channel, ConversationState, PlatformConversation, RecordKind};

const FEED_KEY: &str = "crm/auto";
const SEEN_PREFIX: &str = "crm/conv/";
/// Changes read per call, and calls per cycle.
const CHANGES_PER_PAGE: u32 = 200;
const PAGES_PER_CYCLE: usize = 5;

/// Where the automation is in the platform's change feed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feed {
    pub cursor: Option<String>,
    /// False until the feed's end was reached once: until then nothing acts.
    pub caught_up: bool,
    /// When the automation started: a conversation whose first message is
    /// older was not created since, though it is seen for the first time.
    #[serde(default)]
    pub started_at: Timestamp,
}

/// A conversation as the automation last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub state: Option<ConversationState>,
    pub tags: Vec<String>,
    /// How many times it was seen closed (from open): each close's key.
    pub closes: u32,
}

/// Whether the org has any automatic action.
pub fn enabled(options: &CrmOptions) -> bool {
    !options.case_triggers.is_empty() || options.log_conversations_as_tasks
}

pub fn auto_case_key(conversation_id: &str) -> String {
    format!("auto-case:{conversation_id}")
}

pub fn auto_task_key(conversation_id: &str) -> String {
    format!("auto-task:{conversation_id}")
}

/// The actions one change of a conversation calls for (with their keys).
pub fn actions_for(
    options: &CrmOptions,
    conversation: &PlatformConversation,
    seen: Option<&Seen>,
    started_at: Timestamp,
) -> (Seen, Vec<(String, Action)>) {
    let id = &conversation.id;
    let mut actions = Vec::new();
    let first_message = conversation.parts.iter().map(|p| p.created_at).min();
    let created = seen.is_none() && first_message.is_none_or(|at| at >= started_at);
    let was_closed = seen.and_then(|s| s.state) == Some(ConversationState::Closed);
    let closed_now = conversation.state == ConversationState::Closed && !was_closed;
    let new_tags: Vec<&String> = conversation
        .tags
        .iter()
        .filter(|tag| !seen.is_some_and(|s| s.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))))
        .collect();
    let case_due = options.case_triggers.iter().any(|trigger| match trigger {
        CaseTrigger::ConversationCreated => created,
        CaseTrigger::ConversationClosed => closed_now,
        CaseTrigger::Tagged(tag) => new_tags.iter().any(|t| t.eq_ignore_ascii_case(tag)),
        // Fired by the messenger's workflow when it reaches the step.
        CaseTrigger::WorkflowStep(_) => false,
    });
    let case = Action::CreateCase { conversation_id: id.clone(), fields: Vec::new(), automatic: true };
    if case_due {
        actions.push((auto_case_key(id), case));
    }
    if created && options.log_conversations_as_tasks {
        actions.push((auto_task_key(id), Action::LogTask { conversation_id: id.clone(), part_id: None }));
    }
    let mut next =
        Seen { state: Some(conversation.state), tags: conversation.tags.clone(), closes: seen.map_or(0, |s| s.closes) };
    if closed_now && (!created || !case_due) {
        next.closes += 1;
        actions
            .push((format!("close:{id}:{}", next.closes), Action::CloseConversation { conversation_id: id.clone() }));
    }
    (next, actions)
}

/// Read the conversations' changes and queue what they call for.
pub fn run(options: &CrmOptions, caps: &mut impl Capabilities) -> Result<u32, SyncError> {
    if !enabled(options) {
        return Ok(0);
    }
    let platform = |e: crate::platform::PlatformFailure| SyncError::Host(e.to_string());
    let mut view = StateView::default();
    let mut feed: Feed = view.load(caps, FEED_KEY)?.unwrap_or_default();
    let mut batch = Batch::default();
    let mut due = Vec::new();
    for _ in 0..PAGES_PER_CYCLE {
        let page = caps.changes(feed.cursor.as_deref(), CHANGES_PER_PAGE).map_err(platform)?;
        let changed: Vec<&String> = page
            .changes
            .iter()
            .filter(|c| c.kind == RecordKind::Conversation && !c.by_connector)
            .map(|c| &c.id)
            .collect();
        for id in changed {
            let Some(conversation) = caps.get_conversation(id).map_err(platform)? else { continue };
            if conversation.channel == Channel::SalesforceCase {
                continue;
            }
            let key = format!("{SEEN_PREFIX}{id}");
            let seen: Option<Seen> = view.load(caps, &key)?;
            let (next, actions) = actions_for(options, &conversation, seen.as_ref(), feed.started_at);
            view.put(&mut batch, key, &next);
            // While catching up, conversations are only seen: their later
            // changes compare with this.
            if feed.caught_up {
                due.extend(actions);
            }
        }
        feed.cursor = Some(page.cursor);
        if !page.more {
            if !feed.caught_up {
                feed.caught_up = true;
                feed.started_at = caps.now();
            }
            break;
        }
    }
    let now = caps.now();
    let queued = super::ledger::enqueue(&mut view, caps, &mut batch, due, now)?;
    view.put(&mut batch, FEED_KEY.to_string(), &feed);
    view.commit(caps, batch)?;
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(state: ConversationState, tags: &[&str]) -> PlatformConversation {
        PlatformConversation {
            id: "c1".into(),
            channel: Channel::Messenger,
            state,
            person_id: Some("p1".into()),
            assignee_id: None,
            subject: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            attributes: vec![],
            parts: vec![],
            notes: vec![],
            case_id: None,
            updated_at: 0,
        }
    }

    fn keys(actions: &[(String, Action)]) -> Vec<&str> {
        actions.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn each_trigger_queues_one_case_per_conversation_and_every_close_an_update() {
        let on = |triggers: Vec<CaseTrigger>| CrmOptions { case_triggers: triggers, ..CrmOptions::default() };
        let created = on(vec![CaseTrigger::ConversationCreated]);
        let (seen, actions) = actions_for(&created, &conversation(ConversationState::Open, &[]), None, 0);
        assert_eq!(keys(&actions), ["auto-case:c1"]);
        let (seen, actions) = actions_for(&created, &conversation(ConversationState::Closed, &[]), Some(&seen), 0);
        assert_eq!(keys(&actions), ["close:c1:1"]);
        let (seen, actions) = actions_for(&created, &conversation(ConversationState::Open, &[]), Some(&seen), 0);
        assert!(actions.is_empty());
        let (_, actions) = actions_for(&created, &conversation(ConversationState::Closed, &[]), Some(&seen), 0);
        assert_eq!(keys(&actions), ["close:c1:2"], "every close writes again");

        let tagged = on(vec![CaseTrigger::Tagged("Escalate".into())]);
        let (seen, actions) = actions_for(&tagged, &conversation(ConversationState::Open, &["vip"]), None, 0);
        assert!(actions.is_empty());
        let (_, actions) =
            actions_for(&tagged, &conversation(ConversationState::Open, &["vip", "escalate"]), Some(&seen), 0);
        assert_eq!(keys(&actions), ["auto-case:c1"], "tags compare case-insensitively");

        let closed = on(vec![CaseTrigger::ConversationClosed]);
        let (seen, actions) = actions_for(&closed, &conversation(ConversationState::Open, &[]), None, 0);
        assert!(actions.is_empty());
        let (_, actions) = actions_for(&closed, &conversation(ConversationState::Closed, &[]), Some(&seen), 0);
        assert_eq!(keys(&actions), ["auto-case:c1", "close:c1:1"]);
    }

    #[test]
    fn a_task_is_logged_when_a_conversation_starts_and_completed_when_it_closes() {
        let options = CrmOptions { log_conversations_as_tasks: true, ..CrmOptions::default() };
        let (seen, actions) = actions_for(&options, &conversation(ConversationState::Open, &[]), None, 0);
        assert_eq!(keys(&actions), ["auto-task:c1"]);
        let (_, actions) = actions_for(&options, &conversation(ConversationState::Closed, &[]), Some(&seen), 0);
        assert_eq!(keys(&actions), ["close:c1:1"]);
        assert!(!enabled(&CrmOptions::default()));
    }
}
