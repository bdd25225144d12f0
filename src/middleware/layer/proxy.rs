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
    /// Of `trust_proxy`, [`trusted_proxies`](Self::trusted_proxies) and
    /// [`trusted_proxy_ranges`](Self::trusted_proxy_ranges), the last call wins: each replaces
    /// whatever the others set before. `trust_proxy(true)` is `trusted_proxies(1)`;
    /// `trust_proxy(false)` is `trusted_proxies(0)`, which trusts no proxy and forgets earlier
    /// ranges.
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
    /// Of [`trust_proxy`](Self::trust_proxy), `trusted_proxies` and
    /// [`trusted_proxy_ranges`](Self::trusted_proxy_ranges), the last call wins: this sets the
    /// count, and earlier ranges (a bad entry among them included) are forgotten.
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
    /// Of [`trust_proxy`](Self::trust_proxy), [`trusted_proxies`](Self::trusted_proxies) and
    /// `trusted_proxy_ranges`, the last call wins: this turns trust on with these networks only,
    /// replacing an earlier count and earlier ranges (they are not merged). After one with a bad
    /// entry, `build` fails until a later call of any of the three replaces it.
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

#[cfg(test)]
mod tests {
    use crate::http_text::forwarded::Trusted;
    use crate::{ConfigError, GaLayer};

    /// Whether proxies are trusted, which, and the bad range `build` would refuse.
    fn proxies(ga: &GaLayer) -> (bool, Trusted, Option<String>) {
        let c = &ga.config.capture;
        (c.trust_proxy, c.trusted.clone(), c.bad_proxy_range.clone())
    }

    #[test]
    fn the_last_proxy_call_wins() {
        let ga = || GaLayer::new("G-TEST123").api_secret("s");
        let ten = Trusted::ranges(["10.0.0.0/8"]).unwrap();

        // A count replaces ranges, and ranges a count; they are never merged.
        let counted = ga().trusted_proxy_ranges(["10.0.0.0/8"]).trusted_proxies(2);
        assert_eq!(proxies(&counted), (true, Trusted::Hops(2), None));
        let ranged = ga().trusted_proxies(2).trusted_proxy_ranges(["10.0.0.0/8"]);
        assert_eq!(proxies(&ranged), (true, ten.clone(), None));
        let replaced = ranged.trusted_proxy_ranges(["192.168.0.0/16"]);
        let lan = Trusted::ranges(["192.168.0.0/16"]).unwrap();
        assert_eq!(proxies(&replaced), (true, lan, None));

        // `trust_proxy` is a count of one or none.
        let one = ga().trusted_proxy_ranges(["10.0.0.0/8"]).trust_proxy(true);
        assert_eq!(proxies(&one), (true, Trusted::Hops(1), None));
        let none = ga().trusted_proxy_ranges(["10.0.0.0/8"]).trust_proxy(false);
        assert_eq!(proxies(&none), proxies(&ga()));
        let again = ga().trust_proxy(false).trusted_proxy_ranges(["10.0.0.0/8"]);
        assert_eq!(proxies(&again), (true, ten, None));

        // A bad entry is refused until a later call replaces it.
        let bad = ga()
            .trusted_proxies(2)
            .trusted_proxy_ranges(["10.0.0.0/33"]);
        assert_eq!(
            bad.clone().build().unwrap_err(),
            ConfigError::InvalidProxyRange("10.0.0.0/33".into())
        );
        for fixed in [
            bad.clone().trust_proxy(false),
            bad.clone().trusted_proxies(1),
            bad.trusted_proxy_ranges(["10.0.0.0/8"]),
        ] {
            assert!(fixed.build().is_ok());
        }
    }
}
