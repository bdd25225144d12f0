//! The background sender: its queue, batching interval, concurrency, timeout, retries, transport
//! and outcome hooks.

use std::sync::Arc;
use std::time::Duration;

use super::GaLayer;
use crate::config::RetryPolicy;
use crate::hooks::{OnFailure, OnSuccess};
use crate::transport::Transport;

impl GaLayer {
    /// Hits the queue holds before new ones are dropped (default 4096) and counted in
    /// [`Stats::dropped`](crate::Stats::dropped). The sender empties it when it is a quarter full,
    /// so it should hold 20 ms of the peak request rate (4096: 200,000 requests/s).
    ///
    /// ```
    /// use tower_ga::GaLayer;
    ///
    /// // Peaks of 1,000,000 requests/s: 20 ms of them.
    /// let ga = GaLayer::new("G-ABC123").api_secret("secret").queue_capacity(20_000);
    /// ```
    pub fn queue_capacity(self, hits: usize) -> Self {
        self.with(|c| c.sender.queue_capacity = hits.max(1))
    }

    /// How long a batch's first hit waits for the batch to fill before it is sent anyway
    /// (default 500 ms). Checked every quarter interval, so no hit waits more than 1.25 intervals;
    /// a full batch (25 events of one client) goes out at once, and so does everything on
    /// [`Handle::flush`](crate::Handle::flush).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use axum::{body::Body, routing::get, Router};
    /// use tower::ServiceExt;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .flush_interval(Duration::from_secs(60));
    /// let handle = ga.handle();
    /// let app = Router::new().route("/users/{id}", get(|| async { "user" })).layer(ga);
    /// app.oneshot(http::Request::get("/users/7").body(Body::empty()).unwrap()).await.unwrap();
    ///
    /// tokio::time::sleep(Duration::from_millis(50)).await;
    /// assert!(recorder.requests().is_empty()); // the lone hit waits for company
    /// assert!(handle.flush(Duration::from_secs(5)).await);
    /// assert_eq!(recorder.requests().len(), 1);
    /// # }
    /// ```
    pub fn flush_interval(self, interval: Duration) -> Self {
        self.with(|c| c.sender.flush_interval = interval)
    }

    /// Requests to the collector in flight at once (default 4; at least 1).
    ///
    /// ```
    /// use tower_ga::GaLayer;
    ///
    /// let ga = GaLayer::new("G-ABC123").api_secret("secret").max_concurrency(16);
    /// ```
    pub fn max_concurrency(self, n: usize) -> Self {
        self.with(|c| c.sender.max_concurrency = n.max(1))
    }

    /// Timeout of one request to the collector (default 5 s). Zero is refused by
    /// [`build`](Self::build): no request could ever finish.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_ga::{ConfigError, GaLayer};
    ///
    /// let ga = GaLayer::new("G-ABC123").api_secret("secret");
    /// assert!(ga.clone().request_timeout(Duration::from_secs(2)).build().is_ok());
    /// assert_eq!(
    ///     ga.request_timeout(Duration::ZERO).build().unwrap_err(),
    ///     ConfigError::ZeroRequestTimeout
    /// );
    /// ```
    pub fn request_timeout(self, timeout: Duration) -> Self {
        self.with(|c| c.sender.request_timeout = timeout)
    }

    /// The retry policy (default: 3 retries, 250 ms doubling to 10 s, `Retry-After` up to 60 s).
    /// Only attempts that provably didn't count are retried (no connection, `5xx`, `408`, `429`);
    /// a timeout is retried only with
    /// [`RetryPolicy::retry_unconfirmed`](field@crate::RetryPolicy::retry_unconfirmed).
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::{Request, StatusCode};
    /// use tower_ga::{testing::RecordingTransport, GaLayer, RetryPolicy};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::answering(StatusCode::SERVICE_UNAVAILABLE);
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .retry(RetryPolicy::default().max_retries(2).base_backoff(Duration::from_millis(1)));
    /// let handle = ga.handle();
    /// send(ga, Request::get("/users/7")).await;
    /// assert_eq!(recorder.requests().len(), 3); // the first attempt and two retries
    /// assert_eq!((handle.stats().retried, handle.stats().failed), (2, 1));
    /// # }
    /// ```
    pub fn retry(self, policy: RetryPolicy) -> Self {
        self.with(|c| c.sender.retry = policy)
    }

