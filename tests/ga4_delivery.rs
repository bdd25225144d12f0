//! GA4 end to end (real axum routers, a real collector on 127.0.0.1, real HTTP in between): how
//! hits go out: batched by client, on flush and shutdown, with the queue full or the collector
//! unreachable, with the hooks told of each batch, without waiting for the tick; and the layer
//! built outside a runtime or misconfigured.

mod common;
use common::ga4::{collector, layer, settle, WAIT};
use common::get_req;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;
use tower::ServiceExt;
use tower_ga::collector::{Collector, CollectorConfig, Faults};
use tower_ga::testing::RecordingTransport;
use tower_ga::{BatchOutcome, GaLayer, Handle, RetryPolicy};

/// "As long as it takes", said with `Duration::MAX`, must not overflow a deadline.
#[tokio::test]
async fn flush_and_shutdown_take_duration_max() {
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(&app, "/a", &[]).await;
    assert!(handle.flush(Duration::MAX).await);
    get_req(&app, "/a", &[]).await;
    assert!(handle.shutdown(Duration::MAX).await);
    assert_eq!(handle.stats().sent, 2);
}

#[tokio::test]
async fn events_are_batched_by_client() {
    let c = collector().await;
    // A long interval: only fullness and flush close batches.
    let ga = layer(&c).flush_interval(Duration::from_secs(3600));
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    for i in 0..30 {
        get_req(
            &app,
            &format!("/a?i={i}"),
            &[("authorization", "Bearer one")],
        )
        .await;
    }
    for i in 0..5 {
        get_req(
            &app,
            &format!("/a?i={i}"),
            &[("authorization", "Bearer two")],
        )
        .await;
    }
    let events = settle(&handle, &c).await;
    assert_eq!(events.len(), 35);
    let requests = c.requests();
    let mut sizes: Vec<usize> = requests.iter().map(|r| r.hits).collect();
    sizes.sort();
    assert_eq!(
        sizes,
        vec![5, 5, 25],
        "one client per request, at most 25 events"
    );
    for r in &requests {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let client = body["client_id"].as_str().unwrap();
        assert!(!client.is_empty());
        assert!(r.body.len() < tower_ga::ga4::MAX_BODY_BYTES);
    }
    assert_eq!(handle.stats().batches, 3);
}

#[tokio::test]
async fn flush_and_shutdown_deliver_everything() {
    let c = collector().await;
    let ga = layer(&c).flush_interval(Duration::from_secs(3600));
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    for i in 0..200 {
        let auth = format!("Bearer {}", i % 7);
        get_req(&app, "/a", &[("authorization", &auth)]).await;
    }
    assert_eq!(
        handle.stats().sent,
        0,
        "nothing is sent before the batches fill or a flush"
    );
    settle(&handle, &c).await;
    assert_eq!(handle.stats().sent, 200);
    for i in 0..20 {
        get_req(&app, &format!("/a?late={i}"), &[]).await;
    }
    assert!(handle.shutdown(Duration::from_secs(5)).await);
    let s = handle.stats();
    assert_eq!((s.sent, s.dropped, s.failed, s.pending), (220, 0, 0, 0));
    assert_eq!(c.counts().hits_accepted, 220);
    // After shutdown: still served, counted as dropped.
    assert_eq!(get_req(&app, "/a", &[]).await.status(), 200);
    let s = handle.stats();
    assert_eq!((s.tracked, s.dropped), (221, 1));
    // A second shutdown or flush returns at once.
    assert!(handle.flush(Duration::from_millis(100)).await);
}

