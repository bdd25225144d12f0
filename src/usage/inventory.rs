//! The API's routes as the application declares them (`"METHOD /template"` strings, or an
//! OpenAPI document's operations, see [`openapi`](super::openapi)), and the shape a route is
//! matched by.
//!
//! A declared route and a route the router matched are the same route when their methods are
//! equal and their templates have the same *shape*: parameter names don't count
//! (`/users/{userId}` is `/users/{id}`), and neither does a trailing slash (`/items/` is
//! `/items`), since documents and routers disagree on both far more often than an API serves
//! two endpoints that differ only there.

use std::collections::HashMap;

use http::Method;

/// The methods a route can be declared with: RFC 9110's, less `CONNECT`. Any other method a
/// request uses is counted as `OTHER` (see [`crate::Hit::method`]).
pub(crate) const METHODS: [Method; 8] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
    Method::TRACE,
];

/// A declared route: a method and a template in axum's syntax (`/users/{id}`), as declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) method: Method,
    pub(crate) template: String,
    /// The template's shape, the key it is matched by.
    pub(crate) shape: String,
    /// Declared deprecated (an OpenAPI operation's `deprecated: true`).
    pub(crate) deprecated: bool,
}

impl Route {
    /// A route from a method and a template; the error says what is wrong with the template.
    pub(crate) fn new(method: Method, template: &str) -> Result<Route, String> {
        let shape = shape(template).map_err(|why| format!("{template:?}: {why}"))?;
        Ok(Route {
            method,
            template: template.to_owned(),
            shape,
            deprecated: false,
        })
    }
}

/// Parses `"GET /users/{id}"`; the error names the entry and says how to write it.
pub(crate) fn parse_route(entry: &str) -> Result<Route, String> {
    let bad = || format!("{entry:?} is not \"METHOD /template\" (e.g. \"GET /users/{{id}}\")");
    let (method, template) = entry.trim().split_once(' ').ok_or_else(bad)?;
    let upper = method.trim().to_ascii_uppercase();
    let method = METHODS
        .iter()
        .find(|m| m.as_str() == upper)
        .ok_or_else(|| {
            format!(
                "{entry:?}: {upper} is not a method a route can be declared with (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, TRACE)"
            )
        })?;
    let template = template.trim();
    if template.contains(char::is_whitespace) {
        return Err(bad());
    }
    Route::new(method.clone(), template)
}

/// The shape of an axum 0.8 template: each parameter's name dropped (`{}`, `{*}` for a
/// catch-all), the trailing slash too. An error says why axum could not mount the template.
pub(crate) fn shape(template: &str) -> Result<String, String> {
    if !template.starts_with('/') {
        return Err("a template starts with `/`".into());
    }
    let segments: Vec<&str> = template[1..].split('/').collect();
    let mut out = String::with_capacity(template.len());
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if last && segment.is_empty() && i > 0 {
            break; // the trailing slash
        }
        out.push('/');
        if let Some(name) = segment.strip_prefix(':') {
            return Err(format!(
                "`:{name}` is axum 0.7's syntax; axum 0.8 writes `{{{name}}}`"
            ));
        }
        if let Some(name) = segment.strip_prefix('*') {
            return Err(format!(
                "`*{name}` is axum 0.7's syntax; axum 0.8 writes `{{*{name}}}`"
            ));
        }
        shape_segment(segment, last, &mut out)?;
    }
    Ok(out)
}

