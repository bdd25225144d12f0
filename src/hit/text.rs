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
    /// A trusted CDN's location headers.
    GeoCountry,
    GeoRegion,
    GeoCity,
    /// Headers captured by name (`capture_header`), in the order configured.
    Named0,
    Named1,
    Named2,
    Named3,
}

const FIELDS: usize = 20;

/// How many headers can be captured by name.
pub(crate) const MAX_NAMED: usize = 4;

/// The field of the `i`-th header captured by name.
pub(crate) const fn named(i: usize) -> Field {
    match i {
        0 => Field::Named0,
        1 => Field::Named1,
        2 => Field::Named2,
        _ => Field::Named3,
    }
}

/// The most a field keeps, in bytes. What happens to a longer value depends on the field: see
/// [`overflow`].
pub(crate) const fn cap(field: Field) -> usize {
    match field {
        Field::Path | Field::Query | Field::Credential | Field::Referer => 2048,
        // Route templates are short; GA shows 100 characters of a title anyway.
        Field::Route => 512,
        // Two letters, a subdivision, a city's name (percent-encoded, by some CDNs).
        Field::GeoCountry | Field::GeoRegion => 16,
        Field::GeoCity => 128,
        // A value for a param (100 characters; 500 on GA 360) or a device's SDK name.
        Field::Named0 | Field::Named1 | Field::Named2 | Field::Named3 => 256,
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
    /// A list that proxies append to: the longest tail of whole elements that fits (the rightmost
    /// elements are the ones trusted proxies added, and the only ones read).
    ListTail,
    /// Cut only if the authority (with any `user:pass@`) ends within the cap; cutting inside it
    /// could separate the credentials from the `@` that marks them.
    Referrer,
    /// Not kept: a host cut short could be a different host, or expose `user:pass`.
    Drop,
}

pub(crate) const fn overflow(field: Field) -> Overflow {
    match field {
        Field::Path
        | Field::Query
        | Field::UserAgent
        | Field::Route
        | Field::Named0
        | Field::Named1
        | Field::Named2
        | Field::Named3 => Overflow::Cut,
        // A location cut short is another place.
        Field::GeoCountry | Field::GeoRegion | Field::GeoCity => Overflow::Drop,
        Field::Credential => Overflow::HeadAndTail,
        Field::Forwarded
        | Field::XForwardedProto
        | Field::XForwardedHost
        | Field::XForwardedFor => Overflow::ListTail,
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
const HEADERS: u32 = 1 << Field::Host as u32
    | 1 << Field::Referer as u32
    | 1 << Field::UserAgent as u32
    | 1 << Field::Forwarded as u32
    | 1 << Field::XForwardedProto as u32
    | 1 << Field::XForwardedHost as u32
    | 1 << Field::XForwardedFor as u32
    | 1 << Field::GeoCountry as u32
    | 1 << Field::GeoRegion as u32
    | 1 << Field::GeoCity as u32
    | 1 << Field::Named0 as u32
    | 1 << Field::Named1 as u32
    | 1 << Field::Named2 as u32
    | 1 << Field::Named3 as u32;

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
        // The common case inline: a value within its cap.
        if bytes.len() <= cap(field) {
            return self.push(field, bytes);
        }
        self.set_long(field, bytes);
    }

    #[inline(never)]
    fn set_long(&mut self, field: Field, bytes: &[u8]) {
        let cap = cap(field);
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
            Overflow::ListTail => {
                let tail = &bytes[bytes.len() - cap..];
                if let Some(comma) = tail.iter().position(|&b| b == b',') {
                    self.push(field, &tail[comma + 1..]);
                }
            }
            Overflow::Drop => {}
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

    /// A field as text, if it is UTF-8 (those set with [`Writer::set_str`] always are).
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
            HEADERS & (1 << field as u32) != 0,
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
pub(crate) mod tests;
