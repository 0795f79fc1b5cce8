//! Test support: a moto server per test, a loopback fault proxy, an in-process fake transport.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dnsfailback_provider::Fqdn;
use dnsfailback_provider_route53::client::{HttpRequest, HttpResponse, Transport, TransportError};
use dnsfailback_provider_route53::credentials::Environment;
use dnsfailback_provider_route53::{Config, Route53Provider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub fn fq(s: &str) -> Fqdn {
    Fqdn::new(s).unwrap_or_else(|e| panic!("bad test name {s}: {e}"))
}

pub use dnsfailback_provider_route53::testkit::{provider_at, test_config, test_env, Moto};

/// A scripted answer for a fake or a proxy.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and body.
    Answer(u16, String),
    /// No answer (a timeout for the client).
    Timeout,
}

pub fn throttling() -> Fault {
    Fault::Answer(
        400,
        r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>b25f48e8-84fd-11e6-80d9-574e0c4664cb</RequestId></ErrorResponse>"#
            .into(),
    )
}

pub fn prior_request() -> Fault {
    Fault::Answer(
        400,
        r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>PriorRequestNotComplete</Code><Message>The request was rejected because Route 53 was still processing a prior request.</Message></Error><RequestId>c1</RequestId></ErrorResponse>"#
            .into(),
    )
}

pub fn service_unavailable() -> Fault {
    Fault::Answer(503, "<html><body>Service Unavailable</body></html>".into())
}

/// A loopback HTTP proxy in front of moto: the first queued faults are answered by the proxy
/// itself (for requests matching `method`), everything else is forwarded to moto unchanged.
pub struct FaultProxy {
    pub endpoint: String,
    faults: Arc<Mutex<VecDeque<(String, Fault)>>>,
    pub seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let faults: Arc<Mutex<VecDeque<(String, Fault)>>> = Arc::default();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let upstream = upstream.to_string();
        let (f2, s2) = (faults.clone(), seen.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (f, s, u, h) = (f2.clone(), s2.clone(), upstream.clone(), http.clone());
                tokio::spawn(async move {
                    let _ = serve_one(sock, f, s, &u, &h).await;
                });
            }
        });
        FaultProxy {
            endpoint: format!("http://{addr}"),
            faults,
            seen,
            task,
        }
    }

    /// Queues a fault for the next request with `method` ("POST" or "GET").
    pub fn inject(&self, method: &str, fault: Fault) {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((method.to_string(), fault));
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_one(
    mut sock: tokio::net::TcpStream,
    faults: Arc<Mutex<VecDeque<(String, Fault)>>>,
    seen: Arc<Mutex<Vec<String>>>,
    upstream: &str,
    http: &reqwest::Client,
) -> std::io::Result<()> {
    // One request per connection: read the head, then Content-Length bytes of body.
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
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
    let body = buf[head_end..].to_vec();
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(format!("{method} {path}"));
    let fault = {
        let mut q = faults.lock().unwrap_or_else(|p| p.into_inner());
        match q.front() {
            Some((m, _)) if *m == method => q.pop_front().map(|(_, f)| f),
            _ => None,
        }
    };
    let (status, body) = match fault {
        Some(Fault::Timeout) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Ok(());
        }
        Some(Fault::Answer(status, body)) => (status, body),
        None => {
            let mut rb = http.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET),
                format!("{upstream}{path}"),
            );
            for (k, v) in &headers {
                if k != "host" && k != "content-length" && k != "connection" {
                    rb = rb.header(k.as_str(), v.as_str());
                }
            }
            match rb.body(body).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (status, r.text().await.unwrap_or_default())
                }
                Err(e) => (502, format!("proxy: {e}")),
            }
        }
    };
    let resp = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(resp.as_bytes()).await?;
    sock.shutdown().await
}

/// An in-process transport with scripted answers, for tests on tokio's paused clock (no
/// sockets, so virtual time cannot fire a real request's timeout).
#[derive(Clone, Default)]
pub struct FakeTransport {
    script: Arc<Mutex<VecDeque<Fault>>>,
    /// Answer when the script is empty.
    pub fallback: Arc<Mutex<Option<Fault>>>,
    pub requests: Arc<Mutex<Vec<HttpRequest>>>,
}

impl FakeTransport {
    pub fn push(&self, f: Fault) {
        self.script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(f);
    }
    pub fn set_fallback(&self, f: Fault) {
        *self.fallback.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl Transport for FakeTransport {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(req);
        let next = self
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .or_else(|| {
                self.fallback
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            });
        match next {
            Some(Fault::Answer(status, body)) => Ok(HttpResponse {
                status,
                headers: vec![("x-amzn-requestid".into(), "fake-req".into())],
                body,
            }),
            Some(Fault::Timeout) => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Err(TransportError {
                    timeout: true,
                    not_sent: false,
                    message: "operation timed out".into(),
                })
            }
            None => Err(TransportError {
                timeout: false,
                not_sent: true,
                message: "fake transport has no scripted answer".into(),
            }),
        }
    }
}

pub fn change_ok(status: &str) -> Fault {
    Fault::Answer(
        200,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeInfo><Id>/change/C1FAKE</Id><Status>{status}</Status><SubmittedAt>2026-11-25T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>"#
        ),
    )
}

pub fn get_change(status: &str) -> Fault {
    Fault::Answer(
        200,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><GetChangeResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeInfo><Id>/change/C1FAKE</Id><Status>{status}</Status><SubmittedAt>2026-11-25T00:00:00Z</SubmittedAt></ChangeInfo></GetChangeResponse>"#
        ),
    )
}

pub fn fake_provider(fake: &FakeTransport, max_retries: u32, secret: &str) -> Route53Provider {
    let cfg = Config {
        max_retries,
        retry_min_delay_ms: 500,
        retry_max_delay_ms: 20_000,
        precheck: false,
        upsert_writes: false,
        ..test_config("https://route53.amazonaws.com", Some("ZFAKE"))
    };
    let env = Environment {
        vars: [
            ("AWS_ACCESS_KEY_ID".to_string(), "AKIDFAKE".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), secret.to_string()),
        ]
        .into(),
    };
    Route53Provider::with_transport("aws", cfg, &env, Arc::new(fake.clone()))
        .unwrap_or_else(|e| panic!("{e}"))
}
