//! The background sender: a bounded queue between the request path and a worker thread.
//!
//! The request path calls [`Core::offer`] (or, for a hit the filters keep from Google that only
//! the usage table counts, [`Core::offer_unreported`]), which never waits: one lock-free push
//! onto a preallocated ring ([`ArrayQueue`]), and a full or closed queue counts the hit as
//! dropped. The worker ([`worker`]) takes the ring's hits on its tick, or sooner when a push
//! finds the ring a quarter full ([`nudge`]), and does everything else.

mod backoff;
mod delivery;
mod flush;
mod handle;
mod lifecycle;
mod log;
#[cfg(feature = "metrics")]
mod metrics;
mod nudge;
mod pool;
mod schedule;
pub(crate) mod stats;
mod thread;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use tokio::sync::{mpsc, oneshot};

pub use handle::Handle;
pub(crate) use log::RateLimited;

use crate::config::{check, Config};
use crate::hit::Hit;
use crate::spec::Protocol;
use crate::transport::{Transport, TransportError};
use crate::usage::store::{StoreHandle, StoreThread};
use crate::usage::table::UsageTable;
use lifecycle::Gate;
pub use lifecycle::SenderState;
pub(crate) use lifecycle::{Running, State};
use nudge::Nudge;
use pool::HitPool;
use stats::Counters;
use thread::Leftovers;
use worker::Worker;

pub(crate) enum Control {
    Flush(Instant, oneshot::Sender<bool>),
    Shutdown(Instant, oneshot::Sender<bool>),
}

/// What the layer, its services and the handles share.
pub(crate) struct Core {
    /// Set once, when the first service is made.
    state: OnceLock<State>,
    ctl: mpsc::UnboundedSender<Control>,
    ctl_rx: Mutex<Option<mpsc::UnboundedReceiver<Control>>>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) drop_warning: Arc<RateLimited>,
    /// Per-route usage: written by the sender, read by `Handle::usage`; never by the request path.
    pub(crate) usage: Arc<Mutex<UsageTable>>,
    /// The usage store's thread, when one is configured and the sender started.
    pub(crate) store: Arc<OnceLock<StoreHandle>>,
}

impl Core {
    pub(crate) fn new() -> Self {
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        Core {
            state: OnceLock::new(),
            ctl,
            ctl_rx: Mutex::new(Some(ctl_rx)),
            counters: Arc::default(),
            drop_warning: Arc::new(RateLimited::new(Duration::from_secs(10))),
            usage: Arc::default(),
            store: Arc::default(),
        }
    }

    /// Starts the sender with `config` on first use, or refuses the configuration (logged once).
    /// Later calls return what the first one decided, whatever configuration they pass.
    pub(crate) fn activate(&self, config: &Arc<Config>) -> &State {
        self.state.get_or_init(|| {
            if let Some(bad) = &config.inventory.bad {
                tracing::error!(
                    "tower-ga: known routes: {bad}; tracking goes on with no route declared"
                );
            }
            self.declare(&config.inventory);
            self.usage.lock().unwrap_or_else(|e| e.into_inner()).since =
                std::time::SystemTime::now();
            let state = self.decide(config);
            if matches!(state, State::Running(_)) {
                self.start_store(config);
            }
            state
        })
    }

    /// Starts the usage store's thread, if a store is configured (a bad one is logged: the
    /// in-memory table goes on).
    fn start_store(&self, config: &Config) {
        if let Some(bad) = &config.store.bad {
            tracing::error!("tower-ga: usage store: {bad}; usage is kept in memory only");
        }
        let Some(store) = config.store.store.clone() else {
            return;
        };
        match StoreThread::spawn(
            store,
            self.usage.clone(),
            config.identity.key.0,
            config.store.namer.clone(),
            config.store.flush_interval,
            config.store.retention_days,
        ) {
            Ok(handle) => {
                let _ = self.store.set(handle);
            }
            Err(e) => {
                tracing::error!(error = %e, "tower-ga: cannot start the usage store's thread")
            }
        }
    }

    /// Gives the usage table the declared routes (or why there are none), so that it lists
    /// them before the first request.
    pub(crate) fn declare(&self, inventory: &crate::config::Inventory) {
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .declare(&inventory.routes, inventory.bad.as_deref());
    }

    fn decide(&self, config: &Arc<Config>) -> State {
        match check(config) {
            Ok(protocol) => self.start(config.clone(), protocol),
            Err(e) => {
                tracing::error!("tower-ga: {e}; requests pass through untracked");
                State::Refused(e)
            }
        }
    }

    /// Whether a layer has started (or refused to start) the sender.
    pub(crate) fn activated(&self) -> bool {
        self.state.get().is_some()
    }

    /// What the sender is doing.
    pub(crate) fn sender_state(&self) -> SenderState {
        SenderState::of(self.state.get())
    }

    /// The running sender, if it was started.
    #[inline]
    pub(crate) fn running(&self) -> Option<&Running> {
        match self.state.get() {
            Some(State::Running(r)) => Some(r),
            _ => None,
        }
    }

