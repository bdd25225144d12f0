//! The fault matrix (`tests/common/faults.rs` says what every case shows): error answers, `5xx`,
//! `400` and `429`, retried to their bound or not at all, and `Retry-After` honoured.

mod common;
use common::faults::{
    assert_accounted, assert_collector_agrees, assert_payloads_valid, collector, drive_bounded,
    layer, ms, policy, router, Outcomes, MARGIN,
};
use common::wait_until;

use std::time::{Duration, Instant};

use axum::Router;
use http::StatusCode;
use tower_ga::collector::{Collector, Faults};
use tower_ga::{Handle, RetryPolicy};

/// Persistent `503`: exactly `1 + max_retries` requests per batch, each waiting at least half the
/// exponential backoff step, then the batch fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_5xx_retries_exactly_to_the_bound() {
    let c = collector(Faults::none().status(StatusCode::SERVICE_UNAVAILABLE)).await;
    let outcomes = Outcomes::default();
    let base = ms(40);
    let ga = layer(&c.url(), Duration::from_secs(2), policy(3, base), &outcomes);
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..20).await;
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(
        (s.sent, s.failed, s.retried),
        (0, 20, 3 * s.batches),
        "{s:?}"
    );
    for (ok, o) in outcomes.all() {
        assert!(!ok);
        assert_eq!(
            (o.attempts, o.status),
            (4, Some(StatusCode::SERVICE_UNAVAILABLE))
        );
    }
    let counts = c.counts();
    assert_eq!(counts.requests, 4 * s.batches, "{counts:?}");
    assert_eq!(
        (counts.hits_seen, counts.hits_rejected),
        (80, 80),
        "{counts:?}"
    );
    assert_collector_agrees(&c, &s, &outcomes);
    assert_payloads_valid(&c);

    // One batch alone: its retries come at least base/2, base, 2·base apart (jitter only adds).
    let before = c.arrivals().len();
    drive_bounded(&app, 100..101).await;
    assert!(handle.flush(MARGIN).await);
    let at: Vec<Instant> = c.arrivals()[before..].iter().map(|a| a.at).collect();
    assert_eq!(at.len(), 4);
    for (i, pair) in at.windows(2).enumerate() {
        let floor = base * (1 << i) / 2;
        let gap = pair[1] - pair[0];
        assert!(
            gap >= floor,
            "retry {} came after {gap:?} < {floor:?}",
            i + 1
        );
    }
}

/// A permanent error (`400`): exactly one request per batch, no retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_4xx_is_not_retried() {
    let c = collector(Faults::none().status(StatusCode::BAD_REQUEST)).await;
    let outcomes = Outcomes::default();
    let ga = layer(
        &c.url(),
        Duration::from_secs(2),
        policy(3, ms(20)),
        &outcomes,
    );
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..20).await;
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!((s.sent, s.failed, s.retried), (0, 20, 0), "{s:?}");
    for (ok, o) in outcomes.all() {
        assert!(!ok);
        assert_eq!((o.attempts, o.status), (1, Some(StatusCode::BAD_REQUEST)));
    }
    assert_eq!(c.counts().requests, s.batches);
    assert_eq!(c.counts().hits_rejected, 20);
    assert_collector_agrees(&c, &s, &outcomes);
    assert_payloads_valid(&c);
}

/// Half the requests fail with `500`: whatever the dice say, every hit ends once, the collector
/// accepted exactly what was counted sent, and read every hit once per attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intermittent_5xx() {
    let c = collector(
        Faults::none()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .fail_rate(0.5),
    )
    .await;
    let outcomes = Outcomes::default();
    let ga = layer(
        &c.url(),
        Duration::from_secs(2),
        policy(4, ms(10)),
        &outcomes,
    );
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..60).await;
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(s.dropped, 0);
    let counts = c.counts();
    assert_eq!(
        counts.hits_seen,
        counts.hits_accepted + counts.hits_rejected
    );
    assert_eq!(
        counts.hits_seen,
        outcomes
            .all()
            .iter()
            .map(|(_, o)| o.hits as u64 * u64::from(o.attempts))
            .sum::<u64>()
    );
    assert_collector_agrees(&c, &s, &outcomes);
    assert!(s.retried > 0, "{s:?}");
    assert_payloads_valid(&c);
}

/// `429` with `Retry-After: 1`: each retry comes at least a second after the previous attempt,
/// and the retries still stop at the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_honours_retry_after() {
    let c = collector(
        Faults::none()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .retry_after(1),
    )
    .await;
    let outcomes = Outcomes::default();
    // Backoff alone would be 5-20 ms: every gap of a second is `Retry-After`'s doing.
    let ga = layer(
        &c.url(),
        Duration::from_secs(2),
        policy(2, ms(10)),
        &outcomes,
    );
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..1).await;
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(
        (s.sent, s.failed, s.batches, s.retried),
        (0, 1, 1, 2),
        "{s:?}"
    );
    let at: Vec<Instant> = c.arrivals().iter().map(|a| a.at).collect();
    assert_eq!(at.len(), 3);
    for pair in at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
    }
    let (_, o) = &outcomes.all()[0];
    assert_eq!(
        (o.attempts, o.status),
        (3, Some(StatusCode::TOO_MANY_REQUESTS))
    );
    assert_collector_agrees(&c, &s, &outcomes);
    assert_payloads_valid(&c);
}

