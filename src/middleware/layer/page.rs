//! The page a hit reports: its scheme and host, the query's redaction, and the title.

use std::sync::Arc;

use super::GaLayer;
use crate::hooks::MakeTitle;
use crate::http_text::redact::SecretWords;

impl GaLayer {
    /// Reports every request under this host, e.g. to merge several domains of one API (the
    /// original recipe's `dh`).
    pub fn host_override(self, host: impl Into<String>) -> Self {
        let host = host.into().to_ascii_lowercase();
        self.with(|c| c.host_override = Some(host))
    }

    /// Scheme for requests whose URI has none and no trusted proxy says otherwise (default `http`).
    pub fn default_scheme_https(self, https: bool) -> Self {
        self.with(|c| c.default_scheme = if https { "https" } else { "http" })
    }

    /// Host reported when a request has neither an absolute URI nor a valid `Host` header
    /// (default `localhost`).
    pub fn fallback_host(self, host: impl Into<String>) -> Self {
        let host = host.into();
        self.with(|c| c.fallback_host = host)
    }

    /// Trusts the proxy in front of the API: scheme and host come from `Forwarded` /
    /// `X-Forwarded-Proto` / `X-Forwarded-Host`, the client IP from `Forwarded` / `X-Forwarded-For`.
    /// Only turn this on when a proxy you control sets (and overwrites) those headers: clients can
    /// forge them otherwise.
    pub fn trust_proxy(self, on: bool) -> Self {
        self.with(|c| c.trust_proxy = on)
    }

    /// Adds words to the list of secret-looking query parameter names (see
    /// [`DEFAULT_REDACTED_PARAMS`](crate::DEFAULT_REDACTED_PARAMS) for the rule).
    pub fn redact_param(self, word: impl Into<String>) -> Self {
        let word = word.into();
        self.with(|c| c.redact_params = c.redact_params.with(&word))
    }

    /// Replaces the list of secret-looking query parameter names.
    pub fn redact_params<I, W>(self, words: I) -> Self
    where
        I: IntoIterator<Item = W>,
        W: Into<String>,
    {
        let list = SecretWords::new(words.into_iter().map(|w| -> String { w.into() }));
        self.with(|c| c.redact_params = list)
    }

    /// Leaves the query string out of `page_location` entirely.
    pub fn strip_query(self, on: bool) -> Self {
        self.with(|c| c.strip_query = on)
    }

    /// The title of requests that matched no route (default `(unmatched route)`). The raw path is
    /// never used: it would give every 404 probe its own page in GA.
    pub fn unmatched_title(self, title: impl Into<String>) -> Self {
        let t = title.into();
        self.with(|c| c.unmatched_title = t)
    }

    /// A hook that builds titles for requests without a [`PageTitle`](crate::PageTitle).
    pub fn title_with(self, hook: impl MakeTitle) -> Self {
        let hook: Arc<dyn MakeTitle> = Arc::new(hook);
        self.with(|c| c.make_title = Some(hook))
    }
}
