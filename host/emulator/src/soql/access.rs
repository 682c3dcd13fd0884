//! Which rows a query reads: every row, the few an index finds, or the rows
//! of a timeline in ORDER BY order from the watermark on.
//!
//! The filter is still evaluated on every row read, so an access path only
//! decides the cost of a query, never its result. Three paths:
//! - **scan**: every row of the object;
//! - **positions**: the rows `Id = …`, `Id IN (…)`, `ParentId = …`,
//!   `ParentId IN (…)` or a semi-join on an indexed lookup can match, found
//!   through `by_id` and the lookup indexes;
//! - **timeline**: for `ORDER BY CreatedDate|SystemModstamp [, Id]`, rows
//!   already in that order, from the lower bound the filter puts on the
//!   timestamp (a keyset condition `(Stamp > T OR (Stamp = T AND Id > x))`
//!   starts at T), read until the page is full.

use std::ops::Bound;

use chrono::{DateTime, Utc};

use super::ast::CompareOp;
use super::plan::{Filter, Operand, SortKey, Test};
use crate::db::{Database, TIMELINE_FIELDS, Value};

/// An index narrows a query only when it keeps at most this fraction (1/4)
/// of the rows: past that, reading them through the index costs about what
/// reading them all does, and collecting the positions costs more.
const NARROWING_WORTH: usize = 4;

