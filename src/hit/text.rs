//! The text a hit keeps from its request, copied into one buffer at capture.
//!
//! Holding the request's own `Uri` and `HeaderValue`s would be cheaper to capture (reference
//! counts), but each of them pins the whole buffer hyper read the request into: up to hyper's
//! maximum buffer size (about 400 kB) per hit while the hit waits in the queue, and hyper must
//! allocate a fresh read buffer meanwhile. A copy pins only what the hit needs, capped per field,
//! in a buffer that is reused, with the hit that holds it, once the sender has encoded the hit.

/// The request text a hit keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Scheme,
    Authority,
    Path,
    Query,
    Host,
    Referer,
    UserAgent,
    Credential,
    Forwarded,
    XForwardedProto,
    XForwardedHost,
    XForwardedFor,
    /// The matched route template (from the request's or the response's extensions).
    Route,
}

const FIELDS: usize = 13;

/// The most a field keeps, in bytes. What happens to a longer value depends on the field: see
/// [`overflow`].
pub(crate) const fn cap(field: Field) -> usize {
    match field {
        Field::Path | Field::Query | Field::Credential | Field::Referer => 2048,
        // Route templates are short; GA shows 100 characters of a title anyway.
        Field::Route => 512,
        // A DNS name has at most 253 characters, and a port 6 more.
        Field::UserAgent
        | Field::Scheme
        | Field::Authority
        | Field::Host
        | Field::Forwarded
        | Field::XForwardedProto
        | Field::XForwardedHost
        | Field::XForwardedFor => 512,
    }
}

/// How a value longer than its field's cap is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Cut at the cap (at a character boundary for text). Safe where the head of a value can't
    /// turn into something it wasn't: GA reports far less of a path or query anyway, and a query
    /// cut short loses its tail, never the name of a parameter whose value it keeps, so
    /// redaction still sees it.
    Cut,
    /// The first and last halves of the cap: a credential is only hashed, and the end of a long
    /// token (a JWT's signature) tells tokens apart when their starts are alike.
    HeadAndTail,
    /// Only the first element of the list is read: kept if it fits.
    FirstListItem,
    /// Cut only if the authority (with any `user:pass@`) ends within the cap; cutting inside it
    /// could separate the credentials from the `@` that marks them.
    Referrer,
    /// Not kept: a host cut short could be a different host, or expose `user:pass`.
    Drop,
}

pub(crate) const fn overflow(field: Field) -> Overflow {
    match field {
        Field::Path | Field::Query | Field::UserAgent | Field::Route => Overflow::Cut,
        Field::Credential => Overflow::HeadAndTail,
        Field::Forwarded
        | Field::XForwardedProto
        | Field::XForwardedHost
        | Field::XForwardedFor => Overflow::FirstListItem,
        Field::Referer => Overflow::Referrer,
        Field::Scheme | Field::Authority | Field::Host => Overflow::Drop,
    }
}

/// The head of a long referrer, if its authority ends within `cap` bytes.
fn referrer_head(value: &[u8], cap: usize) -> Option<&[u8]> {
    let head = &value[..cap];
    let authority = match head.windows(3).position(|w| w == b"://") {
        Some(i) => i + 3,
        None if head.starts_with(b"//") => 2,
        // No authority within the cap: nothing the cut could expose.
        None => return Some(head),
    };
    head[authority..]
        .iter()
        .any(|c| matches!(c, b'/' | b'?' | b'#'))
        .then_some(head)
}

/// The fields read as header text ([`Captured::header_str`]), one bit per field.
const HEADERS: u16 = 1 << Field::Host as u16
    | 1 << Field::Referer as u16
    | 1 << Field::UserAgent as u16
    | 1 << Field::Forwarded as u16
    | 1 << Field::XForwardedProto as u16
    | 1 << Field::XForwardedHost as u16
    | 1 << Field::XForwardedFor as u16;

/// Bytes a typical API request's captured fields take.
const TYPICAL: usize = 256;

/// Marks an absent field.
const ABSENT: (u16, u16) = (u16::MAX, u16::MAX);

