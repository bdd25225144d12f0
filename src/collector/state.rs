//! What a running collector keeps: its counters, the requests it recorded, and the faults and
//! settings its connections share.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, RwLock};

use bytes::Bytes;
use serde::Serialize;

use super::faults::{self, Faults};
use super::print;
use crate::spec::ValidationMessage;

/// What the collector has seen. Hits are GA4 events or v1 payloads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counts {
    /// TCP connections accepted.
    pub connections: u64,
    /// Collection requests read (any path it serves, any outcome).
    pub requests: u64,
    /// Hits in requests it read, whatever it answered.
    pub hits_seen: u64,
    /// Hits in requests answered `2xx` in full: what a sender may count as sent.
    pub hits_accepted: u64,
    /// Hits in requests answered with an injected error status.
    pub hits_rejected: u64,
    /// Hits in requests it never answered (hang).
    pub hits_hung: u64,
    /// Hits in requests whose answer it broke off (close mid-response).
    pub hits_broken: u64,
    /// Accepted hits that break a documented rule.
    pub hits_invalid: u64,
    /// Accepted GA4 events.
    pub ga4_events: u64,
    /// Accepted v1 hits.
    pub ua_hits: u64,
    /// Connections closed as they came, because `max_connections` were open.
    pub connections_refused: u64,
    /// Times `accept` failed (out of file descriptors, say); each is followed by a pause.
    pub accept_errors: u64,
    /// Requests read but not kept for [`Collector::requests`](super::Collector::requests),
    /// which keeps the first 10,000.
    pub requests_unrecorded: u64,
}

/// The counts as they grow, one atomic each ([`Counts`] is a snapshot of them).
#[derive(Default)]
pub(super) struct Counters {
    pub(super) connections: AtomicU64,
    pub(super) requests: AtomicU64,
    pub(super) hits_seen: AtomicU64,
    pub(super) hits_accepted: AtomicU64,
    pub(super) hits_rejected: AtomicU64,
    pub(super) hits_hung: AtomicU64,
    pub(super) hits_broken: AtomicU64,
    pub(super) hits_invalid: AtomicU64,
    pub(super) ga4_events: AtomicU64,
    pub(super) ua_hits: AtomicU64,
    pub(super) connections_refused: AtomicU64,
    pub(super) accept_errors: AtomicU64,
    pub(super) requests_unrecorded: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> Counts {
        Counts {
            connections: self.connections.load(Relaxed),
            requests: self.requests.load(Relaxed),
            hits_seen: self.hits_seen.load(Relaxed),
            hits_accepted: self.hits_accepted.load(Relaxed),
            hits_rejected: self.hits_rejected.load(Relaxed),
            hits_hung: self.hits_hung.load(Relaxed),
            hits_broken: self.hits_broken.load(Relaxed),
            hits_invalid: self.hits_invalid.load(Relaxed),
            ga4_events: self.ga4_events.load(Relaxed),
            ua_hits: self.ua_hits.load(Relaxed),
            connections_refused: self.connections_refused.load(Relaxed),
            accept_errors: self.accept_errors.load(Relaxed),
            requests_unrecorded: self.requests_unrecorded.load(Relaxed),
        }
    }
}

/// One accepted collection request.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Received {
    /// Path, e.g. `/mp/collect`.
    pub path: String,
    /// Query string (GA4: `measurement_id` and `api_secret`).
    pub query: String,
    /// `Content-Type` header.
    pub content_type: Option<String>,
    /// Raw body.
    pub body: Bytes,
    /// Hits in it.
    pub hits: usize,
    /// What breaks the documented rules (empty: valid).
    pub messages: Vec<ValidationMessage>,
    /// What is valid but misses reports, e.g. an event without `session_id` (GA4 only; see
    /// [`validate::ga4_warnings`](crate::validate::ga4_warnings)).
    pub warnings: Vec<ValidationMessage>,
}

/// One collection request as the collector read it, whatever it then did (answered, rejected,
/// hung, broke off): for timing retries and checking payloads that were never accepted.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Arrival {
    /// When its body had been read, before any injected fault.
    pub at: std::time::Instant,
    /// Path, e.g. `/mp/collect`.
    pub path: String,
    /// Hits in it.
    pub hits: usize,
    /// What breaks the documented rules (empty: valid).
    pub messages: Vec<ValidationMessage>,
}

impl Received {
    /// Whether this was a GA4 request.
    pub fn is_ga4(&self) -> bool {
        self.path.ends_with("/mp/collect")
    }
}

/// What the connections of one collector share.
pub(super) struct State {
    pub(super) faults: RwLock<Faults>,
    pub(super) rng: faults::Rng,
    pub(super) counters: Counters,
    pub(super) record: bool,
    pub(super) received: Mutex<Vec<Received>>,
    pub(super) arrivals: Mutex<Vec<Arrival>>,
    pub(super) printer: print::Printer,
    pub(super) param_value_limit: usize,
    pub(super) validate: bool,
    pub(super) max_connections: usize,
}
