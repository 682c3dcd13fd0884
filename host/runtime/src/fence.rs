//! The fence of a per-org lease, as a connector instance carries it: one
//! cycle per org across processes (E8). The lease itself (who holds it,
//! until when, how it is granted) belongs to the host's store; the runtime
//! only needs its org, its fencing token and its expiry, to refuse commits
//! and HTTP requests once it is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How much lease time a connector instance must have left to start an HTTP
/// request. A request that starts just before the expiry could reach
/// Salesforce after another process took the org over; with this margin a
/// request would have to take five seconds to get there. Normal renewals
/// keep 20 seconds or more in hand, so only a failing holder meets it.
pub const HTTP_LEASE_MARGIN: Duration = Duration::from_secs(5);

/// A lease as a connector instance carries it: its commits are checked
/// against the token in the store, and its HTTP stops once the lease's
/// local expiry (kept up to date by the holder's renewals) has passed.
///
/// Cheap to clone; the clones share the expiry.
#[derive(Debug, Clone)]
pub struct Fence(Arc<FenceState>);

#[derive(Debug)]
struct FenceState {
    org: String,
    token: i64,
    /// Unix milliseconds; `LOST` once the lease is known lost.
    valid_until_ms: AtomicI64,
}

/// The expiry of a lost lease: before every instant.
const LOST: i64 = i64::MIN;

impl Fence {
    /// The fence of a freshly granted lease of `org` with fencing `token`,
    /// good until `expires_at`.
    pub fn new(org: impl Into<String>, token: i64, expires_at: DateTime<Utc>) -> Fence {
        Fence(Arc::new(FenceState {
            org: org.into(),
            token,
            valid_until_ms: AtomicI64::new(expires_at.timestamp_millis()),
        }))
    }

    /// The org whose namespace the fence guards.
    pub fn org(&self) -> &str {
        &self.0.org
    }

    /// The lease's fencing token.
    pub fn token(&self) -> i64 {
        self.0.token
    }

    /// A renewal succeeded: the lease is good until `until` (never moves back).
    pub fn extend_to(&self, until: DateTime<Utc>) {
        let until = until.timestamp_millis();
        let _ = self.0.valid_until_ms.fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
            (current != LOST && until > current).then_some(until)
        });
    }

    /// The lease is lost: from now on nothing may go out under it.
    pub fn lose(&self) {
        self.0.valid_until_ms.store(LOST, Ordering::Release);
    }

    /// Whether the lease is known lost.
    pub fn is_lost(&self) -> bool {
        self.0.valid_until_ms.load(Ordering::Acquire) == LOST
    }

    /// Until when the lease is good, as far as this process knows; `None` once lost.
    pub fn valid_until(&self) -> Option<DateTime<Utc>> {
        match self.0.valid_until_ms.load(Ordering::Acquire) {
            LOST => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }

    /// Whether an HTTP request may start at `now`: the lease is not lost and
    /// has at least [`HTTP_LEASE_MARGIN`] left.
    pub fn allows_requests_at(&self, now: DateTime<Utc>) -> bool {
        let margin = chrono::Duration::from_std(HTTP_LEASE_MARGIN).unwrap_or_default();
        self.valid_until().is_some_and(|until| now + margin < until)
    }
}
