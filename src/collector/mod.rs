//! A local stand-in for Google's collection endpoints, with fault injection.
//!
//! It accepts GA4 (`/mp/collect`, `/debug/mp/collect`) and legacy v1 (`/collect`, `/batch`,
//! `/debug/collect`) hits on a loopback port, checks every hit against the documented rules
//! ([`validate`](crate::validate)), answers the debug paths the way Google's validation endpoints
//! do, prints hits readably, counts everything (`GET /counts` answers JSON), and misbehaves on
//! request ([`Faults`]): slow, hung, failing with a status (and `Retry-After`), or closing the
//! connection mid-response. [`Collector::stop`] and [`Collector::resume`] take it down and bring it
//! back on the same port.
//!
//! It is what `cargo run --example collector` runs, what the quickstart embeds, and what this
//! crate's tests and benchmarks send to.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
//! use tower_ga::collector::{Collector, CollectorConfig};
//!
//! let collector = Collector::start(CollectorConfig::default()).await?;
//! let layer = tower_ga::GaLayer::new("G-TEST123").api_secret("s").endpoint(collector.url());
//! # drop(layer);
//! assert_eq!(collector.counts().requests, 0);
//! collector.stop().await;
//! # Ok(()) }
//! ```

mod faults;
mod print;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

pub use faults::Faults;
pub use print::Print;

use crate::spec::{ga4, ua, ValidationMessage};
use crate::testing::{parse_ga4, parse_ua, RecordedEvent};
use std::collections::BTreeMap;

/// How to start a [`Collector`].
#[derive(Clone, Debug)]
pub struct CollectorConfig {
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub addr: SocketAddr,
    /// Faults to inject (default none).
    pub faults: Faults,
    /// What to print (default nothing).
    pub print: Print,
    /// Keep every request received, for [`Collector::requests`] (default on; turn off under load).
    pub record: bool,
    /// Seed for the fault dice.
    pub seed: u64,
    /// Longest GA4 param value accepted (default 100).
    pub param_value_limit: usize,
    /// Check every hit against the documented rules (default on). Off, hits are only counted,
    /// cheaply: for load tests, where the collector must not compete with the load generator.
    pub validate: bool,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults: Faults::default(),
            print: Print::Off,
            record: true,
            seed: 0x5eed,
            param_value_limit: ga4::MAX_PARAM_VALUE_LEN,
            validate: true,
        }
    }
}

/// What the collector has seen. Hits are GA4 events or v1 payloads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counts {
    /// TCP connections accepted.
    pub connections: u64,
    /// Collection requests read (any path it serves, any outcome).
    pub requests: u64,
    /// Hits in requests it read, whatever it answered.
    pub hits_seen: u64,
    /// Hits in requests answered `2xx` in full: what a sender may count as sent.
    pub hits_accepted: u64,
    /// Hits in requests answered with an injected error status.
    pub hits_rejected: u64,
    /// Hits in requests it never answered (hang).
    pub hits_hung: u64,
    /// Hits in requests whose answer it broke off (close mid-response).
    pub hits_broken: u64,
    /// Accepted hits that break a documented rule.
    pub hits_invalid: u64,
    /// Accepted GA4 events.
    pub ga4_events: u64,
    /// Accepted v1 hits.
    pub ua_hits: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    hits_seen: AtomicU64,
    hits_accepted: AtomicU64,
    hits_rejected: AtomicU64,
    hits_hung: AtomicU64,
    hits_broken: AtomicU64,
    hits_invalid: AtomicU64,
    ga4_events: AtomicU64,
    ua_hits: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Counts {
        Counts {
            connections: self.connections.load(Relaxed),
            requests: self.requests.load(Relaxed),
            hits_seen: self.hits_seen.load(Relaxed),
            hits_accepted: self.hits_accepted.load(Relaxed),
            hits_rejected: self.hits_rejected.load(Relaxed),
            hits_hung: self.hits_hung.load(Relaxed),
            hits_broken: self.hits_broken.load(Relaxed),
            hits_invalid: self.hits_invalid.load(Relaxed),
            ga4_events: self.ga4_events.load(Relaxed),
            ua_hits: self.ua_hits.load(Relaxed),
        }
    }
}

