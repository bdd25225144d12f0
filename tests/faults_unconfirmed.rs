//! Google's reference advises against resending a request that may have arrived: by default the
//! sender retries only attempts that provably didn't count (no connection; `5xx`, `408`, `429`),
//! and counts the rest as `unconfirmed`; `retry_unconfirmed` brings those retries back, counted.

mod common;
use common::faults::{collector, drive, layer, ms, router, Outcomes};

use std::net::TcpListener;
use std::time::Duration;

use tower_ga::collector::Faults;
use tower_ga::RetryPolicy;

fn policy(retry_unconfirmed: bool) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(2)
        .base_backoff(ms(10))
        .retry_unconfirmed(retry_unconfirmed)
}

#[tokio::test]
async fn an_attempt_that_may_have_arrived_is_not_resent_unless_asked() {
    for (faults, what) in [
        (Faults::none().close_mid_response(true), "broken answer"),
        (Faults::none().sleep(ms(400)), "timeout"),
    ] {
        for opt_in in [false, true] {
            let c = collector(faults.clone()).await;
            let outcomes = Outcomes::default();
            let ga = layer(&c.url(), ms(150), policy(opt_in), &outcomes);
            let handle = ga.handle();
            let app = router(ga);
            drive(&app, 0..3).await;
            assert!(handle.flush(Duration::from_secs(20)).await);
            let s = handle.stats();
            let attempts = c.counts().requests;
            if opt_in {
                assert_eq!(s.retried, 2 * s.batches, "{what}: {s:?}");
                assert_eq!(s.retried_unconfirmed, s.retried, "{what}: {s:?}");
                assert_eq!(attempts, 3 * s.batches, "{what}");
            } else {
                assert_eq!((s.retried, s.retried_unconfirmed), (0, 0), "{what}: {s:?}");
                assert_eq!(attempts, s.batches, "{what}: sent once each");
            }
            assert_eq!(
                (s.failed, s.failed_unconfirmed),
                (3, 3),
                "{what} {opt_in}: {s:?}"
            );
        }
    }
}

#[tokio::test]
async fn attempts_that_never_connected_and_5xx_answers_are_retried() {
    // Nothing listens: no attempt reached anyone.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let outcomes = Outcomes::default();
    let ga = layer(
        &format!("http://127.0.0.1:{port}"),
        ms(500),
        policy(false),
        &outcomes,
    );
    let handle = ga.handle();
    drive(&router(ga), 0..3).await;
    assert!(handle.flush(Duration::from_secs(20)).await);
    let s = handle.stats();
    assert_eq!((s.failed, s.failed_unconfirmed), (3, 0), "{s:?}");
    assert_eq!(s.retried, 2 * s.batches, "{s:?}");
    assert_eq!(s.retried_unconfirmed, 0);

    let c = collector(Faults::none().status(http::StatusCode::SERVICE_UNAVAILABLE)).await;
    let ga = layer(&c.url(), ms(500), policy(false), &outcomes);
    let handle = ga.handle();
    drive(&router(ga), 0..3).await;
    assert!(handle.flush(Duration::from_secs(20)).await);
    let s = handle.stats();
    assert_eq!(s.retried, 2 * s.batches, "{s:?}");
    assert_eq!((s.failed, s.failed_unconfirmed), (3, 0), "{s:?}");
}
