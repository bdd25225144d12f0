//! The legacy Universal Analytics v1 protocol, end to end against the local collector.

mod common;
use common::get_req;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use tower::ServiceExt;
use tower_ga::collector::Collector;
use tower_ga::{ClientIdStrategy, GaLayer, Handle, PageTitle, UserId};

const WAIT: Duration = Duration::from_secs(10);

/// Flushes and checks the books and the validity of every payload received.
async fn settle(handle: &Handle, c: &Collector) -> Vec<BTreeMap<String, String>> {
    assert!(handle.flush(WAIT).await);
    let s = handle.stats();
    assert_eq!(s.sent + s.dropped + s.failed, s.tracked, "{s:?}");
    assert_eq!(c.counts().hits_accepted, s.sent);
    for r in c.requests() {
        assert!(
            r.messages.is_empty(),
            "{:?}\n{}",
            r.messages,
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        let body = String::from_utf8_lossy(&r.body);
        assert!(tower_ga::validate::ua_batch(&body).is_empty());
    }
    c.ua_hits()
}

#[tokio::test]
async fn a_pageview_carries_the_api_tracking_parameters() {
    let c = Collector::start_local().await.unwrap();
    let ga = GaLayer::new("UA-12345-6").endpoint(c.url());
    let handle = ga.handle();
    let app = Router::new()
        .route(
            "/users/{id}",
            get(|| async { (Extension(UserId::new("42")), "u") }),
        )
        .layer(ga);
    let sent_at = Instant::now();
    get_req(
        &app,
        "/users/7?page=2&token=abc",
        &[
            ("user-agent", "curl/8.5.0"),
            ("referer", "https://example.com/"),
        ],
    )
    .await;
    let hits = settle(&handle, &c).await;
    let elapsed_ms = sent_at.elapsed().as_millis() as u64;
    assert_eq!(hits.len(), 1);
    let h = &hits[0];
    let expected = [
        ("v", "1"),
        ("tid", "UA-12345-6"),
        ("ds", "api"),
        ("uid", "42"),
        ("t", "pageview"),
        ("dl", "http://api.example.com/users/7?page=2&token=REDACTED"),
        ("dh", "api.example.com"),
        ("dp", "/users/7?page=2&token=REDACTED"),
        ("dt", "GET /users/{id}"),
        ("dr", "https://example.com/"),
        ("ua", "curl/8.5.0"),
    ];
    for (k, v) in expected {
        assert_eq!(h.get(k).map(String::as_str), Some(v), "{k} in {h:?}");
    }
    let cid = uuid::Uuid::parse_str(&h["cid"]).expect("cid is a UUID");
    assert_eq!(cid.get_version_num(), 4);
    let qt: u64 = h["qt"].parse().unwrap();
    assert!(
        qt <= elapsed_ms,
        "qt {qt} ms within the {elapsed_ms} ms the test took"
    );
    assert!(!h.contains_key("uip"), "no IP unless opted in");
    // Exactly these parameters: nothing else leaves.
    let keys: Vec<&str> = h.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["cid", "dh", "dl", "dp", "dr", "ds", "dt", "qt", "t", "tid", "ua", "uid", "v"]
    );
    // One hit alone goes to /collect.
    assert_eq!(c.requests()[0].path, "/collect");
}

#[tokio::test]
async fn queue_time_covers_the_wait_before_sending() {
    let c = Collector::start_local().await.unwrap();
    let ga = GaLayer::new("UA-1-1")
        .endpoint(c.url())
        .flush_interval(Duration::from_secs(3600));
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "a" })).layer(ga);
    get_req(&app, "/a", &[]).await;
    // Held back by the long interval until the flush below: qt must include the wait. The sleep
    // is the wait qt measures (a lower bound, however slow the machine), and bounds the wait for
    // what must not happen: a request before the flush.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.counts().requests, 0, "held until the flush");
    let hits = settle(&handle, &c).await;
    let qt: u64 = hits[0]["qt"].parse().unwrap();
    assert!(qt >= 300, "qt {qt}");
}

