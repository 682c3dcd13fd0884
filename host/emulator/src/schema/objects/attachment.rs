//! Attachment.

use super::email_message::mark_has_attachment;
use super::fields::{flag, lookup, of, owner, text};
use crate::db::{Database, Record, Value, Values, WriteContext};
use crate::schema::{FieldType as T, ObjectDef, ObjectHooks};

/// The Attachment object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "Attachment",
        "Attachment",
        "Attachments",
        "00P",
        vec![
            lookup(
                "ParentId",
                "Parent ID",
                &["Account", "Case", "Contact", "Lead", "Opportunity", "EmailMessage", "Task"],
                "Parent",
            )
            .required()
            .create_only(),
            text("Name", "File Name", 255).required().name_field(),
            flag("IsPrivate", "Private"),
            text("ContentType", "Content Type", 120),
            of("BodyLength", "Body Length", T::Int).derived(),
            of("Body", "Body", T::Base64).required(),
            text("Description", "Description", 500),
            owner(&["User"]),
        ],
    )
    .with_hooks(&AttachmentHooks)
}

/// `BodyLength` is the body's size; an attachment on an email marks it `HasAttachment`.
struct AttachmentHooks;

impl ObjectHooks for AttachmentHooks {
    fn derive(&self, _db: &Database, values: &mut Values, _previous: Option<&Record>, _ctx: &WriteContext) {
        let len = match values.get("Body") {
            Some(Value::Blob(b)) => b.len() as i64,
            _ => 0,
        };
        values.insert("BodyLength", Value::Int(len));
    }

    fn after_insert(&self, db: &mut Database, id: &str, _ctx: &WriteContext) {
        mark_has_attachment(db, id, "ParentId");
    }
}
