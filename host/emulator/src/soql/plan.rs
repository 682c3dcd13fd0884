//! Resolves a parsed query against the schema: names to canonical fields,
//! relationship paths to hops, literals to typed operands, child subqueries
//! to per-parent groups and semi-joins to id sets. Every "no such column",
//! "invalid ID field" and type-mismatch error is raised here, before any row
//! is read.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveTime};

use super::QueryError;
use super::access;
use super::ast::*;
use super::dates;
use super::eval;
use super::lexer::{Pos, unescape};
use crate::db::{Database, QueryContext, Record, Value};
use crate::error::SfError;
use crate::ids;
use crate::schema::{FieldDef, FieldType, ObjectDef};

/// Largest OFFSET Salesforce accepts.
pub const MAX_OFFSET: u64 = 2000;
/// `FIELDS(ALL)` and `FIELDS(CUSTOM)` need a LIMIT of at most this.
pub const FIELDS_ALL_LIMIT: u64 = 200;

/// A field reached from the queried object, possibly through parents.
#[derive(Debug, Clone)]
pub struct FieldRef {
    /// Parent lookups to follow, in order.
    pub hops: Vec<Hop>,
    /// The field's canonical name on the object the hops lead to.
    pub name: String,
    /// The field's definition (on the first target that has it, for polymorphic hops).
    pub def: Box<FieldDef>,
    /// Canonical dotted path for messages (`Account.Owner.Name`).
    pub dotted: String,
    /// `Type` across a polymorphic lookup: the record's object type, not a field.
    pub entity_type: bool,
}

impl FieldRef {
    pub fn field_type(&self) -> FieldType {
        self.def.field_type
    }

    fn same_as(&self, other: &FieldRef) -> bool {
        self.dotted.eq_ignore_ascii_case(&other.dotted)
    }
}

/// One parent lookup: read `field`, follow the id; rendered under `relationship`.
#[derive(Debug, Clone)]
pub struct Hop {
    pub field: String,
    pub relationship: String,
}

/// A query ready to run.
pub struct Plan<'db> {
    pub object: &'db ObjectDef,
    pub include_deleted: bool,
    pub filter: Option<Filter>,
    pub shape: Shape<'db>,
    pub order: Vec<SortKey>,
    pub offset: usize,
    pub limit: Option<usize>,
}

/// What a query returns.
pub enum Shape<'db> {
    /// Records with the selected fields.
    Records(Projection<'db>),
    /// `COUNT()`: only a total.
    CountAll,
    /// `AggregateResult` rows.
    Aggregate(AggregatePlan),
}

/// The selected columns of a record, in SELECT order; parent fields nest.
#[derive(Default)]
pub struct Projection<'db> {
    pub columns: Vec<Column<'db>>,
}

pub enum Column<'db> {
    /// A field of the record itself (canonical name).
    Field(String),
    /// `Type` of a record reached through a polymorphic lookup.
    EntityType,
    /// A parent record, rendered under the relationship name (or null).
    Parent { relationship: String, field: String, sub: Projection<'db> },
    /// A child subquery, rendered as a nested query result (or null).
    Children(Box<ChildPlan<'db>>),
}

/// A child subquery. Each parent's children are found through the lookup
/// index on `field` when rendering the parent; only an unindexed lookup
/// (a custom one added after its object's first record) groups them all
/// up front.
pub struct ChildPlan<'db> {
    pub relationship: String,
    pub object: &'db ObjectDef,
    /// The child's reference to the parent (`ParentId`).
    pub field: String,
    pub filter: Option<Filter>,
    pub include_deleted: bool,
    pub projection: Projection<'db>,
    pub order: Vec<SortKey>,
    pub offset: usize,
    pub limit: Option<usize>,
    /// The matching children by parent id, when `field` has no index.
    pub by_parent: Option<HashMap<&'db str, Vec<&'db Record>>>,
}

pub struct SortKey {
    pub field: FieldRef,
    pub descending: bool,
    pub nulls_first: bool,
}

/// A compiled WHERE condition.
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Test(FieldRef, Test),
}

