//! The API's routes as the application declares them: `"METHOD /template"` strings, or an
//! OpenAPI 3 document's `paths`.

use http::Method;

/// A declared route: a method and a template in axum's syntax (`/users/{id}`).
pub(crate) type Route = (Method, String);

const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
];

/// Parses `"GET /users/{id}"`; the error names the entry.
pub(crate) fn parse_route(entry: &str) -> Result<Route, String> {
    let bad = || format!("{entry:?} is not \"METHOD /template\"");
    let (method, template) = entry.trim().split_once(' ').ok_or_else(bad)?;
    let method = method.trim().to_ascii_uppercase();
    let template = template.trim();
    if !METHODS.contains(&method.as_str()) || !template.starts_with('/') || template.contains(' ') {
        return Err(bad());
    }
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| bad())?;
    Ok((method, template.to_owned()))
}

/// Each `paths` key × method of an OpenAPI 3 document (its `{param}` syntax is axum's).
pub(crate) fn parse_openapi(doc: &serde_json::Value) -> Result<Vec<Route>, String> {
    let paths = doc
        .get("paths")
        .and_then(serde_json::Value::as_object)
        .ok_or("the OpenAPI document has no `paths` object")?;
    let mut routes = Vec::new();
    for (path, item) in paths {
        let item = item
            .as_object()
            .ok_or_else(|| format!("path {path:?} is not an object"))?;
        for key in item.keys() {
            // Path items also hold `parameters`, `summary`, `servers`...: only methods count.
            let upper = key.to_ascii_uppercase();
            if METHODS.contains(&upper.as_str()) {
                routes.push(parse_route(&format!("{upper} {path}"))?);
            }
        }
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_openapi_paths() {
        assert_eq!(
            parse_route("get /users/{id}"),
            Ok((Method::GET, "/users/{id}".into()))
        );
        assert!(parse_route("FETCH /x").is_err());
        assert!(parse_route("GET users").is_err());
        assert!(parse_route("/users").is_err());
        let doc = serde_json::json!({"openapi": "3.0.0", "paths": {
            "/users/{id}": {"get": {}, "delete": {}, "parameters": []},
            "/orders": {"post": {}}
        }});
        let mut r = parse_openapi(&doc).unwrap();
        r.sort_by(|a, b| (a.1.clone(), a.0.as_str()).cmp(&(b.1.clone(), b.0.as_str())));
        assert_eq!(
            r,
            [
                (Method::POST, "/orders".into()),
                (Method::DELETE, "/users/{id}".into()),
                (Method::GET, "/users/{id}".into())
            ]
        );
        assert!(parse_openapi(&serde_json::json!({"info": {}})).is_err());
    }
}
