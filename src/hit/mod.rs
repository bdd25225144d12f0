//! The captured request: what the request path copies out of a request and its response.
//!
//! Capturing is deliberately cheap: the URI, the route template and the few headers a hit needs
//! are copied into one buffer ([`Captured`]) of a hit the sender handed back for reuse. Everything
//! that costs (building the URL, redacting the query, hashing the client id, encoding JSON)
//! happens later, in the background sender.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Extensions, Method, StatusCode, Uri};

use crate::captured::{Captured, Field, Writer};

use crate::markers::{ClientId, PageTitle, UserId};

/// The route template that matched a request, such as `/users/{id}`.
///
/// axum users get it for free from `MatchedPath`. Users of another router can insert a
/// `MatchedRoute` into the request extensions (before the [`GaLayer`](crate::GaLayer) runs) or the
/// response extensions, and get the same titles and `http_route` parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedRoute(Arc<str>);

impl MatchedRoute {
    /// Creates a route template.
    pub fn new(template: impl Into<Arc<str>>) -> Self {
        Self(template.into())
    }

    /// The template.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The route template in a request's or response's extensions: a [`MatchedRoute`], or axum's
/// `MatchedPath`. A hit copies it rather than sharing the router's string: that string's reference
/// count is touched by every request of the route, and a sender thread touching it too would
/// take its cache line away from the request path's core on every hit.
fn route_in(ext: &Extensions) -> Option<&str> {
    if let Some(r) = ext.get::<MatchedRoute>() {
        return Some(r.as_str());
    }
    #[cfg(feature = "axum")]
    if let Some(p) = ext.get::<axum::extract::MatchedPath>() {
        return Some(p.as_str());
    }
    None
}

/// axum's internal routes (`/{*__private__axum_fallback}`, nest tails) are no routes of the
/// application's. They are catch-all parameters, which axum only allows as the last segment: two
/// suffix comparisons, where a substring search would cost a few times more on every request.
fn is_private_route(r: &str) -> bool {
    r.ends_with("{*__private__axum_fallback}") || r.ends_with("{*__private__axum_nest_tail_param}")
}

/// The client address as seen by the application, for users who don't use axum's `ConnectInfo`:
/// insert it into the request extensions before the [`GaLayer`](crate::GaLayer) runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Headers read only when the user declared the proxy in front of the API trusted (text, as
/// `HeaderValue::to_str` gives it).
#[derive(Clone, Copy)]
pub(crate) struct ProxyHeaders<'a> {
    pub(crate) forwarded: Option<&'a str>,
    pub(crate) x_forwarded_proto: Option<&'a str>,
    pub(crate) x_forwarded_host: Option<&'a str>,
    pub(crate) x_forwarded_for: Option<&'a str>,
}

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// One tracked request, as the hooks and filters see it.
///
/// A `Hit` is created when the request reaches the layer and completed when the response is
/// produced. Its `Debug` output never shows credentials.
#[derive(Clone)]
pub struct Hit {
    pub(crate) method: Method,
    /// The URI's parts, `Host`, `Referer`, `User-Agent`, the credential (the `Authorization`
    /// header or the configured API-key header: identity material for the keyed client id, never
    /// sent, never printed) and, behind a trusted proxy, its headers.
    pub(crate) text: Captured,
    pub(crate) peer_ip: Option<IpAddr>,
    pub(crate) title: Option<PageTitle>,
    pub(crate) user_id: Option<UserId>,
    pub(crate) client_id: Option<ClientId>,
    pub(crate) status: StatusCode,
    /// When the request reached the layer. The wall-clock time is derived from it in the sender,
    /// which saves a clock read on the request path.
    pub(crate) started: Instant,
    /// Set by the sender when it takes the hit; `UNIX_EPOCH` until then.
    pub(crate) received_at: SystemTime,
    /// When the response was produced (`started` until then): the latency is computed from
    /// the two only when read, which saves a subtraction on the request path.
    pub(crate) ended: Instant,
}

