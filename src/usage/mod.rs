//! Which endpoints are used, which are never used, which are hot: a bounded per-route table the
//! sender keeps beside what it sends to GA, the routes the API declares, and a page to read them.

pub(crate) mod inventory;
pub(crate) mod openapi;
mod page;
mod row;
mod service;
mod snapshot;
pub(crate) mod table;

pub use service::UsageService;
pub use snapshot::{Quantiles, RouteUsage, StatusCounts, UsageSnapshot};
