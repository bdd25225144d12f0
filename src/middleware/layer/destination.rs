//! Where hits go: the API secret, the collector, its EU region and validation mode.

use super::GaLayer;
use crate::config::Secret;

impl GaLayer {
    /// The GA4 API secret. Never logged, never in `Debug` output. Surrounding whitespace (a
    /// secret read from a file ends in a newline) is trimmed.
    pub fn api_secret(self, secret: impl Into<String>) -> Self {
        let secret = secret.into().trim().to_owned();
        self.with(|c| c.api_secret = Some(Secret(secret)))
    }

    /// Base URL of the collector (default `https://www.google-analytics.com`); the protocol's path
    /// (`/mp/collect`) is appended. Point it at a local collector for development and tests.
    pub fn endpoint(self, base_url: impl Into<String>) -> Self {
        let url = base_url.into();
        self.with(|c| c.endpoint = Some(url))
    }

    /// Sends GA4 hits to Google's EU endpoint (`region1.google-analytics.com`). Ignored when an
    /// [`endpoint`](Self::endpoint) is set.
    pub fn eu(self, on: bool) -> Self {
        self.with(|c| c.eu = on)
    }

    /// Validation mode: sends to Google's validation endpoint (`/debug/mp/collect`, with
    /// `validation_behavior: ENFORCE_RECOMMENDATIONS`), which checks hits and collects nothing.
    /// Its objections are logged, passed to the failure hook and counted in [`Stats::invalid`](crate::Stats::invalid).
    pub fn validation_mode(self, on: bool) -> Self {
        self.with(|c| c.validation = on)
    }
}
