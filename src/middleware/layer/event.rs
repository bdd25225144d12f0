//! Which requests are reported, and what else their events carry: the user agent, the client
//! IP, constant params and the length of values.

use std::sync::Arc;

use super::GaLayer;
use crate::config::IpMode;
use crate::hooks::Filter;

impl GaLayer {
    /// Doesn't report requests that matched no route (fallback, 404).
    pub fn skip_unmatched(self, on: bool) -> Self {
        self.with(|c| c.skip_unmatched = on)
    }

    /// Replaces the filter that decides which requests are reported (default
    /// [`DefaultFilter`](crate::DefaultFilter); `()` reports everything).
    pub fn filter(self, filter: impl Filter) -> Self {
        let f: Arc<dyn Filter> = Arc::new(filter);
        self.with(|c| c.filter = f)
    }

    /// Sends the request's `User-Agent` (default on).
    pub fn send_user_agent(self, on: bool) -> Self {
        self.with(|c| c.send_user_agent = on)
    }

    /// Sends the client IP to Google (default [`IpMode::Off`]). Needs axum's `ConnectInfo`, a
    /// [`ClientIp`](crate::ClientIp) extension, or a [trusted proxy](Self::trust_proxy).
    pub fn send_client_ip(self, mode: IpMode) -> Self {
        self.with(|c| c.ip_mode = mode)
    }

    /// The `data_source` param (default `api`; the original recipe's `ds`).
    pub fn data_source(self, source: impl Into<String>) -> Self {
        let s = source.into();
        self.with(|c| c.data_source = s)
    }

    /// A constant param added to every event, e.g. `("app_version", "1.4.2")`. Checked by
    /// [`build`](Self::build): names must be valid, unreserved and not clash with the crate's own;
    /// values are strings or numbers. The same name again replaces the value (an event can't carry
    /// a name twice).
    pub fn param(self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.with(
            |c| match c.extra_params.iter_mut().find(|(n, _)| *n == name) {
                Some(param) => param.1 = value,
                None => c.extra_params.push((name, value)),
            },
        )
    }

    /// Longest param value in characters (default 100, GA4's documented limit for standard
    /// properties; GA 360 allows 500, the most this takes). Longer values are truncated at a
    /// character boundary, and URLs lose their query first.
    pub fn param_value_limit(self, chars: usize) -> Self {
        self.with(|c| c.param_value_limit = chars.clamp(16, 500))
    }
}
