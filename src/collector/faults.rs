//! The faults the collector can inject, and a small deterministic random source to decide which
//! requests get them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;

/// How the collector misbehaves. The default behaves like Google: answers at once, `2xx`.
///
/// Start from [`none`](Self::none) and add faults; the fields are public to read, and a field may
/// be added, so the struct can't be written as a literal.
///
/// ```
/// use std::time::Duration;
/// use http::StatusCode;
/// use tower_ga::collector::Faults;
///
/// // A collector that is slow, and rate-limits half the requests for 2 s.
/// let faults = Faults::none()
///     .sleep(Duration::from_millis(50))
///     .status(StatusCode::TOO_MANY_REQUESTS)
///     .fail_rate(0.5)
///     .retry_after(2);
/// assert_eq!(faults.status, Some(StatusCode::TOO_MANY_REQUESTS));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Faults {
    /// Waits this long before answering.
    pub sleep: Duration,
    /// Never answers (the connection stays open until the client gives up).
    pub hang: bool,
    /// Answers this status instead of `2xx`, for a [`fail_rate`](field@Self::fail_rate) share of
    /// requests.
    pub status: Option<StatusCode>,
    /// Share of requests, `0.0..=1.0`, that get [`status`](field@Self::status) (default 1.0
    /// when a status is set and this is 0).
    pub fail_rate: f64,
    /// Adds `Retry-After: N` (seconds) to the error answers.
    pub retry_after: Option<u64>,
    /// Reads the request (and counts its hits as seen), sends the status line, then closes the
    /// connection before the body is complete.
    pub close_mid_response: bool,
}

impl Faults {
    /// No faults.
    ///
    /// ```
    /// use tower_ga::collector::Faults;
    ///
    /// assert_eq!(Faults::none(), Faults::default());
    /// ```
    pub fn none() -> Self {
        Faults::default()
    }

    /// Waits `sleep` before answering each request ([`sleep`](field@Self::sleep)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_ga::collector::Faults;
    ///
    /// let faults = Faults::none().sleep(Duration::from_secs(1));
    /// assert_eq!(faults.sleep, Duration::from_secs(1));
    /// ```
    pub fn sleep(mut self, sleep: Duration) -> Self {
        self.sleep = sleep;
        self
    }

    /// Never answers, or answers again ([`hang`](field@Self::hang)).
    ///
    /// ```
    /// use tower_ga::collector::Faults;
    ///
    /// assert!(Faults::none().hang(true).hang);
    /// ```
    pub fn hang(mut self, on: bool) -> Self {
        self.hang = on;
        self
    }

    /// Answers `status` instead of `2xx` ([`status`](field@Self::status)), to every request
    /// unless a [`fail_rate`](field@Self::fail_rate) is set.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_ga::collector::Faults;
    ///
    /// let faults = Faults::none().status(StatusCode::SERVICE_UNAVAILABLE);
    /// assert_eq!(faults.status, Some(StatusCode::SERVICE_UNAVAILABLE));
    /// ```
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The share of requests, `0.0..=1.0`, that get the [`status`](field@Self::status)
    /// ([`fail_rate`](field@Self::fail_rate)).
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_ga::collector::Faults;
    ///
    /// let faults = Faults::none().status(StatusCode::BAD_GATEWAY).fail_rate(0.1);
    /// assert_eq!(faults.fail_rate, 0.1);
    /// ```
    pub fn fail_rate(mut self, share: f64) -> Self {
        self.fail_rate = share;
        self
    }

    /// Adds `Retry-After: secs` to the error answers ([`retry_after`](field@Self::retry_after)).
    ///
    /// ```
    /// use tower_ga::collector::Faults;
    ///
    /// assert_eq!(Faults::none().retry_after(3).retry_after, Some(3));
    /// ```
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Breaks off each answer after its status line, or answers whole again
    /// ([`close_mid_response`](field@Self::close_mid_response)).
    ///
    /// ```
    /// use tower_ga::collector::Faults;
    ///
    /// assert!(Faults::none().close_mid_response(true).close_mid_response);
    /// ```
    pub fn close_mid_response(mut self, on: bool) -> Self {
        self.close_mid_response = on;
        self
    }

    /// Parses command-line flags: `--sleep-ms N`, `--hang`, `--status N`, `--fail-rate F`,
    /// `--retry-after N`, `--close`. Returns the faults and the flags it did not know.
    pub fn from_args(
        args: impl IntoIterator<Item = String>,
    ) -> Result<(Faults, Vec<String>), String> {
        let mut f = Faults::default();
        let mut rest = Vec::new();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
            match a.as_str() {
                "--sleep-ms" => f.sleep = Duration::from_millis(num(&value("--sleep-ms")?)?),
                "--hang" => f.hang = true,
                "--status" => {
                    let code = num(&value("--status")?)?;
                    f.status = Some(StatusCode::from_u16(code as u16).map_err(|e| e.to_string())?)
                }
                "--fail-rate" => {
                    f.fail_rate = value("--fail-rate")?
                        .parse()
                        .map_err(|e| format!("--fail-rate: {e}"))?
                }
                "--retry-after" => f.retry_after = Some(num(&value("--retry-after")?)?),
                "--close" => f.close_mid_response = true,
                _ => rest.push(a),
            }
        }
        Ok((f, rest))
    }

    /// Whether this request gets the error status, drawing from `rng`.
    pub(crate) fn fails(&self, rng: &Rng) -> Option<StatusCode> {
        let status = self.status?;
        let rate = if self.fail_rate <= 0.0 {
            1.0
        } else {
            self.fail_rate.min(1.0)
        };
        (rng.next_f64() < rate).then_some(status)
    }
}

fn num(s: &str) -> Result<u64, String> {
    s.parse().map_err(|e| format!("{s:?}: {e}"))
}

/// A lock-free xorshift generator, seeded for repeatable runs.
#[derive(Debug)]
pub(crate) struct Rng(AtomicU64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(AtomicU64::new(seed | 1))
    }

    pub(crate) fn next_f64(&self) -> f64 {
        let mut x = self.0.load(Ordering::Relaxed);
        loop {
            let mut y = x;
            y ^= y << 13;
            y ^= y >> 7;
            y ^= y << 17;
            match self
                .0
                .compare_exchange_weak(x, y, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return (y >> 11) as f64 / (1u64 << 53) as f64,
                Err(now) => x = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        let args = [
            "--sleep-ms",
            "250",
            "--status",
            "503",
            "--fail-rate",
            "0.2",
            "--port",
            "5000",
            "--retry-after",
            "2",
        ];
        let (f, rest) = Faults::from_args(args.iter().map(|s| s.to_string())).unwrap();
        assert_eq!(f.sleep, Duration::from_millis(250));
        assert_eq!(f.status, Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(f.fail_rate, 0.2);
        assert_eq!(f.retry_after, Some(2));
        assert_eq!(rest, vec!["--port", "5000"]);
        assert!(Faults::from_args(["--status".to_string()]).is_err());
    }

    #[test]
    fn fail_rate_is_roughly_honoured() {
        let f = Faults::none()
            .status(StatusCode::BAD_GATEWAY)
            .fail_rate(0.25);
        let rng = Rng::new(42);
        let fails = (0..10_000).filter(|_| f.fails(&rng).is_some()).count();
        assert!((2_000..3_000).contains(&fails), "{fails}");
        assert_eq!(Faults::default().fails(&rng), None);
    }
}
