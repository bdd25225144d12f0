//! Groups encoded hits into batches: hits with the same key share a batch, up to a count and a
//! byte size. GA4 keys by client (one client per request); the legacy protocol uses one key for all.

use std::collections::{HashMap, VecDeque};

use crate::protocol::Encoded;

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
    pub(crate) items: Vec<Encoded>,
    pub(crate) seqs: Vec<u64>,
}

#[derive(Debug)]
struct Open {
    items: Vec<Encoded>,
    seqs: Vec<u64>,
    bytes: usize,
}

#[derive(Debug)]
pub(crate) struct Batcher {
    limits: Limits,
    open: HashMap<String, Open>,
    open_items: usize,
    /// Closed batches waiting for a free connection slot.
    pub(crate) ready: VecDeque<Batch>,
    ready_items: usize,
}

impl Batcher {
    pub(crate) fn new(limits: Limits) -> Self {
        Batcher {
            limits,
            open: HashMap::new(),
            open_items: 0,
            ready: VecDeque::new(),
            ready_items: 0,
        }
    }

    /// Hits held, open or ready.
    pub(crate) fn len(&self) -> usize {
        self.open_items + self.ready_items
    }

    pub(crate) fn add(&mut self, seq: u64, hit: Encoded) {
        let l = self.limits;
        let size = hit.item.len() + l.per_item_overhead;
        let full = self
            .open
            .get(&hit.key)
            .is_some_and(|o| o.items.len() >= l.max_items || o.bytes + size > l.max_bytes);
        if full {
            self.close(&hit.key);
        }
        let open = match self.open.get_mut(&hit.key) {
            Some(open) => open,
            None => {
                let bytes = hit.key.len() + l.per_batch_overhead;
                self.open.entry(hit.key.clone()).or_insert(Open {
                    items: Vec::new(),
                    seqs: Vec::new(),
                    bytes,
                })
            }
        };
        open.bytes += size;
        open.items.push(hit);
        open.seqs.push(seq);
        self.open_items += 1;
        if open.items.len() >= l.max_items {
            let key = open.items[0].key.clone();
            self.close(&key);
        }
    }

    fn close(&mut self, key: &str) {
        if let Some((key, open)) = self.open.remove_entry(key) {
            self.open_items -= open.items.len();
            self.ready_items += open.items.len();
            self.ready.push_back(Batch {
                key,
                items: open.items,
                seqs: open.seqs,
            });
        }
    }

    /// Closes every open batch (on the flush interval, on `flush`, on shutdown).
    pub(crate) fn close_all(&mut self) {
        let keys: Vec<String> = self.open.keys().cloned().collect();
        for k in keys {
            self.close(&k);
        }
    }

    pub(crate) fn next_ready(&mut self) -> Option<Batch> {
        let b = self.ready.pop_front()?;
        self.ready_items -= b.items.len();
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn enc(key: &str, item: &str) -> Encoded {
        Encoded {
            key: key.into(),
            item: item.into(),
            received_at: SystemTime::now(),
        }
    }

    fn limits(max_items: usize, max_bytes: usize) -> Limits {
        Limits {
            max_items,
            max_bytes,
            per_item_overhead: 1,
            per_batch_overhead: 2,
        }
    }

    #[test]
    fn groups_by_key_and_closes_full_batches() {
        let mut b = Batcher::new(limits(3, 1000));
        for i in 0..7 {
            b.add(i, enc(if i % 2 == 0 { "a" } else { "b" }, "x"));
        }
        // a: 0,2,4 closed at 3; 6 open. b: 1,3,5 closed; none open.
        assert_eq!(b.ready.len(), 2);
        assert_eq!(b.len(), 7);
        let first = b.next_ready().unwrap();
        assert_eq!(
            (first.key.as_str(), first.seqs.clone()),
            ("a", vec![0, 2, 4])
        );
        b.close_all();
        let mut rest: Vec<_> = std::iter::from_fn(|| b.next_ready())
            .map(|x| x.seqs)
            .collect();
        rest.sort();
        assert_eq!(rest, vec![vec![1, 3, 5], vec![6]]);
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn byte_limit_splits_batches() {
        // key 1 + overhead 2 + items of 4+1 bytes: two fit in 13, a third does not.
        let mut b = Batcher::new(limits(25, 13));
        for i in 0..3 {
            b.add(i, enc("k", "abcd"));
        }
        b.close_all();
        let sizes: Vec<_> = std::iter::from_fn(|| b.next_ready())
            .map(|x| x.items.len())
            .collect();
        assert_eq!(sizes, vec![2, 1]);
    }
}
