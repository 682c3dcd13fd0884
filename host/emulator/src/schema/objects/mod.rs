//! The standard objects, one module each: the fields (following the
//! Salesforce Object Reference, trimmed to what an integration touches) and
//! the object's hooks ([`ObjectHooks`](super::ObjectHooks)).

mod account;
mod attachment;
mod case;
mod case_comment;
mod contact;
mod content_document;
mod content_document_link;
mod content_version;
mod conversation;
mod email_message;
mod feed_comment;
mod feed_item;
mod fields;
mod group;
mod lead;
mod messaging_channel;
mod messaging_end_user;
mod messaging_session;
mod opportunity;
mod opportunity_contact_role;
mod profile;
mod queue_sobject;
mod record_type;
mod task;
mod topic;
mod topic_assignment;
mod user;

pub(crate) use lead::convert_lead;
pub(crate) use record_type::{
    configure as configure_record_type, default_for_insert as default_record_type_for_insert,
};

use super::ObjectDef;

/// Every standard object of the org.
pub(super) fn standard() -> Vec<ObjectDef> {
    vec![
        account::object(),
        contact::object(),
        lead::object(),
        case::object(),
        case_comment::object(),
        user::object(),
        group::object(),
        queue_sobject::object(),
        feed_item::object(),
        feed_comment::object(),
        email_message::object(),
        attachment::object(),
        content_version::object(),
        content_document::object(),
        content_document_link::object(),
        task::object(),
        opportunity::object(),
        opportunity_contact_role::object(),
        topic::object(),
        topic_assignment::object(),
        record_type::object(),
        profile::object(),
        messaging_channel::object(),
        messaging_end_user::object(),
        conversation::object(),
        messaging_session::object(),
    ]
}
