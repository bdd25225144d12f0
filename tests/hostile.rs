//! Property tests: hostile requests through a real axum `Router` with `GaLayer`.
//!
//! Huge and odd URIs (arbitrary Unicode, percent-escapes of invalid UTF-8, broken escapes,
//! absolute-form with credentials, `*`), non-UTF-8 (obs-text) and huge headers, extension methods,
//! missing or garbage `Host`, weird query strings, secrets in the query, the referrer and the
//! credentials headers. For every case:
//!
//! - nothing panics, and the response is exactly the inner service's (the same router without the
//!   layer answers the same status, headers and body);
//! - the hit is tracked unless the default filter skips it, and every payload the layer produces
//!   passes the offline validator with no message (`validate::ga4`, or `validate::ua_batch` for a
//!   `UA-` layer), carries the right status and method, and never contains a secret.
//!
//! One layer per test (its sender is a thread); `handle.flush` between cases. Case counts are
//! modest so the suite stays fast; `PROPTEST_CASES` overrides them.
//!
//! The inner service, the rig and its checks are in `tests/common/hostile.rs`; raw bytes that
//! `http::Uri` can't hold go over TCP in `tests/hostile_raw.rs`.

mod common;
use common::hostile::{cases, run, Hostile, Proto, Rig, MARKER};

use axum::http::Method;
use http::header::{self, HeaderName, HeaderValue};
use proptest::prelude::*;
use tower_ga::{GaLayer, IpMode};

// ---------------------------------------------------------------------------------------------
// Hostile requests.

/// Percent-encodes every ASCII byte outside `raw`; keeps non-ASCII characters as they are.
fn encode(s: &str, raw: fn(u8) -> bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if !c.is_ascii() || raw(c as u8) {
            out.push(c);
        } else {
            out.push_str(&format!("%{:02X}", c as u32));
        }
    }
    out
}

/// Bytes `http` accepts unescaped in a path.
fn path_raw(b: u8) -> bool {
    matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7A | 0x7C | 0x7E | b'"' | b'{' | b'}')
        && b != b'%'
}

/// Bytes `http` accepts unescaped in a query value, except the separators `&`, `=`.
fn query_raw(b: u8) -> bool {
    matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E) && !matches!(b, b'&' | b'=' | b'%')
}

fn path_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9._~-]{0,12}",
        3 => any::<String>().prop_map(|s| encode(&s, path_raw)),
        // Escapes of arbitrary bytes: often invalid UTF-8 once decoded.
        2 => prop::collection::vec(any::<u8>(), 1..8)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02X}")).collect::<String>()),
        1 => prop::sample::select(vec!["%", "%zz", "%E2%82", "..", ".", "", "{id}", "\"x\"", "a|b\\c^"])
            .prop_map(str::to_owned),
    ]
}

fn path() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec![
        "/items/",
        "/items/7",
        "/items/7/",
        "/echo",
        "/",
        "//",
        "/health",
        "/metrics",
        "/x/",
    ]);
    let repeat = prop_oneof![6 => 1usize..3, 1 => 200usize..4000];
    (prefix, prop::collection::vec(path_piece(), 0..5), repeat).prop_map(|(prefix, pieces, n)| {
        let tail = pieces.join("/");
        // Stay under `http`'s URI limit (65 534 bytes) with room for a query.
        let n = if tail.is_empty() {
            0
        } else {
            n.min(40_000 / tail.len())
        };
        format!("{prefix}{}", tail.repeat(n))
    })
}

/// Names the default redaction rule must catch (normalised, they contain a secret word).
const SECRET_NAMES: &[&str] = &[
    "token",
    "access_token",
    "API-Key",
    "api%5Fkey",
    "Password",
    "x.signature",
    "session_id",
    "tok%65n",
    "auth[]",
    "code",
    "JWT",
    "client_secret",
    "my+api+key",
    "%70%77%64",
];

