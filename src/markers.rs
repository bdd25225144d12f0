//! Per-route annotations: [`PageTitle`], [`NoTrack`], [`UserId`], [`ClientId`],
//! [`LocationFromRoute`] and [`Deprecated`].
//!
//! Each marker travels in one of three ways, and the layer reads all three:
//!
//! 1. as a **route layer**, `get(handler).layer(PageTitle::new("User detail"))`: the marker layer puts
//!    itself into the *response* extensions, where the router-level [`GaLayer`](crate::GaLayer) sees it;
//! 2. as a **response extension** returned by a handler or an inner middleware,
//!    `(Extension(UserId::new("42")), body)`;
//! 3. as a **request extension** inserted by a middleware that runs *outside* the `GaLayer`.
//!
//! A router-level layer cannot see what inner layers insert into the *request* extensions, which is
//! why the route layers write to the response instead. When a marker is found in several places,
//! the response wins over the request, and a handler's own response extension wins over the route layer's.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use std::net::IpAddr;

mod deprecated;
pub use deprecated::{Deprecated, DeprecatedFuture, DeprecatedService, DEPRECATION, SUNSET};

/// The route template that matched a request, such as `/users/{id}`.
///
/// axum users get it for free from `MatchedPath`. Users of another router can insert a
/// `MatchedRoute` into the request extensions (before the [`GaLayer`](crate::GaLayer) runs) or the
/// response extensions, and get the same titles and `http_route` parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedRoute(pub(crate) Arc<str>);

impl MatchedRoute {
    /// Creates a route template.
    pub fn new(template: impl Into<Arc<str>>) -> Self {
        Self(template.into())
    }

    /// The template.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The client address as seen by the application, for users who don't use axum's `ConnectInfo`:
/// insert it into the request extensions before the [`GaLayer`](crate::GaLayer) runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

macro_rules! text_marker {
    ($(#[$doc:meta])* $name:ident, $debug:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Creates the marker. Cloning it later is a reference-count increment.
            pub fn new(value: impl Into<Arc<str>>) -> Self {
                Self(value.into())
            }

            /// The marker's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple($debug).field(&self.as_str()).finish()
            }
        }

        impl<S> Layer<S> for $name {
            type Service = Marked<S, $name>;

            fn layer(&self, inner: S) -> Self::Service {
                Marked { inner, marker: self.clone() }
            }
        }
    };
}

text_marker!(
    /// The page title to report for a route, instead of the default `METHOD /route/{template}`.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tower_ga::PageTitle;
    ///
    /// let app: Router = Router::new()
    ///     .route("/users/{id}", get(|| async { "user" }).layer(PageTitle::new("User detail")));
    /// ```
    PageTitle,
    "PageTitle"
);

text_marker!(
    /// The application's own id for the user behind a request, sent as GA's `user_id` (v1: `uid`).
    ///
    /// It must not be personally identifiable (no e-mail addresses or names): use an opaque account
    /// number. It also makes the default client id stable across the user's devices.
    ///
    /// ```
    /// use axum::Extension;
    /// use tower_ga::UserId;
    ///
    /// async fn me() -> (Extension<UserId>, &'static str) {
    ///     (Extension(UserId::new("42")), "me")
    /// }
    /// ```
    UserId,
    "UserId"
);

text_marker!(
    /// An explicit GA client id for a request, overriding the configured
    /// [client id strategy](crate::GaLayer::client_id_with). Sent as given (truncated to the limit).
    ClientId,
    "ClientId"
);

/// Opts a route out of tracking.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_ga::NoTrack;
///
/// let app: Router = Router::new().route("/health", get(|| async { "ok" }).layer(NoTrack));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NoTrack;

impl<S> Layer<S> for NoTrack {
    type Service = Marked<S, NoTrack>;

    fn layer(&self, inner: S) -> Self::Service {
        Marked {
            inner,
            marker: NoTrack,
        }
    }
}

/// Whether a route reports its template (`/users/{id}`) as the path of its `page_location`
/// rather than the request's own (`/users/7`), overriding
/// [`GaLayer::location_from_route`](crate::GaLayer::location_from_route) for that route. Read
/// from the response only (as a route layer, or a handler's response extension): it is a route's
/// own choice, and the request's extensions are searched for it on no request.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_ga::LocationFromRoute;
///
/// // Reset links carry a token in their path: GA sees `/reset/{token}`.
/// let app: Router = Router::new()
///     .route("/reset/{token}", get(|| async { "ok" }).layer(LocationFromRoute(true)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LocationFromRoute(pub bool);

impl<S> Layer<S> for LocationFromRoute {
    type Service = Marked<S, LocationFromRoute>;

    fn layer(&self, inner: S) -> Self::Service {
        Marked {
            inner,
            marker: *self,
        }
    }
}

/// The service made by a marker used as a layer: it adds the marker to every response's extensions
/// unless the inner service already put one there.
#[derive(Clone, Debug)]
pub struct Marked<S, M> {
    inner: S,
    marker: M,
}

impl<S, M, ReqB, ResB> Service<Request<ReqB>> for Marked<S, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    M: Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = MarkedFuture<S::Future, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        MarkedFuture {
            inner: self.inner.call(req),
            marker: Some(self.marker.clone()),
        }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`Marked`].
    pub struct MarkedFuture<F, M> {
        #[pin]
        inner: F,
        marker: Option<M>,
    }
}

impl<F, M, ResB, E> Future for MarkedFuture<F, M>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    M: Clone + Send + Sync + 'static,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = ready!(this.inner.poll(cx));
        if let (Ok(response), Some(marker)) = (&mut result, this.marker.take()) {
            let extensions = response.extensions_mut();
            if extensions.get::<M>().is_none() {
                extensions.insert(marker);
            }
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    async fn respond(ext: Option<PageTitle>) -> Result<Response<()>, Infallible> {
        let mut res = Response::new(());
        if let Some(t) = ext {
            res.extensions_mut().insert(t);
        }
        Ok(res)
    }

    #[tokio::test]
    async fn route_layer_marks_the_response() {
        let svc = tower::service_fn(|_: Request<()>| respond(None));
        let mut marked = PageTitle::new("Detail").layer(svc);
        let res = marked.call(Request::new(())).await.unwrap();
        assert_eq!(
            res.extensions().get::<PageTitle>().unwrap().as_str(),
            "Detail"
        );
    }

    #[tokio::test]
    async fn handler_extension_wins_over_route_layer() {
        let svc = tower::service_fn(|_: Request<()>| respond(Some(PageTitle::new("From handler"))));
        let mut marked = PageTitle::new("From layer").layer(svc);
        let res = marked.call(Request::new(())).await.unwrap();
        assert_eq!(
            res.extensions().get::<PageTitle>().unwrap().as_str(),
            "From handler"
        );
    }

    #[test]
    fn debug_shows_marker_text() {
        assert_eq!(format!("{:?}", UserId::new("7")), "UserId(\"7\")");
    }
}
