//! [`GaService`]: the middleware itself. Its `call` captures the request and wraps the inner
//! future; nothing here waits on anything.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::{Pending, ResponseFuture};
use crate::hit::{CaptureRules, Hit};
use crate::markers::NoTrack;
use crate::pipeline::Core;

/// The service [`GaLayer`](crate::GaLayer) wraps around yours.
#[derive(Clone)]
pub struct GaService<S> {
    inner: S,
    /// The sender, with its active configuration; `None` when the layer is disabled.
    core: Option<Arc<Core>>,
}

impl<S> GaService<S> {
    pub(crate) fn new(inner: S, core: Option<Arc<Core>>) -> Self {
        GaService { inner, core }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for GaService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GaService")
            .field("inner", &self.inner)
            .field("enabled", &self.core.is_some())
            .finish()
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for GaService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let pending = match &self.core {
            Some(core) if req.extensions().get::<NoTrack>().is_none() => {
                // Captured only while the sender takes hits: otherwise the hit would only be
                // dropped, and the request is counted as dropped when its response comes.
                let hit = core.capturing().map(|running| {
                    let cfg = &running.config;
                    let rules = CaptureRules {
                        credential_header: cfg.capture.credential_header.as_ref(),
                        trust_proxy: cfg.capture.trust_proxy,
                        trusted: &cfg.capture.trusted,
                        named: cfg.capture.named_headers.as_ref(),
                        geo: match cfg.capture.trust_proxy {
                            true => &cfg.capture.geo_headers,
                            false => &[],
                        },
                    };
                    Hit::capture(
                        req.method(),
                        req.uri(),
                        req.headers(),
                        req.extensions(),
                        &rules,
                        running.recycled(),
                    )
                });
                Some(Pending {
                    hit,
                    core: core.clone(),
                })
            }
            _ => None,
        };
        ResponseFuture::new(self.inner.call(req), pending)
    }
}
