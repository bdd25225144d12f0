//! What a hit reports: its page (location, host, path, title, referrer), its client identity and
//! its session. Pure functions of a hit and the configuration, run on the sender's thread.

pub(crate) mod client_id;
pub(crate) mod crowd;
pub(crate) mod daily_cap;
pub(crate) mod page;
pub(crate) mod sessions;
