//! Conversation: the record behind a Messaging for In-App and Web
//! conversation; `ConversationIdentifier` is the client's lowercase UUID,
//! and `MessagingSession.ConversationId` points here. Written by the org
//! only.

use super::fields::{lookup, of, text};
use crate::schema::{FieldType as T, ObjectDef};

/// The Conversation object.
pub(crate) fn object() -> ObjectDef {
    let conversation = ObjectDef::new(
        "Conversation",
        "Conversation",
        "Conversations",
        "0dw",
        vec![
            text("Name", "Conversation Name", 255).name_field().read_only(),
            text("ConversationIdentifier", "Conversation Identifier", 255).read_only(),
            lookup("ConversationChannelId", "Conversation Channel ID", &["MessagingChannel"], "ConversationChannel")
                .read_only(),
            of("StartTime", "Start Time", T::Datetime).read_only(),
            of("EndTime", "End Time", T::Datetime).read_only(),
        ],
    )
    .children(&[("MessagingSessions", "MessagingSession", "ConversationId", false)]);
    ObjectDef { createable: false, updateable: false, deletable: false, ..conversation }
}
