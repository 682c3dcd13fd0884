//! SOQL over REST (`/query`, `/queryAll`, paging through query locators) and
//! SOSL (`/search`, `/parameterizedSearch`).
//!
//! The data layer returns every matching row; this module pages them. A query
//! with more rows than one page keeps them in a cursor, and each page's
//! `nextRecordsUrl` is `/services/data/vXX.X/query/{cursor}-{offset}`, as
//! Salesforce spells it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::org::Org;
use super::request::{ApiRequest, MAX_BATCH_SIZE};
use super::response::ApiResponse;
use crate::db::QueryResult;
use crate::error::SfError;
use crate::ids;

/// Salesforce closes a query locator left idle for 15 minutes.
const CURSOR_IDLE_TIMEOUT: chrono::Duration = chrono::Duration::minutes(15);
/// Salesforce keeps at most 10 open query locators per user and closes the
/// oldest when an 11th opens.
const MAX_CURSORS_PER_USER: usize = 10;

/// Key prefix of query locators (`01g…`).
const CURSOR_PREFIX: &str = "01g";

#[derive(Debug, Default)]
pub(crate) struct QueryCursors {
    open: HashMap<String, Cursor>,
    opened: u64,
}

#[derive(Debug)]
struct Cursor {
    user_id: String,
    total_size: usize,
    records: Vec<Value>,
    batch_size: usize,
    last_used: DateTime<Utc>,
}

impl QueryCursors {
    /// Keeps `records` for paging and returns the new cursor's id.
    fn open(&mut self, user_id: &str, result: QueryResult, batch_size: usize, now: DateTime<Utc>) -> String {
        self.open.retain(|_, c| now - c.last_used < CURSOR_IDLE_TIMEOUT);
        let mine: Vec<(&String, DateTime<Utc>)> =
            self.open.iter().filter(|(_, c)| c.user_id == user_id).map(|(id, c)| (id, c.last_used)).collect();
        if mine.len() >= MAX_CURSORS_PER_USER
            && let Some(oldest) = mine.iter().min_by_key(|(_, used)| *used).map(|(id, _)| (*id).clone())
        {
            self.open.remove(&oldest);
        }
        self.opened += 1;
        let id = ids::new_id(CURSOR_PREFIX, self.opened);
        let cursor = Cursor {
            user_id: user_id.to_string(),
            total_size: result.total_size,
            records: result.records,
            batch_size,
            last_used: now,
        };
        self.open.insert(id.clone(), cursor);
        id
    }
}

/// One page: `{"totalSize","done","nextRecordsUrl"?,"records"}`.
fn page(total_size: usize, records: &[Value], next_records_url: Option<String>) -> Value {
    let mut body = json!({"totalSize": total_size, "done": next_records_url.is_none(), "records": records});
    if let Some(url) = next_records_url {
        body["nextRecordsUrl"] = json!(url);
    }
    body
}

fn next_url(request: &ApiRequest, include_deleted: bool, cursor: &str, offset: usize) -> String {
    let resource = if include_deleted { "queryAll" } else { "query" };
    format!("/services/data/v{}/{resource}/{cursor}-{offset}", request.version)
}

/// `GET /query?q=` and `/queryAll?q=`: the first page.
pub(crate) fn first_page(
    org: &mut Org,
    user: &str,
    request: &ApiRequest,
    include_deleted: bool,
) -> Result<ApiResponse, Vec<SfError>> {
    let Some(soql) = request.param("q").filter(|q| !q.trim().is_empty()) else {
        return Err(vec![SfError::malformed_query("A query string has to be specified")]);
    };
    let ctx = org.query_context(user, &request.version);
    let result = org.db.query(soql, include_deleted, &ctx).map_err(|e| vec![e])?;
    let batch_size = request.batch_size.unwrap_or(MAX_BATCH_SIZE);
    if result.records.len() <= batch_size {
        return Ok(ApiResponse::ok(page(result.total_size, &result.records, None)));
    }
    let cursor = org.cursors.open(user, result, batch_size, ctx.now);
    next_page(org, user, request, &format!("{cursor}-0"), include_deleted)
}

