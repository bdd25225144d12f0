//! The page a hit reports: its scheme and host, the query's redaction, and the title.

use std::sync::Arc;

use super::GaLayer;
use crate::hooks::MakeTitle;
use crate::http_text::redact::SecretWords;

impl GaLayer {
    /// The host every hit reports, whatever host the request named (default none: each
    /// request's own, from a [trusted proxy](Self::trust_proxy)'s headers, the URI or the `Host`
    /// header). It goes in `page_location` (and the legacy protocol's `dh`), lower-cased. Set it
    /// when one API answers under several names (`api.example.com`, `eu.api.example.com`, a load
    /// balancer's address) and GA should show them as one site, or when the host your server
    /// sees is an internal name. For requests that name no host at all, see
    /// [`fallback_host`](Self::fallback_host).
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
    ///     .host_override("API.example.com");
    /// send(ga, Request::get("/users/7").header("host", "eu.api.example.com")).await;
    /// let events = recorder.ga4_events();
    /// assert_eq!(events[0].param_str("page_location"), Some("http://api.example.com/users/7"));
    /// # }
    /// ```
    pub fn host_override(self, host: impl Into<String>) -> Self {
        let host = host.into().to_ascii_lowercase();
        self.with(|c| c.report.host_override = Some(host))
    }

    /// Reports `https://` rather than `http://` for requests that don't say their scheme (default
    /// off: `http`). A request says it when its URI is absolute (HTTP/2 requests, whose
    /// `:scheme` hyper puts in the URI) or a [trusted proxy](Self::trust_proxy) sends
    /// `X-Forwarded-Proto` or `Forwarded: proto=`. An HTTP/1.1 request's URI is only a path: an
    /// API that terminates TLS itself, or sits behind a proxy it doesn't trust, reports `http://`
    /// pages unless this is on.
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
    ///     .default_scheme_https(true);
    /// send(ga, Request::get("/users/7").header("host", "api.example.com")).await;
    /// let events = recorder.ga4_events();
    /// assert_eq!(events[0].param_str("page_location"), Some("https://api.example.com/users/7"));
    /// # }
    /// ```
    pub fn default_scheme_https(self, https: bool) -> Self {
        self.with(|c| c.report.default_scheme = if https { "https" } else { "http" })
    }

    /// The host reported for a request that names none: no absolute URI, no valid `Host`
    /// header, no trusted proxy's host (default `localhost`). HTTP/1.1 clients always send
    /// `Host`, so this shows on HTTP/1.0 clients, requests built by hand (tests) and servers that
    /// drop the header. Unlike [`host_override`](Self::host_override), it never replaces a host
    /// the request named.
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
    ///     .fallback_host("api.internal");
    /// send(ga, Request::get("/users/7")).await; // no `Host` header
    /// let events = recorder.ga4_events();
    /// assert_eq!(events[0].param_str("page_location"), Some("http://api.internal/users/7"));
    /// # }
    /// ```
    pub fn fallback_host(self, host: impl Into<String>) -> Self {
        let host = host.into();
        self.with(|c| c.report.fallback_host = host)
    }

    /// Adds words to the list of secret-looking query parameter names (see
    /// [`DEFAULT_REDACTED_PARAMS`](crate::DEFAULT_REDACTED_PARAMS) for the rule).
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
    ///     .redact_param("voucher");
    /// send(ga, Request::get("/users/7?voucher=1234&token=t&page=2")).await;
    /// let events = recorder.ga4_events();
    /// assert_eq!(
    ///     events[0].param_str("page_location"),
    ///     Some("http://localhost/users/7?voucher=REDACTED&token=REDACTED&page=2")
    /// );
    /// # }
    /// ```
    pub fn redact_param(self, word: impl Into<String>) -> Self {
        let word = word.into();
        self.with(|c| c.report.redact_params = c.report.redact_params.with(&word))
    }

    /// Never redacts a parameter by this name (its words joined, as
    /// [`DEFAULT_REDACTED_PARAMS`](crate::DEFAULT_REDACTED_PARAMS) describes), e.g. an OAuth-free
    /// API's `state` filter. Values that look like e-mail addresses are still redacted.
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
    ///     .keep_param("state");
    /// send(ga, Request::get("/users/7?state=open&token=t")).await;
    /// let events = recorder.ga4_events();
    /// assert_eq!(
    ///     events[0].param_str("page_location"),
    ///     Some("http://localhost/users/7?state=open&token=REDACTED")
    /// );
    /// # }
    /// ```
    pub fn keep_param(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with(|c| c.report.redact_params = c.report.redact_params.keeping(&name))
    }

