//! A loopback HTTP proxy that injects provider faults at random (seeded) into a share of the
//! requests it forwards: 5xx, throttling (429 and Route 53's 400 `Throttling`, both with
//! `Retry-After`), a timeout (no answer), a reset (RST, no answer), and a write that is applied
//! upstream but whose answer is lost (the client cannot tell it apart from a failure). One
//! request per connection (`connection: close`), like the Route 53 adapter's own FaultProxy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One injected fault, as the proxy's log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Injected {
    Status500,
    Status503,
    Throttle429,
    Throttle400,
    Timeout,
    Reset,
    /// Forwarded and applied upstream, then the connection is reset: the answer is lost.
    AppliedLost,
}

const KINDS: [Injected; 7] = [
    Injected::Status500,
    Injected::Status503,
    Injected::Throttle429,
    Injected::Throttle400,
    Injected::Timeout,
    Injected::Reset,
    Injected::AppliedLost,
];

/// Every request the proxy saw: `METHOD path` and the fault injected, if any.
type Log = Arc<Mutex<Vec<(String, Option<Injected>)>>>;
/// One request as read: method, path, lower-cased headers, body.
type Request = (String, String, Vec<(String, String)>, Vec<u8>);

/// The proxy; aborted on drop.
pub struct ChaosProxy {
    pub endpoint: String,
    /// Every request: `METHOD path` and the fault injected, if any.
    pub log: Log,
    task: tokio::task::JoinHandle<()>,
}

impl ChaosProxy {
    /// Forwards to `upstream` (`http://host:port`), faulting `percent` % of requests.
    pub async fn start(upstream: &str, percent: u32, seed: u64) -> ChaosProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("proxy bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy addr: {e}"));
        let log: Log = Arc::default();
        let rng = Arc::new(Mutex::new(fastrand::Rng::with_seed(seed)));
        let (upstream, log2) = (upstream.to_string(), log.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let fault = {
                    let mut r = rng.lock().unwrap_or_else(|p| p.into_inner());
                    (r.u32(0..100) < percent).then(|| KINDS[r.usize(0..KINDS.len())])
                };
                let (u, h, l) = (upstream.clone(), http.clone(), log2.clone());
                tokio::spawn(async move {
                    let _ = serve(sock, fault, &u, &h, &l).await;
                });
            }
        });
        ChaosProxy {
            endpoint: format!("http://{addr}"),
            log,
            task,
        }
    }

    pub fn log(&self) -> Vec<(String, Option<Injected>)> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request: (method, path, lower-cased headers, body).
async fn read_request(sock: &mut tokio::net::TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(Some((method, path, headers, buf[head_end..].to_vec())))
}

async fn serve(
    mut sock: tokio::net::TcpStream,
    fault: Option<Injected>,
    upstream: &str,
    http: &reqwest::Client,
    log: &Mutex<Vec<(String, Option<Injected>)>>,
) -> std::io::Result<()> {
    let Some((method, path, headers, body)) = read_request(&mut sock).await? else {
        return Ok(());
    };
    log.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((format!("{method} {path}"), fault));
    let throttle_xml = r#"<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>chaos</RequestId></ErrorResponse>"#;
    let (status, extra, text) = match fault {
        Some(Injected::Timeout) => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            return Ok(());
        }
        Some(Injected::Reset) => return reset(sock),
        Some(Injected::Status500) => (500, "", "internal error".to_string()),
        Some(Injected::Status503) => (503, "", "<html>Service Unavailable</html>".to_string()),
        Some(Injected::Throttle429) => (429, "retry-after: 1\r\n", "Too Many Requests".into()),
        Some(Injected::Throttle400) => (400, "retry-after: 1\r\n", throttle_xml.to_string()),
        Some(Injected::AppliedLost) | None => {
            let mut rb = http.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET),
                format!("{upstream}{path}"),
            );
            for (k, v) in &headers {
                if k != "host" && k != "content-length" && k != "connection" {
                    rb = rb.header(k.as_str(), v.as_str());
                }
            }
            let answer = match rb.body(body).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (status, "", r.text().await.unwrap_or_default())
                }
                Err(e) => (502, "", format!("proxy: {e}")),
            };
            if fault.is_some() {
                return reset(sock);
            }
            answer
        }
    };
    let resp = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    sock.write_all(resp.as_bytes()).await?;
    sock.shutdown().await
}

/// Closes with RST (linger 0): the client sees "connection reset", no answer. (Deprecated in
/// tokio because a non-zero linger blocks on drop; a zero linger resets at once.)
#[allow(deprecated)]
fn reset(sock: tokio::net::TcpStream) -> std::io::Result<()> {
    sock.set_linger(Some(Duration::ZERO))?;
    drop(sock);
    Ok(())
}
