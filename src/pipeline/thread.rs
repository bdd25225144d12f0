//! The sender's thread: a current-thread runtime running the worker, and, however the worker
//! ends (shut down, panicked, never ran), what is left to count.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::lifecycle::Running;
use super::stats::Counters;
use super::worker::Worker;
use super::Control;

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
            while let Some(hit) = self.running.queue.pop() {
                let counter = match hit.report {
                    true => &self.counters.dropped,
                    false => &self.counters.unreported_dropped,
                };
                Counters::add(counter, 1);
            }
            if Arc::strong_count(&self.running) == 1 {
                break;
            }
            std::thread::sleep(LATE_POLL);
        }
    }
}

/// Starts the thread `tower-ga-sender`.
pub(super) fn spawn(
    worker: Worker,
    ctl: mpsc::UnboundedReceiver<Control>,
    leftovers: Leftovers,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("tower-ga-sender".into())
        .spawn(move || {
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(rt) => rt.block_on(worker.run(ctl)),
                    Err(e) => {
                        tracing::error!(error = %e, "tower-ga: cannot start the sender's runtime")
                    }
                }
            }));
            if ran.is_err() {
                tracing::error!("tower-ga: the sender panicked; hits are dropped from now on");
            }
            leftovers.count_forever();
        })
        .map(drop)
}
