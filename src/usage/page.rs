//! The usage page: one self-contained HTML document (no external assets), refreshed by the
//! browser every 5 seconds, and the snapshot as JSON for `Accept: application/json`.

use std::fmt::Write;

use super::snapshot::{RouteUsage, UsageSnapshot};

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn time(unix: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix))
}

/// Milliseconds with about two significant digits: `0.042`, `3.1`, `250`.
fn ms(v: f64) -> String {
    match v {
        v if v < 0.1 => format!("{v:.3}"),
        v if v < 10.0 => format!("{v:.1}"),
        v => format!("{v:.0}"),
    }
}

fn row(out: &mut String, r: &RouteUsage, max: u64) {
    let width = (r.calls * 100).checked_div(max).unwrap_or(0);
    let errors = r.status.s5xx + r.status.s4xx;
    let share = if r.calls == 0 {
        0.0
    } else {
        errors as f64 * 100.0 / r.calls as f64
    };
    let latency = r.latency_ms.as_ref().map_or_else(String::new, |q| {
        format!("{} / {} / {}", ms(q.p50), ms(q.p95), ms(q.p99))
    });
    // The unmatched, `(other)` and `OTHER` rows are no route to declare.
    let tag = if r.in_inventory || r.method.is_empty() || r.route == "(any)" {
        ""
    } else {
        " <span class=tag>not declared</span>"
    };
    let mut spark = String::new();
    if !r.calls_per_day.is_empty() {
        sparkline(&mut spark, &r.calls_per_day);
    }
    let not_allowed = match r.method_not_allowed {
        0 => String::new(),
        n => format!(
            " <span class=tag title=\"405 answers, not counted as calls\">+{n} × 405</span>"
        ),
    };
    let _ = write!(
        out,
        "<tr><td>{}</td><td><code>{}</code>{tag}</td><td class=n>{}{not_allowed}</td>\
         <td class=barcell><div class=bar style=\"width:{width}%\"></div>{spark}</td>\
         <td class=n>{latency}</td><td class=\"n{}\">{share:.1} %</td><td class=n>{}</td></tr>",
        esc(&r.method),
        esc(&r.route),
        r.calls,
        if errors > 0 { " err" } else { "" },
        r.consumers,
    );
}

/// The deprecated routes, most called first: who still calls each, before its sunset.
fn deprecated(out: &mut String, s: &UsageSnapshot) {
    let list: Vec<&RouteUsage> = s.deprecated().collect();
    if list.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<section id=deprecated><h2>Deprecated ({})</h2><ul>",
        list.len()
    );
    for r in list {
        let _ = write!(
            out,
            "<li><code>{} {}</code> ",
            esc(&r.method),
            esc(&r.route)
        );
        match r.last_seen {
            Some(last) => {
                let _ = write!(
                    out,
                    "still called: {} calls by ≈ {} consumers since {}, last {}",
                    r.calls,
                    r.consumers,
                    day(s.since),
                    time(last)
                );
                if !r.top_consumers.is_empty() {
                    out.push_str(" · by");
                    for (i, c) in r.top_consumers.iter().take(10).enumerate() {
                        let sep = if i == 0 { " " } else { ", " };
                        let _ = write!(out, "{sep}<code>{}</code> {}", esc(&c.label), c.calls);
                    }
                }
            }
            None => {
                let _ = write!(out, "not called since {}", day(s.since));
            }
        }
        if let Some(sunset) = r.sunset {
            let _ = write!(out, " · sunset {}", day(sunset));
        }
        out.push_str("</li>");
    }
    out.push_str("</ul></section>");
}

