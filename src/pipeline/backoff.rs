//! What to do with an answer: done, retry (after how long), or give up. Pure functions, tested
//! with plain values.

use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, RETRY_AFTER};
use http::StatusCode;

use crate::config::RetryPolicy;

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
    fn jitter_is_in_the_unit_interval() {
        let j = jitter();
        assert!((0.0..1.0).contains(&j));
    }
}
