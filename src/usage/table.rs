//! The usage table: per route, what the sender saw of the requests it took.
//!
//! Every declared route has a row of its own, whatever the traffic: the never-called list is
//! exact. Routes the API didn't declare get rows up to [`MAX_UNDECLARED`], then share one
//! `(other)` row; requests that matched no route share the unmatched row; requests with a method
//! outside RFC 9110's share one `OTHER` row, so no client can mint rows by inventing methods.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::SystemTime;

use http::Method;

use super::delta::Deltas;
use super::inventory::{shape, Routes};
use super::row::{unix, Row};
use super::snapshot::{RouteUsage, UsageSnapshot};
use super::store::{Declared, RowDelta};
use crate::hit::{Hit, OTHER_METHOD};
use crate::hooks::NameConsumer;
use crate::text::date::Day;
use std::sync::Arc;

/// Undeclared routes (method + template) kept apart, at most; more share one `(other)` row.
/// Rows are ≈ 13 kB each (mostly the latency histogram): ≈ 6.7 MB for these, beside the
/// declared routes' rows, each made at its route's first request.
pub(crate) const MAX_UNDECLARED: usize = 512;

/// Templates × methods whose row is remembered by template, at most, beyond the declared
/// routes. Templates come from the application's router, so there are as many as it has
/// routes; past this, a template's row is worked out again for each of its requests.
const MAX_LOOKUP: usize = 4 * MAX_UNDECLARED;

/// Which row counts a template and method's requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// `rows[i]`: a declared route's, or an undeclared one's.
    Row(usize),
    /// Undeclared, past [`MAX_UNDECLARED`].
    Other,
}

/// Slots by template, then method: a hit's template finds its slot without a copy of it (a
/// route has a handful of methods, scanned in order).
type Lookup = HashMap<Box<str>, Vec<(Method, Slot)>, foldhash::fast::RandomState>;

/// Per-route rows, and the declared routes.
pub(crate) struct UsageTable {
    pub(crate) since: SystemTime,
    routes: Routes,
    /// Why the declared routes could not be read, if they couldn't: then none are declared.
    inventory_error: Option<String>,
    /// The declared routes' rows (in their order, each made at its first request), then the
    /// undeclared routes' (named in `undeclared`).
    rows: Vec<Option<Row>>,
    undeclared: Vec<(Method, Box<str>)>,
    lookup: Lookup,
    remembered: usize,
    unmatched: Option<Row>,
    other: Option<Row>,
    other_methods: Option<Row>,
    hasher: foldhash::fast::RandomState,
    /// With a usage store: the counts it hasn't taken yet, and the consumers' labels' key.
    deltas: Option<(Deltas, [u8; 16])>,
    /// Names consumers for the store's labels.
    namer: Option<Arc<dyn NameConsumer>>,
}

/// The indexes of the rows that are no route's, in [`Deltas`].
const UNMATCHED: usize = usize::MAX;
const OTHER_METHODS: usize = usize::MAX - 1;
const OTHER: usize = usize::MAX - 2;

impl Default for UsageTable {
    fn default() -> Self {
        UsageTable {
            since: SystemTime::now(),
            routes: Routes::default(),
            inventory_error: None,
            rows: Vec::new(),
            undeclared: Vec::new(),
            lookup: HashMap::default(),
            remembered: 0,
            unmatched: None,
            other: None,
            other_methods: None,
            hasher: Default::default(),
            deltas: None,
            namer: None,
        }
    }
}

impl UsageTable {
    /// Declares the API's routes, or why they could not be read (then none are). Called before
    /// the first request: rows counted so far are forgotten.
    pub(crate) fn declare(&mut self, routes: &Routes, error: Option<&str>) {
        *self = UsageTable {
            since: self.since,
            deltas: self.deltas.take().map(|(_, key)| (Deltas::default(), key)),
            namer: self.namer.take(),
            ..UsageTable::default()
        };
        match error {
            Some(e) => self.inventory_error = Some(e.to_owned()),
            None => {
                self.routes = routes.clone();
                self.rows = (0..routes.len()).map(|_| None).collect();
            }
        }
    }

    /// Counts a request the sender took (never a raw path: the template, or none), and returns
    /// the index of the row that counted it (named by [`label`](Self::label)), by which the
    /// `metrics` feature finds its own handles for the row. Allocates only for a template and
    /// method's first request.
    pub(crate) fn record(&mut self, hit: &Hit) -> usize {
        let consumer = self.consumer_of(hit);
        let index = match hit.route() {
            None => UNMATCHED,
            Some(_) if hit.method().as_str() == OTHER_METHOD => OTHER_METHODS,
            Some(route) => match self.slot(route, hit.method()) {
                Slot::Row(i) => i,
                Slot::Other => OTHER,
            },
        };
        let latency = hit.latency();
        if let Some((deltas, key)) = &mut self.deltas {
            deltas.add(index, hit, key, latency, self.namer.as_deref());
        }
        let row = match index {
            UNMATCHED => &mut self.unmatched,
            OTHER_METHODS => &mut self.other_methods,
            OTHER => &mut self.other,
            i => &mut self.rows[i],
        };
        row.get_or_insert_with(Row::new).add(hit, consumer, latency);
        index
    }

