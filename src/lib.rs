//! Report every request of an HTTP API to Google Analytics, without touching its latency.
//!
//! `tower-ga` is a [tower] middleware. Add [`GaLayer`] to an axum `Router` (or any tower service),
//! and each request becomes a GA `page_view`: the page location (absolute URL, secrets in the query
//! redacted), a title from the matched route (`GET /users/{id}`) or an annotation, the referrer,
//! the response status and the server latency. API owners then see in GA which endpoints are used
//! (and which can be deprecated) and which are hot.
//!
//! The request path only copies the path, the query and a few headers into a recycled hit, and
//! pushes it onto a bounded, preallocated lock-free queue when the response is produced. A
//! background thread encodes, batches (by client, up to 25 events a request), sends with bounded
//! concurrency and timeouts, and retries transient failures. Nothing on the request path awaits
//! anything or waits on the network or queue capacity: when the queue is full the hit is dropped
//! and counted, and until the sender catches up later requests are counted as dropped without
//! being captured. Its one lock is the brief one inside `tokio::sync::Notify`, taken at most once
//! per take of the sender, when a quarter-full queue wakes it early.
//!
//! GA4's Measurement Protocol is the default; the legacy Universal Analytics v1 protocol is chosen
//! by a `UA-` tracking id (Google stopped processing UA properties in 2023/2024).
//!
//! # Quick start
//!
//! ```no_run
//! use std::time::Duration;
//! use axum::{routing::get, Extension, Router};
//! use tower_ga::{GaLayer, NoTrack, PageTitle, UserId};
//!
//! async fn user() -> &'static str { "user" }
//! async fn health() -> &'static str { "ok" }
//! async fn me() -> (Extension<UserId>, &'static str) { (Extension(UserId::new("42")), "me") }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let ga = GaLayer::new("G-XXXXXXXXXX")           // measurement id
//!     .api_secret("secret")                       // GA4 API secret
//!     .endpoint("http://127.0.0.1:5000")          // optional: a local collector
//!     .build()?;                                  // a bad configuration is an error here
//! let handle = ga.handle();
//! let app = Router::new()
//!     .route("/users/{id}", get(user).layer(PageTitle::new("User detail")))
//!     .route("/health", get(health).layer(NoTrack))
//!     .route("/me", get(me))
//!     .layer(ga);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! let all_sent: bool = handle.shutdown(Duration::from_secs(2)).await;
//! # Ok(()) }
//! ```
//!
//! # Where to put the layer
//!
//! Use `Router::layer`: axum then wraps each route after routing, so the matched route template
//! (`MatchedPath`) is known, nested routers included. Wrapping the whole `Router` as a service (or
//! using `nest_service`) hides the template: every request is then "unmatched" unless you annotate
//! it. Per-route [`PageTitle`], [`NoTrack`] and [`UserId`] work as route layers, as response
//! extensions, or as request extensions set by a middleware outside the `GaLayer`
//! (see [`markers`]).
//!
//! # What is sent
//!
//! For GA4, one `page_view` event per tracked request with `page_location`, `page_title`,
//! `page_referrer`, `session_id` and `engagement_time_msec` (both needed for Realtime and the user
//! metrics), `timestamp_micros` (when the request arrived, so a hit sent late keeps its time), and
//! the custom params `http_method`, `http_route`, `http_status_code`, `server_latency_ms` and
//! `data_source`. The request's `User-Agent` goes in the top-level `user_agent` (switchable), the
//! [`UserId`] in `user_id`. Every value is truncated at a character boundary to GA's limit.
//!
//! # Privacy defaults
//!
//! - No client IP is sent unless [`GaLayer::send_client_ip`] says so (optionally truncated).
//! - Query parameters whose names look secret (`token`, `key`, `password`, `session`, …) are sent
//!   as `REDACTED`; the API secret never appears in logs or `Debug` output.
//! - The client id is a keyed hash of the consumer's identity, rotated daily; see [`client_id`].
//!
//! # The handle
//!
//! [`GaLayer::handle`] gives a [`Handle`] on the background sender, cheap to clone:
//!
//! - [`Handle::flush`] and [`Handle::shutdown`] are `async`, take a deadline and never block a
//!   thread, inside or outside a tokio runtime;
//! - [`Handle::stats`] reads the counters ([`Stats`]: tracked, sent, dropped, failed, pending, …);
//! - [`Handle::state`] says whether the sender runs, and if not, why ([`SenderState`]): a
//!   configuration that can't work shows as `SenderState::Disabled(ConfigError)` once the layer
//!   wraps a service, and [`GaLayer::build`] returns the same [`ConfigError`] up front.
//!
//! # Testing your own code
//!
//! With the `testing` feature, `testing::RecordingTransport` records what would be sent, with no
//! network; the examples on [`GaLayer`]'s methods use it.
//!
//! # Features
//!
//! What this table doesn't name needs no feature, the offline checks in [`validate`] included.
//!
//! | feature | default | gives |
//! |---|---|---|
//! | `axum` | on | reading axum's `MatchedPath` (the route template) and `ConnectInfo` (the client IP); other routers insert a [`MatchedRoute`] and a [`ClientIp`] |
//! | `hyper-transport` | on | `HyperTransport`, the default transport (hyper, rustls, Mozilla's roots; connects directly) |
//! | `reqwest` | off | `ReqwestTransport`, for a client you configure (an egress proxy, your own roots), handed to [`GaLayer::transport`]; the default transport when `hyper-transport` is off |
//! | `testing` | off | `testing::*`: `RecordingTransport` and the parsers of what it recorded |
//! | `collector` | off | `collector::*`: a local stand-in for Google's endpoints, with fault injection; turns on `testing` |
//! | `metrics` | off | per-route usage (`tower_ga_requests_total{method,route,status_class}`, `tower_ga_request_duration_seconds`) and the sender's counters through the `metrics` facade, recorded on the sender's thread |
//!
//! With neither transport feature, give the layer a transport: otherwise the sender doesn't start
//! ([`SenderState::Failed`]) and requests are counted as dropped.
//!
//! [tower]: https://docs.rs/tower
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

