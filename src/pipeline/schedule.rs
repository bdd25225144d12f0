//! When the worker looks at the queue.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::Config;

/// The queue is polled at intervals between these two: each wake-up costs the application's
/// core two context switches and the sender's caches, so the interval doubles while a wake-up
/// finds few hits (an eighth of the queue or less) and drops back to the shortest when it finds
/// more. The request path nudges the worker when the queue is a quarter full (`nudge`), so a
/// burst after quiet traffic doesn't wait for the next poll.
pub(super) const BUSY_POLL: Duration = Duration::from_millis(1);
pub(super) const IDLE_POLL: Duration = Duration::from_millis(100);
/// When the worker looks at the queue: at a deadline (other events, ticks and finished
/// requests, must not keep postponing it), every `poll`, which doubles while looks find little.
pub(super) struct Schedule {
    busy: Duration,
    idle: Duration,
    pub(super) poll: Duration,
    pub(super) next_take: Instant,
    /// Ticks four times per flush interval, so that a batch goes out once its first hit has
    /// waited the interval: no hit waits more than 1.25 intervals, and a busy client's batch
    /// fills before it is sent.
    pub(super) tick: tokio::time::Interval,
}

impl Schedule {
    pub(super) fn new(cfg: &Config, (busy, idle): (Duration, Duration)) -> Self {
        let period = (cfg.sender.flush_interval / 4).max(Duration::from_millis(1));
        // `interval_at`: a plain `interval` ticks at once.
        let mut tick = tokio::time::interval_at(Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Schedule {
            busy,
            // A hit waits in the queue at most a quarter of the flush interval.
            idle: idle.min(period).max(busy),
            poll: busy,
            next_take: Instant::now(),
            tick,
        }
    }

    /// After a look at the queue that took `taken` of its `capacity`.
    pub(super) fn looked(&mut self, taken: usize, capacity: usize) {
        self.poll = if taken > capacity / 8 {
            self.busy
        } else {
            (self.poll * 2).min(self.idle)
        };
        self.next_take = Instant::now() + self.poll;
    }
}
