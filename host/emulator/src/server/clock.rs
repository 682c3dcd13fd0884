//! The emulator's clock: wall-clock time plus an offset tests move forward, so
//! "three hours later" (token expiry, `SystemModstamp` watermarks, the daily
//! allowance) takes no real time.

use chrono::{DateTime, Utc};

/// How far the clock may be moved ahead in total. Far beyond any test, and
/// small enough that date arithmetic on the result cannot overflow.
const MAX_OFFSET: chrono::Duration = chrono::Duration::days(100 * 365);

#[derive(Debug, Default, Clone)]
pub(crate) struct Clock {
    offset: chrono::Duration,
}

impl Clock {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        now.checked_add_signed(self.offset).unwrap_or(now)
    }

    pub(crate) fn advance(&mut self, by: std::time::Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(MAX_OFFSET);
        self.offset = (self.offset + by.min(MAX_OFFSET)).min(MAX_OFFSET);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward_and_saturates() {
        let mut clock = Clock::default();
        let before = clock.now();
        clock.advance(std::time::Duration::from_secs(3600));
        assert!(clock.now() - before >= chrono::Duration::seconds(3600));
        clock.advance(std::time::Duration::MAX);
        clock.advance(std::time::Duration::MAX);
        assert!(clock.now() > before);
    }
}
