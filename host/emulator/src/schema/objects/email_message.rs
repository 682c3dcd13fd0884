//! EmailMessage.

use super::fields::{area, flag, lookup, of, text};
use crate::db::{Database, Value};
use crate::schema::{FieldDef, FieldType as T, ObjectDef};

/// The EmailMessage object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "EmailMessage",
        "Email Message",
        "Email Messages",
        "02s",
        vec![
            lookup("ParentId", "Case ID", &["Case"], "Parent").create_only(),
            lookup("RelatedToId", "Related To ID", &["Account", "Case", "Contact", "Lead", "Opportunity"], "RelatedTo"),
            flag("Incoming", "Is Incoming").create_only(),
            text("FromName", "From Name", 1000),
            FieldDef::new("FromAddress", "From Address", T::Email).length(1000),
            area("ToAddress", "To Address", 4000),
            area("CcAddress", "CC Address", 4000),
            area("BccAddress", "BCC Address", 4000),
            text("Subject", "Subject", 3000).name_field(),
            area("TextBody", "Text Body", 131072),
            area("HtmlBody", "HTML Body", 131072),
            area("Headers", "Headers", 32000),
            of("MessageDate", "Message Date", T::Datetime),
            FieldDef::new("Status", "Status", T::Picklist)
                .values(&["0", "1", "2", "3", "4", "5"], None)
                .labels(&["New", "Read", "Replied", "Sent", "Forwarded", "Draft"])
                .restricted()
                .required(),
            flag("HasAttachment", "Has Attachment").derived(),
            text("MessageIdentifier", "Message ID", 255),
            text("ThreadIdentifier", "Thread ID", 255),
            flag("IsExternallyVisible", "Externally Visible"),
        ],
    )
    .children(&[
        ("Attachments", "Attachment", "ParentId", true),
        ("ContentDocumentLinks", "ContentDocumentLink", "LinkedEntityId", true),
    ])
}

/// An Attachment or a file linked to an EmailMessage sets its `HasAttachment`.
/// `parent_field` is the attachment's field naming what it hangs off.
pub(super) fn mark_has_attachment(db: &mut Database, attachment_id: &str, parent_field: &str) {
    let parent = db.record(attachment_id).and_then(|(_, r)| r.reference(parent_field).map(str::to_string));
    if let Some(parent) = parent {
        db.change_row("EmailMessage", &parent, |row| row.set("HasAttachment", Value::Bool(true)));
    }
}
