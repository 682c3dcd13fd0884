//! The poll (A3): one composite request with up to five queries finds the
//! agent's new and changed cases and every new post, comment and email on
//! them since the watermark. An idle cycle costs exactly this one API call.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{ObjectCatalog, Timestamp};
use crate::salesforce::client::{ClientError, SalesforceClient, Subrequest};
use crate::salesforce::escape::{soql_datetime, soql_quoted};
use crate::salesforce::transport::{Method, Transport};

use super::parts::text;

/// Case fields the cycle itself reads, whatever the catalog holds.
pub const REQUIRED_CASE_FIELDS: &[&str] = &[
    "Id",
    "CaseNumber",
    "Subject",
    "Description",
    "Origin",
    "Status",
    "IsClosed",
    "OwnerId",
    "ContactId",
    "AccountId",
    "SuppliedEmail",
    "SuppliedName",
    "CreatedDate",
    "SystemModstamp",
];

const CASE_COMMENT_FIELDS: &str =
    "Id, ParentId, CommentBody, IsPublished, CreatedDate, CreatedById, CreatedBy.Name, CreatedBy.UserType";
const EMAIL_FIELDS: &str = "Id, ParentId, Incoming, FromAddress, FromName, ToAddress, Subject, TextBody, HtmlBody, MessageDate, CreatedDate, CreatedById, HasAttachment, MessageIdentifier";
const FEED_ITEM_FIELDS: &str = "Id, ParentId, Type, Body, IsRichText, RelatedRecordId, Title, CommentCount, CreatedDate, CreatedById, CreatedBy.Name, CreatedBy.UserType";
const FEED_COMMENT_FIELDS: &str = "Id, ParentId, FeedItemId, CommentBody, IsRichText, RelatedRecordId, CreatedDate, CreatedById, CreatedBy.Name, CreatedBy.UserType";

/// Field types that cannot be selected in a multi-record query.
fn selectable(field_type: crate::model::FieldType) -> bool {
    !matches!(field_type, crate::model::FieldType::Base64)
}

/// The catalogs the poll selects fields from.
pub struct Catalogs<'a> {
    pub case: &'a ObjectCatalog,
    pub contact: &'a ObjectCatalog,
    pub account: &'a ObjectCatalog,
}

/// What the poll asks for.
pub struct PollRequest<'a> {
    pub agent_user_id: &'a str,
    pub extra_case_fields: &'a [String],
    /// Cases known to be in a session: changes to them are read even if their owner changed.
    pub known_open_cases: &'a [String],
    /// Read changes at or after this instant (watermark minus overlap); None on the first poll.
    pub since: Option<Timestamp>,
}

/// Everything the poll found, by case.
#[derive(Debug, Default)]
pub struct PollResult {
    /// Changed cases, with their Contact, Account and child records.
    pub cases: Vec<Value>,
    /// New child records by case Id, from the child queries.
    pub children: BTreeMap<String, Vec<Child>>,
    /// The newest `SystemModstamp` / `CreatedDate` seen.
    pub newest: Option<Timestamp>,
}

/// A child record and what kind it is.
#[derive(Debug, Clone)]
pub enum Child {
    CaseComment(Value),
    Email(Value),
    FeedItem(Value),
    FeedComment(Value),
}

/// The SOQL select list of the case query.
pub fn case_select(request: &PollRequest, catalogs: &Catalogs) -> String {
    let mut fields: Vec<String> = REQUIRED_CASE_FIELDS.iter().map(|f| f.to_string()).collect();
    let mut push = |field: String| {
        if !fields.iter().any(|f| f.eq_ignore_ascii_case(&field)) {
            fields.push(field);
        }
    };
    for field in request.extra_case_fields {
        push(field.clone());
    }
    for field in catalogs.case.fields.iter().filter(|f| f.synced && selectable(f.descriptor.field_type)) {
        push(field.descriptor.name.clone());
    }
    for (relationship, catalog) in [("Contact", catalogs.contact), ("Account", catalogs.account)] {
        for field in catalog.fields.iter().filter(|f| f.synced && selectable(f.descriptor.field_type)) {
            push(format!("{relationship}.{}", field.descriptor.name));
        }
    }
    let children = [
        format!("(SELECT {CASE_COMMENT_FIELDS} FROM CaseComments ORDER BY CreatedDate)"),
        format!("(SELECT {EMAIL_FIELDS} FROM EmailMessages ORDER BY MessageDate)"),
        format!("(SELECT {FEED_ITEM_FIELDS} FROM Feeds ORDER BY CreatedDate)"),
    ];
    fields.extend(children);
    fields.join(", ")
}

