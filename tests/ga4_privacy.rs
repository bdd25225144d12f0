//! GA4 end to end (real axum routers, a real collector on 127.0.0.1, real HTTP in between): what
//! never reaches the collector (secrets in the query, the referrer and the credentials), what does
//! only when asked (the client's address; behind a trusted proxy, its headers) or can be switched
//! off (the user agent), and long values cut down to valid payloads.

mod common;
use common::ga4::{collector, layer, one, settle, WAIT};
use common::get_req;

use std::net::SocketAddr;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::routing::get;
use axum::{Extension, Router};
use tower_ga::{ConfigError, GaLayer, IpMode, PageTitle};

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
        common::http_client()
            .get(format!("http://{addr}/a"))
            .send()
            .await
            .unwrap();
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
                // GA4's collection limits: 100, the page params 1000, 420 and 300.
                let limit = tower_ga::ga4::value_limit(k, 100);
                assert!(
                    s.chars().count() <= limit,
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
        tower_ga::ga4::MAX_PAGE_TITLE_LEN
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
    assert!(
        p.len() <= tower_ga::ga4::MAX_PAGE_LOCATION_LEN && p.ends_with("%A9"),
        "{p}"
    );
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
    // Two proxies: the client's address is the second entry from the right.
    let ga = layer(&c).trusted_proxies(2).send_client_ip(IpMode::Full);
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

    // One proxy that appends: what the client forged on the left is never read, not for the
    // address (so not for the client id either) nor for the host.
    let c = collector().await;
    let ga = layer(&c).trust_proxy(true).send_client_ip(IpMode::Full);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(
        &app,
        "/a",
        &[
            ("x-forwarded-host", "evil.example, public.example.com"),
            ("x-forwarded-for", "6.6.6.6, 203.0.113.9"),
        ],
    )
    .await;
    let events = settle(&handle, &c).await;
    assert_eq!(
        events[0].param_str("page_location"),
        Some("http://public.example.com/a")
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
async fn a_route_marker_chooses_its_location_path_over_the_global_setting() {
    use tower_ga::LocationFromRoute;
    let routes = |ga: tower_ga::GaLayer| {
        Router::new()
            .route("/plain/{id}", get(|| async { "x" }))
            .route(
                "/templated/{token}",
                get(|| async { "x" }).layer(LocationFromRoute(true)),
            )
            .route(
                "/raw/{id}",
                get(|| async { "x" }).layer(LocationFromRoute(false)),
            )
            .layer(ga)
    };
    for global in [false, true] {
        let c = collector().await;
        let ga = layer(&c).location_from_route(global);
        let handle = ga.handle();
        let app = routes(ga);
        for path in ["/plain/7", "/templated/s3cr3t-t0ken", "/raw/9"] {
            get_req(&app, path, &[]).await;
        }
        let events = settle(&handle, &c).await;
        let plain = if global { "/plain/{id}" } else { "/plain/7" };
        one(&events, plain);
        one(&events, "/templated/{token}");
        one(&events, "/raw/9");
        for r in c.requests() {
            assert!(!String::from_utf8_lossy(&r.body).contains("s3cr3t"));
        }
    }
}

#[tokio::test]
async fn proxies_trusted_by_network_are_believed_only_from_inside_it() {
    // The peer is 127.0.0.1: inside the first list, outside the second.
    for (ranges, location, ip) in [
        ("127.0.0.0/8", "https://public.example.com/a", "203.0.113.9"),
        ("10.0.0.0/8", "http://127.0.0.1/a", "127.0.0.1"),
    ] {
        let c = collector().await;
        let ga = layer(&c)
            .trusted_proxy_ranges([ranges, "10.0.0.0/8"])
            .send_client_ip(IpMode::Full);
        let handle = ga.handle();
        let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
        let (addr, stop) = serve_with_connect_info(app).await;
        common::http_client()
            .get(format!("http://{addr}/a"))
            .header("host", "127.0.0.1")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "public.example.com")
            .header("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")
            .send()
            .await
            .unwrap();
        let events = settle(&handle, &c).await;
        assert_eq!(
            events[0].param_str("page_location"),
            Some(location),
            "{ranges}"
        );
        assert_eq!(events[0].ip_override.as_deref(), Some(ip), "{ranges}");
        let _ = stop.send(());
    }
    let bad = GaLayer::new("G-TEST123")
        .api_secret("s")
        .trusted_proxy_ranges(["10.0.0.0/33"])
        .build();
    assert!(matches!(bad, Err(ConfigError::InvalidProxyRange(r)) if r == "10.0.0.0/33"));
}
