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

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::{self, get};
use axum::Router;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;
use tower_ga::testing::{parse_ga4, parse_ua, RecordingTransport};
use tower_ga::{validate, GaLayer, Handle, IpMode, PROBE_PATHS};

/// A secret placed only where the layer must never send it from: secret-looking query params
/// (of the request and of the referrer), URL credentials, `Authorization`, the API-key header,
/// cookies. Random generation can't produce it by chance.
const MARKER: &str = "Zq9SeCrEt7Xw";
const FLUSH: Duration = Duration::from_secs(10);

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

include!("support/host_oracle.rs");

// ---------------------------------------------------------------------------------------------
// The inner service: echoes what it saw, so any change the layer made would show.

async fn echo(method: Method, uri: Uri, headers: HeaderMap) -> String {
    let header_bytes: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    format!(
        "{method} {} {} headers, {header_bytes} bytes",
        uri.to_string().len(),
        headers.len()
    )
}

async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> (StatusCode, String) {
    (StatusCode::NOT_FOUND, echo(method, uri, headers).await)
}

fn inner() -> Router {
    Router::new()
        .route("/items/{id}", get(echo).post(echo).put(echo))
        .route("/echo", routing::any(echo))
        .fallback(fallback)
}

// ---------------------------------------------------------------------------------------------
// Hostile requests.

#[derive(Clone, Debug)]
struct Hostile {
    method: Method,
    /// A valid request target (`http::Uri` holds only valid UTF-8; raw invalid bytes are covered
    /// over TCP below).
    uri: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Hostile {
    fn request(&self) -> Request<Body> {
        let mut b = Request::builder()
            .method(self.method.clone())
            .uri(&self.uri);
        for (n, v) in &self.headers {
            b = b.header(n, v);
        }
        b.body(Body::empty()).expect("generated requests are valid")
    }

    fn header(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn parsed_uri(&self) -> Uri {
        self.uri.parse().unwrap()
    }

    /// Whether the default filter tracks it: not `OPTIONS`/`HEAD`, not a probe path (this app's
    /// route templates are none).
    fn tracked(&self) -> bool {
        self.method != Method::OPTIONS
            && self.method != Method::HEAD
            && !PROBE_PATHS.contains(&self.parsed_uri().path())
    }

    /// The host `page_location` must report for a relative URI and no trusted proxy.
    fn expected_host(&self) -> Option<String> {
        let uri = self.parsed_uri();
        if uri.authority().is_some() {
            return None;
        }
        let from_header = self
            .header(&header::HOST)
            // A Host header longer than the layer keeps (512 bytes) isn't reported.
            .filter(|v| v.len() <= 512)
            .and_then(|v| v.to_str().ok())
            .and_then(expected_host_of);
        Some(from_header.unwrap_or_else(|| "localhost".into()))
    }
}

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
// The rig and the checks.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    Ga4,
    Ua,
}

struct Rig {
    rt: tokio::runtime::Runtime,
    plain: Router,
    tracked: Router,
    handle: Handle,
    recorder: RecordingTransport,
    proto: Proto,
    trust_proxy: bool,
}

impl Rig {
    fn new(layer: GaLayer, proto: Proto, trust_proxy: bool) -> Rig {
        let recorder = RecordingTransport::new();
        let layer = layer
            .transport(recorder.clone())
            .api_key_header(HeaderName::from_static("x-api-key"))
            .flush_interval(Duration::from_millis(50));
        let handle = layer.handle();
        Rig {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            plain: inner(),
            tracked: inner().layer(layer),
            handle,
            recorder,
            proto,
            trust_proxy,
        }
    }

    fn check(&self, case: &Hostile) -> Result<(), TestCaseError> {
        let before = self.handle.stats();
        let (expected, got) = self.rt.block_on(async {
            (
                respond(self.plain.clone(), case.request()).await,
                respond(self.tracked.clone(), case.request()).await,
            )
        });
        prop_assert_eq!(&expected, &got, "the layer changed the response");

        prop_assert!(self.rt.block_on(self.handle.flush(FLUSH)), "flush failed");
        let after = self.handle.stats();
        let tracked = after.tracked - before.tracked;
        prop_assert_eq!(tracked, u64::from(case.tracked()));
        prop_assert_eq!(after.sent - before.sent, tracked, "{:?}", after);

        let requests = self.recorder.requests();
        self.recorder.clear();
        let mut hits = 0;
        for r in &requests {
            let body = r.body();
            prop_assert!(
                !contains(body, MARKER.as_bytes()),
                "a secret was sent: {}",
                String::from_utf8_lossy(body)
            );
            match self.proto {
                Proto::Ga4 => {
                    let messages = validate::ga4(body);
                    prop_assert!(
                        messages.is_empty(),
                        "{:?} in {}",
                        messages,
                        String::from_utf8_lossy(body)
                    );
                    for e in parse_ga4(body) {
                        hits += 1;
                        self.check_ga4_event(case, got.0, &e)?;
                    }
                }
                Proto::Ua => {
                    let text = std::str::from_utf8(body);
                    prop_assert!(text.is_ok(), "a v1 body is not UTF-8");
                    let text = text.unwrap();
                    let messages = validate::ua_batch(text);
                    prop_assert!(messages.is_empty(), "{:?} in {}", messages, text);
                    for h in parse_ua(text) {
                        hits += 1;
                        prop_assert_eq!(h.get("t").map(String::as_str), Some("pageview"));
                    }
                }
            }
        }
        prop_assert_eq!(hits, tracked);
        Ok(())
    }

