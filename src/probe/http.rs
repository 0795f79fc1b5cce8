//! HTTP and HTTPS probe on reqwest (rustls), one client and connection pool per check.
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

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::pattern::Pattern;
use super::spec::family_matches;
use super::{cert, CheckSpec, FailureReason, Family, Schedule, StatusRange};

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

        let tls = if *insecure_skip_verify {
            insecure_config()?
        } else if let Some(path) = ca_file {
            ca_file_config(path)?
        } else {
            native_config()?
        };
        let reuse = *keep_alive && sched.interval < POOL_IDLE;
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(if *follow_redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            })
            .http1_only()
            .tcp_nodelay(true)
            .tls_info(https)
            .pool_max_idle_per_host(if reuse { 1 } else { 0 })
            .pool_idle_timeout(POOL_IDLE)
            .dns_resolver(Arc::new(FamilyResolver(*family)))
            .use_preconfigured_tls(tls);

        let literal_ip = url.host_str().and_then(|h| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()
        });
        if let Some(ip) = literal_ip {
            if !family_matches(ip, *family) {
                return Err(format!("url address {ip} is not {family:?}"));
            }
        }
        let mut header_map = HeaderMap::new();
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("header name `{k}` is invalid"))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| format!("header `{k}` has an invalid value"))?;
            header_map.append(name, value);
        }
        if let Some(h) = host {
            match literal_ip {
                Some(ip) => {
                    // Connect to the IP but speak to `h`: Host header and SNI both become `h`.
                    let port = url
                        .port_or_known_default()
                        .unwrap_or(if https { 443 } else { 80 });
                    url.set_host(Some(h))
                        .map_err(|e| format!("host `{h}`: {e}"))?;
                    builder = builder.resolve_to_addrs(h, &[SocketAddr::new(ip, port)]);
                }
                None => {
                    let value =
                        HeaderValue::from_str(h).map_err(|_| format!("host `{h}` is invalid"))?;
                    header_map.insert(reqwest::header::HOST, value);
                }
            }
        }
        let client = builder
            .build()
            .map_err(|e| format!("http client: {}", chain(&e)))?;
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

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_with_roots(roots: RootCertStore) -> Result<ClientConfig, String> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The system roots, loaded once per process.
fn native_config() -> Result<ClientConfig, String> {
    static NATIVE: OnceLock<Result<ClientConfig, String>> = OnceLock::new();
    NATIVE
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
            if added == 0 {
                tracing::warn!(errors = ?loaded.errors, "no system CA certificates found: HTTPS checks without ca_file will fail verification");
            }
            config_with_roots(roots)
        })
        .clone()
}

/// Trusts only the PEM certificates in `path` (a private CA).
fn ca_file_config(path: &std::path::Path) -> Result<ClientConfig, String> {
    let shown = path.display();
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(path).map_err(|e| format!("ca_file {shown}: {e}"))? {
        let c = c.map_err(|e| format!("ca_file {shown}: {e}"))?;
        roots.add(c).map_err(|e| format!("ca_file {shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("ca_file {shown} holds no certificate"));
    }
    config_with_roots(roots)
}

fn insecure_config() -> Result<ClientConfig, String> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
        .with_no_client_auth())
}

