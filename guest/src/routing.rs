//! `routingAttributes` for a hand-off to a live Salesforce agent (B2): every
//! person and conversation attribute flattened into one JSON object of strings.
//!
//! ```
//! use casebridge_guest::model::AttributeValue;
//! use casebridge_guest::routing::{
//!     routing_attributes_json, ConversationAttribute, ConversationData, Person, PersonAttribute,
//!     PersonAttributeKind,
//! };
//!
//! let person = Person {
//!     first_name: Some("John".into()),
//!     attributes: vec![PersonAttribute {
//!         name: "city_name".into(),
//!         kind: PersonAttributeKind::Location,
//!         value: AttributeValue::Text("Dallas".into()),
//!     }],
//!     ..Person::default()
//! };
//! let conversation = ConversationData {
//!     subject: Some("Next".into()),
//!     attributes: vec![ConversationAttribute {
//!         name: "Fin AI Agent: Preview".into(),
//!         custom: true,
//!         value: AttributeValue::Boolean(false),
//!     }],
//! };
//! assert_eq!(
//!     routing_attributes_json(&person, &conversation),
//!     r#"{"_firstName":"John","_lastName":"","_email":"","_subject":"Next","#.to_owned()
//!         + r#""conversation_custom_data_Fin AI Agent: Preview":"false","#
//!         + r#""user_geoip_data_city_name":"Dallas"}"#,
//! );
//! ```
//!
//! Keys and values follow the example in seed 002: the four defaults
//! (`_firstName`, `_lastName`, `_email`, `_subject`, always present), then the
//! conversation attributes, then the person attributes, each in the order
//! given. Names keep their spaces and case. A key produced twice keeps its
//! first place and its last value.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Datelike, Timelike};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::model::{AttributeValue, Timestamp};

/// Which group a person attribute belongs to; it decides the key's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PersonAttributeKind {
    /// A platform-defined attribute → `user_<name>`.
    Standard,
    /// A workspace-defined attribute → `user_custom_data_<name>`.
    Custom,
    /// A location attribute → `user_geoip_data_<name>`.
    Location,
}

/// A person attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonAttribute {
    pub name: String,
    pub kind: PersonAttributeKind,
    pub value: AttributeValue,
}

/// A conversation attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationAttribute {
    pub name: String,
    /// Workspace-defined (`conversation_custom_data_<name>`) rather than
    /// standard (`conversation_<name>`).
    pub custom: bool,
    pub value: AttributeValue,
}

/// The person handed off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// → `_firstName`.
    pub first_name: Option<String>,
    /// → `_lastName`.
    pub last_name: Option<String>,
    /// → `_email`. The `email` attribute, if any, goes to `user_email` separately.
    pub email: Option<String>,
    pub attributes: Vec<PersonAttribute>,
}

/// The conversation handed off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationData {
    /// → `_subject`.
    pub subject: Option<String>,
    pub attributes: Vec<ConversationAttribute>,
}

/// The flattened attributes, in order, as the key/value pairs of one JSON object.
pub fn routing_attributes(person: &Person, conversation: &ConversationData) -> Vec<(String, String)> {
    let mut object = OrderedObject::default();
    let defaults = [
        ("_firstName", &person.first_name),
        ("_lastName", &person.last_name),
        ("_email", &person.email),
        ("_subject", &conversation.subject),
    ];
    for (key, value) in defaults {
        object.put(key.to_owned(), value.clone().unwrap_or_default());
    }
    for attribute in &conversation.attributes {
        let prefix = if attribute.custom { "conversation_custom_data_" } else { "conversation_" };
        object.put(format!("{prefix}{}", attribute.name), value_text(&attribute.value));
    }
    for attribute in &person.attributes {
        let prefix = match attribute.kind {
            PersonAttributeKind::Standard => "user_",
            PersonAttributeKind::Custom => "user_custom_data_",
            PersonAttributeKind::Location => "user_geoip_data_",
        };
        object.put(format!("{prefix}{}", attribute.name), value_text(&attribute.value));
    }
    object.pairs
}

