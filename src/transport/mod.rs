//! The seam between the sender and the network: a [`Transport`] takes one HTTP request to the
//! collector and returns its answer. The default is `HyperTransport` (feature `hyper-transport`),
//! `ReqwestTransport` the other one (feature `reqwest`); tests and users can put their own in
//! with [`GaLayer::transport`](crate::GaLayer::transport).

#[cfg(feature = "hyper-transport")]
mod hyper_client;
#[cfg(feature = "testing")]
pub(crate) mod recording;
#[cfg(feature = "reqwest")]
mod reqwest_client;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

#[cfg(feature = "hyper-transport")]
pub use hyper_client::HyperTransport;
#[cfg(feature = "reqwest")]
pub use reqwest_client::ReqwestTransport;

/// A boxed future, as transports return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One HTTP `POST` to a collector.
///
/// Its URL may carry the GA4 API secret; `Debug` and [`Outgoing::redacted_url`] never show it.
#[derive(Clone)]
pub struct Outgoing {
    pub(crate) url: Arc<str>,
    pub(crate) redacted_url: Arc<str>,
    pub(crate) content_type: &'static str,
    pub(crate) body: Bytes,
    pub(crate) hits: usize,
}

impl Outgoing {
    /// The full URL, secrets included: hand it to an HTTP client, never to a log.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL with secrets replaced by `REDACTED`.
    pub fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// The URL's path, e.g. `/mp/collect`.
    pub fn path(&self) -> &str {
        let url: &str = &self.url;
        let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
        let path_and_query = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
        path_and_query.split('?').next().unwrap_or("/")
    }

    /// The `Content-Type` to send.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// The request body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// How many hits the body carries.
    pub fn hits(&self) -> usize {
        self.hits
    }
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("url", &self.redacted_url)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .field("hits", &self.hits)
            .finish()
    }
}

/// The longest answer body a transport reads: Google's answers are a few kB at most (validation
/// messages), and a collector streaming an endless body must not grow the sender's memory.
pub const MAX_REPLY_BYTES: usize = 1 << 20;

/// A collector's answer.
///
/// A transport makes one with [`Reply::status`] and adds what it read; the fields are public to
/// read, and a field may be added, so the struct can't be written as a literal.
///
/// ```
/// use bytes::Bytes;
/// use http::{header::RETRY_AFTER, HeaderValue, StatusCode};
/// use tower_ga::Reply;
///
/// let reply = Reply::status(StatusCode::TOO_MANY_REQUESTS)
///     .header(RETRY_AFTER, HeaderValue::from_static("2"))
///     .body(Bytes::from_static(b"slow down"));
/// assert_eq!(reply.headers[RETRY_AFTER], "2");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers (the sender reads `Retry-After`).
    pub headers: HeaderMap,
    /// The body (the sender reads it in validation mode only).
    pub body: Bytes,
}

impl Reply {
    /// An answer with a status and nothing else: no headers, an empty body.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_ga::Reply;
    ///
    /// let reply = Reply::status(StatusCode::NO_CONTENT);
    /// assert!(reply.headers.is_empty() && reply.body.is_empty());
    /// ```
    pub fn status(status: StatusCode) -> Self {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// This answer with [`headers`](field@Self::headers) replaced by `headers`, e.g. all a
    /// client's response carried.
    ///
    /// ```
    /// use http::{header::RETRY_AFTER, HeaderMap, HeaderValue, StatusCode};
    /// use tower_ga::Reply;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(RETRY_AFTER, HeaderValue::from_static("30"));
    /// let reply = Reply::status(StatusCode::SERVICE_UNAVAILABLE).headers(headers);
    /// assert_eq!(reply.headers[RETRY_AFTER], "30");
    /// ```
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// This answer with one header set, replacing any value of that name.
    ///
    /// ```
    /// use http::{header::RETRY_AFTER, HeaderValue, StatusCode};
    /// use tower_ga::Reply;
    ///
    /// let reply = Reply::status(StatusCode::TOO_MANY_REQUESTS)
    ///     .header(RETRY_AFTER, HeaderValue::from_static("1"))
    ///     .header(RETRY_AFTER, HeaderValue::from_static("2"));
    /// assert_eq!(reply.headers.get_all(RETRY_AFTER).iter().count(), 1);
    /// assert_eq!(reply.headers[RETRY_AFTER], "2");
    /// ```
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// This answer with a body (the sender reads it in validation mode only).
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_ga::Reply;
    ///
    /// let reply = Reply::status(StatusCode::OK).body(r#"{"validationMessages":[]}"#);
    /// assert_eq!(&reply.body[..], br#"{"validationMessages":[]}"#);
    /// ```
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
}

/// Why a request got no answer. Every transport error counts as transient and is retried.
#[derive(Clone, Debug)]
pub struct TransportError {
    message: String,
    not_sent: bool,
}

impl TransportError {
    /// An error with a message, which must not contain the URL's secrets. The request may have
    /// reached the collector (a connection broken mid-exchange, say): it is retried only with
    /// [`RetryPolicy::retry_unconfirmed`](field@crate::RetryPolicy::retry_unconfirmed).
    pub fn new(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            not_sent: false,
        }
    }

