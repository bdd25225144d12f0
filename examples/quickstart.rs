//! A small API with `GaLayer`, reporting to a local stand-in collector that prints every hit.
//! No Google account needed:
//!
//! ```text
//! cargo run --example quickstart
//! curl localhost:3000/users/7
//! curl 'localhost:3000/items?page=2&token=abc'     # the token is sent as REDACTED
//! curl -i localhost:3000/v1/items                  # Deprecation and Sunset headers
//! curl -H 'Authorization: Bearer k1' localhost:3000/me
//! curl localhost:3000/health                       # not tracked
//! curl localhost:3000/nope                         # 404, title "(unmatched route)"
//! ```
//!
//! Ctrl-C stops it: the layer's handle flushes what is left, then the counters are printed.
//! Usage is kept in a SQLite file under `target/` (its path is printed): run it twice, and the
//! usage page shows the first run's counts too. `PORT` and `COLLECTOR_PORT` change the ports
//! (defaults 3000 and 0, a free one); `TOWER_GA_USAGE_DB` another store.

use std::net::SocketAddr;
use std::time::Duration;

use axum::{extract::Path, routing::get, Extension, Router};
use tower_ga::collector::{Collector, CollectorConfig, Print};
use tower_ga::usage::{UsageStore, USAGE_DB_ENV};
use tower_ga::{Deprecated, GaLayer, NoTrack, PageTitle, UserId};

async fn user(Path(id): Path<u32>) -> String {
    format!("user {id}\n")
}

async fn items() -> &'static str {
    "[\"a\", \"b\"]\n"
}

async fn me() -> (Extension<UserId>, &'static str) {
    (Extension(UserId::new("42")), "you are user 42\n")
}

async fn health() -> &'static str {
    "ok\n"
}

fn port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let collector = Collector::start(
        CollectorConfig::default()
            .addr(SocketAddr::from((
                [127, 0, 0, 1],
                port("COLLECTOR_PORT", 0),
            )))
            .print(Print::Hits)
            .record(false),
    )
    .await?;

    // The embedded default: a SQLite file next to the build, unless the environment names one.
    let store = match std::env::var(USAGE_DB_ENV) {
        Ok(url) if !url.trim().is_empty() => UsageStore::from_url(&url)?,
        _ => UsageStore::sqlite(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/quickstart-usage.db"
        )),
    };
    println!("Usage store: {store:?}");
    let ga = GaLayer::new("G-QUICKSTART1")
        .api_secret("local-secret")
        .endpoint(collector.url())
        .flush_interval(Duration::from_millis(200))
        // The API's routes: the usage page lists those never called.
        .known_routes([
            "GET /users/{id}",
            "GET /items",
            "GET /v1/items",
            "GET /me",
            "DELETE /items/{id}",
        ])
        .usage_store(store)
        .usage_flush_interval(Duration::from_secs(5))
        .build()?;
    let handle = ga.handle();

    let app = Router::new()
        .route(
            "/users/{id}",
            get(user).layer(PageTitle::new("User detail")),
        )
        .route("/items", get(items))
        // The old path: its responses say it is deprecated, and the page lists who still calls it.
        .route(
            "/v1/items",
            get(items).layer(Deprecated::since_ymd(2026, 1, 1).sunset_ymd(2027, 1, 1)),
        )
        .route("/me", get(me))
        .route("/health", get(health).layer(NoTrack))
        .layer(ga)
        // Outside the layer (and, in a real API, behind your own authentication).
        .route_service("/internal/usage", handle.usage_service());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port("PORT", 3000))).await?;
    let addr = listener.local_addr()?;
    println!(
        "API on http://{addr}, collector on {}; try:",
        collector.url()
    );
    for (header, path) in [
        ("", "/users/7"),
        ("", "/items?page=2&token=abc"),
        ("-i ", "/v1/items"),
        ("-H 'Authorization: Bearer k1' ", "/me"),
        ("", "/health"),
        ("", "/nope"),
    ] {
        println!("  curl {header}'http://{addr}{path}'");
    }
    println!("Usage page: http://{addr}/internal/usage (JSON with -H 'Accept: application/json')");
    println!("Ctrl-C to stop.");

    // `ConnectInfo` lets the default client id tell anonymous consumers apart by IP and
    // User-Agent (hashed; the IP itself is not sent).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;

    let all_sent = handle.shutdown(Duration::from_secs(2)).await;
    println!("shutdown: all sent = {all_sent}, {:?}", handle.stats());
    println!("collector: {:?}", collector.counts());
    Ok(())
}
