//! The rig of the hostile-input properties (`tests/hostile.rs`, `tests/hostile_raw.rs`): the
//! inner service, a hostile case, and the checks every case must pass.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::{self, get};
use axum::Router;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tower::ServiceExt;
use tower_ga::testing::{parse_ga4, parse_ua, RecordingTransport};
use tower_ga::{validate, GaLayer, Handle, PROBE_PATHS};

/// A secret placed only where the layer must never send it from: secret-looking query params
/// (of the request and of the referrer), URL credentials, `Authorization`, the API-key header,
/// cookies. Random generation can't produce it by chance.
pub const MARKER: &str = "Zq9SeCrEt7Xw";
pub const FLUSH: Duration = Duration::from_secs(10);

pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

pub fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

include!("../support/host_oracle.rs");

// ---------------------------------------------------------------------------------------------
// The inner service: echoes what it saw, so any change the layer made would show.

async fn echo(method: Method, uri: Uri, headers: HeaderMap) -> String {
    let header_bytes: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    format!(
        "{method} {} {} headers, {header_bytes} bytes",
        uri.to_string().len(),
        headers.len()
    )
}

async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> (StatusCode, String) {
    (StatusCode::NOT_FOUND, echo(method, uri, headers).await)
}

pub fn inner() -> Router {
    Router::new()
        .route("/items/{id}", get(echo).post(echo).put(echo))
        .route("/echo", routing::any(echo))
        .fallback(fallback)
}

// ---------------------------------------------------------------------------------------------
// A hostile case, and what the layer must report of it.

#[derive(Clone, Debug)]
pub struct Hostile {
    pub method: Method,
    /// A valid request target (`http::Uri` holds only valid UTF-8; raw invalid bytes are covered
    /// over TCP, in `tests/hostile_raw.rs`).
    pub uri: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Hostile {
    fn request(&self) -> Request<Body> {
        let mut b = Request::builder()
            .method(self.method.clone())
            .uri(&self.uri);
        for (n, v) in &self.headers {
            b = b.header(n, v);
        }
        b.body(Body::empty()).expect("generated requests are valid")
    }

    fn header(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn parsed_uri(&self) -> Uri {
        self.uri.parse().unwrap()
    }

    /// Whether the default filter tracks it: not `OPTIONS`/`HEAD`, not a probe path (this app's
    /// route templates are none).
    fn tracked(&self) -> bool {
        self.method != Method::OPTIONS
            && self.method != Method::HEAD
            && !PROBE_PATHS.contains(&self.parsed_uri().path())
    }

    /// The host `page_location` must report for a relative URI and no trusted proxy.
    fn expected_host(&self) -> Option<String> {
        let uri = self.parsed_uri();
        if uri.authority().is_some() {
            return None;
        }
        let from_header = self
            .header(&header::HOST)
            // A Host header longer than the layer keeps (512 bytes) isn't reported.
            .filter(|v| v.len() <= 512)
            .and_then(|v| v.to_str().ok())
            .and_then(expected_host_of);
        Some(from_header.unwrap_or_else(|| "localhost".into()))
    }
}

// ---------------------------------------------------------------------------------------------
// The rig and the checks.

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Ga4,
    Ua,
}

pub struct Rig {
    rt: tokio::runtime::Runtime,
    plain: Router,
    tracked: Router,
    handle: Handle,
    recorder: RecordingTransport,
    proto: Proto,
    trust_proxy: bool,
}

impl Rig {
    pub fn new(layer: GaLayer, proto: Proto, trust_proxy: bool) -> Rig {
        let recorder = RecordingTransport::new();
        let layer = layer
            .transport(recorder.clone())
            .api_key_header(HeaderName::from_static("x-api-key"))
            .flush_interval(Duration::from_millis(50));
        let handle = layer.handle();
        Rig {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            plain: inner(),
            tracked: inner().layer(layer),
            handle,
            recorder,
            proto,
            trust_proxy,
        }
    }

    fn check(&self, case: &Hostile) -> Result<(), TestCaseError> {
        let before = self.handle.stats();
        let (expected, got) = self.rt.block_on(async {
            (
                respond(self.plain.clone(), case.request()).await,
                respond(self.tracked.clone(), case.request()).await,
            )
        });
        prop_assert_eq!(&expected, &got, "the layer changed the response");

        prop_assert!(self.rt.block_on(self.handle.flush(FLUSH)), "flush failed");
        let after = self.handle.stats();
        let tracked = after.tracked - before.tracked;
        prop_assert_eq!(tracked, u64::from(case.tracked()));
        prop_assert_eq!(after.sent - before.sent, tracked, "{:?}", after);

        let requests = self.recorder.requests();
        self.recorder.clear();
        let mut hits = 0;
        for r in &requests {
            let body = r.body();
            prop_assert!(
                !contains(body, MARKER.as_bytes()),
                "a secret was sent: {}",
                String::from_utf8_lossy(body)
            );
            match self.proto {
                Proto::Ga4 => {
                    let messages = validate::ga4(body);
                    prop_assert!(
                        messages.is_empty(),
                        "{:?} in {}",
                        messages,
                        String::from_utf8_lossy(body)
                    );
                    for e in parse_ga4(body) {
                        hits += 1;
                        self.check_ga4_event(case, got.0, &e)?;
                    }
                }
                Proto::Ua => {
                    let text = std::str::from_utf8(body);
                    prop_assert!(text.is_ok(), "a v1 body is not UTF-8");
                    let text = text.unwrap();
                    let messages = validate::ua_batch(text);
                    prop_assert!(messages.is_empty(), "{:?} in {}", messages, text);
                    for h in parse_ua(text) {
                        hits += 1;
                        prop_assert_eq!(h.get("t").map(String::as_str), Some("pageview"));
                    }
                }
            }
        }
        prop_assert_eq!(hits, tracked);
        Ok(())
    }

    fn check_ga4_event(
        &self,
        case: &Hostile,
        status: StatusCode,
        e: &tower_ga::testing::RecordedEvent,
    ) -> Result<(), TestCaseError> {
        prop_assert_eq!(e.name.as_str(), "page_view");
        prop_assert_eq!(
            e.param_u64("http_status_code"),
            Some(u64::from(status.as_u16()))
        );
        // A method outside RFC 9110's is reported as `OTHER`.
        let standard = [
            "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
        ];
        let method = match case.method.as_str() {
            m if standard.contains(&m) => m,
            _ => "OTHER",
        };
        prop_assert_eq!(e.param_str("http_method"), Some(method));
        let location = e.param_str("page_location").unwrap_or_default();
        prop_assert!(
            location.starts_with("http://") || location.starts_with("https://"),
            "{}",
            location
        );
        if let (false, Some(host)) = (self.trust_proxy, case.expected_host()) {
            // `page_location` may be cut anywhere after 100 characters, even inside the host.
            let prefix = format!("http://{host}/");
            prop_assert!(
                location.starts_with(&prefix) || prefix.starts_with(location),
                "{} for host {}",
                location,
                host
            );
        }
        Ok(())
    }
}

async fn respond(app: Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let resp = app.oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, body)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub fn run(rig: &Rig, strategy: impl Strategy<Value = Hostile>, cases: u32) {
    let mut runner = runner(cases);
    if let Err(e) = runner.run(&strategy, |case| rig.check(&case)) {
        panic!("{e}");
    }
    let s = rig.handle.stats();
    assert_eq!(s.sent + s.dropped + s.failed, s.tracked, "{s:?}");
    assert_eq!((s.dropped, s.failed), (0, 0), "{s:?}");
    assert!(rig.rt.block_on(rig.handle.shutdown(FLUSH)));
}
