//! Duplicate rules: a save that matches live records of the same object on
//! every field of a rule is refused with `DUPLICATES_DETECTED`, unless the
//! rule allows saving and the request says
//! `Sforce-Duplicate-Rule-Header: allowSave=true`.
//!
//! Matching is the exact-match engine's: each listed field equal,
//! case-insensitively for text, and a record with any of the fields empty
//! matches nothing (matching rules ignore blank fields by default). The
//! error body is Salesforce's (the REST API's duplicate-rule header page,
//! <https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_duplicaterules.htm>,
//! and the DuplicateResult and MatchResult objects):
//!
//! ```json
//! [{"duplicateResult":{"allowSave":true,"duplicateRule":"Standard_Lead_Duplicate_Rule",
//!   "duplicateRuleEntityType":"Lead","errorMessage":"Use one of these records?",
//!   "matchResults":[{"entityType":"Lead","errors":[],"matchEngine":"ExactMatchEngine",
//!     "matchRecords":[{"additionalInformation":[],"fieldDiffs":[],"matchConfidence":100.0,
//!       "record":{"attributes":{"type":"Lead","url":"/services/data/v59.0/sobjects/Lead/00Q…"},"Id":"00Q…"}}],
//!     "rule":"Standard_Lead_Duplicate_Rule","size":1,"success":true}]},
//!   "errorCode":"DUPLICATES_DETECTED","fields":[],"message":"Use one of these records?"}]
//! ```

use serde_json::json;

use super::{Record, Value, Values, attributes};
use crate::error::SfError;
use crate::schema::ObjectDef;

/// A duplicate rule with an exact matching rule on `fields`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct DuplicateRule {
    pub object: String,
    /// The rule's developer name (`Standard_Lead_Duplicate_Rule`).
    pub name: String,
    /// The fields that must all match.
    pub fields: Vec<String>,
    /// The rule's action is "Allow" (with an alert) rather than "Block".
    #[serde(default)]
    pub allow_save: bool,
    /// The alert text, the error's `message`.
    #[serde(default = "default_message")]
    pub message: String,
}

fn default_message() -> String {
    "Use one of these records?".to_string()
}

impl DuplicateRule {
    /// Whether the record being saved (`values`) duplicates `other`.
    pub(super) fn matches(&self, values: &Values, other: &Record) -> bool {
        self.fields.iter().all(|field| {
            let mine = values.get(field.as_str()).unwrap_or(&Value::Null);
            let theirs = other.get(field);
            match (mine, theirs) {
                (Value::Null, _) | (_, Value::Null) => false,
                (Value::Text(a), Value::Text(b)) => !a.trim().is_empty() && a.trim().eq_ignore_ascii_case(b.trim()),
                (a, b) => a == b,
            }
        })
    }

    /// The `DUPLICATES_DETECTED` error naming the records found.
    pub(super) fn error(&self, obj: &ObjectDef, found: &[&Record], api_version: &str) -> SfError {
        let records: Vec<serde_json::Value> = found
            .iter()
            .map(|r| {
                json!({
                    "additionalInformation": [],
                    "fieldDiffs": [],
                    "matchConfidence": 100.0,
                    "record": {"attributes": attributes(obj, &r.id, api_version), "Id": r.id},
                })
            })
            .collect();
        let result = json!({
            "allowSave": self.allow_save,
            "duplicateRule": self.name,
            "duplicateRuleEntityType": obj.name,
            "errorMessage": self.message,
            "matchResults": [{
                "entityType": obj.name,
                "errors": [],
                "matchEngine": "ExactMatchEngine",
                "matchRecords": records,
                "rule": self.name,
                "size": found.len(),
                "success": true,
            }],
        });
        SfError::new(400, "DUPLICATES_DETECTED", self.message.clone()).with_duplicate_result(result)
    }
}
