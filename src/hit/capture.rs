//! Capture, on the request path: what a hit copies out of a request and its response.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Extensions, Method, StatusCode, Uri};

use super::text::{named, Captured, Field, Writer, MAX_NAMED};
use super::{Hit, OTHER_METHOD};
use crate::context::EventParams;
use crate::http_text::authority::host_of;
use crate::http_text::forwarded::Trusted;
use crate::http_text::geo::GeoHeaders;
use crate::markers::{
    ClientId, ClientIp, Deprecated, LocationFromRoute, MatchedRoute, PageTitle, UserId,
};

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

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// What [`Hit::capture`] needs to know from the configuration.
pub(crate) struct CaptureRules<'a> {
    pub(crate) credential_header: Option<&'a HeaderName>,
    pub(crate) trust_proxy: bool,
    /// Trusted proxies in front of the API, each appending to the forwarding headers.
    pub(crate) trusted: &'a Trusted,
    /// Headers captured by name, at most [`MAX_NAMED`].
    pub(crate) named: Option<&'a Arc<[HeaderName]>>,
    /// The location headers of trusted CDNs (empty unless the proxy is trusted).
    pub(crate) geo: &'a [GeoHeaders],
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
            text.set_str(Field::Authority, host_of(authority.as_str()));
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
        h.proxies.assign(rules.trusted);
        h.title = ext.get::<PageTitle>().cloned();
        h.user_id = ext.get::<UserId>().cloned();
        h.client_id = ext.get::<ClientId>().cloned();
        // Read from the response only (a route layer's or a handler's): a route's own choice.
        h.location_from_route = None;
        h.deprecated = None;
        h.named = rules.named.cloned();
        h.params = [ext.get::<EventParams>().cloned(), None];
        h.status = StatusCode::OK;
        h.report = true;
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
            proxies: Trusted::Hops(1),
            title: None,
            user_id: None,
            client_id: None,
            location_from_route: None,
            deprecated: None,
            named: None,
            params: [None, None],
            status: StatusCode::OK,
            report: true,
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
        self.location_from_route = None;
        self.deprecated = None;
        self.params = [None, None];
    }

    /// Captures a test request with default rules (and a trusted proxy when asked).
    #[cfg(test)]
    pub(crate) fn from_request<B>(req: &http::Request<B>, trust_proxy: bool) -> Self {
        let rules = CaptureRules {
            credential_header: None,
            trust_proxy,
            trusted: &Trusted::Hops(1),
            named: None,
            geo: &[],
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
        if let Some(m) = ext.get::<LocationFromRoute>() {
            self.location_from_route = Some(m.0);
        }
        if let Some(d) = ext.get::<Deprecated>() {
            self.deprecated = Some(d.clone());
        }
        if let Some(p) = ext.get::<EventParams>() {
            self.params[1] = Some(p.clone());
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
}

/// Copies the first value of each header a hit keeps, in one pass over the request's headers: for
/// the handful of headers an API request carries, cheaper than one hashed look-up per name.
fn capture_headers(text: &mut Writer, headers: &HeaderMap, rules: &CaptureRules<'_>) {
    let mut api_key: Option<&HeaderValue> = None;
    // A proxy header's last line: proxies that append add to the end, and the end is what a
    // trusted proxy wrote. Kept after the loop, so a header repeated many times is copied once.
    let mut proxy: [Option<&HeaderValue>; 4] = [None; 4];
    // Fields whose first value was seen (kept or, when too long, not): a later value never
    // stands in for a first one.
    let mut seen = 0u32;
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
        } else if let Some(field) = extra_field(name, rules) {
            field
        } else if !rules.trust_proxy {
            continue;
        } else {
            let slot = if name == header::FORWARDED {
                0
            } else if name == X_FORWARDED_PROTO {
                1
            } else if name == X_FORWARDED_HOST {
                2
            } else if name == X_FORWARDED_FOR {
                3
            } else {
                continue;
            };
            proxy[slot] = Some(value);
            continue;
        };
        // A repeated header's first value, as `HeaderMap::get` gives.
        let bit = 1 << field as u32;
        if seen & bit == 0 {
            seen |= bit;
            text.set(field, value.as_bytes());
        }
    }
    let fields = [
        Field::Forwarded,
        Field::XForwardedProto,
        Field::XForwardedHost,
        Field::XForwardedFor,
    ];
    for (field, value) in fields.into_iter().zip(proxy) {
        if let Some(v) = value {
            text.set(field, v.as_bytes());
        }
    }
    // `Authorization` wins over the configured header, wherever each comes.
    if let (false, Some(key)) = (text.has(Field::Credential), api_key) {
        text.set(Field::Credential, key.as_bytes());
    }
}

/// The field of a header captured by name or a trusted CDN's location header, if `name` is one:
/// two empty-slice checks when neither is configured.
#[inline]
fn extra_field(name: &HeaderName, rules: &CaptureRules<'_>) -> Option<Field> {
    if rules.named.is_none() && rules.geo.is_empty() {
        return None;
    }
    extra_field_slow(name, rules)
}

#[inline(never)]
fn extra_field_slow(name: &HeaderName, rules: &CaptureRules<'_>) -> Option<Field> {
    let names = rules.named.map_or(&[][..], |n| &n[..]);
    if let Some(i) = names.iter().take(MAX_NAMED).position(|n| n == name) {
        return Some(named(i));
    }
    rules.geo.iter().find_map(|g| {
        if g.country == name {
            Some(Field::GeoCountry)
        } else if g.region.as_ref() == Some(name) {
            Some(Field::GeoRegion)
        } else if g.city.as_ref() == Some(name) {
            Some(Field::GeoCity)
        } else {
            None
        }
    })
}

/// The method a hit keeps: RFC 9110's as they are, any other as `OTHER` (kept inline, without
/// allocating, whatever the request's method).
fn kept_method(method: &Method) -> Method {
    match *method {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::DELETE
        | Method::PATCH
        | Method::HEAD
        | Method::OPTIONS
        | Method::CONNECT
        | Method::TRACE => method.clone(),
        _ => Method::from_bytes(OTHER_METHOD.as_bytes()).unwrap_or(Method::GET),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn capture(req: &http::Request<()>) -> Hit {
        Hit::from_request(req, false)
    }

    #[test]
    fn headers_found_in_one_pass_match_what_get_finds() {
        let api_key = HeaderName::from_static("x-api-key");
        let rules = CaptureRules {
            credential_header: Some(&api_key),
            trust_proxy: true,
            trusted: &Trusted::Hops(1),
            named: None,
            geo: &[],
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
        // A proxy header's last line: the one an appending proxy wrote.
        assert_eq!(hit.client_ip(), Some("192.0.2.2".parse().unwrap()));

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
    fn methods_outside_rfc_9110_are_other() {
        let long = "PROPFINDEXTENDED".repeat(6_000); // 96 kB: servers accept it
        for (method, kept) in [
            ("GET", "GET"),
            ("PATCH", "PATCH"),
            ("CONNECT", "CONNECT"),
            ("PURGE", "OTHER"),
            ("M520", "OTHER"),
            ("get", "OTHER"),
            (long.as_str(), "OTHER"),
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
