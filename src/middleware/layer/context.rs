//! What GA4 events carry besides the request: consent, engagement time, value limits.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::GaLayer;
use crate::config::Consent;
use crate::context::{Device, EventParams};
use crate::hit::Hit;
use crate::http_text::geo::GeoHeaders;

impl GaLayer {
    /// The `consent` sent with every request: `ad_user_data` and `ad_personalization`
    /// (default [`Consent::Denied`] for both: an API's consumers gave no consent to ads use;
    /// [`Consent::Omitted`] leaves a field out). It replaces the deprecated
    /// `non_personalized_ads`, which the crate never sends.
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, Consent, GaLayer};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .consent(Consent::Granted, Consent::Omitted);
    /// send(ga, Request::get("/users/7")).await;
    /// let body: serde_json::Value = serde_json::from_slice(recorder.requests()[0].body()).unwrap();
    /// assert_eq!(body["consent"], serde_json::json!({"ad_user_data": "GRANTED"}));
    /// # }
    /// ```
    pub fn consent(self, ad_user_data: Consent, ad_personalization: Consent) -> Self {
        self.with(|c| c.report.context.consent = [ad_user_data, ad_personalization])
    }

    /// Cuts the page params (`page_location`, `page_referrer`, `page_title`) at
    /// [`param_value_limit`](Self::param_value_limit), like every other param (default off).
    /// Off, they run to 1000, 420 and 300 characters, the lengths GA4's collection limits give
    /// them; the Measurement Protocol's own page states one limit for every param value (100
    /// characters, 500 on GA 360) and names no exception. Turn it on to keep to that stricter
    /// reading; the price is page URLs, referrers and titles cut shorter in reports. Nothing
    /// else is limited by it.
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let long = format!("/users/7?q={}", "x".repeat(300));
    /// for (conservative, at_most) in [(false, 1000), (true, 100)] {
    ///     let recorder = RecordingTransport::new();
    ///     let ga = GaLayer::new("G-TEST123")
    ///         .api_secret("s")
    ///         .transport(recorder.clone())
    ///         .conservative_limits(conservative);
    ///     send(ga, Request::get(long.as_str())).await;
    ///     let location = recorder.ga4_events()[0].param_str("page_location").unwrap().len();
    ///     assert!((location > 100) == !conservative && location <= at_most);
    /// }
    /// # }
    /// ```
    pub fn conservative_limits(self, on: bool) -> Self {
        self.with(|c| c.report.context.conservative_limits = on)
    }

    /// The longest `engagement_time_msec` one event reports (default 60 s). An event's
    /// engagement time is the time since the same consumer's previous request in its session,
    /// capped at this, at least 1 ms; a session's first request reports 1 ms. A gap longer than
    /// the cap is idle time, not engagement.
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .engagement_cap(Duration::from_millis(1));
    /// send(ga.clone(), Request::get("/users/7").header("authorization", "k")).await;
    /// send(ga, Request::get("/users/7").header("authorization", "k")).await;
    /// let events = recorder.ga4_events();
    /// assert!(events.iter().all(|e| e.param_u64("engagement_time_msec") == Some(1)));
    /// # }
    /// ```
    pub fn engagement_cap(self, cap: Duration) -> Self {
        self.with(|c| c.report.context.engagement_cap = cap)
    }

    /// The CDN headers `user_location` is filled from (default [`GeoHeaders::KNOWN`]), read only
    /// behind a [trusted proxy](Self::trust_proxy); `[]` turns it off. Never the IP.
    ///
    /// ```
    /// use tower_ga::{GaLayer, GeoHeaders};
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").trust_proxy(true)
    ///     .geo_headers([GeoHeaders::CLOUDFRONT]);
    /// assert!(ga.build().is_ok());
    /// ```
    pub fn geo_headers(self, headers: impl IntoIterator<Item = GeoHeaders>) -> Self {
        let list: Vec<GeoHeaders> = headers.into_iter().collect();
        self.with(|c| c.capture.geo_headers = list)
    }

    /// Captures a request header by name for hooks ([`Hit::header`]), each's first 256 bytes.
    /// Hits keep room for four names ([`device_header`](Self::device_header) takes one of them;
    /// naming one twice takes one): a fifth is a
    /// [`ConfigError::TooManyCapturedHeaders`](crate::ConfigError::TooManyCapturedHeaders) from
    /// [`build`](Self::build) (and, from the layer itself, a logged error with nothing tracked),
    /// rather than a header hooks would silently never see.
    ///
    /// ```
    /// use http::HeaderName;
    /// use tower_ga::{ConfigError, EventParams, GaLayer, Hit};
    /// let ga = GaLayer::new("G-TEST123").api_secret("s")
    ///     .capture_header(HeaderName::from_static("x-api-version"))
    ///     .params_with(|hit: &Hit| match hit.header("x-api-version") {
    ///         Some(v) => EventParams::new().param("api_version", v),
    ///         None => EventParams::new(),
    ///     });
    /// assert!(ga.clone().build().is_ok());
    ///
    /// let five = ["x-b", "x-c", "x-d", "x-e"].into_iter().map(HeaderName::from_static);
    /// let ga = five.fold(ga, GaLayer::capture_header);
    /// assert_eq!(ga.build().unwrap_err(), ConfigError::TooManyCapturedHeaders("x-e".into()));
    /// ```
    pub fn capture_header(self, name: HeaderName) -> Self {
        self.with(|c| {
            let mut names = c.capture.named_headers.as_deref().unwrap_or(&[]).to_vec();
            if names.contains(&name) {
                return;
            }
            if names.len() < crate::hit::text::MAX_NAMED {
                names.push(name);
                c.capture.named_headers = Some(names.into());
            } else if c.capture.header_past_limit.is_none() {
                c.capture.header_past_limit = Some(name.as_str().to_owned());
            }
        })
    }

    /// Fills `device.browser` and `device.browser_version` from a header holding an SDK's
    /// `name/version` (captured by name). GA takes `device` over what it parses from
    /// `user_agent`, which is still sent.
    ///
    /// ```
    /// use tower_ga::GaLayer;
    /// let ga = GaLayer::new("G-TEST123").api_secret("s")
    ///     .device_header(http::HeaderName::from_static("x-client-sdk"));
    /// assert!(ga.build().is_ok());
    /// ```
    pub fn device_header(self, name: HeaderName) -> Self {
        let layer = self.capture_header(name.clone());
        layer.with(|c| c.report.context.device_header = Some(name))
    }

    /// Computes `device` per hit on the sender's thread; wins over
    /// [`device_header`](Self::device_header).
    ///
    /// ```
    /// use tower_ga::{Device, GaLayer, Hit};
    /// let ga = GaLayer::new("G-TEST123").api_secret("s")
    ///     .device_with(|_: &Hit| Some(Device::new().category("desktop")));
    /// assert!(ga.build().is_ok());
    /// ```
    pub fn device_with(
        self,
        hook: impl Fn(&Hit) -> Option<Device> + Send + Sync + 'static,
    ) -> Self {
        let hook: Arc<dyn crate::hooks::MakeDevice> = Arc::new(hook);
        self.with(|c| c.report.context.make_device = Some(hook))
    }

    /// Computes per-request params and user properties on the sender's thread, under the rules
    /// of [`EventParams`] (whose markers win for the same name).
    ///
    /// ```
    /// use tower_ga::{EventParams, GaLayer, Hit};
    /// let ga = GaLayer::new("G-TEST123").api_secret("s")
    ///     .params_with(|hit: &Hit| EventParams::new().param("slow", u64::from(hit.latency().as_millis() > 500)));
    /// assert!(ga.build().is_ok());
    /// ```
    pub fn params_with(self, hook: impl Fn(&Hit) -> EventParams + Send + Sync + 'static) -> Self {
        let hook: Arc<dyn crate::hooks::MakeParams> = Arc::new(hook);
        self.with(|c| c.report.context.make_params = Some(hook))
    }

    /// A constant user property sent with every request (a per-request one of the same name
    /// wins); under GA4's rules (name ≤ 24, value ≤ 36 characters) or left out.
    ///
    /// ```
    /// use tower_ga::GaLayer;
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").user_property("deployment", "eu-1");
    /// assert!(ga.build().is_ok());
    /// ```
    pub fn user_property(
        self,
        name: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        let (name, value) = (name.into(), value.into());
        self.with(|c| {
            let props = &mut c.report.context.user_properties;
            match props.iter_mut().find(|(n, _)| *n == name) {
                Some(p) => p.1 = value,
                None => props.push((name, value)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderName;

    use crate::{ConfigError, GaLayer};

    #[test]
    fn a_fifth_captured_header_is_refused_by_name() {
        let names = ["x-a", "x-b", "x-c"].map(HeaderName::from_static);
        let four = names
            .into_iter()
            .fold(
                GaLayer::new("G-TEST123").api_secret("s"),
                GaLayer::capture_header,
            )
            // Named again: no new slot taken.
            .capture_header(HeaderName::from_static("x-a"))
            .device_header(HeaderName::from_static("x-sdk"));
        assert!(four.clone().build().is_ok());

        let five = four
            .capture_header(HeaderName::from_static("x-e"))
            .capture_header(HeaderName::from_static("x-f"));
        let err = five.build().unwrap_err();
        assert_eq!(err, ConfigError::TooManyCapturedHeaders("x-e".into()));
        let text = err.to_string();
        assert!(
            text.contains("\"x-e\"") && text.contains("at most 4"),
            "{text}"
        );
    }
}
