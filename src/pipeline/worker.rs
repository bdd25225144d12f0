//! The background worker: takes hits off the queue, encodes and batches them, sends batches with
//! bounded concurrency, retries, counts, and answers flush and shutdown.
//!
//! It runs on its own thread with a current-thread tokio runtime, so it works the same whether the
//! application runs a multi-thread runtime, a current-thread one, or none, and a blocking flush in
//! the application can never deadlock it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::delivery::{deliver, Done, End};
use super::lifecycle::Running;
use super::nudge::{Listener, NudgeRx};
use super::stats::Counters;
use super::{Control, RateLimited};
use crate::config::Config;
use crate::encode::batch::Batcher;
use crate::encode::{Scratch, Urls};
use crate::hit::{Clocks, Hit};
use crate::hooks::{guarded, BatchOutcome};
use crate::report::sessions::Sessions;
use crate::spec::Protocol;
use crate::transport::Transport;

/// Most session entries kept (about 33 bytes each, with the map's spare room: 3.3 MB at most).
const MAX_SESSIONS: usize = 100_000;
/// The queue is polled at intervals between these two: each wake-up costs the application's
/// core two context switches and the sender's caches, so the interval doubles while a wake-up
/// finds few hits (an eighth of the queue or less) and drops back to the shortest when it finds
/// more. The request path nudges the worker when the queue is a quarter full (`nudge`), so a
/// burst after quiet traffic doesn't wait for the next poll.
const BUSY_POLL: Duration = Duration::from_millis(1);
const IDLE_POLL: Duration = Duration::from_millis(100);
/// The longest interval without nudges (no socket pair): short enough that a burst can't fill a
/// queue of the default size at 100,000 requests per second before the next poll.
const IDLE_POLL_UNNUDGED: Duration = Duration::from_millis(20);
/// Hits encoded between two yields of the thread while the sender is ahead (the queue is less
/// than half full), so that on a busy core the application's threads never wait long behind it.
/// When it falls behind it stops yielding and catches up, rather than let the queue overflow.
const CHUNK: usize = 64;

/// Waits for a nudge, or forever without one.
async fn nudged(listener: &mut Option<Listener>) {
    match listener {
        Some(l) => l.nudged().await,
        None => std::future::pending().await,
    }
}

pub(crate) struct Worker {
    cfg: Arc<Config>,
    protocol: Protocol,
    urls: Arc<Urls>,
    counters: Arc<Counters>,
    transport: Arc<dyn Transport>,
    sessions: Sessions,
    scratch: Scratch,
    batcher: Batcher,
    /// Hits held in the batcher before the worker stops taking more off the queue.
    hold: usize,
    /// Flush epochs: every `flush` closes all open batches and starts a new epoch, so each batch
    /// holds hits of one epoch, and a flush is answered once no hit of its epoch or an earlier
    /// one is unresolved.
    epoch: u64,
    /// Hits taken and not yet sent or failed, per epoch (oldest first; a few entries at most).
    unresolved: VecDeque<(u64, usize)>,
    /// Flushes waiting: the epoch they closed, their deadline, their answer.
    waiters: Vec<(u64, Instant, oneshot::Sender<bool>)>,
    tasks: JoinSet<Done>,
    /// The flush epoch and hit count of each batch in `tasks`: what a task that panicked (a
    /// `Transport` is user code) failed, since its `Done` never comes.
    in_flight: HashMap<tokio::task::Id, (u64, usize)>,
    warn: Arc<RateLimited>,
    /// The queue, the pool encoded hits go back to, the nudge and the gate.
    running: Arc<Running>,
    /// While the collector is unreachable, the worker stops taking hits (they wait in the
    /// queue, or are dropped when it is full) instead of encoding hits bound to fail.
    paused_until: Option<Instant>,
    /// Until when the collector asked to be left alone (`Retry-After` on a failed batch):
    /// nothing is taken or sent before then, not even for a flush. A success doesn't end it.
    rate_limited_until: Option<Instant>,
    unreachable_streak: u32,
    /// After a pause, the worker takes only one batch's worth of hits and sends it as a probe; it
    /// takes more once a batch is delivered. Without this, each pause's end meant encoding a full
    /// hold of hits (thousands, milliseconds of CPU on the application's core, without yielding
    /// since the queue is full) only to fail them.
    probing: bool,
    /// Hits in a probe: one full batch.
    probe_size: usize,
    /// Where the request path's nudges arrive, if it can nudge.
    nudge_rx: Option<NudgeRx>,
    /// The shortest and longest poll intervals (a test stretches them).
    polls: (Duration, Duration),
}

