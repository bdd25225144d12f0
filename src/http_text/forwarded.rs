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

pub(crate) fn forwarded_proto(p: &ProxyHeaders<'_>) -> Option<&'static str> {
    forwarded_param(p, "proto")
        .or_else(|| first_list_item(p.x_forwarded_proto?))
        .and_then(known_scheme)
}

pub(crate) fn forwarded_host(p: &ProxyHeaders<'_>) -> Option<String> {
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
