//! Groups encoded hits into batches: hits with the same key share a batch, up to a count and a
//! byte size. GA4 keys by client (one client per request); the legacy protocol uses one key for all.

use std::collections::{HashMap, VecDeque};

use std::time::{Instant, SystemTime};

/// How big a batch may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_items: usize,
    /// Bytes of key + items + per-item and per-batch overhead.
    pub(crate) max_bytes: usize,
    pub(crate) per_item_overhead: usize,
    pub(crate) per_batch_overhead: usize,
}

/// Hits ready to go out in one request.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) key: String,
    /// The items back to back, in one buffer.
    items: String,
    /// Where each item ends in `items`, and when its request came.
    ends: Vec<(usize, SystemTime)>,
    bytes: usize,
    /// When its first hit was added.
    opened: Instant,
    /// The flush epoch all its hits were taken in (see `Worker`).
    pub(crate) epoch: u64,
}

impl Batch {
    /// How many hits it carries.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Each item with the time its request came.
    pub(crate) fn items(&self) -> impl ExactSizeIterator<Item = (&str, SystemTime)> + Clone + '_ {
        (0..self.ends.len()).map(move |i| {
            let start = i.checked_sub(1).map_or(0, |p| self.ends[p].0);
            let (end, at) = self.ends[i];
            (&self.items[start..end], at)
        })
    }
}

#[derive(Debug)]
pub(crate) struct Batcher {
    limits: Limits,
    /// Open batches by key (the key itself lives in the map). foldhash rather than SipHash:
    /// seeded per map, and a third of the cost per hit for these keys of about 100 bytes.
    open: HashMap<String, Batch, foldhash::fast::RandomState>,
    open_items: usize,
    /// Closed batches waiting for a free connection slot.
    pub(crate) ready: VecDeque<Batch>,
    ready_items: usize,
}

impl Batcher {
    pub(crate) fn new(limits: Limits) -> Self {
        Batcher {
            limits,
            open: HashMap::default(),
            open_items: 0,
            ready: VecDeque::new(),
            ready_items: 0,
        }
    }

    /// Hits held, open or ready.
    pub(crate) fn len(&self) -> usize {
        self.open_items + self.ready_items
    }

    /// Adds a hit's item to the open batch of its key, taken in flush epoch `epoch`. Copies
    /// `key` only when it opens a batch.
    pub(crate) fn add(&mut self, epoch: u64, key: &str, item: &str, received_at: SystemTime) {
        let l = self.limits;
        let size = item.len() + l.per_item_overhead;
        // One hash look-up on the common path: the batch is open and has room.
        let open = match self.open.get_mut(key) {
            Some(open) if open.len() < l.max_items && open.bytes + size <= l.max_bytes => open,
            found => {
                if found.is_some() {
                    self.close(key);
                }
                self.open.entry(key.to_owned()).or_insert(Batch {
                    key: String::new(),
                    // Room for a few items; it doubles from there.
                    items: String::with_capacity(item.len() * 4),
                    ends: Vec::with_capacity(4),
                    bytes: key.len() + l.per_batch_overhead,
                    opened: Instant::now(),
                    epoch,
                })
            }
        };
        debug_assert_eq!(open.epoch, epoch, "a flush closes every open batch");
        open.bytes += size;
        open.items.push_str(item);
        open.ends.push((open.items.len(), received_at));
        self.open_items += 1;
        if open.len() >= l.max_items {
            self.close(key);
        }
    }

    fn close(&mut self, key: &str) {
        if let Some((key, batch)) = self.open.remove_entry(key) {
            self.open_items -= batch.len();
            Self::ready(&mut self.ready, &mut self.ready_items, key, batch);
        }
    }

    /// Closes every open batch (on `flush`, on shutdown, when the hold limit is reached).
    pub(crate) fn close_all(&mut self) {
        for (key, batch) in self.open.drain() {
            Self::ready(&mut self.ready, &mut self.ready_items, key, batch);
        }
        self.open_items = 0;
    }

    /// Closes the batches opened before `cutoff` (the flush interval's check).
    pub(crate) fn close_opened_before(&mut self, cutoff: Instant) {
        let aged: Vec<String> = self
            .open
            .iter()
            .filter(|(_, b)| b.opened < cutoff)
            .map(|(k, _)| k.clone())
            .collect();
        for key in aged {
            self.close(&key);
        }
    }

    fn ready(ready: &mut VecDeque<Batch>, items: &mut usize, key: String, mut batch: Batch) {
        *items += batch.len();
        batch.key = key;
        ready.push_back(batch);
    }

    pub(crate) fn next_ready(&mut self) -> Option<Batch> {
        let b = self.ready.pop_front()?;
        self.ready_items -= b.len();
        Some(b)
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
