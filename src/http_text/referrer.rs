//! The `Referer` header as reported: no credentials, no fragment, secrets redacted.

use super::authority::{header_host, host_of};
use super::redact::{SecretWords, Verdicts};

/// Appends a `Referer` value without its credentials and fragment, secrets redacted; `false` when
/// there is nothing to report.
pub(crate) fn referrer_into(
    out: &mut String,
    v: &str,
    redact: &SecretWords,
    seen: &mut Verdicts,
) -> bool {
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
            // An authority that doesn't parse cleanly as `[userinfo@]host[:port]` could leave
            // credentials where a path seems to start (`bob:pa/SECRET@host`: a password with a
            // `/`): such a referrer is not reported at all.
            if header_host(auth).is_none() {
                return false;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    fn words() -> SecretWords {
        SecretWords::default_list()
    }

    fn referrer(v: &HeaderValue, redact: &SecretWords) -> Option<String> {
        let v = v.to_str().unwrap();
        let mut out = String::new();
        referrer_into(&mut out, v, redact, &mut Verdicts::default()).then_some(out)
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
    fn a_referrer_whose_authority_does_not_parse_is_dropped() {
        for bad in [
            "https://bob:pa/SECRET@ref.example/x",
            "//bob:pa/SECRET@ref.example/x",
            "https://a b@host/x",
            "https:///x",
        ] {
            let v = HeaderValue::from_str(bad).unwrap();
            assert_eq!(referrer(&v, &words()), None, "{bad}");
        }
        let v = HeaderValue::from_static("https://bob:pa@ref.example:8443/@me?token=1");
        assert_eq!(
            referrer(&v, &words()).unwrap(),
            "https://ref.example:8443/@me?token=REDACTED"
        );
    }
}
