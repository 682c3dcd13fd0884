use reqwest::Method;
use serde_json::json;

use crate::support::Org;

/// Odd paths, methods and bodies get a Salesforce error (never a 5xx, never a
/// dropped connection), and the server keeps answering.
#[test]
fn malformed_requests_get_errors_and_the_server_keeps_serving() {
    let org = Org::demo();
    let long_id = "a".repeat(5000);
    let version = org.emulator.seeded().screenshot_content_version_id.clone().unwrap();
    let cases: Vec<(Method, String, Option<Vec<u8>>)> = vec![
        (Method::GET, "/sobjects/Case/%ZZ".into(), None),
        (Method::GET, format!("/sobjects/Case/{long_id}"), None),
        (Method::GET, "/sobjects/Case/describe/layouts".into(), None),
        (Method::GET, format!("/sobjects/ContentVersion/{version}/Title"), None),
        (Method::GET, "/query?q=%25".into(), None),
        (Method::GET, "/query/-".into(), None),
        (Method::GET, "/query/01g-99999999999999999999999".into(), None),
        (Method::GET, "/query/x-".into(), None),
        (Method::GET, "/search?q=FIND%20%7B".into(), None),
        (Method::GET, "/parameterizedSearch?q=x&in=weird".into(), None),
        (Method::GET, "/sobjects/Case/updated/?start=bad&end=bad".into(), None),
        (Method::GET, "/composite/sobjects/Case?ids=,,,&fields=Id".into(), None),
        (Method::DELETE, "/composite/sobjects?ids=,,,".into(), None),
        (Method::POST, "/sobjects/Case".into(), Some(vec![0xff, 0xfe, 0x00])),
        (Method::POST, "/sobjects/Case".into(), Some(b"[]".to_vec())),
        (Method::PATCH, "/composite/sobjects".into(), Some(b"{\"records\":[1,\"x\",null]}".to_vec())),
        (Method::POST, "/composite".into(), Some(b"[]".to_vec())),
        (Method::POST, "/composite".into(), Some(json!({"compositeRequest": [{"method": "GET", "url": "@{", "referenceId": "a"}]}).to_string().into_bytes())),
        (
            Method::POST,
            "/composite".into(),
            Some(json!({"compositeRequest": [
                {"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": "a"},
                {"method": "GET", "url": "/services/data/v59.0/sobjects/Case/@{a.b[99999999999999999999].c}", "referenceId": "b"},
                {"method": "POST", "url": "/services/data/v59.0/composite", "referenceId": "c", "body": {}},
                {"method": "BREW", "url": "/services/data/v59.0/limits", "referenceId": "d"},
                {"method": "GET", "url": "/elsewhere", "referenceId": "e"},
            ]})
            .to_string()
            .into_bytes()),
        ),
        (Method::POST, "/composite/batch".into(), Some(json!({"batchRequests": [{"method": "GET", "url": ""}, {}]}).to_string().into_bytes())),
        (Method::POST, "/composite/sobjects".into(), Some(json!({"records": [{"attributes": {"type": "Nope"}, "Name": "x"}]}).to_string().into_bytes())),
    ];
    for (method, path, body) in cases {
        let mut request = org.request(method.clone(), &path);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body);
        }
        let response = request.send().unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"));
        let status = response.status().as_u16();
        assert!(status < 500, "{method} {path}: {status} {}", response.text().unwrap_or_default());
    }
    assert_eq!(org.get("/limits").status(), 200);
}
