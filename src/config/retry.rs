//! The retry settings.

use std::time::Duration;

/// Bounded retries with exponential backoff and jitter.
///
/// Only attempts that provably didn't count are retried: no connection (refused, unresolvable, a
/// failed TLS handshake) and answers of `5xx`, `408` and `429`. Google's reference advises
/// against resending a request that may have arrived (GA has no de-duplication key): after a
/// timeout or a connection broken mid-exchange, the batch fails, counted in
/// [`Stats::unconfirmed`](crate::Stats::unconfirmed), unless
/// [`retry_unconfirmed`](Self::retry_unconfirmed) is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// Backoff before the first retry (default 250 ms); doubles each time.
    pub base_backoff: Duration,
    /// Longest backoff (default 10 s).
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one makes the batch fail (default 60 s).
    pub max_retry_after: Duration,
    /// Retry attempts that may have arrived (a timeout, a connection broken mid-exchange):
    /// fewer hits lost, some perhaps counted twice (default off). Counted in
    /// [`Stats::retried_unconfirmed`](crate::Stats::retried_unconfirmed).
    pub retry_unconfirmed: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            retry_unconfirmed: false,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (1-based): half the exponential step plus a random
    /// part of the other half, `jitter` in `[0, 1)`.
    pub(crate) fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max_backoff);
        exp / 2 + exp.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(50));
        assert_eq!(p.backoff(2, 0.0), Duration::from_millis(100));
        assert_eq!(p.backoff(3, 0.0), Duration::from_millis(175)); // capped at 350
        assert!(p.backoff(1, 0.999) < Duration::from_millis(100));
        assert_eq!(p.backoff(40, 0.0), Duration::from_millis(175));
    }
}