/// One segment's shape: literal text (`{{` and `}}` are escaped braces) and at most one
/// parameter, a catch-all only as the whole last segment.
fn shape_segment(segment: &str, last: bool, out: &mut String) -> Result<(), String> {
    let mut params = 0;
    let mut rest = segment;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("{{").or_else(|| rest.strip_prefix("}}")) {
            out.push_str(&rest[..2]);
            rest = after;
            continue;
        }
        let Some(end) = rest.strip_prefix('{').and_then(|r| r.find('}')) else {
            return Err(
                "a brace without its pair (a literal brace is written `{{` or `}}`)".into(),
            );
        };
        let name = &rest[1..=end];
        params += 1;
        if params > 1 {
            return Err("axum allows one parameter per path segment".into());
        }
        match name.strip_prefix('*') {
            Some(n) if !n.is_empty() && !n.contains(['{', '/']) => {
                if !last || rest.len() != end + 2 || out.len() > 1 && !out.ends_with('/') {
                    return Err(
                        "a catch-all parameter is the whole last segment, e.g. `/files/{*path}`"
                            .into(),
                    );
                }
                out.push_str("{*}");
            }
            None if !name.is_empty() && !name.contains(['{', '/']) => out.push_str("{}"),
            _ => return Err(format!("`{{{name}}}` is no parameter name")),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(())
}

/// The declared routes, indexed by method and shape. Two declarations of one shape and method
/// are one route (the first template names it).
#[derive(Clone, Debug, Default)]
pub(crate) struct Routes {
    pub(crate) list: Vec<Route>,
    index: HashMap<(Method, String), usize>,
}

impl Routes {
    /// Adds a route unless one of its method and shape is declared already.
    pub(crate) fn add(&mut self, route: Route) {
        let key = (route.method.clone(), route.shape.clone());
        if !self.index.contains_key(&key) {
            self.index.insert(key, self.list.len());
            self.list.push(route);
        }
    }

    /// The declared route of this method and shape.
    pub(crate) fn find(&self, method: &Method, shape: &str) -> Option<usize> {
        // Keyed by owned values; looked up once per distinct template a router reports.
        self.index.get(&(method.clone(), shape.to_owned())).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_and_say_how_to_write_them() {
        let r = parse_route("get /users/{id}").unwrap();
        assert_eq!(
            (r.method, r.template.as_str()),
            (Method::GET, "/users/{id}")
        );
        assert!(parse_route("FETCH /x")
            .unwrap_err()
            .contains("FETCH is not a method"));
        assert!(parse_route("GET users").is_err());
        assert!(parse_route("/users").is_err());
        assert!(parse_route("GET /a b").is_err());
        let old = parse_route("GET /users/:id").unwrap_err();
        assert!(old.contains("axum 0.7") && old.contains("`{id}`"), "{old}");
        let old = parse_route("GET /files/*rest").unwrap_err();
        assert!(old.contains("`{*rest}`"), "{old}");
    }

    #[test]
    fn shapes_ignore_parameter_names_and_a_trailing_slash() {
        for (a, b) in [
            ("/users/{userId}", "/users/{id}"),
            ("/items/", "/items"),
            ("/a/{x}/b/", "/a/{y}/b"),
            ("/files/{*path}", "/files/{*rest}"),
            ("/v1/things:batchGet", "/v1/things:batchGet"),
            ("/f-{name}", "/f-{n}"),
        ] {
            assert_eq!(shape(a), shape(b), "{a} {b}");
        }
        for (a, b) in [
            ("/users/{id}", "/users/id"),
            ("/files/{*path}", "/files/{path}"),
            ("/a", "/a/b"),
        ] {
            assert_ne!(shape(a), shape(b), "{a} {b}");
        }
        assert_eq!(shape("/").unwrap(), "/");
        assert_eq!(shape("/{{literal}}").unwrap(), "/{{literal}}");
    }

    #[test]
    fn templates_axum_cannot_mount_are_refused_with_the_reason() {
        for (t, why) in [
            ("/files/{a}.{b}", "one parameter per path segment"),
            ("/files/{*path}/meta", "catch-all"),
            ("/files/x{*path}", "catch-all"),
            ("/users/{}", "no parameter name"),
            ("/users/{id", "brace without its pair"),
            ("/users/id}", "brace without its pair"),
            ("users", "starts with `/`"),
        ] {
            let e = shape(t).unwrap_err();
            assert!(e.contains(why), "{t}: {e}");
        }
    }

    #[test]
    fn one_route_per_method_and_shape() {
        let mut routes = Routes::default();
        for e in [
            "GET /users/{id}",
            "GET /users/{userId}/",
            "DELETE /users/{id}",
        ] {
            routes.add(parse_route(e).unwrap());
        }
        assert_eq!(routes.len(), 2);
        assert_eq!(routes.find(&Method::GET, "/users/{}"), Some(0));
        assert_eq!(routes.list[0].template, "/users/{id}");
        assert_eq!(routes.find(&Method::PUT, "/users/{}"), None);
    }
}
