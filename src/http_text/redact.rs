//! Secret-looking query parameters: which names count as secret, and a query with their values
//! replaced. Runs in the background sender, on every hit's query and referrer.

use std::collections::HashMap;
use std::fmt;

use percent_encoding::percent_decode_str;

/// The value that replaces a redacted query parameter's value.
pub const REDACTED: &str = "REDACTED";

/// Query parameter names redacted by default. A parameter is redacted when its name, lower-cased
/// with `-`, `_`, `.`, spaces and brackets removed, *contains* one of these words: over-redacting
/// is the safe side.
pub const DEFAULT_REDACTED_PARAMS: &[&str] = &[
    "token",
    "apikey",
    "key",
    "secret",
    "password",
    "passwd",
    "pwd",
    "auth",
    "signature",
    "sig",
    "session",
    "credential",
    "jwt",
    "code",
    "pass",
    "pw",
    "otp",
    "bearer",
];

/// The words that make a parameter name secret, normalised, with an index by first byte: a name
/// is checked against the few words that start with each of its bytes, not against every word at
/// every position.
#[derive(Clone)]
pub(crate) struct SecretWords {
    /// Normalised, deduplicated, sorted (so words sharing a first byte are adjacent).
    words: Vec<Vec<u8>>,
    /// The words starting with each byte, as a range of `words`.
    by_first: Box<[(u32, u32); 256]>,
    /// The shortest word's length: shorter names can't contain any.
    min_len: usize,
}

impl SecretWords {
    /// The words, normalised as names are. Words that normalise to nothing are left out (they
    /// would match every name).
    pub(crate) fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(words: I) -> Self {
        let mut list: Vec<Vec<u8>> = words
            .into_iter()
            .map(|w| normalise(w.as_ref().as_bytes()))
            .filter(|w| !w.is_empty())
            .collect();
        list.sort();
        list.dedup();
        let mut by_first = Box::new([(0u32, 0u32); 256]);
        for (i, w) in list.iter().enumerate() {
            let r = &mut by_first[w[0] as usize];
            if r.0 == r.1 {
                r.0 = i as u32;
            }
            r.1 = i as u32 + 1;
        }
        SecretWords {
            min_len: list.iter().map(Vec::len).min().unwrap_or(usize::MAX),
            words: list,
            by_first,
        }
    }

    /// The default list, [`DEFAULT_REDACTED_PARAMS`].
    pub(crate) fn default_list() -> Self {
        Self::new(DEFAULT_REDACTED_PARAMS)
    }

    /// The list with `word` added.
    pub(crate) fn with(&self, word: &str) -> Self {
        let words = self.words.iter().map(|w| String::from_utf8_lossy(w));
        Self::new(words.chain([word.into()]))
    }

    /// Whether a normalised name contains one of the words.
    fn matches(&self, normal: &[u8]) -> bool {
        if normal.len() < self.min_len {
            return false;
        }
        (0..=normal.len() - self.min_len).any(|i| {
            let (a, b) = self.by_first[normal[i] as usize];
            self.words[a as usize..b as usize]
                .iter()
                .any(|w| normal[i..].starts_with(w))
        })
    }

    /// Whether a query parameter name looks secret.
    pub(crate) fn is_secret(&self, name: &str) -> bool {
        // Normalise into a stack buffer: lower-case, separators dropped. Percent-escapes, `+`
        // and very long names are rare; only they take the allocating path.
        let mut buf = [0u8; 64];
        let mut n = 0;
        for &b in name.as_bytes() {
            if b == b'%' || b == b'+' || n == buf.len() {
                let spaced = name.replace('+', " ");
                let decoded = percent_decode_str(&spaced).decode_utf8_lossy();
                return self.matches(&normalise(decoded.as_bytes()));
            }
            if !is_separator(b) {
                buf[n] = b.to_ascii_lowercase();
                n += 1;
            }
        }
        self.matches(&buf[..n])
    }

    /// Appends `query` with the values of secret-looking parameters replaced by [`REDACTED`];
    /// everything else as it was, in order. Both `&` and `;` (an old W3C form some servers
    /// accept) separate parameters, except after a secret's value, which runs on to the next `&`
    /// (a server that doesn't split on `;` reads it so). Copies the query in runs: a query with nothing to redact is
    /// one copy. `seen` remembers the verdicts on names, for these words only.
    pub(crate) fn redact_query_into(&self, out: &mut String, query: &str, seen: &mut Verdicts) {
        let mut copied = 0;
        let mut start = 0;
        let bytes = query.as_bytes();
        while start <= bytes.len() {
            let end = bytes[start..]
                .iter()
                .position(|&b| b == b'&' || b == b';')
                .map_or(bytes.len(), |i| start + i);
            let pair = &query[start..end];
            let mut next = end;
            if let Some(eq) = pair.bytes().position(|b| b == b'=') {
                if seen.is_secret(self, &pair[..eq]) {
                    let value_at = start + eq + 1;
                    out.push_str(&query[copied..value_at]);
                    out.push_str(REDACTED);
                    // For a server that doesn't split on `;`, the value runs on to the next `&`
                    // (`token=abc;TAIL`): all of it goes.
                    next = bytes[end..]
                        .iter()
                        .position(|&b| b == b'&')
                        .map_or(bytes.len(), |i| end + i);
                    copied = next;
                }
            }
            start = next + 1;
        }
        out.push_str(&query[copied..]);
    }

