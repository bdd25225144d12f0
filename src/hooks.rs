//! Small hook traits. Each has a blanket implementation for closures, so
//! `.filter(|hit: &Hit| hit.status().is_success())` works, and most have a `()` implementation that
//! turns the behaviour off.

use std::fmt;

use http::{Method, StatusCode};

use crate::context::{Device, EventParams};
use crate::hit::Hit;
use crate::spec::ValidationMessage;

/// Runs a hook, catching a panic: a hook that panics must not take the sender down with it (every
/// hit after would be lost), nor, for the [`Filter`] on the request path, fail the request. `None`
/// when it panicked; the hit then goes on without it. Logged at the 1st, 2nd, 4th… panic, so that a hook that always panics doesn't
/// flood the log (the panic hook still prints each one).
pub(crate) fn guarded<T>(hook: &'static str, f: impl FnOnce() -> T) -> Option<T> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PANICS: AtomicU64 = AtomicU64::new(0);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(_) => {
            let n = PANICS.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::error!(
                    hook,
                    panics_total = n,
                    "tower-ga: a hook panicked; the hit goes on without it"
                );
            }
            None
        }
    }
}

/// Computes the per-request params and user properties of a hit's event, on the sender's thread
/// (panics are caught). Set with [`GaLayer::params_with`](crate::GaLayer::params_with).
pub trait MakeParams: Send + Sync + 'static {
    /// What the hit's event adds; an [`EventParams`] marker's entries win over these.
    fn params(&self, hit: &Hit) -> EventParams;
}

impl<F: Fn(&Hit) -> EventParams + Send + Sync + 'static> MakeParams for F {
    fn params(&self, hit: &Hit) -> EventParams {
        self(hit)
    }
}

/// Names a consumer on the usage store's pages (`acme-corp` rather than `key-3f2a…`), on the
/// sender's thread (panics are caught): called when a consumer first calls a route since the
/// store's last write, not for every request. `None` keeps the default label. The name stays
/// in the process and the store: it is sent to GA only if the application sends it itself.
/// Set with [`GaLayer::consumer_name_with`](crate::GaLayer::consumer_name_with).
pub trait NameConsumer: Send + Sync + 'static {
    /// The consumer's name, if the application knows it.
    fn name(&self, hit: &Hit) -> Option<String>;
}

impl<F: Fn(&Hit) -> Option<String> + Send + Sync + 'static> NameConsumer for F {
    fn name(&self, hit: &Hit) -> Option<String> {
        self(hit)
    }
}

/// Computes GA4's `device` for a hit, on the sender's thread (panics are caught). Set with
/// [`GaLayer::device_with`](crate::GaLayer::device_with).
pub trait MakeDevice: Send + Sync + 'static {
    /// The device, or `None` to send none (GA then parses `user_agent`).
    fn device(&self, hit: &Hit) -> Option<Device>;
}

impl<F: Fn(&Hit) -> Option<Device> + Send + Sync + 'static> MakeDevice for F {
    fn device(&self, hit: &Hit) -> Option<Device> {
        self(hit)
    }
}

/// Decides, once the response is produced, whether a request is reported. Runs on the request path:
/// keep it cheap. A filter that panics fails no request: its hit isn't reported (the usage table
/// still counts it). Set with [`GaLayer::filter`](crate::GaLayer::filter).
///
/// A closure keeping the [`DefaultFilter`]'s skips and adding its own:
///
/// ```
/// use tower_ga::{DefaultFilter, Filter, GaLayer, Hit};
///
/// let ga = GaLayer::new("G-ABC123")
///     .api_secret("secret")
///     .filter(|hit: &Hit| DefaultFilter.track(hit) && !hit.path().starts_with("/admin/"));
/// let everything = GaLayer::new("G-ABC123").api_secret("secret").filter(());
/// ```
pub trait Filter: Send + Sync + 'static {
    /// `true` to report the hit.
    fn track(&self, hit: &Hit) -> bool;
}

impl<F: Fn(&Hit) -> bool + Send + Sync + 'static> Filter for F {
    fn track(&self, hit: &Hit) -> bool {
        self(hit)
    }
}

/// `()` tracks everything.
impl Filter for () {
    fn track(&self, _: &Hit) -> bool {
        true
    }
}

/// The default filter: skips `OPTIONS` (CORS pre-flight) and `HEAD` requests, and the usual
/// health, readiness and metrics endpoints (by route template, or by path when unmatched):
/// `/health`, `/healthz`, `/livez`, `/readyz`, `/ready`, `/ping`, `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultFilter;

/// Paths the [`DefaultFilter`] skips.
pub const PROBE_PATHS: &[&str] = &[
    "/health", "/healthz", "/livez", "/readyz", "/ready", "/ping", "/metrics",
];

impl Filter for DefaultFilter {
    fn track(&self, hit: &Hit) -> bool {
        if hit.method() == Method::OPTIONS || hit.method() == Method::HEAD {
            return false;
        }
        let path = hit.route_or_path_bytes();
        !PROBE_PATHS.iter().any(|p| p.as_bytes() == path)
    }
}

