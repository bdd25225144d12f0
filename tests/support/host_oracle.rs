// The Host rule the layer documents, stated through `http`'s own parser: what `page_location`
// reports as the host for a `Host` header value. Shared by `src/http_text/authority.rs`'s unit
// tests and the hostile-input rig in `tests/common/hostile.rs` (with `include!`, so it names its
// types by full path).

/// The host (lower-cased, with its port) a `Host` value yields, or `None` for the fallback.
///
/// `http::uri::Authority` parses the value. The layer is stricter in four ways: a name is letters,
/// digits, `.`, `-` and `_` (`Authority` also admits sub-delimiters such as `;` and `=`); a
/// bracketed host is a valid IPv6 address (`Authority` admits anything bracketed); a port is at
/// most five digits (`Authority` admits any text after the colon); and a userinfo is of RFC 3986's
/// characters (`Authority` admits brackets there). The userinfo is never reported.
fn expected_host_of(value: &str) -> Option<String> {
    let a = value.trim().parse::<http::uri::Authority>().ok()?;
    let s = a.as_str();
    let (userinfo, host_port) = s.rsplit_once('@').map_or(("", s), |(u, h)| (u, h));
    let host = a.host();
    let ipv6 = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    let name = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    let port = host_port.strip_prefix(host).unwrap_or_default();
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let userinfo_ok = userinfo
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:%@".contains(&c));
    ((ipv6 || name) && port_ok && userinfo_ok).then(|| host_port.to_ascii_lowercase())
}
