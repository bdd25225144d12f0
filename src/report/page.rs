//! What a hit reports as its page: location (absolute URL with secrets redacted), host, path,
//! title and referrer. Runs in the background sender, never on the request path.

use std::net::IpAddr;

use http::uri::Authority;

use crate::config::Config;
use crate::hit::{Hit, ProxyHeaders};
use crate::redact::{SecretWords, Verdicts};

/// The title given to requests that matched no route, unless configured otherwise.
pub const UNMATCHED_TITLE: &str = "(unmatched route)";

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
    use crate::captured::Field;
    use crate::protocol::memo::part;
    if cfg.make_title.is_some() {
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
    let fields = if cfg.trust_proxy {
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
        let proxy = if cfg.trust_proxy { hit.proxy() } else { None };
        let proxy = proxy.as_ref();
        let scheme = proxy
            .and_then(forwarded_proto)
            .or_else(|| hit.scheme().and_then(known_scheme))
            .unwrap_or(cfg.default_scheme);
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
        if !cfg.strip_query {
            if let Some(q) = hit.query().filter(|q| !q.is_empty()) {
                loc.push('?');
                cfg.redact_params
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
                &cfg.redact_params,
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
    if let Some(h) = &cfg.host_override {
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
        out.push_str(&cfg.fallback_host);
    }
}

fn title_into(out: &mut String, hit: &Hit, cfg: &Config) {
    if let Some(t) = &hit.title {
        out.push_str(t.as_str());
        return;
    }
    if let Some(hook) = &cfg.make_title {
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
        None => out.push_str(&cfg.unmatched_title),
    }
}

fn known_scheme(s: &str) -> Option<&'static str> {
    if s.eq_ignore_ascii_case("https") {
        Some("https")
    } else if s.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// An authority without its `user:pass@`: credentials are never reported (nor, for an
/// absolute-form URI, even captured).
pub(crate) fn host_of(authority: &str) -> &str {
    authority
        .bytes()
        .rposition(|c| c == b'@')
        .map_or(authority, |at| &authority[at + 1..])
}

/// A `Host` header's value if it is a valid `host[:port]` (a name, an IPv4 address or a bracketed
/// IPv6 address). Checked by hand, on bytes: it runs for every hit, and parsing an `Authority`
/// copies the value.
fn header_host(v: &str) -> Option<&str> {
    // `user:pass@` has no place in a Host header; never report it. What comes before the last `@`
    // must at least be a userinfo (the characters `Authority` admits there): `a/b@c` is no host.
    let v = v.trim_ascii();
    let s = host_of(v);
    let userinfo = &v.as_bytes()[..(v.len() - s.len()).saturating_sub(1)];
    let userinfo_char = |c: &u8| c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:%@".contains(c);
    if !userinfo.iter().all(userinfo_char) {
        return None;
    }
    let b = s.as_bytes();
    let (host, port): (&[u8], &[u8]) = if b.first() == Some(&b'[') {
        let close = b.iter().position(|&c| c == b']')?;
        s[1..close].parse::<std::net::Ipv6Addr>().ok()?;
        let port = match &b[close + 1..] {
            [] => &[][..],
            [b':', port @ ..] => port,
            _ => return None,
        };
        (&b[..=close], port)
    } else {
        match b.iter().position(|&c| c == b':') {
            Some(colon) => (&b[..colon], &b[colon + 1..]),
            None => (b, &[][..]),
        }
    };
    let port_ok = port.len() <= 5 && port.iter().all(u8::is_ascii_digit);
    let name_ok = host.first() == Some(&b'[')
        || (!host.is_empty()
            && host
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_')));
    (port_ok && name_ok).then_some(s)
}

fn first_list_item(v: &str) -> Option<&str> {
    v.split(',').next().map(str::trim)
}

/// `Forwarded: for=1.2.3.4;proto=https;host=api.example.com` (RFC 7239), first element only.
fn forwarded_param<'a>(p: &ProxyHeaders<'a>, name: &str) -> Option<&'a str> {
    let first = first_list_item(p.forwarded?)?;
    first.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

fn forwarded_proto(p: &ProxyHeaders<'_>) -> Option<&'static str> {
    forwarded_param(p, "proto")
        .or_else(|| first_list_item(p.x_forwarded_proto?))
        .and_then(known_scheme)
}

fn forwarded_host(p: &ProxyHeaders<'_>) -> Option<String> {
    let h = forwarded_param(p, "host").or_else(|| first_list_item(p.x_forwarded_host?))?;
    let a: Authority = h.parse().ok()?;
    (!a.host().is_empty()).then(|| host_of(a.as_str()).to_ascii_lowercase())
}

/// The client address a trusted proxy reports: the first `Forwarded: for=` or `X-Forwarded-For`.
pub(crate) fn forwarded_for(p: &ProxyHeaders<'_>) -> Option<IpAddr> {
    let raw = forwarded_param(p, "for").or_else(|| first_list_item(p.x_forwarded_for?))?;
    // `for="[2001:db8::1]:4711"` or `192.0.2.1:80` or a bare address.
    let raw = raw.trim_matches('"');
    if let Ok(ip) = raw.parse() {
        return Some(ip);
    }
    if let Some(rest) = raw.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    raw.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

/// Appends a `Referer` value without its credentials and fragment, secrets redacted; `false` when
/// there is nothing to report.
fn referrer_into(out: &mut String, v: &str, redact: &SecretWords, seen: &mut Verdicts) -> bool {
    // Visible ASCII only (a header's text), so every byte position below is a char boundary.
    let Some(s) = Some(v.trim()).filter(|s| !s.is_empty()) else {
        return false;
    };
    let end = s
        .bytes()
        .position(|c| c == b'?' || c == b'#')
        .unwrap_or(s.len());
    let base = &s[..end];
    // A query only if `?` comes before any `#`: what follows `#` is the fragment, never sent.
    let query = s[end..].strip_prefix('?').map(|q| {
        q.bytes()
            .position(|c| c == b'#')
            .map_or(q, |hash| &q[..hash])
    });
    // Strip `user:pass@` from the referrer's authority, after `scheme://` or, in a network-path
    // reference (`//user:pass@host/p`, a valid `partial-URI`), after the leading `//`.
    let authority_at = base
        .as_bytes()
        .windows(3)
        .position(|w| w == b"://")
        .map(|i| i + 3)
        .or_else(|| base.starts_with("//").then_some(2));
    match authority_at {
        Some(i) => {
            let (head, rest) = base.split_at(i);
            let slash = rest.bytes().position(|c| c == b'/').unwrap_or(rest.len());
            let (auth, path) = rest.split_at(slash);
            out.push_str(head);
            out.push_str(host_of(auth));
            out.push_str(path);
        }
        None => out.push_str(base),
    }
    if let Some(q) = query {
        out.push('?');
        redact.redact_query_into(out, q, seen);
    }
    true
}

/// Truncates an IP address to its network: IPv4 to /24, IPv6 to /48.
pub(crate) fn truncate_ip(ip: IpAddr) -> IpAddr {
    // `::ffff:a.b.c.d` would otherwise keep only its leading zeros: `::`.
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], 0, 0, 0, 0, 0])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markers::PageTitle;
    use http::header::HeaderValue;

    fn words() -> SecretWords {
        SecretWords::default_list()
    }

    fn hit_for(req: &http::Request<()>, trust_proxy: bool) -> Hit {
        Hit::from_request(req, trust_proxy)
    }

    fn page(hit: &Hit, cfg: &Config) -> PageBuf {
        let mut p = PageBuf::default();
        p.fill(hit, cfg);
        p
    }

    fn referrer(v: &HeaderValue, redact: &SecretWords) -> Option<String> {
        let v = v.to_str().unwrap();
        let mut out = String::new();
        referrer_into(&mut out, v, redact, &mut Verdicts::default()).then_some(out)
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
        let cfg = Config {
            trust_proxy: true,
            ..Config::default()
        };
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
        let cfg = Config {
            trust_proxy: true,
            ..Config::default()
        };
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
    fn host_headers_are_checked() {
        let host = |s: &str| header_host(s).map(str::to_lowercase);
        assert_eq!(
            host("API.example.com:8080").as_deref(),
            Some("api.example.com:8080")
        );
        assert_eq!(
            host("[2001:DB8::1]:443").as_deref(),
            Some("[2001:db8::1]:443")
        );
        assert_eq!(host("[::1]").as_deref(), Some("[::1]"));
        assert_eq!(host("10.0.0.1").as_deref(), Some("10.0.0.1"));
        // Credentials are stripped, if they look like a userinfo at all.
        assert_eq!(host("user:pw@Host.test").as_deref(), Some("host.test"));
        assert_eq!(host("a@b@c").as_deref(), Some("c"));
        assert_eq!(host("!$&'()*+,;=:%41@h").as_deref(), Some("h"));
        for bad in [
            "v/u*@PG",
            "a<b@host",
            "a b@host",
            "[x@h",
            "a?b@h",
            "",
            ":80",
            "[zz",
            "[zz]",
            "a:b",
            "a:80:90",
            "a b",
            "a/b",
            "[::1]x",
            "a:123456",
            "é.example",
        ] {
            assert_eq!(host(bad), None, "{bad}");
        }
    }

    include!("../tests/support/host_oracle.rs");

    proptest::proptest! {
        /// The layer's Host rule against `http`'s `Authority` parser plus the layer's documented
        /// stricter rules (the oracle `tests/hostile.rs` uses too), on short strings of the
        /// characters that matter.
        #[test]
        fn the_host_rule_agrees_with_authority(s in "[a-zA-Z0-9@:/?#%.!*_~<> \\[\\]-]{0,12}") {
            let ours = header_host(&s).map(str::to_ascii_lowercase);
            proptest::prop_assert_eq!(ours, expected_host_of(&s));
        }
    }

    #[test]
    fn host_override_wins() {
        let req = http::Request::get("http://a.example/x").body(()).unwrap();
        let cfg = Config {
            host_override: Some("api.example.com".into()),
            ..Config::default()
        };
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
    fn referrer_is_redacted_and_stripped() {
        let v = HeaderValue::from_static("https://u:p@example.com/p?code=1&a=b#frag");
        assert_eq!(
            referrer(&v, &words()).unwrap(),
            "https://example.com/p?code=REDACTED&a=b"
        );
        // What follows `#` is the fragment, even when it holds a `?`.
        let v = HeaderValue::from_static("https://example.com/p#frag?token=1");
        assert_eq!(referrer(&v, &words()).unwrap(), "https://example.com/p");
        let v = HeaderValue::from_static("//u:p@example.com/p?token=1");
        assert_eq!(
            referrer(&v, &words()).unwrap(),
            "//example.com/p?token=REDACTED"
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

    #[test]
    fn ip_truncation() {
        assert_eq!(
            truncate_ip("192.0.2.77".parse().unwrap()).to_string(),
            "192.0.2.0"
        );
        assert_eq!(
            truncate_ip("2001:db8:1:2:3::4".parse().unwrap()).to_string(),
            "2001:db8:1::"
        );
        assert_eq!(
            truncate_ip("::ffff:203.0.113.7".parse().unwrap()).to_string(),
            "203.0.113.0"
        );
    }
}
