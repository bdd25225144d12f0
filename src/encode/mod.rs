//! Encoding: how a hit becomes a protocol's payload, batched, and how a batch becomes an HTTP
//! request. One module per protocol; the JSON writer, the memos and the batcher are shared.

pub(crate) mod batch;
pub(crate) mod ga4;
pub(crate) mod json;
pub(crate) mod memo;
pub(crate) mod ua;

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::config::Config;
use crate::hit::Hit;
use crate::report::crowd::Crowd;
use crate::report::page::PageBuf;
use crate::report::sessions::Sessions;
use crate::spec::{ga4 as ga4_spec, ua as ua_spec, Protocol};
use crate::transport::Outgoing;
use batch::{Batch, Batcher, Limits};
use ga4::Lane;

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
    /// GA4's per-hit location, device, user properties and params.
    extras: ga4::context::Extras,
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
pub(crate) struct Urls {
    one: (Arc<str>, Arc<str>),
    many: (Arc<str>, Arc<str>),
}

/// Only the redacted URLs: the full ones hold the API secret.
impl std::fmt::Debug for Urls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Urls")
            .field("one", &self.one.1)
            .field("many", &self.many.1)
            .finish()
    }
}

/// What became of an encoded hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoded {
    /// In its consumer's batch.
    Own,
    /// In the crowd's batch, under the shared client id.
    Crowd,
    /// Nowhere: the crowd was full.
    Dropped,
}

impl Protocol {
    /// How hits of this protocol are batched.
    pub(crate) fn limits(self, validation: bool) -> Limits {
        match self {
            Protocol::Ga4 => Limits {
                max_items: ga4_spec::MAX_EVENTS,
                max_bytes: ga4_spec::MAX_BODY_BYTES - 1,
                per_item_overhead: 1,
                per_batch_overhead: ga4::BODY_OVERHEAD,
                frame: Some(ga4::FRAME),
            },
            Protocol::UniversalAnalytics => Limits {
                // The validation endpoint takes one hit at a time.
                max_items: if validation {
                    1
                } else {
                    ua_spec::MAX_BATCH_HITS
                },
                max_bytes: ua_spec::MAX_BATCH_BYTES,
                per_item_overhead: 1 + ua::QT_ROOM,
                per_batch_overhead: 0,
                // Each line gets its queue time when sent.
                frame: None,
            },
        }
    }

    /// Encodes a hit straight into the open batch of its key (taken in flush epoch `epoch`).
    /// With a crowd (the sender is behind), a GA4 hit of a consumer without a session may join
    /// it, or be dropped (see [`Crowd`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn encode_into(
        self,
        hit: &Hit,
        cfg: &Config,
        sessions: &mut Sessions,
        s: &mut Scratch,
        batcher: &mut Batcher,
        epoch: u64,
        crowd: Option<&mut Crowd>,
    ) -> Encoded {
        match self {
            Protocol::Ga4 => {
                let lane = match crowd {
                    Some(crowd) => ga4::crowd_lane(hit, cfg, sessions, &batcher.hashers, s, crowd),
                    None => Lane::Own,
                };
                let (encoded, (stamp, id)) = match lane {
                    Lane::Own => (
                        Encoded::Own,
                        ga4::encode_key(hit, cfg, sessions, &batcher.hashers, s),
                    ),
                    Lane::Crowd(stamp, id) => (Encoded::Crowd, (stamp, id)),
                    Lane::Dropped => return Encoded::Dropped,
                };
                let e = ga4::Event {
                    page: &mut s.page,
                    pages: &mut s.pages,
                    extras: &s.extras,
                    stamp,
                };
                batcher.add_with(epoch, &s.key, id, hit.received_at, |out| {
                    ga4::encode_event(hit, cfg, e, out)
                });
                encoded
            }
            Protocol::UniversalAnalytics => {
                ua::encode(hit, cfg, s);
                let (item, id) = (&s.item, batcher.hashers.id(&s.key));
                batcher.add_with(epoch, &s.key, id, hit.received_at, |out| out.push_str(item));
                Encoded::Own
            }
        }
    }

    /// The URLs a sender posts to, built once.
    pub(crate) fn urls(self, cfg: &Config) -> Urls {
        let base = cfg.target.base_url();
        let both = |path: &str| {
            let url: Arc<str> = format!("{base}{path}").into();
            (url.clone(), url)
        };
        match self {
            Protocol::Ga4 => {
                let path = if cfg.target.validation {
                    ga4_spec::DEBUG_PATH
                } else {
                    ga4_spec::COLLECT_PATH
                };
                let tid = utf8_percent_encode(&cfg.target.tracking_id, NON_ALPHANUMERIC);
                let secret = cfg.target.api_secret.as_ref().map_or("", |s| s.0.as_str());
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
            Protocol::UniversalAnalytics if cfg.target.validation => Urls {
                one: both(ua_spec::DEBUG_PATH),
                many: both(ua_spec::DEBUG_PATH),
            },
            Protocol::UniversalAnalytics => Urls {
                one: both(ua_spec::COLLECT_PATH),
                many: both(ua_spec::BATCH_PATH),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_never_show_the_api_secret_in_debug() {
        let mut cfg = Config::default();
        cfg.target.tracking_id = "G-ABC123".into();
        cfg.target.protocol = Some(Protocol::Ga4);
        cfg.target.api_secret = Some(crate::config::Secret("hunter2".into()));
        let urls = Protocol::Ga4.urls(&cfg);
        let text = format!("{urls:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("api_secret=REDACTED"), "{text}");
    }
}
