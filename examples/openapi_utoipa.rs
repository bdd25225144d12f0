//! Declaring the API's routes from the OpenAPI document that utoipa generates, so that the usage
//! table lists the documented routes nobody calls. No network: the hits go to a recording
//! transport and the one request is sent in-process.
//!
//! ```text
//! cargo run --example openapi_utoipa
//! ```
//!
//! utoipa writes the routes twice, once in `#[utoipa::path(...)]` and once in the axum router:
//! keep the two in step (utoipa-axum's `OpenApiRouter` and `routes!` do it for you). The path
//! templates are the same in both, `{id}` being axum 0.8's syntax as well as OpenAPI's.

use std::time::Duration;

use axum::{
    body::Body,
    extract::Path,
    http::{Request, StatusCode},
    routing::{get, post},
    Router,
};
use tower::ServiceExt;
use tower_ga::{testing::RecordingTransport, GaLayer};
use utoipa::OpenApi;

/// Get a user.
#[utoipa::path(
    get,
    path = "/users/{id}",
    params(("id" = u64, Path, description = "User id")),
    responses((status = 200, description = "The user", body = String))
)]
async fn get_user(Path(id): Path<u64>) -> String {
    format!("user {id}")
}

/// Create a user.
#[utoipa::path(
    post,
    path = "/users",
    request_body = String,
    responses((status = 201, description = "Created"))
)]
async fn create_user(name: String) -> (StatusCode, String) {
    (StatusCode::CREATED, format!("created {name}"))
}

/// Delete a user.
#[utoipa::path(
    delete,
    path = "/users/{id}",
    params(("id" = u64, Path, description = "User id")),
    responses((status = 204, description = "Deleted"))
)]
async fn delete_user(Path(_id): Path<u64>) -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The document: `ApiDoc::openapi()` builds a `utoipa::openapi::OpenApi`, which serializes to
/// `{"openapi": "3.1.0", "paths": {"/users/{id}": {"get": ..., "delete": ...}, ...}}`.
#[derive(OpenApi)]
#[openapi(paths(get_user, create_user, delete_user))]
struct ApiDoc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Hand the document itself to the layer: anything that serializes to OpenAPI will do.
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .transport(RecordingTransport::new())
        .known_routes_openapi(&ApiDoc::openapi())
        .build()?;
    let handle = ga.handle();

    let app = Router::new()
        .route("/users/{id}", get(get_user).delete(delete_user))
        .route("/users", post(create_user))
        .layer(ga);

    // One call, in-process.
    let response = app
        .oneshot(Request::get("/users/7").body(Body::empty())?)
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(handle.flush(Duration::from_secs(5)).await);

    // The documented routes nobody called: deprecation candidates.
    let usage = handle.usage();
    let mut never_called: Vec<(String, String)> = usage
        .never_called()
        .map(|r| (r.method.clone(), r.route.clone()))
        .collect();
    never_called.sort();
    for (method, route) in &never_called {
        println!("never called: {method} {route}");
    }
    assert_eq!(
        never_called,
        [
            ("DELETE".to_string(), "/users/{id}".to_string()),
            ("POST".to_string(), "/users".to_string()),
        ]
    );
    Ok(())
}
