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
//! | `tower_ga_batches_total`, `tower_ga_retries_total` | counter | |
//!
//! `route` is the matched template (`/users/{id}`), or `(unmatched)`: never a raw path, so the
//! series are as many as the API's routes. A nonstandard `method` is `OTHER`. Recorded on the
//! sender's thread, from the hits it takes: nothing on the request path; a hit shed while the
//! queue was full is in `tower_ga_hits_total{outcome="dropped"}` only.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;

use super::stats::Counters;
use crate::hit::Hit;

/// How often the sender's counters are exported, at most.
const EXPORT_EVERY: Duration = Duration::from_secs(1);

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Routes given a label of their own, at most: an API has fewer; more share `(other)`.
const MAX_ROUTES: usize = 1024;

/// Records per-route usage and exports the sender's counters.
#[derive(Debug, Default)]
pub(super) struct Exporter {
    last: Option<Instant>,
    /// Each route's label text, made once: a label is then a reference count, not a copy.
    routes: HashMap<Box<str>, Arc<str>>,
}

impl Exporter {
    /// Records one request the sender took.
    pub(super) fn record(&mut self, hit: &Hit) {
        let method = method_label(hit.method());
        let route = self.route_label(hit.route().unwrap_or(crate::config::UNMATCHED_PATH));
        metrics::counter!(
            "tower_ga_requests_total",
            "method" => method,
            "route" => route.clone(),
            "status_class" => status_class(hit.status().as_u16()),
        )
        .increment(1);
        metrics::histogram!(
            "tower_ga_request_duration_seconds",
            "method" => method,
            "route" => route,
        )
        .record(hit.latency().as_secs_f64());
    }

    fn route_label(&mut self, route: &str) -> Arc<str> {
        if let Some(label) = self.routes.get(route) {
            return label.clone();
        }
        if self.routes.len() >= MAX_ROUTES {
            return Arc::from("(other)");
        }
        let label: Arc<str> = Arc::from(route);
        self.routes.insert(route.into(), label.clone());
        label
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
