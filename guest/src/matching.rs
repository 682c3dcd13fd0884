//! Matching a support customer to a Salesforce Contact (C1, D2): which search
//! to run, how to rank what it finds, and which Contact to create when nothing
//! matches.
//!
//! ```
//! use casebridge_guest::matching::{self, ContactQuery, SearchBasis};
//! use casebridge_guest::model::{Candidate, Customer, Outcome};
//!
//! let customer = Customer {
//!     id: "42".into(),
//!     first_name: Some("Siobhán".into()),
//!     last_name: Some("O'Brien".into()),
//!     email: Some("siobhan@example.com".into()),
//!     ..Customer::default()
//! };
//! let search = matching::search_for(&customer).unwrap();
//! assert_eq!(search.basis, SearchBasis::Name);
//! assert_eq!(
//!     search.query,
//!     ContactQuery::Soql(
//!         "SELECT Id, FirstName, LastName, Email, AccountId FROM Contact \
//!          WHERE (FirstName = 'Siobhán' AND LastName = 'O\\'Brien') OR Email = 'siobhan@example.com' \
//!          ORDER BY LastModifiedDate DESC LIMIT 50"
//!             .into()
//!     )
//! );
//!
//! // The glue runs the query and hands back what it found.
//! let found = vec![Candidate {
//!     id: "003A0000006Vm9rIAC".into(),
//!     first_name: Some("Siobhán".into()),
//!     last_name: Some("O'Brien".into()),
//!     email: Some("SIOBHAN@example.com".into()),
//!     account_id: None,
//! }];
//! assert!(matches!(matching::rank(&customer, &found).unwrap(), Outcome::Link(_)));
//! ```
//!
//! Values are cleaned the same way everywhere (control characters become
//! spaces, runs of whitespace one space, ends trimmed; blank means unknown)
//! and names are cut to their Contact field's length, so the search finds a
//! Contact this module created for the same customer.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::{Candidate, Customer, MatchReason, Outcome, RankedCandidate, WireField, WireValue};
use crate::salesforce::escape::{is_line_break_or_control, soql_quoted, sosl_phrase};

/// `Contact.FirstName` holds at most 40 characters.
pub const FIRST_NAME_MAX_CHARS: usize = 40;
/// `Contact.LastName` holds at most 80 characters.
pub const LAST_NAME_MAX_CHARS: usize = 80;
/// `Contact.Email` holds at most 80 characters.
pub const EMAIL_MAX_CHARS: usize = 80;
/// `Contact.Phone` holds at most 40 characters.
pub const PHONE_MAX_CHARS: usize = 40;

/// SOSL rejects a search term shorter than two characters (`INVALID_SEARCH`);
/// a username, handle or id with fewer letters or digits is skipped.
pub const SOSL_MIN_TERM_CHARS: usize = 2;

/// The longest username, handle or id we search for. Salesforce text fields
/// hold at most 255 characters, so a longer identifier cannot be stored in the
/// field it would match; it also keeps the `GET /search?q=` URL (every
/// character up to 12 bytes once percent-encoded) well under the 16,384-byte
/// limit on URI and headers, and far under SOSL's 4,000-character threshold
/// beyond which it changes how a search is read.
pub const SOSL_MAX_TERM_CHARS: usize = 255;

/// How many Contacts one search returns: enough to choose from, few enough to
/// show a person as suggestions.
pub const SEARCH_LIMIT: usize = 50;

/// The Contact fields every search returns (the shape of [`Candidate`]).
const CONTACT_FIELDS: &str = "Id, FirstName, LastName, Email, AccountId";

/// Same email address (trimmed, case-insensitive): the strongest evidence.
pub const SCORE_EMAIL_EXACT: u32 = 100;
/// Same first and last name.
pub const SCORE_NAME_EXACT: u32 = 50;
/// Same last name (first name different or unknown).
pub const SCORE_LAST_NAME_EXACT: u32 = 25;
/// Same first name (last name different or unknown).
pub const SCORE_FIRST_NAME_EXACT: u32 = 10;
/// The username, handle or id searched for appears in the name or email.
pub const SCORE_TERM_FOUND: u32 = 15;
/// Both sides have an email and they differ: probably a namesake.
pub const PENALTY_EMAIL_CONFLICT: u32 = 40;
/// How far the one strong candidate must lead the runner-up to be linked
/// without asking. With the scores above an email match always leads by at
/// least 50 and a clean full-name match by at least 25; the check keeps that
/// promise if the scores change.
pub const LINK_MARGIN: u32 = 25;

/// What the search looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SearchBasis {
    /// First and/or last name (SOQL on FirstName / LastName, or Email).
    Name,
    /// The username (SOSL over all fields).
    Username,
    /// The handle (SOSL over all fields).
    Handle,
    /// The customer id (SOSL over all fields).
    CustomerId,
}

/// A ready-to-run query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactQuery {
    /// A SOQL query for `/query`.
    Soql(String),
    /// A SOSL search for `/search`.
    Sosl(String),
}

/// The search to run for a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactSearch {
    pub basis: SearchBasis,
    /// The term searched for, cleaned but not escaped: `"First Last"`, one
    /// name, or the username, handle or id.
    pub term: String,
    pub query: ContactQuery,
}

/// Why no search can be built or no Contact created.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum MatchingError {
    /// The customer has no name, username, handle or id to go by.
    #[error(
        "the customer has no name, username, handle or id to search Salesforce Contacts by; \
         add one on the platform or link a Contact by hand"
    )]
    NothingToSearch,
    /// A value is longer than Salesforce accepts; the payload names it.
    #[error(
        "the customer's {0} is longer than Salesforce accepts; \
         correct it on the platform or link a Contact by hand"
    )]
    TooLong(String),
}

