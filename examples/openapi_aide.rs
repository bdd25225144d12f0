//! Declaring the API's routes from the OpenAPI document that aide generates, so that the usage
//! table lists the documented routes nobody calls. No network: the hits go to a recording
//! transport and the one request is sent in-process.
//!
//! ```text
//! cargo run --example openapi_aide
//! ```
//!
//! aide documents the routes as you add them (`api_route`, with aide's `get`/`post`/...), and
//! `finish_api` writes the document and hands back a plain axum `Router`. So: build the routes,
//! finish, then build the layer from the finished document and put it on that `Router`.

use std::time::Duration;

use aide::{
    axum::{
        routing::{get, post},
        ApiRouter,
    },
    openapi::{Info, OpenApi},
};
use axum::{
    body::Body,
    extract::Path,
    http::{Request, StatusCode},
    Router,
};
use tower::ServiceExt;
use tower_ga::{testing::RecordingTransport, GaLayer};

// Plain axum handlers: aide documents `Path<T>` (T: JsonSchema), `String`, `&str`,
// `StatusCode`, tuples...; `Json`/`Query` need aide's `axum-json`/`axum-query` features.
async fn get_user(Path(id): Path<u64>) -> String {
    format!("user {id}")
}

async fn create_user(name: String) -> (StatusCode, String) {
    (StatusCode::CREATED, format!("created {name}"))
}

async fn delete_user(Path(_id): Path<u64>) -> StatusCode {
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut api = OpenApi {
        info: Info {
            title: "users".to_string(),
            ..Info::default()
        },
        ..OpenApi::default()
    };
    // `finish_api` fills `api.paths` ({"/users/{id}": {"get": ..., "delete": ...}, ...}) and
    // turns the `ApiRouter` into an axum `Router`.
    let app: Router = ApiRouter::new()
        .api_route("/users/{id}", get(get_user).delete(delete_user))
        .api_route("/users", post(create_user))
        .finish_api(&mut api);

    // Only now is the document complete: hand it to the layer.
    let ga = GaLayer::new("G-TEST123")
        .api_secret("s")
        .transport(RecordingTransport::new())
        .known_routes_openapi(&api)
        .build()?;
    let handle = ga.handle();
    let app = app.layer(ga);

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