/// `GET /query/{cursor}-{offset}`: the page starting at `offset`.
pub(crate) fn next_page(
    org: &mut Org,
    user: &str,
    request: &ApiRequest,
    locator: &str,
    include_deleted: bool,
) -> Result<ApiResponse, Vec<SfError>> {
    let invalid = || vec![SfError::new(400, "INVALID_QUERY_LOCATOR", "invalid query locator")];
    let (cursor_id, offset) = locator.rsplit_once('-').ok_or_else(invalid)?;
    let offset: usize = offset.parse().map_err(|_| invalid())?;
    let now = org.clock.now();
    let cursor = org
        .cursors
        .open
        .get_mut(cursor_id)
        .filter(|c| c.user_id == user && now - c.last_used < CURSOR_IDLE_TIMEOUT)
        .ok_or_else(invalid)?;
    if offset > cursor.records.len() {
        return Err(invalid());
    }
    cursor.last_used = now;
    let end = (offset + cursor.batch_size).min(cursor.records.len());
    let next = (end < cursor.records.len()).then(|| next_url(request, include_deleted, cursor_id, end));
    Ok(ApiResponse::ok(page(cursor.total_size, &cursor.records[offset..end], next)))
}

/// `GET /search?q=` (SOSL).
pub(crate) fn search(org: &mut Org, user: &str, request: &ApiRequest) -> Result<ApiResponse, Vec<SfError>> {
    let Some(sosl) = request.param("q").filter(|q| !q.trim().is_empty()) else {
        return Err(vec![SfError::malformed_search(
            "No search term found. The search term must be enclosed in braces.",
        )]);
    };
    run_search(org, user, request, sosl)
}

fn run_search(org: &Org, user: &str, request: &ApiRequest, sosl: &str) -> Result<ApiResponse, Vec<SfError>> {
    let ctx = org.query_context(user, &request.version);
    let records = org.db.search(sosl, &ctx).map_err(|e| vec![e])?;
    Ok(ApiResponse::ok(json!({"searchRecords": records})))
}

/// `GET /parameterizedSearch?q=term&sobject=Contact&Contact.fields=Id,Name&in=ALL`:
/// a SOSL search built from parameters, so the term needs no escaping by the client.
pub(crate) fn parameterized_search(
    org: &mut Org,
    user: &str,
    request: &ApiRequest,
) -> Result<ApiResponse, Vec<SfError>> {
    let Some(term) = request.param("q").filter(|q| !q.trim().is_empty()) else {
        return Err(vec![SfError::new(400, "INVALID_SEARCH", "Search term must be specified with 'q' parameter")]);
    };
    let scope = match request.param("in").map(str::to_ascii_uppercase).as_deref() {
        None | Some("ALL") => "ALL",
        Some("NAME") => "NAME",
        Some("EMAIL") => "EMAIL",
        Some("PHONE") => "PHONE",
        Some(other) => {
            return Err(vec![SfError::new(
                400,
                "INVALID_SEARCH",
                format!("Invalid value for 'in' parameter: {other}"),
            )]);
        }
    };
    let mut returning = Vec::new();
    for object in request.query.iter().filter(|(k, _)| k == "sobject").map(|(_, v)| v.as_str()) {
        let fields = request.param(&format!("{object}.fields")).unwrap_or("Id");
        let limit = request.param(&format!("{object}.limit")).and_then(|l| l.parse::<u32>().ok());
        let limit = limit.map(|l| format!(" LIMIT {l}")).unwrap_or_default();
        returning.push(format!("{object}({fields}{limit})"));
    }
    let mut sosl = format!("FIND {{{}}} IN {scope} FIELDS", sosl_escape(term));
    if !returning.is_empty() {
        sosl.push_str(&format!(" RETURNING {}", returning.join(", ")));
    }
    if let Some(limit) = request.param("overallLimit").and_then(|l| l.parse::<u32>().ok()) {
        sosl.push_str(&format!(" LIMIT {limit}"));
    }
    run_search(org, user, request, &sosl)
}

/// Escapes SOSL's reserved characters with a backslash.
fn sosl_escape(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    for c in term.chars() {
        if "?&|!{}[]()^~*:\\\"'+-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sosl_reserved_characters_are_escaped() {
        assert_eq!(sosl_escape("a-b {c}"), "a\\-b \\{c\\}");
    }

    #[test]
    fn a_user_keeps_at_most_ten_cursors() {
        let mut cursors = QueryCursors::default();
        let now = Utc::now();
        let rows = || QueryResult { total_size: 1, records: vec![json!({})] };
        let first = cursors.open("005A", rows(), 200, now);
        for i in 1..=MAX_CURSORS_PER_USER {
            cursors.open("005A", rows(), 200, now + chrono::Duration::seconds(i as i64));
        }
        assert!(!cursors.open.contains_key(&first));
        assert_eq!(cursors.open.len(), MAX_CURSORS_PER_USER);
    }
}
