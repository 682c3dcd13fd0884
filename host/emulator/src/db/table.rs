//! One object's rows, and the indexes that let a query read a few of them
//! instead of all.
//!
//! Rows are kept in insertion order, which is also id order: one counter
//! numbers every id and base-62 digits sort like the counter. Alongside them:
//! - `by_id`: the row of each id (`Id = …`, `Id IN (…)`, every lookup by id);
//! - a **lookup index** per reference field (`ParentId` → its rows), for child
//!   subqueries, semi-joins, `ParentId IN (…)` and delete cascades;
//! - a **timeline** per system timestamp ([`TIMELINE_FIELDS`]): the rows in
//!   (timestamp, position) order, which is `ORDER BY CreatedDate, Id`, so a
//!   watermark query reads about `LIMIT` rows from the watermark on instead of
//!   sorting the table.
//!
//! Every change to a stored row goes through [`Table::change`], which keeps
//! the indexes current.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use chrono::{DateTime, Utc};

use super::{Record, Value};
use crate::schema::{FieldType, ObjectDef};

/// The timestamps every object has and sync queries order and filter by.
pub(crate) const TIMELINE_FIELDS: [&str; 2] = ["CreatedDate", "SystemModstamp"];

/// Reference fields left unindexed: every record has them and no query
/// looks records up by who wrote them, so an index would cost one entry per
/// record for nothing.
const AUDIT_REFERENCES: [&str; 3] = ["CreatedById", "LastModifiedById", "InsertedById"];

#[derive(Debug, Clone)]
pub(super) struct Table {
    rows: Vec<Record>,
    by_id: HashMap<String, usize>,
    lookups: Vec<Lookup>,
    timelines: Vec<Timeline>,
}

/// Rows by the id a reference field holds; each list in row order.
#[derive(Debug, Clone)]
struct Lookup {
    field: String,
    rows: HashMap<String, Vec<usize>>,
}

/// Rows in order of a timestamp field, ties in row (id) order.
#[derive(Debug, Clone)]
struct Timeline {
    field: &'static str,
    rows: BTreeSet<(DateTime<Utc>, usize)>,
}

/// The indexed values of one row, to see what a change moved.
#[derive(PartialEq)]
struct IndexKeys {
    references: Vec<Option<String>>,
    times: Vec<Option<DateTime<Utc>>>,
}

impl Table {
    /// An empty table indexing `object`'s reference fields as they are now
    /// (a custom lookup added after the first record is not indexed; queries
    /// on it read every row and find the same records).
    pub(super) fn new(object: &ObjectDef) -> Table {
        let lookups = object
            .fields
            .iter()
            .filter(|f| f.field_type == FieldType::Reference && !AUDIT_REFERENCES.contains(&f.name.as_str()))
            .map(|f| Lookup { field: f.name.clone(), rows: HashMap::new() })
            .collect();
        let timelines = TIMELINE_FIELDS
            .iter()
            .filter(|name| object.field(name).is_some())
            .map(|&field| Timeline { field, rows: BTreeSet::new() })
            .collect();
        Table { rows: Vec::new(), by_id: HashMap::new(), lookups, timelines }
    }

    pub(super) fn rows(&self) -> &[Record] {
        &self.rows
    }

    /// The row holding `id` (18 characters).
    pub(super) fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub(super) fn reserve(&mut self, additional: usize) {
        self.rows.reserve(additional);
        self.by_id.reserve(additional);
    }

    /// Appends a row and returns its position.
    pub(super) fn push(&mut self, record: Record) -> usize {
        let position = self.rows.len();
        self.by_id.insert(record.id.clone(), position);
        // The last position sorts last in every list: appended, and no key copied unless new.
        for lookup in &mut self.lookups {
            if let Some(id) = record.reference(&lookup.field) {
                match lookup.rows.get_mut(id) {
                    Some(rows) => rows.push(position),
                    None => {
                        lookup.rows.insert(id.to_string(), vec![position]);
                    }
                }
            }
        }
        for timeline in &mut self.timelines {
            if let Value::DateTime(at) = record.get(timeline.field) {
                timeline.rows.insert((*at, position));
            }
        }
        self.rows.push(record);
        position
    }

    /// Removes the last row (undoing its insert).
    pub(super) fn pop(&mut self) -> Option<Record> {
        let record = self.rows.pop()?;
        let position = self.rows.len();
        let keys = self.keys(&record);
        self.unindex(position, &keys, None);
        self.by_id.remove(&record.id);
        Some(record)
    }

