//! What to do with an answer: done, retry (after how long), or give up. Pure functions, tested
//! with plain values.

use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, RETRY_AFTER};
use http::StatusCode;

/// Bounded retries with exponential backoff and jitter.
///
/// Only transient failures are retried: no answer (connect error, timeout), `5xx`, `408` and `429`.
/// A retried timeout may duplicate hits, since GA has no de-duplication key and the first attempt
/// may have arrived.
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
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
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

/// The verdict on one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Delivered,
    /// Transient: retry, after at least this long when the collector said so.
    Retry(Option<Duration>),
    /// Permanent (other 4xx, or a `Retry-After` beyond the policy's bound).
    GiveUp,
}

pub(crate) fn verdict(
    status: StatusCode,
    headers: &HeaderMap,
    policy: &RetryPolicy,
    now: SystemTime,
) -> Verdict {
    if status.is_success() {
        return Verdict::Delivered;
    }
    let transient = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT;
    if !transient {
        return Verdict::GiveUp;
    }
    match retry_after(headers, now) {
        Some(d) if d > policy.max_retry_after => Verdict::GiveUp,
        other => Verdict::Retry(other),
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A number in `[0, 1)` from the OS's randomness (rare: once per retry).
pub(crate) fn jitter() -> f64 {
    (uuid::Uuid::new_v4().as_u128() as u64 >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, retry_after.parse().unwrap());
        h
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        let p = RetryPolicy::default();
        let now = SystemTime::now();
        let none = HeaderMap::new();
        assert_eq!(
            verdict(StatusCode::NO_CONTENT, &none, &p, now),
            Verdict::Delivered
        );
        assert_eq!(
            verdict(StatusCode::SERVICE_UNAVAILABLE, &none, &p, now),
            Verdict::Retry(None)
        );
        assert_eq!(
            verdict(StatusCode::BAD_REQUEST, &none, &p, now),
            Verdict::GiveUp
        );
        assert_eq!(
            verdict(StatusCode::FORBIDDEN, &none, &p, now),
            Verdict::GiveUp
        );
        assert_eq!(
            verdict(StatusCode::TOO_MANY_REQUESTS, &headers("2"), &p, now),
            Verdict::Retry(Some(Duration::from_secs(2)))
        );
        assert_eq!(
            verdict(StatusCode::TOO_MANY_REQUESTS, &headers("3600"), &p, now),
            Verdict::GiveUp
        );
    }

    #[test]
    fn retry_after_as_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:49:40 GMT"), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:49:30 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon"), now), None);
    }

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
        let j = jitter();
        assert!((0.0..1.0).contains(&j));
    }
}
