//! GA4 Measurement Protocol: one `page_view` event per request, batched by client into JSON bodies
//! of at most 25 events and under 130 kB.

use std::net::IpAddr;

pub(crate) mod context;

use super::batch::{Frame, KeyHashers, KeyId};
use super::json;
use super::memo::{self, Memo};
use super::Scratch;
use crate::config::{ClientIdStrategy, Config, Consent};
use crate::hit::Hit;
use crate::report::client_id::{
    client_id_into, explicit_client_id, identity_into, ip_to_send, keyed_id,
};
use crate::report::crowd::Crowd;
use crate::report::daily_cap::sibling_id_into;
use crate::report::page::{self, PageBuf};
use crate::report::sessions::Sessions;
use crate::spec::ga4::{value_limit, MAX_ID_LEN, MAX_USER_ID_LEN};
use crate::text::truncate::{fit_url, limited};

/// Writes into `key` everything [`encode_key`] reads of a hit whose client id is keyed (no
/// explicit id, no hook): the identity the id is the hash of, then the agent and address that
/// go out beside it. Returns the identity's length (what the id hashes), or `None` when the id
/// isn't keyed. The user id is part of the identity whenever there is one.
fn consumer_key_into(
    key: &mut Vec<u8>,
    hit: &Hit,
    day: u64,
    cfg: &Config,
    top: &str,
) -> Option<usize> {
    use crate::text::key::part;
    if cfg.identity.client_id_strategy != ClientIdStrategy::Keyed
        || cfg.identity.make_client_id.is_some()
        || explicit_client_id(hit).is_some()
        || !identity_into(key, hit, day)
    {
        return None;
    }
    let identity = key.len();
    part(
        key,
        hit.user_agent()
            .filter(|_| cfg.report.send_user_agent)
            .map(str::as_bytes),
    );
    match ip_to_send(hit, cfg.report.ip_mode) {
        Some(IpAddr::V4(ip)) => part(key, Some(&ip.octets())),
        Some(IpAddr::V6(ip)) => part(key, Some(&ip.octets())),
        None => part(key, None),
    }
    // Location, device and user properties, as written.
    part(key, (!top.is_empty()).then_some(top.as_bytes()));
    // Last, the identity's length: without it a longer identity could take in the parts after
    // it, and two consumers have one key.
    key.extend_from_slice(&(identity as u32).to_le_bytes());
    Some(identity)
}

/// What a hit's event takes from the encoding of its request's top level.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp {
    /// When its request came, in microseconds since the Unix epoch (0 before it).
    micros: u64,
    session_id: u64,
    /// Milliseconds since the consumer's previous hit in its session (capped, at least 1).
    engagement_ms: u64,
}

/// Encodes a hit's batch key into `s.key`: the request's top level (client, user, agent)
/// without its closing brace (the batch appends `,"events":[…]}`). Events share a request only
/// when all of it is equal. A consumer's is kept in a memo with its session's key and its key's
/// id: an API's active consumers come again and again, and their id is a keyed hash. Returns
/// the key's id with what the event needs.
pub(crate) fn encode_key(
    hit: &Hit,
    cfg: &Config,
    sessions: &mut Sessions,
    hashers: &KeyHashers,
    s: &mut Scratch,
) -> (Stamp, KeyId) {
    let (micros, day, now_ms) = when(hit);
    s.key.clear();
    context::prepare(hit, cfg, &mut s.extras);
    let top = s.extras.top.as_str();
    let memo = &mut s.consumers;
    if let Some(identity) = memo
        .wanted()
        .then(|| consumer_key_into(&mut memo.key, hit, day, cfg, top))
        .flatten()
    {
        let client_id = &mut s.client_id;
        let [session, map, check] = memo.append(&mut s.key, |key, out| {
            client_id.clear();
            keyed_id(&key[..identity], &cfg.identity.key).ga4_into(client_id);
            write_key(out, client_id, hit, cfg, top);
            let id = hashers.id(out);
            [sessions.key_of(client_id), id.map, id.check]
        });
        let (session_id, engagement_ms) = sessions.session_of(session, now_ms);
        let stamp = Stamp {
            micros,
            session_id,
            engagement_ms,
        };
        let id = spread(hit, cfg, sessions, hashers, s, session, day);
        return (stamp, id.unwrap_or(KeyId { map, check }));
    }
    let stable = client_id_into(&mut s.client_id, hit, day, cfg);
    // A random id is a new client: its session starts now, and keeping it would only fill the map.
    let session = stable.then(|| sessions.key_of(&s.client_id));
    let (session_id, engagement_ms) = match session {
        Some(session) => sessions.session_of(session, now_ms),
        None => ((now_ms / 1000).max(1), 1),
    };
    write_key(&mut s.key, &s.client_id, hit, cfg, top);
    let stamp = Stamp {
        micros,
        session_id,
        engagement_ms,
    };
    let spread = session.and_then(|c| spread(hit, cfg, sessions, hashers, s, c, day));
    (stamp, spread.unwrap_or_else(|| hashers.id(&s.key)))
}

