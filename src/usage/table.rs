//! The usage table: per route, what the sender saw of the requests it took.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::SystemTime;

use hdrhistogram::Histogram;
use http::Method;

use super::inventory::Route;
use super::snapshot::{Quantiles, RouteUsage, StatusCounts, UsageSnapshot};
use crate::hit::Hit;

/// Routes (method + template) kept apart, at most; more share one `(other)` row. The table then
/// holds at most 514 rows of ≈ 13 kB each (mostly the latency histogram): ≈ 6.7 MB.
pub(crate) const MAX_ROUTES: usize = 512;
/// Bits of each row's distinct-consumer estimate (linear counting): 512 bytes, exact-ish to a
/// few hundred consumers, within a few per cent to about 10,000, saturating near 34,000.
const CONSUMER_BITS: usize = 4096;

/// One row.
pub(crate) struct Row {
    calls: u64,
    status: [u64; 5],
    /// Server latency in microseconds, 1 µs to 60 s, two significant digits.
    latency: Histogram<u32>,
    first: SystemTime,
    last: SystemTime,
    consumers: Box<[u64; CONSUMER_BITS / 64]>,
}

impl Row {
    fn new(at: SystemTime) -> Self {
        Row {
            calls: 0,
            status: [0; 5],
            latency: Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid bounds"),
            first: at,
            last: at,
            consumers: Box::new([0; CONSUMER_BITS / 64]),
        }
    }

    fn add(&mut self, hit: &Hit, consumer: u64) {
        self.calls += 1;
        let class = match hit.status().as_u16() / 100 {
            2 => 0,
            3 => 1,
            4 => 2,
            5 => 3,
            _ => 4,
        };
        self.status[class] += 1;
        let micros = hit.latency().as_micros().clamp(1, 60_000_000) as u64;
        self.latency.saturating_record(micros);
        let at = hit.received_at();
        self.first = self.first.min(at);
        self.last = self.last.max(at);
        let bit = consumer as usize % CONSUMER_BITS;
        self.consumers[bit / 64] |= 1 << (bit % 64);
    }

    /// Linear counting: `m · ln(m / zero bits)`.
    fn consumers(&self) -> u64 {
        let m = CONSUMER_BITS as f64;
        let zeros = self
            .consumers
            .iter()
            .map(|w| w.count_zeros())
            .sum::<u32>()
            .max(1);
        (m * (m / f64::from(zeros)).ln()).round() as u64
    }

    pub(crate) fn view(&self, method: &str, route: &str, in_inventory: bool) -> RouteUsage {
        let q = |p: f64| self.latency.value_at_quantile(p) as f64 / 1000.0;
        let unix = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        RouteUsage {
            method: method.to_owned(),
            route: route.to_owned(),
            in_inventory,
            never_called: false,
            calls: self.calls,
            status: StatusCounts {
                s2xx: self.status[0],
                s3xx: self.status[1],
                s4xx: self.status[2],
                s5xx: self.status[3],
                other: self.status[4],
            },
            latency_ms: Some(Quantiles {
                p50: q(0.5),
                p95: q(0.95),
                p99: q(0.99),
            }),
            first_seen: Some(unix(self.first)),
            last_seen: Some(unix(self.last)),
            consumers: self.consumers(),
        }
    }
}

/// Rows by template, then method: a hit's template finds its rows without a copy of it (a
/// route has a handful of methods, scanned in order).
type Rows = HashMap<Box<str>, Vec<(Method, Row)>, foldhash::fast::RandomState>;

/// Rows by method and template.
pub(crate) struct UsageTable {
    pub(crate) since: SystemTime,
    pub(crate) known: Vec<Route>,
    rows: Rows,
    /// Route rows in `rows`, at most [`MAX_ROUTES`].
    routes: usize,
    /// Every request that matched no route.
    unmatched: Option<Row>,
    /// Routes beyond [`MAX_ROUTES`].
    other: Option<Row>,
    hasher: foldhash::fast::RandomState,
}

impl Default for UsageTable {
    fn default() -> Self {
        UsageTable {
            since: SystemTime::now(),
            known: Vec::new(),
            rows: HashMap::default(),
            routes: 0,
            unmatched: None,
            other: None,
            hasher: Default::default(),
        }
    }
}

impl UsageTable {
    /// Counts a request the sender took (never a raw path: the template, or none). Allocates
    /// only for a route's first request.
    pub(crate) fn record(&mut self, hit: &Hit) {
        let consumer = self.consumer_of(hit);
        let at = hit.received_at();
        let Some(route) = hit.route() else {
            return self
                .unmatched
                .get_or_insert_with(|| Row::new(at))
                .add(hit, consumer);
        };
        let method = hit.method();
        if let Some(rows) = self.rows.get_mut(route) {
            if let Some((_, row)) = rows.iter_mut().find(|(m, _)| m == method) {
                return row.add(hit, consumer);
            }
        }
        if self.routes >= MAX_ROUTES {
            return self
                .other
                .get_or_insert_with(|| Row::new(at))
                .add(hit, consumer);
        }
        self.routes += 1;
        let mut row = Row::new(at);
        row.add(hit, consumer);
        self.rows
            .entry(Box::from(route))
            .or_default()
            .push((method.clone(), row));
    }

    /// A seeded hash of who sent the request: the user id, else the credential, else the
    /// address and agent. Only the hash's bit position is kept, never the identity.
    fn consumer_of(&self, hit: &Hit) -> u64 {
        if let Some(u) = hit.user_id() {
            return self.hasher.hash_one(u.as_str());
        }
        if let Some(c) = hit.credential() {
            return self.hasher.hash_one(c);
        }
        self.hasher.hash_one((hit.client_ip(), hit.user_agent()))
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl UsageTable {
    /// The table as a snapshot, with the requests dropped before the sender saw them.
    pub(crate) fn snapshot(&self, dropped: u64) -> UsageSnapshot {
        let known =
            |m: &http::Method, r: &str| self.known.iter().any(|(km, kr)| km == m && kr == r);
        let mut routes = Vec::new();
        for (route, rows) in &self.rows {
            for (m, row) in rows {
                routes.push(row.view(m.as_str(), route, known(m, route)));
            }
        }
        for (m, r) in &self.known {
            let seen = self
                .rows
                .get(r.as_str())
                .is_some_and(|rows| rows.iter().any(|(rm, _)| rm == m));
            if !seen
                && !routes
                    .iter()
                    .any(|u: &RouteUsage| u.method == m.as_str() && &u.route == r)
            {
                routes.push(RouteUsage {
                    method: m.as_str().to_owned(),
                    route: r.clone(),
                    in_inventory: true,
                    never_called: true,
                    calls: 0,
                    status: StatusCounts::default(),
                    latency_ms: None,
                    first_seen: None,
                    last_seen: None,
                    consumers: 0,
                });
            }
        }
        routes.sort_by(|a, b| {
            b.calls
                .cmp(&a.calls)
                .then_with(|| a.route.cmp(&b.route))
                .then_with(|| a.method.cmp(&b.method))
        });
        let unmatched = self
            .unmatched
            .as_ref()
            .map(|row| row.view("", "(unmatched)", false));
        let other = self
            .other
            .as_ref()
            .map(|row| row.view("", "(other)", false));
        let calls = routes.iter().map(|r| r.calls).sum::<u64>()
            + unmatched.as_ref().map_or(0, |u| u.calls)
            + other.as_ref().map_or(0, |o| o.calls);
        UsageSnapshot {
            since: unix(self.since),
            generated_at: unix(SystemTime::now()),
            calls,
            dropped,
            routes,
            unmatched,
            other,
        }
    }
}
