//! The shapes of the top-level objects the Measurement Protocol reference documents since 2025
//! (`consent`, `user_location`, `device`), of client ids and of timestamps
//! (<https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference>).

use serde_json::{Map, Value};

use crate::spec::ga4::MAX_BACKDATE_SECS;
use crate::spec::{ValidationCode as Code, ValidationMessage as Msg};

/// How far ahead of the checker's clock a timestamp may be: clocks of two machines differ.
pub(super) const FUTURE_SLACK_SECS: u64 = 60;

/// A client id as Google recommends it (two positive integers joined by a dot) or as the `_ga`
/// cookie holds it (`GA1.1.123.456`, the second part possibly `2-3` for its domain depth).
pub(super) fn is_client_id(c: &str) -> bool {
    fn positive(p: &str) -> bool {
        !p.is_empty()
            && p.bytes().all(|d| d.is_ascii_digit())
            && p.parse::<u64>().is_ok_and(|n| n > 0)
    }
    let parts: Vec<&str> = c.split('.').collect();
    match parts.as_slice() {
        [a, b] => positive(a) && positive(b),
        [version, depth, a, b] => {
            version.strip_prefix("GA").is_some_and(positive)
                && depth.split('-').all(positive)
                && positive(a)
                && positive(b)
        }
        _ => false,
    }
}

/// Checks a `timestamp_micros` against the checker's clock (`now_micros`): a positive integer, in
/// microseconds (a value of milliseconds or seconds is named as such), at most
/// [`MAX_BACKDATE_SECS`] old and not in the future.
pub(super) fn timestamp(path: &str, t: &Value, now_micros: u64, out: &mut Vec<Msg>) {
    let Some(t) = t.as_u64().filter(|t| *t > 0) else {
        out.push(Msg::new(
            path,
            Code::ValueInvalid,
            "timestamp_micros must be a positive integer",
        ));
        return;
    };
    let oldest = now_micros.saturating_sub(MAX_BACKDATE_SECS * 1_000_000);
    let newest = now_micros.saturating_add(FUTURE_SLACK_SECS * 1_000_000);
    let within = |t: u64| (oldest..=newest).contains(&t);
    if within(t) {
        return;
    }
    let (code, what) = if within(t.saturating_mul(1_000)) {
        (
            Code::ValueInvalid,
            "is in milliseconds; it must be in microseconds".to_string(),
        )
    } else if within(t.saturating_mul(1_000_000)) {
        (
            Code::ValueInvalid,
            "is in seconds; it must be in microseconds".to_string(),
        )
    } else if t > newest {
        (Code::ValueOutOfBounds, "is in the future".to_string())
    } else {
        (
            Code::ValueOutOfBounds,
            format!("is more than {} hours old", MAX_BACKDATE_SECS / 3600),
        )
    };
    out.push(Msg::new(path, code, format!("timestamp_micros {t} {what}")));
}

/// An object of string fields, each known: reports anything else under `path`.
fn string_fields<'a>(
    path: &str,
    v: &'a Value,
    known: &[&str],
    out: &mut Vec<Msg>,
) -> Option<&'a Map<String, Value>> {
    let Some(obj) = v.as_object() else {
        out.push(Msg::new(
            path,
            Code::ValueInvalid,
            format!("{path} must be an object"),
        ));
        return None;
    };
    for (k, v) in obj {
        let p = format!("{path}.{k}");
        if !known.contains(&k.as_str()) {
            out.push(Msg::new(
                p,
                Code::ValueInvalid,
                format!("unknown field {k} in {path}"),
            ));
        } else if !v.is_string() {
            out.push(Msg::new(
                p,
                Code::ValueInvalid,
                format!("{path}.{k} must be a string"),
            ));
        }
    }
    Some(obj)
}

/// `consent`: `ad_user_data` and `ad_personalization`, each `GRANTED` or `DENIED`.
pub(super) fn consent(v: &Value, out: &mut Vec<Msg>) {
    let Some(obj) = string_fields("consent", v, &["ad_user_data", "ad_personalization"], out)
    else {
        return;
    };
    for (k, v) in obj {
        if v.is_string() && !matches!(v.as_str(), Some("GRANTED" | "DENIED")) {
            out.push(Msg::new(
                format!("consent.{k}"),
                Code::ValueInvalid,
                format!("consent.{k} must be GRANTED or DENIED"),
            ));
        }
    }
}

/// `user_location`: `city`, `region_id` (ISO 3166-2, `US-CA`), `country_id` (ISO 3166-1
/// alpha-2, `US`), `subcontinent_id` and `continent_id` (UN M49, `021`, `019`).
pub(super) fn user_location(v: &Value, out: &mut Vec<Msg>) {
    const KNOWN: &[&str] = &[
        "city",
        "region_id",
        "country_id",
        "subcontinent_id",
        "continent_id",
    ];
    let Some(obj) = string_fields("user_location", v, KNOWN, out) else {
        return;
    };
    for (k, v) in obj {
        let Some(s) = v.as_str() else { continue };
        let ok = match k.as_str() {
            "country_id" => is_country(s),
            "region_id" => s.split_once('-').is_some_and(|(c, r)| {
                is_country(c)
                    && (1..=3).contains(&r.len())
                    && r.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }),
            "subcontinent_id" | "continent_id" => {
                s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit())
            }
            _ => !s.is_empty(),
        };
        if !ok {
            out.push(Msg::new(
                format!("user_location.{k}"),
                Code::ValueInvalid,
                format!("user_location.{k} {s:?} is not in the documented form"),
            ));
        }
    }
}

fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// `device`: string fields, `screen_resolution` as `WIDTHxHEIGHT`.
pub(super) fn device(v: &Value, out: &mut Vec<Msg>) {
    const KNOWN: &[&str] = &[
        "category",
        "language",
        "screen_resolution",
        "operating_system",
        "operating_system_version",
        "model",
        "brand",
        "browser",
        "browser_version",
    ];
    let Some(obj) = string_fields("device", v, KNOWN, out) else {
        return;
    };
    if let Some(r) = obj.get("screen_resolution").and_then(Value::as_str) {
        let ok = r.split_once('x').is_some_and(|(w, h)| {
            [w, h]
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if !ok {
            out.push(Msg::new(
                "device.screen_resolution",
                Code::ValueInvalid,
                "device.screen_resolution must be WIDTHxHEIGHT",
            ));
        }
    }
}

/// A name as GA4 allows it: a letter, then letters, digits and `_`.
pub(super) fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}
