//! The default transport: hyper-util's pooled HTTP/1.1 client with rustls, over a connector
//! with one deadline for TCP and TLS (`hyper_client/connector.rs`).
//!
//! It does what the sender needs and no more: one `POST` per batch over a kept-alive
//! connection. Redirects aren't followed. A minimal pool of the crate's own would spare the
//! sender 4 to 15 % of its instructions per hit, and nothing measurable in throughput, latency or
//! the sender's CPU (BENCHMARKS.md, "hand-written parts").

mod connector;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::{
    too_long, BoxFuture, LastParsed, Outgoing, Reply, Transport, TransportError, MAX_REPLY_BYTES,
};
use connector::TimedConnector;

const USER_AGENT: &str = concat!("tower-ga/", env!("CARGO_PKG_VERSION"));
/// How long a new connection may take, TCP and TLS together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle connection is kept for reuse.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The default transport: HTTP/1.1 over kept-alive connections, rustls with Mozilla's roots (no
/// OpenSSL), `TCP_NODELAY`, 5 s to connect (TLS handshake included). An idle connection is
/// kept for up to 90 s.
///
/// It follows no redirects: a `3xx` answer fails the batch (its status goes to `on_failure`),
/// so point [`GaLayer::endpoint`](crate::GaLayer::endpoint) at the final URL.
///
/// It connects directly: it does not read `HTTP(S)_PROXY`. Behind an egress proxy, use
/// `ReqwestTransport` (feature `reqwest`) with a client configured for it, or a [`Transport`] of
/// your own.
#[derive(Clone)]
pub struct HyperTransport {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<TimedConnector, Full<Bytes>>,
    last_target: LastParsed<Uri>,
}

/// A collector URL as requests are sent to it: absolute, without credentials (`user:pass@`
/// goes neither into the `Host` header nor anywhere else).
fn target(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| format!("{e}"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
        return Err("not an absolute URL".into());
    };
    let host = crate::http_text::authority::host_of(authority.as_str());
    Uri::builder()
        .scheme(scheme.clone())
        .authority(host)
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|e| format!("{e}"))
}

impl HyperTransport {
    /// A transport keeping up to `max_idle_per_host` idle connections to each collector host
    /// (the sender talks to one). `0` keeps none: every request connects anew. The default
    /// transport keeps the sender's `max_concurrency`, one per request in flight.
    ///
    /// ```
    /// use tower_ga::{GaLayer, HyperTransport, TransportError};
    /// let transport = HyperTransport::new(4)?;
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").transport(transport);
    /// assert!(ga.build().is_ok());
    /// # Ok::<(), TransportError>(())
    /// ```
    pub fn new(max_idle_per_host: usize) -> Result<Self, TransportError> {
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_idle_per_host)
            .pool_idle_timeout(IDLE_TIMEOUT)
            .build(TimedConnector::new(CONNECT_TIMEOUT)?);
        Ok(HyperTransport {
            inner: Arc::new(Inner {
                client,
                last_target: LastParsed::default(),
            }),
        })
    }
}

impl fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransport").finish_non_exhaustive()
    }
}

