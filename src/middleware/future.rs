//! [`ResponseFuture`]: completes the hit when the inner service produces its response.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::Response;

use crate::hit::Hit;
use crate::hooks::guarded;
use crate::markers::{Deprecated, NoTrack};
use crate::pipeline::Core;

pub(crate) struct Pending {
    /// `None` when the request was shed (not captured: the queue was full).
    pub(crate) hit: Option<Box<Hit>>,
    pub(crate) core: Arc<Core>,
}

/// Filters a completed hit and hands it over: to be reported, or, when the filters keep it
/// from Google, to be counted in the usage table only (every request the layer sees is).
fn submit(core: &Core, mut hit: Box<Hit>) {
    let track = |cfg: &crate::config::Config| {
        !(cfg.capture.skip_unmatched && hit.route().is_none())
            // A filter that panics must not fail the request: its hit isn't reported.
            && guarded("filter", || cfg.capture.filter.track(&hit)) == Some(true)
    };
    match core.running().map(|r| &r.config) {
        Some(cfg) if track(cfg) => core.offer(hit),
        Some(_) => {
            hit.report = false;
            core.offer_unreported(hit);
        }
        None => core.recycle(hit),
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`GaService`](crate::GaService).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, pending: Option<Pending>) -> Self {
        ResponseFuture { inner, pending }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = ready!(this.inner.poll(cx));
        if let Ok(response) = &mut result {
            // A handler's `Deprecated` extension: the headers a route layer would have added,
            // tracked or not.
            if let Some(d) = response.extensions().get::<Deprecated>().cloned() {
                d.apply(response.headers_mut());
            }
        }
        // An error means no response was produced: nothing to report.
        if let Some(p) = this.pending.take() {
            let tracked = match &result {
                Ok(response) if response.extensions().get::<NoTrack>().is_none() => Some(response),
                _ => None,
            };
            match (p.hit, tracked) {
                (Some(mut hit), Some(response)) => {
                    hit.complete(response.status(), response.extensions());
                    submit(&p.core, hit);
                }
                (Some(hit), None) => p.core.recycle(hit),
                (None, Some(_)) => p.core.shed(),
                (None, None) => {}
            }
        }
        Poll::Ready(result)
    }
}
