//! MessagingSession: one stretch of a messaging conversation between an end
//! user and the org, from routing to its end (Object Reference,
//! MessagingSession, API 40.0+). The messaging origin creates and moves
//! them; what it sets (status, times, counts, owner) is read-only to the
//! REST API, as Salesforce's are. `CaseId`, `LeadId` and `OpportunityId`
//! are writable, and custom fields (the targets of pre-chat parameter
//! mappings) are written by the deployment's routing as its Flow would.

use super::fields::{lookup, of, owner, pick, text};
use super::messaging_channel::MESSAGE_TYPES;
use crate::db::{Database, Record, Value, Values, WriteContext};
use crate::schema::{FieldType as T, ObjectDef, ObjectHooks};

/// `MessagingSession.Status` values. UNCERTAIN (SALESFORCE-2.md §1 did
/// not capture the picklist): the values an org shows in Setup; the
/// emulator uses `Waiting` (routed, no agent yet), `Active` (an agent
/// accepted) and `Ended`.
const SESSION_STATUSES: &[&str] = &["New", "Waiting", "Active", "Inactive", "Paused", "Ended", "Error", "Consent"];

/// The MessagingSession object.
pub(crate) fn object() -> ObjectDef {
    let session = ObjectDef::new(
        "MessagingSession",
        "Messaging Session",
        "Messaging Sessions",
        "0Mw",
        vec![
            text("Name", "Messaging Session Name", 30).auto_number().name_field(),
            lookup("MessagingChannelId", "Messaging Channel ID", &["MessagingChannel"], "MessagingChannel").read_only(),
            lookup("MessagingEndUserId", "Messaging User ID", &["MessagingEndUser"], "MessagingEndUser").read_only(),
            lookup("ConversationId", "Conversation ID", &["Conversation"], "Conversation").read_only(),
            pick("Status", "Status", SESSION_STATUSES, None).restricted().read_only(),
            pick("ChannelType", "Channel Type", MESSAGE_TYPES, None).restricted().read_only(),
            pick("Origin", "Origin", &["InboundInitiated", "OutboundInitiated", "TriggeredOutbound"], None)
                .restricted()
                .read_only(),
            pick("AgentType", "Agent Type", &["Agent", "Bot", "BotToAgent", "System"], None).restricted().read_only(),
            of("StartTime", "Start Time", T::Datetime).read_only(),
            of("AcceptTime", "Accept Time", T::Datetime).read_only(),
            of("EndTime", "End Time", T::Datetime).read_only(),
            of("AgentMessageCount", "Agent Message Count", T::Int).read_only(),
            of("EndUserMessageCount", "End User Message Count", T::Int).read_only(),
            lookup("CaseId", "Case ID", &["Case"], "Case"),
            lookup("LeadId", "Lead ID", &["Lead"], "Lead"),
            lookup("OpportunityId", "Opportunity ID", &["Opportunity"], "Opportunity"),
            lookup("EndUserAccountId", "End User Account ID", &["Account"], "EndUserAccount").derived(),
            lookup("EndUserContactId", "End User Contact ID", &["Contact"], "EndUserContact").derived(),
            owner(&["Group", "User"]),
        ],
    )
    .children(&[("ContentDocumentLinks", "ContentDocumentLink", "LinkedEntityId", true)])
    .with_hooks(&MessagingSessionHooks);
    ObjectDef { createable: false, deletable: false, ..session }
}

/// `EndUserAccountId` and `EndUserContactId` follow the session's
/// messaging user (read-only on Salesforce: the writable link is on the
/// MessagingEndUser).
struct MessagingSessionHooks;

impl ObjectHooks for MessagingSessionHooks {
    fn derive(&self, db: &Database, values: &mut Values, _previous: Option<&Record>, _ctx: &WriteContext) {
        let end_user = values.get("MessagingEndUserId").and_then(Value::as_str).and_then(|id| db.live_record(id));
        let link = |field: &str| {
            end_user.and_then(|(_, r)| r.reference(field).map(|id| Value::Text(id.to_string()))).unwrap_or(Value::Null)
        };
        let (account, contact) = (link("AccountId"), link("ContactId"));
        values.insert("EndUserAccountId", account);
        values.insert("EndUserContactId", contact);
    }
}
