//! Which HTTP origins a connector instance may reach (E3), and what its
//! requests are counted as.
//!
//! The guest's `wasi:http` requests pass through [`RequestPolicy`]: a request
//! to any origin (scheme, host, port) that [`AllowedHosts`] does not permit
//! is refused with `HTTP-request-denied` before a connection is made, and
//! the refused origin is recorded in the instance's [`Activity`] so that the
//! host can tell the user which option allows it. Timeouts are clamped so a
//! stalled Salesforce cannot hold a cycle forever. A request of an instance
//! whose lease (its [`Fence`]) has expired or was lost is refused too: a
//! paused or stale process never writes to Salesforce after another process
//! took the org over. Every request that goes out is counted: OAuth token
//! requests apart from API calls.
//!
//! A host *name* that is allowed is resolved before connecting, and the
//! request is refused if any address it resolves to is not on the public
//! internet (loopback, private, link-local such as the cloud metadata address
//! `169.254.169.254`, shared, multicast …): otherwise a name whose DNS points
//! inside the network would turn the connector into a proxy to it. An origin
//! written as an IP address or as `localhost` is reached as written: whoever
//! configured `http://127.0.0.1:8080` (the emulator) meant that address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::Activity;
use crate::fence::Fence;

/// Longest wait for a TCP/TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the first byte of a response (Salesforce queries can be slow).
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest pause between two chunks of a response body.
pub const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(30);

/// The path prefix of Salesforce's OAuth endpoints. Token requests are not
/// API calls: Salesforce does not count them against the org's API limit.
pub const OAUTH_PATH_PREFIX: &str = "/services/oauth2/";
/// Paths that are not the REST API and not counted as API calls: Messaging
/// for In-App and Web's customer API (the messaging origin) and the
/// Streaming API's CometD endpoint.
const NOT_API_PATH_PREFIXES: &[&str] = &["/iamessage/", "/eventrouter/", "/cometd/"];

/// The login hosts of Salesforce itself (production and sandboxes); My
/// Domain login URLs are recognised by [`is_my_domain`].
const SALESFORCE_LOGIN_HOSTS: &[&str] = &["login.salesforce.com", "test.salesforce.com"];

/// The origins one instance may call.
///
/// For an org ([`AllowedHosts::for_org`]): its login URL's origin, and its
/// `instance_url`'s when one is configured (then nothing else: the instance
/// is pinned). When the login URL is Salesforce's own
/// (`https://login.salesforce.com`, `https://test.salesforce.com` or a My
/// Domain `https://*.my.salesforce.com`) and no `instance_url` is set, the
/// instance Salesforce names in its token answer is not known in advance, so
/// any Salesforce instance host is allowed too, over HTTPS on port 443 only:
/// every host under `.my.salesforce.com` (My Domains, including
/// `*.sandbox.my.salesforce.com` and `*.develop.my.salesforce.com`) and the
/// legacy single-label instances `<label>.salesforce.com` (`na1.salesforce.com`).
/// The list is fixed when the instance is created; nothing the component
/// does can widen it.
///
/// Residual risk of the pattern: a hostile component can reach another
/// Salesforce org's instance host. It holds only its own org's credentials,
/// which that org does not accept, so it can read or write nothing there;
/// what remains is sending bytes to Salesforce. Setting `instance_url` pins
/// the org to exactly its instance and closes that too.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    origins: Vec<Origin>,
    /// Also Salesforce's instance hosts (see above).
    salesforce_instances: bool,
}

/// A scheme, host and port; displayed as `https://host:443`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub(crate) scheme: String,
    host: String,
    port: u16,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

impl Origin {
    /// The origin of a URL; `None` when it has no http(s) scheme or no host.
    pub fn parse_url(url: &str) -> Option<Origin> {
        Origin::parse(url)
    }

    fn parse(url: &str) -> Option<Origin> {
        let uri: http::Uri = url.parse().ok()?;
        Origin::of(&uri)
    }

    /// The origin as a URL to write in the configuration: without the port
    /// when it is the scheme's default.
    pub fn as_url(&self) -> String {
        match (self.scheme.as_str(), self.port) {
            ("https", 443) | ("http", 80) => format!("{}://{}", self.scheme, self.host),
            _ => self.to_string(),
        }
    }

    /// Whether the host is written as an IP address or as `localhost`.
    fn written_as_address(&self) -> bool {
        let bare = self.host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(&self.host);
        bare == "localhost" || bare.parse::<IpAddr>().is_ok()
    }

