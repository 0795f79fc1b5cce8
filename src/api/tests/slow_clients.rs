//! Slow and half-sent requests cannot take the admin API: heads that never finish are closed
//! after the header-read timeout, bodies that never finish get 408 after the request timeout,
//! and an operator's normal request is answered meanwhile, also with more half-open
//! connections than the connection limit; a client beyond the limit waits for a free slot.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

const HALF_OPEN: usize = 300;

fn short_limits() -> listener::Limits {
    listener::Limits {
        max_connections: 64,
        header_read: Duration::from_millis(500),
        request: Duration::from_millis(800),
        max_age: Duration::from_secs(30),
    }
}

/// Reads until the server closes the connection (or `within` passes); returns what was read
/// and whether it was closed.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_and_the_operator_is_still_answered() {
    let api = start_within(REPLY_TIMEOUT, short_limits()).await;
    let addr = api.base.trim_start_matches("http://").to_string();

    // Many clients that send half a request head and then nothing.
    let mut heads = Vec::new();
    for _ in 0..HALF_OPEN {
        let mut s = TcpStream::connect(&addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        heads.push(s);
    }
    // One that sends its head and half of the body it announced.
    let mut body = TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "POST /v1/services/shop/hold HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"a\":"
    );
    body.write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // The operator is answered while they hang (the limit is 64 at once: slots free as the
    // half-sent heads time out).
    let started = Instant::now();
    let (code, v) = api.call(VIEWER, "GET", "/v1/status", None).await;
    assert_eq!(code, 200, "{v}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered after {:?}",
        started.elapsed()
    );

    // Every half-sent head is closed within a few header-read timeouts (they are served 64 at a
    // time), without an answer.
    for (i, s) in heads.iter_mut().enumerate() {
        let (got, closed) = until_closed(s, Duration::from_secs(10)).await;
        assert!(closed, "half-sent head {i} still open");
        assert!(!got.contains("200 OK"), "head {i} got an answer: {got}");
    }
    // The half-sent body gets 408 once the request timeout passes.
    let (got, _) = until_closed(&mut body, Duration::from_secs(5)).await;
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("did not complete within"), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_beyond_the_connection_limit_wait_for_a_free_slot() {
    let limits = listener::Limits {
        max_connections: 2,
        header_read: Duration::from_millis(1_000),
        ..short_limits()
    };
    let api = start_within(REPLY_TIMEOUT, limits).await;
    let addr = api.base.trim_start_matches("http://").to_string();
    // Both slots taken by heads that never finish.
    let mut heads = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(&addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        s.write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        heads.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A third client is served only once the header-read timeout frees a slot.
    let started = Instant::now();
    let (code, v) = api.call(VIEWER, "GET", "/v1/status", None).await;
    let waited = started.elapsed();
    assert_eq!(code, 200, "{v}");
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(5),
        "served after {waited:?}: the limit of 2 should have held it until a slot freed (~0.9 s)"
    );
}
