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
//! memo can only return what encoding the same inputs would write. Memory is bounded: at most
//! [`SLOTS`] entries are kept in an LRU map ([`schnellru::LruMap`], limited by length), a new key
//! taking the place of the least recently used, and long keys are never kept. Keys hold what the
//! hits they came from held: page keys the path, query and `Referer` before redaction, identity
//! keys the credential or user id. They stay in the sender's memory, longer than a hit does, and
//! are never printed (`Debug` shows a count) or sent.

use schnellru::{ByLength, LruMap};

/// Entries: enough for an API's hot pages or active clients, few enough that a memo stays small
/// (a few hundred bytes per entry kept). One LRU over all of them: consumers that take turns
/// only evict each other once more of them take turns than there are entries.
const SLOTS: usize = 512;
/// Lookups per verdict on whether keys repeat.
const WINDOW: u32 = 1024;
/// When fewer than one lookup in this many finds its key, the memo costs more than it saves
/// (building and copying a key costs about a tenth of what a found page saves): it stands aside
/// for `IDLE_WINDOWS` windows, then looks again. Without standing aside, a hit on a page never
/// seen again costs the sender 11 % more (BENCHMARKS.md, "hand-written parts").
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
pub(crate) struct Memo<const MAX_KEY: usize> {
    /// Keys (compared in full) to what was encoded for them, least recently used first out.
    /// Hashed with a per-process seed, as for the batches: which keys collide can't be chosen
    /// from outside. Allocates on first insert.
    map: LruMap<Vec<u8>, Entry, ByLength, foldhash::fast::RandomState>,
    /// The key of the hit being encoded, written by the caller before [`Memo::append`].
    pub(crate) key: Vec<u8>,
    /// Lookups and finds in the current window.
    lookups: u32,
    found: u32,
    /// Hits left to encode without the memo.
    idle: u32,
}

#[derive(Default)]
struct Entry {
    fragment: String,
    /// What `encode` returned with the fragment.
    extra: Extra,
}

impl<const MAX_KEY: usize> Default for Memo<MAX_KEY> {
    fn default() -> Self {
        Memo {
            map: LruMap::with_hasher(
                ByLength::new(SLOTS as u32),
                foldhash::fast::RandomState::default(),
            ),
            key: Vec::new(),
            lookups: 0,
            found: 0,
            idle: 0,
        }
    }
}

impl<const MAX_KEY: usize> std::fmt::Debug for Memo<MAX_KEY> {
    // Keys hold request text (paths, queries before redaction): never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("kept", &self.map.len())
            .finish()
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
    /// is returned. A key must never be empty.
    pub(crate) fn append(
        &mut self,
        out: &mut String,
        encode: impl FnOnce(&[u8], &mut String) -> Extra,
    ) -> Extra {
        debug_assert!(!self.key.is_empty());
        if self.key.len() > MAX_KEY {
            return encode(&self.key, out);
        }
        // Looked up by the slice: `[u8] == Vec<u8>` compares the whole key, and a slice hashes
        // as the `Vec` it is compared with.
        if let Some(entry) = self.map.get(self.key.as_slice()) {
            out.push_str(&entry.fragment);
            let extra = entry.extra;
            self.count(true);
            return extra;
        }
        // Once full, the least recently used goes, and its buffers hold the new entry.
        let (mut key, mut entry) = if self.map.len() >= SLOTS {
            self.map.pop_oldest().unwrap_or_default()
        } else {
            Default::default()
        };
        let start = out.len();
        let extra = encode(&self.key, out);
        key.clear();
        key.extend_from_slice(&self.key);
        entry.fragment.clear();
        entry.fragment.push_str(&out[start..]);
        entry.extra = extra;
        self.map.insert(key, entry);
        self.count(false);
        extra
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
    fn keys_are_compared_in_full() {
        // Keys that are prefixes of each other, or differ in their last byte, are different
        // entries: looking one up by its slice never finds another.
        let mut memo = TestMemo::default();
        let mut calls = 0;
        for (key, value) in [
            (&b"ab"[..], "AB"),
            (b"a", "A"),
            (b"abc", "ABC"),
            (b"abd", "ABD"),
        ] {
            assert_eq!(
                append(&mut memo, key, value, &mut calls),
                format!("<{value}")
            );
        }
        assert_eq!(calls, 4);
        for (key, value) in [
            (&b"abd"[..], "ABD"),
            (b"abc", "ABC"),
            (b"a", "A"),
            (b"ab", "AB"),
        ] {
            assert_eq!(
                append(&mut memo, key, "not encoded", &mut calls),
                format!("<{value}")
            );
        }
        assert_eq!(calls, 4);
    }

    #[test]
    fn keys_taking_turns_are_all_kept_up_to_the_slots() {
        // The hundred consumers of an API, taking turns, and then as many as there are slots:
        // once each is kept, none is encoded again (whatever their hashes: one LRU over all
        // the slots, no sets to overflow).
        for n in [100, SLOTS] {
            let mut memo = TestMemo::default();
            let keys: Vec<String> = (0..n).map(|i| format!("consumer {i}")).collect();
            let mut calls = 0;
            for round in 0..3 {
                for key in &keys {
                    assert_eq!(
                        append(&mut memo, key.as_bytes(), key, &mut calls),
                        format!("<{key}")
                    );
                }
                assert_eq!(calls, n, "{n} keys, round {round}");
            }
        }
        // The least recently used goes first: one key more than the slots, then the first
        // again.
        let mut memo = TestMemo::default();
        let same: Vec<String> = (0..=SLOTS).map(|i| format!("k{i}")).collect();
        let mut calls = 0;
        for k in &same[..SLOTS] {
            append(&mut memo, k.as_bytes(), k, &mut calls);
        }
        // Touch the first, so the second is the oldest.
        append(&mut memo, same[0].as_bytes(), "", &mut calls);
        append(&mut memo, same[SLOTS].as_bytes(), "", &mut calls);
        assert_eq!(calls, SLOTS + 1);
        append(&mut memo, same[0].as_bytes(), "", &mut calls);
        assert_eq!(calls, SLOTS + 1, "the most recently used stayed");
        append(&mut memo, same[1].as_bytes(), "", &mut calls);
        assert_eq!(calls, SLOTS + 2, "the least recently used went");
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
        assert_eq!(memo.map.len(), SLOTS);
        // Long keys are never kept: each is encoded anew.
        let long = vec![b'x'; MAX_KEY + 1];
        append(&mut memo, &long, "L", &mut calls);
        append(&mut memo, &long, "L", &mut calls);
        assert_eq!(calls, 10_002);
        assert!(memo.map.iter().all(|(k, _)| k.len() <= MAX_KEY));
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