/// The flattened attributes as compact JSON object text, keys in order.
pub fn routing_attributes_json(person: &Person, conversation: &ConversationData) -> String {
    let pairs = routing_attributes(person, conversation);
    // Only strings are written, into memory: serde_json cannot fail here.
    serde_json::to_string(&RoutingJson(&pairs)).unwrap_or_else(|_| String::from("{}"))
}

/// Key/value pairs that serialize as one JSON object with the keys in the
/// given order (serde_json's own maps sort their keys). Put it in a request
/// body as the `routingAttributes` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingJson<'a>(pub &'a [(String, String)]);

impl Serialize for RoutingJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// An attribute value as routing-attribute text.
///
/// Null → `""`; booleans `true`/`false`; integers in decimal; decimals in the
/// shortest text that reads back as the same number, without exponent or a
/// trailing `.0` (`1.5`, `2`; not-a-number and infinities, which JSON cannot
/// carry, → `""`); dates `YYYY-MM-DD`; times `HH:MM:SS`; instants
/// `YYYY-MM-DD HH:MM:SS +0000` in UTC (instants beyond ±262,000 years → `""`);
/// lists joined with `;`; compound values as their JSON text.
pub fn value_text(value: &AttributeValue) -> String {
    match value {
        AttributeValue::Null => String::new(),
        AttributeValue::Text(text) | AttributeValue::Compound(text) => text.clone(),
        AttributeValue::Boolean(flag) => flag.to_string(),
        AttributeValue::Integer(number) => number.to_string(),
        AttributeValue::Decimal(number) => decimal_text(*number),
        AttributeValue::Date(date) => date_text(date.year, date.month.into(), date.day.into()),
        AttributeValue::Time(time) => time_text(time.hour.into(), time.minute.into(), time.second.into()),
        AttributeValue::Datetime(at) => instant_text(*at),
        AttributeValue::List(items) => items.join(";"),
    }
}

fn decimal_text(number: f64) -> String {
    if !number.is_finite() {
        String::new()
    } else if number == 0.0 {
        // Also -0.0, which would print as "-0".
        String::from("0")
    } else {
        // Rust's `Display` for f64 is the shortest round-trip form, never exponential.
        number.to_string()
    }
}

fn instant_text(at: Timestamp) -> String {
    match DateTime::from_timestamp_millis(at) {
        Some(at) => format!(
            "{} {} +0000",
            date_text(at.year(), at.month(), at.day()),
            time_text(at.hour(), at.minute(), at.second())
        ),
        None => String::new(),
    }
}

/// Fields are printed as given: an impossible date such as month 13 is not
/// corrected (the platform sent it), and nothing here can fail.
fn date_text(year: i32, month: u32, day: u32) -> String {
    let sign = if year < 0 { "-" } else { "" };
    format!("{sign}{:04}-{month:02}-{day:02}", year.unsigned_abs())
}

fn time_text(hour: u32, minute: u32, second: u32) -> String {
    format!("{hour:02}:{minute:02}:{second:02}")
}