#[cfg(test)]
thread_local! {
    /// Makes every query on this thread scan, so tests can check that the
    /// indexes change the cost of a query and never its result.
    pub(crate) static SCAN_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// How a query reads its object's rows.
#[derive(Debug, PartialEq)]
pub enum Access {
    /// Every row, in insertion order.
    Scan,
    /// These positions, in insertion order.
    Positions(Vec<usize>),
    /// The rows of the timeline of `field` within the bounds, in (timestamp, id) order.
    Timeline { field: &'static str, from: Bound<DateTime<Utc>>, to: Bound<DateTime<Utc>> },
}

/// The cheapest way to read the rows of `object` a query needs. `order` is
/// its ORDER BY and `wanted` how many rows in that order it needs at most
/// (OFFSET + LIMIT); a query whose order does not matter passes no order.
pub fn choose(
    db: &Database,
    object: &str,
    filter: Option<&Filter>,
    order: &[SortKey],
    wanted: Option<usize>,
) -> Access {
    #[cfg(test)]
    if SCAN_ONLY.get() {
        return Access::Scan;
    }
    let total = db.rows(object).len();
    let positions = filter.and_then(|f| positions(db, object, f, total / NARROWING_WORTH));
    let Some(field) = timeline_order(order) else {
        return positions.map_or(Access::Scan, Access::Positions);
    };
    // Reading the timeline visits about `wanted` rows per share of matching
    // rows (all of them without a LIMIT); the alternative sorts the matches.
    let matches = positions.as_ref().map_or(total, Vec::len).max(1);
    let visits = wanted.map_or(total, |w| w.saturating_mul(total) / matches).min(total);
    let sorting = matches.saturating_mul(usize::BITS as usize - matches.leading_zeros() as usize);
    match positions {
        Some(positions) if sorting <= visits => Access::Positions(positions),
        _ => {
            let (from, to) = filter.map_or((Bound::Unbounded, Bound::Unbounded), |f| bounds(f, field));
            Access::Timeline { field, from, to }
        }
    }
}

/// The rows a condition can match, through `by_id` and the lookup indexes,
/// sorted; `None` when no index narrows them to at most `budget` rows.
fn positions(db: &Database, object: &str, filter: &Filter, budget: usize) -> Option<Vec<usize>> {
    match filter {
        Filter::And(terms) => {
            let mut best: Option<Vec<usize>> = None;
            for term in terms {
                let budget = best.as_ref().map_or(budget, |b| b.len().saturating_sub(1));
                if let Some(found) = positions(db, object, term, budget) {
                    best = Some(found);
                }
            }
            best
        }
        Filter::Or(terms) => {
            let mut all = Vec::new();
            for term in terms {
                all.extend(positions(db, object, term, budget.saturating_sub(all.len()))?);
            }
            Some(sorted(all))
        }
        Filter::Not(_) => None,
        Filter::Test(field, test) => {
            if !field.hops.is_empty() || field.entity_type {
                return None;
            }
            let ids: Vec<&str> = match test {
                // `= null` has no index entry to look up.
                Test::Compare(CompareOp::Eq, operand) => vec![id_of(operand)?],
                Test::In { negated: false, operands } => operands.iter().map(id_of).collect::<Option<_>>()?,
                Test::IdSet { negated: false, ids } => ids.iter().map(String::as_str).collect(),
                _ => return None,
            };
            if ids.len() > budget {
                return None;
            }
            let mut found = Vec::new();
            if field.name == "Id" {
                found.extend(ids.iter().filter_map(|id| db.position(object, id)));
            } else {
                if !field.field_type().is_id() || !db.has_lookup(object, &field.name) {
                    return None;
                }
                for id in ids {
                    found.extend_from_slice(db.lookup(object, &field.name, id)?);
                    if found.len() > budget {
                        return None;
                    }
                }
            }
            Some(sorted(found))
        }
    }
}

fn sorted(mut positions: Vec<usize>) -> Vec<usize> {
    positions.sort_unstable();
    positions.dedup();
    positions
}

/// The id an `=`/`IN` operand names (ids are normalized to 18 characters by the planner).
fn id_of(operand: &Operand) -> Option<&str> {
    match operand {
        Operand::Value(Value::Text(id)) => Some(id),
        _ => None,
    }
}

/// The timeline field whose order is the query's: `ORDER BY F [ASC]` or
/// `ORDER BY F [ASC], Id [ASC]` (ties on F come in id order either way).
fn timeline_order(order: &[SortKey]) -> Option<&'static str> {
    let own_ascending = |k: &SortKey| k.field.hops.is_empty() && !k.field.entity_type && !k.descending;
    let (first, rest) = order.split_first()?;
    let field = TIMELINE_FIELDS.into_iter().find(|f| own_ascending(first) && first.field.name == *f)?;
    match rest {
        [] => Some(field),
        [then] if own_ascending(then) && then.field.name == "Id" => Some(field),
        _ => None,
    }
}

/// The range of `field` a row must lie in to pass the condition (a hull:
/// rows inside can still fail it).
fn bounds(filter: &Filter, field: &str) -> (Bound<DateTime<Utc>>, Bound<DateTime<Utc>>) {
    const ALL: (Bound<DateTime<Utc>>, Bound<DateTime<Utc>>) = (Bound::Unbounded, Bound::Unbounded);
    match filter {
        Filter::And(terms) => terms.iter().map(|t| bounds(t, field)).fold(ALL, |(lo, hi), (l, h)| {
            (tighter(lo, l, std::cmp::Ordering::Greater), tighter(hi, h, std::cmp::Ordering::Less))
        }),
        Filter::Or(terms) => {
            let mut hull = terms.iter().map(|t| bounds(t, field));
            let first = hull.next().unwrap_or(ALL);
            hull.fold(first, |(lo, hi), (l, h)| {
                (looser(lo, l, std::cmp::Ordering::Less), looser(hi, h, std::cmp::Ordering::Greater))
            })
        }
        Filter::Test(f, Test::Compare(op, operand)) if f.hops.is_empty() && f.name == field => {
            let instant = |v: &Value| match v {
                Value::DateTime(t) => Some(*t),
                _ => None,
            };
            match operand {
                Operand::Value(v) => match (instant(v), op) {
                    (Some(t), CompareOp::Eq) => (Bound::Included(t), Bound::Included(t)),
                    (Some(t), CompareOp::Gt) => (Bound::Excluded(t), Bound::Unbounded),
                    (Some(t), CompareOp::Ge) => (Bound::Included(t), Bound::Unbounded),
                    (Some(t), CompareOp::Lt) => (Bound::Unbounded, Bound::Excluded(t)),
                    (Some(t), CompareOp::Le) => (Bound::Unbounded, Bound::Included(t)),
                    _ => ALL,
                },
                // A date literal: `[start, end)`, compared as `compare_test` does.
                Operand::Range(start, end) => match (instant(start), instant(end), op) {
                    (Some(s), Some(e), CompareOp::Eq) => (Bound::Included(s), Bound::Excluded(e)),
                    (Some(_), Some(e), CompareOp::Gt) => (Bound::Included(e), Bound::Unbounded),
                    (Some(s), Some(_), CompareOp::Ge) => (Bound::Included(s), Bound::Unbounded),
                    (Some(s), Some(_), CompareOp::Lt) => (Bound::Unbounded, Bound::Excluded(s)),
                    (Some(_), Some(e), CompareOp::Le) => (Bound::Unbounded, Bound::Excluded(e)),
                    _ => ALL,
                },
            }
        }
        _ => ALL,
    }
}

/// Of two bounds on the same side, the one that admits less: `towards` is
/// the direction a lower bound (Greater) or an upper bound (Less) tightens in.
fn tighter(a: Bound<DateTime<Utc>>, b: Bound<DateTime<Utc>>, towards: std::cmp::Ordering) -> Bound<DateTime<Utc>> {
    match (a, b) {
        (Bound::Unbounded, x) | (x, Bound::Unbounded) => x,
        (x, y) => {
            let (tx, ty) = (instant(x), instant(y));
            if tx.cmp(&ty) == towards || (tx == ty && matches!(x, Bound::Excluded(_))) { x } else { y }
        }
    }
}

/// Of two bounds on the same side, the one that admits more.
fn looser(a: Bound<DateTime<Utc>>, b: Bound<DateTime<Utc>>, towards: std::cmp::Ordering) -> Bound<DateTime<Utc>> {
    match (a, b) {
        (Bound::Unbounded, _) | (_, Bound::Unbounded) => Bound::Unbounded,
        (x, y) => {
            let (tx, ty) = (instant(x), instant(y));
            if tx.cmp(&ty) == towards || (tx == ty && matches!(x, Bound::Included(_))) { x } else { y }
        }
    }
}

fn instant(b: Bound<DateTime<Utc>>) -> DateTime<Utc> {
    match b {
        Bound::Included(t) | Bound::Excluded(t) => t,
        Bound::Unbounded => DateTime::<Utc>::MIN_UTC,
    }
}
