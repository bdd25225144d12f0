//! The routes the API declares, for the usage table ([`Handle::usage`](crate::Handle::usage)).

use serde::Serialize;

use super::GaLayer;
use crate::usage::inventory::{parse_route, Route};
use crate::usage::openapi;

impl GaLayer {
    /// Declares the API's routes as `"METHOD /template"` in axum 0.8's syntax (`/users/{id}`,
    /// `/files/{*path}`), so that the usage table lists the ones never called. Adds to what
    /// earlier calls declared (none by default: the table then lists only the routes called).
    ///
    /// A request counts for a declared route when its method is the route's and the template
    /// the router matched has the route's shape: parameter names don't matter (`{userId}` is
    /// `{id}`), and neither does a trailing slash (`/items/` is `/items`). Methods are RFC
    /// 9110's, less `CONNECT`.
    ///
    /// An entry that doesn't parse, or that axum couldn't mount (axum 0.7's `:id` and `*rest`,
    /// two parameters in a segment), is a
    /// [`ConfigError::InvalidRoute`](crate::ConfigError::InvalidRoute) from
    /// [`build`](Self::build) saying how to write it. A layer that isn't built logs the error
    /// and tracks with no route declared: GA reporting never stops over the inventory.
    ///
    /// ```
    /// use tower_ga::{ConfigError, GaLayer};
    ///
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .known_routes(["GET /users/{id}", "POST /users", "DELETE /users/{id}"]);
    /// assert!(ga.clone().build().is_ok());
    /// let Err(ConfigError::InvalidRoute(why)) = ga.known_routes(["GET /orders/:id"]).build() else {
    ///     panic!("axum 0.7's syntax is refused");
    /// };
    /// assert!(why.contains("axum 0.8 writes `{id}`"), "{why}");
    /// ```
    pub fn known_routes<S: AsRef<str>>(self, routes: impl IntoIterator<Item = S>) -> Self {
        let parsed: Result<Vec<_>, String> = routes
            .into_iter()
            .map(|r| parse_route(r.as_ref()))
            .collect();
        self.declare(parsed)
    }

    /// Declares the routes of an OpenAPI document: each operation (`paths` entry × method) of
    /// an OpenAPI 3.x or Swagger 2.0 document, as anything that serializes to one: a
    /// `serde_json::Value`, utoipa's `ApiDoc::openapi()`, aide's `OpenApi` once `finish_api`
    /// filled it (see `examples/openapi_utoipa.rs` and `examples/openapi_aide.rs`).
    ///
    /// - The routes are under the document's base path: the path of the first `servers` URL
    ///   (3.x, `{variables}` at their defaults; a path item's or an operation's own `servers`
    ///   win), or `basePath` (2.0). An API mounted elsewhere says where with
    ///   [`known_routes_openapi_at`](Self::known_routes_openapi_at).
    /// - Path items that are `$ref`s inside the document are followed. A `$ref` to another
    ///   file is an error: bundle the document first (e.g. `redocly bundle`).
    /// - A document that declares no route is an error, except a 3.1 document with only
    ///   `webhooks` (requests the API sends, not routes), which declares nothing, with a
    ///   warning in the log.
    ///
    /// Errors are [`ConfigError::InvalidRoute`](crate::ConfigError::InvalidRoute), as for
    /// [`known_routes`](Self::known_routes).
    ///
    /// ```
    /// use tower_ga::GaLayer;
    ///
    /// let doc = serde_json::json!({
    ///     "openapi": "3.0.3",
    ///     "servers": [{ "url": "https://api.example.com/v1" }],
    ///     "paths": { "/users/{userId}": { "get": {}, "delete": {} }, "/users": { "post": {} } }
    /// });
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").known_routes_openapi(&doc);
    /// // Declared: GET and DELETE /v1/users/{userId}, POST /v1/users.
    /// assert_eq!(ga.handle().usage().never_called().count(), 3);
    /// assert!(ga.build().is_ok());
    /// ```
    pub fn known_routes_openapi<T: Serialize + ?Sized>(self, doc: &T) -> Self {
        self.declare_openapi(doc, None)
    }

