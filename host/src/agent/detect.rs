//! Attribute detection by retrieval (A11): for each list field, the values
//! whose admin-written descriptions best fit the conversation, ranked with
//! BM25 ([`super::bm25`]) over the same normalised terms the help-centre
//! search uses. Each field is its own small corpus (one document per value:
//! its label and description), so a word every value shares counts for
//! little and a word only one value has decides.

use super::bm25::Bm25Index;
use super::terms;
use crate::runtime::bindings::agent::DetectionField;
use crate::runtime::bindings::types::{Attribute, AttributeValue, AuthorRole, Conversation};

/// The least relevance (in units of one exact match of a word unique to one
/// value at average length, see [`super::bm25::Hit::relevance`]) at which a
/// value is chosen: one distinctive word of a description in the customer's
/// messages, even in a description longer than the others (which BM25
/// scores a little lower); a word every value shares scores far below.
pub const MIN_DETECTION_RELEVANCE: f64 = 0.75;

/// The detected values: a picklist gets its best value at or above
/// `min_relevance`, a multi-select every such value (best first); a field
/// nothing reaches is left out.
pub fn rank(conversation: &Conversation, fields: &[DetectionField], min_relevance: f64) -> Vec<Attribute> {
    let mut text = conversation.subject.clone().unwrap_or_default();
    for part in conversation.parts.iter().filter(|p| p.author == AuthorRole::Customer) {
        text.push('\n');
        text.push_str(&part.text);
    }
    let query = terms::search_terms(&text);
    fields
        .iter()
        .filter_map(|field| {
            let documents = field.values.iter().map(|v| terms::search_terms(&format!("{} {}", v.label, v.description)));
            let index = Bm25Index::new(documents);
            let chosen: Vec<String> = index
                .search(&query)
                .into_iter()
                .filter(|hit| hit.relevance >= min_relevance)
                .filter_map(|hit| field.values.get(hit.document).map(|v| v.value.clone()))
                .collect();
            let value = if field.multiple {
                AttributeValue::List(chosen).into()
            } else {
                chosen.into_iter().next().map(AttributeValue::Text)
            };
            value
                .filter(|v| !matches!(v, AttributeValue::List(items) if items.is_empty()))
                .map(|value| Attribute { name: field.field.clone(), value })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::agent::DescribedValue;
    use crate::runtime::bindings::types::{Channel, ConversationPart, PartSource, ResolutionState};

    fn conversation(text: &str) -> Conversation {
        Conversation {
            id: "500".into(),
            channel: Channel::SalesforceCase,
            platform_id: None,
            case_number: Some("1".into()),
            subject: None,
            origin: None,
            attributes: vec![],
            person: vec![],
            company: vec![],
            parts: vec![ConversationPart {
                id: "p1".into(),
                source: PartSource::CaseDescription,
                author: AuthorRole::Customer,
                author_name: None,
                text: text.into(),
                created_at: 0,
                attachments: vec![],
            }],
            resolution: ResolutionState::None,
        }
    }

    fn field(multiple: bool) -> DetectionField {
        let value = |value: &str, description: &str| DescribedValue {
            value: value.into(),
            label: value.into(),
            description: description.into(),
        };
        DetectionField {
            field: "Type".into(),
            label: "Type".into(),
            multiple,
            values: vec![
                value("Billing", "Invoices, charges, refunds and payment cards"),
                value("Problem", "Something is broken: crashes, errors, outages"),
                value("Question", "How to use a feature, where to find a setting"),
            ],
        }
    }

    #[test]
    fn the_best_described_value_is_chosen() {
        let found = rank(&conversation("I was charged twice on my invoice"), &[field(false)], MIN_DETECTION_RELEVANCE);
        assert_eq!(found, vec![Attribute { name: "Type".into(), value: AttributeValue::Text("Billing".into()) }]);
    }

    #[test]
    fn nothing_above_the_threshold_leaves_the_field_out() {
        assert!(rank(&conversation("hello there"), &[field(false)], MIN_DETECTION_RELEVANCE).is_empty());
        assert!(rank(&conversation("hello there"), &[field(true)], MIN_DETECTION_RELEVANCE).is_empty());
    }

    #[test]
    fn a_multi_select_takes_every_value_that_fits() {
        let found =
            rank(&conversation("the app crashes and the invoice is wrong"), &[field(true)], MIN_DETECTION_RELEVANCE);
        let AttributeValue::List(values) = &found[0].value else { panic!("{found:?}") };
        let mut values = values.clone();
        values.sort();
        assert_eq!(values, ["Billing", "Problem"]);
    }
}
