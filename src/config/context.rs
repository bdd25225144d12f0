//! What GA4 events carry besides the request itself (the Measurement Protocol's 2025 fields):
//! consent, engagement time, value limits, and where location, device and per-request params come
//! from.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use crate::hooks::{HookName, MakeDevice, MakeParams};

/// A consent state sent in GA4's `consent` object, for `ad_user_data` and `ad_personalization`
/// (<https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference>).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Consent {
    /// `GRANTED`.
    Granted,
    /// `DENIED`: the default. An API's consumers gave no consent to ads use; GA then keeps the
    /// events out of ads features.
    #[default]
    Denied,
    /// Not sent: GA applies the property's own default.
    Omitted,
}

impl Consent {
    pub(crate) fn as_str(self) -> Option<&'static str> {
        match self {
            Consent::Granted => Some("GRANTED"),
            Consent::Denied => Some("DENIED"),
            Consent::Omitted => None,
        }
    }
}

/// The settings of [`Context`], read by the GA4 encoder on the sender's thread.
#[derive(Clone)]
pub(crate) struct Context {
    /// `ad_user_data`, `ad_personalization`.
    pub(crate) consent: [Consent; 2],
    /// Every value at `param_value_limit`, the page params too (GA4 allows them more).
    pub(crate) conservative_limits: bool,
    /// The longest engagement time a hit reports.
    pub(crate) engagement_cap: Duration,
    /// Whether trusted location headers fill `user_location`.
    pub(crate) geo: bool,
    /// A header holding an SDK's `name/version`, for `device` (also captured by name).
    pub(crate) device_header: Option<HeaderName>,
    pub(crate) make_device: Option<Arc<dyn MakeDevice>>,
    pub(crate) make_params: Option<Arc<dyn MakeParams>>,
    /// Sent with every request.
    pub(crate) user_properties: Vec<(String, serde_json::Value)>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("consent", &self.consent)
            .field("conservative_limits", &self.conservative_limits)
            .field("engagement_cap", &self.engagement_cap)
            .field("geo", &self.geo)
            .field("device_header", &self.device_header)
            .field(
                "make_device",
                &self
                    .make_device
                    .as_ref()
                    .map(|_| HookName("dyn MakeDevice")),
            )
            .field(
                "make_params",
                &self
                    .make_params
                    .as_ref()
                    .map(|_| HookName("dyn MakeParams")),
            )
            .field("user_properties", &self.user_properties.len())
            .finish()
    }
}

impl Default for Context {
    fn default() -> Self {
        Context {
            consent: [Consent::Denied; 2],
            conservative_limits: false,
            engagement_cap: Duration::from_secs(60),
            geo: true,
            device_header: None,
            make_device: None,
            make_params: None,
            user_properties: Vec::new(),
        }
    }
}
