//! The Case channel on the wire: the SOQL the cycle runs, the records it reads
//! as typed values, and the writes it makes with what Salesforce answered.
//!
//! ```ignore
//! let page = cases::read_sweep(&mut client, &SweepRequest { .. })?;   // one composite: cases + new children
//! let history = cases::read_history(&mut client, &new_case_ids)?;     // children of cases seen for the first time
//! let answers = client.composite(false, writes.iter().map(|w| w.subrequest(&client)).collect())?;
//! let outcome = cases::write_outcome(&answers[0]);                     // Created(id), Refused(error), …
//! ```
//!
//! Reads are **sweeps** in `(timestamp, Id)` order with a keyset cursor
//! ([`SweepKey`]): `WHERE (t > k.t OR (t = k.t AND Id > k.id)) ORDER BY t, Id
//! LIMIT n`. Salesforce stores datetimes to the second, so records sharing a
//! second are told apart by Id and a page boundary inside that second loses
//! nothing. Every page is bounded (rows by `LIMIT`, bytes by the row sizes
//! below), whatever the org's history.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::client::{ApiError, ClientError, SalesforceClient, SubResponse, Subrequest};
use super::escape::{soql_datetime, soql_quoted};
use super::ids::canonical_id;
use super::transport::{Method, Transport};
use crate::convert::parse_datetime;
use crate::model::{ObjectCatalog, Timestamp, WireField, WireValue};

/// Cases per sweep page. A case row carries every catalog field of the Case,
/// its Contact and its Account (a few KB), so 200 rows stay well under a MB.
pub const CASES_PER_PAGE: u32 = 200;
/// Ids in one `Id IN (…)` / `ParentId IN (…)` list: 200 quoted 18-character
/// Ids are about 4 KB of SOQL, far inside Salesforce's URI and query limits.
pub const IDS_PER_QUERY: usize = 200;

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

/// The longest field API name Salesforce allows (40 characters plus a
/// namespace prefix and `__c`); anything longer is not a field.
const MAX_FIELD_NAME_CHARS: usize = 100;

/// Whether `name` can be a field API name (`Subject`, `ns__Tier__c`): a
/// letter, then letters, digits and underscores. Names from describe pass
/// through this before they enter a query, so a hostile or broken describe
/// cannot change a query's shape.
pub fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= MAX_FIELD_NAME_CHARS
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// --- the objects ---------------------------------------------------------------

/// The records on a case that become conversation parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChildKind {
    CaseComment,
    EmailMessage,
    FeedItem,
    FeedComment,
}

impl ChildKind {
    pub const ALL: [ChildKind; 4] =
        [ChildKind::CaseComment, ChildKind::EmailMessage, ChildKind::FeedItem, ChildKind::FeedComment];

    /// The sObject name.
    pub fn object(self) -> &'static str {
        match self {
            ChildKind::CaseComment => "CaseComment",
            ChildKind::EmailMessage => "EmailMessage",
            ChildKind::FeedItem => "FeedItem",
            ChildKind::FeedComment => "FeedComment",
        }
    }

    fn fields(self) -> &'static str {
        match self {
            ChildKind::CaseComment => {
                "Id, ParentId, CommentBody, IsPublished, CreatedDate, CreatedById, CreatedBy.Name, CreatedBy.UserType"
            }
            ChildKind::EmailMessage => {
                "Id, ParentId, Incoming, FromAddress, FromName, ToAddress, Subject, TextBody, HtmlBody, MessageDate, CreatedDate, CreatedById, CreatedBy.Name, CreatedBy.UserType, HasAttachment, MessageIdentifier"
            }
            ChildKind::FeedItem => {
                "Id, ParentId, Type, Body, IsRichText, RelatedRecordId, Title, CommentCount, CreatedDate, CreatedById, CreatedBy.Name, CreatedBy.UserType"
            }
            ChildKind::FeedComment => {
                "Id, ParentId, FeedItemId, CommentBody, IsRichText, RelatedRecordId, CreatedDate, CreatedById, CreatedBy.Name, CreatedBy.UserType"
            }
        }
    }

    /// Rows per sweep page: emails carry two bodies of up to 32,000
    /// characters each, so their pages are smaller to keep a page's bytes bounded.
    pub fn rows_per_page(self) -> u32 {
        match self {
            ChildKind::EmailMessage => 50,
            _ => 200,
        }
    }

    /// The field holding the record's text.
    fn body_field(self) -> &'static str {
        match self {
            ChildKind::CaseComment | ChildKind::FeedComment => "CommentBody",
            ChildKind::FeedItem => "Body",
            ChildKind::EmailMessage => "TextBody",
        }
    }
}

