//! Splits SOQL text into tokens, each remembering where it starts so errors
//! can point at it the way Salesforce does (`ERROR at Row:1:Column:12`).

use chrono::{DateTime, NaiveDate, Utc};

use super::QueryError;

/// Where a token starts: 1-based row and column, and the byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub row: usize,
    pub column: usize,
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name or keyword (`SELECT`, `Id`, `LAST_N_DAYS`, `Foo__c`).
    Ident(String),
    /// A quoted string. `raw` is the text between the quotes, escapes
    /// validated but not applied, so LIKE can tell `\_` from `_`.
    Str {
        raw: String,
    },
    /// A number as written (`42`, `3.5`); the sign is a separate token.
    Number(String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    Comma,
    Dot,
    Colon,
    LParen,
    RParen,
    Minus,
    Plus,
    /// `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`.
    Op(&'static str),
    Eof,
}

impl Tok {
    /// How Salesforce shows the token in "unexpected token" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) | Tok::Number(s) => format!("'{s}'"),
            Tok::Str { raw } => format!("'{raw}'"),
            Tok::Date(d) => format!("'{}'", d.format("%Y-%m-%d")),
            Tok::DateTime(t) => format!("'{}'", t.format("%Y-%m-%dT%H:%M:%SZ")),
            Tok::Comma => "','".into(),
            Tok::Dot => "'.'".into(),
            Tok::Colon => "':'".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Minus => "'-'".into(),
            Tok::Plus => "'+'".into(),
            Tok::Op(op) => format!("'{op}'"),
            Tok::Eof => "<EOF>".into(),
        }
    }

    /// Whether this is the keyword `kw` (keywords are case-insensitive).
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

/// Tokenizes the whole text. The last token is always [`Tok::Eof`].
pub fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let mut lexer = Lexer { chars: text.char_indices().collect(), i: 0, row: 1, column: 1, text_len: text.len() };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let done = token.tok == Tok::Eof;
        tokens.push(token);
        if done {
            return Ok(tokens);
        }
    }
}

struct Lexer {
    chars: Vec<(usize, char)>,
    i: usize,
    row: usize,
    column: usize,
    text_len: usize,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).map(|&(_, c)| c)
    }

    fn pos(&self) -> Pos {
        Pos { row: self.row, column: self.column, offset: self.chars.get(self.i).map_or(self.text_len, |&(o, _)| o) }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.i += 1;
        if c == '\n' {
            self.row += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn next_token(&mut self) -> Result<Token, QueryError> {
        while self.peek(0).is_some_and(char::is_whitespace) {
            self.bump();
        }
        let pos = self.pos();
        let Some(c) = self.peek(0) else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let tok = match c {
            '\'' => self.string(pos)?,
            '0'..='9' => self.number_or_date(pos)?,
            c if c.is_alphabetic() || c == '_' => {
                let mut s = String::new();
                while let Some(c) = self.peek(0).filter(|c| c.is_alphanumeric() || *c == '_') {
                    s.push(c);
                    self.bump();
                }
                Tok::Ident(s)
            }
            '.' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => self.number_or_date(pos)?,
            _ => {
                self.bump();
                match (c, self.peek(0)) {
                    (',', _) => Tok::Comma,
                    ('.', _) => Tok::Dot,
                    (':', _) => Tok::Colon,
                    ('(', _) => Tok::LParen,
                    (')', _) => Tok::RParen,
                    ('-', _) => Tok::Minus,
                    ('+', _) => Tok::Plus,
                    ('=', _) => Tok::Op("="),
                    ('!', Some('=')) => self.then(Tok::Op("!=")),
                    ('<', Some('>')) => self.then(Tok::Op("<>")),
                    ('<', Some('=')) => self.then(Tok::Op("<=")),
                    ('>', Some('=')) => self.then(Tok::Op(">=")),
                    ('<', _) => Tok::Op("<"),
                    ('>', _) => Tok::Op(">"),
                    (other, _) => {
                        return Err(QueryError::malformed(pos, format!("unexpected token: '{other}'")));
                    }
                }
            }
        };
        Ok(Token { tok, pos })
    }

    /// Consumes the second character of a two-character operator.
    fn then(&mut self, tok: Tok) -> Tok {
        self.bump();
        tok
    }

    /// A single-quoted string; validates escapes (SOQL allows
    /// `\n \r \t \b \f \" \' \\ \uXXXX`, and `\_ \%` for LIKE).
    fn string(&mut self, start: Pos) -> Result<Tok, QueryError> {
        self.bump();
        let mut raw = String::new();
        loop {
            let here = self.pos();
            match self.bump() {
                None => {
                    return Err(QueryError::malformed(start, "unexpected token: <EOF>".to_string()));
                }
                Some('\'') => return Ok(Tok::Str { raw }),
                Some('\\') => {
                    let Some(e) = self.bump() else {
                        return Err(QueryError::malformed(start, "unexpected token: <EOF>".to_string()));
                    };
                    match e {
                        'n' | 'r' | 't' | 'b' | 'f' | '"' | '\'' | '\\' | '_' | '%' => {}
                        'u' => {
                            for _ in 0..4 {
                                if !self.peek(0).is_some_and(|c| c.is_ascii_hexdigit()) {
                                    return Err(invalid_escape(here));
                                }
                                raw.push(self.bump().expect("peeked"));
                            }
                            raw.insert_str(raw.len() - 4, "\\u");
                            continue;
                        }
                        _ => return Err(invalid_escape(here)),
                    }
                    raw.push('\\');
                    raw.push(e);
                }
                Some(c) => raw.push(c),
            }
        }
    }

    /// A number, or an unquoted date / datetime literal (`2024-01-02`,
    /// `2024-01-02T03:04:05Z`, `…+01:00`, `….000+0000`).
    fn number_or_date(&mut self, pos: Pos) -> Result<Tok, QueryError> {
        if let Some(tok) = self.date_or_datetime(pos)? {
            return Ok(tok);
        }
        let mut s = String::new();
        while let Some(c) = self.peek(0).filter(|c| c.is_ascii_digit()) {
            s.push(c);
            self.bump();
        }
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            s.push('.');
            self.bump();
            while let Some(c) = self.peek(0).filter(|c| c.is_ascii_digit()) {
                s.push(c);
                self.bump();
            }
        }
        if self.peek(0).is_some_and(|c| c.is_alphabetic() || c == '_') {
            // `123abc` is one bad token, not a number then a name.
            while let Some(c) = self.peek(0).filter(|c| c.is_alphanumeric() || *c == '_') {
                s.push(c);
                self.bump();
            }
            return Err(QueryError::malformed(pos, format!("unexpected token: '{s}'")));
        }
        Ok(Tok::Number(s))
    }

    fn date_or_datetime(&mut self, pos: Pos) -> Result<Option<Tok>, QueryError> {
        let at = |k: usize| self.peek(k);
        let digit = |k: usize| at(k).is_some_and(|c| c.is_ascii_digit());
        let is_date = (0..4).all(digit)
            && at(4) == Some('-')
            && digit(5)
            && digit(6)
            && at(7) == Some('-')
            && digit(8)
            && digit(9);
        if !is_date {
            return Ok(None);
        }
        // Take the longest run of characters a datetime literal can hold.
        let mut len = 10;
        if at(10) == Some('T') {
            len = 11;
            while at(len).is_some_and(|c| c.is_ascii_digit() || matches!(c, ':' | '.' | '+' | '-' | 'Z' | 'z')) {
                len += 1;
            }
        }
        let text: String = (0..len).filter_map(at).collect();
        for _ in 0..len {
            self.bump();
        }
        let bad = || QueryError::malformed(pos, format!("unexpected token: '{text}'"));
        if len == 10 {
            return NaiveDate::parse_from_str(&text, "%Y-%m-%d").map(|d| Some(Tok::Date(d))).map_err(|_| bad());
        }
        parse_datetime_literal(&text).map(|t| Some(Tok::DateTime(t))).ok_or_else(bad)
    }
}

