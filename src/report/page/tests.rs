use super::*;
use crate::config::UNMATCHED_TITLE;
use crate::markers::PageTitle;
use http::header::HeaderValue;

fn hit_for(req: &http::Request<()>, trust_proxy: bool) -> Hit {
    Hit::from_request(req, trust_proxy)
}

fn page(hit: &Hit, cfg: &Config) -> PageBuf {
    let mut p = PageBuf::default();
    p.fill(hit, cfg);
    p
}

#[test]
fn location_uses_host_header_and_default_scheme() {
    let req = http::Request::get("/v1/items?page=2&token=x")
        .header("host", "API.Example.com:8080")
        .body(())
        .unwrap();
    let p = page(&hit_for(&req, false), &Config::with_raw_paths());
    assert_eq!(
        p.location(),
        "http://api.example.com:8080/v1/items?page=2&token=REDACTED"
    );
    assert_eq!(p.host(), "api.example.com:8080");
    assert_eq!(p.path(), "/v1/items?page=2&token=REDACTED");
    // The buffers are reused: a second fill leaves nothing of the first.
    let mut p = p;
    let req = http::Request::get("/b").body(()).unwrap();
    p.fill(&hit_for(&req, false), &Config::with_raw_paths());
    assert_eq!(
        (p.location(), p.host(), p.path(), p.referrer()),
        ("http://localhost/b", "localhost", "/b", None)
    );
}

#[test]
fn the_last_host_header_is_remembered_and_follows_changes() {
    let mut p = PageBuf::default();
    let cfg = Config::with_raw_paths();
    let long = format!("{}.example", "a".repeat(LastHost::MAX_HEADER));
    for (host, expected) in [
        ("API.example.com", "api.example.com"),
        ("API.example.com", "api.example.com"),
        ("bad host", "localhost"),
        ("bad host", "localhost"),
        ("", "localhost"),
        ("other.example:8080", "other.example:8080"),
        (long.as_str(), long.as_str()),
        ("API.example.com", "api.example.com"),
    ] {
        let req = http::Request::get("/a")
            .header("host", host)
            .body(())
            .unwrap();
        p.fill(&hit_for(&req, false), &cfg);
        assert_eq!(p.host(), expected, "{host:?}");
        assert!(p.last_host.header.len() <= LastHost::MAX_HEADER);
    }
}

#[test]
fn proxy_headers_only_count_when_trusted() {
    let req = http::Request::get("/a")
        .header("host", "internal:3000")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "api.example.com")
        .body(())
        .unwrap();
    let cfg = Config::with_raw_paths();
    assert_eq!(
        page(&hit_for(&req, false), &cfg).location(),
        "http://internal:3000/a"
    );
    let mut cfg = Config::with_raw_paths();
    cfg.capture.trust_proxy = true;
    assert_eq!(
        page(&hit_for(&req, true), &cfg).location(),
        "https://api.example.com/a"
    );
}

#[test]
fn rfc7239_forwarded_is_understood() {
    let req = http::Request::get("/a")
        .header(
            "forwarded",
            "for=10.0.0.1;host=evil.example, for=\"[2001:db8::1]:4711\";proto=https;host=x.example",
        )
        .body(())
        .unwrap();
    let mut cfg = Config::with_raw_paths();
    cfg.capture.trust_proxy = true;
    let hit = hit_for(&req, true);
    // The nearest proxy's element: the last one.
    assert_eq!(page(&hit, &cfg).location(), "https://x.example/a");
    assert_eq!(hit.client_ip(), Some("2001:db8::1".parse().unwrap()));
}

#[test]
fn missing_or_garbage_host_falls_back() {
    let req = http::Request::get("/a")
        .header("host", HeaderValue::from_bytes(b"bad host\xff").unwrap())
        .body(())
        .unwrap();
    assert_eq!(
        page(&hit_for(&req, false), &Config::with_raw_paths()).host(),
        "localhost"
    );
}

#[test]
fn host_override_wins() {
    let req = http::Request::get("http://a.example/x").body(()).unwrap();
    let mut cfg = Config::with_raw_paths();
    cfg.report.host_override = Some("api.example.com".into());
    assert_eq!(
        page(&hit_for(&req, false), &cfg).location(),
        "http://api.example.com/x"
    );
}

