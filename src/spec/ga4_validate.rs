//! The offline GA4 checks behind [`validate::ga4`](crate::validate::ga4): the rules of Google's
//! validation endpoint, as far as its documentation states them.

use std::net::IpAddr;

use serde_json::Value;

use super::ga4::*;
use super::{ValidationCode as Code, ValidationMessage as Msg};

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
mod tests;
