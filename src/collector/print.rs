//! Printing hits in a readable form, one line each, and a summary line per second under load.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Weak;
use std::time::Duration;

use crate::spec::ValidationMessage;
use crate::testing::{parse_ga4, parse_ua};

/// What the collector prints on standard output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Print {
    /// Nothing.
    #[default]
    Off,
    /// Each hit, up to 20 a second, and a summary line for each busy second.
    Hits,
}

/// Most hit lines printed per second; the rest are summed up.
const LINES_PER_SECOND: u64 = 20;

pub(crate) struct Printer {
    mode: Print,
    lines: AtomicU64,
    hits: AtomicU64,
    requests: AtomicU64,
}

impl Printer {
    pub(crate) fn new(mode: Print) -> Self {
        Printer {
            mode,
            lines: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }

    pub(crate) fn print(&self, ga4: bool, body: &[u8], messages: &[ValidationMessage]) {
        if self.mode == Print::Off {
            return;
        }
        self.requests.fetch_add(1, Relaxed);
        let lines = if ga4 { ga4_lines(body) } else { ua_lines(body) };
        let lines = lines.iter().map(|l| printable(l));
        self.hits.fetch_add(lines.len() as u64, Relaxed);
        for line in lines {
            if self.lines.fetch_add(1, Relaxed) < LINES_PER_SECOND {
                println!("{line}");
            }
        }
        if !messages.is_empty() && self.lines.load(Relaxed) <= LINES_PER_SECOND {
            for m in messages {
                let line = format!(
                    "    INVALID {}: {} ({:?})",
                    m.field_path, m.description, m.validation_code
                );
                println!("{}", printable(&line));
            }
        }
    }

    /// This second's (hits, requests, lines not printed), reset for the next.
    pub(crate) fn take_second(&self) -> (u64, u64, u64) {
        let lines = self.lines.swap(0, Relaxed);
        (
            self.hits.swap(0, Relaxed),
            self.requests.swap(0, Relaxed),
            lines.saturating_sub(LINES_PER_SECOND),
        )
    }
}

/// Prints a summary line for each second in which hit lines were held back.
pub(crate) fn spawn_summary<S: Send + Sync + 'static>(
    state: Weak<S>,
    take: fn(&S) -> (u64, u64, u64),
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let mut total = 0u64;
        loop {
            tick.tick().await;
            let Some(state) = state.upgrade() else { break };
            let (hits, requests, held_back) = take(&state);
            total += hits;
            if held_back > 0 {
                println!("[collector] last second: {hits} hits in {requests} requests ({held_back} not printed), {total} in all");
            }
        }
    });
}

/// A line with its control characters escaped: what a client sent can't move the terminal's
/// cursor, clear it, or forge lines of its own.
fn printable(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn ga4_lines(body: &[u8]) -> Vec<String> {
    let events = parse_ga4(body);
    if events.is_empty() {
        return vec![format!(
            "GA4  unreadable body: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )];
    }
    events
        .iter()
        .map(|e| {
            format!(
                "GA4  {:<10} {:>3} {:>5} ms  {:<28} {}  client={} user={} session={}",
                e.name,
                e.param_u64("http_status_code")
                    .map_or("-".into(), |s| s.to_string()),
                e.param_u64("server_latency_ms")
                    .map_or("-".into(), |s| s.to_string()),
                format!("\"{}\"", e.param_str("page_title").unwrap_or("")),
                e.param_str("page_location").unwrap_or(""),
                e.client_id,
                e.user_id.as_deref().unwrap_or("-"),
                e.param_u64("session_id")
                    .map_or("-".into(), |s| s.to_string()),
            )
        })
        .collect()
}

fn ua_lines(body: &[u8]) -> Vec<String> {
    parse_ua(&String::from_utf8_lossy(body))
        .iter()
        .map(|h| {
            let get = |k: &str| h.get(k).map_or("-", String::as_str);
            format!(
                "UA   {:<10} {:<28} {}  cid={} uid={} qt={}ms",
                get("t"),
                format!("\"{}\"", get("dt")),
                get("dl"),
                get("cid"),
                get("uid"),
                get("qt"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_when_printed() {
        let body =
            br#"{"client_id":"1.2","events":[{"name":"page_view","params":{"page_title":"a[2Jb
FAKE LINE"}}]}"#;
        let lines: Vec<String> = ga4_lines(body).iter().map(|l| printable(l)).collect();
        assert_eq!(lines.len(), 1);
        assert!(
            !lines[0].contains('\u{1b}') && !lines[0].contains('\n'),
            "{:?}",
            lines[0]
        );
        assert!(lines[0].contains(r"a\u{1b}[2Jb\nFAKE LINE"), "{}", lines[0]);
    }
}
