//! Test support: a moto server per test, a loopback fault proxy, an in-process fake transport.

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dnsfailback_provider::{Fqdn, ProviderError};
use dnsfailback_provider_route53::client::{
    CallKind, Client, HttpRequest, HttpResponse, ReqwestTransport, Transport, TransportError,
};
use dnsfailback_provider_route53::credentials::{AwsCredentials, Environment};
use dnsfailback_provider_route53::request::parse_xml;
use dnsfailback_provider_route53::{Config, Route53Provider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub fn fq(s: &str) -> Fqdn {
    Fqdn::new(s).unwrap_or_else(|e| panic!("bad test name {s}: {e}"))
}

/// moto_server from `scripts/install-test-deps.sh`, started on a free loopback port.
///
/// It runs under a small shell wrapper that kills moto when the wrapper's stdin closes, so moto
/// also dies when the test process aborts; `Drop` kills both (also on panic).
pub struct Moto {
    wrapper: Child,
    pub endpoint: String,
}

fn moto_binary() -> PathBuf {
    let peers = std::env::var("DNSFAILBACK_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/dnsfailback-peers")
        });
    peers.join("moto-5.2.5/bin/moto_server")
}

impl Moto {
    pub async fn start() -> Moto {
        let bin = moto_binary();
        assert!(
            bin.exists(),
            "moto server not found at {}: run scripts/install-test-deps.sh (installs \
             moto[server]==5.2.5 into ~/.cache/dnsfailback-peers, or $DNSFAILBACK_PEERS)",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let script = format!(
            "'{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; read _ ; kill $m 2>/dev/null; wait $m",
            bin.display()
        );
        let wrapper = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto_server: {e}"));
        let moto = Moto {
            wrapper,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http
                .get(format!("{}/moto-api/", moto.endpoint))
                .send()
                .await
                .is_ok()
            {
                return moto;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on {} within 60 s",
                moto.endpoint
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A provider instance on this moto, for the given zone id.
    pub fn provider(&self, name: &str, zone_id: &str) -> Route53Provider {
        provider_at(name, &self.endpoint, Some(zone_id))
    }

    /// Creates a hosted zone and returns its bare id.
    pub async fn create_zone(&self, zone: &str) -> String {
        let client = raw_client(&self.endpoint);
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>{zone}</Name><CallerReference>test-{zone}-{}</CallerReference></CreateHostedZoneRequest>"#,
            std::process::id()
        );
        let answer = client
            .call("POST", "/2013-04-01/hostedzone", Some(&body), write_kind())
            .await
            .unwrap_or_else(|e| panic!("CreateHostedZone failed: {e}"));
        let root = parse_xml(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
        let id = root
            .child("HostedZone")
            .and_then(|z| z.text_of("Id"))
            .unwrap_or_else(|| panic!("no zone id in {answer}"));
        id.trim_start_matches("/hostedzone/").to_string()
    }

    /// Sends a raw ChangeBatch (e.g. an alias set the controller does not manage).
    pub async fn raw_change(
        &self,
        zone_id: &str,
        changes_xml: &str,
    ) -> Result<String, ProviderError> {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes>{changes_xml}</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#
        );
        raw_client(&self.endpoint)
            .call(
                "POST",
                &format!("/2013-04-01/hostedzone/{zone_id}/rrset/"),
                Some(&body),
                write_kind(),
            )
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing stdin makes the wrapper kill moto; then make sure the wrapper is gone.
        if let Some(mut stdin) = self.wrapper.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.wrapper.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.wrapper.kill();
        let _ = self.wrapper.wait();
    }
}

fn write_kind() -> CallKind {
    CallKind {
        operation: "test",
        writes: true,
        has_delete: false,
    }
}

pub fn test_env() -> Environment {
    Environment {
        vars: [
            ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
        ]
        .into(),
    }
}

pub fn test_config(endpoint: &str, zone_id: Option<&str>) -> Config {
    Config {
        endpoint: Some(endpoint.to_string()),
        hosted_zone_id: zone_id.map(str::to_string),
        rate_per_second: 200,
        burst: Some(200),
        max_retries: 4,
        retry_min_delay_ms: 10,
        retry_max_delay_ms: 100,
        request_timeout_secs: 30,
        // moto 5.2.5 validates CREATE/DELETE against its change journal (see
        // docs/providers/route53.md); the read-before-write check keeps the contract there.
        precheck: true,
        upsert_writes: true,
        ..Config::default()
    }
}

pub fn provider_at(name: &str, endpoint: &str, zone_id: Option<&str>) -> Route53Provider {
    let transport =
        ReqwestTransport::new(Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    Route53Provider::with_transport(
        name,
        test_config(endpoint, zone_id),
        &test_env(),
        Arc::new(transport),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn raw_client(endpoint: &str) -> Client {
    let creds = AwsCredentials {
        access_key_id: "testing".into(),
        secret_access_key: dnsfailback_provider::Secret::new("testing"),
        session_token: None,
        origin: "test".into(),
    };
    let transport =
        ReqwestTransport::new(Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"));
    Client::new(
        "test",
        &test_config(endpoint, None),
        creds,
        Arc::new(transport),
    )
}

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
