//! MessagingChannel: a channel of Messaging for In-App and Web (and the
//! other messaging products). The emulator creates one per Embedded
//! Service deployment (see [`crate::server`]'s messaging origin); its id is
//! the `channelAddressIdentifier` of every server-sent event.

use super::fields::{flag, pick, text};
use crate::schema::ObjectDef;

/// The message types a channel, an end user and a session can have
/// (`MessagingChannel.MessageType`, `MessagingEndUser.MessageType`,
/// `MessagingSession.ChannelType`; `EmbeddedMessaging` since API 55.0).
pub(super) const MESSAGE_TYPES: &[&str] =
    &["EmbeddedMessaging", "Text", "Facebook", "WhatsApp", "AppleBusinessChat", "Line", "Custom"];

/// The MessagingChannel object.
pub(crate) fn object() -> ObjectDef {
    let channel = ObjectDef::new(
        "MessagingChannel",
        "Messaging Channel",
        "Messaging Channels",
        "0Mj",
        vec![
            text("DeveloperName", "Developer Name", 80).required(),
            text("MasterLabel", "Channel Name", 80).required().name_field(),
            pick("MessageType", "Messaging Type", MESSAGE_TYPES, Some("EmbeddedMessaging")).restricted().create_only(),
            flag("IsActive", "Active").checkbox_default(true),
        ],
    )
    .children(&[
        ("MessagingEndUsers", "MessagingEndUser", "MessagingChannelId", false),
        ("MessagingSessions", "MessagingSession", "MessagingChannelId", false),
    ]);
    ObjectDef { deletable: false, ..channel }
}