// --- sweeps --------------------------------------------------------------------------

/// A position in a sweep: the last `(timestamp, Id)` read. The next page
/// starts strictly after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SweepKey {
    /// `SystemModstamp` (cases) or `CreatedDate` (children), ms since the epoch.
    pub stamp: Timestamp,
    /// The record's 18-character Id; empty: before every record of that instant.
    pub id: String,
}

impl SweepKey {
    /// Before every record at or after `stamp`.
    pub fn at(stamp: Timestamp) -> Self {
        SweepKey { stamp, id: String::new() }
    }

    /// `(field > t OR (field = t AND Id > 'id'))`.
    fn condition(&self, field: &str) -> String {
        // Salesforce compares datetimes to the second; the key is kept to the second too.
        let at = soql_datetime(self.stamp);
        if self.id.is_empty() {
            format!("{field} >= {at}")
        } else {
            format!("({field} > {at} OR ({field} = {at} AND Id > {}))", soql_quoted(&self.id))
        }
    }
}

/// The select list of the case queries: the fields the cycle needs, the
/// write-back fields, and every synced catalog field of the Case, its
/// Contact and its Account. Field names that are not API names are left out.
pub fn case_select(
    extra_case_fields: &[&str],
    case: &ObjectCatalog,
    contact: &ObjectCatalog,
    account: &ObjectCatalog,
) -> String {
    let mut fields: Vec<String> = REQUIRED_CASE_FIELDS.iter().map(|f| f.to_string()).collect();
    let mut push = |field: String| {
        if !fields.iter().any(|f| f.eq_ignore_ascii_case(&field)) {
            fields.push(field);
        }
    };
    for field in extra_case_fields.iter().filter(|f| is_field_name(f)) {
        push(field.to_string());
    }
    for (prefix, catalog) in [("", case), ("Contact.", contact), ("Account.", account)] {
        for field in catalog.fields.iter().filter(|f| f.synced && selectable(f.descriptor.field_type)) {
            if is_field_name(&field.descriptor.name) {
                push(format!("{prefix}{}", field.descriptor.name));
            }
        }
    }
    fields.join(", ")
}

/// Field types that cannot be selected in a multi-record query.
fn selectable(field_type: crate::model::FieldType) -> bool {
    !matches!(field_type, crate::model::FieldType::Base64)
}

/// What one sweep page asks for. Each part is optional, so a cycle that has
/// finished one sweep keeps paging the others.
#[derive(Debug, Clone)]
pub struct SweepRequest<'a> {
    /// [`case_select`].
    pub select: &'a str,
    /// The agent user: its cases are swept.
    pub agent_user_id: &'a str,
    /// Cases in an open session, whoever owns them now (at most
    /// [`IDS_PER_QUERY`]): a case taken away from the agent is seen too.
    pub watched_case_ids: &'a [String],
    /// Read cases after this key; `None`: not this page.
    pub cases_after: Option<&'a SweepKey>,
    /// Only open cases (the first sweep: the agent's history of closed cases is not work).
    pub open_cases_only: bool,
    /// Read new children of the agent's cases after these keys.
    pub children_after: Vec<(ChildKind, &'a SweepKey)>,
}

/// The queries of a sweep page, as `(reference id, SOQL)`.
pub fn sweep_queries(request: &SweepRequest) -> Vec<(String, String)> {
    let agent = soql_quoted(request.agent_user_id);
    let mut queries = Vec::new();
    if let Some(after) = request.cases_after {
        let mut owner = format!("OwnerId = {agent}");
        let watched: Vec<String> = request
            .watched_case_ids
            .iter()
            .filter(|id| canonical_id(id).is_some())
            .take(IDS_PER_QUERY)
            .map(|id| soql_quoted(id))
            .collect();
        if !watched.is_empty() {
            owner = format!("(OwnerId = {agent} OR Id IN ({}))", watched.join(", "));
        }
        let open = if request.open_cases_only { " AND IsClosed = false" } else { "" };
        queries.push((
            "cases".to_string(),
            format!(
                "SELECT {} FROM Case WHERE {owner}{open} AND {} ORDER BY SystemModstamp, Id LIMIT {CASES_PER_PAGE}",
                request.select,
                after.condition("SystemModstamp"),
            ),
        ));
    }
    for (kind, after) in &request.children_after {
        queries.push((
            kind.object().to_string(),
            format!(
                "SELECT {} FROM {} WHERE ParentId IN (SELECT Id FROM Case WHERE OwnerId = {agent}) AND {} ORDER BY CreatedDate, Id LIMIT {}",
                kind.fields(),
                kind.object(),
                after.condition("CreatedDate"),
                kind.rows_per_page()
            ),
        ));
    }
    queries
}

