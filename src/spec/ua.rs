//! Universal Analytics Measurement Protocol v1 (legacy): a pageview of
//! `v=1 tid ds cid uid t=pageview dl dh dp dt ua qt`, URL-encoded, sent alone to `/collect` or up
//! to 20 at a time to `/batch`.
//!
//! Google stopped processing standard UA properties on 1 July 2023 and UA 360 on 1 July 2024; this
//! stays for migrations and for collectors that still speak v1.

use super::{ValidationCode as Code, ValidationMessage as Msg};

/// Single-hit path.
pub(crate) const COLLECT_PATH: &str = "/collect";
/// Batch path.
pub(crate) const BATCH_PATH: &str = "/batch";
/// Validation path.
pub(crate) const DEBUG_PATH: &str = "/debug/collect";
/// Largest payload of one hit, bytes.
pub const MAX_HIT_BYTES: usize = 8192;
/// Hits per batch.
pub const MAX_BATCH_HITS: usize = 20;
/// Largest batch body, bytes.
pub const MAX_BATCH_BYTES: usize = 16 * 1024;

/// Byte limits of the values this crate sends: `dl`, `dp`, `dh`, `dt`, `dr`, and its own cap on
/// `ua` (undocumented).
pub(crate) const LIMITS: [(&str, usize); 6] = [
    ("dl", 2048),
    ("dp", 2048),
    ("dh", 100),
    ("dt", 1500),
    ("dr", 2048),
    ("ua", 1024),
];

pub(crate) fn limit_of(name: &str) -> Option<usize> {
    LIMITS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
}

/// Hit types v1 knows.
const HIT_TYPES: &[&str] = &[
    "pageview",
    "screenview",
    "event",
    "transaction",
    "item",
    "social",
    "exception",
    "timing",
];

