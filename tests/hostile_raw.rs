//! Property test: raw bytes over TCP, request targets and headers that `http::Uri` could never
//! hold (invalid UTF-8). hyper answers or rejects them before any service runs; whatever reaches
//! the layer must still give valid payloads, and the server with the layer answers exactly as the
//! one without.

mod common;
use common::hostile::{cases, inner, runner, FLUSH};

use axum::Router;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_ga::testing::{parse_ga4, RecordingTransport};
use tower_ga::{validate, GaLayer};

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
