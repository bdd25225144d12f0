//! The fault matrix: a real axum `Router` with `GaLayer` in front of a local collector that is
//! slow, hung, refusing connections, failing with 5xx / 400 / 429 + `Retry-After`, breaking off its
//! answers, or going down and coming back mid-run.
//!
//! What every case shows:
//!
//! - every API response is the handler's, and none waits on the collector. This is proved by
//!   ordering, not by timing: the responses have all completed at a point where the collector has
//!   provably not answered yet (it is hung, or still sleeping on a request it has read, so
//!   `stats.sent == 0` and `counts().hits_accepted == 0`). A false failure needs the test to be
//!   descheduled for longer than the collector sleeps; a false pass is impossible.
//! - after `flush` (or `shutdown`), every tracked hit is accounted for exactly once:
//!   `sent + dropped + failed == tracked`.
//! - the collector's count of accepted hits equals `stats.sent`. Where a retry can duplicate (an
//!   attempt the collector read but whose answer never arrived), the exact relationship is
//!   asserted: `hits_seen == hits_accepted + hits_rejected + hits_hung + hits_broken + (attempts
//!   abandoned by the client while the collector slept)`, and the collector's request count equals
//!   the sum of `BatchOutcome::attempts` over all batches.
//! - retries stop at their bound and honour `Retry-After` (a lower bound on the gap between
//!   arrivals, which is deterministic), and a batch failed with `Retry-After` holds back new hits.
//! - `shutdown(deadline)` returns by its deadline; the queue bound holds under load.
//! - every payload the collector read, answered or not, passes its validation.

use std::net::TcpListener as StdListener;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_ga::collector::{Collector, CollectorConfig, Faults};
use tower_ga::{
    BatchOutcome, BoxFuture, GaLayer, Handle, HyperTransport, Outgoing, Reply, ReqwestTransport,
    RetryPolicy, Stats, Transport, TransportError,
};

/// Upper bound for anything that should take well under a second: generous, for a noisy 2-core
/// machine. Only ever used to turn a hang into a failure.
const MARGIN: Duration = Duration::from_secs(15);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn policy(max_retries: u32, base_backoff: Duration) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base_backoff,
        max_backoff: base_backoff * 4,
        max_retry_after: Duration::from_secs(5),
    }
}

/// What became of each batch, from the success and failure hooks.
#[derive(Clone, Default)]
struct Outcomes(Arc<Mutex<Vec<(bool, BatchOutcome)>>>);

impl Outcomes {
    fn all(&self) -> Vec<(bool, BatchOutcome)> {
        self.0.lock().unwrap().clone()
    }

    /// HTTP requests made for all batches, retries included.
    fn attempts(&self) -> u64 {
        self.all().iter().map(|(_, o)| u64::from(o.attempts)).sum()
    }
}

/// A layer pointed at `endpoint`, with short timeouts and the hooks recording outcomes.
fn layer(endpoint: &str, timeout: Duration, retry: RetryPolicy, outcomes: &Outcomes) -> GaLayer {
    let (ok, failed) = (outcomes.clone(), outcomes.clone());
    GaLayer::new("G-FAULTS1")
        .api_secret("faults-secret")
        .endpoint(endpoint)
        .request_timeout(timeout)
        .retry(retry)
        .flush_interval(ms(20))
        .max_concurrency(4)
        .on_success(move |o: &BatchOutcome| ok.0.lock().unwrap().push((true, o.clone())))
        .on_failure(move |o: &BatchOutcome| failed.0.lock().unwrap().push((false, o.clone())))
}

async fn item(Path(id): Path<u32>) -> String {
    format!("item {id}")
}

fn router(layer: GaLayer) -> Router {
    Router::new().route("/items/{id}", get(item)).layer(layer)
}

/// Sends `/items/{i}` for each `i` through the router (three consumers, so a few batches per
/// flush interval) and checks every response is the handler's.
async fn drive(app: &Router, ids: Range<u32>) {
    for i in ids {
        let req = Request::get(format!("/items/{i}?page=2&token=tok-secret-{i}"))
            .header("host", "api.test")
            .header("user-agent", "faults-test/1.0")
            .header("authorization", format!("Bearer consumer-{}", i % 3))
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("item {i}").as_bytes());
    }
}

