//! [`UsageService`]: the usage page and its JSON, as a tower `Service`.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{header, Request, Response, StatusCode};
use tower_service::Service;

use super::snapshot::UsageSnapshot;
use super::table::UsageTable;

/// The usage page, from [`Handle::usage_service`](crate::Handle::usage_service): mount it on a
/// path of your choosing, behind your own authentication (it lists every route and its traffic).
/// `Accept: application/json` gets the [`UsageSnapshot`]; anything else, the HTML page.
#[derive(Clone)]
pub struct UsageService {
    pub(crate) table: Arc<Mutex<UsageTable>>,
    /// The sender's `dropped` counter: requests no row saw.
    pub(crate) dropped: Arc<dyn Fn() -> u64 + Send + Sync>,
}

impl std::fmt::Debug for UsageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageService").finish_non_exhaustive()
    }
}

impl UsageService {
    pub(crate) fn snapshot(&self) -> UsageSnapshot {
        let dropped = (self.dropped)();
        // Copied out under the lock, then serialized without it.
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot(dropped)
    }
}

impl<B> Service<Request<B>> for UsageService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let json = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
        let snapshot = self.snapshot();
        let (body, kind) = if json {
            let body = serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".into());
            (body, "application/json")
        } else {
            (super::page::html(&snapshot), "text/html; charset=utf-8")
        };
        let response = Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, kind)
            .header(header::CACHE_CONTROL, "no-store")
            .body(body)
            .unwrap_or_default();
        ready(Ok(response))
    }
}
