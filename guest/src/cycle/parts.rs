//! A case's Chatter posts, their comments, its case comments and its emails,
//! read from query records into conversation parts (A6).

use serde_json::Value;

use crate::convert::parse_datetime;
use crate::model::{Attachment, AuthorRole, ConversationPart, PartSource, Timestamp};

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
    fn role(&self, record: &Value) -> AuthorRole {
        let created_by = text(record, "CreatedById").unwrap_or_default();
        if self.agent_user_ids.iter().any(|id| same_id(id, &created_by)) {
            return AuthorRole::Agent;
        }
        let user_type = record.get("CreatedBy").and_then(|user| text(user, "UserType")).unwrap_or_default();
        if CUSTOMER_USER_TYPES.contains(&user_type.as_str()) {
            AuthorRole::Customer
        } else if user_type == "AutomatedProcess" {
            AuthorRole::System
        } else {
            AuthorRole::Teammate
        }
    }
}

/// Whether two Salesforce ids name the same record (15- or 18-character forms).
pub fn same_id(a: &str, b: &str) -> bool {
    a.len() >= 15 && b.len() >= 15 && a.get(..15) == b.get(..15)
}

/// A string field of a record, if present and not null.
pub fn text(record: &Value, field: &str) -> Option<String> {
    record.get(field).and_then(Value::as_str).map(str::to_string)
}

fn timestamp(record: &Value, field: &str) -> Option<Timestamp> {
    record.get(field).and_then(Value::as_str).and_then(parse_datetime)
}

/// The case's description as the conversation's opening customer message.
pub fn description_part(case: &Value) -> Option<ConversationPart> {
    let id = text(case, "Id")?;
    let body = text(case, "Description").filter(|d| !d.trim().is_empty())?;
    Some(ConversationPart {
        id: format!("{id}:description"),
        source: PartSource::CaseDescription,
        author: AuthorRole::Customer,
        author_name: text(case, "SuppliedName"),
        text: body,
        created_at: timestamp(case, "CreatedDate").unwrap_or_default(),
        attachments: Vec::new(),
    })
}

/// A CaseComment record as a part; unpublished (internal) comments are skipped.
pub fn case_comment_part(record: &Value, authors: &Authors) -> Option<ConversationPart> {
    if record.get("IsPublished").and_then(Value::as_bool) == Some(false) {
        return None;
    }
    Some(ConversationPart {
        id: text(record, "Id")?,
        source: PartSource::CaseComment,
        author: authors.role(record),
        author_name: record.get("CreatedBy").and_then(|u| text(u, "Name")),
        text: text(record, "CommentBody").unwrap_or_default(),
        created_at: timestamp(record, "CreatedDate")?,
        attachments: Vec::new(),
    })
}

/// A FeedItem record as a part, with its inline images and attached file.
pub fn feed_item_part(record: &Value, authors: &Authors, api_version: &str) -> Option<ConversationPart> {
    let kind = text(record, "Type").unwrap_or_else(|| "TextPost".into());
    if !MESSAGE_FEED_TYPES.contains(&kind.as_str()) {
        return None;
    }
    feed_part(record, "Body", PartSource::FeedItem, authors, api_version)
}

/// A FeedComment record as a part.
pub fn feed_comment_part(record: &Value, authors: &Authors, api_version: &str) -> Option<ConversationPart> {
    feed_part(record, "CommentBody", PartSource::FeedComment, authors, api_version)
}

/// A Chatter post or comment: its (possibly rich) text, inline images and attached file.
fn feed_part(
    record: &Value,
    body_field: &str,
    source: PartSource,
    authors: &Authors,
    api_version: &str,
) -> Option<ConversationPart> {
    let body = text(record, body_field).unwrap_or_default();
    let rich = record.get("IsRichText").and_then(Value::as_bool).unwrap_or(false);
    let (text_body, mut attachments) = if rich { rich_text(&body, api_version) } else { (body, Vec::new()) };
    attachments.extend(related_file(record, api_version));
    Some(ConversationPart {
        id: text(record, "Id")?,
        source,
        author: authors.role(record),
        author_name: record.get("CreatedBy").and_then(|u| text(u, "Name")),
        text: text_body,
        created_at: timestamp(record, "CreatedDate")?,
        attachments,
    })
}

/// An EmailMessage record as a part: incoming emails are the customer's.
pub fn email_part(record: &Value, authors: &Authors) -> Option<ConversationPart> {
    let incoming = record.get("Incoming").and_then(Value::as_bool).unwrap_or(false);
    let author = if incoming {
        AuthorRole::Customer
    } else if authors.role(record) == AuthorRole::Agent {
        AuthorRole::Agent
    } else {
        AuthorRole::Teammate
    };
    let body = text(record, "TextBody")
        .filter(|b| !b.trim().is_empty())
        .or_else(|| text(record, "HtmlBody").map(|html| rich_text(&html, "").0))
        .unwrap_or_default();
    Some(ConversationPart {
        id: text(record, "Id")?,
        source: PartSource::EmailMessage,
        author,
        author_name: text(record, "FromName").or_else(|| text(record, "FromAddress")),
        text: body,
        created_at: timestamp(record, "MessageDate").or_else(|| timestamp(record, "CreatedDate"))?,
        attachments: Vec::new(),
    })
}

