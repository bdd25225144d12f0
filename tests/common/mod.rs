//! Helpers shared by the integration tests, and the rig of each theme: `faults` for the fault
//! matrix (`tests/faults_*.rs`), `ga4` for the GA4 end-to-end tests (`tests/ga4_*.rs`), `hostile`
//! for the hostile-input properties (`tests/hostile.rs`, `tests/hostile_raw.rs`).
//!
//! Each file in `tests/` is a crate of its own that declares this module and uses what its theme
//! needs: what one crate leaves unused is not dead.
#![allow(dead_code, reason = "each test file uses the helpers of its own theme")]

pub mod faults;
pub mod ga4;
pub mod hostile;

use axum::body::Body;
use axum::response::Response;
use axum::Router;
use tower::ServiceExt;

/// Sends `GET uri` with `Host: api.example.com` and `headers` through a router.
pub async fn get_req(app: &Router, uri: &str, headers: &[(&str, &str)]) -> Response {
    let mut b = http::Request::get(uri).header("host", "api.example.com");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    app.clone()
        .oneshot(b.body(Body::empty()).unwrap())
        .await
        .unwrap()
}
