//! Sessions per client, kept by the sender.

use std::collections::HashMap;
use std::hash::BuildHasher;

/// Session ids per client: a client's requests share a session while they come less than the
/// session timeout apart, as in GA's own sessions. Lives in the background sender (no lock); the
/// map is bounded, and when it is full a time bucket stands in for the session start.
#[derive(Debug)]
pub(crate) struct Sessions {
    timeout_secs: u64,
    max: usize,
    /// Seeded foldhash, as for the batches: cheaper than SipHash on the sender's every hit.
    hasher: foldhash::fast::RandomState,
    /// Keyed by the client id's 64-bit seeded hash, not the id: 24 bytes an entry rather than
    /// about 90 (the id on the heap), and no string to compare. Two ids of one hash would share a
    /// session: under one chance in a billion among 100,000 clients, and then only a session
    /// start is wrong.
    /// The values: the session's start (unix seconds) and the client's last hit (unix
    /// milliseconds), which the engagement time is measured from.
    map: HashMap<u64, (u64, u64), foldhash::fast::RandomState>,
    /// The longest engagement time one hit reports, in milliseconds.
    engagement_cap_ms: u64,
    /// When a full map was last swept of expired entries (unix seconds): at most once per
    /// [`SWEEP_EVERY_SECS`], so that a map full of active clients doesn't cost a scan of every
    /// entry for each new client.
    swept_at: Option<u64>,
}

/// How often a full session map is swept, at most.
const SWEEP_EVERY_SECS: u64 = 10;

impl Sessions {
    pub(crate) fn new(timeout_secs: u64, max: usize) -> Self {
        Sessions {
            timeout_secs: timeout_secs.max(1),
            max,
            hasher: Default::default(),
            map: HashMap::default(),
            swept_at: None,
            engagement_cap_ms: timeout_secs.max(1) * 1000,
        }
    }

    /// Caps the engagement time a hit reports (at least 1 ms).
    pub(crate) fn with_engagement_cap(mut self, cap_ms: u64) -> Self {
        self.engagement_cap_ms = cap_ms.max(1);
        self
    }

    /// The session id (unix seconds of the session's first hit) for a client seen at `now_secs`.
    #[cfg(test)]
    pub(crate) fn session_id(&mut self, client: &str, now_secs: u64) -> u64 {
        self.session_of(self.key_of(client), now_secs * 1000).0
    }

    /// What a client's session is kept by: its id's seeded hash (see `map`), which the sender
    /// may keep in turn to skip hashing the id on every hit.
    pub(crate) fn key_of(&self, client: &str) -> u64 {
        self.hasher.hash_one(client)
    }

    /// Whether a client known by [`Sessions::key_of`] has a session at `now_ms` (unix
    /// milliseconds).
    pub(crate) fn has_session(&self, key: u64, now_ms: u64) -> bool {
        self.map
            .get(&key)
            .is_some_and(|(_, last)| now_ms.saturating_sub(*last) < self.timeout_secs * 1000)
    }

    /// The session id and the engagement time (milliseconds since the client's previous hit in
    /// the session, capped, at least 1) for a client known by [`Sessions::key_of`], seen at
    /// `now_ms` (unix milliseconds). A session's first hit reports 1 ms.
    pub(crate) fn session_of(&mut self, key: u64, now_ms: u64) -> (u64, u64) {
        let now_secs = now_ms / 1000;
        let timeout = self.timeout_secs;
        if let Some((start, last)) = self.map.get_mut(&key) {
            if now_ms.saturating_sub(*last) < timeout * 1000 {
                let engaged = now_ms
                    .saturating_sub(*last)
                    .clamp(1, self.engagement_cap_ms);
                *last = (*last).max(now_ms);
                return (*start, engaged);
            }
            *start = now_secs.max(1);
            *last = now_ms;
            return (*start, 1);
        }
        if self.map.len() >= self.max {
            let due = self
                .swept_at
                .is_none_or(|at| now_secs.saturating_sub(at) >= SWEEP_EVERY_SECS);
            if due {
                self.swept_at = Some(now_secs);
                self.map
                    .retain(|_, (_, last)| now_ms.saturating_sub(*last) < timeout * 1000);
            }
            if self.map.len() >= self.max {
                return ((now_secs / timeout * timeout).max(1), 1);
            }
        }
        let start = now_secs.max(1);
        self.map.insert(key, (start, now_ms));
        (start, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_continue_within_timeout_and_restart_after() {
        let mut s = Sessions::new(1800, 10);
        assert_eq!(s.session_id("a", 1000), 1000);
        assert_eq!(s.session_id("a", 2000), 1000);
        assert_eq!(s.session_id("b", 2000), 2000);
        assert_eq!(s.session_id("a", 2000 + 1800), 3800);
    }

    #[test]
    fn engagement_is_the_time_since_the_previous_hit_capped() {
        let mut s = Sessions::new(1800, 10).with_engagement_cap(60_000);
        let a = s.key_of("a");
        assert_eq!(s.session_of(a, 1_000_000), (1000, 1)); // a session's first hit
        assert_eq!(s.session_of(a, 1_000_250), (1000, 250));
        assert_eq!(s.session_of(a, 1_000_250), (1000, 1)); // at least 1
        assert_eq!(s.session_of(a, 1_000_100), (1000, 1)); // taken out of order
        assert_eq!(s.session_of(a, 1_000_350), (1000, 100));
        assert_eq!(s.session_of(a, 1_600_000), (1000, 60_000)); // capped
        assert_eq!(s.session_of(a, 3_500_000), (3500, 1)); // a new session
    }

    #[test]
    fn sessions_map_stays_bounded() {
        let mut s = Sessions::new(1800, 2);
        s.session_id("a", 10);
        s.session_id("b", 10);
        assert_eq!(s.session_id("c", 20), 1); // full: the bucket stands in
        assert_eq!(s.map.len(), 2);
        assert_eq!(s.session_id("c", 5000), 5000); // a and b expired and were evicted
    }

    #[test]
    fn a_full_map_is_swept_at_most_every_ten_seconds() {
        let mut s = Sessions::new(100, 2);
        s.session_id("a", 1000);
        s.session_id("b", 1050);
        // Full, nothing expired yet: swept, and the bucket stands in.
        assert_eq!(s.session_id("c", 1099), 1000);
        // `a` has expired by now, but the last sweep was under ten seconds ago: no sweep.
        assert_eq!(s.session_id("d", 1105), 1100);
        assert_eq!(s.map.len(), 2);
        // Ten seconds on, swept: `a` goes, `d` takes its place, `b` keeps its session.
        assert_eq!(s.session_id("d", 1109), 1109);
        assert_eq!(s.session_id("b", 1109), 1050);
        assert_eq!(s.map.len(), 2);
    }
}
