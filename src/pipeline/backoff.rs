//! What to do with an answer (done, retry after how long, or give up), and when the sender may
//! take and send again after failures. Pure functions and a value type, tested with plain values.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

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

/// A `Retry-After` of `Duration::MAX` would overflow an `Instant`: a year stands in for forever.
const FOREVER: Duration = Duration::from_secs(365 * 86_400);

/// When the sender may take hits and send batches, after failures. Two holds, and a probe:
///
/// - a batch that ran out of attempts **pauses** taking new hits (they wait in the queue, or are
///   dropped when it is full) instead of encoding hits bound to fail: 1 s, doubling with each
///   such batch in a row, at most the policy's longest backoff;
/// - a batch that failed with a `Retry-After` **holds** the whole sender that long: nothing is
///   taken or sent before then, not even for a flush;
/// - after either, the sender **probes**: it takes one batch's worth of hits and sends it, and
///   takes more only once nothing is in flight; a delivered batch ends the pause and the probe
///   (not a hold: the collector said when).
#[derive(Debug, Default)]
pub(super) struct Backoff {
    paused_until: Option<Instant>,
    held_until: Option<Instant>,
    /// Batches in a row that ran out of attempts.
    streak: u32,
    probing: bool,
}

impl Backoff {
    /// A batch was delivered.
    pub(super) fn delivered(&mut self) {
        self.streak = 0;
        self.paused_until = None;
        self.probing = false;
    }

    /// A batch failed: `unreachable` when it ran out of attempts for want of an answer, `wait`
    /// the collector's `Retry-After` (capped by the policy) on its last answer.
    pub(super) fn failed(
        &mut self,
        now: Instant,
        unreachable: bool,
        wait: Option<Duration>,
        max_backoff: Duration,
    ) {
        if unreachable {
            self.streak = (self.streak + 1).min(16);
            let pause = Duration::from_secs(1)
                .saturating_mul(1 << (self.streak - 1).min(10))
                .min(max_backoff.max(Duration::from_secs(1)));
            self.paused_until = Some(now + pause);
            self.probing = true;
        }
        if let Some(wait) = wait {
            let until = now.checked_add(wait).unwrap_or(now + FOREVER);
            self.held_until = Some(self.held_until.map_or(until, |t| t.max(until)));
            self.probing = true;
        }
    }

    /// Whether batches may be sent now; a hold that has ended is forgotten.
    pub(super) fn may_send(&mut self, now: Instant) -> bool {
        match self.held_until {
            Some(until) if until > now => false,
            _ => {
                self.held_until = None;
                true
            }
        }
    }

    /// Until when a `Retry-After` holds the sender, if one does.
    pub(super) fn held_until(&self) -> Option<Instant> {
        self.held_until
    }

    /// The earliest time the queue may be looked at, given the next planned look.
    pub(super) fn take_at(&self, planned: Instant) -> Instant {
        [self.paused_until, self.held_until]
            .into_iter()
            .flatten()
            .fold(planned, Instant::max)
    }

    /// Whether the sender is probing: one batch's worth at a time.
    pub(super) fn probing(&self) -> bool {
        self.probing
    }
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

    #[test]
    fn pauses_double_up_to_the_longest_backoff_and_a_delivery_ends_them() {
        let now = Instant::now();
        let mut b = Backoff::default();
        let max = Duration::from_secs(5);
        for expected in [1, 2, 4, 5, 5] {
            b.failed(now, true, None, max);
            assert_eq!(b.take_at(now), now + Duration::from_secs(expected));
            assert!(b.probing());
        }
        b.delivered();
        assert_eq!(b.take_at(now), now);
        assert!(!b.probing());
    }

    #[test]
    fn a_hold_stops_sending_until_it_ends_and_outlives_a_delivery() {
        let now = Instant::now();
        let mut b = Backoff::default();
        b.failed(
            now,
            false,
            Some(Duration::from_secs(3)),
            Duration::from_secs(10),
        );
        b.failed(
            now,
            false,
            Some(Duration::from_secs(1)),
            Duration::from_secs(10),
        );
        let until = now + Duration::from_secs(3);
        assert_eq!(b.held_until(), Some(until));
        b.delivered();
        assert!(!b.may_send(now));
        assert_eq!(b.take_at(now), until);
        assert!(b.may_send(until));
        assert_eq!(b.held_until(), None);
        // An endless wait doesn't overflow.
        b.failed(now, false, Some(Duration::MAX), Duration::from_secs(10));
        assert_eq!(b.held_until(), Some(now + FOREVER));
    }
}
