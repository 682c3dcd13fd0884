//! Conversion of one value between a Salesforce field and a platform attribute.
//!
//! ```
//! use casebridge_guest::convert::{to_attribute, to_wire};
//! use casebridge_guest::model::{AttributeValue, CalendarDate, FieldDescriptor, FieldType, WireValue};
//!
//! let field = FieldDescriptor {
//!     name: "Follow_Up_Date__c".into(), label: "Follow-up".into(), field_type: FieldType::Date,
//!     length: 0, precision: 0, scale: 0, custom: true, nillable: true, createable: true, defaulted_on_create: false,
//!     updateable: true, calculated: false, name_field: false, restricted_picklist: false,
//!     picklist_values: vec![], reference_to: vec![], relationship_name: None,
//! };
//! let date = to_attribute("Case", &field, &WireValue::Text("2024-03-31".into())).unwrap();
//! assert_eq!(date, AttributeValue::Date(CalendarDate { year: 2024, month: 3, day: 31 }));
//! assert_eq!(to_wire("Case", &field, &date).unwrap(), WireValue::Text("2024-03-31".into()));
//! ```
//!
//! Each field type has one attribute kind, whatever the value: text-like
//! fields (id, reference, string, textarea, email, phone, url, picklist,
//! combobox, base64, encryptedstring, datacategorygroupreference) → `Text`;
//! multipicklist → `List`; boolean → `Boolean`; int and long → `Integer`;
//! double, currency and percent → `Decimal`; date → `Date`; datetime →
//! `Datetime`; time → `Time`; address and location → `Compound`. anyType and
//! complexvalue follow the JSON kind of each value. JSON `null` is `Null`.
//!
//! **Reading** (`to_attribute`) checks the value's shape: its JSON kind, number
//! and date syntax, the attribute's range, and that a decimal survives `f64`
//! exactly. It does not re-check what Salesforce already enforced when it
//! stored the value (length, picklist membership, precision): an old record may
//! rightly hold an inactive picklist value or predate a shortened length.
//!
//! **Writing** (`to_wire`) checks everything Salesforce would: nillable, length
//! in characters, restricted picklists against their *active* values, each
//! multi-select item, precision and scale, the int/long ranges, Salesforce's
//! date range (1700-01-01 to 4000-12-31), email shape and Id shape. It accepts
//! the attribute kind that reading produces for the field, any exact number
//! kind for number fields, and `Text` in the field's wire text form (what a
//! person types in a Collect data step): `"42"`, `"2024-01-02"`,
//! `"13:45"`, `"true"`/`"false"` (ASCII case-insensitive), `"a;b"`. Empty text
//! and an empty list mean "no value", like `Null`. Writability for a create or
//! update is checked by [`crate::mapping`], not here.
//!
//! Dates never pass through a time zone, so they never move a day: a
//! `Datetime` is refused for a date field and a `Date` for a datetime field.

use std::borrow::Cow;

use thiserror::Error;

use crate::model::{AttributeValue, CalendarDate, FieldDescriptor, FieldType, TimeOfDay, Timestamp, WireValue};

/// At most this many characters of an offending value are kept in an error,
/// enough to recognise it without copying a 32,000-character description into logs.
pub const ERROR_VALUE_CHARS: usize = 200;

/// The earliest date Salesforce stores.
pub const EARLIEST_DATE: CalendarDate = CalendarDate { year: 1700, month: 1, day: 1 };
/// The latest date Salesforce stores.
pub const LATEST_DATE: CalendarDate = CalendarDate { year: 4000, month: 12, day: 31 };
/// The earliest datetime Salesforce stores, 1700-01-01T00:00:00Z.
pub const EARLIEST_DATETIME: Timestamp = days_from_civil(1700, 1, 1) * MS_PER_DAY;
/// The latest datetime Salesforce stores, 4000-12-31T00:00:00Z.
pub const LATEST_DATETIME: Timestamp = days_from_civil(4000, 12, 31) * MS_PER_DAY;

const MS_PER_DAY: i64 = 86_400_000;

/// Salesforce's datetime form (`2024-01-02T03:04:05.000+0000`): an offset with
/// no colon, which chrono's RFC 3339 parser rejects.
const SALESFORCE_DATETIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f%z";

/// What is wrong with a value; mirrors the WIT `conversion-problem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ConversionProblem {
    #[error("does not fit this {} field; give {}", .0.api_name(), example_of(*.0))]
    WrongType(FieldType),
    #[error(
        "is not a number this field can hold (not a plain decimal, more digits than its \
         precision and scale allow, or not exact as a 64-bit float); round it to the field's scale"
    )]
    InvalidNumber,
    #[error(
        "is out of range for this field (int: ±2,147,483,647; long: 64 bits; dates 1700-01-01 \
         to 4000-12-31); give a value inside the range"
    )]
    OutOfRange,
    #[error("is not a valid date; give YYYY-MM-DD, e.g. 2024-01-02")]
    InvalidDate,
    #[error(
        "is not a valid datetime; give e.g. 2024-01-02T03:04:05.000+0000, \
         2024-01-02T03:04:05Z or 2024-01-02T03:04:05+00:00"
    )]
    InvalidDatetime,
    #[error("is not a valid time of day; give HH:MM[:SS[.mmm]], e.g. 13:45:00.000Z")]
    InvalidTime,
    #[error(
        "is not an active value of this restricted picklist; choose one of its active values, \
         or re-sync the field if the value was added in Salesforce recently"
    )]
    NotInPicklist,
    #[error("is longer than the field's {0} characters; shorten it")]
    TooLong(u32),
    #[error(
        "cannot be written: the field is read-only for this write (not createable, not \
         updateable, or a formula); remove the mapping or map a writable field"
    )]
    ReadOnly,
    #[error(
        "belongs to a field that is not in the object's catalog; fix the mapping's field name \
         or refresh the catalog if the field is new"
    )]
    UnknownField,
    #[error(
        "cannot be converted: {} fields are not supported in this direction (write an \
         address's or location's component fields instead)",
        .0.api_name()
    )]
    UnsupportedType(FieldType),
}

/// How a value of `field_type` is written, for error messages.
fn example_of(field_type: FieldType) -> &'static str {
    use FieldType as T;
    match field_type {
        T::Id | T::Reference => "a 15- or 18-character Salesforce Id",
        T::Email => "an email address such as name@example.com",
        T::Picklist | T::Combobox => "one of the field's values as text",
        T::Multipicklist => "a list of non-empty values without `;`",
        T::Boolean => "true or false (the field cannot be empty)",
        T::Int | T::Long => "a whole number",
        T::Double | T::Currency | T::Percent => "a number",
        T::Date => "a date such as 2024-01-02 (dates are never derived from an instant)",
        T::Datetime => "an instant such as 2024-01-02T03:04:05.000+0000",
        T::Time => "a time of day such as 13:45:00.000Z",
        T::Base64 => "standard base64 text",
        T::Address | T::Location => "a JSON object",
        T::AnyType | T::Complexvalue => "a value",
        T::String | T::Textarea | T::Phone | T::Url | T::Encryptedstring | T::Datacategorygroupreference => "text",
    }
}

/// A value that could not be converted; mirrors the WIT `conversion-error`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{object}.{field}: value `{value}` {problem}")]
pub struct ConversionError {
    /// The Salesforce object, e.g. `Case`.
    pub object: String,
    /// The field's API name.
    pub field: String,
    /// The offending value as text, at most [`ERROR_VALUE_CHARS`] characters;
    /// hidden for encrypted fields.
    pub value: String,
    pub problem: ConversionProblem,
}

impl ConversionError {
    /// An error on `object`.`field`; `value` is cut to [`ERROR_VALUE_CHARS`] characters.
    pub fn new(object: &str, field: &str, value: &str, problem: ConversionProblem) -> Self {
        ConversionError {
            object: object.to_string(),
            field: field.to_string(),
            value: value.chars().take(ERROR_VALUE_CHARS).collect(),
            problem,
        }
    }

    /// An error on a described field, keeping encrypted values out of messages and logs.
    pub(crate) fn on_field(object: &str, field: &FieldDescriptor, value: &str, problem: ConversionProblem) -> Self {
        let value = if field.field_type == FieldType::Encryptedstring { "(encrypted value hidden)" } else { value };
        ConversionError::new(object, &field.name, value, problem)
    }
}

/// A wire value as text, for error messages.
pub fn wire_text(value: &WireValue) -> Cow<'_, str> {
    match value {
        WireValue::Null => "null".into(),
        WireValue::Boolean(b) => b.to_string().into(),
        WireValue::Text(s) | WireValue::Number(s) | WireValue::Compound(s) => s.as_str().into(),
    }
}