/// Builds a page title for requests that carry no [`PageTitle`](crate::PageTitle). Runs in the
/// background sender. Returning `None` falls back to the default rule (`METHOD /route/{template}`,
/// or the unmatched title). Set with [`GaLayer::title_with`](crate::GaLayer::title_with).
///
/// A closure titling each request by its resource, the route's first segment:
///
/// ```
/// use http::Request;
/// use tower_ga::{testing::RecordingTransport, GaLayer, Hit};
/// # use tower_ga::__doctest::send;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
///
/// let recorder = RecordingTransport::new();
/// let ga = GaLayer::new("G-TEST123")
///     .api_secret("s")
///     .transport(recorder.clone())
///     .title_with(|hit: &Hit| {
///         let resource = hit.route()?.trim_start_matches('/').split('/').next()?;
///         Some(format!("{} {resource}", hit.method()))
///     });
/// send(ga, Request::get("/users/7")).await;
/// assert_eq!(recorder.ga4_events()[0].param_str("page_title"), Some("GET users"));
/// # }
/// ```
pub trait MakeTitle: Send + Sync + 'static {
    /// The title for a hit.
    fn make_title(&self, hit: &Hit) -> Option<String>;
}

impl<F: Fn(&Hit) -> Option<String> + Send + Sync + 'static> MakeTitle for F {
    fn make_title(&self, hit: &Hit) -> Option<String> {
        self(hit)
    }
}

/// Derives a client id from a hit, replacing the default keyed hash. Runs in the background sender.
/// Returning `None` falls back to the default strategy. Set with
/// [`GaLayer::client_id_with`](crate::GaLayer::client_id_with).
///
/// A closure counting each tenant of a multi-tenant API as one client:
///
/// ```
/// use http::Request;
/// use tower_ga::{testing::RecordingTransport, GaLayer, Hit};
/// # async fn send(ga: GaLayer, request: http::request::Builder) {
/// #     tower_ga::__doctest::send_to(ga, "/tenants/{tenant}/orders", request).await
/// # }
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
///
/// let recorder = RecordingTransport::new();
/// let ga = GaLayer::new("G-TEST123")
///     .api_secret("s")
///     .transport(recorder.clone())
///     .client_id_with(|hit: &Hit| {
///         let tenant = hit.path().strip_prefix("/tenants/")?.split('/').next()?;
///         Some(format!("tenant-{tenant}"))
///     });
/// send(ga, Request::get("/tenants/acme/orders")).await;
/// assert_eq!(recorder.ga4_events()[0].client_id, "tenant-acme");
/// # }
/// ```
pub trait MakeClientId: Send + Sync + 'static {
    /// The client id for a hit.
    fn make_client_id(&self, hit: &Hit) -> Option<String>;
}

impl<F: Fn(&Hit) -> Option<String> + Send + Sync + 'static> MakeClientId for F {
    fn make_client_id(&self, hit: &Hit) -> Option<String> {
        self(hit)
    }
}

/// What became of one batch: one HTTP request to the collector carrying one or more hits.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BatchOutcome {
    /// Hits in the batch.
    pub hits: usize,
    /// HTTP requests made for it (1 + retries).
    pub attempts: u32,
    /// The last status received, if any answer came.
    pub status: Option<StatusCode>,
    /// Why it failed, when it did (never contains the API secret).
    pub error: Option<String>,
    /// In validation mode: what the validation endpoint objected to.
    pub validation_messages: Vec<ValidationMessage>,
}

/// Called from the sender once per delivered batch. Runs on the sender's thread: keep it short (a
/// panic in it is caught). Set with [`GaLayer::on_success`](crate::GaLayer::on_success); `()`
/// does nothing.
///
/// A closure counting delivered hits:
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use tower_ga::{BatchOutcome, GaLayer};
///
/// static DELIVERED: AtomicUsize = AtomicUsize::new(0);
///
/// let ga = GaLayer::new("G-ABC123")
///     .api_secret("secret")
///     .on_success(|outcome: &BatchOutcome| {
///         DELIVERED.fetch_add(outcome.hits, Ordering::Relaxed);
///     });
/// ```
pub trait OnSuccess: Send + Sync + 'static {
    /// A batch was accepted by the collector (2xx).
    fn on_success(&self, outcome: &BatchOutcome);
}

impl<F: Fn(&BatchOutcome) + Send + Sync + 'static> OnSuccess for F {
    fn on_success(&self, outcome: &BatchOutcome) {
        self(outcome)
    }
}

impl OnSuccess for () {
    fn on_success(&self, _: &BatchOutcome) {}
}

/// Called from the sender once per batch given up on, or objected to by validation. Runs on the
/// sender's thread: keep it short (a panic in it is caught). Set with
/// [`GaLayer::on_failure`](crate::GaLayer::on_failure); `()` does nothing.
///
/// A closure logging why: a batch given up on has an `error`; one the validation endpoint objected
/// to has none, and its `validation_messages` say what is wrong.
///
/// ```
/// use tower_ga::{BatchOutcome, GaLayer};
///
/// let ga = GaLayer::new("G-ABC123")
///     .api_secret("secret")
///     .validation_mode(true)
///     .on_failure(|outcome: &BatchOutcome| match &outcome.error {
///         Some(error) => eprintln!("gave up on {} hits: {error}", outcome.hits),
///         None => {
///             for m in &outcome.validation_messages {
///                 eprintln!("invalid {}: {}", m.field_path, m.description);
///             }
///         }
///     });
/// ```
pub trait OnFailure: Send + Sync + 'static {
    /// A batch failed for good.
    fn on_failure(&self, outcome: &BatchOutcome);
}

impl<F: Fn(&BatchOutcome) + Send + Sync + 'static> OnFailure for F {
    fn on_failure(&self, outcome: &BatchOutcome) {
        self(outcome)
    }
}

impl OnFailure for () {
    fn on_failure(&self, _: &BatchOutcome) {}
}

/// A name for a hook in `Debug` output.
pub(crate) struct HookName(pub(crate) &'static str);

impl fmt::Debug for HookName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
