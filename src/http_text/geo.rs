//! Location headers that CDNs and load balancers add, and how their values become GA4's
//! `user_location` (ISO 3166-1 alpha-2 countries, ISO 3166-2 regions, city names).

use std::borrow::Cow;

use http::HeaderName;

/// The headers one CDN or load balancer puts a client's country, region and city in. Read only
/// behind a [trusted proxy](crate::GaLayer::trust_proxy): a client can send any header, and only
/// a proxy that sets (and so overwrites) these makes them true. Name only your own CDN's
/// ([`GaLayer::geo_headers`](crate::GaLayer::geo_headers)): a client could send another CDN's,
/// which yours passes on.
///
/// | CDN | country | region | city |
/// |---|---|---|---|
/// | [`CLOUDFLARE`](Self::CLOUDFLARE) | `CF-IPCountry` | `CF-Region-Code` | `CF-IPCity` (region and city with the "visitor location headers" managed transform) |
/// | [`CLOUDFRONT`](Self::CLOUDFRONT) | `CloudFront-Viewer-Country` | `CloudFront-Viewer-Country-Region` | `CloudFront-Viewer-City` (each once added to the origin request policy) |
/// | [`VERCEL`](Self::VERCEL) | `X-Vercel-IP-Country` | `X-Vercel-IP-Country-Region` | `X-Vercel-IP-City` (percent-encoded) |
/// | [`APP_ENGINE`](Self::APP_ENGINE) | `X-AppEngine-Country` | `X-AppEngine-Region` | `X-AppEngine-City` |
/// | Fastly, Akamai, a load balancer | [`custom`](Self::custom): the headers your configuration sets (Fastly: from `client.geo.country_code`, `client.geo.region`, `client.geo.city`) |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeoHeaders {
    pub(crate) country: HeaderName,
    pub(crate) region: Option<HeaderName>,
    pub(crate) city: Option<HeaderName>,
}

impl GeoHeaders {
    /// Cloudflare.
    pub const CLOUDFLARE: GeoHeaders = GeoHeaders {
        country: HeaderName::from_static("cf-ipcountry"),
        region: Some(HeaderName::from_static("cf-region-code")),
        city: Some(HeaderName::from_static("cf-ipcity")),
    };
    /// Amazon CloudFront.
    pub const CLOUDFRONT: GeoHeaders = GeoHeaders {
        country: HeaderName::from_static("cloudfront-viewer-country"),
        region: Some(HeaderName::from_static("cloudfront-viewer-country-region")),
        city: Some(HeaderName::from_static("cloudfront-viewer-city")),
    };
    /// Vercel.
    pub const VERCEL: GeoHeaders = GeoHeaders {
        country: HeaderName::from_static("x-vercel-ip-country"),
        region: Some(HeaderName::from_static("x-vercel-ip-country-region")),
        city: Some(HeaderName::from_static("x-vercel-ip-city")),
    };
    /// Google App Engine.
    pub const APP_ENGINE: GeoHeaders = GeoHeaders {
        country: HeaderName::from_static("x-appengine-country"),
        region: Some(HeaderName::from_static("x-appengine-region")),
        city: Some(HeaderName::from_static("x-appengine-city")),
    };
    /// The known CDNs, the default.
    pub const KNOWN: [GeoHeaders; 4] = [
        Self::CLOUDFLARE,
        Self::CLOUDFRONT,
        Self::VERCEL,
        Self::APP_ENGINE,
    ];

    /// Headers of your own (a region may be a subdivision code, `CA`, or an ISO 3166-2 code,
    /// `US-CA`).
    pub fn custom(
        country: HeaderName,
        region: Option<HeaderName>,
        city: Option<HeaderName>,
    ) -> Self {
        GeoHeaders {
            country,
            region,
            city,
        }
    }
}

/// A country code as GA4 takes it (`US`), from a header's value: two letters, and not the codes
/// CDNs use for "unknown" (`XX`) or Tor (`T1`).
pub(crate) fn country_id(value: &str) -> Option<String> {
    let v = value.trim();
    (v.len() == 2 && v.bytes().all(|b| b.is_ascii_alphabetic()) && !v.eq_ignore_ascii_case("xx"))
        .then(|| v.to_ascii_uppercase())
}

/// An ISO 3166-2 region (`US-CA`) from a header's value, which is one already or a subdivision
/// code (`CA`, `ca`) of `country`.
pub(crate) fn region_id(value: &str, country: Option<&str>) -> Option<String> {
    let v = value.trim();
    let code = |s: &str| (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if let Some((c, r)) = v.split_once('-') {
        let c = country_id(c)?;
        return code(r).then(|| format!("{c}-{}", r.to_ascii_uppercase()));
    }
    let c = country?;
    code(v).then(|| format!("{c}-{}", v.to_ascii_uppercase()))
}

/// A city's name from a header's value (Vercel's are percent-encoded; `+` is not a space
/// there), or `None` when empty or not UTF-8.
pub(crate) fn city(value: &str) -> Option<Cow<'_, str>> {
    let v = value.trim();
    let decoded = percent_encoding::percent_decode_str(v).decode_utf8().ok()?;
    (!decoded.trim().is_empty()).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_iso_codes_or_nothing() {
        assert_eq!(country_id("us").as_deref(), Some("US"));
        assert_eq!(country_id(" DE ").as_deref(), Some("DE"));
        for bad in ["XX", "T1", "USA", "", "1"] {
            assert_eq!(country_id(bad), None, "{bad}");
        }
        assert_eq!(region_id("CA", Some("US")).as_deref(), Some("US-CA"));
        assert_eq!(region_id("be", Some("DE")).as_deref(), Some("DE-BE"));
        assert_eq!(region_id("us-ca", None).as_deref(), Some("US-CA"));
        assert_eq!(region_id("CA", None), None);
        assert_eq!(region_id("California", Some("US")), None);
        assert_eq!(city("S%C3%A3o%20Paulo").as_deref(), Some("São Paulo"));
        assert_eq!(city("Berlin").as_deref(), Some("Berlin"));
        assert_eq!(city("%FF"), None);
        assert_eq!(city(" "), None);
    }
}
