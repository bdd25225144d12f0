//! The checks of `user_properties`: names, entries and values.

use serde_json::Value;

use super::shapes::{self, is_name};
use crate::spec::ga4::*;
use crate::spec::{ValidationCode as Code, ValidationMessage as Msg};

pub(super) fn validate_user_properties(props: &Value, now: u64, out: &mut Vec<Msg>) {
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
            || RESERVED_USER_PROPERTY_PREFIXES
                .iter()
                .any(|r| k.starts_with(r))
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
        let Some(entry) = v.as_object() else {
            out.push(Msg::new(
                &p,
                Code::ValueInvalid,
                "a user property must be an object holding its value",
            ));
            continue;
        };
        for key in entry.keys() {
            if !matches!(key.as_str(), "value" | "timestamp_micros") {
                out.push(Msg::new(
                    format!("{p}.{key}"),
                    Code::ValueInvalid,
                    format!("unknown field {key} in a user property"),
                ));
            }
        }
        if let Some(t) = entry.get("timestamp_micros") {
            shapes::timestamp(&format!("{p}.timestamp_micros"), t, now, out);
        }
        match entry.get("value") {
            Some(Value::String(s)) if s.chars().count() > MAX_USER_PROPERTY_VALUE => {
                out.push(Msg::new(
                    format!("{p}.value"),
                    Code::ValueOutOfBounds,
                    format!("value longer than {MAX_USER_PROPERTY_VALUE}"),
                ))
            }
            Some(Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null) => {}
            Some(_) => out.push(Msg::new(
                format!("{p}.value"),
                Code::ValueInvalid,
                "a user property's value must be a string or a number",
            )),
            None => out.push(Msg::new(
                format!("{p}.value"),
                Code::ValueRequired,
                "user property needs a value",
            )),
        }
    }
}
