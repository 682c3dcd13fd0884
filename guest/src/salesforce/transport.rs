//! The seam between the Salesforce client and HTTP.
//!
//! The client builds an [`HttpRequest`] and hands it to a [`Transport`]; in the
//! component that is [`WakiTransport`] (`wasi:http` through waki's bindings,
//! `wasm32` only), in unit tests a scripted fake. Nothing here knows Salesforce.
//!
//! ```ignore
//! let mut transport = WakiTransport::new();
//! let response = transport.send(&HttpRequest {
//!     method: Method::Get,
//!     url: "https://na1.salesforce.com/services/data/".into(),
//!     headers: vec![("Accept".into(), "application/json".into())],
//!     body: None,
//! })?;
//! assert_eq!(response.status, 200);
//! ```

use std::fmt;

/// The HTTP methods the Salesforce REST API needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    /// The method as it is written on the wire (and in composite subrequests).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request to send. The URL is absolute (`https://host/path?query`), already encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// Requests carry the access token in `Authorization`: never print it.
impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if name.eq_ignore_ascii_case("authorization") { "[redacted]" } else { value.as_str() };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body_bytes", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

/// One response, its body read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with no headers.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse { status, headers: Vec::new(), body: body.into() }
    }

    /// The same response with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}

/// Sends requests, one at a time, blocking until the response body is read.
pub trait Transport {
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(request)
    }
}

/// Why a request got no HTTP response. The caller adds which host and call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The host refused to connect to this host name (it is not in the org's
    /// allowed hosts, or it resolves to an address the host forbids).
    #[error("the host does not allow connecting to this host name (is it in the org's allowed hosts?)")]
    Denied,
    /// Connecting, resolving or waiting for the response took too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The connection could not be made or broke off.
    #[error("connection failed: {0}")]
    Connection(String),
    /// Anything else (a malformed URL, a response too large, ...).
    #[error("{0}")]
    Other(String),
}

/// A URL split the way `wasi:http` wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// `https` or `http`, lower-case as written.
    pub scheme: &'a str,
    /// `host[:port]`.
    pub authority: &'a str,
    /// `/path?query`, at least `/`.
    pub path_with_query: &'a str,
}

/// Splits `scheme://authority/path?query`; `None` when there is no scheme or host.
/// A fragment is not expected (the client never builds one) and stays in the path.
pub fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
        return None;
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains(['@', ' ']) {
        return None;
    }
    let path_with_query = if path.is_empty() { "/" } else { path };
    Some(UrlParts { scheme, authority, path_with_query })
}

/// The `host[:port]` of a URL, for error messages; the whole text when it has none.
pub fn url_authority(url: &str) -> &str {
    split_url(url).map_or(url, |parts| parts.authority)
}

#[cfg(target_arch = "wasm32")]
pub use self::wasi_http::WakiTransport;

/// `wasi:http` through waki 0.5's bindings.
///
/// Not through `waki::Client`: for a request with a body, `Client::send` writes
/// the whole body (and waits for it to be taken) before it looks at the response
/// future, so when the host denies the host name the guest sees only "stream
/// closed" and the `HTTP-request-denied` error code is lost; the OAuth token
/// request is a POST, so a wrong login host would never be reported as such.
/// Here a failed body write falls through to the response future, whose error
/// code wins. Also: the response body is read with a size cap, and read errors
/// are mapped through `http-error-code` (so a between-bytes timeout says so).
#[cfg(target_arch = "wasm32")]
mod wasi_http {
    use super::{HttpRequest, HttpResponse, Method, Transport, TransportError, split_url};
    use std::time::Duration;
    use waki::bindings::wasi::http::outgoing_handler;
    use waki::bindings::wasi::http::types::{
        ErrorCode, Fields, IncomingResponse, OutgoingBody, OutgoingRequest, RequestOptions, Scheme, http_error_code,
    };
    use waki::bindings::wasi::io::streams::StreamError;

