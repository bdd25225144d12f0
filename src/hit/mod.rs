//! The captured request: what the request path copies out of a request and its response.
//!
//! Capturing is deliberately cheap: the URI, the route template and the few headers a hit needs
//! are copied into one buffer ([`text::Captured`]) of a hit the sender handed back for reuse. Everything
//! that costs (building the URL, redacting the query, hashing the client id, encoding JSON)
//! happens later, in the background sender.

mod capture;
mod clock;
pub(crate) mod text;

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use http::{Method, StatusCode};

use crate::context::EventParams;
use crate::http_text::forwarded::{forwarded_for, ProxyHeaders, Trusted};
use crate::markers::{ClientId, PageTitle, UserId};
pub(crate) use capture::CaptureRules;
use clock::wall_clock_of;
pub(crate) use clock::Clocks;
use text::{Captured, Field};

/// The method of a hit whose request used a method outside RFC 9110's.
pub(crate) const OTHER_METHOD: &str = "OTHER";

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
    /// Trusted proxies in front of the API, as configured when the hit was captured.
    pub(crate) proxies: Trusted,
    pub(crate) title: Option<PageTitle>,
    pub(crate) user_id: Option<UserId>,
    pub(crate) client_id: Option<ClientId>,
    /// The route's [`Deprecated`](crate::Deprecated) marker, from the response.
    pub(crate) deprecated: Option<crate::markers::Deprecated>,
    /// A [`LocationFromRoute`](crate::LocationFromRoute) marker's choice, if the route has one.
    pub(crate) location_from_route: Option<bool>,
    /// The names of the headers captured by name, as configured when the hit was captured.
    pub(crate) named: Option<std::sync::Arc<[http::HeaderName]>>,
    /// [`EventParams`] of the request and of the response (which wins).
    pub(crate) params: [Option<EventParams>; 2],
    pub(crate) status: StatusCode,
    /// When the request reached the layer. The wall-clock time is derived from it in the sender,
    /// which saves a clock read on the request path.
    pub(crate) started: Instant,
    /// Set by the sender when it takes the hit; `UNIX_EPOCH` until then.
    pub(crate) received_at: SystemTime,
    /// Whether the hit goes to Google: `false` when the filter kept it out, and it only counts
    /// in the usage table and the metrics.
    pub(crate) report: bool,
    /// When the response was produced (`started` until then): the latency is computed from
    /// the two only when read, which saves a subtraction on the request path.
    pub(crate) ended: Instant,
}

impl Hit {
    /// The request method: one of RFC 9110's (`GET`, `POST`, `PUT`, `DELETE`, `PATCH`, `HEAD`,
    /// `OPTIONS`, `CONNECT`, `TRACE`), or `OTHER` for any other (`PROPFIND`, `M1`...). A client
    /// can invent methods at will: folded into one, they can't mint usage rows, metric series or
    /// GA pages.
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

    /// A trusted proxy's headers, if the request has any (captured only when a proxy is
    /// trusted) and came from a trusted proxy.
    pub(crate) fn proxy(&self) -> Option<ProxyHeaders<'_>> {
        if !self.proxies.believes(self.peer_ip) {
            return None;
        }
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

    /// A header captured by name ([`GaLayer::capture_header`](crate::GaLayer::capture_header)),
    /// if the request has it as visible ASCII: its first value, at most 256 bytes of it. The
    /// name is compared as header names are, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        let i = self
            .named
            .as_deref()?
            .iter()
            .position(|n| n.as_str().eq_ignore_ascii_case(name))?;
        self.text.header_str(text::named(i))
    }

    /// The header captured as `field`, as text.
    pub(crate) fn captured(&self, field: Field) -> Option<&str> {
        self.text.header_str(field)
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

    /// The route's [`Deprecated`](crate::Deprecated) marker, if its response carried one.
    pub fn deprecated(&self) -> Option<&crate::markers::Deprecated> {
        self.deprecated.as_ref()
    }

    /// The request's `User-Agent`, if it is valid text.
    pub fn user_agent(&self) -> Option<&str> {
        self.text.header_str(Field::UserAgent)
    }

    /// The client address, from axum's `ConnectInfo`, a [`ClientIp`](crate::ClientIp) extension, or (behind a
    /// trusted proxy) `X-Forwarded-For` / `Forwarded`. An IPv4 client of a dual-stack socket
    /// (`::ffff:a.b.c.d`) is given as its IPv4 address.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.proxy()
            .as_ref()
            .and_then(|p| forwarded_for(p, &self.proxies))
            .or(self.peer_ip)
            .map(|ip| ip.to_canonical())
    }
}

impl fmt::Debug for Hit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hit")
            .field("method", &self.method)
            // The raw path may hold a token (`/reset-password/<token>`): only its length shows.
            .field("path", &format_args!("<{} bytes>", self.path().len()))
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
    fn debug_never_prints_the_raw_path() {
        let req = http::Request::get("/reset-password/tok3n-abc")
            .body(())
            .unwrap();
        let text = format!("{:?}", capture(&req));
        assert!(!text.contains("tok3n"), "{text}");
        assert!(text.contains("<25 bytes>"), "{text}");
    }
}
