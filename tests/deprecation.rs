//! `Deprecated`: the standard headers (RFC 9745 `Deprecation`, RFC 8594 `Sunset`, `Link`
//! rel="deprecation") on a real axum router, the GA4 param, and the usage table's list of
//! deprecated routes with who still calls them.

mod common;
use common::ga4::{collector, layer, one, settle};
use common::get_req;

use axum::routing::get;
use axum::{Extension, Router};
use tower_ga::markers::{DEPRECATION, SUNSET};
use tower_ga::Deprecated;

#[tokio::test]
async fn a_deprecated_route_says_so_to_its_callers_ga_and_the_usage_page() {
    let c = collector().await;
    let doc = serde_json::json!({"openapi": "3.0.3", "paths": {
        "/v1/export": {"get": {"deprecated": true}},
        "/v1/report": {"get": {"deprecated": true}},
        "/v2/export": {"get": {}}
    }});
    let ga = layer(&c).known_routes_openapi(&doc).build().unwrap();
    let handle = ga.handle();
    // Listed as deprecated from the document, before any call.
    let before: Vec<String> = handle
        .usage()
        .deprecated()
        .map(|r| r.route.clone())
        .collect();
    assert_eq!(before.len(), 2, "{before:?}");

    let v1 = Deprecated::since_ymd(2026, 1, 31)
        .sunset_ymd(2026, 6, 30)
        .link("https://api.test/docs/v2");
    let app = Router::new()
        .route("/v1/export", get(|| async { "csv" }).layer(v1))
        // A handler's own marker, and a `Link` of its own.
        .route(
            "/v1/report",
            get(|| async {
                (
                    Extension(Deprecated::since_ymd(2025, 12, 1)),
                    [("link", "</v1/report?page=2>; rel=\"next\"")],
                    "report",
                )
            }),
        )
        .route("/v2/export", get(|| async { "csv" }))
        .layer(ga)
        .route_service("/usage", handle.usage_service());

    let res = get_req(&app, "/v1/export", &[("authorization", "Bearer a")]).await;
    let h = res.headers();
    assert_eq!(h[&DEPRECATION], "@1769817600");
    assert_eq!(h[&SUNSET], "Tue, 30 Jun 2026 00:00:00 GMT");
    assert_eq!(h["link"], "<https://api.test/docs/v2>; rel=\"deprecation\"");
    get_req(&app, "/v1/export", &[("authorization", "Bearer b")]).await;

    let res = get_req(&app, "/v1/report", &[]).await;
    let h = res.headers();
    assert_eq!(h[&DEPRECATION], "@1764547200");
    assert!(h.get(&SUNSET).is_none());
    let links: Vec<_> = h.get_all("link").iter().collect();
    assert_eq!(links, ["</v1/report?page=2>; rel=\"next\""]);

    let res = get_req(&app, "/v2/export", &[]).await;
    assert!(res.headers().get(&DEPRECATION).is_none());

    let events = settle(&handle, &c).await;
    assert_eq!(
        one(&events, "/v1/report").param_u64("api_deprecated"),
        Some(1)
    );
    assert_eq!(one(&events, "/v2/export").param_u64("api_deprecated"), None);
    let export: Vec<_> = events
        .iter()
        .filter(|e| e.param_str("http_route") == Some("/v1/export"))
        .collect();
    assert_eq!(export.len(), 2);
    assert!(export
        .iter()
        .all(|e| e.param_u64("api_deprecated") == Some(1)));

    let u = handle.usage();
    let deprecated: Vec<_> = u.deprecated().collect();
    assert_eq!(deprecated.len(), 2);
    let export = deprecated.iter().find(|r| r.route == "/v1/export").unwrap();
    assert_eq!((export.calls, export.consumers), (2, 2));
    assert_eq!(export.deprecated_since, Some(1_769_817_600));
    assert_eq!(export.sunset, Some(1_782_777_600));
    assert!(!u
        .routes
        .iter()
        .any(|r| r.route == "/v2/export" && r.deprecated));

    let page = get_req(&app, "/usage", &[]).await;
    let html = axum::body::to_bytes(page.into_body(), 1 << 20)
        .await
        .unwrap();
    let html = String::from_utf8_lossy(&html);
    let section = &html[html
        .find("<section id=deprecated>")
        .expect("a deprecated section")..];
    assert!(
        section.contains("<code>GET /v1/export</code> still called: 2 calls"),
        "{html}"
    );
    assert!(section.contains("sunset 30 Jun 2026"), "{html}");
    // Deprecated routes come first, before the never-called list.
    assert!(html.find("id=deprecated").unwrap() < html.find("id=never").unwrap());
}
