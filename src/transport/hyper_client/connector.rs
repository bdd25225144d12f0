//! The connector behind [`HyperTransport`](super::HyperTransport): hyper-rustls over
//! hyper-util's TCP connector, with one deadline over TCP and TLS together.

use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::transport::{BoxFuture, TransportError};

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