/// Fields back to back in one buffer, each found by its span. The caps keep every offset under
/// `u16::MAX`.
#[derive(Clone)]
pub(crate) struct Captured {
    buf: Buf,
    spans: [(u16, u16); FIELDS],
}

/// The buffer: bytes as captured, and text once [`Captured::settle`] has checked it.
#[derive(Clone)]
enum Buf {
    Bytes(Vec<u8>),
    Text(String),
}

impl Buf {
    fn bytes(&self) -> &[u8] {
        match self {
            Buf::Bytes(b) => b,
            Buf::Text(s) => s.as_bytes(),
        }
    }
}

/// Writes a [`Captured`] on the request path: plain appends to a byte buffer.
pub(crate) struct Writer {
    buf: Vec<u8>,
    spans: [(u16, u16); FIELDS],
}

impl Writer {
    /// Writes into `buf` (cleared; a new one starts with room for a typical request, so that it
    /// grows once at most).
    pub(crate) fn new(mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.reserve(TYPICAL);
        Writer {
            buf,
            spans: [ABSENT; FIELDS],
        }
    }

    /// Keeps `bytes` as `field`, shortened the way the field allows if longer than its cap
    /// ([`overflow`]), or not at all.
    #[inline]
    pub(crate) fn set(&mut self, field: Field, bytes: &[u8]) {
        // The common case inline: a value within its cap, and no list to split.
        if bytes.len() <= cap(field) && overflow(field) != Overflow::FirstListItem {
            return self.push(field, bytes);
        }
        self.set_long(field, bytes);
    }

    #[inline(never)]
    fn set_long(&mut self, field: Field, bytes: &[u8]) {
        let cap = cap(field);
        let bytes = match overflow(field) {
            Overflow::FirstListItem => bytes.split(|&b| b == b',').next().unwrap_or(bytes),
            _ => bytes,
        };
        if bytes.len() <= cap {
            return self.push(field, bytes);
        }
        match overflow(field) {
            Overflow::Cut => self.push(field, &bytes[..cap]),
            Overflow::HeadAndTail => {
                let start = self.buf.len();
                self.buf.extend_from_slice(&bytes[..cap / 2]);
                self.buf.extend_from_slice(&bytes[bytes.len() - cap / 2..]);
                self.spans[field as usize] = (start as u16, self.buf.len() as u16);
            }
            Overflow::Referrer => {
                if let Some(head) = referrer_head(bytes, cap) {
                    self.push(field, head);
                }
            }
            Overflow::FirstListItem | Overflow::Drop => {}
        }
    }

    /// Keeps text; one cut short is cut at a character boundary.
    pub(crate) fn set_str(&mut self, field: Field, s: &str) {
        if s.len() <= cap(field) || overflow(field) != Overflow::Cut {
            return self.set(field, s.as_bytes());
        }
        let mut end = cap(field);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.push(field, &s.as_bytes()[..end]);
    }

    #[inline]
    fn push(&mut self, field: Field, bytes: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.spans[field as usize] = (start as u16, self.buf.len() as u16);
    }

    pub(crate) fn has(&self, field: Field) -> bool {
        self.spans[field as usize] != ABSENT
    }

    /// Forgets a field (its bytes stay in the buffer, unread).
    pub(crate) fn unset(&mut self, field: Field) {
        self.spans[field as usize] = ABSENT;
    }

    pub(crate) fn finish(self) -> Captured {
        Captured {
            buf: Buf::Bytes(self.buf),
            spans: self.spans,
        }
    }
}

impl Captured {
    /// Checks the whole buffer for UTF-8 once (in the sender), so that reading a field as text
    /// costs a boundary check instead of a UTF-8 check per field and per read. (Header fields
    /// are checked for visible ASCII when read: most hits read only some of them.)
    pub(crate) fn settle(&mut self) {
        if let Buf::Bytes(b) = &mut self.buf {
            self.buf = match String::from_utf8(std::mem::take(b)) {
                Ok(s) => Buf::Text(s),
                Err(e) => Buf::Bytes(e.into_bytes()),
            };
        }
    }

    pub(crate) fn get(&self, field: Field) -> Option<&[u8]> {
        let (start, end) = self.spans[field as usize];
        ((start, end) != ABSENT).then(|| &self.buf.bytes()[start as usize..end as usize])
    }

