//! Offline checks of payloads against Google's documented rules, for your test suite.
//!
//! Google's endpoints answer `2xx` even to hits they throw away, so a payload's validity has to be
//! proven elsewhere. These functions return the same kind of messages as Google's validation
//! endpoints (an empty list means valid); this crate's own tests run them on every payload it
//! produces, and the local collector runs them on every hit it receives.
//!
//! ```
//! let body = br#"{"client_id":"1.2","events":[{"name":"session_start"}]}"#;
//! let messages = tower_ga::validate::ga4(body);
//! assert_eq!(messages[0].field_path, "events[0].name");
//! assert_eq!(messages[0].validation_code, tower_ga::ValidationCode::NameReserved);
//! ```

use crate::spec::{ga4_validate, ua as ua_rules, ValidationMessage};

/// Checks a GA4 Measurement Protocol body (JSON) with the standard 100-character value limit.
pub fn ga4(body: &[u8]) -> Vec<ValidationMessage> {
    ga4_validate::validate(body, crate::spec::ga4::MAX_PARAM_VALUE_LEN)
}

/// What a GA4 body may send but should not, e.g. events without `session_id` or
/// `engagement_time_msec` (valid, but they miss Realtime and the engagement metrics), or the
/// deprecated `non_personalized_ads`. [`ga4`] gives the errors.
///
/// ```
/// let body = br#"{"client_id":"1.2","events":[{"name":"api_call"}]}"#;
/// assert!(tower_ga::validate::ga4(body).is_empty());
/// let warnings = tower_ga::validate::ga4_warnings(body);
/// assert_eq!(warnings[0].field_path, "events[0].params.session_id");
/// ```
pub fn ga4_warnings(body: &[u8]) -> Vec<ValidationMessage> {
    let now = ga4_validate::now_micros();
    ga4_validate::check(body, crate::spec::ga4::MAX_PARAM_VALUE_LEN, now).warnings
}

/// Checks a GA4 body with another param value limit (GA 360: 500).
pub fn ga4_with_limit(body: &[u8], param_value_limit: usize) -> Vec<ValidationMessage> {
    ga4_validate::validate(body, param_value_limit)
}

/// Checks one Universal Analytics v1 payload (one URL-encoded hit).
pub fn ua(payload: &str) -> Vec<ValidationMessage> {
    ua_rules::validate(payload)
}

/// Checks a Universal Analytics v1 `/batch` body (one payload per line).
pub fn ua_batch(body: &str) -> Vec<ValidationMessage> {
    ua_rules::validate_batch(body)
}
