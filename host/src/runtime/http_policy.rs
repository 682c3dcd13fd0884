//! Which HTTP origins a connector instance may reach (E3).
//!
//! The guest's `wasi:http` requests pass through [`AllowedHosts`]: a request to
//! any origin (scheme, host, port) not on the list is refused with
//! `HTTP-request-denied` before a connection is made. Timeouts are clamped so a
//! stalled Salesforce cannot hold a cycle forever.

use std::time::Duration;

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Longest wait for a TCP/TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the first byte of a response (Salesforce queries can be slow).
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest pause between two chunks of a response body.
pub const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(30);

/// The origins one instance may call.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    origins: Vec<Origin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn parse(url: &str) -> Option<Origin> {
        let uri: http::Uri = url.parse().ok()?;
        Origin::of(&uri)
    }

    fn of(uri: &http::Uri) -> Option<Origin> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let host = uri.host()?.to_ascii_lowercase();
        let port = uri.port_u16().or(match scheme.as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        })?;
        Some(Origin { scheme, host, port })
    }
}

impl AllowedHosts {
    /// No HTTP at all.
    pub fn none() -> Self {
        AllowedHosts::default()
    }

    /// Allow the origins of these URLs (e.g. the org's login and instance URLs).
    /// Returns an error naming a URL that has no scheme or host.
    pub fn of<'a>(urls: impl IntoIterator<Item = &'a str>) -> anyhow::Result<Self> {
        let mut allowed = AllowedHosts::default();
        for url in urls {
            allowed.allow(url)?;
        }
        Ok(allowed)
    }

    /// Allow one more origin.
    pub fn allow(&mut self, url: &str) -> anyhow::Result<()> {
        let origin = Origin::parse(url).ok_or_else(|| anyhow::anyhow!("`{url}` is not an http(s) URL with a host"))?;
        if !self.origins.contains(&origin) {
            self.origins.push(origin);
        }
        Ok(())
    }

    /// Whether a request to `uri` may go out.
    pub fn permits(&self, uri: &http::Uri) -> bool {
        Origin::of(uri).is_some_and(|origin| self.origins.contains(&origin))
    }
}

fn clamp(options: Option<RequestOptions>) -> RequestOptions {
    let options = options.unwrap_or_default();
    let cap = |asked: Option<Duration>, max: Duration| Some(asked.map_or(max, |d| d.min(max)));
    RequestOptions {
        connect_timeout: cap(options.connect_timeout, CONNECT_TIMEOUT),
        first_byte_timeout: cap(options.first_byte_timeout, FIRST_BYTE_TIMEOUT),
        between_bytes_timeout: cap(options.between_bytes_timeout, BETWEEN_BYTES_TIMEOUT),
    }
}

impl WasiHttpHooks for AllowedHosts {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>>
            + Send,
    > {
        _ = fut;
        if !self.permits(request.uri()) {
            tracing::warn!(uri = %request.uri(), "refused a connector request to a host that is not allowed");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let options = clamp(options);
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_are_permitted() {
        let allowed = AllowedHosts::of(["https://login.salesforce.com", "http://127.0.0.1:8080/x"]).unwrap();
        let permits = |u: &str| allowed.permits(&u.parse().unwrap());
        assert!(permits("https://login.salesforce.com/services/oauth2/token"));
        assert!(permits("https://LOGIN.salesforce.com:443/x"));
        assert!(permits("http://127.0.0.1:8080/services/data"));
        assert!(!permits("http://login.salesforce.com/services/oauth2/token"));
        assert!(!permits("http://127.0.0.1:8081/"));
        assert!(!permits("https://evil.example.com/"));
        assert!(!permits("https://login.salesforce.com.evil.example/"));
    }

    #[test]
    fn timeouts_are_clamped() {
        let asked = RequestOptions { connect_timeout: Some(Duration::from_secs(600)), ..Default::default() };
        let clamped = clamp(Some(asked));
        assert_eq!(clamped.connect_timeout, Some(CONNECT_TIMEOUT));
        assert_eq!(clamped.first_byte_timeout, Some(FIRST_BYTE_TIMEOUT));
    }
}