/// Pairs in first-seen key order; a repeated key overwrites the value in place.
#[derive(Default)]
struct OrderedObject {
    pairs: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl OrderedObject {
    fn put(&mut self, key: String, value: String) {
        match self.index.entry(key) {
            Entry::Occupied(seen) => {
                if let Some(pair) = self.pairs.get_mut(*seen.get()) {
                    pair.1 = value;
                }
            }
            Entry::Vacant(new) => {
                self.pairs.push((new.key().clone(), value));
                new.insert(self.pairs.len() - 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CalendarDate, TimeOfDay};

    fn text(value: &str) -> AttributeValue {
        AttributeValue::Text(value.to_owned())
    }

    fn person_attribute(name: &str, kind: PersonAttributeKind, value: AttributeValue) -> PersonAttribute {
        PersonAttribute { name: name.to_owned(), kind, value }
    }

    fn conversation_attribute(name: &str, custom: bool, value: AttributeValue) -> ConversationAttribute {
        ConversationAttribute { name: name.to_owned(), custom, value }
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Drops the whitespace between JSON tokens, keeping it inside strings.
    fn minify(json: &str) -> String {
        let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
        for c in json.chars() {
            if in_string {
                out.push(c);
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
            } else if c == '"' {
                in_string = true;
                out.push(c);
            } else if !c.is_whitespace() {
                out.push(c);
            }
        }
        out
    }

    /// The example JSON of seed 002, verbatim but for its typo: the seed's
    /// `"user_last_name": "Smith,` lacks its closing quote.
    const SEED_002_EXAMPLE: &str = r#"{
"_firstName": "John",
"_lastName": "Smith",
"_email": "john.smith.999@gmail.com",
"_subject": "Next",
"conversation_custom_data_Name": "John Smith",
"conversation_custom_data_Fin AI Agent: Preview": "false",
"conversation_custom_data_AI Tone of Voice": "Friendly", "conversation_custom_data_AI Answer Length": "Standard",
"conversation_custom_data_AI Pronoun Formality": "Let Fin decide",
"user_first_name": "John",
"user_last_name": "Smith",
"user_full_name": "John Smith",
"user_email": "email.john.999@gmail.com",
"user_user_id": "4a7a9b3d-951e-47d4-ae41-8e3f05a6969a",
"user_created_at": "",
"user_last_request_at": "2025-08-11 15:26:42 +0000",
"user_geoip_data_country_name": "United States",
"user_geoip_data_region_name": "Texas",
"user_geoip_data_city_name": "Dallas",
"user_geoip_data_timezone": "America/Chicago",
"user_browser_locale": "en",
"user_geoip_data_country_code2": "US",
"user_geoip_data_country_code3": "USA"
}"#;

    /// The seed's person and conversation as the platform holds them: typed values.
    fn seed_002_hand_off() -> (Person, ConversationData) {
        use PersonAttributeKind::{Location, Standard};
        // 2025-08-11 15:26:42.345 UTC: the milliseconds are dropped.
        let last_request_at = 1_754_926_002_345;
        let person = Person {
            first_name: Some("John".into()),
            last_name: Some("Smith".into()),
            email: Some("john.smith.999@gmail.com".into()),
            attributes: vec![
                person_attribute("first_name", Standard, text("John")),
                person_attribute("last_name", Standard, text("Smith")),
                person_attribute("full_name", Standard, text("John Smith")),
                person_attribute("email", Standard, text("email.john.999@gmail.com")),
                person_attribute("user_id", Standard, text("4a7a9b3d-951e-47d4-ae41-8e3f05a6969a")),
                person_attribute("created_at", Standard, AttributeValue::Null),
                person_attribute("last_request_at", Standard, AttributeValue::Datetime(last_request_at)),
                person_attribute("country_name", Location, text("United States")),
                person_attribute("region_name", Location, text("Texas")),
                person_attribute("city_name", Location, text("Dallas")),
                person_attribute("timezone", Location, text("America/Chicago")),
                person_attribute("browser_locale", Standard, text("en")),
                person_attribute("country_code2", Location, text("US")),
                person_attribute("country_code3", Location, text("USA")),
            ],
        };
        let conversation = ConversationData {
            subject: Some("Next".into()),
            attributes: vec![
                conversation_attribute("Name", true, text("John Smith")),
                conversation_attribute("Fin AI Agent: Preview", true, AttributeValue::Boolean(false)),
                conversation_attribute("AI Tone of Voice", true, text("Friendly")),
                conversation_attribute("AI Answer Length", true, text("Standard")),
                conversation_attribute("AI Pronoun Formality", true, text("Let Fin decide")),
            ],
        };
        (person, conversation)
    }

    #[test]
    fn seed_002_example_is_reproduced_exactly_in_order() {
        let (person, conversation) = seed_002_hand_off();
        assert_eq!(routing_attributes_json(&person, &conversation), minify(SEED_002_EXAMPLE));
    }

    #[test]
    fn seed_002_example_pairs_come_in_the_seed_order() {
        let (person, conversation) = seed_002_hand_off();
        let keys: Vec<String> = routing_attributes(&person, &conversation).into_iter().map(|(k, _)| k).collect();
        let seed_keys: Vec<&str> = SEED_002_EXAMPLE
            .split(['\n', ','])
            .filter_map(|entry| entry.trim().strip_prefix('"')?.split_once("\":").map(|(key, _)| key))
            .collect();
        assert_eq!(seed_keys.len(), 23);
        assert_eq!(keys, seed_keys);
    }

    #[test]
    fn empty_input_gives_the_four_defaults_as_empty_strings() {
        let got = routing_attributes(&Person::default(), &ConversationData::default());
        assert_eq!(got, pairs(&[("_firstName", ""), ("_lastName", ""), ("_email", ""), ("_subject", "")]));
        assert_eq!(
            routing_attributes_json(&Person::default(), &ConversationData::default()),
            r#"{"_firstName":"","_lastName":"","_email":"","_subject":""}"#
        );
    }

    #[test]
    fn every_prefix_and_the_conversation_before_the_person() {
        let person = Person {
            attributes: vec![
                person_attribute("Plan", PersonAttributeKind::Custom, text("a")),
                person_attribute("name", PersonAttributeKind::Standard, text("b")),
                person_attribute("city_name", PersonAttributeKind::Location, text("c")),
            ],
            ..Person::default()
        };
        let conversation = ConversationData {
            subject: None,
            attributes: vec![
                conversation_attribute("Case Reason", true, text("d")),
                conversation_attribute("state", false, text("e")),
            ],
        };
        let got = routing_attributes(&person, &conversation);
        assert_eq!(
            got[4..],
            pairs(&[
                ("conversation_custom_data_Case Reason", "d"),
                ("conversation_state", "e"),
                ("user_custom_data_Plan", "a"),
                ("user_name", "b"),
                ("user_geoip_data_city_name", "c"),
            ])
        );
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_its_last_value() {
        let person = Person {
            attributes: vec![
                // Two names that flatten to the same key `user_custom_data_x`.
                person_attribute("custom_data_x", PersonAttributeKind::Standard, text("first")),
                person_attribute("y", PersonAttributeKind::Standard, text("y")),
                person_attribute("x", PersonAttributeKind::Custom, text("last")),
            ],
            ..Person::default()
        };
        let conversation = ConversationData {
            subject: Some("s".into()),
            attributes: vec![
                conversation_attribute("A", false, text("1")),
                conversation_attribute("B", false, text("2")),
                conversation_attribute("A", false, text("3")),
            ],
        };
        let got = routing_attributes(&person, &conversation);
        assert_eq!(
            got[4..],
            pairs(
                &[("conversation_A", "3"), ("conversation_B", "2"), ("user_custom_data_x", "last"), ("user_y", "y"),]
            )
        );
    }

    #[test]
    fn names_keep_their_spaces_and_case() {
        let conversation = ConversationData {
            subject: None,
            attributes: vec![conversation_attribute(" Mixed Case  Name ", false, text("v"))],
        };
        let got = routing_attributes(&Person::default(), &conversation);
        assert_eq!(got[4].0, "conversation_ Mixed Case  Name ");
    }

    #[test]
    fn every_value_kind_as_text() {
        let cases = [
            (AttributeValue::Null, ""),
            (text("plain"), "plain"),
            (text(""), ""),
            (AttributeValue::Boolean(true), "true"),
            (AttributeValue::Boolean(false), "false"),
            (AttributeValue::Integer(0), "0"),
            (AttributeValue::Integer(-42), "-42"),
            (AttributeValue::Integer(i64::MAX), "9223372036854775807"),
            (AttributeValue::Integer(i64::MIN), "-9223372036854775808"),
            (AttributeValue::Decimal(1.5), "1.5"),
            (AttributeValue::Decimal(2.0), "2"),
            (AttributeValue::Decimal(-0.0), "0"),
            (AttributeValue::Decimal(0.1), "0.1"),
            (AttributeValue::Decimal(-12.25), "-12.25"),
            (AttributeValue::Decimal(1e21), "1000000000000000000000"),
            (AttributeValue::Decimal(1e-7), "0.0000001"),
            (AttributeValue::Decimal(f64::NAN), ""),
            (AttributeValue::Decimal(f64::INFINITY), ""),
            (AttributeValue::Decimal(f64::NEG_INFINITY), ""),
            (AttributeValue::Date(CalendarDate { year: 2024, month: 1, day: 2 }), "2024-01-02"),
            (AttributeValue::Date(CalendarDate { year: 33, month: 12, day: 31 }), "0033-12-31"),
            (AttributeValue::Date(CalendarDate { year: -44, month: 3, day: 15 }), "-0044-03-15"),
            (AttributeValue::Date(CalendarDate { year: 2024, month: 13, day: 99 }), "2024-13-99"),
            (AttributeValue::Time(TimeOfDay { hour: 7, minute: 5, second: 9, millisecond: 999 }), "07:05:09"),
            (AttributeValue::Datetime(0), "1970-01-01 00:00:00 +0000"),
            (AttributeValue::Datetime(1_754_926_002_999), "2025-08-11 15:26:42 +0000"),
            // Before the epoch the milliseconds round down, to the earlier second.
            (AttributeValue::Datetime(-1), "1969-12-31 23:59:59 +0000"),
            (AttributeValue::Datetime(i64::MAX), ""),
            (AttributeValue::Datetime(i64::MIN), ""),
            (AttributeValue::List(vec![]), ""),
            (AttributeValue::List(vec!["One".into()]), "One"),
            (AttributeValue::List(vec!["Red".into(), "Green Blue".into()]), "Red;Green Blue"),
            (AttributeValue::Compound(r#"{"city":"Dallas","lat":32.7}"#.into()), r#"{"city":"Dallas","lat":32.7}"#),
        ];
        for (value, expected) in cases {
            assert_eq!(value_text(&value), expected, "{value:?}");
        }
    }

    #[test]
    fn decimals_read_back_as_the_same_number() {
        for number in [0.1 + 0.2, 1.0 / 3.0, f64::MAX, f64::MIN_POSITIVE, -123456.789, 5e-324] {
            let text = value_text(&AttributeValue::Decimal(number));
            assert_eq!(text.parse::<f64>().ok(), Some(number), "{text}");
            assert!(!text.contains(['e', 'E']), "{text}");
        }
    }

    #[test]
    fn json_escapes_quotes_backslashes_newlines_and_control_characters() {
        let person = Person {
            first_name: Some("Zoë 😀".into()),
            attributes: vec![person_attribute(
                "say \"hi\"\n",
                PersonAttributeKind::Custom,
                text("line1\nline2\t\"q\" \\ \u{1} é"),
            )],
            ..Person::default()
        };
        let json = routing_attributes_json(&person, &ConversationData::default());
        assert_eq!(
            json,
            concat!(
                r#"{"_firstName":"Zoë 😀","_lastName":"","_email":"","_subject":"","#,
                r#""user_custom_data_say \"hi\"\n":"line1\nline2\t\"q\" \\ \u0001 é"}"#
            )
        );
        // And it reads back to the same strings.
        let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["user_custom_data_say \"hi\"\n"], "line1\nline2\t\"q\" \\ \u{1} é");
        assert_eq!(parsed["_firstName"], "Zoë 😀");
    }

    #[test]
    fn routing_json_keeps_key_order_inside_a_request_body() {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Body<'a> {
            routing_attributes: RoutingJson<'a>,
        }
        let attributes = pairs(&[("z", "1"), ("a", "2")]);
        let body = Body { routing_attributes: RoutingJson(&attributes) };
        assert_eq!(serde_json::to_string(&body).unwrap(), r#"{"routingAttributes":{"z":"1","a":"2"}}"#);
    }
}
