//! Secret-looking query parameters: which names count as secret, and a query with their values
//! replaced. Runs in the background sender, on every hit's query and referrer.

use std::collections::HashMap;
use std::fmt;

use percent_encoding::percent_decode_str;

/// The value that replaces a redacted query parameter's value.
pub const REDACTED: &str = "REDACTED";

/// Query parameter names redacted by default. A name is split into words (at `-`, `_`, `.`,
/// spaces, brackets and changes of case: `accessToken`, `API-Key`, `user[password]`), and is
/// redacted when adjacent words of it spell one of these (`api_key` spells `apikey`), or when one of
/// its words starts or ends with one of these of five letters or more (`sessionid`, `accesstoken`),
/// or holds one of seven or more (`jsessionid`).
/// So `keyword` and `author` are kept. Values that look like e-mail addresses are redacted
/// whatever their name.
pub const DEFAULT_REDACTED_PARAMS: &[&str] = &[
    "token",
    "apikey",
    "key",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "auth",
    "signature",
    "sig",
    "session",
    "sid",
    "phpsessid",
    "credential",
    "jwt",
    "code",
    "pass",
    "pw",
    "otp",
    "bearer",
    "ticket",
    "state",
    "nonce",
    "hmac",
    "hash",
    "assertion",
    "samlresponse",
    "email",
    "phone",
    "pin",
    "cvv",
    "ssn",
];

/// The words that make a parameter name secret, and the names kept whatever they contain, each
/// as its words joined.
#[derive(Clone)]
pub(crate) struct SecretWords {
    /// Deduplicated, sorted.
    words: Vec<String>,
    /// Names never redacted by name ([`SecretWords::keeping`]).
    keep: Vec<String>,
}

/// Words shorter than this match a name's word only whole: `key` doesn't make `keyword` secret.
const PREFIX_MATCH: usize = 5;
/// Words this long match anywhere in a name's word: `session` makes `jsessionid` secret.
const INNER_MATCH: usize = 7;

impl SecretWords {
    /// The words, joined as a name's are (`connect.sid` is `connectsid`). Words that are empty
    /// that way are left out (they would match every name).
    pub(crate) fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(words: I) -> Self {
        let mut list: Vec<String> = words
            .into_iter()
            .map(|w| words_of(w.as_ref()).concat())
            .filter(|w| !w.is_empty())
            .collect();
        list.sort();
        list.dedup();
        SecretWords {
            words: list,
            keep: Vec::new(),
        }
    }

    /// The default list, [`DEFAULT_REDACTED_PARAMS`].
    pub(crate) fn default_list() -> Self {
        Self::new(DEFAULT_REDACTED_PARAMS)
    }

    /// The list with `word` added.
    pub(crate) fn with(&self, word: &str) -> Self {
        let mut list = Self::new(self.words.iter().map(String::as_str).chain([word]));
        list.keep = self.keep.clone();
        list
    }

    /// The list, with `name` never redacted by name.
    pub(crate) fn keeping(&self, name: &str) -> Self {
        let mut list = self.clone();
        list.keep.push(words_of(name).concat());
        list
    }