/// An error and its causes, which name no URL.
fn describe(e: &(dyn std::error::Error + 'static)) -> TransportError {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    TransportError::new(message)
}

impl Transport for HyperTransport {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let uri = inner.last_target.get(request.url.clone(), target)?;
            let req = Request::builder()
                .method(Method::POST)
                .uri(uri)
                .header(header::CONTENT_TYPE, request.content_type)
                .header(header::USER_AGENT, USER_AGENT)
                .body(Full::new(request.body))
                .map_err(|e| TransportError::new(format!("request: {e}")).before_sending())?;
            // A kept connection the collector closed before the request went out is retried
            // on a new one by the client (nothing was sent).
            let response = inner.client.request(req).await.map_err(|e| {
                let error = describe(&e);
                if e.is_connect() {
                    error.before_sending()
                } else {
                    error
                }
            })?;
            let (parts, body) = response.into_parts();
            let body = match Limited::new(body, MAX_REPLY_BYTES).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<LengthLimitError>() => return Err(too_long()),
                Err(e) => return Err(describe(&*e)),
            };
            Ok(Reply::status(parts.status)
                .headers(parts.headers)
                .body(body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tower_service::Service as _;

    #[test]
    fn debug_hides_the_secret() {
        let t = HyperTransport::new(1).unwrap();
        let a: Arc<str> = "http://127.0.0.1:9/mp/collect?api_secret=hunter2".into();
        let uri = t.inner.last_target.get(a, target).unwrap();
        assert_eq!(uri.query(), Some("api_secret=hunter2"));
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    #[test]
    fn targets_are_absolute_without_credentials() {
        let t = target("https://user:pw@collector.test:8443/mp/collect?a=1").unwrap();
        assert_eq!(t, "https://collector.test:8443/mp/collect?a=1");
        assert!(target("/relative").is_err());
    }

    /// A loopback server handing every connection it accepts to `serve`. Returns its address
    /// and how many connections it accepted.
    async fn listen<F, Fut>(serve: F) -> (SocketAddr, Arc<AtomicUsize>)
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(socket));
            }
        });
        (addr, accepted)
    }

    /// Reads into `buf` until it holds a request's head; returns where the head ends, or `None`
    /// when the connection closes first.
    async fn read_head(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
        loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Some(i + 4);
            }
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// A loopback server answering `204` to every request; with `close`, each answer says
    /// `Connection: close` and the connection ends.
    async fn server(close: bool) -> (SocketAddr, Arc<AtomicUsize>) {
        listen(move |mut socket| async move {
            let mut buf = Vec::new();
            // One request at a time: its head, then `Content-Length` bytes of body.
            while let Some(head_end) = read_head(&mut socket, &mut buf).await {
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                while buf.len() < head_end + len {
                    let mut chunk = [0u8; 4096];
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                buf.drain(..head_end + len);
                let answer: &[u8] = if close {
                    b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n"
                } else {
                    b"HTTP/1.1 204 No Content\r\n\r\n"
                };
                if socket.write_all(answer).await.is_err() || close {
                    return;
                }
            }
        })
        .await
    }

    fn outgoing(addr: SocketAddr) -> Outgoing {
        let url: Arc<str> = format!("http://{addr}/mp/collect?api_secret=s").into();
        Outgoing {
            url: url.clone(),
            redacted_url: url,
            content_type: "application/json",
            body: Bytes::from_static(b"{}"),
            hits: 1,
        }
    }

    /// Sends `n` requests one after another, each answered `204`.
    async fn send_in_turn(t: &HyperTransport, addr: SocketAddr, n: usize) {
        for _ in 0..n {
            assert_eq!(t.send(outgoing(addr)).await.unwrap().status, 204);
        }
    }

    /// Sends two requests at once, both answered `204`.
    async fn send_two_at_once(t: &HyperTransport, addr: SocketAddr) {
        let (a, b) = tokio::join!(t.send(outgoing(addr)), t.send(outgoing(addr)));
        assert_eq!(
            (a.unwrap().status.as_u16(), b.unwrap().status.as_u16()),
            (204, 204)
        );
    }

    #[tokio::test]
    async fn connections_are_kept_and_reused() {
        let (addr, accepted) = server(false).await;
        let t = HyperTransport::new(2).unwrap();
        send_in_turn(&t, addr, 5).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        // Two at once need two connections, and both are kept.
        send_two_at_once(&t, addr).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        send_two_at_once(&t, addr).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_collector_closes_is_not_reused() {
        let (addr, accepted) = server(true).await;
        let t = HyperTransport::new(2).unwrap();
        send_in_turn(&t, addr, 5).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
    }

    /// A collector that answers as soon as it has a request's head, never reads its body, and
    /// keeps the connection open: the connection stays busy sending the body, and the next
    /// request goes out on a new one instead of waiting for it.
    #[tokio::test]
    async fn a_request_never_waits_on_a_connection_still_busy() {
        let (addr, accepted) = listen(|mut socket| async move {
            if read_head(&mut socket, &mut Vec::new()).await.is_some() {
                let _ = socket.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
                std::future::pending::<()>().await;
            }
        })
        .await;
        let t = HyperTransport::new(2).unwrap();
        let mut big = outgoing(addr);
        big.body = Bytes::from(vec![b' '; 16 << 20]);
        let first = tokio::time::timeout(Duration::from_secs(10), t.send(big))
            .await
            .expect("the first answer came");
        assert_eq!(first.unwrap().status, 204);
        let second = tokio::time::timeout(Duration::from_secs(10), t.send(outgoing(addr)))
            .await
            .expect("the second request waited on the busy connection");
        assert_eq!(second.unwrap().status, 204);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// A server that takes the TCP connection and never answers the TLS handshake: the connect
    /// fails at the connector's deadline instead of holding the socket.
    #[tokio::test]
    async fn a_stalled_tls_handshake_fails_at_the_deadline() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (accepted_tx, accepted) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let _ = accepted_tx.send(());
            std::future::pending::<()>().await;
            drop(socket);
        });
        let mut connector = TimedConnector::new(Duration::from_millis(200)).unwrap();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .unwrap();
        let uri: Uri = format!("https://{addr}/mp/collect").parse().unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(30), connector.call(uri))
            .await
            .expect("the connector's own deadline never fired");
        let Err(err) = outcome else {
            panic!("a silent server can't complete a handshake");
        };
        assert!(err.to_string().contains("timed out"), "{err}");
        accepted
            .await
            .expect("TCP was connected: the stall was in TLS");
    }
}
