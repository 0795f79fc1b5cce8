//! The HTTP side of the adapter: SigV4 signing, rate limiting and retries.
//!
//! Sits at the bottom of the provider step (plan -> **provider** -> verify): every Route 53
//! call goes through [`Client::call`], which waits for a token from the rate limiter
//! (governor, `rate_per_second`), signs the request with SigV4 (aws-sigv4), sends it through a
//! [`Transport`] and retries with exponential back-off and jitter (backon) on Throttling,
//! PriorRequestNotComplete, 5xx and timeouts. Client errors (InvalidChangeBatch, auth, ...) are
//! returned at once with Route 53's own code and message.
//!
//! The transport is a trait so tests can put an in-process fake under the same signing, retry
//! and parsing code and run it on tokio's paused clock.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use backon::{ExponentialBuilder, Retryable};
use dnsfailback_provider::Budget;
use dnsfailback_provider::{ErrorKind, ProviderError};
use governor::Quota;

use crate::config::Config;
use crate::credentials::AwsCredentials;
use crate::request::{classify, parse_error};

/// An HTTP request, already complete except for its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// Absolute URL, query already percent-encoded the way SigV4 expects.
    pub url: String,
    /// Lower-case header names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// An HTTP answer; the body is text (Route 53 answers XML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Lower-case header names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A failure to get any answer (connection refused, timeout, TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// The request timed out: it may or may not have reached Route 53.
    pub timeout: bool,
    /// The request certainly never reached the server (connection refused, DNS failure).
    pub not_sent: bool,
    pub message: String,
}

/// Sends one HTTP request. Implemented with reqwest for real use; tests plug in fakes.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Sends the request and returns the answer, whatever its status.
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// The production transport: reqwest with rustls and a per-request timeout.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// A client whose every request times out after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("dnsfailback-route53/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(ReqwestTransport { client })
    }
}

#[async_trait]
impl Transport for ReqwestTransport {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|e| TransportError {
                timeout: false,
                not_sent: true,
                message: format!("bad method {}: {e}", req.method),
            })?;
        let mut builder = self.client.request(method, &req.url);
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let to_err = |e: reqwest::Error| TransportError {
            timeout: e.is_timeout(),
            not_sent: e.is_connect() || e.is_builder(),
            message: error_chain(&e),
        };
        let resp = builder.body(req.body).send().await.map_err(to_err)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp.text().await.map_err(to_err)?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Adds SigV4 headers (`authorization`, `x-amz-date`, `x-amz-security-token`) to `req`.
///
/// `req` must already carry a `host` header matching its URL: it is signed. The payload hash
/// is part of the signature (not sent as a header), as Route 53 expects.
pub fn sign_request(
    req: &mut HttpRequest,
    creds: &AwsCredentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<(), String> {
    let identity = Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.expose().to_string(),
        creds.session_token.as_ref().map(|t| t.expose().to_string()),
        None,
        "dnsfailback",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("cannot set up SigV4 signing: {e}"))?
        .into();
    let signable = SignableRequest::new(
        &req.method,
        &req.url,
        req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&req.body),
    )
    .map_err(|e| format!("cannot sign the request: {e}"))?;
    let (instructions, _sig) = sign(signable, &params)
        .map_err(|e| format!("cannot sign the request: {e}"))?
        .into_parts();
    let (headers, _params) = instructions.into_parts();
    for h in headers {
        req.headers
            .push((h.name().to_ascii_lowercase(), h.value().to_string()));
    }
    Ok(())
}

