//! Groups encoded hits into batches: hits with the same key share a batch, up to a count and a
//! byte size. GA4 keys by client (one client per request); the legacy protocol uses one key for all.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use std::time::{Instant, SystemTime};

use bytes::Bytes;

/// How big a batch may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_items: usize,
    /// Bytes of key + items + per-item and per-batch overhead.
    pub(crate) max_bytes: usize,
    pub(crate) per_item_overhead: usize,
    pub(crate) per_batch_overhead: usize,
    /// For a protocol whose request body is the key and the items with fixed text around and
    /// between them (GA4's JSON), that text: batches are then built as the body itself.
    pub(crate) frame: Option<Frame>,
}

/// The text around and between a batch's items in its request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    /// After the key, before the first item.
    pub(crate) open: &'static str,
    /// Between two items.
    pub(crate) between: &'static str,
    /// After the last item.
    pub(crate) close: &'static str,
}

/// Hits ready to go out in one request.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Its key (the tests read it; a framed body starts with it).
    #[cfg(test)]
    pub(crate) key: String,
    /// The items back to back in one buffer; framed, the whole body (complete once the batch is
    /// closed).
    items: String,
    /// Where the first item starts in `items`, and how many bytes come between two.
    first: usize,
    between: usize,
    /// Where each item ends in `items`, and when its request came.
    ends: Vec<(usize, SystemTime)>,
    bytes: usize,
    /// When its first hit was added.
    opened: Instant,
    /// The flush epoch all its hits were taken in (see `Worker`).
    pub(crate) epoch: u64,
    /// A framed batch's body once sent: `items`, moved (not copied) into shared bytes, which
    /// each attempt reuses.
    frozen: Option<Bytes>,
    /// The room it reserved ahead when it opened.
    ahead: usize,
    /// Its key's second hash (see [`KeyId`]).
    check: u64,
}

impl Batch {
    /// How many hits it carries.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Each item with the time its request came.
    pub(crate) fn items(&self) -> impl ExactSizeIterator<Item = (&str, SystemTime)> + Clone + '_ {
        (0..self.ends.len()).map(move |i| {
            let start = i
                .checked_sub(1)
                .map_or(self.first, |p| self.ends[p].0 + self.between);
            let (end, at) = self.ends[i];
            (&self.items[start..end], at)
        })
    }

    /// A closed framed batch's request body: key, items and frame. Its items can't be read
    /// one by one after this.
    pub(crate) fn body(&mut self) -> Bytes {
        debug_assert!(self.first > 0, "a framed batch");
        let items = &mut self.items;
        self.frozen
            .get_or_insert_with(|| Bytes::from(std::mem::take(items)))
            .clone()
    }
}

#[derive(Debug)]
pub(crate) struct Batcher {
    limits: Limits,
    /// Open batches by their key's [`KeyId`]: a consumer's is kept with the rest of what the
    /// sender keeps of it, so a hit's batch is found without hashing or comparing its key.
    open: HashMap<u64, Batch, BuildHasherDefault<Prehashed>>,
    /// What key ids are made with.
    pub(crate) hashers: KeyHashers,
    open_items: usize,
    /// Closed batches waiting for a free connection slot.
    pub(crate) ready: VecDeque<Batch>,
    ready_items: usize,
    /// About the bytes recent batches took when closed: what a new batch's buffer starts with,
    /// so that a batch that fills the way the last ones did never grows (and copies) its buffer,
    /// while batches of a hit or two don't take room for a full one.
    typical: usize,
    /// The size of the last item added: the room a new batch takes for its first.
    last_item: usize,
    /// Room reserved ahead (beyond their first item) by the open batches, in all: at most
    /// [`MAX_ROOM_AHEAD`], so that many clients opening batches of a hit or two after a spell
    /// of full ones can't reserve a full batch each.
    room_ahead: usize,
}

/// The most room open batches reserve ahead, in all.
const MAX_ROOM_AHEAD: usize = 4 << 20;

impl Batcher {
    pub(crate) fn new(limits: Limits) -> Self {
        Batcher {
            limits,
            open: HashMap::default(),
            hashers: KeyHashers::default(),
            open_items: 0,
            ready: VecDeque::new(),
            ready_items: 0,
            typical: 0,
            last_item: 0,
            room_ahead: 0,
        }
    }

    /// Hits held, open or ready.
    pub(crate) fn len(&self) -> usize {
        self.open_items + self.ready_items
    }

    /// Whether any batch is open (waiting to fill or for the flush interval).
    pub(crate) fn has_open(&self) -> bool {
        self.open_items > 0
    }