    /// Replaces the list of secret-looking query parameter names (default
    /// [`DEFAULT_REDACTED_PARAMS`](crate::DEFAULT_REDACTED_PARAMS)).
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
    ///     .redact_params(["token", "pin"]); // the default list would redact `sort_key` too
    /// send(ga, Request::get("/users/7?pin=1234&sort_key=name")).await;
    /// let events = recorder.ga4_events();
    /// assert_eq!(
    ///     events[0].param_str("page_location"),
    ///     Some("http://localhost/users/7?pin=REDACTED&sort_key=name")
    /// );
    /// # }
    /// ```
    pub fn redact_params<I, W>(self, words: I) -> Self
    where
        I: IntoIterator<Item = W>,
        W: Into<String>,
    {
        let list = SecretWords::new(words.into_iter().map(|w| -> String { w.into() }));
        self.with(|c| c.report.redact_params = list)
    }

    /// Leaves the query string out of `page_location` entirely (default off: the query is sent,
    /// redacted).
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
    ///     .strip_query(true);
    /// send(ga, Request::get("/users/7?page=2")).await;
    /// let events = recorder.ga4_events();
    /// assert_eq!(events[0].param_str("page_location"), Some("http://localhost/users/7"));
    /// # }
    /// ```
    pub fn strip_query(self, on: bool) -> Self {
        self.with(|c| c.report.strip_query = on)
    }

    /// The title of requests that matched no route (default `(unmatched route)`). The raw path is
    /// never used: it would give every 404 probe its own page in GA.
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
    ///     .unmatched_title("(not found)");
    /// send(ga, Request::get("/wp-login.php")).await; // the router has only `/users/{id}`
    /// assert_eq!(recorder.ga4_events()[0].param_str("page_title"), Some("(not found)"));
    /// # }
    /// ```
    pub fn unmatched_title(self, title: impl Into<String>) -> Self {
        let t = title.into();
        self.with(|c| c.report.unmatched_title = t)
    }

    /// The path `page_location` reports for requests that matched no route (default
    /// [`UNMATCHED_PATH`](crate::UNMATCHED_PATH), `/(unmatched)`), without their query: their own
    /// path may hold a token (`/reset-password/<token>`), and every scanner's probe would be a page
    /// of its own. `None` sends their own path and query, redacted as a matched route's are.
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").transport(recorder.clone());
    /// send(ga, Request::get("/reset-password/s3cr3t?u=1")).await; // matches no route
    /// let location = recorder.ga4_events()[0].param_str("page_location").unwrap().to_owned();
    /// assert_eq!(location, "http://localhost/(unmatched)");
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .unmatched_path(None::<String>);
    /// send(ga, Request::get("/old/path?token=t")).await;
    /// let location = recorder.ga4_events()[0].param_str("page_location").unwrap().to_owned();
    /// assert_eq!(location, "http://localhost/old/path?token=REDACTED");
    /// # }
    /// ```
    pub fn unmatched_path(self, path: Option<impl Into<String>>) -> Self {
        let path = path.map(Into::into);
        self.with(|c| c.report.unmatched_path = path)
    }

    /// Reports a matched request's route template as the path of its `page_location`
    /// (`https://api.example.com/users/{id}`) instead of its own (`/users/7`): no ids or tokens in
    /// paths reach GA, and each endpoint is one page in GA's reports. The query is kept, redacted
    /// ([`strip_query`](Self::strip_query) drops it). Off by default; a route's
    /// [`LocationFromRoute`](crate::LocationFromRoute) marker overrides it for that route.
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
    ///     .location_from_route(true);
    /// send(ga, Request::get("/users/7?page=2")).await;
    /// assert_eq!(
    ///     recorder.ga4_events()[0].param_str("page_location"),
    ///     Some("http://localhost/users/{id}?page=2")
    /// );
    /// # }
    /// ```
    pub fn location_from_route(self, on: bool) -> Self {
        self.with(|c| c.report.location_from_route = on)
    }

    /// A hook that builds titles for requests without a [`PageTitle`](crate::PageTitle), on the
    /// sender's thread (a panic in it is caught). Without one, or when it returns `None`, the title
    /// is `METHOD /route/{template}` (the [`unmatched_title`](Self::unmatched_title) for requests
    /// that matched no route).
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
    ///     .title_with(|hit: &Hit| hit.route().map(|route| format!("API {route}")));
    /// send(ga, Request::get("/users/7")).await;
    /// assert_eq!(recorder.ga4_events()[0].param_str("page_title"), Some("API /users/{id}"));
    /// # }
    /// ```
    pub fn title_with(self, hook: impl MakeTitle) -> Self {
        let hook: Arc<dyn MakeTitle> = Arc::new(hook);
        self.with(|c| c.report.make_title = Some(hook))
    }
}