    /// A field as text, if it is UTF-8 (those set with [`Captured::set_str`] always are).
    pub(crate) fn get_str(&self, field: Field) -> Option<&str> {
        let (start, end) = self.spans[field as usize];
        if (start, end) == ABSENT {
            return None;
        }
        let range = start as usize..end as usize;
        match &self.buf {
            // Whole, the buffer is UTF-8; a field is if it starts and ends on character
            // boundaries.
            Buf::Text(s) => s.get(range),
            Buf::Bytes(b) => std::str::from_utf8(&b[range]).ok(),
        }
    }

    /// Appends `fields` as a key (their bytes, and their lengths so that no two captures' keys
    /// run together): two captures with the same key have the same `fields`. Fields next to each
    /// other in the buffer (path and query always are) are copied as one.
    pub(crate) fn key_into(&self, fields: &[Field], out: &mut Vec<u8>) {
        let mut lens = [0u8; 2 * FIELDS];
        let mut total = 0;
        for (i, &f) in fields.iter().enumerate() {
            let (start, end) = self.spans[f as usize];
            let len = if (start, end) == ABSENT {
                u16::MAX
            } else {
                total += usize::from(end - start);
                end - start
            };
            lens[2 * i..2 * i + 2].copy_from_slice(&len.to_le_bytes());
        }
        out.reserve(2 * fields.len() + total);
        out.extend_from_slice(&lens[..2 * fields.len()]);
        let bytes = self.buf.bytes();
        let mut run = 0..0;
        for &f in fields {
            let (start, end) = self.spans[f as usize];
            if (start, end) == ABSENT {
                continue;
            }
            let (start, end) = (usize::from(start), usize::from(end));
            if start != run.end {
                out.extend_from_slice(&bytes[run]);
                run = start..start;
            }
            run.end = end;
        }
        out.extend_from_slice(&bytes[run]);
    }

    /// A header field, if it is visible ASCII (what `HeaderValue::to_str` admits).
    pub(crate) fn header_str(&self, field: Field) -> Option<&str> {
        debug_assert!(
            HEADERS & (1 << field as u16) != 0,
            "{field:?} is not a header"
        );
        self.get_str(field)
            .filter(|s| is_visible_ascii(s.as_bytes()))
    }

    /// Writes more into a captured (not yet settled) buffer: for what the response adds.
    pub(crate) fn reopen(&mut self) -> Writer {
        let spans = self.spans;
        let buf = self.take_buf();
        Writer { buf, spans }
    }

    /// Nothing captured yet.
    pub(crate) fn empty() -> Self {
        Captured {
            buf: Buf::Bytes(Vec::new()),
            spans: [ABSENT; FIELDS],
        }
    }

    /// Takes the buffer out for the next capture, leaving nothing captured.
    pub(crate) fn take_buf(&mut self) -> Vec<u8> {
        self.spans = [ABSENT; FIELDS];
        match std::mem::replace(&mut self.buf, Buf::Bytes(Vec::new())) {
            Buf::Bytes(b) => b,
            Buf::Text(s) => s.into_bytes(),
        }
    }

    /// Forgets what was captured, keeping the buffer for the next capture unless it grew beyond
    /// [`MAX_POOLED`].
    pub(crate) fn clear(&mut self) {
        let buf = self.take_buf();
        if buf.capacity() <= MAX_POOLED {
            self.buf = Buf::Bytes(buf);
        }
    }
}

/// Whether `bytes` are all visible ASCII or tabs, as `HeaderValue::to_str` requires.
fn is_visible_ascii(bytes: &[u8]) -> bool {
    !crate::text::scan::any_byte(bytes, |b| ((b < b' ') & (b != b'\t')) | (b >= 0x7f))
}

/// A buffer that grew beyond this (a request with unusually long fields) is freed rather than
/// kept for the next capture, which bounds what a pool of hits holds at its capacity times this.
pub(crate) const MAX_POOLED: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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
        // Only the first element of a proxy list is read, so only it is kept.
        assert_eq!(c.get(Field::XForwardedFor), Some(&b"203.0.113.7"[..]));
        assert_eq!(c.get(Field::Forwarded), None);
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
}
