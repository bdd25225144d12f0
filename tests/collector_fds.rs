//! The local collector out of file descriptors: `accept` fails, and the collector pauses between
//! tries instead of spinning, then serves again once descriptors are free. Its own test binary:
//! it lowers this process's descriptor limit.

mod common;
use common::{skip_or_fail, wait_until};

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_ga::collector::Collector;

#[tokio::test]
async fn accept_failures_pause_the_loop_and_it_recovers() {
    let c = Collector::start_local().await.unwrap();
    let addr = c.url().trim_start_matches("http://").to_owned();
    let pid = std::process::id().to_string();
    let lowered = std::process::Command::new("prlimit")
        .args(["--pid", &pid, "--nofile=256:20000"])
        .status();
    if !lowered.is_ok_and(|s| s.success()) {
        skip_or_fail("prlimit (util-linux) could not lower the descriptor limit");
        return;
    }
    // Connect until this process has no descriptors left: the collector's accepts then fail.
    let mut held = Vec::new();
    while let Ok(Ok(s)) =
        tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr)).await
    {
        held.push(s);
        assert!(held.len() < 10_000, "the limit did not take");
    }
    // Free one descriptor for the kernel's pending connection to fail on, and watch a second.
    drop(held.pop());
    let _pending = TcpStream::connect(&addr).await;
    // The window opens before the first count and closes after the last: every error counted
    // falls within it.
    let window = Instant::now();
    let before = c.counts().accept_errors;
    let after = wait_until(
        "accept fails five more times",
        || c.counts().accept_errors,
        |&n| n >= before + 5,
    )
    .await;
    let (errors, elapsed) = (after - before, window.elapsed().as_millis() as u64);
    // One try per 50 ms pause at most (a spinning loop fails tens of thousands of times a second).
    assert!(
        errors <= elapsed / 50 + 1,
        "{errors} accept errors in {elapsed} ms"
    );
    drop(held);
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let post = "POST /mp/collect?measurement_id=G-1&api_secret=s HTTP/1.1\r\nhost: x\r\n\
                content-type: application/json\r\ncontent-length: 51\r\nconnection: close\r\n\r\n\
                {\"client_id\":\"1.2\",\"events\":[{\"name\":\"page_view\"}]}";
    s.write_all(post.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut answer)).await;
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 204"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
