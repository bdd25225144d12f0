//! Log lines that could flood (a collector outage, a full queue) go through a rate limiter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lets a warning through at most once per interval, so a collector outage or a full queue
/// can't flood the logs.
#[derive(Debug)]
pub(crate) struct RateLimited {
    epoch: Instant,
    next_ms: AtomicU64,
    every_ms: u64,
}

impl RateLimited {
    pub(crate) fn new(every: Duration) -> Self {
        RateLimited {
            epoch: Instant::now(),
            next_ms: AtomicU64::new(0),
            every_ms: every.as_millis() as u64,
        }
    }

    pub(crate) fn allow(&self) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64;
        let next = self.next_ms.load(Ordering::Relaxed);
        now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now + self.every_ms,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_lets_one_through_per_interval() {
        let r = RateLimited::new(Duration::from_secs(3600));
        assert!(r.allow());
        assert!(!r.allow());
        assert!(!r.allow());
    }
}
