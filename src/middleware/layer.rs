//! [`GaLayer`]: the configuration, its builder methods, and `impl Layer`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use tower_layer::Layer;

use super::service::GaService;
use crate::config::{
    check, ClientIdStrategy, Config, ConfigError, IpMode, Key, RetryPolicy, Secret,
};
use crate::hooks::{Filter, MakeClientId, MakeTitle, OnFailure, OnSuccess};
use crate::http_text::redact::SecretWords;
use crate::pipeline::{Core, Handle, State};
use crate::spec::Protocol;
use crate::transport::Transport;

/// A tower [`Layer`] that reports every request to Google Analytics as a page view.
///
/// Built with [`GaLayer::new`] and consuming builder methods; cheap to clone, and cheap to apply:
/// axum's `Router::layer` clones the layer and wraps each route with it for every connection
/// under `axum::serve`, and for every request when a `Router` is called directly as a `Service`.
/// See the [crate documentation](crate) for a tour.
///
/// The background sender starts when the layer first wraps a service, with the configuration the
/// layer has then. Builder calls made after that do not reach it.
#[derive(Clone)]
pub struct GaLayer {
    config: Arc<Config>,
    core: Arc<Core>,
}

impl GaLayer {
    /// A layer for a GA4 measurement id (`G-XXXXXXXXXX`) or a legacy UA tracking id (`UA-1234-5`).
    ///
    /// Never panics: a malformed id, or a GA4 id without [`api_secret`](Self::api_secret), is
    /// reported once through `tracing` when the layer is first used, and requests then pass
    /// through untracked. Use [`build`](Self::build) to get an error instead.
    pub fn new(tracking_id: impl Into<String>) -> Self {
        let tracking_id: String = tracking_id.into().trim().to_owned();
        let config = Config {
            protocol: Protocol::of(&tracking_id),
            tracking_id,
            ..Config::default()
        };
        GaLayer {
            core: Arc::new(Core::new()),
            config: Arc::new(config),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// The GA4 API secret. Never logged, never in `Debug` output. Surrounding whitespace (a
    /// secret read from a file ends in a newline) is trimmed.
    pub fn api_secret(self, secret: impl Into<String>) -> Self {
        let secret = secret.into().trim().to_owned();
        self.with(|c| c.api_secret = Some(Secret(secret)))
    }

    /// Base URL of the collector (default `https://www.google-analytics.com`); the protocol's path
    /// (`/mp/collect`) is appended. Point it at a local collector for development and tests.
    pub fn endpoint(self, base_url: impl Into<String>) -> Self {
        let url = base_url.into();
        self.with(|c| c.endpoint = Some(url))
    }

    /// Sends GA4 hits to Google's EU endpoint (`region1.google-analytics.com`). Ignored when an
    /// [`endpoint`](Self::endpoint) is set.
    pub fn eu(self, on: bool) -> Self {
        self.with(|c| c.eu = on)
    }

    /// Validation mode: sends to Google's validation endpoint (`/debug/mp/collect`, with
    /// `validation_behavior: ENFORCE_RECOMMENDATIONS`), which checks hits and collects nothing.
    /// Its objections are logged, passed to the failure hook and counted in [`Stats::invalid`](crate::Stats::invalid).
    pub fn validation_mode(self, on: bool) -> Self {
        self.with(|c| c.validation = on)
    }

    /// Reports every request under this host, e.g. to merge several domains of one API (the
    /// original recipe's `dh`).
    pub fn host_override(self, host: impl Into<String>) -> Self {
        let host = host.into().to_ascii_lowercase();
        self.with(|c| c.host_override = Some(host))
    }

    /// Scheme for requests whose URI has none and no trusted proxy says otherwise (default `http`).
    pub fn default_scheme_https(self, https: bool) -> Self {
        self.with(|c| c.default_scheme = if https { "https" } else { "http" })
    }

    /// Host reported when a request has neither an absolute URI nor a valid `Host` header
    /// (default `localhost`).
    pub fn fallback_host(self, host: impl Into<String>) -> Self {
        let host = host.into();
        self.with(|c| c.fallback_host = host)
    }

    /// Trusts the proxy in front of the API: scheme and host come from `Forwarded` /
    /// `X-Forwarded-Proto` / `X-Forwarded-Host`, the client IP from `Forwarded` / `X-Forwarded-For`.
    /// Only turn this on when a proxy you control sets (and overwrites) those headers: clients can
    /// forge them otherwise.
    pub fn trust_proxy(self, on: bool) -> Self {
        self.with(|c| c.trust_proxy = on)
    }

    /// Adds words to the list of secret-looking query parameter names (see
    /// [`DEFAULT_REDACTED_PARAMS`](crate::DEFAULT_REDACTED_PARAMS) for the rule).
    pub fn redact_param(self, word: impl Into<String>) -> Self {
        let word = word.into();
        self.with(|c| c.redact_params = c.redact_params.with(&word))
    }

    /// Replaces the list of secret-looking query parameter names.
    pub fn redact_params<I, W>(self, words: I) -> Self
    where
        I: IntoIterator<Item = W>,
        W: Into<String>,
    {
        let list = SecretWords::new(words.into_iter().map(|w| -> String { w.into() }));
        self.with(|c| c.redact_params = list)
    }

    /// Leaves the query string out of `page_location` entirely.
    pub fn strip_query(self, on: bool) -> Self {
        self.with(|c| c.strip_query = on)
    }

    /// The title of requests that matched no route (default `(unmatched route)`). The raw path is
    /// never used: it would give every 404 probe its own page in GA.
    pub fn unmatched_title(self, title: impl Into<String>) -> Self {
        let t = title.into();
        self.with(|c| c.unmatched_title = t)
    }

    /// Doesn't report requests that matched no route (fallback, 404).
    pub fn skip_unmatched(self, on: bool) -> Self {
        self.with(|c| c.skip_unmatched = on)
    }

    /// A hook that builds titles for requests without a [`PageTitle`](crate::PageTitle).
    pub fn title_with(self, hook: impl MakeTitle) -> Self {
        let hook: Arc<dyn MakeTitle> = Arc::new(hook);
        self.with(|c| c.make_title = Some(hook))
    }

    /// Sends the request's `User-Agent` (default on).
    pub fn send_user_agent(self, on: bool) -> Self {
        self.with(|c| c.send_user_agent = on)
    }

    /// Sends the client IP to Google (default [`IpMode::Off`]). Needs axum's `ConnectInfo`, a
    /// [`ClientIp`](crate::ClientIp) extension, or a [trusted proxy](Self::trust_proxy).
    pub fn send_client_ip(self, mode: IpMode) -> Self {
        self.with(|c| c.ip_mode = mode)
    }

    /// The `data_source` param (default `api`; the original recipe's `ds`).
    pub fn data_source(self, source: impl Into<String>) -> Self {
        let s = source.into();
        self.with(|c| c.data_source = s)
    }

    /// A constant param added to every event, e.g. `("app_version", "1.4.2")`. Checked by
    /// [`build`](Self::build): names must be valid, unreserved and not clash with the crate's own;
    /// values are strings or numbers. The same name again replaces the value (an event can't carry
    /// a name twice).
    pub fn param(self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.with(
            |c| match c.extra_params.iter_mut().find(|(n, _)| *n == name) {
                Some(param) => param.1 = value,
                None => c.extra_params.push((name, value)),
            },
        )
    }

    /// Longest param value in characters (default 100, GA4's documented limit for standard
    /// properties; GA 360 allows 500, the most this takes). Longer values are truncated at a
    /// character boundary, and URLs lose their query first.
    pub fn param_value_limit(self, chars: usize) -> Self {
        self.with(|c| c.param_value_limit = chars.clamp(16, 500))
    }

    /// Replaces the filter that decides which requests are reported (default
    /// [`DefaultFilter`](crate::DefaultFilter); `()` reports everything).
    pub fn filter(self, filter: impl Filter) -> Self {
        let f: Arc<dyn Filter> = Arc::new(filter);
        self.with(|c| c.filter = f)
    }

    /// The client id strategy (default [`ClientIdStrategy::Keyed`]).
    pub fn client_id_strategy(self, strategy: ClientIdStrategy) -> Self {
        self.with(|c| c.client_id_strategy = strategy)
    }

    /// A hook that derives the client id; `None` falls back to the strategy.
    pub fn client_id_with(self, hook: impl MakeClientId) -> Self {
        let hook: Arc<dyn MakeClientId> = Arc::new(hook);
        self.with(|c| c.make_client_id = Some(hook))
    }

    /// A secret shared by every instance of the API, so they derive the same client ids. Without
    /// it each process draws a random key, which never leaves the process.
    pub fn client_id_key(self, secret: impl AsRef<[u8]>) -> Self {
        let key = Key::derive(secret.as_ref());
        self.with(|c| c.key = key)
    }

    /// A header carrying API keys, used (hashed) to tell consumers apart when there is no
    /// `Authorization` header, e.g. `x-api-key`.
    pub fn api_key_header(self, name: HeaderName) -> Self {
        self.with(|c| c.credential_header = Some(name))
    }

    /// How long a consumer may be idle before its next request starts a new session
    /// (default 30 minutes, as in GA).
    pub fn session_timeout(self, timeout: Duration) -> Self {
        self.with(|c| c.session_timeout = timeout)
    }

    /// Hits the queue holds before new ones are dropped (default 4096). The sender empties it
    /// when it is a quarter full, so it should hold 20 ms of the peak request rate (4096: 200,000
    /// requests/s).
    pub fn queue_capacity(self, hits: usize) -> Self {
        self.with(|c| c.queue_capacity = hits.max(1))
    }

    /// How long a batch's first hit waits for the batch to fill before it is sent anyway
    /// (default 500 ms). Checked every quarter interval, so no hit waits more than 1.25 intervals;
    /// a full batch (25 events of one client) goes out at once.
    pub fn flush_interval(self, interval: Duration) -> Self {
        self.with(|c| c.flush_interval = interval)
    }

    /// Requests to the collector in flight at once (default 4).
    pub fn max_concurrency(self, n: usize) -> Self {
        self.with(|c| c.max_concurrency = n.max(1))
    }

    /// Timeout of one request to the collector (default 5 s). Zero is refused by
    /// [`build`](Self::build): no request could ever finish.
    pub fn request_timeout(self, timeout: Duration) -> Self {
        self.with(|c| c.request_timeout = timeout)
    }

    /// The retry policy (default: 3 retries, 250 ms doubling to 10 s, `Retry-After` up to 60 s).
    pub fn retry(self, policy: RetryPolicy) -> Self {
        self.with(|c| c.retry = policy)
    }

    /// Replaces the HTTP transport (default: `HyperTransport`, which connects directly; behind an
    /// egress proxy, use `ReqwestTransport`, feature `reqwest`, with a client configured for it).
    pub fn transport(self, transport: impl Transport) -> Self {
        let t: Arc<dyn Transport> = Arc::new(transport);
        self.with(|c| c.transport = Some(t))
    }

    /// Called once per delivered batch, on the sender's thread.
    pub fn on_success(self, hook: impl OnSuccess) -> Self {
        let h: Arc<dyn OnSuccess> = Arc::new(hook);
        self.with(|c| c.on_success = h)
    }

    /// Called once per batch given up on or objected to by validation, on the sender's thread.
    pub fn on_failure(self, hook: impl OnFailure) -> Self {
        let h: Arc<dyn OnFailure> = Arc::new(hook);
        self.with(|c| c.on_failure = h)
    }

    /// A handle to flush, shut down and read counters; it may be taken at any time.
    pub fn handle(&self) -> Handle {
        Handle {
            core: self.core.clone(),
        }
    }

    /// Checks the configuration, returning an error where [`new`](Self::new) would log one and
    /// pass requests through.
    pub fn build(self) -> Result<Self, ConfigError> {
        check(&self.config)?;
        Ok(self)
    }

    /// Starts the sender on first use, with this layer's configuration. `false`: the
    /// configuration it started with (this one or an earlier clone's) was refused, and requests
    /// pass through untracked.
    pub(crate) fn activate(&self) -> bool {
        !matches!(self.core.activate(&self.config), State::Refused(_))
    }
}

impl<S> Layer<S> for GaLayer {
    type Service = GaService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        // axum's `Router::layer` may call this for every connection, or every request: no
        // allocation here.
        GaService::new(inner, self.activate().then(|| self.core.clone()))
    }
}

impl fmt::Debug for GaLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GaLayer")
            .field("config", &self.config)
            .field("stats", &self.core.counters.snapshot())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_reports_what_new_would_log() {
        assert_eq!(
            GaLayer::new("nope").build().unwrap_err(),
            ConfigError::MalformedTrackingId("nope".into())
        );
        assert_eq!(
            GaLayer::new("G-ABC123").build().unwrap_err(),
            ConfigError::MissingApiSecret
        );
        assert!(GaLayer::new("G-ABC123").api_secret("s").build().is_ok());
        assert!(GaLayer::new("UA-1-1").build().is_ok());
        assert!(matches!(
            GaLayer::new("G-ABC123")
                .api_secret("s")
                .endpoint("ftp://x")
                .build(),
            Err(ConfigError::InvalidEndpoint(_))
        ));
        assert!(matches!(
            GaLayer::new("G-ABC123")
                .api_secret("s")
                .param("_bad", 1)
                .build(),
            Err(ConfigError::InvalidParam(_))
        ));
        assert!(matches!(
            GaLayer::new("G-ABC123")
                .api_secret("s")
                .param("http_status_code", 1)
                .build(),
            Err(ConfigError::InvalidParam(_))
        ));
        assert!(GaLayer::new("G-ABC123")
            .api_secret("s")
            .param("app_version", "1.2")
            .build()
            .is_ok());
    }

