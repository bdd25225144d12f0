//! What GA4 events carry besides the request: consent, engagement time, value limits.

use std::time::Duration;

use super::GaLayer;
use crate::config::Consent;

impl GaLayer {
    /// The `consent` sent with every request: `ad_user_data` and `ad_personalization`
    /// (default [`Consent::Denied`] for both: an API's consumers gave no consent to ads use;
    /// [`Consent::Omitted`] leaves a field out). It replaces the deprecated
    /// `non_personalized_ads`, which the crate never sends.
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, Consent, GaLayer};
    /// # use axum::{body::Body, routing::get, Router};
    /// # use tower::ServiceExt;
    /// # async fn send(ga: GaLayer, request: http::request::Builder) {
    /// #     let handle = ga.handle();
    /// #     let app = Router::new().route("/users/{id}", get(|| async { "user" })).layer(ga);
    /// #     app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    /// #     assert!(handle.flush(std::time::Duration::from_secs(5)).await);
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .consent(Consent::Granted, Consent::Omitted);
    /// send(ga, Request::get("/users/7")).await;
    /// let body: serde_json::Value = serde_json::from_slice(recorder.requests()[0].body()).unwrap();
    /// assert_eq!(body["consent"], serde_json::json!({"ad_user_data": "GRANTED"}));
    /// # }
    /// ```
    pub fn consent(self, ad_user_data: Consent, ad_personalization: Consent) -> Self {
        self.with(|c| c.report.context.consent = [ad_user_data, ad_personalization])
    }

    /// Cuts every value at [`param_value_limit`](Self::param_value_limit), the page params too
    /// (default off: `page_location`, `page_referrer` and `page_title` take the 1000, 420 and
    /// 300 characters GA4's collection limits allow them).
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use axum::{body::Body, routing::get, Router};
    /// # use tower::ServiceExt;
    /// # async fn send(ga: GaLayer, request: http::request::Builder) {
    /// #     let handle = ga.handle();
    /// #     let app = Router::new().route("/users/{id}", get(|| async { "user" })).layer(ga);
    /// #     app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    /// #     assert!(handle.flush(std::time::Duration::from_secs(5)).await);
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let long = format!("/users/7?q={}", "x".repeat(300));
    /// for (conservative, at_most) in [(false, 1000), (true, 100)] {
    ///     let recorder = RecordingTransport::new();
    ///     let ga = GaLayer::new("G-TEST123")
    ///         .api_secret("s")
    ///         .transport(recorder.clone())
    ///         .conservative_limits(conservative);
    ///     send(ga, Request::get(long.as_str())).await;
    ///     let location = recorder.ga4_events()[0].param_str("page_location").unwrap().len();
    ///     assert!((location > 100) == !conservative && location <= at_most);
    /// }
    /// # }
    /// ```
    pub fn conservative_limits(self, on: bool) -> Self {
        self.with(|c| c.report.context.conservative_limits = on)
    }

    /// The longest `engagement_time_msec` one event reports (default 60 s). An event's
    /// engagement time is the time since the same consumer's previous request in its session,
    /// capped at this, at least 1 ms; a session's first request reports 1 ms. A gap longer than
    /// the cap is idle time, not engagement.
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use axum::{body::Body, routing::get, Router};
    /// # use tower::ServiceExt;
    /// # async fn send(ga: GaLayer, request: http::request::Builder) {
    /// #     let handle = ga.handle();
    /// #     let app = Router::new().route("/users/{id}", get(|| async { "user" })).layer(ga);
    /// #     app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    /// #     assert!(handle.flush(std::time::Duration::from_secs(5)).await);
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .engagement_cap(Duration::from_millis(1));
    /// send(ga.clone(), Request::get("/users/7").header("authorization", "k")).await;
    /// send(ga, Request::get("/users/7").header("authorization", "k")).await;
    /// let events = recorder.ga4_events();
    /// assert!(events.iter().all(|e| e.param_u64("engagement_time_msec") == Some(1)));
    /// # }
    /// ```
    pub fn engagement_cap(self, cap: Duration) -> Self {
        self.with(|c| c.report.context.engagement_cap = cap)
    }
}