/// `drive`, failing instead of hanging if a response ever waits on the collector.
async fn drive_bounded(app: &Router, ids: Range<u32>) {
    tokio::time::timeout(MARGIN, drive(app, ids))
        .await
        .expect("API responses waited on the collector");
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + MARGIN;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(ms(5)).await;
    }
}

async fn collector(faults: Faults) -> Collector {
    Collector::start(CollectorConfig {
        faults,
        ..CollectorConfig::default()
    })
    .await
    .unwrap()
}

/// Every tracked hit ended exactly once.
fn assert_accounted(s: &Stats) {
    assert_eq!(s.sent + s.dropped + s.failed, s.tracked, "{s:?}");
    assert_eq!(s.pending, 0, "{s:?}");
}

/// Every payload the collector read, whatever it answered, breaks no documented rule.
fn assert_payloads_valid(c: &Collector) {
    let counts = c.counts();
    assert_eq!(counts.hits_invalid, 0, "{counts:?}");
    for r in c.requests() {
        assert!(r.messages.is_empty(), "{:?}: {:?}", r.path, r.messages);
        assert!(
            !String::from_utf8_lossy(&r.body).contains("t1"),
            "a token leaked"
        );
    }
    let arrivals = c.arrivals();
    assert_eq!(arrivals.len() as u64, counts.requests);
    for a in arrivals {
        assert_eq!(a.path, "/mp/collect");
        assert!(a.messages.is_empty(), "{:?}", a.messages);
    }
}

/// After a flush or shutdown, the collector counted as accepted exactly what the sender counts
/// as sent, and made one request per attempt.
fn assert_collector_agrees(c: &Collector, s: &Stats, outcomes: &Outcomes) {
    let counts = c.counts();
    assert_eq!(counts.hits_accepted, s.sent, "{counts:?} {s:?}");
    assert_eq!(counts.requests, outcomes.attempts(), "{counts:?}");
    assert_eq!(outcomes.all().len() as u64, s.batches);
}

/// Slower than usual but within the request timeout: everything is delivered once, and the
/// responses never wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_collector_within_timeout() {
    let c = collector(Faults {
        sleep: ms(1500),
        ..Faults::none()
    })
    .await;
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
    until("the collector reads the first batch", || {
        c.counts().requests >= 1
    })
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
    let c = collector(Faults {
        sleep: Duration::from_secs(3),
        ..Faults::none()
    })
    .await;
    let outcomes = Outcomes::default();
    let ga = layer(&c.url(), ms(250), policy(2, ms(20)), &outcomes);
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..1).await;
    until("the collector reads the first batch", || {
        c.counts().requests >= 1
    })
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
    // The abandoned handlers are cancelled: nothing is counted as accepted later either.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(c.counts().hits_accepted, 0);
    assert_payloads_valid(&c);
}

/// A timed-out attempt followed by a successful retry: the hit is sent once as far as the sender
/// knows, and accepted once by the collector, but the collector *read* it once per attempt. Google
/// may well have recorded a timed-out attempt: those are the possible duplicates,
/// `hits_seen - hits_accepted == attempts - 1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_then_recovery_may_duplicate() {
    let c = collector(Faults {
        sleep: Duration::from_secs(3),
        ..Faults::none()
    })
    .await;
    let outcomes = Outcomes::default();
    let ga = layer(&c.url(), ms(250), policy(5, ms(20)), &outcomes);
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..1).await;
    // A second arrival of the only batch is a retry: the first attempt timed out.
    until("a retry after a timeout", || c.counts().requests >= 2).await;
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
    let c = collector(Faults {
        hang: true,
        ..Faults::none()
    })
    .await;
    let outcomes = Outcomes::default();
    let ga = layer(&c.url(), ms(300), policy(1, ms(20)), &outcomes);
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..1).await;
    until("the collector holds the first batch", || {
        c.counts().hits_hung >= 1
    })
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
    let c = collector(Faults {
        hang: true,
        ..Faults::none()
    })
    .await;
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
    until("an attempt is in flight", || c.counts().hits_hung >= 1).await;

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
    until("the abandoned hits are counted", || {
        handle.stats().pending == 0
    })
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

