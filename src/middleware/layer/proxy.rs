//! The proxies in front of the API whose forwarding headers are believed.

use super::GaLayer;
use crate::http_text::forwarded::Trusted;

impl GaLayer {
    /// Trusts one proxy in front of the API ([`trusted_proxies(1)`](Self::trusted_proxies); default
    /// off):
    /// scheme and host come from what it appended to `Forwarded` / `X-Forwarded-Proto` /
    /// `X-Forwarded-Host`, the client IP from the last entry of `Forwarded` / `X-Forwarded-For`.
    /// Only turn this on behind a proxy you control: without one, clients can forge those headers.
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .trust_proxy(true);
    /// let request = Request::get("/users/7")
    ///     .header("host", "10.0.0.5:8080")
    ///     .header("x-forwarded-proto", "https")
    ///     .header("x-forwarded-host", "api.example.com");
    /// send(ga, request).await;
    /// let events = recorder.ga4_events();
    /// assert_eq!(events[0].param_str("page_location"), Some("https://api.example.com/users/7"));
    /// # }
    /// ```
    pub fn trust_proxy(self, on: bool) -> Self {
        self.trusted_proxies(u8::from(on))
    }

    /// The number of proxies you control in front of the API, each appending the address it got
    /// the request from to `X-Forwarded-For` (or an element to `Forwarded`), as nginx's
    /// `$proxy_add_x_forwarded_for` and most load balancers do. The client is then the entry that
    /// many from the right; entries further left are whatever the client sent, and never read (the
    /// leftmost is the one a client forges). Scheme and host come from the nearest proxy's entry.
    /// `0` trusts no proxy (the default).
    ///
    /// ```
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer, IpMode};
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .send_client_ip(IpMode::Full)
    ///     .trusted_proxies(2); // a CDN, then a load balancer
    /// // The client forged `6.6.6.6`; the CDN appended the client's address, the balancer the CDN's.
    /// send(ga, Request::get("/users/7").header("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.9"))
    ///     .await;
    /// assert_eq!(recorder.ga4_events()[0].ip_override.as_deref(), Some("203.0.113.7"));
    /// # }
    /// ```
    pub fn trusted_proxies(self, hops: u8) -> Self {
        self.with(|c| {
            c.capture.trust_proxy = hops > 0;
            c.capture.trusted = Trusted::Hops(hops.max(1));
            c.capture.bad_proxy_range = None;
        })
    }

    /// Trusts the proxies whose addresses are in these networks (`"10.0.0.0/8"`,
    /// `"2001:db8::/32"`, or single addresses; default none): for a fleet of proxies of varying
    /// depth, where a count doesn't fit. A request's forwarding headers are read only when its peer (axum's
    /// `ConnectInfo`, or a [`ClientIp`](crate::ClientIp)) is in them, and the client is the
    /// rightmost `X-Forwarded-For` / `Forwarded` entry outside them. An entry that is neither a
    /// network nor an address is a [`ConfigError`](crate::ConfigError) from
    /// [`build`](Self::build) (and, from the layer itself, a logged error with nothing tracked).
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use http::Request;
    /// use tower_ga::{testing::RecordingTransport, GaLayer, IpMode};
    /// # use axum::extract::ConnectInfo;
    /// # use tower_ga::__doctest::send;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    ///
    /// let recorder = RecordingTransport::new();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .transport(recorder.clone())
    ///     .send_client_ip(IpMode::Full)
    ///     .trusted_proxy_ranges(["10.0.0.0/8"]);
    /// let balancer: SocketAddr = "10.0.0.2:40000".parse().unwrap();
    /// // The client forged `6.6.6.6`; two internal proxies appended what they saw.
    /// let request = Request::get("/users/7")
    ///     .header("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.3.0.1")
    ///     .extension(ConnectInfo(balancer));
    /// send(ga, request).await;
    /// assert_eq!(recorder.ga4_events()[0].ip_override.as_deref(), Some("203.0.113.7"));
    /// # }
    /// ```
    pub fn trusted_proxy_ranges<S: AsRef<str>>(self, ranges: impl IntoIterator<Item = S>) -> Self {
        let parsed = Trusted::ranges(ranges);
        self.with(|c| {
            c.capture.trust_proxy = true;
            match parsed {
                Ok(trusted) => {
                    c.capture.trusted = trusted;
                    c.capture.bad_proxy_range = None;
                }
                Err(bad) => c.capture.bad_proxy_range = Some(bad),
            }
        })
    }
}
