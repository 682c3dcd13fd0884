//! Salesforce's error shape.
//!
//! Every failing REST call answers with an array of these objects:
//! `[{"message":"…","errorCode":"…","fields":[…]}]` (`fields` is left out when
//! empty). [`SfError::status`] is the HTTP status the server should answer with;
//! it is not part of the body.
//!
//! ```
//! use casebridge_emulator::error::SfError;
//! let e = SfError::required_field_missing(&["LastName"]);
//! assert_eq!(e.status, 400);
//! assert_eq!(
//!     serde_json::to_value(&e).unwrap(),
//!     serde_json::json!({"errorCode":"REQUIRED_FIELD_MISSING",
//!                        "message":"Required fields are missing: [LastName]",
//!                        "fields":["LastName"]})
//! );
//! ```

use serde::Serialize;
use serde::ser::SerializeMap;

/// One entry of a Salesforce error body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error_code}: {message}")]
pub struct SfError {
    /// HTTP status to answer with (400, 404, …). Not serialized.
    pub status: u16,
    pub error_code: String,
    pub message: String,
    pub fields: Vec<String>,
    /// A duplicate rule's findings (`DUPLICATES_DETECTED`): the entry then
    /// carries `duplicateResult` and always `fields`, as Salesforce writes it.
    pub duplicate_result: Option<Box<serde_json::Value>>,
}

impl Serialize for SfError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match &self.duplicate_result {
            Some(result) => {
                map.serialize_entry("duplicateResult", result)?;
                map.serialize_entry("errorCode", &self.error_code)?;
                map.serialize_entry("fields", &self.fields)?;
                map.serialize_entry("message", &self.message)?;
            }
            None => {
                map.serialize_entry("errorCode", &self.error_code)?;
                map.serialize_entry("message", &self.message)?;
                if !self.fields.is_empty() {
                    map.serialize_entry("fields", &self.fields)?;
                }
            }
        }
        map.end()
    }
}

impl SfError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        SfError {
            status,
            error_code: code.to_string(),
            message: message.into(),
            fields: Vec::new(),
            duplicate_result: None,
        }
    }

    /// Attaches a duplicate rule's `duplicateResult`.
    pub fn with_duplicate_result(mut self, result: serde_json::Value) -> Self {
        self.duplicate_result = Some(Box::new(result));
        self
    }

    pub fn with_fields(mut self, fields: Vec<String>) -> Self {
        self.fields = fields;
        self
    }

    // Constructors for the codes the data layer raises, so each message text is
    // written once, worded as Salesforce words it.

    /// `MALFORMED_QUERY` (400). `message` is the full text, position prefix included.
    pub fn malformed_query(message: impl Into<String>) -> Self {
        SfError::new(400, "MALFORMED_QUERY", message)
    }

    /// `MALFORMED_SEARCH` (400).
    pub fn malformed_search(message: impl Into<String>) -> Self {
        SfError::new(400, "MALFORMED_SEARCH", message)
    }

    /// `INVALID_TYPE` (400): the sObject named in a query does not exist.
    pub fn invalid_type(object: &str) -> Self {
        SfError::new(400, "INVALID_TYPE", format!("sObject type '{object}' is not supported."))
    }

    /// `NOT_FOUND` (404) for an unknown sObject type in a URL.
    pub fn unknown_sobject(object: &str) -> Self {
        SfError::new(
            404,
            "NOT_FOUND",
            format!("The requested resource does not exist: sObject type '{object}' is not supported."),
        )
    }

    /// `INVALID_FIELD` (400) for a write naming a field the object does not have.
    pub fn no_such_column_on_sobject(field: &str, object: &str) -> Self {
        SfError::new(400, "INVALID_FIELD", format!("No such column '{field}' on sobject of type {object}"))
    }

    /// `INVALID_FIELD` (400) for a query or field list naming a field the object does not have.
    pub fn no_such_column_on_entity(field: &str, object: &str) -> Self {
        SfError::new(
            400,
            "INVALID_FIELD",
            format!(
                "No such column '{field}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
            ),
        )
    }

    /// `REQUIRED_FIELD_MISSING` (400), listing the fields.
    pub fn required_field_missing(fields: &[&str]) -> Self {
        SfError::new(400, "REQUIRED_FIELD_MISSING", format!("Required fields are missing: [{}]", fields.join(", ")))
            .with_fields(fields.iter().map(|f| f.to_string()).collect())
    }

    /// `MALFORMED_ID` (400).
    pub fn malformed_id(field: Option<&str>, value: &str) -> Self {
        match field {
            Some(field) => SfError::new(400, "MALFORMED_ID", format!("{field}: id value of incorrect type: {value}"))
                .with_fields(vec![field.to_string()]),
            None => SfError::new(400, "MALFORMED_ID", format!("malformed id {value}")),
        }
    }

    /// `NOT_FOUND` (404) for a record id that matches nothing.
    pub fn not_found() -> Self {
        SfError::new(404, "NOT_FOUND", "The requested resource does not exist")
    }

    /// `ENTITY_IS_DELETED` (404) for a record in the recycle bin.
    pub fn entity_is_deleted() -> Self {
        SfError::new(404, "ENTITY_IS_DELETED", "entity is deleted")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_left_out_of_the_body_when_empty() {
        let body = serde_json::to_value(SfError::not_found()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"errorCode":"NOT_FOUND","message":"The requested resource does not exist"})
        );
    }
}
