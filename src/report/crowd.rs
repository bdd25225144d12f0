//! The crowd: consumers the sender has not seen in a session, while it is behind.
//!
//! GA4 takes one client id per request, so a flood of new identities (rotating `Authorization`
//! values, anonymous traffic with random ids) costs one HTTP request per hit, holds the sender's
//! batches full and sheds everyone's hits, known consumers' too. While the sender is behind, a
//! hit whose consumer has no session and was not seen just before goes out under one shared
//! client id, 25 to a request, with no user id, agent or address of its own. While the queue is at
//! least half full, at most a quarter of the hold is such hits and the rest are dropped and
//! counted, so the hold keeps room for known consumers; with the queue emptier, a burst of new
//! consumers waits there instead of being dropped. A consumer seen twice in a short
//! while is let in as itself: a new consumer that keeps coming is only coalesced once.

use crate::config::Key;
use crate::report::client_id::keyed_id;

/// Consumers seen recently, one slot each by their session key: about 4,096 of the latest.
const RECENT: usize = 4096;

/// What the sender keeps of the crowd.
pub(crate) struct Crowd {
    /// Session keys of consumers coalesced lately (0: none): a slot holding a consumer's key when
    /// it comes again lets it in as itself.
    recent: Box<[u64]>,
    /// The shared client id, and the day it was made for (ids rotate daily, as keyed ones do).
    id: String,
    day: Option<u64>,
    /// Crowd hits in the batcher, and the most it may hold.
    pub(crate) held: usize,
    /// The second hash of the crowd's batch key (see `KeyId`): how its batches are known.
    pub(crate) check: u64,
    pub(crate) limit: usize,
    /// Whether the queue is at least half full: only then is `limit` enforced.
    pub(crate) pressed: bool,
}

impl Crowd {
    pub(crate) fn new(hold: usize) -> Self {
        Crowd {
            recent: vec![0; RECENT].into_boxed_slice(),
            id: String::new(),
            day: None,
            held: 0,
            check: 0,
            limit: (hold / 4).max(1),
            pressed: true,
        }
    }

    /// Whether a consumer without a session comes as itself: seen just before, it does.
    pub(crate) fn seen_again(&mut self, session_key: u64) -> bool {
        let slot = &mut self.recent[session_key as usize % RECENT];
        if *slot == session_key {
            *slot = 0;
            return true;
        }
        *slot = session_key;
        false
    }

    /// The shared client id of `day`, in GA4's form.
    pub(crate) fn client_id(&mut self, day: u64, key: &Key) -> &str {
        if self.day != Some(day) {
            let mut identity = b"tower-ga crowd ".to_vec();
            identity.extend_from_slice(&day.to_le_bytes());
            self.id.clear();
            keyed_id(&identity, key).ga4_into(&mut self.id);
            self.day = Some(day);
        }
        &self.id
    }
}

impl std::fmt::Debug for Crowd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crowd")
            .field("held", &self.held)
            .field("limit", &self.limit)
            .field("pressed", &self.pressed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_is_let_in_on_its_second_sighting() {
        let mut c = Crowd::new(256);
        assert!(!c.seen_again(7));
        assert!(c.seen_again(7));
        // Its slot taken by another in between: seen as new again.
        assert!(!c.seen_again(7));
        assert!(!c.seen_again(7 + RECENT as u64));
        assert!(!c.seen_again(7));
    }

    #[test]
    fn the_shared_id_is_keyed_and_daily() {
        let key = Key::derive(b"k");
        let mut c = Crowd::new(256);
        let a = c.client_id(1, &key).to_owned();
        assert_eq!(c.client_id(1, &key), a);
        assert_ne!(c.client_id(2, &key), a);
        assert_ne!(Crowd::new(256).client_id(1, &Key::derive(b"other")), a);
        assert_eq!(c.limit, 64);
    }
}
