//! The background worker: takes hits off the queue, encodes and batches them, sends batches with
//! bounded concurrency, counts, and answers flush and shutdown.
//!
//! It runs on its own thread with a current-thread tokio runtime, so it works the same whether the
//! application runs a multi-thread runtime, a current-thread one, or none, and a blocking flush in
//! the application can never deadlock it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::delivery::{deliver, Done, End};
use super::flush::Flushes;
use super::lifecycle::Running;
use super::schedule::{Schedule, BUSY_POLL, IDLE_POLL};
use super::stats::Counters;
use super::{Control, RateLimited};
use crate::config::Config;
use crate::encode::batch::Batcher;
use crate::encode::{Encoded, Scratch, Urls};
use crate::hit::{Clocks, Hit};
use crate::report::crowd::Crowd;
use crate::report::sessions::Sessions;
use crate::spec::Protocol;
use crate::transport::Transport;

/// Most session entries kept (about 33 bytes each, with the map's spare room: 3.3 MB at most).
const MAX_SESSIONS: usize = 100_000;
/// Hits encoded between two yields of the thread while the sender is ahead (the queue is less
/// than half full), so that on a busy core the application's threads never wait long behind it.
/// When it falls behind it stops yielding and catches up, rather than let the queue overflow.
const CHUNK: usize = 64;
/// How long the worker delivers what it holds once every handle and layer is gone.
const ORPHANED_GRACE: Duration = Duration::from_secs(2);

pub(crate) struct Worker {
    /// The queue, the pool encoded hits go back to, the nudge and the gate.
    running: Arc<Running>,
    cfg: Arc<Config>,
    protocol: Protocol,
    urls: Arc<Urls>,
    counters: Arc<Counters>,
    transport: Arc<dyn Transport>,
    warn: Arc<RateLimited>,
    sessions: Sessions,
    scratch: Scratch,
    batcher: Batcher,
    /// Consumers without a session, coalesced while the sender is behind.
    crowd: Crowd,
    /// Hits held in the batcher before the worker stops taking more off the queue.
    hold: usize,
    /// Hits in a probe: one full batch.
    probe_size: usize,
    flushes: Flushes,
    backoff: Backoff,
    tasks: JoinSet<Done>,
    /// The flush epoch and hit count of each batch in `tasks`: what a task that panicked (a
    /// `Transport` is user code) failed, since its `Done` never comes.
    in_flight: HashMap<tokio::task::Id, (u64, usize)>,
    /// The shortest and longest poll intervals (a test stretches them).
    polls: (Duration, Duration),
    #[cfg(feature = "metrics")]
    metrics: super::metrics::Exporter,
}

/// Why the loop ended: a shutdown's deadline and answer, or every handle gone (no answer).
type Stop = (Instant, Option<oneshot::Sender<bool>>);

/// The sessions a sender keeps, as configured.
fn sessions(cfg: &Config) -> Sessions {
    let s = Sessions::new(cfg.identity.session_timeout.as_secs(), MAX_SESSIONS)
        .with_engagement_cap(cfg.report.context.engagement_cap.as_millis() as u64)
        .with_daily_events(cfg.identity.daily_events);
    if cfg.identity.derived_sessions() {
        s.derived_by(cfg.identity.key)
    } else {
        s
    }
}

impl Worker {
    pub(crate) fn new(
        running: Arc<Running>,
        protocol: Protocol,
        counters: Arc<Counters>,
        transport: Arc<dyn Transport>,
        warn: Arc<RateLimited>,
    ) -> Self {
        let cfg = running.config.clone();
        let limits = protocol.limits(cfg.target.validation);
        // Encoded hits held (about half a kilobyte each): enough for batches to fill when many
        // clients are active, bounded by the queue's own size.
        let hold = cfg.sender.queue_capacity.clamp(256, 4096);
        Worker {
            sessions: sessions(&cfg),
            scratch: Scratch::default(),
            batcher: Batcher::new(limits),
            crowd: Crowd::new(hold),
            hold,
            probe_size: limits.max_items,
            flushes: Flushes::default(),
            backoff: Backoff::default(),
            tasks: JoinSet::new(),
            in_flight: HashMap::new(),
            polls: (BUSY_POLL, IDLE_POLL),
            #[cfg(feature = "metrics")]
            metrics: super::metrics::Exporter::new(
                (cfg.inventory.bad.is_none()).then(|| cfg.inventory.routes.clone()),
            ),
            urls: Arc::new(protocol.urls(&cfg)),
            running,
            protocol,
            counters,
            transport,
            warn,
            cfg,
        }
    }

