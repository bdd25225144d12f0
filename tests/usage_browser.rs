//! The usage page in a real browser: headless Chromium, driven over WebDriver by chromedriver,
//! both from Debian's `chromium` and `chromium-driver` packages (`.ci/run` installs them when
//! it can). A real axum server on 127.0.0.1 serves the API and the page; the test checks that
//! the never-called route and the hottest route are on screen, that the bars follow the calls,
//! and that the page refreshes itself. Without the browser it says so and passes, except under CI
//! (`CI=true`), where it fails: the HTML itself is checked in `tests/usage.rs` on every machine.

mod common;
use common::ga4::{collector, layer, settle};
use common::skip_or_fail;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A WebDriver session against a chromedriver on loopback.
struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    _driver: tokio::process::Child,
}

impl Browser {
    async fn start(chromium: &str, chromedriver: &str) -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let http = common::http_client();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if ready.as_ref().is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver does not answer on {base}: {ready:?}"
            );
            // The poll's pace while chromedriver starts; the wait ends on its first answer.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The flags keep Chromium off the network (this machine's is closed) and headless.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let mut b = Browser {
            http,
            base,
            session: String::new(),
            _driver: driver,
        };
        let v = b.call("POST", "/session", Some(caps)).await;
        b.session = v["sessionId"].as_str().expect("a session").to_owned();
        b
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        match self.try_call(method, path, body).await {
            Ok(v) => v,
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }

    /// A WebDriver command: its value, or the error it answered.
    async fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.unwrap_or(json!({})).to_string()),
        };
        let text = req.send().await.expect("chromedriver answers").text().await;
        let v: Value = serde_json::from_str(&text.unwrap()).expect("WebDriver JSON");
        match v["value"]["error"].is_null() {
            true => Ok(v["value"].clone()),
            false => Err(v),
        }
    }

    /// The text of the element a CSS selector finds, if the page has it now (a refreshing
    /// page may be between documents).
    async fn try_text(&self, css: &str) -> Option<String> {
        let find = json!({"using": "css selector", "value": css});
        let v = self.try_call("POST", "/element", Some(find)).await.ok()?;
        let id = v.as_object()?.values().next()?.as_str()?.to_owned();
        let text = self
            .try_call("GET", &format!("/element/{id}/text"), None)
            .await;
        Some(text.ok()?.as_str()?.to_owned())
    }

    async fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// The element a CSS selector finds first.
    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        let (_, id) = v.as_object().unwrap().iter().next().expect("an element");
        id.as_str().unwrap().to_owned()
    }

    async fn text(&self, el: &str) -> String {
        let v = self.call("GET", &format!("/element/{el}/text"), None).await;
        v.as_str().unwrap().to_owned()
    }

    async fn displayed(&self, el: &str) -> bool {
        let v = self
            .call("GET", &format!("/element/{el}/displayed"), None)
            .await;
        v.as_bool().unwrap()
    }

    /// `(y, width, height)` in CSS pixels.
    async fn rect(&self, el: &str) -> (f64, f64, f64) {
        let v = self.call("GET", &format!("/element/{el}/rect"), None).await;
        let f = |k: &str| v[k].as_f64().unwrap();
        (f("y"), f("width"), f("height"))
    }

    async fn eval(&self, script: &str) -> Value {
        let body = json!({"script": script, "args": []});
        self.call("POST", "/execute/sync", Some(body)).await
    }

    async fn close(self) {
        self.call("DELETE", "", None).await;
    }
}