/// One page of a sweep.
#[derive(Debug, Clone, Default)]
pub struct SweepPage {
    /// The cases read, in sweep order; `None` when the page did not read cases.
    pub cases: Option<Vec<CaseRecord>>,
    /// New children by kind, in sweep order.
    pub children: Vec<(ChildKind, Vec<ChildRecord>)>,
}

impl SweepPage {
    /// Whether the case part of the page was full (more may follow).
    pub fn cases_full(&self) -> bool {
        self.cases.as_ref().is_some_and(|c| c.len() >= CASES_PER_PAGE as usize)
    }

    /// Whether the children part of `kind` was full.
    pub fn children_full(&self, kind: ChildKind) -> bool {
        self.children.iter().any(|(k, records)| *k == kind && records.len() >= kind.rows_per_page() as usize)
    }
}

/// Read one sweep page: one composite call for up to five queries.
pub fn read_sweep<T: Transport>(
    client: &mut SalesforceClient<T>,
    request: &SweepRequest,
    fields: &WriteBackFields,
) -> Result<SweepPage, ClientError> {
    let mut page = SweepPage::default();
    for (reference, records) in client.query_many(&sweep_queries(request))? {
        if reference == "cases" {
            page.cases = Some(records.iter().filter_map(|r| parse_case(r, fields)).collect());
        } else if let Some(kind) = ChildKind::ALL.into_iter().find(|k| k.object() == reference) {
            page.children.push((kind, records.iter().filter_map(|r| parse_child(kind, r)).collect()));
        }
    }
    Ok(page)
}

/// Cases in a session that left the agent since `since`, for the sessions
/// beyond the [`IDS_PER_QUERY`] a sweep page watches: light records (who owns
/// the case, whether it is closed). One query per 200 cases, five per call.
pub fn read_departures<T: Transport>(
    client: &mut SalesforceClient<T>,
    agent_user_id: &str,
    case_ids: &[String],
    since: Timestamp,
    fields: &WriteBackFields,
) -> Result<Vec<CaseRecord>, ClientError> {
    let owner = soql_quoted(agent_user_id);
    let since = soql_datetime(since);
    cases_by_id(client, case_ids, fields, |ids| {
        format!(
            "SELECT Id, CaseNumber, OwnerId, IsClosed, SystemModstamp FROM Case WHERE Id IN ({ids}) AND (OwnerId != {owner} OR IsClosed = true) AND SystemModstamp >= {since}"
        )
    })
}

/// Full records of these cases (for cases whose new children arrived before
/// the case itself was read). One query per 200, five per call.
pub fn read_cases<T: Transport>(
    client: &mut SalesforceClient<T>,
    select: &str,
    case_ids: &[String],
    fields: &WriteBackFields,
) -> Result<Vec<CaseRecord>, ClientError> {
    cases_by_id(client, case_ids, fields, |ids| format!("SELECT {select} FROM Case WHERE Id IN ({ids})"))
}

/// The cases a query per [`IDS_PER_QUERY`] Ids finds (`soql` gets the quoted
/// Id list), five queries per call.
fn cases_by_id<T: Transport>(
    client: &mut SalesforceClient<T>,
    case_ids: &[String],
    fields: &WriteBackFields,
    soql: impl Fn(&str) -> String,
) -> Result<Vec<CaseRecord>, ClientError> {
    let queries: Vec<(String, String)> = case_ids
        .chunks(IDS_PER_QUERY)
        .enumerate()
        .map(|(i, chunk)| (format!("cases{i}"), soql(&quoted_ids(chunk))))
        .collect();
    Ok(client
        .query_many(&queries)?
        .into_iter()
        .flat_map(|(_, records)| records)
        .filter_map(|r| parse_case(&r, fields))
        .collect())
}

