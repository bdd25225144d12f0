use serde_json::Value;

use super::*;
use crate::config::IpMode;
use crate::spec::ga4::BUILTIN_PARAMS;
use crate::spec::ga4_validate::validate;

/// Encodes a hit into `s.key` and `s.item`, as the sender does.
fn encode(hit: &Hit, cfg: &Config, sessions: &mut Sessions, s: &mut Scratch) {
    let (stamp, _) = encode_key(hit, cfg, sessions, &KeyHashers::default(), s);
    s.item.clear();
    let e = Event {
        page: &mut s.page,
        pages: &mut s.pages,
        extras: &s.extras,
        stamp,
    };
    encode_event(hit, cfg, e, &mut s.item);
}

/// Encodes one hit with a route and a referrer, reusing `scratch`; returns the body of a
/// batch of that one event.
fn encode_one(scratch: &mut Scratch, path: &str, referer: Option<&str>) -> Value {
    let mut req = http::Request::get(path).header("host", "api.test");
    if let Some(r) = referer {
        req = req.header("referer", r);
    }
    let mut req = req.body(()).unwrap();
    req.extensions_mut()
        .insert(crate::MatchedRoute::new("/users/{id}"));
    let mut hit = Hit::from_request(&req, false);
    hit.stamp();
    let cfg = Config::default();
    encode(&hit, &cfg, &mut Sessions::new(1800, 10), scratch);
    let body = super::body(&scratch.key, std::iter::once(scratch.item.as_str()));
    assert_eq!(validate(&body, 100), vec![]);
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn a_clock_before_1970_leaves_the_timestamp_to_google() {
    let req = http::Request::get("/a")
        .header("host", "api.test")
        .body(())
        .unwrap();
    let mut hit = Hit::from_request(&req, false);
    hit.received_at = std::time::UNIX_EPOCH - std::time::Duration::from_secs(60);
    let mut scratch = Scratch::default();
    encode(
        &hit,
        &Config::with_raw_paths(),
        &mut Sessions::new(1800, 10),
        &mut scratch,
    );
    let body = super::body(&scratch.key, std::iter::once(scratch.item.as_str()));
    assert_eq!(validate(&body, 100), vec![]);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["events"][0].get("timestamp_micros").is_none(), "{v}");
    assert_eq!(
        v["events"][0]["params"]["page_location"],
        "http://api.test/a"
    );
}

#[test]
fn an_event_carries_every_builtin_param_and_buffers_are_reused() {
    let mut scratch = Scratch::default();
    let v = encode_one(&mut scratch, "/users/7?token=x", Some("https://ref.test/a"));
    let params = v["events"][0]["params"].as_object().unwrap();
    let mut names: Vec<&str> = params.keys().map(String::as_str).collect();
    // Every builtin param but `api_deprecated`, which only a deprecated route's events carry.
    let mut builtin: Vec<&str> = BUILTIN_PARAMS
        .iter()
        .copied()
        .filter(|p| *p != "api_deprecated")
        .collect();
    names.sort_unstable();
    builtin.sort_unstable();
    assert_eq!(names, builtin);
    assert_eq!(
        params["page_location"],
        "http://api.test/users/7?token=REDACTED"
    );
    // A second hit in the same buffers: nothing of the first is left.
    let v = encode_one(&mut scratch, "/b", None);
    let params = v["events"][0]["params"].as_object().unwrap();
    assert_eq!(params["page_location"], "http://api.test/b");
    assert!(params.get("page_referrer").is_none());
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
}

