//! Request-path cost of `GaLayer`: a trivial service called bare, through `GaLayer`, and through
//! tower-http's `TraceLayer::new_for_http()`, with a realistic request (GET, `Host`, `User-Agent`,
//! `Authorization`, `Referer`, a query string, the matched route and the peer address).
//!
//! ```text
//! cargo bench --bench overhead                          # criterion, then the interleaved summary
//! OVERHEAD_SUMMARY_ONLY=1 cargo bench --bench overhead  # only the interleaved summary
//! OVERHEAD_SUBSCRIBER=info cargo bench --bench overhead # all variants under a global fmt
//!                                                       # subscriber (INFO or DEBUG, to a sink)
//! OVERHEAD_PIN=0 cargo bench --bench overhead           # leave thread placement to the scheduler
//! ```
//!
//! The bench pins its own thread to CPU 0 and the GA sender threads to CPU 1 (`taskset`, when
//! there are two CPUs), so no round times a sender sharing the bench's CPU.
//!
//! Each call is `Service::call` plus one poll of the returned future (every service here answers
//! at once; the bench panics otherwise). Requests are built outside the timed section, the way
//! hyper builds them: header values and the URI are slices of one shared buffer per request.
//!
//! The GA variants really enqueue every hit: the queue holds 4,096 hits (`QUEUE`) and, outside the
//! timed section, the bench waits (`Handle::flush`) for the sender to catch up every 2,048 hits
//! offered (`FLUSH_EVERY`), before the queue could fill, so no hit is dropped. The sender thread
//! keeps running during the timed section, on the other core, exactly as it would in an API. Its
//! counters are printed at the end (`dropped` must be 0).
//!
//! Variants:
//! - `svc/*`: a `tower::service_fn` (the route is given as a `MatchedRoute` extension, which is
//!   what axum's `MatchedPath` would be);
//! - `router/*`: an axum `Router` with one route `/users/{id}`, the layer added with
//!   `Router::layer` (so `MatchedPath` is set by axum);
//! - `*/ga`: `GaLayer` with a `RecordingTransport` (cleared at each flush);
//! - `*/ga_collector`: `GaLayer` sending over loopback HTTP to a local `Collector` (record off),
//!   which runs on its own thread: three busy threads on a 2-core machine, so noisier;
//! - `*/trace`: `TraceLayer::new_for_http()`.
//!
//! The summary at the end runs every variant in turn, several rounds, and prints per-variant
//! medians and the per-round differences and ratios to `bare` (medians over rounds). It also runs a
//! "paced" mode, where the sender thread is idle (parked) when each request arrives, as in an API
//! under light load: calls are timed one by one, 30 µs apart.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use criterion::{criterion_group, Criterion};
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, Uri};
use http_body_util::Empty;
use tower::{Layer, Service};
use tower_ga::collector::{Collector, CollectorConfig};
use tower_ga::testing::RecordingTransport;
use tower_ga::{GaLayer, Handle, MatchedRoute};
use tower_http::trace::TraceLayer;

/// Requests built (untimed) and then sent (timed) at a time.
const CHUNK: usize = 256;
/// The GA queue's capacity in the bench.
const QUEUE: usize = 4096;
/// Hits offered between two flushes: half the queue, so the queue never fills.
const FLUSH_EVERY: usize = QUEUE / 2;
/// Distinct API consumers (Authorization tokens).
const CONSUMERS: usize = 100;

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn poll_once<F: Future>(fut: F, cx: &mut Context<'_>) -> F::Output {
    match pin!(fut).poll(cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the service did not answer at once"),
    }
}

/// A request as hyper would hand it over: every header value and the URI share one buffer.
fn request<B>(i: usize, body: B, route_ext: bool) -> Request<B> {
    let host = "api.example.com";
    let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let auth = format!("Bearer tok-{:032x}", i % CONSUMERS);
    let referer = "https://app.example.com/dashboard?tab=users";
    let path = "/users/42?page=2&sort=desc&fields=id,name,email";
    let raw = Bytes::from([host, ua, &auth, referer, path].concat());
    let mut at = 0;
    let mut next = |len: usize| {
        let s = raw.slice(at..at + len);
        at += len;
        s
    };
    let value = |b: Bytes| HeaderValue::from_maybe_shared(b).expect("valid header");
    let mut headers = HeaderMap::with_capacity(8);
    headers.insert(header::HOST, value(next(host.len())));
    headers.insert(header::USER_AGENT, value(next(ua.len())));
    headers.insert(header::AUTHORIZATION, value(next(auth.len())));
    headers.insert(header::REFERER, value(next(referer.len())));
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("gzip, deflate, br"),
    );
    let uri = Uri::from_maybe_shared(next(path.len())).expect("valid uri");

    let mut req = Request::new(body);
    *req.method_mut() = Method::GET;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    let peer = SocketAddr::from(([127, 0, 0, 1], 40_000 + (i % CONSUMERS) as u16));
    req.extensions_mut().insert(ConnectInfo(peer));
    if route_ext {
        req.extensions_mut()
            .insert(MatchedRoute::new("/users/{id}"));
    }
    req
}

