//! [`ReqwestTransport`]: the transport on reqwest (feature `reqwest`).

use std::sync::Arc;

use super::{
    too_long, BoxFuture, LastParsed, Outgoing, Reply, Transport, TransportError, MAX_REPLY_BYTES,
};

/// A transport on a pooled `reqwest` (0.13) client with rustls (feature `reqwest`): for an egress
/// proxy, or a client configured by hand ([`ReqwestTransport::new`]). The default is
/// `HyperTransport`.
///
/// The feature builds reqwest with `rustls-no-provider`, and [`client_builder`](Self::client_builder)
/// sets rustls on ring (the default transport's provider) with Mozilla's roots: no second crypto
/// provider is built in. A client of your own needs TLS set up too: start from
/// [`client_builder`](Self::client_builder), or enable reqwest's `rustls` feature in your own
/// dependency on it.
#[derive(Clone, Debug)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    last_url: Arc<LastParsed<reqwest::Url>>,
}

impl ReqwestTransport {
    /// A transport around a client of your own (proxy settings, TLS roots, …), best built from
    /// [`client_builder`](Self::client_builder). Keep its redirect policy at none: a batch whose
    /// request was redirected fails (a 3xx counts as failed, as with the default transport), but
    /// a client that follows redirects has re-posted it elsewhere by then.
    ///
    /// ```
    /// use tower_ga::{GaLayer, ReqwestTransport, TransportError};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = ReqwestTransport::client_builder()?
    ///     .proxy(reqwest::Proxy::https("http://127.0.0.1:3128")?)
    ///     .build()?;
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").transport(ReqwestTransport::new(client));
    /// assert!(ga.build().is_ok());
    /// # Ok(()) }
    /// ```
    pub fn new(client: reqwest::Client) -> Self {
        ReqwestTransport {
            client,
            last_url: Default::default(),
        }
    }

    /// A client builder with the transport's defaults, to configure further and hand to
    /// [`new`](Self::new): rustls on ring with Mozilla's roots, no redirects followed,
    /// `TCP_NODELAY`, a 5 s connect timeout, the crate's `User-Agent`. Like any reqwest client,
    /// it reads `HTTP(S)_PROXY` and `NO_PROXY` from the environment.
    ///
    /// ```
    /// use tower_ga::{ReqwestTransport, TransportError};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = ReqwestTransport::client_builder()?.pool_max_idle_per_host(2).build()?;
    /// let transport = ReqwestTransport::new(client);
    /// # Ok(()) }
    /// ```
    pub fn client_builder() -> Result<reqwest::ClientBuilder, TransportError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TransportError::new(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .connect_timeout(std::time::Duration::from_secs(5))
            .user_agent(concat!("tower-ga/", env!("CARGO_PKG_VERSION"))))
    }

    /// The default client ([`client_builder`](Self::client_builder)'s), keeping up to
    /// `max_idle_per_host` idle connections to each host.
    ///
    /// ```
    /// use tower_ga::{GaLayer, ReqwestTransport, TransportError};
    /// let transport = ReqwestTransport::default_client(4)?;
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").transport(transport);
    /// assert!(ga.build().is_ok());
    /// # Ok::<(), TransportError>(())
    /// ```
    pub fn default_client(max_idle_per_host: usize) -> Result<Self, TransportError> {
        let client = Self::client_builder()?
            .pool_max_idle_per_host(max_idle_per_host)
            .build()
            .map_err(|e| TransportError::new(e.without_url().to_string()))?;
        Ok(ReqwestTransport::new(client))
    }
}

impl Transport for ReqwestTransport {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        let url = match self.last_url.get(request.url, reqwest::Url::parse) {
            Ok(url) => url,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        let sent_to = url.clone();
        let pending = self
            .client
            .post(url)
            .header(http::header::CONTENT_TYPE, request.content_type)
            .body(request.body)
            .send();
        Box::pin(async move {
            // reqwest's errors name the URL, which holds the API secret: strip it.
            let clean = |e: reqwest::Error| {
                // A connection that was never made: nothing was sent.
                let connect = e.is_connect();
                let e = TransportError::new(e.without_url().to_string());
                if connect {
                    e.before_sending()
                } else {
                    e
                }
            };
            let mut response = pending.await.map_err(clean)?;
            if *response.url() != sent_to {
                // A client that follows redirects: the batch went elsewhere, and counts as failed.
                return Err(TransportError::new(
                    "the collector redirected the request (redirects are not followed)",
                ));
            }
            let status = response.status();
            let headers = response.headers().clone();
            let mut body = bytes::BytesMut::new();
            while let Some(chunk) = response.chunk().await.map_err(clean)? {
                if body.len() + chunk.len() > MAX_REPLY_BYTES {
                    return Err(too_long());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Reply::status(status).headers(headers).body(body.freeze()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reqwest_urls_parse_and_stay_hidden() {
        let t = ReqwestTransport::default_client(1).unwrap();
        let a: Arc<str> = "http://127.0.0.1:9/mp/collect?api_secret=hunter2".into();
        assert_eq!(
            t.last_url
                .get(a.clone(), reqwest::Url::parse)
                .unwrap()
                .as_str(),
            &*a
        );
        let err = t
            .last_url
            .get(
                "http://[::1/?api_secret=hunter2".into(),
                reqwest::Url::parse,
            )
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{t:?}").contains("hunter2"));
    }

    /// A collector that answers `307` to `Location`, and a second one, `Location`, that counts the
    /// connections it gets.
    async fn redirecting() -> (String, tokio::net::TcpListener) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let location = format!("http://{}/mp/collect", elsewhere.local_addr().unwrap());
        let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/mp/collect?api_secret=hunter2",
            first.local_addr().unwrap()
        );
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = first.accept().await {
                let mut request = vec![0u8; 4096];
                let _ = socket.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (url, elsewhere)
    }

    fn outgoing(url: String) -> Outgoing {
        Outgoing {
            url: url.into(),
            redacted_url: "redacted".into(),
            content_type: "application/json",
            body: bytes::Bytes::from_static(b"{}"),
            hits: 1,
        }
    }

    /// Whether anything connected to `listener` (without waiting: a followed redirect connects
    /// before the answer is returned).
    async fn connected(listener: &tokio::net::TcpListener) -> bool {
        std::future::poll_fn(|cx| std::task::Poll::Ready(listener.poll_accept(cx).is_ready())).await
    }

    #[tokio::test]
    async fn the_default_client_follows_no_redirect() {
        let (url, elsewhere) = redirecting().await;
        let t = ReqwestTransport::default_client(1).unwrap();
        // A followed redirect would wait for `elsewhere`, which never answers.
        let sent = tokio::time::timeout(std::time::Duration::from_secs(10), t.send(outgoing(url)));
        let reply = sent.await.expect("the redirect was followed").unwrap();
        assert_eq!(reply.status, http::StatusCode::TEMPORARY_REDIRECT);
        assert!(
            !connected(&elsewhere).await,
            "the batch was re-posted elsewhere"
        );
    }

    #[tokio::test]
    async fn a_redirect_followed_by_a_users_client_fails_the_batch() {
        let (url, elsewhere) = redirecting().await;
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = elsewhere.accept().await {
                let mut request = vec![0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let client = ReqwestTransport::client_builder()
            .unwrap()
            .redirect(reqwest::redirect::Policy::limited(10))
            .build()
            .unwrap();
        let t = ReqwestTransport::new(client);
        let err = t.send(outgoing(url)).await.unwrap_err();
        assert!(err.to_string().contains("redirected"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
