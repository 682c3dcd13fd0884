//! The one place text becomes SOQL or SOSL: string literals, LIKE patterns,
//! `FIND {…}` terms, datetime literals and record ids.
//!
//! ```
//! use casebridge_guest::salesforce::escape;
//!
//! let last_name = "O'Brien\\";
//! let soql = format!(
//!     "SELECT Id FROM Contact WHERE LastName = {}",
//!     escape::soql_quoted(last_name),
//! );
//! assert_eq!(soql, r"SELECT Id FROM Contact WHERE LastName = 'O\'Brien\\'");
//!
//! let sosl = format!("FIND {{{}}} IN ALL FIELDS", escape::sosl_phrase("rock & roll"));
//! assert_eq!(sosl, r#"FIND {"rock \& roll"} IN ALL FIELDS"#);
//!
//! assert_eq!(escape::soql_datetime(1_704_164_645_000), "2024-01-02T03:04:05Z");
//! assert_eq!(escape::salesforce_id("003A0000006Vm9rIAC"), Some("003A0000006Vm9rIAC"));
//! assert_eq!(escape::salesforce_id("003' OR Id != '"), None);
//! ```
//!
//! The rules follow Salesforce's SOQL and SOSL reference ("Quoted String Escape
//! Sequences", "FIND {SearchQuery}", "Date Formats and Date Literals"). The
//! `reference_lexer` test module lexes queries the way Salesforce does, and the
//! property tests below prove, for any input string, that an escaped value is
//! exactly one token and decodes back to the input. Proptest with thousands of
//! cases per property stands in for a `cargo fuzz` harness: the escapers are
//! total, allocation-only functions, so coverage-guided fuzzing would add
//! little.
//!
//! Escaping is about the query text only. Sending the query is the client's
//! job: it must still percent-encode it for the URL (a literal `+` is `%2B`).

use chrono::DateTime;

use crate::model::Timestamp;

/// The longest SOQL statement Salesforce accepts, in characters.
pub const SOQL_MAX_STATEMENT_CHARS: usize = 100_000;

/// The longest string literal Salesforce accepts in a SOQL `WHERE` clause, in characters.
pub const SOQL_MAX_WHERE_STRING_CHARS: usize = 4_000;

/// The earliest instant Salesforce accepts in a datetime (1700-01-01T00:00:00Z).
pub const SOQL_MIN_DATETIME_MS: Timestamp = -8_520_336_000_000;

/// The latest instant Salesforce accepts in a datetime (4000-12-31T00:00:00Z).
pub const SOQL_MAX_DATETIME_MS: Timestamp = 64_092_124_800_000;

/// Characters with a meaning inside `FIND {…}`; each is escaped with a backslash.
pub const SOSL_RESERVED: [char; 19] =
    ['?', '&', '|', '!', '{', '}', '[', ']', '(', ')', '^', '~', '*', ':', '\\', '"', '\'', '+', '-'];

/// The content of a SOQL string literal (without the quotes).
///
/// Escapes `\` `'` `"`, newline, carriage return, tab and form feed with their
/// short escapes, and every other control character as `\uXXXX`. Backspace is
/// written `\u0008` rather than `\b`, because Salesforce's reference describes
/// `\b` as "bell" in one language and "backspace" in another. Everything else,
/// emoji and right-to-left text included, passes through unchanged.
pub fn soql_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        push_soql_char(&mut out, c);
    }
    out
}

/// A complete SOQL string literal: [`soql_string`] between single quotes.
pub fn soql_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    out.push('\'');
    for c in text.chars() {
        push_soql_char(&mut out, c);
    }
    out.push('\'');
    out
}

/// The content of a SOQL `LIKE` pattern that matches `text` literally.
///
/// Like [`soql_string`], and `%` and `_` become `\%` and `\_`. Add the
/// wildcards you mean around it: `format!("'{}%'", soql_like(prefix))`.
pub fn soql_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            '%' => out.push_str("\\%"),
            '_' => out.push_str("\\_"),
            c => push_soql_char(&mut out, c),
        }
    }
    out
}

