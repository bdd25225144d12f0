//! How to start a collector: its address, faults, printing, recording and checks.

use std::net::SocketAddr;

use super::faults::Faults;
use super::print::Print;
use crate::spec::ga4;

/// How to start a [`Collector`](super::Collector).
///
/// Start from [`default`](Self::default) and set what differs; the fields are public to read, and
/// a field may be added, so the struct can't be written as a literal.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use tower_ga::collector::{Collector, CollectorConfig, Faults};
///
/// let config = CollectorConfig::default().faults(Faults::none().hang(true)).record(false);
/// let collector = Collector::start(config).await?;
/// assert!(collector.requests().is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CollectorConfig {
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub addr: SocketAddr,
    /// Faults to inject (default none).
    pub faults: Faults,
    /// What to print (default nothing).
    pub print: Print,
    /// Keep the requests received, for [`Collector::requests`](super::Collector::requests): the
    /// first 10,000 (default on; turn off under load).
    pub record: bool,
    /// Seed for the dice that pick which requests get a `fail_rate`'s faults: the same seed
    /// picks the same requests.
    pub seed: u64,
    /// Longest GA4 param value accepted (default 100).
    pub param_value_limit: usize,
    /// Check every hit against the documented rules (default on). Off, hits are only counted,
    /// cheaply: for load tests, where the collector must not compete with the load generator.
    pub validate: bool,
    /// Connections served at once (default 1,024); more are closed as they come, and counted.
    pub max_connections: usize,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults: Faults::default(),
            print: Print::Off,
            record: true,
            seed: 0x5eed,
            param_value_limit: ga4::MAX_PARAM_VALUE_LEN,
            validate: true,
            max_connections: 1024,
        }
    }
}

impl CollectorConfig {
    /// Listens on `addr` ([`addr`](field@Self::addr)); port 0 picks a free port.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// use std::net::SocketAddr;
    /// use tower_ga::collector::{Collector, CollectorConfig};
    ///
    /// let config = CollectorConfig::default().addr(SocketAddr::from(([127, 0, 0, 1], 0)));
    /// let collector = Collector::start(config).await?;
    /// assert!(collector.addr().ip().is_loopback() && collector.addr().port() != 0);
    /// # Ok(()) }
    /// ```
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Injects `faults` from the start ([`faults`](field@Self::faults));
    /// [`Collector::set_faults`](super::Collector::set_faults) changes them later.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_ga::collector::{CollectorConfig, Faults};
    ///
    /// let faults = Faults::none().status(StatusCode::BAD_GATEWAY);
    /// let config = CollectorConfig::default().faults(faults);
    /// assert_eq!(config.faults.status, Some(StatusCode::BAD_GATEWAY));
    /// ```
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Prints what it receives, or nothing ([`print`](field@Self::print)).
    ///
    /// ```
    /// use tower_ga::collector::{CollectorConfig, Print};
    ///
    /// assert_eq!(CollectorConfig::default().print(Print::Hits).print, Print::Hits);
    /// ```
    pub fn print(mut self, print: Print) -> Self {
        self.print = print;
        self
    }

    /// Keeps the requests received, or not ([`record`](field@Self::record)).
    ///
    /// ```
    /// use tower_ga::collector::CollectorConfig;
    ///
    /// assert!(!CollectorConfig::default().record(false).record);
    /// ```
    pub fn record(mut self, on: bool) -> Self {
        self.record = on;
        self
    }

    /// Seeds the dice that pick which requests get a [`fail_rate`](field@Faults::fail_rate)'s
    /// faults ([`seed`](field@Self::seed)): one seed, one sequence.
    ///
    /// ```
    /// use tower_ga::collector::CollectorConfig;
    ///
    /// assert_eq!(CollectorConfig::default().seed(7).seed, 7);
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The longest GA4 param value accepted ([`param_value_limit`](field@Self::param_value_limit)):
    /// 500 checks a sender configured for GA 360.
    ///
    /// ```
    /// use tower_ga::collector::CollectorConfig;
    ///
    /// assert_eq!(CollectorConfig::default().param_value_limit(500).param_value_limit, 500);
    /// ```
    pub fn param_value_limit(mut self, chars: usize) -> Self {
        self.param_value_limit = chars;
        self
    }

    /// Checks every hit against the documented rules, or only counts hits
    /// ([`validate`](field@Self::validate)).
    ///
    /// ```
    /// use tower_ga::collector::CollectorConfig;
    ///
    /// assert!(!CollectorConfig::default().validate(false).validate);
    /// ```
    pub fn validate(mut self, on: bool) -> Self {
        self.validate = on;
        self
    }

    /// Serves at most `connections` at once ([`max_connections`](field@Self::max_connections)).
    ///
    /// ```
    /// use tower_ga::collector::CollectorConfig;
    ///
    /// assert_eq!(CollectorConfig::default().max_connections(8).max_connections, 8);
    /// ```
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }
}
