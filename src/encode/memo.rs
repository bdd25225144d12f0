//! Memos of what the sender encoded for recent hits, so that what an API sees again and again is
//! encoded once, not on every hit:
//!
//! - the page parameters of its hot pages (the ones this crate exists to find), built, redacted
//!   and escaped once per page;
//! - the top level of the requests of its active consumers (client id, user id, agent, address),
//!   the id hashed once per consumer and day, with what the sender keeps of the consumer by it
//!   (the key of its session).
//!
//! An entry is known by everything its fragment is made of ([`crate::report::page::key_into`],
//! [`crate::report::client_id::identity_into`]): keys are compared byte for byte, not only by hash, so a
//! memo can only return what encoding the same inputs would write. Memory is bounded: a fixed
//! number of slots in sets of [`WAYS`], each key going to one set (a new key takes the place of its
//! set's least recently used), and long keys are never kept. Keys hold what the hits they came
//! from held: page keys the path, query and `Referer` before redaction, identity keys the
//! credential or user id. They stay in the sender's memory, longer than a hit does, and are never
//! printed (`Debug` shows a count) or sent.

use std::hash::BuildHasher;

/// Slots: enough for an API's hot pages or active clients, few enough that a memo stays small
/// (a few hundred bytes per entry kept).
const SLOTS: usize = 512;
/// Slots per set. A key may take any slot of its set, and a set's least recently used goes
/// first. Consumers that take turns evict each other on every turn once more keys share a set
/// than it has slots: with one slot per key's place, a third of an API's hundred consumers would;
/// with 256 slots in sets of 8, some set overflows in one process in eight with 100 consumers,
/// and in every one with 200. In sets of 16 of 512 slots, 200 consumers overflow one in a hundred
/// and forty. Sixteen hashes are two cache lines.
const WAYS: usize = 16;
const SETS: usize = SLOTS / WAYS;
/// Lookups per verdict on whether keys repeat.
const WINDOW: u32 = 1024;
/// When fewer than one lookup in this many finds its key, the memo costs more than it saves
/// (building and copying a key costs about a tenth of what a found page saves): it stands aside
/// for `IDLE_WINDOWS` windows, then looks again.
const MIN_FOUND: u32 = 8;
const IDLE_WINDOWS: u32 = 16;
/// The longest page key kept.
pub(crate) const PAGE_KEY: usize = 1024;
/// The longest consumer key kept: room for a whole captured credential (2 kB) after the day and
/// kind, and for an agent and an address.
pub(crate) const CONSUMER_KEY: usize = 4096;

/// What a memo keeps beside a fragment, for its user: the consumer memo keeps the key of the
/// consumer's session and the two hashes of its batch key.
pub(crate) type Extra = [u64; 3];

/// Fragments of encoded hits, keyed by the inputs they were made from. Keys longer than
/// `MAX_KEY` are encoded every time and never kept: at most `SLOTS × (MAX_KEY + the fragment)`
/// bytes are ever held.
#[derive(Default)]
pub(crate) struct Memo<const MAX_KEY: usize> {
    /// Seeded per process, as for the batches: which pages share a set can't be chosen from
    /// outside.
    hasher: foldhash::fast::RandomState,
    /// Each slot's key hash, a set's side by side (0: empty, or a key whose hash is 0, which
    /// the key comparison then tells apart). Made on first use, as are the others.
    hashes: Vec<u64>,
    /// When each slot was last found or filled, in lookups (0: never): an empty slot goes first,
    /// then the set's oldest.
    used: Vec<u32>,
    slots: Vec<Slot>,
    /// Lookups so far (wrapping): the clock of `used`.
    clock: u32,
    /// The key of the hit being encoded, written by the caller before [`Memo::append`].
    pub(crate) key: Vec<u8>,
    /// Lookups and finds in the current window.
    lookups: u32,
    found: u32,
    /// Hits left to encode without the memo.
    idle: u32,
}

#[derive(Default)]
struct Slot {
    key: Vec<u8>,
    fragment: String,
    /// What `encode` returned with the fragment.
    extra: Extra,
}

impl<const MAX_KEY: usize> std::fmt::Debug for Memo<MAX_KEY> {
    // Keys hold request text (paths, queries before redaction): never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.slots.iter().filter(|s| !s.key.is_empty()).count();
        f.debug_struct("Memo").field("kept", &kept).finish()
    }
}