/// Every child of these cases, oldest first per case: a case's history when
/// the agent is assigned to it. Salesforce pages the results (2,000 rows a
/// page); each further page is one more call.
pub fn read_history<T: Transport>(
    client: &mut SalesforceClient<T>,
    case_ids: &[String],
) -> Result<Vec<ChildRecord>, ClientError> {
    let mut children = Vec::new();
    for chunk in case_ids.chunks(IDS_PER_QUERY) {
        let ids = quoted_ids(chunk);
        let queries: Vec<(String, String)> = ChildKind::ALL
            .iter()
            .map(|kind| {
                (
                    kind.object().to_string(),
                    format!(
                        "SELECT {} FROM {} WHERE ParentId IN ({ids}) ORDER BY ParentId, CreatedDate, Id",
                        kind.fields(),
                        kind.object()
                    ),
                )
            })
            .collect();
        for (reference, records) in client.query_many(&queries)? {
            let Some(kind) = ChildKind::ALL.into_iter().find(|k| k.object() == reference) else { continue };
            children.extend(records.iter().filter_map(|r| parse_child(kind, r)));
        }
    }
    Ok(children)
}

/// Replies written by `authors` on these cases since `since`, to find out
/// whether a reply whose answer was lost was written after all.
pub fn read_replies_since<T: Transport>(
    client: &mut SalesforceClient<T>,
    case_ids: &[String],
    authors: &[String],
    since: Timestamp,
) -> Result<Vec<ChildRecord>, ClientError> {
    let authors: Vec<String> =
        authors.iter().filter(|id| canonical_id(id).is_some()).map(|id| soql_quoted(id)).collect();
    if authors.is_empty() {
        return Ok(Vec::new());
    }
    let mut replies = Vec::new();
    for chunk in case_ids.chunks(IDS_PER_QUERY) {
        let filter = format!(
            "ParentId IN ({}) AND CreatedById IN ({}) AND CreatedDate >= {}",
            quoted_ids(chunk),
            authors.join(", "),
            soql_datetime(since)
        );
        let queries: Vec<(String, String)> = [ChildKind::CaseComment, ChildKind::FeedItem, ChildKind::EmailMessage]
            .iter()
            .map(|kind| {
                let outgoing = if *kind == ChildKind::EmailMessage { "Incoming = false AND " } else { "" };
                (
                    kind.object().to_string(),
                    format!("SELECT {} FROM {} WHERE {outgoing}{filter}", kind.fields(), kind.object()),
                )
            })
            .collect();
        for (reference, records) in client.query_many(&queries)? {
            let Some(kind) = ChildKind::ALL.into_iter().find(|k| k.object() == reference) else { continue };
            replies.extend(records.iter().filter_map(|r| parse_child(kind, r)));
        }
    }
    Ok(replies)
}

fn quoted_ids(ids: &[String]) -> String {
    ids.iter().filter(|id| canonical_id(id).is_some()).map(|id| soql_quoted(id)).collect::<Vec<_>>().join(", ")
}

// --- records ---------------------------------------------------------------------------

/// The org's names for the two fields the connector writes on cases (A9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBackFields {
    pub involved: String,
    pub resolution_state: String,
}

/// A Case as a query returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRecord {
    pub id: String,
    pub case_number: String,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub origin: Option<String>,
    pub is_closed: bool,
    pub owner_id: String,
    pub supplied_email: Option<String>,
    pub supplied_name: Option<String>,
    pub created_at: Option<Timestamp>,
    pub modstamp: Timestamp,
    /// The involved checkbox as the case has it (`None`: not read).
    pub involved: Option<bool>,
    /// The resolution state picklist as the case has it (`Some(None)`: empty).
    pub resolution_state: Option<Option<String>>,
    /// The contact's email, when the query read it.
    pub contact_email: Option<String>,
    /// The case's scalar fields, for mapping to attributes.
    pub fields: Vec<WireField>,
    /// The Contact's fields (`None`: no contact).
    pub contact: Option<Vec<WireField>>,
    /// The Account's fields (`None`: no account).
    pub account: Option<Vec<WireField>>,
}

fn text(record: &Value, field: &str) -> Option<String> {
    record.get(field).and_then(Value::as_str).map(str::to_string)
}