/// Nothing listens on the endpoint's port: every attempt is refused at once, retried to the
/// bound, then given up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections() {
    check_refused(|ga| ga).await;
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// [`refused_connections`], with the layer given a transport by `with`.
async fn check_refused(with: impl FnOnce(GaLayer) -> GaLayer) {
    let port = closed_port();
    let outcomes = Outcomes::default();
    let ga = with(layer(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(2),
        policy(2, ms(20)),
        &outcomes,
    ));
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..20).await;
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(
        (s.sent, s.failed, s.retried),
        (0, 20, 2 * s.batches),
        "{s:?}"
    );
    let all = outcomes.all();
    assert_eq!(all.len() as u64, s.batches);
    for (ok, o) in all {
        assert!(!ok);
        assert_eq!((o.attempts, o.status), (3, None), "{o:?}");
        assert_no_secret(o.error.as_deref());
    }
}

/// A failed batch's error says something, and not the API secret.
fn assert_no_secret(error: Option<&str>) {
    let error = error.expect("a failed attempt has an error");
    assert!(!error.is_empty());
    assert!(
        !error.contains("faults-secret"),
        "the API secret leaked: {error}"
    );
}

/// Persistent `503`: exactly `1 + max_retries` requests per batch, each waiting at least half the
/// exponential backoff step, then the batch fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_5xx_retries_exactly_to_the_bound() {
    let c = collector(Faults {
        status: Some(StatusCode::SERVICE_UNAVAILABLE),
        ..Faults::none()
    })
    .await;
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
    let c = collector(Faults {
        status: Some(StatusCode::BAD_REQUEST),
        ..Faults::none()
    })
    .await;
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
    let c = collector(Faults {
        status: Some(StatusCode::INTERNAL_SERVER_ERROR),
        fail_rate: 0.5,
        ..Faults::none()
    })
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
    let c = collector(Faults {
        status: Some(StatusCode::TOO_MANY_REQUESTS),
        retry_after: Some(1),
        ..Faults::none()
    })
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
    let c = collector(Faults {
        status: Some(StatusCode::TOO_MANY_REQUESTS),
        retry_after: Some(30),
        ..Faults::none()
    })
    .await;
    let outcomes = Outcomes::default();
    let retry = RetryPolicy {
        max_retry_after: Duration::from_secs(1),
        ..policy(3, ms(10))
    };
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
    let c = collector(Faults {
        status: Some(StatusCode::TOO_MANY_REQUESTS),
        retry_after: Some(secs),
        ..Faults::none()
    })
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
    until("the first batch failed", || handle.stats().failed == 1).await;
    // Queued while the sender waits; the flush interval (20 ms) would send them at once.
    drive_bounded(&app, 1..10).await;
    until("every hit failed", || handle.stats().failed == 10).await;
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
    let retry = RetryPolicy {
        max_retry_after: Duration::MAX,
        ..policy(0, ms(10))
    };
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

/// The collector sends a status line and part of a body, then closes the connection: the sender
/// can't know whether the hits were taken, retries to the bound and fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_mid_response() {
    let c = collector(Faults {
        close_mid_response: true,
        ..Faults::none()
    })
    .await;
    let outcomes = Outcomes::default();
    let ga = layer(
        &c.url(),
        Duration::from_secs(2),
        policy(2, ms(20)),
        &outcomes,
    );
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..20).await;
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(
        (s.sent, s.failed, s.retried),
        (0, 20, 2 * s.batches),
        "{s:?}"
    );
    for (ok, o) in outcomes.all() {
        assert!(!ok);
        assert_eq!(o.attempts, 3);
    }
    let counts = c.counts();
    assert_eq!(counts.requests, 3 * s.batches);
    assert_eq!(
        (counts.hits_seen, counts.hits_broken),
        (60, 60),
        "{counts:?}"
    );
    assert_collector_agrees(&c, &s, &outcomes);
    assert_payloads_valid(&c);
}

/// A broken answer, then a good one: sent once, accepted once; the broken attempts are the
/// possible duplicates, `hits_seen == hits_accepted + hits_broken`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_answer_then_recovery_may_duplicate() {
    check_broken_answer_then_recovery(|ga| ga).await;
}