    pub(crate) fn of(uri: &http::Uri) -> Option<Origin> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let host = uri.host()?.to_ascii_lowercase();
        let port = uri.port_u16().or(match scheme.as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        })?;
        Some(Origin { scheme, host, port })
    }

    fn is_https_443(&self) -> bool {
        self.scheme == "https" && self.port == 443
    }

    /// Salesforce's own login: `login.`/`test.salesforce.com` or a My Domain.
    fn is_salesforce_login(&self) -> bool {
        self.is_https_443() && (SALESFORCE_LOGIN_HOSTS.contains(&self.host.as_str()) || is_my_domain(&self.host))
    }

    /// A Salesforce instance host: a My Domain or a legacy `<label>.salesforce.com`.
    fn is_salesforce_instance(&self) -> bool {
        self.is_https_443()
            && (is_my_domain(&self.host) || self.host.strip_suffix(".salesforce.com").is_some_and(is_dns_label))
    }
}

/// `<labels>.my.salesforce.com`, each label a valid DNS label.
fn is_my_domain(host: &str) -> bool {
    host.strip_suffix(".my.salesforce.com").is_some_and(|labels| labels.split('.').all(is_dns_label))
}

/// 1–63 letters, digits and inner hyphens (host names are compared lower-case).
fn is_dns_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

impl AllowedHosts {
    /// No HTTP at all.
    pub fn none() -> Self {
        AllowedHosts::default()
    }

    /// Allow the origins of these URLs, and only those.
    /// Returns an error naming a URL that has no scheme or host.
    pub fn of<'a>(urls: impl IntoIterator<Item = &'a str>) -> anyhow::Result<Self> {
        let mut allowed = AllowedHosts::default();
        for url in urls {
            allowed.allow(url)?;
        }
        Ok(allowed)
    }

    /// What an org may reach: see the [type's documentation](AllowedHosts).
    pub fn for_org(login_url: &str, instance_url: Option<&str>) -> anyhow::Result<Self> {
        let mut allowed = AllowedHosts::of(std::iter::once(login_url).chain(instance_url))?;
        allowed.salesforce_instances =
            instance_url.is_none() && Origin::parse(login_url).is_some_and(|login| login.is_salesforce_login());
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
        Origin::of(uri).is_some_and(|origin| self.permits_origin(&origin))
    }

    pub(crate) fn permits_origin(&self, origin: &Origin) -> bool {
        self.origins.contains(origin) || (self.salesforce_instances && origin.is_salesforce_instance())
    }
}

