//! One row of the usage table: a route's calls, status classes, latency and consumers.

use std::time::SystemTime;

use hdrhistogram::Histogram;
use http::StatusCode;

use super::delta::status_class;
use super::snapshot::{Quantiles, RouteUsage, StatusCounts};
use crate::hit::Hit;

/// Bits of each row's distinct-consumer estimate (linear counting): 512 bytes, exact-ish to a
/// few hundred consumers, within a few per cent to about 10,000, saturating near 34,000.
const CONSUMER_BITS: usize = 4096;

pub(crate) struct Row {
    /// Requests answered with anything but `405 Method Not Allowed`.
    calls: u64,
    /// `405` answers: the route exists, this method doesn't, so they are no call of it.
    not_allowed: u64,
    status: [u64; 5],
    /// Server latency of the calls in microseconds, 1 µs to 60 s, two significant digits.
    latency: Histogram<u32>,
    /// First and last call.
    seen: Option<(SystemTime, SystemTime)>,
    consumers: Box<[u64; CONSUMER_BITS / 64]>,
    /// The last call's [`Deprecated`](crate::Deprecated) marker: since, and the sunset.
    deprecation: Option<(u64, Option<u64>)>,
}

impl Row {
    pub(crate) fn new() -> Self {
        Row {
            calls: 0,
            not_allowed: 0,
            status: [0; 5],
            latency: Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid bounds"),
            seen: None,
            consumers: Box::new([0; CONSUMER_BITS / 64]),
            deprecation: None,
        }
    }

    /// Counts a hit whose latency is `latency` (read once for the table and its deltas).
    pub(crate) fn add(&mut self, hit: &Hit, consumer: u64, latency: std::time::Duration) {
        if hit.status() == StatusCode::METHOD_NOT_ALLOWED {
            self.not_allowed += 1;
            return;
        }
        self.calls += 1;
        self.status[status_class(hit.status())] += 1;
        let micros = latency.as_micros().clamp(1, 60_000_000) as u64;
        self.latency.saturating_record(micros);
        let at = hit.received_at();
        self.seen = Some(match self.seen {
            Some((first, last)) => (first.min(at), last.max(at)),
            None => (at, at),
        });
        if let Some(d) = hit.deprecated() {
            self.deprecation = Some((d.since_unix(), d.sunset_unix()));
        }
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

    /// A route no request reached.
    pub(crate) fn unused(method: &str, route: &str, in_inventory: bool) -> RouteUsage {
        RouteUsage {
            method: method.to_owned(),
            route: route.to_owned(),
            in_inventory,
            never_called: in_inventory,
            calls: 0,
            method_not_allowed: 0,
            status: StatusCounts::default(),
            latency_ms: None,
            first_seen: None,
            last_seen: None,
            consumers: 0,
            deprecated: false,
            deprecated_since: None,
            sunset: None,
            last_called: None,
            declared_since: None,
            calls_per_day: Vec::new(),
            top_consumers: Vec::new(),
        }
    }

    pub(crate) fn view(&self, method: &str, route: &str, in_inventory: bool) -> RouteUsage {
        let q = |p: f64| self.latency.value_at_quantile(p) as f64 / 1000.0;
        let mut usage = Row::unused(method, route, in_inventory);
        usage.never_called = in_inventory && self.calls == 0;
        usage.calls = self.calls;
        usage.method_not_allowed = self.not_allowed;
        usage.status = StatusCounts {
            s2xx: self.status[0],
            s3xx: self.status[1],
            s4xx: self.status[2],
            s5xx: self.status[3],
            other: self.status[4],
        };
        if let Some((since, sunset)) = self.deprecation {
            usage.deprecated = true;
            usage.deprecated_since = Some(since);
            usage.sunset = sunset;
        }
        if let Some((first, last)) = self.seen {
            usage.latency_ms = Some(Quantiles {
                p50: q(0.5),
                p95: q(0.95),
                p99: q(0.99),
            });
            usage.first_seen = Some(unix(first));
            usage.last_seen = Some(unix(last));
            usage.last_called = Some(unix(last));
            usage.consumers = self.consumers();
        }
        usage
    }
}

pub(crate) use crate::text::date::unix_secs as unix;
