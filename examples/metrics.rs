//! The `metrics` feature with Prometheus: the API's per-route usage and the sender's counters on
//! `/metrics`, beside what goes to GA (here a local collector, so nothing leaves the machine).
//!
//! ```text
//! cargo run --example metrics --features metrics    # then: curl http://127.0.0.1:3001/metrics
//! ```

use axum::{routing::get, Router};
use metrics_exporter_prometheus::PrometheusBuilder;
use tower_ga::collector::Collector;
use tower_ga::GaLayer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Any `metrics` exporter works; this one renders Prometheus text on demand.
    let recorder = PrometheusBuilder::new().build_recorder();
    let prometheus = recorder.handle();
    metrics::set_global_recorder(recorder)?;

    let collector = Collector::start_local().await?;
    let ga = GaLayer::new("G-DEMO000001")
        .api_secret("demo-secret")
        .endpoint(collector.url())
        .build()?;
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/orders", get(|| async { "orders" }))
        .layer(ga)
        // Outside the layer: scrapes aren't API traffic.
        .route("/metrics", get(move || async move { prometheus.render() }));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    println!(
        "API and metrics on http://{}/metrics",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
