//! For your own tests: a transport that records what would have been sent, with no network.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use axum::{body::Body, routing::get, Router};
//! use tower::ServiceExt;
//! use tower_ga::{testing::RecordingTransport, GaLayer, PageTitle};
//!
//! let recorder = RecordingTransport::new();
//! let ga = GaLayer::new("G-TEST123").api_secret("s").transport(recorder.clone());
//! let handle = ga.handle();
//! let app = Router::new()
//!     .route("/users/{id}", get(|| async { "user" }).layer(PageTitle::new("User detail")))
//!     .layer(ga);
//!
//! let request = http::Request::get("/users/7").header("host", "api.test").body(Body::empty()).unwrap();
//! app.oneshot(request).await.unwrap();
//! assert!(handle.flush(Duration::from_secs(5)).await);
//!
//! let events = recorder.ga4_events();
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].param_str("page_title"), Some("User detail"));
//! assert_eq!(events[0].param_str("page_location"), Some("http://api.test/users/7"));
//! # }
//! ```

pub use crate::transport::recording::{parse_ga4, parse_ua, RecordedEvent, RecordingTransport};
