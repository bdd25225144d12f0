//! [`GaLayer`]: the struct, [`new`](GaLayer::new), [`handle`](GaLayer::handle),
//! [`build`](GaLayer::build) and `impl Layer`. The builder methods live in the child modules, one
//! concern each; they all go through `with`.

mod context;
mod destination;
mod event;
mod identity;
mod page;
mod proxy;
mod sender;
mod usage;

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::service::GaService;
use crate::config::{check_all, Config, ConfigError};
use crate::pipeline::{Core, Handle, State};
use crate::spec::Protocol;

/// A tower [`Layer`] that reports every request to Google Analytics as a page view.
///
/// Built with [`GaLayer::new`] and consuming builder methods; cheap to clone, and cheap to apply:
/// axum's `Router::layer` clones the layer and wraps each route with it for every connection
/// under `axum::serve`, and for every request when a `Router` is called directly as a `Service`.
/// See the [crate documentation](crate) for a tour.
///
/// The background sender starts when the layer first wraps a service, with the configuration the
/// layer has then; clones share it. A builder call on a clone, or on a layer whose sender has
/// started, makes a new configuration with a sender of its own: take its handle after the call.
///
/// # The examples
///
/// Most builder methods show their effect on what is sent. Their examples record it with the
/// `testing` feature's `RecordingTransport` and send requests with a `send(layer, request)` helper
/// that does this (the route is `/users/{id}`):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use axum::{body::Body, routing::get, Router};
/// use tower::ServiceExt;
/// use tower_ga::{testing::RecordingTransport, GaLayer};
///
/// let recorder = RecordingTransport::new();
/// let ga = GaLayer::new("G-TEST123").api_secret("s").transport(recorder.clone());
///
/// // send(ga, http::Request::get("/users/7")).await:
/// let handle = ga.handle();
/// let app = Router::new().route("/users/{id}", get(|| async { "user" })).layer(ga);
/// let request = http::Request::get("/users/7").body(Body::empty()).unwrap();
/// app.oneshot(request).await.unwrap();
/// assert!(handle.flush(Duration::from_secs(5)).await);
///
/// let events = recorder.ga4_events();
/// assert_eq!(events[0].param_str("page_location"), Some("http://localhost/users/7"));
/// assert_eq!(events[0].param_str("page_title"), Some("GET /users/{id}"));
/// # }
/// ```
#[derive(Clone)]
#[must_use = "a GaLayer reports nothing until it wraps a service"]
pub struct GaLayer {
    config: Arc<Config>,
    core: Arc<Core>,
}

impl GaLayer {
    /// A layer for a GA4 measurement id (`G-XXXXXXXXXX`) or a legacy UA tracking id (`UA-1234-5`).
    ///
    /// Never panics: a malformed id, or a GA4 id without [`api_secret`](Self::api_secret), is
    /// reported once through `tracing` when the layer is first used, and requests then pass
    /// through untracked. Use [`build`](Self::build) to get an error instead. Surrounding
    /// whitespace is trimmed.
    ///
    /// ```
    /// use tower_ga::{ConfigError, GaLayer};
    ///
    /// let ga4 = GaLayer::new("G-ABC123").api_secret("secret");
    /// assert!(ga4.build().is_ok());
    /// assert!(GaLayer::new(" UA-1234-5\n").build().is_ok());
    /// assert_eq!(
    ///     GaLayer::new("GTM-ABC123").build().unwrap_err(),
    ///     ConfigError::MalformedTrackingId("GTM-ABC123".into())
    /// );
    /// ```
    pub fn new(tracking_id: impl Into<String>) -> Self {
        let tracking_id: String = tracking_id.into().trim().to_owned();
        let mut config = Config::default();
        config.target.protocol = Protocol::of(&tracking_id);
        config.target.tracking_id = tracking_id;
        GaLayer {
            core: Arc::new(Core::new()),
            config: Arc::new(config),
        }
    }

    /// The builder methods' one way in: applies `f` to this layer's own copy of the
    /// configuration (copied on write when a clone shares it).
    fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        // A clone configured differently, or a layer changed after it started its sender, gets a
        // sender of its own: sharing the first one would silently drop this configuration. Handles
        // taken from a layer no clone shares keep following it.
        if Arc::strong_count(&self.config) > 1 || self.core.activated() {
            self.core = Arc::new(Core::new());
            self.core.declare(&self.config.inventory);
        }
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// A handle to flush, shut down and read counters; it may be taken at any time, and every
    /// clone of the layer gives a handle to the same sender (until a builder call gives a clone
    /// its own). Take it before the layer moves into the router.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_ga::{testing::RecordingTransport, GaLayer, SenderState};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").transport(recorder);
    /// let handle = ga.handle();
    /// assert_eq!(handle.state(), SenderState::NotStarted);
    ///
    /// send(ga, http::Request::get("/users/7")).await;
    /// assert_eq!(handle.state(), SenderState::Running);
    /// assert_eq!(handle.stats().sent, 1);
    /// assert!(handle.shutdown(Duration::from_secs(5)).await);
    /// # }
    /// ```
    #[must_use]
    pub fn handle(&self) -> Handle {
        Handle {
            core: self.core.clone(),
        }
    }

    /// Checks the configuration, returning an error where [`new`](Self::new) would log one and
    /// pass requests through.
    ///
    /// ```
    /// use tower_ga::{ConfigError, GaLayer};
    ///
    /// let err = GaLayer::new("G-ABC123").build().unwrap_err();
    /// assert_eq!(err, ConfigError::MissingApiSecret);
    /// assert_eq!(err.to_string(), "GA4 needs an API secret: call .api_secret(..)");
    ///
    /// let ga: GaLayer = GaLayer::new("G-ABC123").api_secret("secret").build()?;
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn build(self) -> Result<Self, ConfigError> {
        check_all(&self.config)?;
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
    use std::time::Duration;

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
            ga.config.report.extra_params,
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
        assert_eq!(ga.config.target.api_secret.as_ref().unwrap().0, "s3cret");
        assert_eq!(ga.config.report.param_value_limit, 500);
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

    #[tokio::test]
    async fn a_clone_configured_differently_gets_a_sender_of_its_own() {
        use tower::ServiceExt;
        let (first, second) = (
            crate::testing::RecordingTransport::new(),
            crate::testing::RecordingTransport::new(),
        );
        let base = GaLayer::new("G-ABC123")
            .api_secret("s")
            .transport(first.clone());
        let v2 = base.clone().data_source("v2").transport(second.clone());
        let (h1, h2) = (base.handle(), v2.handle());
        let svc = |layer: &GaLayer| {
            layer.layer(tower::service_fn(|_: http::Request<()>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(()))
            }))
        };
        let (a, b) = (svc(&base), svc(&v2));
        a.oneshot(http::Request::get("/a").body(()).unwrap())
            .await
            .unwrap();
        b.oneshot(http::Request::get("/b").body(()).unwrap())
            .await
            .unwrap();
        assert!(h1.flush(Duration::from_secs(10)).await);
        assert!(h2.flush(Duration::from_secs(10)).await);
        let sources = |r: &crate::testing::RecordingTransport| {
            r.ga4_events()
                .iter()
                .map(|e| e.param_str("data_source").unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(sources(&first), ["api"]);
        assert_eq!(sources(&second), ["v2"]);
        // A layer changed after it started its sender gets a new one too.
        let v3 = v2.data_source("v3");
        assert_eq!(v3.handle().state(), crate::SenderState::NotStarted);
    }
}
