//! What the usage store is sent: per UTC day and row, the counts added since the last write.
//! Every count adds up (across writes, replicas and days), so that replicas merge by adding
//! their own deltas and none overwrites another's.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use siphasher::sip::SipHasher13;

use crate::hit::Hit;
use crate::hooks::{guarded, NameConsumer};
use crate::text::date::Day;

/// Upper bounds of the latency buckets, in milliseconds; a last bucket takes the rest. Fixed, so
/// that buckets add up across replicas and days (quantiles are read from them the way
/// Prometheus's `histogram_quantile` does).
pub(crate) const BUCKET_MS: [f64; 13] = [
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];
/// Buckets: one per bound, and the rest.
pub(crate) const BUCKETS: usize = BUCKET_MS.len() + 1;
/// The store's column of each bucket.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) const BUCKET_COLUMNS: [&str; BUCKETS] = [
    "ms_1", "ms_2_5", "ms_5", "ms_10", "ms_25", "ms_50", "ms_100", "ms_250", "ms_500", "ms_1000",
    "ms_2500", "ms_5000", "ms_10000", "ms_inf",
];

/// Consumers kept per row and day: the busiest, by calls; the calls of the others are counted
/// under [`OTHERS`].
pub(crate) const MAX_CONSUMERS: usize = 20;
/// The label of the calls of consumers beyond [`MAX_CONSUMERS`].
pub(crate) const OTHERS: &str = "(others)";

/// A row's counts over some time: they add up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) not_allowed: u64,
    /// 2xx, 3xx, 4xx, 5xx, other.
    pub(crate) status: [u64; 5],
    pub(crate) latency: [u64; BUCKETS],
    /// First and last call (unix seconds).
    pub(crate) first: Option<u64>,
    pub(crate) last: Option<u64>,
    /// The last call's `Deprecated` marker: since, sunset.
    pub(crate) deprecation: Option<(u64, Option<u64>)>,
    /// Calls by consumer label, at most [`MAX_CONSUMERS`] and [`OTHERS`].
    pub(crate) consumers: Vec<(String, u64)>,
}

/// [`BUCKET_MS`] in microseconds.
const BUCKET_US: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// The bucket of a latency in milliseconds.
#[cfg(test)]
pub(crate) fn bucket(ms: f64) -> usize {
    bucket_us((ms * 1000.0).ceil() as u64)
}

/// The bucket of a latency in microseconds.
fn bucket_us(us: u64) -> usize {
    BUCKET_US
        .iter()
        .position(|b| us <= *b)
        .unwrap_or(BUCKET_US.len())
}

/// The index of a status's class in a row's counts: 2xx, 3xx, 4xx, 5xx, anything else.
pub(crate) fn status_class(status: StatusCode) -> usize {
    match status.as_u16() / 100 {
        2 => 0,
        3 => 1,
        4 => 2,
        5 => 3,
        _ => 4,
    }
}

impl Counts {
    /// Counts a hit; `true` when it is a call (a `405` is no call, and no consumer's).
    /// Counts a hit but its time (see [`Delta`]); `true` when it is a call.
    fn add(&mut self, hit: &Hit, latency: Duration) -> bool {
        if hit.status() == StatusCode::METHOD_NOT_ALLOWED {
            self.not_allowed += 1;
            return false;
        }
        self.calls += 1;
        self.status[status_class(hit.status())] += 1;
        self.latency[bucket_us(latency.as_micros() as u64)] += 1;
        if let Some(d) = hit.deprecated() {
            self.deprecation = Some((d.since_unix(), d.sunset_unix()));
        }
        true
    }

    fn count_consumer(&mut self, label: &str, calls: u64) {
        if let Some(c) = self.consumers.iter_mut().find(|(l, _)| l == label) {
            c.1 += calls;
        } else if self.consumers.len() < MAX_CONSUMERS || label == OTHERS {
            self.consumers.push((label.to_owned(), calls));
        } else {
            self.count_consumer(OTHERS, calls);
        }
    }

    /// Adds another's counts to these.
    pub(crate) fn merge(&mut self, other: &Counts) {
        self.calls += other.calls;
        self.not_allowed += other.not_allowed;
        for (a, b) in self.status.iter_mut().zip(other.status) {
            *a += b;
        }
        for (a, b) in self.latency.iter_mut().zip(other.latency) {
            *a += b;
        }
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = self.last.max(other.last);
        if other.deprecation.is_some() {
            self.deprecation = other.deprecation;
        }
        for (label, calls) in &other.consumers {
            self.count_consumer(label, *calls);
        }
    }

    /// A latency quantile in milliseconds, interpolated within its bucket as Prometheus's
    /// `histogram_quantile` does (the last bucket answers its lower bound).
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut below = 0u64;
        for (i, n) in self.latency.iter().enumerate() {
            if (below + n) as f64 >= rank && *n > 0 {
                let lower = if i == 0 { 0.0 } else { BUCKET_MS[i - 1] };
                let Some(upper) = BUCKET_MS.get(i) else {
                    return Some(lower);
                };
                let within = (rank - below as f64) / *n as f64;
                return Some(lower + (upper - lower) * within.clamp(0.0, 1.0));
            }
            below += n;
        }
        Some(BUCKET_MS[BUCKET_MS.len() - 1])
    }
}

