//! The SQLite usage store, on real files: counts outlive a restart, two layers writing at once
//! sum exactly, a declared route not called in the window is listed with its last call, the top
//! consumers hold no credential, address or agent, and a locked file loses no count while the
//! API never waits.

mod common;
use common::ga4::{collector, layer, WAIT};
use common::get_req;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Extension, Router};
use tower_ga::usage::UsageStore;
use tower_ga::{ConfigError, GaLayer, UserId};

/// A fresh file under `target/`, for one test.
fn db(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("usage-store");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn app(ga: GaLayer) -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/legacy", get(|| async { "old" }))
        .route(
            "/me",
            get(|| async { (Extension(UserId::new("acme-corp")), "me") }),
        )
        .layer(ga)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn counts_outlive_a_restart_and_two_layers_sum_exactly() {
    let c = collector().await;
    let path = db("restart");
    let store = || UsageStore::sqlite(&path);
    let routes = ["GET /users/{userId}", "GET /legacy"];
    // First run: 3 calls, then a clean shutdown writes them.
    {
        let ga = layer(&c)
            .known_routes(routes)
            .usage_store(store())
            .build()
            .unwrap();
        let handle = ga.handle();
        let app = app(ga);
        for i in 0..3 {
            get_req(&app, &format!("/users/{i}"), &[]).await;
        }
        assert!(handle.shutdown(WAIT).await);
        assert!(handle.stats().usage_writes >= 1);
    }
    // Two layers at once on the same file, as two replicas: 50 calls each.
    let replica = || {
        let ga = layer(&c)
            .known_routes(routes)
            .usage_store(store())
            .build()
            .unwrap();
        (ga.handle(), app(ga))
    };
    let (h1, a1) = replica();
    let (h2, a2) = replica();
    let send = |app: Router| async move {
        for i in 0..50 {
            get_req(&app, &format!("/users/{i}"), &[]).await;
        }
    };
    tokio::join!(send(a1), send(a2));
    let (f1, f2) = tokio::join!(h1.flush(WAIT), h2.flush(WAIT));
    assert!(f1 && f2);
    // A third process's view: 103 calls, the legacy route never called.
    let ga = layer(&c)
        .known_routes(routes)
        .usage_store(store())
        .build()
        .unwrap();
    let handle = ga.handle();
    let _app = app(ga); // starts the sender and the store's thread
    let u = handle.usage_window(30).await;
    assert_eq!(u.store_error, None);
    assert_eq!(u.window_days, Some(30));
    let users = u
        .routes
        .iter()
        .find(|r| r.route == "/users/{userId}")
        .unwrap();
    assert_eq!(users.calls, 103, "{users:?}");
    assert_eq!(users.calls_per_day.iter().sum::<u64>(), 103);
    assert_eq!(users.calls_per_day.len(), 30);
    assert!(users.last_called.unwrap() + 60 >= now());
    let legacy = u.routes.iter().find(|r| r.route == "/legacy").unwrap();
    assert_eq!((legacy.calls, legacy.last_called), (0, None));
    // Declared today: not yet a candidate for a 30-day window.
    assert!(!legacy.never_called);
    assert!(handle.shutdown(WAIT).await);
}

#[tokio::test]
async fn a_route_not_called_in_the_window_is_listed_with_its_last_call() {
    let c = collector().await;
    let path = db("window");
    let routes = ["GET /users/{id}", "GET /legacy"];
    let ga = layer(&c)
        .known_routes(routes)
        .usage_store(UsageStore::sqlite(&path));
    let ga = ga.build().unwrap();
    let handle = ga.handle();
    let app = app(ga);
    get_req(&app, "/users/1", &[]).await;
    assert!(handle.flush(WAIT).await);
    // What the file holds from 100 days ago, as another process (or an earlier year) left it.
    let old = now() - 40 * 86_400;
    let day = |secs: u64| {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row("SELECT date(?1, 'unixepoch')", [secs as i64], |r| {
            r.get::<_, String>(0)
        })
        .unwrap()
    };
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE tower_ga_declared SET first_declared = ?1",
            [day(now() - 100 * 86_400)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO tower_ga_usage (day, method, route, calls, s2xx, ms_1, first_call, last_call)
             VALUES (?1, 'GET', '/legacy', 4, 4, 4, ?2, ?2)",
            rusqlite::params![day(old), old as i64],
        )
        .unwrap();
    }
    let u = handle.usage_window(30).await;
    let never: Vec<_> = u
        .never_called()
        .map(|r| (r.route.as_str(), r.last_called))
        .collect();
    assert_eq!(never, [("/legacy", Some(old))]);
    // The documented query finds it too.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let found: Vec<String> = conn
        .prepare(
            "SELECT d.route FROM tower_ga_declared d
             LEFT JOIN tower_ga_usage u ON u.method = d.method AND u.route = d.route
             GROUP BY d.method, d.route
             HAVING COALESCE(MAX(CASE WHEN u.day >= date('now', '-30 days') THEN u.calls END), 0) = 0",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(found, ["/legacy"]);
    let u = handle.usage_window(90).await;
    assert_eq!(u.never_called().count(), 0, "called 40 days ago");
    let legacy = u.routes.iter().find(|r| r.route == "/legacy").unwrap();
    assert_eq!(legacy.calls, 4);
    // The page: the window, the list, the last call's date.
    let page = get_req(
        &app.clone().route_service("/usage", handle.usage_service()),
        "/usage?days=30",
        &[],
    )
    .await;
    let html = axum::body::to_bytes(page.into_body(), 1 << 20)
        .await
        .unwrap();
    let html = String::from_utf8_lossy(&html);
    assert!(html.contains("Not called in the last 30 days"), "{html}");
    assert!(html.contains("last called"), "{html}");
    assert!(handle.shutdown(WAIT).await);
}

#[tokio::test]
async fn top_consumers_are_labels_never_credentials_addresses_or_agents() {
    let c = collector().await;
    let path = db("consumers");
    let ga = layer(&c)
        .usage_store(UsageStore::sqlite(&path))
        .build()
        .unwrap();
    let handle = ga.handle();
    let app = app(ga);
    for _ in 0..3 {
        get_req(&app, "/me", &[]).await;
    }
    for _ in 0..5 {
        get_req(
            &app,
            "/users/1",
            &[
                ("authorization", "Bearer secret-token-xyz"),
                ("user-agent", "curl/8.1"),
            ],
        )
        .await;
    }
    get_req(&app, "/users/2", &[("x-forwarded-for", "203.0.113.9")]).await;
    assert!(handle.flush(WAIT).await);
    let u = handle.usage_window(7).await;
    let me = u.routes.iter().find(|r| r.route == "/me").unwrap();
    assert_eq!(me.top_consumers[0].label, "acme-corp");
    assert_eq!(me.top_consumers[0].calls, 3);
    let users = u.routes.iter().find(|r| r.route == "/users/{id}").unwrap();
    assert_eq!(users.consumers, 2);
    let top = &users.top_consumers[0];
    assert!(top.label.starts_with("key-") && top.calls == 5, "{top:?}");
    let json = serde_json::to_string(&u).unwrap();
    for secret in ["secret-token", "xyz", "curl", "203.0.113"] {
        assert!(!json.contains(secret), "{secret} in {json}");
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let labels: Vec<String> = conn
        .prepare("SELECT consumer FROM tower_ga_consumers")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(labels.iter().all(|l| !l.contains("secret")), "{labels:?}");
    assert!(handle.shutdown(WAIT).await);
}

#[tokio::test]
async fn a_locked_file_loses_no_count_and_the_api_never_waits() {
    let c = collector().await;
    let path = db("locked");
    let ga = layer(&c)
        .usage_store(UsageStore::sqlite(&path))
        .usage_flush_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let handle = ga.handle();
    let app = app(ga);
    get_req(&app, "/users/0", &[]).await;
    assert!(handle.flush(WAIT).await);
    // Another process holds the write lock.
    let lock = rusqlite::Connection::open(&path).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for i in 1..=200 {
        let answered = tokio::time::timeout(WAIT, get_req(&app, &format!("/users/{i}"), &[])).await;
        assert!(answered.is_ok(), "request {i} waited on the store");
    }
    assert!(
        !handle.flush(WAIT).await,
        "nothing can be written while the file is locked"
    );
    assert!(handle.stats().usage_write_failures >= 1);
    assert_eq!(handle.stats().sent, 201, "GA delivery goes on");
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    assert!(handle.flush(WAIT).await);
    let u = handle.usage_window(1).await;
    assert_eq!(u.store_error, None);
    let users = u.routes.iter().find(|r| r.route == "/users/{id}").unwrap();
    assert_eq!(users.calls, 201);
    assert!(handle.shutdown(WAIT).await);
}

#[test]
fn bad_stores_say_what_to_fix() {
    let ga = || GaLayer::new("G-TEST123").api_secret("s");
    let missing = db("missing").parent().unwrap().join("no/such/dir/usage.db");
    match ga().usage_store(UsageStore::sqlite(missing)).build() {
        Err(ConfigError::UsageStore(why)) => assert!(why.contains("cannot open"), "{why}"),
        other => panic!("{other:?}"),
    }
    let corrupt = db("corrupt");
    std::fs::write(
        &corrupt,
        b"this is not a database, just text that is long enough",
    )
    .unwrap();
    match ga().usage_store(UsageStore::sqlite(&corrupt)).build() {
        Err(ConfigError::UsageStore(why)) => assert!(why.contains("not a database"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(UsageStore::from_url("mysql://x")
        .unwrap_err()
        .contains("neither sqlite://"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_stays_bounded_over_100000_consumers_and_1000_routes() {
    use tower::{Layer, ServiceExt};
    let c = tower_ga::collector::Collector::start(
        tower_ga::collector::CollectorConfig::default()
            .record(false)
            .validate(false),
    )
    .await
    .unwrap();
    let path = db("bounded");
    let routes: Vec<String> = (0..1000).map(|i| format!("GET /r{i}")).collect();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .endpoint(c.url())
        .queue_capacity(200_000)
        .known_routes(&routes)
        .usage_store(UsageStore::sqlite(&path))
        .usage_flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let handle = ga.handle();
    // A router of one's own: the template is `/r{n}`, `n` from the path.
    let svc = ga.layer(tower::service_fn(|req: http::Request<()>| async move {
        let mut res = http::Response::new(());
        let route = req.uri().path().to_owned();
        res.extensions_mut()
            .insert(tower_ga::MatchedRoute::new(route));
        Ok::<_, std::convert::Infallible>(res)
    }));
    for i in 0..100_000u32 {
        let req = http::Request::get(format!("/r{}", i % 1000))
            .header("authorization", format!("Bearer consumer-{i}"))
            .body(())
            .unwrap();
        svc.clone().oneshot(req).await.unwrap();
    }
    assert!(handle.flush(WAIT * 6).await);
    let u = handle.usage_window(1).await;
    assert_eq!(u.calls + u.dropped, 100_000);
    assert_eq!(u.routes.len(), 1000);
    assert!(
        u.routes.iter().all(|r| r.top_consumers.len() <= 21),
        "20 and (others)"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (rows, most): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), MAX(n) FROM (SELECT COUNT(*) AS n FROM tower_ga_consumers
             GROUP BY day, method, route)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // One write: at most 20 labels and `(others)` a route.
    assert_eq!(rows, 1000);
    assert_eq!(most, 21);
    let others: i64 = conn
        .query_row(
            "SELECT SUM(calls) FROM tower_ga_consumers WHERE consumer = '(others)'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(others as u64 + 20_000, u.calls, "every call is in a row");
    assert!(handle.shutdown(WAIT).await);
}

#[tokio::test]
async fn the_application_names_its_consumers() {
    let c = collector().await;
    let path = db("named");
    let ga = layer(&c)
        .capture_header(http::HeaderName::from_static("x-client-name"))
        .consumer_name_with(|hit: &tower_ga::Hit| hit.header("x-client-name").map(str::to_owned))
        .usage_store(UsageStore::sqlite(&path))
        .build()
        .unwrap();
    let handle = ga.handle();
    let app = app(ga);
    for _ in 0..4 {
        get_req(
            &app,
            "/users/1",
            &[
                ("authorization", "Bearer t-1"),
                ("x-client-name", "acme-gateway"),
            ],
        )
        .await;
    }
    get_req(&app, "/users/1", &[("authorization", "Bearer t-2")]).await;
    assert!(handle.flush(WAIT).await);
    let u = handle.usage_window(1).await;
    let users = u.routes.iter().find(|r| r.route == "/users/{id}").unwrap();
    let labels: Vec<(&str, u64)> = users
        .top_consumers
        .iter()
        .map(|c| (c.label.as_str(), c.calls))
        .collect();
    assert_eq!(labels[0], ("acme-gateway", 4));
    assert!(
        labels[1].0.starts_with("key-") && labels[1].1 == 1,
        "{labels:?}"
    );
    // The name stays local: GA never sees it.
    let events = c.ga4_events();
    assert!(events
        .iter()
        .all(|e| !format!("{e:?}").contains("acme-gateway")));
    assert!(handle.shutdown(WAIT).await);
}

/// The other process of [`two_processes_on_one_file_sum_exactly`]: runs only when that test
/// starts this binary with `TOWER_GA_CHILD_DB` set, and sends 300 calls.
#[tokio::test]
async fn child_process_writer() {
    let Ok(path) = std::env::var("TOWER_GA_CHILD_DB") else {
        return;
    };
    let c = collector().await;
    let ga = layer(&c)
        .usage_store(UsageStore::sqlite(path))
        .usage_flush_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let handle = ga.handle();
    let app = app(ga);
    for i in 0..300 {
        get_req(&app, &format!("/users/{i}"), &[]).await;
    }
    assert!(handle.shutdown(WAIT).await, "{:?}", handle.stats());
}

#[test]
fn two_processes_on_one_file_sum_exactly() {
    let path = db("processes");
    // The schema first, so that neither child waits on the other to create it.
    let _ = GaLayer::new("G-TEST123")
        .api_secret("s")
        .usage_store(UsageStore::sqlite(&path))
        .build()
        .unwrap();
    let me = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&me)
                .args(["--exact", "child_process_writer", "--test-threads=1"])
                .env("TOWER_GA_CHILD_DB", &path)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let calls: i64 = conn
        .query_row(
            "SELECT SUM(calls) FROM tower_ga_usage WHERE route = '/users/{id}'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(calls, 600);
}

#[tokio::test]
async fn a_route_keeps_50_consumers_a_day_however_many_writes() {
    let c = collector().await;
    let path = db("trim");
    let ga = layer(&c)
        .usage_store(UsageStore::sqlite(&path))
        .build()
        .unwrap();
    let handle = ga.handle();
    let app = app(ga);
    // 10 writes of 20 new consumers each (one call each), then one of a consumer called 30 times.
    for write in 0..10 {
        for i in 0..20 {
            let token = format!("Bearer w{write}-c{i}");
            get_req(&app, "/users/1", &[("authorization", &token)]).await;
        }
        assert!(handle.flush(WAIT).await);
    }
    for _ in 0..30 {
        get_req(&app, "/users/1", &[("authorization", "Bearer busy")]).await;
    }
    assert!(handle.flush(WAIT).await);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (rows, calls): (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), SUM(calls) FROM tower_ga_consumers WHERE route = '/users/{id}'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(rows <= 51, "{rows} labels kept");
    assert_eq!(calls, 230, "every call is in a row");
    let u = handle.usage_window(1).await;
    let users = u.routes.iter().find(|r| r.route == "/users/{id}").unwrap();
    assert_eq!(users.top_consumers[0].calls, 30, "the busiest is kept");
    assert!(handle.shutdown(WAIT).await);
}

#[tokio::test]
async fn a_second_shutdown_says_what_the_first_did() {
    let c = collector().await;
    let ga = layer(&c)
        .usage_store(UsageStore::sqlite(db("twice")))
        .build()
        .unwrap();
    let handle = ga.handle();
    let app = app(ga);
    get_req(&app, "/users/1", &[]).await;
    assert!(handle.shutdown(WAIT).await);
    assert!(handle.shutdown(WAIT).await, "nothing is left: still true");
    assert!(handle.flush(WAIT).await);
}
