//! A local stand-in for Google's collection endpoints, with fault injection.
//!
//! It accepts GA4 (`/mp/collect`, `/debug/mp/collect`) and legacy v1 (`/collect`, `/batch`,
//! `/debug/collect`) hits on a loopback port, checks every hit against the documented rules
//! ([`validate`](crate::validate)), answers the debug paths the way Google's validation endpoints
//! do, prints hits readably, counts everything (`GET /counts` answers JSON), and misbehaves on
//! request ([`Faults`]): slow, hung, failing with a status (and `Retry-After`), or closing the
//! connection mid-response. [`Collector::stop`] and [`Collector::resume`] take it down and bring it
//! back on the same port.
//!
//! It is what `cargo run --example collector` runs, what the quickstart embeds, and what this
//! crate's tests and benchmarks send to.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
//! use tower_ga::collector::{Collector, CollectorConfig};
//!
//! let collector = Collector::start(CollectorConfig::default()).await?;
//! let layer = tower_ga::GaLayer::new("G-TEST123").api_secret("s").endpoint(collector.url());
//! # drop(layer);
//! assert_eq!(collector.counts().requests, 0);
//! collector.stop().await;
//! # Ok(()) }
//! ```

mod config;
mod faults;
mod inspect;
mod print;
mod serve;
mod state;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use config::CollectorConfig;
pub use faults::Faults;
pub use print::Print;
pub use state::{Arrival, Counts, Received};

use crate::testing::{parse_ga4, parse_ua, RecordedEvent};
use state::{Counters, State};

/// A running local collector. Dropping it stops it.
pub struct Collector {
    addr: SocketAddr,
    state: Arc<State>,
    running: Mutex<Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("addr", &self.addr)
            .field("counts", &self.counts())
            .finish()
    }
}

impl Collector {
    /// Starts a collector. Must be called inside a tokio runtime.
    pub async fn start(config: CollectorConfig) -> io::Result<Collector> {
        let listener = TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            faults: RwLock::new(config.faults),
            rng: faults::Rng::new(config.seed),
            counters: Counters::default(),
            record: config.record,
            received: Mutex::new(Vec::new()),
            arrivals: Mutex::new(Vec::new()),
            printer: print::Printer::new(config.print),
            param_value_limit: config.param_value_limit,
            validate: config.validate,
            max_connections: config.max_connections,
        });
        if config.print == Print::Hits {
            print::spawn_summary(Arc::downgrade(&state), |s| s.printer.take_second());
        }
        let collector = Collector {
            addr,
            state,
            running: Mutex::new(None),
        };
        collector.serve(listener);
        Ok(collector)
    }

    /// A quiet collector on a free loopback port, recording everything.
    pub async fn start_local() -> io::Result<Collector> {
        Self::start(CollectorConfig::default()).await
    }
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, for [`GaLayer::endpoint`](crate::GaLayer::endpoint).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.state.counters.snapshot()
    }

    /// Changes the faults from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.state.faults.write().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Every accepted request so far (when recording).
    pub fn requests(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every collection request read so far, in order of reading, whatever the answer (when
    /// recording). Unlike [`requests`](Self::requests), this includes requests answered with an
    /// injected error, hung or broken off.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.state
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every accepted GA4 event so far (when recording).
    pub fn ga4_events(&self) -> Vec<RecordedEvent> {
        self.requests()
            .iter()
            .filter(|r| r.is_ga4())
            .flat_map(|r| parse_ga4(&r.body))
            .collect()
    }

    /// Every accepted v1 hit so far (when recording).
    pub fn ua_hits(&self) -> Vec<BTreeMap<String, String>> {
        self.requests()
            .iter()
            .filter(|r| !r.is_ga4())
            .flat_map(|r| parse_ua(&String::from_utf8_lossy(&r.body)))
            .collect()
    }

    /// Stops listening and cuts open connections; the counts stay. Later connections are refused.
    pub async fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((stop, task)) = running {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// Listens again on the same address after [`stop`](Self::stop).
    pub async fn resume(&self) -> io::Result<()> {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some((stop, _)) = self
            .running
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = stop.send(());
        }
    }
}