/// Serves the app on 127.0.0.1, on a port of its own.
async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn tools() -> Option<(String, String)> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    let driver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
    let missing: Vec<&str> = [&chromium, &driver]
        .into_iter()
        .filter(|p| !std::path::Path::new(p).exists())
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Some((chromium, driver))
    } else {
        skip_or_fail(&format!(
            "the usage page was not rendered in a browser: {} not found \
             (apt-get install chromium chromium-driver, or set CHROMIUM / CHROMEDRIVER)",
            missing.join(" and ")
        ));
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_page_shows_the_never_called_and_the_hottest_routes_in_chromium() {
    let Some((chromium, chromedriver)) = tools() else {
        return;
    };
    let c = collector().await;
    let ga = layer(&c).known_routes(["GET /orders", "GET /users/{id}", "GET /legacy/export"]);
    let handle = ga.handle();
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route("/users/{id}", get(|| async { "user" }))
        .route("/legacy/export", get(|| async { "csv" }))
        .layer(ga)
        .route_service("/internal/usage", handle.usage_service());
    let addr = serve(app).await;

    let api = common::http_client();
    let hit = |path: &'static str| {
        let api = api.clone();
        async move {
            let r = api.get(format!("http://{addr}{path}")).send().await;
            assert!(r.unwrap().status().is_success(), "{path}");
        }
    };
    for _ in 0..12 {
        hit("/orders").await;
    }
    for _ in 0..3 {
        hit("/users/7").await;
    }
    settle(&handle, &c).await;

    let b = Browser::start(&chromium, &chromedriver).await;
    let page = format!("http://{addr}/internal/usage");
    b.open(&page).await;
    let viewport = b.eval("return window.innerHeight").await.as_f64().unwrap();

    // The deprecation candidates: on screen, above the fold, before the table.
    let never = b.find("#never").await;
    assert!(b.displayed(&never).await);
    let text = b.text(&never).await;
    assert!(text.contains("GET /legacy/export"), "{text}");
    assert!(!text.contains("/orders"), "{text}");
    let (never_y, _, never_h) = b.rect(&never).await;
    assert!(
        never_y + never_h <= viewport,
        "{never_y} + {never_h} > {viewport}"
    );

    // The hottest route is the table's first row, on screen, with the longest bar.
    let first = b.find("#routes tr:nth-child(2)").await;
    assert!(b.displayed(&first).await);
    let row = b.text(&first).await;
    assert!(row.contains("/orders") && row.contains("12"), "{row}");
    let (first_y, _, _) = b.rect(&first).await;
    assert!(never_y < first_y && first_y < viewport, "{first_y}");
    let bars = b
        .eval("return [...document.querySelectorAll('#routes .bar')].map(e => e.getBoundingClientRect().width)")
        .await;
    let bars: Vec<f64> = bars
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_f64().unwrap())
        .collect();
    assert_eq!(bars.len(), 2, "{bars:?}");
    assert!(bars[0] > 3.0 * bars[1] && bars[1] > 0.0, "{bars:?}");
    // Nothing was fetched but the page itself: not even a favicon, which would have been a
    // 404 in the API's own usage.
    let fetched = b
        .eval("return performance.getEntriesByType('resource').map(e => e.name)")
        .await;
    assert_eq!(fetched, json!([]));

    // It refreshes itself: once the legacy route is called, it leaves the list.
    hit("/legacy/export").await;
    settle(&handle, &c).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = b.try_text("#never").await.unwrap_or_default();
        if !text.is_empty() && !text.contains("/legacy/export") {
            assert!(text.contains("Every declared route was called"), "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the page did not refresh: {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    b.close().await;
    let u = handle.usage();
    assert!(u.unmatched.is_none(), "{:?}", u.unmatched);
    assert_eq!(u.calls, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_s_window_sparklines_and_deprecated_routes_in_chromium() {
    let Some((chromium, chromedriver)) = tools() else {
        return;
    };
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("usage-browser");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("window-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let c = collector().await;
    let ga = layer(&c)
        .known_routes(["GET /orders", "GET /v1/export", "GET /legacy/export"])
        .usage_store(tower_ga::usage::UsageStore::sqlite(&path))
        .build()
        .unwrap();
    let handle = ga.handle();
    let legacy = tower_ga::Deprecated::since_ymd(2026, 1, 31).sunset_ymd(2027, 6, 30);
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route("/v1/export", get(|| async { "csv" }).layer(legacy))
        .route("/legacy/export", get(|| async { "csv" }))
        .layer(ga)
        .route_service("/internal/usage", handle.usage_service());
    let addr = serve(app).await;
    let api = common::http_client();
    for (path, n, who) in [("/orders", 9, "Bearer a"), ("/v1/export", 3, "Bearer b")] {
        for _ in 0..n {
            let r = api
                .get(format!("http://{addr}{path}"))
                .header("authorization", who)
                .send()
                .await;
            assert!(r.unwrap().status().is_success(), "{path}");
        }
    }
    settle(&handle, &c).await;
    // The legacy route was last called 40 days ago and declared long before: a candidate.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let old = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - 40 * 86_400;
        conn.execute(
            "UPDATE tower_ga_declared SET first_declared = date('now', '-100 days')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO tower_ga_usage (day, method, route, calls, s2xx, ms_1, first_call, last_call)
             VALUES (date(?1, 'unixepoch'), 'GET', '/legacy/export', 2, 2, 2, ?1, ?1)",
            [old],
        )
        .unwrap();
    }

    let b = Browser::start(&chromium, &chromedriver).await;
    b.open(&format!("http://{addr}/internal/usage")).await;
    // Deprecated routes first: who still calls them, and the sunset.
    let deprecated = b.find("#deprecated").await;
    assert!(b.displayed(&deprecated).await);
    let text = b.text(&deprecated).await;
    assert!(
        text.contains("GET /v1/export") && text.contains("3 calls"),
        "{text}"
    );
    assert!(text.contains("key-") && text.contains("sunset"), "{text}");
    let never = b.find("#never").await;
    assert!(b.rect(&deprecated).await.0 < b.rect(&never).await.0);
    // The window: 30 days, the legacy route with its last call.
    let text = b.text(&never).await;
    assert!(
        text.contains("Not called in the last 30 days (1)"),
        "{text}"
    );
    assert!(
        text.contains("GET /legacy/export") && text.contains("last called"),
        "{text}"
    );
    // Sparklines: one per called route, a point per day of the window.
    let points = b
        .eval("return [...document.querySelectorAll('#routes svg.spark polyline')].map(p => p.points.length)")
        .await;
    assert_eq!(points, json!([30, 30]), "{points}");
    let spark = b.find("#routes svg.spark").await;
    assert!(b.displayed(&spark).await);
    // The selector: 90 days reaches the legacy route's last call.
    let link = b.find("#window a[href='?days=90']").await;
    // chromedriver's click returns once the navigation it starts has loaded the new page.
    b.call("POST", &format!("/element/{link}/click"), Some(json!({})))
        .await;
    let never = b.find("#never").await;
    let text = b.text(&never).await;
    assert!(
        text.contains("Not called in the last 90 days (0)"),
        "{text}"
    );
    assert!(!text.contains("/legacy/export"), "{text}");
    let url = b.call("GET", "/url", None).await;
    assert!(url.as_str().unwrap().ends_with("?days=90"), "{url}");
    let fetched = b
        .eval("return performance.getEntriesByType('resource').map(e => e.name)")
        .await;
    assert_eq!(fetched, json!([]));
    b.close().await;
    assert!(handle.shutdown(std::time::Duration::from_secs(10)).await);
}
