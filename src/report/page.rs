//! What a hit reports as its page: location (absolute URL with secrets redacted), host, path,
//! title and referrer. Runs in the background sender, never on the request path.

use crate::config::Config;
use crate::hit::Hit;
use crate::http_text::authority::{header_host, known_scheme};
use crate::http_text::forwarded::{forwarded_host, forwarded_proto, ProxyHeaders};
use crate::http_text::redact::Verdicts;
use crate::http_text::referrer::referrer_into;

/// The page a hit reports, written by the sender into buffers it reuses from hit to hit, so that
/// building a page allocates nothing once the buffers have grown.
#[derive(Debug, Default)]
pub(crate) struct PageBuf {
    /// `scheme://host/path?query`, secrets redacted.
    location: String,
    /// Where the host lies in `location`; the path follows it.
    host: std::ops::Range<usize>,
    title: String,
    referrer: String,
    has_referrer: bool,
    /// Which query parameter names are secret, as far as seen.
    verdicts: Verdicts,
    last_host: LastHost,
}

/// The last `Host` header seen and the host it gave: an API's requests nearly all carry the same
/// one, and checking it costs several times more than comparing it (8 % of a hit whose page isn't
/// memoised: BENCHMARKS.md, "hand-written parts").
#[derive(Debug, Default)]
struct LastHost {
    header: String,
    /// [`header_host`] of `header`, lower-cased.
    host: Option<String>,
}

impl LastHost {
    /// Longer headers are checked every time, not kept.
    const MAX_HEADER: usize = 255;

    /// Appends the host a `Host` header gives, lower-cased; `false` if it gives none.
    fn push(&mut self, out: &mut String, v: &str) -> bool {
        let unkept;
        let host = if self.header == v {
            self.host.as_deref()
        } else if v.len() > Self::MAX_HEADER {
            unkept = header_host(v).map(str::to_ascii_lowercase);
            unkept.as_deref()
        } else {
            self.header.clear();
            self.header.push_str(v);
            self.host = header_host(v).map(str::to_ascii_lowercase);
            self.host.as_deref()
        };
        host.map(|h| out.push_str(h)).is_some()
    }
}

/// Writes into `key` everything [`PageBuf::fill`] reads of a hit, as the key under which the
/// sender keeps the page's encoded parameters (the page memo of [`crate::encode::memo`]): two hits with the same
/// key have the same page. `None` when the page can't be known by its inputs (a title hook may
/// read anything). Anything `fill` comes to read must be added here; a test encodes hits that
/// differ in one input at a time, with and without the memo, and compares.
pub(crate) fn key_into(key: &mut Vec<u8>, hit: &Hit, cfg: &Config) -> Option<()> {
    use crate::hit::text::Field;
    use crate::text::key::part;
    if cfg.report.make_title.is_some() {
        return None;
    }
    // `X-Forwarded-For` is left out: it gives the client's address, never the page, and behind
    // a proxy it differs from client to client.
    const FIELDS: [Field; 10] = [
        Field::Path,
        Field::Query,
        Field::Host,
        Field::Referer,
        Field::Route,
        Field::Scheme,
        Field::Authority,
        Field::Forwarded,
        Field::XForwardedProto,
        Field::XForwardedHost,
    ];
    key.clear();
    part(key, Some(hit.method.as_str().as_bytes()));
    let fields = if cfg.capture.trust_proxy {
        &FIELDS
    } else {
        &FIELDS[..7]
    };
    hit.text.key_into(fields, key);
    part(key, hit.title.as_ref().map(|t| t.as_str().as_bytes()));
    Some(())
}

