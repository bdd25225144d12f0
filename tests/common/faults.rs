//! The fault matrix's rig, for `tests/faults_*.rs`: a real axum `Router` with `GaLayer` in front
//! of a local collector that is slow, hung, refusing connections, failing with 5xx / 400 / 429 +
//! `Retry-After`, breaking off its answers, or going down and coming back mid-run.
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

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_ga::collector::{Collector, CollectorConfig, Faults};
use tower_ga::{BatchOutcome, GaLayer, RetryPolicy, Stats};

/// Upper bound for anything that should take well under a second: generous, for a noisy 2-core
/// machine. Only ever used to turn a hang into a failure.
pub const MARGIN: Duration = Duration::from_secs(15);

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn policy(max_retries: u32, base_backoff: Duration) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(max_retries)
        .base_backoff(base_backoff)
        .max_backoff(base_backoff * 4)
        .max_retry_after(Duration::from_secs(5))
        // The matrix exercises every retry, those after an attempt that may have arrived too
        // (`faults_unconfirmed.rs` checks the default, which doesn't make them).
        .retry_unconfirmed(true)
}

/// What became of each batch, from the success and failure hooks.
#[derive(Clone, Default)]
pub struct Outcomes(Arc<Mutex<Vec<(bool, BatchOutcome)>>>);

impl Outcomes {
    pub fn all(&self) -> Vec<(bool, BatchOutcome)> {
        self.0.lock().unwrap().clone()
    }

    /// HTTP requests made for all batches, retries included.
    pub fn attempts(&self) -> u64 {
        self.all().iter().map(|(_, o)| u64::from(o.attempts)).sum()
    }
}

/// A layer pointed at `endpoint`, with short timeouts and the hooks recording outcomes.
pub fn layer(
    endpoint: &str,
    timeout: Duration,
    retry: RetryPolicy,
    outcomes: &Outcomes,
) -> GaLayer {
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

pub fn router(layer: GaLayer) -> Router {
    Router::new().route("/items/{id}", get(item)).layer(layer)
}

/// Sends `/items/{i}` for each `i` through the router (three consumers, so a few batches per
/// flush interval) and checks every response is the handler's.
pub async fn drive(app: &Router, ids: Range<u32>) {
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
pub async fn drive_bounded(app: &Router, ids: Range<u32>) {
    tokio::time::timeout(MARGIN, drive(app, ids))
        .await
        .expect("API responses waited on the collector");
}

pub async fn collector(faults: Faults) -> Collector {
    Collector::start(CollectorConfig::default().faults(faults))
        .await
        .unwrap()
}

/// Every tracked hit ended exactly once.
pub fn assert_accounted(s: &Stats) {
    assert_eq!(s.sent + s.dropped + s.failed, s.tracked, "{s:?}");
    assert_eq!(s.pending, 0, "{s:?}");
}

/// What `drive` and `layer` send that must never reach the collector's bodies or an error
/// message: the `token` parameter's values (`tok-secret-{i}`), the consumers' credentials
/// (`Bearer consumer-{n}`), and the API secret, which belongs in the URL only.
pub const SECRETS: [&str; 3] = ["tok-secret-", "consumer-", "faults-secret"];

/// The first of `SECRETS` that `text` shows, as sent or percent-encoded (the form a URL gives
/// it: `faults%2Dsecret`).
pub fn leaked(text: &str) -> Option<&'static str> {
    let text = text.to_ascii_lowercase();
    SECRETS
        .into_iter()
        .find(|s| text.contains(s) || text.contains(&s.replace('-', "%2d")))
}

/// Every payload the collector read, whatever it answered, breaks no documented rule; every
/// body it kept (those of accepted requests) carries the token redacted and no secret.
pub fn assert_payloads_valid(c: &Collector) {
    let counts = c.counts();
    assert_eq!(counts.hits_invalid, 0, "{counts:?}");
    for r in c.requests() {
        assert!(r.messages.is_empty(), "{:?}: {:?}", r.path, r.messages);
        let body = String::from_utf8_lossy(&r.body);
        assert_eq!(leaked(&body), None, "{body}");
        // The check looked where the token was.
        assert!(body.contains("token=REDACTED"), "{body}");
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
pub fn assert_collector_agrees(c: &Collector, s: &Stats, outcomes: &Outcomes) {
    let counts = c.counts();
    assert_eq!(counts.hits_accepted, s.sent, "{counts:?} {s:?}");
    assert_eq!(counts.requests, outcomes.attempts(), "{counts:?}");
    assert_eq!(outcomes.all().len() as u64, s.batches);
}
