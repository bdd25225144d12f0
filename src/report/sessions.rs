//! Sessions per client, kept by the sender.

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::config::Key;
use crate::report::daily_cap::{DailyCap, DEFAULT_DAILY_EVENTS};

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
    /// Derived sessions: the shared key that client keys are hashed with, the same in every
    /// process that has it (see [`SessionMode::Derived`](crate::config::SessionMode::Derived)).
    derive: Option<Key>,
    /// Events per consumer today, for GA's daily cap.
    pub(crate) daily: DailyCap,
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
            derive: None,
            daily: DailyCap::new(DEFAULT_DAILY_EVENTS),
        }
    }

    /// Spreads a consumer over sibling client ids after `events` a day.
    pub(crate) fn with_daily_events(mut self, events: u32) -> Self {
        self.daily = DailyCap::new(events);
        self
    }

    /// Derives session ids from `key`: every process with it gives a consumer the same id.
    pub(crate) fn derived_by(mut self, key: Key) -> Self {
        self.derive = Some(key);
        self
    }

    /// The start (unix seconds, at least 1) of a client's derived session window at `now_secs`:
    /// windows of the timeout, shifted by an offset of the client's own.
    fn window_start(&self, key: u64, now_secs: u64) -> u64 {
        let t = self.timeout_secs;
        let offset = key % t;
        ((now_secs + offset) / t * t).saturating_sub(offset).max(1)
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
    /// may keep in turn to skip hashing the id on every hit. Derived, the id's hash under the
    /// shared key, the same in every process.
    pub(crate) fn key_of(&self, client: &str) -> u64 {
        match &self.derive {
            Some(key) => key.hash64(client.as_bytes()),
            None => self.hasher.hash_one(client),
        }
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
        let (start, engaged, last) = self.track(key, now_ms);
        if self.derive.is_none() {
            return (start, engaged);
        }
        // Derived: the window's start; engagement counts only within one window.
        let id = self.window_start(key, now_ms / 1000);
        let same = last.is_some_and(|l| self.window_start(key, l / 1000) == id);
        (id, if same { engaged } else { 1 })
    }

    /// The per-process session of a client: its start, the engagement time, and the client's
    /// previous hit when it continues the session.
    fn track(&mut self, key: u64, now_ms: u64) -> (u64, u64, Option<u64>) {
        let now_secs = now_ms / 1000;
        let timeout = self.timeout_secs;
        if let Some((start, last)) = self.map.get_mut(&key) {
            if now_ms.saturating_sub(*last) < timeout * 1000 {
                let engaged = now_ms
                    .saturating_sub(*last)
                    .clamp(1, self.engagement_cap_ms);
                let previous = *last;
                *last = (*last).max(now_ms);
                return (*start, engaged, Some(previous));
            }
            *start = now_secs.max(1);
            *last = now_ms;
            return (*start, 1, None);
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
                return ((now_secs / timeout * timeout).max(1), 1, None);
            }
        }
        let start = now_secs.max(1);
        self.map.insert(key, (start, now_ms));
        (start, 1, None)
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

    #[test]
    fn derived_sessions_agree_across_processes_and_roll_over_at_their_window() {
        let key = Key::derive(b"fleet secret");
        let mut a = Sessions::new(1800, 10).derived_by(key);
        let mut b = Sessions::new(1800, 10).derived_by(key);
        let t = 1_800_000_000;
        let (ka, kb) = (a.key_of("1.2"), b.key_of("1.2"));
        assert_eq!(ka, kb, "the same key in every process");
        let (ida, _) = a.session_of(ka, t * 1000);
        let (idb, _) = b.session_of(kb, (t + 60) * 1000);
        assert!(ida > 0 && ida <= t && t - ida < 1800);
        assert_eq!(ida, idb);
        // Within the window, engagement is the time since this process's previous hit.
        assert_eq!(a.session_of(ka, (t + 5) * 1000), (ida, 5000));
        // The next window is the next session, whatever the activity.
        let next = ida + 1800;
        assert_eq!(a.session_of(ka, next * 1000), (next, 1));
        // Another consumer's windows are shifted by an offset of its own.
        let other = a.key_of("3.4");
        let starts: std::collections::HashSet<u64> = (0..50)
            .map(|i| a.window_start(a.key_of(&format!("{i}.1")), t))
            .collect();
        assert!(starts.len() > 40, "offsets spread: {}", starts.len());
        let _ = other;
        // A different key derives different ids.
        let c = Sessions::new(1800, 10).derived_by(Key::derive(b"another"));
        assert_ne!(c.key_of("1.2"), ka);
    }
}
