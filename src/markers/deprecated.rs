//! [`Deprecated`]: marks a route deprecated, with the standard response headers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;

use http::header::{HeaderName, HeaderValue, LINK};
use http::{HeaderMap, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::text::date::{unix_secs as unix, Day};

/// RFC 9745's `Deprecation` header.
pub static DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
/// RFC 8594's `Sunset` header.
pub static SUNSET: HeaderName = HeaderName::from_static("sunset");

/// Marks a route deprecated: its responses carry `Deprecation: @<unix seconds>` (RFC 9745),
/// `Sunset: <HTTP-date>` (RFC 8594) when a sunset is given, and `Link: <url>;
/// rel="deprecation"` when a link is given; the usage page lists the route among the deprecated
/// ones with who still calls it, and its GA4 events carry `api_deprecated: 1`.
///
/// As a route layer it adds the headers itself, tracked or not. A handler may return it as a
/// response extension instead; the [`GaLayer`](crate::GaLayer) then adds the headers the
/// response lacks. An OpenAPI operation marked `deprecated: true` is listed as deprecated on the
/// usage page too, before its first call.
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use tower_ga::Deprecated;
///
/// let legacy = Deprecated::since_ymd(2026, 1, 31)
///     .sunset_ymd(2026, 6, 30)
///     .link("https://api.example.com/docs/migrate-to-v2");
/// let app: Router = Router::new()
///     .route("/v1/export", get(|| async { "csv" }).layer(legacy.clone()));
///
/// let headers = legacy.headers();
/// assert_eq!(headers[0].1, "@1769817600");
/// assert_eq!(headers[1].1, "Tue, 30 Jun 2026 00:00:00 GMT");
/// assert_eq!(headers[2].1, "<https://api.example.com/docs/migrate-to-v2>; rel=\"deprecation\"");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deprecated(Arc<Inner>);

#[derive(Debug, PartialEq, Eq)]
struct Inner {
    since: u64,
    sunset: Option<u64>,
    deprecation: HeaderValue,
    sunset_header: Option<HeaderValue>,
    link: Option<HeaderValue>,
}

fn ymd(y: i32, m: u32, d: u32) -> SystemTime {
    Day::from_ymd(i64::from(y), m, d).start()
}

impl Deprecated {
    /// Deprecated since `at` (RFC 9745's `Deprecation` date, which may be in the future: the
    /// date from which it is).
    pub fn since(at: SystemTime) -> Self {
        let since = unix(at);
        Deprecated(Arc::new(Inner {
            since,
            sunset: None,
            deprecation: HeaderValue::from_str(&format!("@{since}"))
                .unwrap_or(HeaderValue::from_static("@0")),
            sunset_header: None,
            link: None,
        }))
    }

    /// Deprecated since midnight UTC of a date: `since_ymd(2026, 1, 31)`.
    pub fn since_ymd(year: i32, month: u32, day: u32) -> Self {
        Deprecated::since(ymd(year, month, day))
    }

    /// The route goes away at `at` (RFC 8594's `Sunset`).
    pub fn sunset(self, at: SystemTime) -> Self {
        let mut inner = self.inner();
        inner.sunset = Some(unix(at));
        inner.sunset_header = HeaderValue::from_str(&httpdate::fmt_http_date(at)).ok();
        Deprecated(Arc::new(inner))
    }

    /// [`sunset`](Self::sunset) at midnight UTC of a date.
    pub fn sunset_ymd(self, year: i32, month: u32, day: u32) -> Self {
        self.sunset(ymd(year, month, day))
    }

    /// A page that says what to use instead, as `Link: <url>; rel="deprecation"`. A URL that
    /// can't be a header value (control characters, `>`) is left out.
    pub fn link(self, url: &str) -> Self {
        let mut inner = self.inner();
        inner.link = (!url.contains('>'))
            .then(|| HeaderValue::from_str(&format!("<{url}>; rel=\"deprecation\"")).ok())
            .flatten();
        Deprecated(Arc::new(inner))
    }

    fn inner(&self) -> Inner {
        Inner {
            since: self.0.since,
            sunset: self.0.sunset,
            deprecation: self.0.deprecation.clone(),
            sunset_header: self.0.sunset_header.clone(),
            link: self.0.link.clone(),
        }
    }

    /// Deprecated since (unix seconds).
    pub fn since_unix(&self) -> u64 {
        self.0.since
    }

    /// The sunset (unix seconds), if any.
    pub fn sunset_unix(&self) -> Option<u64> {
        self.0.sunset
    }

    /// The headers the route's responses get: `Deprecation`, then `Sunset` and `Link` when set.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = vec![(DEPRECATION.clone(), self.0.deprecation.clone())];
        if let Some(s) = &self.0.sunset_header {
            out.push((SUNSET.clone(), s.clone()));
        }
        if let Some(l) = &self.0.link {
            out.push((LINK, l.clone()));
        }
        out
    }

    /// Adds the headers to a response that has no `Deprecation` header yet. `Link` is
    /// appended to the response's own links.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        if headers.contains_key(&DEPRECATION) {
            return;
        }
        headers.insert(DEPRECATION.clone(), self.0.deprecation.clone());
        if let Some(s) = &self.0.sunset_header {
            headers.insert(SUNSET.clone(), s.clone());
        }
        if let Some(l) = &self.0.link {
            headers.append(LINK, l.clone());
        }
    }
}

