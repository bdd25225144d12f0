//! Client ids and sessions: a stable, GA-valid id per API consumer that never reveals who the
//! consumer is.
//!
//! The default, [`ClientIdStrategy::Keyed`], hashes the best identity available with SipHash-1-3
//! (a keyed pseudo-random function) under a secret key and the current UTC day:
//!
//! 1. the [`UserId`](crate::UserId), else
//! 2. the `Authorization` header or the configured API-key header (the credential itself never
//!    leaves the process; of a credential longer than 2 kB, the first and last kilobyte count),
//!    else
//! 3. the client IP plus `User-Agent`, else
//! 4. a random id for this one request.
//!
//! The key is random per process unless [`GaLayer::client_id_key`](crate::GaLayer::client_id_key)
//! sets a shared one, which several instances of one API need to agree on ids. Because the day is
//! hashed in, ids rotate daily: GA then counts a returning consumer as a new user each day, the
//! price of not keeping a linkable id.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use siphasher::sip128::{Hasher128, SipHasher13};

use crate::hit::Hit;

/// How the client id is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientIdStrategy {
    /// A keyed hash of the best identity available, rotated daily (the default).
    #[default]
    Keyed,
    /// A fresh random id for every request: the original recipe's `uuid4()`. Every request then
    /// counts as a new user in GA.
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

/// An id as 128 bits; each protocol formats it its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RawId(pub(crate) u128);

impl RawId {
    fn random() -> Self {
        RawId(uuid::Uuid::new_v4().as_u128())
    }

    /// GA4's recommended form: two positive integers joined by a dot.
    #[cfg(test)]
    pub(crate) fn ga4(self) -> String {
        let mut s = String::with_capacity(21);
        self.ga4_into(&mut s);
        s
    }

    /// [`RawId::ga4`], appended to `out`.
    pub(crate) fn ga4_into(self, out: &mut String) {
        let hi = ((self.0 >> 97) as u64) + 1; // 31 bits, never 0
        let lo = (((self.0 >> 33) as u64) & 0x7fff_ffff) + 1;
        out.push_str(itoa::Buffer::new().format(hi));
        out.push('.');
        out.push_str(itoa::Buffer::new().format(lo));
    }

    /// Universal Analytics' documented form: a UUID v4.
    pub(crate) fn uuid(self) -> String {
        uuid::Builder::from_random_bytes(self.0.to_be_bytes())
            .into_uuid()
            .to_string()
    }
}

pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The raw client id of a hit under a strategy.
pub(crate) fn raw_id(hit: &Hit, strategy: ClientIdStrategy, key: &Key) -> RawId {
    let mut identity = Vec::new();
    let day = unix_secs(hit.received_at) / 86_400;
    if strategy == ClientIdStrategy::RandomPerRequest || !identity_into(&mut identity, hit, day) {
        return RawId::random();
    }
    keyed_id(&identity, key)
}

/// Writes what a hit's keyed id is the hash of: the UTC day of its request (`day`, days since the
/// Unix epoch), then the best identity (its kind and bytes). `false`, with nothing written, when
/// the hit has none (its id is random).
pub(crate) fn identity_into(out: &mut Vec<u8>, hit: &Hit, day: u64) -> bool {
    out.clear();
    out.extend_from_slice(&day.to_le_bytes());
    if let Some(user) = &hit.user_id {
        out.push(b'u');
        out.extend_from_slice(user.as_str().as_bytes());
    } else if let Some(cred) = hit.credential() {
        out.push(b'c');
        out.extend_from_slice(cred);
    } else if let Some(ip) = hit.client_ip() {
        // The family's own kind: an IPv4 address and agent never read as an IPv6 address.
        match ip {
            std::net::IpAddr::V4(v4) => {
                out.push(b'4');
                out.extend_from_slice(&v4.octets());
            }
            std::net::IpAddr::V6(v6) => {
                out.push(b'6');
                out.extend_from_slice(&v6.octets());
            }
        }
        out.push(0);
        out.extend_from_slice(hit.user_agent_bytes().unwrap_or_default());
    } else {
        out.clear();
        return false;
    }
    true
}

