//! Runs a [`Plan`]: reads the object's rows the way [`access`] chooses,
//! filters, sorts, pages with OFFSET/LIMIT, aggregates, and renders records
//! as Salesforce JSON.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};

use super::access::{self, Access};
use super::ast::{AggregateFn, CompareOp};
use super::plan::*;
use crate::db::{Database, QueryResult, Record, Value, attributes, render_value};
use crate::schema::{FieldDef, FieldType, ObjectDef};

static NULL: Value = Value::Null;
static FALSE: Value = Value::Bool(false);

/// Runs a planned query; `also` further restricts the rows (SOSL's search match).
pub fn run(db: &Database, plan: &Plan<'_>, api_version: &str, also: &dyn Fn(&Record) -> bool) -> QueryResult {
    let filter = plan.filter.as_ref();
    match &plan.shape {
        Shape::CountAll => {
            let rows = matching(db, plan.object, plan.include_deleted, filter, also);
            QueryResult { total_size: page(&rows, plan.offset, plan.limit).len(), records: Vec::new() }
        }
        Shape::Records(projection) => {
            let rows = ordered_page(db, plan, also);
            let records: Vec<Json> =
                rows.iter().map(|r| render_record(db, plan.object, r, projection, api_version)).collect();
            QueryResult { total_size: records.len(), records }
        }
        Shape::Aggregate(agg) => {
            let rows = matching(db, plan.object, plan.include_deleted, filter, also);
            let results = aggregate(db, &rows, agg);
            let records: Vec<Json> = page(&results, plan.offset, plan.limit)
                .iter()
                .map(|values| {
                    let mut m = Map::new();
                    m.insert("attributes".into(), json!({"type": "AggregateResult"}));
                    for (column, value) in agg.columns.iter().zip(values).filter(|(c, _)| !c.hidden) {
                        m.insert(column.name.clone(), render_value(value));
                    }
                    Json::Object(m)
                })
                .collect();
            QueryResult { total_size: records.len(), records }
        }
    }
}

/// Every row of `object` passing `filter` and `also`, in insertion order
/// (the recycle bin only when `include_deleted`).
pub fn matching<'db>(
    db: &'db Database,
    object: &ObjectDef,
    include_deleted: bool,
    filter: Option<&Filter>,
    also: &dyn Fn(&Record) -> bool,
) -> Vec<&'db Record> {
    let rows = db.rows(&object.name);
    let passes = |r: &&Record| passes(db, r, include_deleted, filter) && also(r);
    match access::choose(db, &object.name, filter, &[], None) {
        Access::Positions(positions) => positions.iter().map(|&i| &rows[i]).filter(passes).collect(),
        Access::Scan | Access::Timeline { .. } => rows.iter().filter(passes).collect(),
    }
}

/// Whether a stored row is one a query sees: live (or `include_deleted`) and passing the filter.
fn passes(db: &Database, row: &Record, include_deleted: bool, filter: Option<&Filter>) -> bool {
    (include_deleted || !row.is_deleted()) && filter.is_none_or(|f| matches(db, row, f))
}

/// A record query's page: the matching rows in ORDER BY order, OFFSET
/// skipped, at most LIMIT of them.
fn ordered_page<'db>(db: &'db Database, plan: &Plan<'_>, also: &dyn Fn(&Record) -> bool) -> Vec<&'db Record> {
    let object = &plan.object.name;
    let rows = db.rows(object);
    let filter = plan.filter.as_ref();
    let passes = |r: &&Record| passes(db, r, plan.include_deleted, filter) && also(r);
    let wanted = plan.limit.map(|l| plan.offset.saturating_add(l));
    // Without ORDER BY any rows do: stop reading once the page is full.
    let enough = if plan.order.is_empty() { wanted.unwrap_or(usize::MAX) } else { usize::MAX };
    let mut found: Vec<&Record> = match access::choose(db, object, filter, &plan.order, wanted) {
        Access::Timeline { field, from, to } => match db.timeline(object, field, from, to) {
            // Already in ORDER BY order: read until the page is full.
            Some(in_order) => {
                let found: Vec<&Record> =
                    in_order.map(|i| &rows[i]).filter(passes).take(wanted.unwrap_or(usize::MAX)).collect();
                return page(&found, plan.offset, plan.limit).to_vec();
            }
            None => rows.iter().filter(passes).collect(),
        },
        Access::Positions(positions) => positions.iter().map(|&i| &rows[i]).filter(passes).take(enough).collect(),
        Access::Scan => rows.iter().filter(passes).take(enough).collect(),
    };
    sort_rows(db, &mut found, &plan.order, wanted);
    page(&found, plan.offset, plan.limit).to_vec()
}

