//! TopicAssignment.

use super::fields::{lookup, text};
use crate::db::{Database, Record, Value, Values, WriteContext};
use crate::schema::{ObjectDef, ObjectHooks};

/// The TopicAssignment object.
pub(crate) fn object() -> ObjectDef {
    let topic_assignment = ObjectDef::new(
        "TopicAssignment",
        "Topic Assignment",
        "Topic Assignments",
        "0FT",
        vec![
            lookup("TopicId", "Topic ID", &["Topic"], "Topic").required().create_only(),
            lookup(
                "EntityId",
                "Entity ID",
                &["Account", "Case", "Contact", "Lead", "Opportunity", "FeedItem"],
                "Entity",
            )
            .required()
            .create_only(),
            text("EntityKeyPrefix", "Entity Key Prefix", 3).derived(),
            text("EntityType", "Entity Type", 255).derived(),
        ],
    );
    ObjectDef { updateable: false, ..topic_assignment.with_hooks(&TopicAssignmentHooks) }
}

/// One assignment per topic and record; `EntityKeyPrefix` and `EntityType`
/// name what the topic is assigned to.
struct TopicAssignmentHooks;

impl ObjectHooks for TopicAssignmentHooks {
    fn unique_together(&self) -> &'static [(&'static str, &'static str)] {
        &[("TopicId", "EntityId")]
    }

    fn derive(&self, db: &Database, values: &mut Values, _previous: Option<&Record>, _ctx: &WriteContext) {
        let Some(entity) = values.get("EntityId").and_then(Value::as_str).map(str::to_string) else {
            return;
        };
        values.insert("EntityKeyPrefix", Value::Text(entity.chars().take(3).collect()));
        let entity_type = db.schema().object_for_id(&entity).map(|o| o.name.clone());
        values.insert("EntityType", entity_type.map(Value::Text).unwrap_or(Value::Null));
    }
}
