//! ContentDocument.

use super::fields::{lookup, of, text};
use crate::schema::{FieldType as T, ObjectDef};

/// The ContentDocument object.
pub(crate) fn object() -> ObjectDef {
    let content_document = ObjectDef::new(
        "ContentDocument",
        "Content Document",
        "Content Documents",
        "069",
        vec![
            text("Title", "Title", 255).name_field(),
            lookup(
                "LatestPublishedVersionId",
                "Latest Published Version ID",
                &["ContentVersion"],
                "LatestPublishedVersion",
            )
            .derived(),
            text("FileType", "File Type", 20).derived(),
            text("FileExtension", "File Extension", 40).derived(),
            of("ContentSize", "Size", T::Int).derived(),
            text("Description", "Description", 1000),
            lookup("OwnerId", "Owner ID", &["User"], "Owner").derived(),
        ],
    )
    .children(&[
        ("ContentVersions", "ContentVersion", "ContentDocumentId", true),
        ("ContentDocumentLinks", "ContentDocumentLink", "ContentDocumentId", true),
    ]);
    ObjectDef { createable: false, ..content_document }
}
