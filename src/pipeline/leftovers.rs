//! What is left to count once the worker has stopped, on the sender's thread.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::lifecycle::Running;
use super::stats::Counters;

/// After the worker stopped, how often hits pushed as the queue closed are looked for and counted.
const LATE_POLL: Duration = Duration::from_millis(20);

/// What is left to count once the worker has stopped: after a shutdown, hits pushed as the queue
/// closed; after a panic (or with no runtime), also what the worker held.
pub(super) struct Leftovers {
    pub(super) counters: Arc<Counters>,
    pub(super) running: Arc<Running>,
}

impl Leftovers {
    /// Stops capture, counts what the worker held as dropped, then whatever reaches the queue,
    /// for as long as the layer lives: nothing tracked stays pending.
    pub(super) fn count_forever(self) {
        self.running.gate.close();
        let held = self.counters.held.swap(0, Ordering::Relaxed);
        Counters::add(&self.counters.dropped, held as usize);
        loop {
            let late = std::iter::from_fn(|| self.running.queue.pop()).count();
            Counters::add(&self.counters.dropped, late);
            if Arc::strong_count(&self.running) == 1 {
                break;
            }
            std::thread::sleep(LATE_POLL);
        }
    }
}
