//! Messaging for In-App and Web ("MIAW", now "Enhanced Chat"): the
//! customer-side API of a Custom Client Embedded Service deployment, on
//! the org's third origin ([`RunningEmulator::scrt_url`](crate::RunningEmulator::scrt_url),
//! `https://<org>.my.salesforce-scrt.com`'s role), and the live agent's side
//! through the admin API (see [`admin`](super::admin)).
//!
//! # What a client sees
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /iamessage/api/v2/authorization/unauthenticated/access-token` | `{"orgId","esDeveloperName","capabilitiesVersion","platform","deviceId"?,"context"?}` | 200 `{"accessToken","lastEventId","context":{"endUser":{"subject","role"},"deviceId","configuration":{"embeddedServiceConfig":{…,"forms":[{"formFields":[…]}]}}}}` |
//! | `GET /iamessage/api/v2/authorization/continuation-access-token` | | 200 `{"accessToken","context"}`: the same identity, a new `clientId` |
//! | `POST /iamessage/api/v2/conversation` | `{"conversationId","esDeveloperName","routingAttributes"?,"language"?}` | 201 `{"conversationId"}`; starts a messaging session |
//! | `GET /iamessage/api/v2/conversation/list?inclClosedConvs=&limit=` | | 200 `{"openConversationsFound","closedConversationsFound","conversations":[{"conversationId","esDeveloperName","startTimestamp","endTimestamp"}]}` |
//! | `GET /iamessage/api/v2/conversation/{id}/entries?limit=&startTimestamp=&endTimestamp=&direction=&entryTypeFilter=` | | 200 `{"conversationEntries":[…]}`, `entryPayload` an object |
//! | `POST /iamessage/api/v2/conversation/{id}/message` | `{"message":{"id","messageType":"StaticContentMessage","staticContent":{"formatType":"Text","text"},"inReplyToMessageId"?},"esDeveloperName","isNewMessagingSession"?,"routingAttributes"?,"language"?}` | 202 `{"conversationEntries":[{"id","clientTimestamp"}]}`; 417 without a session |
//! | `POST /iamessage/api/v2/conversation/{id}/file` | multipart: `messageEntry` (JSON, as a message's body with `message.fileId`, `message.text`) and `fileData` (the file) | 202 as for a message |
//! | `POST /iamessage/api/v2/conversation/{id}/entry` | `{"entryType":"TypingStartedIndicator"\|"TypingStoppedIndicator","id"}` | 202 |
//! | `DELETE /iamessage/api/v2/conversation/{id}?esDeveloperName=` | | 204; ends the session and closes the conversation |
//! | `GET /eventrouter/v1/sse` | headers `Authorization: Bearer`, `X-Org-Id`, `Last-Event-Id`? | `text/event-stream` of the identity's events |
//!
//! Errors are `{"message":"…"}` with the status: 400 (invalid
//! parameters), 401 (no, an unknown or an expired token), 403 (another
//! identity's conversation), 404 (no such org, deployment or
//! conversation), 409 (a conversation id already used by this identity),
//! 413 (a file over 5 MB), 417 (no messaging session: resend with
//! `isNewMessagingSession:true` and `routingAttributes`).
//!
//! Every event has an `id:` line (the org's event sequence, as a string;
//! the token response's `lastEventId` is its current value), an `event:`
//! line (`CONVERSATION_MESSAGE`, `CONVERSATION_PARTICIPANT_CHANGED`,
//! `CONVERSATION_ROUTING_RESULT`, `CONVERSATION_SESSION_STATUS_CHANGED`,
//! `CONVERSATION_TYPING_STARTED_INDICATOR`,
//! `CONVERSATION_TYPING_STOPPED_INDICATOR`,
//! `CONVERSATION_CLOSE_CONVERSATION`) and one `data:` line, a JSON object
//! `{"channelPlatformKey","channelType":"embedded_messaging","channelAddressIdentifier","conversationId","conversationEntry":{"identifier","entryType","entryPayload","sender":{"role","appType","subject"},"senderDisplayName","transcriptedTimestamp","clientTimestamp","clientDuration","relatedRecords"}}`
//! whose `entryPayload` is a JSON **string**. A stream sends the events of
//! its token's identity after `Last-Event-Id` (without it: from the moment
//! it connects), then each new one as it happens, and a `ping` event (data
//! `0`) every 30 s of silence.
//!
//! # What a session is
//!
//! Creating a conversation creates a `Conversation` record, the identity's
//! `MessagingEndUser` for the deployment's channel (one per identity and
//! channel: `Name` "Guest", `MessagingPlatformKey` the token's subject) and a
//! `MessagingSession` (`Status` `Waiting`, owned by the deployment's queue).
//! The routing attributes that name a pre-chat parameter of the deployment
//! are then written to the MessagingSession fields the parameters map to,
//! as the channel's Omni-Channel Flow would. An agent accepting the session
//! (admin API) makes it `Active`; the agent or the customer ending it makes
//! it `Ended`, and the next message gets 417 until it says
//! `isNewMessagingSession:true`, which starts a new session in the same
//! conversation, routed again.
//!
//! # Checked against Salesforce, with sources
//!
//! `SAMPLE` is Salesforce's own client,
//! github.com/Salesforce-Async-Messaging/messaging-web-api-sample-app at
//! 1782a9f (`src/services/messagingService.js`, `eventSourceService.js`,
//! `helpers/constants.js`, `conversationEntryUtil.js`, `prechatUtil.js`,
//! `components/conversation.js`, `prechat.js`); `SSE-DOC` is
//! developer.salesforce.com/docs/service/messaging-api/references/about/server-sent-events.html
//! and `…/server-sent-events-structure.html`; the rest are in
//! `SALESFORCE-2.md` §1.
//! - Paths, methods, request bodies and query parameters: SAMPLE. The
//!   token body (`orgId`, `esDeveloperName`, `capabilitiesVersion`,
//!   `platform`; `deviceId`, `context` optional) and `deploymentType` `api`
//!   for a Custom Client: AUTH-DOC.
//! - The token response's `accessToken`, `lastEventId` and
//!   `context.configuration.embeddedServiceConfig.forms[0].formFields[]`
//!   (`name`, `type`, `isHidden`, `required`, `order`, `maxLength`) and
//!   `displayContext`: SAMPLE (`conversation.js`, `prechatUtil.js`,
//!   `prechat.js`). `context.endUser.subject` `v2/iamessage/ANON/…`: a
//!   third-party setup guide (VERIFY-NOTES). The token is a JWT whose
//!   claims carry `sub`, `orgId` (15 characters), `clientId`,
//!   `clientSessionId`, `deviceId`, `channelAddId`, `iat`, `exp`
//!   (TOKEN-PLAN and another third-party client decode them); the emulator
//!   signs it with HS256 and its own key.
//! - A new unauthenticated token is a new identity, 403 on the old one's
//!   conversations; the continuation token keeps the identity (TOKEN-PLAN,
//!   SAMPLE `getContinuityJwt`).
//! - `conversationId` must be a lowercase UUID, refused 400 "Specify the
//!   conversationId in UUID format. The UUID must be in lowercase." (the
//!   wording quoted by third-party clients; SSE-DOC: "The UUID must be in
//!   lowercase"); VERIFY-NOTES adds that the variant nibble must be 8, 9,
//!   a or b, which the emulator checks too.
//! - 202 for a message, 417 when no messaging session exists, `message` in
//!   error bodies, 401/400/404/429/500 otherwise: SAMPLE
//!   (`handleMessagingErrors`). An unknown deployment is 404: SAMPLE's fix
//!   for "invalid deployment" (commit 511523a, W-16027372) added the 404
//!   case. 204 for the close: third-party clients check it.
//! - The file upload's parts `messageEntry` (JSON with `message.id`,
//!   `message.fileId`, `message.text`, `esDeveloperName`,
//!   `isNewMessagingSession`, `routingAttributes`, `language`) and
//!   `fileData`, and the 5 MB limit: a third-party MIAW client library
//!   (the doc had them UNCERTAIN; SAMPLE's helper only says the body is
//!   binary). The send-message answer's `conversationEntries[].id` and
//!   `clientTimestamp`: the same library.
//! - Event names, entry types, roles, payload shapes (`abstractMessage`,
//!   `entries[0].operation/displayName/participant`, `routingType`,
//!   `failureType`, `reasonForNotRouting`), `id:` as `lastEventId`, the
//!   `X-Org-Id`/`Last-Event-Id` headers, echoes of the end user's own
//!   messages, the event's top-level fields, `entryPayload` a string on
//!   the stream and an object in the entries list, the list's default
//!   newest-first order (SAMPLE reverses it): SAMPLE and SSE-DOC.
//!   `CONVERSATION_CLOSE_CONVERSATION` only when the end user closes, and
//!   `CONVERSATION_SESSION_STATUS_CHANGED` for session ends: SSE-DOC. A
//!   `ping` event with data `0`, and 400 without `X-Org-Id`: VERIFY-NOTES.
//! - `limit` default 20, max 50 for both lists: SAMPLE `constants.js`.
//! - Routing attributes: keys are the pre-chat parameters' channel
//!   variable names, case-exact; values reach the Flow as strings; keys
//!   that are not parameters are dropped silently (a third-party guide:
//!   "SCRT2 silently drops any hidden prechat field that is not in the
//!   deployment's published field set"); the Flow writes them onto
//!   MessagingSession fields (Help `miaw_map_messaging_2`, fin.ai 11992116).
//!
//! # Guessed (no source found)
//!
//! - A routing attribute value longer than its parameter's Maximum Length
//!   is **refused**: 400 naming the parameter, on any call that carries
//!   it. Salesforce only says "The value length must be less than or equal
//!   to the Maximum Length" (BYOC custom-parameter docs); whether it
//!   truncates or refuses was not found. Refusing is the safe guess for
//!   the client: a client that passes here passes either way.
//! - A message id already stored in the conversation is not stored again:
//!   the second send answers 202 as the first did and adds no entry and no
//!   event (first one wins, whatever its text). Clients resend after a lost
//!   answer, and SSE-DOC asks them to de-duplicate by id; Salesforce's
//!   answer to a duplicate id is not documented. A message refused with 417
//!   was not stored, so resending its id with `isNewMessagingSession` works
//!   (SAMPLE resends the failed message's id).
//! - Error wording besides the UUID one; 409 for a conversation id the
//!   identity already used, 400 for writing to a closed conversation, 413
//!   for a file over 5 MB; `limit` outside 1–50 refused (400).
//! - The create-conversation answer's body (`{"conversationId"}`), the
//!   list-conversations items, the close event's payload, the
//!   `SessionStatusChanged` payload (`sessionId`, `sessionStatus`), the
//!   attachment shape of a file entry (`formatType` `Attachments`).
//! - `channelPlatformKey` is the identity's subject (web clients have no
//!   push token); `MessagingSession.Status` values (UNCERTAIN in the doc).
//! - Routing: the emulator routes nothing by itself. Its routing result is
//!   the admin accepting a session (`CONVERSATION_ROUTING_RESULT`
//!   `Initial`/`None`, then the agent's `CONVERSATION_PARTICIPANT_CHANGED`
//!   and the session's status change); with the routing-failure switch on,
//!   a new session gets `failureType` `RoutingError` with
//!   `reasonForNotRouting` and ends.
//! - A mapped value the target field refuses (a bad email in an Email
//!   field) leaves the session's mapped fields empty, as a failing Flow
//!   element would; the session still starts.
//! - Token lifetime: [`EmulatorOptions::token_ttl`](crate::EmulatorOptions::token_ttl)
//!   (none documented); expiring the sessions (admin API) expires these too.

mod admin;
mod http;
mod model;

pub(crate) use admin::router as admin_router;
pub(crate) use http::{method_not_allowed, not_found, router};
pub(crate) use model::{Messaging, PreChatParameter, accept, agent_message, end};

use serde_json::Value;

use super::org::Org;

/// The deployment the demo org starts with: a Custom Client Embedded
/// Service deployment whose pre-chat parameters are the standard four and
/// the Fin user id (B2's names), each mapped to a custom field of
/// MessagingSession, routed to the hand-off queue.
pub const DEFAULT_DEPLOYMENT: &str = "Web_Messenger";

/// Sets up [`DEFAULT_DEPLOYMENT`] in a demo org.
pub(crate) fn seed_default_deployment(org: &mut Org, queue_id: Option<&str>) -> Result<(), String> {
    let parameter = |name: &str, label: &str, max_length: usize, field: &str| PreChatParameter {
        name: name.to_string(),
        label: label.to_string(),
        max_length,
        field: Some(field.to_string()),
        field_type: "Text".to_string(),
        hidden: true,
        required: false,
    };
    let pre_chat = vec![
        parameter("_firstName", "First Name", 40, "FirstName__c"),
        parameter("_lastName", "Last Name", 80, "LastName__c"),
        parameter("_email", "Email", 80, "Email__c"),
        parameter("_subject", "Subject", 255, "Subject__c"),
        parameter("user_user_id", "Fin User ID", 255, "FinUserId__c"),
    ];
    model::add_deployment(org, DEFAULT_DEPLOYMENT, "Web Messenger", queue_id.map(str::to_string), pre_chat)
        .map(|_| ())
        .map_err(|e| e.message)
}

/// An error of the messaging API: the status and `{"message"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MiawError {
    pub status: u16,
    pub message: String,
}

impl MiawError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
        MiawError { status, message: message.into() }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    pub(crate) fn body(&self) -> Value {
        serde_json::json!({"message": self.message})
    }
}