/// One accepted collection request.
#[derive(Clone, Debug)]
pub struct Received {
    /// Path, e.g. `/mp/collect`.
    pub path: String,
    /// Query string (GA4: `measurement_id` and `api_secret`).
    pub query: String,
    /// `Content-Type` header.
    pub content_type: Option<String>,
    /// Raw body.
    pub body: Bytes,
    /// Hits in it.
    pub hits: usize,
    /// What breaks the documented rules (empty: valid).
    pub messages: Vec<ValidationMessage>,
}

/// One collection request as the collector read it, whatever it then did (answered, rejected,
/// hung, broke off): for timing retries and checking payloads that were never accepted.
#[derive(Clone, Debug)]
pub struct Arrival {
    /// When its body had been read, before any injected fault.
    pub at: std::time::Instant,
    /// Path, e.g. `/mp/collect`.
    pub path: String,
    /// Hits in it.
    pub hits: usize,
    /// What breaks the documented rules (empty: valid).
    pub messages: Vec<ValidationMessage>,
}

impl Received {
    /// Whether this was a GA4 request.
    pub fn is_ga4(&self) -> bool {
        self.path.ends_with("/mp/collect")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Ga4,
    Ga4Debug,
    Ua,
    UaBatch,
    UaDebug,
}

impl Endpoint {
    fn of(path: &str) -> Option<Endpoint> {
        Some(match path {
            "/mp/collect" => Endpoint::Ga4,
            "/debug/mp/collect" => Endpoint::Ga4Debug,
            "/collect" => Endpoint::Ua,
            "/batch" => Endpoint::UaBatch,
            "/debug/collect" => Endpoint::UaDebug,
            _ => return None,
        })
    }
}

struct State {
    faults: RwLock<Faults>,
    rng: faults::Rng,
    counters: Counters,
    record: bool,
    received: Mutex<Vec<Received>>,
    arrivals: Mutex<Vec<Arrival>>,
    printer: print::Printer,
    param_value_limit: usize,
    validate: bool,
}

/// A running local collector. Dropping it stops it.
pub struct Collector {
    addr: SocketAddr,
    state: Arc<State>,
    running: Mutex<Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("addr", &self.addr)
            .field("counts", &self.counts())
            .finish()
    }
}

impl Collector {
    /// Starts a collector. Must be called inside a tokio runtime.
    pub async fn start(config: CollectorConfig) -> io::Result<Collector> {
        let listener = TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            faults: RwLock::new(config.faults),
            rng: faults::Rng::new(config.seed),
            counters: Counters::default(),
            record: config.record,
            received: Mutex::new(Vec::new()),
            arrivals: Mutex::new(Vec::new()),
            printer: print::Printer::new(config.print),
            param_value_limit: config.param_value_limit,
            validate: config.validate,
        });
        if config.print == Print::Hits {
            print::spawn_summary(Arc::downgrade(&state), |s| s.printer.take_second());
        }
        let collector = Collector {
            addr,
            state,
            running: Mutex::new(None),
        };
        collector.serve(listener);
        Ok(collector)
    }

    /// A quiet collector on a free loopback port, recording everything.
    pub async fn start_local() -> io::Result<Collector> {
        Self::start(CollectorConfig::default()).await
    }

    fn serve(&self, listener: TcpListener) {
        let (stop, mut stopped) = oneshot::channel();
        let state = self.state.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        state.counters.connections.fetch_add(1, Relaxed);
                        let state = state.clone();
                        let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
                        connections.spawn(async move {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .keep_alive(true)
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
            // Going down for real: the port closes and open connections are cut.
            drop(listener);
            connections.shutdown().await;
        });
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = Some((stop, task));
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, for [`GaLayer::endpoint`](crate::GaLayer::endpoint).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.state.counters.snapshot()
    }

    /// Changes the faults from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.state.faults.write().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Every accepted request so far (when recording).
    pub fn requests(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every collection request read so far, in order of reading, whatever the answer (when
    /// recording). Unlike [`requests`](Self::requests), this includes requests answered with an
    /// injected error, hung or broken off.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.state
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every accepted GA4 event so far (when recording).
    pub fn ga4_events(&self) -> Vec<RecordedEvent> {
        self.requests()
            .iter()
            .filter(|r| r.is_ga4())
            .flat_map(|r| parse_ga4(&r.body))
            .collect()
    }

    /// Every accepted v1 hit so far (when recording).
    pub fn ua_hits(&self) -> Vec<BTreeMap<String, String>> {
        self.requests()
            .iter()
            .filter(|r| !r.is_ga4())
            .flat_map(|r| parse_ua(&String::from_utf8_lossy(&r.body)))
            .collect()
    }

    /// Stops listening and cuts open connections; the counts stay. Later connections are refused.
    pub async fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((stop, task)) = running {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// Listens again on the same address after [`stop`](Self::stop).
    pub async fn resume(&self) -> io::Result<()> {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some((stop, _)) = self
            .running
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = stop.send(());
        }
    }
}

/// The answer body: whole, or broken off after its first bytes.
enum Answer {
    Full(Option<Bytes>),
    Broken(Option<Bytes>),
}

impl Body for Answer {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        Poll::Ready(match this {
            Answer::Full(b) => b.take().map(|b| Ok(Frame::data(b))),
            Answer::Broken(b) => match b.take() {
                Some(b) => Some(Ok(Frame::data(b))),
                None => Some(Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "injected: closed mid-response",
                ))),
            },
        })
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Answer::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Answer::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Answer::Full(None) => SizeHint::with_exact(0),
            Answer::Broken(_) => SizeHint::default(),
        }
    }
}