/// [`broken_answer_then_recovery_may_duplicate`], with the layer given a transport by `with`.
async fn check_broken_answer_then_recovery(with: impl FnOnce(GaLayer) -> GaLayer) {
    let c = collector(Faults {
        close_mid_response: true,
        ..Faults::none()
    })
    .await;
    let outcomes = Outcomes::default();
    let ga = with(layer(
        &c.url(),
        Duration::from_secs(2),
        policy(4, ms(200)),
        &outcomes,
    ));
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..1).await;
    until("a broken answer", || c.counts().hits_broken >= 1).await;
    c.set_faults(Faults::none());
    assert!(handle.flush(MARGIN).await);

    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!((s.tracked, s.sent), (1, 1), "{s:?}");
    let counts = c.counts();
    assert_eq!(counts.hits_accepted, 1);
    assert!(counts.hits_broken >= 1);
    assert_eq!(counts.hits_seen, counts.hits_accepted + counts.hits_broken);
    assert_collector_agrees(&c, &s, &outcomes);
    assert_payloads_valid(&c);
}

/// Counts the attempts that got no answer, around the default transport.
struct Counting {
    inner: HyperTransport,
    errors: Arc<AtomicUsize>,
}

impl Transport for Counting {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        let errors = self.errors.clone();
        let sent = self.inner.send(request);
        Box::pin(async move {
            let r = sent.await;
            if r.is_err() {
                errors.fetch_add(1, Ordering::SeqCst);
            }
            r
        })
    }
}

/// The collector goes down while requests keep coming, then comes back on the same port: the
/// responses never notice, and the retries deliver every hit.
///
/// A batch whose request the collector had read when it went down may have been accepted but not
/// answered, then accepted again on retry: so `sent <= hits_accepted <= sent + hits in flight at
/// the stop` (at most `max_concurrency` batches of 25), and `hits_seen == hits_accepted` (no
/// fault injected, so every request read is accepted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_then_back_mid_run() {
    let c = collector(Faults::none()).await;
    let outcomes = Outcomes::default();
    let errors = Arc::new(AtomicUsize::new(0));
    let transport = Counting {
        inner: HyperTransport::new(4).unwrap(),
        errors: errors.clone(),
    };
    let retry = RetryPolicy {
        max_retries: 50,
        base_backoff: ms(20),
        max_backoff: ms(100),
        max_retry_after: Duration::from_secs(5),
    };
    let ga = layer(&c.url(), Duration::from_secs(2), retry, &outcomes).transport(transport);
    let handle = ga.handle();
    let app = router(ga);

    let driver = {
        let app = app.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                drive(&app, i..i + 1).await;
                tokio::time::sleep(ms(2)).await;
            }
        })
    };
    until("some hits are accepted", || c.counts().hits_accepted >= 20).await;
    c.stop().await;
    let tracked_at_stop = handle.stats().tracked;
    until("attempts are refused while down", || {
        errors.load(Ordering::SeqCst) >= 5
    })
    .await;
    until("requests keep coming while down", || {
        handle.stats().tracked >= tracked_at_stop + 30
    })
    .await;
    c.resume().await.unwrap();
    tokio::time::timeout(MARGIN, driver).await.unwrap().unwrap();

    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(
        (s.tracked, s.sent, s.failed, s.dropped),
        (300, 300, 0, 0),
        "{s:?}"
    );
    assert!(s.retried >= 1, "{s:?}");
    let counts = c.counts();
    assert_eq!(counts.hits_seen, counts.hits_accepted, "{counts:?}");
    assert!(counts.hits_accepted >= s.sent, "{counts:?}");
    assert!(counts.hits_accepted <= s.sent + 4 * 25, "{counts:?}");
    // Every attempt reached the collector or failed in the transport; an attempt the collector
    // had read when it went down did both.
    let (attempts, either) = (
        outcomes.attempts(),
        counts.requests + errors.load(Ordering::SeqCst) as u64,
    );
    assert!(
        attempts <= either && either <= attempts + 4,
        "{attempts} {either}"
    );
    assert_payloads_valid(&c);
    assert!(handle.shutdown(Duration::from_secs(2)).await);
}