/// Counts a consumer's event for GA's daily cap; past the threshold, rewrites `s.key` under its
/// sibling client id and returns the key's id.
fn spread(
    hit: &Hit,
    cfg: &Config,
    sessions: &mut Sessions,
    hashers: &KeyHashers,
    s: &mut Scratch,
    consumer: u64,
    day: u64,
) -> Option<KeyId> {
    let shard = sessions.daily.count(consumer, day);
    if shard == 0 {
        return None;
    }
    sibling_id_into(&mut s.client_id, consumer, shard, day, &cfg.identity.key);
    s.key.clear();
    write_key(&mut s.key, &s.client_id, hit, cfg, &s.extras.top);
    Some(hashers.id(&s.key))
}

/// When a hit's request came: microseconds since the Unix epoch (0 before it), its day and
/// millisecond.
fn when(hit: &Hit) -> (u64, u64, u64) {
    let micros = hit
        .received_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    (micros, micros / 86_400_000_000, micros / 1_000)
}

/// Where a hit goes while the sender is behind (see [`Crowd`]).
pub(crate) enum Lane {
    /// Its own consumer's request: [`encode_key`] writes its key.
    Own,
    /// The crowd's: its key is in `s.key`.
    Crowd(Stamp, KeyId),
    /// Nowhere: the crowd holds all it may while the queue is pressed.
    Dropped,
}

