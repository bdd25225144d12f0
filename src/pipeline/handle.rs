//! [`Handle`]: flush, shut down and read the counters from the application.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::stats::Stats;
use super::{Control, Core, SenderState};
use crate::usage::{UsageService, UsageSnapshot};

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
        let start = std::time::Instant::now();
        let sent = self.core.control(timeout, Control::Flush).await;
        sent & self
            .store(timeout.saturating_sub(start.elapsed()), false)
            .await
    }

    /// The usage store's flush (or shutdown) within `timeout`; `true` without a store.
    async fn store(&self, timeout: Duration, stop: bool) -> bool {
        let Some(store) = self.core.store.get() else {
            return true;
        };
        let done = async {
            match stop {
                true => store.shutdown().await,
                false => store.flush().await,
            }
        };
        match super::caller_timer(timeout) {
            Some(timer) => tokio::select! {
                biased;
                ok = done => ok,
                () = timer => false,
            },
            None => done.await,
        }
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
        let start = std::time::Instant::now();
        let sent = self.core.control(timeout, Control::Shutdown).await;
        sent & self
            .store(timeout.saturating_sub(start.elapsed()), true)
            .await
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
        let mut stats = self.core.counters.snapshot();
        if let Some(store) = self.core.store.get() {
            stats.usage_writes = store.counters.writes.load(Ordering::Relaxed);
            stats.usage_write_failures = store.counters.failures.load(Ordering::Relaxed);
        }
        stats
    }

    /// Per-route usage since the sender started: every declared route
    /// ([`known_routes`](crate::GaLayer::known_routes)), zero-call ones flagged `never_called`;
    /// every route seen, flagged when undeclared; the requests that matched no route; and how
    /// many requests were dropped before the sender saw them.
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use axum::{body::Body, routing::get, Router};
    /// # use tower::ServiceExt;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(RecordingTransport::new())
    ///     .known_routes(["GET /users/{id}", "DELETE /users/{id}"]);
    /// let handle = ga.handle();
    /// let app = Router::new()
    ///     .route("/users/{id}", get(|| async { "user" }).delete(|| async { "gone" }))
    ///     .layer(ga);
    /// app.oneshot(Request::get("/users/7").body(Body::empty()).unwrap()).await.unwrap();
    /// assert!(handle.flush(std::time::Duration::from_secs(5)).await);
    /// let usage = handle.usage();
    /// assert_eq!((usage.routes[0].route.as_str(), usage.routes[0].calls), ("/users/{id}", 1));
    /// let never: Vec<_> = usage.never_called().map(|r| r.method.as_str()).collect();
    /// assert_eq!(never, ["DELETE"]);
    /// # }
    /// ```
    pub fn usage(&self) -> UsageSnapshot {
        self.usage_service().snapshot()
    }

    /// Per-route usage over the last `days` UTC days (today included) from the usage store
    /// ([`GaLayer::usage_store`](crate::GaLayer::usage_store)), with what isn't written yet:
    /// every replica's counts, each route's last call (outside the window too), calls per day
    /// and top consumers. Declared routes not called in the window are flagged `never_called`,
    /// unless declared after the window began. Without a store, or when it can't be read
    /// (`store_error`), the same as [`usage`](Self::usage).
    pub async fn usage_window(&self, days: u32) -> UsageSnapshot {
        self.usage_service().window(days).await
    }

    /// The usage page as a tower `Service`, to mount where you like, behind your own
    /// authentication: a browser gets an HTML page (routes by calls, latency, error share, and
    /// the never-called routes), `Accept: application/json` the [`UsageSnapshot`].
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tower_ga::GaLayer;
    ///
    /// let ga = GaLayer::new("G-TEST123").api_secret("s");
    /// let usage = ga.handle().usage_service();
    /// let app: Router = Router::new()
    ///     .route("/users/{id}", get(|| async { "user" }))
    ///     .layer(ga)
    ///     // Outside the layer, so looking at the page isn't API traffic.
    ///     .route_service("/internal/usage", usage);
    /// ```
    pub fn usage_service(&self) -> UsageService {
        let counters = self.core.counters.clone();
        UsageService {
            store: self.core.store.clone(),
            table: self.core.usage.clone(),
            // The crowd's drops were taken, and counted in the table, first.
            dropped: Arc::new(move || {
                let s = counters.snapshot();
                let unreported = counters.unreported_dropped.load(Ordering::Relaxed);
                s.dropped.saturating_sub(s.crowd_dropped) + unreported
            }),
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("stats", &self.stats())
            .finish()
    }
}
