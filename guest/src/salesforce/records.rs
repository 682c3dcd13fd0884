//! People and company records on the wire (Contact, Lead, Account, C1/C2):
//! the changes since a point, the lookups that match a platform record,
//! and the updates that carry mapped values.

use serde_json::{Map, Value};

use super::cases::{is_field_name, wire_fields};
use super::client::{ApiError, ClientError, RecordUpdate, SalesforceClient};
use super::escape::{soql_datetime, soql_like, soql_string};
use super::ids::canonical_id;
use super::transport::Transport;
use crate::convert::parse_datetime;
use crate::model::{Timestamp, WireField, WireValue};

/// Records read per object and query: one page of Salesforce's.
pub const RECORDS_PER_QUERY: usize = 200;

/// A record that changed, with the fields asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedRecord {
    /// 18 characters.
    pub id: String,
    pub modstamp: Timestamp,
    pub fields: Vec<WireField>,
}

/// Where a read of an object's changes continues: after this
/// `(SystemModstamp, Id)`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ChangesAfter {
    pub stamp: Timestamp,
    pub id: Option<String>,
}

/// The query for `object`'s records changed after `after`, oldest first, with
/// `fields` (checked API names; others are left out).
pub fn changes_query(object: &str, fields: &[&str], after: &ChangesAfter) -> String {
    let mut select = vec!["Id", "SystemModstamp"];
    for field in fields.iter().copied().filter(|f| is_field_name(f)) {
        if !select.contains(&field) {
            select.push(field);
        }
    }
    let stamp = soql_datetime(after.stamp);
    let condition = match &after.id {
        Some(id) => format!("SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > '{}')", soql_string(id)),
        None => format!("SystemModstamp >= {stamp}"),
    };
    format!(
        "SELECT {} FROM {object} WHERE {condition} ORDER BY SystemModstamp, Id LIMIT {RECORDS_PER_QUERY}",
        select.join(", ")
    )
}

/// Runs `(object, soql)` queries together (one composite call per five);
/// each object's records, in order.
pub fn read_changes<T: Transport>(
    client: &mut SalesforceClient<T>,
    queries: &[(String, String)],
) -> Result<Vec<(String, Vec<ChangedRecord>)>, ClientError> {
    Ok(client
        .query_many(queries)?
        .into_iter()
        .map(|(object, records)| (object, records.iter().filter_map(changed_record).collect()))
        .collect())
}

fn changed_record(record: &Value) -> Option<ChangedRecord> {
    let id = canonical_id(record.get("Id")?.as_str()?)?;
    let modstamp = parse_datetime(record.get("SystemModstamp")?.as_str()?)?;
    let fields = wire_fields(record).into_iter().filter(|f| f.name != "Id" && f.name != "SystemModstamp").collect();
    Some(ChangedRecord { id, modstamp, fields })
}

/// How a platform value is compared with a field: e-mail addresses
/// case-insensitively, `Website` by its domain, other text exactly.
pub fn normalized(field: &str, value: &str) -> String {
    let value = value.trim();
    if field.eq_ignore_ascii_case("Website") {
        domain_of(value)
    } else if field.eq_ignore_ascii_case("Email") || field.to_ascii_lowercase().ends_with("email") {
        value.to_lowercase()
    } else {
        value.to_string()
    }
}

/// `https://www.Acme.com/about` → `acme.com`.
fn domain_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let host = host.split(':').next().unwrap_or_default().to_lowercase();
    host.strip_prefix("www.").unwrap_or(&host).to_string()
}

/// The lookup of `object` records whose `field` holds `value` (at most
/// three: two are enough to know it is ambiguous). A `Website` is looked up
/// by its domain, and the candidates are filtered by [`is_match`].
pub fn match_query(object: &str, field: &str, value: &str) -> Option<String> {
    if !is_field_name(field) {
        return None;
    }
    let wanted = normalized(field, value);
    if wanted.is_empty() {
        return None;
    }
    let condition = if field.eq_ignore_ascii_case("Website") {
        format!("{field} LIKE '%{}%'", soql_like(&wanted))
    } else {
        format!("{field} = '{}'", soql_string(&wanted))
    };
    let limit = if field.eq_ignore_ascii_case("Website") { 50 } else { 3 };
    Some(format!("SELECT Id, {field} FROM {object} WHERE {condition} ORDER BY Id LIMIT {limit}"))
}