/// Hits that differ from a first one in one input at a time (and some in nothing the page
/// depends on).
fn variants() -> Vec<http::Request<()>> {
    type Change = fn(&mut http::HeaderMap);
    fn set(h: &mut http::HeaderMap, name: &'static str, value: &'static str) {
        h.insert(name, http::HeaderValue::from_static(value));
    }
    let base = |uri: &str, method: &str| {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "api.test")
            .header("referer", "https://ref.test/a?x=1&token=t")
            .header("authorization", "Bearer a")
    };
    let changes: Vec<(&str, &str, Change)> = vec![
        ("/users/7?page=2", "GET", |_| {}),
        ("/users/8?page=2", "GET", |_| {}),
        ("/users/7?page=3", "GET", |_| {}),
        ("/users/7", "GET", |_| {}),
        ("/users/7?page=2", "POST", |_| {}),
        ("/users/7?page=2", "GET", |h| set(h, "host", "other.test")),
        ("/users/7?page=2", "GET", |h| {
            h.remove("host");
        }),
        ("/users/7?page=2", "GET", |h| {
            set(h, "referer", "https://ref.test/b")
        }),
        ("/users/7?page=2", "GET", |h| {
            h.remove("referer");
        }),
        ("/users/7?page=2", "GET", |h| {
            set(h, "authorization", "Bearer b")
        }),
        ("/users/7?page=2", "GET", |h| set(h, "user-agent", "agent")),
        ("/users/7?page=2", "GET", |h| {
            set(h, "x-forwarded-for", "192.0.2.1")
        }),
        ("/users/7?page=2", "GET", |h| {
            set(h, "x-forwarded-for", "192.0.2.2")
        }),
        ("/users/7?page=2", "GET", |h| {
            set(h, "x-forwarded-proto", "https")
        }),
        ("/users/7?page=2", "GET", |h| {
            set(h, "x-forwarded-host", "fwd.test")
        }),
        ("/users/7?page=2", "GET", |h| {
            set(h, "forwarded", "host=fwd2.test;proto=https")
        }),
        ("https://abs.test/users/7?page=2", "GET", |_| {}),
        ("http://abs.test/users/7?page=2", "GET", |_| {}),
        ("http://abs2.test/users/7?page=2", "GET", |_| {}),
    ];
    let mut out = Vec::new();
    for (uri, method, change) in changes {
        for (route, title) in [
            (Some("/users/{id}"), None),
            (Some("/users/{uid}"), None),
            (None, None),
            (Some("/users/{id}"), Some("A title")),
            (Some("/users/{id}"), Some("Another")),
        ] {
            let mut req = base(uri, method).body(()).unwrap();
            change(req.headers_mut());
            if let Some(r) = route {
                req.extensions_mut().insert(crate::MatchedRoute::new(r));
            }
            if let Some(t) = title {
                req.extensions_mut().insert(crate::PageTitle::new(t));
            }
            out.push(req);
        }
    }
    // Other identities: a user id, or the client's address and agent.
    for (user, ip, agent) in [
        (Some("user-1"), None, None),
        (Some("user-2"), None, None),
        (None, Some([192, 0, 2, 9]), Some("agent a")),
        (None, Some([192, 0, 2, 9]), Some("agent b")),
        (None, Some([192, 0, 2, 10]), Some("agent a")),
    ] {
        let mut req = http::Request::get("/users/7?page=2")
            .header("host", "api.test")
            .header("user-agent", agent.unwrap_or("x"))
            .body(())
            .unwrap();
        if let Some(u) = user {
            req.extensions_mut().insert(crate::UserId::new(u));
        }
        if let Some(ip) = ip {
            req.extensions_mut()
                .insert(crate::ClientIp(std::net::IpAddr::from(ip)));
        }
        out.push(req);
    }
    out
}