#[tokio::test]
async fn twenty_one_hits_make_two_batches() {
    let c = Collector::start_local().await.unwrap();
    let ga = GaLayer::new("UA-1-1")
        .endpoint(c.url())
        .flush_interval(Duration::from_secs(3600));
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "a" })).layer(ga);
    for i in 0..21 {
        // Different consumers: v1 batches mix clients.
        let auth = format!("Bearer {i}");
        get_req(&app, &format!("/a?i={i}"), &[("authorization", &auth)]).await;
    }
    let hits = settle(&handle, &c).await;
    assert_eq!(hits.len(), 21);
    let mut shape: Vec<(String, usize)> = c
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.hits))
        .collect();
    shape.sort();
    assert_eq!(
        shape,
        vec![("/batch".to_string(), 20), ("/collect".to_string(), 1)]
    );
    let cids: std::collections::BTreeSet<_> = hits.iter().map(|h| h["cid"].clone()).collect();
    assert_eq!(cids.len(), 21);
}

#[tokio::test]
async fn oversized_hits_are_shrunk_and_batches_split_by_bytes() {
    let c = Collector::start_local().await.unwrap();
    let ga = GaLayer::new("UA-1-1")
        .endpoint(c.url())
        .flush_interval(Duration::from_secs(3600));
    let handle = ga.handle();
    let title = "Ж".repeat(2000);
    let app = Router::new()
        .route(
            "/{*rest}",
            get(move || {
                let t = title.clone();
                async move { (Extension(PageTitle::new(t)), "x") }
            }),
        )
        .layer(ga);
    let path = format!("/{}", "a/".repeat(3000));
    let ua = "U".repeat(5000);
    let referer = format!("https://r.example/?{}", "q=1&".repeat(1000));
    for _ in 0..10 {
        get_req(&app, &path, &[("user-agent", &ua), ("referer", &referer)]).await;
    }
    let hits = settle(&handle, &c).await;
    assert_eq!(hits.len(), 10);
    for r in c.requests() {
        assert!(
            r.body.len() <= tower_ga::ua::MAX_BATCH_BYTES,
            "{}",
            r.body.len()
        );
        for line in String::from_utf8_lossy(&r.body).split('\n') {
            assert!(line.len() <= tower_ga::ua::MAX_HIT_BYTES, "{}", line.len());
        }
    }
    assert!(
        c.requests().len() >= 2,
        "10 hits of several KB can't share one 16 KB batch"
    );
    for h in &hits {
        assert!(h["dt"].len() <= 1500 && h["dt"].starts_with('Ж'));
        assert!(h["dl"].len() <= 2048 && h["dp"].len() <= 2048);
    }
}

#[tokio::test]
async fn random_uuid_per_request() {
    let c = Collector::start_local().await.unwrap();
    let ga = GaLayer::new("UA-1-1")
        .endpoint(c.url())
        .client_id_strategy(ClientIdStrategy::RandomPerRequest);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "a" })).layer(ga);
    get_req(&app, "/a", &[("authorization", "Bearer same")]).await;
    get_req(&app, "/a", &[("authorization", "Bearer same")]).await;
    let hits = settle(&handle, &c).await;
    assert_ne!(hits[0]["cid"], hits[1]["cid"]);
    for h in &hits {
        assert_eq!(
            uuid::Uuid::parse_str(&h["cid"]).unwrap().get_version_num(),
            4
        );
    }

    // The default keyed strategy keeps one consumer on one id.
    let c = Collector::start_local().await.unwrap();
    let ga = GaLayer::new("UA-1-1").endpoint(c.url());
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "a" })).layer(ga);
    get_req(&app, "/a", &[("authorization", "Bearer same")]).await;
    get_req(&app, "/a", &[("authorization", "Bearer same")]).await;
    let hits = settle(&handle, &c).await;
    assert_eq!(hits[0]["cid"], hits[1]["cid"]);
}

#[tokio::test]
async fn client_ip_is_opt_in() {
    let c = Collector::start_local().await.unwrap();
    let ga = GaLayer::new("UA-1-1")
        .endpoint(c.url())
        .send_client_ip(tower_ga::IpMode::Truncated);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "a" })).layer(ga);
    let mut req = http::Request::get("/a").body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(tower_ga::ClientIp("198.51.100.77".parse().unwrap()));
    app.oneshot(req).await.unwrap();
    let hits = settle(&handle, &c).await;
    assert_eq!(hits[0]["uip"], "198.51.100.0");
}