fn page<T>(rows: &[T], offset: usize, limit: Option<usize>) -> &[T] {
    let start = offset.min(rows.len());
    let end = limit.map_or(rows.len(), |l| start.saturating_add(l).min(rows.len()));
    &rows[start..end]
}

/// The value at the end of a field path; null when a lookup on the way is
/// empty or points at a deleted record. A checkbox never reads as null, and
/// across a polymorphic lookup the fields of Salesforce's Name entity
/// behave as there: `Name` of a record without one reads its name field
/// (`What.Name` of a Case is its CaseNumber) and `Type` is the record's type.
pub fn resolve<'db>(db: &'db Database, record: &'db Record, field: &FieldRef) -> Cow<'db, Value> {
    let mut current = record;
    let mut object = None;
    for hop in &field.hops {
        match current.reference(&hop.field).and_then(|id| db.live_record(id)) {
            Some((o, parent)) => {
                current = parent;
                object = Some(o);
            }
            None => return Cow::Borrowed(&NULL),
        }
    }
    if field.entity_type {
        return match object {
            Some(o) => Cow::Owned(Value::Text(entity_type(o, current))),
            None => Cow::Borrowed(&NULL),
        };
    }
    let value = current.get(&field.name);
    if !value.is_null() {
        return Cow::Borrowed(value);
    }
    if field.field_type() == FieldType::Boolean {
        return Cow::Borrowed(&FALSE);
    }
    match object.and_then(|o| name_stand_in(o, &field.name)) {
        Some(name_field) => Cow::Borrowed(current.get(&name_field.name)),
        None => Cow::Borrowed(value),
    }
}

/// The Name entity's `Type`: the object's name, or `Queue` for a queue.
fn entity_type(object: &ObjectDef, record: &Record) -> String {
    match (object.name.as_str(), record.get("Type")) {
        ("Group", Value::Text(t)) => t.clone(),
        _ => object.name.clone(),
    }
}

/// The field standing in for `Name` on an object without one.
fn name_stand_in<'o>(object: &'o ObjectDef, requested: &str) -> Option<&'o FieldDef> {
    (requested == "Name" && object.field("Name").is_none()).then(|| object.name_field()).flatten()
}

/// Whether a record passes a compiled WHERE condition.
pub fn matches(db: &Database, record: &Record, filter: &Filter) -> bool {
    match filter {
        Filter::And(terms) => terms.iter().all(|t| matches(db, record, t)),
        Filter::Or(terms) => terms.iter().any(|t| matches(db, record, t)),
        Filter::Not(inner) => !matches(db, record, inner),
        Filter::Test(field, test) => {
            let value = &*resolve(db, record, field);
            let ci = field.field_type().is_text();
            match test {
                Test::Compare(op, operand) => compare_test(value, *op, operand, ci),
                Test::In { negated, operands } => {
                    operands.iter().any(|o| compare_test(value, CompareOp::Eq, o, ci)) != *negated
                }
                Test::IdSet { negated, ids } => value.as_str().is_some_and(|id| ids.contains(id)) != *negated,
                Test::Member { negated, inner } => value.as_str().is_some_and(|id| selects(db, inner, id)) != *negated,
                Test::Like(pattern) => {
                    value.as_str().is_some_and(|s| like(&s.to_lowercase().chars().collect::<Vec<_>>(), pattern))
                }
                Test::Includes { excludes, groups } => {
                    let selected: Vec<String> =
                        value.as_str().unwrap_or("").split(';').map(|s| s.trim().to_lowercase()).collect();
                    let hit = groups.iter().any(|g| g.iter().all(|v| selected.contains(v)));
                    hit != *excludes
                }
            }
        }
    }
}

