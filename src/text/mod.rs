//! Text utilities shared by capture, report and encode: dates, keys, vectorisable byte scans and
//! truncation at character boundaries.

pub(crate) mod date;
pub(crate) mod key;
pub(crate) mod scan;
pub(crate) mod truncate;