impl<const MAX_KEY: usize> Memo<MAX_KEY> {
    /// A memo that always stands aside, for tests comparing encodings with and without one.
    #[cfg(test)]
    pub(crate) fn disabled() -> Self {
        Memo {
            idle: u32::MAX,
            ..Memo::default()
        }
    }

    /// Whether to use the memo for this hit (else encode without writing a key): `false` for a
    /// while after a window of lookups that rarely found their key, such as an API whose every
    /// request has a path of its own.
    pub(crate) fn wanted(&mut self) -> bool {
        if self.idle > 0 {
            self.idle -= 1;
            return false;
        }
        true
    }

    fn count(&mut self, found: bool) {
        self.lookups += 1;
        self.found += u32::from(found);
        if self.lookups == WINDOW {
            if self.found * MIN_FOUND < WINDOW {
                self.idle = IDLE_WINDOWS * WINDOW;
            }
            self.lookups = 0;
            self.found = 0;
        }
    }

    /// Appends the fragment for [`Memo::key`]: the one kept for that key, or else what `encode`
    /// writes (given the key), which is then kept, with what `encode` returns beside it: that
    /// is returned. A key must never be empty (an empty slot has an empty key).
    pub(crate) fn append(
        &mut self,
        out: &mut String,
        encode: impl FnOnce(&[u8], &mut String) -> Extra,
    ) -> Extra {
        debug_assert!(!self.key.is_empty());
        if self.key.len() > MAX_KEY {
            return encode(&self.key, out);
        }
        if self.slots.is_empty() {
            self.hashes = vec![0; SLOTS];
            self.used = vec![0; SLOTS];
            self.slots.resize_with(SLOTS, Slot::default);
        }
        // Never 0 (a slot's `used` of 0 says it is empty), wrapping past `u32::MAX`.
        self.clock = self.clock.wrapping_add(1).max(1);
        let hash = self.hasher.hash_one(self.key.as_slice());
        let set = (hash as usize % SETS) * WAYS;
        let ways = set..set + WAYS;
        let at = self.hashes[ways.clone()]
            .iter()
            .zip(&self.slots[ways.clone()])
            .position(|(&h, slot)| h == hash && slot.key == self.key);
        let found = at.is_some();
        let i = match at {
            Some(way) => {
                let i = set + way;
                out.push_str(&self.slots[i].fragment);
                i
            }
            None => {
                // An empty slot, else the set's least recently used (by age, so that the clock
                // may wrap).
                let clock = self.clock;
                let age = |used: u32| match used {
                    0 => u32::MAX,
                    used => clock.wrapping_sub(used),
                };
                let i = ways.max_by_key(|&i| age(self.used[i])).unwrap_or(set);
                let start = out.len();
                let extra = encode(&self.key, out);
                let slot = &mut self.slots[i];
                slot.extra = extra;
                self.hashes[i] = hash;
                slot.key.clear();
                slot.key.extend_from_slice(&self.key);
                slot.fragment.clear();
                slot.fragment.push_str(&out[start..]);
                i
            }
        };
        self.used[i] = self.clock;
        self.count(found);
        self.slots[i].extra
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_KEY: usize = 1024;
    type TestMemo = Memo<MAX_KEY>;

    fn append(memo: &mut TestMemo, key: &[u8], value: &str, calls: &mut usize) -> String {
        memo.key.clear();
        memo.key.extend_from_slice(key);
        let mut out = String::from("<");
        let extra = memo.append(&mut out, |k, o| {
            assert_eq!(k, key);
            *calls += 1;
            o.push_str(value);
            [value.len() as u64, 0, 1]
        });
        assert_eq!(extra, [out.len() as u64 - 1, 0, 1], "what is kept with it");
        out
    }

    #[test]
    fn a_kept_fragment_is_returned_for_its_key_only() {
        let mut memo = TestMemo::default();
        let mut calls = 0;
        assert_eq!(append(&mut memo, b"a", "A", &mut calls), "<A");
        assert_eq!(append(&mut memo, b"a", "not encoded", &mut calls), "<A");
        assert_eq!(calls, 1);
        assert_eq!(append(&mut memo, b"b", "B", &mut calls), "<B");
        assert_eq!(calls, 2);
    }

    #[test]
    fn keys_sharing_a_set_are_all_kept_up_to_its_ways() {
        // The hundred consumers of an API, taking turns: once each is kept, none is encoded
        // again, though many share a set (with one slot per key's place, pairs sharing one
        // would evict each other on every turn). Names are chosen so that no set gets more
        // keys than it has ways (as four times in five at random).
        let mut memo = TestMemo::default();
        let set_of = |memo: &TestMemo, k: &str| memo.hasher.hash_one(k.as_bytes()) as usize % SETS;
        let keys = (0..)
            .map(|p| {
                (0..100)
                    .map(|i| format!("consumer {p}.{i}"))
                    .collect::<Vec<_>>()
            })
            .find(|keys| {
                let mut per_set = [0; SETS];
                keys.iter().for_each(|k| per_set[set_of(&memo, k)] += 1);
                per_set.iter().all(|&n| n <= WAYS)
            })
            .unwrap();
        let mut calls = 0;
        for round in 0..3 {
            for key in &keys {
                assert_eq!(
                    append(&mut memo, key.as_bytes(), key, &mut calls),
                    format!("<{key}")
                );
            }
            assert_eq!(calls, 100, "round {round}");
        }
        // A set's least recently used slot goes first: keys of one set, one more than its
        // ways, then the first again.
        let mut memo = TestMemo::default();
        let set_of = |memo: &TestMemo, k: &str| memo.hasher.hash_one(k.as_bytes()) as usize % SETS;
        let mut same: Vec<String> = Vec::new();
        for i in 0.. {
            let k = format!("k{i}");
            if set_of(&memo, &k) == set_of(&memo, "k0") {
                same.push(k);
            }
            if same.len() == WAYS + 1 {
                break;
            }
        }
        // The clock about to wrap: ages still order the slots.
        memo.clock = u32::MAX - 3;
        let mut calls = 0;
        for k in &same[..WAYS] {
            append(&mut memo, k.as_bytes(), k, &mut calls);
        }
        // Touch the first, so the second is the oldest.
        append(&mut memo, same[0].as_bytes(), "", &mut calls);
        append(&mut memo, same[WAYS].as_bytes(), "", &mut calls);
        assert_eq!(calls, WAYS + 1);
        append(&mut memo, same[0].as_bytes(), "", &mut calls);
        assert_eq!(calls, WAYS + 1, "the most recently used stayed");
        append(&mut memo, same[1].as_bytes(), "", &mut calls);
        assert_eq!(calls, WAYS + 2, "the least recently used went");
    }

    #[test]
    fn memory_stays_bounded_whatever_the_keys() {
        let mut memo = TestMemo::default();
        let mut calls = 0;
        for i in 0..10_000u32 {
            let key = format!("page {i}");
            assert_eq!(
                append(&mut memo, key.as_bytes(), &key, &mut calls),
                format!("<{key}")
            );
        }
        assert_eq!(calls, 10_000);
        assert_eq!(memo.slots.len(), SLOTS);
        // Long keys are never kept: each is encoded anew.
        let long = vec![b'x'; MAX_KEY + 1];
        append(&mut memo, &long, "L", &mut calls);
        append(&mut memo, &long, "L", &mut calls);
        assert_eq!(calls, 10_002);
        assert!(memo.slots.iter().all(|s| s.key.len() <= MAX_KEY));
    }

    #[test]
    fn it_stands_aside_while_keys_do_not_repeat() {
        let mut memo = TestMemo::default();
        let mut calls = 0;
        // A window of keys never seen again: the memo stands aside.
        for i in 0..WINDOW {
            assert!(memo.wanted());
            append(&mut memo, format!("once {i}").as_bytes(), "x", &mut calls);
        }
        let skipped = std::iter::repeat_with(|| memo.wanted())
            .take_while(|w| !w)
            .count();
        assert_eq!(skipped as u32, IDLE_WINDOWS * WINDOW);
        // Then it looks again, and keeps looking while keys repeat.
        for i in 0..4 * WINDOW {
            assert!(memo.wanted());
            append(
                &mut memo,
                format!("hot {}", i % 10).as_bytes(),
                "x",
                &mut calls,
            );
        }
        // One in eight found is enough to keep it.
        for i in 0..WINDOW {
            assert!(memo.wanted());
            let key = if i % 6 == 0 {
                "hot 0".to_owned()
            } else {
                format!("cold {i}")
            };
            append(&mut memo, key.as_bytes(), "x", &mut calls);
        }
        assert!(memo.wanted());
    }

    #[test]
    fn debug_shows_no_key() {
        let mut memo = TestMemo::default();
        let mut calls = 0;
        append(&mut memo, b"/login?token=hunter2", "x", &mut calls);
        let shown = format!("{memo:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("kept: 1"), "{shown}");
    }
}