pub enum Test {
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Compare(CompareOp, Operand),
    In {
        negated: bool,
        operands: Vec<Operand>,
    },
    /// A semi-join or anti-join run once, at planning: an index narrowed
    /// its inner query to a few rows, or none can test it per row.
    IdSet {
        negated: bool,
        ids: HashSet<String>,
    },
    /// A semi-join or anti-join whose inner query would read its whole
    /// object: instead, the value of each row the outer query reads is looked
    /// up in the inner object's indexes and tested against the inner
    /// condition. A keyset page reads a few hundred rows; running the inner
    /// query would collect every id of a big table first.
    Member {
        negated: bool,
        inner: Box<SemiJoin>,
    },
    Like(Vec<LikeToken>),
    /// INCLUDES/EXCLUDES: any group whose values are all selected.
    Includes {
        excludes: bool,
        groups: Vec<Vec<String>>,
    },
}

/// The inner query of a semi-join tested per value (see [`Test::Member`]).
pub struct SemiJoin {
    pub object: String,
    /// The indexed reference the inner query selects (`ParentId`), or `None`
    /// when it selects the inner object's `Id`.
    pub through: Option<String>,
    pub filter: Option<Filter>,
}

/// The right-hand side of a test.
pub enum Operand {
    Value(Value),
    /// A date literal: `[start, end)` as dates or midnight datetimes.
    Range(Value, Value),
}

/// A compiled LIKE pattern, lower-cased.
#[derive(Debug, Clone, PartialEq)]
pub enum LikeToken {
    /// `%`
    Any,
    /// `_`
    One,
    Char(char),
}

pub struct AggregatePlan {
    pub group_by: Vec<FieldRef>,
    pub columns: Vec<AggregateColumn>,
    pub order: Vec<AggregateSort>,
}

pub struct AggregateColumn {
    /// The JSON key: the alias, `exprN`, or the grouped field's name.
    pub name: String,
    pub source: AggregateSource,
    /// Only there for ORDER BY.
    pub hidden: bool,
}

pub enum AggregateSource {
    Group(usize),
    Aggregate(AggregateFn, FieldRef),
}

pub struct AggregateSort {
    pub column: usize,
    pub descending: bool,
    pub nulls_first: bool,
}

/// Resolves queries against one database at one moment.
pub struct Planner<'db, 'c> {
    pub db: &'db Database,
    pub ctx: &'c QueryContext,
    pub include_deleted: bool,
}

/// The object a query's names are resolved against, and the alias that may prefix them.
#[derive(Clone, Copy)]
pub struct Scope<'db, 'q> {
    pub object: &'db ObjectDef,
    pub alias: Option<&'q str>,
}

impl<'db, 'c> Planner<'db, 'c> {
    fn today(&self) -> NaiveDate {
        self.ctx.now.date_naive()
    }