/// What [`Hit::capture`] needs to know from the configuration.
pub(crate) struct CaptureRules<'a> {
    pub(crate) credential_header: Option<&'a HeaderName>,
    pub(crate) trust_proxy: bool,
}

impl Hit {
    /// Copies what the hit needs out of a request into `slot` (a recycled hit, whose buffer it
    /// reuses) or a new hit. Runs on the request path: allocates only without a slot or while the
    /// buffer grows.
    pub(crate) fn capture(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        ext: &Extensions,
        rules: &CaptureRules<'_>,
        slot: Option<Box<Hit>>,
    ) -> Box<Self> {
        let mut hit = slot.unwrap_or_else(Hit::blank);
        let mut text = Writer::new(hit.text.take_buf());
        if let Some(scheme) = uri.scheme_str() {
            text.set_str(Field::Scheme, scheme);
        }
        if let Some(authority) = uri.authority() {
            // Credentials (`user:pass@`) are never kept, let alone reported.
            text.set_str(Field::Authority, crate::page::host_of(authority.as_str()));
        }
        text.set_str(Field::Path, uri.path());
        if let Some(query) = uri.query() {
            text.set_str(Field::Query, query);
        }
        capture_headers(&mut text, headers, rules);
        if let Some(route) = route_in(ext).filter(|r| !is_private_route(r)) {
            text.set_str(Field::Route, route);
        }
        // Field by field, into the recycled hit: no 250-byte value is built and moved.
        let h = &mut *hit;
        h.method = kept_method(method);
        h.text = text.finish();
        h.peer_ip = peer_ip(ext);
        h.title = ext.get::<PageTitle>().cloned();
        h.user_id = ext.get::<UserId>().cloned();
        h.client_id = ext.get::<ClientId>().cloned();
        h.status = StatusCode::OK;
        h.started = Instant::now();
        h.ended = h.started;
        h.received_at = SystemTime::UNIX_EPOCH;
        hit
    }

    fn blank() -> Box<Self> {
        let now = Instant::now();
        Box::new(Hit {
            method: Method::GET,
            text: Captured::empty(),
            peer_ip: None,
            title: None,
            user_id: None,
            client_id: None,
            status: StatusCode::OK,
            started: now,
            received_at: SystemTime::UNIX_EPOCH,
            ended: now,
        })
    }

    /// Lets go of what the request left in the hit (shared strings, an oversized buffer) before
    /// it waits in the pool for the next capture.
    pub(crate) fn clear(&mut self) {
        self.method = Method::GET;
        self.text.clear();
        self.title = None;
        self.user_id = None;
        self.client_id = None;
    }

    /// Captures a test request with default rules (and a trusted proxy when asked).
    #[cfg(test)]
    pub(crate) fn from_request<B>(req: &http::Request<B>, trust_proxy: bool) -> Self {
        let rules = CaptureRules {
            credential_header: None,
            trust_proxy,
        };
        *Hit::capture(
            req.method(),
            req.uri(),
            req.headers(),
            req.extensions(),
            &rules,
            None,
        )
    }

    /// Completes the hit with what the response says: status, latency, and markers from the
    /// response extensions, which win over those of the request.
    pub(crate) fn complete(&mut self, status: StatusCode, ext: &Extensions) {
        self.status = status;
        self.ended = Instant::now();
        if let Some(t) = ext.get::<PageTitle>() {
            self.title = Some(t.clone());
        }
        if let Some(u) = ext.get::<UserId>() {
            self.user_id = Some(u.clone());
        }
        if let Some(c) = ext.get::<ClientId>() {
            self.client_id = Some(c.clone());
        }
        if let Some(route) = route_in(ext) {
            let mut text = self.text.reopen();
            if is_private_route(route) {
                text.unset(Field::Route);
            } else {
                text.set_str(Field::Route, route);
            }
            self.text = text.finish();
        }
    }

