//! One event's checks: its name, fields, timestamp and params.

use serde_json::Value;

use super::shapes::{self, is_name};
use crate::spec::ga4::*;
use crate::spec::{ValidationCode as Code, ValidationMessage as Msg};

/// What an event's checks depend on besides the event.
pub(super) struct Event {
    /// A web stream's (`client_id`): app-only event names are reserved.
    pub(super) web: bool,
    pub(super) limit: usize,
    pub(super) now: u64,
}

impl Event {
    pub(super) fn validate(
        &self,
        path: &str,
        e: &Value,
        out: &mut Vec<Msg>,
        warnings: &mut Vec<Msg>,
    ) {
        let Event { web, limit, now } = *self;
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
                if RESERVED_EVENT_NAMES.contains(&n) || (web && APP_ONLY_EVENT_NAMES.contains(&n)) {
                    out.push(Msg::new(
                        format!("{path}.name"),
                        Code::NameReserved,
                        format!("event name {n:?} is reserved"),
                    ));
                }
            }
        }
        for k in e.keys() {
            if !matches!(k.as_str(), "name" | "params" | "timestamp_micros") {
                out.push(Msg::new(
                    format!("{path}.{k}"),
                    Code::ValueInvalid,
                    format!("unknown field {k} in an event"),
                ));
            }
        }
        if let Some(t) = e.get("timestamp_micros") {
            shapes::timestamp(&format!("{path}.timestamp_micros"), t, now, out);
        }
        let params = e.get("params").and_then(Value::as_object);
        // Valid without them, but such events miss Realtime and the engagement metrics.
        for needed in ["session_id", "engagement_time_msec"] {
            if !params.is_some_and(|p| p.contains_key(needed)) {
                warnings.push(Msg::new(
                    format!("{path}.params.{needed}"),
                    Code::ValueRequired,
                    format!(
                        "{needed} is missing: the event misses Realtime and engagement reports"
                    ),
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
            if RESERVED_PARAM_PREFIXES.iter().any(|r| k.starts_with(r))
                || k == "firebase_conversion"
            {
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
            let limit = value_limit(k, limit);
            match v {
                Value::String(s) if s.chars().count() > limit => out.push(Msg::new(
                    &p,
                    Code::ValueOutOfBounds,
                    format!("value longer than {limit} characters"),
                )),
                Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
                Value::Array(items) if k == "items" && items.iter().all(Value::is_object) => {}
                Value::Array(_) => out.push(Msg::new(
                    &p,
                    Code::ValueInvalid,
                    "only items takes an array (of objects); other params take strings or numbers",
                )),
                _ => out.push(Msg::new(
                    &p,
                    Code::ValueInvalid,
                    "param values must be strings or numbers",
                )),
            }
        }
    }
}
