//! GA4 end to end: real axum routers, a real collector on 127.0.0.1, real HTTP in between.

mod common;
use common::get_req;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::{HeaderValue, StatusCode};
use tower::ServiceExt;
use tower_ga::collector::{Collector, CollectorConfig, Faults};
use tower_ga::testing::{RecordedEvent, RecordingTransport};
use tower_ga::{
    BatchOutcome, ClientIdStrategy, GaLayer, Handle, Hit, IpMode, NoTrack, PageTitle, RetryPolicy,
    UserId,
};

const WAIT: Duration = Duration::from_secs(10);

async fn collector() -> Collector {
    Collector::start_local().await.expect("collector starts")
}

fn layer(c: &Collector) -> GaLayer {
    GaLayer::new("G-TEST123")
        .api_secret("test-secret")
        .endpoint(c.url())
}

/// Flushes, then checks what every test must hold: the books balance, the collector accepted
/// exactly what was sent, and every payload is valid.
async fn settle(handle: &Handle, c: &Collector) -> Vec<RecordedEvent> {
    assert!(handle.flush(WAIT).await, "flush delivers everything");
    let s = handle.stats();
    assert_eq!(s.sent + s.dropped + s.failed, s.tracked, "{s:?}");
    assert_eq!(s.pending, 0);
    assert_eq!(c.counts().hits_accepted, s.sent, "{s:?} {:?}", c.counts());
    for r in c.requests() {
        assert!(
            r.messages.is_empty(),
            "invalid payload: {:?}\n{}",
            r.messages,
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert!(
            r.query.contains("measurement_id=G%2DTEST123")
                || r.query.contains("measurement_id=G-TEST123")
        );
        assert!(r.query.contains("api_secret=test%2Dsecret"), "{}", r.query);
    }
    c.ga4_events()
}

fn one<'a>(events: &'a [RecordedEvent], location_suffix: &str) -> &'a RecordedEvent {
    let found: Vec<_> = events
        .iter()
        .filter(|e| {
            e.param_str("page_location")
                .is_some_and(|l| l.ends_with(location_suffix))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one event for {location_suffix}: {events:#?}"
    );
    found[0]
}

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
    let client = reqwest::Client::new();
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
    let unmatched = one(&events, "/no/such/path/with-an-id-4711");
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
async fn user_id_from_route_layer_handler_or_outer_middleware() {
    async fn outer(mut req: Request, next: Next) -> Response {
        req.extensions_mut().insert(UserId::new("from-outer"));
        next.run(req).await
    }
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    let app = Router::new()
        .route(
            "/layer",
            get(|| async { "x" }).layer(UserId::new("from-layer")),
        )
        .route(
            "/handler",
            get(|| async { (Extension(UserId::new("from-handler")), "x") }),
        )
        .route("/outer", get(|| async { "x" }))
        .layer(ga)
        .layer(middleware::from_fn(outer));
    for p in ["/layer", "/handler", "/outer"] {
        get_req(&app, p, &[]).await;
    }
    let events = settle(&handle, &c).await;
    // The outer middleware sets a user for every request; the response's markers win.
    assert_eq!(
        one(&events, "/layer").user_id.as_deref(),
        Some("from-layer")
    );
    assert_eq!(
        one(&events, "/handler").user_id.as_deref(),
        Some("from-handler")
    );
    assert_eq!(
        one(&events, "/outer").user_id.as_deref(),
        Some("from-outer")
    );
}

#[tokio::test]
async fn secrets_never_reach_the_collector() {
    let c = collector().await;
    let ga = layer(&c).redact_param("tenant");
    let handle = ga.handle();
    let app = Router::new().route("/s", get(|| async { "x" })).layer(ga);
    get_req(
        &app,
        "/s?access_token=SECRET1&api_key=SECRET2&Password=SECRET3&tenant=SECRET4",
        &[
            (
                "referer",
                "https://u:SECRET6@example.com/cb?code=SECRET7&ok=1",
            ),
            ("authorization", "Bearer SECRET8"),
        ],
    )
    .await;
    let events = settle(&handle, &c).await;
    let e = &events[0];
    assert_eq!(
        e.param_str("page_location"),
        Some("http://api.example.com/s?access_token=REDACTED&api_key=REDACTED&Password=REDACTED&tenant=REDACTED")
    );
    assert_eq!(
        e.param_str("page_referrer"),
        Some("https://example.com/cb?code=REDACTED&ok=1")
    );
    for r in c.requests() {
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains("SECRET"), "{body}");
    }
}

