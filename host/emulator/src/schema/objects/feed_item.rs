//! FeedItem.

use super::fields::{FEED_PARENTS, area, flag, lookup, of, pick, text};
use crate::db::{Database, Record, Value, Values, WriteContext};
use crate::schema::{FieldDef, FieldType as T, ObjectDef, ObjectHooks};

/// The FeedItem object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "FeedItem",
        "Feed Item",
        "Feed Items",
        "0D5",
        vec![
            lookup("ParentId", "Parent ID", FEED_PARENTS, "Parent").required().create_only(),
            pick(
                "Type",
                "Feed Item Type",
                &[
                    "TextPost",
                    "ContentPost",
                    "LinkPost",
                    "TrackedChange",
                    "CaseCommentPost",
                    "EmailMessageEvent",
                    "CallLogPost",
                    "ChangeStatusPost",
                    "QuestionPost",
                    "PollPost",
                    "AdvancedTextPost",
                ],
                Some("TextPost"),
            )
            .restricted()
            .create_only(),
            area("Body", "Body", 10000),
            flag("IsRichText", "Is Rich Text"),
            text("Title", "Title", 255),
            FieldDef::new("LinkUrl", "Link Url", T::Url).length(1000),
            lookup("RelatedRecordId", "Related Record ID", &["ContentVersion"], "RelatedRecord"),
            pick("Visibility", "Visibility", &["AllUsers", "InternalUsers"], Some("InternalUsers")).restricted(),
            of("CommentCount", "Comment Count", T::Int).derived(),
            of("LikeCount", "Like Count", T::Int).derived(),
            lookup("InsertedById", "InsertedBy ID", &["User"], "InsertedBy").derived(),
        ],
    )
    .children(&[("FeedComments", "FeedComment", "FeedItemId", true)])
    .with_hooks(&FeedItemHooks)
}

/// A text post needs a body; a new post starts without comments or likes,
/// inserted by the running user.
struct FeedItemHooks;

impl ObjectHooks for FeedItemHooks {
    fn missing_fields(&self, values: &Values) -> Vec<&'static str> {
        let text_post = values.get("Type").and_then(Value::as_str) == Some("TextPost");
        let no_body = values.get("Body").is_none_or(|v| v.is_null() || v.as_str() == Some(""));
        if text_post && no_body { vec!["Body"] } else { Vec::new() }
    }

    fn derive(&self, _db: &Database, values: &mut Values, previous: Option<&Record>, ctx: &WriteContext) {
        if previous.is_none() {
            values.insert("CommentCount", Value::Int(0));
            values.insert("LikeCount", Value::Int(0));
            values.insert("InsertedById", Value::Text(ctx.user_id.clone()));
        }
    }
}
