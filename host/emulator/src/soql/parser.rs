//! Recursive-descent parser from tokens to [`ast::Query`](super::ast::Query).
//!
//! Grammar (keywords case-insensitive):
//!
//! ```text
//! query     := SELECT items FROM name [alias] [USING SCOPE name] [WHERE cond]
//!              [WITH name] [GROUP BY path {, path}] [ORDER BY order {, order}]
//!              [LIMIT n] [OFFSET n] [FOR (VIEW|REFERENCE|UPDATE)]
//! items     := item {, item}
//! item      := path | ( query ) | COUNT() | agg ( path ) [alias] | FIELDS ( ALL|STANDARD|CUSTOM )
//! cond      := term {AND term} | term {OR term}        -- mixing AND and OR needs parentheses
//! term      := NOT term | ( cond ) | path op value | path [NOT] IN ( values | query )
//!            | path (INCLUDES|EXCLUDES) ( values )
//! value     := 'string' | [-|+] number | TRUE | FALSE | NULL | date | datetime | DATE_LITERAL[:n]
//! order     := path|agg(path) [ASC|DESC] [NULLS (FIRST|LAST)]
//! ```

use super::QueryError;
use super::ast::*;
use super::lexer::{Pos, Tok, Token};

/// Words that end a clause, so they cannot be aliases.
const CLAUSE_WORDS: &[&str] = &[
    "SELECT", "FROM", "WHERE", "WITH", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "FOR", "USING", "AND", "OR",
    "NOT", "UPDATE", "ALL", "ASC", "DESC", "NULLS", "IN", "LIKE", "INCLUDES", "EXCLUDES", "TYPEOF",
];

/// Parses a full query; everything after it must be the end of the text.
pub fn parse_query(tokens: &[Token]) -> Result<Query, QueryError> {
    let mut p = Parser { tokens, i: 0, depth: 0 };
    let q = p.query()?;
    p.expect_end()?;
    Ok(q)
}

/// The parser state; the SOSL parser drives it for its `RETURNING` clauses.
pub struct Parser<'t> {
    tokens: &'t [Token],
    i: usize,
    /// Nesting of parentheses and subqueries, bounded so hostile input cannot
    /// overflow the stack.
    depth: usize,
}

/// How deep conditions and subqueries may nest.
const MAX_DEPTH: usize = 64;

impl<'t> Parser<'t> {
    pub fn new(tokens: &'t [Token]) -> Self {
        Parser { tokens, i: 0, depth: 0 }
    }

