//! The emulator's clock: wall-clock time plus an offset tests move forward, so
//! "three hours later" (token expiry, `SystemModstamp` watermarks, the daily
//! allowance) takes no real time.
//!
//! Clones share the offset: the org keeps one behind its lock and the server
//! another outside it, so every response's `Date` header reads the same time
//! without waiting for a request that holds the org.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

/// How far the clock may be moved ahead in total. Far beyond any test, small
/// enough that date arithmetic on the result cannot overflow, and (about
/// 3.2e18 ns) within the `i64` nanoseconds the offset is kept in.
const MAX_OFFSET: chrono::Duration = chrono::Duration::days(100 * 365);

#[derive(Debug, Default, Clone)]
pub(crate) struct Clock {
    offset_nanos: Arc<AtomicI64>,
}

impl Clock {
    /// Now, to the second: Salesforce stores datetimes without milliseconds
    /// (`…T10:15:00.000+0000` always ends in `.000`), so records written in
    /// one second share their stamp and are told apart by Id.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        let offset = chrono::Duration::nanoseconds(self.offset_nanos.load(Ordering::Relaxed));
        let now = now.checked_add_signed(offset).unwrap_or(now);
        chrono::DurationRound::duration_trunc(now, chrono::Duration::seconds(1)).unwrap_or(now)
    }

    /// Now to the millisecond, for what Salesforce stamps in epoch
    /// milliseconds rather than as record datetimes (messaging entries).
    pub(crate) fn now_millis(&self) -> i64 {
        let now = Utc::now();
        let offset = chrono::Duration::nanoseconds(self.offset_nanos.load(Ordering::Relaxed));
        now.checked_add_signed(offset).unwrap_or(now).timestamp_millis()
    }

    pub(crate) fn advance(&self, by: std::time::Duration) {
        let max = MAX_OFFSET.num_nanoseconds().unwrap_or(i64::MAX);
        let by = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX).min(max);
        // `fetch_update` cannot fail with a closure that always answers `Some`.
        let _ = self
            .offset_nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |offset| Some(offset.saturating_add(by).min(max)));
    }
}

/// An HTTP `Date` header value: RFC 7231's IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn advancing_moves_now_forward_and_saturates() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(std::time::Duration::from_secs(3600));
        assert!(clock.now() - before >= chrono::Duration::seconds(3600));
        clock.advance(std::time::Duration::MAX);
        clock.advance(std::time::Duration::MAX);
        assert!(clock.now() > before);
    }

    #[test]
    fn clones_share_the_offset() {
        let clock = Clock::default();
        let shared = clock.clone();
        clock.advance(std::time::Duration::from_secs(86_400));
        assert!(shared.now() - Utc::now() >= chrono::Duration::seconds(86_399));
    }

    #[test]
    fn http_dates_are_imf_fixdates() {
        let t = Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 37).unwrap();
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