    /// Changes the row at `position` through `f` and moves it in every index
    /// whose value it changed. The row's id must stay the same.
    pub(super) fn change<R>(&mut self, position: usize, f: impl FnOnce(&mut Record) -> R) -> R {
        let before = self.keys(&self.rows[position]);
        let out = f(&mut self.rows[position]);
        let after = self.keys(&self.rows[position]);
        if before != after {
            self.unindex(position, &before, Some(&after));
            self.index(position, &after, Some(&before));
        }
        out
    }

    /// The rows whose reference `field` holds `id`, in row order; `None` when
    /// the field has no index.
    pub(super) fn referencing(&self, field: &str, id: &str) -> Option<&[usize]> {
        let lookup = self.lookups.iter().find(|l| l.field == field)?;
        Some(lookup.rows.get(id).map_or(&[][..], Vec::as_slice))
    }

    /// Whether `field` has a lookup index.
    pub(super) fn has_lookup(&self, field: &str) -> bool {
        self.lookups.iter().any(|l| l.field == field)
    }

    /// The rows whose timestamp `field` lies within the bounds, in (timestamp,
    /// id) order; `None` when the field has no timeline.
    pub(super) fn timeline(
        &self,
        field: &str,
        from: Bound<DateTime<Utc>>,
        to: Bound<DateTime<Utc>>,
    ) -> Option<impl DoubleEndedIterator<Item = usize> + '_> {
        let timeline = self.timelines.iter().find(|t| t.field == field)?;
        // Positions bracket every row at a given instant: (t, 0) is before them, (t, MAX) after.
        let from = match from {
            Bound::Included(t) => Bound::Included((t, 0)),
            Bound::Excluded(t) => Bound::Excluded((t, usize::MAX)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let to = match to {
            Bound::Included(t) => Bound::Included((t, usize::MAX)),
            Bound::Excluded(t) => Bound::Excluded((t, 0)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let key = |b: &Bound<(DateTime<Utc>, usize)>| match b {
            Bound::Included(k) | Bound::Excluded(k) => Some(*k),
            Bound::Unbounded => None,
        };
        let range = match (key(&from), key(&to)) {
            // `BTreeSet::range` panics on a reversed range; nothing lies in one.
            (Some(start), Some(end)) if start > end => timeline.rows.range(..(DateTime::<Utc>::MIN_UTC, 0)),
            _ => timeline.rows.range((from, to)),
        };
        Some(range.map(|&(_, position)| position))
    }

    fn keys(&self, record: &Record) -> IndexKeys {
        IndexKeys {
            references: self.lookups.iter().map(|l| record.reference(&l.field).map(str::to_string)).collect(),
            times: self
                .timelines
                .iter()
                .map(|t| match record.get(t.field) {
                    Value::DateTime(at) => Some(*at),
                    _ => None,
                })
                .collect(),
        }
    }

    /// Adds `position` under `keys`, skipping the values `unchanged` already has.
    fn index(&mut self, position: usize, keys: &IndexKeys, unchanged: Option<&IndexKeys>) {
        for (i, lookup) in self.lookups.iter_mut().enumerate() {
            if unchanged.is_some_and(|u| u.references[i] == keys.references[i]) {
                continue;
            }
            if let Some(id) = &keys.references[i] {
                let rows = lookup.rows.entry(id.clone()).or_default();
                if let Err(at) = rows.binary_search(&position) {
                    rows.insert(at, position);
                }
            }
        }
        for (i, timeline) in self.timelines.iter_mut().enumerate() {
            if unchanged.is_some_and(|u| u.times[i] == keys.times[i]) {
                continue;
            }
            if let Some(at) = keys.times[i] {
                timeline.rows.insert((at, position));
            }
        }
    }

    /// Removes `position` from under `keys`, keeping the values `unchanged` still has.
    fn unindex(&mut self, position: usize, keys: &IndexKeys, unchanged: Option<&IndexKeys>) {
        for (i, lookup) in self.lookups.iter_mut().enumerate() {
            if unchanged.is_some_and(|u| u.references[i] == keys.references[i]) {
                continue;
            }
            if let Some(id) = &keys.references[i]
                && let Some(rows) = lookup.rows.get_mut(id)
            {
                if let Ok(at) = rows.binary_search(&position) {
                    rows.remove(at);
                }
                if rows.is_empty() {
                    lookup.rows.remove(id);
                }
            }
        }
        for (i, timeline) in self.timelines.iter_mut().enumerate() {
            if unchanged.is_some_and(|u| u.times[i] == keys.times[i]) {
                continue;
            }
            if let Some(at) = keys.times[i] {
                timeline.rows.remove(&(at, position));
            }
        }
    }
}