impl PageBuf {
    /// Fills the buffers with `hit`'s page.
    pub(crate) fn fill(&mut self, hit: &Hit, cfg: &Config) {
        let proxy = if cfg.capture.trust_proxy {
            hit.proxy()
        } else {
            None
        };
        let proxy = proxy.as_ref();
        let scheme = proxy
            .and_then(forwarded_proto)
            .or_else(|| hit.scheme().and_then(known_scheme))
            .unwrap_or(cfg.report.default_scheme);
        let loc = &mut self.location;
        loc.clear();
        loc.push_str(scheme);
        loc.push_str("://");
        let start = loc.len();
        host_into(loc, hit, cfg, proxy, &mut self.last_host);
        self.host = start..loc.len();
        // A request that matched no route reports a constant path: its own may hold a token
        // (`/reset-password/<token>`), and every scanner's probe would be a page of its own.
        let constant = match (&cfg.report.unmatched_path, hit.route()) {
            (Some(path), None) => Some(path.as_str()),
            _ => None,
        };
        let path = match hit.route() {
            Some(route)
                if hit
                    .location_from_route
                    .unwrap_or(cfg.report.location_from_route) =>
            {
                route
            }
            _ => constant.unwrap_or_else(|| hit.path()),
        };
        if !path.starts_with('/') {
            loc.push('/');
        }
        cfg.report
            .redact_params
            .redact_path_into(loc, path, &mut self.verdicts);
        if !cfg.report.strip_query && constant.is_none() {
            if let Some(q) = hit.query().filter(|q| !q.is_empty()) {
                loc.push('?');
                cfg.report
                    .redact_params
                    .redact_query_into(loc, q, &mut self.verdicts);
            }
        }
        self.title.clear();
        title_into(&mut self.title, hit, cfg);
        self.referrer.clear();
        self.has_referrer = hit.referer_header().is_some_and(|r| {
            referrer_into(
                &mut self.referrer,
                r,
                &cfg.report.redact_params,
                &mut self.verdicts,
            )
        });
    }

    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    /// The location, for truncating it in place.
    pub(crate) fn location_mut(&mut self) -> &mut String {
        &mut self.location
    }

    pub(crate) fn host(&self) -> &str {
        &self.location[self.host.clone()]
    }

    /// Path and redacted query, starting with `/`.
    pub(crate) fn path(&self) -> &str {
        &self.location[self.host.end..]
    }

    pub(crate) fn title(&self) -> &str {
        &self.title
    }

    pub(crate) fn referrer(&self) -> Option<&str> {
        self.has_referrer.then_some(self.referrer.as_str())
    }

    /// The referrer, for truncating it in place.
    pub(crate) fn referrer_mut(&mut self) -> Option<&mut String> {
        self.has_referrer.then_some(&mut self.referrer)
    }
}

/// Appends the host: the override, a trusted proxy's, the URI's, the `Host` header's, or the
/// fallback, lower-cased (the override and fallback as configured).
fn host_into(
    out: &mut String,
    hit: &Hit,
    cfg: &Config,
    proxy: Option<&ProxyHeaders<'_>>,
    last_host: &mut LastHost,
) {
    if let Some(h) = &cfg.report.host_override {
        out.push_str(h);
        return;
    }
    if let Some(h) = proxy.and_then(forwarded_host) {
        out.push_str(&h);
        return;
    }
    // The URI's authority was captured without its credentials.
    if let Some(h) = hit.authority() {
        let start = out.len();
        out.push_str(h);
        out[start..].make_ascii_lowercase();
    } else if !hit.host_header().is_some_and(|v| last_host.push(out, v)) {
        out.push_str(&cfg.report.fallback_host);
    }
}

fn title_into(out: &mut String, hit: &Hit, cfg: &Config) {
    if let Some(t) = &hit.title {
        out.push_str(t.as_str());
        return;
    }
    if let Some(hook) = &cfg.report.make_title {
        if let Some(t) = crate::hooks::guarded("title_with", || hook.make_title(hit)).flatten() {
            out.push_str(&t);
            return;
        }
    }
    match hit.route() {
        Some(route) => {
            out.push_str(hit.method.as_str());
            out.push(' ');
            out.push_str(route);
        }
        None => out.push_str(&cfg.report.unmatched_title),
    }
}

#[cfg(test)]
mod tests;
