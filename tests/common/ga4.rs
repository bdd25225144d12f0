//! The rig of the GA4 end-to-end tests (`tests/ga4_*.rs`): a collector on 127.0.0.1, a layer
//! pointed at it, and what every test checks once its hits are delivered.

use std::time::Duration;

use tower_ga::collector::Collector;
use tower_ga::testing::RecordedEvent;
use tower_ga::{GaLayer, Handle};

pub const WAIT: Duration = Duration::from_secs(10);

pub async fn collector() -> Collector {
    Collector::start_local().await.expect("collector starts")
}

pub fn layer(c: &Collector) -> GaLayer {
    GaLayer::new("G-TEST123")
        .api_secret("test-secret")
        .endpoint(c.url())
}

/// Flushes, then checks what every test must hold: the books balance, the collector accepted
/// exactly what was sent, and every payload is valid.
pub async fn settle(handle: &Handle, c: &Collector) -> Vec<RecordedEvent> {
    assert!(handle.flush(WAIT).await, "flush delivers everything");
    let s = handle.stats();
    assert_eq!(s.sent + s.dropped + s.failed, s.tracked, "{s:?}");
    assert_eq!(s.pending, 0);
    assert_eq!(c.counts().hits_accepted, s.sent, "{s:?} {:?}", c.counts());
    for r in c.requests() {
        assert!(
            r.messages.is_empty(),
            "invalid payload: {:?}\n{}",
            r.messages,
            String::from_utf8_lossy(&r.body)
        );
        // The crate's events carry what Realtime needs: no warnings either.
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert!(
            r.query.contains("measurement_id=G%2DTEST123")
                || r.query.contains("measurement_id=G-TEST123")
        );
        assert!(r.query.contains("api_secret=test%2Dsecret"), "{}", r.query);
    }
    c.ga4_events()
}

pub fn one<'a>(events: &'a [RecordedEvent], location_suffix: &str) -> &'a RecordedEvent {
    let found: Vec<_> = events
        .iter()
        .filter(|e| {
            e.param_str("page_location")
                .is_some_and(|l| l.ends_with(location_suffix))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one event for {location_suffix}: {events:#?}"
    );
    found[0]
}
