//! SOSL: `FIND {term} [IN … FIELDS] [RETURNING Object(fields WHERE … LIMIT n), …] [LIMIT n]`.
//!
//! ```
//! use casebridge_emulator::db::{Database, QueryContext, WriteContext};
//! use casebridge_emulator::schema::Schema;
//! use serde_json::json;
//!
//! let mut db = Database::new(Schema::standard());
//! let now = chrono::Utc::now();
//! let w = WriteContext { now, user_id: "005000000000001AAA".into() };
//! db.create("Contact", json!({"FirstName": "Ann", "LastName": "Lee", "Email": "ann.lee@example.com"}).as_object().unwrap(), &w).unwrap();
//! let q = QueryContext { now, api_version: "59.0".into(), user_id: w.user_id.clone() };
//! let found = db.search("FIND {ann.lee@example.com} IN EMAIL FIELDS RETURNING Contact(Name)", &q).unwrap();
//! assert_eq!(found[0]["Name"], json!("Ann Lee"));
//! ```
//!
//! The search term is matched the way Salesforce's index does, simplified:
//! text is split into lower-cased tokens at spaces and punctuation; a word
//! matches a run of consecutive tokens (`ann.lee@example.com` is
//! `ann lee example com`), `*` and `?` are wildcards (`*` not first), a
//! `"quoted phrase"` matches consecutive tokens, and `AND`, `OR`, `AND NOT`
//! and parentheses combine terms (adjacent terms mean `AND`). Phone fields
//! also match on their digits alone. A reserved character
//! (`? & | ! { } [ ] ( ) ^ ~ * : \ " ' + -`) is literal after a backslash,
//! and then separates tokens like any punctuation (`Ann\-Marie` is `ann marie`).
//!
//! Results come in RETURNING order; within an object, by relevance unless
//! its `ORDER BY` says otherwise: records whose name matches the term
//! exactly (wildcards matching nothing: `Ann*` finds "Ann Lee" before
//! "Annabel Smith") first, then those matching exactly in another field,
//! then the rest, each in record order. An object's `LIMIT` and `OFFSET`
//! apply after ranking, the overall `LIMIT` last.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::Value as Json;

use crate::db::{Database, QueryContext, Record, Value};
use crate::error::SfError;
use crate::schema::{FieldType, ObjectDef};
use crate::soql::ast::{Name, Path, Query, SelectItem};
use crate::soql::{Parser, QueryError, Tok, run_returning, tokenize};

/// Characters with a meaning in a search term; a backslash makes them literal.
const RESERVED: &str = "?&|!{}[]()^~*:\\\"'+-";

/// Which fields a search looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Name,
    Email,
    Phone,
}

/// A parsed search term.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    /// A word or a quoted phrase: consecutive tokens, each a pattern.
    Tokens(Vec<Pattern>),
    And(Box<Term>, Box<Term>),
    Or(Box<Term>, Box<Term>),
    AndNot(Box<Term>, Box<Term>),
}

/// One token pattern: literal characters and wildcards.
#[derive(Debug, Clone, PartialEq)]
struct Pattern(Vec<PatternChar>);

#[derive(Debug, Clone, Copy, PartialEq)]
enum PatternChar {
    Lit(char),
    /// `?`: exactly one character.
    One,
    /// `*`: any run of characters.
    Any,
}

