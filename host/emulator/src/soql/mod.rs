//! SOQL: a lexer, a recursive-descent parser, a planner that resolves names
//! against the schema, and an evaluator that scans the records.
//!
//! ```
//! use casebridge_emulator::db::{Database, QueryContext, WriteContext};
//! use casebridge_emulator::schema::Schema;
//! use serde_json::json;
//!
//! let mut db = Database::new(Schema::standard());
//! let now = chrono::Utc::now();
//! let w = WriteContext { now, user_id: "005000000000001AAA".into() };
//! let contact = db.create("Contact", json!({"LastName": "Lee", "Email": "lee@example.com"}).as_object().unwrap(), &w).unwrap();
//! db.create("Case", json!({"Subject": "Help", "ContactId": contact}).as_object().unwrap(), &w).unwrap();
//! let q = QueryContext { now, api_version: "59.0".into(), user_id: w.user_id.clone() };
//! let r = db.query("SELECT Subject, Contact.Email FROM Case WHERE Contact.Email LIKE 'lee@%'", false, &q).unwrap();
//! assert_eq!(r.records[0]["Contact"]["Email"], json!("lee@example.com"));
//! ```
//!
//! Supported: field lists with parent paths (polymorphic `Owner.Name`
//! included), child subqueries, `COUNT()`, aggregates (`COUNT`,
//! `COUNT_DISTINCT`, `SUM`, `AVG`, `MIN`, `MAX`) with `GROUP BY`,
//! `FIELDS(ALL|STANDARD|CUSTOM)`, WHERE with `= != <> < <= > >= LIKE IN
//! NOT IN INCLUDES EXCLUDES`, semi- and anti-joins, `AND`/`OR`/`NOT`, date
//! and datetime literals, relative date literals, `ORDER BY … ASC|DESC
//! NULLS FIRST|LAST`, `LIMIT`, `OFFSET`. Not supported (answered with
//! `MALFORMED_QUERY`): `TYPEOF`, `HAVING`, `GROUP BY ROLLUP|CUBE`, functions
//! such as `toLabel()` or `FORMAT()`, bind variables.

mod access;
pub(crate) mod ast;
mod dates;
mod eval;
mod lexer;
mod parser;
mod plan;

use crate::db::{Database, QueryContext, QueryResult, Record};
use crate::error::SfError;

pub(crate) use ast::Query;
pub(crate) use lexer::{Pos, Tok, tokenize};
pub(crate) use parser::Parser;
pub(crate) use plan::Planner;

/// A query error before it is rendered against the query text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueryError {
    /// Where in the query; `None` for errors Salesforce reports without a position.
    pub pos: Option<Pos>,
    pub code: &'static str,
    pub message: String,
}

impl QueryError {
    /// `MALFORMED_QUERY` at a position.
    pub fn malformed(pos: Pos, message: String) -> Self {
        QueryError { pos: Some(pos), code: "MALFORMED_QUERY", message }
    }

    /// Any code at a position.
    pub fn at(pos: Pos, code: &'static str, message: String) -> Self {
        QueryError { pos: Some(pos), code, message }
    }

    /// An error Salesforce reports without pointing into the query.
    pub fn plain(code: &'static str, message: &str) -> Self {
        QueryError { pos: None, code, message: message.to_string() }
    }

    /// Renders the error as Salesforce does, quoting the offending line:
    ///
    /// ```text
    ///
    /// SELECT Id FORM Case
    ///           ^
    /// ERROR at Row:1:Column:11
    /// unexpected token: 'FORM'
    /// ```
    pub fn into_sf(self, text: &str, error_code_for_malformed: &str) -> SfError {
        let code = if self.code == "MALFORMED_QUERY" { error_code_for_malformed } else { self.code };
        let message = match self.pos {
            Some(pos) => {
                let line = text.lines().nth(pos.row.saturating_sub(1)).unwrap_or("");
                let caret = " ".repeat(pos.column.saturating_sub(1));
                format!("\n{line}\n{caret}^\nERROR at Row:{}:Column:{}\n{}", pos.row, pos.column, self.message)
            }
            None => self.message,
        };
        SfError::new(400, code, message)
    }
}

/// Parses and runs a SOQL query.
pub(crate) fn execute(
    db: &Database,
    soql: &str,
    include_deleted: bool,
    ctx: &QueryContext,
) -> Result<QueryResult, SfError> {
    if soql.trim().is_empty() {
        return Err(SfError::malformed_query("SOQL statements cannot be empty or null"));
    }
    let run = || -> Result<QueryResult, QueryError> {
        let tokens = tokenize(soql)?;
        let query = parser::parse_query(&tokens)?;
        let planner = Planner { db, ctx, include_deleted };
        let plan = planner.plan(&query)?;
        Ok(eval::run(db, &plan, &ctx.api_version, &|_| true))
    };
    run().map_err(|e| e.into_sf(soql, "MALFORMED_QUERY"))
}

/// Plans and runs one SOSL `RETURNING` object: a SOQL query over the records
/// `matched` by the search.
pub(crate) fn run_returning(
    db: &Database,
    query: &Query,
    ctx: &QueryContext,
    matched: &dyn Fn(&Record) -> bool,
) -> Result<QueryResult, QueryError> {
    let planner = Planner { db, ctx, include_deleted: false };
    let plan = planner.plan(query)?;
    Ok(eval::run(db, &plan, &ctx.api_version, matched))
}

#[cfg(test)]
mod tests;
