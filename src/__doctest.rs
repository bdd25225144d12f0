//! The set-up the crate's doctests share, hidden from the docs: an axum router wrapped in a
//! [`GaLayer`], one request through it, and a flush.

use std::time::Duration;

use axum::{body::Body, routing::get, Router};
use tower_service::Service;

use crate::GaLayer;

/// Sends `request` through a router whose only route is `/users/{id}`, wrapped in `ga`, and
/// waits until its hit is delivered or given up (panics if that takes over 5 s).
pub async fn send(ga: GaLayer, request: http::request::Builder) {
    send_to(ga, "/users/{id}", request).await
}

/// [`send`], through a router whose only route is `route`.
pub async fn send_to(ga: GaLayer, route: &str, request: http::request::Builder) {
    let handle = ga.handle();
    let mut app = Router::new()
        .route(route, get(|| async { "user" }))
        .layer(ga);
    let request = request.body(Body::empty()).expect("a valid request");
    let ready = std::future::poll_fn(|cx| Service::<http::Request<Body>>::poll_ready(&mut app, cx));
    let Ok(()) = ready.await;
    let Ok(_) = app.call(request).await;
    assert!(handle.flush(Duration::from_secs(5)).await);
}