/// Runs a SOSL search and returns the `searchRecords`.
pub(crate) fn search(db: &Database, sosl: &str, ctx: &QueryContext) -> Result<Vec<Json>, SfError> {
    let (term_text, rest) = split_find(sosl)?;
    let term = parse_term(&term_text)?;
    let tokens = tokenize(&rest).map_err(search_error)?;
    let mut p = Parser::new(&tokens);
    p.expect_kw("FIND").map_err(search_error)?;
    let scope = if p.eat_kw("IN") {
        let word = p.name().map_err(search_error)?;
        let scope = match word.text.to_ascii_uppercase().as_str() {
            "ALL" | "SIDEBAR" => Scope::All,
            "NAME" => Scope::Name,
            "EMAIL" => Scope::Email,
            "PHONE" => Scope::Phone,
            _ => {
                return Err(SfError::malformed_search(format!("unexpected token: '{}'", word.text)));
            }
        };
        p.expect_kw("FIELDS").map_err(search_error)?;
        scope
    } else {
        Scope::All
    };
    let mut targets: Vec<Query> = Vec::new();
    if p.eat_kw("RETURNING") {
        loop {
            let from = p.name().map_err(search_error)?;
            let query = if p.eat(&Tok::LParen) {
                let select = p.select_items().map_err(search_error)?;
                let q = p.query_tail(select, from, false).map_err(search_error)?;
                p.expect(&Tok::RParen).map_err(search_error)?;
                q
            } else {
                id_only(from)
            };
            targets.push(query);
            if !p.eat(&Tok::Comma) {
                break;
            }
        }
    }
    let overall_limit = if p.eat_kw("LIMIT") { Some(p.count().map_err(search_error)?.value) } else { None };
    p.expect_end().map_err(search_error)?;

    if targets.is_empty() {
        targets = db
            .schema()
            .objects()
            .filter(|o| o.searchable && db.object_access(&ctx.user_id, &o.name).read)
            .map(|o| id_only(Name { text: o.name.clone(), pos: Default::default() }))
            .collect();
    }
    let mut found = Vec::new();
    for target in &targets {
        let object = db.schema().object(&target.from.text).ok_or_else(|| SfError::invalid_type(&target.from.text))?;
        if !object.searchable {
            return Err(SfError::new(
                400,
                "INVALID_TYPE",
                format!("entity type {} does not support search", object.name),
            ));
        }
        let fields = searched_fields(object, scope);
        let exact = term.exact();
        let ranks: RefCell<HashMap<String, u8>> = RefCell::default();
        let matched = |r: &Record| {
            let tokens = record_tokens(r, &fields);
            if !term.matches(&tokens) {
                return false;
            }
            let names: Vec<SearchField> = tokens.iter().filter(|f| f.is_name).cloned().collect();
            let rank = if exact.matches(&names) {
                0
            } else if exact.matches(&tokens) {
                1
            } else {
                2
            };
            ranks.borrow_mut().insert(r.id.clone(), rank);
            true
        };
        let to_search_error = |e: QueryError| {
            let code = if e.code == "MALFORMED_QUERY" { "MALFORMED_SEARCH" } else { e.code };
            SfError::new(400, code, e.message)
        };
        if !target.order_by.is_empty() {
            found.extend(run_returning(db, target, ctx, &matched).map_err(to_search_error)?.records);
            continue;
        }
        // Ranked: every match (with its Id), sorted, then the object's OFFSET and LIMIT.
        let mut all = target.clone();
        all.limit = None;
        all.offset = None;
        let has_id = all
            .select
            .iter()
            .any(|i| matches!(i, SelectItem::Field(p) if p.parts.len() == 1 && p.parts[0].eq_ignore_ascii_case("Id")));
        if !has_id {
            all.select.push(SelectItem::Field(Path { parts: vec!["Id".into()], pos: target.from.pos }));
        }
        let mut records = run_returning(db, &all, ctx, &matched).map_err(to_search_error)?.records;
        let ranks = ranks.into_inner();
        records.sort_by_key(|r| r["Id"].as_str().and_then(|id| ranks.get(id)).copied().unwrap_or(u8::MAX));
        let skip = target.offset.as_ref().map_or(0, |o| usize::try_from(o.value).unwrap_or(usize::MAX));
        let take = target.limit.as_ref().map_or(usize::MAX, |l| usize::try_from(l.value).unwrap_or(usize::MAX));
        for mut record in records.into_iter().skip(skip).take(take) {
            if !has_id && let Some(map) = record.as_object_mut() {
                map.remove("Id");
            }
            found.push(record);
        }
    }
    if let Some(limit) = overall_limit {
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok(found)
}

fn search_error(e: QueryError) -> SfError {
    SfError::malformed_search(e.message)
}

/// `Object` with no field list returns ids.
fn id_only(from: Name) -> Query {
    let pos = from.pos;
    Query {
        select: vec![SelectItem::Field(Path { parts: vec!["Id".into()], pos })],
        from,
        alias: None,
        filter: None,
        group_by: Vec::new(),
        order_by: Vec::new(),
        limit: None,
        offset: None,
    }
}

/// Cuts the search term out of `FIND {…}` or `FIND '…'`; returns the raw term
/// and the text with the term blanked out, so the rest lexes as SOQL with
/// positions intact.
fn split_find(sosl: &str) -> Result<(String, String), SfError> {
    let trimmed = sosl.trim_start();
    let lead = sosl.len() - trimmed.len();
    if !trimmed.get(..4).is_some_and(|f| f.eq_ignore_ascii_case("FIND")) {
        return Err(SfError::malformed_search("unexpected token: 'FIND' expected at the start of a search"));
    }
    let after_find = lead + 4;
    let open_at = after_find + sosl[after_find..].len() - sosl[after_find..].trim_start().len();
    let (close, quoted) = match sosl[open_at..].chars().next() {
        Some('{') => ('}', false),
        Some('\'') => ('\'', true),
        _ => {
            return Err(SfError::malformed_search("No search term found. The search term must be enclosed in braces."));
        }
    };
    let mut term = String::new();
    let mut chars = sosl[open_at + 1..].char_indices();
    let end = loop {
        match chars.next() {
            None => {
                return Err(SfError::malformed_search(
                    "No search term found. The search term must be enclosed in braces.",
                ));
            }
            Some((_, '\\')) => match chars.next() {
                // In the quoted form, `\'` is the SOQL string escape for a quote.
                Some((_, '\'')) if quoted => term.push('\''),
                Some((_, c)) => {
                    term.push('\\');
                    term.push(c);
                }
                None => {
                    return Err(SfError::malformed_search(
                        "No search term found. The search term must be enclosed in braces.",
                    ));
                }
            },
            Some((i, c)) if c == close => break open_at + 1 + i,
            Some((_, c)) => term.push(c),
        }
    };
    let blanked: String = sosl[open_at..=end].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
    let rest = format!("{}{}{}", &sosl[..open_at], blanked, &sosl[end + 1..]);
    Ok((term, rest))
}

/// Lexical pieces of a search term.
#[derive(Debug, Clone, PartialEq)]
enum TermToken {
    Word(Vec<(char, bool)>),
    Phrase(Vec<(char, bool)>),
    LParen,
    RParen,
}

/// Splits a term into words, phrases and parentheses; `(char, escaped)` pairs
/// keep escaped wildcards literal.
fn lex_term(text: &str) -> Result<Vec<TermToken>, SfError> {
    let mut out = Vec::new();
    let mut word: Vec<(char, bool)> = Vec::new();
    let mut chars = text.chars().peekable();
    let flush = |word: &mut Vec<(char, bool)>, out: &mut Vec<TermToken>| {
        if !word.is_empty() {
            out.push(TermToken::Word(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => word.push((e, true)),
                None => {
                    return Err(SfError::malformed_search(
                        "Invalid search term: it ends with an escape character '\\'",
                    ));
                }
            },
            c if c.is_whitespace() => flush(&mut word, &mut out),
            '(' => {
                flush(&mut word, &mut out);
                out.push(TermToken::LParen);
            }
            ')' => {
                flush(&mut word, &mut out);
                out.push(TermToken::RParen);
            }
            '"' => {
                flush(&mut word, &mut out);
                let mut phrase = Vec::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(SfError::malformed_search("Invalid search term: unmatched '\"'"));
                        }
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => phrase.push((e, true)),
                            None => {
                                return Err(SfError::malformed_search("Invalid search term: unmatched '\"'"));
                            }
                        },
                        Some(c) => phrase.push((c, false)),
                    }
                }
                out.push(TermToken::Phrase(phrase));
            }
            '*' | '?' => word.push((c, false)),
            // Inside a word a hyphen or plus just separates tokens (`e-mail`);
            // anywhere else a reserved character must be escaped.
            '-' | '+' if !word.is_empty() && chars.peek().is_some_and(|n| n.is_alphanumeric()) => word.push((c, true)),
            c if RESERVED.contains(c) => {
                return Err(SfError::malformed_search(format!(
                    "Invalid search term: reserved character '{c}' must be escaped with a backslash"
                )));
            }
            c => word.push((c, false)),
        }
    }
    flush(&mut word, &mut out);
    Ok(out)
}