/// The offline checks behind [`validate::ua`](crate::validate::ua): one payload (one line).
pub(crate) fn validate(payload: &str) -> Vec<Msg> {
    let mut out = Vec::new();
    if payload.len() > MAX_HIT_BYTES {
        out.push(Msg::new(
            "",
            Code::ValueOutOfBounds,
            format!(
                "payload of {} bytes; at most {MAX_HIT_BYTES}",
                payload.len()
            ),
        ));
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(payload.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    for (name, value) in &pairs {
        if let Some(max) = limit_of(name).filter(|_| name != "ua") {
            if value.len() > max {
                out.push(Msg::new(
                    name,
                    Code::ValueOutOfBounds,
                    format!("{name} longer than {max} bytes"),
                ));
            }
        }
    }
    match get("v") {
        Some("1") => {}
        Some(_) => out.push(Msg::new("v", Code::ValueInvalid, "v must be 1")),
        None => out.push(Msg::new("v", Code::ValueRequired, "v is required")),
    }
    match get("tid") {
        Some(t) if super::Protocol::of(t) == Some(super::Protocol::UniversalAnalytics) => {}
        Some(_) => out.push(Msg::new(
            "tid",
            Code::ValueInvalid,
            "tid must look like UA-XXXX-Y",
        )),
        None => out.push(Msg::new("tid", Code::ValueRequired, "tid is required")),
    }
    if get("cid").is_none_or(str::is_empty) && get("uid").is_none_or(str::is_empty) {
        out.push(Msg::new(
            "cid",
            Code::ValueRequired,
            "cid or uid is required",
        ));
    }
    match get("t") {
        Some(t) if HIT_TYPES.contains(&t) => {
            if t == "pageview"
                && get("dl").is_none()
                && (get("dh").is_none() || get("dp").is_none())
            {
                out.push(Msg::new(
                    "dl",
                    Code::ValueRequired,
                    "a pageview needs dl, or both dh and dp",
                ));
            }
        }
        Some(t) => out.push(Msg::new(
            "t",
            Code::ValueInvalid,
            format!("unknown hit type {t:?}"),
        )),
        None => out.push(Msg::new("t", Code::ValueRequired, "t is required")),
    }
    if let Some(dp) = get("dp") {
        if !dp.starts_with('/') {
            out.push(Msg::new("dp", Code::ValueInvalid, "dp must start with /"));
        }
    }
    if let Some(dl) = get("dl") {
        if !(dl.starts_with("http://") || dl.starts_with("https://")) {
            out.push(Msg::new(
                "dl",
                Code::ValueInvalid,
                "dl must be an absolute URL",
            ));
        }
    }
    if let Some(qt) = get("qt") {
        match qt.parse::<u64>() {
            Ok(ms) if ms > 4 * 3600 * 1000 => out.push(Msg::new(
                "qt",
                Code::ValueOutOfBounds,
                "qt over 4 hours: the hit may be dropped",
            )),
            Ok(_) => {}
            Err(_) => out.push(Msg::new(
                "qt",
                Code::ValueInvalid,
                "qt must be a non-negative integer",
            )),
        }
    }
    if let Some(ip) = get("uip") {
        if ip.parse::<std::net::IpAddr>().is_err() {
            out.push(Msg::new(
                "uip",
                Code::ValueInvalid,
                "uip must be an IP address",
            ));
        }
    }
    out
}

/// Checks a `/batch` body: at most 20 lines and 16 KB, each line a valid payload.
pub(crate) fn validate_batch(body: &str) -> Vec<Msg> {
    let mut out = Vec::new();
    if body.len() > MAX_BATCH_BYTES {
        out.push(Msg::new(
            "",
            Code::ValueOutOfBounds,
            format!("batch of {} bytes; at most {MAX_BATCH_BYTES}", body.len()),
        ));
    }
    let lines: Vec<&str> = body.split('\n').filter(|l| !l.is_empty()).collect();
    if lines.len() > MAX_BATCH_HITS {
        out.push(Msg::new(
            "",
            Code::ExceededMaxEntities,
            format!("{} hits; at most {MAX_BATCH_HITS}", lines.len()),
        ));
    }
    for (i, line) in lines.iter().enumerate() {
        for mut m in validate(line) {
            m.field_path = format!("hits[{i}].{}", m.field_path);
            out.push(m);
        }
    }
    out
}

/// Reads a `/debug/collect` answer.
pub(crate) fn parse_debug_answer(body: &[u8]) -> Vec<Msg> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        #[serde(default)]
        hit_parsing_result: Vec<Parsed>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Parsed {
        #[serde(default)]
        parser_message: Vec<ParserMessage>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ParserMessage {
        #[serde(default)]
        message_type: String,
        #[serde(default)]
        description: String,
        #[serde(default)]
        parameter: String,
    }
    match serde_json::from_slice::<Answer>(body) {
        Ok(a) => a
            .hit_parsing_result
            .into_iter()
            .flat_map(|p| p.parser_message)
            .filter(|m| m.message_type.eq_ignore_ascii_case("ERROR"))
            .map(|m| Msg::new(m.parameter, Code::ValueInvalid, m.description))
            .collect(),
        Err(e) => vec![Msg::new(
            "",
            Code::Other,
            format!("unreadable validation answer: {e}"),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_pageview_has_no_messages() {
        let p = "v=1&tid=UA-1-1&cid=abc&t=pageview&dl=https%3A%2F%2Fa%2Fb&qt=10";
        assert_eq!(validate(p), vec![]);
    }

    #[test]
    fn each_rule_is_reported() {
        let long = "x".repeat(101);
        let p = format!("v=2&tid=G-1&t=nope&dp=abc&dh={long}&qt=-1&uip=zz");
        let msgs = validate(&p);
        for f in ["v", "tid", "cid", "t", "dp", "dh", "qt", "uip"] {
            assert!(msgs.iter().any(|m| m.field_path == f), "{f}: {msgs:#?}");
        }
        let none = validate("v=1&tid=UA-1-1&cid=a&t=pageview");
        assert!(none
            .iter()
            .any(|m| m.field_path == "dl" && m.validation_code == Code::ValueRequired));
    }

    #[test]
    fn batch_limits() {
        let line = "v=1&tid=UA-1-1&cid=a&t=pageview&dh=h&dp=%2F";
        let ok = vec![line; 20].join("\n");
        assert_eq!(validate_batch(&ok), vec![]);
        let too_many = vec![line; 21].join("\n");
        assert!(validate_batch(&too_many)
            .iter()
            .any(|m| m.validation_code == Code::ExceededMaxEntities));
    }

    #[test]
    fn debug_answers_are_read() {
        let body = br#"{"hitParsingResult":[{"valid":false,"hit":"/debug/collect?v=1","parserMessage":[{"messageType":"INFO","description":"fine","parameter":""},{"messageType":"ERROR","description":"A value is required for parameter 'tid'.","parameter":"tid"}]}]}"#;
        let msgs = parse_debug_answer(body);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].field_path, "tid");
    }
}