fn answer(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: impl Into<Bytes>,
) -> Response<Answer> {
    let body: Bytes = body.into();
    let mut r = Response::new(Answer::Full((!body.is_empty()).then_some(body)));
    *r.status_mut() = status;
    if let Some(ct) = content_type {
        r.headers_mut()
            .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ct));
    }
    r
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Answer>, Infallible> {
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET && path == "/counts" {
        let json = serde_json::to_vec(&state.counters.snapshot()).unwrap_or_default();
        return Ok(answer(StatusCode::OK, Some("application/json"), json));
    }
    let Some(endpoint) = Endpoint::of(&path).filter(|_| req.method() == Method::POST) else {
        return Ok(answer(StatusCode::NOT_FOUND, None, Bytes::new()));
    };
    let query = req.uri().query().unwrap_or("").to_owned();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return Ok(answer(StatusCode::BAD_REQUEST, None, Bytes::new()));
    };
    let c = &state.counters;
    c.requests.fetch_add(1, Relaxed);
    let (hits, messages) = if state.validate {
        inspect(endpoint, &query, &body, state.param_value_limit)
    } else {
        (count_hits(endpoint, &body), Vec::new())
    };
    let n = hits as u64;
    c.hits_seen.fetch_add(n, Relaxed);
    if state.record {
        state
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arrival {
                at: std::time::Instant::now(),
                path: path.clone(),
                hits,
                messages: messages.clone(),
            });
    }

    let faults = state
        .faults
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if !faults.sleep.is_zero() {
        tokio::time::sleep(faults.sleep).await;
    }
    if faults.hang {
        c.hits_hung.fetch_add(n, Relaxed);
        std::future::pending::<()>().await;
    }
    if let Some(status) = faults.fails(&state.rng) {
        c.hits_rejected.fetch_add(n, Relaxed);
        let mut r = answer(status, None, Bytes::new());
        if let Some(secs) = faults.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        return Ok(r);
    }
    if faults.close_mid_response {
        c.hits_broken.fetch_add(n, Relaxed);
        let mut r = Response::new(Answer::Broken(Some(Bytes::from_static(b"{\"partial\":"))));
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, 100u32.into());
        return Ok(r);
    }

    c.hits_accepted.fetch_add(n, Relaxed);
    match endpoint {
        Endpoint::Ga4 | Endpoint::Ga4Debug => c.ga4_events.fetch_add(n, Relaxed),
        _ => c.ua_hits.fetch_add(n, Relaxed),
    };
    if !messages.is_empty() {
        c.hits_invalid.fetch_add(n, Relaxed);
    }
    state.printer.print(
        endpoint == Endpoint::Ga4 || endpoint == Endpoint::Ga4Debug,
        &body,
        &messages,
    );
    let reply = match endpoint {
        Endpoint::Ga4 => answer(StatusCode::NO_CONTENT, None, Bytes::new()),
        Endpoint::Ga4Debug => {
            let json = serde_json::json!({ "validationMessages": messages });
            answer(StatusCode::OK, Some("application/json"), json.to_string())
        }
        Endpoint::Ua | Endpoint::UaBatch => answer(StatusCode::OK, Some("image/gif"), Bytes::new()),
        Endpoint::UaDebug => {
            let text = String::from_utf8_lossy(&body);
            let results: Vec<_> = text
                .split('\n')
                .filter(|l| !l.is_empty())
                .map(|line| {
                    let msgs = ua::validate(line);
                    serde_json::json!({
                        "valid": msgs.is_empty(),
                        "hit": format!("/debug/collect?{line}"),
                        "parserMessage": msgs.iter().map(|m| serde_json::json!({
                            "messageType": "ERROR",
                            "description": m.description,
                            "parameter": m.field_path,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let json = serde_json::json!({ "hitParsingResult": results });
            answer(StatusCode::OK, Some("application/json"), json.to_string())
        }
    };
    if state.record {
        state
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Received {
                path,
                query,
                content_type,
                body,
                hits,
                messages,
            });
    }
    Ok(reply)
}

/// Counts the hits in a request without parsing it: GA4 events each carry one `"name":` (the
/// crate's own payloads name no param `name`), v1 hits are lines.
fn count_hits(endpoint: Endpoint, body: &[u8]) -> usize {
    match endpoint {
        Endpoint::Ga4 | Endpoint::Ga4Debug => {
            let needle = b"\"name\":";
            body.windows(needle.len()).filter(|w| w == needle).count()
        }
        _ => body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
    }
}

/// Counts the hits in a request and checks them.
fn inspect(
    endpoint: Endpoint,
    query: &str,
    body: &[u8],
    limit: usize,
) -> (usize, Vec<ValidationMessage>) {
    match endpoint {
        Endpoint::Ga4 | Endpoint::Ga4Debug => {
            let mut msgs = crate::spec::ga4_validate::validate(body, limit);
            let q: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            if q.get("measurement_id").is_none_or(String::is_empty) {
                msgs.push(ValidationMessage::new(
                    "measurement_id",
                    crate::ValidationCode::ValueRequired,
                    "measurement_id query parameter missing",
                ));
            }
            if endpoint == Endpoint::Ga4 && q.get("api_secret").is_none_or(String::is_empty) {
                msgs.push(ValidationMessage::new(
                    "api_secret",
                    crate::ValidationCode::ValueRequired,
                    "api_secret query parameter missing",
                ));
            }
            // An unreadable body still counts as one (invalid) hit.
            let events = parse_ga4(body).len();
            (
                if events == 0 && !body.is_empty() {
                    1
                } else {
                    events
                },
                msgs,
            )
        }
        Endpoint::Ua | Endpoint::UaDebug => {
            let text = String::from_utf8_lossy(body);
            let lines = text.split('\n').filter(|l| !l.is_empty()).count();
            let mut msgs = Vec::new();
            if lines > 1 {
                msgs.push(ValidationMessage::new(
                    "",
                    crate::ValidationCode::ExceededMaxEntities,
                    "/collect takes one hit; use /batch",
                ));
            }
            msgs.extend(
                text.split('\n')
                    .filter(|l| !l.is_empty())
                    .flat_map(ua::validate),
            );
            (lines, msgs)
        }
        Endpoint::UaBatch => {
            let text = String::from_utf8_lossy(body);
            let lines = text.split('\n').filter(|l| !l.is_empty()).count();
            (lines, ua::validate_batch(&text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheap_counting_agrees_with_parsing() {
        let body = br#"{"client_id":"1.1","events":[{"name":"page_view","params":{}},{"name":"page_view"}]}"#;
        assert_eq!(count_hits(Endpoint::Ga4, body), 2);
        assert_eq!(parse_ga4(body).len(), 2);
        assert_eq!(
            count_hits(Endpoint::UaBatch, b"v=1&t=pageview\nv=1&t=pageview\n"),
            2
        );
    }
}