// The README's examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// Imports between modules point one way: `python3 scripts/check-layers.py` lists the layers,
// bottom first, and fails CI on a cycle (docs/ARCHITECTURE.md, "Layout").
mod config;
mod context;
mod encode;
mod hit;
mod hooks;
mod http_text;
pub mod markers;
mod middleware;
mod pipeline;
mod report;
mod spec;
mod text;
mod transport;
pub mod usage;

#[cfg(all(feature = "testing", feature = "axum"))]
#[doc(hidden)]
pub mod __doctest;
#[cfg(feature = "collector")]
pub mod collector;
#[cfg(feature = "testing")]
pub mod testing;
pub mod validate;

pub use config::{
    ClientIdStrategy, ConfigError, Consent, IpMode, RetryPolicy, SessionMode, CLIENT_ID_KEY_ENV,
    DEFAULT_ENDPOINT, EU_ENDPOINT, UNMATCHED_PATH, UNMATCHED_TITLE,
};
pub use context::{Device, EventParams};
pub use hit::Hit;
pub use hooks::{
    BatchOutcome, DefaultFilter, Filter, MakeClientId, MakeDevice, MakeParams, MakeTitle,
    NameConsumer, OnFailure, OnSuccess, PROBE_PATHS,
};
pub use http_text::geo::GeoHeaders;
pub use http_text::redact::{DEFAULT_REDACTED_PARAMS, REDACTED};
pub use markers::{
    ClientId, ClientIp, Deprecated, LocationFromRoute, MatchedRoute, NoTrack, PageTitle, UserId,
};
pub use middleware::{GaLayer, GaService, ResponseFuture};
pub use pipeline::stats::Stats;
pub use pipeline::{Handle, SenderState};
pub use spec::{Protocol, ValidationCode, ValidationMessage};
#[cfg(feature = "hyper-transport")]
pub use transport::HyperTransport;
#[cfg(feature = "reqwest")]
pub use transport::ReqwestTransport;
pub use transport::{BoxFuture, Outgoing, Reply, Transport, TransportError, MAX_REPLY_BYTES};

/// Client ids: a stable, GA-valid id per API consumer that never reveals who the consumer is.
///
/// The default, [`ClientIdStrategy::Keyed`], hashes the best identity available with SipHash-1-3
/// (a keyed pseudo-random function) under a secret key and the current UTC day:
///
/// 1. the [`UserId`], else
/// 2. the `Authorization` header or the configured API-key header (the credential itself never
///    leaves the process; of a credential longer than 2 kB, the first and last kilobyte count),
///    else
/// 3. the client IP plus `User-Agent`, else
/// 4. a random id for this one request.
///
/// The key is random per process unless [`GaLayer::client_id_key`] sets a shared one, which
/// several instances of one API need to agree on ids. Because the day is hashed in, ids rotate
/// daily: GA then counts a returning consumer as a new user each day, the price of not keeping a
/// linkable id.
pub mod client_id {
    pub use crate::config::ClientIdStrategy;
}

/// GA4 limits and param names.
pub mod ga4 {
    pub use crate::spec::ga4::{
        params, value_limit, APP_ONLY_EVENT_NAMES, MAX_BACKDATE_SECS, MAX_BODY_BYTES, MAX_EVENTS,
        MAX_ID_LEN, MAX_NAME_LEN, MAX_PAGE_LOCATION_LEN, MAX_PAGE_REFERRER_LEN, MAX_PAGE_TITLE_LEN,
        MAX_PARAMS, MAX_PARAM_VALUE_LEN, MAX_USER_ID_LEN, MAX_USER_PROPERTIES,
        RESERVED_EVENT_NAMES, RESERVED_PARAM_PREFIXES, RESERVED_USER_PROPERTIES,
        RESERVED_USER_PROPERTY_PREFIXES,
    };
}

/// Universal Analytics v1 limits.
pub mod ua {
    pub use crate::spec::ua::{MAX_BATCH_BYTES, MAX_BATCH_HITS, MAX_HIT_BYTES};
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn public_types_are_thread_safe_and_cheap_to_share() {
        send_sync_clone::<GaLayer>();
        send_sync_clone::<Handle>();
        send_sync_clone::<
            GaService<tower::util::BoxCloneSyncService<http::Request<()>, http::Response<()>, ()>>,
        >();
        send_sync_clone::<PageTitle>();
        send_sync_clone::<UserId>();
        send_sync_clone::<NoTrack>();
        send_sync_clone::<Hit>();
        send_sync_clone::<Stats>();
    }
}