    /// Salesforce answers from its login and REST hosts within seconds; a host
    /// that does not accept the connection in 10 s is down or filtered.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Salesforce times out a REST query itself after 120 s; wait a little longer.
    pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(130);
    /// A large query page or file streams steadily; a minute of silence is a dead connection.
    pub const DEFAULT_BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(60);
    /// The most a response body may hold. A query page of 2,000 wide records is
    /// a few MB; files beyond this are not pulled into the guest's memory.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

    /// `wasi:http` limits each blocking write to 4096 bytes.
    const WRITE_CHUNK: usize = 4096;
    const READ_CHUNK: u64 = 64 * 1024;

    /// Sends each request through the host's `wasi:http/outgoing-handler`,
    /// blocking until the whole response body is read. The host may clamp the
    /// timeouts asked for here; it decides which host names are allowed.
    #[derive(Debug, Clone)]
    pub struct WakiTransport {
        connect_timeout: Duration,
        first_byte_timeout: Duration,
        between_bytes_timeout: Duration,
        max_body_bytes: usize,
    }

    impl Default for WakiTransport {
        fn default() -> Self {
            WakiTransport {
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
                between_bytes_timeout: DEFAULT_BETWEEN_BYTES_TIMEOUT,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            }
        }
    }

    impl WakiTransport {
        pub fn new() -> Self {
            Self::default()
        }

        pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
            self.connect_timeout = timeout;
            self
        }

        pub fn with_first_byte_timeout(mut self, timeout: Duration) -> Self {
            self.first_byte_timeout = timeout;
            self
        }

        pub fn with_between_bytes_timeout(mut self, timeout: Duration) -> Self {
            self.between_bytes_timeout = timeout;
            self
        }

        pub fn with_max_body_bytes(mut self, max: usize) -> Self {
            self.max_body_bytes = max;
            self
        }