/// The search for a customer (D2): first and last name, or either alone when
/// only one is known, as SOQL (also matching the email when there is one);
/// when neither name is known, the username, then the handle, then the
/// customer id, as a SOSL phrase over all fields.
///
/// A username or handle with fewer than [`SOSL_MIN_TERM_CHARS`] letters or
/// digits cannot be searched and is passed over; one longer than
/// [`SOSL_MAX_TERM_CHARS`] is [`MatchingError::TooLong`]. Names are cut to their
/// field length (a Contact cannot hold more); an email too long for
/// `Contact.Email` cannot match and is left out of the query.
pub fn search_for(customer: &Customer) -> Result<ContactSearch, MatchingError> {
    let first = field_text(customer.first_name.as_deref(), FIRST_NAME_MAX_CHARS);
    let last = field_text(customer.last_name.as_deref(), LAST_NAME_MAX_CHARS);
    if first.is_some() || last.is_some() {
        return Ok(name_search(first, last, searchable_email(customer)));
    }
    let identifiers = [
        (SearchBasis::Username, customer.username.as_deref(), "username"),
        (SearchBasis::Handle, customer.handle.as_deref(), "handle"),
        (SearchBasis::CustomerId, Some(customer.id.as_str()), "id"),
    ];
    for (basis, value, label) in identifiers {
        let Some(term) = clean(value) else { continue };
        if term.chars().filter(|c| c.is_alphanumeric()).count() < SOSL_MIN_TERM_CHARS {
            continue;
        }
        if utf16_len(&term) > SOSL_MAX_TERM_CHARS {
            return Err(MatchingError::TooLong(label.to_owned()));
        }
        let query = format!(
            "FIND {{{}}} IN ALL FIELDS RETURNING Contact({CONTACT_FIELDS} \
             ORDER BY LastModifiedDate DESC LIMIT {SEARCH_LIMIT})",
            sosl_phrase(&term)
        );
        return Ok(ContactSearch { basis, term, query: ContactQuery::Sosl(query) });
    }
    Err(MatchingError::NothingToSearch)
}

fn name_search(first: Option<String>, last: Option<String>, email: Option<String>) -> ContactSearch {
    let (names, term) = match (&first, &last) {
        (Some(f), Some(l)) => {
            (format!("(FirstName = {} AND LastName = {})", soql_quoted(f), soql_quoted(l)), format!("{f} {l}"))
        }
        (Some(f), None) => (format!("FirstName = {}", soql_quoted(f)), f.clone()),
        (None, Some(l)) => (format!("LastName = {}", soql_quoted(l)), l.clone()),
        (None, None) => (String::new(), String::new()),
    };
    let condition = match email {
        Some(e) => format!("{names} OR Email = {}", soql_quoted(&e)),
        None => names,
    };
    let query = format!(
        "SELECT {CONTACT_FIELDS} FROM Contact WHERE {condition} \
         ORDER BY LastModifiedDate DESC LIMIT {SEARCH_LIMIT}"
    );
    // Cleaned names and email fit their fields and escape to at most six
    // characters each, so the statement stays far below Salesforce's
    // 100,000-character limit (a property test checks it).
    ContactSearch { basis: SearchBasis::Name, term, query: ContactQuery::Soql(query) }
}

fn searchable_email(customer: &Customer) -> Option<String> {
    clean(customer.email.as_deref()).filter(|e| utf16_len(e) <= EMAIL_MAX_CHARS)
}

/// Ranks the candidates the customer's search found (see [`search_for`]) into
/// link, suggest or create.
///
/// Each candidate is scored (the `SCORE_*` constants) with its reasons:
/// email equal, full name equal, last name only, first name only, the SOSL
/// term visible in its name or email; a different email on both sides is an
/// [`MatchReason::EmailConflict`] and costs [`PENALTY_EMAIL_CONFLICT`]. Names
/// and emails compare trimmed and case-insensitively, as SOQL's `=` does.
///
/// - **Link** the one strong candidate: the only one with the same email, or,
///   when none has it, the only one with the same full name and no
///   conflicting email, and at least [`LINK_MARGIN`] ahead of the next.
/// - **Suggest** every plausible candidate, best first (ties by id), when
///   several are strong or only weak matches exist. Plausible means a score
///   above zero after any email conflict, or any hit of a SOSL search:
///   Salesforce found the term in some field of it, maybe one we do not read.
/// - **Create** ([`new_contact`]) when no candidate is plausible.
///
/// The result does not depend on the order of `candidates`; a repeated id
/// counts once.
pub fn rank(customer: &Customer, candidates: &[Candidate]) -> Result<Outcome, MatchingError> {
    let profile = Profile::of(customer);
    let mut ranked: Vec<(Strength, RankedCandidate)> = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let scored = profile.score(candidate);
        match ranked.iter_mut().find(|(_, seen)| seen.candidate.id == candidate.id) {
            Some(seen) if order(&scored, seen).is_lt() => *seen = scored,
            Some(_) => {}
            None => ranked.push(scored),
        }
    }
    ranked.retain(|(strength, _)| *strength > Strength::None);
    ranked.sort_by(order);

    let Some((top_strength, top)) = ranked.first() else {
        return new_contact(customer).map(Outcome::Create);
    };
    let strongest_count = ranked.iter().filter(|(s, _)| s == top_strength).count();
    let runner_up = ranked.get(1).map_or(0, |(_, r)| r.score);
    if *top_strength >= Strength::Name && strongest_count == 1 && top.score >= runner_up.saturating_add(LINK_MARGIN) {
        return Ok(Outcome::Link(top.clone()));
    }
    Ok(Outcome::Suggest(ranked.into_iter().map(|(_, r)| r).collect()))
}