/// While the sender is behind: whether a hit's consumer has a session (or was seen just before),
/// and goes out as itself, or else joins the crowd, whose key it then writes into `s.key`.
pub(crate) fn crowd_lane(
    hit: &Hit,
    cfg: &Config,
    sessions: &mut Sessions,
    hashers: &KeyHashers,
    s: &mut Scratch,
    crowd: &mut Crowd,
) -> Lane {
    let (micros, day, now_ms) = when(hit);
    let stable = client_id_into(&mut s.client_id, hit, day, cfg);
    let session = sessions.key_of(&s.client_id);
    if stable && (sessions.has_session(session, now_ms) || crowd.seen_again(session)) {
        return Lane::Own;
    }
    if crowd.held >= crowd.limit && crowd.pressed {
        return Lane::Dropped;
    }
    let id = crowd.client_id(day, &cfg.identity.key);
    s.key.clear();
    s.key.push('{');
    s.key.push_str(r#""client_id":"#);
    json::string(&mut s.key, id);
    // No location, device or user properties: the crowd is nobody in particular.
    write_key_tail(&mut s.key, cfg, "");
    let session = sessions.key_of(id);
    let (session_id, engagement_ms) = sessions.session_of(session, now_ms);
    let key = hashers.id(&s.key);
    crowd.check = key.check;
    crowd.held += 1;
    let stamp = Stamp {
        micros,
        session_id,
        engagement_ms,
    };
    Lane::Crowd(stamp, key)
}

/// Writes a request's top level, without its closing brace.
fn write_key(key: &mut String, client_id: &str, hit: &Hit, cfg: &Config, top: &str) {
    key.push('{');
    key.push_str(r#""client_id":"#);
    json::string(key, client_id);
    if let Some(u) = &hit.user_id {
        key.push_str(r#","user_id":"#);
        json::string(key, &limited(u.as_str(), MAX_USER_ID_LEN));
    }
    if let Some(ua) = hit.user_agent().filter(|_| cfg.report.send_user_agent) {
        key.push_str(r#","user_agent":"#);
        json::string(key, &limited(ua, MAX_ID_LEN));
    }
    if let Some(ip) = ip_to_send(hit, cfg.report.ip_mode) {
        key.push_str(r#","ip_override":"#);
        // An address's text needs no escaping.
        key.push('"');
        json::display(key, ip);
        key.push('"');
    }
    write_key_tail(key, cfg, top);
}

/// The end of every request's top level: what the configuration alone says.
/// `top`: the hit's location, device and user properties (`context::prepare`).
fn write_key_tail(key: &mut String, cfg: &Config, top: &str) {
    let [user_data, personalization] = cfg.report.context.consent.map(Consent::as_str);
    if user_data.is_some() || personalization.is_some() {
        key.push_str(r#","consent":{"#);
        let mut first = true;
        for (name, state) in [
            ("ad_user_data", user_data),
            ("ad_personalization", personalization),
        ] {
            if let Some(state) = state {
                json::key(key, name, first);
                json::string(key, state);
                first = false;
            }
        }
        key.push('}');
    }
    key.push_str(top);
    if cfg.target.validation {
        key.push_str(r#","validation_behavior":"#);
        json::string(key, "ENFORCE_RECOMMENDATIONS");
    }
}

/// What [`encode_event`] writes an event with besides the hit.
pub(crate) struct Event<'a> {
    pub(crate) page: &'a mut PageBuf,
    pub(crate) pages: &'a mut Memo<{ memo::PAGE_KEY }>,
    /// The hit's per-request params (`context::prepare`).
    pub(crate) extras: &'a context::Extras,
    pub(crate) stamp: Stamp,
}

/// Appends a hit's `page_view` event to `item` (its batch's buffer): the page's params through
/// the memo of recent pages, then the hit's own.
pub(crate) fn encode_event(hit: &Hit, cfg: &Config, e: Event<'_>, item: &mut String) {
    let Event {
        page,
        pages,
        extras,
        stamp,
    } = e;
    let Stamp {
        micros,
        session_id,
        engagement_ms,
    } = stamp;
    item.push_str("{\"name\":\"page_view\",");
    // A clock before 1970 says nothing of when: Google then uses the time it receives the event.
    if micros > 0 {
        item.push_str("\"timestamp_micros\":");
        json::number(item, micros);
        item.push(',');
    }
    item.push_str("\"params\":{");
    // The params a page determines, kept per page: an API serves its hot pages over and over.
    // Constant params replaced by per-request ones are left out of the page's params, which
    // then aren't the page's alone: not memoised.
    if extras.names.is_empty()
        && pages.wanted()
        && page::key_into(&mut pages.key, hit, cfg).is_some()
    {
        pages.append(item, |_, item| {
            page_params(item, hit, cfg, page, &[]);
            memo::Extra::default()
        });
    } else {
        page_params(item, hit, cfg, page, &extras.names);
    }
    item.push_str(&extras.params);
    item.push_str(r#","session_id":"#);
    json::number(item, session_id);
    item.push_str(r#","engagement_time_msec":"#);
    json::number(item, engagement_ms);
    item.push_str(r#","http_status_code":"#);
    json::number(item, hit.status.as_u16().into());
    item.push_str(r#","server_latency_ms":"#);
    json::number(item, hit.latency().as_millis() as u64);
    if hit.deprecated.is_some() {
        item.push_str(r#","api_deprecated":1"#);
    }
    item.push_str("}}");
}

/// Writes the params that follow from the hit's page (its URL, title, referrer, method and route)
/// and from the configuration, the first without a leading comma. Whatever this reads of a hit,
/// [`page::key_into`] must name.
fn page_params(item: &mut String, hit: &Hit, cfg: &Config, page: &mut PageBuf, skip: &[String]) {
    let limit = cfg.report.param_value_limit;
    // GA4's page params take more than others (`value_limit`), unless asked to be conservative.
    let page_limit = |name| match cfg.report.context.conservative_limits {
        true => limit,
        false => value_limit(name, limit),
    };
    page.fill(hit, cfg);
    fit_url(page.location_mut(), page_limit("page_location"), true);
    if let Some(r) = page.referrer_mut() {
        fit_url(r, page_limit("page_referrer"), true);
    }
    item.push_str(r#""page_location":"#);
    json::string(item, page.location());
    item.push_str(r#","page_title":"#);
    json::string(item, &limited(page.title(), page_limit("page_title")));
    if let Some(r) = page.referrer() {
        item.push_str(r#","page_referrer":"#);
        json::string(item, r);
    }
    // A method is a token (`http` checks): nothing in it needs escaping.
    let method = limited(hit.method.as_str(), limit);
    debug_assert!(method
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'));
    item.push_str(r#","http_method":""#);
    item.push_str(&method);
    item.push('"');
    if let Some(r) = hit.route() {
        item.push_str(r#","http_route":"#);
        json::string(item, &limited(r, limit));
    }
    item.push_str(r#","data_source":"#);
    json::string(item, &limited(&cfg.report.data_source, limit));
    for (name, value) in &cfg.report.extra_params {
        if skip.contains(name) {
            continue;
        }
        json::key(item, name, false);
        json::display(item, value);
    }
}

/// Assembles one request body from a batch key and its events: what a batch framed with
/// [`FRAME`] holds once closed.
#[cfg(test)]
pub(crate) fn body<'a>(
    key: &str,
    items: impl ExactSizeIterator<Item = &'a str> + Clone,
) -> Vec<u8> {
    let len = key.len() + BODY_OVERHEAD + items.clone().map(|e| e.len() + 1).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b",\"events\":[");
    for (i, e) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e.as_bytes());
    }
    out.extend_from_slice(b"]}");
    out
}

/// Bytes a batch adds on top of its key and events.
pub(crate) const BODY_OVERHEAD: usize = 14;

/// The text of a request body around its key (the top level without its closing brace) and
/// between its events.
pub(crate) const FRAME: Frame = Frame {
    open: ",\"events\":[",
    between: ",",
    close: "]}",
};

#[cfg(test)]
mod tests;
