//! The local collector is a server people run (the quickstart, the examples, their own tests): it
//! refuses what Google would, before reading it whole, and lets no client hold it.

mod common;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_ga::collector::Collector;

/// Writes `request` on a new connection and reads the answer until the server closes it (or 30 s).
async fn exchange(c: &Collector, request: &[u8]) -> String {
    let addr = c.url().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer));
    let _ = read.await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_over_130_kb_is_refused_before_it_is_read() {
    let c = Collector::start_local().await.unwrap();
    // Declared: refused on the headers alone (the 7 MB never come).
    let head = "POST /mp/collect?measurement_id=G-1&api_secret=s HTTP/1.1\r\nhost: x\r\n\
                content-type: application/json\r\ncontent-length: 7000000\r\nconnection: close\r\n\r\n";
    let answer = exchange(&c, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Chunked: refused once past the limit.
    let mut chunked = b"POST /mp/collect?measurement_id=G-1&api_secret=s HTTP/1.1\r\nhost: x\r\n\
                        content-type: application/json\r\ntransfer-encoding: chunked\r\n\
                        connection: close\r\n\r\n"
        .to_vec();
    let chunk = vec![b' '; 50_000];
    for _ in 0..4 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = exchange(&c, &chunked).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let counts = c.counts();
    assert_eq!((counts.requests, counts.hits_seen), (0, 0), "{counts:?}");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let c = Collector::start_local().await.unwrap();
    let started = std::time::Instant::now();
    // Headers begun and never ended: the collector closes the connection after its read
    // timeout (10 s), well before the 30 s this waits at most.
    let answer = exchange(&c, b"POST /mp/collect HTTP/1.1\r\nhost: x\r\n").await;
    assert!(
        started.elapsed() < Duration::from_secs(29),
        "still open: {answer}"
    );
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_counted_and_room_frees_up() {
    use tower_ga::collector::CollectorConfig;
    let c = Collector::start(CollectorConfig::default().max_connections(4))
        .await
        .unwrap();
    let addr = c.url().trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    // Served connections are counted when accepted; wait until all four are.
    while c.counts().connections < 4 {
        tokio::task::yield_now().await;
    }
    let post = "POST /mp/collect?measurement_id=G-1&api_secret=s HTTP/1.1\r\nhost: x\r\n\
                content-type: application/json\r\ncontent-length: 51\r\nconnection: close\r\n\r\n\
                {\"client_id\":\"1.2\",\"events\":[{\"name\":\"page_view\"}]}";
    // A fifth gets no answer: closed unread.
    assert_eq!(exchange(&c, post.as_bytes()).await, "");
    assert_eq!(c.counts().connections_refused, 1);
    // Once one closes, a new connection is served.
    drop(idle.pop());
    let mut answer = String::new();
    for _ in 0..200 {
        answer = exchange(&c, post.as_bytes()).await;
        if !answer.is_empty() {
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert_eq!(c.counts().hits_accepted, 1);
}

#[tokio::test]
async fn it_records_the_first_10000_requests_and_counts_the_rest() {
    let c = Collector::start_local().await.unwrap();
    let client = common::http_client();
    let url = format!("{}/mp/collect?measurement_id=G-1&api_secret=s", c.url());
    let body = r#"{"client_id":"1.2","events":[{"name":"page_view"}]}"#;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            for _ in (worker..10_010).step_by(8) {
                let r = client.post(&url).body(body).send().await.unwrap();
                assert_eq!(r.status(), 204);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let counts = c.counts();
    assert_eq!(counts.requests, 10_010);
    assert_eq!(counts.hits_accepted, 10_010);
    assert_eq!(c.requests().len(), 10_000);
    assert_eq!(c.arrivals().len(), 10_000);
    assert_eq!(counts.requests_unrecorded, 10);
}

/// The collector checks what `validate::ga4` checks: its debug endpoint objects to a web
/// stream's app-only event and a millisecond timestamp, accepts a `_ga` cookie's client id and
/// the 2025 objects, and records the missing engagement time as a warning.
#[tokio::test]
async fn the_collector_checks_the_2025_rules() {
    let c = Collector::start_local().await.unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let body = format!(
        r#"{{"client_id":"GA1.1.1981186971.1385021350","consent":{{"ad_user_data":"DENIED","ad_personalization":"DENIED"}},"user_location":{{"country_id":"DE","region_id":"DE-BE","city":"Berlin"}},"device":{{"browser":"acme-sdk","browser_version":"2.1"}},"events":[{{"name":"screen_view","timestamp_micros":{now_ms},"params":{{"session_id":1}}}}]}}"#
    );
    let request = format!(
        "POST /debug/mp/collect?measurement_id=G-TEST123 HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(&c, request.as_bytes()).await;
    let json = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let json: serde_json::Value = serde_json::from_str(json).unwrap();
    let paths: Vec<&str> = json["validationMessages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["fieldPath"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["events[0].name", "events[0].timestamp_micros"],
        "{json}"
    );
    let r = &c.requests()[0];
    assert_eq!(r.messages.len(), 2);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert_eq!(
        r.warnings[0].field_path,
        "events[0].params.engagement_time_msec"
    );
}