/// The collector hangs under sustained load: the queue fills, hits are dropped and counted, and
/// what the sender holds stops growing.
///
/// The bound, from `src/sender/worker.rs`: the queue holds `queue_capacity` hits; the worker stops
/// taking hits off it once its batcher holds `max(25 · max_concurrency · 2, 256)`; and at most
/// `max_concurrency` batches of 25 are in flight. So
/// `pending <= queue_capacity + max(25 · max_concurrency · 2, 256) + 25 · max_concurrency`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_bound_holds_while_the_collector_hangs() {
    let c = Collector::start(CollectorConfig {
        faults: Faults {
            hang: true,
            ..Faults::none()
        },
        record: false,
        ..CollectorConfig::default()
    })
    .await
    .unwrap();
    let (capacity, concurrency) = (64u64, 2u64);
    let outcomes = Outcomes::default();
    let ga = layer(
        &c.url(),
        Duration::from_secs(60),
        RetryPolicy::none(),
        &outcomes,
    )
    .max_concurrency(concurrency as usize)
    .queue_capacity(capacity as usize);
    let handle = ga.handle();
    let app = router(ga);
    let hold = (25 * concurrency * 2).max(256);
    let bound = capacity + hold + 25 * concurrency;

    let total = 10_000u32;
    let mut max_pending = 0;
    let mut dropped_seen = Vec::new();
    for chunk in 0..total / 250 {
        drive_bounded(&app, chunk * 250..(chunk + 1) * 250).await;
        let s = handle.stats();
        assert!(
            s.pending <= bound,
            "pending {} > bound {bound}: {s:?}",
            s.pending
        );
        max_pending = max_pending.max(s.pending);
        dropped_seen.push(s.dropped);
        tokio::task::yield_now().await;
    }
    let s = handle.stats();
    assert_eq!(s.tracked, u64::from(total));
    assert_eq!(s.sent, 0);
    assert!(s.dropped >= u64::from(total) - bound, "{s:?}");
    assert!(
        max_pending >= capacity,
        "the queue never filled: {max_pending}"
    );
    // Dropping kept up with the load: it grew in every chunk once the queue was full.
    assert!(
        dropped_seen.windows(2).skip(2).all(|w| w[1] > w[0]),
        "{dropped_seen:?}"
    );

    assert!(!handle.shutdown(ms(200)).await);
    until("the abandoned hits are counted", || {
        handle.stats().pending == 0
    })
    .await;
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(
        (s.sent, s.failed, s.dropped),
        (0, 0, u64::from(total)),
        "{s:?}"
    );
    assert_eq!(c.counts().hits_accepted, 0);
    assert_eq!(c.counts().hits_invalid, 0);
}

/// A transport whose requests wait until the test opens the gate, then go to a recorder.
struct Gated {
    open: tokio::sync::watch::Receiver<bool>,
    inner: tower_ga::testing::RecordingTransport,
}

impl Transport for Gated {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        let mut open = self.open.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            let _ = open.wait_for(|o| *o).await;
            inner.send(request).await
        })
    }
}

/// While the queue is full, requests are not captured at all (the filter is never asked): each
/// is counted as dropped when its response comes. Once the sender takes hits again, requests are
/// captured again, and everything captured is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_sheds_requests_until_the_sender_takes_hits_again() {
    let (gate, open) = tokio::sync::watch::channel(false);
    let recorder = tower_ga::testing::RecordingTransport::new();
    let asked = Arc::new(AtomicUsize::new(0));
    let (capacity, concurrency) = (64u64, 2u64);
    let ga = GaLayer::new("G-SHED1")
        .api_secret("shed-secret")
        .transport(Gated {
            open,
            inner: recorder.clone(),
        })
        .queue_capacity(capacity as usize)
        .max_concurrency(concurrency as usize)
        .flush_interval(ms(20))
        .filter({
            let asked = asked.clone();
            move |_: &tower_ga::Hit| {
                asked.fetch_add(1, Ordering::SeqCst);
                true
            }
        });
    let handle = ga.handle();
    let app = router(ga);
    // What the queue, the sender's hold and its requests in flight can take (see
    // `queue_bound_holds_while_the_collector_hangs`).
    let bound = capacity + (25 * concurrency * 2).max(256) + 25 * concurrency;

    let total = 2_000u64;
    drive_bounded(&app, 0..total as u32).await;
    let captured = asked.load(Ordering::SeqCst) as u64;
    let s = handle.stats();
    assert_eq!((s.tracked, s.sent, s.failed), (total, 0, 0), "{s:?}");
    let held = s.pending;
    assert!((capacity..=bound).contains(&held), "{s:?}");
    // A captured hit that found the queue full was dropped and stopped the capture; the worker
    // restarts it only after taking a hit, so there are at most as many of those as held hits.
    let found_full = captured - held;
    assert!(found_full <= held, "{captured} captured, {s:?}");
    // Everything else was shed: counted as dropped, never captured.
    assert_eq!(s.dropped, (total - captured) + found_full, "{s:?}");
    assert!(total - captured >= total - 2 * bound, "{captured} captured");

    // The held requests go out; the worker takes hits again, and capture resumes (a burst that
    // fits in the queue).
    gate.send(true).unwrap();
    assert!(handle.flush(MARGIN).await);
    let before = asked.load(Ordering::SeqCst);
    let more = capacity - 1;
    drive_bounded(&app, total as u32..(total + more) as u32).await;
    assert_eq!(
        (asked.load(Ordering::SeqCst) - before) as u64,
        more,
        "capture resumed"
    );
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(s.tracked, total + more);
    assert_eq!(s.sent, recorder.ga4_events().len() as u64);
    // The held hits and the last burst were sent; the rest, shed or not, dropped.
    assert_eq!(s.sent, held + more, "{s:?}");
    assert_eq!(s.dropped, (total - captured) + found_full, "{s:?}");
}

