//! The fault matrix (`tests/common/faults.rs` says what every case shows): a collector slower
//! than usual or than the request timeout, one that never answers, and `shutdown` against it.

mod common;
use common::faults::{
    assert_accounted, assert_collector_agrees, assert_payloads_valid, collector, drive_bounded,
    layer, ms, policy, router, Outcomes, MARGIN,
};
use common::wait_until;

use std::time::{Duration, Instant};

use tower_ga::collector::Faults;

/// Slower than usual but within the request timeout: everything is delivered once, and the
/// responses never wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_collector_within_timeout() {
    let c = collector(Faults::none().sleep(ms(1500))).await;
    let outcomes = Outcomes::default();
    let ga = layer(
        &c.url(),
        Duration::from_secs(8),
        policy(2, ms(50)),
        &outcomes,
    );
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..1).await;
    wait_until(
        "the collector reads the first batch",
        || c.counts(),
        |n| n.requests >= 1,
    )
    .await;
    // The collector now sleeps 1.5 s on a request it has read: nothing is answered yet.
    drive_bounded(&app, 1..61).await;
    let (s, counts) = (handle.stats(), c.counts());
    assert_eq!(s.tracked, 61);
    assert_eq!(
        s.sent, 0,
        "responses completed only after the collector answered"
    );
    assert_eq!(counts.hits_accepted, 0, "{counts:?}");

    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(
        (s.sent, s.failed, s.dropped, s.retried),
        (61, 0, 0, 0),
        "{s:?}"
    );
    assert_collector_agrees(&c, &s, &outcomes);
    assert_eq!(c.counts().hits_seen, 61, "no duplicates without a timeout");
    assert_eq!(c.counts().requests, s.batches);
    assert_payloads_valid(&c);
}

/// Slower than the request timeout, persistently: every attempt is abandoned by the client (the
/// collector notices the closed connection and never counts the hits as accepted), retries stop
/// at their bound, everything fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_collector_beyond_timeout() {
    let c = collector(Faults::none().sleep(Duration::from_secs(3))).await;
    let outcomes = Outcomes::default();
    let ga = layer(&c.url(), ms(250), policy(2, ms(20)), &outcomes);
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..1).await;
    wait_until(
        "the collector reads the first batch",
        || c.counts(),
        |n| n.requests >= 1,
    )
    .await;
    drive_bounded(&app, 1..30).await;
    assert_eq!(handle.stats().sent, 0);
    assert_eq!(c.counts().hits_accepted, 0);

    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!((s.sent, s.failed), (0, 30), "{s:?}");
    assert_eq!(s.retried, 2 * s.batches, "{s:?}");
    for (ok, o) in outcomes.all() {
        assert!(!ok);
        assert_eq!(o.attempts, 3, "{o:?}");
        assert_eq!(o.status, None, "{o:?}");
    }
    let counts = c.counts();
    assert_eq!(counts.requests, 3 * s.batches, "{counts:?}");
    assert_eq!(counts.hits_seen, 3 * s.tracked, "{counts:?}");
    assert_collector_agrees(&c, &s, &outcomes);
    // The abandoned handlers are cancelled: nothing is counted as accepted later either. Bounds
    // the wait for what must not happen: the last request read ends its 3 s sleep, and would
    // then be counted at once (the margin is for the collector's task to run).
    let last = c.arrivals().last().expect("requests were read").at;
    tokio::time::sleep_until((last + Duration::from_secs(3) + ms(500)).into()).await;
    assert_eq!(c.counts().hits_accepted, 0, "{:?}", c.counts());
    assert_payloads_valid(&c);
}