/// An attribute value as text, for error messages.
pub fn attribute_text(value: &AttributeValue) -> Cow<'_, str> {
    match value {
        AttributeValue::Null => "null".into(),
        AttributeValue::Text(s) | AttributeValue::Compound(s) => s.as_str().into(),
        AttributeValue::Boolean(b) => b.to_string().into(),
        AttributeValue::Integer(i) => i.to_string().into(),
        AttributeValue::Decimal(x) => x.to_string().into(),
        AttributeValue::Date(d) => format_date(*d).into(),
        AttributeValue::Datetime(ts) => format_datetime(*ts).into(),
        AttributeValue::Time(t) => format_time(*t).into(),
        AttributeValue::List(items) => items.join(";").into(),
    }
}

// --- Salesforce → platform ----------------------------------------------------

/// Convert one Salesforce value of `object`.`field` to an attribute value.
pub fn to_attribute(
    object: &str,
    field: &FieldDescriptor,
    value: &WireValue,
) -> Result<AttributeValue, ConversionError> {
    read(field.field_type, value)
        .map_err(|problem| ConversionError::on_field(object, field, &wire_text(value), problem))
}

/// The kind of attribute a field type reads as (the module's table); `None`
/// for anyType and complexvalue, whose kind follows each value.
pub fn value_type_of(field_type: FieldType) -> Option<crate::platform::ValueType> {
    use crate::platform::ValueType as V;
    use FieldType as T;
    Some(match field_type {
        T::Id
        | T::Reference
        | T::String
        | T::Textarea
        | T::Email
        | T::Phone
        | T::Url
        | T::Picklist
        | T::Combobox
        | T::Base64
        | T::Encryptedstring
        | T::Datacategorygroupreference => V::Text,
        T::Multipicklist => V::List,
        T::Boolean => V::Boolean,
        T::Int | T::Long => V::Integer,
        T::Double | T::Currency | T::Percent => V::Decimal,
        T::Date => V::Date,
        T::Datetime => V::Datetime,
        T::Time => V::Time,
        T::Address | T::Location => V::Compound,
        T::AnyType | T::Complexvalue => return None,
    })
}

fn read(field_type: FieldType, value: &WireValue) -> Result<AttributeValue, ConversionProblem> {
    use FieldType as T;
    let wrong = ConversionProblem::WrongType(field_type);
    match (field_type, value) {
        (_, WireValue::Null) => Ok(AttributeValue::Null),
        (T::AnyType | T::Complexvalue, value) => read_any(value),
        (
            T::Id
            | T::Reference
            | T::String
            | T::Textarea
            | T::Email
            | T::Phone
            | T::Url
            | T::Picklist
            | T::Combobox
            | T::Base64
            | T::Encryptedstring
            | T::Datacategorygroupreference,
            WireValue::Text(s),
        ) => Ok(AttributeValue::Text(s.clone())),
        (T::Multipicklist, WireValue::Text(s)) => Ok(AttributeValue::List(
            // Salesforce never stores empty items; `""` is an empty selection.
            s.split(';').filter(|item| !item.is_empty()).map(str::to_string).collect(),
        )),
        (T::Boolean, WireValue::Boolean(b)) => Ok(AttributeValue::Boolean(*b)),
        (T::Int, WireValue::Number(s)) => {
            let i = ExactDecimal::parse(s)?.to_integer()?;
            i32::try_from(i).map_err(|_| ConversionProblem::OutOfRange)?;
            Ok(AttributeValue::Integer(i))
        }
        (T::Long, WireValue::Number(s)) => Ok(AttributeValue::Integer(ExactDecimal::parse(s)?.to_integer()?)),
        (T::Double | T::Currency | T::Percent, WireValue::Number(s)) => {
            Ok(AttributeValue::Decimal(ExactDecimal::parse(s)?.to_exact_f64()?))
        }
        (T::Date, WireValue::Text(s)) => parse_date(s).map(AttributeValue::Date).ok_or(ConversionProblem::InvalidDate),
        (T::Datetime, WireValue::Text(s)) => {
            parse_datetime(s).map(AttributeValue::Datetime).ok_or(ConversionProblem::InvalidDatetime)
        }
        (T::Time, WireValue::Text(s)) => parse_time(s).map(AttributeValue::Time).ok_or(ConversionProblem::InvalidTime),
        (T::Address | T::Location, WireValue::Compound(json)) if is_json_object(json) => {
            Ok(AttributeValue::Compound(json.clone()))
        }
        _ => Err(wrong),
    }
}

/// A value of a field whose type varies per record: its JSON kind decides.
fn read_any(value: &WireValue) -> Result<AttributeValue, ConversionProblem> {
    Ok(match value {
        WireValue::Null => AttributeValue::Null,
        WireValue::Text(s) => AttributeValue::Text(s.clone()),
        WireValue::Boolean(b) => AttributeValue::Boolean(*b),
        WireValue::Number(s) => {
            let number = ExactDecimal::parse(s)?;
            match number.to_integer() {
                Ok(i) => AttributeValue::Integer(i),
                Err(_) => AttributeValue::Decimal(number.to_exact_f64()?),
            }
        }
        WireValue::Compound(json) => AttributeValue::Compound(json.clone()),
    })
}

fn is_json_object(json: &str) -> bool {
    matches!(serde_json::from_str::<serde_json::Value>(json), Ok(serde_json::Value::Object(_)))
}

// --- platform → Salesforce ----------------------------------------------------

/// Convert one attribute value to a value for `object`.`field`, checked against the field.
pub fn to_wire(object: &str, field: &FieldDescriptor, value: &AttributeValue) -> Result<WireValue, ConversionError> {
    write(field, value).map_err(|problem| ConversionError::on_field(object, field, &attribute_text(value), problem))
}

fn write(field: &FieldDescriptor, value: &AttributeValue) -> Result<WireValue, ConversionProblem> {
    use FieldType as T;
    let field_type = field.field_type;
    let wrong = ConversionProblem::WrongType(field_type);
    if matches!(field_type, T::Address | T::Location | T::AnyType | T::Complexvalue) {
        return Err(ConversionProblem::UnsupportedType(field_type));
    }
    if is_empty(value) {
        return if field.nillable { Ok(WireValue::Null) } else { Err(wrong) };
    }
    match field_type {
        T::Id
        | T::Reference
        | T::String
        | T::Textarea
        | T::Email
        | T::Phone
        | T::Url
        | T::Picklist
        | T::Combobox
        | T::Base64
        | T::Encryptedstring
        | T::Datacategorygroupreference => {
            let AttributeValue::Text(text) = value else {
                return Err(wrong);
            };
            write_text(field, text)
        }
        T::Multipicklist => {
            let items: Vec<&str> = match value {
                AttributeValue::List(items) => items.iter().map(String::as_str).collect(),
                AttributeValue::Text(text) => text.split(';').collect(),
                _ => return Err(wrong),
            };
            write_multipicklist(field, &items)
        }
        T::Boolean => match value {
            AttributeValue::Boolean(b) => Ok(WireValue::Boolean(*b)),
            AttributeValue::Text(t) if t.eq_ignore_ascii_case("true") => Ok(WireValue::Boolean(true)),
            AttributeValue::Text(t) if t.eq_ignore_ascii_case("false") => Ok(WireValue::Boolean(false)),
            _ => Err(wrong),
        },
        T::Int | T::Long | T::Double | T::Currency | T::Percent => {
            let number = match value {
                AttributeValue::Integer(i) => ExactDecimal::from_i64(*i),
                AttributeValue::Decimal(x) => ExactDecimal::from_f64(*x)?,
                AttributeValue::Text(t) => ExactDecimal::parse(t)?,
                _ => return Err(wrong),
            };
            write_number(field, &number)
        }
        T::Date => {
            let date = match value {
                AttributeValue::Date(d) if is_valid_date(*d) => *d,
                AttributeValue::Date(_) => return Err(ConversionProblem::InvalidDate),
                AttributeValue::Text(t) => parse_date(t).ok_or(ConversionProblem::InvalidDate)?,
                _ => return Err(wrong),
            };
            if date < EARLIEST_DATE || date > LATEST_DATE {
                return Err(ConversionProblem::OutOfRange);
            }
            Ok(WireValue::Text(format_date(date)))
        }
        T::Datetime => {
            let ts = match value {
                AttributeValue::Datetime(ts) => *ts,
                AttributeValue::Text(t) => parse_datetime(t).ok_or(ConversionProblem::InvalidDatetime)?,
                _ => return Err(wrong),
            };
            if !(EARLIEST_DATETIME..=LATEST_DATETIME).contains(&ts) {
                return Err(ConversionProblem::OutOfRange);
            }
            Ok(WireValue::Text(format_datetime(ts)))
        }
        T::Time => {
            let time = match value {
                AttributeValue::Time(t) if is_valid_time(*t) => *t,
                AttributeValue::Time(_) => return Err(ConversionProblem::InvalidTime),
                AttributeValue::Text(t) => parse_time(t).ok_or(ConversionProblem::InvalidTime)?,
                _ => return Err(wrong),
            };
            Ok(WireValue::Text(format_time(time)))
        }
        // Refused above.
        T::Address | T::Location | T::AnyType | T::Complexvalue => Err(ConversionProblem::UnsupportedType(field_type)),
    }
}

