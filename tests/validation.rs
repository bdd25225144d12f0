//! Validation mode (both protocols) and the EU endpoint.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::StatusCode;
use tower::ServiceExt;
use tower_ga::collector::Collector;
use tower_ga::testing::RecordingTransport;
use tower_ga::{
    BatchOutcome, BoxFuture, GaLayer, Outgoing, Reply, Transport, TransportError, ValidationCode,
};

const WAIT: Duration = Duration::from_secs(10);

async fn hit(app: &Router, uri: &str) {
    let req = http::Request::get(uri)
        .header("host", "api.example.com")
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(req).await.unwrap();
}

#[tokio::test]
async fn ga4_validation_mode_surfaces_messages() {
    let c = Collector::start_local().await.unwrap();
    let failures = Arc::new(Mutex::new(Vec::<BatchOutcome>::new()));
    let f2 = failures.clone();
    // Deliberately bad: a 200-character custom param, allowed here (as for GA 360) but over the
    // standard 100-character limit the validation endpoint enforces.
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .endpoint(c.url())
        .validation_mode(true)
        .param_value_limit(300)
        .param("note", "n".repeat(200))
        .on_failure(move |o: &BatchOutcome| f2.lock().unwrap().push(o.clone()));
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "a" })).layer(ga);
    hit(&app, "/a").await;
    hit(&app, "/a?x=1").await;
    assert!(handle.flush(WAIT).await);

    let requests = c.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.path, "/debug/mp/collect");
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["validation_behavior"], "ENFORCE_RECOMMENDATIONS");
    }
    let s = handle.stats();
    assert_eq!((s.sent, s.invalid, s.failed), (2, 2, 0), "{s:?}");
    let messages: Vec<_> = failures
        .lock()
        .unwrap()
        .iter()
        .flat_map(|o| o.validation_messages.clone())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.field_path.ends_with("params.note")
                && m.validation_code == ValidationCode::ValueOutOfBounds),
        "{messages:#?}"
    );

    // Valid hits in validation mode: no messages, nothing counted invalid.
    let c = Collector::start_local().await.unwrap();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .endpoint(c.url())
        .validation_mode(true);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "a" })).layer(ga);
    hit(&app, "/a").await;
    assert!(handle.flush(WAIT).await);
    let s = handle.stats();
    assert_eq!((s.sent, s.invalid), (1, 0));
}

/// Answers like Google's `/debug/collect` with one parser error: the kind of test double a user
/// would write to check their handling of validation failures.
#[derive(Clone, Default)]
struct DebugCollect {
    paths: Arc<Mutex<Vec<String>>>,
}

impl Transport for DebugCollect {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        self.paths.lock().unwrap().push(request.path().to_owned());
        Box::pin(async move {
            Ok(Reply::status(StatusCode::OK).body(Bytes::from_static(
                br#"{"hitParsingResult":[{"valid":false,"hit":"/debug/collect?v=1","parserMessage":[{"messageType":"ERROR","description":"The value provided for parameter 'tid' is invalid.","parameter":"tid"}]}]}"#,
            )))
        })
    }
}

#[tokio::test]
async fn ua_validation_mode_sends_one_hit_per_debug_request_and_counts_objections() {
    let transport = DebugCollect::default();
    let ga = GaLayer::new("UA-1-1")
        .transport(transport.clone())
        .validation_mode(true);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "a" })).layer(ga);
    for _ in 0..3 {
        hit(&app, "/a").await;
    }
    assert!(handle.flush(WAIT).await);
    let paths = transport.paths.lock().unwrap().clone();
    assert_eq!(paths, vec!["/debug/collect"; 3]);
    assert_eq!(handle.stats().invalid, 3);

    // Against the local collector, which validates for real: valid hits, no objections.
    let c = Collector::start_local().await.unwrap();
    let ga = GaLayer::new("UA-1-1")
        .endpoint(c.url())
        .validation_mode(true);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "a" })).layer(ga);
    hit(&app, "/a").await;
    hit(&app, "/b").await;
    assert!(handle.flush(WAIT).await);
    assert!(c
        .requests()
        .iter()
        .all(|r| r.path == "/debug/collect" && r.hits == 1));
    assert_eq!((handle.stats().sent, handle.stats().invalid), (2, 0));
}

#[tokio::test]
async fn eu_switch_selects_the_region1_host() {
    for (eu, id, expected) in [
        (
            true,
            "G-TEST123",
            "https://region1.google-analytics.com/mp/collect?",
        ),
        (
            false,
            "G-TEST123",
            "https://www.google-analytics.com/mp/collect?",
        ),
        // The legacy protocol has no EU endpoint.
        (true, "UA-1-1", "https://www.google-analytics.com/collect"),
    ] {
        let rec = RecordingTransport::new();
        let ga = GaLayer::new(id)
            .api_secret("s")
            .eu_endpoint(eu)
            .transport(rec.clone());
        let handle = ga.handle();
        let app = Router::new().route("/a", get(|| async { "a" })).layer(ga);
        hit(&app, "/a").await;
        assert!(handle.flush(WAIT).await);
        let url = rec.requests()[0].url().to_owned();
        assert!(url.starts_with(expected), "{url}");
    }
    // An explicit endpoint wins over the switch.
    let rec = RecordingTransport::new();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .eu_endpoint(true)
        .endpoint("http://127.0.0.1:9")
        .transport(rec.clone());
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "a" })).layer(ga);
    hit(&app, "/a").await;
    assert!(handle.flush(WAIT).await);
    assert!(rec.requests()[0]
        .url()
        .starts_with("http://127.0.0.1:9/mp/collect?"));
}
