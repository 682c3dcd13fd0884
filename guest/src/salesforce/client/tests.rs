use serde_json::{Map, Value, json};

use super::*;
use crate::salesforce::transport::{HttpResponse, ScriptedTransport, TransportError};

const LOGIN: &str = "https://login.salesforce.com";
const INSTANCE: &str = "https://na1.salesforce.com";
const CLIENT_ID: &str = "3MVG9lKcPoNINVB";
const SECRET: &str = "s3cr+t/&=Secret";
const REFRESH: &str = "5Aep861.REFRESH+token==";
const ACCESS: &str = "00Dxx!AQ4AQ.accessTOKEN";
const ACCESS_2: &str = "00Dxx!AQ4AQ.secondTOKEN";

fn config(call_budget: u32) -> ClientConfig {
    ClientConfig {
        login_url: LOGIN.into(),
        api_version: "62.0".into(),
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        refresh_token: REFRESH.into(),
        call_budget,
    }
}

fn token(access: &str) -> String {
    json!({
        "id": "https://login.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P",
        "issued_at": "1278448832702",
        "instance_url": INSTANCE,
        "signature": "0CmxinZir53Yex7nE0TD+zMpvIWYGb/bdJh6XfOH6EQ=",
        "access_token": access,
        "token_type": "Bearer",
        "scope": "api refresh_token"
    })
    .to_string()
}

fn authenticated() -> ScriptedTransport {
    ScriptedTransport::new().answer_json(200, &token(ACCESS))
}

fn client(transport: ScriptedTransport) -> SalesforceClient<ScriptedTransport> {
    SalesforceClient::new(transport, config(100))
}

fn client_with(transport: ScriptedTransport) -> SalesforceClient<ScriptedTransport> {
    client(transport)
}

#[test]
fn identity_user_id_comes_from_the_token_answer() {
    let mut client = client(authenticated());
    assert_eq!(client.identity_user_id(), None);
    client.authenticate().unwrap();
    assert_eq!(client.identity_user_id().as_deref(), Some("005x00000012Q9P"));
}

fn page(records: &[Value], next: Option<&str>) -> String {
    let mut body = json!({ "totalSize": 3, "done": next.is_none(), "records": records });
    if let Some(next) = next {
        body["nextRecordsUrl"] = json!(next);
    }
    body.to_string()
}

fn case(id: &str) -> Value {
    json!({ "attributes": { "type": "Case", "url": format!("/services/data/v62.0/sobjects/Case/{id}") }, "Id": id })
}

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn requests(client: &SalesforceClient<ScriptedTransport>) -> &[HttpRequest] {
    &client.transport().requests
}

fn body_json(request: &HttpRequest) -> Value {
    serde_json::from_slice(request.body.as_deref().unwrap_or_default()).unwrap_or(Value::Null)
}

fn assert_no_secret(text: &str) {
    for secret in [SECRET, REFRESH, ACCESS, ACCESS_2, "s3cr%2Bt", "5Aep861.REFRESH%2Btoken"] {
        assert!(!text.contains(secret), "a secret leaked into: {text}");
    }
}

const SESSION_EXPIRED: &str = r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;

// --- OAuth ------------------------------------------------------------------------

#[test]
fn token_request_is_a_form_encoded_refresh_grant_to_the_login_host() {
    let mut client = client(authenticated());
    client.authenticate().unwrap();

    let request = &requests(&client)[0];
    assert_eq!(request.method, Method::Post);
    assert_eq!(request.url, "https://login.salesforce.com/services/oauth2/token");
    assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(
        String::from_utf8(request.body.clone().unwrap()).unwrap(),
        "grant_type=refresh_token&client_id=3MVG9lKcPoNINVB&client_secret=s3cr%2Bt%2F%26%3DSecret\
         &refresh_token=5Aep861.REFRESH%2Btoken%3D%3D"
    );
    assert_eq!(client.token_calls(), 1);
    assert_eq!(client.calls(), 0, "token requests are not API calls");
    assert_eq!(client.instance_url(), Some(INSTANCE));
}

#[test]
fn first_call_authenticates_lazily_then_talks_to_the_instance_with_a_bearer_token() {
    let transport = authenticated().answer_json(200, &page(&[case("500A")], None));
    let mut client = client(transport);
    assert!(requests(&client).is_empty(), "nothing is sent before the first call");

    let records = client.query("SELECT Id FROM Case").unwrap();

    assert_eq!(records, vec![case("500A")]);
    let sent = requests(&client);
    assert_eq!(sent.len(), 2);
    assert!(sent[0].url.starts_with(LOGIN));
    assert!(sent[1].url.starts_with("https://na1.salesforce.com/services/data/v62.0/query?q="));
    assert_eq!(sent[1].header("Authorization"), Some(format!("Bearer {ACCESS}").as_str()));
    assert_eq!(sent[1].header("Accept"), Some("application/json"));
    assert_eq!(sent[1].header("Sforce-Call-Options"), Some(format!("client={CALL_OPTIONS_CLIENT}").as_str()));
    assert_eq!((client.token_calls(), client.calls()), (1, 1));
}

