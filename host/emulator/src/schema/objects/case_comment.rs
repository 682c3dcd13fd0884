//! CaseComment.

use super::fields::{area, flag, lookup};
use crate::schema::ObjectDef;

/// The CaseComment object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "CaseComment",
        "Case Comment",
        "Case Comments",
        "00a",
        vec![
            lookup("ParentId", "Parent ID", &["Case"], "Parent").required().create_only(),
            flag("IsPublished", "Published"),
            area("CommentBody", "Body", 4000),
        ],
    )
}
