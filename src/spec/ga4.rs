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
/// Longest `page_location` (characters), an exception of GA4's collection limits
/// (<https://support.google.com/analytics/answer/9267744>).
pub const MAX_PAGE_LOCATION_LEN: usize = 1000;
/// Longest `page_referrer` (characters), as [`MAX_PAGE_LOCATION_LEN`].
pub const MAX_PAGE_REFERRER_LEN: usize = 420;
/// Longest `page_title` (characters), as [`MAX_PAGE_LOCATION_LEN`].
pub const MAX_PAGE_TITLE_LEN: usize = 300;
/// How far back an event's `timestamp_micros` may reach: Google documents 72 hours (and, for
/// newer properties, 3 calendar days in the property's time zone, which is never less).
pub const MAX_BACKDATE_SECS: u64 = 72 * 3600;

/// The longest value a param may have under GA4's collection limits, for properties whose other
/// params take `limit` characters (100, or 500 on GA 360): the page params' documented
/// exceptions, or `limit`.
pub fn value_limit(param: &str, limit: usize) -> usize {
    match param {
        "page_location" => MAX_PAGE_LOCATION_LEN.max(limit),
        "page_referrer" => MAX_PAGE_REFERRER_LEN.max(limit),
        "page_title" => MAX_PAGE_TITLE_LEN.max(limit),
        _ => limit,
    }
}
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
/// Event names only app streams (`app_instance_id`) may send: a web stream's (`client_id`) are
/// reported as reserved.
pub const APP_ONLY_EVENT_NAMES: &[&str] = &["ad_impression", "screen_view"];
/// Param name prefixes Google reserves.
pub const RESERVED_PARAM_PREFIXES: &[&str] = &["_", "firebase_", "ga_", "google_", "gtag."];
/// User property name prefixes Google reserves (`gtag.` is reserved for params only).
pub const RESERVED_USER_PROPERTY_PREFIXES: &[&str] = &["_", "firebase_", "ga_", "google_"];
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
    /// `1` on the events of a route marked [`Deprecated`](crate::Deprecated); absent otherwise.
    pub const API_DEPRECATED: &str = "api_deprecated";
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
    params::API_DEPRECATED,
];
