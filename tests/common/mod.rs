//! Helpers shared by the integration tests.

use axum::body::Body;
use axum::response::Response;
use axum::Router;
use tower::ServiceExt;

/// Sends `GET uri` with `Host: api.example.com` and `headers` through a router.
pub async fn get_req(app: &Router, uri: &str, headers: &[(&str, &str)]) -> Response {
    let mut b = http::Request::get(uri).header("host", "api.example.com");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    app.clone()
        .oneshot(b.body(Body::empty()).unwrap())
        .await
        .unwrap()
}
