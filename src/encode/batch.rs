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

    /// Its key's second hash (see [`KeyId`]): what tells the crowd's batches.
    pub(crate) fn check(&self) -> u64 {
        self.check
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
    /// while batches of a hit or two don't take room for a full one. Growing from one item costs
    /// full batches 7 % more per hit (BENCHMARKS.md, "hand-written parts").
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

    /// Batches held, open and ready: the requests it will take to send what is held.
    pub(crate) fn batches(&self) -> usize {
        self.open.len() + self.ready.len()
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
mod tests;
