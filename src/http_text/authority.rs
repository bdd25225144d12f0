//! Authorities and `Host` headers: credentials never reported, hosts checked before use.

pub(crate) fn known_scheme(s: &str) -> Option<&'static str> {
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
pub(crate) fn header_host(v: &str) -> Option<&str> {
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

/// A URL with everything between its scheme and its last `@` replaced, for `Debug` and errors:
/// `user:pass@` goes even when the password holds a `/`, `?` or `#` (which would end the
/// authority), at the price of hiding more of a URL whose path has an `@`.
pub(crate) fn without_userinfo(url: &str) -> std::borrow::Cow<'_, str> {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].rfind('@') {
        Some(at) => format!(
            "{}REDACTED{}",
            &url[..after_scheme],
            &url[after_scheme + at..]
        )
        .into(),
        None => url.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    include!("../../tests/support/host_oracle.rs");

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
}
