//! What a usage store does, whatever the database: write deltas, read a window, forget old days.
//!
//! The schema is documented on [`UsageStore`](super::UsageStore).

use std::collections::HashMap;

use super::super::delta::Counts;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use super::super::delta::BUCKET_COLUMNS;
use crate::text::date::Day;

/// One row's delta: a day, a method and a route, and what to add.
#[derive(Clone, Debug)]
pub(crate) struct RowDelta {
    pub(crate) day: Day,
    pub(crate) method: String,
    pub(crate) route: String,
    pub(crate) counts: Counts,
    /// Whether the write trims the row's consumers to the busiest [`KEEP_CONSUMERS`], the
    /// calls of the others added to `(others)`: asked once enough labels were written that day.
    pub(crate) trim: bool,
}

/// Consumer labels a route keeps a day, at most (and `(others)`).
pub(crate) const KEEP_CONSUMERS: usize = 50;

/// A declared route as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Declared {
    pub(crate) method: String,
    pub(crate) route: String,
    pub(crate) first_declared: Day,
    pub(crate) deprecated: bool,
}

/// The schema this build writes.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) const VERSION: i64 = 1;

/// The schema's `CREATE TABLE`s, the same text for SQLite and PostgreSQL (SQLite stores
/// `BIGINT` and `BOOLEAN` as integers).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn schema_sql() -> String {
    let buckets: Vec<String> = BUCKET_COLUMNS
        .iter()
        .map(|c| format!("{c} BIGINT NOT NULL DEFAULT 0"))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS tower_ga_schema (version BIGINT NOT NULL);
         CREATE TABLE IF NOT EXISTS tower_ga_usage (
           day TEXT NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL,
           calls BIGINT NOT NULL DEFAULT 0, method_not_allowed BIGINT NOT NULL DEFAULT 0,
           s2xx BIGINT NOT NULL DEFAULT 0, s3xx BIGINT NOT NULL DEFAULT 0,
           s4xx BIGINT NOT NULL DEFAULT 0, s5xx BIGINT NOT NULL DEFAULT 0,
           s_other BIGINT NOT NULL DEFAULT 0, {},
           first_call BIGINT, last_call BIGINT, deprecated_since BIGINT, sunset BIGINT,
           PRIMARY KEY (day, method, route));
         CREATE TABLE IF NOT EXISTS tower_ga_consumers (
           day TEXT NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL,
           consumer TEXT NOT NULL, calls BIGINT NOT NULL DEFAULT 0,
           PRIMARY KEY (day, method, route, consumer));
         CREATE TABLE IF NOT EXISTS tower_ga_declared (
           method TEXT NOT NULL, route TEXT NOT NULL,
           first_declared TEXT NOT NULL, last_declared TEXT NOT NULL,
           deprecated BOOLEAN NOT NULL DEFAULT FALSE,
           PRIMARY KEY (method, route));",
        buckets.join(", ")
    )
}

/// The statement adding one row's delta to `tower_ga_usage`, the same for both backends but for
/// the placeholder sign (`?` for SQLite, `$` for PostgreSQL) and the two-value functions that
/// take the smaller and the larger (`min` and `max`, `LEAST` and `GREATEST`). Its parameters:
/// day, method, route, then [`upsert_numbers`].
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn upsert_sql(mark: char, smaller: &str, larger: &str) -> String {
    const SUMS: [&str; 7] = [
        "calls",
        "method_not_allowed",
        "s2xx",
        "s3xx",
        "s4xx",
        "s5xx",
        "s_other",
    ];
    let params = 3 + SUMS.len() + BUCKET_COLUMNS.len() + 4;
    let values: Vec<String> = (1..=params).map(|i| format!("{mark}{i}")).collect();
    let sums: Vec<String> = SUMS
        .iter()
        .chain(&BUCKET_COLUMNS)
        .map(|c| format!("{c} = tower_ga_usage.{c} + excluded.{c}"))
        .collect();
    // Either time may be absent (NULL): the other one then stands.
    let pick = |f: &str, c: &str| {
        format!(
            "{c} = {f}(coalesce(tower_ga_usage.{c}, excluded.{c}), \
             coalesce(excluded.{c}, tower_ga_usage.{c}))"
        )
    };
    format!(
        "INSERT INTO tower_ga_usage (day, method, route, {}, {}, first_call, last_call,
           deprecated_since, sunset)
         VALUES ({})
         ON CONFLICT (day, method, route) DO UPDATE SET {}, {}, {},
           deprecated_since = coalesce(excluded.deprecated_since, tower_ga_usage.deprecated_since),
           sunset = coalesce(excluded.sunset, tower_ga_usage.sunset)",
        SUMS.join(", "),
        BUCKET_COLUMNS.join(", "),
        values.join(", "),
        sums.join(", "),
        pick(smaller, "first_call"),
        pick(larger, "last_call"),
    )
}

/// A row's numbers as [`upsert_sql`] takes them after day, method and route: the counts (calls,
/// 405s, the five status classes, the latency buckets), then the first and last call, the
/// deprecation date and the sunset, each of which may be absent.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn upsert_numbers(c: &Counts) -> (Vec<i64>, [Option<i64>; 4]) {
    let n = |v: u64| v as i64;
    let counts = [c.calls, c.not_allowed]
        .iter()
        .chain(&c.status)
        .chain(&c.latency)
        .map(|v| n(*v))
        .collect();
    let times = [
        c.first,
        c.last,
        c.deprecation.map(|d| d.0),
        c.deprecation.and_then(|d| d.1),
    ]
    .map(|v| v.map(n));
    (counts, times)
}

/// What the schema version found says: `Ok(true)` when none is written yet (an empty
/// database), an error when a newer build wrote it.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn version_check(found: Option<i64>) -> Result<bool, String> {
    match found {
        None => Ok(true),
        Some(v) if v > VERSION => Err(format!(
            "its schema is version {v}, written by a newer tower-ga (this one writes {VERSION})"
        )),
        Some(_) => Ok(false),
    }
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
