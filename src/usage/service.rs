//! [`UsageService`]: the usage page and its JSON, as a tower `Service`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::SystemTime;

use http::{header, Request, Response, StatusCode};
use tower_service::Service;

use super::snapshot::UsageSnapshot;
use super::store::StoreHandle;
use super::table::UsageTable;
use super::window;

/// The usage page, from [`Handle::usage_service`](crate::Handle::usage_service): mount it on a
/// path of your choosing, behind your own authentication (it lists every route and its traffic).
/// `Accept: application/json` gets the [`UsageSnapshot`]; anything else, the HTML page. With a
/// usage store, `?days=N` chooses the window (default 30 days).
#[derive(Clone)]
pub struct UsageService {
    pub(crate) table: Arc<Mutex<UsageTable>>,
    /// The sender's `dropped` counter: requests no row saw.
    pub(crate) dropped: Arc<dyn Fn() -> u64 + Send + Sync>,
    /// The usage store, once one is configured and the sender started.
    pub(crate) store: Arc<OnceLock<StoreHandle>>,
}

/// The window a page shows without `?days=`: 30 days.
pub const DEFAULT_WINDOW_DAYS: u32 = 30;

impl std::fmt::Debug for UsageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageService").finish_non_exhaustive()
    }
}

impl UsageService {
    /// Since the sender started, from memory.
    pub(crate) fn snapshot(&self) -> UsageSnapshot {
        let dropped = (self.dropped)();
        // Copied out under the lock, then serialized without it.
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot(dropped)
    }

    /// The last `days` days from the store (with what it hasn't written yet); without a store,
    /// or when it can't be read, since the sender started (`store_error` says why).
    pub(crate) async fn window(&self, days: u32) -> UsageSnapshot {
        let days = days.clamp(1, 3660);
        let Some(store) = self.store.get() else {
            return self.snapshot();
        };
        let now = SystemTime::now();
        match store.read(window::first_day(days, now)).await {
            Ok(stored) => {
                let dropped = (self.dropped)();
                let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
                window::snapshot(&table, stored, days, dropped, now)
            }
            Err(e) => {
                let mut snap = self.snapshot();
                snap.store_error = Some(e);
                snap
            }
        }
    }
}

/// `days=N` in a query string.
fn days_of(query: Option<&str>) -> u32 {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "days")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(DEFAULT_WINDOW_DAYS)
}

impl<B> Service<Request<B>> for UsageService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let json = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
        let days = days_of(req.uri().query());
        let this = self.clone();
        Box::pin(async move {
            let snapshot = this.window(days).await;
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
            Ok(response)
        })
    }
}