#[test]
fn expired_session_is_refreshed_once_and_the_call_retried() {
    let transport = authenticated()
        .answer_json(401, SESSION_EXPIRED)
        .answer_json(200, &token(ACCESS_2))
        .answer_json(200, &page(&[case("500A")], None));
    let mut client = client(transport);

    let records = client.query("SELECT Id FROM Case").unwrap();

    assert_eq!(records.len(), 1);
    let sent = requests(&client);
    assert_eq!(sent.len(), 4);
    assert!(sent[2].url.ends_with("/services/oauth2/token"));
    assert_eq!(sent[3].url, sent[1].url, "the same call is sent again");
    assert_eq!(sent[3].header("Authorization"), Some(format!("Bearer {ACCESS_2}").as_str()));
    assert_eq!((client.token_calls(), client.calls()), (2, 2));
}

#[test]
fn second_401_after_a_refresh_is_an_error_not_a_loop() {
    let transport = authenticated()
        .answer_json(401, SESSION_EXPIRED)
        .answer_json(200, &token(ACCESS_2))
        .answer_json(401, SESSION_EXPIRED)
        .answer_json(200, &token(ACCESS))
        .answer_json(200, &page(&[], None));
    let mut client = client(transport);

    let error = client.query("SELECT Id FROM Case").unwrap_err();

    match &error {
        ClientError::Salesforce(api) => {
            assert_eq!((api.status, api.code.as_str()), (401, "INVALID_SESSION_ID"));
            assert!(api.message.contains("after a token refresh"), "{}", api.message);
        }
        other => panic!("expected a Salesforce error, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert_eq!(requests(&client).len(), 4, "token, call, token, call: then stop");
    assert_eq!(client.transport().remaining(), 2);
    assert_no_secret(&error.to_string());
}

#[test]
fn refused_refresh_token_requires_reconnecting_and_leaks_no_secret() {
    let transport = ScriptedTransport::new()
        .answer_json(400, r#"{"error":"invalid_grant","error_description":"expired access/refresh token"}"#)
        .answer_json(200, &token(ACCESS));
    let mut client = client(transport);

    let error = client.query("SELECT Id FROM Case").unwrap_err();

    let ClientError::ReconnectRequired(message) = &error else { panic!("expected ReconnectRequired, got {error:?}") };
    assert!(message.contains("invalid_grant"), "{message}");
    assert!(message.contains("Connect the org again"), "{message}");
    assert!(!error.is_retryable());
    for text in [error.to_string(), format!("{error:?}"), format!("{client:?}"), format!("{:?}", config(1))] {
        assert_no_secret(&text);
    }

    let again = client.query("SELECT Id FROM Case").unwrap_err();
    assert_eq!(again, error, "the refusal is remembered");
    assert_eq!(requests(&client).len(), 1, "a refused refresh token is never sent again");
    assert_eq!(client.calls(), 0);
}

#[test]
fn refused_client_credentials_require_reconnecting_with_the_reason() {
    let transport = ScriptedTransport::new()
        .answer_json(400, r#"{"error":"invalid_client_id","error_description":"client identifier invalid"}"#);
    let mut client = client(transport);

    let error = client.describe("Case").unwrap_err();

    let ClientError::ReconnectRequired(message) = &error else { panic!("expected ReconnectRequired, got {error:?}") };
    assert!(message.contains("invalid_client_id: client identifier invalid"), "{message}");
    assert!(message.contains("client id and secret"), "{message}");
}

#[test]
fn token_endpoint_outage_is_retryable_and_not_remembered() {
    let transport = ScriptedTransport::new()
        .answer_json(503, "<html>Service Unavailable</html>")
        .answer_json(200, &token(ACCESS))
        .answer_json(200, &page(&[], None));
    let mut client = client(transport);

    let error = client.query("SELECT Id FROM Case").unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert!(client.query("SELECT Id FROM Case").is_ok());
}

#[test]
fn unreadable_token_answer_does_not_quote_the_token() {
    let truncated = format!(r#"{{"instance_url":"{INSTANCE}","access_token":"{ACCESS}""#);
    let mut client = client(ScriptedTransport::new().answer_json(200, &truncated));

    let error = client.authenticate().unwrap_err();

    assert!(matches!(error, ClientError::MalformedResponse(_)), "{error:?}");
    assert!(error.to_string().contains("token request"));
    assert_no_secret(&error.to_string());
}

#[test]
fn token_answer_without_instance_url_is_malformed() {
    let body = json!({ "access_token": ACCESS }).to_string();
    let mut client = client(ScriptedTransport::new().answer_json(200, &body));
    let error = client.authenticate().unwrap_err();
    assert!(matches!(&error, ClientError::MalformedResponse(m) if m.contains("instance_url")), "{error:?}");
}

#[test]
fn invalid_configuration_sends_nothing() {
    let mut bad = config(10);
    bad.login_url = "login.salesforce.com".into();
    let mut client = SalesforceClient::new(authenticated(), bad);
    assert!(matches!(client.query("SELECT Id FROM Case"), Err(ClientError::InvalidConfig(_))));

    let mut bad = config(10);
    bad.api_version = "sixty-two".into();
    let mut client2 = SalesforceClient::new(authenticated(), bad);
    assert!(matches!(client2.query("SELECT Id FROM Case"), Err(ClientError::InvalidConfig(_))));
    assert!(requests(&client).is_empty() && requests(&client2).is_empty());
}

#[test]
fn api_version_with_a_leading_v_is_accepted() {
    let mut with_v = config(10);
    with_v.api_version = "v59.0".into();
    let client = SalesforceClient::new(ScriptedTransport::new(), with_v);
    assert_eq!(client.data_path("/sobjects/Case"), "/services/data/v59.0/sobjects/Case");
}

#[test]
fn denied_host_is_a_transport_error_naming_the_host() {
    let mut client = client(ScriptedTransport::new().fail(TransportError::Denied));

    let error = client.authenticate().unwrap_err();

    let ClientError::Transport(message) = &error else { panic!("expected Transport, got {error:?}") };
    assert!(message.contains("login.salesforce.com"), "{message}");
    assert!(message.contains("allowed hosts"), "{message}");
    assert!(error.is_retryable());
}

#[test]
fn debug_output_never_shows_secrets() {
    let transport = authenticated().answer_json(200, &page(&[], None));
    let mut client = client(transport);
    client.query("SELECT Id FROM Case").unwrap();
    assert_no_secret(&format!("{client:?}"));
    assert_no_secret(&format!("{:?}", config(1)));
    assert_no_secret(&format!("{:?}", requests(&client)));
    assert!(format!("{:?}", config(1)).contains(CLIENT_ID));
}

// --- query and search ----------------------------------------------------------------

#[test]
fn query_follows_next_records_url_verbatim_until_done() {
    let next = "/services/data/v62.0/query/01gD0000002HU6KIAW-2000";
    let transport = authenticated()
        .answer_json(200, &page(&[case("500A"), case("500B")], Some(next)))
        .answer_json(200, &page(&[case("500C")], None));
    let mut client = client(transport);

    let records = client.query("SELECT Id FROM Case").unwrap();

    assert_eq!(records, vec![case("500A"), case("500B"), case("500C")]);
    assert_eq!(requests(&client)[2].url, format!("{INSTANCE}{next}"));
    assert_eq!(client.calls(), 2, "each page is a call");
}

#[test]
fn query_encodes_plus_as_percent_2b() {
    let transport = authenticated().answer_json(200, &page(&[], None));
    let mut client = client(transport);

    client.query("SELECT Id FROM Contact WHERE Phone = '+33 1' AND Name LIKE 'a&b%'").unwrap();

    let url = &requests(&client)[1].url;
    let query = url.split_once("?q=").unwrap().1;
    assert!(!query.contains('+') && !query.contains(' ') && !query.contains('&'), "{query}");
    assert!(query.contains("%2B33%201"), "{query}");
    assert_eq!(
        query,
        "SELECT%20Id%20FROM%20Contact%20WHERE%20Phone%20%3D%20%27%2B33%201%27%20AND%20Name%20LIKE%20%27a%26b%25%27"
    );
}

#[test]
fn query_all_reads_deleted_rows_through_query_all() {
    let transport = authenticated().answer_json(200, &page(&[], None));
    let mut client = client(transport);
    client.query_all("SELECT Id FROM Case").unwrap();
    assert!(requests(&client)[1].url.contains("/services/data/v62.0/queryAll?q="));
}

#[test]
fn unfinished_page_without_next_url_is_malformed() {
    let body = json!({ "totalSize": 5, "done": false, "records": [] }).to_string();
    let mut client = client(authenticated().answer_json(200, &body));
    let error = client.query("SELECT Id FROM Case").unwrap_err();
    assert!(matches!(&error, ClientError::MalformedResponse(m) if m.contains("nextRecordsUrl")), "{error:?}");
}

#[test]
fn next_records_url_on_another_host_is_not_followed() {
    let transport =
        authenticated().answer_json(200, &page(&[], Some("https://evil.example/services/data/v62.0/query/01g-2000")));
    let mut client = client(transport);
    let error = client.query("SELECT Id FROM Case").unwrap_err();
    assert!(matches!(error, ClientError::MalformedResponse(_)), "{error:?}");
    assert_eq!(requests(&client).len(), 2, "no request to the other host");
}

#[test]
fn repeated_next_records_url_stops_instead_of_looping() {
    let next = "/services/data/v62.0/query/01g-2000";
    let transport = authenticated()
        .answer_json(200, &page(&[], Some(next)))
        .answer_json(200, &page(&[], Some(next)))
        .answer_json(200, &page(&[], Some(next)));
    let mut client = client(transport);
    let error = client.query("SELECT Id FROM Case").unwrap_err();
    assert!(matches!(&error, ClientError::MalformedResponse(m) if m.contains("already followed")), "{error:?}");
    assert_eq!(client.calls(), 2);
}

#[test]
fn query_page_and_query_more_expose_paging() {
    let next = "/services/data/v62.0/query/01g-2000";
    let transport = authenticated()
        .answer_json(200, &page(&[case("500A")], Some(next)))
        .answer_json(200, &page(&[case("500B")], None));
    let mut client = client(transport);

    let first = client.query_page("SELECT Id FROM Case").unwrap();
    assert!(!first.done);
    assert_eq!(first.total_size, 3);
    let second = client.query_more(first.next_records_url.as_deref().unwrap()).unwrap();
    assert!(second.done);
    assert_eq!(second.records, vec![case("500B")]);
}

#[test]
fn search_reads_search_records() {
    let body = json!({ "searchRecords": [ { "attributes": { "type": "Contact" }, "Id": "003A" } ] }).to_string();
    let mut client = client(authenticated().answer_json(200, &body));

    let found = client.search("FIND {a\\+b} IN EMAIL FIELDS RETURNING Contact(Id)").unwrap();

    assert_eq!(found.len(), 1);
    let url = &requests(&client)[1].url;
    assert!(url.starts_with("https://na1.salesforce.com/services/data/v62.0/search/?q=FIND%20%7Ba%5C%2Bb%7D"), "{url}");
}

// --- limits and budget ---------------------------------------------------------------

#[test]
fn limit_info_is_read_with_or_without_the_per_app_part() {
    assert_eq!(parse_limit_info("api-usage=18/5000"), Some(ApiUsage { used: 18, max: 5000 }));
    assert_eq!(
        parse_limit_info("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)"),
        Some(ApiUsage { used: 25, max: 5000 })
    );
    assert_eq!(parse_limit_info(" API-Usage = 1 / 2 "), Some(ApiUsage { used: 1, max: 2 }));
    assert_eq!(parse_limit_info("per-app-api-usage=17/250(appName=x)"), None);
    for garbage in [
        "",
        "api-usage",
        "api-usage=",
        "api-usage=18",
        "api-usage=a/b",
        "api-usage=-1/5",
        "api-usage=1/99999999999",
        "\u{0}\u{ff}",
    ] {
        assert_eq!(parse_limit_info(garbage), None, "{garbage:?}");
    }
}

#[test]
fn last_usage_follows_the_header_and_survives_garbage() {
    let transport = authenticated()
        .answer(HttpResponse::new(200, page(&[], None)).with_header("Sforce-Limit-Info", "api-usage=18/5000"))
        .answer(HttpResponse::new(200, page(&[], None)).with_header("sforce-limit-info", "api-usage=oops"));
    let mut client = client(transport);
    assert_eq!(client.last_usage(), None);

    client.query("SELECT Id FROM Case").unwrap();
    assert_eq!(client.last_usage(), Some(ApiUsage { used: 18, max: 5000 }));
    client.query("SELECT Id FROM Case").unwrap();
    assert_eq!(client.last_usage(), Some(ApiUsage { used: 18, max: 5000 }));
}

#[test]
fn spent_budget_refuses_the_call_before_sending_it() {
    let transport = authenticated().answer_json(200, &page(&[], None)).answer_json(200, &page(&[], None));
    let mut client = SalesforceClient::new(transport, config(1));

    client.query("SELECT Id FROM Case").unwrap();
    let error = client.query("SELECT Id FROM Case").unwrap_err();

    assert_eq!(error, ClientError::BudgetExhausted { used: 1, budget: 1 });
    assert_eq!(requests(&client).len(), 2, "nothing sent for the refused call");
    assert_eq!(client.remaining_budget(), 0);
    assert!(!error.is_retryable());
}

#[test]
fn zero_budget_sends_not_even_a_token_request() {
    let mut client = SalesforceClient::new(authenticated(), config(0));
    assert_eq!(client.query("SELECT Id FROM Case"), Err(ClientError::BudgetExhausted { used: 0, budget: 0 }));
    assert!(requests(&client).is_empty());
}

#[test]
fn refresh_retry_counts_against_the_budget() {
    let transport = authenticated().answer_json(401, SESSION_EXPIRED).answer_json(200, &token(ACCESS_2));
    let mut client = SalesforceClient::new(transport, config(1));
    let error = client.query("SELECT Id FROM Case").unwrap_err();
    assert_eq!(error, ClientError::BudgetExhausted { used: 1, budget: 1 });
    assert_eq!(requests(&client).len(), 3, "token, call, token; the retry is not sent");
}

#[test]
fn request_limit_exceeded_is_an_api_limit_with_the_reported_usage() {
    let transport = authenticated().answer(
        HttpResponse::new(403, r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#)
            .with_header("Sforce-Limit-Info", "api-usage=5001/5000"),
    );
    let mut client = client(transport);

    let error = client.query("SELECT Id FROM Case").unwrap_err();

    assert_eq!(error, ClientError::ApiLimit(ApiUsage { used: 5001, max: 5000 }));
    assert!(!error.is_retryable());
}

#[test]
fn concurrency_limit_is_a_retryable_salesforce_error() {
    let transport = authenticated().answer_json(
        403,
        r#"[{"message":"ConcurrentPerOrgLongTxn Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
    );
    let mut client = client(transport);
    let error = client.query("SELECT Id FROM Case").unwrap_err();
    assert!(matches!(&error, ClientError::Salesforce(api) if api.code == "REQUEST_LIMIT_EXCEEDED"), "{error:?}");
    assert!(error.is_retryable());
}

#[test]
fn limits_reads_daily_api_requests() {
    let body = json!({ "DailyApiRequests": { "Max": 15000, "Remaining": 14998 }, "DataStorageMB": { "Max": 5, "Remaining": 5 } });
    let mut client = client(authenticated().answer_json(200, &body.to_string()));

    let limits = client.limits().unwrap();

    assert_eq!(limits.daily_api_requests, ApiUsage { used: 2, max: 15000 });
    assert_eq!(limits.raw["DataStorageMB"]["Max"], 5);
    assert_eq!(client.last_usage(), Some(ApiUsage { used: 2, max: 15000 }));
    assert!(requests(&client)[1].url.ends_with("/services/data/v62.0/limits"));
}

// --- writes -----------------------------------------------------------------------------

#[test]
fn create_posts_json_and_returns_the_id() {
    let transport = authenticated().answer_json(201, r#"{"id":"00a000000000001AAA","success":true,"errors":[]}"#);
    let mut client = client(transport);
    let comment = fields(json!({ "ParentId": "500A", "CommentBody": "Hello", "IsPublished": true }));

    let id = client.create("CaseComment", &comment).unwrap();

    assert_eq!(id, "00a000000000001AAA");
    let request = &requests(&client)[1];
    assert_eq!(request.method, Method::Post);
    assert_eq!(request.url, "https://na1.salesforce.com/services/data/v62.0/sobjects/CaseComment");
    assert_eq!(request.header("Content-Type"), Some("application/json"));
    assert_eq!(request.header("Sforce-Auto-Assign"), None);
    assert_eq!(body_json(request), json!({ "ParentId": "500A", "CommentBody": "Hello", "IsPublished": true }));
}

#[test]
fn salesforce_error_array_becomes_a_typed_api_error() {
    let body = r#"[{"message":"Required fields are missing: [Subject]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Subject"]},
                  {"message":"Status: bad value","errorCode":"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST","fields":["Status"]}]"#;
    let mut client = client(authenticated().answer_json(400, body));

    let error = client.create("Case", &fields(json!({ "Status": "Nope" }))).unwrap_err();

    let expected = ApiError {
        status: 400,
        code: "REQUIRED_FIELD_MISSING".into(),
        message: "Required fields are missing: [Subject]; Status: bad value".into(),
        fields: vec!["Subject".into(), "Status".into()],
    };
    assert_eq!(error, ClientError::Salesforce(expected));
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("REQUIRED_FIELD_MISSING (HTTP 400)"));
}

#[test]
fn error_without_fields_is_read() {
    let mut client = client(
        authenticated()
            .answer_json(404, r#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#),
    );
    let error = client.delete("Case", "500A").unwrap_err();
    assert!(
        matches!(&error, ClientError::Salesforce(api) if api.code == "NOT_FOUND" && api.fields.is_empty() && api.status == 404)
    );
    assert_eq!(requests(&client)[1].method, Method::Delete);
    assert!(requests(&client)[1].url.ends_with("/sobjects/Case/500A"));
}

#[test]
fn update_patches_and_accepts_204() {
    let mut client = client(authenticated().answer(HttpResponse::new(204, "")));
    client.update("Case", "500A", &fields(json!({ "Status": "Working" }))).unwrap();
    let request = &requests(&client)[1];
    assert_eq!(request.method, Method::Patch);
    assert_eq!(request.url, "https://na1.salesforce.com/services/data/v62.0/sobjects/Case/500A");
    assert_eq!(request.header("Sforce-Auto-Assign"), None);
}

#[test]
fn changing_the_owner_turns_assignment_rules_off() {
    let mut client = client(authenticated().answer(HttpResponse::new(204, "")));
    client.update("Case", "500A", &fields(json!({ "OwnerId": "00G000000000001" }))).unwrap();
    assert_eq!(requests(&client)[1].header("sforce-auto-assign"), Some("FALSE"));
}

#[test]
fn ids_and_object_names_cannot_escape_their_path_segment() {
    let mut client = client(authenticated().answer(HttpResponse::new(204, "")));
    client.update("Case", "500A/../../x?y=1", &Map::new()).unwrap();
    assert!(requests(&client)[1].url.ends_with("/sobjects/Case/500A%2F..%2F..%2Fx%3Fy%3D1"));
}

#[test]
fn composite_sends_subrequests_and_reads_each_result() {
    let response = json!({ "compositeResponse": [
        { "body": { "id": "00a000000000001AAA", "success": true, "errors": [] },
          "httpHeaders": { "Location": "/services/data/v62.0/sobjects/CaseComment/00a000000000001AAA" },
          "httpStatusCode": 201, "referenceId": "comment" },
        { "body": [ { "errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back since another operation in the same transaction failed." } ],
          "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "case" }
    ]});
    let mut client = client(authenticated().answer_json(200, &response.to_string()));
    let comment_url = client.sobject_path("CaseComment", None);
    let case_url = client.sobject_path("Case", Some("500A"));

    let results = client
        .composite(
            true,
            vec![
                Subrequest::new(Method::Post, comment_url, "comment")
                    .with_body(json!({ "ParentId": "500A", "CommentBody": "Hi" })),
                Subrequest::new(Method::Patch, case_url, "case").with_body(json!({ "OwnerId": "00G000000000001" })),
            ],
        )
        .unwrap();

    let request = &requests(&client)[1];
    assert_eq!(request.method, Method::Post);
    assert_eq!(request.url, "https://na1.salesforce.com/services/data/v62.0/composite");
    assert_eq!(
        body_json(request),
        json!({ "allOrNone": true, "compositeRequest": [
            { "method": "POST", "url": "/services/data/v62.0/sobjects/CaseComment", "referenceId": "comment",
              "body": { "ParentId": "500A", "CommentBody": "Hi" } },
            { "method": "PATCH", "url": "/services/data/v62.0/sobjects/Case/500A", "referenceId": "case",
              "body": { "OwnerId": "00G000000000001" }, "httpHeaders": { "Sforce-Auto-Assign": "FALSE" } }
        ]})
    );
    assert_eq!(client.calls(), 1, "a composite request is one call");
    assert_eq!(results.len(), 2);
    assert_eq!((results[0].reference_id.as_str(), results[0].status), ("comment", 201));
    assert_eq!(results[0].body["id"], "00a000000000001AAA");
    assert!(results[0].is_success() && results[0].error().is_none());
    let halted = results[1].error().unwrap();
    assert_eq!((halted.status, halted.code.as_str()), (400, "PROCESSING_HALTED"));
}

fn composite_answer(count: usize, offset: usize) -> String {
    let results: Vec<Value> = (offset..offset + count)
        .map(|i| json!({ "body": null, "httpHeaders": {}, "httpStatusCode": 204, "referenceId": format!("r{i}") }))
        .collect();
    json!({ "compositeResponse": results }).to_string()
}

fn subrequests(count: usize) -> Vec<Subrequest> {
    (0..count)
        .map(|i| {
            Subrequest::new(Method::Patch, format!("/services/data/v62.0/sobjects/Case/500{i}"), format!("r{i}"))
                .with_body(json!({ "Status": "Working" }))
        })
        .collect()
}

#[test]
fn more_than_25_subrequests_are_split_when_not_all_or_none() {
    let transport =
        authenticated().answer_json(200, &composite_answer(25, 0)).answer_json(200, &composite_answer(5, 25));
    let mut client = client(transport);

    let results = client.composite(false, subrequests(30)).unwrap();

    assert_eq!(results.len(), 30);
    assert_eq!(results[29].reference_id, "r29");
    assert_eq!(client.calls(), 2);
    let sizes: Vec<usize> = requests(&client)[1..]
        .iter()
        .map(|r| body_json(r)["compositeRequest"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![25, 5]);
    assert_eq!(body_json(&requests(&client)[1])["allOrNone"], false);
}

#[test]
fn more_than_25_all_or_none_subrequests_are_refused_unsent() {
    let mut client = client(authenticated());
    let error = client.composite(true, subrequests(26)).unwrap_err();
    assert!(matches!(&error, ClientError::Unsupported(m) if m.contains("26 subrequests")), "{error:?}");
    assert!(requests(&client).is_empty());

    let mut client = client_with(authenticated().answer_json(200, &composite_answer(25, 0)));
    assert_eq!(client.composite(true, subrequests(25)).unwrap().len(), 25, "25 fit in one all-or-none request");
    assert_eq!(client.calls(), 1);
}

#[test]
fn split_composite_needs_budget_for_every_request_up_front() {
    let mut client = SalesforceClient::new(authenticated(), config(1));
    let error = client.composite(false, subrequests(26)).unwrap_err();
    assert_eq!(error, ClientError::BudgetExhausted { used: 0, budget: 1 });
    assert!(requests(&client).is_empty());
}

#[test]
fn collection_update_reports_each_record_with_status_code_errors() {
    let answer = r#"[{"id":"500A","success":true,"errors":[]},
                     {"success":false,"errors":[{"statusCode":"ENTITY_IS_DELETED","message":"entity is deleted","fields":[]}]}]"#;
    let mut client = client(authenticated().answer_json(200, answer));

    let results = client
        .collection_update(
            vec![
                RecordUpdate {
                    object: "Case".into(),
                    id: "500A".into(),
                    fields: fields(json!({ "Status": "Closed" })),
                },
                RecordUpdate {
                    object: "Case".into(),
                    id: "500B".into(),
                    fields: fields(json!({ "Status": "Closed" })),
                },
            ],
            false,
        )
        .unwrap();

    let request = &requests(&client)[1];
    assert_eq!(request.method, Method::Patch);
    assert!(request.url.ends_with("/services/data/v62.0/composite/sobjects"));
    assert_eq!(
        body_json(request),
        json!({ "allOrNone": false, "records": [
            { "attributes": { "type": "Case" }, "id": "500A", "Status": "Closed" },
            { "attributes": { "type": "Case" }, "id": "500B", "Status": "Closed" }
        ]})
    );
    assert_eq!(results[0], Ok(()));
    assert_eq!(
        results[1],
        Err(ApiError {
            status: 400,
            code: "ENTITY_IS_DELETED".into(),
            message: "entity is deleted".into(),
            fields: vec![]
        })
    );
}

#[test]
fn collection_update_splits_at_200_records() {
    let ok: Vec<Value> = (0..200).map(|_| json!({ "id": "500", "success": true, "errors": [] })).collect();
    let transport = authenticated()
        .answer_json(200, &Value::Array(ok).to_string())
        .answer_json(200, r#"[{"id":"500","success":true,"errors":[]}]"#);
    let mut client = client(transport);
    let records: Vec<RecordUpdate> =
        (0..201).map(|i| RecordUpdate { object: "Case".into(), id: format!("500{i}"), fields: Map::new() }).collect();

    let results = client.collection_update(records.clone(), false).unwrap();

    assert_eq!(results.len(), 201);
    assert_eq!(client.calls(), 2);
    assert!(matches!(client.collection_update(records, true), Err(ClientError::Unsupported(_))));
}

#[test]
fn collection_answer_of_the_wrong_length_is_malformed() {
    let mut client = client(authenticated().answer_json(200, "[]"));
    let records = vec![RecordUpdate { object: "Case".into(), id: "500A".into(), fields: Map::new() }];
    assert!(matches!(client.collection_update(records, false), Err(ClientError::MalformedResponse(_))));
}

// --- reads of raw bodies ------------------------------------------------------------------

#[test]
fn describe_returns_the_body_as_it_came() {
    let body = r#"{"name":"Case","fields":[]}"#;
    let mut client = client(authenticated().answer_json(200, body));
    assert_eq!(client.describe("Case").unwrap(), body);
    assert!(requests(&client)[1].url.ends_with("/services/data/v62.0/sobjects/Case/describe"));
}

#[test]
fn get_bytes_returns_binary_bodies_from_the_instance_only() {
    let bytes = vec![0x89, b'P', b'N', b'G', 0xff, 0x00];
    let mut client = client(authenticated().answer(HttpResponse::new(200, bytes.clone())));
    let path = "/services/data/v62.0/sobjects/ContentVersion/068A/VersionData";

    assert_eq!(client.get_bytes(path).unwrap(), bytes);
    assert_eq!(requests(&client)[1].url, format!("{INSTANCE}{path}"));
    assert_eq!(requests(&client)[1].header("Accept"), Some("*/*"));

    let error = client.get_bytes("https://evil.example/steal").unwrap_err();
    assert!(matches!(error, ClientError::Unsupported(_)), "{error:?}");
    assert_eq!(requests(&client).len(), 2, "the token went nowhere else");
}

// --- failures that must not panic ---------------------------------------------------------

#[test]
fn server_errors_are_retryable_and_not_retried_by_the_client() {
    for (status, body) in [
        (500, r#"[{"errorCode":"UNKNOWN_EXCEPTION","message":"An unexpected error occurred."}]"#),
        (503, "<html>Down for maintenance</html>"),
    ] {
        let mut client = client(authenticated().answer_json(status, body).answer_json(200, &page(&[], None)));
        let error = client.query("SELECT Id FROM Case").unwrap_err();
        assert!(matches!(&error, ClientError::Salesforce(api) if api.status == status), "{error:?}");
        assert!(error.is_retryable(), "{error:?}");
        assert_eq!(client.calls(), 1, "no retry inside the client");
    }
}

#[test]
fn transport_failures_are_retryable() {
    let mut client = client(authenticated().fail(TransportError::Timeout("waiting for the response".into())));
    let error = client.query("SELECT Id FROM Case").unwrap_err();
    assert!(
        matches!(&error, ClientError::Transport(m) if m.contains("na1.salesforce.com") && m.contains("timed out")),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(client.calls(), 1, "a sent request counts even without an answer");
}

#[test]
fn malformed_json_is_reported_with_a_short_excerpt() {
    let garbage = format!("{{\"totalSize\": 1, \"done\": tru{}", "x".repeat(5000));
    let mut client = client(authenticated().answer_json(200, &garbage));

    let error = client.query("SELECT Id FROM Case").unwrap_err();

    let ClientError::MalformedResponse(message) = &error else { panic!("expected MalformedResponse, got {error:?}") };
    assert!(message.starts_with("query: expected a query result"), "{message}");
    assert!(message.len() < 600, "the excerpt is short: {} chars", message.len());
    assert!(error.is_retryable());
}

#[test]
fn missing_fields_are_malformed_not_a_panic() {
    for body in ["{}", "[]", "null", r#"{"done":true}"#, r#"{"done":"yes","records":[]}"#] {
        let mut client = client(authenticated().answer_json(200, body));
        let error = client.query("SELECT Id FROM Case").unwrap_err();
        assert!(matches!(error, ClientError::MalformedResponse(_)), "{body}: {error:?}");
    }
    let mut creating = client(authenticated().answer_json(201, r#"{"success":true,"errors":[]}"#));
    assert!(matches!(creating.create("Case", &Map::new()), Err(ClientError::MalformedResponse(_))));
    let mut composing = client(authenticated().answer_json(200, r#"{"compositeResponse":[{"body":{}}]}"#));
    assert!(matches!(composing.composite(false, subrequests(1)), Err(ClientError::MalformedResponse(_))));
}

#[test]
fn non_utf8_bodies_do_not_panic() {
    let bytes: Vec<u8> = vec![0xff, 0xfe, b'{', 0xc3, 0x28, b'}'];
    let mut client = client(
        authenticated()
            .answer(HttpResponse::new(200, bytes.clone()))
            .answer(HttpResponse::new(200, bytes.clone()))
            .answer(HttpResponse::new(400, bytes.clone())),
    );

    assert!(matches!(client.query("SELECT Id FROM Case"), Err(ClientError::MalformedResponse(_))));
    assert!(matches!(client.describe("Case"), Err(ClientError::MalformedResponse(_))));
    let error = client.update("Case", "500A", &Map::new()).unwrap_err();
    assert!(matches!(&error, ClientError::Salesforce(api) if api.status == 400 && api.code.is_empty()), "{error:?}");
    assert!(error.to_string().contains('\u{fffd}'));
}

#[test]
fn huge_and_deeply_nested_bodies_are_errors_not_crashes() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut client = client(authenticated().answer_json(200, &deep).answer_json(400, &deep));
    assert!(matches!(client.query("SELECT Id FROM Case"), Err(ClientError::MalformedResponse(_))));
    assert!(matches!(client.delete("Case", "500A"), Err(ClientError::Salesforce(_))));
}

#[test]
fn errors_map_one_to_one_onto_sync_error_cases() {
    // The component glue matches on these; a new variant must be mapped there too.
    let all = [
        ClientError::InvalidConfig(String::new()),
        ClientError::ReconnectRequired(String::new()),
        ClientError::ApiLimit(ApiUsage::default()),
        ClientError::BudgetExhausted { used: 0, budget: 0 },
        ClientError::Salesforce(ApiError { status: 400, code: String::new(), message: String::new(), fields: vec![] }),
        ClientError::Transport(String::new()),
        ClientError::MalformedResponse(String::new()),
        ClientError::Unsupported(String::new()),
    ];
    let retryable: Vec<bool> = all.iter().map(ClientError::is_retryable).collect();
    assert_eq!(retryable, vec![false, false, false, false, false, true, true, false]);
}

// --- queries inside composite calls ----------------------------------------------------

#[test]
fn query_subrequest_path_is_encoded_and_its_pages_are_followed() {
    let next = "/services/data/v62.0/query/01gQ-2000";
    let first = json!({ "totalSize": 2, "done": false, "records": [case("500A")], "nextRecordsUrl": next });
    let answer = json!({ "compositeResponse": [ { "body": first, "httpHeaders": {}, "httpStatusCode": 200, "referenceId": "cases" } ] });
    let transport =
        authenticated().answer_json(200, &answer.to_string()).answer_json(200, &page(&[case("500B")], None));
    let mut client = client(transport);

    let path = client.query_path("SELECT Id FROM Case WHERE Subject = 'a+b'");
    assert_eq!(path, "/services/data/v62.0/query?q=SELECT%20Id%20FROM%20Case%20WHERE%20Subject%20%3D%20%27a%2Bb%27");
    let responses = client.composite(false, vec![Subrequest::new(Method::Get, path, "cases")]).unwrap();
    let response = responses.into_iter().next().unwrap();
    let records = client.all_records(response.body).unwrap();

    assert_eq!(records, vec![case("500A"), case("500B")]);
    assert_eq!(requests(&client)[2].url, format!("{INSTANCE}{next}"));
    assert_eq!(client.calls(), 2);
    assert!(matches!(client.all_records(json!({ "records": 3 })), Err(ClientError::MalformedResponse(_))));
}

#[test]
fn failed_subresponse_becomes_a_salesforce_error() {
    let failed = SubResponse {
        reference_id: "cases".into(),
        status: 400,
        body: json!([{ "message": "unexpected token: FORM", "errorCode": "MALFORMED_QUERY" }]),
    };
    let expected = ApiError {
        status: 400,
        code: "MALFORMED_QUERY".into(),
        message: "unexpected token: FORM".into(),
        fields: vec![],
    };
    assert_eq!(ClientError::from_subresponse(&failed), ClientError::Salesforce(expected.clone()));
    assert_eq!(failed.error(), Some(expected));

    let odd = SubResponse { reference_id: "x".into(), status: 502, body: json!("Bad Gateway") };
    let error = ClientError::from_subresponse(&odd);
    assert!(
        matches!(&error, ClientError::Salesforce(api) if api.status == 502 && api.code.is_empty() && api.message.contains("Bad Gateway"))
    );
    assert!(error.is_retryable());
}

/// An answer stamped with Salesforce's clock `ahead_ms` ahead of ours.
fn token_dated(ahead_ms: i64) -> HttpResponse {
    let server = chrono::DateTime::from_timestamp_millis(local_now() + ahead_ms).unwrap();
    HttpResponse::new(200, token(ACCESS))
        .with_header("Content-Type", "application/json")
        .with_header("Date", &server.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

#[test]
fn salesforce_time_is_read_from_the_date_header_to_within_a_second() {
    let mut client = client(ScriptedTransport::new().answer(token_dated(90_000)));
    client.authenticate().unwrap();
    let offset = client.server_offset().unwrap();
    assert!((89_000..=91_000).contains(&offset), "{offset}");
}

#[test]
fn an_earlier_offset_is_kept_while_the_headers_allow_it_so_time_does_not_step_back() {
    let mut client = client(ScriptedTransport::new().answer(token_dated(90_000)));
    client.authenticate().unwrap();
    let (low, high) = client.server_offset_bounds.unwrap();
    client.prefer_server_offset(high);
    assert_eq!(client.server_offset(), Some(high), "an offset the header allows is kept");
    client.prefer_server_offset(low - 5_000);
    assert_eq!(client.server_offset(), Some(high), "one it rules out is not");
}

#[test]
fn an_earlier_offset_stands_before_any_answer_and_falls_when_one_rules_it_out() {
    let mut client = client(ScriptedTransport::new().answer(token_dated(90_000)));
    client.prefer_server_offset(0);
    assert_eq!(client.server_offset(), Some(0));
    client.authenticate().unwrap();
    let offset = client.server_offset().unwrap();
    assert!((89_000..=91_000).contains(&offset), "{offset}");
}
