//! Who a request comes from: the client id strategy, its hook, key and credential header, and
//! sessions.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::GaLayer;
use crate::config::{ClientIdStrategy, Key};
use crate::hooks::MakeClientId;

impl GaLayer {
    /// The client id strategy (default [`ClientIdStrategy::Keyed`]).
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, ClientIdStrategy, GaLayer};
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
    ///     .client_id_strategy(ClientIdStrategy::RandomPerRequest);
    /// for _ in 0..2 {
    ///     send(ga.clone(), Request::get("/users/7").header("authorization", "Bearer abc")).await;
    /// }
    /// let events = recorder.ga4_events();
    /// assert_ne!(events[0].client_id, events[1].client_id);
    /// # }
    /// ```
    pub fn client_id_strategy(self, strategy: ClientIdStrategy) -> Self {
        self.with(|c| c.identity.client_id_strategy = strategy)
    }

    /// A hook that derives the client id; `None` falls back to the strategy. A
    /// [`ClientId`](crate::ClientId) marker still wins.
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer, Hit, UserId};
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
    ///     .client_id_with(|hit: &Hit| hit.user_id().map(|id| format!("account-{}", id.as_str())));
    /// send(ga, Request::get("/users/7").extension(UserId::new("42"))).await;
    /// assert_eq!(recorder.ga4_events()[0].client_id, "account-42");
    /// # }
    /// ```
    pub fn client_id_with(self, hook: impl MakeClientId) -> Self {
        let hook: Arc<dyn MakeClientId> = Arc::new(hook);
        self.with(|c| c.identity.make_client_id = Some(hook))
    }

    /// A secret shared by every instance of the API, so they derive the same client ids. Without
    /// it each process draws a random key, which never leaves the process.
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
    /// // Two instances of the API, one request each from the same consumer:
    /// let (a, b) = (RecordingTransport::new(), RecordingTransport::new());
    /// for recorder in [&a, &b] {
    ///     let ga = GaLayer::new("G-TEST123")
    ///         .api_secret("s")
    ///         .transport(recorder.clone())
    ///         .client_id_key("shared secret");
    ///     send(ga, Request::get("/users/7").header("authorization", "Bearer abc")).await;
    /// }
    /// assert_eq!(a.ga4_events()[0].client_id, b.ga4_events()[0].client_id);
    /// # }
    /// ```
    pub fn client_id_key(self, secret: impl AsRef<[u8]>) -> Self {
        let key = Key::derive(secret.as_ref());
        self.with(|c| c.identity.key = key)
    }

    /// A header carrying API keys, used (hashed) to tell consumers apart when there is no
    /// `Authorization` header, e.g. `x-api-key`.
    ///
    /// ```
    /// use http::{HeaderName, Request};
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
    ///     .api_key_header(HeaderName::from_static("x-api-key"));
    /// for key in ["key-1", "key-1", "key-2"] {
    ///     send(ga.clone(), Request::get("/users/7").header("x-api-key", key)).await;
    /// }
    /// let ids: Vec<String> = recorder.ga4_events().into_iter().map(|e| e.client_id).collect();
    /// assert_eq!(ids[0], ids[1]);
    /// assert_ne!(ids[0], ids[2]);
    /// # }
    /// ```
    pub fn api_key_header(self, name: HeaderName) -> Self {
        self.with(|c| c.capture.credential_header = Some(name))
    }

    /// How long a consumer may be idle before its next request starts a new session
    /// (default 30 minutes, as in GA). A session's events share its `session_id`.
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
    ///     .session_timeout(Duration::from_secs(10 * 60));
    /// for _ in 0..2 {
    ///     send(ga.clone(), Request::get("/users/7").header("authorization", "Bearer abc")).await;
    /// }
    /// let events = recorder.ga4_events();
    /// assert_eq!(events[0].param_u64("session_id"), events[1].param_u64("session_id"));
    /// # }
    /// ```
    pub fn session_timeout(self, timeout: Duration) -> Self {
        self.with(|c| c.identity.session_timeout = timeout)
    }
}