type SvcBody = Empty<Bytes>;

fn svc_request(i: usize) -> Request<SvcBody> {
    request(i, Empty::new(), true)
}

fn router_request(i: usize) -> Request<axum::body::Body> {
    request(i, axum::body::Body::empty(), false)
}

fn handler_svc(
) -> impl Service<Request<SvcBody>, Response = Response<SvcBody>, Error = Infallible> + Clone {
    tower::service_fn(|_req: Request<SvcBody>| async { Ok(Response::new(Empty::new())) })
}

fn router() -> Router {
    Router::new().route("/users/{id}", get(|| async { "hello" }))
}

/// Where the GA variants send.
enum Sink {
    Recording(RecordingTransport),
    /// The runtime is kept alive for the collector's sake.
    Collector(Collector, #[allow(dead_code)] tokio::runtime::Runtime),
}

/// A GA layer with a queue of `QUEUE` hits, and what is needed to let it catch up between chunks.
struct Ga {
    handle: Handle,
    sink: Sink,
    since_flush: usize,
}

impl Ga {
    fn new(to_collector: bool) -> (GaLayer, Ga) {
        let base = GaLayer::new("G-BENCH12345")
            .api_secret("bench-secret")
            .queue_capacity(QUEUE);
        let (layer, sink) = if to_collector {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            let collector = rt
                .block_on(Collector::start(CollectorConfig::default().record(false)))
                .expect("collector");
            (
                base.endpoint(collector.url()),
                Sink::Collector(collector, rt),
            )
        } else {
            let rec = RecordingTransport::new();
            (base.transport(rec.clone()), Sink::Recording(rec))
        };
        let handle = layer.handle();
        let ga = Ga {
            handle,
            sink,
            since_flush: 0,
        };
        (layer, ga)
    }

    /// Untimed: waits for the sender when the queue could otherwise fill.
    fn offered(&mut self, n: usize, rt: &tokio::runtime::Runtime) {
        self.since_flush += n;
        if self.since_flush >= FLUSH_EVERY {
            self.flush(rt);
        }
    }

    fn flush(&mut self, rt: &tokio::runtime::Runtime) {
        let ok = rt.block_on(self.handle.flush(Duration::from_secs(60)));
        assert!(ok, "the sender did not catch up: {:?}", self.handle.stats());
        if let Sink::Recording(rec) = &self.sink {
            rec.clear();
        }
        self.since_flush = 0;
    }

    fn report(&self) -> String {
        let s = self.handle.stats();
        let extra = match &self.sink {
            Sink::Recording(_) => String::new(),
            Sink::Collector(c, _) => format!(", collector accepted {}", c.counts().hits_accepted),
        };
        format!(
            "tracked {}, sent {}, dropped {}, failed {}, pending {}, batches {}{extra}",
            s.tracked, s.sent, s.dropped, s.failed, s.pending, s.batches
        )
    }
}

/// One variant: a service, how to build its requests, and (for GA) its sender.
struct Variant {
    name: &'static str,
    /// Times `n` calls (requests built beforehand, untimed).
    run: Box<dyn FnMut(usize) -> Duration>,
    /// Times `n` calls one by one, `gap` apart (spinning in between, untimed).
    paced: Box<dyn FnMut(usize, Duration) -> Duration>,
    ga: Option<Rc<RefCell<Ga>>>,
}

fn variant<S, B, R>(
    name: &'static str,
    svc: S,
    make: fn(usize) -> Request<B>,
    ga: Option<Ga>,
) -> Variant
where
    S: Service<Request<B>, Response = Response<R>> + Clone + 'static,
    S::Error: std::fmt::Debug,
    B: 'static,
{
    let waker = Waker::from(Arc::new(Noop));
    let rt = Rc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    );
    let ga = ga.map(|g| Rc::new(RefCell::new(g)));
    let mut counter = 0usize;

