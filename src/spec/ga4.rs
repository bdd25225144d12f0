//! GA4 Measurement Protocol: paths, limits, reserved names, and the crate's own param names.

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
pub(crate) const MAX_USER_PROPERTY_NAME: usize = 24;
pub(crate) const MAX_USER_PROPERTY_VALUE: usize = 36;

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
