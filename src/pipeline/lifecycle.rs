//! The sender's lifecycle, in one place: whether it runs at all ([`State`]), and whether the
//! request path may hand it hits now ([`Gate`]).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

use super::nudge::Nudge;
use super::pool::HitPool;
use crate::config::{Config, ConfigError};
use crate::hit::Hit;

/// What became of the sender when the first service was made. Set once, never changed: a running
/// sender that stops (shut down, or its worker died) closes its [`Gate`] instead.
pub(crate) enum State {
    /// The configuration was refused: requests pass through untracked.
    Refused(ConfigError),
    /// The configuration was fine but no sender could be started (no transport, no thread):
    /// requests are counted as tracked and dropped.
    Failed,
    /// The worker runs (or ran) with this.
    Running(Arc<Running>),
}

/// Whether the sender runs, and if not, why: [`Handle::state`](crate::Handle::state).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SenderState {
    /// No service was made from the layer yet: the sender starts with the first one.
    NotStarted,
    /// Taking hits.
    Running,
    /// The configuration was refused: requests pass through untracked (logged once).
    Disabled(ConfigError),
    /// The configuration was accepted but no transport or thread could be started (logged once):
    /// requests are counted as dropped.
    Failed,
    /// Shut down, or its worker died: requests are counted as dropped.
    Stopped,
}

impl SenderState {
    pub(super) fn of(state: Option<&State>) -> Self {
        match state {
            None => SenderState::NotStarted,
            Some(State::Refused(e)) => SenderState::Disabled(e.clone()),
            Some(State::Failed) => SenderState::Failed,
            Some(State::Running(r)) if r.gate.is_closed() => SenderState::Stopped,
            Some(State::Running(_)) => SenderState::Running,
        }
    }
}

/// What the request path and the worker share while the sender runs.
pub(crate) struct Running {
    /// The configuration the worker runs with.
    pub(crate) config: Arc<Config>,
    /// Hits on their way to the worker: bounded, preallocated, lock-free.
    pub(super) queue: ArrayQueue<Box<Hit>>,
    /// Hits the worker hands back for the next captures.
    pub(super) pool: HitPool,
    /// Wakes the worker early when hits pile up.
    pub(super) nudge: Nudge,
    pub(super) gate: Gate,
    /// The usage table the worker records each hit in.
    pub(super) usage: Arc<std::sync::Mutex<crate::usage::table::UsageTable>>,
}

impl Running {
    /// A hit for [`Hit::capture`] to fill, once the worker has handed some back. Never waits.
    #[inline]
    pub(crate) fn recycled(&self) -> Option<Box<Hit>> {
        self.pool.take()
    }
}

/// Whether a request now would be captured: open, full (the queue was full when a hit last
/// tried; the worker reopens it when it takes hits) or closed (the sender stopped, for good).
///
/// Read on every request and written only when the queue fills or drains: a cache line of its own
/// keeps it shared between the cores instead of bouncing.
#[derive(Default)]
pub(super) struct Gate(CachePadded<AtomicU8>);

const OPEN: u8 = 0;
const FULL: u8 = 1;
const CLOSED: u8 = 2;

impl Gate {
    /// Whether requests are captured now.
    #[inline]
    pub(super) fn is_open(&self) -> bool {
        self.0.load(Ordering::Relaxed) == OPEN
    }

    /// Whether the sender has stopped taking hits.
    pub(super) fn is_closed(&self) -> bool {
        self.0.load(Ordering::Acquire) == CLOSED
    }

    /// A hit found the queue full: later requests aren't captured until the worker reopens the
    /// gate. Never reopens a closed gate.
    pub(super) fn mark_full(&self) {
        self.0.fetch_max(FULL, Ordering::Relaxed);
    }

    /// Reopens a full gate if `room()` says the queue has room again. The gate is read first, so
    /// that neither its line nor the queue's is touched while nothing changes; a closed gate
    /// stays closed.
    pub(super) fn reopen_if(&self, room: impl FnOnce() -> bool) {
        if self.0.load(Ordering::Relaxed) == FULL && room() {
            let _ = self
                .0
                .compare_exchange(FULL, OPEN, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// The sender stops: every later request is dropped without being captured.
    pub(super) fn close(&self) {
        self.0.store(CLOSED, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_gate_stays_closed_and_a_full_one_reopens() {
        let gate = Gate::default();
        assert!(gate.is_open());
        gate.mark_full();
        assert!(!gate.is_open() && !gate.is_closed());
        gate.reopen_if(|| false);
        assert!(!gate.is_open());
        gate.reopen_if(|| true);
        assert!(gate.is_open());
        gate.mark_full();
        gate.close();
        gate.mark_full();
        gate.reopen_if(|| true);
        assert!(gate.is_closed() && !gate.is_open());
    }
}
