//! Client identity: the keyed id of a consumer (see the crate's `client_id` module for the rule),
//! an explicit id or a hook's, and the address sent when the user opts in.

use std::hash::Hasher;
use std::net::IpAddr;

use siphasher::sip128::{Hasher128, SipHasher13};

use crate::config::{ClientIdStrategy, Config, IpMode, Key};
use crate::hit::Hit;
use crate::spec::ga4::MAX_ID_LEN;
use crate::text::truncate::limited;

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

    /// GA4's recommended form, two positive integers joined by a dot, appended to `out`.
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

pub(crate) use crate::text::date::unix_secs;

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

/// Writes the GA4 client id of a hit into `out`: an explicit [`ClientId`](crate::ClientId), else the
/// user's hook, else the configured strategy. Returns whether the id is stable (not random).
pub(crate) fn client_id_into(out: &mut String, hit: &Hit, day: u64, cfg: &Config) -> bool {
    out.clear();
    if let Some(c) = explicit_client_id(hit) {
        out.push_str(&limited(c, MAX_ID_LEN));
        return true;
    }
    let hook = cfg.identity.make_client_id.as_ref();
    if let Some(c) = hook
        .and_then(|h| crate::hooks::guarded("client_id_with", || h.make_client_id(hit)).flatten())
        .filter(|c| !c.is_empty())
    {
        out.push_str(&limited(&c, MAX_ID_LEN));
        return true;
    }
    let mut identity = Vec::new();
    if cfg.identity.client_id_strategy == ClientIdStrategy::Keyed
        && identity_into(&mut identity, hit, day)
    {
        keyed_id(&identity, &cfg.identity.key).ga4_into(out);
        return true;
    }
    raw_id(hit, cfg.identity.client_id_strategy, &cfg.identity.key).ga4_into(out);
    false
}

pub(crate) fn explicit_client_id(hit: &Hit) -> Option<&str> {
    hit.client_id
        .as_ref()
        .map(|c| c.as_str())
        .filter(|c| !c.is_empty())
}

pub(crate) fn ip_to_send(hit: &Hit, mode: IpMode) -> Option<IpAddr> {
    match mode {
        IpMode::Off => None,
        IpMode::Full => hit.client_ip(),
        IpMode::Truncated => hit.client_ip().map(truncate_ip),
    }
}

/// Truncates an IP address to its network: IPv4 to /24, IPv6 to /48.
pub(crate) fn truncate_ip(ip: IpAddr) -> IpAddr {
    // `::ffff:a.b.c.d` would otherwise keep only its leading zeros: `::`.
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], 0, 0, 0, 0, 0])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

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
    fn ip_truncation() {
        assert_eq!(
            truncate_ip("192.0.2.77".parse().unwrap()).to_string(),
            "192.0.2.0"
        );
        assert_eq!(
            truncate_ip("2001:db8:1:2:3::4".parse().unwrap()).to_string(),
            "2001:db8:1::"
        );
        assert_eq!(
            truncate_ip("::ffff:203.0.113.7".parse().unwrap()).to_string(),
            "203.0.113.0"
        );
    }
}
