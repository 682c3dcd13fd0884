//! One REST request to the org, whether it came over HTTP or inside a
//! composite request.

use axum::http::{HeaderMap, Method};
use serde_json::{Map, Value};

use super::response::{json_parser_error, json_syntax_error};
use crate::db::WriteOptions;
use crate::error::SfError;

/// Salesforce's default and maximum query page size.
pub(crate) const MAX_BATCH_SIZE: usize = 2000;
/// The smallest page `Sforce-Query-Options: batchSize` may ask for.
pub(crate) const MIN_BATCH_SIZE: usize = 200;

#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub method: Method,
    /// `59.0`.
    pub version: String,
    /// Path segments after the version: `["sobjects", "Case", "500…"]`.
    pub path: Vec<String>,
    /// Decoded query parameters in order.
    pub query: Vec<(String, String)>,
    /// Page size asked for with `Sforce-Query-Options: batchSize=N`, clamped to 200–2000.
    pub batch_size: Option<usize>,
    /// `Sforce-Duplicate-Rule-Header: allowSave=true`: save despite
    /// duplicates a rule that allows saving finds.
    pub allow_save_duplicates: bool,
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// `rest` is the path after `/services/data/v{version}/`, `query` the raw query string.
    pub(crate) fn new(method: Method, version: &str, rest: &str, query: Option<&str>, body: Vec<u8>) -> Self {
        let path = rest.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
        let query: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        // Salesforce lets clients that cannot send PATCH tunnel it through POST.
        let overridden = query
            .iter()
            .find(|(k, _)| k == "_HttpMethod")
            .filter(|_| method == Method::POST)
            .and_then(|(_, v)| Method::from_bytes(v.to_ascii_uppercase().as_bytes()).ok());
        ApiRequest {
            method: overridden.unwrap_or(method),
            version: version.to_string(),
            path,
            query,
            batch_size: None,
            allow_save_duplicates: false,
            body,
        }
    }

    /// Reads the headers a resource cares about (`Sforce-Query-Options`,
    /// `Sforce-Duplicate-Rule-Header`). `Sforce-Auto-Assign` is accepted
    /// and has nothing to do: the emulator runs no assignment rules.
    pub(crate) fn with_headers(mut self, headers: &HeaderMap) -> Self {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        self.batch_size = header("sforce-query-options").and_then(batch_size_option);
        self.allow_save_duplicates = header("sforce-duplicate-rule-header").is_some_and(allow_save_option);
        self
    }

    /// What the write resources pass on to the records: the duplicate-rule
    /// header and the API version of record URLs.
    pub(crate) fn write_options(&self) -> WriteOptions {
        WriteOptions { allow_save_duplicates: self.allow_save_duplicates, api_version: Some(self.version.clone()) }
    }

    /// The first value of a query parameter.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON, or `JSON_PARSER_ERROR` as Salesforce words it.
    pub(crate) fn json_body(&self) -> Result<Value, SfError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(json_parser_error("No content to map to Object due to end of input"));
        }
        serde_json::from_slice(&self.body).map_err(|e| json_syntax_error(&e))
    }

    /// The body as a JSON object (an sObject's fields).
    pub(crate) fn json_object(&self) -> Result<Map<String, Value>, SfError> {
        match self.json_body()? {
            Value::Object(map) => Ok(map),
            other => Err(json_parser_error(format!(
                "Cannot deserialize instance of SObject out of {} token at [line:1, column:1]",
                json_token(&other)
            ))),
        }
    }
}

/// Parses `batchSize=N` out of `Sforce-Query-Options` (other options may follow, comma-separated).
pub(crate) fn batch_size_option(header: &str) -> Option<usize> {
    header
        .split(',')
        .filter_map(|option| option.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("batchSize"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .map(|n| n.clamp(MIN_BATCH_SIZE, MAX_BATCH_SIZE))
}

/// Whether `Sforce-Duplicate-Rule-Header` says `allowSave=true` (options
/// are comma-separated: `allowSave=true, includeRecordDetails=true, runAsCurrentUser=true`).
pub(crate) fn allow_save_option(header: &str) -> bool {
    header
        .split([',', ';'])
        .filter_map(|option| option.split_once('='))
        .any(|(k, v)| k.trim().eq_ignore_ascii_case("allowSave") && v.trim().eq_ignore_ascii_case("true"))
}

/// Jackson's name for the token a JSON value starts with.
pub(crate) fn json_token(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER_INT",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Null => "VALUE_NULL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_options_are_clamped_to_salesforce_bounds() {
        assert_eq!(batch_size_option("batchSize=500"), Some(500));
        assert_eq!(batch_size_option("batchSize=10"), Some(MIN_BATCH_SIZE));
        assert_eq!(batch_size_option("foo=1, batchSize = 9999"), Some(MAX_BATCH_SIZE));
        assert_eq!(batch_size_option("batchSize=abc"), None);
    }

    #[test]
    fn the_duplicate_rule_header_is_read_like_salesforce() {
        assert!(allow_save_option("allowSave=true"));
        assert!(allow_save_option("includeRecordDetails=true, AllowSave = TRUE"));
        assert!(!allow_save_option("allowSave=false"));
        assert!(!allow_save_option("runAsCurrentUser=true"));
    }

    #[test]
    fn paths_queries_and_method_override_are_decoded() {
        let r =
            ApiRequest::new(Method::POST, "59.0", "/sobjects/Case/500x/", Some("_HttpMethod=patch&q=a+b%2B"), vec![]);
        assert_eq!(r.method, Method::PATCH);
        assert_eq!(r.path, ["sobjects", "Case", "500x"]);
        assert_eq!(r.param("q"), Some("a b+"));
    }

    #[test]
    fn bodies_that_are_not_objects_are_parser_errors() {
        let r = ApiRequest::new(Method::POST, "59.0", "sobjects/Case", None, b"[1]".to_vec());
        assert_eq!(r.json_object().unwrap_err().error_code, "JSON_PARSER_ERROR");
        let r = ApiRequest::new(Method::POST, "59.0", "sobjects/Case", None, b"{\"a\":".to_vec());
        assert_eq!(r.json_object().unwrap_err().error_code, "JSON_PARSER_ERROR");
        let r = ApiRequest::new(Method::POST, "59.0", "sobjects/Case", None, b"".to_vec());
        assert_eq!(r.json_object().unwrap_err().error_code, "JSON_PARSER_ERROR");
    }
}