#[test]
fn the_memos_give_what_encoding_gives() {
    let configs = [false, true].into_iter().flat_map(|trust_proxy| {
        [IpMode::Off, IpMode::Truncated, IpMode::Full]
            .into_iter()
            .flat_map(move |ip_mode| {
                [(true, false), (false, false), (true, true)]
                    .map(|(agent, hook)| (trust_proxy, ip_mode, agent, hook))
            })
    });
    for (trust_proxy, ip_mode, send_user_agent, hook) in configs {
        let make_client_id: Option<std::sync::Arc<dyn crate::MakeClientId>> = hook.then(|| {
            let hook = |h: &Hit| h.user_agent().map(|a| format!("from-hook-{a}"));
            std::sync::Arc::new(hook) as _
        });
        let mut cfg = Config::default();
        cfg.capture.trust_proxy = trust_proxy;
        cfg.report.ip_mode = ip_mode;
        cfg.report.send_user_agent = send_user_agent;
        cfg.identity.make_client_id = make_client_id;
        let mut reqs = variants();
        // An explicit id, which the memo must leave alone.
        let mut explicit = http::Request::get("/users/7?page=2")
            .header("host", "api.test")
            .header("authorization", "Bearer a")
            .body(())
            .unwrap();
        explicit
            .extensions_mut()
            .insert(crate::ClientId::new("explicit-1"));
        reqs.push(explicit);
        // Seven hundred seconds apart: a consumer's session ends every third hit or so, and
        // ids rotate with the day, so sessions and ids must be kept per consumer to match.
        let hits: Vec<Hit> = reqs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut h = Hit::from_request(r, trust_proxy);
                h.text.settle();
                h.stamp();
                h.received_at = std::time::UNIX_EPOCH
                    + std::time::Duration::from_secs(1_700_000_000 + 700 * i as u64);
                h
            })
            .collect();
        let mut warm = Scratch::default();
        let (mut warm_sessions, mut cold_sessions) =
            (Sessions::new(1800, 1000), Sessions::new(1800, 1000));
        let mut kept = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        // Twice over, and backwards: each page is met again once the memo holds it and the
        // others.
        for hit in hits.iter().chain(hits.iter().rev()) {
            let mut cold = Scratch::without_memos();
            encode(hit, &cfg, &mut cold_sessions, &mut cold);
            encode(hit, &cfg, &mut warm_sessions, &mut warm);
            let case =
                format!("proxy {trust_proxy} {ip_mode:?} agent {send_user_agent} hook {hook}");
            assert_eq!(warm.item, cold.item, "{case}");
            assert_eq!(warm.key, cold.key, "{case}");
            keys.insert(cold.key.clone());
            kept.insert(cold.item.clone());
        }
        // Pages that differ are told apart (the variants are more than the pages), and so are
        // consumers.
        assert!(kept.len() > 40, "{}", kept.len());
        assert!(keys.len() >= 6, "{}", keys.len());
    }
}

#[test]
fn a_user_id_cannot_pass_for_another_consumers_agent_and_address() {
    // Consumer A's user id spells out consumer B's agent and the start of B's address as the
    // memo key writes them, and A's own agent and address the rest: without the identity's
    // length at the end of the key, the two keys are one, and A is sent as B.
    let mut cfg = Config::default();
    cfg.report.ip_mode = IpMode::Full;
    let b_ip: [u8; 16] = [b'o', b'p', 2, 0, 0, 0, b'c', b'd', 4, 0, 0, 0, 9, 8, 7, 6];
    let hit = |user: &str, agent: &str, ip: std::net::IpAddr| {
        let mut req = http::Request::get("/a")
            .header("user-agent", agent)
            .body(())
            .unwrap();
        req.extensions_mut().insert(crate::UserId::new(user));
        req.extensions_mut().insert(crate::ClientIp(ip));
        let mut h = Hit::from_request(&req, false);
        h.text.settle();
        h.stamp();
        h
    };
    let b = hit("X", "ab", std::net::IpAddr::from(b_ip));
    let a = hit(
        "X\u{2}\0\0\0ab\u{10}\0\0\0op",
        "cd",
        std::net::IpAddr::from([9, 8, 7, 6]),
    );
    let mut warm = Scratch::default();
    let mut sessions = Sessions::new(1800, 10);
    for h in [&b, &a] {
        let mut cold = Scratch::without_memos();
        encode(h, &cfg, &mut Sessions::new(1800, 10), &mut cold);
        encode(h, &cfg, &mut sessions, &mut warm);
        assert_eq!(warm.key, cold.key);
    }
}

