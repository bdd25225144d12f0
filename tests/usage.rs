//! The usage table and page (real axum routers, the local collector over loopback): declared
//! routes never called, undeclared ones flagged, unmatched requests in one row, bounded under
//! 100,000 distinct paths, and the JSON and HTML answers.

mod common;
use common::ga4::{collector, layer, settle, WAIT};
use common::get_req;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;
use tower_ga::collector::{Collector, CollectorConfig};
use tower_ga::usage::UsageSnapshot;
use tower_ga::{ConfigError, GaLayer};

fn app(ga: GaLayer) -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|| async { "user" }).delete(|| async { "gone" }),
        )
        .route("/orders", get(|| async { "orders" }))
        .route("/x&y", get(|| async { "odd" }))
        .layer(ga)
}

#[tokio::test]
async fn declared_routes_never_called_undeclared_ones_and_the_unmatched_row() {
    let c = collector().await;
    let doc = serde_json::json!({"openapi": "3.0.3", "paths": {
        "/orders": {"get": {}, "post": {}},
        "/legacy/export": {"get": {}}
    }});
    let ga = layer(&c)
        .known_routes(["GET /users/{id}", "DELETE /users/{id}"])
        .known_routes_openapi(&doc);
    let handle = ga.handle();
    let app = app(ga);
    for path in [
        "/users/1", "/users/2", "/users/3", "/orders", "/x&y", "/nope", "/nope/2",
    ] {
        get_req(&app, path, &[("authorization", "Bearer a")]).await;
    }
    settle(&handle, &c).await;
    let u = handle.usage();
    let find = |m: &str, r: &str| {
        u.routes
            .iter()
            .find(|x| x.method == m && x.route == r)
            .unwrap()
    };
    // Most called first.
    assert_eq!(
        (u.routes[0].route.as_str(), u.routes[0].calls),
        ("/users/{id}", 3)
    );
    assert_eq!(find("GET", "/users/{id}").status.s2xx, 3);
    assert_eq!(find("GET", "/users/{id}").consumers, 1);
    assert!(find("GET", "/users/{id}").latency_ms.is_some());
    let never: Vec<(String, String)> = u
        .never_called()
        .map(|r| (r.method.clone(), r.route.clone()))
        .collect();
    assert_eq!(never.len(), 3, "{never:?}");
    for (m, r) in [
        ("DELETE", "/users/{id}"),
        ("POST", "/orders"),
        ("GET", "/legacy/export"),
    ] {
        assert!(never.contains(&(m.into(), r.into())), "{m} {r}: {never:?}");
        assert_eq!(find(m, r).calls, 0);
    }
    assert!(find("GET", "/orders").in_inventory && !find("GET", "/orders").never_called);
    assert!(!find("GET", "/x&y").in_inventory, "undeclared, flagged");
    let unmatched = u.unmatched.as_ref().unwrap();
    assert_eq!(
        (
            unmatched.route.as_str(),
            unmatched.calls,
            unmatched.status.s4xx
        ),
        ("(unmatched)", 2, 2)
    );
    assert_eq!(u.calls, 7);
    assert_eq!(u.dropped, 0);
    // Never a raw path.
    let json = serde_json::to_string(&u).unwrap();
    assert!(
        !json.contains("/users/1") && !json.contains("/nope"),
        "{json}"
    );

    assert!(matches!(
        layer(&c).known_routes(["GET users"]).build(),
        Err(ConfigError::InvalidRoute(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_stays_bounded_under_100000_distinct_paths() {
    let c = Collector::start(CollectorConfig::default().record(false).validate(false))
        .await
        .unwrap();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .endpoint(c.url())
        .queue_capacity(200_000);
    let handle = ga.handle();
    let app = app(ga);
    for i in 0..100_000u32 {
        let path = if i % 2 == 0 {
            format!("/users/{i}")
        } else {
            format!("/scan/{i}")
        };
        get_req(&app, &path, &[]).await;
    }
    assert!(handle.flush(WAIT * 6).await);
    let u = handle.usage();
    // One row for the template, one for everything unmatched: nothing per raw path.
    assert_eq!(u.routes.len(), 1, "{:?}", u.routes);
    assert_eq!(u.routes[0].calls, 50_000);
    assert_eq!(u.unmatched.as_ref().unwrap().calls, 50_000);
    assert_eq!(u.calls + u.dropped, 100_000);
}

#[tokio::test]
async fn the_usage_service_answers_json_and_a_self_contained_page() {
    let c = collector().await;
    let ga = layer(&c).known_routes(["GET /orders", "GET /legacy/export"]);
    let handle = ga.handle();
    let app = app(ga).route_service("/internal/usage", handle.usage_service());
    for path in ["/orders", "/orders", "/x&y"] {
        get_req(&app, path, &[]).await;
    }
    settle(&handle, &c).await;
    let get = |accept: &'static str| {
        let app = app.clone();
        async move {
            let req = http::Request::get("/internal/usage")
                .header("accept", accept)
                .body(Body::empty())
                .unwrap();
            let res = app.oneshot(req).await.unwrap();
            let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
            let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            (kind, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let (kind, json) = get("application/json").await;
    assert_eq!(kind, "application/json");
    let u: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(u["routes"][0]["route"], "/orders");
    assert_eq!(u["routes"][0]["calls"], 2);
    let _ = std::marker::PhantomData::<UsageSnapshot>;
    let (kind, html) = get("text/html").await;
    assert!(kind.starts_with("text/html"));
    assert!(html.contains("Never called since"), "{html}");
    assert!(html.contains("<code>GET /legacy/export</code>"), "{html}");
    assert!(html.contains("<code>/orders</code>"));
    // Route text is escaped, and nothing is fetched from elsewhere.
    assert!(
        html.contains("/x&amp;y") && !html.contains("/x&y"),
        "{html}"
    );
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
    // The page's own requests aren't API traffic: the layer is inside.
    assert_eq!(handle.usage().calls, 3);
}
