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

use std::fmt::Debug;
use std::io::Write;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use axum::Router;
use tower::ServiceExt;

/// A reqwest client for the tests' own requests: the crate builds reqwest with
/// `rustls-no-provider`, so a client starts from the transport's builder, which sets up TLS.
pub fn http_client() -> reqwest::Client {
    tower_ga::ReqwestTransport::client_builder()
        .unwrap()
        .build()
        .unwrap()
}

/// How long a wait for an event may take before it is a failure: far longer than any of them
/// needs on a busy 2-core machine, so only a hang (or a broken behaviour) reaches it.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `state` until `done` holds of it, and returns that state. Past `PATIENCE` it fails,
/// printing `what` it waited for and the last state it saw.
pub async fn wait_until<T: Debug>(
    what: &str,
    mut state: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = state();
        if done(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "waited {PATIENCE:?} in vain until {what}; last seen: {now:#?}"
        );
        // The poll's pace: the wait ends on the state itself, or fails at the deadline.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A test that can't run for want of a tool calls this, then returns. Under CI (`CI=true`) a
/// missing tool is a failure: a pass there would have tested nothing. Elsewhere the test says
/// so on stderr and passes.
#[track_caller]
pub fn skip_or_fail(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        panic!("{why}");
    }
    // Written to stderr itself, not through `eprintln!`, which the harness captures and shows
    // only for failing tests: a skip is said whatever the harness's flags.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

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