impl<S> Layer<S> for Deprecated {
    type Service = DeprecatedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeprecatedService {
            inner,
            marker: self.clone(),
        }
    }
}

/// The service made by [`Deprecated`] as a route layer: adds the headers and the marker to
/// every response (a handler's own marker wins).
#[derive(Clone, Debug)]
pub struct DeprecatedService<S> {
    inner: S,
    marker: Deprecated,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for DeprecatedService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = DeprecatedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        DeprecatedFuture {
            inner: self.inner.call(req),
            marker: Some(self.marker.clone()),
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`DeprecatedService`].
    pub struct DeprecatedFuture<F> {
        #[pin]
        inner: F,
        marker: Option<Deprecated>,
    }
}

impl<F, ResB, E> Future for DeprecatedFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = ready!(this.inner.poll(cx));
        if let (Ok(response), Some(marker)) = (&mut result, this.marker.take()) {
            let marker = match response.extensions().get::<Deprecated>() {
                Some(own) => own.clone(),
                None => {
                    response.extensions_mut().insert(marker.clone());
                    marker
                }
            };
            marker.apply(response.headers_mut());
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_midnight_utc() {
        assert_eq!(unix(ymd(1970, 1, 1)), 0);
        assert_eq!(unix(ymd(2000, 3, 1)), 951_868_800);
        assert_eq!(unix(ymd(2024, 2, 29)), 1_709_164_800);
        assert_eq!(unix(ymd(2026, 1, 31)), 1_769_817_600);
    }

    #[test]
    fn headers_are_added_once_and_links_appended() {
        let d = Deprecated::since_ymd(2026, 1, 31)
            .sunset_ymd(2026, 6, 30)
            .link("https://x.test/m");
        let mut h = HeaderMap::new();
        h.insert(LINK, HeaderValue::from_static("</next>; rel=\"next\""));
        d.apply(&mut h);
        d.apply(&mut h);
        assert_eq!(h[&DEPRECATION], "@1769817600");
        assert_eq!(h[&SUNSET], "Tue, 30 Jun 2026 00:00:00 GMT");
        let links: Vec<_> = h.get_all(LINK).iter().collect();
        assert_eq!(
            links,
            [
                "</next>; rel=\"next\"",
                "<https://x.test/m>; rel=\"deprecation\""
            ]
        );
        assert!(
            Deprecated::since_ymd(2026, 1, 1)
                .link("a>b")
                .headers()
                .len()
                == 1
        );
    }
}
