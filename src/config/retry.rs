//! The retry settings.

use std::time::Duration;

/// Bounded retries with exponential backoff and jitter.
///
/// Only attempts that provably didn't count are retried: no connection (refused, unresolvable, a
/// failed TLS handshake) and answers of `5xx`, `408` and `429`. Google's reference advises
/// against resending a request that may have arrived (GA has no de-duplication key): after a
/// timeout or a connection broken mid-exchange, the batch fails, counted in
/// [`Stats::failed_unconfirmed`](crate::Stats::failed_unconfirmed), unless
/// [`retry_unconfirmed`](field@Self::retry_unconfirmed) is set.
///
/// Start from [`default`](Self::default) or [`none`](Self::none) and set what differs: the fields
/// are public to read, and a field may be added, so the struct can't be written as a literal.
///
/// ```
/// use std::time::Duration;
/// use tower_ga::RetryPolicy;
///
/// let policy = RetryPolicy::default().max_retries(5).max_backoff(Duration::from_secs(30));
/// assert_eq!((policy.max_retries, policy.base_backoff), (5, Duration::from_millis(250)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    ///
    /// ```
    /// use tower_ga::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::none().max_retries, 0);
    /// ```
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Sets [`max_retries`](field@Self::max_retries): retries after the first attempt.
    ///
    /// ```
    /// use tower_ga::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::default().max_retries(1).max_retries, 1);
    /// ```
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets [`base_backoff`](field@Self::base_backoff): the backoff before the first retry.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_ga::RetryPolicy;
    ///
    /// let policy = RetryPolicy::default().base_backoff(Duration::from_millis(10));
    /// assert_eq!(policy.base_backoff, Duration::from_millis(10));
    /// ```
    pub fn base_backoff(mut self, backoff: Duration) -> Self {
        self.base_backoff = backoff;
        self
    }

    /// Sets [`max_backoff`](field@Self::max_backoff): the longest backoff.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_ga::RetryPolicy;
    ///
    /// let policy = RetryPolicy::default().max_backoff(Duration::from_secs(1));
    /// assert_eq!(policy.max_backoff, Duration::from_secs(1));
    /// ```
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Sets [`max_retry_after`](field@Self::max_retry_after): the longest `Retry-After` honoured.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_ga::RetryPolicy;
    ///
    /// let policy = RetryPolicy::default().max_retry_after(Duration::from_secs(5));
    /// assert_eq!(policy.max_retry_after, Duration::from_secs(5));
    /// ```
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }

    /// Sets [`retry_unconfirmed`](field@Self::retry_unconfirmed): whether attempts that may have
    /// arrived are retried.
    ///
    /// ```
    /// use tower_ga::RetryPolicy;
    ///
    /// assert!(RetryPolicy::default().retry_unconfirmed(true).retry_unconfirmed);
    /// ```
    pub fn retry_unconfirmed(mut self, on: bool) -> Self {
        self.retry_unconfirmed = on;
        self
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
        let p = RetryPolicy::default()
            .base_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(350));
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(50));
        assert_eq!(p.backoff(2, 0.0), Duration::from_millis(100));
        assert_eq!(p.backoff(3, 0.0), Duration::from_millis(175)); // capped at 350
        assert!(p.backoff(1, 0.999) < Duration::from_millis(100));
        assert_eq!(p.backoff(40, 0.0), Duration::from_millis(175));
    }
}
