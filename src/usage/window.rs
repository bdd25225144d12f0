//! The usage snapshot over a window of days, from the usage store: what the page and
//! `Handle::usage_window` show when a store is configured.

use std::time::SystemTime;

use super::delta::{Counts, OTHERS};
use super::row::unix;
use super::snapshot::{Consumer, Quantiles, RouteUsage, StatusCounts, UsageSnapshot};
use super::store::Stored;
use super::table::UsageTable;
use crate::hit::OTHER_METHOD;
use crate::text::date::Day;

/// Top consumers listed per route (and `(others)`).
const TOP_CONSUMERS: usize = 20;

/// The first day of a window of `days` days ending today.
pub(crate) fn first_day(days: u32, now: SystemTime) -> Day {
    Day(Day::of(now).0 - i64::from(days.max(1)) + 1)
}

fn view(
    method: &str,
    route: &str,
    counts: &Counts,
    per_day: &[(Day, u64)],
    from: Day,
    days: u32,
) -> RouteUsage {
    let mut daily = vec![0; days.max(1) as usize];
    for (day, calls) in per_day {
        if let Some(slot) = usize::try_from(day.0 - from.0)
            .ok()
            .and_then(|i| daily.get_mut(i))
        {
            *slot += calls;
        }
    }
    let mut top: Vec<Consumer> = counts
        .consumers
        .iter()
        .map(|(label, calls)| Consumer {
            label: label.clone(),
            calls: *calls,
        })
        .collect();
    // Busiest first; `(others)`, the calls of consumers not kept, last.
    top.sort_by(|a, b| {
        (a.label == OTHERS)
            .cmp(&(b.label == OTHERS))
            .then_with(|| b.calls.cmp(&a.calls))
            .then_with(|| a.label.cmp(&b.label))
    });
    let distinct = top.iter().filter(|c| c.label != OTHERS).count() as u64;
    if top.len() > TOP_CONSUMERS + 1 {
        let others = top.pop().filter(|c| c.label == OTHERS);
        top.truncate(TOP_CONSUMERS);
        top.extend(others);
    }
    let q = |p| counts.quantile(p).map(|v| (v * 100.0).round() / 100.0);
    RouteUsage {
        method: method.to_owned(),
        route: route.to_owned(),
        in_inventory: false,
        never_called: false,
        calls: counts.calls,
        method_not_allowed: counts.not_allowed,
        status: StatusCounts {
            s2xx: counts.status[0],
            s3xx: counts.status[1],
            s4xx: counts.status[2],
            s5xx: counts.status[3],
            other: counts.status[4],
        },
        latency_ms: q(0.5).map(|p50| Quantiles {
            p50,
            p95: q(0.95).unwrap_or(p50),
            p99: q(0.99).unwrap_or(p50),
        }),
        first_seen: counts.first,
        last_seen: counts.last,
        consumers: distinct,
        deprecated: counts.deprecation.is_some(),
        deprecated_since: counts.deprecation.map(|d| d.0),
        sunset: counts.deprecation.and_then(|d| d.1),
        last_called: None,
        declared_since: None,
        calls_per_day: daily,
        top_consumers: top,
    }
}

/// The snapshot of `days` days ending today: the store's rows, every declared route (a route
/// declared after the window began is not listed as never called), each route's last call.
pub(crate) fn snapshot(
    table: &UsageTable,
    mut stored: Stored,
    days: u32,
    dropped: u64,
    now: SystemTime,
) -> UsageSnapshot {
    let from = first_day(days, now);
    let mut snap = UsageSnapshot {
        since: unix(from.start()),
        generated_at: unix(now),
        calls: 0,
        dropped,
        window_days: Some(days),
        store_error: None,
        inventory_error: table.inventory_error().map(str::to_owned),
        routes: Vec::new(),
        unmatched: None,
        other: None,
        other_methods: None,
    };
    let today = Day::of(now);
    for route in table.declared(today) {
        let key = (route.method.clone(), route.route.clone());
        let (counts, per_day) = stored.routes.remove(&key).unwrap_or_default();
        let mut usage = view(&key.0, &key.1, &counts, &per_day, from, days);
        usage.in_inventory = true;
        usage.deprecated |= route.deprecated;
        let first = stored
            .declared
            .iter()
            .find(|d| d.method == key.0 && d.route == key.1)
            .map_or(today, |d| d.first_declared);
        usage.declared_since = Some(unix(first.start()));
        usage.never_called = counts.calls == 0 && first <= from;
        usage.last_called = stored.last_called.get(&key).copied();
        snap.routes.push(usage);
    }
    for ((method, route), (counts, per_day)) in &stored.routes {
        let mut usage = view(method, route, counts, per_day, from, days);
        usage.last_called = stored
            .last_called
            .get(&(method.clone(), route.clone()))
            .copied();
        match (method.as_str(), route.as_str()) {
            ("", "(unmatched)") => snap.unmatched = Some(usage),
            ("", "(other)") => snap.other = Some(usage),
            (OTHER_METHOD, "(any)") => snap.other_methods = Some(usage),
            _ => snap.routes.push(usage),
        }
    }
    snap.routes.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then_with(|| a.route.cmp(&b.route))
            .then_with(|| a.method.cmp(&b.method))
    });
    let requests = |r: &RouteUsage| r.calls + r.method_not_allowed;
    snap.calls = snap
        .routes
        .iter()
        .chain(&snap.unmatched)
        .chain(&snap.other)
        .chain(&snap.other_methods)
        .map(requests)
        .sum();
    snap
}
