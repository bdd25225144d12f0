//! Truncation at character boundaries, and of URLs without breaking an escape.

use std::borrow::Cow;

/// `s`, truncated to at most `max` characters (copied only when it is longer).
pub(crate) fn limited(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut s = s.to_owned();
    truncate_chars(&mut s, max);
    Cow::Owned(s)
}

/// Truncates to at most `max` characters, at a character boundary.
pub(crate) fn truncate_chars(s: &mut String, max: usize) {
    if s.len() <= max {
        return; // no more bytes than the limit: no more characters either
    }
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
    }
}

/// Truncates to at most `max` bytes, at a character boundary.
pub(crate) fn truncate_bytes(s: &mut String, max: usize) {
    if s.len() > max {
        let mut i = max;
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        s.truncate(i);
    }
}

/// After truncating a URL, drops a percent-escape the cut left incomplete (`%2`), and trailing
/// escapes that encode an incomplete UTF-8 sequence (`%C3` without its `%A9`), so the result stays
/// a valid URL of valid text.
pub(crate) fn mend_escape(s: &mut String) {
    let b = s.as_bytes();
    let n = b.len();
    if n >= 1 && b[n - 1] == b'%' {
        s.truncate(n - 1);
    } else if n >= 2 && b[n - 2] == b'%' {
        s.truncate(n - 2);
    }
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut end = b.len();
    let mut run = 0;
    while run < 4 && end >= 3 && b[end - 3] == b'%' {
        let (Some(h), Some(l)) = (hex(b[end - 2]), hex(b[end - 1])) else {
            break;
        };
        let byte = (h * 16 + l) as u8;
        run += 1;
        end -= 3;
        if byte & 0xC0 != 0x80 {
            // The sequence's first byte: how many bytes should follow it?
            let need = match byte {
                0xF0..=0xFF => 4,
                0xE0..=0xEF => 3,
                0xC0..=0xDF => 2,
                _ => 1,
            };
            if run < need {
                s.truncate(end);
            }
            return;
        }
    }
}

/// Shortens a URL to `max` units (as counted by `len`): first by dropping the query, then by cutting
/// the path at a character boundary without leaving a broken escape.
pub(crate) fn fit_url(url: &mut String, max: usize, by_chars: bool) {
    let len = |s: &str| if by_chars { s.chars().count() } else { s.len() };
    if url.len() <= max || len(url) <= max {
        return;
    }
    if let Some(q) = url.find('?') {
        url.truncate(q);
    }
    if len(url) > max {
        if by_chars {
            truncate_chars(url, max);
        } else {
            truncate_bytes(url, max);
        }
        mend_escape(url);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        let mut s = "héllo wörld".to_string();
        truncate_chars(&mut s, 2);
        assert_eq!(s, "hé");
        let mut s = "héllo".to_string();
        truncate_bytes(&mut s, 2);
        assert_eq!(s, "h");
        let mut s = "ab".to_string();
        truncate_chars(&mut s, 5);
        assert_eq!(s, "ab");
    }

    fn fitted(url: &str, max: usize, by_chars: bool) -> String {
        let mut url = url.to_owned();
        fit_url(&mut url, max, by_chars);
        url
    }

    #[test]
    fn urls_lose_query_first_and_never_end_in_a_broken_escape() {
        assert_eq!(fitted("http://h/abc?q=1", 10, true), "http://h/a");
        assert_eq!(fitted("http://h/ab?q=1", 11, true), "http://h/ab");
        assert_eq!(fitted("http://h/a%20b", 11, false), "http://h/a");
        assert_eq!(fitted("http://h/a%20b", 12, false), "http://h/a");
        assert_eq!(fitted("http://h/a%20b", 13, false), "http://h/a%20");
        // `é` is %C3%A9: half of it is dropped, a whole one kept.
        assert_eq!(
            fitted("http://h/%C3%A9%C3%A9", 15, false),
            "http://h/%C3%A9"
        );
        assert_eq!(
            fitted("http://h/%C3%A9%C3%A9", 18, false),
            "http://h/%C3%A9"
        );
        assert_eq!(fitted("http://h/%E2%82%AC", 17, false), "http://h/");
    }
}