        fn options(&self) -> RequestOptions {
            let options = RequestOptions::new();
            // A host that does not support a timeout refuses to set it; the
            // request still goes out with the host's own limits.
            let _ = options.set_connect_timeout(Some(nanos(self.connect_timeout)));
            let _ = options.set_first_byte_timeout(Some(nanos(self.first_byte_timeout)));
            let _ = options.set_between_bytes_timeout(Some(nanos(self.between_bytes_timeout)));
            options
        }
    }

    fn nanos(duration: Duration) -> u64 {
        u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
    }

    impl Transport for WakiTransport {
        fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
            let parts = split_url(&request.url)
                .ok_or_else(|| TransportError::Other(format!("not an absolute URL: {}", request.url)))?;

            let mut entries: Vec<(String, Vec<u8>)> = request
                .headers
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value.as_bytes().to_vec()))
                .collect();
            if let Some(body) = &request.body {
                if !entries.iter().any(|(name, _)| name == "content-length") {
                    entries.push(("content-length".into(), body.len().to_string().into_bytes()));
                }
            }
            let headers = Fields::from_list(&entries)
                .map_err(|e| TransportError::Other(format!("a request header was refused: {e:?}")))?;

            let outgoing = OutgoingRequest::new(headers);
            let method = match request.method {
                Method::Get => waki::Method::Get,
                Method::Post => waki::Method::Post,
                Method::Patch => waki::Method::Patch,
                Method::Delete => waki::Method::Delete,
            };
            let scheme = match parts.scheme.to_ascii_lowercase().as_str() {
                "https" => Scheme::Https,
                "http" => Scheme::Http,
                other => Scheme::Other(other.to_string()),
            };
            let set = outgoing.set_method(&method).is_ok()
                && outgoing.set_scheme(Some(&scheme)).is_ok()
                && outgoing.set_authority(Some(parts.authority)).is_ok()
                && outgoing.set_path_with_query(Some(parts.path_with_query)).is_ok();
            if !set {
                return Err(TransportError::Other(format!("the host refused the request line for {}", request.url)));
            }
            let body = outgoing.body().map_err(|()| TransportError::Other("request body unavailable".into()))?;

            let future = outgoing_handler::handle(outgoing, Some(self.options())).map_err(map_error_code)?;

            // Write the body; on failure keep going: the response future usually
            // carries the real reason (a denied host closes the body stream).
            let write_error = write_body(body, request.body.as_deref().unwrap_or_default()).err();

            let response = {
                let pollable = future.subscribe();
                pollable.block();
                drop(pollable);
                future.get()
            };
            drop(future);
            let response = match response {
                Some(Ok(Ok(response))) => response,
                Some(Ok(Err(code))) => return Err(map_error_code(code)),
                Some(Err(())) => {
                    return Err(TransportError::Other("the response was already taken".into()));
                }
                None => {
                    return Err(TransportError::Other("the response was not ready after waiting for it".into()));
                }
            };
            if let Some(error) = write_error {
                return Err(error);
            }
            read_response(response, self.max_body_bytes)
        }
    }

    fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), TransportError> {
        if !bytes.is_empty() {
            let stream = body.write().map_err(|()| TransportError::Other("request body stream unavailable".into()))?;
            for chunk in bytes.chunks(WRITE_CHUNK) {
                // `stream` is a child of `body`: it is dropped before `finish` on every path.
                stream.blocking_write_and_flush(chunk).map_err(|e| map_stream_error(e, "writing the request body"))?;
            }
            drop(stream);
        }
        OutgoingBody::finish(body, None).map_err(map_error_code)
    }

    fn read_response(response: IncomingResponse, max_body_bytes: usize) -> Result<HttpResponse, TransportError> {
        let status = response.status();
        let headers: Vec<(String, String)> = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let declared = super::find_header(&headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > max_body_bytes as u64) {
            return Err(too_large(max_body_bytes));
        }

        let incoming = response.consume().map_err(|()| TransportError::Other("response body unavailable".into()))?;
        let stream =
            incoming.stream().map_err(|()| TransportError::Other("response body stream unavailable".into()))?;
        let mut body = Vec::new();
        let result = loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    if body.len() + chunk.len() > max_body_bytes {
                        break Err(too_large(max_body_bytes));
                    }
                    body.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break Ok(()),
                Err(error) => break Err(map_stream_error(error, "reading the response body")),
            }
        };
        // Children before parents: stream, body, response.
        drop(stream);
        drop(incoming);
        drop(response);
        result.map(|()| HttpResponse { status, headers, body })
    }

    fn too_large(max: usize) -> TransportError {
        TransportError::Other(format!("the response body is larger than {max} bytes"))
    }

    fn map_stream_error(error: StreamError, doing: &str) -> TransportError {
        match error {
            StreamError::Closed => TransportError::Connection(format!("the connection closed while {doing}")),
            StreamError::LastOperationFailed(io_error) => match http_error_code(&io_error) {
                Some(code) => map_error_code(code),
                None => TransportError::Connection(format!("{doing} failed: {}", io_error.to_debug_string())),
            },
        }
    }

    /// `HTTP-request-denied` (and a destination the host forbids) is the host's
    /// policy, not a network fault: the org's allowed hosts need fixing.
    fn map_error_code(code: ErrorCode) -> TransportError {
        match code {
            ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => TransportError::Denied,
            ErrorCode::DnsTimeout => TransportError::Timeout("resolving the host name".into()),
            ErrorCode::ConnectionTimeout => TransportError::Timeout("connecting".into()),
            ErrorCode::ConnectionReadTimeout | ErrorCode::ConnectionWriteTimeout => {
                TransportError::Timeout("the connection stalled".into())
            }
            ErrorCode::HttpResponseTimeout => TransportError::Timeout("waiting for the response".into()),
            ErrorCode::DnsError(payload) => TransportError::Connection(format!(
                "the host name could not be resolved{}",
                payload.rcode.map(|rcode| format!(" ({rcode})")).unwrap_or_default()
            )),
            ErrorCode::InternalError(detail) => {
                TransportError::Other(format!("the host's HTTP client failed: {}", detail.unwrap_or_default()))
            }
            code @ (ErrorCode::DestinationNotFound
            | ErrorCode::DestinationUnavailable
            | ErrorCode::DestinationIpUnroutable
            | ErrorCode::ConnectionRefused
            | ErrorCode::ConnectionTerminated
            | ErrorCode::ConnectionLimitReached
            | ErrorCode::TlsProtocolError
            | ErrorCode::TlsCertificateError
            | ErrorCode::TlsAlertReceived(_)
            | ErrorCode::HttpResponseIncomplete
            | ErrorCode::HttpProtocolError) => TransportError::Connection(format!("{code:?}")),
            other => TransportError::Other(format!("{other:?}")),
        }
    }
}