#[tokio::test]
async fn full_queue_drops_are_counted_and_the_api_never_waits() {
    let c = Collector::start(CollectorConfig {
        faults: Faults {
            hang: true,
            ..Faults::default()
        },
        ..CollectorConfig::default()
    })
    .await
    .unwrap();
    let ga = layer(&c)
        .queue_capacity(8)
        .max_concurrency(1)
        .request_timeout(Duration::from_secs(30))
        .retry(RetryPolicy::none())
        .flush_interval(Duration::from_millis(1));
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    // Far more requests than the queue and the worker can hold while the collector hangs.
    let n = 2_000;
    for i in 0..n {
        let auth = format!("Bearer {i}");
        let r = get_req(&app, "/a", &[("authorization", &auth)]).await;
        assert_eq!(r.status(), 200);
    }
    // Every response came back while nothing was delivered: the request path doesn't wait.
    let s = handle.stats();
    assert_eq!(s.sent, 0);
    assert_eq!(s.tracked, n);
    assert!(s.dropped > 0, "{s:?}");
    // Bounded: the queue (8) plus what the worker holds (the queue's capacity clamped to
    // 256..=4096: 256) plus one batch in flight.
    assert!(s.pending <= 8 + 256 + 25, "{s:?}");
    // The collector did get the first batch and is sitting on it.
    for _ in 0..500 {
        if c.counts().hits_hung >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(c.counts().hits_hung >= 1);
    // A flush can't finish while the collector hangs, and returns by its deadline.
    let flushed = tokio::time::timeout(
        Duration::from_secs(5),
        handle.flush(Duration::from_millis(300)),
    )
    .await;
    assert_eq!(flushed, Ok(false));
    // Shutdown gives up at its deadline, and the books balance.
    let done = tokio::time::timeout(
        Duration::from_secs(5),
        handle.shutdown(Duration::from_millis(300)),
    )
    .await;
    assert_eq!(done, Ok(false));
    let s = handle.stats();
    assert_eq!(s.sent + s.dropped + s.failed, s.tracked, "{s:?}");
}

#[tokio::test]
async fn misconfiguration_passes_requests_through_untracked() {
    for ga in [
        GaLayer::new("not-an-id").api_secret("s"),
        GaLayer::new("G-TEST123"),
    ] {
        let handle = ga.handle();
        let app = Router::new().route("/a", post(|| async { "x" })).layer(ga);
        let req = http::Request::post("/a")
            .body(Body::from("payload"))
            .unwrap();
        let r = app.oneshot(req).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(handle.stats().tracked, 0);
        // Nothing can ever be sent: a flush says so.
        assert!(!handle.flush(Duration::from_millis(50)).await);
        assert!(matches!(handle.state(), tower_ga::SenderState::Disabled(_)));
    }
}

#[test]
fn the_layer_can_be_built_outside_a_runtime() {
    let rec = RecordingTransport::new();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .transport(rec.clone());
    let handle = ga.handle();
    let svc = tower::ServiceBuilder::new()
        .layer(ga)
        .service(tower::service_fn(|_req: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        }));
    // Started without any runtime; used from a current-thread runtime made afterwards.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        svc.oneshot(http::Request::get("/plain").body(()).unwrap())
            .await
            .unwrap();
        assert!(handle.flush(WAIT).await);
    });
    assert_eq!(rec.ga4_events().len(), 1);
}

#[tokio::test]
async fn hooks_report_each_batch() {
    let c = collector().await;
    let ok = Arc::new(AtomicUsize::new(0));
    let ok2 = ok.clone();
    let ga = layer(&c)
        .flush_interval(Duration::from_secs(3600))
        .on_success(move |o: &BatchOutcome| {
            ok2.fetch_add(o.hits, Ordering::SeqCst);
        });
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    for _ in 0..3 {
        get_req(&app, "/a", &[("authorization", "Bearer k")]).await;
    }
    settle(&handle, &c).await;
    assert_eq!(ok.load(Ordering::SeqCst), 3);

    // A permanent error: counted as failed, reported once per batch, not retried.
    let rec = RecordingTransport::answering(StatusCode::BAD_REQUEST);
    let failed = Arc::new(AtomicUsize::new(0));
    let f2 = failed.clone();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .transport(rec.clone())
        .on_failure(move |o: &BatchOutcome| {
            assert_eq!(o.status, Some(StatusCode::BAD_REQUEST));
            assert_eq!(o.attempts, 1);
            f2.fetch_add(o.hits, Ordering::SeqCst);
        });
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(&app, "/a", &[]).await;
    assert!(handle.flush(WAIT).await);
    assert_eq!(failed.load(Ordering::SeqCst), 1);
    assert_eq!(rec.requests().len(), 1);
    let s = handle.stats();
    assert_eq!((s.failed, s.sent, s.retried), (1, 0, 0));
}