fn query_param() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(SECRET_NAMES).prop_map(|n| format!("{n}={MARKER}")),
        3 => ("[a-z_]{1,8}", any::<String>())
            .prop_map(|(n, v)| format!("{n}={}", encode(&v, query_raw))),
        1 => prop::collection::vec(any::<u8>(), 1..6)
            .prop_map(|b| format!("v={}", b.iter().map(|x| format!("%{x:02X}")).collect::<String>())),
        1 => prop::sample::select(vec![
            "", "=", "==", "a==b", "flag", "%", "+", "a=b=c", "?", "??a=1", "[]=1", "a[b]=c",
            "q=a+b%20c", "x=\\u0000", "x=`^|{}`",
        ])
        .prop_map(str::to_owned),
    ]
}

fn query() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        1 => Just(None),
        4 => prop::collection::vec(query_param(), 0..6).prop_map(|p| Some(p.join("&"))),
        1 => (query_param(), 100usize..3000).prop_map(|(p, n)| {
            let n = n.min(20_000 / (p.len() + 1));
            Some(vec![p; n].join("&"))
        }),
    ]
}

fn origin_form() -> impl Strategy<Value = String> {
    (path(), query()).prop_map(|(p, q)| match q {
        Some(q) => format!("{p}?{q}"),
        None => p,
    })
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => origin_form(),
        1 => (
            prop::sample::select(vec![
                "http://user:pw@Evil.Test:8080",
                "https://API.example.com",
                "http://[::1]:3000",
                "ftp://files.test",
                "HTTP://u:Zq9SeCrEt7Xw@mixed.CASE",
            ]),
            origin_form(),
        )
            .prop_map(|(a, o)| format!("{a}{o}")),
        1 => prop::sample::select(vec!["*", "example.com:443", "/"]).prop_map(str::to_owned),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        6 => prop::sample::select(vec![
            Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH,
            Method::OPTIONS, Method::HEAD, Method::TRACE, Method::CONNECT,
        ]),
        2 => "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}"
            .prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
        1 => "[A-Z]{100,400}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

/// Any bytes a `HeaderValue` may hold: visible ASCII, space, tab, obs-text 0x80-0xFF.
fn header_bytes(max: usize) -> impl Strategy<Value = HeaderValue> {
    prop::collection::vec(
        prop_oneof![4 => 0x20u8..0x7f, 2 => 0x80u8..=0xff, 1 => Just(b'\t')],
        0..max,
    )
    .prop_map(|b| HeaderValue::from_bytes(&b).unwrap())
}

fn huge(unit: &'static str) -> impl Strategy<Value = HeaderValue> {
    (1000usize..20_000).prop_map(move |n| HeaderValue::from_str(&unit.repeat(n)).unwrap())
}

fn text(values: Vec<&'static str>) -> impl Strategy<Value = HeaderValue> {
    prop::sample::select(values).prop_map(HeaderValue::from_static)
}

fn host() -> impl Strategy<Value = Option<HeaderValue>> {
    prop::option::weighted(
        0.8,
        prop_oneof![
            3 => text(vec![
                "api.test", "API.Example.COM:8080", "[::1]:8080", "user:Zq9SeCrEt7Xw@host.test",
                "host:99999", "", " ", "a b", "host/path", "h?q", "[zz", "::::", "-.-", "a@b@c",
            ]),
            2 => header_bytes(64),
            1 => huge("abcd."),
        ],
    )
}

fn user_agent() -> impl Strategy<Value = Option<HeaderValue>> {
    prop::option::weighted(
        0.8,
        prop_oneof![
            2 => text(vec!["curl/8.0", "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" \\ back"]),
            2 => header_bytes(300),
            1 => huge("Mozilla/5.0 "),
        ],
    )
}

fn referer() -> impl Strategy<Value = Option<HeaderValue>> {
    prop::option::weighted(
        0.7,
        prop_oneof![
            3 => text(vec![
                "https://u:Zq9SeCrEt7Xw@ref.test/p?token=Zq9SeCrEt7Xw&a=b#frag",
                "https://ref.test/p#access_token=Zq9SeCrEt7Xw",
                "https://ref.test/p?q=1#x?code=Zq9SeCrEt7Xw",
                "//u:Zq9SeCrEt7Xw@ref.test/p",
                "HTTPS://U:Zq9SeCrEt7Xw@REF.TEST",
                "/relative?code=Zq9SeCrEt7Xw&page=1",
                "not a url",
                "?",
                "https://ref.test/?",
            ]),
            2 => header_bytes(200),
            1 => huge("https://ref.test/very/long/"),
        ],
    )
}

/// Headers a trusted proxy would set, forged.
fn forwarding() -> impl Strategy<Value = Vec<(HeaderName, HeaderValue)>> {
    let forwarded = prop_oneof![
        text(vec![
            "for=\"[2001:db8::1]:4711\";proto=https;host=fwd.test",
            "for=192.0.2.1;host=u:Zq9SeCrEt7Xw@fwd.test, for=10.0.0.1",
            "for=unknown;proto=gopher",
            "for=\"_hidden\";host=\"\"",
            ";;;,,,",
            "for=[::1;proto=",
        ]),
        header_bytes(80),
    ];
    let xff = prop_oneof![
        text(vec![
            "203.0.113.9, 10.0.0.1",
            "[2001:db8::2]:80",
            "garbage",
            "1.2.3.4:5",
            ""
        ]),
        header_bytes(40),
    ];
    let xfh = prop_oneof![
        text(vec![
            "xfh.test:8443",
            "u:Zq9SeCrEt7Xw@xfh.test",
            "bad host",
            ""
        ]),
        header_bytes(40),
    ];
    let xfp = prop_oneof![
        text(vec!["https", "HTTP", "gopher", "https, http"]),
        header_bytes(10)
    ];
    (
        prop::option::of(forwarded),
        prop::option::of(xff),
        prop::option::of(xfh),
        prop::option::of(xfp),
    )
        .prop_map(|(f, xff, xfh, xfp)| {
            let mut out = Vec::new();
            let names = [
                header::FORWARDED,
                HeaderName::from_static("x-forwarded-for"),
                HeaderName::from_static("x-forwarded-host"),
                HeaderName::from_static("x-forwarded-proto"),
            ];
            for (n, v) in names.into_iter().zip([f, xff, xfh, xfp]) {
                if let Some(v) = v {
                    out.push((n, v));
                }
            }
            out
        })
}

fn hostile(with_forwarding: bool) -> impl Strategy<Value = Hostile> {
    let credentials = (
        prop::option::of(Just(format!("Bearer {MARKER}"))),
        prop::option::of(Just(MARKER.to_string())),
        prop::option::of(Just(format!("session={MARKER}; other=1"))),
    );
    let forwarding = if with_forwarding {
        forwarding().boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (
        method(),
        target(),
        host(),
        user_agent(),
        referer(),
        credentials,
        forwarding,
    )
        .prop_map(
            |(method, uri, host, ua, referer, (auth, key, cookie), fwd)| {
                let mut headers = Vec::new();
                let mut add = |n: HeaderName, v: Option<HeaderValue>| {
                    if let Some(v) = v {
                        headers.push((n, v));
                    }
                };
                add(header::HOST, host);
                add(header::USER_AGENT, ua);
                add(header::REFERER, referer);
                let secret = |s: Option<String>| s.map(|s| HeaderValue::from_str(&s).unwrap());
                add(header::AUTHORIZATION, secret(auth));
                add(HeaderName::from_static("x-api-key"), secret(key));
                add(header::COOKIE, secret(cookie));
                headers.extend(fwd);
                Hostile {
                    method,
                    uri,
                    headers,
                }
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Through the rig: one layer per test, every case checked.

#[test]
fn ga4_hostile_requests() {
    let layer = GaLayer::new("G-HOSTILE1").api_secret("hostile-secret");
    let rig = Rig::new(layer, Proto::Ga4, false);
    run(&rig, hostile(false), cases(128));
}

/// Behind a "trusted" proxy that let forged `Forwarded` / `X-Forwarded-*` through, with the
/// client IP sent: `ip_override` must still be an IP address and the host a host.
#[test]
fn ga4_hostile_forwarding_headers_behind_a_trusted_proxy() {
    let layer = GaLayer::new("G-HOSTILE2")
        .api_secret("hostile-secret")
        .trust_proxy(true)
        .send_client_ip(IpMode::Full);
    let rig = Rig::new(layer, Proto::Ga4, true);
    run(&rig, hostile(true), cases(96));
}

#[test]
fn ua_hostile_requests() {
    let rig = Rig::new(GaLayer::new("UA-1-1"), Proto::Ua, false);
    run(&rig, hostile(false), cases(96));
}
