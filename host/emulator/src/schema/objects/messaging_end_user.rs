//! MessagingEndUser: the person on the other side of a messaging channel.
//! The messaging origin creates one per anonymous identity and channel; as
//! on Salesforce its `Name` is "Guest" and nothing links it to a Contact,
//! Account or Lead until someone writes `ContactId` (VERIFY-NOTES §8 in
//! SALESFORCE-2.md §1).

use super::fields::{flag, lookup, owner, pick, text};
use super::messaging_channel::MESSAGE_TYPES;
use crate::schema::ObjectDef;

/// The MessagingEndUser object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "MessagingEndUser",
        "Messaging User",
        "Messaging Users",
        "0PA",
        vec![
            text("Name", "Messaging User Name", 255).required().name_field(),
            lookup("MessagingChannelId", "Messaging Channel ID", &["MessagingChannel"], "MessagingChannel")
                .required()
                .create_only(),
            pick("MessageType", "Messaging Type", MESSAGE_TYPES, None).restricted().required().create_only(),
            text("MessagingPlatformKey", "Messaging Platform Key", 255).required().create_only(),
            pick(
                "MessagingConsentStatus",
                "Consent Status",
                &["ImplicitlyOptedIn", "ExplicitlyOptedIn", "OptedOut"],
                Some("ImplicitlyOptedIn"),
            )
            .restricted(),
            flag("IsFullyOptedIn", "Fully Opted In"),
            lookup("AccountId", "Account ID", &["Account"], "Account"),
            lookup("ContactId", "Contact ID", &["Contact"], "Contact"),
            lookup("LeadId", "Lead ID", &["Lead"], "Lead"),
            owner(&["Group", "User"]),
        ],
    )
    .children(&[("MessagingSessions", "MessagingSession", "MessagingEndUserId", false)])
    .searchable()
}
