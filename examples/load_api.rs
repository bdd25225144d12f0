//! A hello-world axum API for load tests, with and without `GaLayer`, plus a standalone local
//! collector and a sender-capacity mode. `scripts/load.sh` drives it; see BENCHMARKS.md.
//!
//! ```text
//! cargo run --release --example load_api -- serve VARIANT [--port 18080] [--collector URL]
//!                                       [--work-us 100 | --work-iters N] [--workers 1]
//!     VARIANT: bare       no layer
//!              trace      tower-http's TraceLayer (no subscriber), added with Router::layer as
//!                         GaLayer is: what any layer added that way costs
//!              ga         GaLayer, to a healthy collector (record off)
//!              work-bare  bare, with ~100 µs of CPU work in the handler (--work-us; or exactly
//!                         N rounds of the work loop with --work-iters, for A/B runs)
//!              work-ga    ga, with the same work
//!              hung       GaLayer, to a collector that never answers (Faults::none().hang(true))
//!              refusing   GaLayer, to a closed loopback port (connection refused)
//!              hung-flushing  hung, with the application calling `Handle::flush(100 ms)` every
//!                         100 ms: the memory bound must hold however often it flushes
//!              ga-nonet   GaLayer with a transport that answers every batch at once and sends
//!                         nothing: the sender's work without its HTTP requests (a diagnostic)
//!     Without --collector the GA variants start an in-process collector (or, for `refusing`,
//!     pick a closed port). The script passes a collector running in another process, on the
//!     other core, so the collector's own work is not charged to the API.
//!     SIGINT/SIGTERM: prints the sender's counters (LOAD_STATS phase=end-of-load), shuts down
//!     gracefully, shuts the sender down (2 s) and prints them again (phase=after-shutdown), then
//!     the peak RSS (LOAD_RSS).
//!
//! cargo run --release --example load_api -- collector [--port 18090] [--hang]
//!     A local collector, recording off, until SIGINT/SIGTERM; prints its counts at exit.
//!
//! cargo run --release --example load_api -- calibrate
//!     Prints how many rounds of the work loop take one microsecond here (best of seven tries).
//!
//! cargo run --release --example load_api -- capacity [--pattern batch|distinct] [--hits N]
//!                                                    [--urls same|distinct] [--collector URL]
//!     Pushes N hits through a GaLayer (queue big enough for all of them), waits for
//!     `Handle::flush`, and prints hits delivered per second (wall) and per second of the sender
//!     thread's CPU time. `batch`: one consumer (one client id), so GA4 requests carry 25 events;
//!     `distinct`: every hit from another consumer, one event per request. `--urls distinct`
//!     gives every request a path of its own (the sender's page memo never helps; by default all
//!     share one). Requests are built the way hyper builds them: the URI and the header values
//!     are slices of one buffer.
//! ```
//!
//! Every address is on the loopback interface.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::{header, Request, Response};
use http_body_util::Empty;
use tower::{Layer, Service};
use tower_ga::collector::{Collector, CollectorConfig, Faults};
use tower_ga::{BoxFuture, GaLayer, Handle, Outgoing, Reply, Transport, TransportError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args(Vec<String>);

impl Args {
    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    fn value(&self, name: &str) -> Option<&str> {
        let i = self.0.iter().position(|a| a == name)?;
        self.0.get(i + 1).map(String::as_str)
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        self.value(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().cloned().unwrap_or_default();
    let args = Args(args.into_iter().skip(1).collect());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let workers = args.num("--workers", 1usize).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    match mode.as_str() {
        "serve" => rt.block_on(serve(args)),
        "collector" => rt.block_on(collector(args)),
        "capacity" => rt.block_on(capacity(args)),
        "calibrate" => {
            println!("WORK_ITERS_PER_US={:.3}", calibrate());
            Ok(())
        }
        _ => Err("usage: load_api serve|collector|capacity ... (see the file's header)".into()),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Iterations of [`spin`] per microsecond, measured at start-up (best of several tries).
fn calibrate() -> f64 {
    let n = 2_000_000u64;
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        std::hint::black_box(spin(n));
        best = best.min(t.elapsed().as_secs_f64());
    }
    n as f64 / (best * 1e6)
}

/// CPU work: a fixed number of rounds of a xorshift-multiply mix.
fn spin(iters: u64) -> u64 {
    let mut x = std::hint::black_box(0x9e37_79b9_7f4a_7c15u64);
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
    }
    x
}

fn print_stats(variant: &str, phase: &str, handle: &Handle) {
    let s = handle.stats();
    println!(
        "LOAD_STATS variant={variant} phase={phase} tracked={} sent={} dropped={} failed={} pending={} retried={} batches={} crowded={} crowd_dropped={}",
        s.tracked, s.sent, s.dropped, s.failed, s.pending, s.retried, s.batches, s.crowded, s.crowd_dropped
    );
}

/// A loopback port nothing listens on (bound, then closed).
async fn closed_port_url() -> Result<String, BoxError> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    drop(l);
    Ok(format!("http://{addr}"))
}

async fn serve(args: Args) -> Result<(), BoxError> {
    let variant = args
        .0
        .first()
        .cloned()
        .ok_or("serve needs a variant: bare, trace, ga, work-bare, work-ga, hung, refusing")?;
    let port: u16 = args.num("--port", 18080);
    let work_us: f64 = if variant.starts_with("work") {
        args.num("--work-us", 100.0)
    } else {
        0.0
    };
    let iters = match args.value("--work-iters") {
        _ if work_us <= 0.0 => 0,
        Some(n) => n.parse()?,
        None => (calibrate() * work_us) as u64,
    };

    // The collector for GA variants: the one given, or one of our own.
    let mut own_collector = None;
    let ga = match variant.as_str() {
        "bare" | "work-bare" | "trace" => None,
        // The sender with no network: every batch "delivered" at once. What the sender costs
        // without its HTTP requests (a diagnostic, not a target).
        "ga-nonet" => {
            let layer = GaLayer::new("G-LOADTEST01")
                .api_secret("load-secret")
                .transport(NoNetwork);
            Some((layer.build()?, "none (no network)".to_owned()))
        }
        "ga" | "work-ga" | "hung" | "hung-flushing" | "refusing" => {
            let url = match (args.value("--collector"), variant.as_str()) {
                (Some(url), _) => url.to_owned(),
                (None, "refusing") => closed_port_url().await?,
                (None, v) => {
                    let c = Collector::start(
                        CollectorConfig::default()
                            .record(false)
                            .validate(false)
                            .faults(Faults::none().hang(v.starts_with("hung"))),
                    )
                    .await?;
                    let url = c.url();
                    own_collector = Some(c);
                    url
                }
            };
            let layer = GaLayer::new("G-LOADTEST01")
                .api_secret("load-secret")
                .endpoint(url.clone());
            Some((layer.build()?, url))
        }
        other => return Err(format!("unknown variant {other:?}").into()),
    };

    let handler = move |Path(_id): Path<u64>| async move {
        if iters > 0 {
            std::hint::black_box(spin(iters));
        }
        "hello\n"
    };
    let mut app = Router::new().route("/users/{id}", get(handler));
    let handle = ga.as_ref().map(|(layer, _)| layer.handle());
    if let (Some(handle), "hung-flushing") = (&handle, variant.as_str()) {
        let handle = handle.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                handle.flush(Duration::from_millis(100)).await;
            }
        });
    }
    if let Some((layer, _)) = ga.clone() {
        app = app.layer(layer);
    }
    // tower-http's TraceLayer, added the same way and with no subscriber: what any layer added
    // with `Router::layer` costs, for comparison.
    if variant == "trace" {
        app = app.layer(tower_http::trace::TraceLayer::new_for_http());
    }

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "LOAD_READY variant={variant} addr=http://{} collector={} work_us={work_us} work_iters={iters}",
        listener.local_addr()?,
        ga.as_ref().map_or("none", |(_, u)| u.as_str()),
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        stop_signal().await;
    })
    .await?;

    if let Some(handle) = &handle {
        print_stats(&variant, "end-of-load", handle);
        let all = handle.shutdown(Duration::from_secs(2)).await;
        print_stats(&variant, "after-shutdown", handle);
        println!("LOAD_SHUTDOWN all_sent={all}");
    }
    if let Some(c) = own_collector {
        println!("LOAD_COLLECTOR {:?}", c.counts());
    }
    println!("LOAD_RSS vmhwm_kb={}", vm_hwm_kb());
    Ok(())
}

