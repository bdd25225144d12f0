//! The sender's memory bound holds however the application uses it: here, flushing over and over
//! while the collector hangs.

use std::time::Duration;

use axum::{routing::get, Router};
use tower_ga::collector::{Collector, CollectorConfig, Faults};
use tower_ga::GaLayer;

mod common;

const QUEUE: usize = 256;
/// Hits the sender holds in batches before it stops taking more: `queue_capacity` clamped to
/// 256..=4096.
const HOLD: usize = 256;
const IN_FLIGHT: usize = 2;

/// Every 20 requests a flush with a short deadline, as an application flushing on a timer would:
/// each flush returns `false` (nothing can be delivered), and what the sender holds never grows
/// past the queue, the held batches and the requests in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frequent_flushes_while_the_collector_hangs_stay_within_the_bound() {
    let collector = Collector::start(CollectorConfig::default().faults(Faults::none().hang(true)))
        .await
        .unwrap();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .endpoint(collector.url())
        .queue_capacity(QUEUE)
        .max_concurrency(IN_FLIGHT)
        .request_timeout(Duration::from_secs(120))
        .flush_interval(Duration::from_secs(3600));
    let handle = ga.handle();
    let app = Router::new()
        .route("/items/{id}", get(|| async { "ok" }))
        .layer(ga);
    let bound = (QUEUE + HOLD + IN_FLIGHT * tower_ga::ga4::MAX_EVENTS) as u64;
    for round in 0..40 {
        for i in 0..20 {
            // Consumers of their own, so that batches hold few events each.
            let token = format!("Bearer t{}", round * 20 + i);
            let uri = format!("/items/{i}");
            common::get_req(&app, &uri, &[("authorization", &token)]).await;
        }
        assert!(!handle.flush(Duration::from_millis(20)).await);
        let s = handle.stats();
        assert!(s.pending <= bound, "round {round}: {s:?}, bound {bound}");
    }
    let s = handle.stats();
    assert_eq!(s.tracked, 800, "{s:?}");
    assert!(!handle.shutdown(Duration::from_millis(200)).await);
    let s = handle.stats();
    assert_eq!((s.pending, s.sent), (0, 0), "{s:?}");
    assert_eq!(s.dropped + s.failed, s.tracked, "{s:?}");
}