/// A transport that never gets an answer, and counts the hits it was asked to send.
struct NoAnswer(Arc<AtomicUsize>);

impl Transport for NoAnswer {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        self.0.fetch_add(request.hits(), Ordering::SeqCst);
        Box::pin(std::future::ready(Err(TransportError::new(
            "connection refused",
        ))))
    }
}

/// While the collector is unreachable the sender pauses, then sends one batch's worth of hits as
/// a probe and takes no more until a batch is delivered: it doesn't encode the whole backlog only
/// to fail it, on what may be the application's core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_pause_the_sender_probes_with_one_batch() {
    let attempted = Arc::new(AtomicUsize::new(0));
    let retry = RetryPolicy {
        max_retries: 0,
        base_backoff: ms(10),
        max_backoff: ms(1500),
        max_retry_after: Duration::from_secs(5),
    };
    let ga = GaLayer::new("G-PROBE1")
        .api_secret("probe-secret")
        .transport(NoAnswer(attempted.clone()))
        .retry(retry)
        .queue_capacity(1000)
        .flush_interval(ms(20));
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..50).await;
    until("the first batches fail", || handle.stats().failed == 50).await;
    // The sender is paused: these wait in the queue.
    drive_bounded(&app, 50..650).await;
    until("the probe is sent", || handle.stats().failed > 50).await;
    // The probe failed and the sender paused again (1.5 s): the backlog stays queued. Without the
    // probe, all of it would have been taken and failed within milliseconds.
    tokio::time::sleep(ms(200)).await;
    let s = handle.stats();
    assert!(s.failed <= 50 + 25, "{s:?}");
    assert!(s.pending >= 600 - 25, "{s:?}");
    assert_eq!(attempted.load(Ordering::SeqCst) as u64, s.failed);
    // Shutdown still accounts for the backlog.
    handle.shutdown(ms(300)).await;
    until("everything is counted", || handle.stats().pending == 0).await;
    assert_accounted(&handle.stats());
}

/// The other transport, reqwest's, under the faults whose handling is the transport's own: a
/// refused connection is an error that is retried to the bound and doesn't name the API secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_through_reqwest() {
    check_refused(|ga| ga.transport(ReqwestTransport::default_client(4).unwrap())).await;
}

/// A broken answer through reqwest: an error, retried, then delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_answer_then_recovery_through_reqwest() {
    check_broken_answer_then_recovery(|ga| {
        ga.transport(ReqwestTransport::default_client(4).unwrap())
    })
    .await;
}

/// The default transport speaks TLS to an `https://` endpoint: pointed at the plain-HTTP
/// collector, every attempt fails in the handshake and is retried to the bound, the batch is
/// counted as failed, its error doesn't name the secret, and the collector accepts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_plain_http_collector_fails_in_the_handshake() {
    let c = collector(Faults::none()).await;
    let outcomes = Outcomes::default();
    let url = c.url().replacen("http://", "https://", 1);
    let ga = layer(&url, Duration::from_secs(2), policy(1, ms(20)), &outcomes);
    let handle = ga.handle();
    let app = router(ga);
    drive_bounded(&app, 0..2).await;
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!((s.sent, s.failed), (0, 2), "{s:?}");
    assert_eq!(c.counts().hits_accepted, 0);
    for (ok, o) in outcomes.all() {
        assert!(!ok);
        assert_eq!(o.attempts, 2, "{o:?}");
        assert_no_secret(o.error.as_deref());
    }
}
