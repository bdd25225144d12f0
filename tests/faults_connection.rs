//! The fault matrix (`tests/common/faults.rs` says what every case shows): connections refused,
//! answers broken off, the collector going down and coming back, TLS to a plain-HTTP collector,
//! and reqwest's transport under the faults it handles itself.

mod common;
use common::faults::{
    assert_accounted, assert_collector_agrees, assert_payloads_valid, collector, drive,
    drive_bounded, layer, leaked, ms, policy, router, Outcomes, MARGIN,
};
use common::wait_until;

use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tower_ga::collector::Faults;
use tower_ga::{
    BoxFuture, GaLayer, HyperTransport, Outgoing, Reply, ReqwestTransport, RetryPolicy, Transport,
    TransportError,
};

/// Nothing listens on the endpoint's port: every attempt is refused at once, retried to the
/// bound, then given up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections() {
    check_refused(|ga| ga).await;
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// [`refused_connections`], with the layer given a transport by `with`.
async fn check_refused(with: impl FnOnce(GaLayer) -> GaLayer) {
    let port = closed_port();
    let outcomes = Outcomes::default();
    let ga = with(layer(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(2),
        policy(2, ms(20)),
        &outcomes,
    ));
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..20).await;
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(
        (s.sent, s.failed, s.retried),
        (0, 20, 2 * s.batches),
        "{s:?}"
    );
    let all = outcomes.all();
    assert_eq!(all.len() as u64, s.batches);
    for (ok, o) in all {
        assert!(!ok);
        assert_eq!((o.attempts, o.status), (3, None), "{o:?}");
        assert_no_secret(o.error.as_deref());
    }
}

/// A failed batch's error says something, and not the API secret.
fn assert_no_secret(error: Option<&str>) {
    let error = error.expect("a failed attempt has an error");
    assert!(!error.is_empty());
    assert_eq!(leaked(error), None, "{error}");
}

/// The collector sends a status line and part of a body, then closes the connection: the sender
/// can't know whether the hits were taken, retries to the bound and fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_mid_response() {
    let c = collector(Faults::none().close_mid_response(true)).await;
    let outcomes = Outcomes::default();
    let ga = layer(
        &c.url(),
        Duration::from_secs(2),
        policy(2, ms(20)),
        &outcomes,
    );
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..20).await;
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(
        (s.sent, s.failed, s.retried),
        (0, 20, 2 * s.batches),
        "{s:?}"
    );
    for (ok, o) in outcomes.all() {
        assert!(!ok);
        assert_eq!(o.attempts, 3);
    }
    let counts = c.counts();
    assert_eq!(counts.requests, 3 * s.batches);
    assert_eq!(
        (counts.hits_seen, counts.hits_broken),
        (60, 60),
        "{counts:?}"
    );
    assert_collector_agrees(&c, &s, &outcomes);
    assert_payloads_valid(&c);
}

/// A broken answer, then a good one: sent once, accepted once; the broken attempts are the
/// possible duplicates, `hits_seen == hits_accepted + hits_broken`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_answer_then_recovery_may_duplicate() {
    check_broken_answer_then_recovery(|ga| ga).await;
}

/// [`broken_answer_then_recovery_may_duplicate`], with the layer given a transport by `with`.
async fn check_broken_answer_then_recovery(with: impl FnOnce(GaLayer) -> GaLayer) {
    let c = collector(Faults::none().close_mid_response(true)).await;
    let outcomes = Outcomes::default();
    let ga = with(layer(
        &c.url(),
        Duration::from_secs(2),
        policy(4, ms(200)),
        &outcomes,
    ));
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..1).await;
    wait_until("a broken answer", || c.counts(), |n| n.hits_broken >= 1).await;
    c.set_faults(Faults::none());
    assert!(handle.flush(MARGIN).await);

    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!((s.tracked, s.sent), (1, 1), "{s:?}");
    let counts = c.counts();
    assert_eq!(counts.hits_accepted, 1);
    assert!(counts.hits_broken >= 1);
    assert_eq!(counts.hits_seen, counts.hits_accepted + counts.hits_broken);
    assert_collector_agrees(&c, &s, &outcomes);
    assert_payloads_valid(&c);
}

/// Counts the attempts that got no answer, around the default transport.
struct Counting {
    inner: HyperTransport,
    errors: Arc<AtomicUsize>,
}

impl Transport for Counting {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        let errors = self.errors.clone();
        let sent = self.inner.send(request);
        Box::pin(async move {
            let r = sent.await;
            if r.is_err() {
                errors.fetch_add(1, Ordering::SeqCst);
            }
            r
        })
    }
}