impl Worker {
    pub(crate) fn new(
        running: Arc<Running>,
        protocol: Protocol,
        counters: Arc<Counters>,
        transport: Arc<dyn Transport>,
        warn: Arc<RateLimited>,
        nudge_rx: Option<NudgeRx>,
    ) -> Self {
        let cfg = running.config.clone();
        let limits = protocol.limits(cfg.validation);
        Worker {
            sessions: Sessions::new(cfg.session_timeout.as_secs(), MAX_SESSIONS),
            scratch: Scratch::default(),
            batcher: Batcher::new(limits),
            // Encoded hits held (about half a kilobyte each): enough for batches to fill when
            // many clients are active, bounded by the queue's own size.
            hold: cfg.queue_capacity.clamp(256, 4096),
            running,
            paused_until: None,
            rate_limited_until: None,
            unreachable_streak: 0,
            probing: false,
            probe_size: limits.max_items,
            nudge_rx,
            polls: (BUSY_POLL, IDLE_POLL),
            urls: Arc::new(protocol.urls(&cfg)),
            protocol,
            counters,
            transport,
            epoch: 0,
            unresolved: VecDeque::new(),
            waiters: Vec::new(),
            tasks: JoinSet::new(),
            in_flight: HashMap::new(),
            warn,
            cfg,
        }
    }

