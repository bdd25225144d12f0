//! Headers a trusted proxy sets: `Forwarded` (RFC 7239) and the `X-Forwarded-*` family.

use std::net::IpAddr;
use std::sync::Arc;

use http::uri::Authority;
use ipnet::IpNet;

use super::authority::{host_of, known_scheme};

/// The proxies in front of the API whose forwarding headers are believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Trusted {
    /// That many, each appending one entry: the client is the entry that many from the right.
    Hops(u8),
    /// Those with an address in these networks. The peer must be one of them (when it is known),
    /// and the client is the rightmost entry outside them.
    Ranges(Arc<[IpNet]>),
}

impl Trusted {
    /// Parses networks (`10.0.0.0/8`, `2001:db8::/32`) and single addresses; on failure, the
    /// first entry that is neither.
    pub(crate) fn ranges<S: AsRef<str>>(
        list: impl IntoIterator<Item = S>,
    ) -> Result<Trusted, String> {
        let nets = list
            .into_iter()
            .map(|s| {
                let s = s.as_ref().trim();
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| s.to_owned())
            })
            .collect::<Result<Arc<[IpNet]>, String>>()?;
        Ok(Trusted::Ranges(nets))
    }

    fn trusts(nets: &[IpNet], ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        nets.iter().any(|n| n.contains(&ip))
    }

    /// Whether headers that came from `peer` are a trusted proxy's (an unknown peer is given the
    /// benefit of the doubt, as with a count of hops).
    pub(crate) fn believes(&self, peer: Option<IpAddr>) -> bool {
        match (self, peer) {
            (Trusted::Ranges(nets), Some(ip)) => Trusted::trusts(nets, ip),
            _ => true,
        }
    }

    /// Becomes `other` without touching a shared list's reference count when it already is it:
    /// a recycled hit keeps the list of its last capture.
    pub(crate) fn assign(&mut self, other: &Trusted) {
        let same = match (&*self, other) {
            (Trusted::Hops(a), Trusted::Hops(b)) => a == b,
            (Trusted::Ranges(a), Trusted::Ranges(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if !same {
            *self = other.clone();
        }
    }
}

/// Headers read only when the user declared the proxy in front of the API trusted (text, as
/// `HeaderValue::to_str` gives it).
#[derive(Clone, Copy)]
pub(crate) struct ProxyHeaders<'a> {
    pub(crate) forwarded: Option<&'a str>,
    pub(crate) x_forwarded_proto: Option<&'a str>,
    pub(crate) x_forwarded_host: Option<&'a str>,
    pub(crate) x_forwarded_for: Option<&'a str>,
}

/// A list header's elements, trimmed, empty ones left out.
fn items(v: &str) -> impl DoubleEndedIterator<Item = &str> {
    v.split(',').map(str::trim).filter(|e| !e.is_empty())
}

/// The element `n` from the right (1: the last), if the list has that many.
fn nth_from_right(v: &str, n: u8) -> Option<&str> {
    items(v).rev().nth(usize::from(n.max(1)) - 1)
}

/// A parameter of one `Forwarded` element (RFC 7239): `for=1.2.3.4;proto=https;host=a.example`.
fn param<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// The scheme the nearest trusted proxy reports: its `Forwarded` element's `proto`, else the last
/// `X-Forwarded-Proto`. Elements further left were written by whoever sent the request to it.
pub(crate) fn forwarded_proto(p: &ProxyHeaders<'_>) -> Option<&'static str> {
    match p.forwarded.and_then(|f| nth_from_right(f, 1)) {
        Some(element) => param(element, "proto"),
        None => nth_from_right(p.x_forwarded_proto?, 1),
    }
    .and_then(known_scheme)
}

/// The host the nearest trusted proxy reports, as [`forwarded_proto`] finds it.
pub(crate) fn forwarded_host(p: &ProxyHeaders<'_>) -> Option<String> {
    let h = match p.forwarded.and_then(|f| nth_from_right(f, 1)) {
        Some(element) => param(element, "host"),
        None => nth_from_right(p.x_forwarded_host?, 1),
    }?;
    let a: Authority = h.parse().ok()?;
    (!a.host().is_empty()).then(|| host_of(a.as_str()).to_ascii_lowercase())
}

/// The client address behind the trusted proxies. With a count of `hops`, each appends the
/// address it received the request from, so the client's is the `hops`-th entry from the right
/// of `Forwarded`'s `for=` (else `X-Forwarded-For`); `None` when the list is shorter: the request
/// didn't come through every proxy. With networks, it is the rightmost entry outside them (the
/// leftmost when all are inside); `None` at an entry that is no address. Entries further left
/// are whatever the client sent, and are never read.
pub(crate) fn forwarded_for(p: &ProxyHeaders<'_>, trusted: &Trusted) -> Option<IpAddr> {
    match trusted {
        Trusted::Hops(hops) => {
            let raw = match p.forwarded {
                Some(f) => param(nth_from_right(f, *hops)?, "for")?,
                None => nth_from_right(p.x_forwarded_for?, *hops)?,
            };
            address(raw)
        }
        Trusted::Ranges(nets) => match p.forwarded {
            Some(f) => rightmost_outside(items(f).rev().map(|e| param(e, "for")), nets),
            None => rightmost_outside(items(p.x_forwarded_for?).rev().map(Some), nets),
        },
    }
}

/// The first of `entries` (right to left) outside `nets`, else the last; `None` at an entry
/// that is no address.
fn rightmost_outside<'a>(
    entries: impl Iterator<Item = Option<&'a str>>,
    nets: &[IpNet],
) -> Option<IpAddr> {
    let mut client = None;
    for raw in entries {
        let ip = address(raw?)?;
        client = Some(ip);
        if !Trusted::trusts(nets, ip) {
            break;
        }
    }
    client
}

/// An entry's address: `"[2001:db8::1]:4711"`, `192.0.2.1:80` or a bare address.
fn address(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim_matches('"');
    if let Ok(ip) = raw.parse() {
        return Some(ip);
    }
    if let Some(rest) = raw.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    raw.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &str) -> ProxyHeaders<'_> {
        ProxyHeaders {
            forwarded: None,
            x_forwarded_proto: None,
            x_forwarded_host: None,
            x_forwarded_for: Some(v),
        }
    }

    #[test]
    fn the_client_is_the_entry_behind_the_trusted_proxies_not_the_leftmost() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        // The client sent `6.6.6.6` itself; the one trusted proxy appended what it saw.
        assert_eq!(
            forwarded_for(&xff("6.6.6.6, 203.0.113.7"), &Trusted::Hops(1)),
            ip("203.0.113.7")
        );
        // Two trusted proxies: the second appended the first's address.
        assert_eq!(
            forwarded_for(&xff("6.6.6.6, 203.0.113.7, 10.0.0.1"), &Trusted::Hops(2)),
            ip("203.0.113.7")
        );
        // Fewer entries than proxies: no address from the headers.
        assert_eq!(forwarded_for(&xff("203.0.113.7"), &Trusted::Hops(2)), None);
        let fwd = ProxyHeaders {
            forwarded: Some(
                "for=6.6.6.6;host=evil.example, for=\"[2001:db8::1]:4711\";proto=https",
            ),
            ..xff("9.9.9.9")
        };
        assert_eq!(forwarded_for(&fwd, &Trusted::Hops(1)), ip("2001:db8::1"));
        assert_eq!(forwarded_proto(&fwd), Some("https"));
        // The nearest proxy's element names no host: the client's `host=` isn't believed.
        assert_eq!(forwarded_host(&fwd), None);
        let xfh = ProxyHeaders {
            x_forwarded_host: Some("evil.example, api.example.com"),
            x_forwarded_proto: Some("http, https"),
            ..xff("")
        };
        assert_eq!(forwarded_host(&xfh).as_deref(), Some("api.example.com"));
        assert_eq!(forwarded_proto(&xfh), Some("https"));
    }

    #[test]
    fn with_networks_the_client_is_the_rightmost_entry_outside_them() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let t = Trusted::ranges(["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]).unwrap();
        // Any number of internal hops; the client forged the leftmost.
        assert_eq!(
            forwarded_for(&xff("6.6.6.6, 203.0.113.7, 10.1.2.3, 192.0.2.1"), &t),
            ip("203.0.113.7")
        );
        assert_eq!(forwarded_for(&xff("203.0.113.7"), &t), ip("203.0.113.7"));
        // All inside: the request came from inside; its origin is the leftmost.
        assert_eq!(
            forwarded_for(&xff("10.9.9.9, 10.0.0.1"), &t),
            ip("10.9.9.9")
        );
        // An entry that is no address stops the walk: nothing left of it is believed.
        assert_eq!(forwarded_for(&xff("6.6.6.6, unknown, 10.0.0.1"), &t), None);
        let fwd = ProxyHeaders {
            forwarded: Some("for=6.6.6.6, for=\"[2001:db9::1]:80\", for=\"[2001:db8::5]\""),
            ..xff("9.9.9.9")
        };
        assert_eq!(forwarded_for(&fwd, &t), ip("2001:db9::1"));
        // The peer must be a trusted proxy for its headers to be read.
        assert!(t.believes(ip("10.0.0.7")));
        assert!(t.believes(ip("::ffff:10.0.0.7")));
        assert!(!t.believes(ip("203.0.113.7")));
        assert!(t.believes(None));
        assert!(Trusted::Hops(1).believes(ip("203.0.113.7")));
        assert_eq!(Trusted::ranges(["10.0.0.0/8", "nope"]), Err("nope".into()));
    }
}