/// A `Retry-After` beyond the policy's `max_retry_after` gives up at once instead of waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_beyond_the_policy_gives_up_at_once() {
    let c = collector(
        Faults::none()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .retry_after(30),
    )
    .await;
    let outcomes = Outcomes::default();
    let retry = policy(3, ms(10)).max_retry_after(Duration::from_secs(1));
    let ga = layer(&c.url(), Duration::from_secs(2), retry, &outcomes);
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..10).await;
    let started = Instant::now();
    assert!(handle.flush(MARGIN).await);
    assert!(started.elapsed() < Duration::from_secs(10));
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!((s.sent, s.failed, s.retried), (0, 10, 0), "{s:?}");
    assert_eq!(c.counts().requests, s.batches);
    assert_collector_agrees(&c, &s, &outcomes);
    assert_payloads_valid(&c);
}

/// A collector answering `429` with `Retry-After: secs` to everything, and an app behind a layer
/// with the `retry` policy (2 s request timeout).
async fn rate_limited(secs: u64, retry: RetryPolicy) -> (Collector, Outcomes, Handle, Router) {
    let c = collector(
        Faults::none()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .retry_after(secs),
    )
    .await;
    let outcomes = Outcomes::default();
    let ga = layer(&c.url(), Duration::from_secs(2), retry, &outcomes);
    let handle = ga.handle();
    (c, outcomes, handle, router(ga))
}

/// `Retry-After` holds the whole sender, not only the batch it came with: a batch that fails
/// with `429` and `Retry-After: 3` keeps every later hit from going out for three seconds (a
/// failure without an answer pauses the sender one second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_holds_back_new_hits_too() {
    // No retries: the batch fails at its first answer, and only the pause can space what follows.
    let (c, outcomes, handle, app) = rate_limited(3, policy(0, ms(10))).await;

    drive_bounded(&app, 0..1).await;
    wait_until(
        "the first batch failed",
        || handle.stats(),
        |s| s.failed == 1,
    )
    .await;
    // Queued while the sender waits; the flush interval (20 ms) would send them at once.
    drive_bounded(&app, 1..10).await;
    wait_until("every hit failed", || handle.stats(), |s| s.failed == 10).await;
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    let at: Vec<Instant> = c.arrivals().iter().map(|a| a.at).collect();
    assert!(at.len() >= 2, "{s:?}");
    let gap = at[1] - at[0];
    assert!(
        gap >= Duration::from_secs(3),
        "the next request came after {gap:?}"
    );
    assert_collector_agrees(&c, &s, &outcomes);
}

/// A flush doesn't override `Retry-After`: what it sends waits until the collector's time is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_waits_out_retry_after() {
    let (c, _, handle, app) = rate_limited(2, policy(0, ms(10))).await;
    drive_bounded(&app, 0..1).await;
    assert!(handle.flush(MARGIN).await);
    drive_bounded(&app, 1..2).await;
    assert!(handle.flush(MARGIN).await, "sent once the wait is over");
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!((s.failed, s.batches), (2, 2), "{s:?}");
    let at: Vec<Instant> = c.arrivals().iter().map(|a| a.at).collect();
    assert_eq!(at.len(), 2);
    assert!(
        at[1] - at[0] >= Duration::from_secs(2),
        "{:?}",
        at[1] - at[0]
    );
}

/// A `max_retry_after` of `Duration::MAX` and a collector asking for `u64::MAX` seconds: the
/// sender waits (a year), it doesn't overflow an `Instant` and die.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_retry_after_is_waited_not_fatal() {
    let retry = policy(0, ms(10)).max_retry_after(Duration::MAX);
    let (c, _, handle, app) = rate_limited(u64::MAX, retry).await;
    drive_bounded(&app, 0..1).await;
    assert!(handle.flush(MARGIN).await);
    assert_eq!(handle.stats().failed, 1);
    drive_bounded(&app, 1..6).await;
    // Alive and waiting: the flush runs out of time with the hits held, none dropped (a dead
    // worker's hits would be counted dropped, and the flush would say true).
    assert!(!handle.flush(ms(300)).await);
    let s = handle.stats();
    assert_eq!(
        (s.tracked, s.failed, s.dropped, s.pending),
        (6, 1, 0, 5),
        "{s:?}"
    );
    assert!(!handle.shutdown(ms(300)).await);
    let s = handle.stats();
    assert_eq!((s.dropped, s.pending), (5, 0), "{s:?}");
    assert_eq!(c.counts().requests, 1);
}
