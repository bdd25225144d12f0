//! Where hits go: the API secret, the collector, its EU region and validation mode.

use super::GaLayer;
use crate::config::Secret;

impl GaLayer {
    /// The GA4 API secret: required for a GA4 id ([`build`](Self::build) refuses one without it;
    /// the legacy protocol takes none). Never logged, never in `Debug` output. Surrounding
    /// whitespace (a secret read from a file ends in a newline) is trimmed.
    ///
    /// ```
    /// use tower_ga::{ConfigError, GaLayer};
    ///
    /// assert_eq!(GaLayer::new("G-ABC123").build().unwrap_err(), ConfigError::MissingApiSecret);
    ///
    /// let ga = GaLayer::new("G-ABC123").api_secret("s3cret\n").build()?;
    /// assert!(!format!("{ga:?}").contains("s3cret"));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn api_secret(self, secret: impl Into<String>) -> Self {
        let secret = secret.into().trim().to_owned();
        self.with(|c| c.target.api_secret = Some(Secret(secret)))
    }

    /// Base URL of the collector (default `https://www.google-analytics.com`); the protocol's path
    /// (`/mp/collect`) is appended. Point it at a local collector for development and tests.
    /// [`build`](Self::build) refuses a URL that is not `http://` or `https://`, or that carries
    /// credentials.
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
    ///     .endpoint("http://127.0.0.1:5000");
    /// send(ga, Request::get("/users/7")).await;
    /// assert!(recorder.requests()[0].url().starts_with("http://127.0.0.1:5000/mp/collect?"));
    ///
    /// assert!(GaLayer::new("G-TEST123").api_secret("s").endpoint("ftp://127.0.0.1").build().is_err());
    /// # }
    /// ```
    pub fn endpoint(self, base_url: impl Into<String>) -> Self {
        let url = base_url.into();
        self.with(|c| c.target.endpoint = Some(url))
    }

    /// Sends GA4 hits to Google's EU collection host, [`EU_ENDPOINT`](crate::EU_ENDPOINT)
    /// (`region1.google-analytics.com`), instead of
    /// [`DEFAULT_ENDPOINT`](crate::DEFAULT_ENDPOINT) (default off): for organisations that want
    /// analytics collected through Google's servers in the EU. It changes the host only; the hits
    /// are the same. Legacy (`UA-`) hits always go to the default host, and an
    /// [`endpoint`](Self::endpoint), when set, wins over this.
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer, EU_ENDPOINT};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .eu_endpoint(true);
    /// send(ga, Request::get("/users/7")).await;
    /// assert!(recorder.requests()[0].url().starts_with("https://region1.google-analytics.com/"));
    /// assert_eq!(EU_ENDPOINT, "https://region1.google-analytics.com");
    /// # }
    /// ```
    pub fn eu_endpoint(self, on: bool) -> Self {
        self.with(|c| c.target.eu = on)
    }

    /// Validation mode (default off): sends to Google's validation endpoint (`/debug/mp/collect`,
    /// with `validation_behavior: ENFORCE_RECOMMENDATIONS`), which checks hits and collects
    /// nothing. Its objections are logged, passed to the failure hook and counted in
    /// [`Stats::invalid`](crate::Stats::invalid). Try it first: the real endpoint answers `2xx`
    /// even to hits it discards.
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
    ///     .validation_mode(true);
    /// send(ga, Request::get("/users/7")).await;
    /// assert_eq!(recorder.requests()[0].path(), "/debug/mp/collect");
    /// # }
    /// ```
    pub fn validation_mode(self, on: bool) -> Self {
        self.with(|c| c.target.validation = on)
    }
}