    /// The request method (of a nonstandard method longer than 15 bytes, the first 15 bytes:
    /// kept without allocating, and no real method is that long).
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request path as received (at most 2 kB of it).
    pub fn path(&self) -> &str {
        self.text.get_str(Field::Path).unwrap_or("/")
    }

    /// The query string as received, without the `?` (at most 2 kB of it). It may hold secrets:
    /// the layer redacts them before sending, a hook that reads this must do the same.
    pub fn query(&self) -> Option<&str> {
        self.text.get_str(Field::Query)
    }

    /// The URI's scheme, for absolute-form requests.
    pub(crate) fn scheme(&self) -> Option<&str> {
        self.text.get_str(Field::Scheme)
    }

    /// The URI's authority, for absolute-form requests.
    pub(crate) fn authority(&self) -> Option<&str> {
        self.text.get_str(Field::Authority)
    }

    /// The `Host` header, if it is valid text.
    pub(crate) fn host_header(&self) -> Option<&str> {
        self.text.header_str(Field::Host)
    }

    /// The `Referer` header, if it is valid text.
    pub(crate) fn referer_header(&self) -> Option<&str> {
        self.text.header_str(Field::Referer)
    }

    pub(crate) fn user_agent_bytes(&self) -> Option<&[u8]> {
        self.text.get(Field::UserAgent)
    }

    pub(crate) fn credential(&self) -> Option<&[u8]> {
        self.text.get(Field::Credential)
    }

    /// A trusted proxy's headers, if the request has any (captured only when the proxy is
    /// trusted).
    pub(crate) fn proxy(&self) -> Option<ProxyHeaders<'_>> {
        let t = &self.text;
        let p = ProxyHeaders {
            forwarded: t.header_str(Field::Forwarded),
            x_forwarded_proto: t.header_str(Field::XForwardedProto),
            x_forwarded_host: t.header_str(Field::XForwardedHost),
            x_forwarded_for: t.header_str(Field::XForwardedFor),
        };
        (p.forwarded.is_some()
            || p.x_forwarded_proto.is_some()
            || p.x_forwarded_host.is_some()
            || p.x_forwarded_for.is_some())
        .then_some(p)
    }

    /// The matched route template, if the router reported one (unmatched routes and axum's
    /// internal fallback routes give `None`).
    pub fn route(&self) -> Option<&str> {
        self.text.get_str(Field::Route)
    }

    /// The route template, or else the path, as bytes: what the default filter compares, on the
    /// request path, without a UTF-8 check (both were copied from `&str`s).
    pub(crate) fn route_or_path_bytes(&self) -> &[u8] {
        self.text
            .get(Field::Route)
            .or_else(|| self.text.get(Field::Path))
            .unwrap_or(b"/")
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Time from the request reaching the layer to the response being produced.
    pub fn latency(&self) -> Duration {
        self.ended.saturating_duration_since(self.started)
    }

    /// When the request reached the layer.
    pub fn received_at(&self) -> SystemTime {
        if self.received_at == SystemTime::UNIX_EPOCH {
            wall_clock_of(self.started)
        } else {
            self.received_at
        }
    }

    /// Fixes the wall-clock arrival time (in the sender).
    #[cfg(test)]
    pub(crate) fn stamp(&mut self) {
        self.stamp_by(&Clocks::now());
    }

    /// Fixes the wall-clock arrival time by clocks read once for many hits.
    pub(crate) fn stamp_by(&mut self, clocks: &Clocks) {
        self.received_at = clocks.wall_clock_of(self.started);
    }

    /// The [`PageTitle`] annotation, if any.
    pub fn page_title(&self) -> Option<&PageTitle> {
        self.title.as_ref()
    }

    /// The [`UserId`], if any.
    pub fn user_id(&self) -> Option<&UserId> {
        self.user_id.as_ref()
    }

    /// The request's `User-Agent`, if it is valid text.
    pub fn user_agent(&self) -> Option<&str> {
        self.text.header_str(Field::UserAgent)
    }

    /// The client address, from axum's `ConnectInfo`, a [`ClientIp`] extension, or (behind a
    /// trusted proxy) `X-Forwarded-For` / `Forwarded`. An IPv4 client of a dual-stack socket
    /// (`::ffff:a.b.c.d`) is given as its IPv4 address.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.proxy()
            .as_ref()
            .and_then(crate::page::forwarded_for)
            .or(self.peer_ip)
            .map(|ip| ip.to_canonical())
    }
}

