//! The settings behind [`GaLayer`](crate::GaLayer)'s builder methods, with their defaults.

mod check;
mod context;
mod identity;
mod retry;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

pub use check::ConfigError;
pub(crate) use check::{check, check_all};
pub use context::Consent;
pub(crate) use context::Context;
pub use identity::{ClientIdStrategy, SessionMode, CLIENT_ID_KEY_ENV};
pub(crate) use identity::{Key, DEFAULT_DAILY_EVENTS};
pub use retry::RetryPolicy;

use crate::hooks::{
    DefaultFilter, Filter, HookName, MakeClientId, MakeTitle, OnFailure, OnSuccess,
};
use crate::http_text::authority::without_userinfo;
use crate::http_text::forwarded::Trusted;
use crate::http_text::geo::GeoHeaders;
use crate::http_text::redact::SecretWords;
use crate::spec::Protocol;
use crate::transport::Transport;

/// The title given to requests that matched no route, unless configured otherwise.
pub const UNMATCHED_TITLE: &str = "(unmatched route)";
/// The path reported in `page_location` for requests that matched no route, unless configured
/// otherwise.
pub const UNMATCHED_PATH: &str = "/(unmatched)";

/// Google's collection host.
pub const DEFAULT_ENDPOINT: &str = "https://www.google-analytics.com";
/// Google's collection host in the EU, for GA4 hits only
/// ([`GaLayer::eu_endpoint`](crate::GaLayer::eu_endpoint)).
pub const EU_ENDPOINT: &str = "https://region1.google-analytics.com";

/// Whether and how the client IP is sent to Google.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpMode {
    /// Never sent (the default). GA then locates users from nothing, or from earlier browser data.
    #[default]
    Off,
    /// Sent truncated to its network: IPv4 /24, IPv6 /48.
    Truncated,
    /// Sent as seen.
    Full,
}

/// A string that never shows in `Debug` output.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<empty>"
        } else {
            "<redacted>"
        })
    }
}

/// The routes the API declares, for the usage table.
#[derive(Clone, Debug, Default)]
pub(crate) struct Inventory {
    pub(crate) routes: crate::usage::inventory::Routes,
    /// The first declaration that didn't parse: then no route is declared.
    pub(crate) bad: Option<String>,
}

/// Where the usage table's days are kept, if anywhere.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) store: Option<crate::usage::UsageStore>,
    /// A `TOWER_GA_USAGE_DB` that isn't a store's URL.
    pub(crate) bad: Option<String>,
    pub(crate) flush_interval: Duration,
    pub(crate) retention_days: u32,
    pub(crate) namer: Option<Arc<dyn crate::hooks::NameConsumer>>,
}

impl Default for Store {
    fn default() -> Self {
        let (store, bad) = match crate::usage::UsageStore::from_env() {
            Some(Ok(s)) => (Some(s), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        Store {
            store,
            bad,
            flush_interval: Duration::from_secs(60),
            retention_days: 400,
            namer: None,
        }
    }
}

/// Every setting, grouped by the part of the crate that reads it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Config {
    pub(crate) inventory: Inventory,
    pub(crate) store: Store,
    pub(crate) target: Target,
    pub(crate) capture: Capture,
    pub(crate) report: Report,
    pub(crate) identity: Identity,
    pub(crate) sender: Sender,
}

/// Where hits go: read by `check` and by the encoders, which build the URLs.
#[derive(Clone, Default)]
pub(crate) struct Target {
    pub(crate) tracking_id: String,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) api_secret: Option<Secret>,
    pub(crate) endpoint: Option<String>,
    pub(crate) eu: bool,
    pub(crate) validation: bool,
}

/// What the request path reads: what to capture, and whether to report a hit at all.
#[derive(Clone)]
pub(crate) struct Capture {
    /// A header carrying API keys, hashed into the client id when there is no `Authorization`.
    pub(crate) credential_header: Option<HeaderName>,
    /// Whether a proxy's headers are captured (and then believed, by the report).
    pub(crate) trust_proxy: bool,
    /// Which proxies append to `X-Forwarded-For` / `Forwarded`: a count, or their networks.
    pub(crate) trusted: Trusted,
    /// A `trusted_proxy_ranges` entry that is no network or address.
    pub(crate) bad_proxy_range: Option<String>,
    pub(crate) skip_unmatched: bool,
    pub(crate) filter: Arc<dyn Filter>,
    /// Headers captured by name (at most four); each hit holds the list, for `Hit::header`.
    pub(crate) named_headers: Option<Arc<[HeaderName]>>,
    /// The first header named past the fourth: kept out of `named_headers`, refused by `check`.
    pub(crate) header_past_limit: Option<String>,
    /// The location headers believed behind a trusted proxy.
    pub(crate) geo_headers: Vec<GeoHeaders>,
}

/// What a hit reports, read by the report and the encoders on the sender's thread.
#[derive(Clone)]
pub(crate) struct Report {
    pub(crate) host_override: Option<String>,
    pub(crate) default_scheme: &'static str,
    pub(crate) fallback_host: String,
    pub(crate) redact_params: SecretWords,
    pub(crate) strip_query: bool,
    pub(crate) unmatched_title: String,
    /// The path reported for requests that matched no route; `None`: their own, redacted.
    pub(crate) unmatched_path: Option<String>,
    /// Matched requests report their route template (`/users/{id}`) as their path.
    pub(crate) location_from_route: bool,
    pub(crate) make_title: Option<Arc<dyn MakeTitle>>,
    pub(crate) send_user_agent: bool,
    pub(crate) ip_mode: IpMode,
    pub(crate) data_source: String,
    pub(crate) extra_params: Vec<(String, serde_json::Value)>,
    pub(crate) param_value_limit: usize,
    pub(crate) context: Context,
}

