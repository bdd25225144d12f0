//! The local stand-in for Google's collection endpoints, on its own.
//!
//! ```text
//! cargo run --example collector -- [--port 5000] [--quiet] [--sleep-ms N] [--hang]
//!     [--status 503 [--fail-rate 0.2] [--retry-after 2]] [--close]
//! ```
//!
//! Point a layer at it with `.endpoint("http://127.0.0.1:5000")`. It prints every hit (a summary
//! line per second under load) and answers `GET /counts` with its counts as JSON.

use std::net::SocketAddr;

use tower_ga::collector::{Collector, CollectorConfig, Faults, Print};

fn usage(err: &str) -> ! {
    eprintln!("{err}\nusage: collector [--port N] [--quiet] [--sleep-ms N] [--hang] [--status N] [--fail-rate F] [--retry-after N] [--close]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (faults, rest) = Faults::from_args(std::env::args().skip(1)).unwrap_or_else(|e| usage(&e));
    let mut port = 5000u16;
    let mut print = Print::Hits;
    let mut rest = rest.into_iter();
    while let Some(flag) = rest.next() {
        match flag.as_str() {
            "--port" => {
                port = rest
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage("--port needs a number"))
            }
            "--quiet" => print = Print::Off,
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let collector = Collector::start(
        CollectorConfig::default()
            .addr(SocketAddr::from(([127, 0, 0, 1], port)))
            .faults(faults.clone())
            .print(print)
            .record(false),
    )
    .await?;
    println!(
        "collector on {} (faults: {faults:?}); counts at {}/counts; Ctrl-C to stop",
        collector.url(),
        collector.url()
    );
    let _ = tokio::signal::ctrl_c().await;
    println!(
        "{}",
        serde_json::to_string(&collector.counts()).unwrap_or_default()
    );
    Ok(())
}
