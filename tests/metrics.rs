//! The `metrics` feature, read the way a fleet's Prometheus would: per-route usage (method,
//! template, status class) and the sender's counters in the rendered text. Its own test binary:
//! the recorder is the process's.

mod common;
use common::ga4::{collector, layer, settle, WAIT};
use common::get_req;

use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::test]
async fn per_route_usage_and_the_senders_counters_reach_prometheus() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let prometheus = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();

    let c = collector().await;
    let ga = layer(&c).known_routes([
        "GET /users/{userId}",
        "DELETE /users/{userId}",
        "GET /legacy",
    ]);
    let handle = ga.handle();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/fail",
            get(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "no") }),
        )
        .layer(ga);
    for path in ["/users/1", "/users/2", "/users/3", "/fail", "/nowhere/7"] {
        get_req(&app, path, &[]).await;
    }
    // Counted though GA never sees it (the default filter), and an invented method as OTHER.
    for method in ["HEAD", "M1"] {
        let req = http::Request::builder()
            .method(method)
            .uri("/users/4")
            .body(axum::body::Body::empty())
            .unwrap();
        tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
    }
    settle(&handle, &c).await;
    let want = [
        // A declared route's label is its declared template, as in the declared gauge.
        r#"tower_ga_requests_total{method="GET",route="/users/{userId}",status_class="2xx"} 3"#,
        r#"tower_ga_requests_total{method="HEAD",route="/users/{id}",status_class="2xx"} 1"#,
        r#"tower_ga_requests_total{method="OTHER",route="(any)",status_class="4xx"} 1"#,
        r#"tower_ga_route_declared{method="DELETE",route="/users/{userId}"} 1"#,
        r#"tower_ga_route_declared{method="GET",route="/legacy"} 1"#,
        r#"tower_ga_requests_total{method="GET",route="/fail",status_class="5xx"} 1"#,
        r#"tower_ga_requests_total{method="GET",route="(unmatched)",status_class="4xx"} 1"#,
        r#"tower_ga_hits_total{outcome="sent"} 6"#, // the HEAD is the filter's
    ];
    // The sender's counters are exported at most once a second: wait for them.
    let deadline = std::time::Instant::now() + WAIT;
    let mut text = prometheus.render();
    while !want.iter().all(|w| text.contains(w)) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Something for the sender to wake up for, and export.
        handle.flush(WAIT).await;
        text = prometheus.render();
    }
    for w in want {
        assert!(text.contains(w), "{w} missing from\n{text}");
    }
    assert!(text.contains("tower_ga_request_duration_seconds"), "{text}");
    // No raw path becomes a series.
    assert!(
        !text.contains("/users/1") && !text.contains("/nowhere"),
        "{text}"
    );
}