    let (mut s1, w1, rt1, ga1) = (svc.clone(), waker.clone(), rt.clone(), ga.clone());
    let run = Box::new(move |n: usize| {
        let mut cx = Context::from_waker(&w1);
        let mut total = Duration::ZERO;
        let mut left = n;
        while left > 0 {
            let m = left.min(CHUNK);
            let reqs: Vec<_> = (0..m).map(|k| make(counter + k)).collect();
            counter += m;
            let start = Instant::now();
            for req in reqs {
                assert!(matches!(s1.poll_ready(&mut cx), Poll::Ready(Ok(()))));
                let resp = poll_once(s1.call(req), &mut cx).expect("response");
                std::hint::black_box(resp);
            }
            total += start.elapsed();
            left -= m;
            if let Some(g) = &ga1 {
                g.borrow_mut().offered(m, &rt1);
            }
        }
        total
    });

    let (mut s2, w2, rt2, ga2) = (svc, waker, rt, ga.clone());
    let mut counter2 = 0usize;
    let paced = Box::new(move |n: usize, gap: Duration| {
        let mut cx = Context::from_waker(&w2);
        let mut total = Duration::ZERO;
        let mut left = n;
        while left > 0 {
            let m = left.min(CHUNK);
            let reqs: Vec<_> = (0..m).map(|k| make(counter2 + k)).collect();
            counter2 += m;
            for req in reqs {
                let until = Instant::now() + gap;
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                let start = Instant::now();
                assert!(matches!(s2.poll_ready(&mut cx), Poll::Ready(Ok(()))));
                let resp = poll_once(s2.call(req), &mut cx).expect("response");
                std::hint::black_box(resp);
                total += start.elapsed();
            }
            left -= m;
            if let Some(g) = &ga2 {
                g.borrow_mut().offered(m, &rt2);
            }
        }
        total
    });
    Variant {
        name,
        run,
        paced,
        ga,
    }
}

fn variants() -> Vec<Variant> {
    let (ga_svc, ga_svc_state) = Ga::new(false);
    let (gac_svc, gac_svc_state) = Ga::new(true);
    let (ga_router, ga_router_state) = Ga::new(false);
    vec![
        variant("svc/bare", handler_svc(), svc_request, None),
        variant(
            "svc/ga",
            ga_svc.layer(handler_svc()),
            svc_request,
            Some(ga_svc_state),
        ),
        variant(
            "svc/ga_collector",
            gac_svc.layer(handler_svc()),
            svc_request,
            Some(gac_svc_state),
        ),
        variant(
            "svc/trace",
            TraceLayer::new_for_http().layer(handler_svc()),
            svc_request,
            None,
        ),
        variant("router/bare", router(), router_request, None),
        variant(
            "router/ga",
            router().layer(ga_router),
            router_request,
            Some(ga_router_state),
        ),
        variant(
            "router/trace",
            router().layer(TraceLayer::new_for_http()),
            router_request,
            None,
        ),
    ]
}

/// Pins the bench's thread to CPU 0 and every GA sender thread to CPU 1 (with `taskset`), unless
/// `OVERHEAD_PIN=0`. Unpinned, the scheduler now and then puts a sender on the bench's CPU, where
/// it takes turns with the timed loop: those rounds then time the sender's work too, which is
/// the sender's cost (see the load test), not the request path's. Returns what was done.
fn pin_threads() -> String {
    if std::env::var("OVERHEAD_PIN").is_ok_and(|v| v == "0") {
        return "off (OVERHEAD_PIN=0)".into();
    }
    // The machine's CPUs, not this thread's: it may have been pinned by an earlier call.
    let online = online_cpus();
    if online.as_deref().is_none_or(|cpus| cpus == "0") {
        return "off (one CPU, or unknown)".into();
    }
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return "off (no /proc/self/task)".into();
    };
    let taskset = |cpu: &str, tid: &str| {
        std::process::Command::new("taskset")
            .args(["-p", "-c", cpu, tid])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    // The senders first: a thread inherits its creator's CPUs, so any sender started after this
    // (none should be: every variant has run once by now) would share CPU 0 with the bench.
    let mut senders = 0;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == "tower-ga-sender" {
            if !taskset("1", &task.file_name().to_string_lossy()) {
                return "off (taskset failed or missing)".into();
            }
            senders += 1;
        }
    }
    if !taskset("0", &std::process::id().to_string()) {
        return format!("{senders} sender thread(s) on CPU 1, bench thread unpinned");
    }
    format!("bench thread on CPU 0, {senders} sender thread(s) on CPU 1")
}

/// The machine's online CPUs as `taskset` takes them (`0-1`), whatever this thread's affinity.
fn online_cpus() -> Option<String> {
    let cpus = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    Some(cpus.trim().to_owned())
}

