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
    map: HashMap<u64, (u64, u64), foldhash::fast::RandomState>,
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
        }
    }

    /// The session id (unix seconds of the session's first hit) for a client seen at `now_secs`.
    pub(crate) fn session_id(&mut self, client: &str, now_secs: u64) -> u64 {
        self.session_id_of(self.key_of(client), now_secs)
    }

    /// What a client's session is kept by: its id's seeded hash (see `map`), which the sender
    /// may keep in turn to skip hashing the id on every hit.
    pub(crate) fn key_of(&self, client: &str) -> u64 {
        self.hasher.hash_one(client)
    }

    /// Whether a client known by [`Sessions::key_of`] has a session at `now_secs`.
    pub(crate) fn has_session(&self, key: u64, now_secs: u64) -> bool {
        self.map
            .get(&key)
            .is_some_and(|(_, last)| now_secs.saturating_sub(*last) < self.timeout_secs)
    }

    /// [`Sessions::session_id`] for a client known by [`Sessions::key_of`].
    pub(crate) fn session_id_of(&mut self, key: u64, now_secs: u64) -> u64 {
        let timeout = self.timeout_secs;
        if let Some((start, last)) = self.map.get_mut(&key) {
            if now_secs.saturating_sub(*last) < timeout {
                *last = (*last).max(now_secs);
                return *start;
            }
            *start = now_secs.max(1);
            *last = now_secs;
            return *start;
        }
        if self.map.len() >= self.max {
            let due = self
                .swept_at
                .is_none_or(|at| now_secs.saturating_sub(at) >= SWEEP_EVERY_SECS);
            if due {
                self.swept_at = Some(now_secs);
                self.map
                    .retain(|_, (_, last)| now_secs.saturating_sub(*last) < timeout);
            }
            if self.map.len() >= self.max {
                return (now_secs / timeout * timeout).max(1);
            }
        }
        let start = now_secs.max(1);
        self.map.insert(key, (start, now_secs));
        start
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