/// The datetime literal forms SOQL accepts: `Z`, `+hh:mm`, `-hh:mm`,
/// `+hhmm`, with optional fractional seconds.
fn parse_datetime_literal(text: &str) -> Option<DateTime<Utc>> {
    let normalized = text.replace('z', "Z");
    if let Ok(t) = DateTime::parse_from_rfc3339(&normalized) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"]
        .iter()
        .find_map(|f| DateTime::parse_from_str(&normalized, f).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn invalid_escape(pos: Pos) -> QueryError {
    QueryError::malformed(pos, "Invalid string literal. Illegal character sequence '\\' in string literal.".to_string())
}

/// Applies the escapes of a string literal's raw text. `\_` and `\%` keep
/// their backslash: they only mean something to LIKE.
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                out.extend(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32));
            }
            Some(e @ ('_' | '%')) => {
                out.push('\\');
                out.push(e);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn dates_datetimes_and_numbers_are_told_apart() {
        assert_eq!(
            toks("2024-01-02 2024-01-02T03:04:05Z 2024-01-02T04:04:05+01:00 2024-01-02T03:04:05.000+0000 42 -1.5"),
            vec![
                Tok::Date(NaiveDate::from_ymd_opt(2024, 1, 2).unwrap()),
                Tok::DateTime("2024-01-02T03:04:05Z".parse().unwrap()),
                Tok::DateTime("2024-01-02T03:04:05Z".parse().unwrap()),
                Tok::DateTime("2024-01-02T03:04:05Z".parse().unwrap()),
                Tok::Number("42".into()),
                Tok::Minus,
                Tok::Number("1.5".into()),
                Tok::Eof,
            ]
        );
        assert!(tokenize("2024-13-45").is_err());
        assert!(tokenize("2024-01-02T25:00:00Z").is_err());
    }

    #[test]
    fn string_escapes_are_validated_and_applied() {
        let raw = |s: &str| match &toks(s)[0] {
            Tok::Str { raw } => raw.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(unescape(&raw(r"'it\'s \\ \n \u00e9'")), "it's \\ \n é");
        assert_eq!(unescape(&raw(r"'50\%'")), r"50\%");
        assert!(tokenize(r"'bad \q'").is_err());
        assert!(tokenize(r"'bad \u12'").is_err());
        assert!(tokenize("'unterminated").is_err());
    }

    #[test]
    fn positions_are_one_based_rows_and_columns() {
        let t = tokenize("SELECT Id\nFROM Case").unwrap();
        assert_eq!((t[2].pos.row, t[2].pos.column), (2, 1));
        assert_eq!((t[1].pos.row, t[1].pos.column), (1, 8));
    }
}