async fn collector(args: Args) -> Result<(), BoxError> {
    let port: u16 = args.num("--port", 18090);
    let c = Collector::start(
        CollectorConfig::default()
            .addr(SocketAddr::from(([127, 0, 0, 1], port)))
            .record(false)
            // Count only: validating every hit would take the load generator's core.
            .validate(false)
            .faults(Faults::none().hang(args.flag("--hang"))),
    )
    .await?;
    println!(
        "COLLECTOR_READY url={} hang={}",
        c.url(),
        args.flag("--hang")
    );
    stop_signal().await;
    println!("COLLECTOR_COUNTS {:?}", c.counts());
    Ok(())
}

/// CPU time of this process's thread called `name`, from /proc (schedstat: nanoseconds on CPU).
fn thread_cpu(name: &str) -> Option<Duration> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
            return Some(Duration::from_nanos(ns));
        }
    }
    None
}

/// A request as hyper hands it over: the URI and every header value are slices of one buffer.
fn hyper_like_request(
    path: &str,
    auth: &str,
    route: tower_ga::MatchedRoute,
) -> Result<Request<Empty<bytes::Bytes>>, BoxError> {
    let (host, ua, referer) = (
        "api.example.com",
        "load_api/1.0",
        "https://app.example.com/",
    );
    let raw = bytes::Bytes::from([path, host, ua, auth, referer].concat());
    let mut at = 0;
    let mut next = |len: usize| {
        at += len;
        raw.slice(at - len..at)
    };
    let uri = http::Uri::from_maybe_shared(next(path.len()))?;
    let mut req = Request::get(uri).extension(route).body(Empty::new())?;
    let headers = req.headers_mut();
    for (name, len) in [
        (header::HOST, host.len()),
        (header::USER_AGENT, ua.len()),
        (header::AUTHORIZATION, auth.len()),
        (header::REFERER, referer.len()),
    ] {
        headers.insert(name, http::HeaderValue::from_maybe_shared(next(len))?);
    }
    Ok(req)
}

