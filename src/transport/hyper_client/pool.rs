//! The connections behind [`HyperTransport`](super::HyperTransport): made with one deadline over
//! TCP and TLS, kept on a stack of idle ones, and each handed to one request at a time. A request
//! takes the most recently used idle connection to its origin, or makes one.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service as _;

use super::{describe, Target};
use crate::transport::{BoxFuture, TransportError};

/// How long a new connection may take, TCP and TLS together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle connection is kept for reuse.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Kept-alive connections, and the connector that makes new ones.
pub(super) struct Pool {
    connector: TimedConnector,
    /// Connections waiting for a request, the most recently used last.
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
}

struct Idle {
    /// The `scheme://authority` it is connected to.
    origin: Arc<str>,
    sender: http1::SendRequest<Full<Bytes>>,
    since: Instant,
}

/// The HTTPS connector with one deadline over TCP and TLS, so that a collector stalling its
/// handshakes can't hold a socket open.
#[derive(Clone)]
pub(super) struct TimedConnector(HttpsConnector<HttpConnector>, Duration);

type Conn = MaybeHttpsStream<TokioIo<TcpStream>>;
type ConnectError = Box<dyn std::error::Error + Send + Sync>;

impl TimedConnector {
    pub(super) fn new(limit: Duration) -> Result<Self, TransportError> {
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

impl Pool {
    /// A pool keeping up to `max_idle` idle connections.
    pub(super) fn new(max_idle: usize) -> Result<Self, TransportError> {
        Ok(Pool {
            connector: TimedConnector::new(CONNECT_TIMEOUT)?,
            idle: Mutex::new(Vec::new()),
            max_idle,
        })
    }

    /// The most recently used idle connection to `origin` that is still open.
    fn checkout(&self, origin: &str) -> Option<http1::SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Closed and expired connections go (dropping a sender closes its connection).
        idle.retain(|c| !c.sender.is_closed() && now.duration_since(c.since) < IDLE_TIMEOUT);
        let at = idle.iter().rposition(|c| &*c.origin == origin)?;
        Some(idle.remove(at).sender)
    }

    /// Keeps a connection whose exchange is complete for the next request.
    pub(super) fn checkin(&self, origin: Arc<str>, sender: http1::SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= self.max_idle {
            // The least recently used goes.
            if self.max_idle == 0 {
                return;
            }
            idle.remove(0);
        }
        idle.push(Idle {
            origin,
            sender,
            since: Instant::now(),
        });
    }

    /// A connection ready for a request: a kept one, or else a new one.
    pub(super) async fn ready_sender(
        &self,
        target: &Target,
    ) -> Result<http1::SendRequest<Full<Bytes>>, TransportError> {
        while let Some(mut sender) = self.checkout(&target.origin) {
            // A kept connection is ready once its last exchange is wound up, which its task does
            // in a turn or so. One still busy after that (a collector that answered before
            // reading the whole request, say) is left to finish on its own: a request never
            // waits on it. An error means it closed.
            let mut state = poll_ready_once(&mut sender).await;
            if state.is_pending() {
                tokio::task::yield_now().await;
                state = poll_ready_once(&mut sender).await;
            }
            if let Poll::Ready(Ok(())) = state {
                return Ok(sender);
            }
        }
        let mut sender = self.connect(target).await?;
        sender.ready().await.map_err(|e| describe(&e))?;
        Ok(sender)
    }

    pub(super) async fn connect(
        &self,
        target: &Target,
    ) -> Result<http1::SendRequest<Full<Bytes>>, TransportError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| describe(&*e))?;
        let io = connector
            .call(target.connect.clone())
            .await
            .map_err(|e| describe(&*e))?;
        let (sender, connection) = http1::handshake(io).await.map_err(|e| describe(&e))?;
        // The connection runs until its sender is dropped (or the peer closes it); its errors
        // reach the request that was in flight.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// Whether a connection can take a request now, without waiting for it.
async fn poll_ready_once(sender: &mut http1::SendRequest<Full<Bytes>>) -> Poll<hyper::Result<()>> {
    std::future::poll_fn(|cx| Poll::Ready(sender.poll_ready(cx))).await
}