/// Whether a semi-join's inner query would select `id`: the inner record
/// with that id, or one of the inner records referencing it, is live and
/// passes the inner condition.
fn selects(db: &Database, inner: &SemiJoin, id: &str) -> bool {
    let rows = db.rows(&inner.object);
    let passes = |p: &usize| rows.get(*p).is_some_and(|r| passes(db, r, false, inner.filter.as_ref()));
    match &inner.through {
        None => db.position(&inner.object, id).as_ref().is_some_and(passes),
        Some(field) => db.lookup(&inner.object, field, id).is_some_and(|positions| positions.iter().any(passes)),
    }
}

/// One comparison, with SOQL's null rules: `= null` matches nulls, `!= x`
/// matches nulls, and ordering comparisons never match them.
fn compare_test(value: &Value, op: CompareOp, operand: &Operand, ci: bool) -> bool {
    match operand {
        Operand::Value(Value::Null) => match op {
            CompareOp::Eq => value.is_null(),
            CompareOp::Ne => !value.is_null(),
            _ => false,
        },
        _ if value.is_null() => op == CompareOp::Ne,
        Operand::Value(target) => {
            let Some(ord) = compare_values(value, target, ci) else {
                return false;
            };
            match op {
                CompareOp::Eq => ord == Ordering::Equal,
                CompareOp::Ne => ord != Ordering::Equal,
                CompareOp::Lt => ord == Ordering::Less,
                CompareOp::Le => ord != Ordering::Greater,
                CompareOp::Gt => ord == Ordering::Greater,
                CompareOp::Ge => ord != Ordering::Less,
                CompareOp::Like => false,
            }
        }
        Operand::Range(start, end) => {
            let (Some(from_start), Some(from_end)) =
                (compare_values(value, start, false), compare_values(value, end, false))
            else {
                return false;
            };
            let inside = from_start != Ordering::Less && from_end == Ordering::Less;
            match op {
                CompareOp::Eq => inside,
                CompareOp::Ne => !inside,
                CompareOp::Lt => from_start == Ordering::Less,
                CompareOp::Le => from_end == Ordering::Less,
                CompareOp::Gt => from_end != Ordering::Less,
                CompareOp::Ge => from_start != Ordering::Less,
                CompareOp::Like => false,
            }
        }
    }
}

/// Orders two non-null values of compatible types; text case-insensitively when `ci`.
pub fn compare_values(a: &Value, b: &Value, ci: bool) -> Option<Ordering> {
    Some(match (a, b) {
        (Value::Text(x), Value::Text(y)) if ci => {
            x.chars().flat_map(char::to_lowercase).cmp(y.chars().flat_map(char::to_lowercase))
        }
        (Value::Text(x), Value::Text(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Int(x), Value::Double(y)) => (*x as f64).partial_cmp(y)?,
        (Value::Double(x), Value::Int(y)) => x.partial_cmp(&(*y as f64))?,
        (Value::Double(x), Value::Double(y)) => x.partial_cmp(y)?,
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Date(x), Value::Date(y)) => x.cmp(y),
        (Value::DateTime(x), Value::DateTime(y)) => x.cmp(y),
        (Value::Time(x), Value::Time(y)) => x.cmp(y),
        _ => return None,
    })
}

/// Sort order for ORDER BY: nulls placed as asked, text case-insensitive
/// when `ci` (text fields; ids sort case-sensitively, as `Id > '…'` compares them).
fn order_values(a: &Value, b: &Value, descending: bool, nulls_first: bool, ci: bool) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => {
            if nulls_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (false, true) => {
            if nulls_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (false, false) => {
            let ord = compare_values(a, b, ci).unwrap_or(Ordering::Equal);
            if descending { ord.reverse() } else { ord }
        }
    }
}

