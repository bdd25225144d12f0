//! Which endpoints are used, which are never used, which are hot: a bounded per-route table the
//! sender keeps beside what it sends to GA, the routes the API declares, and a page to read them.

pub(crate) mod delta;
pub(crate) mod inventory;
pub(crate) mod openapi;
mod page;
mod row;
mod service;
mod snapshot;
pub(crate) mod store;
pub(crate) mod table;
mod window;

pub use service::{UsageService, DEFAULT_WINDOW_DAYS};
pub use snapshot::{Consumer, Quantiles, RouteUsage, StatusCounts, UsageSnapshot};
pub use store::{UsageStore, USAGE_DB_ENV};
