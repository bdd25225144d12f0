//! [`UsageSnapshot`]: what [`Handle::usage`](crate::Handle::usage) returns.

use serde::Serialize;

/// Requests per status class.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StatusCounts {
    /// `2xx` answers.
    #[serde(rename = "2xx")]
    pub s2xx: u64,
    /// `3xx` answers.
    #[serde(rename = "3xx")]
    pub s3xx: u64,
    /// `4xx` answers.
    #[serde(rename = "4xx")]
    pub s4xx: u64,
    /// `5xx` answers.
    #[serde(rename = "5xx")]
    pub s5xx: u64,
    /// Any other status.
    pub other: u64,
}

/// Server latency quantiles, in milliseconds (two significant digits).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// One route's usage.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RouteUsage {
    /// The method (`GET`; `OTHER` for the row of methods outside RFC 9110's); empty for the
    /// unmatched and `(other)` rows.
    pub method: String,
    /// The template (`/users/{id}`) as declared, else as the router reported it; `(unmatched)`,
    /// `(other)` or `(any)`: never a raw path.
    pub route: String,
    /// Declared with `known_routes` / `known_routes_openapi`.
    pub in_inventory: bool,
    /// Declared and never called since [`UsageSnapshot::since`]: a deprecation candidate.
    pub never_called: bool,
    /// Requests of this route and method answered with anything but `405 Method Not Allowed`.
    pub calls: u64,
    /// `405 Method Not Allowed` answers: the path exists and this method doesn't, so they
    /// are not calls (a declared route the router doesn't mount stays never called).
    pub method_not_allowed: u64,
    /// By status class.
    pub status: StatusCounts,
    /// Server latency; `None` without calls.
    pub latency_ms: Option<Quantiles>,
    /// First and last request (unix seconds).
    pub first_seen: Option<u64>,
    /// Last request (unix seconds).
    pub last_seen: Option<u64>,
    /// Distinct consumers, estimated (within a few per cent to about 10,000).
    pub consumers: u64,
    /// Marked [`Deprecated`](crate::Deprecated) (its last call's responses carried the
    /// marker), or declared deprecated by an OpenAPI document.
    pub deprecated: bool,
    /// Deprecated since (unix seconds), from the marker.
    pub deprecated_since: Option<u64>,
    /// The marker's sunset (unix seconds), if it has one.
    pub sunset: Option<u64>,
    /// The last call (unix seconds), whenever it was: outside the window too, with a store.
    pub last_called: Option<u64>,
    /// With a store: since when (unix seconds, a UTC day) the route has been declared. A route
    /// declared after the window began is not listed as never called: it hasn't had the time.
    pub declared_since: Option<u64>,
    /// With a store: the calls of each day of the window, oldest first.
    pub calls_per_day: Vec<u64>,
    /// With a store: who called the route most in the window (labels, never credentials,
    /// addresses or agents), busiest first, at most 20.
    pub top_consumers: Vec<Consumer>,
}

/// A consumer of a route and its calls: the [`UserId`](crate::UserId) if the requests had one,
/// else `key-…` (a keyed hash of the credential), `anon-…` (of the address and agent), or
/// `anonymous`; `(others)` for the calls of consumers beyond those the store keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Consumer {
    /// The consumer's label.
    pub label: String,
    /// Its calls.
    pub calls: u64,
}

/// Per-route usage since the sender started.
///
/// Every declared route has a row, called or not. Routes the router reports that weren't
/// declared have rows up to 512; past that they share the `other` row. Requests that matched
/// no route share `unmatched`; requests with a method outside RFC 9110's (`PROPFIND`, `M1`...)
/// share `other_methods`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct UsageSnapshot {
    /// Since when (unix seconds): the sender's start.
    pub since: u64,
    /// When this snapshot was taken (unix seconds).
    pub generated_at: u64,
    /// Requests counted in the rows (`calls` and `method_not_allowed` of them all).
    pub calls: u64,
    /// With a store: the window's days (`since` is then the window's first day); without one,
    /// `None`: the counts are since the sender started.
    pub window_days: Option<u32>,
    /// With a store that couldn't be read: why; the counts are then since the sender started.
    pub store_error: Option<String>,
    /// Requests dropped before the sender saw them (queue full, sender down): in no row.
    pub dropped: u64,
    /// Why the declared routes could not be read, if they couldn't: then no route is declared,
    /// and none is listed as never called.
    pub inventory_error: Option<String>,
    /// Every declared route and every undeclared route seen: most called first.
    pub routes: Vec<RouteUsage>,
    /// Requests that matched no route, if any.
    pub unmatched: Option<RouteUsage>,
    /// Undeclared routes beyond the table's 512, if any.
    pub other: Option<RouteUsage>,
    /// Requests with a method outside RFC 9110's, on any route, if any: method `OTHER`,
    /// route `(any)`.
    pub other_methods: Option<RouteUsage>,
}

impl UsageSnapshot {
    /// The declared routes never called: the deprecation candidates.
    pub fn never_called(&self) -> impl Iterator<Item = &RouteUsage> {
        self.routes.iter().filter(|r| r.never_called)
    }

    /// The deprecated routes, most called first: who to tell before the sunset.
    pub fn deprecated(&self) -> impl Iterator<Item = &RouteUsage> {
        self.routes.iter().filter(|r| r.deprecated)
    }
}
