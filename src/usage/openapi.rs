//! The routes an OpenAPI document declares: OpenAPI 3.x and Swagger 2.0, each `paths` entry ×
//! method, under the document's base path.
//!
//! - The base path is the path of the first `servers` URL (3.x; a path item's or an
//!   operation's own `servers` win over the document's; `{variables}` take their defaults), or
//!   `basePath` (2.0). A mount point given by the application replaces it.
//! - A path item that is a `$ref` to `#/…` inside the document is resolved (its siblings win
//!   over what it points to); a reference to another file is an error: the document must be
//!   bundled first.
//! - `webhooks` (3.1) are requests the API sends, not routes: a document with only webhooks
//!   declares nothing, with a warning. A document that declares no route at all is an error.

use http::Method;
use serde_json::{Map, Value};

use super::inventory::{Route, METHODS};

/// How many `$ref`s one path item may go through before it counts as a loop.
const MAX_REF_HOPS: usize = 16;

/// What a document declares.
#[derive(Debug, Default)]
pub(crate) struct Declared {
    pub(crate) routes: Vec<Route>,
    /// What the application should know but may well want (webhooks only, methods that can't be
    /// declared): logged when the document is declared.
    pub(crate) warnings: Vec<String>,
}

/// The routes of a document, under its own base path, or under `mount` when given.
pub(crate) fn parse(doc: &Value, mount: Option<&str>) -> Result<Declared, String> {
    let version = version(doc)?;
    let mut out = Declared::default();
    let paths = match doc.get("paths") {
        Some(Value::Object(paths)) => Some(paths),
        None | Some(Value::Null) => None,
        Some(_) => return Err("its `paths` is not an object".into()),
    };
    let webhooks = doc
        .get("webhooks")
        .and_then(Value::as_object)
        .is_some_and(|w| !w.is_empty());
    let Some(paths) = paths.filter(|p| !p.is_empty()) else {
        if webhooks {
            out.warnings.push(
                "the OpenAPI document has webhooks and no paths: webhooks are requests the API sends, so it declares no route".into(),
            );
            return Ok(out);
        }
        return Err(
            "the OpenAPI document declares no route (its `paths` is missing or empty)".into(),
        );
    };
    let mount = mount.map(normalized_base);
    let base = match (&mount, version) {
        (Some(m), _) => m.clone(),
        (None, Version::Swagger2) => normalized_base(
            doc.get("basePath")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ),
        (None, Version::OpenApi3) => server_path(doc.get("servers"))?.unwrap_or_default(),
    };
    for (path, item) in paths {
        if !path.starts_with('/') {
            // Specification extensions (`x-…`) sit beside the paths.
            if path.starts_with("x-") {
                continue;
            }
            return Err(format!("path {path:?} does not start with `/`"));
        }
        let item = resolve(doc, path, item)?;
        let item_base = match (&mount, version) {
            (None, Version::OpenApi3) => server_path(item.get("servers"))?,
            _ => None,
        };
        for (key, operation) in &item {
            let Some(method) = method_of(key, &mut out.warnings, path) else {
                continue;
            };
            let op_base = match (&mount, version) {
                (None, Version::OpenApi3) => server_path(operation.get("servers"))?,
                _ => None,
            };
            let base = op_base.as_ref().or(item_base.as_ref()).unwrap_or(&base);
            let template = format!("{base}{path}");
            let mut route = Route::new(method, &template).map_err(|why| {
                format!("path {path:?} cannot be an axum route ({why}): change it in the document or leave it out")
            })?;
            route.deprecated = operation.get("deprecated") == Some(&Value::Bool(true));
            out.routes.push(route);
        }
    }
    if out.routes.is_empty() {
        return Err("the OpenAPI document declares no route: its paths have no operations".into());
    }
    Ok(out)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    OpenApi3,
    Swagger2,
}

fn version(doc: &Value) -> Result<Version, String> {
    if !doc.is_object() {
        return Err("the OpenAPI document is not a JSON object".into());
    }
    if let Some(v) = doc.get("openapi") {
        return match v.as_str() {
            Some(v) if v.starts_with("3.") => Ok(Version::OpenApi3),
            _ => Err(format!("OpenAPI version {v} is not 3.x")),
        };
    }
    match doc.get("swagger").and_then(Value::as_str) {
        Some("2.0") => Ok(Version::Swagger2),
        Some(v) => Err(format!("Swagger version {v:?} is not 2.0")),
        None => Err(
            "not an OpenAPI document: it has neither `openapi` (3.x) nor `swagger` (2.0)".into(),
        ),
    }
}