/// Who sent a request, as a keyed hash: of the [`UserId`](crate::UserId), else the credential,
/// else the address and agent; `None` for nobody known. With the fleet's shared key every
/// replica computes the same.
fn consumer_of(hit: &Hit, key: &[u8; 16]) -> Option<u64> {
    use std::hash::Hasher;
    let (k0, k1) = key.split_at(8);
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    let mut h = SipHasher13::new_with_keys(word(k0), word(k1));
    if let Some(u) = hit.user_id() {
        h.write(b"u");
        h.write(u.as_str().as_bytes());
    } else if let Some(c) = hit.credential() {
        h.write(b"c");
        h.write(c);
    } else if let Some(ip) = hit.client_ip() {
        h.write(b"a");
        match ip {
            std::net::IpAddr::V4(v4) => h.write(&v4.octets()),
            std::net::IpAddr::V6(v6) => h.write(&v6.octets()),
        }
        h.write(hit.user_agent().unwrap_or_default().as_bytes());
    } else {
        return None;
    }
    Some(h.finish())
}

/// The label the usage store shows for a consumer: the [`UserId`](crate::UserId) (at most 64
/// bytes); else `key-` and 32 bits of the keyed hash of the credential, or `anon-` and those of
/// the address and agent; else `anonymous`. Never the credential, the address or the agent.
fn label_of(hit: &Hit, consumer: Option<u64>, namer: Option<&dyn NameConsumer>) -> String {
    let named = namer.and_then(|n| guarded("consumer_name_with", || n.name(hit)).flatten());
    if let Some(name) = named.filter(|n| !n.is_empty()) {
        let end = (0..=name.len().min(64))
            .rev()
            .find(|i| name.is_char_boundary(*i));
        return name[..end.unwrap_or(0)].to_owned();
    }
    if let Some(u) = hit.user_id() {
        let u = u.as_str();
        let end = (0..=u.len().min(64)).rev().find(|i| u.is_char_boundary(*i));
        return u[..end.unwrap_or(0)].to_owned();
    }
    match (consumer, hit.credential().is_some()) {
        (Some(h), true) => format!("key-{:08x}", h >> 32),
        (Some(h), false) => format!("anon-{:08x}", h >> 32),
        (None, _) => "anonymous".to_owned(),
    }
}

/// A row's deltas and the consumers it names, by their hash: a consumer's label is made once,
/// when it enters the row.
#[derive(Debug, Default)]
struct Delta {
    counts: Counts,
    /// First and last call: compared as they are, made seconds once, when taken.
    seen: Option<(SystemTime, SystemTime)>,
    /// The hash of each consumer in `counts.consumers`, in their order.
    ids: Vec<Option<u64>>,
}

/// Counts added since the last write, by day and row (the table's index of the row).
#[derive(Debug, Default)]
pub(crate) struct Deltas {
    /// The current day's, by row: a hit finds its row by index, not by hashing.
    today: Vec<Option<Delta>>,
    /// The UTC day hits last fell in, and its bounds: a hit of the same day is placed by two
    /// comparisons.
    day: Option<(Day, SystemTime, SystemTime)>,
    /// Other days' (a hit taken late, around midnight; the day before once the day changed).
    other_days: HashMap<(Day, usize), Delta, foldhash::fast::RandomState>,
}

/// `today`'s index of a row: the table's rows after its three rows of no route's, whose indexes
/// are the last three `usize`s.
fn slot(row: usize) -> usize {
    match row {
        r if r >= usize::MAX - 2 => usize::MAX - r,
        r => r + 3,
    }
}

fn row_of(slot: usize) -> usize {
    match slot {
        s if s < 3 => usize::MAX - s,
        s => s - 3,
    }
}

impl Deltas {
    /// The delta of a row on the day of `at`.
    fn delta(&mut self, row: usize, at: SystemTime) -> &mut Delta {
        match self.day {
            Some((_, start, end)) if start <= at && at < end => {}
            Some((_, start, _)) if at < start => {
                let d = Day::of(at);
                return self.other_days.entry((d, row)).or_default();
            }
            _ => {
                // A new day: the current one's deltas move aside until they are taken.
                let day = Day::of(at);
                if let Some((old, _, _)) = self.day {
                    for (i, d) in self.today.iter_mut().enumerate() {
                        if let Some(d) = d.take() {
                            self.other_days.insert((old, row_of(i)), d);
                        }
                    }
                }
                self.day = Some((day, day.start(), Day(day.0 + 1).start()));
            }
        }
        let i = slot(row);
        if self.today.len() <= i {
            self.today.resize_with(i + 1, || None);
        }
        self.today[i].get_or_insert_with(Delta::default)
    }

