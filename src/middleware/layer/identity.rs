//! Who a request comes from: the client id strategy, its hook, key and credential header, and
//! sessions.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::GaLayer;
use crate::config::{ClientIdStrategy, Key, SessionMode};
use crate::hooks::MakeClientId;

impl GaLayer {
    /// The client id strategy (default [`ClientIdStrategy::Keyed`]).
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, ClientIdStrategy, GaLayer};
    /// # use tower_ga::__doctest::send;
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
    /// # use tower_ga::__doctest::send;
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

    /// A secret shared by every instance of the API, so they derive the same client ids (and,
    /// with [`SessionMode::Auto`], the same session ids). The key is
    /// derived from it with BLAKE3's key derivation. Without it the layer reads
    /// [`TOWER_GA_CLIENT_ID_KEY`](crate::CLIENT_ID_KEY_ENV) from the environment, and without
    /// that each process draws a random key, which never leaves the process: every replica and
    /// every restart then counts a consumer as a new user (the sender logs so once at start).
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use tower_ga::__doctest::send;
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
        self.with(|c| {
            c.identity.key = key;
            c.identity.shared_key = true;
        })
    }

    /// A header carrying API keys, used (hashed) to tell consumers apart when there is no
    /// `Authorization` header, e.g. `x-api-key` (default none).
    ///
    /// ```
    /// use http::{HeaderName, Request};
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use tower_ga::__doctest::send;
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
    /// # use tower_ga::__doctest::send;
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

    /// How session ids are made: per process (a session lasts while a consumer's requests come
    /// less than `session_timeout` apart, as seen by this process) or derived (the same in every
    /// replica with the shared key: the consumer's current `session_timeout` window). The default,
    /// [`SessionMode::Auto`], derives them when a shared key is set.
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer, SessionMode};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// // Two replicas with the shared key agree on the consumer's session.
    /// let (a, b) = (RecordingTransport::new(), RecordingTransport::new());
    /// for recorder in [&a, &b] {
    ///     let ga = GaLayer::new("G-TEST123")
    ///         .api_secret("s")
    ///         .transport(recorder.clone())
    ///         .client_id_key("shared secret")
    ///         .session_mode(SessionMode::Derived);
    ///     send(ga, Request::get("/users/7").header("authorization", "Bearer abc")).await;
    /// }
    /// let session = |r: &RecordingTransport| r.ga4_events()[0].param_u64("session_id");
    /// assert_eq!(session(&a), session(&b));
    /// # }
    /// ```
    pub fn session_mode(self, mode: SessionMode) -> Self {
        self.with(|c| c.identity.session_mode = mode)
    }

    /// How many events a client id takes per UTC day before its consumer goes on under a
    /// sibling client id (default 90,000): GA keeps at most 100,000 events per user and day and
    /// drops the rest silently. Each sibling takes as many; every process with the shared key
    /// spreads a consumer alike. Counted in [`Stats::consumers_spread`](crate::Stats::consumers_spread), logged once
    /// per consumer and day.
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
    ///     .daily_events_per_client_id(2);
    /// for _ in 0..3 {
    ///     send(ga.clone(), Request::get("/users/7").header("authorization", "Bearer abc")).await;
    /// }
    /// let ids: Vec<String> = recorder.ga4_events().into_iter().map(|e| e.client_id).collect();
    /// assert_eq!(ids[0], ids[1]);
    /// assert_ne!(ids[1], ids[2], "the third event goes out under a sibling");
    /// assert_eq!(ga.handle().stats().consumers_spread, 1);
    /// # }
    /// ```
    pub fn daily_events_per_client_id(self, events: u32) -> Self {
        self.with(|c| c.identity.daily_events = events.max(1))
    }
}