/// The HTTP hook of one instance: its allowed origins, its lease, and where
/// its requests are counted.
pub(crate) struct RequestPolicy {
    pub(crate) allowed: AllowedHosts,
    pub(crate) fence: Option<Fence>,
    pub(crate) activity: Arc<Activity>,
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

impl WasiHttpHooks for RequestPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>,
            > + Send,
    > {
        _ = fut;
        let Some(origin) = Origin::of(request.uri()) else {
            tracing::warn!(uri = %request.uri(), "refused a connector request without an http(s) origin");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        };
        if !self.allowed.permits_origin(&origin) {
            tracing::warn!(%origin, "refused a connector request to an origin the org does not allow");
            self.activity.refused_origin(origin);
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        if let Some(fence) = &self.fence
            && !fence.allows_requests_at(chrono::Utc::now())
        {
            tracing::warn!(org = fence.org(), %origin, "not sent: this process's lease of the org expired or was lost");
            self.activity.refused_for_lease();
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        // Counted as it goes out: Salesforce counts a request it received
        // even when the answer is lost on the way back. Messaging for In-App
        // and Web and CometD are not the REST API and do not use the org's API limit.
        let path = request.uri().path();
        if !NOT_API_PATH_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
            self.activity.sent(path.starts_with(OAUTH_PATH_PREFIX));
        }
        let options = clamp(options);
        Box::new(async move {
            use http_body_util::BodyExt;
            let request = match destination(&origin).await {
                Ok(Destination::AsWritten) => request,
                // Plain HTTP connects to the checked address itself: a second
                // resolution could answer differently (DNS rebinding).
                Ok(Destination::Checked(address)) if origin.scheme == "http" => pin_to(request, address)?,
                // HTTPS has to name the host in the URI, because that name is
                // what the certificate is verified against, so
                // `default_send_request` resolves it again. Residual risk: a
                // name that rebinds between the check and the connect reaches
                // a private address with a TCP connection and a TLS
                // ClientHello, but no request is sent unless that address
                // presents a publicly trusted certificate for the allowed name.
                Ok(Destination::Checked(_)) => request,
                Err(error) => {
                    let uri = request.uri();
                    tracing::warn!(%uri, ?error, "not sent: the host name did not resolve to public addresses only");
                    return Err(error);
                }
            };
            let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

/// Where a permitted request may connect.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    /// The origin names an address (or `localhost`): connect to it as written.
    AsWritten,
    /// The origin's name resolved to public addresses only; this is the first.
    Checked(SocketAddr),
}

/// The longest wait for a host name to resolve.
const RESOLVE_TIMEOUT: Duration = CONNECT_TIMEOUT;

pub(crate) async fn destination(origin: &Origin) -> Result<Destination, Error> {
    if origin.written_as_address() {
        return Ok(Destination::AsWritten);
    }
    resolve_public(&origin.host, origin.port).await.map(Destination::Checked)
}

/// Resolve `host`; refuse it if any address it has is not public, since the
/// connection could go to any of them.
async fn resolve_public(host: &str, port: u16) -> Result<SocketAddr, Error> {
    let addresses = match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Err(_) => return Err(Error::DnsTimeout),
        Ok(Err(error)) => return Err(Error::DnsError { rcode: Some(error.to_string()), info_code: None }),
        Ok(Ok(addresses)) => addresses.collect::<Vec<_>>(),
    };
    if addresses.iter().any(|address| !is_public(address.ip())) {
        return Err(Error::HttpRequestDenied);
    }
    addresses.first().copied().ok_or(Error::DestinationNotFound)
}

/// Point a plain-HTTP request at `address`; the `Host` header keeps the name.
pub(crate) fn pin_to<B>(mut request: http::Request<B>, address: SocketAddr) -> Result<http::Request<B>, Error> {
    if let Some(authority) = request.uri().authority().cloned() {
        let host = http::HeaderValue::from_str(authority.as_str()).map_err(|_| Error::HttpRequestUriInvalid)?;
        request.headers_mut().entry(http::header::HOST).or_insert(host);
    }
    let mut parts = request.uri().clone().into_parts();
    parts.authority = Some(address.to_string().parse().map_err(|_| Error::HttpRequestUriInvalid)?);
    *request.uri_mut() = http::Uri::from_parts(parts).map_err(|_| Error::HttpRequestUriInvalid)?;
    Ok(request)
}

/// Whether `ip` is an address on the public internet: not loopback, private,
/// link-local, shared (carrier-grade NAT), unspecified, multicast or reserved,
/// also when an IPv6 address embeds such an IPv4 one.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let not_public = a == 0 // "this network", incl. the unspecified 0.0.0.0
        || a == 10 // private
        || a == 127 // loopback
        || (a == 100 && (64..128).contains(&b)) // shared, carrier-grade NAT (100.64/10)
        || (a == 169 && b == 254) // link-local, incl. the cloud metadata service 169.254.169.254
        || (a == 172 && (16..32).contains(&b)) // private (172.16/12)
        || (a == 192 && b == 168) // private
        || a >= 224; // multicast (224/4), reserved (240/4) and broadcast
    !not_public
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // IPv4-mapped (::ffff:a.b.c.d) and -compatible (::a.b.c.d) addresses reach the IPv4 one.
    if let Some(v4) = ip.to_ipv4() {
        return is_public_v4(v4);
    }
    // The NAT64 well-known prefix 64:ff9b::/96 reaches the embedded IPv4 address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., high, low] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)));
    }
    let first = segments[0];
    let not_public = (first & 0xfe00) == 0xfc00 // unique local (fc00::/7)
        || (first & 0xffc0) == 0xfe80 // link-local (fe80::/10)
        || (first & 0xffc0) == 0xfec0 // site-local, deprecated (fec0::/10)
        || (first & 0xff00) == 0xff00; // multicast (ff00::/8)
    !not_public
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
    fn an_org_on_salesforce_login_may_reach_salesforce_instances_over_https_only() {
        for login in ["https://login.salesforce.com", "https://test.salesforce.com", "https://acme.my.salesforce.com"] {
            let allowed = AllowedHosts::for_org(login, None).unwrap();
            let permits = |u: &str| allowed.permits(&u.parse().unwrap());
            assert!(permits(&format!("{login}/services/oauth2/token")), "{login}");
            assert!(permits("https://acme.my.salesforce.com/services/data/v62.0/query"), "{login}");
            assert!(permits("https://acme--uat.sandbox.my.salesforce.com/services/data"), "{login}");
            assert!(permits("https://acme-dev-ed.develop.my.salesforce.com/"), "{login}");
            assert!(permits("https://na1.salesforce.com/services/data"), "{login}");
            assert!(permits("https://EU12.salesforce.com:443/"), "{login}");
            assert!(!permits("http://na1.salesforce.com/"), "plain http: {login}");
            assert!(!permits("https://na1.salesforce.com:8443/"), "another port: {login}");
            assert!(!permits("https://a.b.salesforce.com/"), "two labels outside My Domain: {login}");
            assert!(!permits("https://salesforce.com/"), "{login}");
            assert!(!permits("https://acme.my.salesforce.com.evil.example/"), "{login}");
            assert!(!permits("https://evilsalesforce.com/"), "{login}");
            assert!(!permits("https://-x.salesforce.com/"), "{login}");
            assert!(!permits("https://evil.example/"), "{login}");
        }
    }

    #[test]
    fn an_instance_url_pins_the_org_to_it() {
        let allowed =
            AllowedHosts::for_org("https://login.salesforce.com", Some("https://acme.my.salesforce.com")).unwrap();
        let permits = |u: &str| allowed.permits(&u.parse().unwrap());
        assert!(permits("https://login.salesforce.com/services/oauth2/token"));
        assert!(permits("https://acme.my.salesforce.com/services/data"));
        assert!(!permits("https://other.my.salesforce.com/services/data"));
        assert!(!permits("https://na1.salesforce.com/services/data"));
    }

    #[test]
    fn an_org_elsewhere_gets_no_salesforce_pattern() {
        for login in ["http://127.0.0.1:8080", "https://sso.acme.example", "https://login.salesforce.com:8443"] {
            let allowed = AllowedHosts::for_org(login, None).unwrap();
            assert!(allowed.permits(&format!("{login}/x").parse().unwrap()), "{login}");
            assert!(!allowed.permits(&"https://acme.my.salesforce.com/".parse().unwrap()), "{login}");
            assert!(!allowed.permits(&"https://na1.salesforce.com/".parse().unwrap()), "{login}");
        }
    }

    #[test]
    fn an_origin_reads_as_the_url_to_configure() {
        assert_eq!(
            Origin::parse("https://Acme.my.salesforce.com/x").unwrap().as_url(),
            "https://acme.my.salesforce.com"
        );
        assert_eq!(Origin::parse("http://127.0.0.1:8080/").unwrap().as_url(), "http://127.0.0.1:8080");
        assert_eq!(Origin::parse("https://x.example").unwrap().to_string(), "https://x.example:443");
    }

    #[test]
    fn only_public_addresses_count_as_public() {
        let not_public = [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ];
        for address in not_public {
            assert!(!is_public(address.parse().unwrap()), "{address} counted as public");
        }
        let public = [
            "8.8.8.8",
            "1.1.1.1",
            "13.108.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.1.1",
            "192.169.0.1",
            "223.255.255.254",
            "2001:4860:4860::8888",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "fbff::1",
            "fe7f::1",
        ];
        for address in public {
            assert!(is_public(address.parse().unwrap()), "{address} counted as not public");
        }
    }

    #[test]
    fn origins_written_as_an_address_or_localhost_are_reached_as_written() {
        let written = |url: &str| Origin::parse(url).unwrap().written_as_address();
        assert!(written("http://127.0.0.1:8080"));
        assert!(written("http://10.1.2.3"));
        assert!(written("http://[::1]:8080"));
        assert!(written("http://LOCALHOST:8080"));
        assert!(!written("https://login.salesforce.com"));
        assert!(!written("http://localhost.evil.example"));
        assert!(!written("http://127.0.0.1.nip.io"));
    }

    #[tokio::test]
    async fn a_host_name_that_resolves_to_loopback_is_refused() {
        // `localhost` resolves to loopback everywhere; written as a name to
        // resolve (not exempted), it stands for any name pointing inside.
        assert!(matches!(resolve_public("localhost", 80).await, Err(Error::HttpRequestDenied)));
        let exempt = Origin::parse("http://localhost:80").unwrap();
        assert_eq!(destination(&exempt).await.unwrap(), Destination::AsWritten);
    }

    #[test]
    fn a_pinned_request_connects_to_the_address_and_keeps_its_host_header() {
        use http_body_util::BodyExt;
        let body = http_body_util::Empty::<bytes::Bytes>::new().map_err(|never| match never {}).boxed_unsync();
        let request = http::Request::get("http://api.example.com:8080/services/data?q=1").body(body).unwrap();
        let pinned = pin_to(request, "93.184.215.14:8080".parse().unwrap()).unwrap();
        assert_eq!(pinned.uri().to_string(), "http://93.184.215.14:8080/services/data?q=1");
        assert_eq!(pinned.headers()[http::header::HOST], "api.example.com:8080");

        let body = http_body_util::Empty::<bytes::Bytes>::new().map_err(|never| match never {}).boxed_unsync();
        let request = http::Request::get("http://api.example.com/").body(body).unwrap();
        let pinned = pin_to(request, "[2001:db8::1]:80".parse().unwrap()).unwrap();
        assert_eq!(pinned.uri().to_string(), "http://[2001:db8::1]:80/");
    }

    fn get(uri: &str) -> http::Request<WasiBody> {
        use http_body_util::BodyExt;
        let body = http_body_util::Empty::<bytes::Bytes>::new().map_err(|never| match never {}).boxed_unsync();
        http::Request::get(uri).body(body).unwrap()
    }

    fn fence(expires_in: chrono::Duration) -> Fence {
        Fence::new("acme", 1, chrono::Utc::now() + expires_in)
    }

    async fn send(policy: &mut RequestPolicy, uri: &str) -> Result<(), Error> {
        Box::into_pin(policy.send_request(get(uri), None, Box::new(async { Ok(()) }))).await.map(drop)
    }

    #[tokio::test]
    async fn a_refused_origin_is_recorded_for_the_error_message() {
        let activity = Arc::new(Activity::default());
        let allowed = AllowedHosts::of(["http://127.0.0.1:9"]).unwrap();
        let mut policy = RequestPolicy { allowed, fence: None, activity: activity.clone() };
        assert!(matches!(send(&mut policy, "https://evil.example/steal").await, Err(Error::HttpRequestDenied)));
        assert!(matches!(send(&mut policy, "https://evil.example/again").await, Err(Error::HttpRequestDenied)));
        let refused: Vec<String> = activity.refused_origins().iter().map(ToString::to_string).collect();
        assert_eq!(refused, ["https://evil.example:443"], "each origin once");
        assert_eq!(activity.api_calls() + activity.token_requests(), 0, "nothing went out");
    }

    #[tokio::test]
    async fn an_instance_whose_lease_is_lost_or_expiring_sends_nothing() {
        for fence in [
            {
                let lost = fence(chrono::Duration::seconds(30));
                lost.lose();
                lost
            },
            fence(chrono::Duration::seconds(2)),
        ] {
            let activity = Arc::new(Activity::default());
            let allowed = AllowedHosts::of(["http://127.0.0.1:9"]).unwrap();
            let mut policy = RequestPolicy { allowed, fence: Some(fence), activity: activity.clone() };
            let outcome = send(&mut policy, "http://127.0.0.1:9/services/data/v62.0/query").await;
            assert!(matches!(outcome, Err(Error::HttpRequestDenied)), "{outcome:?}");
            assert_eq!(activity.requests_refused_for_lease(), 1);
            assert_eq!(activity.api_calls(), 0, "a refused request is not an API call");
        }
    }

    #[tokio::test]
    async fn token_requests_are_counted_apart_from_api_calls() {
        let activity = Arc::new(Activity::default());
        // Port 9 (discard) on loopback: the request goes out and fails to connect.
        let allowed = AllowedHosts::of(["http://127.0.0.1:9"]).unwrap();
        let mut policy =
            RequestPolicy { allowed, fence: Some(fence(chrono::Duration::seconds(30))), activity: activity.clone() };
        let _ = send(&mut policy, "http://127.0.0.1:9/services/oauth2/token").await;
        let _ = send(&mut policy, "http://127.0.0.1:9/services/data/v62.0/composite").await;
        let _ = send(&mut policy, "http://127.0.0.1:9/services/data/v62.0/query").await;
        assert_eq!((activity.api_calls(), activity.token_requests()), (2, 1));
    }

    #[test]
    fn timeouts_are_clamped() {
        let asked = RequestOptions { connect_timeout: Some(Duration::from_secs(600)), ..Default::default() };
        let clamped = clamp(Some(asked));
        assert_eq!(clamped.connect_timeout, Some(CONNECT_TIMEOUT));
        assert_eq!(clamped.first_byte_timeout, Some(FIRST_BYTE_TIMEOUT));
    }
}