fn parse_term(text: &str) -> Result<Term, SfError> {
    let tokens = lex_term(text)?;
    if tokens.is_empty() {
        return Err(SfError::malformed_search("search term must be longer than one character"));
    }
    let mut p = TermParser { tokens: &tokens, i: 0, depth: 0 };
    let term = p.or()?;
    if p.i < tokens.len() {
        return Err(SfError::malformed_search("Invalid search term: unmatched ')'"));
    }
    Ok(term)
}

struct TermParser<'a> {
    tokens: &'a [TermToken],
    i: usize,
    depth: usize,
}

/// How deep parentheses may nest in a search term.
const MAX_TERM_DEPTH: usize = 32;

impl TermParser<'_> {
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.tokens.get(self.i), Some(TermToken::Word(w)) if w.iter().all(|(_, e)| !e) && w.iter().map(|(c, _)| c).collect::<String>().eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Term, SfError> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            self.i += 1;
            let right = self.and()?;
            left = Term::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Term, SfError> {
        let mut left = self.primary()?;
        loop {
            if self.keyword("AND") {
                self.i += 1;
                if self.keyword("NOT") {
                    self.i += 1;
                    let right = self.primary()?;
                    left = Term::AndNot(Box::new(left), Box::new(right));
                } else {
                    let right = self.primary()?;
                    left = Term::And(Box::new(left), Box::new(right));
                }
            } else if self.i < self.tokens.len() && !self.keyword("OR") && self.tokens[self.i] != TermToken::RParen {
                let right = self.primary()?;
                left = Term::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn primary(&mut self) -> Result<Term, SfError> {
        if self.keyword("AND") || self.keyword("OR") || self.keyword("NOT") {
            return Err(SfError::malformed_search(
                "Invalid search term: operators must join two search terms; quote them to search for the words",
            ));
        }
        match self.tokens.get(self.i) {
            Some(TermToken::LParen) => {
                self.depth += 1;
                if self.depth > MAX_TERM_DEPTH {
                    return Err(SfError::malformed_search("Invalid search term: too many nested parentheses"));
                }
                self.i += 1;
                let inner = self.or()?;
                if self.tokens.get(self.i) != Some(&TermToken::RParen) {
                    return Err(SfError::malformed_search("Invalid search term: unmatched '('"));
                }
                self.i += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Some(TermToken::Word(chars)) | Some(TermToken::Phrase(chars)) => {
                let is_word = matches!(self.tokens[self.i], TermToken::Word(_));
                self.i += 1;
                token_patterns(chars, is_word)
            }
            Some(TermToken::RParen) => Err(SfError::malformed_search("Invalid search term: unmatched ')'")),
            None => Err(SfError::malformed_search("Invalid search term: an operator is missing its second term")),
        }
    }
}

/// Splits a word or phrase into token patterns at non-alphanumeric characters.
fn token_patterns(chars: &[(char, bool)], is_word: bool) -> Result<Term, SfError> {
    let mut patterns: Vec<Pattern> = Vec::new();
    let mut current: Vec<PatternChar> = Vec::new();
    for &(c, escaped) in chars {
        match c {
            '*' if !escaped => current.push(PatternChar::Any),
            '?' if !escaped => current.push(PatternChar::One),
            c if c.is_alphanumeric() => current.extend(c.to_lowercase().map(PatternChar::Lit)),
            _ => {
                if !current.is_empty() {
                    patterns.push(Pattern(std::mem::take(&mut current)));
                }
            }
        }
    }
    if !current.is_empty() {
        patterns.push(Pattern(current));
    }
    // Two characters as typed, wildcards aside: `C\+\+` is long enough, `a*` is not.
    let typed = chars.iter().filter(|(c, escaped)| *escaped || !matches!(c, '*' | '?')).count();
    if is_word && typed < 2 {
        return Err(SfError::malformed_search("search term must be longer than one character"));
    }
    if patterns.first().and_then(|p| p.0.first()) == Some(&PatternChar::Any) {
        return Err(SfError::malformed_search("Invalid search term: a wildcard cannot start a search term"));
    }
    Ok(Term::Tokens(patterns))
}

/// A searched field of a record: its tokens, and for phone fields its digits.
#[derive(Debug, Clone)]
struct SearchField {
    tokens: Vec<String>,
    digits: Option<String>,
    /// A name field (`Name`, `FirstName`, `LastName`, `Subject` …): exact matches here rank first.
    is_name: bool,
}

impl Term {
    /// The term with its `*` wildcards matching nothing: what an exact match is.
    fn exact(&self) -> Term {
        match self {
            Term::Tokens(patterns) => Term::Tokens(
                patterns
                    .iter()
                    .map(|p| Pattern(p.0.iter().copied().filter(|c| *c != PatternChar::Any).collect()))
                    .collect(),
            ),
            Term::And(a, b) => Term::And(Box::new(a.exact()), Box::new(b.exact())),
            Term::Or(a, b) => Term::Or(Box::new(a.exact()), Box::new(b.exact())),
            Term::AndNot(a, b) => Term::AndNot(Box::new(a.exact()), b.clone()),
        }
    }

    /// Whether a record, given as its searched fields, matches.
    fn matches(&self, fields: &[SearchField]) -> bool {
        match self {
            Term::Tokens(patterns) => fields.iter().any(|field| {
                let by_tokens = !patterns.is_empty()
                    && field.tokens.windows(patterns.len()).any(|w| w.iter().zip(patterns).all(|(t, p)| p.matches(t)));
                by_tokens || field.digits.as_deref().is_some_and(|d| phone_digits_match(d, patterns))
            }),
            Term::And(a, b) => a.matches(fields) && b.matches(fields),
            Term::Or(a, b) => a.matches(fields) || b.matches(fields),
            Term::AndNot(a, b) => a.matches(fields) && !b.matches(fields),
        }
    }
}

/// A term made only of digits matches a phone number containing those
/// digits, whatever the punctuation: `5551234567` finds `+1 (555) 123-4567`.
fn phone_digits_match(phone_digits: &str, patterns: &[Pattern]) -> bool {
    let mut digits = String::new();
    for c in patterns.iter().flat_map(|p| &p.0) {
        match c {
            PatternChar::Lit(d) if d.is_ascii_digit() => digits.push(*d),
            _ => return false,
        }
    }
    digits.len() >= 3 && phone_digits.contains(&digits)
}

impl Pattern {
    fn matches(&self, token: &str) -> bool {
        let text: Vec<char> = token.chars().collect();
        glob(&text, &self.0)
    }
}

/// Wildcard match with `*` and `?`.
fn glob(text: &[char], pattern: &[PatternChar]) -> bool {
    let (mut t, mut p) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(PatternChar::One) => {
                t += 1;
                p += 1;
            }
            Some(PatternChar::Lit(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(PatternChar::Any) => {
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
    pattern[p..].iter().all(|c| *c == PatternChar::Any)
}

/// The fields a scope searches on an object, with whether each is a name field.
fn searched_fields(object: &ObjectDef, scope: Scope) -> Vec<(&str, FieldType, bool)> {
    object
        .fields
        .iter()
        .filter(|f| match scope {
            Scope::Name => is_name(f),
            Scope::Email => f.field_type == FieldType::Email,
            Scope::Phone => f.field_type == FieldType::Phone,
            Scope::All => matches!(
                f.field_type,
                FieldType::String
                    | FieldType::Textarea
                    | FieldType::Email
                    | FieldType::Phone
                    | FieldType::Url
                    | FieldType::Combobox
            ),
        })
        .map(|f| (f.name.as_str(), f.field_type, is_name(f)))
        .collect()
}

fn is_name(f: &crate::schema::FieldDef) -> bool {
    f.name_field || matches!(f.name.as_str(), "FirstName" | "LastName")
}

/// Each searched field's value as lower-cased tokens split at punctuation,
/// with phone numbers' bare digits alongside.
fn record_tokens(record: &Record, fields: &[(&str, FieldType, bool)]) -> Vec<SearchField> {
    fields
        .iter()
        .filter_map(|(name, field_type, is_name)| {
            let Value::Text(text) = record.get(name) else {
                return None;
            };
            let tokens =
                text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase).collect();
            let digits = (*field_type == FieldType::Phone).then(|| text.chars().filter(char::is_ascii_digit).collect());
            Some(SearchField { tokens, digits, is_name: *is_name })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::WriteContext;
    use crate::schema::Schema;
    use chrono::Utc;
    use serde_json::json;

    fn ctx() -> QueryContext {
        QueryContext { now: Utc::now(), api_version: "59.0".into(), user_id: "005000000000001AAA".into() }
    }

    fn org() -> Database {
        let mut db = Database::new(Schema::standard());
        let w = WriteContext { now: Utc::now(), user_id: "005000000000001AAA".into() };
        for fields in [
            json!({"FirstName": "Ann", "LastName": "Lee", "Email": "ann.lee@example.com", "Phone": "+1 (555) 123-4567"}),
            json!({"FirstName": "Bob", "LastName": "Leeds", "Email": "bob@example.org", "Title": "Ann's manager"}),
            json!({"FirstName": "Cy", "LastName": "O'Neil", "Email": "cy+news@example.com"}),
        ] {
            db.create("Contact", fields.as_object().unwrap(), &w).unwrap();
        }
        db.create(
            "Lead",
            json!({"LastName": "Lee", "Company": "Lee & Sons", "Email": "lead@lee.com"}).as_object().unwrap(),
            &w,
        )
        .unwrap();
        db
    }

    fn names(db: &Database, sosl: &str) -> Vec<String> {
        db.search(sosl, &ctx())
            .unwrap_or_else(|e| panic!("{sosl}: {e:?}"))
            .iter()
            .map(|r| r.get("Name").or(r.get("Id")).and_then(Json::as_str).unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn scopes_choose_the_fields_searched() {
        let db = org();
        assert_eq!(names(&db, "FIND {Lee} IN NAME FIELDS RETURNING Contact(Name)"), ["Ann Lee"]);
        assert_eq!(names(&db, "FIND {Lee*} IN NAME FIELDS RETURNING Contact(Name)"), ["Ann Lee", "Bob Leeds"]);
        assert_eq!(names(&db, "FIND {ann} IN ALL FIELDS RETURNING Contact(Name)"), ["Ann Lee", "Bob Leeds"]);
        assert_eq!(names(&db, "FIND {ann} IN NAME FIELDS RETURNING Contact(Name)"), ["Ann Lee"]);
        assert_eq!(names(&db, "find {ann.lee@example.com} in email fields returning contact(name)"), ["Ann Lee"]);
        assert_eq!(names(&db, "FIND {5551234567} IN PHONE FIELDS RETURNING Contact(Name)"), ["Ann Lee"]);
        assert_eq!(names(&db, "FIND {example.org} IN EMAIL FIELDS RETURNING Contact(Name)"), ["Bob Leeds"]);
    }

    #[test]
    fn returning_lists_objects_in_order_with_filters_and_limits() {
        let db = org();
        let found = db
            .search(
                "FIND {Lee} RETURNING Contact(Id, Name, Email WHERE Email LIKE '%.com' LIMIT 5), Lead(Id, Company)",
                &ctx(),
            )
            .unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0]["attributes"]["type"], "Contact");
        assert_eq!(found[1]["attributes"]["type"], "Lead");
        assert_eq!(found[1]["Company"], "Lee & Sons");
        let ids_only = db.search("FIND {Lee} RETURNING Lead", &ctx()).unwrap();
        assert_eq!(ids_only[0].as_object().unwrap().keys().collect::<Vec<_>>(), ["attributes", "Id"]);
        assert_eq!(
            names(&db, "FIND {example} RETURNING Contact(Name ORDER BY Name DESC LIMIT 2)"),
            ["Cy O'Neil", "Bob Leeds"]
        );
        assert_eq!(db.search("FIND {Lee} RETURNING Contact(Name), Lead(Name) LIMIT 1", &ctx()).unwrap().len(), 1);
        assert_eq!(db.search("FIND {Lee}", &ctx()).unwrap().len(), 2);
        assert_eq!(names(&db, "FIND 'Leeds' RETURNING Contact(Name)"), ["Bob Leeds"]);
    }

    #[test]
    fn operators_phrases_and_escapes() {
        let db = org();
        assert_eq!(names(&db, "FIND {ann AND lee} RETURNING Contact(Name)"), ["Ann Lee"]);
        assert_eq!(names(&db, "FIND {ann AND NOT lee} RETURNING Contact(Name)"), ["Bob Leeds"]);
        assert_eq!(names(&db, "FIND {ann OR cy} IN NAME FIELDS RETURNING Contact(Name)"), ["Ann Lee", "Cy O'Neil"]);
        assert_eq!(names(&db, "FIND {\"ann lee\"} RETURNING Contact(Name)"), ["Ann Lee"]);
        assert_eq!(names(&db, "FIND {\"lee ann\"} RETURNING Contact(Name)"), Vec::<String>::new());
        assert_eq!(names(&db, r"FIND {cy\+news@example.com} IN EMAIL FIELDS RETURNING Contact(Name)"), ["Cy O'Neil"]);
        assert_eq!(names(&db, r"FIND {O\'Neil} RETURNING Contact(Name)"), ["Cy O'Neil"]);
        assert_eq!(names(&db, r"FIND {Le?ds} RETURNING Contact(Name)"), ["Bob Leeds"]);
        assert_eq!(names(&db, r"FIND {\(555\) 123\-4567} RETURNING Contact(Name)"), ["Ann Lee"]);
    }

    #[test]
    fn malformed_searches_are_rejected() {
        let db = org();
        for bad in [
            "FIND Lee",
            "FIND {Lee",
            "FIND {a}",
            "FIND {*lee}",
            "FIND {lee & sons}",
            "FIND {O'Neil}",
            "FIND {lee!}",
            "FIND {(lee}",
            "FIND {lee)}",
            "FIND {lee OR}",
            "FIND {\"lee}",
            r"FIND {lee\}",
            "FIND {lee} IN BOGUS FIELDS",
            "FIND {lee} RETURNING Contact(Name",
            "SELECT Id FROM Contact",
        ] {
            let e = db.search(bad, &ctx()).expect_err(bad);
            assert_eq!(e.error_code, "MALFORMED_SEARCH", "{bad}: {e:?}");
        }
        assert_eq!(db.search("FIND {lee} RETURNING Nope", &ctx()).unwrap_err().error_code, "INVALID_TYPE");
        assert_eq!(db.search("FIND {lee} RETURNING CaseComment", &ctx()).unwrap_err().error_code, "INVALID_TYPE");
        assert_eq!(db.search("FIND {lee} RETURNING Contact(Bogus)", &ctx()).unwrap_err().error_code, "INVALID_FIELD");
    }

    #[test]
    fn random_input_never_panics() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let db = org();
        let alphabet: Vec<char> =
            "FIND {}()'\"\\*?&|!-+: RETURNING Contact(Name WHERE) IN NAME FIELDS LIMIT 5 abé".chars().collect();
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..3000 {
            let mut text = String::from(if rng.random_bool(0.7) { "FIND {" } else { "" });
            text.extend((0..rng.random_range(0..40)).map(|_| alphabet[rng.random_range(0..alphabet.len())]));
            let _ = db.search(&text, &ctx());
        }
    }
}