/// A path item's key as a method a route can be declared with. `query` (3.2) and
/// `additionalOperations` hold methods outside RFC 9110's: counted as `OTHER`, never declared.
fn method_of(key: &str, warnings: &mut Vec<String>, path: &str) -> Option<Method> {
    let upper = key.to_ascii_uppercase();
    if let Some(m) = METHODS.iter().find(|m| m.as_str() == upper) {
        return Some(m.clone());
    }
    if key == "query" || key == "additionalOperations" {
        warnings.push(format!(
            "{path}: `{key}` methods are outside RFC 9110's and counted together as OTHER: not declared"
        ));
    }
    None
}

/// A path item with its `$ref`s inside the document followed; siblings of a `$ref` win.
fn resolve(doc: &Value, path: &str, item: &Value) -> Result<Map<String, Value>, String> {
    let mut item = item
        .as_object()
        .ok_or_else(|| format!("path {path:?} is not an object"))?
        .clone();
    for _ in 0..MAX_REF_HOPS {
        let Some(reference) = item.remove("$ref") else {
            return Ok(item);
        };
        let reference = reference
            .as_str()
            .ok_or_else(|| format!("path {path:?} has a `$ref` that is not a string"))?;
        let Some(fragment) = reference.strip_prefix('#') else {
            return Err(format!(
                "path {path:?} refers to {reference:?}, outside the document: bundle the document into one file first (e.g. `redocly bundle openapi.yaml -o openapi.json`) and declare the bundle"
            ));
        };
        let pointer = percent_encoding::percent_decode_str(fragment).decode_utf8_lossy();
        let target = doc
            .pointer(&pointer)
            .and_then(Value::as_object)
            .ok_or_else(|| {
                format!("path {path:?} refers to {reference:?}, which is not in the document")
            })?;
        let siblings = std::mem::replace(&mut item, target.clone());
        item.extend(siblings);
    }
    Err(format!(
        "path {path:?}: more than {MAX_REF_HOPS} `$ref`s in a row (a loop?)"
    ))
}

/// The path of the first server's URL (`None` without servers), its variables at their defaults.
fn server_path(servers: Option<&Value>) -> Result<Option<String>, String> {
    let Some(server) = servers.and_then(Value::as_array).and_then(|s| s.first()) else {
        return Ok(None);
    };
    let Some(url) = server.get("url").and_then(Value::as_str) else {
        return Ok(None);
    };
    let mut expanded = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        expanded.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("server URL {url:?} has a `{{` without its `}}`"))?;
        let name = &rest[open + 1..open + close];
        let default = server
            .pointer(&format!("/variables/{}/default", pointer_escape(name)))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("server URL {url:?}: variable {name:?} has no default"))?;
        expanded.push_str(default);
        rest = &rest[open + close + 1..];
    }
    expanded.push_str(rest);
    Ok(Some(normalized_base(url_path(&expanded))))
}

/// The path part of an absolute, scheme-relative or relative URL.
fn url_path(url: &str) -> &str {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let authority_and_path = match url.find("://") {
        Some(i) => Some(&url[i + 3..]),
        None => url.strip_prefix("//"),
    };
    match authority_and_path {
        Some(rest) => rest.find('/').map_or("", |i| &rest[i..]),
        None => url.trim_start_matches('.'),
    }
}

