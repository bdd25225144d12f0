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