/// Stable sort by the keys: rows tying on every key keep the order they came
/// in. With `keep`, only that many first rows are needed: they are picked
/// out before sorting, which for a LIMIT-ed page of a large result is far
/// cheaper than sorting it all.
fn sort_rows<'db>(db: &'db Database, rows: &mut Vec<&'db Record>, keys: &[SortKey], keep: Option<usize>) {
    if keys.is_empty() {
        return;
    }
    type Keyed<'a> = (Vec<Cow<'a, Value>>, usize, &'a Record);
    let mut keyed: Vec<Keyed<'db>> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (keys.iter().map(|k| resolve(db, r, &k.field)).collect(), i, *r))
        .collect();
    let order = |(a, i, _): &Keyed<'_>, (b, j, _): &Keyed<'_>| {
        keys.iter()
            .zip(a.iter().zip(b.iter()))
            .map(|(k, (x, y))| order_values(x, y, k.descending, k.nulls_first, k.field.field_type().is_text()))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or_else(|| i.cmp(j))
    };
    match keep {
        Some(0) => keyed.clear(),
        Some(keep) if keep < keyed.len() => {
            keyed.select_nth_unstable_by(keep - 1, order);
            keyed.truncate(keep);
        }
        _ => {}
    }
    // The position breaks every tie, so an unstable sort gives the stable order.
    keyed.sort_unstable_by(order);
    *rows = keyed.into_iter().map(|(_, _, r)| r).collect();
}

/// A record as query results show it: `attributes`, then the columns in SELECT order.
fn render_record(
    db: &Database,
    obj: &ObjectDef,
    record: &Record,
    projection: &Projection<'_>,
    api_version: &str,
) -> Json {
    let mut m = Map::new();
    m.insert("attributes".into(), attributes(obj, &record.id, api_version));
    for column in &projection.columns {
        match column {
            Column::Field(name) => {
                let value = match obj.field(name).or_else(|| name_stand_in(obj, name)) {
                    Some(def) => db.render_field(obj, record, def, api_version),
                    // A polymorphic parent of a type without this field.
                    None => Json::Null,
                };
                m.insert(name.clone(), value);
            }
            Column::EntityType => {
                m.insert("Type".into(), Json::String(entity_type(obj, record)));
            }
            Column::Parent { relationship, field, sub } => {
                let parent = record.reference(field).and_then(|id| db.live_record(id));
                let value = parent.map_or(Json::Null, |(o, r)| render_record(db, o, r, sub, api_version));
                m.insert(relationship.clone(), value);
            }
            Column::Children(child) => {
                let rows: Vec<&Record> = match &child.by_parent {
                    Some(groups) => groups.get(record.id.as_str()).cloned().unwrap_or_default(),
                    None => db
                        .rows_referencing(&child.object.name, &child.field, &record.id)
                        .into_iter()
                        .filter(|r| passes(db, r, child.include_deleted, child.filter.as_ref()))
                        .collect(),
                };
                let value = match rows {
                    mut rows if !rows.is_empty() => {
                        let wanted = child.limit.map(|l| child.offset.saturating_add(l));
                        sort_rows(db, &mut rows, &child.order, wanted);
                        let records: Vec<Json> = page(&rows, child.offset, child.limit)
                            .iter()
                            .map(|r| render_record(db, child.object, r, &child.projection, api_version))
                            .collect();
                        if records.is_empty() {
                            Json::Null
                        } else {
                            json!({"totalSize": records.len(), "done": true, "records": records})
                        }
                    }
                    _ => Json::Null,
                };
                m.insert(child.relationship.clone(), value);
            }
        }
    }
    Json::Object(m)
}

