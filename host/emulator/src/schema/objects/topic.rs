//! Topic.

use super::fields::{area, of, text};
use crate::schema::{FieldType as T, ObjectDef};

/// The Topic object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "Topic",
        "Topic",
        "Topics",
        "0TO",
        vec![
            text("Name", "Name", 255).required().unique().name_field(),
            area("Description", "Description", 1000),
            of("TalkingAbout", "Talking About", T::Int).derived(),
        ],
    )
    .children(&[("TopicAssignments", "TopicAssignment", "TopicId", true)])
    .searchable()
}
