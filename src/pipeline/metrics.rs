//! The `metrics` feature: per-route usage and the sender's counters through the
//! [`metrics`](https://docs.rs/metrics) facade, so a fleet's replicas aggregate in whatever
//! exporter the application installs (Prometheus, StatsD, OpenTelemetry...).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `tower_ga_requests_total` | counter | `method`, `route`, `status_class` |
//! | `tower_ga_request_duration_seconds` | histogram | `method`, `route` |
//! | `tower_ga_hits_total` | counter | `outcome`: `tracked`, `sent`, `dropped`, `failed` |
//! | `tower_ga_hits_pending` | gauge | |
//! | `tower_ga_route_declared` | gauge, `1` | `method`, `route`: each declared route, so that one never called has a series |
//! | `tower_ga_batches_total`, `tower_ga_retries_total` | counter | |
//!
//! `route` and `method` are those of the usage table's row that counted the request
//! ([`crate::usage`]): a declared route's template as declared (`/users/{userId}`, see
//! [`known_routes`](crate::GaLayer::known_routes)), so that the two metrics join on their
//! labels; an undeclared route's as matched (`/users/{id}`), up to the table's bound, then
//! `(other)`; `(unmatched)` for requests no route matched; and `(any)`, with `method` `OTHER`,
//! for methods outside RFC 9110's. Never a raw path: the series are as many as the table's rows.
//! `status_class` is `2xx` to `5xx`, or `other`, as in the table. Recorded on the sender's
//! thread, from the hits it takes (those the filters keep from Google included, as in the usage
//! table): nothing on the request path; a hit shed while the queue was full is in
//! `tower_ga_hits_total{outcome="dropped"}` only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::stats::Counters;
use crate::hit::Hit;
use crate::usage::inventory::Routes;
use crate::usage::table::UsageTable;

/// How often the sender's counters are exported, at most.
const EXPORT_EVERY: Duration = Duration::from_secs(1);

/// By the index of [`crate::usage::delta::status_class`].
const STATUS_CLASSES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "other"];

/// How long registered handles are reused: a recorder installed after the first hits is then
/// picked up within this time (a handle registered before it records nowhere).
const HANDLES_FOR: Duration = Duration::from_secs(60);

/// One row and method's handles, registered once: recording is then an atomic add, where
/// building the key for each hit would build, hash and compare its labels every time.
struct Handles {
    method: Box<str>,
    route: Arc<str>,
    /// By status class, registered at the class's first request.
    requests: [Option<metrics::Counter>; 5],
    duration: metrics::Histogram,
}

impl Handles {
    fn new(method: &str, route: &str) -> Self {
        let (method, route): (Box<str>, Arc<str>) = (method.into(), route.into());
        let duration = metrics::histogram!(
            "tower_ga_request_duration_seconds",
            "method" => method.to_string(),
            "route" => route.clone(),
        );
        Handles {
            method,
            route,
            requests: Default::default(),
            duration,
        }
    }

    fn record(&mut self, class: usize, secs: f64) {
        let (method, route) = (&self.method, &self.route);
        self.requests[class]
            .get_or_insert_with(|| {
                metrics::counter!(
                    "tower_ga_requests_total",
                    "method" => method.to_string(),
                    "route" => route.clone(),
                    "status_class" => STATUS_CLASSES[class],
                )
            })
            .increment(1);
        self.duration.record(secs);
    }
}

/// Records per-route usage and exports the sender's counters.
#[derive(Default)]
pub(super) struct Exporter {
    /// The declared routes, for their gauges.
    declared: Routes,
    last: Option<Instant>,
    /// Handles by the usage table's row (the shared rows first), then method: a route's row
    /// has one method, a shared row one per method seen. Cleared every [`HANDLES_FOR`].
    rows: Vec<Vec<Handles>>,
    registered: Option<Instant>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("rows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

/// Where a row's handles are in [`Exporter::rows`]: the shared rows' indexes are the largest.
fn slot(row: usize) -> usize {
    row.wrapping_add(3)
}

impl Exporter {
    pub(super) fn new(declared: Option<Routes>) -> Self {
        Exporter {
            declared: declared.unwrap_or_default(),
            ..Exporter::default()
        }
    }

    /// Records one request the sender took, counted in `table`'s row `row`: an index and a
    /// short scan once the row has handles.
    pub(super) fn record(&mut self, hit: &Hit, row: usize, table: &UsageTable) {
        let (label_method, route) = table.label(row);
        // A shared row counts every method: each has handles of its own.
        let method = match label_method {
            "" => hit.method().as_str(),
            m => m,
        };
        let class = crate::usage::delta::status_class(hit.status());
        let secs = hit.latency().as_secs_f64();
        let at = slot(row);
        if self.rows.len() <= at {
            self.rows.resize_with(at + 1, Vec::new);
        }
        let list = &mut self.rows[at];
        let i = match list.iter().position(|h| *h.method == *method) {
            Some(i) => i,
            None => {
                list.push(Handles::new(method, route));
                list.len() - 1
            }
        };
        list[i].record(class, secs);
    }

    pub(super) fn export(&mut self, counters: &Counters, force: bool) {
        let now = Instant::now();
        if !force
            && self
                .last
                .is_some_and(|t| now.duration_since(t) < EXPORT_EVERY)
        {
            return;
        }
        self.last = Some(now);
        if self
            .registered
            .is_none_or(|t| now.duration_since(t) >= HANDLES_FOR)
        {
            self.rows.clear();
            self.registered = Some(now);
            for r in &self.declared.list {
                metrics::gauge!(
                    "tower_ga_route_declared",
                    "method" => r.method.to_string(),
                    "route" => r.template.clone(),
                )
                .set(1.0);
            }
        }
        let s = counters.snapshot();
        for (outcome, n) in [
            ("tracked", s.tracked),
            ("sent", s.sent),
            ("dropped", s.dropped),
            ("failed", s.failed),
        ] {
            metrics::counter!("tower_ga_hits_total", "outcome" => outcome).absolute(n);
        }
        metrics::gauge!("tower_ga_hits_pending").set(s.pending as f64);
        metrics::counter!("tower_ga_batches_total").absolute(s.batches);
        metrics::counter!("tower_ga_retries_total").absolute(s.retried);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_rows_and_route_rows_have_slots_of_their_own() {
        assert_eq!(slot(0), 3);
        assert_eq!(
            [usize::MAX, usize::MAX - 1, usize::MAX - 2].map(slot),
            [2, 1, 0]
        );
        let classes = [101, 204, 302, 404, 503, 799].map(|s| {
            STATUS_CLASSES
                [crate::usage::delta::status_class(http::StatusCode::from_u16(s).unwrap())]
        });
        assert_eq!(classes, ["other", "2xx", "3xx", "4xx", "5xx", "other"]);
    }
}
