//! GA4 end to end (real axum routers, a real collector on 127.0.0.1, real HTTP in between): what
//! each event reports (page, title, route, status, timing, extra params), which requests the
//! filters and `NoTrack` skip, and plain tower services reporting their own routes.

mod common;
use common::ga4::{collector, layer, one, settle, WAIT};
use common::get_req;

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use http::{HeaderValue, StatusCode};
use tower::ServiceExt;
use tower_ga::testing::RecordingTransport;
use tower_ga::{GaLayer, Hit, NoTrack, PageTitle, UserId};

#[tokio::test]
async fn the_documented_usage_works_end_to_end() {
    async fn user() -> &'static str {
        "user"
    }
    async fn health() -> &'static str {
        "ok"
    }
    async fn me() -> (Extension<UserId>, &'static str) {
        (Extension(UserId::new("42")), "me")
    }
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    let app = Router::new()
        .route(
            "/users/{id}",
            get(user).layer(PageTitle::new("User detail")),
        )
        .route("/health", get(health).layer(NoTrack))
        .route("/me", get(me))
        .route("/items", get(|| async { "items" }))
        .layer(ga);

    // Serve it for real over TCP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let client = common::http_client();
    for path in ["/users/7", "/health", "/me", "/items?page=2"] {
        let r = client
            .get(format!("http://{addr}{path}"))
            .header("user-agent", "curl/8.5.0")
            .header("referer", "https://example.com/")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    assert!(handle.shutdown(Duration::from_secs(2)).await);

    let events = c.ga4_events();
    assert_eq!(events.len(), 3, "health is not tracked: {events:#?}");
    let user = one(&events, "/users/7");
    assert_eq!(user.name, "page_view");
    assert_eq!(
        user.param_str("page_location"),
        Some(format!("http://{addr}/users/7").as_str())
    );
    assert_eq!(user.param_str("page_title"), Some("User detail"));
    assert_eq!(
        user.param_str("page_referrer"),
        Some("https://example.com/")
    );
    assert_eq!(user.param_str("http_method"), Some("GET"));
    assert_eq!(user.param_str("http_route"), Some("/users/{id}"));
    assert_eq!(user.param_u64("http_status_code"), Some(200));
    assert_eq!(user.param_str("data_source"), Some("api"));
    assert!(user.param_u64("server_latency_ms").is_some());
    assert!(user.param_u64("session_id").unwrap() > 0);
    assert!(user.param_u64("engagement_time_msec").unwrap() >= 1);
    assert_eq!(user.user_agent.as_deref(), Some("curl/8.5.0"));
    assert_eq!(user.ip_override, None, "no client IP unless opted in");
    let me = one(&events, "/me");
    assert_eq!(me.user_id.as_deref(), Some("42"));
    assert_eq!(me.param_str("page_title"), Some("GET /me"));
    assert_eq!(
        one(&events, "/items?page=2").param_str("page_title"),
        Some("GET /items")
    );

    // After shutdown, hits are dropped and counted, never lost silently.
    let s = handle.stats();
    assert_eq!((s.tracked, s.sent, s.dropped, s.failed), (3, 3, 0, 0));
}

#[tokio::test]
async fn timestamps_are_when_the_request_arrived() {
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "a" })).layer(ga);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    get_req(&app, "/a", &[]).await;
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let events = settle(&handle, &c).await;
    let t = events[0].timestamp_micros.unwrap();
    assert!(before <= t && t <= after, "{before} <= {t} <= {after}");
}

#[tokio::test]
async fn titles_from_annotation_template_nesting_and_unmatched() {
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    let api = Router::new()
        .route("/orders/{order_id}", get(|| async { "order" }))
        .route(
            "/named",
            get(|| async { (Extension(PageTitle::new("From handler")), "n") }),
        );
    let app = Router::new()
        .nest("/v1", api)
        .route(
            "/users/{id}",
            get(|| async { "u" }).layer(PageTitle::new("User detail")),
        )
        .layer(ga);
    get_req(&app, "/v1/orders/9", &[]).await;
    get_req(&app, "/v1/named", &[]).await;
    get_req(&app, "/users/3", &[]).await;
    let r = get_req(&app, "/no/such/path/with-an-id-4711", &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let events = settle(&handle, &c).await;
    assert_eq!(
        one(&events, "/v1/orders/9").param_str("page_title"),
        Some("GET /v1/orders/{order_id}")
    );
    assert_eq!(
        one(&events, "/v1/orders/9").param_str("http_route"),
        Some("/v1/orders/{order_id}")
    );
    assert_eq!(
        one(&events, "/v1/named").param_str("page_title"),
        Some("From handler")
    );
    assert_eq!(
        one(&events, "/users/3").param_str("page_title"),
        Some("User detail")
    );
    // Reported under the constant path, never its own.
    let unmatched = one(&events, "/(unmatched)");
    assert_eq!(
        unmatched.param_str("page_title"),
        Some(tower_ga::UNMATCHED_TITLE)
    );
    assert_eq!(unmatched.param_str("http_route"), None);
    assert_eq!(unmatched.param_u64("http_status_code"), Some(404));
}

#[tokio::test]
async fn fallback_handlers_count_as_unmatched_and_can_be_skipped() {
    let c = collector().await;
    let ga = layer(&c).skip_unmatched(true);
    let handle = ga.handle();
    let app = Router::new()
        .route("/a", get(|| async { "a" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "custom 404") })
        .layer(ga);
    get_req(&app, "/a", &[]).await;
    let r = get_req(&app, "/wp-login.php", &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let events = settle(&handle, &c).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].param_str("page_title"), Some("GET /a"));

    // Without skipping, the fallback's hit carries the constant title, never the path or the
    // internal `__private__axum` route.
    let c = collector().await;
    let ga = layer(&c).unmatched_title("Not found");
    let handle = ga.handle();
    let app = Router::new()
        .route("/a", get(|| async { "a" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "custom 404") })
        .layer(ga);
    get_req(&app, "/wp-login.php", &[]).await;
    let events = settle(&handle, &c).await;
    assert_eq!(events[0].param_str("page_title"), Some("Not found"));
    assert_eq!(events[0].param_str("http_route"), None);
}