    /// Whether a query parameter name looks secret.
    pub(crate) fn is_secret(&self, name: &str) -> bool {
        let spaced = name.replace('+', " ");
        let decoded = percent_decode_str(&spaced).decode_utf8_lossy();
        let parts = words_of(&decoded);
        if self.keep.contains(&parts.concat()) {
            return false;
        }
        self.words.iter().any(|w| spells(&parts, w))
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
                if seen.is_secret(self, &pair[..eq]) || is_email(&pair[eq + 1..]) {
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
    /// are (in each segment, what follows its first `;`), and every segment that looks like a
    /// credential ([`looks_like_credential`]) replaced by [`REDACTED`].
    pub(crate) fn redact_path_into(&self, out: &mut String, path: &str, seen: &mut Verdicts) {
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            let (head, params) = match segment.split_once(';') {
                Some((head, params)) => (head, Some(params)),
                None => (segment, None),
            };
            if looks_like_credential(head) {
                out.push_str(REDACTED);
            } else {
                out.push_str(head);
            }
            if let Some(params) = params {
                out.push(';');
                self.redact_query_into(out, params, seen);
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
/// and looking a name up is one hash and compare, where a verdict takes decoding the name,
/// splitting it into words and matching each secret word: without it, a hit whose page isn't
/// memoised costs the sender nearly four times as much (BENCHMARKS.md, "hand-written parts").
/// Bounded: names longer than [`Verdicts::MAX_NAME`] aren't kept, and once
/// [`Verdicts::MAX_NAMES`] are, it starts over, so hostile queries with endless new names cost a
/// lookup more each, never memory.
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
        f.debug_list().entries(&self.words).finish()
    }
}

/// A name's words, lower-cased: split at `-`, `_`, `.`, spaces and brackets, and where the case
/// changes (`accessToken`: `access`, `token`; `APIKey`: `api`, `key`).
fn words_of(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if matches!(c, '-' | '_' | '.' | ' ' | '[' | ']') {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1);
        let boundary = c.is_uppercase()
            && !word.is_empty()
            && (prev.is_some_and(char::is_lowercase)
                || (prev.is_some_and(char::is_uppercase)
                    && next.is_some_and(|n| n.is_lowercase())));
        if boundary {
            out.push(std::mem::take(&mut word));
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Whether adjacent words of a name spell `word`, or one of them starts or ends with it (a word
/// of [`PREFIX_MATCH`] letters or more) or holds it (of [`INNER_MATCH`] or more).
fn spells(parts: &[String], word: &str) -> bool {
    let long = word.len() >= PREFIX_MATCH;
    (0..parts.len()).any(|i| {
        let mut joined = String::new();
        for part in &parts[i..] {
            joined.push_str(part);
            if joined.len() > word.len() {
                break;
            }
            if joined == word {
                return true;
            }
        }
        let part = &parts[i];
        (long && (part.starts_with(word) || part.ends_with(word)))
            || (word.len() >= INNER_MATCH && part.contains(word))
    })
}

/// Whether a path segment looks like a credential rather than a name or an id: a JWT
/// (`eyJ….….…`), or a long token (24 characters or more of base64 or hex, letters and digits
/// mixed). A UUID (`8-4-4-4-12` hex) is an id, and kept.
pub(crate) fn looks_like_credential(segment: &str) -> bool {
    let b = segment.as_bytes();
    if b.len() < 24 {
        return false;
    }
    let token_char = |c: &u8| c.is_ascii_alphanumeric() || b"-_+=~%".contains(c);
    let mut parts = segment.split('.');
    let jwt = segment.starts_with("eyJ")
        && parts.clone().count() == 3
        && parts.all(|p| !p.is_empty() && p.bytes().all(|c| token_char(&c)));
    if jwt {
        return true;
    }
    if !b.iter().all(token_char) {
        return false;
    }
    let uuid = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = b.iter().filter(|c| c.is_ascii_alphabetic()).count();
    let mixed_case = b.iter().any(u8::is_ascii_uppercase) && b.iter().any(u8::is_ascii_lowercase);
    let hex = b.iter().all(u8::is_ascii_hexdigit);
    !uuid && digits > 0 && letters > 0 && (mixed_case || (hex && b.len() >= 32))
}

/// Whether a query value (still percent-encoded) looks like an e-mail address: `a@b.example`.
fn is_email(value: &str) -> bool {
    if !value.contains('@') && !value.contains("%40") {
        return false;
    }
    let spaced = value.replace('+', " ");
    let decoded = percent_decode_str(&spaced).decode_utf8_lossy();
    let Some((local, domain)) = decoded.trim().rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_that_look_like_credentials_are_redacted() {
        for credential in [
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ] {
            assert!(looks_like_credential(credential), "{credential}");
        }
        for kept in [
            "users",
            "42",
            "550e8400-e29b-41d4-a716-446655440000",
            "a-very-long-human-readable-slug-of-words",
            "2026-12-02",
            "order_confirmation_page",
            "1234567890123456789012345",
        ] {
            assert!(!looks_like_credential(kept), "{kept}");
        }
        let w = SecretWords::default_list();
        let mut out = String::new();
        w.redact_path_into(
            &mut out,
            "/reset-password/sk_live_4eC39HqLyjWDarjtT1zdp7dc/done",
            &mut Verdicts::default(),
        );
        assert_eq!(out, "/reset-password/REDACTED/done");
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
    fn names_are_matched_by_their_words_in_both_directions() {
        let w = SecretWords::default_list();
        for secret in [
            "sid",
            "PHPSESSID",
            "connect.sid",
            "ticket",
            "state",
            "nonce",
            "hmac",
            "hash",
            "assertion",
            "SAMLResponse",
            "email",
            "phone",
            "pin",
            "cvv",
            "ssn",
            "accessToken",
            "access_token",
            "accesstoken",
            "APIKey",
            "x-api-key",
            "sessionid",
            "jsessionid",
            "user[password]",
            "refresh-token",
        ] {
            assert!(w.is_secret(secret), "{secret} is secret");
        }
        for innocent in [
            "keyword",
            "author",
            "keyring",
            "page",
            "sort",
            "q",
            "pinned",
            "hashtag_x",
            "spin",
            "codec",
            "sidebar",
        ] {
            assert!(!w.is_secret(innocent), "{innocent} is kept");
        }
        // Prefixes of five letters or more over-redact a few names, on the safe side; an
        // allow-list keeps a name whatever its words, and added words count.
        assert!(w.is_secret("statement") && w.is_secret("tokenizer"));
        let kept = w.keeping("auth_mode").keeping("state");
        assert!(!kept.is_secret("auth_mode") && !kept.is_secret("State"));
        assert!(kept.is_secret("auth") && kept.with("keyword").is_secret("keyword"));
        assert!(
            !kept.with("keyword").is_secret("state"),
            "with keeps the allow-list"
        );
    }

    #[test]
    fn e_mail_values_are_redacted_whatever_the_name() {
        let w = SecretWords::default_list();
        assert_eq!(
            w.redact_query("to=bob%40example.com&q=a%40b&x=carol@mail.example&y=@home"),
            "to=REDACTED&q=a%40b&x=REDACTED&y=@home"
        );
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