/// The Ids of the records a match query found that really match `value`.
pub fn matched_ids(records: &[Value], field: &str, value: &str) -> Vec<String> {
    let wanted = normalized(field, value);
    records
        .iter()
        .filter(|r| r.get(field).and_then(Value::as_str).is_some_and(|found| normalized(field, found) == wanted))
        .filter_map(|r| canonical_id(r.get("Id")?.as_str()?))
        .collect()
}

/// Runs `(reference, soql)` lookups together; records per reference.
pub fn run_lookups<T: Transport>(
    client: &mut SalesforceClient<T>,
    lookups: &[(String, String)],
) -> Result<Vec<(String, Vec<Value>)>, ClientError> {
    client.query_many(lookups)
}

/// A value as Salesforce's JSON.
pub fn wire_json(value: &WireValue) -> Value {
    match value {
        WireValue::Null => Value::Null,
        WireValue::Text(text) => Value::String(text.clone()),
        WireValue::Boolean(b) => Value::Bool(*b),
        WireValue::Number(n) => serde_json::from_str(n).unwrap_or_else(|_| Value::String(n.clone())),
        WireValue::Compound(json) => serde_json::from_str(json).unwrap_or(Value::Null),
    }
}

/// Whether two values of one field are the same value: numbers by their
/// numeric value (Salesforce may answer `12.0` for `12`), the rest exactly.
pub fn same_value(a: &WireValue, b: &WireValue) -> bool {
    match (a, b) {
        (WireValue::Number(x), WireValue::Number(y)) => {
            x == y || matches!((x.parse::<f64>(), y.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
        }
        (WireValue::Text(x), WireValue::Null) | (WireValue::Null, WireValue::Text(x)) => x.is_empty(),
        _ => a == b,
    }
}

/// Updates `object` records' fields (one collection call per 200, not all
/// or none): one outcome per update, in order.
pub fn update_records<T: Transport>(
    client: &mut SalesforceClient<T>,
    updates: &[(String, String, Vec<WireField>)],
) -> Result<Vec<Result<(), ApiError>>, ClientError> {
    let records = updates
        .iter()
        .map(|(object, id, fields)| RecordUpdate {
            object: object.clone(),
            id: id.clone(),
            fields: fields.iter().map(|f| (f.name.clone(), wire_json(&f.value))).collect::<Map<String, Value>>(),
        })
        .collect();
    client.collection_update(records, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_changes_query_pages_by_stamp_and_id_and_checks_field_names() {
        let first = changes_query("Contact", &["Plan__c", "Email", "x; DROP"], &ChangesAfter::default());
        assert_eq!(
            first,
            "SELECT Id, SystemModstamp, Plan__c, Email FROM Contact WHERE SystemModstamp >= 1970-01-01T00:00:00Z ORDER BY SystemModstamp, Id LIMIT 200"
        );
        let next = changes_query("Lead", &[], &ChangesAfter { stamp: 0, id: Some("00Q' OR ''='".into()) });
        assert!(next.contains("Id > '00Q\\' OR \\'\\'=\\''"), "{next}");
    }

    #[test]
    fn lookups_escape_the_value_and_websites_match_by_domain() {
        let query = match_query("Contact", "Email", " Ann.O'Neil@Example.com ").unwrap();
        assert!(query.contains("Email = 'ann.o\\'neil@example.com'"), "{query}");
        let website = match_query("Account", "Website", "https://www.acme.com/about").unwrap();
        assert!(website.contains("Website LIKE '%acme.com%'"), "{website}");
        let records = vec![
            serde_json::json!({"Id": "001000000000001AAA", "Website": "http://acme.com"}),
            serde_json::json!({"Id": "001000000000002AAA", "Website": "https://notacme.com"}),
        ];
        assert_eq!(matched_ids(&records, "Website", "www.acme.com"), vec!["001000000000001AAA".to_string()]);
        assert_eq!(match_query("Contact", "Bad Field", "x"), None);
        assert_eq!(match_query("Contact", "Email", "  "), None);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(same_value(&WireValue::Number("12".into()), &WireValue::Number("12.0".into())));
        assert!(!same_value(&WireValue::Number("12".into()), &WireValue::Number("13".into())));
        assert!(same_value(&WireValue::Text(String::new()), &WireValue::Null));
        assert!(!same_value(&WireValue::Text("a".into()), &WireValue::Text("A".into())));
    }
}