/// How strongly a candidate is the customer, in the order decisions use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    /// Not a match.
    None,
    /// Worth suggesting, not linking: some score left after any email
    /// conflict, or any hit of a SOSL search.
    Weak,
    /// Same full name and no conflicting email.
    Name,
    /// Same email.
    Email,
}

/// Strongest first, then highest score, then id; the remaining fields only
/// make the order total, so a repeated id resolves the same in any order.
fn order(a: &(Strength, RankedCandidate), b: &(Strength, RankedCandidate)) -> std::cmp::Ordering {
    let key = |r: &RankedCandidate| {
        let c = &r.candidate;
        (c.id.clone(), c.first_name.clone(), c.last_name.clone(), c.email.clone(), c.account_id.clone())
    };
    b.0.cmp(&a.0).then(b.1.score.cmp(&a.1.score)).then_with(|| key(&a.1).cmp(&key(&b.1)))
}

/// The customer's values in the form candidates are compared with.
struct Profile {
    first: Option<String>,
    last: Option<String>,
    email: Option<String>,
    /// The SOSL term, when the search was a SOSL search.
    term: Option<String>,
}

impl Profile {
    fn of(customer: &Customer) -> Profile {
        let term = match search_for(customer) {
            Ok(ContactSearch { basis, term, .. }) if basis != SearchBasis::Name => Some(comparable(&term)),
            _ => None,
        };
        Profile {
            first: comparable_field(customer.first_name.as_deref(), FIRST_NAME_MAX_CHARS),
            last: comparable_field(customer.last_name.as_deref(), LAST_NAME_MAX_CHARS),
            email: clean(customer.email.as_deref()).map(|e| comparable(&e)),
            term,
        }
    }

    fn score(&self, candidate: &Candidate) -> (Strength, RankedCandidate) {
        let first = comparable_field(candidate.first_name.as_deref(), FIRST_NAME_MAX_CHARS);
        let last = comparable_field(candidate.last_name.as_deref(), LAST_NAME_MAX_CHARS);
        let email = clean(candidate.email.as_deref()).map(|e| comparable(&e));

        let mut reasons = Vec::new();
        if let (Some(mine), Some(theirs)) = (&self.email, &email) {
            reasons.push(if mine == theirs { MatchReason::EmailExact } else { MatchReason::EmailConflict });
        }
        let same_first = self.first.is_some() && self.first == first;
        let same_last = self.last.is_some() && self.last == last;
        if same_first && same_last {
            reasons.push(MatchReason::NameExact);
        } else if same_last {
            reasons.push(MatchReason::LastNameExact);
        } else if same_first {
            reasons.push(MatchReason::FirstNameExact);
        }
        if let Some(term) = &self.term {
            let full_name = format!("{} {}", first.as_deref().unwrap_or(""), last.as_deref().unwrap_or(""));
            let found = [first.as_deref(), last.as_deref(), Some(full_name.trim()), email.as_deref()]
                .into_iter()
                .flatten()
                .any(|value| value.contains(term.as_str()));
            if found {
                reasons.push(MatchReason::TermFound);
            }
        }

        let gained: u32 = reasons
            .iter()
            .map(|reason| match reason {
                MatchReason::EmailExact => SCORE_EMAIL_EXACT,
                MatchReason::NameExact => SCORE_NAME_EXACT,
                MatchReason::LastNameExact => SCORE_LAST_NAME_EXACT,
                MatchReason::FirstNameExact => SCORE_FIRST_NAME_EXACT,
                MatchReason::TermFound => SCORE_TERM_FOUND,
                MatchReason::EmailConflict => 0,
            })
            .sum();
        let conflict = reasons.contains(&MatchReason::EmailConflict);
        let score = if conflict { gained.saturating_sub(PENALTY_EMAIL_CONFLICT) } else { gained };

        let strength = if reasons.contains(&MatchReason::EmailExact) {
            Strength::Email
        } else if reasons.contains(&MatchReason::NameExact) && !conflict {
            Strength::Name
        } else if score > 0 || self.term.is_some() {
            Strength::Weak
        } else {
            Strength::None
        };
        (strength, RankedCandidate { candidate: candidate.clone(), score, reasons })
    }
}

/// The fields of a Contact to create for the customer, non-empty only:
/// `FirstName`, `LastName`, `Email`, `Phone`.
///
/// Salesforce requires `LastName`; without one the username stands in, else
/// the handle, else `Customer <id>`. Names are cut to their field length. An
/// email or phone number too long for its field is [`MatchingError::TooLong`]:
/// a cut address would reach someone else. A customer with nothing to name the
/// Contact by is [`MatchingError::NothingToSearch`].
pub fn new_contact(customer: &Customer) -> Result<Vec<WireField>, MatchingError> {
    let first = field_text(customer.first_name.as_deref(), FIRST_NAME_MAX_CHARS);
    let last = field_text(customer.last_name.as_deref(), LAST_NAME_MAX_CHARS)
        .or_else(|| field_text(customer.username.as_deref(), LAST_NAME_MAX_CHARS))
        .or_else(|| field_text(customer.handle.as_deref(), LAST_NAME_MAX_CHARS))
        .or_else(|| {
            let id = clean(Some(&customer.id))?;
            field_text(Some(&format!("Customer {id}")), LAST_NAME_MAX_CHARS)
        })
        .ok_or(MatchingError::NothingToSearch)?;
    let email = identifier(customer.email.as_deref(), EMAIL_MAX_CHARS, "email")?;
    let phone = identifier(customer.phone.as_deref(), PHONE_MAX_CHARS, "phone")?;

    let fields = [("FirstName", first), ("LastName", Some(last)), ("Email", email), ("Phone", phone)];
    Ok(fields
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| WireField { name: name.to_owned(), value: WireValue::Text(v) }))
        .collect())
}

