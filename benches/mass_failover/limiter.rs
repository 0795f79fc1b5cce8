//! The provider's rate limit, enforced in front of a fake API the way the real service does,
//! and every request counted by kind.
//!
//! A reverse proxy on 127.0.0.1: each request is classified (ListResourceRecordSets,
//! ChangeResourceRecordSets, batch, ...), checked against the account's limit and either
//! answered with the provider's real throttling answer (Route 53: HTTP 400 `Throttling`;
//! Cloudflare: HTTP 429 with `Retry-After`) or forwarded to the fake behind it. One proxy is
//! one account or token: every zone and every provider instance using it shares the limit.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Which API's limit and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// 5 requests/s per account (a token bucket of 5), `400 Throttling`.
    Route53,
    /// 1,200 requests per 5 minutes per token (a sliding window), `429` + `Retry-After`.
    Cloudflare,
}

impl Api {
    fn classify(self, method: &str, path: &str) -> &'static str {
        let p: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (self, method, p.as_slice()) {
            (Api::Route53, "GET", [_, "hostedzone", _, "rrset"]) => "ListResourceRecordSets",
            (Api::Route53, "POST", [_, "hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
            (Api::Route53, "GET", [_, "change", _]) => "GetChange",
            (Api::Route53, "GET", [_, "hostedzonesbyname"]) => "ListHostedZonesByName",
            (Api::Cloudflare, "GET", [.., "zones"]) => "zones (lookup)",
            (Api::Cloudflare, "GET", [.., "dns_records"]) => "dns_records list",
            (Api::Cloudflare, "POST", [.., "dns_records", "batch"]) => "dns_records batch",
            (Api::Cloudflare, _, [.., "dns_records", _]) => "dns_records single",
            _ => "other",
        }
    }
}

/// What the proxy saw.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// Requests answered by the fake, by kind.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Requests refused for the rate limit.
    pub throttled: u64,
    /// When each kind was first and last forwarded (for the write phase).
    pub first: BTreeMap<&'static str, Instant>,
    pub last: BTreeMap<&'static str, Instant>,
}

impl Counts {
    /// All forwarded requests.
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }
}

struct Limit {
    api: Api,
    /// Route 53: tokens and the last refill.
    tokens: f64,
    refilled: Instant,
    /// Cloudflare: when the requests of the last five minutes were let through.
    window: VecDeque<Instant>,
    counts: Counts,
}

/// A throttling answer: status, headers, body.
type Refusal = (u16, Vec<(String, String)>, String);

const R53_RATE: f64 = 5.0;
const CF_LIMIT: usize = 1200;
const CF_WINDOW: Duration = Duration::from_secs(300);

impl Limit {
    /// `Ok` to forward, or the throttling answer.
    fn admit(&mut self, now: Instant) -> Result<(), Refusal> {
        match self.api {
            Api::Route53 => {
                let dt = now.saturating_duration_since(self.refilled).as_secs_f64();
                self.tokens = (self.tokens + dt * R53_RATE).min(R53_RATE);
                self.refilled = now;
                if self.tokens >= 1.0 {
                    self.tokens -= 1.0;
                    return Ok(());
                }
                Err((
                    400,
                    vec![("content-type".into(), "text/xml".into())],
                    super::route53_fake::error_xml("Throttling", "Rate exceeded"),
                ))
            }
            Api::Cloudflare => {
                while self
                    .window
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) >= CF_WINDOW)
                {
                    self.window.pop_front();
                }
                if self.window.len() < CF_LIMIT {
                    self.window.push_back(now);
                    return Ok(());
                }
                let wait = self
                    .window
                    .front()
                    .map_or(CF_WINDOW, |t| CF_WINDOW.saturating_sub(now - *t));
                Err((
                    429,
                    vec![
                        ("content-type".into(), "application/json".into()),
                        ("retry-after".into(), wait.as_secs().max(1).to_string()),
                    ],
                    r#"{"success":false,"errors":[{"code":971,"message":"Please wait and consider throttling your request speed"}],"messages":[],"result":null}"#.into(),
                ))
            }
        }
    }
}

/// The running proxy; stops when dropped.
pub struct Limiter {
    pub addr: SocketAddr,
    state: Arc<Mutex<Limit>>,
    task: JoinHandle<()>,
}

impl Drop for Limiter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Limiter {
    /// Starts a proxy enforcing `api`'s limit in front of `upstream` (`http://host:port`).
    pub async fn start(api: Api, upstream: String) -> Result<Self, String> {
        let state = Arc::new(Mutex::new(Limit {
            api,
            tokens: R53_RATE,
            refilled: Instant::now(),
            window: VecDeque::new(),
            counts: Counts::default(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("limiter: bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (st, client, upstream) = (st.clone(), client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        forward(st.clone(), client.clone(), upstream.clone(), req)
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Limiter { addr, state, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, Limit> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the counts so far.
    pub fn counts(&self) -> Counts {
        self.lock().counts.clone()
    }

    /// Starts counting afresh (the limit's state is kept: it is the account's).
    pub fn reset_counts(&self) {
        self.lock().counts = Counts::default();
    }
}

fn reply(status: u16, headers: Vec<(String, String)>, body: Bytes) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn forward(
    state: Arc<Mutex<Limit>>,
    client: reqwest::Client,
    upstream: String,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path_q = req
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let path = req.uri().path().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k == "authorization" || k == "content-type" || k.starts_with("x-amz")
        })
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let now = Instant::now();
    let kind = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        let kind = st.api.classify(method.as_str(), &path);
        if let Err((status, h, text)) = st.admit(now) {
            st.counts.throttled += 1;
            return Ok(reply(status, h, Bytes::from(text)));
        }
        *st.counts.by_kind.entry(kind).or_default() += 1;
        st.counts.first.entry(kind).or_insert(now);
        st.counts.last.insert(kind, now);
        kind
    };
    let _ = kind;
    let mut rb = client.request(method, format!("{upstream}{path_q}"));
    for (k, v) in headers {
        rb = rb.header(k, v);
    }
    match rb.body(body).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let h: Vec<(String, String)> = resp
                .headers()
                .iter()
                .filter(|(k, _)| k.as_str() == "content-type")
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let bytes = resp.bytes().await.unwrap_or_default();
            Ok(reply(status, h, bytes))
        }
        Err(e) => Ok(reply(502, Vec::new(), Bytes::from(format!("limiter: {e}")))),
    }
}