#[tokio::test]
async fn many_clients_do_not_stall_the_sender_until_the_tick() {
    // The worker holds at most `queue_capacity` (here 300) encoded hits. When 100 clients fill
    // that with small open batches, it must send them now, not at the (hour-long) tick.
    let c = collector().await;
    let ga = layer(&c)
        .queue_capacity(300)
        .flush_interval(Duration::from_secs(3600));
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    for i in 0..300 {
        let auth = format!("Bearer {}", i % 100);
        get_req(&app, "/a", &[("authorization", &auth)]).await;
    }
    let s = until_sent(&handle, 300).await;
    assert_eq!(
        (s.sent, s.dropped),
        (300, 0),
        "sent without any flush: {s:?}"
    );
    settle(&handle, &c).await;
}

#[tokio::test]
async fn an_unreachable_collector_pauses_the_sender_instead_of_encoding_hits_bound_to_fail() {
    // Nothing listens on this port: every attempt is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .endpoint(format!("http://127.0.0.1:{port}"))
        .retry(RetryPolicy::none())
        .flush_interval(Duration::from_millis(10));
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(&app, "/a", &[]).await;
    for _ in 0..500 {
        if handle.stats().failed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(handle.stats().failed, 1);
    // For the next second (at least) the worker leaves new hits in the queue.
    for _ in 0..50 {
        get_req(&app, "/a", &[]).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = handle.stats();
    assert_eq!((s.batches, s.failed, s.pending), (1, 1, 50), "{s:?}");
    // A flush still takes and tries them all, and the books balance.
    assert!(handle.flush(WAIT).await);
    let s = handle.stats();
    assert_eq!(
        (s.tracked, s.failed, s.sent, s.dropped),
        (51, 51, 0, 0),
        "{s:?}"
    );
}

/// Waits (without flushing) until the sender has sent `n` hits, or `WAIT` passes.
async fn until_sent(handle: &Handle, n: u64) -> tower_ga::Stats {
    for _ in 0..1000 {
        if handle.stats().sent >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.stats()
}

#[tokio::test]
async fn a_hit_goes_out_on_its_own_after_the_sender_idled() {
    // After idling the sender looks at the queue only every 20 ms, while a 8 ms flush interval
    // checks batch ages every 2 ms: those checks must not keep postponing the look at the queue.
    let c = collector().await;
    let ga = layer(&c).flush_interval(Duration::from_millis(8));
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(&app, "/a", &[]).await;
    assert_eq!(until_sent(&handle, 1).await.sent, 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    get_req(&app, "/a", &[]).await;
    let s = until_sent(&handle, 2).await;
    assert_eq!((s.sent, s.batches), (2, 2), "sent without any flush: {s:?}");
    settle(&handle, &c).await;
}

#[tokio::test]
async fn a_busy_clients_batch_fills_instead_of_going_out_at_every_check() {
    // Batch ages are checked every quarter of the flush interval (here 500 ms); a batch goes out
    // when full or once its first hit has waited the whole interval, so one client's 25 hits
    // spread over more than one check still travel together.
    let c = collector().await;
    let ga = layer(&c).flush_interval(Duration::from_secs(2));
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    for i in 0..25 {
        get_req(&app, "/a", &[("authorization", "Bearer one")]).await;
        if i == 9 {
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
    }
    let s = until_sent(&handle, 25).await;
    assert_eq!((s.sent, s.batches), (25, 1), "{s:?}");
    settle(&handle, &c).await;
}