#[tokio::test]
async fn strip_query_and_host_override() {
    let c = collector().await;
    let ga = layer(&c)
        .strip_query(true)
        .host_override("API.example.org")
        .default_scheme_https(true);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(&app, "/a?page=2", &[]).await;
    let events = settle(&handle, &c).await;
    assert_eq!(
        events[0].param_str("page_location"),
        Some("https://api.example.org/a")
    );
}

async fn serve_with_connect_info(app: Router) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
    });
    (addr, stop)
}

#[tokio::test]
async fn client_ip_is_sent_only_when_opted_in() {
    for (mode, expected) in [
        (IpMode::Off, None),
        (IpMode::Truncated, Some("127.0.0.0")),
        (IpMode::Full, Some("127.0.0.1")),
    ] {
        let c = collector().await;
        let ga = layer(&c).send_client_ip(mode);
        let handle = ga.handle();
        let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
        let (addr, stop) = serve_with_connect_info(app).await;
        reqwest::get(format!("http://{addr}/a")).await.unwrap();
        let events = settle(&handle, &c).await;
        assert_eq!(events[0].ip_override.as_deref(), expected, "{mode:?}");
        let body = String::from_utf8_lossy(&c.requests()[0].body).to_string();
        if mode == IpMode::Off {
            assert!(!body.contains("ip_override"), "{body}");
        }
        let _ = stop.send(());
    }
}

#[tokio::test]
async fn user_agent_can_be_switched_off() {
    let c = collector().await;
    let ga = layer(&c).send_user_agent(false);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(&app, "/a", &[("user-agent", "curl/8.5.0")]).await;
    let events = settle(&handle, &c).await;
    assert_eq!(events[0].user_agent, None);
}

#[tokio::test]
async fn long_and_non_ascii_values_are_truncated_to_valid_payloads() {
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    let long_title: String = "é".repeat(500);
    let app = Router::new()
        .route(
            "/t",
            get(move || {
                let t = long_title.clone();
                async move { (Extension(PageTitle::new(t)), "t") }
            }),
        )
        .route("/{*rest}", get(|| async { "x" }))
        .layer(ga);
    let long_path = format!("/{}", "%C3%A9".repeat(2000));
    let long_query = format!("/a?{}", "x=1&".repeat(3000));
    let ua = "Mozilla/5.0 ".repeat(200);
    get_req(
        &app,
        &long_path,
        &[
            ("user-agent", &ua),
            (
                "referer",
                &format!("https://r.example/{}", "y".repeat(5000)),
            ),
        ],
    )
    .await;
    get_req(&app, &long_query, &[]).await;
    get_req(&app, "/t", &[]).await;
    let events = settle(&handle, &c).await;
    assert!(handle.flush(WAIT).await);
    for r in c.requests() {
        assert!(r.messages.is_empty(), "{:?}", r.messages);
    }
    for e in c.ga4_events() {
        for (k, v) in &e.params {
            if let Some(s) = v.as_str() {
                assert!(
                    s.chars().count() <= 100,
                    "{k} has {} chars",
                    s.chars().count()
                );
            }
        }
        assert!(e.user_agent.as_deref().unwrap_or("").chars().count() <= tower_ga::ga4::MAX_ID_LEN);
    }
    // The long query is dropped before the path is cut, and no escape is left broken.
    assert_eq!(
        one(&events, "/t")
            .param_str("page_title")
            .unwrap()
            .chars()
            .count(),
        100
    );
    let q = events
        .iter()
        .find(|e| e.param_str("page_location").unwrap().ends_with("/a"))
        .unwrap();
    assert_eq!(
        q.param_str("page_location"),
        Some("http://api.example.com/a")
    );
    let p = events
        .iter()
        .find(|e| e.param_str("page_location").unwrap().contains("%C3"))
        .unwrap()
        .param_str("page_location")
        .unwrap();
    assert!(p.len() <= 100 && p.ends_with("%A9"), "{p}");
}