/// The keyed id of an identity written by [`identity_into`].
pub(crate) fn keyed_id(identity: &[u8], key: &Key) -> RawId {
    let mut h = SipHasher13::new_with_key(&key.0);
    h.write(identity);
    RawId(h.finish128().as_u128())
}

/// Session ids per client: a client's requests share a session while they come less than the
/// session timeout apart, as in GA's own sessions. Lives in the background sender (no lock); the
/// map is bounded, and when it is full a time bucket stands in for the session start.
#[derive(Debug)]
pub(crate) struct Sessions {
    timeout_secs: u64,
    max: usize,
    /// Seeded foldhash, as for the batches: cheaper than SipHash on the sender's every hit.
    hasher: foldhash::fast::RandomState,
    /// Keyed by the client id's 64-bit seeded hash, not the id: 24 bytes an entry rather than
    /// about 90 (the id on the heap), and no string to compare. Two ids of one hash would share a
    /// session: under one chance in a billion among 100,000 clients, and then only a session
    /// start is wrong.
    map: HashMap<u64, (u64, u64), foldhash::fast::RandomState>,
    /// When a full map was last swept of expired entries (unix seconds): at most once per
    /// [`SWEEP_EVERY_SECS`], so that a map full of active clients doesn't cost a scan of every
    /// entry for each new client.
    swept_at: Option<u64>,
}

/// How often a full session map is swept, at most.
const SWEEP_EVERY_SECS: u64 = 10;

impl Sessions {
    pub(crate) fn new(timeout_secs: u64, max: usize) -> Self {
        Sessions {
            timeout_secs: timeout_secs.max(1),
            max,
            hasher: Default::default(),
            map: HashMap::default(),
            swept_at: None,
        }
    }

    /// The session id (unix seconds of the session's first hit) for a client seen at `now_secs`.
    pub(crate) fn session_id(&mut self, client: &str, now_secs: u64) -> u64 {
        self.session_id_of(self.key_of(client), now_secs)
    }

    /// What a client's session is kept by: its id's seeded hash (see `map`), which the sender
    /// may keep in turn to skip hashing the id on every hit.
    pub(crate) fn key_of(&self, client: &str) -> u64 {
        self.hasher.hash_one(client)
    }

