//! The default transport: hyper's pooled client with rustls, used directly.
//!
//! It does what the sender needs and no more: one `POST` per batch over a kept-alive
//! connection. reqwest, the other transport, adds a redirect policy and URL handling that re-parse
//! the collector's URL twice per request: 14 % of the sender's instructions per hit when consumers
//! batch, 44 % with one hit per request (BENCHMARKS.md). Redirects aren't followed.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::transport::{
    too_long, BoxFuture, LastParsed, Outgoing, Reply, Transport, TransportError, MAX_REPLY_BYTES,
};

const USER_AGENT: &str = concat!("tower-ga/", env!("CARGO_PKG_VERSION"));

/// How long a new connection may take, TCP and TLS together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The default transport: hyper's pooled HTTP/1.1 client, rustls with Mozilla's roots (no
/// OpenSSL), `TCP_NODELAY`, 5 s to connect (TLS handshake included), idle connections kept for
/// 90 s.
///
/// It follows no redirects: a `3xx` answer fails the batch (its status goes to `on_failure`),
/// so point [`GaLayer::endpoint`](crate::GaLayer::endpoint) at the final URL.
///
/// It connects directly: it does not read `HTTP(S)_PROXY`. Behind an egress proxy, use
/// `ReqwestTransport` (feature `reqwest`) with a client configured for it, or a [`Transport`] of
/// your own.
#[derive(Clone)]
pub struct HyperTransport {
    client: Client<TimedConnector, Full<Bytes>>,
    last_uri: Arc<LastParsed<Uri>>,
}

/// The HTTPS connector with one deadline over TCP and TLS. The sender's request timeout doesn't
/// cover every connect: when a pooled connection frees up first, hyper finishes the new one in the
/// background, and a collector stalling its handshakes would otherwise keep those sockets open.
#[derive(Clone)]
struct TimedConnector(HttpsConnector<HttpConnector>, Duration);

type Conn = MaybeHttpsStream<TokioIo<TcpStream>>;
type ConnectError = Box<dyn std::error::Error + Send + Sync>;

impl TimedConnector {
    fn new(limit: Duration) -> Result<Self, TransportError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(limit));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| TransportError::new(format!("TLS setup: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(TimedConnector(https, limit))
    }
}

impl tower_service::Service<Uri> for TimedConnector {
    type Response = Conn;
    type Error = ConnectError;
    type Future = BoxFuture<'static, Result<Conn, ConnectError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let (connect, limit) = (self.0.call(dst), self.1);
        Box::pin(async move {
            match tokio::time::timeout(limit, connect).await {
                Ok(conn) => conn,
                Err(_) => Err("connect timed out (TCP and TLS)".into()),
            }
        })
    }
}

impl HyperTransport {
    /// A transport keeping up to `max_idle_per_host` idle connections to the collector.
    pub fn new(max_idle_per_host: usize) -> Result<Self, TransportError> {
        let connector = TimedConnector::new(CONNECT_TIMEOUT)?;
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(HyperTransport {
            client,
            last_uri: Default::default(),
        })
    }
}

impl fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransport").finish_non_exhaustive()
    }
}

/// A hyper error and its causes, which name no URL.
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
        let uri = self.last_uri.get(request.url, str::parse::<Uri>);
        let built = uri.and_then(|uri| {
            Request::builder()
                .method(Method::POST)
                .uri(uri)
                .header(header::CONTENT_TYPE, request.content_type)
                .header(header::USER_AGENT, USER_AGENT)
                .body(Full::new(request.body))
                .map_err(|e| TransportError::new(format!("request: {e}")))
        });
        let req = match built {
            Ok(r) => r,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        let pending = self.client.request(req);
        Box::pin(async move {
            let response = pending.await.map_err(|e| describe(&e))?;
            let (parts, body) = response.into_parts();
            let body = match Limited::new(body, MAX_REPLY_BYTES).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<LengthLimitError>() => return Err(too_long()),
                Err(e) => return Err(describe(&*e)),
            };
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let t = HyperTransport::new(1).unwrap();
        let a: Arc<str> = "http://127.0.0.1:9/mp/collect?api_secret=hunter2".into();
        t.last_uri.get(a, str::parse::<Uri>).unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    /// A server that takes the TCP connection and never answers the TLS handshake: the connect
    /// fails at the connector's deadline instead of holding the socket.
    #[tokio::test]
    async fn a_stalled_tls_handshake_fails_at_the_deadline() {
        use tower_service::Service as _;
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