    /// Adds a hit's item to the open batch of its key, taken in flush epoch `epoch`. Copies
    /// `key` only when it opens a batch.
    #[cfg(test)]
    pub(crate) fn add(&mut self, epoch: u64, key: &str, item: &str, received_at: SystemTime) {
        let id = self.hashers.id(key);
        self.add_with(epoch, key, id, received_at, |out| out.push_str(item));
    }

    /// Adds a hit to the open batch of its key (known by `id`, its [`KeyHashers::id`]), taken
    /// in flush epoch `epoch`: `write` appends the hit's item straight into the batch's buffer,
    /// so the item is never copied on the way. Copies `key` only when it opens a batch.
    pub(crate) fn add_with(
        &mut self,
        epoch: u64,
        key: &str,
        id: KeyId,
        received_at: SystemTime,
        write: impl FnOnce(&mut String),
    ) {
        let l = self.limits;
        // One look-up on the common path: the batch is open and has room. A batch under the same
        // first hash with another second hash is another key's: it goes out, and this key's opens.
        let open = match self.open.get_mut(&id.map) {
            Some(open) if open.check == id.check && open.len() < l.max_items => open,
            found => {
                if found.is_some() {
                    self.close(id.map);
                }
                self.open_batch(epoch, key, id)
            }
        };
        debug_assert_eq!(open.epoch, epoch, "a flush closes every open batch");
        let before = open.items.len();
        if let (Some(f), false) = (l.frame, open.ends.is_empty()) {
            open.items.push_str(f.between);
        }
        let start = open.items.len();
        write(&mut open.items);
        let size = open.items.len() - start + l.per_item_overhead;
        let open = if open.bytes + size <= l.max_bytes || open.ends.is_empty() {
            open
        } else {
            // Past the byte limit: the item starts the key's next batch (rare: only hits of
            // kilobytes come near it). An item over the limit on its own goes alone.
            let item = open.items[start..].to_owned();
            open.items.truncate(before);
            self.close(id.map);
            let open = self.open_batch(epoch, key, id);
            open.items.push_str(&item);
            open
        };
        open.bytes += size;
        open.ends.push((open.items.len(), received_at));
        let full = open.len() >= l.max_items;
        self.open_items += 1;
        self.last_item = size;
        if full {
            self.close(id.map);
        }
    }

    /// Opens a batch for `key`, with room for what recent batches took.
    fn open_batch(&mut self, epoch: u64, key: &str, id: KeyId) -> &mut Batch {
        let l = self.limits;
        // An eighth more than recent batches took (items differ by a few bytes), while the open
        // batches' room ahead allows.
        // Its first item isn't written yet: room for one the size of the last.
        let need = key.len() + l.per_batch_overhead + self.last_item;
        let mut ahead = (self.typical + self.typical / 8)
            .min(l.max_bytes)
            .saturating_sub(need);
        if self.room_ahead + ahead > MAX_ROOM_AHEAD {
            ahead = 0;
        }
        self.room_ahead += ahead;
        let mut items = String::with_capacity(need + ahead);
        if let Some(f) = l.frame {
            items.push_str(key);
            items.push_str(f.open);
        }
        debug_assert!(!self.open.contains_key(&id.map), "closed before");
        self.open.entry(id.map).or_insert(Batch {
            #[cfg(test)]
            key: key.to_owned(),
            first: items.len(),
            between: l.frame.map_or(0, |f| f.between.len()),
            items,
            ends: Vec::with_capacity(l.max_items.min(32)),
            bytes: key.len() + l.per_batch_overhead,
            opened: Instant::now(),
            epoch,
            frozen: None,
            ahead,
            check: id.check,
        })
    }

    fn close(&mut self, id: u64) {
        if let Some(batch) = self.open.remove(&id) {
            self.open_items -= batch.len();
            self.ready(batch);
        }
    }

    /// Closes every open batch (on `flush`, on shutdown, when the hold limit is reached).
    pub(crate) fn close_all(&mut self) {
        // Taken out and put back: the map keeps its capacity.
        let mut open = std::mem::take(&mut self.open);
        for (_, batch) in open.drain() {
            self.ready(batch);
        }
        self.open = open;
        self.open_items = 0;
    }

