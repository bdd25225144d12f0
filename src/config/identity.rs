//! The client-id strategy and key: how a consumer is told apart (the settings; the hashing
//! lives in the report).

use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

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

    /// Derives a key from a user-supplied secret of any length.
    pub(crate) fn derive(secret: &[u8]) -> Self {
        let mut h = SipHasher13::new_with_keys(0x746f_7765_722d_6761, 0x636c_6965_6e74_6964);
        h.write(secret);
        Key(h.finish128().as_bytes())
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}