    /// Whether a request now would be captured: the sender runs and its gate is open. Otherwise
    /// the request isn't captured at all, and [`Core::shed`] counts it when its response comes.
    #[inline]
    pub(crate) fn capturing(&self) -> Option<&Running> {
        self.running().filter(|r| r.gate.is_open())
    }

    /// Keeps a hit that won't be sent (filtered out) for the next capture.
    pub(crate) fn recycle(&self, hit: Box<Hit>) {
        if let Some(r) = self.running() {
            r.pool.give(hit);
        }
    }

    /// Counts a request that was not captured because the sender couldn't take its hit.
    pub(crate) fn shed(&self) {
        Counters::add(&self.counters.tracked, 1);
        let why = match self.running() {
            None => "no sender",
            Some(r) if r.gate.is_closed() => "sender shut down",
            Some(_) => "queue full",
        };
        self.count_drop(why);
    }

    /// Hands a hit to the sender. Never waits, never allocates.
    pub(crate) fn offer(&self, hit: Box<Hit>) {
        let count = self.counters.tracked.fetch_add(1, Ordering::Relaxed);
        let why = match self.running() {
            None => "no sender",
            Some(r) if r.gate.is_closed() => "sender shut down",
            Some(r) => match r.queue.push(hit) {
                Ok(()) => {
                    r.nudge.after_push(count, &r.queue);
                    return;
                }
                Err(hit) => {
                    // Until the worker takes hits again, later requests skip the capture.
                    r.gate.mark_full();
                    // The pool is empty while the queue is full: recycle the dropped hit for the
                    // next capture.
                    r.pool.give(hit);
                    "queue full"
                }
            },
        };
        self.count_drop(why);
    }

    /// Hands the sender a hit the filters keep from Google, for the usage table. Never waits,
    /// never allocates; not counted as tracked. A full queue drops it, counted apart.
    pub(crate) fn offer_unreported(&self, hit: Box<Hit>) {
        let Some(r) = self.running().filter(|r| !r.gate.is_closed()) else {
            return self.recycle(hit);
        };
        if let Err(hit) = r.queue.push(hit) {
            r.gate.mark_full();
            r.pool.give(hit);
            Counters::add(&self.counters.unreported_dropped, 1);
        }
    }

    fn count_drop(&self, why: &str) {
        let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        // The rate limiter reads the clock; with the queue full that would be a clock read per
        // request. Asking it at the 1st, 2nd, 4th… and then every 64th drop still warns of any
        // burst of 64 drops or more (at most every 10 s); every drop is counted either way.
        if (dropped.is_power_of_two() || dropped % 64 == 0) && self.drop_warning.allow() {
            tracing::warn!(dropped_total = dropped, "tower-ga: dropping hits ({why})");
        }
    }

    /// Starts the worker thread, with the configuration of the first service.
    fn start(&self, config: Arc<Config>, protocol: Protocol) -> State {
        let Some(ctl) = self.ctl_rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return State::Failed;
        };
        let transport: Arc<dyn Transport> = match &config.sender.transport {
            Some(t) => t.clone(),
            None => match default_transport(&config) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, "tower-ga: no HTTP transport, hits will be dropped");
                    return State::Failed;
                }
            },
        };
        if !config.identity.shared_key
            && config.identity.client_id_strategy == crate::config::ClientIdStrategy::Keyed
        {
            tracing::info!(
                "tower-ga: client ids are this process's own (no client_id_key, no {}): other replicas and restarts count the same consumers as new users",
                crate::config::CLIENT_ID_KEY_ENV
            );
        }
        let capacity = config.sender.queue_capacity.max(1);
        let running = Arc::new(Running {
            queue: ArrayQueue::new(capacity),
            pool: HitPool::new(config.sender.queue_capacity),
            nudge: Nudge::new(capacity),
            gate: Gate::default(),
            usage: self.usage.clone(),
            config,
        });
        let worker = Worker::new(
            running.clone(),
            protocol,
            self.counters.clone(),
            transport,
            self.drop_warning.clone(),
        );
        let leftovers = Leftovers {
            counters: self.counters.clone(),
            running: running.clone(),
        };
        match thread::spawn(worker, ctl, leftovers) {
            // Only now can requests queue hits: someone takes them.
            Ok(()) => State::Running(running),
            Err(e) => {
                tracing::error!(error = %e, "tower-ga: cannot start the sender thread");
                State::Failed
            }
        }
    }

    async fn control(
        &self,
        timeout: Duration,
        make: impl FnOnce(Instant, oneshot::Sender<bool>) -> Control,
    ) -> bool {
        match self.state.get() {
            // No service was made yet, so nothing was ever queued.
            None => return true,
            // Nothing can ever be sent.
            Some(State::Refused(_) | State::Failed) => return false,
            Some(State::Running(_)) => {}
        }
        // The worker gets a slightly earlier deadline, so that when time runs out it has counted
        // what it abandoned before the caller returns.
        let margin = (timeout / 10).min(Duration::from_millis(100));
        let (tx, rx) = oneshot::channel();
        // `Duration::MAX` ("as long as it takes") would overflow an `Instant`: a year will do.
        let deadline = Instant::now()
            .checked_add(timeout - margin)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 86_400));
        if self.ctl.send(make(deadline, tx)).is_err() {
            // The worker has stopped: whatever it held was counted when it did, unless it died
            // just now and that is under way.
            return self.counters.snapshot().pending == 0;
        }
        // The worker answers by its deadline itself; the caller's own timer, where it has one,
        // only guards against a worker stuck in a user hook or starved of CPU. A worker that
        // stops with the request unanswered (it was stopping already) counted what it held.
        let answered = |answer: Result<bool, _>| {
            answer.unwrap_or_else(|_| self.counters.snapshot().pending == 0)
        };
        match caller_timer(timeout) {
            Some(timer) => {
                tokio::pin!(timer);
                tokio::select! {
                    biased;
                    answer = rx => answered(answer),
                    () = &mut timer => false,
                }
            }
            None => answered(rx.await),
        }
    }
}

