//! The fault matrix (`tests/common/faults.rs` says what every case shows): sustained load while
//! nothing is delivered: the queue bound, shedding while the queue is full, and one probe batch
//! after a pause.

mod common;
use common::faults::{assert_accounted, drive_bounded, layer, ms, router, Outcomes, MARGIN};
use common::wait_until;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tower_ga::collector::{Collector, CollectorConfig, Faults};
use tower_ga::{BoxFuture, GaLayer, Outgoing, Reply, RetryPolicy, Transport, TransportError};

/// The collector hangs under sustained load: the queue fills, hits are dropped and counted, and
/// what the sender holds stops growing.
///
/// The bound, from `src/pipeline/worker.rs`: the queue holds `queue_capacity` hits; the worker
/// stops taking hits off it once its batcher holds `queue_capacity.clamp(256, 4096)` (256 here,
/// which `hold` below computes as `max(25 · max_concurrency · 2, 256)`); and at most
/// `max_concurrency` batches of 25 are in flight. So
/// `pending <= queue_capacity + hold + 25 · max_concurrency`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_bound_holds_while_the_collector_hangs() {
    let c = Collector::start(
        CollectorConfig::default()
            .faults(Faults::none().hang(true))
            .record(false),
    )
    .await
    .unwrap();
    let (capacity, concurrency) = (64u64, 2u64);
    let outcomes = Outcomes::default();
    let ga = layer(
        &c.url(),
        Duration::from_secs(60),
        RetryPolicy::none(),
        &outcomes,
    )
    .max_concurrency(concurrency as usize)
    .queue_capacity(capacity as usize);
    let handle = ga.handle();
    let app = router(ga);
    let hold = (25 * concurrency * 2).max(256);
    let bound = capacity + hold + 25 * concurrency;

    let total = 10_000u32;
    let mut max_pending = 0;
    let mut dropped_seen = Vec::new();
    for chunk in 0..total / 250 {
        drive_bounded(&app, chunk * 250..(chunk + 1) * 250).await;
        let s = handle.stats();
        assert!(
            s.pending <= bound,
            "pending {} > bound {bound}: {s:?}",
            s.pending
        );
        max_pending = max_pending.max(s.pending);
        dropped_seen.push(s.dropped);
        tokio::task::yield_now().await;
    }
    let s = handle.stats();
    assert_eq!(s.tracked, u64::from(total));
    assert_eq!(s.sent, 0);
    assert!(s.dropped >= u64::from(total) - bound, "{s:?}");
    assert!(
        max_pending >= capacity,
        "the queue never filled: {max_pending}"
    );
    // Dropping kept up with the load: it grew in every chunk once the queue was full.
    assert!(
        dropped_seen.windows(2).skip(2).all(|w| w[1] > w[0]),
        "{dropped_seen:?}"
    );

    assert!(!handle.shutdown(ms(200)).await);
    wait_until(
        "the abandoned hits are counted",
        || handle.stats(),
        |s| s.pending == 0,
    )
    .await;
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(
        (s.sent, s.failed, s.dropped),
        (0, 0, u64::from(total)),
        "{s:?}"
    );
    assert_eq!(c.counts().hits_accepted, 0);
    assert_eq!(c.counts().hits_invalid, 0);
}

/// A transport whose requests wait until the test opens the gate, then go to a recorder.
struct Gated {
    open: tokio::sync::watch::Receiver<bool>,
    inner: tower_ga::testing::RecordingTransport,
}

impl Transport for Gated {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        let mut open = self.open.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            let _ = open.wait_for(|o| *o).await;
            inner.send(request).await
        })
    }
}

