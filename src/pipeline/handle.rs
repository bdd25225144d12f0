//! [`Handle`]: flush, shut down and read the counters from the application.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::stats::Stats;
use super::{Control, Core, SenderState};

/// Controls the background sender: flush, shut down, read the counters. Cheap to clone,
/// `Send + Sync`; get one from [`GaLayer::handle`](crate::GaLayer::handle).
#[derive(Clone)]
pub struct Handle {
    pub(crate) core: Arc<Core>,
}

impl Handle {
    /// Waits until every hit queued before the call was delivered or given up on, or until
    /// `timeout` passes. Returns `true` in the first case. Never blocks the thread.
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
    ///
    /// assert!(handle.flush(Duration::from_secs(5)).await);
    /// assert_eq!(recorder.ga4_events().len(), 1);
    /// assert_eq!(handle.stats().pending, 0);
    /// # }
    /// ```
    pub async fn flush(&self, timeout: Duration) -> bool {
        self.core.control(timeout, Control::Flush).await
    }

    /// Flushes, then stops the sender: later hits are counted as dropped. Returns by `timeout`,
    /// `true` when everything was delivered or given up on; what was still pending is dropped.
    /// Requests are still served afterwards, untracked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use axum::{body::Body, routing::get, Router};
    /// use tower::ServiceExt;
    /// use tower_ga::{testing::RecordingTransport, GaLayer, SenderState};
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").transport(recorder.clone());
    /// let handle = ga.handle();
    /// let app = Router::new().route("/users/{id}", get(|| async { "user" })).layer(ga);
    /// let request = || http::Request::get("/users/7").body(Body::empty()).unwrap();
    /// app.clone().oneshot(request()).await.unwrap();
    ///
    /// assert!(handle.shutdown(Duration::from_secs(5)).await);
    /// assert_eq!(recorder.ga4_events().len(), 1); // flushed first
    /// assert_eq!(handle.state(), SenderState::Stopped);
    ///
    /// app.oneshot(request()).await.unwrap();
    /// assert_eq!(handle.stats().dropped, 1);
    /// # }
    /// ```
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.core.control(timeout, Control::Shutdown).await
    }

    /// Whether the sender runs, and if not, why: a malformed id or a missing API secret shows
    /// here as [`SenderState::Disabled`] once the layer has wrapped a service.
    ///
    /// ```
    /// use tower::Layer;
    /// use tower_ga::{ConfigError, GaLayer, SenderState};
    ///
    /// let ga = GaLayer::new("G-ABC123"); // no API secret
    /// let handle = ga.handle();
    /// assert_eq!(handle.state(), SenderState::NotStarted);
    /// let _svc = ga.layer(tower::service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
    /// }));
    /// assert_eq!(handle.state(), SenderState::Disabled(ConfigError::MissingApiSecret));
    /// ```
    pub fn state(&self) -> SenderState {
        self.core.sender_state()
    }

    /// The counters now. A request the filter skips is not tracked (see [`Stats`] for what each
    /// counter holds).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use axum::{body::Body, routing::get, Router};
    /// use tower::ServiceExt;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    ///
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").transport(RecordingTransport::new());
    /// let handle = ga.handle();
    /// let app = Router::new()
    ///     .route("/users/{id}", get(|| async { "user" }))
    ///     .route("/health", get(|| async { "ok" }))
    ///     .layer(ga);
    /// for path in ["/users/7", "/health"] {
    ///     let request = http::Request::get(path).body(Body::empty()).unwrap();
    ///     app.clone().oneshot(request).await.unwrap();
    /// }
    /// assert!(handle.flush(Duration::from_secs(5)).await);
    ///
    /// let stats = handle.stats(); // `/health` is skipped by the default filter
    /// assert_eq!((stats.tracked, stats.sent, stats.dropped, stats.pending), (1, 1, 0, 0));
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        self.core.counters.snapshot()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("stats", &self.stats())
            .finish()
    }
}
