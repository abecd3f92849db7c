//! How long to wait before the next attempt: exponential backoff with jitter,
//! and never less than the daemon's `Retry-After`.

use std::time::Duration;

/// The longest `Retry-After` honoured; a larger value is taken as this, so a
/// misconfigured proxy cannot park the client for hours.
pub(crate) const RETRY_AFTER_MAX_S: u64 = 60;

/// Backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// Wait before the second attempt, before jitter.
    pub initial_ms: u64,
    /// Longest wait, before jitter.
    pub max_ms: u64,
}

impl Backoff {
    /// The wait after failed attempt number `attempt` (from 1), given a
    /// `Retry-After` and a uniform random number in `[0, 1)`.
    ///
    /// Without `Retry-After`: "equal jitter", a random wait between half and all
    /// of `initial · 2^(attempt-1)` (capped at `max`), so that many clients
    /// turned away at once do not come back at once. With it: the daemon's
    /// wait plus up to `initial` of jitter, or the backoff if that is longer.
    pub(crate) fn delay(&self, attempt: u32, retry_after_s: Option<u64>, random: f64) -> Duration {
        let random = random.clamp(0.0, 1.0);
        let doubling = 1u64
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u64::MAX);
        let ceiling = self.initial_ms.saturating_mul(doubling).min(self.max_ms);
        let backoff = ceiling / 2 + ((ceiling - ceiling / 2) as f64 * random) as u64;
        let wait_ms = match retry_after_s {
            Some(s) => {
                let asked = s.min(RETRY_AFTER_MAX_S) * 1000;
                (asked + (self.initial_ms as f64 * random) as u64).max(backoff)
            }
            None => backoff,
        };
        Duration::from_millis(wait_ms)
    }
}

/// The `Retry-After` of an answer, in seconds (the HTTP-date form is ignored).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const B: Backoff = Backoff {
        initial_ms: 100,
        max_ms: 1000,
    };

    #[test]
    fn grows_exponentially_within_half_and_whole_and_is_capped() {
        assert_eq!(B.delay(1, None, 0.0), Duration::from_millis(50));
        assert_eq!(B.delay(1, None, 0.999_999), Duration::from_millis(99));
        assert_eq!(B.delay(3, None, 0.0), Duration::from_millis(200));
        assert_eq!(B.delay(30, None, 0.0), Duration::from_millis(500));
        assert_eq!(B.delay(200, None, 0.999_999), Duration::from_millis(999));
    }

    #[test]
    fn retry_after_is_a_floor_and_is_capped() {
        assert_eq!(B.delay(1, Some(2), 0.0), Duration::from_millis(2000));
        assert_eq!(B.delay(1, Some(2), 0.5), Duration::from_millis(2050));
        assert_eq!(B.delay(10, Some(0), 0.0), Duration::from_millis(500));
        assert_eq!(
            B.delay(1, Some(1_000_000), 0.0),
            Duration::from_secs(RETRY_AFTER_MAX_S)
        );
    }

    #[test]
    fn reads_retry_after_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(3));
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        h.insert(reqwest::header::RETRY_AFTER, date.parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