    fn check_ga4_event(
        &self,
        case: &Hostile,
        status: StatusCode,
        e: &tower_ga::testing::RecordedEvent,
    ) -> Result<(), TestCaseError> {
        prop_assert_eq!(e.name.as_str(), "page_view");
        prop_assert_eq!(
            e.param_u64("http_status_code"),
            Some(u64::from(status.as_u16()))
        );
        // A hit keeps at most 15 bytes of a method (what `Method` stores inline).
        let method: String = case.method.as_str().chars().take(15).collect();
        prop_assert_eq!(e.param_str("http_method"), Some(method.as_str()));
        let location = e.param_str("page_location").unwrap_or_default();
        prop_assert!(
            location.starts_with("http://") || location.starts_with("https://"),
            "{}",
            location
        );
        if let (false, Some(host)) = (self.trust_proxy, case.expected_host()) {
            // `page_location` may be cut anywhere after 100 characters, even inside the host.
            let prefix = format!("http://{host}/");
            prop_assert!(
                location.starts_with(&prefix) || prefix.starts_with(location),
                "{} for host {}",
                location,
                host
            );
        }
        Ok(())
    }
}

async fn respond(app: Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let resp = app.oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, body)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn run(rig: &Rig, strategy: impl Strategy<Value = Hostile>, cases: u32) {
    let mut runner = runner(cases);
    if let Err(e) = runner.run(&strategy, |case| rig.check(&case)) {
        panic!("{e}");
    }
    let s = rig.handle.stats();
    assert_eq!(s.sent + s.dropped + s.failed, s.tracked, "{s:?}");
    assert_eq!((s.dropped, s.failed), (0, 0), "{s:?}");
    assert!(rig.rt.block_on(rig.handle.shutdown(FLUSH)));
}

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

// ---------------------------------------------------------------------------------------------
// Raw bytes over TCP: request targets and headers that `http::Uri` could never hold (invalid
// UTF-8). hyper answers or rejects them before any service runs; whatever reaches the layer must
// still give valid payloads, and the server with the layer answers exactly as the one without.

/// Raw request target bytes, of what httparse accepts (`!`..`~` and 0x80-0xFF): visible ASCII,
/// raw (unescaped) UTF-8, or arbitrary high bytes (mostly invalid UTF-8).
fn raw_target() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => prop::collection::vec(0x21u8..0x7f, 0..16),
        2 => any::<String>().prop_map(|s| {
            s.chars().filter(|c| !c.is_ascii()).collect::<String>().into_bytes()
        }),
        1 => prop::collection::vec(0x80u8..=0xff, 1..8),
    ];
    (
        prop::sample::select(vec!["/items/", "/echo?", "/", "/echo/"]),
        prop::collection::vec(piece, 0..4),
    )
        .prop_map(|(p, pieces)| {
            let mut t = p.as_bytes().to_vec();
            t.extend(pieces.concat());
            t
        })
}

fn raw_request() -> impl Strategy<Value = Vec<u8>> {
    let header_value =
        prop::collection::vec(prop_oneof![3 => 0x21u8..0x7f, 2 => 0x80u8..=0xff], 1..40);
    (
        prop::sample::select(vec!["GET", "POST", "PURGE", "get"]),
        raw_target(),
        prop::option::of(header_value.clone()),
        prop::option::of(header_value.clone()),
        prop::option::of(header_value),
    )
        .prop_map(|(method, target, host, ua, referer)| {
            let mut r = Vec::new();
            r.extend_from_slice(method.as_bytes());
            r.push(b' ');
            r.extend(target);
            r.extend_from_slice(b" HTTP/1.1\r\n");
            for (name, v) in [("Host", host), ("User-Agent", ua), ("Referer", referer)] {
                if let Some(v) = v {
                    r.extend_from_slice(name.as_bytes());
                    r.extend_from_slice(b": ");
                    r.extend(v);
                    r.extend_from_slice(b"\r\n");
                }
            }
            r.extend_from_slice(b"Content-Length: 0\r\nConnection: close\r\n\r\n");
            r
        })
}

/// Sends raw bytes, returns the status line and body of the answer (not the `Date` header).
async fn exchange(addr: std::net::SocketAddr, raw: &[u8]) -> (String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(FLUSH, s.read_to_end(&mut answer))
        .await
        .expect("the server never finished its answer")
        .ok();
    let status_line = answer
        .split(|b| *b == b'\n')
        .next()
        .map(|l| String::from_utf8_lossy(l).trim().to_owned())
        .unwrap_or_default();
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(Vec::new(), |i| answer[i + 4..].to_vec());
    (status_line, body)
}

#[test]
fn raw_non_utf8_requests_over_tcp() {
    let recorder = RecordingTransport::new();
    let layer = GaLayer::new("G-HOSTILE3")
        .api_secret("hostile-secret")
        .transport(recorder.clone());
    let handle = layer.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let serve = |app: Router| {
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
            addr
        })
    };
    let plain = serve(inner());
    let tracked = serve(inner().layer(layer));

    let mut runner = runner(cases(64));
    let result = runner.run(&raw_request(), |raw| {
        let before = handle.stats().tracked;
        let (expected, got) =
            rt.block_on(async { (exchange(plain, &raw).await, exchange(tracked, &raw).await) });
        prop_assert_eq!(&expected, &got, "the layer changed the response");
        prop_assert!(!got.0.is_empty(), "no answer");
        prop_assert!(rt.block_on(handle.flush(FLUSH)));
        let requests = recorder.requests();
        recorder.clear();
        let mut events = 0;
        for r in &requests {
            let messages = validate::ga4(r.body());
            prop_assert!(messages.is_empty(), "{:?}", messages);
            events += parse_ga4(r.body()).len() as u64;
        }
        prop_assert_eq!(events, handle.stats().tracked - before);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let s = handle.stats();
    assert!(
        s.tracked > 0,
        "no raw request ever reached the layer: {s:?}"
    );
    assert_eq!(s.sent, s.tracked, "{s:?}");
}