/// The declared routes not called: since the sender started, or in the store's window with
/// each one's last call; and those declared too recently to tell.
fn never_called(out: &mut String, s: &UsageSnapshot) {
    let never: Vec<&RouteUsage> = s.never_called().collect();
    match s.window_days {
        Some(days) => {
            let _ = write!(
                out,
                "<section id=never><h2>Not called in the last {days} days ({})</h2>",
                never.len()
            );
        }
        None => {
            let _ = write!(
                out,
                "<section id=never><h2>Never called since {} ({})</h2>",
                time(s.since),
                never.len()
            );
        }
    }
    if never.is_empty() {
        out.push_str("<p>Every declared route was called.</p>");
    } else {
        out.push_str("<ul>");
        for r in never {
            let _ = write!(out, "<li><code>{} {}</code>", esc(&r.method), esc(&r.route));
            if s.window_days.is_some() {
                match r.last_called {
                    Some(t) => {
                        let _ = write!(out, " · last called {}", day(t));
                    }
                    None => out.push_str(" · never called"),
                }
                if let Some(d) = r.declared_since {
                    let _ = write!(out, " · declared since {}", day(d));
                }
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>");
    }
    let recent: Vec<&RouteUsage> = s
        .routes
        .iter()
        .filter(|r| r.in_inventory && r.calls == 0 && !r.never_called)
        .collect();
    if s.window_days.is_some() && !recent.is_empty() {
        out.push_str("<p>Declared after the window began, not called yet (not candidates yet):");
        for r in recent {
            let _ = write!(out, " <code>{} {}</code>", esc(&r.method), esc(&r.route));
        }
        out.push_str("</p>");
    }
    out.push_str("</section>");
}

/// A UTC date, `2026-12-07`.
fn day(unix: u64) -> String {
    let t = time(unix);
    // `Mon, 07 Dec 2026 20:18:00 GMT` → `07 Dec 2026`.
    t.get(5..16).unwrap_or(&t).to_owned()
}

/// The calls of each day as an inline SVG line, scaled to the busiest day.
fn sparkline(out: &mut String, daily: &[u64]) {
    let max = daily.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = daily.len().max(2) as f64 - 1.0;
    let points: Vec<String> = daily
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * 100.0 / n,
                20.0 - *c as f64 * 18.0 / max
            )
        })
        .collect();
    let _ = write!(
        out,
        "<svg class=spark viewBox=\"0 0 100 20\" preserveAspectRatio=none width=100 height=20>\
         <polyline fill=none stroke=\"#4a7bd0\" stroke-width=1.5 points=\"{}\"/></svg>",
        points.join(" ")
    );
}

/// The page for a snapshot.
pub(crate) fn html(s: &UsageSnapshot) -> String {
    let mut out = String::from(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta http-equiv=refresh content=5><title>API usage</title>\
         <link rel=icon href=\"data:,\"><style>\
         body{font:14px system-ui,sans-serif;margin:2em;color:#222}\
         table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #eee;text-align:left}\
         .n{text-align:right;white-space:nowrap}.barcell{width:30%}\
         .bar{background:#4a7bd0;height:12px;min-width:1px}.err{color:#b91c1c}\
         .tag{background:#fde68a;border-radius:3px;padding:0 4px;font-size:12px}\
         #never{background:#fff4e5;border:2px solid #f59e0b;padding:1em;margin:1em 0}\
         #deprecated{background:#fef2f2;border:2px solid #b91c1c;padding:1em;margin:1em 0}\
         </style></head><body><h1>API usage</h1>",
    );
    match s.window_days {
        Some(days) => {
            let _ = write!(
                out,
                "<p>Last {days} days (since {}) · {} requests · {} dropped before counting · \
                 refreshed {} · <nav id=window>",
                day(s.since),
                s.calls,
                s.dropped,
                time(s.generated_at)
            );
            for d in [7, 30, 90] {
                match d == days {
                    true => {
                        let _ = write!(out, " <b>{d} days</b>");
                    }
                    false => {
                        let _ = write!(out, " <a href=\"?days={d}\">{d} days</a>");
                    }
                }
            }
            out.push_str("</nav></p>");
        }
        None => {
            let _ = write!(
                out,
                "<p>Since {} · {} requests · {} dropped before counting · refreshed {}</p>",
                time(s.since),
                s.calls,
                s.dropped,
                time(s.generated_at)
            );
        }
    }
    if let Some(e) = &s.store_error {
        let _ = write!(
            out,
            "<p class=err>The usage store could not be read ({}): these counts are this \
             process's, since it started.</p>",
            esc(e)
        );
    }
    if let Some(e) = &s.inventory_error {
        let _ = write!(
            out,
            "<section id=inventory-error class=err><h2>The declared routes could not be read</h2>\
             <p>{}</p><p>No route is listed as never called until this is fixed.</p></section>",
            esc(e)
        );
    }
    deprecated(&mut out, s);
    never_called(&mut out, s);
    out.push_str(
        "</section><h2>Routes by calls</h2><table id=routes><tr><th>method</th><th>route</th>\
         <th class=n>calls</th><th></th><th class=n>p50 / p95 / p99 ms</th>\
         <th class=n>errors</th><th class=n>consumers</th></tr>",
    );
    let max = s.routes.iter().map(|r| r.calls).max().unwrap_or(0);
    let called = s
        .routes
        .iter()
        .filter(|r| r.calls + r.method_not_allowed > 0);
    let rest = s.unmatched.iter().chain(&s.other).chain(&s.other_methods);
    for r in called.chain(rest) {
        row(&mut out, r, max);
    }
    out.push_str("</table></body></html>");
    out
}
