//! GA's daily cap per user: Google documents at most 100,000 events per user per day, and drops
//! the rest without a word. A consumer past a threshold below it goes on under sibling client ids,
//! each taking at most the threshold, so none of its events is lost to the cap.

use std::collections::HashMap;

use crate::config::Key;
use crate::report::client_id::keyed_id;

pub(crate) use crate::config::DEFAULT_DAILY_EVENTS;
/// Consumers counted per day, at most (about 16 bytes each with the map's room: ≈ 2 MB). Once
/// full, consumers first seen later in the day aren't counted (nor spread).
const MAX_COUNTED: usize = 100_000;

/// Events per consumer today, by its session key (see `Sessions::key_of`).
#[derive(Debug)]
pub(crate) struct DailyCap {
    threshold: u32,
    day: u64,
    counts: HashMap<u64, u32, foldhash::fast::RandomState>,
    /// Consumers that passed the threshold since the sender last looked.
    newly_spread: u64,
}

impl DailyCap {
    pub(crate) fn new(threshold: u32) -> Self {
        DailyCap {
            threshold: threshold.max(1),
            day: 0,
            counts: HashMap::default(),
            newly_spread: 0,
        }
    }

    /// Counts one event of a consumer on `day` (days since the Unix epoch, UTC). Returns its
    /// shard: 0 for its own client id, `n` for its `n`-th sibling.
    pub(crate) fn count(&mut self, consumer: u64, day: u64) -> u32 {
        if day != self.day {
            self.day = day;
            self.counts.clear();
        }
        let full = self.counts.len() >= MAX_COUNTED;
        let n = match self.counts.get_mut(&consumer) {
            Some(n) => {
                *n = n.saturating_add(1);
                *n
            }
            None if full => return 0,
            None => {
                self.counts.insert(consumer, 1);
                1
            }
        };
        if n == self.threshold + 1 {
            self.newly_spread += 1;
            tracing::info!(
                "tower-ga: a consumer passed {} events today; its next events go out under sibling client ids (GA keeps at most 100,000 events per user and day)",
                self.threshold
            );
        }
        (n - 1) / self.threshold
    }

    /// How many consumers passed the threshold since the last call.
    pub(crate) fn take_newly_spread(&mut self) -> u64 {
        std::mem::take(&mut self.newly_spread)
    }
}

/// The `shard`-th sibling of a consumer's client id, in GA4's form: a keyed hash of its session
/// key and the shard, so every process with the consumer's key and id spreads it alike.
pub(crate) fn sibling_id_into(out: &mut String, consumer: u64, shard: u32, day: u64, key: &Key) {
    let mut identity = *b"tower-ga sibling 0123456701234567";
    identity[17..25].copy_from_slice(&consumer.to_le_bytes());
    identity[25..29].copy_from_slice(&shard.to_le_bytes());
    identity[29..33].copy_from_slice(&(day as u32).to_le_bytes());
    out.clear();
    keyed_id(&identity, key).ga4_into(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_moves_to_a_sibling_after_each_threshold_of_events() {
        let mut cap = DailyCap::new(3);
        let shards: Vec<u32> = (0..8).map(|_| cap.count(42, 100)).collect();
        assert_eq!(shards, [0, 0, 0, 1, 1, 1, 2, 2]);
        assert_eq!(cap.take_newly_spread(), 1);
        assert_eq!(cap.take_newly_spread(), 0);
        assert_eq!(cap.count(7, 100), 0, "another consumer counts on its own");
        // A new day starts over.
        assert_eq!(cap.count(42, 101), 0);
    }

    #[test]
    fn siblings_are_distinct_and_the_same_in_every_process() {
        let key = Key::derive(b"fleet");
        let id = |shard| {
            let mut s = String::new();
            sibling_id_into(&mut s, 42, shard, 100, &key);
            s
        };
        assert_eq!(id(1), id(1));
        assert_ne!(id(1), id(2));
        let mut other = String::new();
        sibling_id_into(&mut other, 43, 1, 100, &key);
        assert_ne!(other, id(1));
    }
}
