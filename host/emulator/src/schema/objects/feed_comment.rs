//! FeedComment.

use super::fields::{FEED_PARENTS, area, flag, lookup, pick};
use crate::db::{Database, Record, Value, Values, WriteContext};
use crate::schema::{ObjectDef, ObjectHooks};

/// The FeedComment object.
pub(crate) fn object() -> ObjectDef {
    ObjectDef::new(
        "FeedComment",
        "Feed Comment",
        "Feed Comments",
        "0D7",
        vec![
            lookup("FeedItemId", "Feed Item ID", &["FeedItem"], "FeedItem").required().create_only(),
            lookup("ParentId", "Parent ID", FEED_PARENTS, "Parent").derived(),
            area("CommentBody", "Comment Body", 10000).required(),
            flag("IsRichText", "Is Rich Text"),
            pick("CommentType", "Comment Type", &["TextComment", "ContentComment"], Some("TextComment"))
                .restricted()
                .create_only(),
            lookup("RelatedRecordId", "Related Record ID", &["ContentVersion"], "RelatedRecord"),
            lookup("InsertedById", "InsertedBy ID", &["User"], "InsertedBy").derived(),
        ],
    )
    .with_hooks(&FeedCommentHooks)
}

/// A comment's `ParentId` is its post's; each new comment counts on the post.
struct FeedCommentHooks;

impl ObjectHooks for FeedCommentHooks {
    fn derive(&self, db: &Database, values: &mut Values, previous: Option<&Record>, ctx: &WriteContext) {
        if previous.is_some() {
            return;
        }
        let parent = values
            .get("FeedItemId")
            .and_then(Value::as_str)
            .and_then(|f| db.live_record(f))
            .and_then(|(_, item)| item.reference("ParentId").map(str::to_string));
        values.insert("ParentId", parent.map(Value::Text).unwrap_or(Value::Null));
        values.insert("InsertedById", Value::Text(ctx.user_id.clone()));
    }

    fn after_insert(&self, db: &mut Database, id: &str, _ctx: &WriteContext) {
        let Some(item) = db.record(id).and_then(|(_, r)| r.reference("FeedItemId").map(str::to_string)) else {
            return;
        };
        db.change_row("FeedItem", &item, |row| {
            let count = match row.get("CommentCount") {
                Value::Int(n) => *n,
                _ => 0,
            };
            row.set("CommentCount", Value::Int(count + 1));
        });
    }
}
