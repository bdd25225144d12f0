//! GA4 Measurement Protocol: one `page_view` event per request, batched by client into JSON bodies
//! of at most 25 events and under 130 kB.

use std::borrow::Cow;
use std::net::IpAddr;

use serde_json::Value;

use super::memo::{self, Memo};
use super::{
    fit_url, json, truncate_chars, Scratch, ValidationCode as Code, ValidationMessage as Msg,
};
use crate::client_id::{identity_into, keyed_id, raw_id, ClientIdStrategy, Sessions};
use crate::config::{Config, IpMode};
use crate::hit::Hit;
use crate::page;
use crate::sender::batch::{KeyHashers, KeyId};

/// Collection path.
pub(crate) const COLLECT_PATH: &str = "/mp/collect";
/// Validation path.
pub(crate) const DEBUG_PATH: &str = "/debug/mp/collect";
/// Events per request.
pub const MAX_EVENTS: usize = 25;
/// Params per event.
pub const MAX_PARAMS: usize = 25;
/// A request body must be smaller than this many bytes.
pub const MAX_BODY_BYTES: usize = 130_000;
/// Longest event or param name.
pub const MAX_NAME_LEN: usize = 40;
/// Longest param value (characters) for standard properties.
pub const MAX_PARAM_VALUE_LEN: usize = 100;
/// Longest `user_id`.
pub const MAX_USER_ID_LEN: usize = 256;
/// Longest `client_id` and `user_agent` this crate sends (no documented limit: the safe side).
pub const MAX_ID_LEN: usize = 256;
/// User properties per request, and their name and value lengths.
pub const MAX_USER_PROPERTIES: usize = 25;
const MAX_USER_PROPERTY_NAME: usize = 24;
const MAX_USER_PROPERTY_VALUE: usize = 36;

/// Event names Google reserves.
pub const RESERVED_EVENT_NAMES: &[&str] = &[
    "ad_activeview",
    "ad_click",
    "ad_exposure",
    "ad_query",
    "ad_reward",
    "adunit_exposure",
    "app_clear_data",
    "app_exception",
    "app_install",
    "app_remove",
    "app_store_refund",
    "app_update",
    "app_upgrade",
    "dynamic_link_app_open",
    "dynamic_link_app_update",
    "dynamic_link_first_open",
    "error",
    "firebase_campaign",
    "firebase_in_app_message_action",
    "firebase_in_app_message_dismiss",
    "firebase_in_app_message_impression",
    "first_open",
    "first_visit",
    "in_app_purchase",
    "notification_dismiss",
    "notification_foreground",
    "notification_open",
    "notification_receive",
    "notification_send",
    "os_update",
    "session_start",
    "user_engagement",
];
/// Param name prefixes Google reserves.
pub const RESERVED_PARAM_PREFIXES: &[&str] = &["_", "firebase_", "ga_", "google_", "gtag."];
/// User property names Google reserves.
pub const RESERVED_USER_PROPERTIES: &[&str] = &[
    "first_open_time",
    "first_visit_time",
    "last_deep_link_referrer",
    "user_id",
    "first_open_after_install",
];

/// Names of the custom params each event carries.
pub mod params {
    /// The request method.
    pub const HTTP_METHOD: &str = "http_method";
    /// The matched route template (absent when unmatched).
    pub const HTTP_ROUTE: &str = "http_route";
    /// The response status.
    pub const HTTP_STATUS_CODE: &str = "http_status_code";
    /// Server-side latency, whole milliseconds.
    pub const SERVER_LATENCY_MS: &str = "server_latency_ms";
    /// The data source marker (`api` by default).
    pub const DATA_SOURCE: &str = "data_source";
}

/// Params the crate sets itself; user params may not reuse these names.
pub(crate) const BUILTIN_PARAMS: &[&str] = &[
    "page_location",
    "page_title",
    "page_referrer",
    "session_id",
    "engagement_time_msec",
    params::HTTP_METHOD,
    params::HTTP_ROUTE,
    params::HTTP_STATUS_CODE,
    params::SERVER_LATENCY_MS,
    params::DATA_SOURCE,
];

fn limited(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut s = s.to_owned();
    truncate_chars(&mut s, max);
    Cow::Owned(s)
}

/// Writes the GA4 client id of a hit into `out`: an explicit [`ClientId`](crate::ClientId), else the
/// user's hook, else the configured strategy. Returns whether the id is stable (not random).
pub(crate) fn client_id_into(out: &mut String, hit: &Hit, day: u64, cfg: &Config) -> bool {
    out.clear();
    if let Some(c) = explicit_client_id(hit) {
        out.push_str(&limited(c, MAX_ID_LEN));
        return true;
    }
    let hook = cfg.make_client_id.as_ref();
    if let Some(c) = hook
        .and_then(|h| crate::hooks::guarded("client_id_with", || h.make_client_id(hit)).flatten())
        .filter(|c| !c.is_empty())
    {
        out.push_str(&limited(&c, MAX_ID_LEN));
        return true;
    }
    let mut identity = Vec::new();
    if cfg.client_id_strategy == ClientIdStrategy::Keyed && identity_into(&mut identity, hit, day) {
        keyed_id(&identity, &cfg.key).ga4_into(out);
        return true;
    }
    raw_id(hit, cfg.client_id_strategy, &cfg.key).ga4_into(out);
    false
}