    pub fn peek(&self) -> &Token {
        // The lexer always ends with Eof, and `bump` never passes it.
        &self.tokens[self.i.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.tokens[(self.i + ahead).min(self.tokens.len() - 1)].tok
    }

    pub fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.i += 1;
        }
        t
    }

    pub fn at_kw(&self, kw: &str) -> bool {
        self.peek().tok.is_kw(kw)
    }

    pub fn eat_kw(&mut self, kw: &str) -> bool {
        if self.at_kw(kw) {
            self.bump();
            true
        } else {
            false
        }
    }

    pub fn expect_kw(&mut self, kw: &str) -> Result<Pos, QueryError> {
        if self.at_kw(kw) { Ok(self.bump().pos) } else { Err(self.unexpected()) }
    }

    pub fn eat(&mut self, tok: &Tok) -> bool {
        if &self.peek().tok == tok {
            self.bump();
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, tok: &Tok) -> Result<Pos, QueryError> {
        if &self.peek().tok == tok { Ok(self.bump().pos) } else { Err(self.unexpected()) }
    }

    /// "unexpected token" at the current token.
    pub fn unexpected(&self) -> QueryError {
        let t = self.peek();
        QueryError::malformed(t.pos, format!("unexpected token: {}", t.tok.describe()))
    }

    pub fn expect_end(&self) -> Result<(), QueryError> {
        if self.peek().tok == Tok::Eof { Ok(()) } else { Err(self.unexpected()) }
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::malformed(self.peek().pos, "query is nested too deeply".to_string()));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// `SELECT … ` up to (not including) the closing parenthesis or the end.
    pub fn query(&mut self) -> Result<Query, QueryError> {
        self.enter()?;
        self.expect_kw("SELECT")?;
        let select = self.select_items()?;
        self.expect_kw("FROM")?;
        let from = self.name()?;
        let mut q = self.query_tail(select, from, true)?;
        if self.eat_kw("FOR") && !(self.eat_kw("VIEW") || self.eat_kw("REFERENCE") || self.eat_kw("UPDATE")) {
            return Err(self.unexpected());
        }
        if self.at_kw("ALL") && self.peek_at(1).is_kw("ROWS") {
            return Err(QueryError::malformed(self.peek().pos, "ALL ROWS not allowed in this context".to_string()));
        }
        if q.alias.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(&q.from.text)) {
            q.alias = None;
        }
        self.leave();
        Ok(q)
    }

    /// Everything after `FROM name`: alias (when allowed), WHERE, GROUP BY,
    /// ORDER BY, LIMIT, OFFSET.
    pub fn query_tail(&mut self, select: Vec<SelectItem>, from: Name, allow_alias: bool) -> Result<Query, QueryError> {
        let alias = if allow_alias { self.alias() } else { None };
        if self.eat_kw("USING") {
            self.expect_kw("SCOPE")?;
            self.name()?;
        }
        let filter = if self.eat_kw("WHERE") { Some(self.condition()?) } else { None };
        if self.eat_kw("WITH") {
            // SECURITY_ENFORCED, USER_MODE, SYSTEM_MODE: sharing does not exist here.
            let mode = self.name()?;
            if !["SECURITY_ENFORCED", "USER_MODE", "SYSTEM_MODE"].iter().any(|m| mode.text.eq_ignore_ascii_case(m)) {
                return Err(QueryError::malformed(mode.pos, format!("unexpected token: '{}'", mode.text)));
            }
        }
        let mut group_by = Vec::new();
        if self.eat_kw("GROUP") {
            self.expect_kw("BY")?;
            if self.at_kw("ROLLUP") || self.at_kw("CUBE") {
                return Err(unsupported(self.peek().pos, "GROUP BY ROLLUP and CUBE"));
            }
            loop {
                group_by.push(self.path()?);
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        if self.at_kw("HAVING") {
            return Err(unsupported(self.peek().pos, "HAVING"));
        }
        let mut order_by = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                order_by.push(self.order_item()?);
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("LIMIT") { Some(self.count()?) } else { None };
        let offset = if self.eat_kw("OFFSET") { Some(self.count()?) } else { None };
        Ok(Query { select, from, alias, filter, group_by, order_by, limit, offset })
    }

    fn alias(&mut self) -> Option<String> {
        match &self.peek().tok {
            Tok::Ident(s) if !CLAUSE_WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) => {
                let s = s.clone();
                self.bump();
                Some(s)
            }
            _ => None,
        }
    }

    pub fn name(&mut self) -> Result<Name, QueryError> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Ident(text) => {
                self.bump();
                Ok(Name { text, pos: t.pos })
            }
            _ => Err(self.unexpected()),
        }
    }

    pub fn path(&mut self) -> Result<Path, QueryError> {
        let first = self.name()?;
        let mut parts = vec![first.text];
        while self.eat(&Tok::Dot) {
            parts.push(self.name()?.text);
        }
        Ok(Path { parts, pos: first.pos })
    }

    pub fn count(&mut self) -> Result<Count, QueryError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Number(n) => match n.parse::<u64>() {
                Ok(value) => {
                    self.bump();
                    Ok(Count { value, pos: t.pos })
                }
                Err(_) => Err(self.unexpected()),
            },
            _ => Err(self.unexpected()),
        }
    }

    pub fn select_items(&mut self) -> Result<Vec<SelectItem>, QueryError> {
        let mut items = Vec::new();
        loop {
            items.push(self.select_item()?);
            if !self.eat(&Tok::Comma) {
                return Ok(items);
            }
        }
    }

    fn select_item(&mut self) -> Result<SelectItem, QueryError> {
        if self.peek().tok == Tok::LParen {
            self.bump();
            let q = self.query()?;
            self.expect(&Tok::RParen)?;
            return Ok(SelectItem::Subquery(Box::new(q)));
        }
        if self.at_kw("TYPEOF") {
            return Err(unsupported(self.peek().pos, "TYPEOF"));
        }
        if matches!(self.peek().tok, Tok::Ident(_)) && *self.peek_at(1) == Tok::LParen {
            let name = self.name()?;
            self.bump();
            if name.text.eq_ignore_ascii_case("FIELDS") {
                let kind = self.name()?;
                let kind = match kind.text.to_ascii_uppercase().as_str() {
                    "ALL" => FieldsKind::All,
                    "STANDARD" => FieldsKind::Standard,
                    "CUSTOM" => FieldsKind::Custom,
                    _ => {
                        return Err(QueryError::malformed(kind.pos, format!("unexpected token: '{}'", kind.text)));
                    }
                };
                self.expect(&Tok::RParen)?;
                return Ok(SelectItem::Fields(kind, name.pos));
            }
            let Some(func) = AggregateFn::from_name(&name.text) else {
                return Err(unsupported(name.pos, &format!("the function {}()", name.text)));
            };
            if func == AggregateFn::Count && self.eat(&Tok::RParen) {
                return Ok(SelectItem::CountAll(name.pos));
            }
            let arg = self.path()?;
            self.expect(&Tok::RParen)?;
            let alias = self.alias();
            return Ok(SelectItem::Aggregate(Aggregate { func, arg, alias, pos: name.pos }));
        }
        Ok(SelectItem::Field(self.path()?))
    }

    fn order_item(&mut self) -> Result<OrderItem, QueryError> {
        let key = if matches!(self.peek().tok, Tok::Ident(_)) && *self.peek_at(1) == Tok::LParen {
            let name = self.name()?;
            self.bump();
            let Some(func) = AggregateFn::from_name(&name.text) else {
                return Err(unsupported(name.pos, &format!("the function {}()", name.text)));
            };
            let arg = self.path()?;
            self.expect(&Tok::RParen)?;
            OrderKey::Aggregate(Aggregate { func, arg, alias: None, pos: name.pos })
        } else {
            OrderKey::Field(self.path()?)
        };
        let descending = if self.eat_kw("DESC") {
            true
        } else {
            self.eat_kw("ASC");
            false
        };
        let nulls_first = if self.eat_kw("NULLS") {
            if self.eat_kw("FIRST") {
                Some(true)
            } else if self.eat_kw("LAST") {
                Some(false)
            } else {
                return Err(self.unexpected());
            }
        } else {
            None
        };
        Ok(OrderItem { key, descending, nulls_first })
    }

    /// A condition: terms joined by all-AND or all-OR.
    pub fn condition(&mut self) -> Result<Condition, QueryError> {
        self.enter()?;
        let first = self.term()?;
        let result = if self.at_kw("AND") || self.at_kw("OR") {
            let joiner = if self.at_kw("AND") { "AND" } else { "OR" };
            let other = if joiner == "AND" { "OR" } else { "AND" };
            let mut terms = vec![first];
            while self.eat_kw(joiner) {
                terms.push(self.term()?);
            }
            if self.at_kw(other) {
                return Err(self.unexpected());
            }
            if joiner == "AND" { Condition::And(terms) } else { Condition::Or(terms) }
        } else {
            first
        };
        self.leave();
        Ok(result)
    }

    fn term(&mut self) -> Result<Condition, QueryError> {
        if self.eat_kw("NOT") {
            self.enter()?;
            let inner = self.term()?;
            self.leave();
            return Ok(Condition::Not(Box::new(inner)));
        }
        if self.eat(&Tok::LParen) {
            let inner = self.condition()?;
            self.expect(&Tok::RParen)?;
            return Ok(inner);
        }
        let path = self.path()?;
        let t = self.peek().clone();
        let op = match &t.tok {
            Tok::Op(op) => Some(match *op {
                "=" => CompareOp::Eq,
                "!=" | "<>" => CompareOp::Ne,
                "<" => CompareOp::Lt,
                "<=" => CompareOp::Le,
                ">" => CompareOp::Gt,
                _ => CompareOp::Ge,
            }),
            tok if tok.is_kw("LIKE") => Some(CompareOp::Like),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            let value = self.value()?;
            return Ok(Condition::Compare { path, op, value });
        }
        let negated = self.eat_kw("NOT");
        if self.eat_kw("IN") {
            self.expect(&Tok::LParen)?;
            if self.at_kw("SELECT") {
                let query = self.query()?;
                self.expect(&Tok::RParen)?;
                return Ok(Condition::InQuery { path, negated, query: Box::new(query) });
            }
            let values = self.value_list()?;
            return Ok(Condition::In { path, negated, values });
        }
        if negated {
            return Err(self.unexpected());
        }
        for (kw, excludes) in [("INCLUDES", false), ("EXCLUDES", true)] {
            if self.eat_kw(kw) {
                self.expect(&Tok::LParen)?;
                let values = self.value_list()?;
                return Ok(Condition::Includes { path, excludes, values });
            }
        }
        Err(self.unexpected())
    }

    /// `value {, value} )` — the opening parenthesis already taken.
    fn value_list(&mut self) -> Result<Vec<Literal>, QueryError> {
        let mut values = Vec::new();
        loop {
            values.push(self.value()?);
            if self.eat(&Tok::RParen) {
                return Ok(values);
            }
            self.expect(&Tok::Comma)?;
        }
    }

    fn value(&mut self) -> Result<Literal, QueryError> {
        let t = self.bump();
        let kind = match t.tok {
            Tok::Str { raw } => LiteralKind::String(raw),
            Tok::Number(n) => LiteralKind::Number(n),
            Tok::Minus | Tok::Plus => match self.peek().tok.clone() {
                Tok::Number(n) => {
                    self.bump();
                    LiteralKind::Number(if t.tok == Tok::Minus { format!("-{n}") } else { n })
                }
                _ => return Err(self.unexpected()),
            },
            Tok::Date(d) => LiteralKind::Date(d),
            Tok::DateTime(dt) => LiteralKind::DateTime(dt),
            Tok::Ident(word) => match word.to_ascii_uppercase().as_str() {
                "NULL" => LiteralKind::Null,
                "TRUE" => LiteralKind::Bool(true),
                "FALSE" => LiteralKind::Bool(false),
                upper if super::dates::is_date_literal(upper) => {
                    let takes_n = super::dates::takes_n(upper);
                    let n = if takes_n {
                        self.expect(&Tok::Colon)?;
                        let negative = self.eat(&Tok::Minus);
                        let nt = self.bump();
                        let n = match nt.tok {
                            Tok::Number(n) => n
                                .parse::<i64>()
                                .map_err(|_| QueryError::malformed(nt.pos, format!("unexpected token: '{n}'")))?,
                            other => {
                                return Err(QueryError::malformed(
                                    nt.pos,
                                    format!("unexpected token: {}", other.describe()),
                                ));
                            }
                        };
                        Some(if negative { -n } else { n })
                    } else {
                        None
                    };
                    LiteralKind::DateLiteral { name: upper.to_string(), n }
                }
                _ if *self.peek_at(0) == Tok::Colon => {
                    return Err(QueryError::malformed(t.pos, format!("Invalid date literal: {word}")));
                }
                _ => {
                    return Err(QueryError::malformed(t.pos, format!("unexpected token: '{word}'")));
                }
            },
            Tok::Colon => {
                return Err(QueryError::malformed(t.pos, "Bind variables are only allowed in Apex code".to_string()));
            }
            other => {
                return Err(QueryError::malformed(t.pos, format!("unexpected token: {}", other.describe())));
            }
        };
        Ok(Literal { kind, pos: t.pos })
    }
}