/// Groups rows and computes each column; returns one value list per group,
/// sorted by the plan's ORDER BY.
fn aggregate(db: &Database, rows: &[&Record], agg: &AggregatePlan) -> Vec<Vec<Value>> {
    let mut groups: Vec<(Vec<Cow<'_, Value>>, Vec<&Record>)> = Vec::new();
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    for row in rows {
        let values: Vec<Cow<'_, Value>> = agg.group_by.iter().map(|g| resolve(db, row, g)).collect();
        let key: Vec<String> = values.iter().map(|v| group_key(v)).collect();
        let i = *index.entry(key).or_insert_with(|| {
            groups.push((values, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(row);
    }
    if agg.group_by.is_empty() && groups.is_empty() {
        groups.push((Vec::new(), Vec::new()));
    }
    let mut results: Vec<Vec<Value>> = groups
        .iter()
        .map(|(keys, members)| {
            agg.columns
                .iter()
                .map(|c| match &c.source {
                    AggregateSource::Group(i) => keys[*i].clone().into_owned(),
                    AggregateSource::Aggregate(func, field) => {
                        let values: Vec<Cow<'_, Value>> =
                            members.iter().map(|r| resolve(db, r, field)).filter(|v| !v.is_null()).collect();
                        let values: Vec<&Value> = values.iter().map(|v| &**v).collect();
                        aggregate_values(*func, &values, field.field_type().is_text())
                    }
                })
                .collect()
        })
        .collect();
    if !agg.order.is_empty() {
        results.sort_by(|a, b| {
            agg.order
                .iter()
                .map(|k| {
                    let ci = column_is_text(agg, k.column);
                    order_values(&a[k.column], &b[k.column], k.descending, k.nulls_first, ci)
                })
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
    }
    results
}

/// Text groups case-insensitively, as Salesforce does.
fn group_key(v: &Value) -> String {
    match v {
        Value::Text(s) => format!("t:{}", s.to_lowercase()),
        other => format!("{other:?}"),
    }
}

/// Whether an aggregate result column holds text (compared case-insensitively).
fn column_is_text(agg: &AggregatePlan, column: usize) -> bool {
    match &agg.columns[column].source {
        AggregateSource::Group(i) => agg.group_by[*i].field_type().is_text(),
        AggregateSource::Aggregate(_, field) => field.field_type().is_text(),
    }
}

/// One aggregate over a group's non-null values; `ci` compares text case-insensitively.
fn aggregate_values(func: AggregateFn, values: &[&Value], ci: bool) -> Value {
    let numbers = || {
        values.iter().filter_map(|v| match v {
            Value::Int(i) => Some(*i as f64),
            Value::Double(d) => Some(*d),
            _ => None,
        })
    };
    match func {
        AggregateFn::Count => Value::Int(values.len() as i64),
        AggregateFn::CountDistinct => {
            let mut keys: Vec<String> = values.iter().map(|v| group_key(v)).collect();
            keys.sort();
            keys.dedup();
            Value::Int(keys.len() as i64)
        }
        AggregateFn::Sum if values.is_empty() => Value::Null,
        AggregateFn::Sum if values.iter().all(|v| matches!(v, Value::Int(_))) => Value::Int(
            values.iter().map(|v| if let Value::Int(i) = v { *i } else { 0 }).fold(0i64, i64::saturating_add),
        ),
        AggregateFn::Sum => Value::Double(numbers().sum()),
        AggregateFn::Avg if values.is_empty() => Value::Null,
        AggregateFn::Avg => Value::Double(numbers().sum::<f64>() / values.len() as f64),
        AggregateFn::Min | AggregateFn::Max => {
            let pick = values.iter().copied().reduce(|best, v| {
                let ord = compare_values(v, best, ci).unwrap_or(Ordering::Equal);
                let better = if func == AggregateFn::Min { ord == Ordering::Less } else { ord == Ordering::Greater };
                if better { v } else { best }
            });
            pick.cloned().unwrap_or(Value::Null)
        }
    }
}

/// SQL-style LIKE over lower-cased characters, `%` any run and `_` one character.
fn like(text: &[char], pattern: &[LikeToken]) -> bool {
    let (mut t, mut p) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(LikeToken::One) => {
                t += 1;
                p += 1;
            }
            Some(LikeToken::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(LikeToken::Any) => {
                backtrack = Some((p, t));
                p += 1;
            }
            _ => match backtrack {
                Some((star, from)) => {
                    backtrack = Some((star, from + 1));
                    p = star + 1;
                    t = from + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|tok| *tok == LikeToken::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> Vec<LikeToken> {
        s.chars()
            .map(|c| match c {
                '%' => LikeToken::Any,
                '_' => LikeToken::One,
                c => LikeToken::Char(c),
            })
            .collect()
    }

    #[test]
    fn like_handles_runs_single_characters_and_backtracking() {
        let m = |text: &str, pat: &str| like(&text.chars().collect::<Vec<_>>(), &pattern(pat));
        assert!(m("hello world", "hello%"));
        assert!(m("hello world", "%world"));
        assert!(m("hello world", "%o w%"));
        assert!(m("hello", "h_llo"));
        assert!(!m("hello", "h_lo"));
        assert!(m("", "%"));
        assert!(!m("", "_"));
        assert!(m("aaab", "%a%ab"));
        assert!(!m("abc", "abcd"));
        assert!(m("mississippi", "%iss%pi"));
    }
}