    /// [`known_routes_openapi`](Self::known_routes_openapi), with the document's routes
    /// mounted under `mount` instead of its base path: `"/"` for an API at the root, `"/api"`
    /// for one nested there.
    ///
    /// ```
    /// use tower_ga::GaLayer;
    ///
    /// let doc = serde_json::json!({
    ///     "swagger": "2.0",
    ///     "basePath": "/v1",
    ///     "paths": { "/pets": { "get": {} } }
    /// });
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").known_routes_openapi_at(&doc, "/");
    /// let usage = ga.handle().usage();
    /// assert_eq!(usage.routes[0].route, "/pets");
    /// ```
    pub fn known_routes_openapi_at<T: Serialize + ?Sized>(self, doc: &T, mount: &str) -> Self {
        self.declare_openapi(doc, Some(mount))
    }

    /// [`known_routes_openapi`](Self::known_routes_openapi) from the document's JSON text.
    /// YAML is refused with a message saying how to convert it (or parse it with a YAML crate
    /// into a `serde_json::Value`, and pass that).
    ///
    /// ```
    /// use tower_ga::GaLayer;
    ///
    /// let ga = || GaLayer::new("G-TEST123").api_secret("s");
    /// let text = r#"{"openapi": "3.1.0", "paths": {"/health": {"get": {}}}}"#;
    /// assert!(ga().known_routes_openapi_json(text).build().is_ok());
    /// let yaml = "openapi: 3.1.0\npaths:\n  /health:\n    get: {}\n";
    /// let why = ga().known_routes_openapi_json(yaml).build().unwrap_err().to_string();
    /// assert!(why.contains("YAML"), "{why}");
    /// ```
    pub fn known_routes_openapi_json(self, text: &str) -> Self {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(doc) => self.declare_openapi(&doc, None),
            Err(e) => {
                let yaml = !text.trim_start().starts_with(['{', '[']);
                self.declare(Err(if yaml {
                    "the OpenAPI document is not JSON: it looks like YAML, which this method doesn't read; convert it (e.g. `yq -o=json openapi.yaml`), or parse it with a YAML crate into a serde_json::Value and pass that to known_routes_openapi".to_owned()
                } else {
                    format!("the OpenAPI document is not JSON: {e}")
                }))
            }
        }
    }

    fn declare_openapi<T: Serialize + ?Sized>(self, doc: &T, mount: Option<&str>) -> Self {
        let parsed = serde_json::to_value(doc)
            .map_err(|e| format!("the OpenAPI document doesn't serialize to JSON: {e}"))
            .and_then(|doc| openapi::parse(&doc, mount));
        let parsed = parsed.map(|declared| {
            for warning in &declared.warnings {
                tracing::warn!("tower-ga: known routes: {warning}");
            }
            declared.routes
        });
        self.declare(parsed)
    }

    fn declare(self, parsed: Result<Vec<Route>, String>) -> Self {
        let layer = self.with(|c| match parsed {
            Ok(routes) => routes.into_iter().for_each(|r| c.inventory.routes.add(r)),
            Err(bad) => {
                c.inventory.bad.get_or_insert(bad);
            }
        });
        layer.core.declare(&layer.config.inventory);
        layer
    }
}

