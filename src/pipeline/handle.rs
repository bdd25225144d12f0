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
    pub async fn flush(&self, timeout: Duration) -> bool {
        self.core.control(timeout, Control::Flush).await
    }

    /// Flushes, then stops the sender: later hits are counted as dropped. Returns by `timeout`,
    /// `true` when everything was delivered or given up on; what was still pending is dropped.
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

    /// The counters now.
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