#[tokio::test]
async fn client_ids_are_stable_per_consumer_and_reveal_nothing() {
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    let app = Router::new()
        .route("/a", get(|| async { "x" }))
        .route("/u", get(|| async { (Extension(UserId::new("u-1")), "x") }))
        .layer(ga);
    for _ in 0..3 {
        get_req(
            &app,
            "/a?who=alice",
            &[("authorization", "Bearer alice-token")],
        )
        .await;
        get_req(&app, "/a?who=bob", &[("authorization", "Bearer bob-token")]).await;
    }
    get_req(&app, "/u?n=1", &[("authorization", "Bearer alice-token")]).await;
    get_req(&app, "/u?n=2", &[("authorization", "Bearer bob-token")]).await;
    get_req(&app, "/a?who=anon1", &[]).await;
    get_req(&app, "/a?who=anon2", &[]).await;
    let events = settle(&handle, &c).await;
    let ids = |suffix: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.param_str("page_location").unwrap().ends_with(suffix))
            .map(|e| e.client_id.clone())
            .collect()
    };
    let alice = ids("who=alice");
    let bob = ids("who=bob");
    assert_eq!(alice.len(), 3);
    assert!(alice.iter().all(|i| i == &alice[0]));
    assert!(bob.iter().all(|i| i == &bob[0]));
    assert_ne!(alice[0], bob[0]);
    // A user id outranks the credential: the same user from two credentials is one client.
    assert_eq!(ids("n=1"), ids("n=2"));
    assert_ne!(ids("n=1")[0], alice[0]);
    // Anonymous requests without an IP get random ids.
    assert_ne!(ids("who=anon1"), ids("who=anon2"));
    for e in &events {
        let (a, b) = e.client_id.split_once('.').expect("GA4 form");
        assert!(a.parse::<u64>().unwrap() > 0 && b.parse::<u64>().unwrap() > 0);
        assert!(!e.client_id.contains("alice") && !e.client_id.contains("token"));
    }
    // One consumer's requests share a session.
    let sessions: Vec<u64> = events
        .iter()
        .filter(|e| e.param_str("page_location").unwrap().ends_with("who=alice"))
        .map(|e| e.param_u64("session_id").unwrap())
        .collect();
    assert!(sessions.iter().all(|s| *s == sessions[0]));
}

#[tokio::test]
async fn client_id_keys_differ_per_layer_unless_shared() {
    let c = collector().await;
    let mk = |key: Option<&str>| {
        let l = layer(&c);
        match key {
            Some(k) => l.client_id_key(k),
            None => l,
        }
    };
    let mut ids = Vec::new();
    for key in [None, None, Some("shared"), Some("shared")] {
        let ga = mk(key);
        let handle = ga.handle();
        let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
        get_req(&app, "/a", &[("authorization", "Bearer same")]).await;
        assert!(handle.flush(WAIT).await);
        ids.push(c.ga4_events().last().unwrap().client_id.clone());
    }
    assert_ne!(ids[0], ids[1], "random per-process keys");
    assert_eq!(ids[2], ids[3], "a shared key agrees across instances");
}

#[tokio::test]
async fn random_per_request_strategy_and_custom_hooks() {
    let c = collector().await;
    let ga = layer(&c).client_id_strategy(ClientIdStrategy::RandomPerRequest);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(&app, "/a", &[("authorization", "Bearer same")]).await;
    get_req(&app, "/a", &[("authorization", "Bearer same")]).await;
    let events = settle(&handle, &c).await;
    assert_ne!(events[0].client_id, events[1].client_id);

    let c = collector().await;
    let ga = layer(&c)
        .client_id_with(|hit: &Hit| {
            hit.path()
                .strip_prefix("/tenant/")
                .map(|t| format!("{}.1", t.len()))
        })
        .title_with(|hit: &Hit| {
            Some(format!(
                "{} (status {})",
                hit.method(),
                hit.status().as_u16()
            ))
        });
    let handle = ga.handle();
    let app = Router::new()
        .route("/tenant/{t}", get(|| async { "x" }))
        .layer(ga);
    get_req(&app, "/tenant/abcd", &[]).await;
    let events = settle(&handle, &c).await;
    assert_eq!(events[0].client_id, "4.1");
    assert_eq!(events[0].param_str("page_title"), Some("GET (status 200)"));
}

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