    #[test]
    fn build_refuses_what_could_never_deliver() {
        let ga = || GaLayer::new("G-ABC123").api_secret("s");
        assert_eq!(
            ga().request_timeout(Duration::ZERO).build().unwrap_err(),
            ConfigError::ZeroRequestTimeout
        );
        // Credentials in the endpoint are never sent: refused, and never shown, even with a
        // `#` or `/` in the password (which ends the authority).
        for (endpoint, shown) in [
            (
                "https://user:hunter2@collector.test/x",
                "https://REDACTED@collector.test/x",
            ),
            (
                "https://user:hun#ter2@collector.test",
                "https://REDACTED@collector.test",
            ),
            (
                "https://user:hun/ter2@collector.test",
                "https://REDACTED@collector.test",
            ),
        ] {
            let debug = format!("{:?}", ga().endpoint(endpoint));
            assert!(!debug.contains("ter2"), "{debug}");
            assert!(debug.contains(shown), "{debug}");
            assert_eq!(
                ga().endpoint(endpoint).build().unwrap_err(),
                ConfigError::InvalidEndpoint(shown.into())
            );
        }
        for value in [
            serde_json::json!(true),
            serde_json::json!([1]),
            serde_json::Value::Null,
        ] {
            assert!(matches!(
                ga().param("flag", value).build(),
                Err(ConfigError::InvalidParam(_))
            ));
        }
    }

