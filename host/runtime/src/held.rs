//! Held requests (E4): the one long-lived connection a connector may ask
//! its host for, a CometD `/meta/connect` that Salesforce keeps open until
//! an event arrives (see the contract's `streaming` interface).
//!
//! [`send_held`] sends it under the same rules as the instance's
//! `wasi:http`: only to an origin the org allows, after the same address
//! checks (a name must resolve to public addresses only; plain HTTP is
//! pinned to the checked address), with the connect timeout clamped and
//! the answer's body capped. No guest instance lives while it waits. The
//! request's headers carry the access token: nothing here logs them.

use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use wasmtime_wasi_http::RequestOptions;

use crate::bindings::streaming::{HeldAnswer, HeldRequest, HeldResponse};
use crate::http_policy::{AllowedHosts, CONNECT_TIMEOUT, Destination, Origin, destination, pin_to};

/// The longest a held request waits for its answer, whatever it asks:
/// Salesforce answers a connect within 110 s.
pub const HELD_TIMEOUT_CEILING: Duration = Duration::from_secs(130);
/// The largest answer read (CometD events are at most 1 MB each; a connect
/// answer carries a batch of them).
pub const HELD_MAX_BODY: usize = 32 * 1024 * 1024;

/// Sends `request` and waits for what becomes of it (never longer than
/// its `timeout-ms`, capped at [`HELD_TIMEOUT_CEILING`]).
pub async fn send_held(allowed: &AllowedHosts, request: &HeldRequest) -> HeldAnswer {
    let Some(origin) = Origin::parse_url(&request.url) else {
        return HeldAnswer::Refused(format!("`{}` is not an http(s) URL with a host", request.url));
    };
    if !allowed.permits_origin(&origin) {
        tracing::warn!(%origin, "refused a held request to an origin the org does not allow");
        return HeldAnswer::Refused(format!("{origin} is not one of the org's allowed hosts"));
    }
    let timeout = Duration::from_millis(u64::from(request.timeout_ms)).min(HELD_TIMEOUT_CEILING);
    match tokio::time::timeout(timeout, exchange(&origin, request, timeout)).await {
        Ok(answer) => answer,
        Err(_) => HeldAnswer::TimedOut,
    }
}

async fn exchange(origin: &Origin, request: &HeldRequest, timeout: Duration) -> HeldAnswer {
    let mut builder = http::Request::post(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = Full::new(bytes::Bytes::from(request.body.clone().into_bytes())).map_err(|never| match never {});
    let Ok(http_request) = builder.body(body) else {
        return HeldAnswer::Refused("the request's headers are not valid HTTP".into());
    };
    let http_request = match destination(origin).await {
        Ok(Destination::AsWritten) => http_request,
        Ok(Destination::Checked(address)) if origin.scheme == "http" => match pin_to(http_request, address) {
            Ok(pinned) => pinned,
            Err(error) => return HeldAnswer::Refused(format!("{error:?}")),
        },
        Ok(Destination::Checked(_)) => http_request,
        Err(error) => return HeldAnswer::Refused(format!("{origin}: {error:?}")),
    };
    let options = RequestOptions {
        connect_timeout: Some(CONNECT_TIMEOUT),
        first_byte_timeout: Some(timeout),
        between_bytes_timeout: Some(crate::http_policy::BETWEEN_BYTES_TIMEOUT),
    };
    let (response, io) = match wasmtime_wasi_http::default_send_request(http_request, Some(options)).await {
        Ok(sent) => sent,
        Err(error) => return HeldAnswer::Failed(format!("{origin}: {error:?}")),
    };
    // The connection's I/O runs beside the body until the body is read.
    let connection = tokio::spawn(io);
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    if bytes.len() + data.len() > HELD_MAX_BODY {
                        connection.abort();
                        return HeldAnswer::Refused(format!("the answer is larger than {HELD_MAX_BODY} bytes"));
                    }
                    bytes.extend_from_slice(data);
                }
            }
            Err(error) => {
                connection.abort();
                return HeldAnswer::Failed(format!("{origin}: the answer broke off: {error:?}"));
            }
        }
    }
    connection.abort();
    HeldAnswer::Response(HeldResponse { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() })
}
