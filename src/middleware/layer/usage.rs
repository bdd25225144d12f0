//! The routes the API declares, for the usage table ([`Handle::usage`](crate::Handle::usage)).

use super::GaLayer;
use crate::usage::inventory::{parse_openapi, parse_route};

impl GaLayer {
    /// Declares the API's routes as `"METHOD /template"` (axum's `{param}` syntax, the form of
    /// the default titles), so that the usage table lists the ones never called. Adds to what
    /// earlier calls declared. An entry that doesn't parse is a
    /// [`ConfigError::InvalidRoute`](crate::ConfigError::InvalidRoute) from
    /// [`build`](Self::build) (and, from the layer itself, a logged error with nothing tracked).
    ///
    /// ```
    /// use tower_ga::GaLayer;
    ///
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .known_routes(["GET /users/{id}", "POST /users", "DELETE /users/{id}"]);
    /// assert!(ga.clone().build().is_ok());
    /// assert!(ga.known_routes(["FETCH /users"]).build().is_err());
    /// ```
    pub fn known_routes<S: AsRef<str>>(self, routes: impl IntoIterator<Item = S>) -> Self {
        let parsed: Result<Vec<_>, String> = routes
            .into_iter()
            .map(|r| parse_route(r.as_ref()))
            .collect();
        self.declare(parsed)
    }

    /// Declares the routes of an OpenAPI 3 document (what utoipa or aide generate): each
    /// `paths` key × method. See [`known_routes`](Self::known_routes).
    ///
    /// ```
    /// use tower_ga::GaLayer;
    ///
    /// let doc = serde_json::json!({
    ///     "openapi": "3.0.3",
    ///     "paths": { "/users/{id}": { "get": {}, "delete": {} }, "/users": { "post": {} } }
    /// });
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").known_routes_openapi(&doc);
    /// assert!(ga.build().is_ok());
    /// ```
    pub fn known_routes_openapi(self, doc: &serde_json::Value) -> Self {
        self.declare(parse_openapi(doc))
    }

    /// [`known_routes_openapi`](Self::known_routes_openapi) from the document's JSON text.
    ///
    /// ```
    /// use tower_ga::GaLayer;
    ///
    /// let text = r#"{"openapi": "3.1.0", "paths": {"/health": {"get": {}}}}"#;
    /// assert!(GaLayer::new("G-TEST123").api_secret("s").known_routes_openapi_json(text).build().is_ok());
    /// assert!(GaLayer::new("G-TEST123").api_secret("s").known_routes_openapi_json("{").build().is_err());
    /// ```
    pub fn known_routes_openapi_json(self, text: &str) -> Self {
        let parsed = serde_json::from_str(text)
            .map_err(|e| format!("the OpenAPI document is not JSON: {e}"))
            .and_then(|doc| parse_openapi(&doc));
        self.declare(parsed)
    }

    fn declare(self, parsed: Result<Vec<crate::usage::inventory::Route>, String>) -> Self {
        self.with(|c| match parsed {
            Ok(routes) => {
                for r in routes {
                    if !c.inventory.routes.contains(&r) {
                        c.inventory.routes.push(r);
                    }
                }
            }
            Err(bad) => {
                if c.inventory.bad.is_none() {
                    c.inventory.bad = Some(bad);
                }
            }
        })
    }
}