fn explicit_client_id(hit: &Hit) -> Option<&str> {
    hit.client_id
        .as_ref()
        .map(|c| c.as_str())
        .filter(|c| !c.is_empty())
}

/// Writes into `key` everything [`encode_key`] reads of a hit whose client id is keyed (no
/// explicit id, no hook): the identity the id is the hash of, then the agent and address that
/// go out beside it. Returns the identity's length (what the id hashes), or `None` when the id
/// isn't keyed. The user id is part of the identity whenever there is one.
fn consumer_key_into(key: &mut Vec<u8>, hit: &Hit, day: u64, cfg: &Config) -> Option<usize> {
    use memo::part;
    if cfg.client_id_strategy != ClientIdStrategy::Keyed
        || cfg.make_client_id.is_some()
        || explicit_client_id(hit).is_some()
        || !identity_into(key, hit, day)
    {
        return None;
    }
    let identity = key.len();
    part(
        key,
        hit.user_agent()
            .filter(|_| cfg.send_user_agent)
            .map(str::as_bytes),
    );
    match ip_to_send(hit, cfg.ip_mode) {
        Some(IpAddr::V4(ip)) => part(key, Some(&ip.octets())),
        Some(IpAddr::V6(ip)) => part(key, Some(&ip.octets())),
        None => part(key, None),
    }
    // Last, the identity's length: without it a longer identity could take in the parts after
    // it, and two consumers have one key.
    key.extend_from_slice(&(identity as u32).to_le_bytes());
    Some(identity)
}

pub(crate) fn ip_to_send(hit: &Hit, mode: IpMode) -> Option<IpAddr> {
    match mode {
        IpMode::Off => None,
        IpMode::Full => hit.client_ip(),
        IpMode::Truncated => hit.client_ip().map(page::truncate_ip),
    }
}

/// What a hit's event takes from the encoding of its request's top level.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp {
    /// When its request came, in microseconds since the Unix epoch (0 before it).
    micros: u64,
    session_id: u64,
}

/// Encodes a hit into `s.key` and `s.item`.
#[cfg(test)]
pub(crate) fn encode(hit: &Hit, cfg: &Config, sessions: &mut Sessions, s: &mut Scratch) {
    let (stamp, _) = encode_key(hit, cfg, sessions, &KeyHashers::default(), s);
    s.item.clear();
    encode_event(hit, cfg, &mut s.page, &mut s.pages, stamp, &mut s.item);
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
    let micros = hit
        .received_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let day = micros / 86_400_000_000;
    let now_secs = micros / 1_000_000;
    s.key.clear();
    let memo = &mut s.consumers;
    if let Some(identity) = memo
        .wanted()
        .then(|| consumer_key_into(&mut memo.key, hit, day, cfg))
        .flatten()
    {
        let client_id = &mut s.client_id;
        let [session, map, check] = memo.append(&mut s.key, |key, out| {
            client_id.clear();
            keyed_id(&key[..identity], &cfg.key).ga4_into(client_id);
            write_key(out, client_id, hit, cfg);
            let id = hashers.id(out);
            [sessions.key_of(client_id), id.map, id.check]
        });
        let session_id = sessions.session_id_of(session, now_secs);
        return (Stamp { micros, session_id }, KeyId { map, check });
    }
    let stable = client_id_into(&mut s.client_id, hit, day, cfg);
    // A random id is a new client: its session starts now, and keeping it would only fill the map.
    let session_id = if stable {
        sessions.session_id(&s.client_id, now_secs)
    } else {
        now_secs.max(1)
    };
    write_key(&mut s.key, &s.client_id, hit, cfg);
    (Stamp { micros, session_id }, hashers.id(&s.key))
}