    /// [`Sessions::session_id`] for a client known by [`Sessions::key_of`].
    pub(crate) fn session_id_of(&mut self, key: u64, now_secs: u64) -> u64 {
        let timeout = self.timeout_secs;
        if let Some((start, last)) = self.map.get_mut(&key) {
            if now_secs.saturating_sub(*last) < timeout {
                *last = (*last).max(now_secs);
                return *start;
            }
            *start = now_secs.max(1);
            *last = now_secs;
            return *start;
        }
        if self.map.len() >= self.max {
            let due = self
                .swept_at
                .is_none_or(|at| now_secs.saturating_sub(at) >= SWEEP_EVERY_SECS);
            if due {
                self.swept_at = Some(now_secs);
                self.map
                    .retain(|_, (_, last)| now_secs.saturating_sub(*last) < timeout);
            }
            if self.map.len() >= self.max {
                return (now_secs / timeout * timeout).max(1);
            }
        }
        let start = now_secs.max(1);
        self.map.insert(key, (start, now_secs));
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn hit(auth: Option<&str>, at: u64) -> Hit {
        let mut b = http::Request::get("/x");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        let mut h = Hit::from_request(&b.body(()).unwrap(), false);
        h.received_at = UNIX_EPOCH + Duration::from_secs(at);
        h
    }

    #[test]
    fn same_credential_same_day_same_id_and_it_rotates_daily() {
        let key = Key::random();
        let a = raw_id(
            &hit(Some("Bearer a"), 1_000_000),
            ClientIdStrategy::Keyed,
            &key,
        );
        let a2 = raw_id(
            &hit(Some("Bearer a"), 1_000_500),
            ClientIdStrategy::Keyed,
            &key,
        );
        let b = raw_id(
            &hit(Some("Bearer b"), 1_000_000),
            ClientIdStrategy::Keyed,
            &key,
        );
        let a_next_day = raw_id(
            &hit(Some("Bearer a"), 1_000_000 + 86_400),
            ClientIdStrategy::Keyed,
            &key,
        );
        assert_eq!(a, a2);
        assert_ne!(a, b);
        assert_ne!(a, a_next_day);
    }

    #[test]
    fn long_credentials_with_a_common_start_get_distinct_ids() {
        // Such as JWTs whose header carries a certificate chain: alike for 2 kB and more.
        let head = "A".repeat(3000);
        let key = Key::random();
        let id = |sub: &str| {
            let h = hit(Some(&format!("Bearer {head}.{sub}.signature-{sub}")), 5);
            raw_id(&h, ClientIdStrategy::Keyed, &key)
        };
        assert_ne!(id("alice"), id("bob"));
        assert_eq!(id("alice"), id("alice"));
    }

    #[test]
    fn keys_separate_instances_unless_shared() {
        let h = hit(Some("Bearer a"), 5);
        let one = raw_id(&h, ClientIdStrategy::Keyed, &Key::random());
        let two = raw_id(&h, ClientIdStrategy::Keyed, &Key::random());
        assert_ne!(one, two);
        let s1 = raw_id(&h, ClientIdStrategy::Keyed, &Key::derive(b"shared"));
        let s2 = raw_id(&h, ClientIdStrategy::Keyed, &Key::derive(b"shared"));
        assert_eq!(s1, s2);
    }

    #[test]
    fn anonymous_requests_get_random_ids() {
        let key = Key::random();
        let h = hit(None, 5);
        let mut identity = Vec::new();
        assert!(!identity_into(&mut identity, &h, 0));
        assert!(identity.is_empty());
        assert!(identity_into(&mut identity, &hit(Some("k"), 5), 0));
        let k = hit(Some("k"), 5);
        assert_ne!(
            raw_id(&k, ClientIdStrategy::RandomPerRequest, &key),
            raw_id(&k, ClientIdStrategy::RandomPerRequest, &key)
        );
        assert_ne!(
            raw_id(&h, ClientIdStrategy::Keyed, &key),
            raw_id(&h, ClientIdStrategy::Keyed, &key)
        );
    }

    #[test]
    fn ga4_form_is_two_positive_integers() {
        for id in [RawId(0), RawId(u128::MAX), RawId::random()] {
            let s = id.ga4();
            let (a, b) = s.split_once('.').unwrap();
            assert!(
                a.parse::<u64>().unwrap() > 0 && b.parse::<u64>().unwrap() > 0,
                "{s}"
            );
        }
        assert_eq!(
            uuid::Uuid::parse_str(&RawId(7).uuid())
                .unwrap()
                .get_version_num(),
            4
        );
    }

    #[test]
    fn sessions_continue_within_timeout_and_restart_after() {
        let mut s = Sessions::new(1800, 10);
        assert_eq!(s.session_id("a", 1000), 1000);
        assert_eq!(s.session_id("a", 2000), 1000);
        assert_eq!(s.session_id("b", 2000), 2000);
        assert_eq!(s.session_id("a", 2000 + 1800), 3800);
    }

    #[test]
    fn sessions_map_stays_bounded() {
        let mut s = Sessions::new(1800, 2);
        s.session_id("a", 10);
        s.session_id("b", 10);
        assert_eq!(s.session_id("c", 20), 1); // full: the bucket stands in
        assert_eq!(s.map.len(), 2);
        assert_eq!(s.session_id("c", 5000), 5000); // a and b expired and were evicted
    }

    #[test]
    fn a_full_map_is_swept_at_most_every_ten_seconds() {
        let mut s = Sessions::new(100, 2);
        s.session_id("a", 1000);
        s.session_id("b", 1050);
        // Full, nothing expired yet: swept, and the bucket stands in.
        assert_eq!(s.session_id("c", 1099), 1000);
        // `a` has expired by now, but the last sweep was under ten seconds ago: no sweep.
        assert_eq!(s.session_id("d", 1105), 1100);
        assert_eq!(s.map.len(), 2);
        // Ten seconds on, swept: `a` goes, `d` takes its place, `b` keeps its session.
        assert_eq!(s.session_id("d", 1109), 1109);
        assert_eq!(s.session_id("b", 1109), 1050);
        assert_eq!(s.map.len(), 2);
    }
}
