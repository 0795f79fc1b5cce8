//! Loopback servers for the probe tests: each binds port 0 on 127.0.0.1 and runs until the test's
//! runtime ends. Test-only code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Echoes every byte back.
pub async fn tcp_echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Writes `banner` and closes.
pub async fn tcp_banner(banner: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.write_all(banner.as_bytes()).await;
        }
    });
    addr
}

/// Accepts and never says anything.
pub async fn tcp_silent() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut keep = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            keep.push(s);
        }
    });
    addr
}

/// A port where nothing listens (bound, then released).
pub async fn dead_tcp_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// Echoes every datagram.
pub async fn udp_echo() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let _ = s.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// A UDP port where nothing listens.
pub async fn dead_udp_port() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.local_addr().unwrap()
}

/// A bound UDP socket that never answers (kept alive by the returned handle).
pub async fn udp_silent() -> (SocketAddr, UdpSocket) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    (s.local_addr().unwrap(), s)
}

/// A tiny HTTP/1.1 keep-alive server (optionally TLS) that records request heads and SNI names.
///
/// Paths: `/ok` 200 "all good", `/status/N` N, `/redirect` 301 to `/ok`, `/slow` 200 after 2 s,
/// anything else 200 "hello".
pub struct HttpServer {
    pub addr: SocketAddr,
    pub ca_file: Option<PathBuf>,
    requests: Arc<Mutex<Vec<String>>>,
    snis: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
    pub fn snis(&self) -> Vec<String> {
        self.snis.lock().unwrap().clone()
    }
}

/// H. Hinnant's days -> (y, m, d).
fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

fn date_from_today(days: i64) -> (i32, u8, u8) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 86_400;
    civil_from_days(now + days)
}

/// A CA (written to a temp PEM file) and a `localhost` leaf valid from `from` to `to` days
/// relative to today.
fn make_certs(from: i64, to: i64) -> (PathBuf, tokio_rustls::TlsAcceptor) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "dnsfailback test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let ((y0, m0, d0), (y1, m1, d1)) = (date_from_today(from), date_from_today(to));
    leaf.not_before = rcgen::date_time_ymd(y0, m0, d0);
    leaf.not_after = rcgen::date_time_ymd(y1, m1, d1);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "dnsfailback-probe-ca-{}-{}.pem",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::write(&path, ca_cert.pem()).unwrap();

    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf_cert.der().clone()], key)
    .unwrap();
    (path, tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

pub async fn http_server(tls: bool) -> HttpServer {
    let certs = tls.then(|| make_certs(-1, 30));
    serve_http(certs).await
}

/// HTTPS with a certificate that expired yesterday.
pub async fn http_server_expired() -> HttpServer {
    serve_http(Some(make_certs(-60, -1))).await
}

async fn serve_http(certs: Option<(PathBuf, tokio_rustls::TlsAcceptor)>) -> HttpServer {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let snis = Arc::new(Mutex::new(Vec::new()));
    let (ca_file, acceptor) = match certs {
        Some((p, a)) => (Some(p), Some(a)),
        None => (None, None),
    };
    let (reqs, sn) = (requests.clone(), snis.clone());
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (reqs, sn, acceptor) = (reqs.clone(), sn.clone(), acceptor.clone());
            tokio::spawn(async move {
                match acceptor {
                    Some(a) => {
                        if let Ok(t) = a.accept(s).await {
                            if let Some(name) = t.get_ref().1.server_name() {
                                sn.lock().unwrap().push(name.to_string());
                            }
                            serve_conn(t, reqs).await;
                        }
                    }
                    None => serve_conn(s, reqs).await,
                }
            });
        }
    });
    HttpServer {
        addr,
        ca_file,
        requests,
        snis,
    }
}

async fn serve_conn<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, reqs: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    continue;
                }
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end + 4);
        reqs.lock().unwrap().push(head.clone());
        let mut parts = head.split_whitespace();
        let method = parts.next().unwrap_or("");
        let path = parts.next().unwrap_or("/");
        let (status, extra, body): (u16, &str, &str) = if path == "/ok" {
            (200, "", "all good")
        } else if let Some(code) = path.strip_prefix("/status/") {
            (code.parse().unwrap_or(500), "", "status")
        } else if path == "/redirect" {
            (301, "Location: /ok\r\n", "moved")
        } else if path == "/slow" {
            tokio::time::sleep(Duration::from_secs(2)).await;
            (200, "", "slow")
        } else {
            (200, "", "hello")
        };
        let resp = format!(
            "HTTP/1.1 {status} X\r\n{extra}Content-Length: {}\r\n\r\n{}",
            body.len(),
            if method == "HEAD" { "" } else { body }
        );
        if s.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
        let _ = s.flush().await;
    }
}

/// A DNS server on UDP and TCP (same port) built with hickory-proto:
/// `ok.test.` A -> 192.0.2.1; `nx.test.` -> NXDOMAIN; `fail.test.` -> SERVFAIL;
/// `garbage.test.` -> the right id followed by junk; `tc.test.` -> truncated over UDP, A
/// 192.0.2.7 over TCP; anything else -> NOERROR, no answer.
pub async fn dns_server() -> SocketAddr {
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = TcpListener::bind(addr).await {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            if let Some(r) = dns_answer(&buf[..n], true) {
                let _ = udp.send_to(&r, from).await;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((s, _)) = tcp.accept().await {
            tokio::spawn(dns_tcp_conn(s));
        }
    });
    addr
}

async fn dns_tcp_conn(mut s: TcpStream) {
    let mut len = [0u8; 2];
    while s.read_exact(&mut len).await.is_ok() {
        let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if s.read_exact(&mut q).await.is_err() {
            return;
        }
        let Some(r) = dns_answer(&q, false) else {
            return;
        };
        let mut out = (r.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&r);
        if s.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn dns_answer(q: &[u8], udp: bool) -> Option<Vec<u8>> {
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::{rdata::A, RData, Record};
    let query = Message::from_vec(q).ok()?;
    let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
    resp.metadata.recursion_desired = query.metadata.recursion_desired;
    resp.queries = query.queries.clone();
    let name = query.queries.first()?.name().to_ascii();
    match name.as_str() {
        "ok.test." => {
            let rec = Record::from_rdata(
                query.queries[0].name().clone(),
                60,
                RData::A(A::new(192, 0, 2, 1)),
            );
            resp.answers.push(rec);
        }
        "tc.test." if udp => resp.metadata.truncation = true,
        "tc.test." => {
            let rec = Record::from_rdata(
                query.queries[0].name().clone(),
                60,
                RData::A(A::new(192, 0, 2, 7)),
            );
            resp.answers.push(rec);
        }
        "nx.test." => resp.metadata.response_code = ResponseCode::NXDomain,
        "fail.test." => resp.metadata.response_code = ResponseCode::ServFail,
        "garbage.test." => {
            let mut junk = query.metadata.id.to_be_bytes().to_vec();
            junk.extend_from_slice(&[0x81, 0x80, 0xff, 0xff, 0xff]);
            return Some(junk);
        }
        _ => {}
    }
    resp.to_vec().ok()
}
