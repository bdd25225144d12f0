//! The faults the collector can inject, and a small deterministic random source to decide which
//! requests get them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;

/// How the collector misbehaves. The default behaves like Google: answers at once, `2xx`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Waits this long before answering.
    pub sleep: Duration,
    /// Never answers (the connection stays open until the client gives up).
    pub hang: bool,
    /// Answers this status instead of `2xx`, for a [`fail_rate`](Self::fail_rate) share of requests.
    pub status: Option<StatusCode>,
    /// Share of requests, `0.0..=1.0`, that get [`status`](Self::status) (default 1.0 when a status
    /// is set and this is 0).
    pub fail_rate: f64,
    /// Adds `Retry-After: N` (seconds) to the error answers.
    pub retry_after: Option<u64>,
    /// Reads the request (and counts its hits as seen), sends the status line, then closes the
    /// connection before the body is complete.
    pub close_mid_response: bool,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Faults::default()
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
        let f = Faults {
            status: Some(StatusCode::BAD_GATEWAY),
            fail_rate: 0.25,
            ..Faults::default()
        };
        let rng = Rng::new(42);
        let fails = (0..10_000).filter(|_| f.fails(&rng).is_some()).count();
        assert!((2_000..3_000).contains(&fails), "{fails}");
        assert_eq!(Faults::default().fails(&rng), None);
    }
}
