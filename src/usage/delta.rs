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

/// The bucket of a latency in milliseconds.
pub(crate) fn bucket(ms: f64) -> usize {
    BUCKET_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(BUCKET_MS.len())
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
        let class = match hit.status().as_u16() / 100 {
            2 => 0,
            3 => 1,
            4 => 2,
            5 => 3,
            _ => 4,
        };
        self.status[class] += 1;
        self.latency[bucket(latency.as_secs_f64() * 1000.0)] += 1;
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
    rows: HashMap<(Day, usize), Delta, foldhash::fast::RandomState>,
    /// The UTC day hits last fell in, and its bounds: a hit of the same day is placed by two
    /// comparisons.
    today: Option<(Day, SystemTime, SystemTime)>,
}

impl Deltas {
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
        let day = match self.today {
            Some((day, start, end)) if start <= at && at < end => day,
            _ => {
                let day = Day::of(at);
                self.today = Some((day, day.start(), Day(day.0 + 1).start()));
                day
            }
        };
        let delta = self.rows.entry((day, row)).or_default();
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
        self.rows
            .drain()
            .map(|(k, mut d)| {
                if let Some((first, last)) = d.seen {
                    d.counts.first = Some(secs(first));
                    d.counts.last = Some(secs(last));
                }
                (k, d.counts)
            })
            .collect()
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