    /// The method and route of a row [`record`](Self::record) returned: the declared
    /// template, the template as matched, or a shared row's name (its method empty when it
    /// counts every method).
    pub(crate) fn label(&self, index: usize) -> (&str, &str) {
        let declared = self.routes.list.len();
        match index {
            UNMATCHED => ("", "(unmatched)"),
            OTHER_METHODS => (OTHER_METHOD, "(any)"),
            OTHER => ("", "(other)"),
            i if i < declared => {
                let r = &self.routes.list[i];
                (r.method.as_str(), r.template.as_str())
            }
            i => {
                let (m, t) = &self.undeclared[i - declared];
                (m.as_str(), t)
            }
        }
    }

    /// Keeps the counts added since [`take_deltas`](Self::take_deltas) too, for a usage store;
    /// `key` makes the consumers' labels (the fleet's shared key: the same in every replica).
    pub(crate) fn keep_deltas(&mut self, key: [u8; 16], namer: Option<Arc<dyn NameConsumer>>) {
        self.deltas = Some((Deltas::default(), key));
        self.namer = namer;
    }

    /// The counts added since the last call, by day, method and route.
    pub(crate) fn take_deltas(&mut self) -> Vec<RowDelta> {
        let Some((deltas, _)) = &mut self.deltas else {
            return Vec::new();
        };
        let taken = deltas.take();
        taken
            .into_iter()
            .map(|((day, index), counts)| {
                let (method, route) = self.label(index);
                RowDelta {
                    day,
                    method: method.to_owned(),
                    route: route.to_owned(),
                    counts,
                    trim: false,
                }
            })
            .collect()
    }

    /// Why the declared routes could not be read, if they couldn't.
    pub(crate) fn inventory_error(&self) -> Option<&str> {
        self.inventory_error.as_deref()
    }

    /// The declared routes, as the store keeps them.
    pub(crate) fn declared(&self, today: Day) -> Vec<Declared> {
        self.routes
            .list
            .iter()
            .map(|r| Declared {
                method: r.method.as_str().to_owned(),
                route: r.template.clone(),
                first_declared: today,
                deprecated: r.deprecated,
            })
            .collect()
    }

    fn slot(&mut self, route: &str, method: &Method) -> Slot {
        let known = self
            .lookup
            .get(route)
            .and_then(|slots| slots.iter().find(|(m, _)| m == method));
        if let Some((_, slot)) = known {
            return *slot;
        }
        // The first request of this template and method (or one past the lookup's bound).
        let declared = shape(route).ok().and_then(|s| self.routes.find(method, &s));
        let slot = match declared {
            Some(i) => Slot::Row(i),
            None if self.undeclared.len() < MAX_UNDECLARED => {
                self.undeclared.push((method.clone(), Box::from(route)));
                self.rows.push(None);
                Slot::Row(self.rows.len() - 1)
            }
            None => Slot::Other,
        };
        if self.remembered < MAX_LOOKUP + self.routes.len() {
            self.remembered += 1;
            self.lookup
                .entry(Box::from(route))
                .or_default()
                .push((method.clone(), slot));
        }
        slot
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

    /// The table as a snapshot, with the requests dropped before the sender saw them.
    pub(crate) fn snapshot(&self, dropped: u64) -> UsageSnapshot {
        let declared = self
            .routes
            .list
            .iter()
            .map(|r| (&r.method, r.template.as_str(), true, r.deprecated));
        let undeclared = self.undeclared.iter().map(|(m, t)| (m, &**t, false, false));
        let mut routes: Vec<RouteUsage> = declared
            .chain(undeclared)
            .zip(&self.rows)
            .map(|((method, route, in_inventory, deprecated), row)| {
                let mut usage = match row {
                    Some(row) => row.view(method.as_str(), route, in_inventory),
                    None => Row::unused(method.as_str(), route, in_inventory),
                };
                usage.deprecated |= deprecated;
                usage
            })
            .collect();
        routes.sort_by(|a, b| {
            b.calls
                .cmp(&a.calls)
                .then_with(|| a.route.cmp(&b.route))
                .then_with(|| a.method.cmp(&b.method))
        });
        let view = |row: &Option<Row>, method: &str, route: &str| {
            row.as_ref().map(|r| r.view(method, route, false))
        };
        let unmatched = view(&self.unmatched, "", "(unmatched)");
        let other = view(&self.other, "", "(other)");
        let other_methods = view(&self.other_methods, OTHER_METHOD, "(any)");
        let requests = |r: &RouteUsage| r.calls + r.method_not_allowed;
        let calls = routes
            .iter()
            .chain(&unmatched)
            .chain(&other)
            .chain(&other_methods)
            .map(requests)
            .sum();
        UsageSnapshot {
            since: unix(self.since),
            generated_at: unix(SystemTime::now()),
            calls,
            dropped,
            window_days: None,
            store_error: None,
            inventory_error: self.inventory_error.clone(),
            routes,
            unmatched,
            other,
            other_methods,
        }
    }
}