/// `insecure_skip_verify`: accepts any certificate (the handshake signature is still checked).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::probe::testutil;
    use crate::probe::Prober;

    fn spec(url: String) -> CheckSpec {
        let toml =
            format!("kind = \"http\"\nurl = \"{url}\"\ntimeout = \"500ms\"\ninterval = \"1s\"\n");
        toml_spec(&toml)
    }

    fn toml_spec(s: &str) -> CheckSpec {
        serde_json::from_value(toml_to_json(s)).unwrap()
    }

    /// Tiny `key = value` reader for tests (the crate's config loader is not ours).
    fn toml_to_json(s: &str) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for line in s.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line.split_once('=').unwrap();
            m.insert(
                k.trim().to_string(),
                serde_json::from_str(v.trim()).unwrap(),
            );
        }
        serde_json::Value::Object(m)
    }

    fn with(mut spec: CheckSpec, f: impl FnOnce(&mut CheckSpec)) -> CheckSpec {
        f(&mut spec);
        spec
    }

    #[tokio::test]
    async fn http_ok_status_body_and_host() {
        let srv = testutil::http_server(false).await;
        let p = Prober::new(&spec(format!("http://{}/ok", srv.addr))).unwrap();
        let o = p.probe().await;
        assert_eq!(o.result, Ok(()), "{o:?}");
        // connection reuse: a second probe works too
        assert_eq!(p.probe().await.result, Ok(()));

        let p = Prober::new(&spec(format!("http://{}/status/503", srv.addr))).unwrap();
        assert_eq!(p.probe().await.result, Err(FailureReason::Status(503)));

        let s = with(spec(format!("http://{}/status/503", srv.addr)), |s| {
            if let CheckSpec::Http { expect_status, .. } = s {
                *expect_status = vec!["200-299".parse().unwrap(), "503".parse().unwrap()];
            }
        });
        assert_eq!(Prober::new(&s).unwrap().probe().await.result, Ok(()));

        let p = Prober::new(&spec(format!("http://{}/redirect", srv.addr))).unwrap();
        assert_eq!(
            p.probe().await.result,
            Err(FailureReason::Status(301)),
            "redirects not followed"
        );
        let s = with(spec(format!("http://{}/redirect", srv.addr)), |s| {
            if let CheckSpec::Http {
                follow_redirects, ..
            } = s
            {
                *follow_redirects = true;
            }
        });
        assert_eq!(Prober::new(&s).unwrap().probe().await.result, Ok(()));

        let s = with(spec(format!("http://{}/ok", srv.addr)), |s| {
            if let CheckSpec::Http { expect_body, .. } = s {
                *expect_body = Some("all good".into());
            }
        });
        assert_eq!(Prober::new(&s).unwrap().probe().await.result, Ok(()));
        let s = with(spec(format!("http://{}/ok", srv.addr)), |s| {
            if let CheckSpec::Http { expect_body, .. } = s {
                *expect_body = Some("healthy".into());
            }
        });
        assert_eq!(
            Prober::new(&s).unwrap().probe().await.result,
            Err(FailureReason::BodyMismatch("\"healthy\"".into()))
        );
        let s = with(spec(format!("http://{}/ok", srv.addr)), |s| {
            if let CheckSpec::Http {
                expect_body_regex, ..
            } = s
            {
                *expect_body_regex = Some(r"all\s+go+d".into());
            }
        });
        assert_eq!(Prober::new(&s).unwrap().probe().await.result, Ok(()));
        let s = with(spec(format!("http://{}/ok", srv.addr)), |s| {
            if let CheckSpec::Http {
                expect_body_regex, ..
            } = s
            {
                *expect_body_regex = Some("^healthy$".into());
            }
        });
        let r = Prober::new(&s).unwrap().probe().await.result;
        assert_eq!(
            r,
            Err(FailureReason::BodyMismatch(r#"regex "^healthy$""#.into()))
        );
        assert_eq!(
            r.unwrap_err().to_string(),
            r#"body does not match regex "^healthy$""#
        );

        let s = with(spec(format!("http://{}/echo-host", srv.addr)), |s| {
            if let CheckSpec::Http {
                host,
                headers,
                method,
                ..
            } = s
            {
                *host = Some("svc.example".into());
                headers.insert("X-Probe".into(), "1".into());
                *method = "head".into();
            }
        });
        assert_eq!(Prober::new(&s).unwrap().probe().await.result, Ok(()));
        let seen = srv.requests();
        let last = seen.last().unwrap();
        assert!(last.starts_with("HEAD /echo-host"), "{last}");
        assert!(
            last.to_ascii_lowercase()
                .contains(&format!("host: svc.example:{}", srv.addr.port())),
            "{last}"
        );
        assert!(last.to_ascii_lowercase().contains("x-probe: 1"), "{last}");
    }

    #[tokio::test]
    async fn http_family_resolution() {
        let srv = testutil::http_server(false).await;
        let url = format!("http://localhost:{}/ok", srv.addr.port());
        let v4 = toml_spec(&format!(
            "kind = \"http\"\nurl = \"{url}\"\nfamily = \"ipv4\"\n"
        ));
        assert_eq!(Prober::new(&v4).unwrap().probe().await.result, Ok(()));
        let v6 = toml_spec(&format!(
            "kind = \"http\"\nurl = \"{url}\"\nfamily = \"ipv6\"\n"
        ));
        match Prober::new(&v6).unwrap().probe().await.result {
            Err(FailureReason::Resolve(_)) | Err(FailureReason::Refused) => {}
            other => panic!("ipv6 must be judged on its own, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn http_refused_and_timeout() {
        let dead = testutil::dead_tcp_port().await;
        let p = Prober::new(&spec(format!("http://{dead}/"))).unwrap();
        assert_eq!(p.probe().await.result, Err(FailureReason::Refused));

        let silent = testutil::tcp_silent().await;
        let p = Prober::new(&spec(format!("http://{silent}/"))).unwrap();
        let o = p.probe().await;
        assert_eq!(o.result, Err(FailureReason::Timeout));
        assert!(o.latency >= Duration::from_millis(500));

        let srv = testutil::http_server(false).await;
        // the /slow path sleeps 2 s before answering
        let p = Prober::new(&spec(format!("http://{}/slow", srv.addr))).unwrap();
        assert_eq!(p.probe().await.result, Err(FailureReason::Timeout));
    }

    #[tokio::test]
    async fn https_verification_sni_and_expiry() {
        let srv = testutil::http_server(true).await;
        let ca = srv.ca_file.clone().unwrap();
        let url = format!("https://localhost:{}/ok", srv.addr.port());

        // self-signed: the system roots do not know it
        let p = Prober::new(&spec(url.clone())).unwrap();
        match p.probe().await.result {
            Err(FailureReason::Tls(m)) => assert!(m.to_lowercase().contains("certificate"), "{m}"),
            other => panic!("expected a TLS failure, got {other:?}"),
        }

        let with_ca = with(spec(url.clone()), |s| {
            if let CheckSpec::Http { ca_file, .. } = s {
                *ca_file = Some(ca.clone());
            }
        });
        let p = Prober::new(&with_ca).unwrap();
        let o = p.probe().await;
        assert_eq!(o.result, Ok(()), "{o:?}");
        let exp = p.cert_not_after().expect("expiry known after a handshake");
        let days = exp.duration_since(SystemTime::now()).unwrap().as_secs() / 86_400;
        assert!(
            (29..=30).contains(&days),
            "cert made for 30 days, got {days}"
        );

        let insecure = with(spec(url.clone()), |s| {
            if let CheckSpec::Http {
                insecure_skip_verify,
                ..
            } = s
            {
                *insecure_skip_verify = true;
            }
        });
        assert_eq!(Prober::new(&insecure).unwrap().probe().await.result, Ok(()));

        // expiring soon
        let strict = with(with_ca.clone(), |s| {
            if let CheckSpec::Http {
                cert_min_validity, ..
            } = s
            {
                *cert_min_validity = Some(Duration::from_secs(60 * 86_400));
            }
        });
        match Prober::new(&strict).unwrap().probe().await.result {
            Err(FailureReason::CertExpiring(d)) => assert!((29..=30).contains(&d), "{d}"),
            other => panic!("expected CertExpiring, got {other:?}"),
        }

        // wrong name: connect to 127.0.0.1 but ask for a name not in the certificate
        let wrong = with(with_ca.clone(), |s| {
            if let CheckSpec::Http { url, host, .. } = s {
                *url = format!("https://127.0.0.1:{}/ok", srv.addr.port());
                *host = Some("other.example".into());
            }
        });
        match Prober::new(&wrong).unwrap().probe().await.result {
            Err(FailureReason::Tls(m)) => assert!(m.contains("certificate"), "{m}"),
            other => panic!("expected a TLS name failure, got {other:?}"),
        }
        // right name through an IP URL: SNI and Host both set from `host`
        let right = with(with_ca.clone(), |s| {
            if let CheckSpec::Http { url, host, .. } = s {
                *url = format!("https://127.0.0.1:{}/ok", srv.addr.port());
                *host = Some("localhost".into());
            }
        });
        assert_eq!(Prober::new(&right).unwrap().probe().await.result, Ok(()));
        assert_eq!(srv.snis().last().map(String::as_str), Some("localhost"));
    }

    #[tokio::test]
    async fn https_expired_certificate_is_tls_failure() {
        let srv = testutil::http_server_expired().await;
        let s = with(
            spec(format!("https://localhost:{}/ok", srv.addr.port())),
            |s| {
                if let CheckSpec::Http { ca_file, .. } = s {
                    *ca_file = srv.ca_file.clone();
                }
            },
        );
        match Prober::new(&s).unwrap().probe().await.result {
            Err(FailureReason::Tls(m)) => assert!(m.to_lowercase().contains("expired"), "{m}"),
            other => panic!("expected an expired-certificate failure, got {other:?}"),
        }
    }

    #[test]
    fn spec_parsing_and_validation() {
        let s = toml_spec(
            "kind = \"http\"\nurl = \"https://x.test/h\"\nexpect_status = [\"200-299\", 301, \"4xx\"]\nrole = \"liveness\"\nrecheck = 3\nrecheck_interval = \"50ms\"\ninterval = \"100ms\"\n",
        );
        let CheckSpec::Http { expect_status, .. } = &s else {
            panic!()
        };
        assert_eq!(expect_status.len(), 3);
        assert!(expect_status[2].contains(404) && !expect_status[2].contains(500));
        assert_eq!(s.role(), crate::probe::Role::Liveness);
        let sch = s.schedule();
        assert_eq!(
            (sch.interval, sch.timeout, sch.recheck),
            (Duration::from_millis(100), Duration::from_millis(100), 3)
        );
        s.validate().unwrap();

        assert!(serde_json::from_value::<CheckSpec>(toml_to_json(
            "kind = \"http\"\nurl = \"http://x\"\nbogus = 1\n"
        ))
        .is_err());
        assert!(serde_json::from_value::<CheckSpec>(toml_to_json(
            "kind = \"http\"\nurl = \"http://x\"\nexpect_status = [\"600\"]\n"
        ))
        .is_err());
        assert!(serde_json::from_value::<CheckSpec>(toml_to_json(
            "kind = \"http\"\nurl = \"http://x\"\nexpect_status = [\"299-200\"]\n"
        ))
        .is_err());
        assert!(spec("ftp://x/".into()).validate().is_err());
        assert!(spec("not a url".into()).validate().is_err());
        assert!(
            toml_spec("kind = \"http\"\nurl = \"http://x\"\ninterval = \"50ms\"\n")
                .validate()
                .is_err()
        );
        assert!(toml_spec(
            "kind = \"http\"\nurl = \"http://x\"\ninterval = \"1s\"\ntimeout = \"2s\"\n"
        )
        .validate()
        .is_err());
        assert!(toml_spec(
            "kind = \"http\"\nurl = \"http://x\"\nca_file = \"/nonexistent/ca.pem\"\n"
        )
        .validate()
        .is_err());
        assert!(
            toml_spec("kind = \"http\"\nurl = \"http://x\"\nmethod = \"G E T\"\n")
                .validate()
                .is_err()
        );
        assert!(
            toml_spec("kind = \"http\"\nurl = \"http://127.0.0.1/\"\nfamily = \"ipv6\"\n")
                .validate()
                .is_err()
        );
        // round trip
        let back: CheckSpec = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
