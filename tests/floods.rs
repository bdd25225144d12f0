//! A flood of new identities (a random `Authorization` on every request) while the collector is
//! slow: known consumers keep every hit, the flood goes out coalesced under one client id, and what
//! the sender can't hold of it is dropped and counted, never a known consumer's hit.

mod common;
use common::ga4::WAIT;
use common::get_req;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tower_ga::collector::{Collector, CollectorConfig, Faults};
use tower_ga::GaLayer;

/// A collector 20 ms away, and a layer whose queue holds a whole run: nothing is shed on the
/// request path, so what happens is the sender's doing. It holds 4,096 hits in batches; 25
/// events a request at most.
async fn rig() -> (Collector, GaLayer) {
    let c = Collector::start(
        CollectorConfig::default().faults(Faults::none().sleep(Duration::from_millis(20))),
    )
    .await
    .unwrap();
    let ga = GaLayer::new("G-TEST123")
        .api_secret("test-secret")
        .endpoint(c.url())
        .queue_capacity(30_000)
        .max_concurrency(4);
    (c, ga)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_new_identities_cannot_starve_known_consumers() {
    let (c, ga) = rig().await;
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    let known: Vec<String> = (0..20).map(|k| format!("Bearer known-{k:02}")).collect();
    for token in &known {
        get_req(&app, "/a?warm", &[("authorization", token)]).await;
    }
    assert!(handle.flush(WAIT).await);
    // While the flood comes, the collector takes a second a request (at most 100 events a
    // second at 4 requests in flight), so the queue passes half full whatever the machine's
    // speed, and the crowd drops; then it answers in 20 ms again, for the drain.
    c.set_faults(Faults::none().sleep(Duration::from_secs(1)));
    let (flood, per_known) = (20_000, 100);
    for i in 0..flood {
        let token = format!("Bearer flood-{i:06}");
        get_req(&app, "/a?flood", &[("authorization", &token)]).await;
        if i % 10 == 0 {
            let token = &known[(i / 10) % known.len()];
            get_req(&app, "/a?known", &[("authorization", token)]).await;
        }
    }
    c.set_faults(Faults::none().sleep(Duration::from_millis(20)));
    assert!(handle.flush(WAIT * 3).await, "{:?}", handle.stats());
    let s = handle.stats();
    assert_eq!(s.sent + s.dropped + s.failed, s.tracked, "{s:?}");
    assert_eq!(s.failed, 0, "{s:?}");

    let events = c.ga4_events();
    let location = |e: &tower_ga::testing::RecordedEvent| {
        e.param_str("page_location").unwrap_or("").to_owned()
    };
    let mut known_ids = HashSet::new();
    let mut per_client: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &events {
        if location(e).ends_with("?warm") {
            known_ids.insert(e.client_id.clone());
        }
    }
    assert_eq!(known_ids.len(), known.len());
    let mut known_events = 0;
    let mut flood_clients: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &events {
        let loc = location(e);
        if loc.ends_with("?known") {
            assert!(
                known_ids.contains(&e.client_id),
                "a known hit left as {e:?}"
            );
            *per_client.entry(&e.client_id).or_default() += 1;
            known_events += 1;
        } else if loc.ends_with("?flood") {
            *flood_clients.entry(&e.client_id).or_default() += 1;
        }
    }
    // Every known consumer's every hit arrived, as itself.
    assert_eq!(known_events, flood / 10, "{s:?}");
    assert!(
        per_client.values().all(|&n| n == per_known),
        "{per_client:?}"
    );
    // The flood: a few hundred went out as themselves before the sender fell behind; the rest
    // were coalesced under one id (25 to a request) or dropped, and counted.
    let (crowd_id, crowd_events) = flood_clients
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(id, n)| (id.to_string(), *n))
        .unwrap();
    assert!(!known_ids.contains(&crowd_id));
    let flood_sent: usize = flood_clients.values().sum();
    assert_eq!(flood_sent as u64 + s.crowd_dropped, flood as u64, "{s:?}");
    assert_eq!(crowd_events as u64, s.crowded, "{s:?}");
    assert!(s.crowded > 0 && s.crowd_dropped > 0, "{s:?}");
    assert_eq!(s.dropped, s.crowd_dropped, "{s:?}");
    for e in events.iter().filter(|e| e.client_id == crowd_id) {
        assert_eq!(
            (e.user_agent.as_deref(), e.user_id.as_deref()),
            (None, None)
        );
    }
    // Coalesced, the flood took far fewer requests than hits (one each, without).
    assert!(c.counts().requests < s.tracked / 4, "{:?}", c.counts());
}

/// A burst of new consumers that the queue holds with room to spare is coalesced, not dropped:
/// the crowd drops only while the queue is at least half full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_the_queue_holds_is_coalesced_not_dropped() {
    let (c, ga) = rig().await;
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    // 12,000: under half the queue, and three times the sender's hold.
    let burst = 12_000;
    for i in 0..burst {
        let token = format!("Bearer burst-{i:06}");
        get_req(&app, "/a", &[("authorization", &token)]).await;
    }
    assert!(handle.flush(WAIT * 3).await, "{:?}", handle.stats());
    let s = handle.stats();
    assert_eq!((s.tracked, s.sent, s.dropped), (burst, burst, 0), "{s:?}");
    // More than the quarter of the hold (1,024) the crowd keeps while the queue is pressed.
    assert!(s.crowded > 1_024, "{s:?}");
    assert_eq!(c.counts().hits_accepted, burst);
}