/// The poll's queries, as `(reference id, SOQL)`.
pub fn poll_queries(request: &PollRequest, catalogs: &Catalogs) -> Vec<(&'static str, String)> {
    let agent = soql_quoted(request.agent_user_id);
    let select = case_select(request, catalogs);
    let Some(since) = request.since else {
        // First poll: every open case the agent owns, with its whole history.
        return vec![(
            "cases",
            format!(
                "SELECT {select} FROM Case WHERE OwnerId = {agent} AND IsClosed = false ORDER BY SystemModstamp, Id"
            ),
        )];
    };
    let since = soql_datetime(since);
    let owned = if request.known_open_cases.is_empty() {
        format!("OwnerId = {agent}")
    } else {
        let ids: Vec<String> = request.known_open_cases.iter().map(|id| soql_quoted(id)).collect();
        format!("(OwnerId = {agent} OR Id IN ({}))", ids.join(", "))
    };
    let agent_cases = format!("ParentId IN (SELECT Id FROM Case WHERE OwnerId = {agent})");
    vec![
        (
            "cases",
            format!(
                "SELECT {select} FROM Case WHERE {owned} AND SystemModstamp >= {since} ORDER BY SystemModstamp, Id"
            ),
        ),
        (
            "comments",
            format!("SELECT {CASE_COMMENT_FIELDS} FROM CaseComment WHERE {agent_cases} AND CreatedDate >= {since}"),
        ),
        ("emails", format!("SELECT {EMAIL_FIELDS} FROM EmailMessage WHERE {agent_cases} AND CreatedDate >= {since}")),
        ("posts", format!("SELECT {FEED_ITEM_FIELDS} FROM FeedItem WHERE {agent_cases} AND CreatedDate >= {since}")),
        (
            "replies",
            format!("SELECT {FEED_COMMENT_FIELDS} FROM FeedComment WHERE {agent_cases} AND CreatedDate >= {since}"),
        ),
    ]
}

/// Run the poll: one composite call (plus a call per extra page of a large result).
pub fn poll<T: Transport>(
    client: &mut SalesforceClient<T>,
    request: &PollRequest,
    catalogs: &Catalogs,
) -> Result<PollResult, ClientError> {
    let queries = poll_queries(request, catalogs);
    let mut result = PollResult::default();
    for (reference, records) in composite_queries(client, &queries)? {
        for record in records {
            let stamp = ["SystemModstamp", "CreatedDate"]
                .iter()
                .find_map(|f| record.get(*f).and_then(Value::as_str).and_then(crate::convert::parse_datetime));
            result.newest = result.newest.max(stamp);
            let parent = text(&record, "ParentId").unwrap_or_default();
            let child = match reference.as_str() {
                "cases" => {
                    result.cases.push(record);
                    continue;
                }
                "comments" => Child::CaseComment(record),
                "emails" => Child::Email(record),
                "posts" => Child::FeedItem(record),
                _ => Child::FeedComment(record),
            };
            result.children.entry(parent).or_default().push(child);
        }
    }
    Ok(result)
}

/// Run up to five SOQL queries in one composite request (one API call),
/// following any further pages; returns each query's records by reference id.
pub fn composite_queries<T: Transport>(
    client: &mut SalesforceClient<T>,
    queries: &[(&str, String)],
) -> Result<Vec<(String, Vec<Value>)>, ClientError> {
    let subrequests = queries
        .iter()
        .map(|(reference, soql)| Subrequest::new(Method::Get, client.query_path(soql), *reference))
        .collect();
    let mut results = Vec::with_capacity(queries.len());
    for response in client.composite(false, subrequests)? {
        if !response.is_success() {
            return Err(ClientError::from_subresponse(&response));
        }
        let records = client.all_records(response.body)?;
        results.push((response.reference_id, records));
    }
    Ok(results)
}

/// The comments on feed posts of newly seen cases (history older than the watermark).
pub fn feed_comments_of<T: Transport>(
    client: &mut SalesforceClient<T>,
    case_ids: &[String],
) -> Result<Vec<Value>, ClientError> {
    if case_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = case_ids.iter().map(|id| soql_quoted(id)).collect();
    client.query(&format!(
        "SELECT {FEED_COMMENT_FIELDS} FROM FeedComment WHERE ParentId IN ({}) ORDER BY CreatedDate",
        ids.join(", ")
    ))
}
