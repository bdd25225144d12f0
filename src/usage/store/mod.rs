//! The usage store: the usage table's counts per UTC day, kept in a database so that they
//! outlive a deploy and span a fleet.
//!
//! A thread of its own (`tower-ga-usage`) takes the table's deltas every `usage_flush_interval`,
//! on `flush` and at `shutdown`, and writes them as additive upserts in one transaction: replicas
//! add their own deltas, none overwrites another's. A store that is down, slow, locked or full
//! costs nothing but that thread's time: the deltas it couldn't write are kept (merged, a bounded
//! number of days) and written once it is back; the sender and the API never wait on it.

mod backend;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod thread;

use std::fmt;
use std::path::PathBuf;

pub(crate) use backend::{Backend, Declared, RowDelta, Stored};
pub(crate) use thread::{StoreHandle, StoreThread};

/// The environment variable [`GaLayer::new`](crate::GaLayer::new) reads a usage store's URL from
/// when none is given: `sqlite:///var/lib/app/usage.db` (a path after `sqlite://`), or a
/// `postgres://` / `postgresql://` URL.
pub const USAGE_DB_ENV: &str = "TOWER_GA_USAGE_DB";

/// Where the usage table's counts are kept: see
/// [`GaLayer::usage_store`](crate::GaLayer::usage_store).
///
/// # Schema
///
/// Version 1, created and checked by the crate, readable with plain SQL (`sqlite3 usage.db`):
///
/// - `tower_ga_usage`: one row per UTC `day` (`YYYY-MM-DD`), `method` and `route` (the declared
///   template, else the router's; `(unmatched)`, `(other)`, or method `OTHER` and route `(any)`):
///   `calls`, `method_not_allowed` (405 answers, no calls), `s2xx` … `s5xx`, `s_other`, latency
///   buckets `ms_1` … `ms_10000` and `ms_inf` (calls up to that many milliseconds, above the
///   bucket before), `first_call` and `last_call` (unix seconds), `deprecated_since` and `sunset`
///   (unix seconds, from the `Deprecated` marker).
/// - `tower_ga_consumers`: per `day`, `method`, `route` and `consumer` label, `calls`. Each write
///   adds the first 20 consumers a replica saw of the route since its last write, and `(others)`
///   for the rest; once a route has more than 50 labels a day, the busiest 50 are kept and the
///   others' calls added to `(others)`: every call stays counted.
/// - `tower_ga_declared`: each declared `method` and `route` with `first_declared` and
///   `last_declared` (days) and `deprecated`.
/// - `tower_ga_schema`: the schema's `version`.
///
/// Declared routes not called in the last 90 days:
///
/// ```sql
/// SELECT d.method, d.route, MAX(u.last_call) AS last_call
/// FROM tower_ga_declared d
/// LEFT JOIN tower_ga_usage u ON u.method = d.method AND u.route = d.route
/// GROUP BY d.method, d.route
/// HAVING COALESCE(MAX(CASE WHEN u.day >= '2026-09-08' THEN u.calls END), 0) = 0;
/// ```
///
/// (`'2026-09-08'` being 90 days ago: `date('now', '-90 days')` in SQLite,
/// `to_char(current_date - 90, 'YYYY-MM-DD')` in PostgreSQL.)
///
/// Size: a called route takes one `tower_ga_usage` row a day and up to 51 `tower_ga_consumers`
/// rows. Measured in SQLite: 1,000 routes' day with 21 labels each is a 2.0 MB file, ≈ 2 kB a
/// route and day (`tests/usage_store.rs`, 100,000 consumers); with 51 labels, ≈ 5 kB.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageStore {
    /// A SQLite file (feature `sqlite`), created if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL database (feature `postgres`), by any URL or connection string
    /// tokio-postgres accepts; without TLS for now (a socket, or a private network).
    Postgres(String),
}

impl UsageStore {
    /// A SQLite file, created with its directory's parent existing.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        UsageStore::Sqlite(path.into())
    }

    /// A PostgreSQL database: `postgres://user:password@host/db`,
    /// `postgresql:///db?host=/var/run/postgresql` (a socket), or `host=... dbname=...`.
    pub fn postgres(url: impl Into<String>) -> Self {
        UsageStore::Postgres(url.into())
    }

    /// A store from a URL: `sqlite://<path>` (`sqlite:///var/lib/app/usage.db`,
    /// `sqlite://target/usage.db`), or `postgres://…` / `postgresql://…`. The error says what
    /// is wrong with it.
    ///
    /// ```
    /// use tower_ga::usage::UsageStore;
    ///
    /// assert_eq!(
    ///     UsageStore::from_url("sqlite:///var/lib/app/usage.db").unwrap(),
    ///     UsageStore::sqlite("/var/lib/app/usage.db")
    /// );
    /// assert!(UsageStore::from_url("mysql://db/usage").is_err());
    /// let pg = UsageStore::from_url("postgres://app:hunter2@db.internal/usage").unwrap();
    /// assert_eq!(format!("{pg:?}"), r#"Postgres("postgres://REDACTED@db.internal/usage")"#);
    /// ```
    pub fn from_url(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("a sqlite:// URL names a file: sqlite:///var/lib/app/usage.db".into());
            }
            return Ok(UsageStore::sqlite(path));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(UsageStore::postgres(url));
        }
        let scheme = url.split("://").next().unwrap_or_default();
        Err(format!(
            "usage store URL scheme {scheme:?} is neither sqlite:// (sqlite:///var/lib/app/usage.db) nor postgres://"
        ))
    }

    /// The store of [`USAGE_DB_ENV`], if it is set and not empty.
    pub(crate) fn from_env() -> Option<Result<Self, String>> {
        let url = std::env::var(USAGE_DB_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())?;
        Some(UsageStore::from_url(&url).map_err(|e| format!("{USAGE_DB_ENV}: {e}")))
    }

    /// Opens the store (creating or checking its schema) and closes it: what `build` checks. On
    /// a thread of its own, so that a caller inside a tokio runtime may call it (the PostgreSQL
    /// client runs a runtime of its own).
    pub(crate) fn check(&self) -> Result<(), String> {
        std::thread::scope(|s| {
            s.spawn(|| self.open().map(drop))
                .join()
                .unwrap_or_else(|_| Err("opening the store panicked".into()))
        })
    }

    /// Opens the store, creating or migrating its schema.
    pub(crate) fn open(&self) -> Result<Box<dyn Backend>, String> {
        match self {
            #[cfg(feature = "sqlite")]
            UsageStore::Sqlite(path) => Ok(Box::new(sqlite::Sqlite::open(path)?)),
            #[cfg(not(feature = "sqlite"))]
            UsageStore::Sqlite(_) => Err("a SQLite usage store needs the `sqlite` feature".into()),
            #[cfg(feature = "postgres")]
            UsageStore::Postgres(url) => Ok(Box::new(postgres::Postgres::open(url)?)),
            #[cfg(not(feature = "postgres"))]
            UsageStore::Postgres(_) => {
                Err("a PostgreSQL usage store needs the `postgres` feature".into())
            }
        }
    }
}

impl fmt::Debug for UsageStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageStore::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            // The URL may hold a password (in its userinfo, its query, or a `password=` pair):
            // a URL shows without userinfo and query, a connection string not at all.
            UsageStore::Postgres(url) => {
                let shown = match url.contains("://") {
                    true => crate::http_text::authority::without_userinfo(
                        url.split('?').next().unwrap_or_default(),
                    )
                    .into_owned(),
                    false => "<connection string>".to_owned(),
                };
                f.debug_tuple("Postgres").field(&shown).finish()
            }
        }
    }
}
