//! The syntax tree of a SOQL query, names still unresolved.

use chrono::{DateTime, NaiveDate, Utc};

use super::lexer::Pos;

/// `SELECT … FROM … [WHERE …] [GROUP BY …] [ORDER BY …] [LIMIT n] [OFFSET n]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub select: Vec<SelectItem>,
    pub from: Name,
    /// `FROM Contact c`: paths may start with `c.`.
    pub alias: Option<String>,
    pub filter: Option<Condition>,
    pub group_by: Vec<Path>,
    pub order_by: Vec<OrderItem>,
    pub limit: Option<Count>,
    pub offset: Option<Count>,
}

/// A name as written, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    pub text: String,
    pub pos: Pos,
}

/// A LIMIT or OFFSET number, with its position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Count {
    pub value: u64,
    pub pos: Pos,
}

/// A dotted field path: `Subject`, `Contact.Email`, `Account.Owner.Name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub parts: Vec<String>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    Field(Path),
    /// `(SELECT … FROM ChildRelationship …)`.
    Subquery(Box<Query>),
    /// `COUNT()`: the row count, no records.
    CountAll(Pos),
    /// `COUNT(Id)`, `MAX(CreatedDate) latest`, …
    Aggregate(Aggregate),
    /// `FIELDS(ALL | STANDARD | CUSTOM)`.
    Fields(FieldsKind, Pos),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub func: AggregateFn,
    pub arg: Path,
    pub alias: Option<String>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFn {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
}

impl AggregateFn {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "COUNT" => AggregateFn::Count,
            "COUNT_DISTINCT" => AggregateFn::CountDistinct,
            "SUM" => AggregateFn::Sum,
            "AVG" => AggregateFn::Avg,
            "MIN" => AggregateFn::Min,
            "MAX" => AggregateFn::Max,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldsKind {
    All,
    Standard,
    Custom,
}

/// A WHERE condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    /// `path op value`, LIKE included.
    Compare {
        path: Path,
        op: CompareOp,
        value: Literal,
    },
    /// `path [NOT] IN (values)`.
    In {
        path: Path,
        negated: bool,
        values: Vec<Literal>,
    },
    /// `path [NOT] IN (SELECT idField FROM …)`: a semi-join or anti-join.
    InQuery {
        path: Path,
        negated: bool,
        query: Box<Query>,
    },
    /// `path INCLUDES ('a;b', 'c')` / `EXCLUDES (…)` on a multipicklist.
    Includes {
        path: Path,
        excludes: bool,
        values: Vec<Literal>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
}

/// A literal value in a condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub kind: LiteralKind,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LiteralKind {
    Null,
    Bool(bool),
    /// As written, sign included.
    Number(String),
    /// The raw text between the quotes (escapes not applied).
    String(String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    /// `TODAY`, `LAST_N_DAYS:30`, … (name upper-cased).
    DateLiteral {
        name: String,
        n: Option<i64>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub key: OrderKey,
    pub descending: bool,
    /// `None` means the default: nulls first ascending, last descending.
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OrderKey {
    Field(Path),
    Aggregate(Aggregate),
}
