//! A case's Chatter posts, their comments, its case comments and its emails,
//! read from query records into conversation parts (A6).

use crate::model::{Attachment, AuthorRole, ConversationPart, PartSource};
use crate::salesforce::cases::{CaseRecord, ChildKind, ChildRecord, RecordAuthor};
use crate::salesforce::ids::same_record;
use crate::salesforce::rich_text::{rich_text, version_data_path};

/// Salesforce user types whose users are customers (portal, community, guest).
const CUSTOMER_USER_TYPES: &[&str] =
    &["CspLitePortal", "CustomerSuccess", "PowerCustomerSuccess", "CsnOnly", "Guest", "SelfService", "PowerPartner"];

/// Feed item types that carry a message; the rest (tracked changes, the
/// feed echo of an email) are not conversation parts.
const MESSAGE_FEED_TYPES: &[&str] = &["TextPost", "ContentPost", "LinkPost", "QuestionPost", "AdvancedTextPost"];

/// Who is who on this org, to tell the agent's and the customer's parts apart.
pub struct Authors<'a> {
    /// The agent user and the integration user the connector writes as.
    pub agent_user_ids: &'a [String],
}

impl Authors<'_> {
    /// Whether the connector (or the agent user) wrote a record.
    pub fn is_agent(&self, author: &RecordAuthor) -> bool {
        self.agent_user_ids.iter().any(|id| same_record(id, &author.user_id))
    }

    fn role(&self, author: &RecordAuthor) -> AuthorRole {
        if self.is_agent(author) {
            return AuthorRole::Agent;
        }
        match author.user_type.as_deref() {
            Some(user_type) if CUSTOMER_USER_TYPES.contains(&user_type) => AuthorRole::Customer,
            Some("AutomatedProcess") => AuthorRole::System,
            _ => AuthorRole::Teammate,
        }
    }
}

/// Whether two Salesforce ids name the same record (15- or 18-character forms).
pub fn same_id(a: &str, b: &str) -> bool {
    same_record(a, b)
}

/// The case's description as the conversation's opening customer message.
pub fn description_part(case: &CaseRecord) -> Option<ConversationPart> {
    let body = case.description.clone().filter(|d| !d.trim().is_empty())?;
    Some(ConversationPart {
        id: format!("{}:description", case.id),
        source: PartSource::CaseDescription,
        author: AuthorRole::Customer,
        author_name: case.supplied_name.clone(),
        text: body,
        created_at: case.created_at.unwrap_or(case.modstamp),
        attachments: Vec::new(),
    })
}

/// A child record as a conversation part; `None` for records that are not
/// messages (internal comments, tracked changes).
pub fn child_part(record: &ChildRecord, authors: &Authors, api_version: &str) -> Option<ConversationPart> {
    match record.kind {
        ChildKind::CaseComment => case_comment_part(record, authors),
        ChildKind::EmailMessage => Some(email_part(record, authors)),
        ChildKind::FeedItem => {
            let kind = record.feed_type.as_deref().unwrap_or("TextPost");
            MESSAGE_FEED_TYPES.contains(&kind).then(|| feed_part(record, PartSource::FeedItem, authors, api_version))
        }
        ChildKind::FeedComment => Some(feed_part(record, PartSource::FeedComment, authors, api_version)),
    }
}

/// A CaseComment as a part; unpublished (internal) comments are skipped.
fn case_comment_part(record: &ChildRecord, authors: &Authors) -> Option<ConversationPart> {
    record.published.then(|| ConversationPart {
        id: record.id.clone(),
        source: PartSource::CaseComment,
        author: authors.role(&record.author),
        author_name: record.author.name.clone(),
        text: record.body.clone(),
        created_at: record.created_at,
        attachments: Vec::new(),
    })
}

/// A Chatter post or comment: its (possibly rich) text, inline images and attached file.
fn feed_part(record: &ChildRecord, source: PartSource, authors: &Authors, api_version: &str) -> ConversationPart {
    let (text_body, mut attachments) =
        if record.rich_text { rich_text(&record.body, api_version) } else { (record.body.clone(), Vec::new()) };
    attachments.extend(related_file(record, api_version));
    ConversationPart {
        id: record.id.clone(),
        source,
        author: authors.role(&record.author),
        author_name: record.author.name.clone(),
        text: text_body,
        created_at: record.created_at,
        attachments,
    }
}

