//! Headers a trusted proxy sets: `Forwarded` (RFC 7239) and the `X-Forwarded-*` family.

use std::net::IpAddr;

use http::uri::Authority;

use super::authority::{host_of, known_scheme};

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

/// The client address behind `hops` trusted proxies: each appends the address it received the
/// request from, so the client's is the `hops`-th entry from the right of `Forwarded`'s `for=`
/// (else `X-Forwarded-For`). Entries further left are whatever the client sent, and are never
/// read. `None` when the list is shorter: the request didn't come through every proxy.
pub(crate) fn forwarded_for(p: &ProxyHeaders<'_>, hops: u8) -> Option<IpAddr> {
    let raw = match p.forwarded {
        Some(f) => param(nth_from_right(f, hops)?, "for")?,
        None => nth_from_right(p.x_forwarded_for?, hops)?,
    };
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
            forwarded_for(&xff("6.6.6.6, 203.0.113.7"), 1),
            ip("203.0.113.7")
        );
        // Two trusted proxies: the second appended the first's address.
        assert_eq!(
            forwarded_for(&xff("6.6.6.6, 203.0.113.7, 10.0.0.1"), 2),
            ip("203.0.113.7")
        );
        // Fewer entries than proxies: no address from the headers.
        assert_eq!(forwarded_for(&xff("203.0.113.7"), 2), None);
        let fwd = ProxyHeaders {
            forwarded: Some(
                "for=6.6.6.6;host=evil.example, for=\"[2001:db8::1]:4711\";proto=https",
            ),
            ..xff("9.9.9.9")
        };
        assert_eq!(forwarded_for(&fwd, 1), ip("2001:db8::1"));
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
}
