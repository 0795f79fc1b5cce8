//! HTTP and HTTPS probe on reqwest (rustls), one client and connection pool per distinct
//! client setting, shared by the checks (`http/clients.rs`).
//!
//! Flow: runner -> **http** -> [`Outcome`](super::Outcome) -> health.
//!
//! Why it looks like this:
//! - One `rustls::ClientConfig` with the system roots is built once per process and cloned into
//!   every check's client (reqwest alone would parse the root store once per check: slow and
//!   hundreds of KiB each with 10,000 checks). `ca_file` checks trust that file only.
//! - The request is built and validated once and cloned per probe, and the body (first 64 KiB)
//!   is always read so the keep-alive connection goes back to the pool: a probe on a warm
//!   connection costs tens of microseconds of CPU. Idle connections are dropped after 4 s,
//!   before common server keep-alive timeouts (Apache: 5 s) could race a probe.
//! - Proxies from the environment are ignored: a health check must reach the target itself.
//! - Redirects are not followed by default: a 301 to a maintenance page is a status to judge.
//!
//! The TLS configurations are in `http/tls.rs`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::pattern::Pattern;
use super::spec::family_matches;
use super::{cert, CheckSpec, FailureReason, Family, Schedule, StatusRange};

mod clients;
mod tls;

pub use clients::shared_count as shared_http_clients;

/// Most body bytes read (and searched for `expect_body`).
const MAX_BODY: usize = 64 * 1024;
/// Idle keep-alive connections older than this are not reused.
const POOL_IDLE: Duration = Duration::from_secs(4);
const NO_EXPIRY: i64 = i64::MIN;

#[derive(Debug)]
pub(crate) struct HttpProbe {
    client: reqwest::Client,
    request: reqwest::Request,
    expect_status: Vec<StatusRange>,
    expect_body: Pattern,
    cert_min_validity: Option<Duration>,
    /// Unix seconds of the last certificate's `notAfter`, or [`NO_EXPIRY`].
    cert_not_after: AtomicI64,
}

impl HttpProbe {
    /// Whether it speaks TLS (an https:// URL).
    pub(crate) fn https(&self) -> bool {
        self.request.url().scheme() == "https"
    }

    pub(crate) fn new(spec: &CheckSpec, sched: &Schedule) -> Result<Self, String> {
        let CheckSpec::Http {
            url,
            method,
            host,
            headers,
            expect_status,
            expect_body,
            expect_body_regex,
            ca_file,
            insecure_skip_verify,
            follow_redirects,
            keep_alive,
            cert_min_validity,
            family,
            ..
        } = spec
        else {
            return Err("not an http check".into());
        };
        let mut url = reqwest::Url::parse(url).map_err(|e| format!("url `{url}`: {e}"))?;
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            s => return Err(format!("url scheme `{s}` is not http or https")),
        };
        if expect_status.is_empty() {
            return Err("expect_status is empty: no status could ever succeed".into());
        }
        let expect_body = Pattern::new(
            expect_body.as_deref(),
            expect_body_regex.as_deref(),
            "expect_body",
            "expect_body_regex",
        )?;
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("`{method}` is not an HTTP method"))?;

        let key = clients::ClientKey {
            insecure_skip_verify: *insecure_skip_verify,
            ca_file: ca_file.as_deref().map(clients::ClientKey::ca_digest),
            https,
            follow_redirects: *follow_redirects,
            reuse: *keep_alive && sched.interval < POOL_IDLE,
            family: *family,
        };
        let builder = || -> Result<reqwest::ClientBuilder, String> {
            let tls = tls::config_for(key.insecure_skip_verify, ca_file.as_deref())?;
            Ok(client_builder(tls, &key))
        };
        let build = |b: reqwest::ClientBuilder| {
            b.build().map_err(|e| format!("http client: {}", chain(&e)))
        };

        let literal_ip = literal_ip(&url, *family)?;
        let mut header_map = header_map(headers)?;
        let client = match (host, literal_ip) {
            // Pinning a name to an address is a client setting: this check's own client.
            (Some(h), Some(ip)) => build(connect_to_ip_as(builder()?, &mut url, h, ip, https)?)?,
            (host, _) => {
                if let Some(h) = host {
                    let value =
                        HeaderValue::from_str(h).map_err(|_| format!("host `{h}` is invalid"))?;
                    header_map.insert(reqwest::header::HOST, value);
                }
                clients::shared(key.clone(), || build(builder()?))?
            }
        };
        let request = client
            .request(method, url)
            .headers(header_map)
            .build()
            .map_err(|e| format!("request: {}", chain(&e)))?;
        Ok(HttpProbe {
            client,
            request,
            expect_status: expect_status.clone(),
            expect_body,
            cert_min_validity: *cert_min_validity,
            cert_not_after: AtomicI64::new(NO_EXPIRY),
        })
    }

    pub(crate) fn cert_not_after(&self) -> Option<SystemTime> {
        let t = self.cert_not_after.load(Ordering::Relaxed);
        if t == NO_EXPIRY {
            return None;
        }
        let secs = Duration::from_secs(t.unsigned_abs());
        if t >= 0 {
            UNIX_EPOCH.checked_add(secs)
        } else {
            UNIX_EPOCH.checked_sub(secs)
        }
    }

    pub(crate) async fn run(&self) -> Result<(), FailureReason> {
        let req = self
            .request
            .try_clone()
            .ok_or_else(|| FailureReason::Other("request cannot be repeated".into()))?;
        let mut resp = self.client.execute(req).await.map_err(|e| reason(&e))?;
        let not_after = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .and_then(cert::not_after_unix);
        if let Some(t) = not_after {
            self.cert_not_after.store(t, Ordering::Relaxed);
        }
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| reason(&e))? {
            let room = MAX_BODY - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_BODY {
                break; // the connection is dropped, not reused: fine for an odd target
            }
        }
        if !self.expect_status.iter().any(|r| r.contains(status)) {
            return Err(FailureReason::Status(status));
        }
        if !self.expect_body.matches(&body) {
            return Err(FailureReason::BodyMismatch(self.expect_body.describe()));
        }
        if let (Some(min), Some(t)) = (self.cert_min_validity, not_after) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            let left = t.saturating_sub(now);
            if left < i64::try_from(min.as_secs()).unwrap_or(i64::MAX) {
                return Err(FailureReason::CertExpiring(left.div_euclid(86_400)));
            }
        }
        Ok(())
    }
}