async fn capacity(args: Args) -> Result<(), BoxError> {
    let pattern = args.value("--pattern").unwrap_or("batch").to_owned();
    let distinct = match pattern.as_str() {
        "batch" => false,
        "distinct" => true,
        other => return Err(format!("unknown pattern {other:?}: batch or distinct").into()),
    };
    let hits: usize = args.num("--hits", if distinct { 50_000 } else { 200_000 });
    // `--urls distinct`: every request a path of its own, so no page is ever seen twice.
    let distinct_urls = match args.value("--urls").unwrap_or("same") {
        "same" => false,
        "distinct" => true,
        other => return Err(format!("unknown --urls {other:?}: same or distinct").into()),
    };
    let mut own = None;
    let url = match args.value("--collector") {
        Some(u) => u.to_owned(),
        None => {
            let c =
                Collector::start(CollectorConfig::default().record(false).validate(false)).await?;
            let u = c.url();
            own = Some(c);
            u
        }
    };
    let layer = GaLayer::new("G-LOADTEST01")
        .api_secret("load-secret")
        .endpoint(url)
        // Twice the hits: the queue stays under half full, so nothing is shed, by the request
        // path or by the crowd (which drops only from a pressed queue).
        .queue_capacity(2 * hits + 1)
        .build()?;
    let handle = layer.handle();
    let mut svc = layer.layer(tower::service_fn(
        |_req: Request<Empty<bytes::Bytes>>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Empty::<bytes::Bytes>::new()))
        },
    ));
    // Start the sender and its connections before timing.
    assert!(handle.flush(Duration::from_secs(5)).await);
    let cpu0 = thread_cpu("tower-ga-sender").unwrap_or_default();

    let t0 = Instant::now();
    let route = tower_ga::MatchedRoute::new("/users/{id}");
    for i in 0..hits {
        let auth = if distinct {
            format!("Bearer consumer-{i}")
        } else {
            "Bearer the-one-consumer".to_owned()
        };
        let path = if distinct_urls {
            format!("/users/{i}?page=2&sort=desc")
        } else {
            "/users/42?page=2&sort=desc".to_owned()
        };
        let req = hyper_like_request(&path, &auth, route.clone())?;
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
        svc.call(req).await?;
    }
    let pushed = t0.elapsed();
    let flushed = handle.flush(Duration::from_secs(300)).await;
    let wall = t0.elapsed();
    let cpu = thread_cpu("tower-ga-sender").unwrap_or_default() - cpu0;
    let s = handle.stats();
    println!(
        "CAPACITY pattern={pattern} urls={} hits={hits} flushed={flushed} push_s={:.3} wall_s={:.3} hits_per_s={:.0} sender_cpu_s={:.3} hits_per_sender_cpu_s={:.0} sent={} dropped={} failed={} batches={} hits_per_batch={:.1}",
        if distinct_urls { "distinct" } else { "same" },
        pushed.as_secs_f64(),
        wall.as_secs_f64(),
        hits as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64(),
        hits as f64 / cpu.as_secs_f64(),
        s.sent,
        s.dropped,
        s.failed,
        s.batches,
        s.sent as f64 / s.batches.max(1) as f64,
    );
    if let Some(c) = own {
        println!("CAPACITY_COLLECTOR {:?}", c.counts());
    }
    Ok(())
}

/// A transport that answers every batch with `204` at once, sending nothing.
#[derive(Debug)]
struct NoNetwork;

impl Transport for NoNetwork {
    fn send(&self, _request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        Box::pin(async { Ok(Reply::status(http::StatusCode::NO_CONTENT)) })
    }
}