/// The collector goes down while requests keep coming, then comes back on the same port: the
/// responses never notice, and the retries deliver every hit.
///
/// A batch whose request the collector had read when it went down may have been accepted but not
/// answered, then accepted again on retry: so `sent <= hits_accepted <= sent + hits in flight at
/// the stop` (at most `max_concurrency` batches of 25), and `hits_seen == hits_accepted` (no
/// fault injected, so every request read is accepted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_then_back_mid_run() {
    let c = collector(Faults::none()).await;
    let outcomes = Outcomes::default();
    let errors = Arc::new(AtomicUsize::new(0));
    let transport = Counting {
        inner: HyperTransport::new(4).unwrap(),
        errors: errors.clone(),
    };
    let retry = RetryPolicy::default()
        .max_retries(50)
        .base_backoff(ms(20))
        .max_backoff(ms(100))
        .max_retry_after(Duration::from_secs(5))
        .retry_unconfirmed(true);
    let ga = layer(&c.url(), Duration::from_secs(2), retry, &outcomes).transport(transport);
    let handle = ga.handle();
    let app = router(ga);

    // The driver waits for the test twice: at request 150 until the collector is down, and 30
    // requests later until it is back. Requests come before, during and after the outage
    // however fast or slow the machine.
    let (down, mut down_rx) = tokio::sync::oneshot::channel::<()>();
    let (up, mut up_rx) = tokio::sync::oneshot::channel::<()>();
    let driver = {
        let app = app.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                match i {
                    150 => (&mut down_rx).await.unwrap(),
                    180 => (&mut up_rx).await.unwrap(),
                    _ => {}
                }
                drive(&app, i..i + 1).await;
                // Pacing, not a wait: batches keep going out, so one may be in flight at the stop.
                tokio::time::sleep(ms(2)).await;
            }
        })
    };
    wait_until(
        "some hits are accepted",
        || c.counts(),
        |n| n.hits_accepted >= 20,
    )
    .await;
    c.stop().await;
    let tracked_at_stop = handle.stats().tracked;
    down.send(()).unwrap();
    wait_until(
        "attempts are refused while down",
        || errors.load(Ordering::SeqCst),
        |&e| e >= 5,
    )
    .await;
    wait_until(
        "requests keep coming while down",
        || handle.stats(),
        |s| s.tracked >= tracked_at_stop + 30,
    )
    .await;
    c.resume().await.unwrap();
    up.send(()).unwrap();
    tokio::time::timeout(MARGIN, driver).await.unwrap().unwrap();

    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(
        (s.tracked, s.sent, s.failed, s.dropped),
        (300, 300, 0, 0),
        "{s:?}"
    );
    assert!(s.retried >= 1, "{s:?}");
    let counts = c.counts();
    assert_eq!(counts.hits_seen, counts.hits_accepted, "{counts:?}");
    assert!(counts.hits_accepted >= s.sent, "{counts:?}");
    assert!(counts.hits_accepted <= s.sent + 4 * 25, "{counts:?}");
    // Every attempt reached the collector or failed in the transport; an attempt the collector
    // had read when it went down did both.
    let (attempts, either) = (
        outcomes.attempts(),
        counts.requests + errors.load(Ordering::SeqCst) as u64,
    );
    assert!(
        attempts <= either && either <= attempts + 4,
        "{attempts} {either}"
    );
    assert_payloads_valid(&c);
    assert!(handle.shutdown(Duration::from_secs(2)).await);
}

/// The other transport, reqwest's, under the faults whose handling is the transport's own: a
/// refused connection is an error that is retried to the bound and doesn't name the API secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_through_reqwest() {
    check_refused(|ga| ga.transport(ReqwestTransport::default_client(4).unwrap())).await;
}

/// A broken answer through reqwest: an error, retried, then delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_answer_then_recovery_through_reqwest() {
    check_broken_answer_then_recovery(|ga| {
        ga.transport(ReqwestTransport::default_client(4).unwrap())
    })
    .await;
}

/// The default transport speaks TLS to an `https://` endpoint: pointed at the plain-HTTP
/// collector, every attempt fails in the handshake and is retried to the bound, the batch is
/// counted as failed, its error doesn't name the secret, and the collector accepts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_plain_http_collector_fails_in_the_handshake() {
    let c = collector(Faults::none()).await;
    let outcomes = Outcomes::default();
    let url = c.url().replacen("http://", "https://", 1);
    let ga = layer(&url, Duration::from_secs(2), policy(1, ms(20)), &outcomes);
    let handle = ga.handle();
    let app = router(ga);
    drive_bounded(&app, 0..2).await;
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!((s.sent, s.failed), (0, 2), "{s:?}");
    assert_eq!(c.counts().hits_accepted, 0);
    for (ok, o) in outcomes.all() {
        assert!(!ok);
        assert_eq!(o.attempts, 2, "{o:?}");
        assert_no_secret(o.error.as_deref());
    }
}
