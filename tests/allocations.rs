//! The request path allocates nothing of its own once the sender has handed hits back: a capture
//! fills a recycled hit, and wrapping a service shares the layer's sender instead of allocating.
//! axum's `Router::layer` wraps each route anew for every connection under `axum::serve`, and for
//! every request when a `Router` is called directly as a `Service` (as in tests and benches).
//!
//! This test binary counts the allocations each thread makes (a counting global allocator, one
//! counter per thread), so only the calling thread's are counted, not the sender's. Every counted
//! request is then checked to have been captured and sent, so "nothing allocated" can't come from
//! requests that were skipped.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{header, Request, Response};
use http_body_util::Empty;
use tower::util::MapResponseLayer;
use tower::{Layer, Service};
use tower_ga::testing::RecordingTransport;
use tower_ga::{GaLayer, Handle, MatchedRoute};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the thread's counter may already be gone while the thread exits.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is passed on unchanged to the system allocator; counting allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Requests per measured pass (well under the queue's capacity: none is dropped).
const N: usize = 300;

fn request<B>(i: usize, body: B) -> Request<B> {
    Request::get(format!("/users/{}?page=2&sort=desc", i % 10))
        .header(header::HOST, "api.example.com")
        .header(
            header::USER_AGENT,
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        )
        .header(header::AUTHORIZATION, format!("Bearer tok-{:032x}", i % 7))
        .header(
            header::REFERER,
            "https://app.example.com/dashboard?tab=users",
        )
        .body(body)
        .unwrap()
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn poll_now<F: Future>(fut: F) -> F::Output {
    // A `Waker` made from an `Arc` allocates: one per thread, made at its first use (in the
    // warm-up, before anything is counted).
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(Noop));
    }
    let waker = WAKER.with(Waker::clone);
    let mut cx = Context::from_waker(&waker);
    match pin!(fut).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the service did not answer at once"),
    }
}

fn layer() -> (GaLayer, Handle, RecordingTransport) {
    let rec = RecordingTransport::new();
    let layer = GaLayer::new("G-ALLOC12345")
        .api_secret("alloc-secret")
        .queue_capacity(1024)
        .transport(rec.clone());
    let handle = layer.handle();
    (layer, handle, rec)
}

/// Makes the sender's pool hold `n` hits: `n` requests captured at once (a hit is captured when
/// the service is called, and held until its future is polled), then sent.
fn fill_pool(ga: &GaLayer, handle: &Handle, n: usize) {
    let inner = tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let mut svc = ga.layer(inner);
    let futures: Vec<_> = (0..n)
        .map(|i| {
            let mut req = request(i, Body::empty());
            req.extensions_mut()
                .insert(MatchedRoute::new("/users/{id}"));
            svc.call(req)
        })
        .collect();
    for fut in futures {
        poll_now(fut).unwrap();
    }
    flush(handle);
}

fn flush(handle: &Handle) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(rt.block_on(handle.flush(Duration::from_secs(10))));
}

/// Allocations made by `call` over `reqs`, on this thread.
fn counted<B>(reqs: Vec<Request<B>>, mut call: impl FnMut(Request<B>)) -> u64 {
    let before = allocations();
    for req in reqs {
        call(req);
    }
    allocations() - before
}

#[test]
fn wrapping_and_calling_a_service_allocates_nothing_once_hits_are_recycled() {
    let (ga, handle, rec) = layer();
    let inner = tower::service_fn(|_req: Request<Empty<bytes::Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Empty::<bytes::Bytes>::new()))
    });
    let make = |i| {
        let mut req = request(i, Empty::new());
        req.extensions_mut()
            .insert(MatchedRoute::new("/users/{id}"));
        req
    };
    // Wrapped anew for every request, as axum's `Router::layer` does when a `Router` is called
    // directly as a `Service`.
    let mut through_layer = |req| {
        let mut svc = ga.layer(inner);
        poll_now(svc.call(req)).unwrap();
    };
    let mut bare = |req| {
        let mut svc = inner;
        poll_now(svc.call(req)).unwrap();
    };

    // Warm up: the first requests start the sender and allocate hits; the flush hands them back.
    let before = allocations();
    fill_pool(&ga, &handle, 2 * N);
    assert!(
        allocations() - before >= 2 * N as u64,
        "the first hits are allocated"
    );

    let bare_allocs = counted((0..N).map(make).collect(), &mut bare);
    let ga_allocs = counted((0..N).map(make).collect(), &mut through_layer);
    assert_eq!(bare_allocs, 0, "the bare service allocates nothing");
    assert_eq!(
        ga_allocs, 0,
        "through the layer, {N} requests allocated {ga_allocs} times"
    );

    flush(&handle);
    let stats = handle.stats();
    assert_eq!((stats.tracked, stats.sent), (3 * N as u64, 3 * N as u64));
    assert_eq!(
        rec.ga4_events().len(),
        3 * N,
        "every counted request was captured and sent"
    );
}

#[test]
fn an_axum_router_allocates_no_more_with_the_layer_than_with_a_layer_that_does_nothing() {
    let (ga, handle, rec) = layer();
    let app = || Router::new().route("/users/{id}", get(|| async { "hello" }));
    let mut with_ga = app().layer(ga.clone());
    // The baseline: a layer that does nothing but, like `GaLayer`, isn't zero-sized (called as a
    // `Service`, axum boxes a copy of the layer for every request, which allocates unless the
    // layer is zero-sized).
    let held = Arc::new(());
    let mut with_noop = app().layer(MapResponseLayer::new(move |r| {
        let _ = &held;
        r
    }));
    let make = |i| request(i, Body::empty());

    fill_pool(&ga, &handle, 2 * N);
    // One call of each router first, so neither pass counts a one-time allocation of axum's.
    poll_now(with_noop.call(make(0))).unwrap();
    poll_now(with_ga.call(make(0))).unwrap();
    flush(&handle);

    // Alternate, so neither pass runs on a warmer allocator than the other.
    let mut extra: Vec<i64> = Vec::new();
    for _ in 0..2 {
        let noop = counted((0..N).map(make).collect(), |req| {
            poll_now(with_noop.call(req)).unwrap();
        });
        let ga = counted((0..N).map(make).collect(), |req| {
            poll_now(with_ga.call(req)).unwrap();
        });
        assert!(noop > 0, "axum itself allocates per request");
        extra.push(ga as i64 - noop as i64);
        flush(&handle);
    }
    assert_eq!(
        extra,
        [0, 0],
        "allocations the layer added per {N} requests"
    );

    let stats = handle.stats();
    assert_eq!(
        (stats.tracked, stats.sent),
        (4 * N as u64 + 1, 4 * N as u64 + 1)
    );
    assert_eq!(rec.ga4_events().len(), 4 * N + 1);
}
