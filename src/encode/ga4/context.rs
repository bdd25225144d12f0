//! The parts of a GA4 event that depend on more than the request line: `user_location` from a
//! trusted CDN's headers, `device`, `user_properties`, and per-request params. Written on the
//! sender's thread, as JSON fragments the request's top level and the event take in.

use serde_json::Value;

use crate::config::Config;
use crate::context::{Device, EventParams};
use crate::encode::json;
use crate::hit::text::Field;
use crate::hit::Hit;
use crate::hooks::guarded;
use crate::http_text::geo;
use crate::spec::ga4::{
    BUILTIN_PARAMS, MAX_NAME_LEN, MAX_PARAMS, MAX_USER_PROPERTIES, RESERVED_PARAM_PREFIXES,
    RESERVED_USER_PROPERTIES, RESERVED_USER_PROPERTY_PREFIXES,
};
use crate::spec::ga4::{MAX_USER_PROPERTY_NAME, MAX_USER_PROPERTY_VALUE};
use crate::text::truncate::limited;

/// One hit's fragments, each empty or starting with a comma; reused from hit to hit.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    /// `,"user_location":{…},"device":{…},"user_properties":{…}`: part of the request's top
    /// level, so of its batch key.
    pub(crate) top: String,
    /// `,"name":value…`: the per-request params.
    pub(crate) params: String,
    /// The per-request params' names: constant params of these names are left out.
    pub(crate) names: Vec<String>,
}

/// Fills `x` for `hit`.
pub(crate) fn prepare(hit: &Hit, cfg: &Config, x: &mut Extras) {
    x.top.clear();
    x.params.clear();
    x.names.clear();
    let ctx = &cfg.report.context;
    if ctx.geo && cfg.capture.trust_proxy {
        user_location(hit, &mut x.top);
    }
    let device = match &ctx.make_device {
        Some(hook) => guarded("device_with", || hook.device(hit)).flatten(),
        None => None,
    };
    let device = device.or_else(|| {
        let name = ctx.device_header.as_ref()?;
        Device::from_product(hit.header(name.as_str())?)
    });
    if let Some(d) = device {
        write_device(&d, cfg.report.param_value_limit, &mut x.top);
    }
    let hooked = match &ctx.make_params {
        Some(hook) => guarded("params_with", || hook.params(hit)),
        None => None,
    };
    // Highest precedence first: the response's marker, the request's, the hook's.
    let sources: Vec<&EventParams> = [
        hit.params[1].as_ref(),
        hit.params[0].as_ref(),
        hooked.as_ref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if sources.is_empty() && ctx.user_properties.is_empty() {
        return;
    }
    write_params(&sources, cfg, x);
    let props = sources
        .iter()
        .flat_map(|p| p.0.user_properties.iter())
        .chain(ctx.user_properties.iter());
    write_user_properties(props, &mut x.top);
}

/// `user_location` from the captured headers of a trusted CDN: only what has the documented
/// form, never the IP; and only from a peer that is a trusted proxy (`trusted_proxy_ranges`).
fn user_location(hit: &Hit, top: &mut String) {
    if !hit.proxies.believes(hit.peer_ip) {
        return;
    }
    let country = hit.captured(Field::GeoCountry).and_then(geo::country_id);
    let region = hit
        .captured(Field::GeoRegion)
        .and_then(|r| geo::region_id(r, country.as_deref()));
    let city = hit.captured(Field::GeoCity).and_then(geo::city);
    if country.is_none() && region.is_none() && city.is_none() {
        return;
    }
    top.push_str(r#","user_location":{"#);
    let mut first = true;
    let fields = [
        ("city", city.as_deref()),
        ("region_id", region.as_deref()),
        ("country_id", country.as_deref()),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            json::key(top, name, first);
            json::string(top, &limited(v, 100));
            first = false;
        }
    }
    top.push('}');
}

fn write_device(d: &Device, limit: usize, top: &mut String) {
    let fields = d.fields();
    if fields.iter().all(|(_, v)| v.is_none_or(str::is_empty)) {
        return;
    }
    top.push_str(r#","device":{"#);
    let mut first = true;
    for (name, value) in fields {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            json::key(top, name, first);
            json::string(top, &limited(v, limit));
            first = false;
        }
    }
    top.push('}');
}

fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// A param name `param()` would take: valid, unreserved, not the crate's own.
fn is_param_name(n: &str) -> bool {
    is_name(n)
        && n.len() <= MAX_NAME_LEN
        && !RESERVED_PARAM_PREFIXES.iter().any(|r| n.starts_with(r))
        && n != "firebase_conversion"
        && !BUILTIN_PARAMS.contains(&n)
}

fn write_params(sources: &[&EventParams], cfg: &Config, x: &mut Extras) {
    let constant = &cfg.report.extra_params;
    let mut count = BUILTIN_PARAMS.len() + constant.len();
    for (name, value) in sources.iter().flat_map(|p| p.0.params.iter()) {
        if x.names.iter().any(|n| n == name) {
            continue; // given by a source of higher precedence
        }
        let replaces = constant.iter().any(|(n, _)| n == name);
        let fits = replaces || count < MAX_PARAMS;
        if !(fits && is_param_name(name) && write_value(&mut x.params, name, value, cfg)) {
            dropped("param", name);
            continue;
        }
        count += usize::from(!replaces);
        x.names.push(name.clone());
    }
}

/// Writes `,"name":value` for a string (cut to the value limit) or a number.
fn write_value(out: &mut String, name: &str, value: &Value, cfg: &Config) -> bool {
    match value {
        Value::String(s) => {
            json::key(out, name, false);
            json::string(out, &limited(s, cfg.report.param_value_limit));
        }
        Value::Number(n) => {
            json::key(out, name, false);
            json::display(out, n);
        }
        _ => return false,
    }
    true
}

fn write_user_properties<'a>(props: impl Iterator<Item = &'a (String, Value)>, top: &mut String) {
    let start = top.len();
    let mut names: Vec<&str> = Vec::new();
    for (name, value) in props {
        if names.contains(&name.as_str()) {
            continue;
        }
        let valid = is_name(name)
            && name.len() <= MAX_USER_PROPERTY_NAME
            && !RESERVED_USER_PROPERTIES.contains(&name.as_str())
            && !RESERVED_USER_PROPERTY_PREFIXES
                .iter()
                .any(|r| name.starts_with(r))
            && names.len() < MAX_USER_PROPERTIES
            && (value.is_string() || value.is_number());
        if !valid {
            dropped("user property", name);
            continue;
        }
        top.push_str(if names.is_empty() {
            r#","user_properties":{"#
        } else {
            ","
        });
        json::key(top, name, true);
        top.push_str(r#"{"value":"#);
        match value {
            Value::String(s) => json::string(top, &limited(s, MAX_USER_PROPERTY_VALUE)),
            v => json::display(top, v),
        }
        top.push('}');
        names.push(name);
    }
    if top.len() > start {
        top.push('}');
    }
}

/// Logs a per-request entry left out, at the 1st, 2nd, 4th… time (the name only: a value may
/// hold anything).
fn dropped(what: &'static str, name: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static DROPPED: AtomicU64 = AtomicU64::new(0);
    let n = DROPPED.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        let name = limited(name, 40);
        tracing::warn!(
            what,
            name = %name,
            dropped_total = n,
            "tower-ga: a per-request {what} breaks GA4's rules or limits and is left out"
        );
    }
}