impl GaLayer {
    /// Keeps the usage table's counts per UTC day in a database, so that they outlive restarts
    /// and deploys, and span a fleet whose replicas write to one database: see
    /// [`Handle::usage_window`](crate::Handle::usage_window) and the page's `?days=N`.
    ///
    /// [`UsageStore::sqlite`](crate::usage::UsageStore::sqlite) (feature `sqlite`) is the
    /// embedded default, for one process or several on one host;
    /// [`UsageStore::postgres`](crate::usage::UsageStore::postgres) (feature `postgres`) is one
    /// database for a fleet, whose replicas' counts add up and any of whose pages shows them
    /// all. Without this call, [`GaLayer::new`] reads the store's URL from
    /// [`TOWER_GA_USAGE_DB`](crate::usage::USAGE_DB_ENV) (`sqlite:///var/lib/app/usage.db`,
    /// `postgres://…`); with neither, usage is kept in memory, since the sender started. Set
    /// the fleet's [`client_id_key`](Self::client_id_key) too, so that every replica and
    /// restart gives a consumer the same label. The store is written from a
    /// thread of its own every [`usage_flush_interval`](Self::usage_flush_interval), on
    /// [`Handle::flush`](crate::Handle::flush) and at shutdown: the API and the GA sender never
    /// wait on it. A store that can't be opened or written is a
    /// [`ConfigError::UsageStore`](crate::ConfigError::UsageStore) from [`build`](Self::build);
    /// later failures are retried with back-off, their deltas kept, and counted in
    /// [`Stats::usage_write_failures`](crate::Stats::usage_write_failures).
    ///
    /// ```
    /// use tower_ga::{usage::UsageStore, GaLayer};
    ///
    /// let dir = std::env::temp_dir().join(format!("tower-ga-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .usage_store(UsageStore::sqlite(dir.join("usage.db")))
    ///     .build();
    /// assert!(ga.is_ok());
    /// let nowhere = UsageStore::sqlite(dir.join("no/such/dir/usage.db"));
    /// let err = GaLayer::new("G-TEST123").api_secret("s").usage_store(nowhere).build();
    /// assert!(err.unwrap_err().to_string().starts_with("usage store: cannot open"));
    /// ```
    pub fn usage_store(self, store: crate::usage::UsageStore) -> Self {
        self.with(|c| {
            c.store.store = Some(store);
            c.store.bad = None;
        })
    }

    /// How often the usage store is written (default 60 s; at least 100 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_ga::GaLayer;
    ///
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").usage_flush_interval(Duration::from_secs(10));
    /// assert!(ga.build().is_ok());
    /// ```
    pub fn usage_flush_interval(self, interval: std::time::Duration) -> Self {
        self.with(|c| c.store.flush_interval = interval.max(std::time::Duration::from_millis(100)))
    }

    /// Days the usage store keeps (default 400: a year and its season); older days are deleted
    /// once a day. At least 1.
    ///
    /// ```
    /// use tower_ga::GaLayer;
    ///
    /// let ga = GaLayer::new("G-TEST123").api_secret("s").usage_retention(90);
    /// assert!(ga.build().is_ok());
    /// ```
    pub fn usage_retention(self, days: u32) -> Self {
        self.with(|c| c.store.retention_days = days.max(1))
    }
}

impl GaLayer {
    /// Names the consumers the usage store lists (`acme-corp` rather than `key-3f2a…`): called
    /// on the sender's thread when a consumer first calls a route since the store's last write,
    /// not for every request; `None` keeps the default label (the `UserId`, else a keyed hash).
    /// The name is kept in the store only: GA never receives it unless the application sends it.
    ///
    /// ```
    /// use tower_ga::{GaLayer, Hit};
    ///
    /// // A header the gateway sets, captured with the hit.
    /// let ga = GaLayer::new("G-TEST123")
    ///     .api_secret("s")
    ///     .capture_header(http::HeaderName::from_static("x-client-name"))
    ///     .consumer_name_with(|hit: &Hit| hit.header("x-client-name").map(str::to_owned));
    /// assert!(ga.build().is_ok());
    /// ```
    pub fn consumer_name_with(self, namer: impl crate::NameConsumer) -> Self {
        let namer: std::sync::Arc<dyn crate::NameConsumer> = std::sync::Arc::new(namer);
        self.with(|c| c.store.namer = Some(namer))
    }
}
