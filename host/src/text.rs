//! How the connector's values read for people on the command line: words,
//! never enum names (`customer`, `feed post`, `Soft Resolution`).

use chrono::{DateTime, Utc};

use crate::runtime::bindings::describe::FieldKind;
use crate::runtime::bindings::types::{AuthorRole, FieldType, PartSource, ResolutionState};

/// A resolution state as Salesforce's picklist shows it (`in progress` before one).
pub fn resolution(state: ResolutionState) -> &'static str {
    match state {
        ResolutionState::None => "in progress",
        ResolutionState::SoftResolution => "Soft Resolution",
        ResolutionState::HardResolution => "Hard Resolution",
        ResolutionState::Abandoned => "Abandoned",
        ResolutionState::RoutedToTeam => "Routed to team",
    }
}

/// Who wrote a part.
pub fn author(role: AuthorRole) -> &'static str {
    match role {
        AuthorRole::Customer => "customer",
        AuthorRole::Agent => "agent",
        AuthorRole::Teammate => "teammate",
        AuthorRole::System => "Salesforce",
    }
}

/// Where on the case a part came from.
pub fn source(source: PartSource) -> &'static str {
    match source {
        PartSource::CaseDescription => "case description",
        PartSource::FeedItem => "feed post",
        PartSource::FeedComment => "feed comment",
        PartSource::EmailMessage => "email",
        PartSource::CaseComment => "case comment",
    }
}

/// A field's type as Salesforce's Setup names it.
pub fn field_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Id => "record id",
        FieldType::Reference => "lookup",
        FieldType::String => "text",
        FieldType::Textarea => "text area",
        FieldType::Email => "email",
        FieldType::Phone => "phone",
        FieldType::Url => "URL",
        FieldType::Picklist => "picklist",
        FieldType::Multipicklist => "multi-select picklist",
        FieldType::Combobox => "combo box",
        FieldType::Boolean => "checkbox",
        FieldType::Int => "number",
        FieldType::Long => "long number",
        FieldType::Double => "decimal number",
        FieldType::Currency => "currency",
        FieldType::Percent => "percent",
        FieldType::Date => "date",
        FieldType::Datetime => "date/time",
        FieldType::Time => "time",
        FieldType::Base64 => "file contents",
        FieldType::Encryptedstring => "encrypted text",
        FieldType::Address => "address",
        FieldType::Location => "geolocation",
        FieldType::AnyType => "any type",
        FieldType::Complexvalue => "complex value",
        FieldType::Datacategorygroupreference => "data category",
    }
}

/// Whether a catalog field may be removed.
pub fn field_kind(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::System => "system (always synced)",
        FieldKind::Standard => "standard",
        FieldKind::Custom => "custom",
    }
}

/// `3 cases`, `1 case`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `2025-03-01 12:03:04 UTC`.
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `2025-03-01 12:03:04 UTC (12 s ago)` or `(in 48 s)`, relative to `now`.
pub fn time_from(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let millis = (at - now).num_milliseconds();
    let span = span(millis.unsigned_abs() / 1000);
    match millis {
        -999..=999 => format!("{} (now)", time(at)),
        1000.. => format!("{} (in {span})", time(at)),
        _ => format!("{} ({span} ago)", time(at)),
    }
}

/// `48 s`, `3 min`, `2 h 5 min`, `3 days`.
fn span(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => match (seconds % 3600) / 60 {
            0 => format!("{} h", seconds / 3600),
            minutes => format!("{} h {minutes} min", seconds / 3600),
        },
        _ => count(seconds / 86_400, "day", "days"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_with_how_long_ago_or_ahead() {
        let now = DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(time_from(now - chrono::Duration::seconds(12), now), "2025-03-01 11:59:48 UTC (12 s ago)");
        assert_eq!(time_from(now + chrono::Duration::minutes(125), now), "2025-03-01 14:05:00 UTC (in 2 h 5 min)");
        assert_eq!(time_from(now - chrono::Duration::days(3), now), "2025-02-26 12:00:00 UTC (3 days ago)");
        assert_eq!(time_from(now - chrono::Duration::milliseconds(250), now), "2025-03-01 11:59:59 UTC (now)");
    }

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(1, "reply", "replies"), "1 reply");
        assert_eq!(count(0, "reply", "replies"), "0 replies");
    }
}

/// What a `conversion-problem` means, for people.
pub fn conversion_problem(problem: crate::runtime::bindings::mapping::ConversionProblem) -> String {
    use crate::runtime::bindings::mapping::ConversionProblem as P;
    match problem {
        P::WrongType(t) => format!("does not fit a {} field", field_type(t)),
        P::InvalidNumber => "is not a number the field can hold (digits, precision, scale)".into(),
        P::OutOfRange => "is out of the field's range".into(),
        P::InvalidDate => "is not a date; write YYYY-MM-DD".into(),
        P::InvalidDatetime => "is not a datetime; write e.g. 2024-01-02T03:04:05Z".into(),
        P::InvalidTime => "is not a time of day; write HH:MM:SS".into(),
        P::NotInPicklist => "is not an active value of the picklist".into(),
        P::TooLong(n) => format!("is longer than the field's {n} characters"),
        P::ReadOnly => "cannot be written to this field".into(),
        P::UnknownField => "belongs to a field that is not in the catalog".into(),
        P::UnsupportedType(t) => format!("cannot be written to a {} field", field_type(t)),
    }
}