    /// Replaces the HTTP transport (default: `HyperTransport`, which connects directly; behind an
    /// egress proxy, use `ReqwestTransport`, feature `reqwest`, with a client configured for it).
    ///
    /// A `RecordingTransport` (feature `testing`) records instead of sending:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use axum::{body::Body, routing::get, Router};
    /// use tower::ServiceExt;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").transport(recorder.clone());
    /// let handle = ga.handle();
    /// let app = Router::new().route("/users/{id}", get(|| async { "user" })).layer(ga);
    /// app.oneshot(http::Request::get("/users/7").body(Body::empty()).unwrap()).await.unwrap();
    /// assert!(handle.flush(Duration::from_secs(5)).await);
    ///
    /// let requests = recorder.requests();
    /// assert_eq!((requests.len(), requests[0].hits()), (1, 1));
    /// assert_eq!(requests[0].content_type(), "application/json");
    /// # }
    /// ```
    ///
    /// Through an egress proxy, with `ReqwestTransport`:
    ///
    /// ```
    /// use tower_ga::{GaLayer, ReqwestTransport};
    ///
    /// let client = ReqwestTransport::client_builder()?
    ///     .proxy(reqwest::Proxy::https("http://127.0.0.1:3128")?)
    ///     .build()?;
    /// let ga = GaLayer::new("G-ABC123").api_secret("secret").transport(ReqwestTransport::new(client));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn transport(self, transport: impl Transport) -> Self {
        let t: Arc<dyn Transport> = Arc::new(transport);
        self.with(|c| c.sender.transport = Some(t))
    }

    /// Called once per delivered batch, on the sender's thread (default: nothing). A panic in it is
    /// caught.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, BatchOutcome, GaLayer};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let delivered = Arc::new(AtomicUsize::new(0));
    /// let count = delivered.clone();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(RecordingTransport::new())
    ///     .on_success(move |outcome: &BatchOutcome| {
    ///         count.fetch_add(outcome.hits, Ordering::Relaxed);
    ///     });
    /// send(ga, Request::get("/users/7")).await;
    /// assert_eq!(delivered.load(Ordering::Relaxed), 1);
    /// # }
    /// ```
    pub fn on_success(self, hook: impl OnSuccess) -> Self {
        let h: Arc<dyn OnSuccess> = Arc::new(hook);
        self.with(|c| c.sender.on_success = h)
    }

    /// Called once per batch given up on or objected to by validation, on the sender's thread
    /// (default: nothing). A panic in it is caught.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use http::{Request, StatusCode};
    /// use tower_ga::{testing::RecordingTransport, BatchOutcome, GaLayer};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let failures = Arc::new(Mutex::new(Vec::new()));
    /// let log = failures.clone();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(RecordingTransport::answering(StatusCode::BAD_REQUEST))
    ///     .on_failure(move |outcome: &BatchOutcome| {
    ///         log.lock().unwrap().push((outcome.status, outcome.attempts));
    ///     });
    /// send(ga, Request::get("/users/7")).await;
    /// // A 400 is permanent: no retry.
    /// assert_eq!(*failures.lock().unwrap(), [(Some(StatusCode::BAD_REQUEST), 1)]);
    /// # }
    /// ```
    pub fn on_failure(self, hook: impl OnFailure) -> Self {
        let h: Arc<dyn OnFailure> = Arc::new(hook);
        self.with(|c| c.sender.on_failure = h)
    }
}
