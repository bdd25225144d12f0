//! A minimal JSON writer for the sender's hot path: payloads are built straight into one buffer,
//! with a fast path for strings that need no escaping (nearly all of them). `serde_json` writing
//! into the same `String` buffers costs the sender 11 to 31 % more per hit (BENCHMARKS.md,
//! "hand-written parts").

use std::fmt::Write as _;

/// Appends `s` as a JSON string.
pub(crate) fn string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    if !needs_escape(s.as_bytes()) {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// Whether any byte needs escaping: a control character, `"` or `\\`.
fn needs_escape(s: &[u8]) -> bool {
    crate::text::scan::any_byte(s, |b| (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// Appends a value's `Display` form as it is: a number, or a JSON value's own text.
pub(crate) fn display(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

/// Appends `,"key":` (or `"key":` as the first member, when `first`). Keys are names (letters,
/// digits, `_`: the crate's own, or user params checked when the layer is built), so they are
/// written as they are.
pub(crate) fn key(out: &mut String, key: &str, first: bool) {
    debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    out.push_str(if first { "\"" } else { ",\"" });
    out.push_str(key);
    out.push_str("\":");
}

/// Appends a number.
pub(crate) fn number(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_through_a_real_parser() {
        for s in [
            "plain",
            "",
            "quote \" back \\ slash",
            "ctl \u{1}\u{1f}\n\r\t",
            "ünïcödé ✓ 😀",
            "\u{7f}",
        ] {
            let mut out = String::new();
            string(&mut out, s);
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s, "{out}");
        }
    }

    #[test]
    fn special_bytes_are_found_wherever_they_are() {
        for len in [0, 1, 15, 16, 17, 40] {
            let plain = "a".repeat(len);
            assert!(!needs_escape(plain.as_bytes()));
            for at in 0..len {
                for special in [b'"', b'\\', b'\n', 0x1f, 0] {
                    let mut b = plain.clone().into_bytes();
                    b[at] = special;
                    assert!(needs_escape(&b), "{len} {at} {special}");
                }
            }
        }
        assert!(!needs_escape("ünïcödé ✓ 😀 \u{7f}".as_bytes()));
    }

    #[test]
    fn members_and_numbers() {
        let mut out = String::from("{");
        key(&mut out, "a", true);
        number(&mut out, u64::MAX);
        key(&mut out, "b", false);
        string(&mut out, "x");
        out.push('}');
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, serde_json::json!({"a": u64::MAX, "b": "x"}));
    }
}