/// A file attached to a feed post or comment (`RelatedRecordId` is a ContentVersion).
fn related_file(record: &Value, api_version: &str) -> Option<Attachment> {
    let version_id = text(record, "RelatedRecordId").filter(|id| id.starts_with("068"))?;
    Some(Attachment {
        name: text(record, "Title").unwrap_or_else(|| version_id.clone()),
        content_type: "application/octet-stream".into(),
        size: 0,
        content_path: version_data_path(api_version, &version_id),
        inline: false,
    })
}

/// The REST path of a ContentVersion's bytes.
pub fn version_data_path(api_version: &str, version_id: &str) -> String {
    format!("/services/data/v{api_version}/sobjects/ContentVersion/{version_id}/VersionData")
}

/// Plain text and inline images of Salesforce rich text (`<p>`, `<b>`, `<img src="sfdc://069…">`, …).
pub fn rich_text(html: &str, api_version: &str) -> (String, Vec<Attachment>) {
    let mut out = String::with_capacity(html.len());
    let mut images = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let tag = &rest[start + 1..start + len];
        let name = tag.trim_start_matches('/').split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
        match name.to_ascii_lowercase().as_str() {
            "p" | "br" | "li" | "div" if tag.starts_with('/') || name.eq_ignore_ascii_case("br") => out.push('\n'),
            "img" => {
                if let Some(document_id) =
                    attribute(tag, "src").and_then(|src| src.strip_prefix("sfdc://").map(str::to_string))
                {
                    images.push(Attachment {
                        name: attribute(tag, "alt").unwrap_or_else(|| document_id.clone()),
                        content_type: "image/*".into(),
                        size: 0,
                        // Inline images name a ContentDocument; its latest version holds the bytes.
                        content_path: format!("/services/data/v{api_version}/sobjects/ContentDocument/{document_id}"),
                        inline: true,
                    });
                }
            }
            _ => {}
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    (decode_entities(out.trim()), images)
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag.get(at..)?.find('"')?;
    tag.get(at..at + end).map(str::to_string)
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rich_text_becomes_plain_text_with_inline_images() {
        let (text, images) = rich_text(
            "<p>It crashes <b>here</b>:</p><p><img src=\"sfdc://069000000000001AAA\" alt=\"shot.png\"></img></p>&amp; more",
            "62.0",
        );
        assert_eq!(text, "It crashes here:\n\n& more");
        assert_eq!(images.len(), 1);
        assert!(images[0].inline);
        assert_eq!(images[0].name, "shot.png");
        assert!(images[0].content_path.ends_with("/ContentDocument/069000000000001AAA"));
    }

    #[test]
    fn unclosed_markup_does_not_panic() {
        let (text, images) = rich_text("a < b and <img src=\"sfdc://", "62.0");
        assert!(text.starts_with("a "));
        assert!(images.is_empty());
    }

    #[test]
    fn authors_are_told_apart_by_user_and_user_type() {
        let agents = vec!["005000000000001AAA".to_string()];
        let authors = Authors { agent_user_ids: &agents };
        let by = |id: &str, user_type: &str| json!({"CreatedById": id, "CreatedBy": {"UserType": user_type}});
        assert_eq!(authors.role(&by("005000000000001", "Standard")), AuthorRole::Agent);
        assert_eq!(authors.role(&by("005000000000002AAA", "CspLitePortal")), AuthorRole::Customer);
        assert_eq!(authors.role(&by("005000000000002AAA", "Standard")), AuthorRole::Teammate);
        assert_eq!(authors.role(&by("005000000000002AAA", "AutomatedProcess")), AuthorRole::System);
    }

    #[test]
    fn internal_comments_and_tracked_changes_are_not_parts() {
        let agents = vec![];
        let authors = Authors { agent_user_ids: &agents };
        let comment = json!({"Id": "00a1", "IsPublished": false, "CommentBody": "note", "CreatedDate": "2024-01-02T03:04:05.000+0000"});
        assert!(case_comment_part(&comment, &authors).is_none());
        let change = json!({"Id": "0D51", "Type": "TrackedChange", "CreatedDate": "2024-01-02T03:04:05.000+0000"});
        assert!(feed_item_part(&change, &authors, "62.0").is_none());
    }

    #[test]
    fn incoming_email_is_the_customers() {
        let agents = vec![];
        let authors = Authors { agent_user_ids: &agents };
        let email = json!({"Id": "02s1", "Incoming": true, "FromName": "Ann", "TextBody": "Help",
            "MessageDate": "2024-01-02T03:04:05.000+0000"});
        let part = email_part(&email, &authors).unwrap();
        assert_eq!(part.author, AuthorRole::Customer);
        assert_eq!(part.text, "Help");
    }
}