/// A secret read from a file keeps its newline; it must not reach the URL.
#[tokio::test]
async fn the_api_secret_is_trimmed() {
    let c = collector().await;
    let ga = layer(&c).api_secret("test-secret\n");
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(&app, "/a", &[]).await;
    settle(&handle, &c).await;
    let query = &c.requests()[0].query;
    assert!(query.ends_with("api_secret=test%2Dsecret"), "{query}");
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
    // Bounded: the queue (8) plus what the worker holds (max(25*1*2, 256)) plus one batch in flight.
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
        assert!(handle.flush(Duration::from_millis(50)).await);
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

#[tokio::test(flavor = "current_thread")]
async fn plain_tower_services_without_axum_routes() {
    let rec = RecordingTransport::new();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
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
    let odd = one(&events, "/x");
    assert_eq!(odd.param_str("page_title"), Some(tower_ga::UNMATCHED_TITLE));
    assert_eq!(odd.param_str("http_method"), Some("PURGE"));
    assert_eq!(odd.param_str("page_location"), Some("http://localhost/x"));
    for r in rec.requests() {
        assert!(tower_ga::validate::ga4(r.body()).is_empty());
        assert!(r.url().contains("api_secret=s"));
        assert!(
            !format!("{r:?}").contains("api_secret=s&") && format!("{r:?}").contains("REDACTED")
        );
    }
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

/// A dual-stack socket (`[::]`) gives IPv4 clients as `::ffff:a.b.c.d`: they are IPv4 clients.
#[tokio::test]
async fn an_ipv4_client_of_a_dual_stack_socket_is_sent_as_ipv4() {
    for (mode, expected) in [
        (IpMode::Truncated, "203.0.113.0"),
        (IpMode::Full, "203.0.113.7"),
    ] {
        let c = collector().await;
        let ga = layer(&c).send_client_ip(mode);
        let handle = ga.handle();
        let app = Router::new()
            .route("/a", get(|| async { "x" }))
            .layer(ga)
            .layer(middleware::from_fn(|mut req: Request, next: Next| async {
                let mapped = "::ffff:203.0.113.7".parse().unwrap();
                req.extensions_mut().insert(tower_ga::ClientIp(mapped));
                next.run(req).await
            }));
        get_req(&app, "/a", &[]).await;
        let events = settle(&handle, &c).await;
        assert_eq!(events[0].ip_override.as_deref(), Some(expected), "{mode:?}");
    }
}

#[tokio::test]
async fn trusted_proxy_headers() {
    let c = collector().await;
    let ga = layer(&c).trust_proxy(true).send_client_ip(IpMode::Full);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(
        &app,
        "/a",
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "public.example.com"),
            ("x-forwarded-for", "203.0.113.9, 10.0.0.1"),
        ],
    )
    .await;
    let events = settle(&handle, &c).await;
    assert_eq!(
        events[0].param_str("page_location"),
        Some("https://public.example.com/a")
    );
    assert_eq!(events[0].ip_override.as_deref(), Some("203.0.113.9"));

    // Untrusted (the default): the same headers are ignored.
    let c = collector().await;
    let ga = layer(&c).send_client_ip(IpMode::Full);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(
        &app,
        "/a",
        &[
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-for", "203.0.113.9"),
        ],
    )
    .await;
    let events = settle(&handle, &c).await;
    assert_eq!(
        events[0].param_str("page_location"),
        Some("http://api.example.com/a")
    );
    assert_eq!(events[0].ip_override, None);
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