    #[test]
    fn a_param_set_twice_keeps_the_last_value() {
        let ga = GaLayer::new("G-ABC123")
            .api_secret("s")
            .param("app_version", "1")
            .param("tier", "gold")
            .param("app_version", "2");
        assert_eq!(
            ga.config.extra_params,
            vec![
                ("app_version".to_owned(), serde_json::json!("2")),
                ("tier".to_owned(), serde_json::json!("gold")),
            ]
        );
    }

    #[test]
    fn the_secret_is_trimmed_and_the_value_limit_is_ga360s_at_most() {
        let ga = GaLayer::new("G-ABC123")
            .api_secret(" s3cret\n")
            .param_value_limit(1000);
        assert_eq!(ga.config.api_secret.as_ref().unwrap().0, "s3cret");
        assert_eq!(ga.config.param_value_limit, 500);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let layer = GaLayer::new("G-ABC123").api_secret("hunter2-secret");
        let text = format!("{layer:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn accepts_str_and_string() {
        let owned = String::from("G-ABC123");
        let _ = GaLayer::new(owned)
            .api_secret(String::from("s"))
            .endpoint(String::from("http://127.0.0.1:1"));
        let _ = GaLayer::new("G-ABC123")
            .api_secret("s")
            .endpoint("http://127.0.0.1:1");
    }
}
