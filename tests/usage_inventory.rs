//! The never-called list is exact: real-shaped OpenAPI documents (`tests/data/openapi/`) mounted
//! under their base paths on real axum routers, more declared routes than the table's 512
//! undeclared rows, invented methods, parameter names and trailing slashes, HEAD and OPTIONS,
//! 405 answers, and every inventory error with what it says.

mod common;
use common::ga4::{collector, layer, settle};
use common::get_req;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use http::{Method, Request, StatusCode};
use tower::ServiceExt;
use tower_ga::usage::UsageSnapshot;
use tower_ga::{ConfigError, GaLayer};

fn doc(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/openapi/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A router serving each `(method, template)` with a handler that answers 200.
fn router(routes: &[(Method, String)], ga: GaLayer) -> Router {
    let mut by_path: BTreeMap<&str, MethodRouter> = BTreeMap::new();
    for (method, path) in routes {
        let filter = MethodFilter::try_from(method.clone()).unwrap();
        let handler = || async { "ok" };
        let entry = by_path.remove(path.as_str());
        let mr = match entry {
            Some(mr) => mr.on(filter, handler),
            None => on(filter, handler),
        };
        by_path.insert(path, mr);
    }
    by_path
        .into_iter()
        .fold(Router::new(), |r, (path, mr)| r.route(path, mr))
        .layer(ga)
}

/// A path a template matches: each parameter filled in.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { "p1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

async fn call(app: &Router, method: &Method, path: &str) -> StatusCode {
    let req = Request::builder()
        .method(method.clone())
        .uri(path)
        .header("host", "api.test")
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(req).await.unwrap().status()
}

fn never_called(u: &UsageSnapshot) -> Vec<String> {
    let mut v: Vec<String> = u
        .never_called()
        .map(|r| format!("{} {}", r.method, r.route))
        .collect();
    v.sort();
    v
}

fn routes(list: &[&str]) -> Vec<(Method, String)> {
    list.iter()
        .map(|e| {
            let (m, p) = e.split_once(' ').unwrap();
            (Method::from_bytes(m.as_bytes()).unwrap(), p.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_512_declared_routes_and_1000_invented_methods_the_list_is_exact() {
    let c = collector().await;
    let doc = doc("large-3.0.json");
    let mut declared: Vec<(Method, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for key in item.as_object().unwrap().keys() {
            if let Ok(m) = Method::from_bytes(key.to_ascii_uppercase().as_bytes()) {
                if ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&m.as_str()) {
                    declared.push((m, path.clone()));
                }
            }
        }
    }
    assert_eq!(declared.len(), 640);
    let ga = layer(&c).queue_capacity(8192).known_routes_openapi(&doc);
    let handle = ga.handle();
    let app = router(&declared, ga.build().unwrap());
    // Every route called once, but every 97th.
    let mut uncalled = Vec::new();
    for (i, (m, path)) in declared.iter().enumerate() {
        if i % 97 == 0 {
            uncalled.push(format!("{m} {path}"));
            continue;
        }
        assert_eq!(
            call(&app, m, &concrete(path)).await,
            StatusCode::OK,
            "{m} {path}"
        );
    }
    // Then 1,000 requests with made-up methods, on paths that exist.
    for i in 0..1000 {
        let method = Method::from_bytes(format!("M{i}").as_bytes()).unwrap();
        let (_, path) = &declared[i % declared.len()];
        assert_eq!(
            call(&app, &method, &concrete(path)).await,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
    let events = settle(&handle, &c).await;
    let u = handle.usage();
    uncalled.sort();
    assert_eq!(never_called(&u), uncalled);
    assert_eq!(u.routes.len(), 640, "one row per declared route, no other");
    assert!(u.routes.iter().all(|r| r.in_inventory));
    assert!(u.other.is_none() && u.unmatched.is_none());
    let other = u.other_methods.as_ref().expect("one OTHER row");
    assert_eq!(
        (other.method.as_str(), other.method_not_allowed),
        ("OTHER", 1000)
    );
    assert_eq!(u.calls, 640 - uncalled.len() as u64 + 1000);
    // GA saw the invented methods as OTHER: no page per invented method.
    let titles: std::collections::HashSet<&str> = events
        .iter()
        .filter_map(|e| e.param_str("page_title"))
        .filter(|t| !t.starts_with(['G', 'P', 'D', 'H']))
        .collect();
    assert!(
        titles.iter().all(|t| t.starts_with("OTHER /")),
        "{titles:?}"
    );
    assert!(events
        .iter()
        .all(|e| e.param_str("http_method") != Some("M1")));
}

/// Each document with the routes it declares, written out by hand, mounted where its base path
/// says.
fn documents() -> [(&'static str, Vec<(Method, String)>); 3] {
    [
        (
            "servers-3.0.json",
            routes(&[
                "DELETE /v1/pets/{petId}",
                "GET /v1/owners",
                "GET /v1/owners/{ownerId}",
                "GET /v1/pets",
                "GET /v1/pets/{petId}",
                "GET /v1/pets/{petId}/photos",
                "GET /v1/stats",
                "HEAD /v1/health",
                "POST /v1/pets",
                "POST /v1/pets/{petId}/photos",
                "PUT /v1/pets/{petId}",
            ]),
        ),
        (
            "refs-3.1.json",
            routes(&[
                "DELETE /api/v2/orders/{orderId}",
                "GET /api/v2/catalog",
                "GET /api/v2/orders",
                "GET /api/v2/orders/{orderId}",
                "GET /api/v2/orders/{orderId}/lines/{lineNo}",
                "OPTIONS /api/v2/catalog",
                "POST /api/v2/orders",
                "PUT /api/v2/orders/{orderId}/lines/{lineNo}",
            ]),
        ),
        (
            "swagger-2.0.json",
            routes(&[
                "DELETE /v1/sessions/current",
                "DELETE /v1/users/{userId}",
                "GET /v1/users",
                "GET /v1/users/{userId}",
                "GET /v1/users/{userId}/keys",
                "PATCH /v1/users/{userId}",
                "POST /v1/sessions",
                "POST /v1/users",
            ]),
        ),
    ]
}

#[tokio::test]
async fn documents_under_their_base_paths_give_no_undeclared_row() {
    for (name, declared) in documents() {
        let c = collector().await;
        let ga = layer(&c).known_routes_openapi(&doc(name)).build().unwrap();
        let handle = ga.handle();
        // Before any request, every declared route is listed.
        assert_eq!(
            handle.usage().never_called().count(),
            declared.len(),
            "{name}"
        );
        let app = router(&declared, ga);
        // All called but the last (HEAD and OPTIONS included, which GA never sees).
        let (last, rest) = declared.split_last().unwrap();
        for (m, path) in rest {
            assert_eq!(
                call(&app, m, &concrete(path)).await,
                StatusCode::OK,
                "{name}: {m} {path}"
            );
        }
        settle(&handle, &c).await;
        let u = handle.usage();
        assert!(
            u.routes.iter().all(|r| r.in_inventory),
            "{name}: {:?}",
            u.routes
        );
        assert!(u.unmatched.is_none(), "{name}");
        assert_eq!(
            never_called(&u),
            [format!("{} {}", last.0, last.1)],
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_document_mounted_elsewhere_says_where() {
    let c = collector().await;
    let ga = layer(&c).known_routes_openapi_at(&doc("swagger-2.0.json"), "/");
    let handle = ga.handle();
    let app = router(&routes(&["GET /users", "GET /users/{id}"]), ga);
    call(&app, &Method::GET, "/users").await;
    call(&app, &Method::GET, "/users/7").await;
    settle(&handle, &c).await;
    let u = handle.usage();
    assert!(u.routes.iter().all(|r| r.in_inventory));
    assert_eq!(u.never_called().count(), 6);
    assert!(!never_called(&u).contains(&"GET /users/{userId}".to_owned()));
}

#[tokio::test]
async fn parameter_names_and_a_trailing_slash_do_not_matter() {
    let c = collector().await;
    let ga = layer(&c).known_routes([
        "GET /users/{userId}",
        "GET /items/",
        "GET /files/{*path}",
        "GET /v1/things:batchGet",
    ]);
    let handle = ga.handle();
    let app = router(
        &routes(&[
            "GET /users/{id}",
            "GET /items",
            "GET /files/{*rest}",
            "GET /v1/things:batchGet",
        ]),
        ga,
    );
    for path in [
        "/users/7",
        "/items",
        "/files/a/b.txt",
        "/v1/things:batchGet",
    ] {
        assert_eq!(
            call(&app, &Method::GET, path).await,
            StatusCode::OK,
            "{path}"
        );
    }
    settle(&handle, &c).await;
    let u = handle.usage();
    assert_eq!(never_called(&u), Vec::<String>::new());
    assert!(
        u.routes.iter().all(|r| r.in_inventory && r.calls == 1),
        "{:?}",
        u.routes
    );
    // Shown as declared.
    assert!(u.routes.iter().any(|r| r.route == "/users/{userId}"));
}

#[tokio::test]
async fn head_and_options_count_though_ga_never_sees_them() {
    let c = collector().await;
    let ga = layer(&c).known_routes(["GET /status", "HEAD /status", "OPTIONS /status"]);
    let handle = ga.handle();
    let app = router(&routes(&["GET /status", "OPTIONS /status"]), ga);
    assert_eq!(call(&app, &Method::HEAD, "/status").await, StatusCode::OK);
    assert_eq!(
        call(&app, &Method::OPTIONS, "/status").await,
        StatusCode::OK
    );
    get_req(&app, "/health", &[]).await; // a probe the default filter skips: unmatched here
    let events = settle(&handle, &c).await;
    assert!(events.is_empty(), "the default filter keeps these from GA");
    assert_eq!(handle.stats().tracked, 0);
    let u = handle.usage();
    assert_eq!(never_called(&u), ["GET /status"]);
    assert_eq!(u.unmatched.as_ref().map(|r| r.calls), Some(1));
    assert_eq!(u.calls, 3);
}

#[tokio::test]
async fn a_405_is_no_call_of_a_declared_route() {
    let c = collector().await;
    let ga = layer(&c).known_routes(["GET /things/{id}", "DELETE /things/{id}"]);
    let handle = ga.handle();
    let app = router(&routes(&["GET /things/{id}"]), ga);
    call(&app, &Method::GET, "/things/1").await;
    assert_eq!(
        call(&app, &Method::DELETE, "/things/1").await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    settle(&handle, &c).await;
    let u = handle.usage();
    assert_eq!(never_called(&u), ["DELETE /things/{id}"]);
    let delete = u.routes.iter().find(|r| r.method == "DELETE").unwrap();
    assert_eq!((delete.calls, delete.method_not_allowed), (0, 1));
    assert_eq!(u.calls, 2);
}

#[test]
fn inventory_errors_say_what_to_fix() {
    let ga = || GaLayer::new("G-TEST123").api_secret("s");
    let error = |layer: GaLayer| match layer.build() {
        Err(ConfigError::InvalidRoute(why)) => why,
        other => panic!("{other:?}"),
    };
    let why = error(ga().known_routes_openapi(&doc("multi-file/openapi.json")));
    assert!(
        why.contains("\"paths/users.json\"") && why.contains("bundle"),
        "{why}"
    );
    let why = error(ga().known_routes_openapi(&doc("empty-paths-3.0.json")));
    assert!(why.contains("declares no route"), "{why}");
    let why = error(ga().known_routes_openapi_json("openapi: 3.0.0\npaths: {}\n"));
    assert!(
        why.contains("YAML") && why.contains("serde_json::Value"),
        "{why}"
    );
    let why = error(ga().known_routes_openapi_json("{\"openapi\": "));
    assert!(why.contains("not JSON"), "{why}");
    let why = error(ga().known_routes_openapi(&serde_json::json!({"paths": {"/a": {"get": {}}}})));
    assert!(why.contains("neither `openapi`"), "{why}");
    let why = error(ga().known_routes(["GET /users/:id"]));
    assert!(why.contains("`{id}`"), "{why}");
    let why = error(ga().known_routes(["GET /files/{*path}/meta"]));
    assert!(why.contains("catch-all"), "{why}");
    // A 3.1 document with only webhooks declares nothing, and is no error.
    let hooks = ga().known_routes_openapi(&doc("webhooks-only-3.1.json"));
    assert_eq!(hooks.handle().usage().routes.len(), 0);
    assert!(hooks.build().is_ok());
}

#[tokio::test]
async fn a_bad_inventory_never_stops_tracking() {
    let c = collector().await;
    // Not built: the error is logged, and the layer tracks with no route declared.
    let ga = layer(&c)
        .known_routes(["GET /orders"])
        .known_routes_openapi_json("{ not json");
    let handle = ga.handle();
    let app = router(&routes(&["GET /orders"]), ga).route_service("/usage", handle.usage_service());
    assert_eq!(call(&app, &Method::GET, "/orders").await, StatusCode::OK);
    let events = settle(&handle, &c).await;
    assert_eq!(events.len(), 1, "the request's hit reached GA");
    let u = handle.usage();
    assert!(u.inventory_error.as_deref().unwrap().contains("not JSON"));
    assert_eq!(u.never_called().count(), 0);
    assert!(!u.routes[0].in_inventory);
    let page = get_req(&app, "/usage", &[]).await;
    let html = axum::body::to_bytes(page.into_body(), 1 << 20)
        .await
        .unwrap();
    let html = String::from_utf8_lossy(&html);
    assert!(
        html.contains("could not be read") && html.contains("not JSON"),
        "{html}"
    );
}
