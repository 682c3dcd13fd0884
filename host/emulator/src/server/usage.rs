//! API call accounting: the daily allowance behind `Sforce-Limit-Info` and
//! `REQUEST_LIMIT_EXCEEDED`, and the per-endpoint counters tests read.
//!
//! What counts as one call, as Salesforce counts it:
//! - every authenticated request under `/services/data/vXX.X/` that reaches
//!   the org, except `/composite/batch`, whose subrequests count one each;
//! - a `/composite` request counts once, whatever its subrequests;
//! - token requests, the versions list, admin paths, refused requests (401,
//!   403 over the limit) and injected failures that never reach the org do not.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::SfError;

/// Salesforce's allowance is over a rolling 24 hours.
const WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// Calls used in the current window and the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApiUsage {
    pub used: u64,
    pub max: u64,
}

/// Counters since the emulator started (or since the last reset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallCounters {
    /// Every counted API call.
    pub total: u64,
    /// Counted calls by `"METHOD /resource"`: `"GET /query"`,
    /// `"PATCH /sobjects/Case"`, `"POST /composite"`, `"GET /sobjects/Case/describe"` …
    pub by_endpoint: BTreeMap<String, u64>,
    /// Requests to `/services/oauth2/token` (not API calls, but tests assert on refreshes).
    pub token_requests: u64,
    /// Requests answered by an injected fault instead of the org.
    pub faults_injected: u64,
    /// CometD (Streaming API) requests: not API calls, counted apart.
    pub streaming: crate::server::StreamingCounters,
}

impl CallCounters {
    /// The count for one endpoint key, 0 when never called.
    pub fn get(&self, endpoint: &str) -> u64 {
        self.by_endpoint.get(endpoint).copied().unwrap_or(0)
    }

    fn record(&mut self, endpoint: &str) {
        self.total += 1;
        *self.by_endpoint.entry(endpoint.to_string()).or_default() += 1;
    }
}

/// The daily allowance.
#[derive(Debug, Clone)]
pub(crate) struct Allowance {
    used: u64,
    max: u64,
    window_start: DateTime<Utc>,
}

impl Allowance {
    pub(crate) fn new(max: u64, now: DateTime<Utc>) -> Self {
        Allowance { used: 0, max, window_start: now }
    }

    pub(crate) fn usage(&self, now: DateTime<Utc>) -> ApiUsage {
        let used = if now - self.window_start >= WINDOW { 0 } else { self.used };
        ApiUsage { used, max: self.max }
    }

    pub(crate) fn set(&mut self, used: Option<u64>, max: Option<u64>) {
        if let Some(used) = used {
            self.used = used;
        }
        if let Some(max) = max {
            self.max = max;
        }
    }

    /// The `Sforce-Limit-Info` header value.
    pub(crate) fn header(&self, now: DateTime<Utc>) -> String {
        let usage = self.usage(now);
        format!("api-usage={}/{}", usage.used, usage.max)
    }

    fn roll(&mut self, now: DateTime<Utc>) {
        if now - self.window_start >= WINDOW {
            self.used = 0;
            self.window_start = now;
        }
    }
}

/// The one place an API call is admitted and counted: `REQUEST_LIMIT_EXCEEDED`
/// once the allowance is spent, otherwise the call is counted under `endpoint`.
pub(crate) fn admit_call(
    allowance: &mut Allowance,
    counters: &mut CallCounters,
    endpoint: &str,
    now: DateTime<Utc>,
) -> Result<(), SfError> {
    allowance.roll(now);
    if allowance.used >= allowance.max {
        return Err(SfError::new(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."));
    }
    allowance.used += 1;
    counters.record(endpoint);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_past_the_allowance_are_refused_until_the_window_rolls() {
        let t0 = Utc::now();
        let mut allowance = Allowance::new(2, t0);
        let mut counters = CallCounters::default();
        assert!(admit_call(&mut allowance, &mut counters, "GET /query", t0).is_ok());
        assert!(admit_call(&mut allowance, &mut counters, "GET /query", t0).is_ok());
        let refused = admit_call(&mut allowance, &mut counters, "GET /query", t0).unwrap_err();
        assert_eq!((refused.status, refused.error_code.as_str()), (403, "REQUEST_LIMIT_EXCEEDED"));
        assert_eq!(counters.get("GET /query"), 2);
        assert_eq!(allowance.header(t0), "api-usage=2/2");
        let later = t0 + chrono::Duration::hours(25);
        assert_eq!(allowance.header(later), "api-usage=0/2");
        assert!(admit_call(&mut allowance, &mut counters, "GET /query", later).is_ok());
        assert_eq!(counters.total, 3);
    }
}
