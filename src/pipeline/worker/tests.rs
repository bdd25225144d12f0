use super::*;
use crate::testing::RecordingTransport;

/// A worker whose polls are an hour apart takes a pile-up of hits when nudged: only the
/// nudge can have woken it.
#[test]
fn a_pile_up_wakes_a_worker_whose_next_poll_is_an_hour_away() {
    let capacity = 256;
    let mut cfg = Config::default();
    cfg.sender.queue_capacity = capacity;
    let cfg = Arc::new(cfg);
    let recorder = Arc::new(RecordingTransport::new());
    let running = Arc::new(Running {
        config: cfg,
        queue: crossbeam_queue::ArrayQueue::new(capacity),
        pool: super::super::pool::HitPool::new(capacity),
        nudge: super::super::nudge::Nudge::new(capacity),
        gate: Default::default(),
        usage: Default::default(),
    });
    let (queue, nudge) = (&running.queue, &running.nudge);
    let mut worker = Worker::new(
        running.clone(),
        Protocol::Ga4,
        Arc::default(),
        recorder.clone(),
        Arc::new(RateLimited::new(Duration::from_secs(10))),
    );
    let hour = Duration::from_secs(3600);
    worker.polls = (hour, hour);
    let hit = |client: &str| {
        let req = http::Request::get("https://api.test/a")
            .header("authorization", format!("Bearer {client}"))
            .body(())
            .unwrap();
        let mut hit = Box::new(Hit::from_request(&req, false));
        hit.stamp();
        hit
    };
    let wait_for = |requests: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while recorder.requests().len() < requests && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        recorder.requests().len()
    };
    // Queued before the worker starts, so its first take finds it; its batch goes out at the
    // flush interval. After that take, the next poll is an hour away.
    queue.push(hit("first")).unwrap();
    let (ctl, ctl_rx) = mpsc::unbounded_channel();
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(worker.run(ctl_rx))
    });
    assert_eq!(wait_for(1), 1);

    // Another client, whose every 25 hits fill a batch that goes out as soon as it is full.
    // Queued first, then one look, as the request path's 128th would make: the worker can't
    // take some before the look and leave the rest below a quarter.
    for _ in 0..100 {
        queue.push(hit("second")).unwrap();
    }
    nudge.after_push(128, queue);
    assert_eq!(wait_for(5), 5, "only the nudge can have woken the worker");
    assert!(queue.is_empty());

    let (tx, rx) = oneshot::channel();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    ctl.send(Control::Shutdown(deadline, tx)).ok().unwrap();
    thread.join().unwrap();
    assert_eq!(rx.blocking_recv(), Ok(true));
}
