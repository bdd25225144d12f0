//! GA4 end to end (real axum routers, a real collector on 127.0.0.1, real HTTP in between): who a
//! hit is from: user ids from wherever they are set, client ids stable per consumer and revealing
//! nothing, keyed per layer unless the key is shared, random per request or the application's own.

mod common;
use common::ga4::{collector, layer, one, settle, WAIT};
use common::get_req;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use tower_ga::{ClientIdStrategy, Hit, UserId};

#[tokio::test]
async fn user_id_from_route_layer_handler_or_outer_middleware() {
    async fn outer(mut req: Request, next: Next) -> Response {
        req.extensions_mut().insert(UserId::new("from-outer"));
        next.run(req).await
    }
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    let app = Router::new()
        .route(
            "/layer",
            get(|| async { "x" }).layer(UserId::new("from-layer")),
        )
        .route(
            "/handler",
            get(|| async { (Extension(UserId::new("from-handler")), "x") }),
        )
        .route("/outer", get(|| async { "x" }))
        .layer(ga)
        .layer(middleware::from_fn(outer));
    for p in ["/layer", "/handler", "/outer"] {
        get_req(&app, p, &[]).await;
    }
    let events = settle(&handle, &c).await;
    // The outer middleware sets a user for every request; the response's markers win.
    assert_eq!(
        one(&events, "/layer").user_id.as_deref(),
        Some("from-layer")
    );
    assert_eq!(
        one(&events, "/handler").user_id.as_deref(),
        Some("from-handler")
    );
    assert_eq!(
        one(&events, "/outer").user_id.as_deref(),
        Some("from-outer")
    );
}

#[tokio::test]
async fn client_ids_are_stable_per_consumer_and_reveal_nothing() {
    let c = collector().await;
    let ga = layer(&c);
    let handle = ga.handle();
    let app = Router::new()
        .route("/a", get(|| async { "x" }))
        .route("/u", get(|| async { (Extension(UserId::new("u-1")), "x") }))
        .layer(ga);
    for _ in 0..3 {
        get_req(
            &app,
            "/a?who=alice",
            &[("authorization", "Bearer alice-token")],
        )
        .await;
        get_req(&app, "/a?who=bob", &[("authorization", "Bearer bob-token")]).await;
    }
    get_req(&app, "/u?n=1", &[("authorization", "Bearer alice-token")]).await;
    get_req(&app, "/u?n=2", &[("authorization", "Bearer bob-token")]).await;
    get_req(&app, "/a?who=anon1", &[]).await;
    get_req(&app, "/a?who=anon2", &[]).await;
    let events = settle(&handle, &c).await;
    let ids = |suffix: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.param_str("page_location").unwrap().ends_with(suffix))
            .map(|e| e.client_id.clone())
            .collect()
    };
    let alice = ids("who=alice");
    let bob = ids("who=bob");
    assert_eq!(alice.len(), 3);
    assert!(alice.iter().all(|i| i == &alice[0]));
    assert!(bob.iter().all(|i| i == &bob[0]));
    assert_ne!(alice[0], bob[0]);
    // A user id outranks the credential: the same user from two credentials is one client.
    assert_eq!(ids("n=1"), ids("n=2"));
    assert_ne!(ids("n=1")[0], alice[0]);
    // Anonymous requests without an IP get random ids.
    assert_ne!(ids("who=anon1"), ids("who=anon2"));
    for e in &events {
        let (a, b) = e.client_id.split_once('.').expect("GA4 form");
        assert!(a.parse::<u64>().unwrap() > 0 && b.parse::<u64>().unwrap() > 0);
        assert!(!e.client_id.contains("alice") && !e.client_id.contains("token"));
    }
    // One consumer's requests share a session.
    let sessions: Vec<u64> = events
        .iter()
        .filter(|e| e.param_str("page_location").unwrap().ends_with("who=alice"))
        .map(|e| e.param_u64("session_id").unwrap())
        .collect();
    assert!(sessions.iter().all(|s| *s == sessions[0]));
}

#[tokio::test]
async fn client_id_keys_differ_per_layer_unless_shared() {
    let c = collector().await;
    let mk = |key: Option<&str>| {
        let l = layer(&c);
        match key {
            Some(k) => l.client_id_key(k),
            None => l,
        }
    };
    let mut ids = Vec::new();
    for key in [None, None, Some("shared"), Some("shared")] {
        let ga = mk(key);
        let handle = ga.handle();
        let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
        get_req(&app, "/a", &[("authorization", "Bearer same")]).await;
        assert!(handle.flush(WAIT).await);
        ids.push(c.ga4_events().last().unwrap().client_id.clone());
    }
    assert_ne!(ids[0], ids[1], "random per-process keys");
    assert_eq!(ids[2], ids[3], "a shared key agrees across instances");
}

