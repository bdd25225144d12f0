//! The collector's HTTP side: the accept loop, and the answer to each request, with the faults
//! in force.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::inspect::{count_hits, inspect, Endpoint};
use super::state::{Arrival, Received, State};
use super::Collector;
use crate::spec::{ga4, ua};

/// Requests kept for [`Collector::requests`] and [`Collector::arrivals`] at most (each under
/// 130 kB); later ones are counted, not kept.
pub(super) const MAX_RECORDED: usize = 10_000;
/// How long a client may take to send a request's headers, and then its body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// After `accept` fails (out of file descriptors, say), how long the loop waits before it tries
/// again, instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

impl Collector {
    /// Accepts connections on `listener` until [`Collector::stop`], each request answered by
    /// [`handle`].
    pub(super) fn serve(&self, listener: TcpListener) {
        let (stop, mut stopped) = oneshot::channel();
        let state = self.state.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else {
                            state.counters.accept_errors.fetch_add(1, Relaxed);
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                            continue;
                        };
                        if connections.len() >= state.max_connections {
                            state.counters.connections_refused.fetch_add(1, Relaxed);
                            continue; // dropped: the connection closes
                        }
                        let _ = stream.set_nodelay(true);
                        state.counters.connections.fetch_add(1, Relaxed);
                        let state = state.clone();
                        let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
                        connections.spawn(async move {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .timer(TokioTimer::new())
                                .header_read_timeout(READ_TIMEOUT)
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
    // Google takes bodies under 130 kB: a longer one is refused before it is read whole.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > ga4::MAX_BODY_BYTES as u64) {
        return Ok(answer(StatusCode::PAYLOAD_TOO_LARGE, None, Bytes::new()));
    }
    let limited = http_body_util::Limited::new(req.into_body(), ga4::MAX_BODY_BYTES);
    let body = match tokio::time::timeout(READ_TIMEOUT, limited.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(answer(StatusCode::PAYLOAD_TOO_LARGE, None, Bytes::new()))
        }
        Ok(Err(_)) => return Ok(answer(StatusCode::BAD_REQUEST, None, Bytes::new())),
        Err(_) => return Ok(answer(StatusCode::REQUEST_TIMEOUT, None, Bytes::new())),
    };
    let c = &state.counters;
    c.requests.fetch_add(1, Relaxed);
    let (hits, messages, warnings) = if state.validate {
        inspect(endpoint, &query, &body, state.param_value_limit)
    } else {
        (count_hits(endpoint, &body), Vec::new(), Vec::new())
    };
    let n = hits as u64;
    c.hits_seen.fetch_add(n, Relaxed);
    if state.record {
        let mut arrivals = state.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        (arrivals.len() < MAX_RECORDED).then(|| {
            arrivals.push(Arrival {
                at: std::time::Instant::now(),
                path: path.clone(),
                hits,
                messages: messages.clone(),
            })
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
        let mut received = state.received.lock().unwrap_or_else(|e| e.into_inner());
        if received.len() >= MAX_RECORDED {
            c.requests_unrecorded.fetch_add(1, Relaxed);
        }
        (received.len() < MAX_RECORDED).then(|| {
            received.push(Received {
                path,
                query,
                content_type,
                body,
                hits,
                messages,
                warnings,
            })
        });
    }
    Ok(reply)
}