    /// Counts a hit the table put in row `row`.
    pub(crate) fn add(
        &mut self,
        row: usize,
        hit: &Hit,
        key: &[u8; 16],
        latency: Duration,
        namer: Option<&dyn NameConsumer>,
    ) {
        let at = hit.received_at();
        let delta = self.delta(row, at);
        if !delta.counts.add(hit, latency) {
            return;
        }
        delta.seen = Some(match delta.seen {
            Some((first, last)) => (first.min(at), last.max(at)),
            None => (at, at),
        });
        let consumer = consumer_of(hit, key);
        let consumers = &mut delta.counts.consumers;
        match delta.ids.iter().position(|id| *id == consumer) {
            Some(i) => consumers[i].1 += 1,
            None if delta.ids.len() < MAX_CONSUMERS => {
                delta.ids.push(consumer);
                let label = label_of(hit, consumer, namer);
                consumers.insert(delta.ids.len() - 1, (label, 1));
            }
            // `(others)` follows the named consumers.
            None => match consumers.get_mut(MAX_CONSUMERS) {
                Some(others) => others.1 += 1,
                None => consumers.push((OTHERS.to_owned(), 1)),
            },
        }
    }

    /// The deltas, by day and row, leaving none.
    pub(crate) fn take(&mut self) -> Vec<((Day, usize), Counts)> {
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let counts = |mut d: Delta| {
            if let Some((first, last)) = d.seen {
                d.counts.first = Some(secs(first));
                d.counts.last = Some(secs(last));
            }
            d.counts
        };
        let mut out: Vec<_> = self
            .other_days
            .drain()
            .map(|(k, d)| (k, counts(d)))
            .collect();
        if let Some((day, _, _)) = self.day {
            for (i, d) in self.today.iter_mut().enumerate() {
                if let Some(d) = d.take() {
                    out.push(((day, row_of(i)), counts(d)));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_quantiles_read_like_prometheus() {
        assert_eq!(bucket(0.3), 0);
        assert_eq!(bucket(1.0), 0);
        assert_eq!(bucket(1.1), 1);
        assert_eq!(bucket(99_999.0), BUCKETS - 1);
        let mut c = Counts::default();
        c.latency[bucket(3.0)] = 100; // all in (2.5, 5]
        assert_eq!(c.quantile(0.5), Some(3.75));
        c.latency[BUCKETS - 1] = 100;
        assert_eq!(c.quantile(0.99), Some(10_000.0));
        assert_eq!(Counts::default().quantile(0.5), None);
    }

    #[test]
    fn hits_of_two_days_and_late_ones_land_on_their_days() {
        let req = http::Request::get("/a").body(()).unwrap();
        let mut hit = Hit::from_request(&req, false);
        let mut d = Deltas::default();
        let key = [7; 16];
        let day = |n: i64, secs: u64| Day(n).start() + Duration::from_secs(secs);
        for (at, row) in [
            (day(20_000, 10), 0),
            (day(20_000, 86_399), usize::MAX),
            (day(20_001, 5), 0),
            (day(20_000, 50), 0), // taken late: yesterday's
            (day(20_001, 6), 3),
        ] {
            hit.received_at = at;
            d.add(row, &hit, &key, Duration::from_millis(3), None);
        }
        let mut taken: Vec<_> = d
            .take()
            .into_iter()
            .map(|((day, row), c)| (day.0, row, c.calls, c.first, c.last))
            .collect();
        taken.sort();
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(
            taken,
            [
                (
                    20_000,
                    0,
                    2,
                    Some(secs(day(20_000, 10))),
                    Some(secs(day(20_000, 50)))
                ),
                (
                    20_000,
                    usize::MAX,
                    1,
                    Some(secs(day(20_000, 86_399))),
                    Some(secs(day(20_000, 86_399)))
                ),
                (
                    20_001,
                    0,
                    1,
                    Some(secs(day(20_001, 5))),
                    Some(secs(day(20_001, 5)))
                ),
                (
                    20_001,
                    3,
                    1,
                    Some(secs(day(20_001, 6))),
                    Some(secs(day(20_001, 6)))
                ),
            ]
        );
        assert!(d.take().is_empty());
    }

    #[test]
    fn counts_add_up_and_consumers_stay_bounded() {
        let mut a = Counts::default();
        for i in 0..30 {
            a.count_consumer(&format!("c{i}"), 1);
        }
        assert_eq!(a.consumers.len(), MAX_CONSUMERS + 1);
        assert_eq!(a.consumers.last().unwrap(), &(OTHERS.to_owned(), 10));
        let mut b = Counts {
            calls: 2,
            first: Some(5),
            last: Some(9),
            ..Counts::default()
        };
        b.merge(&Counts {
            calls: 3,
            first: Some(3),
            last: Some(7),
            ..Counts::default()
        });
        assert_eq!((b.calls, b.first, b.last), (5, Some(3), Some(9)));
    }
}