    /// Plans a top-level query (also used for each SOSL `RETURNING` object).
    pub fn plan(&self, q: &Query) -> Result<Plan<'db>, QueryError> {
        let object = self.object(&q.from)?;
        let scope = Scope { object, alias: q.alias.as_deref() };
        if object.name == "ContentDocumentLink" {
            check_content_document_link_filter(q)?;
        }
        let filter = q.filter.as_ref().map(|c| self.filter(scope, c, false)).transpose()?;
        let (offset, limit) = window(q)?;
        let is_aggregate = !q.group_by.is_empty() || q.select.iter().any(|i| matches!(i, SelectItem::Aggregate(_)));
        let count_all = q.select.iter().find_map(|i| match i {
            SelectItem::CountAll(pos) => Some(*pos),
            _ => None,
        });
        if let Some(pos) = count_all {
            if q.select.len() > 1 || !q.group_by.is_empty() {
                return Err(QueryError::malformed(pos, "COUNT() must be the only element in the SELECT list".into()));
            }
            return Ok(Plan {
                object,
                include_deleted: self.include_deleted,
                filter,
                shape: Shape::CountAll,
                order: Vec::new(),
                offset,
                limit,
            });
        }
        if is_aggregate {
            let agg = self.aggregate(scope, q)?;
            return Ok(Plan {
                object,
                include_deleted: self.include_deleted,
                filter,
                shape: Shape::Aggregate(agg),
                order: Vec::new(),
                offset,
                limit,
            });
        }
        let projection = self.projection(scope, &q.select, q.limit)?;
        let order = self.sort_keys(scope, &q.order_by)?;
        Ok(Plan {
            object,
            include_deleted: self.include_deleted,
            filter,
            shape: Shape::Records(projection),
            order,
            offset,
            limit,
        })
    }

    /// The object `FROM` names, if the running user may read it: an object
    /// the user's profile cannot read is as unknown to a query as a
    /// misspelled one.
    fn object(&self, name: &Name) -> Result<&'db ObjectDef, QueryError> {
        let readable = |o: &&'db ObjectDef| self.db.object_access(&self.ctx.user_id, &o.name).read;
        self.db.schema().object(&name.text).filter(readable).ok_or_else(|| {
            QueryError::at(
                name.pos,
                "INVALID_TYPE",
                format!(
                    "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                    name.text
                ),
            )
        })
    }

    /// Resolves a dotted path: every part but the last is a parent relationship.
    pub fn resolve(&self, scope: Scope<'db, '_>, path: &Path) -> Result<FieldRef, QueryError> {
        let mut parts: &[String] = &path.parts;
        if parts.len() > 1 {
            let first = &parts[0];
            let is_alias = scope.alias.is_some_and(|a| a.eq_ignore_ascii_case(first));
            let is_own_name =
                first.eq_ignore_ascii_case(&scope.object.name) && scope.object.field_by_relationship(first).is_none();
            if is_alias || is_own_name {
                parts = &parts[1..];
            }
        }
        let schema = self.db.schema();
        let mut current: Vec<&ObjectDef> = vec![scope.object];
        let mut hops = Vec::new();
        let mut dotted = Vec::new();
        let (last, relationships) = parts.split_last().expect("a path has at least one part");
        let mut polymorphic = false;
        for rel in relationships {
            let Some(field) = current.iter().find_map(|o| o.field_by_relationship(rel)) else {
                return Err(QueryError::at(
                    path.pos,
                    "INVALID_FIELD",
                    format!(
                        "Didn't understand relationship '{rel}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                    ),
                ));
            };
            let relationship = field.relationship_name.clone().unwrap_or_default();
            dotted.push(relationship.clone());
            hops.push(Hop { field: field.name.clone(), relationship });
            polymorphic = field.is_polymorphic();
            current = field.reference_to.iter().filter_map(|t| schema.object(t)).collect();
        }
        if polymorphic && last.eq_ignore_ascii_case("Type") {
            dotted.push("Type".to_string());
            let def = Box::new(FieldDef::new("Type", "Type", FieldType::Picklist));
            return Ok(FieldRef { hops, name: "Type".into(), def, dotted: dotted.join("."), entity_type: true });
        }
        let Some(def) = current.iter().find_map(|o| o.field(last)) else {
            // Polymorphic lookups resolve against Salesforce's "Name" entity.
            let entity = if current.len() == 1 { current[0].name.as_str() } else { "Name" };
            return Err(QueryError::at(
                path.pos,
                "INVALID_FIELD",
                SfError::no_such_column_on_entity(last, entity).message,
            ));
        };
        dotted.push(def.name.clone());
        Ok(FieldRef {
            hops,
            name: def.name.clone(),
            def: Box::new(def.clone()),
            dotted: dotted.join("."),
            entity_type: false,
        })
    }

    /// The SELECT list of a record query as a projection tree.
    pub fn projection(
        &self,
        scope: Scope<'db, '_>,
        items: &[SelectItem],
        limit: Option<Count>,
    ) -> Result<Projection<'db>, QueryError> {
        let mut projection = Projection::default();
        let mut seen_children: Vec<String> = Vec::new();
        for item in items {
            match item {
                SelectItem::Field(path) => {
                    let f = self.resolve(scope, path)?;
                    insert_field(&mut projection, &f, 0).map_err(|()| duplicate(path.pos, &f.dotted))?;
                }
                SelectItem::Fields(kind, pos) => {
                    if *kind != FieldsKind::Standard && limit.is_none_or(|l| l.value > FIELDS_ALL_LIMIT) {
                        return Err(QueryError::malformed(
                            *pos,
                            format!("The SOQL FIELDS function must have a LIMIT of at most {FIELDS_ALL_LIMIT}"),
                        ));
                    }
                    for def in scope.object.fields.iter().filter(|f| match kind {
                        FieldsKind::All => true,
                        FieldsKind::Standard => !f.custom,
                        FieldsKind::Custom => f.custom,
                    }) {
                        let f = FieldRef {
                            hops: Vec::new(),
                            name: def.name.clone(),
                            def: Box::new(def.clone()),
                            dotted: def.name.clone(),
                            entity_type: false,
                        };
                        insert_field(&mut projection, &f, 0).map_err(|()| duplicate(*pos, &f.dotted))?;
                    }
                }
                SelectItem::Subquery(sub) => {
                    let child = self.child(scope.object, sub)?;
                    if seen_children.iter().any(|c| c.eq_ignore_ascii_case(&child.relationship)) {
                        return Err(duplicate(sub.from.pos, &child.relationship));
                    }
                    seen_children.push(child.relationship.clone());
                    projection.columns.push(Column::Children(Box::new(child)));
                }
                SelectItem::CountAll(pos) | SelectItem::Aggregate(Aggregate { pos, .. }) => {
                    return Err(QueryError::malformed(
                        *pos,
                        "Aggregate functions cannot be mixed with child relationship queries".into(),
                    ));
                }
            }
        }
        Ok(projection)
    }

    /// A child subquery: `FROM` names a child relationship of the parent.
    fn child(&self, parent: &'db ObjectDef, q: &Query) -> Result<ChildPlan<'db>, QueryError> {
        let Some(rel) = parent.child_relationship(&q.from.text) else {
            return Err(QueryError::at(
                q.from.pos,
                "INVALID_TYPE",
                format!(
                    "Didn't understand relationship '{}' in FROM part of query call. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.",
                    q.from.text
                ),
            ));
        };
        let object = self
            .db
            .schema()
            .object(&rel.child_sobject)
            .ok_or_else(|| QueryError::malformed(q.from.pos, "unknown child object".into()))?;
        if !self.db.object_access(&self.ctx.user_id, &object.name).read {
            return Err(QueryError::at(
                q.from.pos,
                "INVALID_TYPE",
                format!(
                    "Didn't understand relationship '{}' in FROM part of query call. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.",
                    q.from.text
                ),
            ));
        }
        if !q.group_by.is_empty()
            || q.select.iter().any(|i| matches!(i, SelectItem::Aggregate(_) | SelectItem::CountAll(_)))
        {
            return Err(QueryError::malformed(
                q.from.pos,
                "Aggregate query does not support child relationship queries".into(),
            ));
        }
        let scope = Scope { object, alias: q.alias.as_deref() };
        let filter = q.filter.as_ref().map(|c| self.filter(scope, c, false)).transpose()?;
        let projection = self.projection(scope, &q.select, q.limit)?;
        let order = self.sort_keys(scope, &q.order_by)?;
        let (offset, limit) = window(q)?;
        let by_parent = (!self.db.has_lookup(&object.name, &rel.field)).then(|| {
            let mut groups: HashMap<&'db str, Vec<&'db Record>> = HashMap::new();
            for row in eval::matching(self.db, object, self.include_deleted, filter.as_ref(), &|_| true) {
                if let Some(parent_id) = row.reference(&rel.field) {
                    groups.entry(parent_id).or_default().push(row);
                }
            }
            groups
        });
        Ok(ChildPlan {
            relationship: rel.relationship_name.clone(),
            object,
            field: rel.field.clone(),
            filter,
            include_deleted: self.include_deleted,
            projection,
            order,
            offset,
            limit,
            by_parent,
        })
    }

    pub fn sort_keys(&self, scope: Scope<'db, '_>, items: &[OrderItem]) -> Result<Vec<SortKey>, QueryError> {
        items
            .iter()
            .map(|item| {
                let OrderKey::Field(path) = &item.key else {
                    let OrderKey::Aggregate(a) = &item.key else { unreachable!() };
                    return Err(QueryError::malformed(
                        a.pos,
                        "Ordering by an aggregate needs a GROUP BY or an aggregate query".into(),
                    ));
                };
                let field = self.resolve(scope, path)?;
                if !field.def.sortable() {
                    return Err(QueryError::at(
                        path.pos,
                        "INVALID_FIELD",
                        format!("field '{}' can not be sorted in a query call", field.name),
                    ));
                }
                Ok(SortKey {
                    field,
                    descending: item.descending,
                    nulls_first: item.nulls_first.unwrap_or(!item.descending),
                })
            })
            .collect()
    }

    /// Compiles a WHERE condition. `in_semi_join` forbids nesting another one.
    pub fn filter(&self, scope: Scope<'db, '_>, c: &Condition, in_semi_join: bool) -> Result<Filter, QueryError> {
        Ok(match c {
            Condition::And(terms) => {
                Filter::And(terms.iter().map(|t| self.filter(scope, t, in_semi_join)).collect::<Result<_, _>>()?)
            }
            Condition::Or(terms) => {
                if let Some(pos) = terms.iter().find_map(semi_join_pos) {
                    return Err(QueryError::malformed(
                        pos,
                        "Semi join sub-selects are not allowed with the 'OR' operator".into(),
                    ));
                }
                Filter::Or(terms.iter().map(|t| self.filter(scope, t, in_semi_join)).collect::<Result<_, _>>()?)
            }
            Condition::Not(inner) => Filter::Not(Box::new(self.filter(scope, inner, in_semi_join)?)),
            Condition::Compare { path, op, value } => {
                let field = self.filterable(scope, path)?;
                let test = if *op == CompareOp::Like {
                    Test::Like(like_pattern(&field, value)?)
                } else {
                    Test::Compare(*op, self.operand(&field, value)?)
                };
                Filter::Test(field, test)
            }
            Condition::In { path, negated, values } => {
                let field = self.filterable(scope, path)?;
                let operands = values.iter().map(|v| self.operand(&field, v)).collect::<Result<_, _>>()?;
                Filter::Test(field, Test::In { negated: *negated, operands })
            }
            Condition::Includes { path, excludes, values } => {
                let field = self.filterable(scope, path)?;
                if field.field_type() != FieldType::Multipicklist {
                    return Err(QueryError::at(
                        path.pos,
                        "INVALID_QUERY_FILTER_OPERATOR",
                        format!("includes or excludes operator only valid on multipicklist field: {}", field.name),
                    ));
                }
                let groups = values
                    .iter()
                    .map(|v| match &v.kind {
                        LiteralKind::String(raw) => Ok(unescape(raw)
                            .split(';')
                            .map(|s| s.trim().to_lowercase())
                            .filter(|s| !s.is_empty())
                            .collect()),
                        _ => Err(type_mismatch(v.pos, &field, "string", true)),
                    })
                    .collect::<Result<_, _>>()?;
                Filter::Test(field, Test::Includes { excludes: *excludes, groups })
            }
            Condition::InQuery { path, negated, query } => {
                if in_semi_join {
                    return Err(QueryError::malformed(
                        query.from.pos,
                        "Nesting of semi join sub-selects is not supported".into(),
                    ));
                }
                let field = self.filterable(scope, path)?;
                if !field.field_type().is_id() {
                    return Err(QueryError::malformed(
                        path.pos,
                        format!("Invalid semi join: field '{}' must be an id or a reference", field.name),
                    ));
                }
                Filter::Test(field, self.semi_join(query, *negated)?)
            }
        })
    }

    fn filterable(&self, scope: Scope<'db, '_>, path: &Path) -> Result<FieldRef, QueryError> {
        let field = self.resolve(scope, path)?;
        if !field.def.filterable() {
            return Err(QueryError::at(
                path.pos,
                "INVALID_FIELD",
                format!("field '{}' can not be filtered in a query call", field.name),
            ));
        }
        Ok(field)
    }

    /// The test for `x [NOT] IN (SELECT idField FROM …)`: the inner query's
    /// ids, or the inner query to test each value against.
    fn semi_join(&self, q: &Query, negated: bool) -> Result<Test, QueryError> {
        let object = self.object(&q.from)?;
        let scope = Scope { object, alias: q.alias.as_deref() };
        if object.name == "ContentDocumentLink" {
            check_content_document_link_filter(q)?;
        }
        let [SelectItem::Field(path)] = q.select.as_slice() else {
            return Err(QueryError::malformed(
                q.from.pos,
                "The selected field in a semi join sub-select must be a single Id or reference field".into(),
            ));
        };
        let field = self.resolve(scope, path)?;
        if !field.field_type().is_id() {
            return Err(QueryError::malformed(
                path.pos,
                format!("Invalid semi join: the selected field '{}' must be an Id or a reference", field.dotted),
            ));
        }
        let filter = q.filter.as_ref().map(|c| self.filter(scope, c, true)).transpose()?;
        let own_id = field.hops.is_empty() && field.name == "Id";
        let indexed = field.hops.is_empty()
            && field.field_type() == FieldType::Reference
            && self.db.has_lookup(&object.name, &field.name);
        if (own_id || indexed) && !self.run_up_front(object, filter.as_ref()) {
            let through = (!own_id).then(|| field.name.clone());
            return Ok(Test::Member {
                negated,
                inner: Box::new(SemiJoin { object: object.name.clone(), through, filter }),
            });
        }
        // Run once here, at planning: the outer query then tests membership per row.
        let mut ids = HashSet::new();
        for row in eval::matching(self.db, object, false, filter.as_ref(), &|_| true) {
            if let Value::Text(id) = &*eval::resolve(self.db, row, &field) {
                ids.insert(id.clone());
            }
        }
        Ok(Test::IdSet { negated, ids })
    }

    /// Whether an inner query is cheap enough to run whole: an index narrows it.
    fn run_up_front(&self, object: &ObjectDef, filter: Option<&Filter>) -> bool {
        #[cfg(test)]
        if super::access::SCAN_ONLY.get() {
            return true;
        }
        matches!(access::choose(self.db, &object.name, filter, &[], None), access::Access::Positions(_))
    }

    /// A literal as a typed operand for `field`, or the error Salesforce gives
    /// for a value of the wrong type.
    fn operand(&self, field: &FieldRef, lit: &Literal) -> Result<Operand, QueryError> {
        let t = field.field_type();
        if let LiteralKind::DateLiteral { name, n } = &lit.kind {
            if !matches!(t, FieldType::Date | FieldType::Datetime) {
                return Err(type_mismatch(lit.pos, field, t.soql_name(), false));
            }
            let Some((start, end)) = dates::range(name, *n, self.today()) else {
                return Err(QueryError::malformed(lit.pos, format!("Invalid date literal: {name}")));
            };
            return Ok(if t == FieldType::Date {
                Operand::Range(Value::Date(start), Value::Date(end))
            } else {
                let midnight = |d: NaiveDate| Value::DateTime(d.and_time(NaiveTime::MIN).and_utc());
                Operand::Range(midnight(start), midnight(end))
            });
        }
        let value = match (&lit.kind, t) {
            (LiteralKind::Null, _) => Value::Null,
            (LiteralKind::String(raw), FieldType::Id | FieldType::Reference) => {
                let text = unescape(raw);
                if text.is_empty() {
                    Value::Null
                } else {
                    match ids::normalize(&text) {
                        Some(id) => Value::Text(id),
                        None => {
                            return Err(QueryError::at(
                                lit.pos,
                                "INVALID_QUERY_FILTER_OPERATOR",
                                format!("invalid ID field: {text}"),
                            ));
                        }
                    }
                }
            }
            (LiteralKind::String(raw), t) if t.is_text() => Value::Text(unescape(raw)),
            (LiteralKind::Bool(b), FieldType::Boolean) => Value::Bool(*b),
            (LiteralKind::Number(n), t) if t.is_number() => match n.parse::<f64>() {
                Ok(d) => Value::Double(d),
                Err(_) => {
                    return Err(QueryError::malformed(lit.pos, format!("unexpected token: '{n}'")));
                }
            },
            (LiteralKind::Date(d), FieldType::Date) => Value::Date(*d),
            (LiteralKind::DateTime(dt), FieldType::Datetime) => Value::DateTime(*dt),
            (_, t) => {
                return Err(type_mismatch(lit.pos, field, t.soql_name(), t.is_text() || t.is_id()));
            }
        };
        Ok(Operand::Value(value))
    }

    /// GROUP BY and aggregate functions.
    fn aggregate(&self, scope: Scope<'db, '_>, q: &Query) -> Result<AggregatePlan, QueryError> {
        let group_by = q
            .group_by
            .iter()
            .map(|p| {
                let f = self.resolve(scope, p)?;
                if !f.def.groupable() {
                    return Err(QueryError::at(
                        p.pos,
                        "INVALID_FIELD",
                        format!("field '{}' can not be grouped in a query call", f.name),
                    ));
                }
                Ok(f)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut columns = Vec::new();
        let mut unnamed = 0;
        for item in &q.select {
            match item {
                SelectItem::Field(path) => {
                    let f = self.resolve(scope, path)?;
                    let Some(i) = group_by.iter().position(|g| g.same_as(&f)) else {
                        return Err(QueryError::malformed(
                            path.pos,
                            format!("Field must be grouped or aggregated: {}", f.name),
                        ));
                    };
                    columns.push(AggregateColumn {
                        name: f.name.clone(),
                        source: AggregateSource::Group(i),
                        hidden: false,
                    });
                }
                SelectItem::Aggregate(a) => {
                    let f = self.aggregate_arg(scope, a)?;
                    let name = match &a.alias {
                        Some(alias) => alias.clone(),
                        None => {
                            unnamed += 1;
                            format!("expr{}", unnamed - 1)
                        }
                    };
                    columns.push(AggregateColumn {
                        name,
                        source: AggregateSource::Aggregate(a.func, f),
                        hidden: false,
                    });
                }
                SelectItem::Subquery(sub) => {
                    return Err(QueryError::malformed(
                        sub.from.pos,
                        "Aggregate query does not support child relationship queries".into(),
                    ));
                }
                SelectItem::Fields(_, pos) | SelectItem::CountAll(pos) => {
                    return Err(QueryError::malformed(*pos, "unexpected token in an aggregate query".into()));
                }
            }
        }
        let mut order = Vec::new();
        for item in &q.order_by {
            let column = match &item.key {
                OrderKey::Field(path) => {
                    let f = self.resolve(scope, path)?;
                    let Some(g) = group_by.iter().position(|g| g.same_as(&f)) else {
                        return Err(QueryError::malformed(
                            path.pos,
                            format!("Ordered field must be grouped or aggregated: {}", f.name),
                        ));
                    };
                    match columns.iter().position(|c| matches!(c.source, AggregateSource::Group(i) if i == g)) {
                        Some(c) => c,
                        None => {
                            columns.push(AggregateColumn {
                                name: f.name.clone(),
                                source: AggregateSource::Group(g),
                                hidden: true,
                            });
                            columns.len() - 1
                        }
                    }
                }
                OrderKey::Aggregate(a) => {
                    let f = self.aggregate_arg(scope, a)?;
                    let existing = columns.iter().position(|c| match &c.source {
                        AggregateSource::Aggregate(func, g) => *func == a.func && g.same_as(&f),
                        AggregateSource::Group(_) => false,
                    });
                    match existing {
                        Some(c) => c,
                        None => {
                            columns.push(AggregateColumn {
                                name: String::new(),
                                source: AggregateSource::Aggregate(a.func, f),
                                hidden: true,
                            });
                            columns.len() - 1
                        }
                    }
                }
            };
            order.push(AggregateSort {
                column,
                descending: item.descending,
                nulls_first: item.nulls_first.unwrap_or(!item.descending),
            });
        }
        Ok(AggregatePlan { group_by, columns, order })
    }

    fn aggregate_arg(&self, scope: Scope<'db, '_>, a: &Aggregate) -> Result<FieldRef, QueryError> {
        let f = self.resolve(scope, &a.arg)?;
        let t = f.field_type();
        let ok = match a.func {
            AggregateFn::Count | AggregateFn::CountDistinct => f.def.filterable(),
            AggregateFn::Sum | AggregateFn::Avg => t.is_number(),
            AggregateFn::Min | AggregateFn::Max => f.def.sortable() && t != FieldType::Boolean,
        };
        if !ok {
            let name = format!("{:?}", a.func).to_uppercase();
            return Err(QueryError::malformed(
                a.arg.pos,
                format!("field {} does not support aggregate operator {name}", f.name),
            ));
        }
        Ok(f)
    }
}

/// Adds a resolved field under its relationship hops.
fn insert_field(projection: &mut Projection<'_>, f: &FieldRef, hop: usize) -> Result<(), ()> {
    if hop == f.hops.len() {
        let taken = projection.columns.iter().any(|c| match c {
            Column::Field(n) => n.eq_ignore_ascii_case(&f.name),
            Column::EntityType => f.name == "Type",
            _ => false,
        });
        if taken {
            return Err(());
        }
        projection.columns.push(if f.entity_type { Column::EntityType } else { Column::Field(f.name.clone()) });
        return Ok(());
    }
    let h = &f.hops[hop];
    let existing = projection
        .columns
        .iter_mut()
        .position(|c| matches!(c, Column::Parent { relationship, .. } if relationship == &h.relationship));
    let index = match existing {
        Some(i) => i,
        None => {
            projection.columns.push(Column::Parent {
                relationship: h.relationship.clone(),
                field: h.field.clone(),
                sub: Projection::default(),
            });
            projection.columns.len() - 1
        }
    };
    let Column::Parent { sub, .. } = &mut projection.columns[index] else {
        unreachable!("found a parent column above")
    };
    insert_field(sub, f, hop + 1)
}

fn duplicate(pos: Pos, what: &str) -> QueryError {
    QueryError::malformed(pos, format!("duplicate field selected: {what}"))
}

fn type_mismatch(pos: Pos, field: &FieldRef, type_name: &str, quoted: bool) -> QueryError {
    QueryError::at(
        pos,
        "INVALID_QUERY_FILTER_OPERATOR",
        format!(
            "value of filter criterion for field '{}' must be of type {type_name} and should {}be enclosed in quotes",
            field.name,
            if quoted { "" } else { "not " }
        ),
    )
}

/// OFFSET and LIMIT as counts, checking Salesforce's OFFSET ceiling.
fn window(q: &Query) -> Result<(usize, Option<usize>), QueryError> {
    if let Some(offset) = q.offset.filter(|o| o.value > MAX_OFFSET) {
        return Err(QueryError::at(
            offset.pos,
            "NUMBER_OUTSIDE_VALID_RANGE",
            format!("Maximum SOQL offset allowed is {MAX_OFFSET}"),
        ));
    }
    let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    Ok((q.offset.map_or(0, |o| to_usize(o.value)), q.limit.map(|l| to_usize(l.value))))
}

/// The position of a semi-join directly inside this condition, if any.
fn semi_join_pos(c: &Condition) -> Option<Pos> {
    match c {
        Condition::InQuery { query, .. } => Some(query.from.pos),
        Condition::And(terms) | Condition::Or(terms) => terms.iter().find_map(semi_join_pos),
        Condition::Not(inner) => semi_join_pos(inner),
        _ => None,
    }
}

/// LIKE applies to text fields and takes a string; `\%` and `\_` are literal.
fn like_pattern(field: &FieldRef, lit: &Literal) -> Result<Vec<LikeToken>, QueryError> {
    let t = field.field_type();
    if !t.is_text() {
        return Err(QueryError::at(
            lit.pos,
            "INVALID_QUERY_FILTER_OPERATOR",
            format!("invalid operator on {} field: {}", t.soql_name(), field.name),
        ));
    }
    let LiteralKind::String(raw) = &lit.kind else {
        return Err(type_mismatch(lit.pos, field, "string", true));
    };
    let mut tokens = Vec::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => tokens.push(LikeToken::Any),
            '_' => tokens.push(LikeToken::One),
            '\\' => {
                let escaped = match chars.next() {
                    Some('u') => {
                        let hex: String = chars.by_ref().take(4).collect();
                        u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                    }
                    Some('n') => Some('\n'),
                    Some('r') => Some('\r'),
                    Some('t') => Some('\t'),
                    Some('b') => Some('\u{8}'),
                    Some('f') => Some('\u{c}'),
                    other => other,
                };
                tokens.extend(escaped.into_iter().flat_map(char::to_lowercase).map(LikeToken::Char));
            }
            c => tokens.extend(c.to_lowercase().map(LikeToken::Char)),
        }
    }
    Ok(tokens)
}

/// ContentDocumentLink can only be queried with `=` or `IN` on
/// `ContentDocumentId`, `LinkedEntityId` (or `Id`) at the top of the WHERE.
fn check_content_document_link_filter(q: &Query) -> Result<(), QueryError> {
    let restricts = |c: &Condition| {
        let key_field = |p: &Path| {
            let last = p.parts.last().map(String::as_str).unwrap_or("");
            p.parts.len() <= 2
                && ["ContentDocumentId", "LinkedEntityId", "Id"].iter().any(|k| k.eq_ignore_ascii_case(last))
        };
        match c {
            Condition::Compare { path, op: CompareOp::Eq, value } => key_field(path) && value.kind != LiteralKind::Null,
            Condition::In { path, negated: false, .. } | Condition::InQuery { path, negated: false, .. } => {
                key_field(path)
            }
            _ => false,
        }
    };
    let ok = match &q.filter {
        Some(Condition::And(terms)) => terms.iter().any(restricts),
        Some(c) => restricts(c),
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(QueryError::plain(
            "MALFORMED_QUERY",
            "Implementation restriction: ContentDocumentLink requires a filter by a single Id on ContentDocumentId or LinkedEntityId using the equals operator or multiple Id's using the IN operator.",
        ))
    }
}