/// An EmailMessage as a part: incoming emails are the customer's.
fn email_part(record: &ChildRecord, authors: &Authors) -> ConversationPart {
    let email = record.email.clone().unwrap_or_default();
    let author = if email.incoming {
        AuthorRole::Customer
    } else if authors.is_agent(&record.author) {
        AuthorRole::Agent
    } else {
        AuthorRole::Teammate
    };
    let body = Some(record.body.clone())
        .filter(|b| !b.trim().is_empty())
        .or_else(|| email.html_body.as_deref().map(|html| rich_text(html, "").0))
        .unwrap_or_default();
    ConversationPart {
        id: record.id.clone(),
        source: PartSource::EmailMessage,
        author,
        author_name: email.from_name.clone().or(email.from_address.clone()),
        text: body,
        created_at: email.message_date.unwrap_or(record.created_at),
        attachments: Vec::new(),
    }
}

/// A file attached to a feed post or comment (`RelatedRecordId` is a ContentVersion).
fn related_file(record: &ChildRecord, api_version: &str) -> Option<Attachment> {
    let version_id = record.related_record_id.clone().filter(|id| id.starts_with("068"))?;
    Some(Attachment {
        name: record.title.clone().unwrap_or_else(|| version_id.clone()),
        content_type: "application/octet-stream".into(),
        size: 0,
        content_path: version_data_path(api_version, &version_id),
        inline: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::cases::parse_child;
    use serde_json::json;

    fn record(kind: ChildKind, extra: serde_json::Value) -> ChildRecord {
        let mut base = json!({"Id": "00a000000000001", "ParentId": "500000000000001",
            "CreatedDate": "2024-01-02T03:04:05.000+0000", "CreatedById": "005000000000002",
            "CreatedBy": {"UserType": "Standard"}});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        parse_child(kind, &base).unwrap()
    }

    #[test]
    fn authors_are_told_apart_by_user_and_user_type() {
        let agents = vec!["005000000000001AAA".to_string()];
        let authors = Authors { agent_user_ids: &agents };
        let by = |id: &str, user_type: &str| RecordAuthor {
            user_id: crate::salesforce::ids::canonical_id(id).unwrap(),
            user_type: Some(user_type.into()),
            name: None,
        };
        assert_eq!(authors.role(&by("005000000000001", "Standard")), AuthorRole::Agent);
        assert_eq!(authors.role(&by("005000000000002", "CspLitePortal")), AuthorRole::Customer);
        assert_eq!(authors.role(&by("005000000000002", "Standard")), AuthorRole::Teammate);
        assert_eq!(authors.role(&by("005000000000002", "AutomatedProcess")), AuthorRole::System);
    }

    #[test]
    fn internal_comments_and_tracked_changes_are_not_parts() {
        let agents = vec![];
        let authors = Authors { agent_user_ids: &agents };
        let comment = record(ChildKind::CaseComment, json!({"IsPublished": false, "CommentBody": "note"}));
        assert!(child_part(&comment, &authors, "62.0").is_none());
        let change = record(ChildKind::FeedItem, json!({"Id": "0D5000000000001", "Type": "TrackedChange"}));
        assert!(child_part(&change, &authors, "62.0").is_none());
    }

    #[test]
    fn incoming_email_is_the_customers() {
        let agents = vec![];
        let authors = Authors { agent_user_ids: &agents };
        let email = record(
            ChildKind::EmailMessage,
            json!({"Id": "02s000000000001", "Incoming": true, "FromName": "Ann", "TextBody": "Help",
                "MessageDate": "2024-01-02T03:04:05.000+0000"}),
        );
        let part = child_part(&email, &authors, "62.0").unwrap();
        assert_eq!(part.author, AuthorRole::Customer);
        assert_eq!(part.text, "Help");
        assert_eq!(part.author_name.as_deref(), Some("Ann"));
    }
}
