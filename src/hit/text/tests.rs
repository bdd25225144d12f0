use super::*;
use http::HeaderValue;

/// Makes every field of `c` reach past its buffer: reading any field panics. No capture makes
/// such a hit; a test hands one to the sender to stand in for a bug of ours.
pub(crate) fn break_spans(c: &mut Captured) {
    c.spans = [(0, u16::MAX - 1); FIELDS];
}

#[test]
fn fields_are_kept_apart_and_capped() {
    let mut c = Writer::new(b"leftover".to_vec());
    assert!(!c.has(Field::Host));
    c.set(Field::Host, b"api.example.com");
    c.set(Field::Referer, b"");
    c.set(Field::UserAgent, &[b'a'; 600]);
    c.set_str(Field::Path, &format!("/{}", "é".repeat(1500)));
    let c = c.finish();
    assert_eq!(c.get(Field::Host), Some(&b"api.example.com"[..]));
    // Present but empty is not absent.
    assert!(c.get(Field::Referer).is_some());
    assert_eq!(c.get(Field::Referer), Some(&b""[..]));
    assert_eq!(c.get(Field::UserAgent).unwrap().len(), 512);
    let path = c.get_str(Field::Path).unwrap();
    assert!(path.len() <= 2048 && path.len() >= 2046, "{}", path.len());
    assert_eq!(c.get(Field::Credential), None);
    // Nothing left over from the buffer's last use.
    assert!(!c.buf.bytes().starts_with(b"leftover"));
}

#[test]
fn long_values_are_shortened_only_where_that_is_safe() {
    // Cut at its cap, this one would lose the `@` and read as host `user`, port `12345`.
    let host = format!("{}:12345@api.example.com", "u".repeat(600));
    let long = "x".repeat(3000);
    let mut c = Writer::new(Vec::new());
    c.set(Field::Host, host.as_bytes());
    // A referrer whose authority runs past the cap is dropped; one whose authority ends
    // within it is cut.
    c.set(
        Field::Referer,
        format!("https://{long}:pw@r.example/").as_bytes(),
    );
    assert!(!c.has(Field::Host) && !c.has(Field::Referer));
    let mut c = Writer::new(Vec::new());
    c.set(
        Field::Referer,
        format!("https://r.example/p?q={long}").as_bytes(),
    );
    c.set(Field::Credential, format!("Bearer a{long}z").as_bytes());
    let hops = (0..100).map(|i| format!("10.0.0.{i}")).collect::<Vec<_>>();
    c.set(
        Field::XForwardedFor,
        format!("203.0.113.7, {}", hops.join(", ")).as_bytes(),
    );
    c.set(
        Field::Forwarded,
        format!("for={long}, for=192.0.2.1").as_bytes(),
    );
    let c = c.finish();
    let referrer = c.get(Field::Referer).unwrap();
    assert!(referrer.starts_with(b"https://r.example/p?q=x") && referrer.len() == 2048);
    // A credential keeps its head and its tail.
    let cred = c.get(Field::Credential).unwrap();
    assert_eq!(cred.len(), 2048);
    assert!(cred.starts_with(b"Bearer a") && cred.ends_with(b"xz"));
    // A proxy list keeps the whole elements of its tail that fit: trusted proxies append.
    let xff = c.get(Field::XForwardedFor).unwrap();
    assert!(xff.len() <= 512 && xff.ends_with(b"10.0.0.99"), "{xff:?}");
    assert!(!xff.starts_with(b"203.0.113.7") && xff.starts_with(b" 10.0.0."));
    assert_eq!(c.get(Field::Forwarded), Some(&b" for=192.0.2.1"[..]));
}

#[test]
fn settling_keeps_every_field_and_its_validity() {
    let mut c = Writer::new(Vec::new());
    c.set_str(Field::Path, "/é");
    c.set(Field::Referer, b"ok");
    // A field cut inside a character: not text, whether the buffer is settled or not.
    c.set(Field::UserAgent, &"é".as_bytes()[..1]);
    c.set(Field::Host, &"é".as_bytes()[1..]);
    let mut c = c.finish();
    let fields = |c: &Captured| -> Vec<(Option<Vec<u8>>, Option<String>)> {
        [Field::Path, Field::Referer, Field::UserAgent, Field::Host]
            .iter()
            .map(|&f| {
                (
                    c.get(f).map(<[u8]>::to_vec),
                    c.get_str(f).map(str::to_owned),
                )
            })
            .collect()
    };
    let before = fields(&c);
    c.settle();
    assert!(matches!(c.buf, Buf::Text(_)));
    let after = fields(&c);
    assert_eq!(before, after);
    assert_eq!(after[0].1.as_deref(), Some("/é"));
    assert_eq!(after[2].1, None);
    // Invalid UTF-8 as a whole stays bytes.
    let mut c = Writer::new(Vec::new());
    c.set(Field::Referer, b"\xff");
    c.set(Field::Host, b"a");
    let mut c = c.finish();
    c.settle();
    assert_eq!(
        (c.get_str(Field::Referer), c.get_str(Field::Host)),
        (None, Some("a"))
    );
}

#[test]
fn visible_ascii_is_what_header_value_to_str_admits() {
    // Every byte, at every position of a chunk and of the padded tail.
    for len in [1, 15, 16, 17, 33] {
        for pos in [0, len / 2, len - 1] {
            for b in 0..=255u8 {
                let mut v = vec![b'a'; len];
                v[pos] = b;
                // `from_bytes` refuses controls but tab, `to_str` anything but visible ASCII.
                let admitted = HeaderValue::from_bytes(&v).is_ok_and(|h| h.to_str().is_ok());
                assert_eq!(is_visible_ascii(&v), admitted, "{b:#x} at {pos} of {len}");
            }
        }
    }
    assert!(is_visible_ascii(b""));
}

#[test]
fn header_text_must_be_visible_ascii() {
    let check = |c: &Captured| {
        assert_eq!(c.header_str(Field::UserAgent), Some("curl/8.0\tx"));
        assert_eq!(c.header_str(Field::Host), None);
        assert_eq!(c.header_str(Field::Forwarded), None);
    };
    // The buffer whole is UTF-8 or not: settled, it is checked by field.
    for referrer in [&b"bad\xff"[..], "é".as_bytes()] {
        let mut c = Writer::new(Vec::new());
        c.set(Field::UserAgent, b"curl/8.0\tx");
        c.set(Field::Referer, referrer);
        c.set(Field::Host, b"a\nb");
        c.set_str(Field::Path, "/ok");
        let mut c = c.finish();
        check(&c);
        assert_eq!(c.header_str(Field::Referer), None);
        c.settle();
        check(&c);
        assert_eq!(c.header_str(Field::Referer), None);
        assert_eq!(c.get_str(Field::Path), Some("/ok"));
    }
}
