//! Counters: what the layer tracked, and what became of it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

/// A snapshot of the sender's counters, in hits (one hit per tracked request) unless a field
/// says otherwise.
///
/// Every tracked hit ends in exactly one of `sent`, `dropped` or `failed`; until then it is
/// `pending`. Once [`Handle::flush`](crate::Handle::flush) returns `true`, nothing tracked before
/// the call is pending. The other counters say more about some of those hits, or count other
/// things (HTTP requests, consumers, writes): none of them is a fifth outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests that passed the filters and were handed to the sender (or dropped on the way).
    /// While the queue is full (or if no sender could be started), requests are dropped without
    /// being captured or filtered, and counted here and in `dropped`.
    pub tracked: u64,
    /// Hits the collector accepted (2xx). In validation mode, accepted by the validation
    /// endpoint, which never collects anything.
    pub sent: u64,
    /// Hits never attempted: the queue was full, or the sender had shut down. Includes the
    /// requests not captured at all while the queue stayed full.
    pub dropped: u64,
    /// Hits given up on: a permanent error, or retries exhausted.
    pub failed: u64,
    /// Hits neither sent, dropped nor failed yet.
    pub pending: u64,
    /// Retried HTTP requests.
    pub retried: u64,
    /// Of those, retries after an attempt that may have arrived (a timeout, a connection broken
    /// mid-exchange), made only with
    /// [`RetryPolicy::retry_unconfirmed`](field@crate::RetryPolicy::retry_unconfirmed).
    pub retried_unconfirmed: u64,
    /// Of `failed`, hits whose last attempt may have reached Google: it timed out, or the
    /// connection broke mid-exchange. They are not retried, because GA has no de-duplication and
    /// Google advises against resending, so GA may or may not have counted them. Non-zero when the
    /// network path to the collector is slow or flaky;
    /// [`RetryPolicy::retry_unconfirmed`](field@crate::RetryPolicy::retry_unconfirmed) retries
    /// them instead, at the risk of counting some twice.
    pub failed_unconfirmed: u64,
    /// HTTP requests that completed a batch (successfully or not).
    pub batches: u64,
    /// Validation mode: hits the validation endpoint objected to (also counted in `sent`).
    pub invalid: u64,
    /// GA4 hits that went out in *the crowd*: under one client id shared by new consumers,
    /// instead of their consumer's own. While the sender is behind (many hits waiting in
    /// batches), a hit of a consumer it has no session for, and hasn't seen just before, joins
    /// the crowd: one client id per day, 25 hits a request, with no user id, user agent,
    /// address, location or device of its own. A flood of new identities (rotating credentials,
    /// a scanner, a burst of new clients) then costs one request per 25 hits instead of one per
    /// hit, and can't crowd out the hits of consumers the sender knows. GA shows the crowd as a
    /// single user.
    ///
    /// Zero unless the sender fell behind while new consumers arrived; compared with `sent`, it
    /// says how much of what GA shows is attributed to no consumer in particular. Also counted
    /// in `sent`, `failed` or `dropped`, as each hit ended.
    pub crowded: u64,
    /// Of `dropped`, hits that would have joined the crowd (see [`crowded`](Self::crowded)) but
    /// found it full: while the queue is at least half full, the crowd may be at most a quarter
    /// of the hits waiting in batches. Known consumers' hits are never dropped to make room for
    /// the crowd; the rest of `dropped` is hits dropped for other reasons (a full queue, a
    /// stopped sender).
    pub crowd_dropped: u64,
    /// Consumers, not hits: each consumer that passed
    /// [`daily_events_per_client_id`](crate::GaLayer::daily_events_per_client_id) events in a
    /// UTC day (90,000 by default), counted once that day. Its later hits went out under sibling
    /// client ids, because GA keeps at most 100,000 events per user and day and silently drops the
    /// rest; GA then shows that consumer as several users. Non-zero when one identity sends tens
    /// of thousands of requests a day: a busy integration, or many clients sharing one credential
    /// (or one address and agent, without credentials).
    pub consumers_spread: u64,
    /// Writes of the usage table's deltas to the usage store that succeeded.
    pub usage_writes: u64,
    /// Writes to the usage store that failed (down, locked, full): the deltas are kept and
    /// written on a later attempt.
    pub usage_write_failures: u64,
}

/// The counters behind [`Stats`]. `tracked` is the one the request path writes on every request:
/// it has a cache line of its own, so the sender's writes to the others never take that line
/// away from the API's core.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) tracked: CachePadded<AtomicU64>,
    pub(crate) sent: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) retried_unconfirmed: AtomicU64,
    pub(crate) failed_unconfirmed: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) invalid: AtomicU64,
    pub(crate) crowded: AtomicU64,
    pub(crate) crowd_dropped: AtomicU64,
    pub(crate) consumers_spread: AtomicU64,
    /// Hits the filters kept from Google (counted in the usage table only) that the queue had
    /// no room for: in no usage row, and not in `tracked`.
    pub(crate) unreported_dropped: AtomicU64,
    /// Hits the worker has taken off the queue and not yet counted as sent, failed or dropped:
    /// what is lost if the worker dies, counted as dropped then.
    pub(crate) held: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        // Read the outcomes before `tracked` so `pending` never underflows.
        let sent = self.sent.load(Relaxed);
        let dropped = self.dropped.load(Relaxed);
        let failed = self.failed.load(Relaxed);
        let tracked = self.tracked.load(Relaxed);
        Stats {
            tracked,
            sent,
            dropped,
            failed,
            pending: tracked.saturating_sub(sent + dropped + failed),
            retried: self.retried.load(Relaxed),
            retried_unconfirmed: self.retried_unconfirmed.load(Relaxed),
            failed_unconfirmed: self.failed_unconfirmed.load(Relaxed),
            batches: self.batches.load(Relaxed),
            invalid: self.invalid.load(Relaxed),
            crowded: self.crowded.load(Relaxed),
            crowd_dropped: self.crowd_dropped.load(Relaxed),
            consumers_spread: self.consumers_spread.load(Relaxed),
            // The usage store's, filled in by `Handle::stats`.
            usage_writes: 0,
            usage_write_failures: 0,
        }
    }
}