    /// Appends a path with its matrix parameters (`/users/7;jsessionid=…`) redacted as a query's
    /// are: in each segment, what follows its first `;`. A path without `;` is one copy.
    pub(crate) fn redact_path_into(&self, out: &mut String, path: &str, seen: &mut Verdicts) {
        if !path.contains(';') {
            out.push_str(path);
            return;
        }
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            match segment.split_once(';') {
                Some((head, params)) => {
                    out.push_str(head);
                    out.push(';');
                    self.redact_query_into(out, params, seen);
                }
                None => out.push_str(segment),
            }
        }
    }

    /// [`SecretWords::redact_query_into`], into a new string.
    #[cfg(test)]
    pub(crate) fn redact_query(&self, query: &str) -> String {
        let mut out = String::with_capacity(query.len());
        self.redact_query_into(&mut out, query, &mut Verdicts::default());
        out
    }
}

/// The verdicts on parameter names already seen. An API's queries use a few names over and over,
/// and looking a name up costs a fraction of normalising and matching it (about 50 instructions
/// against 350 for `page`). Bounded: names longer than [`Verdicts::MAX_NAME`] aren't kept, and
/// once [`Verdicts::MAX_NAMES`] are, it starts over, so hostile queries with endless new names
/// cost a lookup more each, never memory.
#[derive(Default)]
pub(crate) struct Verdicts(HashMap<Box<[u8]>, bool, foldhash::fast::RandomState>);

impl Verdicts {
    const MAX_NAMES: usize = 512;
    const MAX_NAME: usize = 64;

    /// [`SecretWords::is_secret`], remembered. Always called with the same `words`.
    fn is_secret(&mut self, words: &SecretWords, name: &str) -> bool {
        if let Some(&secret) = self.0.get(name.as_bytes()) {
            return secret;
        }
        let secret = words.is_secret(name);
        if name.len() <= Self::MAX_NAME {
            if self.0.len() >= Self::MAX_NAMES {
                self.0.clear();
            }
            self.0.insert(name.as_bytes().into(), secret);
        }
        secret
    }
}

impl fmt::Debug for Verdicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verdicts")
            .field("names", &self.0.len())
            .finish()
    }
}

impl fmt::Debug for SecretWords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.words.iter().map(|w| String::from_utf8_lossy(w)))
            .finish()
    }
}

fn is_separator(b: u8) -> bool {
    matches!(b, b'-' | b'_' | b'.' | b' ' | b'[' | b']')
}

