//! The collection protocols: how a hit becomes a payload, how payloads are batched, and what the
//! validation endpoints say. One module per protocol.

use serde::{Deserialize, Serialize};

pub(crate) mod ga4;
mod json;
pub(crate) mod memo;
pub(crate) mod ua;

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::client_id::Sessions;
use crate::config::Config;
use crate::hit::Hit;
use crate::page::PageBuf;
use crate::sender::batch::{Batch, Batcher, Limits};
use crate::sender::transport::Outgoing;

/// The buffers the sender encodes each hit into, reused from hit to hit so that encoding
/// allocates nothing once they have grown.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Groups hits that may share one request: GA4's request top level; empty for the legacy
    /// protocol, whose batches may mix clients.
    pub(crate) key: String,
    /// The hit's own part when it isn't written straight into its batch: a v1 payload line
    /// without `qt` (and a GA4 event in tests).
    pub(crate) item: String,
    page: PageBuf,
    /// GA4's page parameters of recent pages.
    pages: memo::Memo<{ memo::PAGE_KEY }>,
    /// GA4's request top levels of recent consumers.
    consumers: memo::Memo<{ memo::CONSUMER_KEY }>,
    client_id: String,
}

#[cfg(test)]
impl Scratch {
    /// Buffers whose memos always stand aside.
    pub(crate) fn without_memos() -> Self {
        Scratch {
            pages: memo::Memo::disabled(),
            consumers: memo::Memo::disabled(),
            ..Scratch::default()
        }
    }
}

/// Where batches go: `one` for a batch of one hit, `many` for more (the legacy protocol has a
/// batch endpoint); each as the full URL and the URL with its secret redacted.
#[derive(Debug)]
pub(crate) struct Urls {
    one: (Arc<str>, Arc<str>),
    many: (Arc<str>, Arc<str>),
}

/// Which protocol a tracking id speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// GA4 Measurement Protocol (`G-XXXXXXXXXX`), JSON to `/mp/collect`.
    Ga4,
    /// Universal Analytics Measurement Protocol v1 (`UA-XXXX-Y`), legacy: Google stopped
    /// processing UA properties in 2023 (360: 2024).
    UniversalAnalytics,
}

impl Protocol {
    /// The protocol a tracking id belongs to, or `None` for a malformed id.
    pub fn of(tracking_id: &str) -> Option<Protocol> {
        if let Some(rest) = tracking_id.strip_prefix("G-") {
            let ok = !rest.is_empty()
                && rest.len() <= 20
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            return ok.then_some(Protocol::Ga4);
        }
        if let Some(rest) = tracking_id.strip_prefix("UA-") {
            let mut parts = rest.split('-');
            let ok = matches!((parts.next(), parts.next(), parts.next()),
                (Some(a), Some(b), None) if is_digits(a) && is_digits(b));
            return ok.then_some(Protocol::UniversalAnalytics);
        }
        None
    }
}

impl Protocol {
    /// How hits of this protocol are batched.
    pub(crate) fn limits(self, validation: bool) -> Limits {
        match self {
            Protocol::Ga4 => Limits {
                max_items: ga4::MAX_EVENTS,
                max_bytes: ga4::MAX_BODY_BYTES - 1,
                per_item_overhead: 1,
                per_batch_overhead: ga4::BODY_OVERHEAD,
                frame: Some(ga4::FRAME),
            },
            Protocol::UniversalAnalytics => Limits {
                // The validation endpoint takes one hit at a time.
                max_items: if validation { 1 } else { ua::MAX_BATCH_HITS },
                max_bytes: ua::MAX_BATCH_BYTES,
                per_item_overhead: 1 + ua::QT_ROOM,
                per_batch_overhead: 0,
                // Each line gets its queue time when sent.
                frame: None,
            },
        }
    }

    /// Encodes a hit straight into the open batch of its key (taken in flush epoch `epoch`).
    pub(crate) fn encode_into(
        self,
        hit: &Hit,
        cfg: &Config,
        sessions: &mut Sessions,
        s: &mut Scratch,
        batcher: &mut Batcher,
        epoch: u64,
    ) {
        match self {
            Protocol::Ga4 => {
                let (stamp, id) = ga4::encode_key(hit, cfg, sessions, &batcher.hashers, s);
                let (page, pages) = (&mut s.page, &mut s.pages);
                batcher.add_with(epoch, &s.key, id, hit.received_at, |out| {
                    ga4::encode_event(hit, cfg, page, pages, stamp, out)
                });
            }
            Protocol::UniversalAnalytics => {
                ua::encode(hit, cfg, s);
                let (item, id) = (&s.item, batcher.hashers.id(&s.key));
                batcher.add_with(epoch, &s.key, id, hit.received_at, |out| out.push_str(item));
            }
        }
    }

