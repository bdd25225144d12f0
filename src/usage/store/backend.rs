//! What a usage store does, whatever the database: write deltas, read a window, forget old days.
//!
//! The schema (version 1), readable with plain SQL:
//!
//! - `tower_ga_usage`: one row per UTC `day` (`YYYY-MM-DD`), `method` and `route` (the declared
//!   template, else the router's; `(unmatched)`, `(other)`, or method `OTHER` and route `(any)`):
//!   `calls`, `method_not_allowed` (405 answers, no calls), `s2xx` … `s5xx`, `s_other`, latency
//!   buckets `ms_1` … `ms_10000` and `ms_inf` (calls up to that many milliseconds, above the
//!   bucket before), `first_call` and `last_call` (unix seconds), `deprecated_since` and `sunset`
//!   (unix seconds, from the `Deprecated` marker).
//! - `tower_ga_consumers`: per `day`, `method`, `route` and `consumer` label, `calls`; at most
//!   the busiest [`MAX_CONSUMERS`](crate::usage::delta::MAX_CONSUMERS) of a write, and
//!   `(others)`.
//! - `tower_ga_declared`: each declared `method` and `route` with `first_declared` and
//!   `last_declared` (days) and `deprecated`.
//! - `tower_ga_schema`: the schema's `version`.
//!
//! Declared routes not called in the last 90 days:
//!
//! ```sql
//! SELECT d.method, d.route, MAX(u.last_call) AS last_call
//! FROM tower_ga_declared d
//! LEFT JOIN tower_ga_usage u ON u.method = d.method AND u.route = d.route
//! GROUP BY d.method, d.route
//! HAVING COALESCE(MAX(CASE WHEN u.day >= '2026-09-08' THEN u.calls END), 0) = 0;
//! ```
//!
//! (`'2026-09-08'` being 90 days ago: `date('now', '-90 days')` in SQLite,
//! `to_char(current_date - 90, 'YYYY-MM-DD')` in PostgreSQL.)

use std::collections::HashMap;

use super::super::delta::Counts;
use crate::text::date::Day;

/// One row's delta: a day, a method and a route, and what to add.
#[derive(Clone, Debug)]
pub(crate) struct RowDelta {
    pub(crate) day: Day,
    pub(crate) method: String,
    pub(crate) route: String,
    pub(crate) counts: Counts,
}

/// A declared route as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Declared {
    pub(crate) method: String,
    pub(crate) route: String,
    pub(crate) first_declared: Day,
    pub(crate) deprecated: bool,
}

/// A route's method and template.
pub(crate) type RouteKey = (String, String);

/// A window of the store: per method and route, the counts of the window's days and the calls
/// of each day; when each route was last called, whenever that was; the declared routes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stored {
    pub(crate) routes: HashMap<RouteKey, (Counts, Vec<(Day, u64)>)>,
    pub(crate) last_called: HashMap<(String, String), u64>,
    pub(crate) declared: Vec<Declared>,
}

impl Stored {
    /// Adds deltas not in the database yet (written later, or by nobody yet).
    pub(crate) fn add(&mut self, rows: &[RowDelta], from: Day) {
        for r in rows {
            let key = (r.method.clone(), r.route.clone());
            if let Some(last) = r.counts.last {
                let l = self.last_called.entry(key.clone()).or_default();
                *l = (*l).max(last);
            }
            if r.day < from {
                continue;
            }
            let (counts, days) = self.routes.entry(key).or_default();
            counts.merge(&r.counts);
            match days.iter_mut().find(|(d, _)| *d == r.day) {
                Some((_, n)) => *n += r.counts.calls,
                None => days.push((r.day, r.counts.calls)),
            }
        }
    }
}

/// A database that keeps the usage table's days.
pub(crate) trait Backend: Send {
    /// Adds the deltas and declares the routes (first declared today unless known), in one
    /// transaction: all or nothing.
    fn write(&mut self, rows: &[RowDelta], declared: &[Declared], today: Day)
        -> Result<(), String>;

    /// The days from `from` to today, and every route's last call.
    fn read(&mut self, from: Day) -> Result<Stored, String>;

    /// Forgets the days before `before`; how many rows went.
    fn retain(&mut self, before: Day) -> Result<u64, String>;
}