/// How consumers are told apart: client ids and sessions.
#[derive(Clone)]
pub(crate) struct Identity {
    pub(crate) client_id_strategy: ClientIdStrategy,
    pub(crate) make_client_id: Option<Arc<dyn MakeClientId>>,
    pub(crate) key: Key,
    /// Whether the key is shared (configured or from the environment), not this process's own.
    pub(crate) shared_key: bool,
    pub(crate) session_timeout: Duration,
    pub(crate) session_mode: SessionMode,
    /// Events a client id takes a day before its consumer goes on under a sibling.
    pub(crate) daily_events: u32,
}

/// The background sender's bounds, timing, transport and hooks.
#[derive(Clone)]
pub(crate) struct Sender {
    pub(crate) queue_capacity: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) max_concurrency: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) transport: Option<Arc<dyn Transport>>,
    pub(crate) on_success: Arc<dyn OnSuccess>,
    pub(crate) on_failure: Arc<dyn OnFailure>,
}

impl Default for Capture {
    fn default() -> Self {
        Capture {
            credential_header: None,
            trust_proxy: false,
            trusted: Trusted::Hops(1),
            bad_proxy_range: None,
            skip_unmatched: false,
            filter: Arc::new(DefaultFilter),
            named_headers: None,
            header_past_limit: None,
            geo_headers: GeoHeaders::KNOWN.to_vec(),
        }
    }
}

impl Default for Report {
    fn default() -> Self {
        Report {
            host_override: None,
            default_scheme: "http",
            fallback_host: "localhost".into(),
            redact_params: SecretWords::default_list(),
            strip_query: false,
            unmatched_title: UNMATCHED_TITLE.into(),
            unmatched_path: Some(UNMATCHED_PATH.into()),
            location_from_route: false,
            make_title: None,
            send_user_agent: true,
            ip_mode: IpMode::Off,
            data_source: "api".into(),
            extra_params: Vec::new(),
            param_value_limit: 100,
            context: Context::default(),
        }
    }
}

impl Default for Identity {
    fn default() -> Self {
        let shared = Key::from_env();
        Identity {
            client_id_strategy: ClientIdStrategy::Keyed,
            make_client_id: None,
            shared_key: shared.is_some(),
            key: shared.unwrap_or_else(Key::random),
            session_timeout: Duration::from_secs(30 * 60),
            session_mode: SessionMode::Auto,
            daily_events: identity::DEFAULT_DAILY_EVENTS,
        }
    }
}

impl Identity {
    /// Whether session ids are derived (the same in every process with the key).
    pub(crate) fn derived_sessions(&self) -> bool {
        match self.session_mode {
            SessionMode::Derived => true,
            SessionMode::PerProcess => false,
            _ => self.shared_key,
        }
    }
}

impl Default for Sender {
    fn default() -> Self {
        Sender {
            queue_capacity: 4096,
            flush_interval: Duration::from_millis(500),
            max_concurrency: 4,
            request_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            transport: None,
            on_success: Arc::new(()),
            on_failure: Arc::new(()),
        }
    }
}

impl Config {
    /// The defaults, but requests that matched no route report their own path: for tests of how
    /// a location is built from a request.
    #[cfg(test)]
    pub(crate) fn with_raw_paths() -> Self {
        let mut c = Config::default();
        c.report.unmatched_path = None;
        c
    }
}

impl Target {
    /// The base URL hits go to.
    pub(crate) fn base_url(&self) -> &str {
        let base = match (&self.endpoint, self.eu) {
            (Some(e), _) => e.as_str(),
            (None, true) if self.protocol == Some(Protocol::Ga4) => EU_ENDPOINT,
            (None, _) => DEFAULT_ENDPOINT,
        };
        base.trim_end_matches('/')
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("tracking_id", &self.tracking_id)
            .field("protocol", &self.protocol)
            .field("api_secret", &self.api_secret)
            .field("endpoint", &without_userinfo(self.base_url()))
            .field("validation", &self.validation)
            .finish()
    }
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("credential_header", &self.credential_header)
            .field("trust_proxy", &self.trust_proxy)
            .field("trusted", &self.trusted)
            .field("skip_unmatched", &self.skip_unmatched)
            .field("named_headers", &self.named_headers)
            .field("header_past_limit", &self.header_past_limit)
            .field("geo_headers", &self.geo_headers)
            .field("filter", &HookName("dyn Filter"))
            .finish()
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("host_override", &self.host_override)
            .field("redact_params", &self.redact_params)
            .field("strip_query", &self.strip_query)
            .field("send_user_agent", &self.send_user_agent)
            .field("ip_mode", &self.ip_mode)
            .field("param_value_limit", &self.param_value_limit)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("client_id_strategy", &self.client_id_strategy)
            .field("key", &self.key)
            .field("shared_key", &self.shared_key)
            .field("session_timeout", &self.session_timeout)
            .field("session_mode", &self.session_mode)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("store", &self.store)
            .field("flush_interval", &self.flush_interval)
            .field("retention_days", &self.retention_days)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("queue_capacity", &self.queue_capacity)
            .field("flush_interval", &self.flush_interval)
            .field("max_concurrency", &self.max_concurrency)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}