    pub(crate) async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<Control>) {
        // A batch goes out when full, or once its first hit has waited the flush interval: checked
        // four times per interval, so no hit waits more than 1.25 intervals for its batch, and a
        // busy client's batch fills before it is sent. (`interval_at`: a plain `interval` ticks at
        // once.)
        let max_wait = self.cfg.flush_interval;
        let period = (max_wait / 4).max(Duration::from_millis(1));
        let mut tick = tokio::time::interval_at(Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut listener = self.nudge_rx.take().map(NudgeRx::listen);
        let (busy_poll, mut idle_poll) = self.polls;
        if !listener.as_ref().is_some_and(Listener::active) {
            idle_poll = idle_poll.min(IDLE_POLL_UNNUDGED);
        }
        // A hit waits in the queue at most a quarter of the flush interval before it is batched.
        idle_poll = idle_poll.min(period).max(busy_poll);
        let mut poll = busy_poll;
        // When to look at the queue next. A deadline, not a fresh sleep per turn of the loop:
        // other events (ticks, finished requests) must not keep postponing it.
        let mut next_take = Instant::now();
        let (deadline, reply) = loop {
            // Whatever woke the worker: a flag left set by a race clears within a tick even while
            // the worker isn't taking hits (held batches at their limit, or paused).
            self.resume_capture();
            self.dispatch();
            // While probing, nothing more is taken until the probe (and anything else in flight)
            // has an answer.
            let accept = self.batcher.len() < self.hold && (!self.probing || self.tasks.is_empty());
            let wake = [self.paused_until, self.rate_limited_until]
                .into_iter()
                .flatten()
                .fold(next_take, Instant::max);
            // Batches held back by a `Retry-After` go out when it ends.
            let held_back = self
                .rate_limited_until
                .filter(|_| !self.batcher.ready.is_empty());
            let next_deadline = self.waiters.iter().map(|w| w.1).min();
            tokio::select! {
                biased;
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    self.joined(joined);
                }
                msg = ctl.recv() => match msg {
                    Some(Control::Flush(deadline, reply)) => {
                        self.drain();
                        self.batcher.close_all();
                        self.waiters.push((self.epoch, Instant::from_std(deadline), reply));
                        self.epoch += 1;
                    }
                    Some(Control::Shutdown(deadline, reply)) => break (Instant::from_std(deadline), Some(reply)),
                    // Every handle and layer is gone: deliver what we have, briefly.
                    None => break (Instant::now() + Duration::from_secs(2), None),
                },
                // Hits piled up before the next poll: look now (unless paused).
                _ = nudged(&mut listener), if accept => next_take = Instant::now(),
                _ = tokio::time::sleep_until(wake), if accept => {
                    if wake <= Instant::now() {
                        let busy = self.take() > self.running.queue.capacity() / 8;
                        poll = if busy { busy_poll } else { (poll * 2).min(idle_poll) };
                    }
                    next_take = Instant::now() + poll;
                }
                _ = sleep_until(next_deadline) => {}
                _ = sleep_until(held_back) => {}
                // Only while a batch is open: an idle sender doesn't wake for it. (A tick
                // missed meanwhile fires at once, closing nothing younger than the interval.)
                _ = tick.tick(), if self.batcher.has_open() => {
                    // `None` (a flush interval longer than the clock has run) closes nothing.
                    if let Some(cutoff) = std::time::Instant::now().checked_sub(max_wait) {
                        self.batcher.close_opened_before(cutoff);
                    }
                }
            }
            self.answer_waiters();
        };

        // Shutdown: stop taking hits, deliver what is held until the deadline, count the rest.
        // From now on requests are dropped without being captured.
        self.running.gate.close();
        self.drain();
        self.batcher.close_all();
        let finished = tokio::time::timeout_at(deadline, async {
            while !self.unresolved.is_empty() {
                self.dispatch();
                if let (true, Some(until)) = (self.tasks.is_empty(), self.rate_limited_until) {
                    // Held back by a `Retry-After`: sent when it ends, if the deadline allows.
                    tokio::time::sleep_until(until).await;
                    continue;
                }
                match self.tasks.join_next_with_id().await {
                    Some(joined) => self.joined(joined),
                    None => break,
                }
            }
        })
        .await
        .is_ok()
            && self.unresolved.is_empty();
        if !finished {
            self.tasks.abort_all();
            let abandoned = self.unresolved.iter().map(|u| u.1).sum();
            self.counters
                .held
                .fetch_sub(abandoned as u64, Ordering::Relaxed);
            Counters::add(&self.counters.dropped, abandoned);
            tracing::warn!(
                abandoned,
                "tower-ga: shutdown deadline reached, hits not delivered were dropped"
            );
        }
        self.unresolved.clear();
        self.answer_waiters();
        // Refuse further flushes (they return at once), and answer those already sent: nothing
        // is pending any more.
        ctl.close();
        while let Ok(msg) = ctl.try_recv() {
            let (Control::Flush(_, late) | Control::Shutdown(_, late)) = msg;
            let _ = late.send(true);
        }
        if let Some(reply) = reply {
            let _ = reply.send(finished);
        }
        // A hit pushed just as the queue closed is counted by `Leftovers`, on this thread.
    }

    /// Takes hits off the queue up to the hold limit (one batch's worth while probing). Returns
    /// how many it took.
    fn take(&mut self) -> usize {
        // Cleared before the queue is read: a pile-up after this nudges again.
        if let Some(nudge) = &self.running.nudge {
            nudge.clear();
        }
        let mut taken = 0;
        let limit = if self.probing {
            self.probe_size
        } else {
            usize::MAX
        };
        let clocks = Clocks::now();
        while self.batcher.len() < self.hold && taken < limit {
            let Some(hit) = self.running.queue.pop() else {
                break;
            };
            self.accept(hit, &clocks);
            taken += 1;
            if taken % CHUNK == 0 && self.running.queue.len() < self.running.queue.capacity() / 2 {
                std::thread::yield_now();
            }
        }
        // At the hold limit with no batch ready, all held hits are in open batches (many
        // clients, few hits each): they go out now rather than at the next tick. A probe goes out
        // at once too.
        if (self.batcher.len() >= self.hold && self.batcher.ready.is_empty())
            || (self.probing && taken > 0)
        {
            self.batcher.close_all();
        }
        self.resume_capture();
        taken
    }

    fn accept(&mut self, mut hit: Box<Hit>, clocks: &Clocks) {
        // First: if encoding it panics, the hit is still counted (see `Sender::start`).
        Counters::add(&self.counters.held, 1);
        hit.stamp_by(clocks);
        hit.text.settle();
        // A stand-in for a bug of ours, for the test of what happens then.
        #[cfg(test)]
        if hit.path() == super::tests::PANIC_PATH {
            panic!("the worker's test panic");
        }
        self.protocol.encode_into(
            &hit,
            &self.cfg,
            &mut self.sessions,
            &mut self.scratch,
            &mut self.batcher,
            self.epoch,
        );
        self.running.pool.give(hit);
        match self.unresolved.back_mut() {
            Some((epoch, n)) if *epoch == self.epoch => *n += 1,
            _ => self.unresolved.push_back((self.epoch, 1)),
        }
    }

    /// Takes everything queued now, ignoring the hold limit: the queue is bounded, so this is too.
    fn drain(&mut self) {
        if let Some(nudge) = &self.running.nudge {
            nudge.clear();
        }
        let clocks = Clocks::now();
        while let Some(hit) = self.running.queue.pop() {
            self.accept(hit, &clocks);
        }
        self.resume_capture();
    }

    /// Once the queue has room again, requests are captured again. The flag is read before it is
    /// written, so that its cache line stays shared with the request path while nothing changes.
    fn resume_capture(&self) {
        let queue = &self.running.queue;
        self.running.gate.reopen_if(|| !queue.is_full());
    }

    fn dispatch(&mut self) {
        if let Some(until) = self.rate_limited_until {
            if until > Instant::now() {
                return;
            }
            self.rate_limited_until = None;
        }
        while self.tasks.len() < self.cfg.max_concurrency.max(1) {
            let Some(batch) = self.batcher.next_ready() else {
                break;
            };
            let cfg = self.cfg.clone();
            let transport = self.transport.clone();
            let protocol = self.protocol;
            let urls = self.urls.clone();
            let counted = (batch.epoch, batch.len());
            let task = self
                .tasks
                .spawn(deliver(cfg, protocol, urls, transport, batch));
            self.in_flight.insert(task.id(), counted);
        }
    }

    /// A delivery task ended: with its `Done`, or with a panic (or, at shutdown, aborted), when
    /// its batch counts as failed.
    fn joined(&mut self, joined: Result<(tokio::task::Id, Done), tokio::task::JoinError>) {
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        let counted = self.in_flight.remove(&id);
        match (joined, counted) {
            (Ok((_, done)), _) => self.finish(done),
            (Err(e), Some((epoch, hits))) => {
                let error = if e.is_panic() {
                    "the transport panicked"
                } else {
                    "the delivery was cancelled"
                };
                tracing::error!("tower-ga: {error}; the batch counts as failed");
                self.finish(Done {
                    epoch,
                    hits,
                    end: End::Failed,
                    unreachable: false,
                    wait: None,
                    outcome: BatchOutcome {
                        hits,
                        attempts: 1,
                        status: None,
                        error: Some(error.into()),
                        validation_messages: Vec::new(),
                    },
                });
            }
            (Err(_), None) => {}
        }
    }

    fn finish(&mut self, done: Done) {
        let n = done.hits;
        self.counters.held.fetch_sub(n as u64, Ordering::Relaxed);
        if let Some(u) = self.unresolved.iter_mut().find(|u| u.0 == done.epoch) {
            u.1 -= n;
        }
        self.unresolved.retain(|u| u.1 > 0);
        let c = &self.counters;
        Counters::add(&c.batches, 1);
        Counters::add(&c.retried, done.outcome.attempts.saturating_sub(1) as usize);
        match done.end {
            End::Sent => {
                self.unreachable_streak = 0;
                self.paused_until = None;
                self.probing = false;
                Counters::add(&c.sent, n);
                if done.outcome.validation_messages.is_empty() {
                    guarded("on_success", || {
                        self.cfg.on_success.on_success(&done.outcome)
                    });
                } else {
                    Counters::add(&c.invalid, n);
                    for m in &done.outcome.validation_messages {
                        tracing::warn!(
                            field = %m.field_path,
                            code = ?m.validation_code,
                            "tower-ga: validation: {}",
                            m.description
                        );
                    }
                    guarded("on_failure", || {
                        self.cfg.on_failure.on_failure(&done.outcome)
                    });
                }
            }
            End::Failed => {
                Counters::add(&c.failed, n);
                if done.unreachable {
                    // Back off from taking new hits: 1 s, doubling, at most the retry policy's
                    // longest backoff. A success ends it.
                    self.unreachable_streak = (self.unreachable_streak + 1).min(16);
                    let pause = Duration::from_secs(1)
                        .saturating_mul(1 << (self.unreachable_streak - 1).min(10))
                        .min(self.cfg.retry.max_backoff.max(Duration::from_secs(1)));
                    self.paused_until = Some(Instant::now() + pause);
                    self.probing = true;
                }
                if let Some(wait) = done.wait {
                    // Rate-limited: nothing more goes out before the collector said (what is
                    // already in flight can't be recalled), then one probe. A `max_retry_after`
                    // of `Duration::MAX` could overflow an `Instant`: a year will do.
                    let now = Instant::now();
                    let until = now
                        .checked_add(wait)
                        .unwrap_or(now + Duration::from_secs(365 * 86_400));
                    self.rate_limited_until =
                        Some(self.rate_limited_until.map_or(until, |t| t.max(until)));
                    self.probing = true;
                }
                if self.warn.allow() {
                    tracing::warn!(
                        hits = n,
                        attempts = done.outcome.attempts,
                        status = ?done.outcome.status,
                        error = done.outcome.error.as_deref().unwrap_or(""),
                        "tower-ga: gave up on a batch"
                    );
                }
                guarded("on_failure", || {
                    self.cfg.on_failure.on_failure(&done.outcome)
                });
            }
        }
    }

    /// Answers the flushes whose hits are all resolved (`true`) or whose deadline passed (`false`).
    fn answer_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        // The oldest epoch with hits unresolved: every flush of an earlier epoch is done.
        let oldest = self.unresolved.front().map_or(u64::MAX, |u| u.0);
        let now = Instant::now();
        let mut i = 0;
        while i < self.waiters.len() {
            let (epoch, deadline, _) = &self.waiters[i];
            let answer = if *epoch < oldest {
                true
            } else if *deadline <= now {
                false
            } else {
                i += 1;
                continue;
            };
            let (_, _, reply) = self.waiters.swap_remove(i);
            let _ = reply.send(answer);
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(all(test, unix, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::RecordingTransport;

    /// A worker whose polls are an hour apart takes a pile-up of hits when nudged: only the
    /// nudge can have woken it.
    #[test]
    fn a_pile_up_wakes_a_worker_whose_next_poll_is_an_hour_away() {
        let capacity = 256;
        let cfg = Arc::new(Config {
            queue_capacity: capacity,
            ..Config::default()
        });
        let recorder = Arc::new(RecordingTransport::new());
        let (nudge, rx) = super::super::nudge::Nudge::new(capacity).unwrap();
        let running = Arc::new(Running {
            config: cfg,
            queue: crossbeam_queue::ArrayQueue::new(capacity),
            pool: super::super::pool::HitPool::new(capacity),
            nudge: Some(nudge),
            gate: Default::default(),
        });
        let (queue, nudge) = (&running.queue, running.nudge.as_ref().unwrap());
        let mut worker = Worker::new(
            running.clone(),
            Protocol::Ga4,
            Arc::default(),
            recorder.clone(),
            Arc::new(RateLimited::new(Duration::from_secs(10))),
            Some(rx),
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
}