/// Set once a caller's tokio runtime turned out to have no timers: from then on flushes rely on
/// the worker's own deadline alone.
static NO_CALLER_TIMERS: AtomicBool = AtomicBool::new(false);

/// A timer on the caller's tokio runtime, if it has one with timers enabled. tokio offers no way
/// to ask: making a sleep on a runtime without timers panics, which is caught (once per process:
/// the panic hook prints it) and logged.
fn caller_timer(timeout: Duration) -> Option<tokio::time::Sleep> {
    if tokio::runtime::Handle::try_current().is_err() || NO_CALLER_TIMERS.load(Ordering::Relaxed) {
        return None;
    }
    let deadline = tokio::time::Instant::now().checked_add(timeout)?;
    match std::panic::catch_unwind(|| tokio::time::sleep_until(deadline)) {
        Ok(timer) => Some(timer),
        Err(_) => {
            NO_CALLER_TIMERS.store(true, Ordering::Relaxed);
            tracing::warn!(
                "tower-ga: flush/shutdown called on a tokio runtime without timers (enable_time); \
                 the sender's own deadline bounds them"
            );
            None
        }
    }
}

#[cfg(feature = "hyper-transport")]
fn default_transport(cfg: &Config) -> Result<Arc<dyn Transport>, TransportError> {
    Ok(Arc::new(crate::transport::HyperTransport::new(
        cfg.sender.max_concurrency,
    )?))
}

#[cfg(all(not(feature = "hyper-transport"), feature = "reqwest"))]
fn default_transport(cfg: &Config) -> Result<Arc<dyn Transport>, TransportError> {
    Ok(Arc::new(
        crate::transport::ReqwestTransport::default_client(cfg.sender.max_concurrency)?,
    ))
}

#[cfg(not(any(feature = "hyper-transport", feature = "reqwest")))]
fn default_transport(_: &Config) -> Result<Arc<dyn Transport>, TransportError> {
    Err(TransportError::new(
        "the `hyper-transport` and `reqwest` features are off and no transport was given with GaLayer::transport",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn if_the_worker_dies_every_hit_is_still_counted() {
        use tower::{Layer, ServiceExt};
        let recorder = crate::testing::RecordingTransport::new();
        // Batches close only on flush: `/b` is still held when the worker dies.
        let ga = crate::GaLayer::new("G-TEST123")
            .api_secret("s")
            .flush_interval(Duration::from_secs(3600))
            .transport(recorder.clone());
        let handle = ga.handle();
        let svc = ga.layer(tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        }));
        let call = |path: &str| {
            let req = http::Request::get(path)
                .header("host", "api.test")
                .body(())
                .unwrap();
            svc.clone().oneshot(req)
        };
        for _ in 0..3 {
            call("/a").await.unwrap();
        }
        assert!(handle.flush(Duration::from_secs(10)).await);
        assert_eq!(handle.stats().sent, 3);

        call("/b").await.unwrap();
        // A hit whose every field reads past its buffer: the worker panics taking it, as it
        // would on a bug of ours.
        let mut broken = Box::new(Hit::from_request(
            &http::Request::get("/x").body(()).unwrap(),
            false,
        ));
        crate::hit::text::tests::break_spans(&mut broken.text);
        handle.core.offer(broken);
        // The worker dies taking these; what it held, and every hit after, counts as dropped.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while handle.stats().pending > 0 || !handle.flush(Duration::from_secs(1)).await {
            assert!(std::time::Instant::now() < deadline, "{:?}", handle.stats());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for _ in 0..4 {
            // Requests are still answered.
            assert_eq!(call("/c").await.unwrap().status(), http::StatusCode::OK);
        }
        let s = handle.stats();
        assert_eq!((s.tracked, s.sent, s.failed), (9, 3, 0), "{s:?}");
        assert_eq!((s.dropped, s.pending), (6, 0), "{s:?}");
        assert!(handle.flush(Duration::from_secs(1)).await);
    }
}