/// `Null`, empty text and an empty list all mean "no value" (Salesforce stores `""` as null).
fn is_empty(value: &AttributeValue) -> bool {
    match value {
        AttributeValue::Null => true,
        AttributeValue::Text(s) => s.is_empty(),
        AttributeValue::List(items) => items.is_empty(),
        _ => false,
    }
}

fn write_text(field: &FieldDescriptor, text: &str) -> Result<WireValue, ConversionProblem> {
    use FieldType as T;
    let field_type = field.field_type;
    if field_type == T::Base64 {
        // A base64 field's length limits the decoded bytes.
        let bytes = base64_decoded_len(text).ok_or(ConversionProblem::WrongType(field_type))?;
        if field.length > 0 && bytes > u64::from(field.length) {
            return Err(ConversionProblem::TooLong(field.length));
        }
        return Ok(WireValue::Text(text.to_string()));
    }
    check_length(field, text)?;
    match field_type {
        T::Email if !is_plausible_email(text) => Err(ConversionProblem::WrongType(field_type)),
        T::Id | T::Reference if !is_salesforce_id(text) => Err(ConversionProblem::WrongType(field_type)),
        T::Picklist if field.restricted_picklist && !is_active_value(field, text) => {
            Err(ConversionProblem::NotInPicklist)
        }
        _ => Ok(WireValue::Text(text.to_string())),
    }
}

fn write_multipicklist(field: &FieldDescriptor, items: &[&str]) -> Result<WireValue, ConversionProblem> {
    if items.iter().any(|item| item.is_empty() || item.contains(';')) {
        return Err(ConversionProblem::WrongType(FieldType::Multipicklist));
    }
    if field.restricted_picklist && !items.iter().all(|item| is_active_value(field, item)) {
        return Err(ConversionProblem::NotInPicklist);
    }
    let joined = items.join(";");
    check_length(field, &joined)?;
    Ok(WireValue::Text(joined))
}

/// A `length` of 0 means describe gave none: nothing to check against.
fn check_length(field: &FieldDescriptor, text: &str) -> Result<(), ConversionProblem> {
    let limit = field.length as usize;
    if limit > 0 && text.chars().nth(limit).is_some() {
        return Err(ConversionProblem::TooLong(field.length));
    }
    Ok(())
}

fn is_active_value(field: &FieldDescriptor, value: &str) -> bool {
    field.picklist_values.iter().any(|entry| entry.active && entry.value == value)
}

fn write_number(field: &FieldDescriptor, number: &ExactDecimal) -> Result<WireValue, ConversionProblem> {
    use FieldType as T;
    let text = match field.field_type {
        T::Int => {
            let i = number.to_integer()?;
            i32::try_from(i).map_err(|_| ConversionProblem::OutOfRange)?;
            i.to_string()
        }
        T::Long => number.to_integer()?.to_string(),
        _ => number.to_plain_string(),
    };
    // A precision of 0 means describe gave none: nothing to check against.
    if field.precision > 0 {
        let scale = i64::from(field.scale.min(field.precision));
        let whole_digits = i64::from(field.precision) - scale;
        if number.fraction_digits() > scale || number.integer_digits() > whole_digits {
            return Err(ConversionProblem::InvalidNumber);
        }
    }
    Ok(WireValue::Number(text))
}

/// Plausible enough for Salesforce's email check: `local@domain.tld`, no spaces.
fn is_plausible_email(text: &str) -> bool {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    !local.is_empty()
        && !local.contains('@')
        && labels.len() >= 2
        && labels.iter().all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
}

/// 15 case-sensitive or 18 case-safe alphanumeric characters.
fn is_salesforce_id(text: &str) -> bool {
    matches!(text.len(), 15 | 18) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The number of bytes standard, padded base64 text decodes to; `None` if it is not base64.
fn base64_decoded_len(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let body = text.trim_end_matches('=');
    let padding = bytes.len() - body.len();
    let is_alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    if padding > 2 || !body.bytes().all(is_alphabet) {
        return None;
    }
    Some((bytes.len() as u64 / 4) * 3 - padding as u64)
}

// --- dates, datetimes and times -------------------------------------------------

/// Parse a date in the form `YYYY-MM-DD` (four-digit year); `None` if it is not a real date.
pub fn parse_date(text: &str) -> Option<CalendarDate> {
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return None;
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let date = CalendarDate {
        year: digits_value(year)?.try_into().ok()?,
        month: digits_value(month)?.try_into().ok()?,
        day: digits_value(day)?.try_into().ok()?,
    };
    is_valid_date(date).then_some(date)
}

/// Format a date as `YYYY-MM-DD`, Salesforce's date form.
pub fn format_date(date: CalendarDate) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}

/// Whether `date` exists in the proleptic Gregorian calendar.
pub fn is_valid_date(date: CalendarDate) -> bool {
    chrono::NaiveDate::from_ymd_opt(date.year, u32::from(date.month), u32::from(date.day)).is_some()
}

/// Format an instant in Salesforce's form, `2024-01-02T03:04:05.000+0000` (UTC).
///
/// Total over every `Timestamp`: years outside 0000–9999 are written with a sign
/// (`+12345-…`, `-0001-…`), which Salesforce never accepts but which is never
/// a different instant.
pub fn format_datetime(ts: Timestamp) -> String {
    let (year, month, day) = civil_from_days(ts.div_euclid(MS_PER_DAY));
    let ms = ts.rem_euclid(MS_PER_DAY);
    let year = match year {
        0..=9999 => format!("{year:04}"),
        y if y > 9999 => format!("+{y}"),
        y => format!("-{:04}", y.unsigned_abs()),
    };
    format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}+0000",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Parse an instant: Salesforce's `2024-01-02T03:04:05.000+0000`, or with `Z`
/// or `+00:00` (or any other offset), milliseconds optional.
///
/// `None` for anything else, including more than three fraction digits (a
/// [`Timestamp`] holds milliseconds; more would be silently cut) and leap seconds.
pub fn parse_datetime(text: &str) -> Option<Timestamp> {
    // chrono's `%z` skips leading spaces; a datetime has none.
    if text.contains(char::is_whitespace) {
        return None;
    }
    let text: Cow<'_, str> = match text.strip_suffix('Z') {
        Some(rest) => format!("{rest}+0000").into(),
        None => text.into(),
    };
    let parsed = chrono::DateTime::parse_from_str(&text, SALESFORCE_DATETIME_FORMAT).ok()?;
    if parsed.timestamp_subsec_nanos() >= 1_000_000_000 {
        return None;
    }
    Some(parsed.timestamp_millis())
}

/// Parse a time of day: `HH:MM`, `HH:MM:SS` or `HH:MM:SS.s` to `.sss`, with an
/// optional trailing `Z` (Salesforce writes `13:45:00.000Z`).
pub fn parse_time(text: &str) -> Option<TimeOfDay> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (clock, fraction) = match text.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (text, None),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let (hour, minute, second) = match parts.as_slice() {
        [h, m] => (two_digits(h)?, two_digits(m)?, 0),
        [h, m, s] => (two_digits(h)?, two_digits(m)?, two_digits(s)?),
        _ => return None,
    };
    let millisecond = match fraction {
        None => 0,
        Some(f) if (1..=3).contains(&f.len()) => {
            // ".5" is 500 ms: pad to three digits.
            let value = digits_value(f)?;
            u16::try_from(value * 10u64.pow(3 - f.len() as u32)).ok()?
        }
        Some(_) => return None,
    };
    let time = TimeOfDay { hour, minute, second, millisecond };
    is_valid_time(time).then_some(time)
}

/// Format a time of day as Salesforce writes it, `13:45:00.000Z`.
pub fn format_time(time: TimeOfDay) -> String {
    format!("{:02}:{:02}:{:02}.{:03}Z", time.hour, time.minute, time.second, time.millisecond)
}

/// Whether every part of `time` is in range (no leap seconds).
pub fn is_valid_time(time: TimeOfDay) -> bool {
    time.hour < 24 && time.minute < 60 && time.second < 60 && time.millisecond < 1000
}

fn two_digits(text: &str) -> Option<u8> {
    if text.len() != 2 {
        return None;
    }
    digits_value(text)?.try_into().ok()
}