#[test]
fn credentials_never_reported_however_long() {
    let user = "u".repeat(600);
    let req = http::Request::get(format!("http://{user}:12345@a.example/x").as_str())
        .header(
            "referer",
            format!("https://{}:12345@r.example/p", "u".repeat(2100)),
        )
        .body(())
        .unwrap();
    let p = page(&hit_for(&req, false), &Config::with_raw_paths());
    assert_eq!(p.location(), "http://a.example/x");
    assert_eq!(p.referrer(), None);
    let req = http::Request::get("/x")
        .header("host", format!("{user}:12345@a.example"))
        .body(())
        .unwrap();
    let p = page(&hit_for(&req, false), &Config::with_raw_paths());
    assert_eq!(p.location(), "http://localhost/x");
}

#[test]
fn long_headers_are_read_as_far_as_they_safely_can_be() {
    // A long referrer is still reported (redacted, and cut to the param limit later).
    let long = "x".repeat(3000);
    let req = http::Request::get("/x")
        .header(
            "referer",
            format!("https://app.example/s?token=t0k&q={long}"),
        )
        .body(())
        .unwrap();
    let p = page(&hit_for(&req, false), &Config::with_raw_paths());
    assert!(
        p.referrer()
            .unwrap()
            .starts_with("https://app.example/s?token=REDACTED&q=xxx"),
        "{:?}",
        p.referrer()
    );
    // Behind a trusted proxy, a long X-Forwarded-For chain still gives its last hop (the one
    // the proxy appended).
    let hops = (0..100).map(|i| format!("10.0.0.{i}")).collect::<Vec<_>>();
    let req = http::Request::get("/x")
        .header(
            "x-forwarded-for",
            format!("203.0.113.7, {}", hops.join(", ")),
        )
        .body(())
        .unwrap();
    assert_eq!(
        hit_for(&req, true).client_ip(),
        Some("10.0.0.99".parse().unwrap())
    );
    // A first Host value too long to keep isn't replaced by a second one.
    let req = http::Request::get("/x")
        .header("host", format!("{}.example", "a".repeat(600)))
        .header("host", "b.example")
        .body(())
        .unwrap();
    assert_eq!(
        page(&hit_for(&req, false), &Config::with_raw_paths()).host(),
        "localhost"
    );
}

#[test]
fn absolute_uri_credentials_never_reported() {
    let req = http::Request::get("https://user:pw@a.example/x")
        .body(())
        .unwrap();
    assert_eq!(
        page(&hit_for(&req, false), &Config::with_raw_paths()).location(),
        "https://a.example/x"
    );
}

#[test]
fn titles_annotation_then_template_then_unmatched() {
    let mut req = http::Request::get("/users/7").body(()).unwrap();
    let cfg = Config::default();
    assert_eq!(page(&hit_for(&req, false), &cfg).title(), UNMATCHED_TITLE);
    req.extensions_mut()
        .insert(crate::MatchedRoute::new("/users/{id}"));
    assert_eq!(page(&hit_for(&req, false), &cfg).title(), "GET /users/{id}");
    req.extensions_mut().insert(PageTitle::new("User"));
    assert_eq!(page(&hit_for(&req, false), &cfg).title(), "User");
}

#[test]
fn unmatched_requests_report_the_constant_path_without_their_query() {
    let mut req = http::Request::get("/reset-password/s3cr3t?user=7")
        .header("host", "api.example.com")
        .body(())
        .unwrap();
    let p = page(&hit_for(&req, false), &Config::default());
    assert_eq!(p.location(), "http://api.example.com/(unmatched)");
    assert_eq!(p.path(), "/(unmatched)");
    // A matched route reports its own path, query redacted.
    req.extensions_mut()
        .insert(crate::MatchedRoute::new("/reset-password/{token}"));
    let p = page(&hit_for(&req, false), &Config::default());
    assert_eq!(p.path(), "/reset-password/s3cr3t?user=7");
}

#[test]
fn a_matched_request_can_report_its_route_template_as_its_path() {
    let mut req = http::Request::get("/users/7?token=t")
        .header("host", "api.example.com")
        .body(())
        .unwrap();
    req.extensions_mut()
        .insert(crate::MatchedRoute::new("/users/{id}"));
    let mut cfg = Config::default();
    assert_eq!(
        page(&hit_for(&req, false), &cfg).path(),
        "/users/7?token=REDACTED"
    );
    cfg.report.location_from_route = true;
    let p = page(&hit_for(&req, false), &cfg);
    assert_eq!(
        p.location(),
        "http://api.example.com/users/{id}?token=REDACTED"
    );
}
