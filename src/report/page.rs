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
/// one, and checking it costs several times more than comparing it.
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
/// sender keeps the page's encoded parameters ([`crate::protocol`]'s memo): two hits with the same
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
        let path = hit.path();
        if !path.starts_with('/') {
            loc.push('/');
        }
        loc.push_str(path);
        if !cfg.report.strip_query {
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
mod tests {
    use super::*;
    use crate::config::UNMATCHED_TITLE;
    use crate::markers::PageTitle;
    use http::header::HeaderValue;

    fn hit_for(req: &http::Request<()>, trust_proxy: bool) -> Hit {
        Hit::from_request(req, trust_proxy)
    }

    fn page(hit: &Hit, cfg: &Config) -> PageBuf {
        let mut p = PageBuf::default();
        p.fill(hit, cfg);
        p
    }

    #[test]
    fn location_uses_host_header_and_default_scheme() {
        let req = http::Request::get("/v1/items?page=2&token=x")
            .header("host", "API.Example.com:8080")
            .body(())
            .unwrap();
        let p = page(&hit_for(&req, false), &Config::default());
        assert_eq!(
            p.location(),
            "http://api.example.com:8080/v1/items?page=2&token=REDACTED"
        );
        assert_eq!(p.host(), "api.example.com:8080");
        assert_eq!(p.path(), "/v1/items?page=2&token=REDACTED");
        // The buffers are reused: a second fill leaves nothing of the first.
        let mut p = p;
        let req = http::Request::get("/b").body(()).unwrap();
        p.fill(&hit_for(&req, false), &Config::default());
        assert_eq!(
            (p.location(), p.host(), p.path(), p.referrer()),
            ("http://localhost/b", "localhost", "/b", None)
        );
    }

    #[test]
    fn the_last_host_header_is_remembered_and_follows_changes() {
        let mut p = PageBuf::default();
        let cfg = Config::default();
        let long = format!("{}.example", "a".repeat(LastHost::MAX_HEADER));
        for (host, expected) in [
            ("API.example.com", "api.example.com"),
            ("API.example.com", "api.example.com"),
            ("bad host", "localhost"),
            ("bad host", "localhost"),
            ("", "localhost"),
            ("other.example:8080", "other.example:8080"),
            (long.as_str(), long.as_str()),
            ("API.example.com", "api.example.com"),
        ] {
            let req = http::Request::get("/a")
                .header("host", host)
                .body(())
                .unwrap();
            p.fill(&hit_for(&req, false), &cfg);
            assert_eq!(p.host(), expected, "{host:?}");
            assert!(p.last_host.header.len() <= LastHost::MAX_HEADER);
        }
    }

    #[test]
    fn proxy_headers_only_count_when_trusted() {
        let req = http::Request::get("/a")
            .header("host", "internal:3000")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "api.example.com")
            .body(())
            .unwrap();
        let cfg = Config::default();
        assert_eq!(
            page(&hit_for(&req, false), &cfg).location(),
            "http://internal:3000/a"
        );
        let mut cfg = Config::default();
        cfg.capture.trust_proxy = true;
        assert_eq!(
            page(&hit_for(&req, true), &cfg).location(),
            "https://api.example.com/a"
        );
    }

    #[test]
    fn rfc7239_forwarded_is_understood() {
        let req = http::Request::get("/a")
            .header(
                "forwarded",
                "for=\"[2001:db8::1]:4711\";proto=https;host=x.example, for=10.0.0.1",
            )
            .body(())
            .unwrap();
        let mut cfg = Config::default();
        cfg.capture.trust_proxy = true;
        let hit = hit_for(&req, true);
        assert_eq!(page(&hit, &cfg).location(), "https://x.example/a");
        assert_eq!(hit.client_ip(), Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn missing_or_garbage_host_falls_back() {
        let req = http::Request::get("/a")
            .header("host", HeaderValue::from_bytes(b"bad host\xff").unwrap())
            .body(())
            .unwrap();
        assert_eq!(
            page(&hit_for(&req, false), &Config::default()).host(),
            "localhost"
        );
    }

    #[test]
    fn host_override_wins() {
        let req = http::Request::get("http://a.example/x").body(()).unwrap();
        let mut cfg = Config::default();
        cfg.report.host_override = Some("api.example.com".into());
        assert_eq!(
            page(&hit_for(&req, false), &cfg).location(),
            "http://api.example.com/x"
        );
    }

    #[test]
    fn credentials_never_reported_however_long() {
        let user = "u".repeat(600);
        let req = http::Request::get(format!("http://{user}:12345@a.example/x").as_str())
            .header(
                "referer",
                format!("https://{}:12345@r.example/p", "u".repeat(2100)),
            )
            .body(())
            .unwrap();
        let p = page(&hit_for(&req, false), &Config::default());
        assert_eq!(p.location(), "http://a.example/x");
        assert_eq!(p.referrer(), None);
        let req = http::Request::get("/x")
            .header("host", format!("{user}:12345@a.example"))
            .body(())
            .unwrap();
        let p = page(&hit_for(&req, false), &Config::default());
        assert_eq!(p.location(), "http://localhost/x");
    }

    #[test]
    fn long_headers_are_read_as_far_as_they_safely_can_be() {
        // A long referrer is still reported (redacted, and cut to the param limit later).
        let long = "x".repeat(3000);
        let req = http::Request::get("/x")
            .header(
                "referer",
                format!("https://app.example/s?token=t0k&q={long}"),
            )
            .body(())
            .unwrap();
        let p = page(&hit_for(&req, false), &Config::default());
        assert!(
            p.referrer()
                .unwrap()
                .starts_with("https://app.example/s?token=REDACTED&q=xxx"),
            "{:?}",
            p.referrer()
        );
        // Behind a trusted proxy, a long X-Forwarded-For chain still gives its first hop.
        let hops = (0..100).map(|i| format!("10.0.0.{i}")).collect::<Vec<_>>();
        let req = http::Request::get("/x")
            .header(
                "x-forwarded-for",
                format!("203.0.113.7, {}", hops.join(", ")),
            )
            .body(())
            .unwrap();
        assert_eq!(
            hit_for(&req, true).client_ip(),
            Some("203.0.113.7".parse().unwrap())
        );
        // A first Host value too long to keep isn't replaced by a second one.
        let req = http::Request::get("/x")
            .header("host", format!("{}.example", "a".repeat(600)))
            .header("host", "b.example")
            .body(())
            .unwrap();
        assert_eq!(
            page(&hit_for(&req, false), &Config::default()).host(),
            "localhost"
        );
    }

    #[test]
    fn absolute_uri_credentials_never_reported() {
        let req = http::Request::get("https://user:pw@a.example/x")
            .body(())
            .unwrap();
        assert_eq!(
            page(&hit_for(&req, false), &Config::default()).location(),
            "https://a.example/x"
        );
    }

    #[test]
    fn titles_annotation_then_template_then_unmatched() {
        let mut req = http::Request::get("/users/7").body(()).unwrap();
        let cfg = Config::default();
        assert_eq!(page(&hit_for(&req, false), &cfg).title(), UNMATCHED_TITLE);
        req.extensions_mut()
            .insert(crate::MatchedRoute::new("/users/{id}"));
        assert_eq!(page(&hit_for(&req, false), &cfg).title(), "GET /users/{id}");
        req.extensions_mut().insert(PageTitle::new("User"));
        assert_eq!(page(&hit_for(&req, false), &cfg).title(), "User");
    }
}