/// Copies the first value of each header a hit keeps, in one pass over the request's headers: for
/// the handful of headers an API request carries, cheaper than one hashed look-up per name.
fn capture_headers(text: &mut Writer, headers: &HeaderMap, rules: &CaptureRules<'_>) {
    let mut api_key: Option<&HeaderValue> = None;
    // Fields whose first value was seen (kept or, when too long, not): a later value never
    // stands in for a first one.
    let mut seen = 0u16;
    for (name, value) in headers {
        if api_key.is_none() && rules.credential_header == Some(name) {
            api_key = Some(value);
        }
        let field = if name == header::HOST {
            Field::Host
        } else if name == header::USER_AGENT {
            Field::UserAgent
        } else if name == header::REFERER {
            Field::Referer
        } else if name == header::AUTHORIZATION {
            Field::Credential
        } else if !rules.trust_proxy {
            continue;
        } else if name == header::FORWARDED {
            Field::Forwarded
        } else if name == X_FORWARDED_PROTO {
            Field::XForwardedProto
        } else if name == X_FORWARDED_HOST {
            Field::XForwardedHost
        } else if name == X_FORWARDED_FOR {
            Field::XForwardedFor
        } else {
            continue;
        };
        // A repeated header's first value, as `HeaderMap::get` gives.
        let bit = 1 << field as u16;
        if seen & bit == 0 {
            seen |= bit;
            text.set(field, value.as_bytes());
        }
    }
    // `Authorization` wins over the configured header, wherever each comes.
    if let (false, Some(key)) = (text.has(Field::Credential), api_key) {
        text.set(Field::Credential, key.as_bytes());
    }
}

/// The method a hit keeps. A nonstandard method longer than 15 bytes would be copied to the heap
/// (a server accepts one of any length): it is cut to the 15 bytes `Method` keeps inline, so that
/// a hit's size stays bounded and capture doesn't allocate.
fn kept_method(method: &Method) -> Method {
    const INLINE: usize = 15;
    let s = method.as_str();
    if s.len() <= INLINE {
        return method.clone();
    }
    // A valid method is all token characters (ASCII), so any prefix is a valid method too.
    Method::from_bytes(&s.as_bytes()[..INLINE]).unwrap_or(Method::GET)
}

fn wall_clock_of(t: Instant) -> SystemTime {
    let now = SystemTime::now();
    now.checked_sub(t.elapsed()).unwrap_or(now)
}

/// The wall clock and the monotonic clock, read together: they date any `Instant` near them, so
/// that the sender reads the clocks once per batch of hits taken instead of once per hit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clocks {
    wall: SystemTime,
    mono: Instant,
}

impl Clocks {
    pub(crate) fn now() -> Self {
        Clocks {
            wall: SystemTime::now(),
            mono: Instant::now(),
        }
    }

    /// The wall-clock time of `t`, which may come before or after the reading.
    pub(crate) fn wall_clock_of(&self, t: Instant) -> SystemTime {
        if t <= self.mono {
            self.wall.checked_sub(self.mono - t).unwrap_or(self.wall)
        } else {
            self.wall + (t - self.mono)
        }
    }
}