fn stamp(record: &Value, field: &str) -> Option<Timestamp> {
    record.get(field).and_then(Value::as_str).and_then(parse_datetime)
}

/// A query record as a [`CaseRecord`]; `None` when it has no readable Id or `SystemModstamp`.
pub fn parse_case(record: &Value, fields: &WriteBackFields) -> Option<CaseRecord> {
    let id = canonical_id(&text(record, "Id")?)?;
    let related = |name: &str| record.get(name).filter(|r| r.is_object()).map(wire_fields);
    Some(CaseRecord {
        case_number: text(record, "CaseNumber").unwrap_or_default(),
        subject: text(record, "Subject"),
        description: text(record, "Description"),
        origin: text(record, "Origin"),
        is_closed: record.get("IsClosed").and_then(Value::as_bool).unwrap_or(false),
        owner_id: text(record, "OwnerId").and_then(|id| canonical_id(&id)).unwrap_or_default(),
        supplied_email: text(record, "SuppliedEmail"),
        supplied_name: text(record, "SuppliedName"),
        created_at: stamp(record, "CreatedDate"),
        modstamp: stamp(record, "SystemModstamp")?,
        involved: record.get(&fields.involved).and_then(Value::as_bool),
        resolution_state: record.get(&fields.resolution_state).map(|v| v.as_str().map(str::to_string)),
        contact_email: record.get("Contact").and_then(|c| text(c, "Email")),
        fields: wire_fields(record),
        contact: related("Contact"),
        account: related("Account"),
        id,
    })
}

/// A record's scalar fields on the wire (relationships and subqueries left out).
pub fn wire_fields(record: &Value) -> Vec<WireField> {
    let Some(object) = record.as_object() else { return Vec::new() };
    object
        .iter()
        .filter(|(name, _)| name.as_str() != "attributes")
        .filter_map(|(name, value)| {
            let value = match value {
                Value::Null => WireValue::Null,
                Value::Bool(b) => WireValue::Boolean(*b),
                Value::Number(n) => WireValue::Number(n.to_string()),
                Value::String(s) => WireValue::Text(s.clone()),
                Value::Object(o) if o.contains_key("attributes") || o.contains_key("records") => return None,
                other => WireValue::Compound(other.to_string()),
            };
            Some(WireField { name: name.clone(), value })
        })
        .collect()
}

/// Who created a record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordAuthor {
    /// `CreatedById`, 18 characters.
    pub user_id: String,
    /// `CreatedBy.UserType` (`Standard`, `Guest`, `CspLitePortal`, …).
    pub user_type: Option<String>,
    pub name: Option<String>,
}

/// What an EmailMessage adds to a child record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmailDetails {
    pub incoming: bool,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    /// `MessageIdentifier`: the email's `Message-ID`.
    pub message_id: Option<String>,
    pub message_date: Option<Timestamp>,
    pub html_body: Option<String>,
}

/// A CaseComment, EmailMessage, FeedItem or FeedComment on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRecord {
    pub kind: ChildKind,
    /// 18 characters.
    pub id: String,
    /// The case, 18 characters.
    pub parent_id: String,
    pub created_at: Timestamp,
    pub author: RecordAuthor,
    /// The text as stored (rich text for feed records with `rich_text`).
    pub body: String,
    pub rich_text: bool,
    /// CaseComment `IsPublished` (others: true).
    pub published: bool,
    /// FeedItem `Type` (`TextPost`, `TrackedChange`, …).
    pub feed_type: Option<String>,
    /// A ContentVersion (`068…`) attached to a feed record.
    pub related_record_id: Option<String>,
    pub title: Option<String>,
    /// FeedItem `CommentCount`.
    pub comment_count: u64,
    pub email: Option<EmailDetails>,
}

