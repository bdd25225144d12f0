//! How the request path wakes the sender before its next poll, when hits pile up in the queue.
//!
//! The worker polls the queue, and polls rarely while traffic is light: every wake-up costs the
//! application's core two context switches and the sender's caches. A long poll alone would let
//! a burst arriving from quiet traffic fill the queue before the next look, so the request path
//! checks the queue's length every few requests and, once it is a quarter full, nudges the
//! worker: a tokio [`Notify`] the worker's loop awaits. `notify_one` never waits, but it may take
//! the `Notify`'s short internal lock when the worker is waiting; it happens at most once per
//! take: the flag stays set until the worker takes hits.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::ArrayQueue;
use tokio::sync::Notify;

/// Shared by the request path, which nudges, and the worker, which waits for nudges.
#[derive(Debug)]
pub(crate) struct Nudge {
    /// Set by a nudge, cleared by the worker when it takes hits: while set, no more
    /// notifications are sent.
    pending: AtomicBool,
    /// Requests between two looks at the queue's length, minus one (a power of two minus one).
    mask: u64,
    /// Queue length from which a look nudges.
    threshold: usize,
    /// Holds one permit when nudged while the worker wasn't waiting, so that no nudge is lost.
    notify: Notify,
}

impl Nudge {
    /// A nudge for a queue of `capacity` hits.
    pub(crate) fn new(capacity: usize) -> Nudge {
        // A look every 64 requests, or more often for a small queue, so that a quarter of it
        // can't be overshot by much.
        let every = (capacity / 8).clamp(1, 64);
        let every = 1u64 << (usize::BITS - 1 - every.leading_zeros());
        Nudge {
            pending: AtomicBool::new(false),
            mask: every - 1,
            threshold: (capacity / 4).max(1),
            notify: Notify::new(),
        }
    }

    /// Called on the request path once a request's hit is queued, with the count of the requests
    /// that came before it.
    #[inline]
    pub(crate) fn after_push<T>(&self, count: u64, queue: &ArrayQueue<T>) {
        if count & self.mask == 0 && queue.len() >= self.threshold {
            self.poke();
        }
    }

    #[cold]
    fn poke(&self) {
        // Read before swapped: the flag's line stays shared while a nudge is pending.
        if self.pending.load(Ordering::Relaxed) || self.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        self.notify.notify_one();
    }

    /// Called by the worker as it takes hits: the next pile-up nudges again.
    pub(crate) fn clear(&self) {
        if self.pending.load(Ordering::Relaxed) {
            self.pending.store(false, Ordering::Release);
        }
    }

    /// Waits for a nudge (one sent while nobody waited is kept, and returns at once).
    pub(crate) async fn nudged(&self) {
        self.notify.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};

    /// A waker that does nothing (`Waker::noop` is newer than the crate's MSRV).
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn noop() -> Waker {
        Waker::from(Arc::new(Noop))
    }

    /// Whether a nudge is waiting to be observed: polls a fresh `nudged()` once, consuming it.
    fn observed(nudge: &Nudge) -> bool {
        let waker = noop();
        let mut cx = Context::from_waker(&waker);
        pin!(nudge.nudged()).poll(&mut cx).is_ready()
    }

    #[test]
    fn it_looks_every_few_requests() {
        let nudge = Nudge::new(256);
        // 256 / 8 = 32 requests between looks; a quarter of the queue is 64 hits.
        assert_eq!((nudge.mask, nudge.threshold), (31, 64));
        let small = Nudge::new(20);
        assert_eq!((small.mask, small.threshold), (1, 5));
        let tiny = Nudge::new(1);
        assert_eq!((tiny.mask, tiny.threshold), (0, 1));
        let big = Nudge::new(1 << 20);
        assert_eq!((big.mask, big.threshold), (63, 1 << 18));
    }

    #[test]
    fn a_pile_up_notifies_once_until_the_worker_takes_hits() {
        let queue = ArrayQueue::new(256);
        let nudge = Nudge::new(256);
        for count in 0..64u64 {
            queue.push(count).unwrap();
            nudge.after_push(count, &queue);
        }
        // 64 hits queued, but the last look (after the 33rd request) found 33: no nudge yet.
        assert!(!observed(&nudge));
        for count in 64..200u64 {
            queue.push(count).unwrap();
            nudge.after_push(count, &queue);
        }
        // The looks after the 65th, 97th, … request found a quarter or more: one notification,
        // observed once.
        assert!(observed(&nudge));
        assert!(!observed(&nudge));
        // Still pending (the worker didn't take hits): later looks don't notify again.
        nudge.after_push(224, &queue);
        assert!(!observed(&nudge));
        nudge.clear();
        nudge.after_push(224, &queue);
        assert!(observed(&nudge));
        // Below the threshold, no nudge even when cleared.
        nudge.clear();
        while queue.len() > 10 {
            queue.pop();
        }
        nudge.after_push(256, &queue);
        assert!(!observed(&nudge));
    }

    #[test]
    fn a_waiting_worker_is_woken() {
        let queue = ArrayQueue::new(4);
        let nudge = Nudge::new(4);
        let waker = noop();
        let mut cx = Context::from_waker(&waker);
        let mut waiting = pin!(nudge.nudged());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        queue.push(()).unwrap();
        nudge.after_push(0, &queue);
        assert!(waiting.as_mut().poll(&mut cx).is_ready());
    }
}
