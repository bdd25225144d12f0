//! The client-id strategy and key: how a consumer is told apart (the settings; the hashing
//! lives in the report).

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

/// How the client id is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientIdStrategy {
    /// A keyed hash of the best identity available, rotated daily (the default).
    #[default]
    Keyed,
    /// A fresh random id for every request (random bits, in each protocol's form of a client
    /// id). Every request then counts as a new user in GA.
    RandomPerRequest,
}

/// 128 bits of secret key.
#[derive(Clone, Copy)]
pub(crate) struct Key(pub(crate) [u8; 16]);

impl Key {
    pub(crate) fn random() -> Self {
        Key(*uuid::Uuid::new_v4().as_bytes())
    }

    /// Derives a key from a user-supplied secret of any length, with BLAKE3's key derivation
    /// (a context string of its own, so the key is unrelated to any other use of the secret).
    pub(crate) fn derive(secret: &[u8]) -> Self {
        let derived = blake3::derive_key("tower-ga 2026-12 client-id key", secret);
        let mut key = [0; 16];
        key.copy_from_slice(&derived[..16]);
        Key(key)
    }

    /// The key of `TOWER_GA_CLIENT_ID_KEY`, if it is set and not empty.
    pub(crate) fn from_env() -> Option<Self> {
        std::env::var_os(CLIENT_ID_KEY_ENV)
            .filter(|v| !v.is_empty())
            .map(|v| Key::derive(v.as_encoded_bytes()))
    }

    /// A 64-bit keyed hash of `bytes`: the same in every process with this key.
    pub(crate) fn hash64(&self, bytes: &[u8]) -> u64 {
        let (k0, k1) = self.0.split_at(8);
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
        let mut h = SipHasher13::new_with_keys(word(k0), word(k1));
        h.write(bytes);
        h.finish()
    }
}

/// The default of `daily_events_per_client_id`: 10 % under Google's 100,000 events per user
/// and day, for a day counted in UTC on the sender's clock while Google counts in the
/// property's time zone, and for events other tags send under the same id.
pub(crate) const DEFAULT_DAILY_EVENTS: u32 = 90_000;

/// The environment variable a fleet's shared client-id secret is read from.
pub const CLIENT_ID_KEY_ENV: &str = "TOWER_GA_CLIENT_ID_KEY";

/// How session ids are made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionMode {
    /// [`Derived`](Self::Derived) when a shared key is set (`client_id_key` or
    /// `TOWER_GA_CLIENT_ID_KEY`), else [`PerProcess`](Self::PerProcess) (the default).
    #[default]
    Auto,
    /// A session lasts while a consumer's requests come less than `session_timeout` apart, as
    /// GA's own do, as seen by one process: a consumer served by three replicas has three.
    PerProcess,
    /// Every process with the same key computes the same id: the start of the consumer's
    /// current window of `session_timeout`, each consumer's windows shifted by a keyed offset (so
    /// consumers don't all roll over at once). A session then ends at the window's end, even
    /// mid-activity, and an idle consumer keeps its session until then.
    Derived,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}