/// A cleaned value that must fit whole into a field of `max` characters.
fn identifier(value: Option<&str>, max: usize, label: &str) -> Result<Option<String>, MatchingError> {
    match clean(value) {
        Some(v) if utf16_len(&v) > max => Err(MatchingError::TooLong(label.to_owned())),
        other => Ok(other),
    }
}

/// Control characters and line breaks become spaces, runs of whitespace one
/// space, ends are trimmed; blank is `None`.
fn clean(value: Option<&str>) -> Option<String> {
    let spaced: String = value?.chars().map(|c| if is_line_break_or_control(c) { ' ' } else { c }).collect();
    let cleaned = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    (!cleaned.is_empty()).then_some(cleaned)
}

/// A cleaned value cut to a field of `max` characters.
fn field_text(value: Option<&str>, max: usize) -> Option<String> {
    let cleaned = clean(value)?;
    let cut = truncate_utf16(&cleaned, max).trim_end();
    (!cut.is_empty()).then(|| cut.to_owned())
}

fn comparable_field(value: Option<&str>, max: usize) -> Option<String> {
    field_text(value, max).map(|v| comparable(&v))
}

/// The case-insensitive form values are compared in.
fn comparable(value: &str) -> String {
    value.to_lowercase()
}

/// Length as Salesforce may count it: UTF-16 code units, so an emoji counts
/// twice. Counting this way never overfills a field, whichever way Salesforce
/// counts.
fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// The longest prefix of `text` of at most `max` UTF-16 code units, cut on a
/// character boundary.
fn truncate_utf16(text: &str, max: usize) -> &str {
    let mut units = 0;
    for (index, c) in text.char_indices() {
        units += c.len_utf16();
        if units > max {
            return &text[..index];
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::escape::SOQL_MAX_STATEMENT_CHARS;
    use crate::salesforce::escape::reference_lexer::{Token, decode_soql, decode_sosl_phrase, lex, literal_text};
    use proptest::prelude::*;

    fn customer() -> Customer {
        Customer { id: "cust-1".into(), ..Customer::default() }
    }

    fn named(first: &str, last: &str) -> Customer {
        Customer { first_name: Some(first.into()), last_name: Some(last.into()), ..customer() }
    }

    fn contact(id: &str, first: Option<&str>, last: Option<&str>, email: Option<&str>) -> Candidate {
        Candidate {
            id: id.into(),
            first_name: first.map(Into::into),
            last_name: last.map(Into::into),
            email: email.map(Into::into),
            account_id: None,
        }
    }

    const SELECT: &str = "SELECT Id, FirstName, LastName, Email, AccountId FROM Contact WHERE";
    const ORDER: &str = "ORDER BY LastModifiedDate DESC LIMIT 50";
    const RETURNING: &str = "IN ALL FIELDS RETURNING Contact(Id, FirstName, LastName, Email, AccountId \
                             ORDER BY LastModifiedDate DESC LIMIT 50)";

    /// The intended shapes of a name search, with `''` where a value goes.
    fn name_templates() -> Vec<String> {
        [
            "(FirstName = '' AND LastName = '')",
            "(FirstName = '' AND LastName = '') OR Email = ''",
            "FirstName = ''",
            "FirstName = '' OR Email = ''",
            "LastName = ''",
            "LastName = '' OR Email = ''",
        ]
        .iter()
        .map(|condition| format!("{SELECT} {condition} {ORDER}"))
        .collect()
    }

    /// Lexes `query` and checks it has the shape of `template` token for
    /// token; returns the decoded string values (or SOSL phrase) in order.
    fn values_in_shape(query: &str, template: &str) -> Option<Vec<String>> {
        let tokens = lex(query).ok()?;
        let shape = lex(template).ok()?;
        if tokens.len() != shape.len() {
            return None;
        }
        let mut values = Vec::new();
        for (token, expected) in tokens.iter().zip(&shape) {
            match (token, expected) {
                (Token::Str(raw), Token::Str(_)) => {
                    values.push(literal_text(&decode_soql(raw, false).ok()?)?);
                }
                (Token::Search(raw), Token::Search(_)) => values.push(decode_sosl_phrase(raw).ok()?),
                (a, b) if a == b => {}
                _ => return None,
            }
        }
        Some(values)
    }

    fn soql(search: &ContactSearch) -> &str {
        match &search.query {
            ContactQuery::Soql(q) => q,
            ContactQuery::Sosl(q) => panic!("expected SOQL, got SOSL {q}"),
        }
    }

    fn sosl(search: &ContactSearch) -> &str {
        match &search.query {
            ContactQuery::Sosl(q) => q,
            ContactQuery::Soql(q) => panic!("expected SOSL, got SOQL {q}"),
        }
    }

    fn text_field<'a>(fields: &'a [WireField], name: &str) -> Option<&'a str> {
        fields.iter().find(|f| f.name == name).map(|f| match &f.value {
            WireValue::Text(t) => t.as_str(),
            other => panic!("{name} is {other:?}"),
        })
    }

    // --- the search (D2) -----------------------------------------------------

    #[test]
    fn first_and_last_name_search_by_soql() {
        let search = search_for(&named("Ada", "Lovelace")).unwrap();
        assert_eq!(search.basis, SearchBasis::Name);
        assert_eq!(search.term, "Ada Lovelace");
        assert_eq!(soql(&search), format!("{SELECT} (FirstName = 'Ada' AND LastName = 'Lovelace') {ORDER}"));
    }

    #[test]
    fn the_email_is_matched_too_when_known() {
        let c = Customer { email: Some(" ada@example.com ".into()), ..named("Ada", "Lovelace") };
        let search = search_for(&c).unwrap();
        assert_eq!(
            soql(&search),
            format!("{SELECT} (FirstName = 'Ada' AND LastName = 'Lovelace') OR Email = 'ada@example.com' {ORDER}")
        );
    }

    #[test]
    fn either_name_alone_is_searched_when_only_one_is_known() {
        let first_only = Customer { first_name: Some("Ada".into()), last_name: Some("  ".into()), ..customer() };
        let search = search_for(&first_only).unwrap();
        assert_eq!((search.basis, search.term.as_str()), (SearchBasis::Name, "Ada"));
        assert_eq!(soql(&search), format!("{SELECT} FirstName = 'Ada' {ORDER}"));

        let last_only = Customer { last_name: Some("Lovelace".into()), ..customer() };
        let search = search_for(&last_only).unwrap();
        assert_eq!(soql(&search), format!("{SELECT} LastName = 'Lovelace' {ORDER}"));
    }

    #[test]
    fn without_a_name_the_username_is_searched_before_handle_and_id() {
        let c = Customer {
            first_name: Some("".into()),
            last_name: Some(" \n ".into()),
            username: Some("ada_l".into()),
            handle: Some("@ada".into()),
            ..customer()
        };
        let search = search_for(&c).unwrap();
        assert_eq!((search.basis, search.term.as_str()), (SearchBasis::Username, "ada_l"));
        assert_eq!(sosl(&search), format!("FIND {{\"ada_l\"}} {RETURNING}"));
    }

    #[test]
    fn without_a_name_or_username_the_handle_is_searched() {
        let c = Customer { username: Some("   ".into()), handle: Some("@ada".into()), ..customer() };
        let search = search_for(&c).unwrap();
        assert_eq!((search.basis, search.term.as_str()), (SearchBasis::Handle, "@ada"));
    }

    #[test]
    fn without_anything_else_the_customer_id_is_searched() {
        let search = search_for(&customer()).unwrap();
        assert_eq!((search.basis, search.term.as_str()), (SearchBasis::CustomerId, "cust-1"));
        assert_eq!(sosl(&search), format!("FIND {{\"cust\\-1\"}} {RETURNING}"));
    }

    #[test]
    fn an_identifier_too_short_for_sosl_is_passed_over() {
        let c = Customer { username: Some("a".into()), handle: Some("@b".into()), ..customer() };
        assert_eq!(search_for(&c).unwrap().basis, SearchBasis::CustomerId);
        let nothing = Customer { id: "7".into(), username: Some("!!".into()), ..Customer::default() };
        assert_eq!(search_for(&nothing), Err(MatchingError::NothingToSearch));
    }

    #[test]
    fn a_customer_with_nothing_known_cannot_be_searched() {
        assert_eq!(search_for(&Customer::default()), Err(MatchingError::NothingToSearch));
    }

    #[test]
    fn an_overlong_identifier_is_too_long_and_named() {
        let c = Customer { username: Some("u".repeat(SOSL_MAX_TERM_CHARS + 1)), ..customer() };
        assert_eq!(search_for(&c), Err(MatchingError::TooLong("username".into())));
        let c = Customer { username: Some("u".repeat(SOSL_MAX_TERM_CHARS)), ..customer() };
        assert!(search_for(&c).is_ok());
        // 172 characters but 258 UTF-16 code units: an emoji counts twice.
        let c = Customer { id: "a😀".repeat(86), ..Customer::default() };
        assert_eq!(search_for(&c), Err(MatchingError::TooLong("id".into())));
    }

    #[test]
    fn overlong_names_are_cut_to_their_field_on_a_character_boundary() {
        let c = named(&"é".repeat(60), &format!("{}🙂🙂", "x".repeat(79)));
        let search = search_for(&c).unwrap();
        let values = values_in_shape(soql(&search), &name_templates()[0]).unwrap();
        assert_eq!(values[0], "é".repeat(FIRST_NAME_MAX_CHARS));
        assert_eq!(values[1], "x".repeat(79), "an emoji that does not fit whole is dropped");
    }

    #[test]
    fn an_email_too_long_for_the_field_is_left_out_of_the_search() {
        let c = Customer { email: Some(format!("{}@example.com", "a".repeat(80))), ..named("Ada", "Lovelace") };
        assert_eq!(
            soql(&search_for(&c).unwrap()),
            format!("{SELECT} (FirstName = 'Ada' AND LastName = 'Lovelace') {ORDER}")
        );
    }

    #[test]
    fn a_quote_or_backslash_in_a_name_cannot_change_the_query() {
        let c = Customer { email: Some("x' OR Id != '".into()), ..named("' OR LastName != '", "O'Brien\\") };
        let search = search_for(&c).unwrap();
        assert_eq!(
            values_in_shape(soql(&search), &name_templates()[1]),
            Some(vec!["' OR LastName != '".into(), "O'Brien\\".into(), "x' OR Id != '".into()])
        );
    }

    #[test]
    fn a_closing_brace_in_a_username_cannot_change_the_search() {
        let c = Customer { username: Some("} IN ALL FIELDS RETURNING User(Id) {".into()), ..customer() };
        let search = search_for(&c).unwrap();
        assert_eq!(
            values_in_shape(sosl(&search), &format!("FIND {{\"\"}} {RETURNING}")),
            Some(vec!["} IN ALL FIELDS RETURNING User(Id) {".into()])
        );
    }

    #[test]
    fn sosl_operators_in_a_handle_are_searched_as_words() {
        let c = Customer { handle: Some("rock\" OR \"roll* AND NOT x".into()), ..customer() };
        let search = search_for(&c).unwrap();
        assert_eq!(sosl(&search), format!("FIND {{\"rock\\\" OR \\\"roll\\* AND NOT x\"}} {RETURNING}"));
    }

    #[test]
    fn line_breaks_in_values_become_single_spaces() {
        let c = named("Mary\n Ann", "Smith\t\r\n");
        assert_eq!(search_for(&c).unwrap().term, "Mary Ann Smith");
    }

    // --- ranking ---------------------------------------------------------------

    #[test]
    fn the_one_contact_with_the_same_email_is_linked() {
        let c = Customer { email: Some("Ada@Example.com".into()), ..named("Ada", "Lovelace") };
        let found = [
            contact("003B", Some("Ada"), Some("Lovelace"), None),
            contact("003A", Some("Augusta"), Some("King"), Some(" ada@example.COM ")),
        ];
        let Outcome::Link(linked) = rank(&c, &found).unwrap() else { panic!("expected a link") };
        assert_eq!(linked.candidate.id, "003A");
        assert_eq!(linked.score, SCORE_EMAIL_EXACT);
        assert_eq!(linked.reasons, vec![MatchReason::EmailExact]);
    }

    #[test]
    fn the_one_contact_with_the_same_full_name_is_linked() {
        let found = [
            contact("003A", Some("ada"), Some("LOVELACE"), None),
            contact("003B", Some("Byron"), Some("Lovelace"), None),
        ];
        let Outcome::Link(linked) = rank(&named("Ada", "Lovelace"), &found).unwrap() else { panic!("expected a link") };
        assert_eq!(linked.candidate.id, "003A");
        assert_eq!(linked.reasons, vec![MatchReason::NameExact]);
    }

    #[test]
    fn two_contacts_with_the_same_name_are_suggested() {
        let found = [
            contact("003B", Some("Ada"), Some("Lovelace"), None),
            contact("003A", Some("Ada"), Some("Lovelace"), Some("ada@example.com")),
        ];
        let Outcome::Suggest(suggested) = rank(&named("Ada", "Lovelace"), &found).unwrap() else {
            panic!("expected suggestions")
        };
        let ids: Vec<_> = suggested.iter().map(|r| r.candidate.id.as_str()).collect();
        assert_eq!(ids, ["003A", "003B"], "equal scores are ordered by id");
    }

    #[test]
    fn two_contacts_with_the_same_email_are_suggested() {
        let c = Customer { email: Some("ada@example.com".into()), ..named("Ada", "Lovelace") };
        let found = [
            contact("003A", Some("Ada"), Some("Lovelace"), Some("ada@example.com")),
            contact("003B", Some("A."), Some("King"), Some("ada@example.com")),
        ];
        let Outcome::Suggest(suggested) = rank(&c, &found).unwrap() else { panic!("expected suggestions") };
        assert_eq!(suggested[0].candidate.id, "003A");
        assert_eq!(suggested[0].score, SCORE_EMAIL_EXACT + SCORE_NAME_EXACT);
    }

    #[test]
    fn a_name_match_with_a_conflicting_email_is_only_suggested() {
        let c = Customer { email: Some("ada@example.com".into()), ..named("Ada", "Lovelace") };
        let found = [contact("003A", Some("Ada"), Some("Lovelace"), Some("other@example.com"))];
        let Outcome::Suggest(suggested) = rank(&c, &found).unwrap() else { panic!("expected suggestions") };
        assert_eq!(suggested[0].reasons, vec![MatchReason::EmailConflict, MatchReason::NameExact]);
        assert_eq!(suggested[0].score, SCORE_NAME_EXACT - PENALTY_EMAIL_CONFLICT);
    }

    #[test]
    fn an_email_match_beats_a_namesake_and_is_linked() {
        let c = Customer { email: Some("ada@example.com".into()), ..named("Ada", "Lovelace") };
        let found = [
            contact("003A", Some("Ada"), Some("Lovelace"), None),
            contact("003B", Some("Ada"), Some("Lovelace"), Some("ada@example.com")),
        ];
        let Outcome::Link(linked) = rank(&c, &found).unwrap() else { panic!("expected a link") };
        assert_eq!(linked.candidate.id, "003B");
    }

    #[test]
    fn a_partial_name_match_is_only_suggested() {
        let found = [contact("003A", Some("Ada"), Some("Byron"), None)];
        let Outcome::Suggest(suggested) = rank(&named("Ada", "Lovelace"), &found).unwrap() else {
            panic!("expected suggestions")
        };
        assert_eq!(suggested[0].reasons, vec![MatchReason::FirstNameExact]);

        let last_only = Customer { last_name: Some("Lovelace".into()), ..customer() };
        let found = [contact("003A", None, Some("Lovelace"), None)];
        let Outcome::Suggest(suggested) = rank(&last_only, &found).unwrap() else {
            panic!("expected suggestions: a last name alone is not enough to link")
        };
        assert_eq!(suggested[0].reasons, vec![MatchReason::LastNameExact]);
    }

    #[test]
    fn sosl_hits_are_suggested_and_those_showing_the_term_first() {
        let c = Customer { username: Some("adal".into()), ..customer() };
        let found = [
            contact("003A", Some("Ada"), Some("Lovelace"), None),
            contact("003B", Some("Ada"), Some("L"), Some("ADAL@example.com")),
        ];
        let Outcome::Suggest(suggested) = rank(&c, &found).unwrap() else { panic!("expected suggestions") };
        assert_eq!(suggested[0].candidate.id, "003B");
        assert_eq!(suggested[0].reasons, vec![MatchReason::TermFound]);
        assert_eq!(suggested[1].reasons, vec![]);
    }

    #[test]
    fn no_matching_candidate_creates_a_contact() {
        let c = Customer { email: Some("ada@example.com".into()), ..named("Ada", "Lovelace") };
        let found = [contact("003A", Some("Grace"), Some("Hopper"), Some("grace@example.com"))];
        assert_eq!(rank(&c, &found).unwrap(), Outcome::Create(new_contact(&c).unwrap()));
    }

    #[test]
    fn an_empty_candidate_list_creates_a_contact() {
        let c = named("Ada", "Lovelace");
        let Outcome::Create(fields) = rank(&c, &[]).unwrap() else { panic!("expected create") };
        assert_eq!(text_field(&fields, "LastName"), Some("Lovelace"));
    }

    #[test]
    fn creating_for_an_empty_customer_is_an_error() {
        assert_eq!(rank(&Customer::default(), &[]), Err(MatchingError::NothingToSearch));
    }

    #[test]
    fn ranking_ignores_candidate_order_and_repeats() {
        let c = Customer { email: Some("ada@example.com".into()), ..named("Ada", "Lovelace") };
        let found = vec![
            contact("003C", Some("Ada"), Some("Lovelace"), None),
            contact("003A", Some("Ada"), Some("Byron"), None),
            contact("003B", Some("Ada"), Some("Lovelace"), None),
            contact("003D", None, Some("Lovelace"), Some("x@example.com")),
        ];
        let expected = rank(&c, &found).unwrap();
        let mut reversed = found.clone();
        reversed.reverse();
        assert_eq!(rank(&c, &reversed).unwrap(), expected);
        let mut repeated = found.clone();
        repeated.extend(found.iter().cloned());
        assert_eq!(rank(&c, &repeated).unwrap(), expected);
        let Outcome::Suggest(suggested) = expected else { panic!("expected suggestions") };
        let ids: Vec<_> = suggested.iter().map(|r| r.candidate.id.as_str()).collect();
        assert_eq!(ids, ["003B", "003C", "003A"], "003D only conflicts and is dropped");
    }

    // --- creating (D2) -----------------------------------------------------------

    #[test]
    fn a_new_contact_carries_the_known_fields() {
        let c = Customer {
            email: Some(" ada@example.com ".into()),
            phone: Some("+44 20 7946 0000".into()),
            ..named("Ada", "Lovelace")
        };
        let fields = new_contact(&c).unwrap();
        let names: Vec<_> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["FirstName", "LastName", "Email", "Phone"]);
        assert_eq!(text_field(&fields, "Email"), Some("ada@example.com"));
    }

    #[test]
    fn a_new_contact_leaves_out_empty_values() {
        let c = Customer { first_name: Some(" ".into()), email: Some("".into()), ..named("", "Lovelace") };
        let fields = new_contact(&c).unwrap();
        assert_eq!(fields, vec![WireField { name: "LastName".into(), value: WireValue::Text("Lovelace".into()) }]);
    }

    #[test]
    fn without_a_last_name_the_username_then_handle_then_id_stands_in() {
        let c = Customer {
            first_name: Some("Ada".into()),
            username: Some("adal".into()),
            handle: Some("@ada".into()),
            ..customer()
        };
        assert_eq!(text_field(&new_contact(&c).unwrap(), "LastName"), Some("adal"));
        let c = Customer { username: None, ..c };
        assert_eq!(text_field(&new_contact(&c).unwrap(), "LastName"), Some("@ada"));
        let c = Customer { handle: None, ..c };
        let fields = new_contact(&c).unwrap();
        assert_eq!(text_field(&fields, "LastName"), Some("Customer cust-1"));
        assert_eq!(text_field(&fields, "FirstName"), Some("Ada"));
    }

    #[test]
    fn new_contact_names_fit_their_fields() {
        let c = Customer { id: "9".repeat(200), ..Customer::default() };
        let fields = new_contact(&c).unwrap();
        let last = text_field(&fields, "LastName").unwrap();
        assert_eq!(last.len(), LAST_NAME_MAX_CHARS);
        assert!(last.starts_with("Customer 999"));
    }

    #[test]
    fn an_overlong_email_or_phone_is_too_long_rather_than_cut() {
        let c = Customer { email: Some(format!("{}@example.com", "a".repeat(70))), ..named("Ada", "Lovelace") };
        assert_eq!(new_contact(&c), Err(MatchingError::TooLong("email".into())));
        let c = Customer { phone: Some("1".repeat(PHONE_MAX_CHARS + 1)), ..named("Ada", "Lovelace") };
        assert_eq!(new_contact(&c), Err(MatchingError::TooLong("phone".into())));
    }

    #[test]
    fn a_created_contact_is_found_and_linked_by_the_next_search() {
        let c = Customer {
            email: Some("ada@example.com".into()),
            ..named(&"Å".repeat(45), &format!("O'Brien {}", "z".repeat(90)))
        };
        let fields = new_contact(&c).unwrap();
        let stored = contact("003A", text_field(&fields, "FirstName"), text_field(&fields, "LastName"), None);
        let values = values_in_shape(soql(&search_for(&c).unwrap()), &name_templates()[1]).unwrap();
        assert_eq!(Some(values[0].as_str()), text_field(&fields, "FirstName"));
        assert_eq!(Some(values[1].as_str()), text_field(&fields, "LastName"));
        assert!(matches!(rank(&c, &[stored]).unwrap(), Outcome::Link(_)));
    }

    #[test]
    fn errors_say_which_value_and_what_to_do() {
        let message = MatchingError::TooLong("email".into()).to_string();
        assert!(message.contains("email") && message.contains("link a Contact by hand"), "{message}");
    }

    // --- any input -----------------------------------------------------------------

    fn hostile_text() -> impl Strategy<Value = Option<String>> {
        let c = prop_oneof![
            3 => prop::sample::select(vec![
                '\'', '"', '\\', '%', '_', '{', '}', '\n', '\0', ' ', '*', '-', '@', 'a', 'b', 'Z', '1',
                'é', '\u{301}', '😀', '\u{200D}', 'ש',
            ]),
            1 => any::<char>(),
        ];
        prop::option::of(prop_oneof![
            4 => prop::collection::vec(c, 0..24).prop_map(|cs| cs.into_iter().collect::<String>()),
            1 => prop::collection::vec(prop::sample::select(vec!['x', 'é', '😀', '\'']), 30..300)
                .prop_map(|cs| cs.into_iter().collect::<String>()),
        ])
    }

    fn any_customer() -> impl Strategy<Value = Customer> {
        (hostile_text(), hostile_text(), hostile_text(), hostile_text(), hostile_text(), hostile_text(), hostile_text())
            .prop_map(|(id, first_name, last_name, email, username, handle, phone)| Customer {
                id: id.unwrap_or_default(),
                first_name,
                last_name,
                email,
                username,
                handle,
                phone,
            })
    }

    fn any_candidates() -> impl Strategy<Value = Vec<Candidate>> {
        let names = prop::sample::select(vec![None, Some("Ada"), Some("ada "), Some("Lovelace"), Some("B")]);
        let emails = prop::sample::select(vec![None, Some("ada@example.com"), Some("ADA@example.com"), Some("x@y.z")]);
        let ids = prop::sample::select(vec!["003A", "003B", "003C", "003D"]);
        prop::collection::vec((ids, names.clone(), names, emails), 0..8)
            .prop_map(|rows| rows.into_iter().map(|(id, first, last, email)| contact(id, first, last, email)).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn any_customer_gives_a_query_of_the_intended_shape(c in any_customer()) {
            match search_for(&c) {
                Ok(search) => match &search.query {
                    ContactQuery::Soql(q) => {
                        prop_assert_eq!(search.basis, SearchBasis::Name);
                        let found = name_templates()
                            .into_iter()
                            .find_map(|t| values_in_shape(q, &t).map(|v| (v, t.matches("Name = ''").count())));
                        let Some((values, names)) = found else {
                            return Err(TestCaseError::fail(format!("unexpected shape: {q}")));
                        };
                        prop_assert_eq!(values[..names].join(" "), search.term.clone());
                        prop_assert!(q.chars().count() <= SOQL_MAX_STATEMENT_CHARS);
                    }
                    ContactQuery::Sosl(q) => {
                        prop_assert_ne!(search.basis, SearchBasis::Name);
                        let values = values_in_shape(q, &format!("FIND {{\"\"}} {RETURNING}"));
                        prop_assert_eq!(values, Some(vec![search.term.clone()]));
                    }
                },
                Err(MatchingError::TooLong(label)) => {
                    prop_assert!(["username", "handle", "id"].contains(&label.as_str()));
                }
                Err(MatchingError::NothingToSearch) => {}
            }
        }

        #[test]
        fn any_customer_ranks_the_same_whatever_the_candidate_order(
            c in any_customer(),
            found in any_candidates(),
        ) {
            let outcome = rank(&c, &found);
            let mut reversed = found.clone();
            reversed.reverse();
            prop_assert_eq!(&rank(&c, &reversed), &outcome);
            match outcome {
                Ok(Outcome::Link(linked)) => {
                    prop_assert!(linked.reasons.contains(&MatchReason::EmailExact)
                        || (linked.reasons.contains(&MatchReason::NameExact)
                            && !linked.reasons.contains(&MatchReason::EmailConflict)));
                }
                Ok(Outcome::Suggest(suggested)) => {
                    prop_assert!(!suggested.is_empty());
                    let mut ids: Vec<_> = suggested.iter().map(|r| &r.candidate.id).collect();
                    ids.sort();
                    ids.dedup();
                    prop_assert_eq!(ids.len(), suggested.len());
                }
                Ok(Outcome::Create(_)) | Err(_) => {}
            }
        }

        #[test]
        fn any_new_contact_fits_salesforce(c in any_customer()) {
            if let Ok(fields) = new_contact(&c) {
                prop_assert!(text_field(&fields, "LastName").is_some());
                for field in &fields {
                    let WireValue::Text(value) = &field.value else { panic!("not text") };
                    let max = match field.name.as_str() {
                        "FirstName" | "Phone" => 40,
                        _ => 80,
                    };
                    prop_assert!(!value.is_empty());
                    prop_assert!(utf16_len(value) <= max, "{} too long", field.name);
                    prop_assert!(!value.chars().any(char::is_control));
                }
            }
        }
    }
}