    /// An error before any of the request went out (no connection: refused, unresolvable, a TLS
    /// handshake that failed): retrying it can't duplicate hits.
    pub fn not_sent(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            not_sent: true,
        }
    }

    /// This error, known to have come before any of the request went out.
    pub fn before_sending(mut self) -> Self {
        self.not_sent = true;
        self
    }

    /// Whether the request provably never reached the collector.
    pub fn was_not_sent(&self) -> bool {
        self.not_sent
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {}

/// The error for an answer longer than [`MAX_REPLY_BYTES`].
#[cfg(any(feature = "reqwest", feature = "hyper-transport"))]
pub(crate) fn too_long() -> TransportError {
    TransportError::new(format!(
        "the collector's answer is longer than {MAX_REPLY_BYTES} bytes"
    ))
}

/// The last URL a transport sent to, parsed: the sender posts to the same one or two URLs all the
/// time, and parsing one for each request costs the sender 3 to 9 % more per hit (BENCHMARKS.md,
/// "hand-written parts").
#[cfg(any(feature = "reqwest", feature = "hyper-transport", test))]
pub(crate) struct LastParsed<T>(std::sync::Mutex<Option<(Arc<str>, T)>>);

#[cfg(any(feature = "reqwest", feature = "hyper-transport", test))]
impl<T: Clone> LastParsed<T> {
    /// `url` parsed by `parse`, or the last result when `url` is the last URL. The URL holds the
    /// API secret: `parse`'s errors must not show it (`url`'s and `http`'s don't).
    pub(crate) fn get<E: fmt::Display>(
        &self,
        url: Arc<str>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, TransportError> {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((raw, parsed)) = &*last {
            if *raw == url {
                return Ok(parsed.clone());
            }
        }
        let parsed =
            parse(&url).map_err(|e| TransportError::new(format!("invalid collector URL: {e}")))?;
        *last = Some((url, parsed.clone()));
        Ok(parsed)
    }
}

#[cfg(any(feature = "reqwest", feature = "hyper-transport", test))]
impl<T> Default for LastParsed<T> {
    fn default() -> Self {
        LastParsed(std::sync::Mutex::new(None))
    }
}

#[cfg(any(feature = "reqwest", feature = "hyper-transport", test))]
impl<T> fmt::Debug for LastParsed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LastParsed(<redacted>)")
    }
}

/// Sends one request to a collector. Timeouts and retries are the sender's job: a transport makes
/// one attempt, and reads at most [`MAX_REPLY_BYTES`] of the answer (the sender reads the body
/// only in validation mode; a longer one should be an error).
///
/// A transport that prints what it would send, and sends nothing:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use axum::{body::Body, routing::get, Router};
/// use http::StatusCode;
/// use tower::ServiceExt;
/// use tower_ga::{BoxFuture, GaLayer, Outgoing, Reply, Transport, TransportError};
///
/// struct Print;
///
/// impl Transport for Print {
///     fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
///         // Never print `url()`: it carries the API secret.
///         println!("{} hit(s) to {}", request.hits(), request.redacted_url());
///         Box::pin(async { Ok(Reply::status(StatusCode::NO_CONTENT)) })
///     }
/// }
///
/// let ga = GaLayer::new("G-TEST123").api_secret("s").transport(Print);
/// let handle = ga.handle();
/// let app = Router::new().route("/users/{id}", get(|| async { "user" })).layer(ga);
/// app.oneshot(http::Request::get("/users/7").body(Body::empty()).unwrap()).await.unwrap();
/// assert!(handle.flush(Duration::from_secs(5)).await);
/// assert_eq!(handle.stats().sent, 1);
/// # }
/// ```
pub trait Transport: Send + Sync + 'static {
    /// Makes one attempt.
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret_and_path_is_found() {
        let o = Outgoing {
            url: "http://127.0.0.1:9/mp/collect?measurement_id=G-1&api_secret=hunter2".into(),
            redacted_url: "http://127.0.0.1:9/mp/collect?measurement_id=G-1&api_secret=REDACTED"
                .into(),
            content_type: "application/json",
            body: Bytes::from_static(b"{}"),
            hits: 1,
        };
        assert!(!format!("{o:?}").contains("hunter2"));
        assert_eq!(o.path(), "/mp/collect");
    }

    /// Points `transport` at a collector that answers with an endless body: it must stop
    /// reading at [`MAX_REPLY_BYTES`] and report an error instead of growing without bound.
    /// (Were there no limit, the body would end after 64 MiB and the send succeed.)
    async fn check_endless_answer_is_cut_off(transport: &dyn Transport) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 4096];
            let _ = socket.read(&mut request).await.unwrap();
            let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
            socket.write_all(head).await.unwrap();
            let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
            for _ in 0..64 * MAX_REPLY_BYTES / (64 * 1024) {
                if socket.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        });
        let request = Outgoing {
            url: format!("http://{addr}/mp/collect?api_secret=hunter2").into(),
            redacted_url: "redacted".into(),
            content_type: "application/json",
            body: Bytes::from_static(b"{}"),
            hits: 1,
        };
        let err = transport.send(request).await.unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[cfg(feature = "hyper-transport")]
    #[tokio::test]
    async fn hyper_cuts_off_an_endless_answer() {
        let t = super::HyperTransport::new(1).unwrap();
        check_endless_answer_is_cut_off(&t).await;
    }

    #[cfg(feature = "reqwest")]
    #[tokio::test]
    async fn reqwest_cuts_off_an_endless_answer() {
        check_endless_answer_is_cut_off(&super::ReqwestTransport::default_client(1).unwrap()).await;
    }

    #[test]
    fn the_parsed_url_follows_the_request_and_never_shows_the_secret() {
        let last = LastParsed::<http::Uri>::default();
        let a: Arc<str> = "http://127.0.0.1:9/mp/collect?api_secret=hunter2".into();
        let b: Arc<str> = "http://127.0.0.1:9/debug/mp/collect?api_secret=hunter2".into();
        let parse = |u: &str| u.parse::<http::Uri>();
        for url in [&a, &a, &b, &a] {
            assert_eq!(last.get(url.clone(), parse).unwrap().to_string(), **url);
        }
        assert!(!format!("{last:?}").contains("hunter2"));
        let err = last
            .get("http://[::1/?api_secret=hunter2".into(), parse)
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