fn unsupported(pos: Pos, what: &str) -> QueryError {
    QueryError::malformed(pos, format!("{what} is not supported by this emulator"))
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    fn parse(s: &str) -> Result<Query, QueryError> {
        parse_query(&tokenize(s)?)
    }

    #[test]
    fn parses_the_sync_query_shape() {
        let q = parse(
            "SELECT Id, Subject, Contact.Email, Account.Owner.Name, \
             (SELECT Id, Body FROM Feeds ORDER BY CreatedDate DESC NULLS LAST LIMIT 5) \
             FROM Case WHERE OwnerId = '005000000000001' AND (SystemModstamp >= 2024-01-02T03:04:05Z OR Id IN ('500000000000001')) \
             ORDER BY SystemModstamp, Id LIMIT 200 OFFSET 10",
        )
        .unwrap();
        assert_eq!(q.select.len(), 5);
        assert_eq!(q.from.text, "Case");
        assert!(matches!(&q.select[3], SelectItem::Field(p) if p.parts.join(".") == "Account.Owner.Name"));
        let SelectItem::Subquery(sub) = &q.select[4] else { panic!() };
        assert!(sub.order_by[0].descending);
        assert_eq!(sub.order_by[0].nulls_first, Some(false));
        assert!(matches!(&q.filter, Some(Condition::And(terms)) if terms.len() == 2));
        assert_eq!(q.limit.map(|l| l.value), Some(200));
        assert_eq!(q.offset.map(|l| l.value), Some(10));
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let q = parse("select id from case where subject like 'a%' order by id asc nulls first limit 1").unwrap();
        assert_eq!(q.from.text, "case");
        assert!(matches!(q.filter, Some(Condition::Compare { op: CompareOp::Like, .. })));
    }

    #[test]
    fn mixing_and_with_or_needs_parentheses() {
        let e = parse("SELECT Id FROM Case WHERE A = 1 AND B = 2 OR C = 3").unwrap_err();
        assert_eq!(e.message, "unexpected token: 'OR'");
        assert!(parse("SELECT Id FROM Case WHERE (A = 1 AND B = 2) OR C = 3").is_ok());
        assert!(parse("SELECT Id FROM Case WHERE NOT A = 1 AND NOT (B = 2 OR C = 3)").is_ok());
    }

    #[test]
    fn syntax_errors_name_the_token_and_its_column() {
        let e = parse("SELECT Id FORM Case").unwrap_err();
        assert_eq!(e.message, "unexpected token: 'FORM'");
        assert_eq!(e.pos.map(|p| p.column), Some(11));
        assert_eq!(parse("SELECT Id FROM").unwrap_err().message, "unexpected token: <EOF>");
        assert_eq!(parse("SELECT Id FROM Case LIMIT x").unwrap_err().message, "unexpected token: 'x'");
        assert!(parse("SELECT Id FROM Case WHERE Id = :x").is_err());
        assert!(parse("SELECT Id FROM Case WHERE Name NOT LIKE 'x'").is_err());
    }

    #[test]
    fn semi_joins_date_literals_and_includes_parse() {
        let q = parse(
            "SELECT Id FROM Case WHERE Id NOT IN (SELECT ParentId FROM CaseComment) \
             AND CreatedDate = LAST_N_DAYS:30 AND Tags__c INCLUDES ('a;b', 'c') AND Amount > -5.5",
        )
        .unwrap();
        let Some(Condition::And(terms)) = q.filter else { panic!() };
        assert!(matches!(&terms[0], Condition::InQuery { negated: true, .. }));
        assert!(matches!(
            &terms[1],
            Condition::Compare { value: Literal { kind: LiteralKind::DateLiteral { n: Some(30), .. }, .. }, .. }
        ));
        assert!(matches!(&terms[2], Condition::Includes { excludes: false, values, .. } if values.len() == 2));
        assert!(
            matches!(&terms[3], Condition::Compare { value: Literal { kind: LiteralKind::Number(n), .. }, .. } if n == "-5.5")
        );
    }

    #[test]
    fn aggregates_and_count_parse() {
        let q = parse("SELECT COUNT() FROM Case").unwrap();
        assert!(matches!(q.select[0], SelectItem::CountAll(_)));
        let q = parse("SELECT Status, COUNT(Id) n, MAX(CreatedDate) FROM Case GROUP BY Status ORDER BY COUNT(Id) DESC")
            .unwrap();
        assert!(matches!(&q.select[1], SelectItem::Aggregate(a) if a.alias.as_deref() == Some("n")));
        assert_eq!(q.group_by.len(), 1);
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing() {
        let deep = format!("SELECT Id FROM Case WHERE {}Id = null{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).is_err());
        let nots = format!("SELECT Id FROM Case WHERE {}Id = null", "NOT ".repeat(10_000));
        assert!(parse(&nots).is_err());
    }
}