/// Gives the bench's thread every CPU again, so that the threads it starts next (senders, the
/// collector's runtime) don't inherit CPU 0 before they are pinned.
fn unpin_bench_thread() {
    if let Some(cpus) = online_cpus() {
        let _ = std::process::Command::new("taskset")
            .args(["-p", "-c", &cpus, &std::process::id().to_string()])
            .output();
    }
}

fn install_subscriber() -> Option<String> {
    let level = std::env::var("OVERHEAD_SUBSCRIBER").ok()?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&level))
        .with_writer(std::io::sink)
        .init();
    Some(level)
}

fn criterion_benches(c: &mut Criterion) {
    let mut vs = variants();
    // Every variant once (which starts its sender), then the threads are pinned.
    for v in &mut vs {
        (v.run)(1_000);
    }
    println!("pinning: {}", pin_threads());
    let mut group = c.benchmark_group("overhead");
    for v in &mut vs {
        group.bench_function(v.name, |b| b.iter_custom(|iters| (v.run)(iters as usize)));
    }
    group.finish();
    for v in &vs {
        if let Some(g) = &v.ga {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            g.borrow_mut().flush(&rt);
            eprintln!("{}: sender stats: {}", v.name, g.borrow().report());
        }
    }
    unpin_bench_thread();
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every variant in turn, `rounds` times; prints medians, and differences and ratios to the
/// `bare` variant of the same family measured in the same round.
fn summary(
    mode: &str,
    vs: &mut [Variant],
    rounds: usize,
    mut measure: impl FnMut(&mut Variant) -> f64,
) {
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); vs.len()];
    for round in 0..rounds {
        // Rotate the order so no variant always runs right after another.
        for k in 0..vs.len() {
            let i = (k + round) % vs.len();
            ns[i].push(measure(&mut vs[i]));
        }
    }
    println!("\n## {mode}: ns per request, {rounds} rounds (median; min..max)\n");
    println!(
        "| variant | median ns | min..max | + ns vs bare (median of rounds) | ratio vs bare |"
    );
    println!("|---|---|---|---|---|");
    for i in 0..vs.len() {
        let family = vs[i].name.split('/').next().unwrap_or("");
        let bare = vs
            .iter()
            .position(|v| v.name == format!("{family}/bare"))
            .unwrap_or(i);
        let mut diffs: Vec<f64> = (0..rounds).map(|r| ns[i][r] - ns[bare][r]).collect();
        let mut ratios: Vec<f64> = (0..rounds).map(|r| ns[i][r] / ns[bare][r]).collect();
        let mut mine = ns[i].clone();
        let (lo, hi) = (
            mine.iter().cloned().fold(f64::MAX, f64::min),
            mine.iter().cloned().fold(f64::MIN, f64::max),
        );
        println!(
            "| {} | {:.0} | {:.0}..{:.0} | {:+.0} | {:.2} |",
            vs[i].name,
            median(&mut mine),
            lo,
            hi,
            median(&mut diffs),
            median(&mut ratios)
        );
    }
}

fn main() {
    let subscriber = install_subscriber();
    println!(
        "size_of::<Hit>() = {} bytes",
        std::mem::size_of::<tower_ga::Hit>()
    );
    println!(
        "subscriber: {}",
        subscriber.as_deref().unwrap_or("none (tracing disabled)")
    );
    if std::env::var_os("OVERHEAD_SUMMARY_ONLY").is_none() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    // `cargo test --benches` runs this binary with `--bench` absent: keep it short then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = env_usize("OVERHEAD_ROUNDS", if quick { 1 } else { 7 });
    let calls = env_usize("OVERHEAD_CALLS", if quick { 1_000 } else { 200_000 });
    let paced_calls = env_usize("OVERHEAD_PACED_CALLS", if quick { 100 } else { 20_000 });

    let mut vs = variants();
    if let Ok(only) = std::env::var("OVERHEAD_ONLY") {
        vs.retain(|v| only.split(',').any(|o| v.name == o));
    }
    // Warm up every variant (and start every sender) before measuring.
    for v in &mut vs {
        (v.run)(calls.min(20_000));
    }
    println!("pinning: {}", pin_threads());
    summary("back to back", &mut vs, rounds, |v| {
        (v.run)(calls).as_nanos() as f64 / calls as f64
    });
    summary("paced, 30 µs apart (sender idle)", &mut vs, rounds, |v| {
        (v.paced)(paced_calls, Duration::from_micros(30)).as_nanos() as f64 / paced_calls as f64
    });
    println!("\nsender stats after the summary (dropped must be 0):");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for v in &vs {
        if let Some(g) = &v.ga {
            g.borrow_mut().flush(&rt);
            println!("- {}: {}", v.name, g.borrow().report());
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    targets = criterion_benches
}