    /// Closes the batches opened before `cutoff` (the flush interval's check).
    pub(crate) fn close_opened_before(&mut self, cutoff: Instant) {
        let aged: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, b)| b.opened < cutoff)
            .map(|(&id, _)| id)
            .collect();
        for id in aged {
            self.close(id);
        }
    }

    fn ready(&mut self, mut batch: Batch) {
        if let Some(f) = self.limits.frame {
            batch.items.push_str(f.close);
        }
        // Up at once, down by a quarter per batch.
        self.typical = batch.items.len().max(self.typical - self.typical / 4);
        self.room_ahead -= batch.ahead;
        self.ready_items += batch.len();
        self.ready.push_back(batch);
    }

    pub(crate) fn next_ready(&mut self) -> Option<Batch> {
        let b = self.ready.pop_front()?;
        self.ready_items -= b.len();
        Some(b)
    }
}

/// A batch key, known by two hashes under independent random keys: the first (foldhash) finds
/// its open batch, the second (SipHash-1-3, std's) tells it from another key under the same
/// first, so that no key is compared byte by byte on a hit's way. A consumer's id is made once
/// and kept with it in the memo.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyId {
    pub(crate) map: u64,
    pub(crate) check: u64,
}

/// The seeded hashers key ids are made with, one set per sender.
#[derive(Default)]
pub(crate) struct KeyHashers(
    foldhash::fast::RandomState,
    std::collections::hash_map::RandomState,
);

impl std::fmt::Debug for KeyHashers {
    // Seeds stay out of logs: knowing them, keys could be chosen to collide.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHashers")
    }
}

impl KeyHashers {
    pub(crate) fn id(&self, key: &str) -> KeyId {
        KeyId {
            map: self.0.hash_one(key),
            check: self.1.hash_one(key),
        }
    }
}