fn push_soql_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\'' => out.push_str("\\'"),
        '"' => out.push_str("\\\""),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{0C}' => out.push_str("\\f"),
        // Control characters are U+0000–U+001F and U+007F–U+009F: four hex digits suffice.
        c if c.is_control() => {
            let code = c as u32;
            out.push_str("\\u");
            for shift in [12, 8, 4, 0] {
                let digit = (code >> shift) & 0xF;
                out.push(char::from_digit(digit, 16).unwrap_or('0'));
            }
        }
        c => out.push(c),
    }
}

/// A SOSL search term for inside `FIND {…}`: every reserved character
/// (see [`SOSL_RESERVED`]) is escaped with a backslash, so it matches itself
/// and no operator, wildcard or closing brace can appear.
///
/// A `FIND` term is one line: line breaks and other control characters become
/// spaces. Words such as `and`, `or` and `not` still act as operators in a bare
/// term; use [`sosl_phrase`] for text that is not meant to contain operators.
pub fn sosl_term(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        push_sosl_char(&mut out, c);
    }
    out
}

/// A quoted SOSL phrase, `"…"` around [`sosl_term`]: the text is searched for
/// as one phrase, and `and`, `or` and `not` inside it are plain words.
pub fn sosl_phrase(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    out.push('"');
    for c in text.chars() {
        push_sosl_char(&mut out, c);
    }
    out.push('"');
    out
}

fn push_sosl_char(out: &mut String, c: char) {
    if SOSL_RESERVED.contains(&c) {
        out.push('\\');
        out.push(c);
    } else if is_line_break_or_control(c) {
        out.push(' ');
    } else {
        out.push(c);
    }
}

/// Control characters plus the Unicode line and paragraph separators.
pub(crate) fn is_line_break_or_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// A SOQL datetime literal, unquoted: `2024-01-02T03:04:05Z`.
///
/// Milliseconds are dropped (rounded down to the second), so a watermark query
/// `SystemModstamp > …` re-reads the rest of that second rather than missing
/// it. Instants outside the range Salesforce accepts are clamped to it
/// ([`SOQL_MIN_DATETIME_MS`]..=[`SOQL_MAX_DATETIME_MS`]).
pub fn soql_datetime(ts: Timestamp) -> String {
    let clamped = ts.clamp(SOQL_MIN_DATETIME_MS, SOQL_MAX_DATETIME_MS);
    match DateTime::from_timestamp_millis(clamped) {
        Some(instant) => instant.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        // Unreachable: every instant in the clamped range is representable.
        None => "1970-01-01T00:00:00Z".to_owned(),
    }
}

/// `text` if it has the shape of a Salesforce record id (15 or 18 ASCII
/// letters and digits), so it can go into a query unquoted or quoted as is.
///
/// This checks the shape only, not the 18-character checksum: Salesforce
/// itself accepts an 18-character id in any letter case.
pub fn salesforce_id(text: &str) -> Option<&str> {
    let shaped = matches!(text.len(), 15 | 18) && text.bytes().all(|b| b.is_ascii_alphanumeric());
    shaped.then_some(text)
}

/// A small lexer for SOQL and SOSL that follows Salesforce's rules, for tests
/// that prove an escaped value cannot change the shape of a query.
#[cfg(test)]
pub(crate) mod reference_lexer {
    use super::SOSL_RESERVED;

