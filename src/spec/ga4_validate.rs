//! The offline GA4 checks behind [`validate::ga4`](crate::validate::ga4): the rules of Google's
//! validation endpoint, as far as its documentation states them.

use std::net::IpAddr;

use serde_json::Value;

use super::ga4::*;
use super::{ValidationCode as Code, ValidationMessage as Msg};

mod event;
mod shapes;
mod user_properties;

use event::Event;
use user_properties::validate_user_properties;

/// What the offline checks found: errors (Google's validation endpoint would object, or GA
/// drops the data) and warnings (valid, but the events miss reports).
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub(crate) errors: Vec<Msg>,
    pub(crate) warnings: Vec<Msg>,
}

/// The offline checks behind [`validate::ga4`](crate::validate::ga4): the errors only.
pub(crate) fn validate(body: &[u8], param_value_limit: usize) -> Vec<Msg> {
    check(body, param_value_limit, now_micros()).errors
}

/// The checker's clock, in microseconds since the Unix epoch.
pub(crate) fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Every offline check, timestamps against `now_micros`.
pub(crate) fn check(body: &[u8], param_value_limit: usize, now_micros: u64) -> Checked {
    let mut warnings = Vec::new();
    let errors = check_into(body, param_value_limit, now_micros, &mut warnings);
    Checked { errors, warnings }
}

fn check_into(
    body: &[u8],
    param_value_limit: usize,
    now: u64,
    warnings: &mut Vec<Msg>,
) -> Vec<Msg> {
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
    for path in super::json_walk::duplicate_keys(body) {
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
            if !shapes::is_client_id(c) {
                out.push(Msg::new(
                    "client_id",
                    Code::ValueInvalid,
                    "client_id should be two positive integers joined by a dot, or a _ga cookie's value",
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
        shapes::timestamp("timestamp_micros", t, now, &mut out);
    }
    if let Some(c) = top.get("consent") {
        shapes::consent(c, &mut out);
    }
    if let Some(l) = top.get("user_location") {
        shapes::user_location(l, &mut out);
    }
    if let Some(d) = top.get("device") {
        shapes::device(d, &mut out);
    }
    if top.contains_key("non_personalized_ads") {
        warnings.push(Msg::new(
            "non_personalized_ads",
            Code::ValueInvalid,
            "non_personalized_ads is deprecated: send consent.ad_personalization",
        ));
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
        validate_user_properties(props, now, &mut out);
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
            let web = top.contains_key("client_id");
            for (i, e) in events.iter().enumerate() {
                let path = format!("events[{i}]");
                let event = Event {
                    web,
                    limit: param_value_limit,
                    now,
                };
                event.validate(&path, e, &mut out, warnings);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