fn peer_ip(ext: &Extensions) -> Option<IpAddr> {
    if let Some(ip) = ext.get::<ClientIp>() {
        return Some(ip.0);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = ext.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    ext.get::<SocketAddr>().map(SocketAddr::ip)
}

impl fmt::Debug for Hit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hit")
            .field("method", &self.method)
            .field("path", &self.path())
            .field("route", &self.route())
            .field("status", &self.status)
            .field("latency", &self.latency())
            .field("title", &self.title)
            .field("user_id", &self.user_id)
            .field("credential", &self.credential().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_date_instants_either_side_of_their_reading() {
        let c = Clocks::now();
        let d = Duration::from_millis(1500);
        assert_eq!(c.wall_clock_of(c.mono), c.wall);
        assert_eq!(c.wall_clock_of(c.mono + d), c.wall + d);
        if let Some(before) = c.mono.checked_sub(d) {
            assert_eq!(c.wall_clock_of(before), c.wall - d);
        }
        // A hit taken after the reading is dated as the clocks would date it then.
        let mut hit = Hit::from_request(&http::Request::get("/").body(()).unwrap(), false);
        let later = Clocks::now();
        hit.stamp_by(&c);
        let by_later = later.wall_clock_of(hit.started);
        let gap = by_later
            .duration_since(hit.received_at)
            .unwrap_or_else(|e| e.duration());
        assert!(gap < Duration::from_millis(50), "{gap:?}");
    }

    fn capture(req: &http::Request<()>) -> Hit {
        Hit::from_request(req, false)
    }

    #[test]
    fn debug_never_prints_credentials_or_query() {
        let req = http::Request::get("/a?token=s3cr3t")
            .header("authorization", "Bearer s3cr3t")
            .body(())
            .unwrap();
        let text = format!("{:?}", capture(&req));
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn headers_found_in_one_pass_match_what_get_finds() {
        let api_key = HeaderName::from_static("x-api-key");
        let rules = CaptureRules {
            credential_header: Some(&api_key),
            trust_proxy: true,
        };
        let req = http::Request::get("/x")
            .header("x-api-key", "key-1")
            .header("host", "first.example")
            .header("x-forwarded-for", "192.0.2.1")
            .header("host", "second.example")
            .header("authorization", "Bearer a")
            .header("x-forwarded-for", "192.0.2.2")
            .header("user-agent", "ua")
            .body(())
            .unwrap();
        let capture = |req: &http::Request<()>, rules: &CaptureRules<'_>| {
            *Hit::capture(
                req.method(),
                req.uri(),
                req.headers(),
                req.extensions(),
                rules,
                None,
            )
        };
        let hit = capture(&req, &rules);
        let h = req.headers();
        assert_eq!(
            hit.host_header(),
            h.get("host").and_then(|v| v.to_str().ok())
        );
        assert_eq!(hit.host_header(), Some("first.example"));
        assert_eq!(hit.user_agent(), Some("ua"));
        assert_eq!(hit.referer_header(), None);
        // `Authorization` wins over the configured header, wherever each comes.
        assert_eq!(hit.credential(), Some(&b"Bearer a"[..]));
        assert_eq!(hit.client_ip(), Some("192.0.2.1".parse().unwrap()));

        let mut req = req;
        req.headers_mut().remove("authorization");
        let hit = capture(&req, &rules);
        assert_eq!(hit.credential(), Some(&b"key-1"[..]));
        // Proxy headers count only when the proxy is trusted.
        let untrusted = CaptureRules {
            trust_proxy: false,
            ..rules
        };
        assert!(capture(&req, &untrusted).proxy().is_none());
    }

    #[test]
    fn a_hit_pins_none_of_the_requests_buffers() {
        use std::sync::atomic::{AtomicBool, Ordering};
        // The buffer a server read the request into; the request's URI and headers are slices
        // of it, as hyper makes them.
        struct ReadBuf(Vec<u8>, Arc<AtomicBool>);
        impl AsRef<[u8]> for ReadBuf {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
        impl Drop for ReadBuf {
            fn drop(&mut self) {
                self.1.store(true, Ordering::SeqCst);
            }
        }
        let freed = Arc::new(AtomicBool::new(false));
        let raw = b"/a?b=1api.example.comBearer tokencurl".to_vec();
        let buf = bytes::Bytes::from_owner(ReadBuf(raw, freed.clone()));
        let value =
            |r: std::ops::Range<usize>| HeaderValue::from_maybe_shared(buf.slice(r)).unwrap();
        let mut req = http::Request::get(Uri::from_maybe_shared(buf.slice(0..6)).unwrap())
            .body(())
            .unwrap();
        req.headers_mut().insert(header::HOST, value(6..21));
        req.headers_mut()
            .insert(header::AUTHORIZATION, value(21..33));
        req.headers_mut().insert(header::USER_AGENT, value(33..37));
        let hit = capture(&req);
        drop((req, buf));
        assert!(
            freed.load(Ordering::SeqCst),
            "the hit keeps the read buffer alive"
        );
        assert_eq!((hit.path(), hit.query()), ("/a", Some("b=1")));
        assert_eq!(hit.host_header(), Some("api.example.com"));
        assert_eq!(hit.credential(), Some(&b"Bearer token"[..]));
        assert_eq!(hit.user_agent(), Some("curl"));
    }

    #[test]
    fn long_methods_are_kept_cut_to_what_fits_inline() {
        let long = "PROPFINDEXTENDED".repeat(6_000); // 96 kB: servers accept it
        for (method, kept) in [
            ("GET", "GET"),
            ("PURGE", "PURGE"),
            ("ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNO"),
            (long.as_str(), "PROPFINDEXTENDE"),
        ] {
            let req = http::Request::builder()
                .method(method)
                .uri("/x")
                .body(())
                .unwrap();
            assert_eq!(capture(&req).method().as_str(), kept);
        }
    }

    #[test]
    fn axum_private_routes_count_as_unmatched() {
        for (route, private) in [
            ("/{*__private__axum_fallback}", true),
            ("/api/{*__private__axum_fallback}", true),
            ("/api/{*__private__axum_nest_tail_param}", true),
            ("/{*rest}", false),
            ("/__private__axum/{id}", false),
        ] {
            let mut req = http::Request::get("/x").body(()).unwrap();
            req.extensions_mut().insert(MatchedRoute::new(route));
            let expected = (!private).then_some(route);
            assert_eq!(capture(&req).route(), expected, "{route}");
        }
    }

    #[test]
    fn the_route_is_copied_and_the_responses_route_wins() {
        let template = MatchedRoute::new("/a/{id}");
        let mut req = http::Request::get("/a/1").body(()).unwrap();
        req.extensions_mut().insert(template.clone());
        let mut hit = capture(&req);
        drop(req);
        // The hit holds no reference to the router's string.
        assert_eq!(Arc::strong_count(&template.0), 1);
        assert_eq!(hit.route(), Some("/a/{id}"));
        let mut ext = Extensions::new();
        ext.insert(MatchedRoute::new("/b/{id}"));
        hit.complete(StatusCode::OK, &ext);
        assert_eq!(hit.route(), Some("/b/{id}"));
        assert_eq!(hit.path(), "/a/1");
        ext.insert(MatchedRoute::new("/{*__private__axum_fallback}"));
        hit.complete(StatusCode::NOT_FOUND, &ext);
        assert_eq!(hit.route(), None);
    }

    #[test]
    fn response_markers_win_over_request_markers() {
        let mut req = http::Request::get("/x").body(()).unwrap();
        req.extensions_mut().insert(UserId::new("outer"));
        let mut hit = capture(&req);
        let mut ext = Extensions::new();
        ext.insert(UserId::new("inner"));
        hit.complete(StatusCode::CREATED, &ext);
        assert_eq!(hit.user_id().unwrap().as_str(), "inner");
        assert_eq!(hit.status(), StatusCode::CREATED);
    }
}