    /// One token of a query.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum Token {
        /// A keyword or a field/object name (`SELECT`, `Contact`, `Account.Name`).
        Word(String),
        /// A number or date literal (`50`, `2024-01-02T03:04:05Z`).
        Literal(String),
        /// A string literal: the raw text between the single quotes, escapes kept.
        Str(String),
        /// A SOSL search: the raw text between `FIND {` and its closing `}`, escapes kept.
        Search(String),
        /// Any other single character: `(`, `)`, `,`, `=`, …
        Symbol(char),
    }

    /// Why a query or a literal does not lex.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum LexError {
        /// A string literal or search has no closing quote or brace.
        Unterminated,
        /// A backslash followed by something that is not a valid escape.
        BadEscape(String),
        /// A raw control character where Salesforce expects one line of text.
        RawControl(char),
        /// An unescaped SOSL reserved character inside a term.
        Operator(char),
    }

    /// One element of a decoded `LIKE` pattern.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Piece {
        Char(char),
        /// Unescaped `%`.
        AnyChars,
        /// Unescaped `_`.
        OneChar,
    }

    /// Splits a SOQL or SOSL statement into tokens. A string literal ends at
    /// the first unescaped `'`; a search after `FIND` ends at the first
    /// unescaped `}`.
    pub(crate) fn lex(text: &str) -> Result<Vec<Token>, LexError> {
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_whitespace() {
                continue;
            }
            if c == '\'' {
                tokens.push(Token::Str(scan_until(&mut chars, '\'')?));
            } else if c == '{' && matches!(tokens.last(), Some(Token::Word(w)) if w.eq_ignore_ascii_case("FIND")) {
                tokens.push(Token::Search(scan_until(&mut chars, '}')?));
            } else if c.is_ascii_alphabetic() || c == '_' {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' || n == '.' {
                        word.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(word));
            } else if c.is_ascii_digit() {
                let mut literal = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || matches!(n, ':' | '+' | '-' | '.') {
                        literal.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Literal(literal));
            } else {
                tokens.push(Token::Symbol(c));
            }
        }
        Ok(tokens)
    }

    /// Collects raw text up to the first `end` not preceded by a backslash escape.
    fn scan_until(chars: &mut impl Iterator<Item = char>, end: char) -> Result<String, LexError> {
        let mut raw = String::new();
        while let Some(c) = chars.next() {
            if c == '\\' {
                let escaped = chars.next().ok_or(LexError::Unterminated)?;
                raw.push(c);
                raw.push(escaped);
            } else if c == end {
                return Ok(raw);
            } else {
                raw.push(c);
            }
        }
        Err(LexError::Unterminated)
    }

    /// Decodes the raw content of a SOQL string literal; `like` allows `\%`
    /// and `\_` and reads unescaped `%` and `_` as wildcards.
    pub(crate) fn decode_soql(raw: &str, like: bool) -> Result<Vec<Piece>, LexError> {
        let mut pieces = Vec::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            let piece = match c {
                '\\' => {
                    let e = chars.next().ok_or(LexError::BadEscape("\\".into()))?;
                    Piece::Char(match e {
                        'n' | 'N' => '\n',
                        'r' | 'R' => '\r',
                        't' | 'T' => '\t',
                        'b' | 'B' => '\u{08}',
                        'f' | 'F' => '\u{0C}',
                        '"' | '\'' | '\\' => e,
                        '%' | '_' if like => e,
                        'u' => {
                            let hex: String = chars.by_ref().take(4).collect();
                            (hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()))
                                .then(|| u32::from_str_radix(&hex, 16).ok())
                                .flatten()
                                .and_then(char::from_u32)
                                .ok_or_else(|| LexError::BadEscape(format!("\\u{hex}")))?
                        }
                        other => return Err(LexError::BadEscape(format!("\\{other}"))),
                    })
                }
                '%' if like => Piece::AnyChars,
                '_' if like => Piece::OneChar,
                c if c.is_control() => return Err(LexError::RawControl(c)),
                c => Piece::Char(c),
            };
            pieces.push(piece);
        }
        Ok(pieces)
    }

    /// The literal text of decoded pieces, or `None` if there is a wildcard.
    pub(crate) fn literal_text(pieces: &[Piece]) -> Option<String> {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// Decodes a bare SOSL term: `\` + reserved character is that character;
    /// any unescaped reserved character (an operator) is an error.
    pub(crate) fn decode_sosl_term(raw: &str) -> Result<String, LexError> {
        let mut text = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some(e) if SOSL_RESERVED.contains(&e) => text.push(e),
                    Some(e) => return Err(LexError::BadEscape(format!("\\{e}"))),
                    None => return Err(LexError::BadEscape("\\".into())),
                }
            } else if SOSL_RESERVED.contains(&c) {
                return Err(LexError::Operator(c));
            } else if super::is_line_break_or_control(c) {
                return Err(LexError::RawControl(c));
            } else {
                text.push(c);
            }
        }
        Ok(text)
    }

    /// Decodes a SOSL search that is exactly one quoted phrase.
    pub(crate) fn decode_sosl_phrase(raw: &str) -> Result<String, LexError> {
        let inner = raw.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')).ok_or(LexError::Unterminated)?;
        // A closing quote that is itself escaped leaves a dangling backslash,
        // which decode_sosl_term rejects.
        decode_sosl_term(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::reference_lexer::{
        LexError, Piece, Token, decode_soql, decode_sosl_phrase, decode_sosl_term, lex, literal_text,
    };
    use super::*;
    use proptest::prelude::*;

    /// Lexes `x = <literal> y` and returns the literal's raw content, proving
    /// the literal is exactly one token that does not swallow what follows.
    fn embedded_literal(literal: &str) -> String {
        let query = format!("x = {literal} y");
        let tokens = lex(&query).expect("query lexes");
        match tokens.as_slice() {
            [Token::Word(x), Token::Symbol('='), Token::Str(raw), Token::Word(y)] if x == "x" && y == "y" => {
                raw.clone()
            }
            other => panic!("{query:?} lexed as {other:?}"),
        }
    }

    fn decoded_string(text: &str) -> String {
        let raw = embedded_literal(&format!("'{}'", soql_string(text)));
        literal_text(&decode_soql(&raw, false).expect("decodes")).expect("no wildcards")
    }

    fn embedded_search(search: &str) -> String {
        let query = format!("FIND {{{search}}} IN ALL FIELDS RETURNING Contact(Id)");
        let tokens = lex(&query).expect("query lexes");
        match tokens.as_slice() {
            [
                Token::Word(find),
                Token::Search(raw),
                Token::Word(in_),
                Token::Word(all),
                Token::Word(fields),
                Token::Word(returning),
                Token::Word(contact),
                Token::Symbol('('),
                Token::Word(id),
                Token::Symbol(')'),
            ] if find == "FIND"
                && in_ == "IN"
                && all == "ALL"
                && fields == "FIELDS"
                && returning == "RETURNING"
                && contact == "Contact"
                && id == "Id" =>
            {
                raw.clone()
            }
            other => panic!("{query:?} lexed as {other:?}"),
        }
    }

    fn spaced(text: &str) -> String {
        text.chars().map(|c| if is_line_break_or_control(c) { ' ' } else { c }).collect()
    }

    #[test]
    fn single_quote_is_escaped_and_stays_inside_the_literal() {
        assert_eq!(soql_string("O'Brien"), r"O\'Brien");
        assert_eq!(soql_quoted("' OR Name != '"), r"'\' OR Name != \''");
        assert_eq!(decoded_string("' OR Name != '"), "' OR Name != '");
    }

    #[test]
    fn backslashes_are_doubled_including_a_trailing_one() {
        assert_eq!(soql_string(r"a\b"), r"a\\b");
        assert_eq!(soql_quoted("O'Brien\\"), r"'O\'Brien\\'");
        assert_eq!(decoded_string("trailing\\"), "trailing\\");
        assert_eq!(decoded_string("\\'"), "\\'");
        assert_eq!(decoded_string("\\\\\\"), "\\\\\\");
    }

    #[test]
    fn double_quotes_are_escaped() {
        assert_eq!(soql_string(r#"say "hi""#), r#"say \"hi\""#);
    }

    #[test]
    fn line_breaks_tabs_and_form_feeds_use_short_escapes() {
        assert_eq!(soql_string("a\nb\rc\td\u{0C}e"), r"a\nb\rc\td\fe");
        assert_eq!(decoded_string("line one\r\nline two"), "line one\r\nline two");
    }

    #[test]
    fn other_control_characters_use_unicode_escapes() {
        assert_eq!(soql_string("nul\0"), r"nul\u0000");
        assert_eq!(soql_string("\u{08}"), r"\u0008", "backspace is not written as the ambiguous \\b");
        assert_eq!(soql_string("\u{1b}[0m"), r"\u001b[0m");
        assert_eq!(soql_string("\u{7f}\u{85}\u{9f}"), r"\u007f\u0085\u009f");
        assert_eq!(decoded_string("\0\u{1}\u{85}"), "\0\u{1}\u{85}");
    }

    #[test]
    fn unicode_text_passes_through_unchanged() {
        for text in [
            "Zoë",
            "José",                 // precomposed
            "Jose\u{301}",          // combining acute accent
            "👩‍👩‍👧 family",            // emoji with zero-width joiners
            "שלום עולם",            // right-to-left
            "\u{202E}evil\u{202C}", // bidi override characters are format, not control
            "東京都",
            "a\u{2028}b",
        ] {
            assert_eq!(soql_string(text), text);
            assert_eq!(decoded_string(text), text);
        }
    }

    #[test]
    fn like_wildcards_match_themselves() {
        assert_eq!(soql_like("100%_off"), r"100\%\_off");
        assert_eq!(soql_like("O'Brien\\%"), r"O\'Brien\\\%");
        let raw = embedded_literal(&format!("'{}%'", soql_like("50%_")));
        let pieces = decode_soql(&raw, true).expect("decodes");
        assert_eq!(
            pieces,
            vec![Piece::Char('5'), Piece::Char('0'), Piece::Char('%'), Piece::Char('_'), Piece::AnyChars]
        );
    }

    #[test]
    fn like_escapes_are_rejected_outside_like() {
        // Guards the reference lexer itself: `\%` is only valid in LIKE.
        assert_eq!(decode_soql(r"\%", false), Err(LexError::BadEscape(r"\%".into())));
    }

    #[test]
    fn the_reference_lexer_catches_an_unescaped_quote() {
        // Without escaping, the name ends the literal early and injects a condition.
        let tokens = lex(&format!("x = '{}' y", "' OR Name != '")).expect("lexes");
        assert_eq!(tokens.len(), 9, "the name injected an OR condition: {tokens:?}");
        assert_eq!(lex("x = 'trailing\\' y"), Err(LexError::Unterminated));
    }

    #[test]
    fn every_sosl_reserved_character_is_escaped() {
        for c in SOSL_RESERVED {
            let term = sosl_term(&format!("a{c}b"));
            assert_eq!(term, format!("a\\{c}b"), "{c}");
            assert_eq!(decode_sosl_term(&embedded_search(&term)).as_deref(), Ok(format!("a{c}b").as_str()));
        }
        assert_eq!(sosl_term(r#"?&|!{}[]()^~*:\"'+-"#), r#"\?\&\|\!\{\}\[\]\(\)\^\~\*\:\\\"\'\+\-"#);
    }

    #[test]
    fn a_closing_brace_cannot_end_the_search() {
        let term = sosl_term("} IN ALL FIELDS RETURNING User(Id) //");
        assert_eq!(decode_sosl_term(&embedded_search(&term)).as_deref(), Ok("} IN ALL FIELDS RETURNING User(Id) //"));
        assert_eq!(decode_sosl_term(&embedded_search(&sosl_term("trailing\\"))).as_deref(), Ok("trailing\\"));
    }

    #[test]
    fn sosl_line_breaks_and_control_characters_become_spaces() {
        assert_eq!(sosl_term("a\nb\r\nc\td\0e\u{2028}f"), "a b  c d e f");
    }

    #[test]
    fn sosl_phrase_quotes_the_term_so_operators_are_words() {
        assert_eq!(sosl_phrase("rock and roll"), r#""rock and roll""#);
        assert_eq!(sosl_phrase(r#"say "hi""#), r#""say \"hi\"""#);
        let raw = embedded_search(&sosl_phrase("x\" OR \"y"));
        assert_eq!(decode_sosl_phrase(&raw).as_deref(), Ok("x\" OR \"y"));
    }

    #[test]
    fn very_long_strings_are_escaped_whole() {
        let long = "'\\%_".repeat(50_000);
        assert_eq!(decoded_string(&long), long);
        assert_eq!(soql_like(&long).len(), 2 * long.len());
        assert_eq!(decode_sosl_term(&embedded_search(&sosl_term(&long))).as_deref(), Ok(long.as_str()));
    }

    #[test]
    fn empty_text_escapes_to_empty() {
        assert_eq!(soql_string(""), "");
        assert_eq!(soql_quoted(""), "''");
        assert_eq!(soql_like(""), "");
        assert_eq!(sosl_term(""), "");
        assert_eq!(sosl_phrase(""), "\"\"");
    }

    #[test]
    fn datetime_literal_is_unquoted_utc_to_the_second() {
        assert_eq!(soql_datetime(1_704_164_645_000), "2024-01-02T03:04:05Z");
        assert_eq!(soql_datetime(1_704_164_645_999), "2024-01-02T03:04:05Z");
        assert_eq!(soql_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(soql_datetime(-1), "1969-12-31T23:59:59Z", "rounds down, not toward zero");
        let tokens = lex(&format!("SystemModstamp > {}", soql_datetime(1_704_164_645_000))).expect("lexes");
        assert_eq!(tokens[2], Token::Literal("2024-01-02T03:04:05Z".into()));
    }

    #[test]
    fn datetime_outside_salesforce_range_is_clamped() {
        assert_eq!(soql_datetime(i64::MIN), "1700-01-01T00:00:00Z");
        assert_eq!(soql_datetime(i64::MAX), "4000-12-31T00:00:00Z");
        assert_eq!(soql_datetime(SOQL_MIN_DATETIME_MS), "1700-01-01T00:00:00Z");
        assert_eq!(soql_datetime(SOQL_MAX_DATETIME_MS), "4000-12-31T00:00:00Z");
    }

    #[test]
    fn salesforce_id_accepts_15_and_18_alphanumerics_only() {
        assert_eq!(salesforce_id("003A0000006Vm9r"), Some("003A0000006Vm9r"));
        assert_eq!(salesforce_id("003A0000006Vm9rIAC"), Some("003A0000006Vm9rIAC"));
        for bad in [
            "",
            "003A0000006Vm9",
            "003A0000006Vm9rI",
            "003A0000006Vm9rIACX",
            "003A0000006Vm9' ",
            "003A0000006Vm9r\n",
            " 003A0000006Vm9r",
            "003A0000006Vm9é", // 15 bytes, but not ASCII
            "003A0000006Vm-r",
        ] {
            assert_eq!(salesforce_id(bad), None, "{bad:?}");
        }
    }

    /// Strings rich in the characters that matter, mixed with any Unicode.
    fn hostile_text() -> impl Strategy<Value = String> {
        let special = prop_oneof![
            4 => prop::sample::select(vec![
                '\'', '"', '\\', '%', '_', '{', '}', '\n', '\r', '\t', '\0', '\u{08}', '\u{0C}', '\u{85}',
                '\u{2028}', 'u', 'n', '0', ' ', '*', '?', '-', '+',
            ]),
            1 => prop::sample::select(SOSL_RESERVED.to_vec()),
            2 => any::<char>(),
        ];
        prop_oneof![prop::collection::vec(special, 0..48).prop_map(|cs| cs.into_iter().collect()), any::<String>(),]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn any_text_is_one_soql_literal_that_decodes_to_itself(text in hostile_text()) {
            let raw = embedded_literal(&soql_quoted(&text));
            let pieces = decode_soql(&raw, false).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(literal_text(&pieces), Some(text.clone()));
            prop_assert_eq!(soql_quoted(&text), format!("'{}'", soql_string(&text)));
        }

        #[test]
        fn any_text_is_one_like_pattern_without_wildcards(text in hostile_text()) {
            let raw = embedded_literal(&format!("'{}'", soql_like(&text)));
            let pieces = decode_soql(&raw, true).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(literal_text(&pieces), Some(text));
        }

        #[test]
        fn escaped_soql_never_contains_raw_control_characters(text in hostile_text()) {
            prop_assert!(!soql_string(&text).chars().any(char::is_control));
            prop_assert!(!soql_like(&text).chars().any(char::is_control));
        }

        #[test]
        fn any_text_is_one_sosl_term_that_decodes_to_itself_on_one_line(text in hostile_text()) {
            let raw = embedded_search(&sosl_term(&text));
            let decoded = decode_sosl_term(&raw).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(decoded, spaced(&text));
        }

        #[test]
        fn any_text_is_one_sosl_phrase_that_decodes_to_itself(text in hostile_text()) {
            let raw = embedded_search(&sosl_phrase(&text));
            let decoded = decode_sosl_phrase(&raw).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(decoded, spaced(&text));
        }

        #[test]
        fn any_timestamp_gives_one_datetime_literal(ts in any::<i64>()) {
            let literal = soql_datetime(ts);
            prop_assert_eq!(literal.len(), 20);
            prop_assert!(literal.ends_with('Z'));
            let tokens = lex(&format!("SystemModstamp > {literal}")).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(tokens.len(), 3);
            prop_assert_eq!(&tokens[2], &Token::Literal(literal));
        }

        #[test]
        fn an_accepted_id_is_safe_to_put_in_a_query(text in "[A-Za-z0-9' \\\\]{14,19}") {
            if let Some(id) = salesforce_id(&text) {
                prop_assert!(id.len() == 15 || id.len() == 18);
                prop_assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
            }
        }
    }
}
