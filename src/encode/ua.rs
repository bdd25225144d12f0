//! Universal Analytics v1 (legacy) encoding: the pageview `v=1 tid ds cid uid t=pageview dl dh dp
//! dt ua qt`, URL-encoded, one payload per line.

use std::time::SystemTime;

use super::Scratch;
use crate::config::Config;
use crate::hit::Hit;
use crate::report::client_id::raw_id;
use crate::spec::ua::{limit_of, MAX_HIT_BYTES};
use crate::text::truncate::{fit_url, truncate_bytes};

/// Room kept in each hit for the `&qt=…` added when sending.
pub(crate) const QT_ROOM: usize = 24;

/// The v1 client id: an explicit [`ClientId`](crate::ClientId), the user's hook, or the strategy
/// formatted as a UUID v4.
fn client_id(hit: &Hit, cfg: &Config) -> String {
    hit.client_id
        .as_ref()
        .map(|c| c.as_str().to_owned())
        .or_else(|| {
            cfg.identity.make_client_id.as_ref().and_then(|h| {
                crate::hooks::guarded("client_id_with", || h.make_client_id(hit)).flatten()
            })
        })
        .filter(|c| !c.is_empty())
        .map(|mut c| {
            truncate_bytes(&mut c, 256);
            c
        })
        .unwrap_or_else(|| raw_id(hit, cfg.identity.client_id_strategy, &cfg.identity.key).uuid())
}

/// Encodes a hit as one payload line into `s.item`, without `qt` (added per attempt). All hits
/// share one batch key, the empty one: v1 batches may mix clients.
pub(crate) fn encode(hit: &Hit, cfg: &Config, scratch: &mut Scratch) {
    scratch.page.fill(hit, cfg);
    let page = &scratch.page;
    let cid = client_id(hit, cfg);
    let uid = hit.user_id.as_ref().map(|u| {
        let mut u = u.as_str().to_owned();
        truncate_bytes(&mut u, 256);
        u
    });
    let ua = if cfg.report.send_user_agent {
        hit.user_agent()
    } else {
        None
    };
    let uip =
        crate::report::client_id::ip_to_send(hit, cfg.report.ip_mode).map(|ip| ip.to_string());
    // Shrink in steps until the payload fits, so an oversized hit is never sent as it is.
    let mut scale = 1;
    let item = loop {
        let cap = |name: &str, value: &str| -> String {
            let max = limit_of(name).unwrap_or(usize::MAX) / scale;
            let mut v = value.to_owned();
            if matches!(name, "dl" | "dp" | "dr") {
                fit_url(&mut v, max, false);
            } else {
                truncate_bytes(&mut v, max);
            }
            v
        };
        let mut s = form_urlencoded::Serializer::new(String::with_capacity(512));
        s.append_pair("v", "1")
            .append_pair("tid", &cfg.target.tracking_id)
            .append_pair("ds", &cap("dt", &cfg.report.data_source))
            .append_pair("cid", &cid);
        if let Some(uid) = &uid {
            s.append_pair("uid", uid);
        }
        s.append_pair("t", "pageview")
            .append_pair("dl", &cap("dl", page.location()))
            .append_pair("dh", &cap("dh", page.host()))
            .append_pair("dp", &cap("dp", page.path()))
            .append_pair("dt", &cap("dt", page.title()));
        if let (Some(r), true) = (page.referrer(), scale < 8) {
            s.append_pair("dr", &cap("dr", r));
        }
        if let (Some(ua), true) = (ua, scale < 8) {
            s.append_pair("ua", &cap("ua", ua));
        }
        if let Some(ip) = &uip {
            s.append_pair("uip", ip);
        }
        let line = s.finish();
        if line.len() + QT_ROOM <= MAX_HIT_BYTES || scale >= 64 {
            break line;
        }
        scale *= 2;
    };
    scratch.key.clear();
    scratch.item = item;
}

/// The body of a batch, each line with its queue time (`qt`, ms since the request) as of `now`.
pub(crate) fn body<'a>(
    items: impl ExactSizeIterator<Item = (&'a str, SystemTime)> + Clone,
    now: SystemTime,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(items.clone().map(|(e, _)| e.len() + QT_ROOM).sum());
    for (i, (item, received_at)) in items.enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        let qt = now.duration_since(received_at).map_or(0, |d| d.as_millis());
        out.extend_from_slice(item.as_bytes());
        out.extend_from_slice(b"&qt=");
        out.extend_from_slice(itoa::Buffer::new().format(qt).as_bytes());
    }
    out
}
