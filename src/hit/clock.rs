//! The wall clock, derived from the monotonic one: the request path reads only `Instant`s.

use std::time::{Instant, SystemTime};

pub(crate) fn wall_clock_of(t: Instant) -> SystemTime {
    let now = SystemTime::now();
    now.checked_sub(t.elapsed()).unwrap_or(now)
}

/// The wall clock and the monotonic clock, read together: they date any `Instant` near them, so
/// that the sender reads the clocks once per batch of hits taken instead of once per hit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clocks {
    wall: SystemTime,
    mono: Instant,
}

impl Clocks {
    pub(crate) fn now() -> Self {
        Clocks {
            wall: SystemTime::now(),
            mono: Instant::now(),
        }
    }

    /// The wall-clock time of `t`, which may come before or after the reading.
    pub(crate) fn wall_clock_of(&self, t: Instant) -> SystemTime {
        if t <= self.mono {
            self.wall.checked_sub(self.mono - t).unwrap_or(self.wall)
        } else {
            self.wall + (t - self.mono)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hit::Hit;
    use std::time::Duration;

    #[test]
    fn clocks_date_instants_either_side_of_their_reading() {
        let c = Clocks::now();
        let d = Duration::from_millis(1500);
        assert_eq!(c.wall_clock_of(c.mono), c.wall);
        assert_eq!(c.wall_clock_of(c.mono + d), c.wall + d);
        if let Some(before) = c.mono.checked_sub(d) {
            assert_eq!(c.wall_clock_of(before), c.wall - d);
        }
        // A hit taken after the reading is dated as the clocks would date it then.
        let mut hit = Hit::from_request(&http::Request::get("/").body(()).unwrap(), false);
        let later = Clocks::now();
        hit.stamp_by(&c);
        let by_later = later.wall_clock_of(hit.started);
        let gap = by_later
            .duration_since(hit.received_at)
            .unwrap_or_else(|e| e.duration());
        assert!(gap < Duration::from_millis(50), "{gap:?}");
    }
}