#[tokio::test]
async fn no_track_as_route_layer_response_extension_or_outer_request_extension() {
    async fn outer(mut req: Request, next: Next) -> Response {
        if req.uri().path() == "/outer-skip" {
            req.extensions_mut().insert(NoTrack);
        }
        next.run(req).await
    }
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    let app = Router::new()
        .route("/layer-skip", get(|| async { "x" }).layer(NoTrack))
        .route("/handler-skip", get(|| async { (Extension(NoTrack), "x") }))
        .route("/outer-skip", get(|| async { "x" }))
        .route("/tracked", get(|| async { "x" }))
        .layer(ga)
        .layer(middleware::from_fn(outer));
    for p in ["/layer-skip", "/handler-skip", "/outer-skip", "/tracked"] {
        assert_eq!(get_req(&app, p, &[]).await.status(), 200);
    }
    let events = settle(&handle, &c).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    one(&events, "/tracked");
    assert_eq!(handle.stats().tracked, 1);
}

#[tokio::test]
async fn default_filter_skips_probes_and_preflight_and_filters_can_be_replaced() {
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/a",
            get(|| async { "x" })
                .options(|| async { "" })
                .head(|| async { "" }),
        )
        .layer(ga);
    get_req(&app, "/healthz", &[]).await;
    let opt = http::Request::options("/a")
        .header("host", "h")
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(opt).await.unwrap();
    let head = http::Request::head("/a")
        .header("host", "h")
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(head).await.unwrap();
    get_req(&app, "/a", &[]).await;
    let events = settle(&handle, &c).await;
    assert_eq!(events.len(), 1);

    let c = collector().await;
    let ga = layer(&c).filter(|hit: &Hit| hit.status().is_server_error());
    let handle = ga.handle();
    let app = Router::new()
        .route("/ok", get(|| async { "x" }))
        .route(
            "/boom",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR.into_response() }),
        )
        .layer(ga);
    get_req(&app, "/ok", &[]).await;
    get_req(&app, "/boom", &[]).await;
    let events = settle(&handle, &c).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].param_u64("http_status_code"), Some(500));
}

#[tokio::test(flavor = "current_thread")]
async fn plain_tower_services_without_axum_routes() {
    let rec = RecordingTransport::new();
    let secret = "PlainSecret42";
    let ga = GaLayer::new("G-TEST123")
        .api_secret(secret)
        .transport(rec.clone());
    let handle = ga.handle();
    let svc = tower::ServiceBuilder::new()
        .layer(ga)
        .service(tower::service_fn(|req: http::Request<()>| async move {
            let mut res = http::Response::new(());
            // A router of one's own reports its template through the response.
            if req.uri().path().starts_with("/things/") {
                res.extensions_mut()
                    .insert(tower_ga::MatchedRoute::new("/things/:id"));
            }
            Ok::<_, std::convert::Infallible>(res)
        }));
    svc.clone()
        .oneshot(http::Request::get("/things/5").body(()).unwrap())
        .await
        .unwrap();
    // Odd method, no Host, non-UTF-8 header: served, tracked, valid.
    let mut odd = http::Request::builder()
        .method(http::Method::from_bytes(b"PURGE").unwrap())
        .uri("/x")
        .body(())
        .unwrap();
    odd.headers_mut().insert(
        "user-agent",
        HeaderValue::from_bytes(b"bot\xff\xfe").unwrap(),
    );
    svc.oneshot(odd).await.unwrap();
    assert!(handle.flush(WAIT).await);
    let events = rec.ga4_events();
    assert_eq!(
        one(&events, "/things/5").param_str("page_title"),
        Some("GET /things/:id")
    );
    // Unmatched: reported under the constant path.
    let odd = one(&events, "/(unmatched)");
    assert_eq!(odd.param_str("page_title"), Some(tower_ga::UNMATCHED_TITLE));
    // A method outside RFC 9110's is reported as `OTHER`: clients can't mint GA pages with it.
    assert_eq!(odd.param_str("http_method"), Some("OTHER"));
    assert_eq!(
        odd.param_str("page_location"),
        Some("http://localhost/(unmatched)")
    );
    for r in rec.requests() {
        assert!(tower_ga::validate::ga4(r.body()).is_empty());
        assert!(
            r.url().ends_with(&format!("&api_secret={secret}")),
            "{}",
            r.url()
        );
        // What a log would show: the secret redacted.
        let shown = format!("{r:?}");
        assert!(
            !shown.contains(secret) && shown.contains("api_secret=REDACTED"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn extra_params_and_data_source() {
    let c = collector().await;
    let ga = layer(&c)
        .param("app_version", "1.4.2")
        .param("shard", 3)
        .data_source("billing-api")
        .build()
        .unwrap();
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(&app, "/a", &[]).await;
    let events = settle(&handle, &c).await;
    assert_eq!(events[0].param_str("app_version"), Some("1.4.2"));
    assert_eq!(events[0].param_u64("shard"), Some(3));
    assert_eq!(events[0].param_str("data_source"), Some("billing-api"));
}
