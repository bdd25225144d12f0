//! The background sender: its queue, batching interval, concurrency, timeout, retries, transport
//! and outcome hooks.

use std::sync::Arc;
use std::time::Duration;

use super::GaLayer;
use crate::config::RetryPolicy;
use crate::hooks::{OnFailure, OnSuccess};
use crate::transport::Transport;

impl GaLayer {
    /// Hits the queue holds before new ones are dropped (default 4096). The sender empties it
    /// when it is a quarter full (or every 1 to 20 ms where Unix sockets are missing), so it
    /// should hold 20 ms of the peak request rate (4096: 200,000 requests/s).
    pub fn queue_capacity(self, hits: usize) -> Self {
        self.with(|c| c.queue_capacity = hits.max(1))
    }

    /// How long a batch's first hit waits for the batch to fill before it is sent anyway
    /// (default 500 ms). Checked every quarter interval, so no hit waits more than 1.25 intervals;
    /// a full batch (25 events of one client) goes out at once.
    pub fn flush_interval(self, interval: Duration) -> Self {
        self.with(|c| c.flush_interval = interval)
    }

    /// Requests to the collector in flight at once (default 4).
    pub fn max_concurrency(self, n: usize) -> Self {
        self.with(|c| c.max_concurrency = n.max(1))
    }

    /// Timeout of one request to the collector (default 5 s). Zero is refused by
    /// [`build`](Self::build): no request could ever finish.
    pub fn request_timeout(self, timeout: Duration) -> Self {
        self.with(|c| c.request_timeout = timeout)
    }

    /// The retry policy (default: 3 retries, 250 ms doubling to 10 s, `Retry-After` up to 60 s).
    pub fn retry(self, policy: RetryPolicy) -> Self {
        self.with(|c| c.retry = policy)
    }

    /// Replaces the HTTP transport (default: `HyperTransport`, which connects directly; behind an
    /// egress proxy, use `ReqwestTransport`, feature `reqwest`, with a client configured for it).
    pub fn transport(self, transport: impl Transport) -> Self {
        let t: Arc<dyn Transport> = Arc::new(transport);
        self.with(|c| c.transport = Some(t))
    }

    /// Called once per delivered batch, on the sender's thread.
    pub fn on_success(self, hook: impl OnSuccess) -> Self {
        let h: Arc<dyn OnSuccess> = Arc::new(hook);
        self.with(|c| c.on_success = h)
    }

    /// Called once per batch given up on or objected to by validation, on the sender's thread.
    pub fn on_failure(self, hook: impl OnFailure) -> Self {
        let h: Arc<dyn OnFailure> = Arc::new(hook);
        self.with(|c| c.on_failure = h)
    }
}
