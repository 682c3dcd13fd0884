//! ContentDocumentLink.

use super::email_message::mark_has_attachment;
use super::fields::{FILE_LINK_TARGETS, lookup, pick};
use crate::db::{Database, WriteContext};
use crate::schema::{FieldDef, FieldType as T, ObjectDef, ObjectHooks};

/// The ContentDocumentLink object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "ContentDocumentLink",
        "Content Document Link",
        "Content Document Links",
        "06A",
        vec![
            lookup("LinkedEntityId", "Linked Entity ID", FILE_LINK_TARGETS, "LinkedEntity").required().create_only(),
            lookup("ContentDocumentId", "ContentDocument ID", &["ContentDocument"], "ContentDocument")
                .required()
                .create_only(),
            FieldDef::new("ShareType", "Share Type", T::Picklist)
                .values(&["V", "C", "I"], Some("V"))
                .labels(&["Viewer", "Collaborator", "Inferred"])
                .restricted(),
            pick("Visibility", "Visibility", &["AllUsers", "InternalUsers", "SharedUsers"], Some("AllUsers"))
                .restricted(),
        ],
    )
    .with_hooks(&ContentDocumentLinkHooks)
}

/// One link per document and entity; a file linked to an email marks it `HasAttachment`.
struct ContentDocumentLinkHooks;

impl ObjectHooks for ContentDocumentLinkHooks {
    fn unique_together(&self) -> &'static [(&'static str, &'static str)] {
        &[("ContentDocumentId", "LinkedEntityId")]
    }

    fn after_insert(&self, db: &mut Database, id: &str, _ctx: &WriteContext) {
        mark_has_attachment(db, id, "LinkedEntityId");
    }
}
