//! Per-request context for GA4 events: [`EventParams`] (params and user properties a request
//! adds) and [`Device`] (GA4's `device` object).

use std::sync::Arc;

use serde_json::Value;

/// Params and user properties one request adds to its event: an API version, a tenant, a plan.
///
/// Put it into the request extensions (a middleware outside the [`GaLayer`](crate::GaLayer)) or
/// the response extensions (a handler, an inner middleware); both are read, and for a name given
/// in both, the response wins. [`GaLayer::params_with`](crate::GaLayer::params_with) computes
/// them from the [`Hit`](crate::Hit) instead, on the sender's thread.
///
/// They follow the rules of [`GaLayer::param`](crate::GaLayer::param): a param's name must be a
/// valid, unreserved GA4 name that the crate doesn't set itself, its value a string (cut to the
/// value limit) or a number; a user property's name at most 24 characters, its value at most 36.
/// What breaks them, or goes beyond GA4's 25 params an event and 25 user properties, is left out
/// of the event (and logged, rate-limited); the event is still sent. A per-request param replaces
/// a constant one of the same name.
///
/// ```
/// use axum::{routing::get, Extension};
/// use tower_ga::EventParams;
///
/// async fn handler() -> (Extension<EventParams>, &'static str) {
///     let params = EventParams::new().param("plan", "pro").user_property("tenant_tier", "gold");
///     (Extension(params), "ok")
/// }
/// let route: axum::routing::MethodRouter = get(handler);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventParams(pub(crate) Arc<Entries>);

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Entries {
    pub(crate) params: Vec<(String, Value)>,
    pub(crate) user_properties: Vec<(String, Value)>,
}

impl EventParams {
    /// No params.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an event param (the same name again replaces its value).
    pub fn param(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        set(
            &mut Arc::make_mut(&mut self.0).params,
            name.into(),
            value.into(),
        );
        self
    }

    /// Adds a user property, sent in the request's `user_properties` (the same name again
    /// replaces its value).
    pub fn user_property(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let props = &mut Arc::make_mut(&mut self.0).user_properties;
        set(props, name.into(), value.into());
        self
    }

    /// Whether it adds nothing.
    pub fn is_empty(&self) -> bool {
        self.0.params.is_empty() && self.0.user_properties.is_empty()
    }
}

fn set(list: &mut Vec<(String, Value)>, name: String, value: Value) {
    match list.iter_mut().find(|(n, _)| *n == name) {
        Some(entry) => entry.1 = value,
        None => list.push((name, value)),
    }
}

/// GA4's `device` object: what GA reports as the device, browser and operating system, in place
/// of what it would parse from `user_agent`
/// (<https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference>).
/// API clients are rarely browsers: their SDK's name and version fit `browser` and
/// `browser_version`.
///
/// ```
/// use tower_ga::Device;
///
/// let d = Device::new().browser("acme-python").browser_version("2.1.0").category("desktop");
/// assert_eq!(d.browser.as_deref(), Some("acme-python"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Device {
    /// `desktop`, `mobile`, `tablet`, `smart TV`…
    pub category: Option<String>,
    /// ISO 639-1, `en` or `en-US`.
    pub language: Option<String>,
    /// `WIDTHxHEIGHT`, `1280x720`.
    pub screen_resolution: Option<String>,
    /// `MacOS`, `Linux`…
    pub operating_system: Option<String>,
    /// `13.5`.
    pub operating_system_version: Option<String>,
    /// `Pixel 9 Pro`.
    pub model: Option<String>,
    /// `Google`.
    pub brand: Option<String>,
    /// `Chrome`, or an SDK's name.
    pub browser: Option<String>,
    /// `136.0.7103.60`, or an SDK's version.
    pub browser_version: Option<String>,
}

macro_rules! setters {
    ($($field:ident),*) => {
        impl Device {
            /// No fields.
            pub fn new() -> Self {
                Self::default()
            }
            $(
                #[doc = concat!("Sets `", stringify!($field), "`.")]
                pub fn $field(mut self, value: impl Into<String>) -> Self {
                    self.$field = Some(value.into());
                    self
                }
            )*
        }
    };
}
setters!(
    category,
    language,
    screen_resolution,
    operating_system,
    operating_system_version,
    model,
    brand,
    browser,
    browser_version
);

impl Device {
    /// The fields as GA4 names them, set ones only.
    pub(crate) fn fields(&self) -> [(&'static str, Option<&str>); 9] {
        [
            ("category", self.category.as_deref()),
            ("language", self.language.as_deref()),
            ("screen_resolution", self.screen_resolution.as_deref()),
            ("operating_system", self.operating_system.as_deref()),
            (
                "operating_system_version",
                self.operating_system_version.as_deref(),
            ),
            ("model", self.model.as_deref()),
            ("brand", self.brand.as_deref()),
            ("browser", self.browser.as_deref()),
            ("browser_version", self.browser_version.as_deref()),
        ]
    }

    /// A device from an SDK's self-description, `name/version` (the first product of a
    /// `User-Agent`-like header: `acme-python/2.1.0 (linux)` gives `acme-python` and `2.1.0`).
    pub(crate) fn from_product(value: &str) -> Option<Device> {
        let product = value.split_ascii_whitespace().next()?;
        let (name, version) = match product.split_once('/') {
            Some((n, v)) => (n, Some(v).filter(|v| !v.is_empty())),
            None => (product, None),
        };
        if name.is_empty() {
            return None;
        }
        Some(Device {
            browser: Some(name.into()),
            browser_version: version.map(Into::into),
            ..Device::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_names_the_sdk() {
        let d = Device::from_product("acme-python/2.1.0 (linux; x86_64)").unwrap();
        assert_eq!(d.browser.as_deref(), Some("acme-python"));
        assert_eq!(d.browser_version.as_deref(), Some("2.1.0"));
        let d = Device::from_product("acme").unwrap();
        assert_eq!(
            (d.browser.as_deref(), d.browser_version),
            (Some("acme"), None)
        );
        assert_eq!(Device::from_product("  "), None);
        assert_eq!(Device::from_product("/1.0"), None);
    }

    #[test]
    fn the_same_name_again_replaces_its_value() {
        let p = EventParams::new().param("a", 1).param("b", 2).param("a", 3);
        assert_eq!(
            p.0.params,
            vec![("a".into(), 3.into()), ("b".into(), 2.into())]
        );
        assert!(!p.is_empty() && EventParams::new().is_empty());
    }
}