/// A base path as a prefix: a leading `/`, no trailing one; `/` and nothing are empty.
fn normalized_base(base: &str) -> String {
    let trimmed = base.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

fn pointer_escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn routes(doc: &Value, mount: Option<&str>) -> Vec<String> {
        let mut r: Vec<String> = parse(doc, mount)
            .unwrap()
            .routes
            .iter()
            .map(|r| format!("{} {}", r.method, r.template))
            .collect();
        r.sort();
        r
    }

    #[test]
    fn base_paths_from_servers_and_base_path() {
        let doc = json!({"openapi": "3.0.3",
            "servers": [{"url": "https://{host}.example.test/{base}/", "variables": {
                "host": {"default": "api"}, "base": {"default": "v1"}}}],
            "paths": {"/pets/{id}": {"get": {}, "parameters": [], "summary": "x"}}});
        assert_eq!(routes(&doc, None), ["GET /v1/pets/{id}"]);
        assert_eq!(routes(&doc, Some("/")), ["GET /pets/{id}"]);
        assert_eq!(routes(&doc, Some("api/")), ["GET /api/pets/{id}"]);
        let doc = json!({"swagger": "2.0", "basePath": "/v2", "paths": {"/a": {"post": {}}}});
        assert_eq!(routes(&doc, None), ["POST /v2/a"]);
        for (url, path) in [
            ("/v3", "/v3"),
            ("v3", "/v3"),
            ("./v3", "/v3"),
            ("//cdn.test/v3?x", "/v3"),
            ("https://api.test", ""),
            ("https://api.test:8443/", ""),
        ] {
            let doc = json!({"openapi": "3.1.0", "servers": [{"url": url}],
                "paths": {"/a": {"get": {}}}});
            assert_eq!(routes(&doc, None), [format!("GET {path}/a")], "{url}");
        }
        // A path item's and an operation's own servers win.
        let doc = json!({"openapi": "3.0.0", "servers": [{"url": "/v1"}], "paths": {
            "/a": {"servers": [{"url": "/v2"}], "get": {},
                   "post": {"servers": [{"url": "/v3"}]}}}});
        assert_eq!(routes(&doc, None), ["GET /v2/a", "POST /v3/a"]);
    }

    #[test]
    fn refs_inside_the_document_are_followed_and_outside_it_refused() {
        let doc = json!({"openapi": "3.1.0", "paths": {
            "/a": {"$ref": "#/components/pathItems/A"},
            "/b": {"$ref": "#/components/pathItems/A~1B", "description": "sibling"},
            "/c": {"$ref": "#/x-chain"}},
            "x-chain": {"$ref": "#/components/pathItems/A"},
            "components": {"pathItems": {"A": {"get": {}}, "A/B": {"put": {}}}}});
        assert_eq!(routes(&doc, None), ["GET /a", "GET /c", "PUT /b"]);
        let doc = json!({"openapi": "3.0.0", "paths": {
            "/a": {"get": {}}, "/b": {"$ref": "paths/b.yaml"}, "/c": {"$ref": "c.json"}}});
        let e = parse(&doc, None).unwrap_err();
        assert!(
            e.contains("\"paths/b.yaml\"") && e.contains("bundle"),
            "{e}"
        );
        let doc = json!({"openapi": "3.0.0", "paths": {"/a": {"$ref": "#/nowhere"}}});
        assert!(parse(&doc, None)
            .unwrap_err()
            .contains("not in the document"));
        let doc =
            json!({"openapi": "3.0.0", "paths": {"/a": {"$ref": "#/x"}}, "x": {"$ref": "#/x"}});
        assert!(parse(&doc, None).unwrap_err().contains("loop"));
    }

    #[test]
    fn documents_that_declare_nothing_say_so() {
        for (doc, why) in [
            (
                json!({"openapi": "3.0.0", "paths": {}}),
                "declares no route",
            ),
            (json!({"openapi": "3.0.0"}), "declares no route"),
            (
                json!({"openapi": "3.0.0", "paths": {"/a": {"summary": "x"}}}),
                "no operations",
            ),
            (json!({"paths": {"/a": {"get": {}}}}), "neither `openapi`"),
            (json!({"openapi": "2.0", "paths": {}}), "not 3.x"),
            (json!({"swagger": "1.2"}), "not 2.0"),
            (json!([1]), "not a JSON object"),
            (
                json!({"openapi": "3.0.0", "paths": {"/a/{b}.{c}": {"get": {}}}}),
                "one parameter",
            ),
        ] {
            let e = parse(&doc, None).unwrap_err();
            assert!(e.contains(why), "{doc}: {e}");
        }
        let hooks = json!({"openapi": "3.1.0", "webhooks": {"new": {"post": {}}}});
        let d = parse(&hooks, None).unwrap();
        assert!(d.routes.is_empty());
        assert!(d.warnings[0].contains("webhooks"), "{:?}", d.warnings);
    }
}