fn normalise(name: &[u8]) -> Vec<u8> {
    name.iter()
        .filter(|b| !is_separator(**b))
        .map(u8::to_ascii_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matcher before the index: every word at every position.
    fn contains_any(normal: &[u8], words: &[Vec<u8>]) -> bool {
        words
            .iter()
            .any(|w| normal.windows(w.len()).any(|win| win == &w[..]))
    }

    #[test]
    fn matrix_params_in_a_path_are_redacted_as_a_querys() {
        let w = SecretWords::default_list();
        let path = |p: &str| {
            let mut out = String::new();
            w.redact_path_into(&mut out, p, &mut Verdicts::default());
            out
        };
        assert_eq!(path("/users/7"), "/users/7");
        assert_eq!(
            path("/users/7;jsessionid=ABC/orders;page=2"),
            "/users/7;jsessionid=REDACTED/orders;page=2"
        );
        assert_eq!(path("/a;token=x;rest/b"), "/a;token=REDACTED/b");
        assert_eq!(path("/a;b"), "/a;b");
    }

    #[test]
    fn redacts_secret_looking_params_and_keeps_the_rest() {
        let w = SecretWords::default_list();
        let q = "page=2&access_token=abc&API-Key=def&x_signature=ghi&sort=asc&flag";
        assert_eq!(
            w.redact_query(q),
            "page=2&access_token=REDACTED&API-Key=REDACTED&x_signature=REDACTED&sort=asc&flag"
        );
        // Percent-encoded names are decoded before matching; long names are matched too.
        assert_eq!(w.redact_query("api%5Fkey=1"), "api%5Fkey=REDACTED");
        assert_eq!(w.redact_query("x+Token=1"), "x+Token=REDACTED");
        let long = format!("{}_secret", "a".repeat(100));
        assert_eq!(
            w.redact_query(&format!("{long}=1")),
            format!("{long}=REDACTED")
        );
        assert_eq!(w.redact_query("q=pass"), "q=pass");
        assert_eq!(
            w.redact_query("passphrase=1&new_pw=2&otp=3&bearer=4&page=5"),
            "passphrase=REDACTED&new_pw=REDACTED&otp=REDACTED&bearer=REDACTED&page=5"
        );
        assert_eq!(
            w.redact_query("a=1;token=x&b=2;"),
            "a=1;token=REDACTED&b=2;"
        );
        assert_eq!(w.redact_query(""), "");
        // What follows a secret's `;` is still its value to a server that doesn't split on `;`.
        assert_eq!(w.redact_query("token=abc;TAIL"), "token=REDACTED");
        assert_eq!(
            w.redact_query("token=abc;TAIL;x=1&page=2;token=y"),
            "token=REDACTED&page=2;token=REDACTED"
        );
        // Bracketed names (`user[password]`) are normalised like the words.
        assert_eq!(
            w.redact_query("user[password]=x"),
            "user[password]=REDACTED"
        );
    }

    #[test]
    fn the_index_finds_what_a_full_scan_finds() {
        let words = SecretWords::new(["key", "k", "tok-en", "", "x.y", "key", "zz"]);
        assert_eq!(format!("{words:?}"), r#"["k", "key", "token", "xy", "zz"]"#);
        let normal: Vec<Vec<u8>> = words.words.clone();
        // Every short name over a small alphabet, against the plain scan.
        let alphabet = b"kyetonxz";
        let mut names = vec![Vec::new()];
        for _ in 0..4 {
            let longer: Vec<Vec<u8>> = names
                .iter()
                .flat_map(|n| {
                    alphabet.iter().map(move |&c| {
                        let mut n = n.clone();
                        n.push(c);
                        n
                    })
                })
                .collect();
            names.extend(longer);
        }
        for name in &names {
            assert_eq!(
                words.matches(name),
                contains_any(name, &normal),
                "{}",
                String::from_utf8_lossy(name)
            );
        }
        let defaults = SecretWords::default_list();
        for name in [
            "page",
            "sort",
            "q",
            "mytokenx",
            "xsig",
            "sessionid",
            "keyring",
        ] {
            let all: Vec<Vec<u8>> = DEFAULT_REDACTED_PARAMS
                .iter()
                .map(|w| w.as_bytes().to_vec())
                .collect();
            assert_eq!(
                defaults.matches(name.as_bytes()),
                contains_any(name.as_bytes(), &all),
                "{name}"
            );
        }
    }

    #[test]
    fn remembered_verdicts_agree_and_stay_bounded() {
        let w = SecretWords::default_list();
        let mut seen = Verdicts::default();
        let long = format!("{}_token", "a".repeat(Verdicts::MAX_NAME));
        let names = ["page", "token", "sort", "api_key", "Page", "x%5Fsig", &long];
        for round in 0..3 {
            for name in names {
                let query = format!("{name}=v&page=2");
                let mut out = String::new();
                w.redact_query_into(&mut out, &query, &mut seen);
                assert_eq!(out, w.redact_query(&query), "round {round}: {name}");
                assert_eq!(seen.0.get(name.as_bytes()).copied(), {
                    (name.len() <= Verdicts::MAX_NAME).then(|| w.is_secret(name))
                });
            }
        }
        assert_eq!(seen.0.len(), names.len() - 1, "the long name is not kept");
        for i in 0..3 * Verdicts::MAX_NAMES {
            let name = if i % 2 == 0 {
                format!("n{i}")
            } else {
                format!("token{i}")
            };
            assert_eq!(seen.is_secret(&w, &name), i % 2 == 1, "{name}");
            assert!(seen.0.len() <= Verdicts::MAX_NAMES);
        }
    }

    #[test]
    fn an_empty_list_redacts_nothing_and_added_words_count() {
        let none = SecretWords::new(Vec::<String>::new());
        assert_eq!(none.redact_query("token=1&a=2"), "token=1&a=2");
        let one = none.with("Tenant_ID");
        assert_eq!(one.redact_query("tenantid=1&a=2"), "tenantid=REDACTED&a=2");
        assert_eq!(format!("{one:?}"), r#"["tenantid"]"#);
    }
}
