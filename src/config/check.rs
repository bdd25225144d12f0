//! The checks behind [`GaLayer::build`](crate::GaLayer::build).

use std::fmt;

use super::Config;
use crate::hit::text::MAX_NAMED;
use crate::http_text::authority::without_userinfo;
use crate::spec::ga4::{BUILTIN_PARAMS, MAX_NAME_LEN, MAX_PARAMS};
use crate::spec::Protocol;

/// Why [`GaLayer::build`](crate::GaLayer::build) refused a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The id is neither a GA4 measurement id (`G-XXXXXXXXXX`) nor a UA tracking id (`UA-1234-5`).
    MalformedTrackingId(String),
    /// GA4 needs an API secret (Admin → Data streams → Measurement Protocol API secrets).
    MissingApiSecret,
    /// An extra param has an invalid or reserved name, or there are too many.
    InvalidParam(String),
    /// The endpoint is not an `http://` or `https://` URL, or has an `@` (credentials, which
    /// the transports don't send).
    InvalidEndpoint(String),
    /// `request_timeout` is zero.
    ZeroRequestTimeout,
    /// A `trusted_proxy_ranges` entry is neither a network (`10.0.0.0/8`) nor an address.
    InvalidProxyRange(String),
    /// The declared routes can't be read: a `known_routes` entry is not `"METHOD /template"`,
    /// a template axum can't mount, or an OpenAPI document that declares no route, refers to
    /// other files, or isn't OpenAPI 3.x or Swagger 2.0 JSON. The text says which and how to
    /// fix it. From a layer made with [`new`](crate::GaLayer::new) and not built, it is logged,
    /// shown on the usage page, and the layer tracks without declared routes.
    InvalidRoute(String),
    /// The usage store can't be used: a URL that is no store's, a file that can't be created,
    /// opened or written, a schema from a newer version. The text says which and how to fix it.
    /// From a layer made with [`new`](crate::GaLayer::new) and not built, it is logged and
    /// retried, and the in-memory table goes on.
    UsageStore(String),
    /// More than four request headers are captured by name ([`capture_header`] and
    /// [`device_header`] together); the first one past the fourth is named. Hits keep room for
    /// four, so a fifth could not be read by hooks. From a layer made with
    /// [`new`](crate::GaLayer::new) and not built, it is logged and requests pass through
    /// untracked.
    ///
    /// [`capture_header`]: crate::GaLayer::capture_header
    /// [`device_header`]: crate::GaLayer::device_header
    TooManyCapturedHeaders(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MalformedTrackingId(id) => write!(
                f,
                "malformed tracking id {id:?}: expected a GA4 measurement id (G-XXXXXXXXXX) or a UA id (UA-1234-5)"
            ),
            ConfigError::MissingApiSecret => f.write_str("GA4 needs an API secret: call .api_secret(..)"),
            ConfigError::InvalidParam(why) => write!(f, "invalid extra param: {why}"),
            ConfigError::InvalidEndpoint(e) => write!(f, "endpoint {e:?} is not an http:// or https:// URL without credentials"),
            ConfigError::ZeroRequestTimeout => f.write_str("request_timeout is zero: no request could finish"),
            ConfigError::InvalidRoute(r) => write!(f, "known routes: {r}"),
            ConfigError::UsageStore(e) => write!(f, "usage store: {e}"),
            ConfigError::InvalidProxyRange(r) => write!(f, "trusted proxy range {r:?} is neither a network (10.0.0.0/8) nor an address"),
            ConfigError::TooManyCapturedHeaders(h) => write!(
                f,
                "captured header {h:?} is one too many: at most {MAX_NAMED} headers are captured by name (capture_header and device_header together); drop a call"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Checks everything [`check`] does, and the declared routes: a bad inventory is an error from
/// `build`, while a layer made with `new` logs it and tracks without one.
pub(crate) fn check_all(cfg: &Config) -> Result<Protocol, ConfigError> {
    let protocol = check(cfg)?;
    if let Some(bad) = &cfg.inventory.bad {
        return Err(ConfigError::InvalidRoute(bad.clone()));
    }
    if let Some(bad) = &cfg.store.bad {
        return Err(ConfigError::UsageStore(bad.clone()));
    }
    if let Some(store) = &cfg.store.store {
        // Opened, its schema created or checked, and closed: the sender opens its own.
        store.check().map_err(ConfigError::UsageStore)?;
    }
    Ok(protocol)
}

/// Checks a configuration: the protocol it speaks, or why it can't work.
pub(crate) fn check(cfg: &Config) -> Result<Protocol, ConfigError> {
    let protocol = cfg
        .target
        .protocol
        .ok_or_else(|| ConfigError::MalformedTrackingId(cfg.target.tracking_id.clone()))?;
    if protocol == Protocol::Ga4
        && cfg
            .target
            .api_secret
            .as_ref()
            .is_none_or(|s| s.0.trim().is_empty())
    {
        return Err(ConfigError::MissingApiSecret);
    }
    let base = cfg.target.base_url();
    let valid_base = (base.starts_with("http://") || base.starts_with("https://"))
        // No `@` anywhere: credentials are never sent, and a password with a `#` or `/` in it
        // would not even parse as one.
        && !base.contains('@')
        && base.parse::<http::Uri>().is_ok_and(|u| u.host().is_some());
    if !valid_base {
        return Err(ConfigError::InvalidEndpoint(
            without_userinfo(base).into_owned(),
        ));
    }
    if cfg.sender.request_timeout.is_zero() {
        return Err(ConfigError::ZeroRequestTimeout);
    }
    if let Some(bad) = &cfg.capture.bad_proxy_range {
        return Err(ConfigError::InvalidProxyRange(bad.clone()));
    }
    if let Some(name) = &cfg.capture.header_past_limit {
        return Err(ConfigError::TooManyCapturedHeaders(name.clone()));
    }
    let builtin = BUILTIN_PARAMS.len();
    if builtin + cfg.report.extra_params.len() > MAX_PARAMS {
        return Err(ConfigError::InvalidParam(format!(
            "at most {} extra params",
            MAX_PARAMS - builtin
        )));
    }
    for (name, value) in &cfg.report.extra_params {
        if !(value.is_string() || value.is_number()) {
            return Err(ConfigError::InvalidParam(format!(
                "{name}: values are strings or numbers"
            )));
        }
        let probe = serde_json::json!({
            "client_id": "1.1",
            "events": [{ "name": "page_view", "params": { name.as_str(): value } }],
        });
        let msgs = crate::spec::ga4_validate::validate(
            probe.to_string().as_bytes(),
            cfg.report.param_value_limit,
        );
        if let Some(m) = msgs.first() {
            return Err(ConfigError::InvalidParam(format!(
                "{name}: {}",
                m.description
            )));
        }
        if BUILTIN_PARAMS.contains(&name.as_str()) || name.len() > MAX_NAME_LEN {
            return Err(ConfigError::InvalidParam(format!(
                "{name} is set by tower-ga itself"
            )));
        }
    }
    Ok(protocol)
}
