//! UTC calendar days: the usage store's `YYYY-MM-DD` keys and the dates of
//! [`Deprecated`](crate::Deprecated), without a calendar crate (Howard Hinnant's algorithms).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A UTC day: days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Day(pub(crate) i64);

impl Day {
    /// The day of a moment.
    pub(crate) fn of(t: SystemTime) -> Day {
        let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Day((secs / 86_400) as i64)
    }

    /// The day of a date; month and day are clamped to 1..=12 and 1..=31.
    pub(crate) fn from_ymd(y: i64, m: u32, d: u32) -> Day {
        let (m, d) = (i64::from(m.clamp(1, 12)), i64::from(d.clamp(1, 31)));
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Day(era * 146_097 + doe - 719_468)
    }

    /// Year, month, day.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // the stores' day keys
    pub(crate) fn ymd(self) -> (i64, u32, u32) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        (yoe + era * 400 + i64::from(m <= 2), m, d)
    }

    /// `YYYY-MM-DD`.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // the stores' day keys
    pub(crate) fn iso(self) -> String {
        let (y, m, d) = self.ymd();
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// Parses `YYYY-MM-DD`.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // the stores' day keys
    pub(crate) fn parse(s: &str) -> Option<Day> {
        let mut parts = s.splitn(3, '-');
        let y = parts.next()?.parse().ok()?;
        let m = parts.next()?.parse().ok()?;
        let d = parts.next()?.parse().ok()?;
        Some(Day::from_ymd(y, m, d))
    }

    /// Midnight UTC of the day.
    pub(crate) fn start(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.max(0) as u64 * 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        for (iso, n) in [
            ("1970-01-01", 0),
            ("2000-02-29", 11_016),
            ("2000-03-01", 11_017),
            ("2024-02-29", 19_782),
            ("2026-01-31", 20_484),
            ("2100-03-01", 47_541),
        ] {
            assert_eq!(Day::parse(iso), Some(Day(n)), "{iso}");
            assert_eq!(Day(n).iso(), iso);
        }
        for n in 0..80_000 {
            assert_eq!(Day::parse(&Day(n).iso()), Some(Day(n)));
        }
        assert_eq!(
            Day::of(Day(20_484).start() + Duration::from_secs(86_399)),
            Day(20_484)
        );
    }
}