#[tokio::test]
async fn random_per_request_strategy_and_custom_hooks() {
    let c = collector().await;
    let ga = layer(&c).client_id_strategy(ClientIdStrategy::RandomPerRequest);
    let handle = ga.handle();
    let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
    get_req(&app, "/a", &[("authorization", "Bearer same")]).await;
    get_req(&app, "/a", &[("authorization", "Bearer same")]).await;
    let events = settle(&handle, &c).await;
    assert_ne!(events[0].client_id, events[1].client_id);

    let c = collector().await;
    let ga = layer(&c)
        .client_id_with(|hit: &Hit| {
            hit.path()
                .strip_prefix("/tenant/")
                .map(|t| format!("{}.1", t.len()))
        })
        .title_with(|hit: &Hit| {
            Some(format!(
                "{} (status {})",
                hit.method(),
                hit.status().as_u16()
            ))
        });
    let handle = ga.handle();
    let app = Router::new()
        .route("/tenant/{t}", get(|| async { "x" }))
        .layer(ga);
    get_req(&app, "/tenant/abcd", &[]).await;
    let events = settle(&handle, &c).await;
    assert_eq!(events[0].client_id, "4.1");
    assert_eq!(events[0].param_str("page_title"), Some("GET (status 200)"));
}

/// Two replicas with one shared key (two layers in one process, each its own sender) give the same
/// consumer the same client id and session id; another key gives others.
#[tokio::test]
async fn replicas_with_a_shared_key_agree_on_client_and_session_ids() {
    let c = collector().await;
    let replica = |key: &str| {
        let ga = layer(&c).client_id_key(key);
        let handle = ga.handle();
        let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
        (app, handle)
    };
    let mut seen = Vec::new();
    for key in ["fleet secret", "fleet secret", "another secret"] {
        let (app, handle) = replica(key);
        for token in ["Bearer one", "Bearer two"] {
            get_req(&app, "/a", &[("authorization", token)]).await;
        }
        assert!(handle.flush(WAIT).await);
        let events = c.ga4_events();
        let mine = &events[events.len() - 2..];
        let mut ids: Vec<_> = mine
            .iter()
            .map(|e| (e.client_id.clone(), e.param_u64("session_id")))
            .collect();
        ids.sort();
        seen.push(ids);
    }
    assert_eq!(seen[0], seen[1], "replicas agree");
    assert_ne!(seen[0][0].0, seen[0][1].0, "consumers differ");
    // Derived sessions: each consumer's window has an offset of its own, so two consumers first
    // seen in the same second have different session ids (per process, they would share one).
    assert_ne!(seen[0][0].1, seen[0][1].1);
    for (id, _) in &seen[2] {
        assert!(
            seen[0].iter().all(|(other, _)| other != id),
            "another key, other ids"
        );
    }
    assert!(seen[0].iter().all(|(_, s)| s.is_some_and(|s| s > 0)));
}

/// GA keeps 100,000 events per user and day: past the threshold (10 here) a consumer goes on
/// under sibling ids, each taking at most the threshold, alike in every replica with the key.
#[tokio::test]
async fn a_heavy_consumer_is_spread_over_sibling_ids_before_the_daily_cap() {
    let mut runs = Vec::new();
    for _replica in 0..2 {
        let c = collector().await;
        let ga = layer(&c)
            .client_id_key("fleet secret")
            .daily_events_per_client_id(10);
        let handle = ga.handle();
        let app = Router::new().route("/a", get(|| async { "x" })).layer(ga);
        for _ in 0..35 {
            get_req(&app, "/a", &[("authorization", "Bearer heavy")]).await;
        }
        get_req(&app, "/a", &[("authorization", "Bearer light")]).await;
        let mine = settle(&handle, &c).await;
        let mut per_id = std::collections::BTreeMap::<String, usize>::new();
        for e in mine {
            *per_id.entry(e.client_id.clone()).or_default() += 1;
        }
        let mut counts: Vec<usize> = per_id.values().copied().collect();
        counts.sort();
        // The light consumer, the heavy one's last 5, and three ids of 10 each.
        assert_eq!(counts, [1, 5, 10, 10, 10], "{per_id:?}");
        assert_eq!(handle.stats().consumers_spread, 1);
        runs.push(per_id);
    }
    assert_eq!(runs[0], runs[1], "replicas spread alike");
}