/// A transport for tests: answers from a queue of canned responses and keeps
/// every request it was given.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct ScriptedTransport {
    answers: std::collections::VecDeque<Result<HttpResponse, TransportError>>,
    /// Every request sent, in order.
    pub requests: Vec<HttpRequest>,
}

#[cfg(test)]
impl ScriptedTransport {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a response.
    pub fn answer(mut self, response: HttpResponse) -> Self {
        self.answers.push_back(Ok(response));
        self
    }

    /// Queues a response with a JSON (or any text) body.
    pub fn answer_json(self, status: u16, body: &str) -> Self {
        self.answer(HttpResponse::new(status, body).with_header("Content-Type", "application/json"))
    }

    /// Queues a transport failure.
    pub fn fail(mut self, error: TransportError) -> Self {
        self.answers.push_back(Err(error));
        self
    }

    /// Responses not yet used.
    pub fn remaining(&self) -> usize {
        self.answers.len()
    }
}

#[cfg(test)]
impl Transport for ScriptedTransport {
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        self.requests.push(request.clone());
        self.answers
            .pop_front()
            .unwrap_or_else(|| Err(TransportError::Other(format!("no scripted response left for {}", request.url))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_splits_into_scheme_authority_and_path() {
        let parts = split_url("https://na1.salesforce.com:8443/services/data/v62.0/query?q=SELECT%20Id").unwrap();
        assert_eq!(parts.scheme, "https");
        assert_eq!(parts.authority, "na1.salesforce.com:8443");
        assert_eq!(parts.path_with_query, "/services/data/v62.0/query?q=SELECT%20Id");
    }

    #[test]
    fn url_without_path_gets_root_path() {
        assert_eq!(split_url("http://localhost:8080").unwrap().path_with_query, "/");
        assert_eq!(split_url("http://localhost?x=1").unwrap().path_with_query, "?x=1");
    }

    #[test]
    fn url_without_scheme_or_host_is_refused() {
        assert_eq!(split_url("/services/data"), None);
        assert_eq!(split_url("https:///path"), None);
        assert_eq!(split_url("https://user@evil.example/"), None);
        assert_eq!(url_authority("not a url"), "not a url");
    }

    #[test]
    fn header_lookup_ignores_case() {
        let response = HttpResponse::new(200, "").with_header("Sforce-Limit-Info", "api-usage=1/2");
        assert_eq!(response.header("sforce-limit-info"), Some("api-usage=1/2"));
        assert_eq!(response.header("content-type"), None);
    }

    #[test]
    fn request_debug_hides_the_bearer_token() {
        let request = HttpRequest {
            method: Method::Get,
            url: "https://x/".into(),
            headers: vec![("Authorization".into(), "Bearer 00Dsecret".into())],
            body: None,
        };
        assert!(!format!("{request:?}").contains("00Dsecret"));
    }

    #[test]
    fn scripted_transport_reports_an_empty_script_as_an_error() {
        let mut transport = ScriptedTransport::new();
        let request = HttpRequest { method: Method::Get, url: "https://x/".into(), headers: vec![], body: None };
        assert!(matches!(transport.send(&request), Err(TransportError::Other(_))));
        assert_eq!(transport.requests.len(), 1);
    }
}