#[test]
fn a_title_hook_bypasses_the_memo() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let mut cfg = Config::default();
    cfg.report.make_title = Some(std::sync::Arc::new(|_: &Hit| {
        let n = CALLS.fetch_add(1, Ordering::Relaxed);
        Some(format!("call {n}"))
    }));
    let mut hit = Hit::from_request(&http::Request::get("/a").body(()).unwrap(), false);
    hit.stamp();
    let mut s = Scratch::default();
    let mut titles = Vec::new();
    for _ in 0..2 {
        encode(&hit, &cfg, &mut Sessions::new(1800, 10), &mut s);
        let body = super::body(&s.key, std::iter::once(s.item.as_str()));
        let v: Value = serde_json::from_slice(&body).unwrap();
        titles.push(v["events"][0]["params"]["page_title"].clone());
    }
    assert_eq!(titles, ["call 0", "call 1"]);
}

#[test]
fn a_batch_is_built_as_its_request_body() {
    use crate::encode::batch::Batcher;
    let mut scratch = Scratch::default();
    let mut batcher = Batcher::new(crate::Protocol::Ga4.limits(false));
    let mut items = Vec::new();
    // One key for all (each of these hits has a random client id).
    encode_one(&mut scratch, "/", None);
    let key = scratch.key.clone();
    for path in ["/a", "/b?x=%22", "/c"] {
        encode_one(&mut scratch, path, None);
        batcher.add(0, &key, &scratch.item, std::time::SystemTime::now());
        items.push(scratch.item.clone());
    }
    batcher.close_all();
    let mut batch = batcher.next_ready().unwrap();
    let got: Vec<&str> = batch.items().map(|(item, _)| item).collect();
    assert_eq!(got, items);
    let expected = super::body(&key, items.iter().map(String::as_str));
    assert_eq!(batch.body(), expected);
    assert_eq!(validate(&expected, 100), vec![]);
    // Every attempt sends the same body.
    assert_eq!(batch.body(), expected);
}

#[test]
fn consumers_taking_turns_each_get_batches_of_their_own() {
    // Through the memos (the consumer's key and its batch's id kept), with and without them.
    use crate::encode::batch::Batcher;
    for memos in [true, false] {
        let cfg = Config::with_raw_paths();
        let mut s = if memos {
            Scratch::default()
        } else {
            Scratch::without_memos()
        };
        let mut sessions = Sessions::new(1800, 100);
        let mut batcher = Batcher::new(crate::Protocol::Ga4.limits(false));
        for turn in 0..30 {
            let who = turn % 3;
            let mut req = http::Request::get(format!("/users/{turn}"))
                .header("host", "api.test")
                .header("authorization", format!("Bearer {who}"))
                .body(())
                .unwrap();
            if who == 2 {
                req.extensions_mut().insert(crate::UserId::new("user-2"));
            }
            let mut hit = Hit::from_request(&req, false);
            hit.text.settle();
            hit.stamp();
            crate::Protocol::Ga4.encode_into(
                &hit,
                &cfg,
                &mut sessions,
                &mut s,
                &mut batcher,
                0,
                None,
            );
        }
        batcher.close_all();
        let mut seen = std::collections::HashMap::new();
        while let Some(mut batch) = batcher.next_ready() {
            let body: Value = serde_json::from_slice(&batch.body()).unwrap();
            let paths: Vec<u64> = body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let loc = e["params"]["page_location"].as_str().unwrap();
                    loc.rsplit('/').next().unwrap().parse().unwrap()
                })
                .collect();
            let id = body["client_id"].as_str().unwrap().to_owned();
            assert!(seen.insert(id, paths).is_none(), "one batch per consumer");
        }
        // Three consumers, each with its own ten turns.
        let mut got: Vec<Vec<u64>> = seen.into_values().collect();
        got.sort();
        let want: Vec<Vec<u64>> = (0..3)
            .map(|w| (0..10).map(|i| i * 3 + w).collect())
            .collect();
        assert_eq!(got, want, "memos {memos}");
    }
}
