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
//! `route` is the matched template (`/users/{id}`), written as declared when it is a declared
//! route's (`/users/{userId}`, see [`known_routes`](crate::GaLayer::known_routes)), so that the
//! two metrics join on their labels; or `/(unmatched)`: never a raw path, so the series are as
//! many as the API's routes. A `method` outside RFC 9110's is `OTHER`. Recorded on
//! the sender's thread, from the hits it takes (those the filters keep from Google included, as
//! in the usage table): nothing on the request path; a hit shed while the queue was full is in
//! `tower_ga_hits_total{outcome="dropped"}` only.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;

use super::stats::Counters;
use crate::hit::Hit;
use crate::usage::inventory::{shape, Routes};

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

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The index of a status's class in [`STATUS_CLASSES`]; anything past 5xx counts as 5xx.
fn status_class(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}

/// Routes given a label of their own, at most: an API has fewer; more share `(other)`.
const MAX_ROUTES: usize = 1024;

/// How long registered handles are reused: a recorder installed after the first hits is then
/// picked up within this time (a handle registered before it records nowhere).
const HANDLES_FOR: Duration = Duration::from_secs(60);

/// One route and method's handles, registered once: recording is then an atomic add, where
/// building the key for each hit would build, hash and compare its labels every time (BENCHMARKS.md
/// has the cost).
struct Handles {
    method: &'static str,
    route: Arc<str>,
    /// By status class, registered at the class's first request.
    requests: [Option<metrics::Counter>; 5],
    duration: metrics::Histogram,
}

impl Handles {
    fn new(method: &'static str, route: Arc<str>) -> Self {
        let duration = metrics::histogram!(
            "tower_ga_request_duration_seconds",
            "method" => method,
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
        let (method, route) = (self.method, &self.route);
        self.requests[class]
            .get_or_insert_with(|| {
                metrics::counter!(
                    "tower_ga_requests_total",
                    "method" => method,
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
    /// The declared routes: their gauges, and their templates as labels.
    declared: Routes,
    last: Option<Instant>,
    /// Handles by route, then method; cleared every [`HANDLES_FOR`].
    routes: HashMap<Box<str>, Vec<Handles>, foldhash::fast::RandomState>,
    registered: Option<Instant>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("routes", &self.routes.len())
            .finish_non_exhaustive()
    }
}

impl Exporter {
    pub(super) fn new(declared: Option<Routes>) -> Self {
        Exporter {
            declared: declared.unwrap_or_default(),
            ..Exporter::default()
        }
    }

    /// Records one request the sender took: one map lookup once its route has handles.
    pub(super) fn record(&mut self, hit: &Hit) {
        let route = hit.route().unwrap_or(crate::config::UNMATCHED_PATH);
        let method = method_label(hit.method());
        let class = status_class(hit.status().as_u16());
        let secs = hit.latency().as_secs_f64();
        if let Some(list) = self.routes.get_mut(route) {
            if let Some(h) = list.iter_mut().find(|h| h.method == method) {
                return h.record(class, secs);
            }
        }
        self.handles(route, method).record(class, secs);
    }

    /// A route and method's handles, registered now if they aren't yet.
    fn handles(&mut self, route: &str, method: &'static str) -> &mut Handles {
        let declared: Option<Arc<str>> = self.declared_template(route, method).map(Arc::from);
        // A declared route keeps its own label past the cap: the declared are few and known.
        let own = declared.is_some() || self.routes.len() < MAX_ROUTES;
        let route = if own || self.routes.contains_key(route) {
            route
        } else {
            "(other)"
        };
        if !self.routes.contains_key(route) {
            self.routes.insert(route.into(), Vec::new());
        }
        let list = self.routes.get_mut(route).expect("inserted above");
        match list.iter().position(|h| h.method == method) {
            Some(i) => &mut list[i],
            None => {
                let label = declared.unwrap_or_else(|| Arc::from(route));
                list.push(Handles::new(method, label));
                list.last_mut().expect("pushed")
            }
        }
    }

    /// The declared template of the route a template and method are, if declared.
    fn declared_template(&self, route: &str, method: &str) -> Option<&str> {
        let method = Method::from_bytes(method.as_bytes()).ok()?;
        let i = self.declared.find(&method, &shape(route).ok()?)?;
        Some(&self.declared.list[i].template)
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
            self.routes.clear();
            self.registered = Some(now);
            for r in &self.declared.list {
                metrics::gauge!(
                    "tower_ga_route_declared",
                    "method" => method_label(&r.method),
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
    fn status_classes_and_the_route_cap() {
        let classes: Vec<&str> = [100, 204, 302, 404, 503, 799]
            .map(|s| STATUS_CLASSES[status_class(s)])
            .to_vec();
        assert_eq!(classes, ["1xx", "2xx", "3xx", "4xx", "5xx", "5xx"]);
        let mut e = Exporter::default();
        for i in 0..MAX_ROUTES + 10 {
            e.handles(&format!("/r{i}"), "GET");
        }
        assert_eq!(e.routes.len(), MAX_ROUTES + 1);
        assert_eq!(e.handles("/r2000", "POST").route.as_ref(), "(other)");
        // A route seen before the cap keeps its own label, and each method its handles.
        assert_eq!(e.handles("/r3", "POST").route.as_ref(), "/r3");
        assert_eq!(e.routes["/r3"].len(), 2);
    }
}
