//! Every rule that strips credentials and secrets from header and URL text, in one place: the
//! userinfo of authorities, the `Host` header's check, a trusted proxy's headers, the referrer,
//! and the redaction of query parameters. No crate imports: these are pure functions of text.

pub(crate) mod authority;
pub(crate) mod forwarded;
pub(crate) mod geo;
pub(crate) mod redact;
pub(crate) mod referrer;