/// A query record as a [`ChildRecord`]; `None` without a readable Id, parent or creation time.
pub fn parse_child(kind: ChildKind, record: &Value) -> Option<ChildRecord> {
    let created_by = record.get("CreatedBy");
    let email = (kind == ChildKind::EmailMessage).then(|| EmailDetails {
        incoming: record.get("Incoming").and_then(Value::as_bool).unwrap_or(false),
        from_address: text(record, "FromAddress"),
        from_name: text(record, "FromName"),
        message_id: text(record, "MessageIdentifier"),
        message_date: stamp(record, "MessageDate"),
        html_body: text(record, "HtmlBody"),
    });
    Some(ChildRecord {
        kind,
        id: canonical_id(&text(record, "Id")?)?,
        parent_id: canonical_id(&text(record, "ParentId")?)?,
        created_at: stamp(record, "CreatedDate")?,
        author: RecordAuthor {
            user_id: text(record, "CreatedById").and_then(|id| canonical_id(&id)).unwrap_or_default(),
            user_type: created_by.and_then(|u| text(u, "UserType")),
            name: created_by.and_then(|u| text(u, "Name")),
        },
        body: text(record, kind.body_field()).unwrap_or_default(),
        rich_text: record.get("IsRichText").and_then(Value::as_bool).unwrap_or(false),
        published: record.get("IsPublished").and_then(Value::as_bool).unwrap_or(true),
        feed_type: text(record, "Type"),
        related_record_id: text(record, "RelatedRecordId"),
        title: text(record, "Title"),
        comment_count: record.get("CommentCount").and_then(Value::as_u64).unwrap_or(0),
        email,
    })
}

// --- writes ------------------------------------------------------------------------------

/// A reply to create on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewReply {
    /// A public CaseComment (`CommentBody` ≤ 4,000 bytes).
    CaseComment { case_id: String, body: String },
    /// A Chatter text post on the case.
    FeedPost { case_id: String, body: String },
    /// The record of an email already sent, as an outgoing EmailMessage.
    EmailRecord {
        case_id: String,
        from_address: String,
        to_address: Option<String>,
        subject: Option<String>,
        text_body: String,
        message_date: Timestamp,
        message_id: String,
    },
}

/// A write of the cycle, built into a composite subrequest.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseWrite {
    Reply(NewReply),
    /// Set these fields on a case (`OwnerId` sends `Sforce-Auto-Assign: FALSE`).
    UpdateCase {
        case_id: String,
        fields: Map<String, Value>,
    },
    /// Put a topic on a case.
    AssignTopic {
        topic_id: String,
        case_id: String,
    },
}

impl CaseWrite {
    /// The composite subrequest of this write.
    pub fn subrequest<T: Transport>(&self, client: &SalesforceClient<T>, reference_id: String) -> Subrequest {
        let (method, path, body) = match self {
            CaseWrite::Reply(NewReply::CaseComment { case_id, body }) => (
                Method::Post,
                client.sobject_path("CaseComment", None),
                json!({"ParentId": case_id, "CommentBody": body, "IsPublished": true}),
            ),
            CaseWrite::Reply(NewReply::FeedPost { case_id, body }) => (
                Method::Post,
                client.sobject_path("FeedItem", None),
                json!({"ParentId": case_id, "Body": body, "Type": "TextPost", "IsRichText": false}),
            ),
            CaseWrite::Reply(NewReply::EmailRecord {
                case_id,
                from_address,
                to_address,
                subject,
                text_body,
                message_date,
                message_id,
            }) => (
                Method::Post,
                client.sobject_path("EmailMessage", None),
                json!({
                    "ParentId": case_id,
                    "Incoming": false,
                    "FromAddress": from_address,
                    "ToAddress": to_address,
                    "Subject": subject,
                    "TextBody": text_body,
                    "MessageDate": crate::convert::format_datetime(*message_date),
                    "MessageIdentifier": message_id,
                    // "3": Sent.
                    "Status": "3",
                }),
            ),
            CaseWrite::UpdateCase { case_id, fields } => {
                (Method::Patch, client.sobject_path("Case", Some(case_id)), Value::Object(fields.clone()))
            }
            CaseWrite::AssignTopic { topic_id, case_id } => (
                Method::Post,
                client.sobject_path("TopicAssignment", None),
                json!({"TopicId": topic_id, "EntityId": case_id}),
            ),
        };
        Subrequest::new(method, path, reference_id).with_body(body)
    }
}

/// What Salesforce did with one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Done; the new record's Id for a create.
    Done(Option<String>),
    /// The record was already there (a topic already on the case).
    AlreadyThere,
    /// Salesforce refused the write for a reason retrying will not fix
    /// (validation, a missing field, access): kept as an error for a person.
    Refused(ApiError),
    /// It may work later: a server error, a locked row, the composite's own failure.
    TryAgain(ApiError),
}

