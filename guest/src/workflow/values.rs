//! A value typed by a person (an admin's Set data value, a customer's answer)
//! as the wire value of a Case field, checked against its describe.

use crate::convert::{ConversionError, ConversionProblem, to_wire};
use crate::model::{AttributeValue, FieldDescriptor, FieldType, WireValue};

/// Picklist and multi-select fields: the only ones attribute detection fills.
pub fn is_list_field(field: &FieldDescriptor) -> bool {
    matches!(field.field_type, FieldType::Picklist | FieldType::Multipicklist)
}

/// `text` as a value of `field`: list values match an active value's API
/// name or label (ASCII case-insensitively; a multi-select takes `;` or `,`
/// between values), `yes`/`no` count as booleans, everything else is
/// converted and checked as [`to_wire`] does. A picklist value must be active
/// even when the picklist is not restricted: a workflow never invents values.
pub fn field_value(object: &str, field: &FieldDescriptor, text: &str) -> Result<WireValue, ConversionError> {
    let whole = whole_value(object, field, text.trim());
    if whole.is_ok() || !picks_a_token(field.field_type) {
        return whole;
    }
    // "It's 4711." — the one word of the answer that fits is the answer.
    let fitting: Vec<WireValue> = text
        .split_whitespace()
        .map(|word| word.trim_matches(|c: char| ",.;:!?()[]\"'«»“”".contains(c)))
        .filter(|word| !word.is_empty())
        .filter_map(|word| whole_value(object, field, word).ok())
        .collect();
    match <[WireValue; 1]>::try_from(fitting) {
        Ok([value]) => Ok(value),
        Err(_) => whole,
    }
}

/// Types whose value is one word (a number, a date, an email address, an
/// Id): an answer may hold it among other words.
fn picks_a_token(field_type: FieldType) -> bool {
    use FieldType as T;
    matches!(
        field_type,
        T::Int
            | T::Long
            | T::Double
            | T::Currency
            | T::Percent
            | T::Date
            | T::Datetime
            | T::Email
            | T::Id
            | T::Reference
    )
}

fn whole_value(object: &str, field: &FieldDescriptor, text: &str) -> Result<WireValue, ConversionError> {
    let fail = |problem| ConversionError::new(object, &field.name, text, problem);
    if !field.updateable {
        return Err(fail(ConversionProblem::ReadOnly));
    }
    let active = |item: &str| {
        let item = item.trim();
        field
            .picklist_values
            .iter()
            .filter(|entry| entry.active)
            .find(|entry| entry.value.eq_ignore_ascii_case(item) || entry.label.eq_ignore_ascii_case(item))
            .map(|entry| entry.value.clone())
    };
    let value = match field.field_type {
        FieldType::Picklist => {
            AttributeValue::Text(active(text).ok_or_else(|| fail(ConversionProblem::NotInPicklist))?)
        }
        FieldType::Multipicklist => AttributeValue::List(
            text.split([';', ','])
                .filter(|item| !item.trim().is_empty())
                .map(|item| active(item).ok_or_else(|| fail(ConversionProblem::NotInPicklist)))
                .collect::<Result<_, _>>()?,
        ),
        FieldType::Boolean if text.eq_ignore_ascii_case("yes") => AttributeValue::Boolean(true),
        FieldType::Boolean if text.eq_ignore_ascii_case("no") => AttributeValue::Boolean(false),
        _ => AttributeValue::Text(text.to_string()),
    };
    to_wire(object, field, &value)
}

/// Why an answer does not fit, in words for the customer (no API names).
pub fn customer_reason(field: &FieldDescriptor, error: &ConversionError) -> String {
    use FieldType as T;
    let choices = || {
        let labels: Vec<&str> = field.picklist_values.iter().filter(|e| e.active).map(|e| e.label.as_str()).collect();
        labels.join(", ")
    };
    match error.problem {
        ConversionProblem::NotInPicklist if field.field_type == T::Multipicklist => {
            format!("That is not among the choices ({}); you can give several, separated by commas.", choices())
        }
        ConversionProblem::NotInPicklist => format!("That is not one of the choices ({}).", choices()),
        ConversionProblem::TooLong(max) => format!("That is longer than the {max} characters I can take."),
        ConversionProblem::InvalidDate => "That is not a date I can read; please write it like 2024-01-31.".into(),
        ConversionProblem::InvalidNumber
        | ConversionProblem::OutOfRange
        | ConversionProblem::WrongType(T::Int | T::Long | T::Double | T::Currency | T::Percent) => {
            "That is not a number I can take; please give a plain number like 42.".into()
        }
        ConversionProblem::WrongType(T::Email) => "That does not look like an email address.".into(),
        ConversionProblem::WrongType(T::Boolean) => "Please answer yes or no.".into(),
        ConversionProblem::InvalidDatetime | ConversionProblem::WrongType(T::Datetime) => {
            "That is not a date and time I can read; please write it like 2024-01-31T14:30:00Z.".into()
        }
        _ => "That answer does not fit what I need.".into(),
    }
}
