//! GA4's 2025 fields end to end (real axum routers, the real collector on 127.0.0.1): consent,
//! engagement time, the page params' lengths, location from CDN headers, device, per-request
//! params and user properties. Every payload is checked by the collector (`settle`).

mod common;
use common::ga4::{collector, layer, one, settle};
use common::get_req;

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tower_ga::collector::Collector;
use tower_ga::Consent;

fn app(ga: tower_ga::GaLayer) -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .layer(ga)
}

/// The top level of each request the collector received, as JSON.
fn bodies(c: &Collector) -> Vec<serde_json::Value> {
    c.requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn consent_is_denied_unless_configured() {
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    get_req(&app(ga), "/users/1", &[]).await;
    settle(&handle, &c).await;
    let denied = serde_json::json!({"ad_user_data": "DENIED", "ad_personalization": "DENIED"});
    assert_eq!(bodies(&c)[0]["consent"], denied);
    assert!(bodies(&c)[0].get("non_personalized_ads").is_none());

    let c = collector().await;
    let ga = layer(&c).consent(Consent::Granted, Consent::Denied);
    let handle = ga.handle();
    get_req(&app(ga), "/users/1", &[]).await;
    settle(&handle, &c).await;
    let mixed = serde_json::json!({"ad_user_data": "GRANTED", "ad_personalization": "DENIED"});
    assert_eq!(bodies(&c)[0]["consent"], mixed);

    let c = collector().await;
    let ga = layer(&c).consent(Consent::Omitted, Consent::Omitted);
    let handle = ga.handle();
    get_req(&app(ga), "/users/1", &[]).await;
    settle(&handle, &c).await;
    assert!(bodies(&c)[0].get("consent").is_none());
}

/// The engagement time is the time since the consumer's previous request: a lower bound that
/// holds however slow the machine is (the second request starts at least 50 ms after the first).
#[tokio::test]
async fn engagement_is_the_time_since_the_consumers_previous_request() {
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    let app = app(ga);
    let me = [("authorization", "Bearer consumer-1")];
    get_req(&app, "/users/1", &me).await;
    // The time measured, not a wait for an event: at least 50 ms pass between the two requests.
    tokio::time::sleep(Duration::from_millis(50)).await;
    get_req(&app, "/users/2", &me).await;
    get_req(&app, "/users/3", &[("authorization", "Bearer consumer-2")]).await;
    let events = settle(&handle, &c).await;
    let engaged = |path| {
        one(&events, path)
            .param_u64("engagement_time_msec")
            .unwrap()
    };
    assert_eq!(engaged("/users/1"), 1, "a session's first request");
    assert!(
        (50..=60_000).contains(&engaged("/users/2")),
        "{}",
        engaged("/users/2")
    );
    assert_eq!(engaged("/users/3"), 1, "another consumer's first request");
}

#[tokio::test]
async fn page_params_take_their_documented_lengths_unless_conservative() {
    let query = format!("q={}", "x".repeat(2000));
    let long_path = format!("/users/{}", "7".repeat(1500));
    let referrer = format!("https://example.com/{}", "r".repeat(1000));
    for conservative in [false, true] {
        let c = collector().await;
        let ga = layer(&c).conservative_limits(conservative);
        let handle = ga.handle();
        let app = app(ga);
        get_req(
            &app,
            &format!("/users/1?{query}"),
            &[("referer", &referrer)],
        )
        .await;
        get_req(&app, &long_path, &[]).await;
        let events = settle(&handle, &c).await;
        let chars =
            |e: &tower_ga::testing::RecordedEvent, p| e.param_str(p).unwrap().chars().count();
        let (location, referrer_limit) = if conservative {
            (100, 100)
        } else {
            (1000, 420)
        };
        let cut = events
            .iter()
            .find(|e| chars(e, "page_location") == location);
        assert!(cut.is_some(), "{conservative}: {events:#?}");
        let first = one(&events, "/users/1");
        assert_eq!(chars(first, "page_referrer"), referrer_limit);
    }
}

#[tokio::test]
async fn location_device_and_per_request_params_reach_the_collector() {
    use axum::Extension;
    use tower_ga::{EventParams, GeoHeaders, Hit};
    let c = collector().await;
    let ga = layer(&c)
        .trust_proxy(true)
        .geo_headers([GeoHeaders::CLOUDFRONT])
        .device_header(http::HeaderName::from_static("x-client-sdk"))
        .capture_header(http::HeaderName::from_static("x-api-version"))
        .params_with(|hit: &Hit| {
            EventParams::new().param("api_version", hit.header("x-api-version").unwrap_or("none"))
        })
        .user_property("deployment", "eu-1");
    let handle = ga.handle();
    let app = Router::new()
        .route(
            "/users/{id}",
            get(|| async {
                let p = EventParams::new()
                    .param("plan", "pro")
                    .param("_bad", 1)
                    .user_property("tier", "gold");
                (Extension(p), "user")
            }),
        )
        .layer(ga);
    let headers = [
        ("cloudfront-viewer-country", "US"),
        ("cloudfront-viewer-country-region", "CA"),
        ("cloudfront-viewer-city", "San Jose"),
        ("cf-ipcountry", "FR"), // another CDN's header, forged: not read
        ("x-client-sdk", "acme-python/2.1.0"),
        ("x-api-version", "2025-01"),
    ];
    get_req(&app, "/users/1", &headers).await;
    let events = settle(&handle, &c).await;
    let body = &bodies(&c)[0];
    assert_eq!(
        body["user_location"],
        serde_json::json!({"city": "San Jose", "region_id": "US-CA", "country_id": "US"})
    );
    assert_eq!(
        body["device"],
        serde_json::json!({"browser": "acme-python", "browser_version": "2.1.0"})
    );
    assert_eq!(body["user_properties"]["tier"]["value"], "gold");
    assert_eq!(body["user_properties"]["deployment"]["value"], "eu-1");
    assert!(body.get("ip_override").is_none());
    let e = one(&events, "/users/1");
    assert_eq!(e.param_str("plan"), Some("pro"));
    assert_eq!(e.param_str("api_version"), Some("2025-01"));
    assert!(e.params.get("_bad").is_none());
}

#[tokio::test]
async fn location_headers_are_ignored_without_a_trusted_proxy() {
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    get_req(&app(ga), "/users/1", &[("cf-ipcountry", "FR")]).await;
    settle(&handle, &c).await;
    assert!(bodies(&c)[0].get("user_location").is_none());
}
