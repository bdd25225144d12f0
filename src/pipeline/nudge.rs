//! How the request path wakes the sender before its next poll, when hits pile up in the queue.
//!
//! The worker polls the queue, and polls rarely while traffic is light: every wake-up costs the
//! application's core two context switches and the sender's caches. A long poll alone would let
//! a burst arriving from quiet traffic fill the queue before the next look, so the request path
//! checks the queue's length every few requests and, once it is a quarter full, nudges the
//! worker: one byte written to a non-blocking socket pair the worker's runtime listens on. That
//! never waits and takes no lock (a tokio `Notify` or channel would, inside the wake), and it
//! happens at most once per take: the flag stays set until the worker takes hits.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::ArrayQueue;

/// The request path's side.
#[derive(Debug)]
pub(crate) struct Nudge {
    /// Set by a nudge, cleared by the worker when it takes hits: while set, no more bytes are
    /// written.
    pending: AtomicBool,
    /// Requests between two looks at the queue's length, minus one (a power of two minus one).
    mask: u64,
    /// Queue length from which a look nudges.
    threshold: usize,
    #[cfg(unix)]
    tx: std::os::unix::net::UnixStream,
    /// A handle on the worker's end, so that it never closes while the request path can write:
    /// a write to a closed socket raises SIGPIPE where the standard library doesn't suppress it
    /// (older Rust, Apple), and a host that restored SIGPIPE's default would die of it.
    #[cfg(unix)]
    _reader: std::os::unix::net::UnixStream,
}

/// The worker's end, until its runtime listens on it ([`NudgeRx::listen`]). Off Unix there is
/// none: the type can't be made.
#[cfg(unix)]
pub(crate) struct NudgeRx(std::os::unix::net::UnixStream);
#[cfg(not(unix))]
pub(crate) struct NudgeRx(std::convert::Infallible);

/// The worker's end, listened on.
#[cfg(unix)]
pub(crate) struct Listener(Option<tokio::net::UnixStream>);
#[cfg(not(unix))]
pub(crate) struct Listener(std::convert::Infallible);

impl Nudge {
    /// A nudge for a queue of `capacity` hits, and the worker's end of it. Unix only; elsewhere
    /// the worker polls at its shorter idle interval instead.
    pub(crate) fn new(capacity: usize) -> std::io::Result<(Nudge, NudgeRx)> {
        // A look every 64 requests, or more often for a small queue, so that a quarter of it
        // can't be overshot by much.
        let every = (capacity / 8).clamp(1, 64);
        let every = 1u64 << (usize::BITS - 1 - every.leading_zeros());
        #[cfg(unix)]
        {
            let (tx, rx) = std::os::unix::net::UnixStream::pair()?;
            tx.set_nonblocking(true)?;
            rx.set_nonblocking(true)?;
            let nudge = Nudge {
                pending: AtomicBool::new(false),
                mask: every - 1,
                threshold: (capacity / 4).max(1),
                _reader: rx.try_clone()?,
                tx,
            };
            Ok((nudge, NudgeRx(rx)))
        }
        // Elsewhere there is no nudge, and the request path doesn't look.
        #[cfg(not(unix))]
        {
            let _ = every;
            Err(std::io::ErrorKind::Unsupported.into())
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
        #[cfg(unix)]
        {
            use std::io::Write;
            // A full socket (`WouldBlock`) already holds a byte to read; any other error leaves
            // the worker to its poll.
            let _ = (&self.tx).write(&[1]);
        }
    }

    /// Called by the worker as it takes hits: the next pile-up nudges again.
    pub(crate) fn clear(&self) {
        if self.pending.load(Ordering::Relaxed) {
            self.pending.store(false, Ordering::Release);
        }
    }
}

impl NudgeRx {
    /// Registers the worker's end with the current runtime. If that fails, the listener never
    /// fires and [`Listener::active`] says so: the worker then polls at its shorter interval.
    pub(crate) fn listen(self) -> Listener {
        #[cfg(unix)]
        {
            Listener(tokio::net::UnixStream::from_std(self.0).ok())
        }
        #[cfg(not(unix))]
        match self.0 {}
    }
}

impl Listener {
    /// Whether nudges can arrive.
    pub(crate) fn active(&self) -> bool {
        #[cfg(unix)]
        {
            self.0.is_some()
        }
        #[cfg(not(unix))]
        match self.0 {}
    }

    /// Waits for a nudge and consumes it (every byte written so far). Never returns once the
    /// request path's end is gone, or if the socket fails.
    pub(crate) async fn nudged(&mut self) {
        #[cfg(not(unix))]
        match self.0 {}
        #[cfg(unix)]
        {
            if let Some(rx) = &self.0 {
                let mut buf = [0u8; 64];
                loop {
                    if rx.readable().await.is_err() {
                        break;
                    }
                    match rx.try_read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => {
                            while matches!(rx.try_read(&mut buf), Ok(n) if n > 0) {}
                            return;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        Err(_) => break,
                    }
                }
                self.0 = None;
            }
            std::future::pending::<()>().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn it_looks_every_few_requests() {
        let (nudge, _rx) = Nudge::new(256).unwrap();
        // 256 / 8 = 32 requests between looks; a quarter of the queue is 64 hits.
        assert_eq!((nudge.mask, nudge.threshold), (31, 64));
        let (small, _rx) = Nudge::new(20).unwrap();
        assert_eq!((small.mask, small.threshold), (1, 5));
        let (tiny, _rx) = Nudge::new(1).unwrap();
        assert_eq!((tiny.mask, tiny.threshold), (0, 1));
        let (big, _rx) = Nudge::new(1 << 20).unwrap();
        assert_eq!((big.mask, big.threshold), (63, 1 << 18));
    }

    #[cfg(unix)]
    #[test]
    fn a_pile_up_writes_one_byte_until_the_worker_takes_hits() {
        use std::io::Read;
        let queue = ArrayQueue::new(256);
        let (nudge, NudgeRx(mut rx)) = Nudge::new(256).unwrap();
        let pending = |rx: &mut std::os::unix::net::UnixStream| {
            let mut buf = [0u8; 16];
            rx.read(&mut buf).unwrap_or(0)
        };
        for count in 0..64u64 {
            queue.push(count).unwrap();
            nudge.after_push(count, &queue);
        }
        // 64 hits queued, but the last look (after the 33rd request) found 33: no nudge yet.
        assert_eq!(pending(&mut rx), 0);
        for count in 64..200u64 {
            queue.push(count).unwrap();
            nudge.after_push(count, &queue);
        }
        // The looks after the 65th, 97th, … request found a quarter or more: one byte in all.
        assert_eq!(pending(&mut rx), 1);
        nudge.clear();
        nudge.after_push(224, &queue);
        assert_eq!(pending(&mut rx), 1);
        // Below the threshold, no nudge even when cleared.
        nudge.clear();
        while queue.len() > 10 {
            queue.pop();
        }
        nudge.after_push(256, &queue);
        assert_eq!(pending(&mut rx), 0);
    }
}
