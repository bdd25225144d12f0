//! A real GA4 configuration, read from the environment:
//!
//! ```text
//! GA_MEASUREMENT_ID=G-XXXXXXXXXX GA_API_SECRET=… [GA_VALIDATE=1] [GA_EU=1] cargo run --example ga4
//! ```
//!
//! `GA_VALIDATE=1` sends to Google's validation endpoint, which checks each hit and collects
//! nothing; its objections are logged. Without the variables, it refuses to start (it never sends
//! anywhere by surprise). `GA_ENDPOINT` overrides the collection host (e.g. a local collector).

use std::time::Duration;

use axum::{routing::get, Router};
use tower_ga::{GaLayer, NoTrack, PageTitle};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(id), Some(secret)) = (env("GA_MEASUREMENT_ID"), env("GA_API_SECRET")) else {
        eprintln!("set GA_MEASUREMENT_ID and GA_API_SECRET (see README: GA4 setup)");
        std::process::exit(2);
    };
    let mut ga = GaLayer::new(id)
        .api_secret(secret)
        .validation_mode(env("GA_VALIDATE").is_some())
        .eu_endpoint(env("GA_EU").is_some())
        .on_failure(|o: &tower_ga::BatchOutcome| eprintln!("batch failed or invalid: {o:?}"));
    if let Some(endpoint) = env("GA_ENDPOINT") {
        ga = ga.endpoint(endpoint);
    }
    // Fail at startup rather than run untracked.
    let ga = ga.build()?;
    let handle = ga.handle();
    let app = Router::new()
        .route(
            "/users/{id}",
            get(|| async { "user\n" }).layer(PageTitle::new("User detail")),
        )
        .route("/health", get(|| async { "ok\n" }).layer(NoTrack))
        .layer(ga);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("API on http://127.0.0.1:3000 — curl it, then look at GA Realtime; Ctrl-C to stop");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    let all_sent = handle.shutdown(Duration::from_secs(5)).await;
    println!("all sent: {all_sent}; {:?}", handle.stats());
    Ok(())
}