    /// The URLs a sender posts to, built once.
    pub(crate) fn urls(self, cfg: &Config) -> Urls {
        let base = cfg.base_url();
        let both = |path: &str| {
            let url: Arc<str> = format!("{base}{path}").into();
            (url.clone(), url)
        };
        match self {
            Protocol::Ga4 => {
                let path = if cfg.validation {
                    ga4::DEBUG_PATH
                } else {
                    ga4::COLLECT_PATH
                };
                let tid = utf8_percent_encode(&cfg.tracking_id, NON_ALPHANUMERIC);
                let secret = cfg.api_secret.as_ref().map_or("", |s| s.0.as_str());
                let secret = utf8_percent_encode(secret, NON_ALPHANUMERIC);
                let url: (Arc<str>, Arc<str>) = (
                    format!("{base}{path}?measurement_id={tid}&api_secret={secret}").into(),
                    format!("{base}{path}?measurement_id={tid}&api_secret=REDACTED").into(),
                );
                Urls {
                    one: url.clone(),
                    many: url,
                }
            }
            Protocol::UniversalAnalytics if cfg.validation => Urls {
                one: both(ua::DEBUG_PATH),
                many: both(ua::DEBUG_PATH),
            },
            Protocol::UniversalAnalytics => Urls {
                one: both(ua::COLLECT_PATH),
                many: both(ua::BATCH_PATH),
            },
        }
    }

    /// The HTTP request for one batch. Built per attempt: the legacy protocol's `qt` depends on
    /// the time of sending.
    pub(crate) fn request(self, urls: &Urls, batch: &mut Batch) -> Outgoing {
        let (url, redacted_url) = if batch.len() == 1 {
            urls.one.clone()
        } else {
            urls.many.clone()
        };
        let (content_type, body) = match self {
            // Built as the batch filled, and shared by every attempt.
            Protocol::Ga4 => ("application/json", batch.body()),
            Protocol::UniversalAnalytics => (
                "application/x-www-form-urlencoded",
                Bytes::from(ua::body(batch.items(), SystemTime::now())),
            ),
        };
        Outgoing {
            url,
            redacted_url,
            content_type,
            body,
            hits: batch.len(),
        }
    }

    /// What a validation endpoint's answer objects to.
    pub(crate) fn validation_messages(self, body: &[u8]) -> Vec<ValidationMessage> {
        match self {
            Protocol::Ga4 => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Answer {
                    #[serde(default)]
                    validation_messages: Vec<ValidationMessage>,
                }
                match serde_json::from_slice::<Answer>(body) {
                    Ok(a) => a.validation_messages,
                    Err(e) => vec![ValidationMessage::new(
                        "",
                        ValidationCode::Other,
                        format!("unreadable validation answer: {e}"),
                    )],
                }
            }
            Protocol::UniversalAnalytics => ua::parse_debug_answer(body),
        }
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// One objection of a validation endpoint, or of the offline [`validate`](crate::validate) checks.
/// Serialises as Google's GA4 validation answer does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationMessage {
    /// Where the problem is, e.g. `events[0].params.page_title`.
    #[serde(default)]
    pub field_path: String,
    /// What is wrong.
    #[serde(default)]
    pub description: String,
    /// Google's code for it.
    #[serde(default)]
    pub validation_code: ValidationCode,
}

/// Google's validation codes (GA4), also used for the legacy protocol's parser messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ValidationCode {
    /// A value is malformed.
    #[default]
    ValueInvalid,
    /// A required value is missing.
    ValueRequired,
    /// A name does not match the allowed pattern.
    NameInvalid,
    /// A name is reserved by Google.
    NameReserved,
    /// A value is too long or out of range.
    ValueOutOfBounds,
    /// Too many events, params or properties.
    ExceededMaxEntities,
    /// A name appears twice.
    NameDuplicated,
    /// Anything else Google may send.
    #[serde(other)]
    Other,
}

impl ValidationMessage {
    pub(crate) fn new(
        path: impl Into<String>,
        code: ValidationCode,
        description: impl Into<String>,
    ) -> Self {
        ValidationMessage {
            field_path: path.into(),
            description: description.into(),
            validation_code: code,
        }
    }
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

/// Shortens a URL to `max` units (measured by `len`): first by dropping the query, then by cutting
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
    fn tracking_ids() {
        assert_eq!(Protocol::of("G-ABC123XYZ9"), Some(Protocol::Ga4));
        assert_eq!(
            Protocol::of("UA-12345-6"),
            Some(Protocol::UniversalAnalytics)
        );
        for bad in [
            "", "G-", "g-abc", "G-abc", "UA-1", "UA-1-2-3", "UA-x-1", "GTM-XXXX", "G-AB C",
        ] {
            assert_eq!(Protocol::of(bad), None, "{bad}");
        }
    }

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