/// A timed-out attempt followed by a successful retry: the hit is sent once as far as the sender
/// knows, and accepted once by the collector, but the collector *read* it once per attempt. Google
/// may well have recorded a timed-out attempt: those are the possible duplicates,
/// `hits_seen - hits_accepted == attempts - 1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_then_recovery_may_duplicate() {
    let c = collector(Faults::none().sleep(Duration::from_secs(3))).await;
    let outcomes = Outcomes::default();
    let ga = layer(&c.url(), ms(250), policy(5, ms(20)), &outcomes);
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..1).await;
    // A second arrival of the only batch is a retry: the first attempt timed out.
    wait_until(
        "a retry after a timeout",
        || c.counts(),
        |n| n.requests >= 2,
    )
    .await;
    c.set_faults(Faults::none());
    assert!(handle.flush(MARGIN).await);

    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!((s.tracked, s.sent, s.batches), (1, 1, 1), "{s:?}");
    let all = outcomes.all();
    let attempts = u64::from(all[0].1.attempts);
    assert!(all[0].0 && attempts >= 2, "{all:?}");
    let counts = c.counts();
    assert_eq!(counts.hits_accepted, 1);
    assert_eq!(counts.hits_seen, attempts);
    assert_eq!(counts.hits_seen - counts.hits_accepted, attempts - 1);
    assert_collector_agrees(&c, &s, &outcomes);
    assert_payloads_valid(&c);
}

/// Never answers: responses complete anyway (the collector provably answered nothing), each
/// attempt times out, retries stop at the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_collector() {
    let c = collector(Faults::none().hang(true)).await;
    let outcomes = Outcomes::default();
    let ga = layer(&c.url(), ms(300), policy(1, ms(20)), &outcomes);
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..1).await;
    wait_until(
        "the collector holds the first batch",
        || c.counts(),
        |n| n.hits_hung >= 1,
    )
    .await;
    drive_bounded(&app, 1..40).await;
    assert_eq!(handle.stats().sent, 0);
    assert_eq!(handle.stats().tracked, 40);

    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!((s.sent, s.failed, s.retried), (0, 40, s.batches), "{s:?}");
    let counts = c.counts();
    assert_eq!(counts.requests, 2 * s.batches);
    assert_eq!((counts.hits_seen, counts.hits_hung), (80, 80), "{counts:?}");
    assert_collector_agrees(&c, &s, &outcomes);
    assert_payloads_valid(&c);
}

/// `shutdown(deadline)` with a hung collector and attempts in flight returns `false` by its
/// deadline; what was pending is counted as dropped; later requests are still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_by_its_deadline_when_the_collector_hangs() {
    let c = collector(Faults::none().hang(true)).await;
    let outcomes = Outcomes::default();
    let ga = layer(
        &c.url(),
        Duration::from_secs(30),
        policy(3, ms(20)),
        &outcomes,
    );
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..30).await;
    wait_until(
        "an attempt is in flight",
        || c.counts(),
        |n| n.hits_hung >= 1,
    )
    .await;

    let deadline = ms(300);
    let started = Instant::now();
    let all_sent =
        tokio::time::timeout(deadline + Duration::from_secs(5), handle.shutdown(deadline))
            .await
            .expect("shutdown overran its deadline");
    let took = started.elapsed();
    assert!(!all_sent);
    // The worker stops trying a little before the deadline (a tenth of it, at most 100 ms) so
    // that its counts are final when `shutdown` returns.
    assert!(took >= deadline - deadline / 10, "{took:?}");
    assert!(took < deadline + Duration::from_secs(3), "{took:?}");

    // On a machine busy enough to starve the worker past that margin, its last count can land
    // just after `shutdown` returned.
    wait_until(
        "the abandoned hits are counted",
        || handle.stats(),
        |s| s.pending == 0,
    )
    .await;
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!((s.sent, s.failed, s.dropped), (0, 0, 30), "{s:?}");

    // After shutdown: responses unchanged, hits counted as dropped at once.
    drive_bounded(&app, 30..35).await;
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!((s.tracked, s.dropped), (35, 35), "{s:?}");
    assert_eq!(c.counts().hits_accepted, 0);
    assert_payloads_valid(&c);
}