    pub(crate) async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<Control>) {
        let mut schedule = Schedule::new(&self.cfg, self.polls);
        let stop = loop {
            if let Some(stop) = self.turn(&mut ctl, &mut schedule).await {
                break stop;
            }
            self.flushes.answer(Instant::now());
            #[cfg(feature = "metrics")]
            self.metrics.export(&self.counters, false);
        };
        self.stop(stop, ctl).await;
    }

    /// One turn of the loop: whatever comes first of a finished delivery, a control message, a
    /// nudge, the next look at the queue, a flush's deadline, the end of a hold, a tick.
    async fn turn(
        &mut self,
        ctl: &mut mpsc::UnboundedReceiver<Control>,
        schedule: &mut Schedule,
    ) -> Option<Stop> {
        // Whatever woke the worker: a gate left full by a race reopens within a tick even while
        // the worker isn't taking hits (held batches at their limit, or paused).
        self.resume_capture();
        self.dispatch();
        // While probing, nothing more is taken until the probe (and anything else in flight)
        // has an answer.
        let accept =
            self.batcher.len() < self.hold && (!self.backoff.probing() || self.tasks.is_empty());
        let take_at = self.backoff.take_at(schedule.next_take);
        // Batches held back by a `Retry-After` go out when it ends.
        let held_back = self
            .backoff
            .held_until()
            .filter(|_| !self.batcher.ready.is_empty());
        tokio::select! {
            biased;
            Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                self.joined(joined);
            }
            msg = ctl.recv() => match msg {
                Some(Control::Flush(deadline, reply)) => self.flush(deadline, reply),
                Some(Control::Shutdown(deadline, reply)) => {
                    return Some((Instant::from_std(deadline), Some(reply)))
                }
                // Every handle and layer is gone: deliver what is held, briefly.
                None => return Some((Instant::now() + ORPHANED_GRACE, None)),
            },
            // Hits piled up before the next look: look now (unless paused).
            _ = self.running.nudge.nudged(), if accept => schedule.next_take = Instant::now(),
            _ = tokio::time::sleep_until(take_at), if accept => {
                if take_at <= Instant::now() {
                    let taken = self.take();
                    schedule.looked(taken, self.running.queue.capacity());
                } else {
                    schedule.next_take = Instant::now() + schedule.poll;
                }
            }
            _ = sleep_until(self.flushes.next_deadline()) => {}
            _ = sleep_until(held_back) => {}
            // Only while a batch is open: an idle sender doesn't wake for it. (A tick missed
            // meanwhile fires at once, closing nothing younger than the interval.)
            _ = schedule.tick.tick(), if self.batcher.has_open() => {
                // `None` (a flush interval longer than the clock has run) closes nothing.
                if let Some(cutoff) = std::time::Instant::now().checked_sub(self.cfg.sender.flush_interval) {
                    self.batcher.close_opened_before(cutoff);
                }
            }
        }
        None
    }

    /// Shutdown: stop taking hits, deliver what is held until the deadline, count the rest.
    async fn stop(mut self, (deadline, reply): Stop, mut ctl: mpsc::UnboundedReceiver<Control>) {
        // From now on requests are dropped without being captured.
        self.running.gate.close();
        self.drain();
        self.batcher.close_all();
        let delivered = tokio::time::timeout_at(deadline, async {
            while !self.flushes.settled() {
                self.dispatch();
                if let (true, Some(until)) = (self.tasks.is_empty(), self.backoff.held_until()) {
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
        .await;
        let finished = delivered.is_ok() && self.flushes.settled();
        if !finished {
            self.tasks.abort_all();
            let abandoned = self.flushes.abandon();
            self.counters
                .held
                .fetch_sub(abandoned as u64, Ordering::Relaxed);
            Counters::add(&self.counters.dropped, abandoned);
            tracing::warn!(
                abandoned,
                "tower-ga: shutdown deadline reached, hits not delivered were dropped"
            );
        }
        self.flushes.abandon();
        self.flushes.answer(Instant::now());
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

    /// Whether the sender is behind: it holds more batches than an eighth of the hold (and at
    /// least 128), each a request to make. A hundred consumers each with a batch open is an API's
    /// ordinary traffic, not a flood.
    fn crowded(&self) -> bool {
        self.batcher.batches() >= (self.hold / 8).max(128)
    }

    /// Takes hits off the queue up to the hold limit (one batch's worth while probing). Returns
    /// how many it took.
    fn take(&mut self) -> usize {
        // Cleared before the queue is read: a pile-up after this nudges again.
        self.running.nudge.clear();
        let limit = if self.backoff.probing() {
            self.probe_size
        } else {
            usize::MAX
        };
        let clocks = Clocks::now();
        let mut taken = 0;
        while self.batcher.len() < self.hold && taken < limit {
            let Some(hit) = self.running.queue.pop() else {
                break;
            };
            self.accept(hit, &clocks);
            taken += 1;
            let queue = &self.running.queue;
            if taken % CHUNK == 0 && queue.len() < queue.capacity() / 2 {
                std::thread::yield_now();
            }
        }
        // At the hold limit, or with as many batches as make the sender behind (see `accept`),
        // and no batch ready, all held hits are in open batches (many clients, few hits each):
        // they go out now rather than at the next tick. A probe goes out at once too.
        if ((self.batcher.len() >= self.hold || self.crowded()) && self.batcher.ready.is_empty())
            || (self.backoff.probing() && taken > 0)
        {
            self.batcher.close_all();
        }
        self.resume_capture();
        taken
    }

    fn accept(&mut self, mut hit: Box<Hit>, clocks: &Clocks) {
        // First: if encoding it panics, the hit is still counted (see `Leftovers`).
        if hit.report {
            Counters::add(&self.counters.held, 1);
        }
        hit.stamp_by(clocks);
        hit.text.settle();
        {
            // Held only for the update: `Handle::usage` copies out under it, the request path
            // never takes it.
            let mut usage = self.running.usage.lock().unwrap_or_else(|e| e.into_inner());
            let _row = usage.record(&hit);
            #[cfg(feature = "metrics")]
            self.metrics.record(&hit, _row, &usage);
        }
        if !hit.report {
            // Kept from Google by the filters: counted above, and that is all.
            self.running.pool.give(hit);
            if self.flushes.passed() {
                self.batcher.close_all();
            }
            return;
        }
        let crowd = self.crowded().then(|| {
            let queue = &self.running.queue;
            self.crowd.pressed = queue.len() >= queue.capacity() / 2;
            &mut self.crowd
        });
        let epoch = self.flushes.epoch();
        let encoded = self.protocol.encode_into(
            &hit,
            &self.cfg,
            &mut self.sessions,
            &mut self.scratch,
            &mut self.batcher,
            epoch,
            crowd,
        );
        let spread = self.sessions.daily.take_newly_spread();
        if spread > 0 {
            Counters::add(&self.counters.consumers_spread, spread as usize);
        }
        match encoded {
            Encoded::Own => {}
            Encoded::Crowd => Counters::add(&self.counters.crowded, 1),
            Encoded::Dropped => {
                self.counters.held.fetch_sub(1, Ordering::Relaxed);
                Counters::add(&self.counters.dropped, 1);
                Counters::add(&self.counters.crowd_dropped, 1);
            }
        }
        self.running.pool.give(hit);
        if self.flushes.taken() {
            self.batcher.close_all();
        }
        if encoded == Encoded::Dropped {
            self.flushes.resolved(epoch, 1);
        }
    }

    /// A flush: takes what it may now (up to the hold limit, even while paused or probing) and
    /// sends every open batch; the rest of the queue is owed to it (see [`Flushes`]).
    fn flush(&mut self, deadline: std::time::Instant, reply: oneshot::Sender<bool>) {
        let clocks = Clocks::now();
        while self.batcher.len() < self.hold {
            let Some(hit) = self.running.queue.pop() else {
                break;
            };
            self.accept(hit, &clocks);
        }
        self.resume_capture();
        self.batcher.close_all();
        let queued = self.running.queue.len();
        if !self
            .flushes
            .begin(Instant::from_std(deadline), reply, queued)
            && self.warn.allow()
        {
            tracing::warn!("tower-ga: too many flushes waiting; this one returns false");
        }
    }

    /// Takes everything queued now, ignoring the hold limit, at shutdown: the queue is bounded,
    /// so this is too.
    fn drain(&mut self) {
        self.running.nudge.clear();
        let clocks = Clocks::now();
        while let Some(hit) = self.running.queue.pop() {
            self.accept(hit, &clocks);
        }
        self.resume_capture();
    }

    /// Once the queue has room again, requests are captured again.
    fn resume_capture(&self) {
        let queue = &self.running.queue;
        self.running.gate.reopen_if(|| !queue.is_full());
    }

    /// Starts deliveries of ready batches, up to `max_concurrency` at once, unless held.
    fn dispatch(&mut self) {
        if !self.backoff.may_send(Instant::now()) {
            return;
        }
        while self.tasks.len() < self.cfg.sender.max_concurrency.max(1) {
            let Some(batch) = self.batcher.next_ready() else {
                break;
            };
            if batch.check() == self.crowd.check {
                self.crowd.held = self.crowd.held.saturating_sub(batch.len());
            }
            let counted = (batch.epoch, batch.len());
            let task = self.tasks.spawn(deliver(
                self.cfg.clone(),
                self.protocol,
                self.urls.clone(),
                self.transport.clone(),
                batch,
            ));
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
                self.finish(Done::lost(epoch, hits, error));
            }
            (Err(_), None) => {}
        }
    }

    fn finish(&mut self, done: Done) {
        self.counters
            .held
            .fetch_sub(done.hits as u64, Ordering::Relaxed);
        self.flushes.resolved(done.epoch, done.hits);
        match done.end {
            End::Sent => self.backoff.delivered(),
            End::Failed => self.backoff.failed(
                Instant::now(),
                done.unreachable,
                done.wait,
                self.cfg.sender.retry.max_backoff,
            ),
        }
        done.report(&self.counters, &self.cfg, &self.warn);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests;