/// Writes a request's top level, without its closing brace.
fn write_key(key: &mut String, client_id: &str, hit: &Hit, cfg: &Config) {
    key.push('{');
    key.push_str(r#""client_id":"#);
    json::string(key, client_id);
    if let Some(u) = &hit.user_id {
        key.push_str(r#","user_id":"#);
        json::string(key, &limited(u.as_str(), MAX_USER_ID_LEN));
    }
    if let Some(ua) = hit.user_agent().filter(|_| cfg.send_user_agent) {
        key.push_str(r#","user_agent":"#);
        json::string(key, &limited(ua, MAX_ID_LEN));
    }
    if let Some(ip) = ip_to_send(hit, cfg.ip_mode) {
        key.push_str(r#","ip_override":"#);
        // An address's text needs no escaping.
        key.push('"');
        json::display(key, ip);
        key.push('"');
    }
    if cfg.validation {
        key.push_str(r#","validation_behavior":"#);
        json::string(key, "ENFORCE_RECOMMENDATIONS");
    }
}

/// Appends a hit's `page_view` event to `item` (its batch's buffer): the page's params through
/// the memo of recent pages, then the hit's own.
pub(crate) fn encode_event(
    hit: &Hit,
    cfg: &Config,
    page: &mut page::PageBuf,
    pages: &mut Memo<{ memo::PAGE_KEY }>,
    stamp: Stamp,
    item: &mut String,
) {
    let Stamp { micros, session_id } = stamp;
    item.push_str("{\"name\":\"page_view\",");
    // A clock before 1970 says nothing of when: Google then uses the time it receives the event.
    if micros > 0 {
        item.push_str("\"timestamp_micros\":");
        json::number(item, micros);
        item.push(',');
    }
    item.push_str("\"params\":{");
    // The params a page determines, kept per page: an API serves its hot pages over and over.
    if pages.wanted() && page::key_into(&mut pages.key, hit, cfg).is_some() {
        pages.append(item, |_, item| {
            page_params(item, hit, cfg, page);
            memo::Extra::default()
        });
    } else {
        page_params(item, hit, cfg, page);
    }
    item.push_str(r#","session_id":"#);
    json::number(item, session_id);
    item.push_str(r#","engagement_time_msec":1,"http_status_code":"#);
    json::number(item, hit.status.as_u16().into());
    item.push_str(r#","server_latency_ms":"#);
    json::number(item, hit.latency().as_millis() as u64);
    item.push_str("}}");
}

/// Writes the params that follow from the hit's page (its URL, title, referrer, method and route)
/// and from the configuration, the first without a leading comma. Whatever this reads of a hit,
/// [`page::key_into`] must name.
fn page_params(item: &mut String, hit: &Hit, cfg: &Config, page: &mut page::PageBuf) {
    let limit = cfg.param_value_limit;
    page.fill(hit, cfg);
    fit_url(page.location_mut(), limit, true);
    if let Some(r) = page.referrer_mut() {
        fit_url(r, limit, true);
    }
    item.push_str(r#""page_location":"#);
    json::string(item, page.location());
    item.push_str(r#","page_title":"#);
    json::string(item, &limited(page.title(), limit));
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
    json::string(item, &limited(&cfg.data_source, limit));
    for (name, value) in &cfg.extra_params {
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
pub(crate) const FRAME: crate::sender::batch::Frame = crate::sender::batch::Frame {
    open: ",\"events\":[",
    between: ",",
    close: "]}",
};

fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The offline checks behind [`validate::ga4`](crate::validate::ga4).
pub(crate) fn validate(body: &[u8], param_value_limit: usize) -> Vec<Msg> {
    let mut out = Vec::new();
    if body.len() >= MAX_BODY_BYTES {
        out.push(Msg::new(
            "",
            Code::ValueOutOfBounds,
            format!(
                "body of {} bytes; must be under {MAX_BODY_BYTES}",
                body.len()
            ),
        ));
    }
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            out.push(Msg::new(
                "",
                Code::ValueInvalid,
                format!("body is not JSON: {e}"),
            ));
            return out;
        }
    };
    for path in json::duplicate_keys(body) {
        out.push(Msg::new(
            path,
            Code::NameDuplicated,
            "the same name is given twice in one object",
        ));
    }
    let Some(top) = v.as_object() else {
        out.push(Msg::new(
            "",
            Code::ValueInvalid,
            "body must be a JSON object",
        ));
        return out;
    };
    const KNOWN: &[&str] = &[
        "client_id",
        "app_instance_id",
        "user_id",
        "timestamp_micros",
        "user_properties",
        "consent",
        "non_personalized_ads",
        "user_location",
        "ip_override",
        "device",
        "user_agent",
        "user_data",
        "validation_behavior",
        "events",
    ];
    for k in top.keys() {
        if !KNOWN.contains(&k.as_str()) {
            out.push(Msg::new(
                k,
                Code::ValueInvalid,
                format!("unknown field {k}"),
            ));
        }
    }
    match top.get("client_id") {
        Some(Value::String(c)) if !c.is_empty() => {
            let ok = c.split_once('.').is_some_and(|(a, b)| {
                [a, b].iter().all(|p| {
                    !p.is_empty()
                        && p.bytes().all(|d| d.is_ascii_digit())
                        && p.parse::<u64>().is_ok_and(|n| n > 0)
                })
            });
            if !ok {
                out.push(Msg::new(
                    "client_id",
                    Code::ValueInvalid,
                    "client_id should be two positive integers joined by a dot",
                ));
            }
        }
        Some(_) => out.push(Msg::new(
            "client_id",
            Code::ValueInvalid,
            "client_id must be a non-empty string",
        )),
        None if top.contains_key("app_instance_id") => {}
        None => out.push(Msg::new(
            "client_id",
            Code::ValueRequired,
            "client_id is required",
        )),
    }
    if let Some(u) = top.get("user_id") {
        match u.as_str() {
            Some(u) if u.chars().count() <= MAX_USER_ID_LEN => {}
            Some(_) => out.push(Msg::new(
                "user_id",
                Code::ValueOutOfBounds,
                format!("user_id longer than {MAX_USER_ID_LEN}"),
            )),
            None => out.push(Msg::new(
                "user_id",
                Code::ValueInvalid,
                "user_id must be a string",
            )),
        }
    }
    if let Some(t) = top.get("timestamp_micros") {
        if !t.is_u64() {
            out.push(Msg::new(
                "timestamp_micros",
                Code::ValueInvalid,
                "timestamp_micros must be a positive integer",
            ));
        }
    }
    if let Some(ip) = top.get("ip_override") {
        if ip.as_str().and_then(|s| s.parse::<IpAddr>().ok()).is_none() {
            out.push(Msg::new(
                "ip_override",
                Code::ValueInvalid,
                "ip_override must be an IP address",
            ));
        }
    }
    if let Some(ua) = top.get("user_agent") {
        if !ua.is_string() {
            out.push(Msg::new(
                "user_agent",
                Code::ValueInvalid,
                "user_agent must be a string",
            ));
        }
    }
    if let Some(b) = top.get("validation_behavior") {
        if !matches!(b.as_str(), Some("RELAXED" | "ENFORCE_RECOMMENDATIONS")) {
            out.push(Msg::new(
                "validation_behavior",
                Code::ValueInvalid,
                "validation_behavior must be RELAXED or ENFORCE_RECOMMENDATIONS",
            ));
        }
    }
    if let Some(props) = top.get("user_properties") {
        validate_user_properties(props, &mut out);
    }
    match top.get("events").and_then(Value::as_array) {
        None => out.push(Msg::new(
            "events",
            Code::ValueRequired,
            "events must be a non-empty array",
        )),
        Some(events) if events.is_empty() => out.push(Msg::new(
            "events",
            Code::ValueRequired,
            "events must not be empty",
        )),
        Some(events) => {
            if events.len() > MAX_EVENTS {
                out.push(Msg::new(
                    "events",
                    Code::ExceededMaxEntities,
                    format!("{} events; at most {MAX_EVENTS}", events.len()),
                ));
            }
            for (i, e) in events.iter().enumerate() {
                validate_event(&format!("events[{i}]"), e, param_value_limit, &mut out);
            }
        }
    }
    out
}

fn validate_event(path: &str, e: &Value, limit: usize, out: &mut Vec<Msg>) {
    let Some(e) = e.as_object() else {
        out.push(Msg::new(
            path,
            Code::ValueInvalid,
            "an event must be an object",
        ));
        return;
    };
    match e.get("name").and_then(Value::as_str) {
        None => out.push(Msg::new(
            format!("{path}.name"),
            Code::ValueRequired,
            "event name is required",
        )),
        Some(n) => {
            if n.len() > MAX_NAME_LEN {
                out.push(Msg::new(
                    format!("{path}.name"),
                    Code::ValueOutOfBounds,
                    format!("event name longer than {MAX_NAME_LEN}"),
                ));
            }
            if !is_name(n) {
                out.push(Msg::new(format!("{path}.name"), Code::NameInvalid, format!("event name {n:?} must start with a letter and hold only letters, digits and _")));
            }
            if RESERVED_EVENT_NAMES.contains(&n) {
                out.push(Msg::new(
                    format!("{path}.name"),
                    Code::NameReserved,
                    format!("event name {n:?} is reserved"),
                ));
            }
        }
    }
    if let Some(t) = e.get("timestamp_micros") {
        if !t.is_u64() {
            out.push(Msg::new(
                format!("{path}.timestamp_micros"),
                Code::ValueInvalid,
                "timestamp_micros must be a positive integer",
            ));
        }
    }
    let Some(params) = e.get("params") else {
        return;
    };
    let Some(params) = params.as_object() else {
        out.push(Msg::new(
            format!("{path}.params"),
            Code::ValueInvalid,
            "params must be an object",
        ));
        return;
    };
    if params.len() > MAX_PARAMS {
        out.push(Msg::new(
            format!("{path}.params"),
            Code::ExceededMaxEntities,
            format!("{} params; at most {MAX_PARAMS}", params.len()),
        ));
    }
    for (k, v) in params {
        let p = format!("{path}.params.{k}");
        if k.len() > MAX_NAME_LEN {
            out.push(Msg::new(
                &p,
                Code::ValueOutOfBounds,
                format!("param name longer than {MAX_NAME_LEN}"),
            ));
        }
        if RESERVED_PARAM_PREFIXES.iter().any(|r| k.starts_with(r)) || k == "firebase_conversion" {
            out.push(Msg::new(
                &p,
                Code::NameReserved,
                format!("param name {k:?} is reserved"),
            ));
        } else if !is_name(k) {
            out.push(Msg::new(
                &p,
                Code::NameInvalid,
                format!(
                    "param name {k:?} must start with a letter and hold only letters, digits and _"
                ),
            ));
        }
        match v {
            Value::String(s) if s.chars().count() > limit => out.push(Msg::new(
                &p,
                Code::ValueOutOfBounds,
                format!("value longer than {limit} characters"),
            )),
            Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Array(_) => {}
            _ => out.push(Msg::new(
                &p,
                Code::ValueInvalid,
                "param values must be strings or numbers",
            )),
        }
    }
}

fn validate_user_properties(props: &Value, out: &mut Vec<Msg>) {
    let Some(props) = props.as_object() else {
        out.push(Msg::new(
            "user_properties",
            Code::ValueInvalid,
            "user_properties must be an object",
        ));
        return;
    };
    if props.len() > MAX_USER_PROPERTIES {
        out.push(Msg::new(
            "user_properties",
            Code::ExceededMaxEntities,
            format!("at most {MAX_USER_PROPERTIES} user properties"),
        ));
    }
    for (k, v) in props {
        let p = format!("user_properties.{k}");
        if k.len() > MAX_USER_PROPERTY_NAME {
            out.push(Msg::new(
                &p,
                Code::ValueOutOfBounds,
                format!("name longer than {MAX_USER_PROPERTY_NAME}"),
            ));
        }
        if RESERVED_USER_PROPERTIES.contains(&k.as_str())
            || RESERVED_PARAM_PREFIXES.iter().any(|r| k.starts_with(r))
        {
            out.push(Msg::new(
                &p,
                Code::NameReserved,
                format!("user property {k:?} is reserved"),
            ));
        } else if !is_name(k) {
            out.push(Msg::new(
                &p,
                Code::NameInvalid,
                format!("user property name {k:?} is invalid"),
            ));
        }
        match v.get("value") {
            Some(Value::String(s)) if s.chars().count() > MAX_USER_PROPERTY_VALUE => {
                out.push(Msg::new(
                    format!("{p}.value"),
                    Code::ValueOutOfBounds,
                    format!("value longer than {MAX_USER_PROPERTY_VALUE}"),
                ))
            }
            Some(_) => {}
            None => out.push(Msg::new(
                format!("{p}.value"),
                Code::ValueRequired,
                "user property needs a value",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes one hit with a route and a referrer, reusing `scratch`; returns the body of a
    /// batch of that one event.
    fn encode_one(scratch: &mut Scratch, path: &str, referer: Option<&str>) -> Value {
        let mut req = http::Request::get(path).header("host", "api.test");
        if let Some(r) = referer {
            req = req.header("referer", r);
        }
        let mut req = req.body(()).unwrap();
        req.extensions_mut()
            .insert(crate::MatchedRoute::new("/users/{id}"));
        let mut hit = Hit::from_request(&req, false);
        hit.stamp();
        let cfg = Config::default();
        encode(&hit, &cfg, &mut Sessions::new(1800, 10), scratch);
        let body = super::body(&scratch.key, std::iter::once(scratch.item.as_str()));
        assert_eq!(validate(&body, 100), vec![]);
        serde_json::from_slice(&body).unwrap()
    }

    #[test]
    fn a_name_given_twice_is_reported() {
        let body =
            br#"{"client_id":"1.1","events":[{"name":"page_view","params":{"a":1,"b":2,"a":3}}]}"#;
        let msgs = validate(body, 100);
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert_eq!(msgs[0].field_path, "events[0].params.a");
        assert_eq!(msgs[0].validation_code, Code::NameDuplicated);
        let ok = br#"{"client_id":"1.1","events":[{"name":"page_view","params":{"a":1}},{"name":"page_view","params":{"a":1}}]}"#;
        assert_eq!(validate(ok, 100), vec![]);
    }

    #[test]
    fn a_clock_before_1970_leaves_the_timestamp_to_google() {
        let req = http::Request::get("/a")
            .header("host", "api.test")
            .body(())
            .unwrap();
        let mut hit = Hit::from_request(&req, false);
        hit.received_at = std::time::UNIX_EPOCH - std::time::Duration::from_secs(60);
        let mut scratch = Scratch::default();
        encode(
            &hit,
            &Config::default(),
            &mut Sessions::new(1800, 10),
            &mut scratch,
        );
        let body = super::body(&scratch.key, std::iter::once(scratch.item.as_str()));
        assert_eq!(validate(&body, 100), vec![]);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["events"][0].get("timestamp_micros").is_none(), "{v}");
        assert_eq!(
            v["events"][0]["params"]["page_location"],
            "http://api.test/a"
        );
    }

    #[test]
    fn an_event_carries_every_builtin_param_and_buffers_are_reused() {
        let mut scratch = Scratch::default();
        let v = encode_one(&mut scratch, "/users/7?token=x", Some("https://ref.test/a"));
        let params = v["events"][0]["params"].as_object().unwrap();
        let mut names: Vec<&str> = params.keys().map(String::as_str).collect();
        let mut builtin = BUILTIN_PARAMS.to_vec();
        names.sort_unstable();
        builtin.sort_unstable();
        assert_eq!(names, builtin);
        assert_eq!(
            params["page_location"],
            "http://api.test/users/7?token=REDACTED"
        );
        // A second hit in the same buffers: nothing of the first is left.
        let v = encode_one(&mut scratch, "/b", None);
        let params = v["events"][0]["params"].as_object().unwrap();
        assert_eq!(params["page_location"], "http://api.test/b");
        assert!(params.get("page_referrer").is_none());
        assert_eq!(v["events"].as_array().unwrap().len(), 1);
    }

    /// Hits that differ from a first one in one input at a time (and some in nothing the page
    /// depends on).
    fn variants() -> Vec<http::Request<()>> {
        type Change = fn(&mut http::HeaderMap);
        fn set(h: &mut http::HeaderMap, name: &'static str, value: &'static str) {
            h.insert(name, http::HeaderValue::from_static(value));
        }
        let base = |uri: &str, method: &str| {
            http::Request::builder()
                .method(method)
                .uri(uri)
                .header("host", "api.test")
                .header("referer", "https://ref.test/a?x=1&token=t")
                .header("authorization", "Bearer a")
        };
        let changes: Vec<(&str, &str, Change)> = vec![
            ("/users/7?page=2", "GET", |_| {}),
            ("/users/8?page=2", "GET", |_| {}),
            ("/users/7?page=3", "GET", |_| {}),
            ("/users/7", "GET", |_| {}),
            ("/users/7?page=2", "POST", |_| {}),
            ("/users/7?page=2", "GET", |h| set(h, "host", "other.test")),
            ("/users/7?page=2", "GET", |h| {
                h.remove("host");
            }),
            ("/users/7?page=2", "GET", |h| {
                set(h, "referer", "https://ref.test/b")
            }),
            ("/users/7?page=2", "GET", |h| {
                h.remove("referer");
            }),
            ("/users/7?page=2", "GET", |h| {
                set(h, "authorization", "Bearer b")
            }),
            ("/users/7?page=2", "GET", |h| set(h, "user-agent", "agent")),
            ("/users/7?page=2", "GET", |h| {
                set(h, "x-forwarded-for", "192.0.2.1")
            }),
            ("/users/7?page=2", "GET", |h| {
                set(h, "x-forwarded-for", "192.0.2.2")
            }),
            ("/users/7?page=2", "GET", |h| {
                set(h, "x-forwarded-proto", "https")
            }),
            ("/users/7?page=2", "GET", |h| {
                set(h, "x-forwarded-host", "fwd.test")
            }),
            ("/users/7?page=2", "GET", |h| {
                set(h, "forwarded", "host=fwd2.test;proto=https")
            }),
            ("https://abs.test/users/7?page=2", "GET", |_| {}),
            ("http://abs.test/users/7?page=2", "GET", |_| {}),
            ("http://abs2.test/users/7?page=2", "GET", |_| {}),
        ];
        let mut out = Vec::new();
        for (uri, method, change) in changes {
            for (route, title) in [
                (Some("/users/{id}"), None),
                (Some("/users/{uid}"), None),
                (None, None),
                (Some("/users/{id}"), Some("A title")),
                (Some("/users/{id}"), Some("Another")),
            ] {
                let mut req = base(uri, method).body(()).unwrap();
                change(req.headers_mut());
                if let Some(r) = route {
                    req.extensions_mut().insert(crate::MatchedRoute::new(r));
                }
                if let Some(t) = title {
                    req.extensions_mut().insert(crate::PageTitle::new(t));
                }
                out.push(req);
            }
        }
        // Other identities: a user id, or the client's address and agent.
        for (user, ip, agent) in [
            (Some("user-1"), None, None),
            (Some("user-2"), None, None),
            (None, Some([192, 0, 2, 9]), Some("agent a")),
            (None, Some([192, 0, 2, 9]), Some("agent b")),
            (None, Some([192, 0, 2, 10]), Some("agent a")),
        ] {
            let mut req = http::Request::get("/users/7?page=2")
                .header("host", "api.test")
                .header("user-agent", agent.unwrap_or("x"))
                .body(())
                .unwrap();
            if let Some(u) = user {
                req.extensions_mut().insert(crate::UserId::new(u));
            }
            if let Some(ip) = ip {
                req.extensions_mut()
                    .insert(crate::ClientIp(std::net::IpAddr::from(ip)));
            }
            out.push(req);
        }
        out
    }

    #[test]
    fn the_memos_give_what_encoding_gives() {
        let configs = [false, true].into_iter().flat_map(|trust_proxy| {
            [IpMode::Off, IpMode::Truncated, IpMode::Full]
                .into_iter()
                .flat_map(move |ip_mode| {
                    [(true, false), (false, false), (true, true)]
                        .map(|(agent, hook)| (trust_proxy, ip_mode, agent, hook))
                })
        });
        for (trust_proxy, ip_mode, send_user_agent, hook) in configs {
            let make_client_id: Option<std::sync::Arc<dyn crate::MakeClientId>> = hook.then(|| {
                let hook = |h: &Hit| h.user_agent().map(|a| format!("from-hook-{a}"));
                std::sync::Arc::new(hook) as _
            });
            let cfg = Config {
                trust_proxy,
                ip_mode,
                send_user_agent,
                make_client_id,
                ..Config::default()
            };
            let mut reqs = variants();
            // An explicit id, which the memo must leave alone.
            let mut explicit = http::Request::get("/users/7?page=2")
                .header("host", "api.test")
                .header("authorization", "Bearer a")
                .body(())
                .unwrap();
            explicit
                .extensions_mut()
                .insert(crate::ClientId::new("explicit-1"));
            reqs.push(explicit);
            // Seven hundred seconds apart: a consumer's session ends every third hit or so, and
            // ids rotate with the day, so sessions and ids must be kept per consumer to match.
            let hits: Vec<Hit> = reqs
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut h = Hit::from_request(r, trust_proxy);
                    h.text.settle();
                    h.stamp();
                    h.received_at = std::time::UNIX_EPOCH
                        + std::time::Duration::from_secs(1_700_000_000 + 700 * i as u64);
                    h
                })
                .collect();
            let mut warm = Scratch::default();
            let (mut warm_sessions, mut cold_sessions) =
                (Sessions::new(1800, 1000), Sessions::new(1800, 1000));
            let mut kept = std::collections::HashSet::new();
            let mut keys = std::collections::HashSet::new();
            // Twice over, and backwards: each page is met again once the memo holds it and the
            // others.
            for hit in hits.iter().chain(hits.iter().rev()) {
                let mut cold = Scratch::without_memos();
                encode(hit, &cfg, &mut cold_sessions, &mut cold);
                encode(hit, &cfg, &mut warm_sessions, &mut warm);
                let case =
                    format!("proxy {trust_proxy} {ip_mode:?} agent {send_user_agent} hook {hook}");
                assert_eq!(warm.item, cold.item, "{case}");
                assert_eq!(warm.key, cold.key, "{case}");
                keys.insert(cold.key.clone());
                kept.insert(cold.item.clone());
            }
            // Pages that differ were told apart (the variants are more than the pages), and so
            // were consumers.
            assert!(kept.len() > 40, "{}", kept.len());
            assert!(keys.len() >= 6, "{}", keys.len());
        }
    }

    #[test]
    fn a_user_id_cannot_pass_for_another_consumers_agent_and_address() {
        // Consumer A's user id spells out consumer B's agent and the start of B's address as the
        // memo key writes them, and A's own agent and address the rest: without the identity's
        // length at the end of the key, the two keys are one, and A is sent as B.
        let cfg = Config {
            ip_mode: IpMode::Full,
            ..Config::default()
        };
        let b_ip: [u8; 16] = [b'o', b'p', 2, 0, 0, 0, b'c', b'd', 4, 0, 0, 0, 9, 8, 7, 6];
        let hit = |user: &str, agent: &str, ip: std::net::IpAddr| {
            let mut req = http::Request::get("/a")
                .header("user-agent", agent)
                .body(())
                .unwrap();
            req.extensions_mut().insert(crate::UserId::new(user));
            req.extensions_mut().insert(crate::ClientIp(ip));
            let mut h = Hit::from_request(&req, false);
            h.text.settle();
            h.stamp();
            h
        };
        let b = hit("X", "ab", std::net::IpAddr::from(b_ip));
        let a = hit(
            "X\u{2}\0\0\0ab\u{10}\0\0\0op",
            "cd",
            std::net::IpAddr::from([9, 8, 7, 6]),
        );
        let mut warm = Scratch::default();
        let mut sessions = Sessions::new(1800, 10);
        for h in [&b, &a] {
            let mut cold = Scratch::without_memos();
            encode(h, &cfg, &mut Sessions::new(1800, 10), &mut cold);
            encode(h, &cfg, &mut sessions, &mut warm);
            assert_eq!(warm.key, cold.key);
        }
    }

    #[test]
    fn a_title_hook_bypasses_the_memo() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        let cfg = Config {
            make_title: Some(std::sync::Arc::new(|_: &Hit| {
                let n = CALLS.fetch_add(1, Ordering::Relaxed);
                Some(format!("call {n}"))
            })),
            ..Config::default()
        };
        let mut hit = Hit::from_request(&http::Request::get("/a").body(()).unwrap(), false);
        hit.stamp();
        let mut s = Scratch::default();
        let mut titles = Vec::new();
        for _ in 0..2 {
            encode(&hit, &cfg, &mut Sessions::new(1800, 10), &mut s);
            let body = super::body(&s.key, std::iter::once(s.item.as_str()));
            let v: Value = serde_json::from_slice(&body).unwrap();
            titles.push(v["events"][0]["params"]["page_title"].clone());
        }
        assert_eq!(titles, ["call 0", "call 1"]);
    }

    #[test]
    fn a_batch_is_built_as_its_request_body() {
        use crate::sender::batch::Batcher;
        let mut scratch = Scratch::default();
        let mut batcher = Batcher::new(crate::Protocol::Ga4.limits(false));
        let mut items = Vec::new();
        // One key for all (each of these hits has a random client id).
        encode_one(&mut scratch, "/", None);
        let key = scratch.key.clone();
        for path in ["/a", "/b?x=%22", "/c"] {
            encode_one(&mut scratch, path, None);
            batcher.add(0, &key, &scratch.item, std::time::SystemTime::now());
            items.push(scratch.item.clone());
        }
        batcher.close_all();
        let mut batch = batcher.next_ready().unwrap();
        let got: Vec<&str> = batch.items().map(|(item, _)| item).collect();
        assert_eq!(got, items);
        let expected = super::body(&key, items.iter().map(String::as_str));
        assert_eq!(batch.body(), expected);
        assert_eq!(validate(&expected, 100), vec![]);
        // Every attempt sends the same body.
        assert_eq!(batch.body(), expected);
    }

    #[test]
    fn consumers_taking_turns_each_get_batches_of_their_own() {
        // Through the memos (the consumer's key and its batch's id kept), with and without them.
        use crate::sender::batch::Batcher;
        for memos in [true, false] {
            let cfg = Config::default();
            let mut s = if memos {
                Scratch::default()
            } else {
                Scratch::without_memos()
            };
            let mut sessions = Sessions::new(1800, 100);
            let mut batcher = Batcher::new(crate::Protocol::Ga4.limits(false));
            for turn in 0..30 {
                let who = turn % 3;
                let mut req = http::Request::get(format!("/users/{turn}"))
                    .header("host", "api.test")
                    .header("authorization", format!("Bearer {who}"))
                    .body(())
                    .unwrap();
                if who == 2 {
                    req.extensions_mut().insert(crate::UserId::new("user-2"));
                }
                let mut hit = Hit::from_request(&req, false);
                hit.text.settle();
                hit.stamp();
                crate::Protocol::Ga4.encode_into(
                    &hit,
                    &cfg,
                    &mut sessions,
                    &mut s,
                    &mut batcher,
                    0,
                );
            }
            batcher.close_all();
            let mut seen = std::collections::HashMap::new();
            while let Some(mut batch) = batcher.next_ready() {
                let body: Value = serde_json::from_slice(&batch.body()).unwrap();
                let paths: Vec<u64> = body["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        let loc = e["params"]["page_location"].as_str().unwrap();
                        loc.rsplit('/').next().unwrap().parse().unwrap()
                    })
                    .collect();
                let id = body["client_id"].as_str().unwrap().to_owned();
                assert!(seen.insert(id, paths).is_none(), "one batch per consumer");
            }
            // Three consumers, each with its own ten turns.
            let mut got: Vec<Vec<u64>> = seen.into_values().collect();
            got.sort();
            let want: Vec<Vec<u64>> = (0..3)
                .map(|w| (0..10).map(|i| i * 3 + w).collect())
                .collect();
            assert_eq!(got, want, "memos {memos}");
        }
    }

    #[test]
    fn a_valid_body_has_no_messages() {
        let body = br#"{"client_id":"1.2","events":[{"name":"page_view","params":{"page_location":"http://a/b","session_id":1,"engagement_time_msec":1}}]}"#;
        assert_eq!(validate(body, 100), vec![]);
    }

    #[test]
    fn each_rule_is_reported() {
        let long = "x".repeat(101);
        let body = serde_json::json!({
            "client_id": "abc",
            "user_id": "u".repeat(257),
            "mystery": 1,
            "user_properties": {"first_open_time": {"value": 1}, "plan": {"value": "p".repeat(37)}},
            "events": [
                {"name": "session_start", "params": {"_x": 1, "1bad": 2, "ok": long, "nested": {"a": 1}}},
                {"name": "bad-name"},
                {}
            ]
        });
        let msgs = validate(body.to_string().as_bytes(), 100);
        let has = |path: &str, code: Code| {
            msgs.iter()
                .any(|m| m.field_path == path && m.validation_code == code)
        };
        assert!(has("client_id", Code::ValueInvalid), "{msgs:#?}");
        assert!(has("user_id", Code::ValueOutOfBounds));
        assert!(has("mystery", Code::ValueInvalid));
        assert!(has("user_properties.first_open_time", Code::NameReserved));
        assert!(has("user_properties.plan.value", Code::ValueOutOfBounds));
        assert!(has("events[0].name", Code::NameReserved));
        assert!(has("events[0].params._x", Code::NameReserved));
        assert!(has("events[0].params.1bad", Code::NameInvalid));
        assert!(has("events[0].params.ok", Code::ValueOutOfBounds));
        assert!(has("events[0].params.nested", Code::ValueInvalid));
        assert!(has("events[1].name", Code::NameInvalid));
        assert!(has("events[2].name", Code::ValueRequired));
    }

    #[test]
    fn too_many_events_and_oversized_bodies() {
        let ev = serde_json::json!({"name": "page_view"});
        let body = serde_json::json!({"client_id": "1.1", "events": vec![ev; 26]});
        let msgs = validate(body.to_string().as_bytes(), 100);
        assert!(msgs
            .iter()
            .any(|m| m.validation_code == Code::ExceededMaxEntities));
        let big = vec![b' '; MAX_BODY_BYTES];
        assert!(validate(&big, 100)
            .iter()
            .any(|m| m.validation_code == Code::ValueOutOfBounds));
    }
}