/// The value of a non-empty run of at most 18 ASCII digits.
fn digits_value(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01 (Howard Hinnant's algorithm); exact for every `i64`
/// day count a [`Timestamp`] can produce.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

// --- exact decimals -------------------------------------------------------------

/// Beyond this decimal exponent a number is out of range for every Salesforce
/// field and for `f64` (≈1.8e308); the cap also bounds the text we build.
const MAX_DECIMAL_EXPONENT: i64 = 400;

/// A decimal number held exactly as `digits × 10^exponent`, normalised (no leading
/// or trailing zeros in `digits`; zero is empty `digits`, never negative), so two
/// equal numbers compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExactDecimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl ExactDecimal {
    /// Parse JSON-number-like text: optional sign, digits with an optional
    /// fraction (`5.`, `.5` allowed), optional exponent (`1E+7`).
    fn parse(text: &str) -> Result<ExactDecimal, ConversionProblem> {
        use ConversionProblem::{InvalidNumber, OutOfRange};
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exponent_text) = match unsigned.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, Some(exponent)),
            None => (unsigned, None),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !is_digits(whole) || !is_digits(fraction) {
            return Err(InvalidNumber);
        }
        let all_digits = format!("{whole}{fraction}");
        let significant = all_digits.trim_start_matches('0');
        if significant.is_empty() {
            return Ok(ExactDecimal::zero());
        }
        let exponent = match exponent_text {
            None => 0,
            Some(e) => {
                let unsigned_e = e.strip_prefix(['+', '-']).unwrap_or(e);
                if unsigned_e.is_empty() || !is_digits(unsigned_e) {
                    return Err(InvalidNumber);
                }
                // Absurd exponents of a non-zero number are out of range, not invalid.
                e.parse::<i64>().map_err(|_| OutOfRange)?
            }
        };
        let fraction_len = i64::try_from(fraction.len()).map_err(|_| OutOfRange)?;
        let number = ExactDecimal::normalised(negative, significant, exponent.saturating_sub(fraction_len));
        let magnitude = number.exponent.saturating_add(number.digits.len() as i64);
        if magnitude.abs() > MAX_DECIMAL_EXPONENT {
            return Err(OutOfRange);
        }
        Ok(number)
    }

    fn zero() -> ExactDecimal {
        ExactDecimal { negative: false, digits: String::new(), exponent: 0 }
    }

    /// From digits without leading zeros; moves trailing zeros into the exponent.
    fn normalised(negative: bool, digits: &str, exponent: i64) -> ExactDecimal {
        let trimmed = digits.trim_end_matches('0');
        if trimmed.is_empty() {
            return ExactDecimal::zero();
        }
        let zeros = (digits.len() - trimmed.len()) as i64;
        ExactDecimal { negative, digits: trimmed.to_string(), exponent: exponent.saturating_add(zeros) }
    }

    fn from_i64(value: i64) -> ExactDecimal {
        ExactDecimal::normalised(value < 0, &value.unsigned_abs().to_string(), 0)
    }

    /// The exact decimal of the shortest text that reads back as `value`.
    fn from_f64(value: f64) -> Result<ExactDecimal, ConversionProblem> {
        if !value.is_finite() {
            return Err(ConversionProblem::InvalidNumber);
        }
        // `{:e}` is the shortest round-trip form, e.g. `1.5e-7`.
        ExactDecimal::parse(&format!("{value:e}"))
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Digits before the decimal point (0 for zero and for numbers below 1).
    fn integer_digits(&self) -> i64 {
        if self.is_zero() { 0 } else { (self.digits.len() as i64 + self.exponent).max(0) }
    }

    /// Digits after the decimal point.
    fn fraction_digits(&self) -> i64 {
        (-self.exponent).max(0)
    }

    /// The whole number; `InvalidNumber` if it has a fraction, `OutOfRange` beyond `i64`.
    fn to_integer(&self) -> Result<i64, ConversionProblem> {
        if self.is_zero() {
            return Ok(0);
        }
        if self.exponent < 0 {
            return Err(ConversionProblem::InvalidNumber);
        }
        let mut magnitude: i128 = 0;
        for digit in self.digits.bytes() {
            magnitude = magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(digit - b'0')))
                .ok_or(ConversionProblem::OutOfRange)?;
        }
        for _ in 0..self.exponent {
            magnitude = magnitude.checked_mul(10).ok_or(ConversionProblem::OutOfRange)?;
        }
        let signed = if self.negative { -magnitude } else { magnitude };
        i64::try_from(signed).map_err(|_| ConversionProblem::OutOfRange)
    }

    /// The `f64` with exactly this value's digits; `InvalidNumber` when `f64`
    /// would round it (e.g. 9007199254740993, or 17 significant digits).
    fn to_exact_f64(&self) -> Result<f64, ConversionProblem> {
        let sign = if self.negative { "-" } else { "" };
        let digits = if self.is_zero() { "0" } else { self.digits.as_str() };
        let value: f64 =
            format!("{sign}{digits}e{}", self.exponent).parse().map_err(|_| ConversionProblem::InvalidNumber)?;
        if !value.is_finite() {
            return Err(ConversionProblem::OutOfRange);
        }
        if ExactDecimal::from_f64(value)? != *self {
            return Err(ConversionProblem::InvalidNumber);
        }
        Ok(value)
    }

    /// Plain decimal text with no exponent, e.g. `-0.0015`, `1200`.
    fn to_plain_string(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let sign = if self.negative { "-" } else { "" };
        let digits = self.digits.as_str();
        if self.exponent >= 0 {
            let zeros = "0".repeat(self.exponent as usize);
            return format!("{sign}{digits}{zeros}");
        }
        let point = digits.len() as i64 + self.exponent;
        if point > 0
            && let Some((whole, fraction)) = digits.split_at_checked(point as usize)
        {
            return format!("{sign}{whole}.{fraction}");
        }
        let zeros = "0".repeat(point.unsigned_abs() as usize);
        format!("{sign}0.{zeros}{digits}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PicklistEntry;
    use proptest::prelude::*;

    fn descriptor(name: &str, field_type: FieldType) -> FieldDescriptor {
        FieldDescriptor {
            name: name.into(),
            label: name.into(),
            field_type,
            length: 0,
            precision: 0,
            scale: 0,
            custom: name.ends_with("__c"),
            nillable: true,
            createable: true,
            defaulted_on_create: false,
            updateable: true,
            calculated: false,
            name_field: false,
            restricted_picklist: false,
            picklist_values: vec![],
            reference_to: vec![],
            relationship_name: None,
        }
    }

    fn text_field(field_type: FieldType, length: u32) -> FieldDescriptor {
        FieldDescriptor { length, ..descriptor("Field__c", field_type) }
    }

    fn number_field(field_type: FieldType, precision: u32, scale: u32) -> FieldDescriptor {
        FieldDescriptor { precision, scale, ..descriptor("Amount__c", field_type) }
    }

    fn list_field(field_type: FieldType, restricted: bool) -> FieldDescriptor {
        let entry = |value: &str, active: bool| PicklistEntry {
            value: value.into(),
            label: value.into(),
            active,
            is_default: false,
        };
        FieldDescriptor {
            length: 255,
            restricted_picklist: restricted,
            picklist_values: vec![
                entry("High", true),
                entry("Medium", true),
                entry("Low", true),
                entry("Urgent", false),
            ],
            ..descriptor("Priority", field_type)
        }
    }

    fn text(s: &str) -> WireValue {
        WireValue::Text(s.into())
    }
    fn number(s: &str) -> WireValue {
        WireValue::Number(s.into())
    }
    fn attr_text(s: &str) -> AttributeValue {
        AttributeValue::Text(s.into())
    }
    fn date(year: i32, month: u8, day: u8) -> CalendarDate {
        CalendarDate { year, month, day }
    }

    fn read_problem(field: &FieldDescriptor, value: WireValue) -> ConversionProblem {
        match to_attribute("Case", field, &value) {
            Err(e) => e.problem,
            Ok(v) => panic!("{value:?} was read as {v:?}"),
        }
    }

    fn write_problem(field: &FieldDescriptor, value: AttributeValue) -> ConversionProblem {
        match to_wire("Case", field, &value) {
            Err(e) => e.problem,
            Ok(v) => panic!("{value:?} was written as {v:?}"),
        }
    }

    fn ts(text: &str) -> Timestamp {
        match parse_datetime(text) {
            Some(ts) => ts,
            None => panic!("{text} did not parse"),
        }
    }

    // --- text-like types ---

    #[test]
    fn text_types_read_text_and_refuse_other_kinds() {
        for field_type in [
            FieldType::Id,
            FieldType::Reference,
            FieldType::String,
            FieldType::Textarea,
            FieldType::Email,
            FieldType::Phone,
            FieldType::Url,
            FieldType::Picklist,
            FieldType::Combobox,
            FieldType::Base64,
            FieldType::Encryptedstring,
            FieldType::Datacategorygroupreference,
        ] {
            let field = text_field(field_type, 5);
            // Reading trusts what Salesforce stored, even beyond today's length.
            assert_eq!(to_attribute("Case", &field, &text("stored long ago")).unwrap(), attr_text("stored long ago"));
            assert_eq!(to_attribute("Case", &field, &WireValue::Null).unwrap(), AttributeValue::Null);
            assert_eq!(read_problem(&field, number("5")), ConversionProblem::WrongType(field_type));
            assert_eq!(read_problem(&field, WireValue::Boolean(true)), ConversionProblem::WrongType(field_type));
        }
    }

    #[test]
    fn text_longer_than_the_field_is_too_long_counting_characters() {
        let field = text_field(FieldType::String, 5);
        assert_eq!(to_wire("Case", &field, &attr_text("héllo")).unwrap(), text("héllo"));
        assert_eq!(to_wire("Case", &field, &attr_text("😀😀😀😀😀")).unwrap(), text("😀😀😀😀😀"));
        assert_eq!(write_problem(&field, attr_text("hello!")), ConversionProblem::TooLong(5));
        let textarea = text_field(FieldType::Textarea, 32_000);
        assert_eq!(write_problem(&textarea, attr_text(&"x".repeat(32_001))), ConversionProblem::TooLong(32_000));
    }

    #[test]
    fn text_fields_take_only_text() {
        let field = text_field(FieldType::String, 255);
        assert_eq!(write_problem(&field, AttributeValue::Integer(42)), ConversionProblem::WrongType(FieldType::String));
        assert_eq!(
            write_problem(&field, AttributeValue::Boolean(true)),
            ConversionProblem::WrongType(FieldType::String)
        );
        let phone = text_field(FieldType::Phone, 40);
        assert_eq!(to_wire("Case", &phone, &attr_text("+44 20 7946 0000")).unwrap(), text("+44 20 7946 0000"));
        let url = text_field(FieldType::Url, 255);
        assert_eq!(to_wire("Case", &url, &attr_text("https://example.com/a")).unwrap(), text("https://example.com/a"));
    }

    #[test]
    fn emails_must_look_like_addresses_on_the_way_to_salesforce() {
        let field = text_field(FieldType::Email, 80);
        for good in ["a@b.co", "first.last+tag@mail.example.org", "o'neil@example.ie"] {
            assert_eq!(to_wire("Case", &field, &attr_text(good)).unwrap(), text(good));
        }
        for bad in ["plain", "@example.com", "a@b", "a@.com", "a@b..com", "a b@c.com", "a@b.com ", "a@-b.com"] {
            assert_eq!(write_problem(&field, attr_text(bad)), ConversionProblem::WrongType(FieldType::Email), "{bad}");
        }
        // Salesforce may hold anything; reading does not judge.
        assert_eq!(to_attribute("Case", &field, &text("legacy-value")).unwrap(), attr_text("legacy-value"));
    }

    #[test]
    fn references_must_be_salesforce_ids() {
        let field = text_field(FieldType::Reference, 18);
        for good in ["003000000000001", "003000000000001AAA"] {
            assert_eq!(to_wire("Case", &field, &attr_text(good)).unwrap(), text(good));
        }
        for bad in ["003", "003000000000001AA", "003-00000000001", "0030000000000010AAA"] {
            assert_ne!(to_wire("Case", &field, &attr_text(bad)).map(|_| ()), Ok(()), "{bad}");
        }
        let id = text_field(FieldType::Id, 18);
        assert_eq!(write_problem(&id, attr_text("not an id!!!!!!")), ConversionProblem::WrongType(FieldType::Id));
    }

    #[test]
    fn base64_must_be_base64_and_fit_in_decoded_bytes() {
        let field = text_field(FieldType::Base64, 5);
        assert_eq!(to_wire("Case", &field, &attr_text("aGVsbG8=")).unwrap(), text("aGVsbG8="));
        assert_eq!(write_problem(&field, attr_text("aGVsbG8h")), ConversionProblem::TooLong(5));
        for bad in ["aGVsbG8", "a===", "aGV$bG8=", "aG=sbG8="] {
            assert_eq!(write_problem(&field, attr_text(bad)), ConversionProblem::WrongType(FieldType::Base64), "{bad}");
        }
        // A queried base64 field is a REST path to the bytes, read as text.
        let path = "/services/data/v59.0/sobjects/Attachment/00P000000000001AAA/Body";
        assert_eq!(to_attribute("Case", &field, &text(path)).unwrap(), attr_text(path));
    }

    #[test]
    fn encrypted_values_never_appear_in_errors() {
        let field = text_field(FieldType::Encryptedstring, 4);
        let err = to_wire("Case", &field, &attr_text("secret-pin")).unwrap_err();
        assert_eq!(err.problem, ConversionProblem::TooLong(4));
        assert!(!err.value.contains("secret") && !err.to_string().contains("secret"), "{err}");
    }

    // --- null and empty ---

    #[test]
    fn null_is_written_only_to_nillable_fields() {
        let nillable = text_field(FieldType::String, 10);
        assert_eq!(to_wire("Case", &nillable, &AttributeValue::Null).unwrap(), WireValue::Null);
        assert_eq!(to_wire("Case", &nillable, &attr_text("")).unwrap(), WireValue::Null);
        let required = FieldDescriptor { nillable: false, ..text_field(FieldType::String, 10) };
        assert_eq!(write_problem(&required, AttributeValue::Null), ConversionProblem::WrongType(FieldType::String));
        assert_eq!(write_problem(&required, attr_text("")), ConversionProblem::WrongType(FieldType::String));
        let checkbox = FieldDescriptor { nillable: false, ..descriptor("IsEscalated", FieldType::Boolean) };
        assert_eq!(write_problem(&checkbox, AttributeValue::Null), ConversionProblem::WrongType(FieldType::Boolean));
    }

    #[test]
    fn null_reads_as_null_for_every_type() {
        for field_type in FieldType::ALL {
            let field = descriptor("F", field_type);
            assert_eq!(to_attribute("Case", &field, &WireValue::Null).unwrap(), AttributeValue::Null);
        }
    }

    // --- picklists ---

    #[test]
    fn restricted_picklist_accepts_only_active_values() {
        let field = list_field(FieldType::Picklist, true);
        assert_eq!(to_wire("Case", &field, &attr_text("High")).unwrap(), text("High"));
        assert_eq!(write_problem(&field, attr_text("Urgent")), ConversionProblem::NotInPicklist, "inactive");
        assert_eq!(write_problem(&field, attr_text("Critical")), ConversionProblem::NotInPicklist);
        assert_eq!(write_problem(&field, attr_text("high")), ConversionProblem::NotInPicklist, "exact value");
        // An old record may hold an inactive value: reading keeps it.
        assert_eq!(to_attribute("Case", &field, &text("Urgent")).unwrap(), attr_text("Urgent"));
    }

    #[test]
    fn unrestricted_picklist_and_combobox_accept_any_text_within_length() {
        for field_type in [FieldType::Picklist, FieldType::Combobox] {
            let field = list_field(field_type, false);
            for value in ["High", "Urgent", "Something new"] {
                assert_eq!(to_wire("Case", &field, &attr_text(value)).unwrap(), text(value));
            }
            assert_eq!(write_problem(&field, attr_text(&"x".repeat(256))), ConversionProblem::TooLong(255));
        }
    }

    #[test]
    fn multipicklist_reads_semicolon_separated_values() {
        let field = list_field(FieldType::Multipicklist, true);
        let list = |items: &[&str]| AttributeValue::List(items.iter().map(|s| s.to_string()).collect());
        assert_eq!(to_attribute("Case", &field, &text("High;Low")).unwrap(), list(&["High", "Low"]));
        assert_eq!(to_attribute("Case", &field, &text("Urgent")).unwrap(), list(&["Urgent"]));
        assert_eq!(to_attribute("Case", &field, &text("")).unwrap(), list(&[]));
        assert_eq!(
            read_problem(&field, WireValue::Compound("[\"High\"]".into())),
            ConversionProblem::WrongType(FieldType::Multipicklist)
        );
    }

    #[test]
    fn multipicklist_writes_each_allowed_value_joined_with_semicolons() {
        let restricted = list_field(FieldType::Multipicklist, true);
        let list = |items: &[&str]| AttributeValue::List(items.iter().map(|s| s.to_string()).collect());
        assert_eq!(to_wire("Case", &restricted, &list(&["High", "Low"])).unwrap(), text("High;Low"));
        assert_eq!(to_wire("Case", &restricted, &attr_text("High;Medium")).unwrap(), text("High;Medium"));
        assert_eq!(write_problem(&restricted, list(&["High", "Urgent"])), ConversionProblem::NotInPicklist);
        assert_eq!(
            write_problem(&restricted, list(&["High", ""])),
            ConversionProblem::WrongType(FieldType::Multipicklist)
        );
        assert_eq!(
            write_problem(&restricted, list(&["High;Low"])),
            ConversionProblem::WrongType(FieldType::Multipicklist)
        );
        assert_eq!(
            write_problem(&restricted, attr_text("High;;Low")),
            ConversionProblem::WrongType(FieldType::Multipicklist)
        );
        assert_eq!(to_wire("Case", &restricted, &list(&[])).unwrap(), WireValue::Null);
        let open = FieldDescriptor { length: 10, ..list_field(FieldType::Multipicklist, false) };
        assert_eq!(to_wire("Case", &open, &list(&["New", "Values"])).unwrap(), text("New;Values"));
        assert_eq!(write_problem(&open, list(&["New", "Values", "X"])), ConversionProblem::TooLong(10));
    }

    // --- booleans ---

    #[test]
    fn booleans_read_from_json_booleans_only() {
        let field = descriptor("IsEscalated", FieldType::Boolean);
        assert_eq!(to_attribute("Case", &field, &WireValue::Boolean(true)).unwrap(), AttributeValue::Boolean(true));
        assert_eq!(to_attribute("Case", &field, &WireValue::Boolean(false)).unwrap(), AttributeValue::Boolean(false));
        for wrong in [text("true"), number("1"), text("yes")] {
            assert_eq!(read_problem(&field, wrong), ConversionProblem::WrongType(FieldType::Boolean));
        }
    }

    #[test]
    fn booleans_write_from_booleans_and_true_false_text() {
        let field = FieldDescriptor { nillable: false, ..descriptor("IsEscalated", FieldType::Boolean) };
        assert_eq!(to_wire("Case", &field, &AttributeValue::Boolean(true)).unwrap(), WireValue::Boolean(true));
        assert_eq!(to_wire("Case", &field, &attr_text("TRUE")).unwrap(), WireValue::Boolean(true));
        assert_eq!(to_wire("Case", &field, &attr_text("false")).unwrap(), WireValue::Boolean(false));
        for wrong in [attr_text("yes"), attr_text("1"), AttributeValue::Integer(1)] {
            assert_eq!(write_problem(&field, wrong), ConversionProblem::WrongType(FieldType::Boolean));
        }
    }

    // --- numbers ---

    #[test]
    fn int_reads_whole_numbers_within_32_bits() {
        let field = number_field(FieldType::Int, 9, 0);
        assert_eq!(to_attribute("Account", &field, &number("250")).unwrap(), AttributeValue::Integer(250));
        assert_eq!(to_attribute("Account", &field, &number("-7")).unwrap(), AttributeValue::Integer(-7));
        assert_eq!(to_attribute("Account", &field, &number("3.0")).unwrap(), AttributeValue::Integer(3));
        assert_eq!(to_attribute("Account", &field, &number("1E+3")).unwrap(), AttributeValue::Integer(1000));
        assert_eq!(read_problem(&field, number("2.5")), ConversionProblem::InvalidNumber);
        assert_eq!(read_problem(&field, number("2147483648")), ConversionProblem::OutOfRange);
        assert_eq!(read_problem(&field, number("abc")), ConversionProblem::InvalidNumber);
        assert_eq!(read_problem(&field, text("250")), ConversionProblem::WrongType(FieldType::Int));
    }

    #[test]
    fn int_writes_within_32_bits_and_the_fields_digits() {
        let field = number_field(FieldType::Int, 9, 0);
        assert_eq!(to_wire("Account", &field, &AttributeValue::Integer(999_999_999)).unwrap(), number("999999999"));
        assert_eq!(to_wire("Account", &field, &AttributeValue::Decimal(12.0)).unwrap(), number("12"));
        assert_eq!(to_wire("Account", &field, &attr_text("42")).unwrap(), number("42"));
        assert_eq!(write_problem(&field, AttributeValue::Integer(1_000_000_000)), ConversionProblem::InvalidNumber);
        assert_eq!(write_problem(&field, AttributeValue::Integer(3_000_000_000)), ConversionProblem::OutOfRange);
        assert_eq!(write_problem(&field, AttributeValue::Decimal(1.5)), ConversionProblem::InvalidNumber);
        assert_eq!(write_problem(&field, attr_text("4 2")), ConversionProblem::InvalidNumber);
        assert_eq!(write_problem(&field, AttributeValue::Boolean(true)), ConversionProblem::WrongType(FieldType::Int));
    }

    #[test]
    fn long_keeps_every_digit_of_64_bit_numbers() {
        let field = number_field(FieldType::Long, 0, 0);
        let big = "9223372036854775807";
        assert_eq!(to_attribute("Case", &field, &number(big)).unwrap(), AttributeValue::Integer(i64::MAX));
        assert_eq!(to_wire("Case", &field, &AttributeValue::Integer(i64::MAX)).unwrap(), number(big));
        assert_eq!(
            to_wire("Case", &field, &AttributeValue::Integer(i64::MIN)).unwrap(),
            number("-9223372036854775808")
        );
        assert_eq!(read_problem(&field, number("9223372036854775808")), ConversionProblem::OutOfRange);
        let eighteen = number_field(FieldType::Long, 18, 0);
        assert_eq!(write_problem(&eighteen, AttributeValue::Integer(i64::MAX)), ConversionProblem::InvalidNumber);
    }

    #[test]
    fn decimals_read_exactly_or_not_at_all() {
        let field = number_field(FieldType::Currency, 18, 2);
        assert_eq!(to_attribute("Case", &field, &number("12.34")).unwrap(), AttributeValue::Decimal(12.34));
        assert_eq!(to_attribute("Case", &field, &number("0.1")).unwrap(), AttributeValue::Decimal(0.1));
        assert_eq!(to_attribute("Case", &field, &number("5.0E7")).unwrap(), AttributeValue::Decimal(5.0e7));
        assert_eq!(to_attribute("Case", &field, &number("-0")).unwrap(), AttributeValue::Decimal(0.0));
        // 2^53 + 1 and 17 significant digits would be rounded by f64.
        assert_eq!(read_problem(&field, number("9007199254740993")), ConversionProblem::InvalidNumber);
        assert_eq!(read_problem(&field, number("1234567890123456.78")), ConversionProblem::InvalidNumber);
        assert_eq!(read_problem(&field, number("1e400")), ConversionProblem::OutOfRange);
        for bad in ["NaN", "inf", "-", "1.2.3", "1e", "0x10", ""] {
            assert_eq!(read_problem(&field, number(bad)), ConversionProblem::InvalidNumber, "{bad}");
        }
    }

    #[test]
    fn decimals_write_within_precision_and_scale() {
        let field = number_field(FieldType::Currency, 5, 2);
        assert_eq!(to_wire("Case", &field, &AttributeValue::Decimal(999.99)).unwrap(), number("999.99"));
        assert_eq!(to_wire("Case", &field, &AttributeValue::Decimal(-0.5)).unwrap(), number("-0.5"));
        assert_eq!(to_wire("Case", &field, &AttributeValue::Integer(100)).unwrap(), number("100"));
        assert_eq!(to_wire("Case", &field, &attr_text("12.50")).unwrap(), number("12.5"));
        assert_eq!(write_problem(&field, AttributeValue::Decimal(1000.0)), ConversionProblem::InvalidNumber);
        assert_eq!(write_problem(&field, AttributeValue::Decimal(1.234)), ConversionProblem::InvalidNumber);
        // 0.1 + 0.2 is 0.30000000000000004 as f64: never silently rounded to 0.30.
        assert_eq!(write_problem(&field, AttributeValue::Decimal(0.1 + 0.2)), ConversionProblem::InvalidNumber);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(write_problem(&field, AttributeValue::Decimal(bad)), ConversionProblem::InvalidNumber);
        }
    }

    #[test]
    fn text_numbers_beyond_f64_are_written_exactly() {
        let field = number_field(FieldType::Double, 18, 0);
        assert_eq!(to_wire("Case", &field, &attr_text("123456789012345678")).unwrap(), number("123456789012345678"));
        assert_eq!(to_wire("Case", &field, &attr_text("1.2e3")).unwrap(), number("1200"));
    }

    #[test]
    fn percent_is_a_plain_number_not_a_fraction() {
        let field = number_field(FieldType::Percent, 5, 2);
        assert_eq!(to_attribute("Case", &field, &number("12.5")).unwrap(), AttributeValue::Decimal(12.5));
        assert_eq!(to_wire("Case", &field, &AttributeValue::Decimal(12.5)).unwrap(), number("12.5"));
    }

    #[test]
    fn numbers_without_described_precision_are_only_checked_for_exactness() {
        let field = number_field(FieldType::Double, 0, 0);
        assert_eq!(to_wire("Case", &field, &AttributeValue::Decimal(1.0 / 3.0)).unwrap(), number("0.3333333333333333"));
        assert_eq!(to_wire("Case", &field, &AttributeValue::Decimal(1.5e-7)).unwrap(), number("0.00000015"));
    }

    // --- dates ---

    #[test]
    fn date_near_midnight_keeps_its_day() {
        // Run again under several TZ settings by `dates_never_move_a_day_in_any_tz`.
        let field = descriptor("Follow_Up_Date__c", FieldType::Date);
        let read = to_attribute("Case", &field, &text("2024-03-31")).unwrap();
        assert_eq!(read, AttributeValue::Date(date(2024, 3, 31)));
        assert_eq!(to_wire("Case", &field, &read).unwrap(), text("2024-03-31"));
        for (y, m, d) in [(2024, 1, 1), (2023, 12, 31), (2024, 2, 29), (1700, 1, 1), (4000, 12, 31)] {
            let wire = text(&format!("{y:04}-{m:02}-{d:02}"));
            let attribute = to_attribute("Case", &field, &wire).unwrap();
            assert_eq!(attribute, AttributeValue::Date(date(y, m, d)));
            assert_eq!(to_wire("Case", &field, &attribute).unwrap(), wire);
        }
    }

    #[test]
    fn dates_never_move_a_day_in_any_tz() {
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        for tz in ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/New_York", "Asia/Kolkata"] {
            let status = std::process::Command::new(&exe)
                .args(["--exact", "convert::tests::date_near_midnight_keeps_its_day", "--quiet"])
                .env("TZ", tz)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&status.stdout);
            // An --exact filter that matched nothing would also succeed.
            assert!(status.status.success() && stdout.contains("1 passed"), "TZ={tz}: {stdout}");
        }
    }

    #[test]
    fn dates_before_1970_and_far_future_round_trip() {
        let field = descriptor("D__c", FieldType::Date);
        for wire in ["1700-01-01", "1899-12-31", "1969-12-31", "1970-01-01", "2999-06-15", "4000-12-31"] {
            let attribute = to_attribute("Case", &field, &text(wire)).unwrap();
            assert_eq!(to_wire("Case", &field, &attribute).unwrap(), text(wire));
        }
    }

    #[test]
    fn bad_dates_are_invalid_and_out_of_range_dates_refused() {
        let field = descriptor("D__c", FieldType::Date);
        for bad in [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-1-2",
            "24-01-02",
            "2024-01-02T00:00:00.000+0000",
            "2024/01/02",
            "",
        ] {
            assert_eq!(read_problem(&field, text(bad)), ConversionProblem::InvalidDate, "{bad}");
        }
        assert_eq!(write_problem(&field, AttributeValue::Date(date(2024, 2, 30))), ConversionProblem::InvalidDate);
        assert_eq!(write_problem(&field, AttributeValue::Date(date(1699, 12, 31))), ConversionProblem::OutOfRange);
        assert_eq!(write_problem(&field, AttributeValue::Date(date(4001, 1, 1))), ConversionProblem::OutOfRange);
        assert_eq!(write_problem(&field, attr_text("31/03/2024")), ConversionProblem::InvalidDate);
        assert_eq!(read_problem(&field, number("20240331")), ConversionProblem::WrongType(FieldType::Date));
    }

    #[test]
    fn a_date_is_never_made_from_an_instant() {
        let date_field = descriptor("D__c", FieldType::Date);
        let instant = AttributeValue::Datetime(ts("2024-03-31T23:30:00.000+0000"));
        assert_eq!(write_problem(&date_field, instant), ConversionProblem::WrongType(FieldType::Date));
        let datetime_field = descriptor("T__c", FieldType::Datetime);
        let day = AttributeValue::Date(date(2024, 3, 31));
        assert_eq!(write_problem(&datetime_field, day), ConversionProblem::WrongType(FieldType::Datetime));
    }

    // --- datetimes ---

    #[test]
    fn datetimes_read_salesforce_offsets_z_and_colon_forms() {
        let expected = 1_704_164_645_000; // 2024-01-02T03:04:05Z
        for form in [
            "2024-01-02T03:04:05.000+0000",
            "2024-01-02T03:04:05.000Z",
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05+00:00",
            "2024-01-02T04:04:05.000+0100",
            "2024-01-01T22:04:05.000-05:00",
        ] {
            assert_eq!(parse_datetime(form), Some(expected), "{form}");
        }
        let field = descriptor("CreatedDate", FieldType::Datetime);
        let read = to_attribute("Case", &field, &text("2011-07-07T00:37:00.000+0000")).unwrap();
        assert_eq!(to_wire("Case", &field, &read).unwrap(), text("2011-07-07T00:37:00.000+0000"));
    }

    #[test]
    fn datetimes_write_salesforce_form_with_milliseconds() {
        let field = descriptor("T__c", FieldType::Datetime);
        assert_eq!(
            to_wire("Case", &field, &AttributeValue::Datetime(1_704_164_645_123)).unwrap(),
            text("2024-01-02T03:04:05.123+0000")
        );
        assert_eq!(
            to_wire("Case", &field, &attr_text("2024-01-02T03:04:05Z")).unwrap(),
            text("2024-01-02T03:04:05.000+0000")
        );
        assert_eq!(format_datetime(-1), "1969-12-31T23:59:59.999+0000");
        assert_eq!(format_datetime(0), "1970-01-01T00:00:00.000+0000");
    }

    #[test]
    fn bad_datetimes_are_invalid() {
        let field = descriptor("T__c", FieldType::Datetime);
        for bad in [
            "2024-01-02",
            "2024-01-02 03:04:05Z",
            "2024-01-02T03:04:05.000 +0000",
            "2024-01-02T25:04:05Z",
            "2024-01-02T03:04:05.1234Z",
            "2024-01-02T03:04:05.000",
            "2024-01-02T23:59:60.000Z",
            "yesterday",
        ] {
            assert_eq!(read_problem(&field, text(bad)), ConversionProblem::InvalidDatetime, "{bad}");
        }
        assert_eq!(
            write_problem(&field, AttributeValue::Datetime(EARLIEST_DATETIME - 1)),
            ConversionProblem::OutOfRange
        );
        assert_eq!(write_problem(&field, AttributeValue::Datetime(LATEST_DATETIME + 1)), ConversionProblem::OutOfRange);
        assert_eq!(
            write_problem(&field, AttributeValue::Integer(0)),
            ConversionProblem::WrongType(FieldType::Datetime)
        );
    }

    #[test]
    fn format_datetime_is_total_over_timestamps() {
        assert_eq!(format_datetime(EARLIEST_DATETIME), "1700-01-01T00:00:00.000+0000");
        assert_eq!(format_datetime(LATEST_DATETIME), "4000-12-31T00:00:00.000+0000");
        assert!(format_datetime(i64::MAX).starts_with("+292278994-08-17T07:12:55.807"));
        assert!(format_datetime(i64::MIN).starts_with("-292275055-05-16T16:47:04.192"));
    }

    // --- times ---

    #[test]
    fn times_read_and_write_salesforce_form() {
        let field = descriptor("Callback_Time__c", FieldType::Time);
        let t = TimeOfDay { hour: 13, minute: 45, second: 0, millisecond: 0 };
        assert_eq!(to_attribute("Case", &field, &text("13:45:00.000Z")).unwrap(), AttributeValue::Time(t));
        assert_eq!(to_wire("Case", &field, &AttributeValue::Time(t)).unwrap(), text("13:45:00.000Z"));
        assert_eq!(to_wire("Case", &field, &attr_text("13:45")).unwrap(), text("13:45:00.000Z"));
        assert_eq!(to_wire("Case", &field, &attr_text("23:59:59.5")).unwrap(), text("23:59:59.500Z"));
    }

    #[test]
    fn bad_times_are_invalid() {
        let field = descriptor("Callback_Time__c", FieldType::Time);
        for bad in ["24:00:00.000Z", "12:60", "1:05", "12:00:00.0000Z", "12:00+01:00", "noon", "12:00:60"] {
            assert_eq!(read_problem(&field, text(bad)), ConversionProblem::InvalidTime, "{bad}");
        }
        let late = TimeOfDay { hour: 24, minute: 0, second: 0, millisecond: 0 };
        assert_eq!(write_problem(&field, AttributeValue::Time(late)), ConversionProblem::InvalidTime);
        let bad_ms = TimeOfDay { hour: 1, minute: 0, second: 0, millisecond: 1000 };
        assert_eq!(write_problem(&field, AttributeValue::Time(bad_ms)), ConversionProblem::InvalidTime);
    }

    // --- compound and varying types ---

    #[test]
    fn address_and_location_read_as_json_and_are_never_written() {
        for field_type in [FieldType::Address, FieldType::Location] {
            let field = descriptor("BillingAddress", field_type);
            let json = r#"{"city":"Dublin","country":"IE"}"#;
            assert_eq!(
                to_attribute("Account", &field, &WireValue::Compound(json.into())).unwrap(),
                AttributeValue::Compound(json.into())
            );
            assert_eq!(
                read_problem(&field, WireValue::Compound("[1]".into())),
                ConversionProblem::WrongType(field_type)
            );
            assert_eq!(read_problem(&field, text("Dublin")), ConversionProblem::WrongType(field_type));
            assert_eq!(
                write_problem(&field, AttributeValue::Compound(json.into())),
                ConversionProblem::UnsupportedType(field_type)
            );
            assert_eq!(write_problem(&field, AttributeValue::Null), ConversionProblem::UnsupportedType(field_type));
        }
    }

    #[test]
    fn any_type_follows_each_values_kind() {
        let field = descriptor("OldValue", FieldType::AnyType);
        let read = |v: WireValue| to_attribute("CaseHistory", &field, &v).unwrap();
        assert_eq!(read(text("Working")), attr_text("Working"));
        assert_eq!(read(WireValue::Boolean(true)), AttributeValue::Boolean(true));
        assert_eq!(read(number("42")), AttributeValue::Integer(42));
        assert_eq!(read(number("4.5")), AttributeValue::Decimal(4.5));
        assert_eq!(read(WireValue::Compound("{}".into())), AttributeValue::Compound("{}".into()));
        assert_eq!(write_problem(&field, attr_text("x")), ConversionProblem::UnsupportedType(FieldType::AnyType));
        let complex = descriptor("Metadata", FieldType::Complexvalue);
        assert_eq!(
            write_problem(&complex, attr_text("x")),
            ConversionProblem::UnsupportedType(FieldType::Complexvalue)
        );
    }

    // --- errors ---

    #[test]
    fn errors_name_object_field_value_and_what_to_do() {
        let field = list_field(FieldType::Picklist, true);
        let err = to_wire("Case", &field, &attr_text("Critical")).unwrap_err();
        assert_eq!((err.object.as_str(), err.field.as_str(), err.value.as_str()), ("Case", "Priority", "Critical"));
        let message = err.to_string();
        assert!(message.starts_with("Case.Priority: value `Critical` is not an active value"), "{message}");
        assert!(message.contains("choose one of its active values"), "{message}");
        let wrong =
            to_wire("Case", &descriptor("IsEscalated", FieldType::Boolean), &AttributeValue::Integer(1)).unwrap_err();
        assert!(wrong.to_string().contains("boolean field; give true or false"), "{wrong}");
    }

    #[test]
    fn error_values_are_cut_to_200_characters_on_a_char_boundary() {
        let field = text_field(FieldType::String, 10);
        let long = "é".repeat(500);
        let err = to_wire("Case", &field, &attr_text(&long)).unwrap_err();
        assert_eq!(err.value.chars().count(), ERROR_VALUE_CHARS);
        assert!(err.value.chars().all(|c| c == 'é'));
    }

    // --- properties ---

    fn valid_date() -> impl Strategy<Value = CalendarDate> {
        (1700i32..=4000, 1u8..=12, 1u8..=31).prop_filter_map("real date", |(year, month, day)| {
            let d = CalendarDate { year, month, day };
            is_valid_date(d).then_some(d)
        })
    }

    proptest! {
        #[test]
        fn any_i32_round_trips_through_an_int_field(i in any::<i32>()) {
            let field = number_field(FieldType::Int, 0, 0);
            let wire = to_wire("Account", &field, &AttributeValue::Integer(i64::from(i))).unwrap();
            prop_assert_eq!(to_attribute("Account", &field, &wire).unwrap(), AttributeValue::Integer(i64::from(i)));
        }

        #[test]
        fn any_i64_round_trips_through_a_long_field(i in any::<i64>()) {
            let field = number_field(FieldType::Long, 0, 0);
            let wire = to_wire("Case", &field, &AttributeValue::Integer(i)).unwrap();
            prop_assert_eq!(&wire, &WireValue::Number(i.to_string()));
            prop_assert_eq!(to_attribute("Case", &field, &wire).unwrap(), AttributeValue::Integer(i));
        }

        #[test]
        fn any_finite_f64_round_trips_through_a_double_field(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            let field = number_field(FieldType::Double, 0, 0);
            let wire = to_wire("Case", &field, &AttributeValue::Decimal(x)).unwrap();
            let back = to_attribute("Case", &field, &wire).unwrap();
            prop_assert_eq!(back, AttributeValue::Decimal(if x == 0.0 { 0.0 } else { x }));
        }

        #[test]
        fn currency_values_read_exactly_or_are_refused(whole in -10i64.pow(16)..10i64.pow(16), cents in 0u32..100) {
            let field = number_field(FieldType::Currency, 18, 2);
            let sign = if whole < 0 { "-" } else { "" };
            let wire = WireValue::Number(format!("{sign}{}.{cents:02}", whole.unsigned_abs()));
            match to_attribute("Case", &field, &wire) {
                Ok(value) => {
                    // Never a different value: it writes back to the same number.
                    let back = to_wire("Case", &field, &value).unwrap();
                    let (WireValue::Number(a), WireValue::Number(b)) = (&wire, &back) else { panic!() };
                    prop_assert_eq!(ExactDecimal::parse(a).unwrap(), ExactDecimal::parse(b).unwrap());
                }
                Err(e) => prop_assert_eq!(e.problem, ConversionProblem::InvalidNumber),
            }
        }

        #[test]
        fn numbers_with_more_digits_than_precision_and_scale_are_refused(
            whole in 0u64..100_000, fraction in 0u64..10_000, precision in 1u32..=8, scale in 0u32..=4,
        ) {
            let field = number_field(FieldType::Double, precision, scale.min(precision));
            let wire_text = format!("{whole}.{fraction:04}");
            let exact = ExactDecimal::parse(&wire_text).unwrap();
            let fits = exact.fraction_digits() <= i64::from(field.scale)
                && exact.integer_digits() <= i64::from(precision - field.scale);
            let result = to_wire("Case", &field, &AttributeValue::Text(wire_text.clone()));
            prop_assert_eq!(result.is_ok(), fits, "{} into ({}, {})", wire_text, precision, field.scale);
        }

        #[test]
        fn any_salesforce_date_round_trips(d in valid_date()) {
            let field = descriptor("D__c", FieldType::Date);
            let wire = to_wire("Case", &field, &AttributeValue::Date(d)).unwrap();
            prop_assert_eq!(to_attribute("Case", &field, &wire).unwrap(), AttributeValue::Date(d));
        }

        #[test]
        fn any_salesforce_datetime_round_trips(ts in EARLIEST_DATETIME..=LATEST_DATETIME) {
            let field = descriptor("T__c", FieldType::Datetime);
            let wire = to_wire("Case", &field, &AttributeValue::Datetime(ts)).unwrap();
            prop_assert_eq!(to_attribute("Case", &field, &wire).unwrap(), AttributeValue::Datetime(ts));
        }

        #[test]
        fn format_datetime_agrees_with_chrono(ts in -8_000_000_000_000_000i64..8_000_000_000_000_000) {
            let Some(dt) = chrono::DateTime::from_timestamp_millis(ts) else { return Ok(()) };
            prop_assert_eq!(format_datetime(ts), dt.format(SALESFORCE_DATETIME_FORMAT).to_string());
            prop_assert_eq!(parse_datetime(&format_datetime(ts)), Some(ts));
        }

        #[test]
        fn any_time_of_day_round_trips(hour in 0u8..24, minute in 0u8..60, second in 0u8..60, millisecond in 0u16..1000) {
            let field = descriptor("Callback_Time__c", FieldType::Time);
            let t = TimeOfDay { hour, minute, second, millisecond };
            let wire = to_wire("Case", &field, &AttributeValue::Time(t)).unwrap();
            prop_assert_eq!(to_attribute("Case", &field, &wire).unwrap(), AttributeValue::Time(t));
        }

        #[test]
        fn text_is_too_long_exactly_when_it_has_more_characters_than_the_length(s in "\\PC{0,40}", length in 1u32..30) {
            let field = text_field(FieldType::Textarea, length);
            let result = to_wire("Case", &field, &AttributeValue::Text(s.clone()));
            if s.chars().count() > length as usize {
                prop_assert_eq!(result.unwrap_err().problem, ConversionProblem::TooLong(length));
            } else if s.is_empty() {
                prop_assert_eq!(result.unwrap(), WireValue::Null);
            } else {
                prop_assert_eq!(result.unwrap(), WireValue::Text(s));
            }
        }

        #[test]
        fn multipicklist_selections_round_trip(items in proptest::collection::vec("[A-Za-z0-9 ]{1,12}", 1..6)) {
            let field = text_field(FieldType::Multipicklist, 4099);
            let value = AttributeValue::List(items.clone());
            let wire = to_wire("Case", &field, &value).unwrap();
            prop_assert_eq!(&wire, &WireValue::Text(items.join(";")));
            prop_assert_eq!(to_attribute("Case", &field, &wire).unwrap(), value);
        }

        #[test]
        fn no_wire_text_panics_or_reads_a_different_number(s in "[-+0-9.eE]{0,30}") {
            for field_type in [FieldType::Int, FieldType::Long, FieldType::Double] {
                let field = number_field(field_type, 0, 0);
                if let Ok(value) = to_attribute("Case", &field, &WireValue::Number(s.clone())) {
                    let Ok(WireValue::Number(back)) = to_wire("Case", &field, &value) else { panic!("{value:?}") };
                    prop_assert_eq!(ExactDecimal::parse(&back).unwrap(), ExactDecimal::parse(&s).unwrap());
                }
            }
        }
    }
}
