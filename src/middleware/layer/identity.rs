//! Who a request comes from: the client id strategy, its hook, key and credential header, and
//! sessions.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::GaLayer;
use crate::config::{ClientIdStrategy, Key};
use crate::hooks::MakeClientId;

impl GaLayer {
    /// The client id strategy (default [`ClientIdStrategy::Keyed`]).
    pub fn client_id_strategy(self, strategy: ClientIdStrategy) -> Self {
        self.with(|c| c.client_id_strategy = strategy)
    }

    /// A hook that derives the client id; `None` falls back to the strategy.
    pub fn client_id_with(self, hook: impl MakeClientId) -> Self {
        let hook: Arc<dyn MakeClientId> = Arc::new(hook);
        self.with(|c| c.make_client_id = Some(hook))
    }

    /// A secret shared by every instance of the API, so they derive the same client ids. Without
    /// it each process draws a random key, which never leaves the process.
    pub fn client_id_key(self, secret: impl AsRef<[u8]>) -> Self {
        let key = Key::derive(secret.as_ref());
        self.with(|c| c.key = key)
    }

    /// A header carrying API keys, used (hashed) to tell consumers apart when there is no
    /// `Authorization` header, e.g. `x-api-key`.
    pub fn api_key_header(self, name: HeaderName) -> Self {
        self.with(|c| c.credential_header = Some(name))
    }

    /// How long a consumer may be idle before its next request starts a new session
    /// (default 30 minutes, as in GA).
    pub fn session_timeout(self, timeout: Duration) -> Self {
        self.with(|c| c.session_timeout = timeout)
    }
}
