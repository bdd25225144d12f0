//! The usage store's thread: takes the table's deltas on a tick, on flush and at shutdown,
//! writes them, keeps what it couldn't write, and answers the page's reads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;

use super::backend::{Backend, RowDelta, Stored, KEEP_CONSUMERS};
use super::UsageStore;
use crate::text::date::Day;
use crate::usage::delta::Counts;
use crate::usage::table::UsageTable;

/// Days of deltas kept while the store can't take them: older ones are dropped, counted.
const MAX_PENDING_DAYS: i64 = 8;
/// The longest wait between two attempts at a store that fails.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

enum Request {
    Flush(oneshot::Sender<bool>),
    Read(Day, oneshot::Sender<Result<Stored, String>>),
    Shutdown(oneshot::Sender<bool>),
}

/// What the store thread did, for `Stats` and the page.
#[derive(Debug, Default)]
pub(crate) struct StoreCounters {
    pub(crate) writes: AtomicU64,
    pub(crate) failures: AtomicU64,
    /// Row deltas dropped because the store was down longer than the days kept.
    pub(crate) dropped: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
    /// Set when the thread stopped with everything written: later flushes have nothing to do.
    pub(crate) stopped_clean: std::sync::atomic::AtomicBool,
}

/// The application's side: asks the thread to flush, read, or stop.
#[derive(Clone, Debug)]
pub(crate) struct StoreHandle {
    tx: mpsc::Sender<Request>,
    pub(crate) counters: Arc<StoreCounters>,
}

impl StoreHandle {
    /// Writes what the table holds now; `true` once it is in the store.
    pub(crate) async fn flush(&self) -> bool {
        self.ask(Request::Flush).await
    }

    /// Writes, then stops the thread; `true` once everything is in the store.
    pub(crate) async fn shutdown(&self) -> bool {
        self.ask(Request::Shutdown).await
    }

    /// Sends a request the thread answers with whether everything is written. A thread that has
    /// stopped, or drops the request unanswered because it is stopping, says what it did then.
    async fn ask(&self, request: fn(oneshot::Sender<bool>) -> Request) -> bool {
        let (tx, rx) = oneshot::channel();
        let stopped_clean = || self.counters.stopped_clean.load(Ordering::Relaxed);
        match self.tx.send(request(tx)) {
            Ok(()) => rx.await.unwrap_or_else(|_| stopped_clean()),
            Err(_) => stopped_clean(),
        }
    }

    /// The days from `from` to today, with what isn't written yet.
    pub(crate) async fn read(&self, from: Day) -> Result<Stored, String> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Request::Read(from, tx)).is_err() {
            return Err("the usage store's thread has stopped".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the usage store's thread has stopped".into()))
    }
}

/// The thread's side.
pub(crate) struct StoreThread {
    store: UsageStore,
    backend: Option<Box<dyn Backend>>,
    table: Arc<Mutex<UsageTable>>,
    interval: Duration,
    retention_days: u32,
    /// Deltas taken from the table and not written yet, merged by day, method and route.
    pending: HashMap<(Day, String, String), Counts>,
    declared_on: Option<Day>,
    /// Consumer labels written per day and row, at most: a row past [`KEEP_CONSUMERS`] is
    /// trimmed in the next write. Today's and yesterday's rows only.
    labels: HashMap<(Day, String, String), usize>,
    failures: u32,
    next_attempt: Instant,
    retained_on: Option<Day>,
    counters: Arc<StoreCounters>,
    /// When a failure was last logged: at most once a minute.
    logged: Option<Instant>,
}

impl StoreThread {
    /// Starts the thread `tower-ga-usage`; the table keeps deltas from now on.
    pub(crate) fn spawn(
        store: UsageStore,
        table: Arc<Mutex<UsageTable>>,
        key: [u8; 16],
        namer: Option<Arc<dyn crate::hooks::NameConsumer>>,
        interval: Duration,
        retention_days: u32,
    ) -> std::io::Result<StoreHandle> {
        table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keep_deltas(key, namer);
        let (tx, rx) = mpsc::channel();
        let counters = Arc::new(StoreCounters::default());
        let mut thread = StoreThread {
            store,
            backend: None,
            table,
            interval,
            retention_days,
            pending: HashMap::new(),
            declared_on: None,
            labels: HashMap::new(),
            failures: 0,
            next_attempt: Instant::now(),
            retained_on: None,
            counters: counters.clone(),
            logged: None,
        };
        std::thread::Builder::new()
            .name("tower-ga-usage".into())
            .spawn(move || thread.run(rx))?;
        Ok(StoreHandle { tx, counters })
    }