/// While the queue is full, requests are not captured at all (the filter is never asked): each
/// is counted as dropped when its response comes. Once the sender takes hits again, requests are
/// captured again, and everything captured is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_sheds_requests_until_the_sender_takes_hits_again() {
    let (gate, open) = tokio::sync::watch::channel(false);
    let recorder = tower_ga::testing::RecordingTransport::new();
    let asked = Arc::new(AtomicUsize::new(0));
    let (capacity, concurrency) = (64u64, 2u64);
    let ga = GaLayer::new("G-SHED1")
        .api_secret("shed-secret")
        .transport(Gated {
            open,
            inner: recorder.clone(),
        })
        .queue_capacity(capacity as usize)
        .max_concurrency(concurrency as usize)
        .flush_interval(ms(20))
        .filter({
            let asked = asked.clone();
            move |_: &tower_ga::Hit| {
                asked.fetch_add(1, Ordering::SeqCst);
                true
            }
        });
    let handle = ga.handle();
    let app = router(ga);
    // What the queue, the sender's hold and its requests in flight can take (see
    // `queue_bound_holds_while_the_collector_hangs`).
    let bound = capacity + (25 * concurrency * 2).max(256) + 25 * concurrency;

    let total = 2_000u64;
    drive_bounded(&app, 0..total as u32).await;
    let captured = asked.load(Ordering::SeqCst) as u64;
    let s = handle.stats();
    assert_eq!((s.tracked, s.sent, s.failed), (total, 0, 0), "{s:?}");
    let held = s.pending;
    assert!((capacity..=bound).contains(&held), "{s:?}");
    // A captured hit that found the queue full was dropped and stopped the capture; the worker
    // restarts it only after taking a hit, so there are at most as many of those as held hits.
    let found_full = captured - held;
    assert!(found_full <= held, "{captured} captured, {s:?}");
    // Everything else was shed: counted as dropped, never captured.
    assert_eq!(s.dropped, (total - captured) + found_full, "{s:?}");
    assert!(total - captured >= total - 2 * bound, "{captured} captured");

    // The held requests go out; the worker takes hits again, and capture resumes (a burst that
    // fits in the queue).
    gate.send(true).unwrap();
    assert!(handle.flush(MARGIN).await);
    let before = asked.load(Ordering::SeqCst);
    let more = capacity - 1;
    drive_bounded(&app, total as u32..(total + more) as u32).await;
    assert_eq!(
        (asked.load(Ordering::SeqCst) - before) as u64,
        more,
        "capture resumed"
    );
    assert!(handle.flush(MARGIN).await);
    let s = handle.stats();
    assert_accounted(&s);
    assert_eq!(s.tracked, total + more);
    assert_eq!(s.sent, recorder.ga4_events().len() as u64);
    // The held hits and the last burst were sent; the rest, shed or not, dropped.
    assert_eq!(s.sent, held + more, "{s:?}");
    assert_eq!(s.dropped, (total - captured) + found_full, "{s:?}");
}

/// A transport that never gets an answer, and logs when it was asked to send how many hits.
#[derive(Clone, Default)]
struct NoAnswer(Arc<Mutex<Vec<(Instant, usize)>>>);

impl NoAnswer {
    fn log(&self) -> Vec<(Instant, usize)> {
        self.0.lock().unwrap().clone()
    }
}

impl Transport for NoAnswer {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        self.0
            .lock()
            .unwrap()
            .push((Instant::now(), request.hits()));
        Box::pin(std::future::ready(Err(TransportError::new(
            "connection refused",
        ))))
    }
}

/// While the collector is unreachable the sender pauses, then sends one batch's worth of hits as
/// a probe and takes no more until a batch is delivered: it doesn't encode the whole backlog only
/// to fail it, on what may be the application's core.
///
/// Shown by the transport's log, not by how long anything took: after a failure the sender takes
/// nothing for its pause (1 s at least), and then one probe of at most 25 hits, which fails in
/// turn. So sends less than 1 s apart belong to one probe, and carry 25 hits at most together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_pause_the_sender_probes_with_one_batch() {
    let transport = NoAnswer::default();
    let retry = RetryPolicy::none()
        .base_backoff(ms(10))
        .max_backoff(ms(1500))
        .max_retry_after(Duration::from_secs(5))
        .retry_unconfirmed(false);
    let ga = GaLayer::new("G-PROBE1")
        .api_secret("probe-secret")
        .transport(transport.clone())
        .retry(retry)
        .queue_capacity(1000)
        .flush_interval(ms(20));
    let handle = ga.handle();
    let app = router(ga);

    drive_bounded(&app, 0..50).await;
    wait_until(
        "the first batches fail",
        || handle.stats(),
        |s| s.failed == 50,
    )
    .await;
    // Every later send carries hits of the backlog, queued while the sender is paused.
    let first = transport.log().len();
    drive_bounded(&app, 50..650).await;
    wait_until("the probe is sent", || handle.stats(), |s| s.failed > 50).await;
    // Bounds the wait for what must not come: more of the backlog within the pause that follows
    // the probe's failure (without it, all of the backlog would go within milliseconds).
    tokio::time::sleep(ms(200)).await;
    let backlog = &transport.log()[first..];
    let start = backlog[0].0;
    for (j, &(at, _)) in backlog.iter().enumerate() {
        let together: usize = backlog[..=j]
            .iter()
            .filter(|(earlier, _)| at - *earlier < Duration::from_secs(1))
            .map(|(_, hits)| hits)
            .sum();
        let log: Vec<_> = backlog.iter().map(|(t, n)| (*t - start, n)).collect();
        assert!(together <= 25, "{together} hits within 1 s: {log:?}");
    }
    // Shutdown still accounts for the backlog, and every hit that failed was attempted once.
    handle.shutdown(ms(300)).await;
    let s = wait_until(
        "everything is counted",
        || handle.stats(),
        |s| s.pending == 0,
    )
    .await;
    assert_accounted(&s);
    let attempted: usize = transport.log().iter().map(|(_, hits)| hits).sum();
    assert_eq!(attempted as u64, s.failed, "{s:?}");
}
