//! Which requests are reported, and what else their events carry: the user agent, the client
//! IP, constant params and the length of values.

use std::sync::Arc;

use super::GaLayer;
use crate::config::IpMode;
use crate::hooks::Filter;

impl GaLayer {
    /// Doesn't report requests that matched no route (fallback, 404; default off: they are
    /// reported under the [`unmatched_title`](Self::unmatched_title) and
    /// [`unmatched_path`](Self::unmatched_path)).
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .skip_unmatched(true);
    /// send(ga.clone(), Request::get("/wp-login.php")).await; // the router has only `/users/{id}`
    /// send(ga, Request::get("/users/7")).await;
    /// let events = recorder.ga4_events();
    /// assert_eq!(events.len(), 1);
    /// assert_eq!(events[0].param_str("http_route"), Some("/users/{id}"));
    /// # }
    /// ```
    pub fn skip_unmatched(self, on: bool) -> Self {
        self.with(|c| c.capture.skip_unmatched = on)
    }

    /// Replaces the filter that decides which requests are reported (default
    /// [`DefaultFilter`](crate::DefaultFilter), which skips `OPTIONS`, `HEAD` and the
    /// [`PROBE_PATHS`](crate::PROBE_PATHS); `()` reports everything). It runs on the request path:
    /// keep it cheap. A request it skips still counts in the usage table; one whose filter panics
    /// is answered as usual and not reported.
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
    ///     .filter(|hit: &Hit| hit.user_agent() != Some("kube-probe/1.29"));
    /// let handle = ga.handle();
    /// send(ga.clone(), Request::get("/users/7").header("user-agent", "kube-probe/1.29")).await;
    /// send(ga, Request::get("/users/7").header("user-agent", "curl/8.5.0")).await;
    /// assert_eq!(recorder.ga4_events().len(), 1);
    /// assert_eq!(handle.stats().tracked, 1);
    /// # }
    /// ```
    pub fn filter(self, filter: impl Filter) -> Self {
        let f: Arc<dyn Filter> = Arc::new(filter);
        self.with(|c| c.capture.filter = f)
    }

    /// Sends the request's `User-Agent` (default on).
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .send_user_agent(false);
    /// send(ga, Request::get("/users/7").header("user-agent", "curl/8.5.0")).await;
    /// assert_eq!(recorder.ga4_events()[0].user_agent, None);
    /// # }
    /// ```
    pub fn send_user_agent(self, on: bool) -> Self {
        self.with(|c| c.report.send_user_agent = on)
    }

    /// Sends the client IP to Google (default [`IpMode::Off`]). Needs axum's `ConnectInfo`, a
    /// [`ClientIp`](crate::ClientIp) extension, or a [trusted proxy](Self::trust_proxy).
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, ClientIp, GaLayer, IpMode};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .send_client_ip(IpMode::Truncated);
    /// let ip = ClientIp("203.0.113.7".parse().unwrap());
    /// send(ga, Request::get("/users/7").extension(ip)).await;
    /// let events = recorder.ga4_events();
    /// assert_eq!(events[0].ip_override.as_deref(), Some("203.0.113.0"));
    /// # }
    /// ```
    pub fn send_client_ip(self, mode: IpMode) -> Self {
        self.with(|c| c.report.ip_mode = mode)
    }

    /// The `data_source` param (default `api`; the legacy protocol's `ds`).
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .data_source("billing-api");
    /// send(ga, Request::get("/users/7")).await;
    /// assert_eq!(recorder.ga4_events()[0].param_str("data_source"), Some("billing-api"));
    /// # }
    /// ```
    pub fn data_source(self, source: impl Into<String>) -> Self {
        let s = source.into();
        self.with(|c| c.report.data_source = s)
    }

    /// A constant param added to every event (none by default), e.g. `("app_version", "1.4.2")`.
    /// Checked by [`build`](Self::build): names must be valid, unreserved and not clash with the
    /// crate's own; values are strings or numbers. The same name again replaces the value (an
    /// event can't carry a name twice).
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, ConfigError, GaLayer};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .param("app_version", "1.4.2")
    ///     .param("shard", 3);
    /// send(ga, Request::get("/users/7")).await;
    /// let events = recorder.ga4_events();
    /// assert_eq!(events[0].param_str("app_version"), Some("1.4.2"));
    /// assert_eq!(events[0].param_u64("shard"), Some(3));
    ///
    /// let taken = GaLayer::new("G-TEST123").api_secret("s").param("http_route", "/");
    /// assert!(matches!(taken.build(), Err(ConfigError::InvalidParam(_))));
    /// # }
    /// ```
    pub fn param(self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.with(
            |c| match c.report.extra_params.iter_mut().find(|(n, _)| *n == name) {
                Some(param) => param.1 = value,
                None => c.report.extra_params.push((name, value)),
            },
        )
    }

    /// Longest param value in characters (default 100, GA4's documented limit for standard
    /// properties; GA 360 allows 500, the most this takes, and 16 the least). Longer values are
    /// truncated at a character boundary, and URLs lose their query first. The page params take
    /// GA4's larger limits unless [`conservative_limits`](Self::conservative_limits) is on.
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .param_value_limit(24)
    ///     .conservative_limits(true);
    /// send(ga, Request::get("/users/7?page=2")).await;
    /// let events = recorder.ga4_events();
    /// assert_eq!(events[0].param_str("page_location"), Some("http://localhost/users/7"));
    /// # }
    /// ```
    pub fn param_value_limit(self, chars: usize) -> Self {
        self.with(|c| c.report.param_value_limit = chars.clamp(16, 500))
    }
}