    fn run(&mut self, rx: mpsc::Receiver<Request>) {
        let mut tick = Instant::now() + self.interval;
        loop {
            let wait = tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Request::Flush(reply)) => {
                    let _ = reply.send(self.write(true));
                }
                Ok(Request::Read(from, reply)) => {
                    self.write(false);
                    let _ = reply.send(self.read(from));
                }
                Ok(Request::Shutdown(reply)) => {
                    let clean = self.write(true);
                    self.counters.stopped_clean.store(clean, Ordering::Relaxed);
                    let _ = reply.send(clean);
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.write(false);
                    tick = Instant::now() + self.interval;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let clean = self.write(true);
                    self.counters.stopped_clean.store(clean, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    /// Takes the table's deltas and writes everything pending, unless a failed store's back-off
    /// isn't over (`now` overrides it). `true` when nothing is left pending.
    fn write(&mut self, now: bool) -> bool {
        let taken = self
            .table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_deltas();
        for d in taken {
            self.pending
                .entry((d.day, d.method, d.route))
                .or_default()
                .merge(&d.counts);
        }
        let today = Day::of(SystemTime::now());
        let before = self.pending.len();
        self.pending
            .retain(|(day, _, _), _| day.0 > today.0 - MAX_PENDING_DAYS);
        let dropped = before - self.pending.len();
        if dropped > 0 {
            self.counters
                .dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        if !now && Instant::now() < self.next_attempt {
            return self.pending.is_empty();
        }
        match self.try_write(today) {
            Ok(()) => {
                self.pending.clear();
                self.failures = 0;
                self.counters.writes.fetch_add(1, Ordering::Relaxed);
                *self
                    .counters
                    .last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = None;
                self.retain(today);
                true
            }
            Err(e) => {
                self.failures += 1;
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                let backoff = Duration::from_secs(1 << self.failures.min(6)).min(MAX_BACKOFF);
                self.next_attempt = Instant::now() + backoff;
                if self.logged.is_none_or(|t| t.elapsed() >= MAX_BACKOFF) {
                    self.logged = Some(Instant::now());
                    tracing::warn!(
                        failures = self.failures,
                        "tower-ga: usage store: {e}; its deltas are kept and written once it is back"
                    );
                }
                *self
                    .counters
                    .last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(e);
                // A store that failed is opened again on the next attempt.
                self.backend = None;
                false
            }
        }
    }

    fn try_write(&mut self, today: Day) -> Result<(), String> {
        let declare = self.declared_on != Some(today);
        if self.pending.is_empty() && !declare {
            return Ok(());
        }
        let rows = self.pending_rows();
        let declared = match declare {
            true => self
                .table
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .declared(today),
            false => Vec::new(),
        };
        self.backend()?.write(&rows, &declared, today)?;
        self.declared_on = Some(today);
        self.labels.retain(|(day, _, _), _| day.0 >= today.0 - 1);
        for r in rows {
            let n = self.labels.entry((r.day, r.method, r.route)).or_default();
            *n = match r.trim {
                true => KEEP_CONSUMERS + 1,
                false => *n + r.counts.consumers.len(),
            };
        }
        Ok(())
    }

    fn backend(&mut self) -> Result<&mut Box<dyn Backend>, String> {
        if self.backend.is_none() {
            self.backend = Some(self.store.open()?);
        }
        Ok(self.backend.as_mut().expect("opened above"))
    }

    fn read(&mut self, from: Day) -> Result<Stored, String> {
        // A connection the server dropped (a restart) is opened again, once.
        let mut stored = match self.backend()?.read(from) {
            Ok(stored) => stored,
            Err(_) => {
                self.backend = None;
                self.backend()?.read(from)?
            }
        };
        stored.add(&self.pending_rows(), from);
        Ok(stored)
    }

    /// What is pending, in key order: two replicas writing the same rows take their locks in
    /// the same order, and can't deadlock.
    fn pending_rows(&self) -> Vec<RowDelta> {
        let mut keys: Vec<_> = self.pending.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        keys.into_iter()
            .map(|((day, method, route), counts)| {
                let key = (*day, method.clone(), route.clone());
                let written = self.labels.get(&key).copied().unwrap_or(0);
                RowDelta {
                    day: *day,
                    method: method.clone(),
                    route: route.clone(),
                    counts: counts.clone(),
                    trim: written + counts.consumers.len() > KEEP_CONSUMERS,
                }
            })
            .collect()
    }

    /// Once a day: forgets the days past the retention.
    fn retain(&mut self, today: Day) {
        if self.retained_on == Some(today) {
            return;
        }
        let before = Day(today.0 - i64::from(self.retention_days));
        if let Some(b) = self.backend.as_mut() {
            if let Err(e) = b.retain(before) {
                tracing::warn!("tower-ga: usage store: {e}");
                return;
            }
        }
        self.retained_on = Some(today);
    }
}
