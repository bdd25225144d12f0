//! GA4 end to end (real axum routers, a real collector on 127.0.0.1, real HTTP in between): how
//! hits go out: batched by client, on flush and shutdown, with the queue full or the collector
//! unreachable, with the hooks told of each batch, without waiting for the tick; and the layer
//! built outside a runtime or misconfigured.

mod common;
use common::ga4::{collector, layer, settle, WAIT};
use common::{get_req, wait_until};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;
use tower::ServiceExt;
use tower_ga::collector::{Collector, CollectorConfig, Faults};
use tower_ga::testing::RecordingTransport;
use tower_ga::{
    BatchOutcome, BoxFuture, GaLayer, Handle, HyperTransport, Outgoing, Reply, RetryPolicy,
    Transport, TransportError,
};

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
    // 24 hits for each of 7 clients: no batch fills.
    for i in 0..168 {
        let auth = format!("Bearer {}", i % 7);
        get_req(&app, "/a", &[("authorization", &auth)]).await;
    }
    // The sender has taken every hit (the usage table counts them as it does) and sent none.
    wait_until(
        "the sender takes every hit",
        || handle.usage().calls,
        |&n| n == 168,
    )
    .await;
    assert_eq!(
        handle.stats().sent,
        0,
        "nothing is sent before the batches fill or a flush"
    );
    for i in 168..200 {
        let auth = format!("Bearer {}", i % 7);
        get_req(&app, "/a", &[("authorization", &auth)]).await;
    }
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
    let c = Collector::start(CollectorConfig::default().faults(Faults::none().hang(true)))
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
    wait_until(
        "the collector holds a batch",
        || c.counts(),
        |n| n.hits_hung >= 1,
    )
    .await;
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

/// The default transport, logging when it was asked to send how many hits.
#[derive(Clone)]
struct Logged {
    inner: HyperTransport,
    log: Arc<Mutex<Vec<(Instant, usize)>>>,
}

impl Transport for Logged {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        self.log
            .lock()
            .unwrap()
            .push((Instant::now(), request.hits()));
        self.inner.send(request)
    }
}

#[tokio::test]
async fn an_unreachable_collector_pauses_the_sender_instead_of_encoding_hits_bound_to_fail() {
    // Nothing listens on this port: every attempt is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let transport = Logged {
        inner: HyperTransport::new(4).unwrap(),
        log: Arc::default(),
    };
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .endpoint(format!("http://127.0.0.1:{port}"))
        .transport(transport.clone())
        .retry(RetryPolicy::none())
        .flush_interval(Duration::from_millis(10));
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(&app, "/a", &[]).await;
    wait_until("the first hit fails", || handle.stats(), |s| s.failed == 1).await;
    // For the next second (at least) the worker leaves new hits in the queue: its next attempt
    // comes a second or more after the one that failed, however long anything else took.
    for _ in 0..50 {
        get_req(&app, "/a", &[]).await;
    }
    let log = wait_until(
        "the sender tries again",
        || transport.log.lock().unwrap().clone(),
        |log| log.len() >= 2,
    )
    .await;
    let gap = log[1].0 - log[0].0;
    assert!(gap >= Duration::from_secs(1), "tried again after {gap:?}");
    // A flush still takes and tries them all, and the books balance.
    assert!(handle.flush(WAIT).await);
    let s = handle.stats();
    assert_eq!(
        (s.tracked, s.failed, s.sent, s.dropped),
        (51, 51, 0, 0),
        "{s:?}"
    );
}

/// Waits (without flushing) until the sender has sent `n` hits.
async fn until_sent(handle: &Handle, n: u64) -> tower_ga::Stats {
    wait_until(
        &format!("{n} hits are sent"),
        || handle.stats(),
        |s| s.sent >= n,
    )
    .await
}

#[tokio::test]
async fn a_hit_goes_out_on_its_own_after_the_last_one_went() {
    // Once its last batch is out the sender has nothing open and nothing queued, and slows its
    // looks at the queue: a hit arriving then still goes out without a flush.
    let c = collector().await;
    let ga = layer(&c).flush_interval(Duration::from_millis(8));
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(&app, "/a", &[]).await;
    assert_eq!(until_sent(&handle, 1).await.sent, 1);
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
    let interval = Duration::from_secs(2);
    let c = collector().await;
    let ga = layer(&c).flush_interval(interval);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    // Before the first hit, so before its batch opened.
    let start = Instant::now();
    for i in 0..25 {
        get_req(&app, "/a", &[("authorization", "Bearer one")]).await;
        if i == 9 {
            // Bounds the wait for what must not happen: a check (every 500 ms) sending the
            // batch of 10.
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
    }
    until_sent(&handle, 25).await;
    // A batch short of 25 went out only if its first hit had waited the interval, which a slow
    // machine may make it do: the verdict holds however long the requests took.
    for a in c.arrivals() {
        assert!(
            a.hits == 25 || a.at >= start + interval,
            "{} hits went out {:?} after the first request",
            a.hits,
            a.at - start
        );
    }
    settle(&handle, &c).await;
}