/// The hasher of a map whose keys are seeded hashes already: each key is its own hash.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys come here (`write_u64`); any other input still hashes.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_items: usize, max_bytes: usize) -> Limits {
        Limits {
            max_items,
            max_bytes,
            per_item_overhead: 1,
            per_batch_overhead: 2,
            frame: None,
        }
    }

    fn items(b: &Batch) -> Vec<&str> {
        b.items().map(|(item, _)| item).collect()
    }

    #[test]
    fn groups_by_key_and_closes_full_batches() {
        let mut b = Batcher::new(limits(3, 1000));
        let now = SystemTime::now();
        for i in 0..7 {
            b.add(0, if i % 2 == 0 { "a" } else { "b" }, &i.to_string(), now);
        }
        // a: 0,2,4 closed at 3; 6 open. b: 1,3,5 closed; none open.
        assert_eq!(b.ready.len(), 2);
        assert_eq!(b.len(), 7);
        let first = b.next_ready().unwrap();
        assert_eq!(
            (first.key.as_str(), items(&first)),
            ("a", vec!["0", "2", "4"])
        );
        b.close_all();
        let mut rest: Vec<_> = std::iter::from_fn(|| b.next_ready())
            .map(|x| items(&x).join(","))
            .collect();
        rest.sort();
        assert_eq!(rest, vec!["1,3,5", "6"]);
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn items_keep_their_times_and_epoch() {
        let mut b = Batcher::new(limits(25, 1000));
        let t0 = SystemTime::UNIX_EPOCH;
        let t1 = t0 + std::time::Duration::from_secs(1);
        b.add(7, "k", "first", t0);
        b.add(7, "k", "", t1);
        b.add(7, "k", "third", t0);
        b.close_all();
        let batch = b.next_ready().unwrap();
        assert_eq!(batch.epoch, 7);
        let got: Vec<_> = batch.items().collect();
        assert_eq!(got, vec![("first", t0), ("", t1), ("third", t0)]);
        assert_eq!(batch.items().len(), 3);
    }

    #[test]
    fn only_batches_opened_before_the_cutoff_close() {
        let mut b = Batcher::new(limits(25, 1000));
        let now = SystemTime::now();
        b.add(0, "old", "1", now);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let cutoff = Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        b.add(0, "new", "2", now);
        // A hit added to the old batch later doesn't make it young.
        b.add(0, "old", "3", now);
        b.close_opened_before(cutoff);
        assert_eq!(b.len(), 3);
        let closed: Vec<_> = std::iter::from_fn(|| b.next_ready()).collect();
        assert_eq!(closed.len(), 1);
        assert_eq!(
            (closed[0].key.as_str(), items(&closed[0])),
            ("old", vec!["1", "3"])
        );
        b.close_opened_before(Instant::now());
        assert_eq!(b.next_ready().map(|x| x.key), Some("new".to_owned()));
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn new_batches_start_with_the_room_recent_ones_took() {
        let mut b = Batcher::new(limits(25, 100_000));
        let item = "x".repeat(99);
        let now = SystemTime::now();
        // Full batches: after a few, a new one has room for all it will hold.
        for _ in 0..25 * 8 {
            b.add(0, "k", &item, now);
        }
        b.add(0, "k", &item, now);
        let room = b.open[&b.hashers.id("k").map].items.capacity();
        assert!(room >= 25 * 99, "{room}");
        for _ in 1..25 {
            b.add(0, "k", &item, now);
        }
        let full = b.ready.back().unwrap();
        assert_eq!((full.len(), full.items.capacity()), (25, room));
        // Batches of one hit (distinct clients): new ones stop taking room for 25.
        for i in 0..50 {
            b.add(0, &i.to_string(), &item, now);
            b.close_all();
        }
        b.add(0, "last", &item, now);
        assert!(b.open[&b.hashers.id("last").map].items.capacity() < 4 * 100);
    }

    #[test]
    fn many_small_batches_after_full_ones_reserve_little() {
        let mut b = Batcher::new(limits(25, 200_000));
        let item = "x".repeat(4000);
        let now = SystemTime::now();
        for _ in 0..25 {
            b.add(0, "full", &item, now);
        }
        // 1,000 clients with one hit each, all open at once: a full batch's room each would be
        // 100 MB.
        for i in 0..1000 {
            b.add(0, &i.to_string(), &item, now);
        }
        let reserved: usize = b.open.values().map(|x| x.items.capacity()).sum();
        assert!(reserved <= MAX_ROOM_AHEAD + 1000 * 4100, "{reserved}");
        b.close_all();
        assert_eq!(b.room_ahead, 0);
    }

    #[test]
    fn an_item_over_the_byte_limit_goes_alone() {
        let mut b = Batcher::new(limits(25, 100));
        let now = SystemTime::now();
        b.add(0, "k", "small", now);
        b.add(0, "k", &"x".repeat(500), now);
        b.add(0, "k", "small", now);
        b.close_all();
        let sizes: Vec<_> = std::iter::from_fn(|| b.next_ready())
            .map(|x| x.len())
            .collect();
        assert_eq!(sizes, vec![1, 1, 1]);
    }

    #[test]
    fn a_framed_batch_past_its_byte_limit_leaves_no_trace_of_the_item_it_refused() {
        // Written straight into the buffer, then moved to the next batch: the first body must
        // end exactly where its last item did.
        let mut b = Batcher::new(Limits {
            frame: Some(Frame {
                open: "[",
                between: ",",
                close: "]",
            }),
            ..limits(25, 16)
        });
        let now = SystemTime::now();
        for item in ["aaaa", "bbbb", "cccc"] {
            let id = b.hashers.id("k");
            b.add_with(0, "k", id, now, |out| out.push_str(item));
        }
        assert_eq!(b.len(), 3);
        b.close_all();
        let bodies: Vec<_> = std::iter::from_fn(|| b.next_ready())
            .map(|mut x| (x.len(), String::from_utf8(x.body().to_vec()).unwrap()))
            .collect();
        assert_eq!(
            bodies,
            vec![(2, "k[aaaa,bbbb]".to_owned()), (1, "k[cccc]".to_owned())]
        );
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn keys_under_one_first_hash_never_share_a_batch() {
        // Two keys whose first hashes collide (made up here: it takes 2^32 keys to see one):
        // the second hash keeps them apart, each in a batch of its own, nothing lost.
        let mut b = Batcher::new(limits(25, 1000));
        let now = SystemTime::now();
        let a = KeyId { map: 7, check: 1 };
        let c = KeyId { map: 7, check: 2 };
        for (key, id, item) in [("a", a, "1"), ("c", c, "2"), ("c", c, "3"), ("a", a, "4")] {
            b.add_with(0, key, id, now, |out| out.push_str(item));
        }
        assert_eq!(b.len(), 4);
        b.close_all();
        let got: Vec<_> = std::iter::from_fn(|| b.next_ready())
            .map(|x| (x.key.clone(), items(&x).join(",")))
            .collect();
        assert_eq!(
            got,
            [("a", "1"), ("c", "2,3"), ("a", "4")].map(|(k, i)| (k.to_owned(), i.to_owned()))
        );
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn byte_limit_splits_batches() {
        // key 1 + overhead 2 + items of 4+1 bytes: two fit in 13, a third does not.
        let mut b = Batcher::new(limits(25, 13));
        for _ in 0..3 {
            b.add(0, "k", "abcd", SystemTime::now());
        }
        b.close_all();
        let sizes: Vec<_> = std::iter::from_fn(|| b.next_ready())
            .map(|x| x.len())
            .collect();
        assert_eq!(sizes, vec![2, 1]);
    }
}