/// The error and its sources, `: `-joined (reqwest's Display shows only the top one).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// Maps a reqwest error to a reason: TLS problems, refusals and DNS failures apart.
fn reason(e: &reqwest::Error) -> FailureReason {
    if e.is_timeout() {
        return FailureReason::Timeout;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(t) = s.downcast_ref::<rustls::Error>() {
            return FailureReason::Tls(t.to_string());
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return FailureReason::Tls(t.to_string());
            }
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return FailureReason::Refused;
            }
        }
        src = s.source();
    }
    let text = chain(e);
    if text.contains("certificate") {
        FailureReason::Tls(text)
    } else if text.contains("dns error") {
        FailureReason::Resolve(text)
    } else if e.is_connect() {
        FailureReason::Connect(text)
    } else {
        FailureReason::Other(text)
    }
}

/// Resolves host names to addresses of one family only, so `family = "ipv6"` probes what
/// AAAA clients reach.
struct FamilyResolver(Family);

impl reqwest::dns::Resolve for FamilyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let family = self.0;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| family_matches(a.ip(), family))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no {family:?} address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A client for checks with the settings `key`: no proxy, redirects only when asked,
/// HTTP/1.1, idle connections kept (when `reuse`), names resolved in `family` only, `tls` for
/// HTTPS.
fn client_builder(tls: rustls::ClientConfig, key: &clients::ClientKey) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(if key.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        })
        .http1_only()
        .tcp_nodelay(true)
        .tls_info(key.https)
        // Two: checks sharing a client may probe one host (liveness and readiness paths).
        .pool_max_idle_per_host(if key.reuse { 2 } else { 0 })
        .pool_idle_timeout(POOL_IDLE)
        .dns_resolver(Arc::new(FamilyResolver(key.family)))
        .use_preconfigured_tls(tls)
}

/// The URL's host when it is an IP address, which must be of the check's `family`.
fn literal_ip(url: &reqwest::Url, family: Family) -> Result<Option<IpAddr>, String> {
    let literal_ip = url.host_str().and_then(|h| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok()
    });
    if let Some(ip) = literal_ip {
        if !family_matches(ip, family) {
            return Err(format!("url address {ip} is not {family:?}"));
        }
    }
    Ok(literal_ip)
}

/// The check's extra request headers, each name and value valid.
fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut header_map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("header name `{k}` is invalid"))?;
        let value =
            HeaderValue::from_str(v).map_err(|_| format!("header `{k}` has an invalid value"))?;
        header_map.append(name, value);
    }
    Ok(header_map)
}

/// `host` on a URL with a literal IP: connect to the IP but speak to `h`, so the Host header
/// and SNI both become `h`.
fn connect_to_ip_as(
    builder: reqwest::ClientBuilder,
    url: &mut reqwest::Url,
    h: &str,
    ip: IpAddr,
    https: bool,
) -> Result<reqwest::ClientBuilder, String> {
    let port = url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    url.set_host(Some(h))
        .map_err(|e| format!("host `{h}`: {e}"))?;
    Ok(builder.resolve_to_addrs(h, &[SocketAddr::new(ip, port)]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