/// Error codes that mean "try again later", not "this write is wrong".
const TRANSIENT_CODES: &[&str] =
    &["UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "PROCESSING_HALTED"];

/// The outcome of one composite subresponse.
pub fn write_outcome(response: &SubResponse) -> WriteOutcome {
    if response.is_success() {
        let id = response.body.get("id").and_then(Value::as_str).and_then(canonical_id);
        return WriteOutcome::Done(id);
    }
    let error = response.error().unwrap_or_else(|| ApiError {
        status: response.status,
        code: String::new(),
        message: String::new(),
        fields: Vec::new(),
    });
    if error.code == "DUPLICATE_VALUE" {
        WriteOutcome::AlreadyThere
    } else if response.status >= 500 || response.status == 0 || TRANSIENT_CODES.contains(&error.code.as_str()) {
        WriteOutcome::TryAgain(error)
    } else {
        WriteOutcome::Refused(error)
    }
}

// --- topics ------------------------------------------------------------------------------

/// The Ids of topics by name, creating the missing ones (A12). Names match
/// Salesforce's case-insensitively.
pub fn ensure_topics<T: Transport>(
    client: &mut SalesforceClient<T>,
    names: &[String],
) -> Result<Vec<(String, String)>, ClientError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let quoted: Vec<String> = names.iter().map(|t| soql_quoted(t)).collect();
    let mut known: Vec<(String, String)> = Vec::new();
    for record in client.query(&format!("SELECT Id, Name FROM Topic WHERE Name IN ({})", quoted.join(", ")))? {
        if let (Some(id), Some(found)) = (text(&record, "Id"), text(&record, "Name"))
            && let Some(name) = names.iter().find(|t| t.eq_ignore_ascii_case(&found))
        {
            known.push((name.clone(), id));
        }
    }
    let missing: Vec<&String> = names.iter().filter(|t| !known.iter().any(|(name, _)| name == *t)).collect();
    if !missing.is_empty() {
        let subrequests = missing
            .iter()
            .enumerate()
            .map(|(i, name)| {
                Subrequest::new(Method::Post, client.sobject_path("Topic", None), format!("topic{i}"))
                    .with_body(json!({ "Name": name }))
            })
            .collect();
        for (name, response) in missing.iter().zip(client.composite(false, subrequests)?) {
            if let WriteOutcome::Done(Some(id)) = write_outcome(&response) {
                known.push(((*name).clone(), id));
            }
        }
    }
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> WriteBackFields {
        WriteBackFields { involved: "FinInvolved__c".into(), resolution_state: "FinResolutionState__c".into() }
    }

    #[test]
    fn field_names_from_describe_are_checked() {
        assert!(is_field_name("Subject"));
        assert!(is_field_name("ns__Tier__c"));
        assert!(!is_field_name("Id FROM User WHERE Name != ''"));
        assert!(!is_field_name("(SELECT Id FROM Cases)"));
        assert!(!is_field_name(""));
        assert!(!is_field_name("1stField"));
        assert!(!is_field_name(&"a".repeat(MAX_FIELD_NAME_CHARS + 1)));
    }

    #[test]
    fn a_hostile_field_name_never_reaches_the_select_list() {
        let mut catalog = ObjectCatalog { object: "Case".into(), fields: Vec::new() };
        catalog.fields.push(crate::model::CatalogField {
            descriptor: crate::model::FieldDescriptor {
                name: "Subject FROM User --".into(),
                label: "x".into(),
                field_type: crate::model::FieldType::String,
                length: 10,
                precision: 0,
                scale: 0,
                custom: false,
                nillable: true,
                createable: true,
                defaulted_on_create: false,
                updateable: true,
                calculated: false,
                name_field: false,
                restricted_picklist: false,
                picklist_values: vec![],
                reference_to: vec![],
                relationship_name: None,
            },
            kind: crate::model::FieldKind::Custom,
            synced: true,
        });
        let empty = |object: &str| ObjectCatalog { object: object.into(), fields: Vec::new() };
        let select = case_select(&["FinInvolved__c", "bad name"], &catalog, &empty("Contact"), &empty("Account"));
        assert!(!select.contains("FROM User"));
        assert!(!select.contains("bad name"));
        assert!(select.contains("FinInvolved__c"));
    }

    #[test]
    fn a_sweep_page_continues_strictly_after_its_key() {
        let key = SweepKey { stamp: 1_700_000_000_000, id: "500000000000001AAA".into() };
        let agent = "005000000000001AAA".to_string();
        let watched = vec!["500000000000002AAA".to_string()];
        let request = SweepRequest {
            select: "Id",
            agent_user_id: &agent,
            watched_case_ids: &watched,
            cases_after: Some(&key),
            open_cases_only: true,
            children_after: vec![(ChildKind::FeedItem, &key)],
        };
        let queries = sweep_queries(&request);
        assert_eq!(queries.len(), 2);
        assert_eq!(
            queries[0].1,
            "SELECT Id FROM Case WHERE (OwnerId = '005000000000001AAA' OR Id IN ('500000000000002AAA')) AND IsClosed = false \
             AND (SystemModstamp > 2023-11-14T22:13:20Z OR (SystemModstamp = 2023-11-14T22:13:20Z AND Id > '500000000000001AAA')) \
             ORDER BY SystemModstamp, Id LIMIT 200"
        );
        assert!(
            queries[1]
                .1
                .contains("FROM FeedItem WHERE ParentId IN (SELECT Id FROM Case WHERE OwnerId = '005000000000001AAA')")
        );
        assert!(queries[1].1.ends_with("ORDER BY CreatedDate, Id LIMIT 200"));
        let start = SweepKey::at(1_700_000_000_000);
        assert_eq!(start.condition("CreatedDate"), "CreatedDate >= 2023-11-14T22:13:20Z");
    }

    #[test]
    fn records_are_read_as_typed_values_with_canonical_ids() {
        let case = json!({
            "attributes": {"type": "Case"}, "Id": "500000000000001", "CaseNumber": "00001001",
            "OwnerId": "005000000000001", "IsClosed": false, "SystemModstamp": "2024-01-02T03:04:05.000+0000",
            "FinInvolved__c": true, "FinResolutionState__c": null,
            "Contact": {"attributes": {"type": "Contact"}, "Email": "ann@example.com"}, "Account": null
        });
        let record = parse_case(&case, &fields()).unwrap();
        assert_eq!(record.id.len(), 18);
        assert_eq!(record.owner_id.len(), 18);
        assert_eq!(record.involved, Some(true));
        assert_eq!(record.resolution_state, Some(None));
        assert_eq!(record.contact_email.as_deref(), Some("ann@example.com"));
        assert!(record.contact.is_some() && record.account.is_none());
        assert!(parse_case(&json!({"Id": "500000000000001"}), &fields()).is_none(), "no SystemModstamp");

        let comment = json!({"Id": "00a000000000001", "ParentId": "500000000000001", "CommentBody": "Hi",
            "IsPublished": false, "CreatedDate": "2024-01-02T03:04:05.000+0000", "CreatedById": "005000000000001",
            "CreatedBy": {"Name": "Ann", "UserType": "Guest"}});
        let child = parse_child(ChildKind::CaseComment, &comment).unwrap();
        assert!(!child.published);
        assert_eq!(child.author.user_type.as_deref(), Some("Guest"));
        assert_eq!(child.body, "Hi");
    }

    #[test]
    fn write_outcomes_tell_refusals_from_transient_failures() {
        let answer = |status: u16, body: Value| SubResponse { reference_id: "r".into(), status, body };
        assert_eq!(
            write_outcome(&answer(201, json!({"id": "00a000000000001", "success": true}))),
            WriteOutcome::Done(Some("00a000000000001AAA".into()))
        );
        assert_eq!(write_outcome(&answer(204, Value::Null)), WriteOutcome::Done(None));
        let error = |code: &str| json!([{"errorCode": code, "message": "m"}]);
        assert_eq!(write_outcome(&answer(400, error("DUPLICATE_VALUE"))), WriteOutcome::AlreadyThere);
        assert!(matches!(write_outcome(&answer(400, error("UNABLE_TO_LOCK_ROW"))), WriteOutcome::TryAgain(_)));
        assert!(matches!(write_outcome(&answer(503, error("SERVER_UNAVAILABLE"))), WriteOutcome::TryAgain(_)));
        assert!(matches!(
            write_outcome(&answer(400, error("FIELD_CUSTOM_VALIDATION_EXCEPTION"))),
            WriteOutcome::Refused(_)
        ));
    }
}
