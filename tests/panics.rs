//! User code that panics on the sender's thread (hooks, a transport) must not take the sender
//! down: every hit stays counted, and the hits after it are still delivered.

mod common;
use common::get_req;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use tower_ga::collector::Collector;
use tower_ga::testing::RecordingTransport;
use tower_ga::{
    BatchOutcome, BoxFuture, GaLayer, Handle, Hit, Outgoing, Reply, Transport, TransportError,
};

const WAIT: Duration = Duration::from_secs(10);

fn app(ga: GaLayer) -> Router {
    Router::new().route("/a", get(|| async { "x" })).layer(ga)
}

/// Flushes, then checks that every tracked hit was sent and none is pending.
async fn all_sent(handle: &Handle, tracked: u64) {
    assert!(handle.flush(WAIT).await, "flush delivers everything");
    let s = handle.stats();
    assert_eq!(
        (s.tracked, s.sent, s.pending),
        (tracked, tracked, 0),
        "{s:?}"
    );
}

#[tokio::test]
async fn a_title_hook_that_panics_costs_its_hit_the_title_only() {
    let c = Collector::start_local().await.unwrap();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .endpoint(c.url())
        .title_with(|hit: &Hit| match hit.query() {
            Some("boom") => panic!("a hook with a bug"),
            _ => Some("Titled".to_owned()),
        });
    let handle = ga.handle();
    let app = app(ga);
    get_req(&app, "/a?boom", &[]).await;
    for _ in 0..10 {
        get_req(&app, "/a", &[]).await;
    }
    all_sent(&handle, 11).await;
    let events = c.ga4_events();
    let titles: Vec<_> = events
        .iter()
        .map(|e| e.param_str("page_title").unwrap_or_default().to_owned())
        .collect();
    // The panicking hit falls back to the route's title; the others have the hook's.
    assert_eq!(titles.iter().filter(|t| *t == "Titled").count(), 10);
    assert_eq!(
        titles.iter().filter(|t| *t == "GET /a").count(),
        1,
        "{titles:?}"
    );
}

#[tokio::test]
async fn client_id_and_outcome_hooks_that_panic_leave_the_sender_running() {
    let c = Collector::start_local().await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .endpoint(c.url())
        .client_id_with(|_: &Hit| -> Option<String> { panic!("always") })
        .on_success(move |_: &BatchOutcome| {
            counted.fetch_add(1, Ordering::Relaxed);
            panic!("always")
        });
    let handle = ga.handle();
    let app = app(ga);
    for round in 1..=2 {
        for _ in 0..5 {
            get_req(&app, "/a", &[("authorization", "Bearer one")]).await;
        }
        // Still alive after the first round's panics: the second round is delivered too.
        all_sent(&handle, 5 * round).await;
    }
    assert_eq!(c.counts().hits_accepted, 10);
    assert!(
        calls.load(Ordering::Relaxed) >= 2,
        "on_success ran for each flush"
    );
}

#[tokio::test]
async fn the_legacy_protocols_client_id_hook_is_guarded_too() {
    let c = Collector::start_local().await.unwrap();
    let ga =
        GaLayer::new("UA-1-1")
            .endpoint(c.url())
            .client_id_with(|hit: &Hit| -> Option<String> {
                if hit.query() == Some("boom") {
                    panic!("a hook with a bug")
                }
                None
            });
    let handle = ga.handle();
    let app = app(ga);
    get_req(&app, "/a?boom", &[]).await;
    for _ in 0..5 {
        get_req(&app, "/a", &[]).await;
    }
    all_sent(&handle, 6).await;
    assert_eq!(c.counts().ua_hits, 6);
}

/// A user's transport (a mock, say) that panics on its first request, then answers 204.
struct PanicsOnce {
    fired: AtomicBool,
    inner: RecordingTransport,
}

impl Transport for PanicsOnce {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        if !self.fired.swap(true, Ordering::SeqCst) {
            panic!("a transport with a bug");
        }
        self.inner.send(request)
    }
}

#[tokio::test]
async fn a_transport_that_panics_fails_its_batch_and_the_rest_go_out() {
    let recorder = RecordingTransport::new();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let seen = failures.clone();
    // Only the flush closes batches: one per consumer, however slow the machine.
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .flush_interval(Duration::from_secs(3600))
        .transport(PanicsOnce {
            fired: AtomicBool::new(false),
            inner: recorder.clone(),
        })
        .on_failure(move |o: &BatchOutcome| seen.lock().unwrap().push(o.clone()));
    let handle = ga.handle();
    let app = app(ga);
    // Three consumers: three batches, one of which meets the panic.
    for token in ["a", "b", "c"] {
        for _ in 0..4 {
            get_req(&app, "/a", &[("authorization", &format!("Bearer {token}"))]).await;
        }
    }
    assert!(handle.flush(WAIT).await, "every batch has an outcome");
    let s = handle.stats();
    assert_eq!(
        (s.tracked, s.sent, s.failed, s.pending),
        (12, 8, 4, 0),
        "{s:?}"
    );
    assert_eq!(recorder.ga4_events().len(), 8);
    let failure = {
        let failures = failures.lock().unwrap();
        assert_eq!(failures.len(), 1);
        failures[0].clone()
    };
    assert_eq!(failure.hits, 4);
    assert_eq!(failure.status, None::<StatusCode>);
    assert!(failure.error.as_deref().unwrap().contains("panicked"));

    // And later hits still go out.
    get_req(&app, "/a", &[]).await;
    assert!(handle.flush(WAIT).await);
    assert_eq!(handle.stats().sent, 9);
}

/// A filter runs on the request path: one that panics must not fail the request or drop the
/// connection. Its hit is not reported; the others are.
#[tokio::test]
async fn a_filter_that_panics_fails_no_request() {
    let c = Collector::start_local().await.unwrap();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .endpoint(c.url())
        .filter(|hit: &Hit| {
            if hit.query() == Some("boom") {
                panic!("a filter with a bug")
            }
            true
        });
    let handle = ga.handle();
    let app = app(ga);
    for _ in 0..3 {
        assert_eq!(get_req(&app, "/a?boom", &[]).await.status(), StatusCode::OK);
    }
    for _ in 0..5 {
        get_req(&app, "/a", &[]).await;
    }
    all_sent(&handle, 5).await;
    assert_eq!(c.counts().hits_accepted, 5);
}

/// `flush` and `shutdown` on a tokio runtime built without timers: they answer, by the sender's
/// own deadline, instead of panicking.
#[test]
fn flush_and_shutdown_work_on_a_runtime_without_timers() {
    let recorder = RecordingTransport::new();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .transport(recorder.clone());
    let handle = ga.handle();
    let app = app(ga);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        get_req(&app, "/a", &[]).await;
        assert!(handle.flush(WAIT).await);
        assert!(handle.shutdown(WAIT).await);
    });
    assert_eq!(recorder.ga4_events().len(), 1);
}

/// With a configuration that can never send, `flush` says so.
#[tokio::test]
async fn flush_says_false_when_nothing_can_ever_be_sent() {
    let ga = GaLayer::new("G-TEST123"); // no API secret
    let handle = ga.handle();
    assert!(
        handle.flush(WAIT).await,
        "no service yet: nothing was queued"
    );
    let app = app(ga);
    assert_eq!(get_req(&app, "/a", &[]).await.status(), StatusCode::OK);
    assert!(matches!(handle.state(), tower_ga::SenderState::Disabled(_)));
    assert!(!handle.flush(Duration::from_millis(10)).await);
}