/// Host (and port, when not the default) of a URL, for the signed `host` header.
fn host_of(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL {url}: {e}"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("URL {url} has no host"))?;
    Ok(match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// What one call is, for error classification and messages.
#[derive(Debug, Clone, Copy)]
pub struct CallKind {
    /// Operation name for messages (`ChangeResourceRecordSets`).
    pub operation: &'static str,
    /// The call writes (so an unanswered attempt may have changed the zone).
    pub writes: bool,
    /// ChangeResourceRecordSets with a DELETE (moto's DELETE-precondition form).
    pub has_delete: bool,
}

/// Failure of one attempt, before the retry loop decides.
#[derive(Debug)]
struct AttemptError {
    kind: ErrorKind,
    retry: bool,
    message: String,
    retry_after: Option<Duration>,
    /// The server certainly did not act on this attempt.
    rejected: bool,
}

/// Signs, rate-limits, sends and retries Route 53 calls for one provider instance.
pub struct Client {
    name: String,
    endpoint: String,
    region: String,
    creds: AwsCredentials,
    transport: Arc<dyn Transport>,
    /// The account's budget, shared with every instance using the same access key.
    limiter: Budget,
    /// Retries and rate-limiter waits, for metrics.
    pub stats: std::sync::Arc<dnsfailback_provider::CallStats>,
    max_retries: u32,
    min_delay: Duration,
    max_delay: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("creds", &self.creds)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config`; `config` must have passed [`Config::validate`].
    pub fn new(
        name: &str,
        config: &Config,
        creds: AwsCredentials,
        transport: Arc<dyn Transport>,
    ) -> Self {
        let rate = NonZeroU32::new(config.rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = config.burst.and_then(NonZeroU32::new).unwrap_or(rate);
        let quota = Quota::per_second(rate).allow_burst(burst);
        let limiter = dnsfailback_provider::shared_budget("route53", &creds.access_key_id, quota);
        Client {
            name: name.to_string(),
            endpoint: config.endpoint(),
            region: config.region.clone(),
            creds,
            transport,
            limiter,
            stats: Default::default(),
            max_retries: config.max_retries,
            min_delay: Duration::from_millis(config.retry_min_delay_ms),
            max_delay: Duration::from_millis(config.retry_max_delay_ms),
        }
    }

    fn err(&self, kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError::new(&self.name, kind, message)
    }

    /// Sends `method path_and_query` (body for POST) and returns the 2xx body, retrying as the
    /// module docs say. Errors carry Route 53's code and message and the attempt count.
    pub async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&str>,
        kind: CallKind,
    ) -> Result<String, ProviderError> {
        let url = format!("{}{}", self.endpoint, path_and_query);
        let host = host_of(&url).map_err(|e| self.err(ErrorKind::Invalid, e).unchanged())?;
        let attempts = AtomicU32::new(0);
        // Set when an attempt of a write got no definite answer: it may have been applied.
        let maybe_applied = AtomicBool::new(false);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries as usize)
            .with_jitter();
        let attempt = || async {
            attempts.fetch_add(1, Ordering::Relaxed);
            let result = self.attempt(method, &url, &host, body, kind).await;
            if let Err(e) = &result {
                if kind.writes && !e.rejected {
                    maybe_applied.store(true, Ordering::Relaxed);
                }
            }
            result
        };
        let result = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e: &AttemptError| e.retry)
            .adjust(|e: &AttemptError, dur| match (e.retry_after, dur) {
                (Some(ra), Some(d)) => Some(ra.max(d)),
                (_, d) => d,
            })
            .notify(|e: &AttemptError, dur| {
                self.stats.retried();
                tracing::warn!(
                    provider = %self.name,
                    operation = kind.operation,
                    error = %e.message,
                    "Route 53 call failed, retrying in {dur:?}"
                );
            })
            .await;
        match result {
            Ok(body) => Ok(body),
            Err(e) => {
                let n = attempts.load(Ordering::Relaxed);
                let mut message = e.message;
                if e.retry {
                    message = format!("{message} (gave up after {n} attempts)");
                }
                let unknown = maybe_applied.load(Ordering::Relaxed);
                if unknown && kind.writes {
                    message.push_str(
                        "; an earlier attempt got no definite answer and may have been applied: \
                         re-read the zone",
                    );
                }
                let mut pe = self.err(e.kind, message).with_retry_after(e.retry_after);
                if !kind.writes || (e.rejected && !unknown) {
                    pe = pe.unchanged();
                }
                Err(pe)
            }
        }
    }

    async fn attempt(
        &self,
        method: &str,
        url: &str,
        host: &str,
        body: Option<&str>,
        kind: CallKind,
    ) -> Result<String, AttemptError> {
        self.stats.wait_for(&self.limiter).await;
        let mut headers = vec![("host".to_string(), host.to_string())];
        if body.is_some() {
            headers.push(("content-type".to_string(), "application/xml".to_string()));
        }
        let mut req = HttpRequest {
            method: method.to_string(),
            url: url.to_string(),
            headers,
            body: body.map(|b| b.as_bytes().to_vec()).unwrap_or_default(),
        };
        sign_request(
            &mut req,
            &self.creds,
            &self.region,
            "route53",
            SystemTime::now(),
        )
        .map_err(|message| AttemptError {
            kind: ErrorKind::Invalid,
            retry: false,
            message,
            retry_after: None,
            rejected: true,
        })?;
        let op = kind.operation;
        let resp = match self.transport.send(req).await {
            Ok(r) => r,
            Err(t) => {
                return Err(AttemptError {
                    kind: ErrorKind::Transient,
                    retry: true,
                    message: if t.timeout {
                        format!(
                            "{op}: no answer from {} in time: {}",
                            self.endpoint, t.message
                        )
                    } else {
                        format!("{op}: cannot reach {}: {}", self.endpoint, t.message)
                    },
                    retry_after: None,
                    rejected: t.not_sent,
                })
            }
        };
        if (200..300).contains(&resp.status) {
            return Ok(resp.body);
        }
        let api = parse_error(&resp.body);
        let class = classify(resp.status, &api, kind.has_delete);
        let retry_after = resp
            .header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let request_id = api
            .request_id
            .clone()
            .or_else(|| resp.header("x-amzn-requestid").map(str::to_string));
        let mut message = format!(
            "{op} failed with HTTP {}: Route 53 said {}",
            resp.status,
            api.describe()
        );
        if let Some(id) = request_id {
            message.push_str(&format!(" (request id {id})"));
        }
        if class.kind == ErrorKind::Auth {
            message.push_str(&format!(
                "; check the access key {} from {} and its IAM permissions",
                self.creds.access_key_id, self.creds.origin
            ));
        }
        Err(AttemptError {
            kind: class.kind,
            retry: class.retry,
            message,
            retry_after,
            // A 4xx is a rejection before any change; a 5xx leaves the outcome unknown.
            rejected: resp.status < 500,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnsfailback_provider::Secret;

    fn example_creds() -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
            origin: "test".into(),
        }
    }

    #[test]
    fn instances_with_one_access_key_share_the_accounts_budget() -> Result<(), String> {
        let transport: Arc<dyn Transport> =
            Arc::new(ReqwestTransport::new(Duration::from_secs(1))?);
        let config = Config::default();
        let zone_a = Client::new("zone-a", &config, example_creds(), transport.clone());
        let zone_b = Client::new("zone-b", &config, example_creds(), transport.clone());
        assert!(Arc::ptr_eq(&zone_a.limiter, &zone_b.limiter));
        let other = AwsCredentials {
            access_key_id: "AKIDOTHER".into(),
            ..example_creds()
        };
        let other = Client::new("other", &config, other, transport);
        assert!(!Arc::ptr_eq(&zone_a.limiter, &other.limiter));
        Ok(())
    }

    fn time(rfc: &str) -> SystemTime {
        // 2015-08-30T12:36:00Z = 1440938160 s after the epoch.
        assert_eq!(rfc, "2015-08-30T12:36:00Z");
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    /// AWS's published SigV4 test vector `get-vanilla` (aws-signing-test-suite/v4/get-vanilla,
    /// shipped with the aws-sigv4 crate; also in the AWS General Reference test suite).
    #[test]
    fn sigv4_get_vanilla_test_vector() -> Result<(), String> {
        let mut req = HttpRequest {
            method: "GET".into(),
            url: "https://example.amazonaws.com/".into(),
            headers: vec![("host".into(), "example.amazonaws.com".into())],
            body: vec![],
        };
        sign_request(
            &mut req,
            &example_creds(),
            "us-east-1",
            "service",
            time("2015-08-30T12:36:00Z"),
        )?;
        let get = |n: &str| {
            req.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("x-amz-date").as_deref(), Some("20150830T123600Z"));
        assert_eq!(
            get("authorization").as_deref(),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
            )
        );
        Ok(())
    }

    /// AWS's `post-vanilla` vector: same request with POST.
    #[test]
    fn sigv4_post_vanilla_test_vector() -> Result<(), String> {
        let mut req = HttpRequest {
            method: "POST".into(),
            url: "https://example.amazonaws.com/".into(),
            headers: vec![("host".into(), "example.amazonaws.com".into())],
            body: vec![],
        };
        sign_request(
            &mut req,
            &example_creds(),
            "us-east-1",
            "service",
            time("2015-08-30T12:36:00Z"),
        )?;
        let auth = req
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        assert!(
            auth.ends_with(
                "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
            ),
            "{auth}"
        );
        Ok(())
    }

    #[test]
    fn session_token_is_sent_and_host_keeps_port() -> Result<(), String> {
        let mut creds = example_creds();
        creds.session_token = Some(Secret::new("session-tok"));
        let mut req = HttpRequest {
            method: "GET".into(),
            url: "http://127.0.0.1:5055/2013-04-01/change/C1".into(),
            headers: vec![("host".into(), host_of("http://127.0.0.1:5055/x")?)],
            body: vec![],
        };
        sign_request(&mut req, &creds, "us-east-1", "route53", SystemTime::now())?;
        assert!(req
            .headers
            .contains(&("host".into(), "127.0.0.1:5055".into())));
        assert!(req
            .headers
            .iter()
            .any(|(k, v)| k == "x-amz-security-token" && v == "session-tok"));
        let auth = req
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        assert!(auth.contains("/us-east-1/route53/aws4_request"), "{auth}");
        Ok(())
    }
}
