//! Test peers for the RFC 2136 adapter: a primary and a secondary BIND 9 (`named`), Knot DNS
//! (`knotd`) or PowerDNS Authoritative (`pdns_server`, set up by `powerdns.rs`) on 127.0.0.1,
//! started by the tests themselves with fresh TSIG keys in a private state directory, and
//! stopped by pid on drop (also when a test panics).
//!
//! Missing binaries fail the test with a pointer to `scripts/install-test-deps.sh`: nothing
//! is skipped silently.

#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use data_encoding::BASE64;
use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

pub mod powerdns;

pub const ZONE: &str = "example.test.";
pub const KEY: &str = "dnsfailback-key";
pub const KEY512: &str = "dnsfailback-key-512";

const SEED_ZONE: &str =
    "; Seed zone for the RFC 2136 peer. SOA minimum (negative-caching TTL) 60 s.
$TTL 300
@       IN SOA  ns1.example.test. hostmaster.example.test. (
                1       ; serial
                3600    ; refresh
                600     ; retry
                86400   ; expire
                60 )    ; minimum / negative TTL
@       IN NS   ns1.example.test.
ns1     IN A    127.0.0.1
www     IN A    192.0.2.1
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bind,
    Knot,
    PowerDns,
}

/// A running primary + secondary pair.
pub struct Peer {
    pub kind: Kind,
    pub dir: PathBuf,
    pub primary: SocketAddr,
    pub secondary: SocketAddr,
    /// Base64 secret of `dnsfailback-key` (hmac-sha256) and `dnsfailback-key-512`.
    pub secret: String,
    pub secret512: String,
    pub secret_file: PathBuf,
    pub secret512_file: PathBuf,
    /// Secret of `other-key`: valid TSIG, but granted no updates.
    pub other_file: PathBuf,
    /// BIND-format key file for `nsupdate -k` (the "someone else" in conflict tests).
    pub key_file: PathBuf,
    children: Vec<(String, Child)>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::env::var_os("RFC2136_KEEP_STATE").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `name` in `PATH` or the usual sbin/bin directories.
fn lookup_binary(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

fn find_binary(name: &str) -> PathBuf {
    lookup_binary(name).unwrap_or_else(|| {
        panic!(
        "`{name}` not found: the RFC 2136 peer tests need BIND 9 and Knot DNS. \
         Run scripts/install-test-deps.sh (installs bind9 bind9-utils knot knot-dnsutils bind9-dnsutils)"
        )
    })
}

fn random_secret(len: usize) -> String {
    let mut buf = vec![0u8; len];
    let mut f = std::fs::File::open("/dev/urandom").unwrap_or_else(|e| panic!("/dev/urandom: {e}"));
    f.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("/dev/urandom: {e}"));
    BASE64.encode(&buf)
}

/// A port free on 127.0.0.1 for both TCP and UDP right now.
fn free_port() -> u16 {
    for _ in 0..50 {
        let Ok(l) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = l.local_addr() else { continue };
        if UdpSocket::bind(addr).is_ok() {
            return addr.port();
        }
    }
    panic!("no free port on 127.0.0.1");
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn state_dir(kind: Kind) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let d = std::env::temp_dir()
        .join(format!("dnsfb-{kind:?}-{}-{n}", std::process::id()).to_lowercase());
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl Peer {
    /// Starts a primary and a secondary of `kind`; retries with new ports on a port clash.
    pub async fn start(kind: Kind) -> Peer {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(kind).await {
                Ok(p) => return p,
                Err(e) => last = e,
            }
        }
        panic!("could not start {kind:?} peers: {last}");
    }

    async fn try_start(kind: Kind) -> Result<Peer, String> {
        let dir = state_dir(kind);
        let secret = random_secret(32);
        let secret512 = random_secret(64);
        let other = random_secret(32);
        let secret_file = dir.join("tsig.secret");
        let secret512_file = dir.join("tsig512.secret");
        write(&secret_file, &format!("{secret}\n"));
        write(&secret512_file, &format!("{secret512}\n"));
        let other_file = dir.join("other.secret");
        write(&other_file, &format!("{other}\n"));
        let key_file = dir.join("tsig.key");
        write(
            &key_file,
            &format!("key \"{KEY}\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{secret}\";\n}};\n"),
        );
        let (pport, sport) = (free_port(), free_port());
        let mut peer = Peer {
            kind,
            dir: dir.clone(),
            primary: SocketAddr::from(([127, 0, 0, 1], pport)),
            secondary: SocketAddr::from(([127, 0, 0, 1], sport)),
            secret: secret.clone(),
            secret512: secret512.clone(),
            secret_file,
            secret512_file,
            other_file,
            key_file,
            children: Vec::new(),
        };
        let keys = |d: &Path| -> (String, String) {
            let bind = format!(
                "key \"{KEY}\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n\
                 key \"{KEY512}\" {{ algorithm hmac-sha512; secret \"{secret512}\"; }};\n\
                 key \"other-key\" {{ algorithm hmac-sha256; secret \"{other}\"; }};\n"
            );
            let knot = format!(
                "key:\n  - id: {KEY}\n    algorithm: hmac-sha256\n    secret: {secret}\n  \
                 - id: {KEY512}\n    algorithm: hmac-sha512\n    secret: {secret512}\n  \
                 - id: other-key\n    algorithm: hmac-sha256\n    secret: {other}\n"
            );
            let _ = d;
            (bind, knot)
        };
        let pdir = dir.join("primary");
        let sdir = dir.join("secondary");
        for d in [&pdir, &sdir] {
            std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
        }
        write(&pdir.join("example.test.zone"), SEED_ZONE);
        let (bind_keys, knot_keys) = keys(&dir);
        match kind {
            Kind::PowerDns => powerdns::start(&mut peer, &other, &pdir, &sdir).await?,
            Kind::Bind => {
                let named = find_binary("named");
                let common = |d: &Path, port: u16| {
                    format!(
                        "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  \
                         session-keyfile \"{d}/session.key\";\n  managed-keys-directory \"{d}\";\n  \
                         listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  \
                         recursion no;\n  allow-query {{ 127.0.0.1; }};\n  dnssec-validation no;\n  \
                         notify explicit;\n  notify-delay 0;\n}};\ncontrols {{ }};\n{bind_keys}\
                         logging {{\n  channel to_file {{ file \"{d}/named.log\"; severity info; print-time yes; print-category yes; }};\n  \
                         category default {{ to_file; }};\n}};\n",
                        d = d.display()
                    )
                };
                let pconf = format!(
                    "{}zone \"example.test\" {{\n  type primary;\n  file \"{}/example.test.zone\";\n  \
                     update-policy {{ grant {KEY} zonesub ANY; grant {KEY512} zonesub ANY; }};\n  \
                     allow-transfer {{ key {KEY}; key {KEY512}; }};\n  \
                     also-notify {{ 127.0.0.1 port {sport}; }};\n}};\n",
                    common(&pdir, pport),
                    pdir.display()
                );
                let sconf = format!(
                    "{}zone \"example.test\" {{\n  type secondary;\n  file \"{}/example.test.zone\";\n  \
                     masterfile-format text;\n  primaries {{ 127.0.0.1 port {pport} key {KEY}; }};\n  \
                     allow-notify {{ 127.0.0.1; }};\n}};\n",
                    common(&sdir, sport),
                    sdir.display()
                );
                write(&pdir.join("named.conf"), &pconf);
                write(&sdir.join("named.conf"), &sconf);
                peer.spawn(
                    "named primary",
                    &named,
                    &["-f", "-n", "1", "-c", &path(&pdir.join("named.conf"))],
                    &pdir.join("named.log"),
                )?;
                peer.wait_ready(peer.primary, &pdir.join("named.log"))
                    .await?;
                peer.spawn(
                    "named secondary",
                    &named,
                    &["-f", "-n", "1", "-c", &path(&sdir.join("named.conf"))],
                    &sdir.join("named.log"),
                )?;
                peer.wait_ready(peer.secondary, &sdir.join("named.log"))
                    .await?;
            }
            Kind::Knot => {
                let knotd = find_binary("knotd");
                for d in [&pdir, &sdir] {
                    // Knot needs its journal directory to exist, or every UPDATE fails (SERVFAIL).
                    std::fs::create_dir_all(d.join("db")).map_err(|e| e.to_string())?;
                }
                let common = |d: &Path, port: u16| {
                    format!(
                        "server:\n  rundir: \"{d}\"\n  pidfile: \"{d}/knotd.pid\"\n  listen: 127.0.0.1@{port}\n\
                         database:\n  storage: \"{d}/db\"\n\
                         control:\n  listen: \"{d}/knot.sock\"\n\
                         log:\n  - target: \"{d}/knotd.log\"\n    any: info\n{knot_keys}",
                        d = d.display()
                    )
                };
                let pconf = format!(
                    "{}remote:\n  - id: secondary\n    address: 127.0.0.1@{sport}\n\
                     acl:\n  - id: dnsfailback_update\n    key: [{KEY}, {KEY512}]\n    action: [update, transfer]\n\
                     template:\n  - id: default\n    storage: \"{d}\"\n    file: \"%s.zone\"\n    zonefile-sync: -1\n    journal-content: changes\n\
                     zone:\n  - domain: example.test\n    acl: dnsfailback_update\n    notify: secondary\n",
                    common(&pdir, pport),
                    d = pdir.display()
                );
                let sconf = format!(
                    "{}remote:\n  - id: primary\n    address: 127.0.0.1@{pport}\n    key: {KEY}\n\
                     acl:\n  - id: notify_from_primary\n    address: 127.0.0.1\n    action: notify\n\
                     template:\n  - id: default\n    storage: \"{d}\"\n    file: \"%s.zone\"\n    zonefile-sync: -1\n    journal-content: changes\n\
                     zone:\n  - domain: example.test\n    master: primary\n    acl: notify_from_primary\n",
                    common(&sdir, sport),
                    d = sdir.display()
                );
                write(&pdir.join("knot.conf"), &pconf);
                write(&sdir.join("knot.conf"), &sconf);
                peer.spawn(
                    "knotd primary",
                    &knotd,
                    &["-c", &path(&pdir.join("knot.conf"))],
                    &pdir.join("knotd.log"),
                )?;
                peer.wait_ready(peer.primary, &pdir.join("knotd.log"))
                    .await?;
                peer.spawn(
                    "knotd secondary",
                    &knotd,
                    &["-c", &path(&sdir.join("knot.conf"))],
                    &sdir.join("knotd.log"),
                )?;
                peer.wait_ready(peer.secondary, &sdir.join("knotd.log"))
                    .await?;
            }
        }
        Ok(peer)
    }

    fn spawn(&mut self, what: &str, bin: &Path, args: &[&str], log: &Path) -> Result<(), String> {
        let out = std::fs::File::create(log.with_extension("stderr")).map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .map_err(|e| format!("{what}: cannot start {}: {e}", bin.display()))?;
        self.children.push((what.to_string(), child));
        Ok(())
    }

    async fn wait_ready(&mut self, addr: SocketAddr, log: &Path) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            for (what, child) in &mut self.children {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "{what} exited ({status}); log:\n{}\nstderr:\n{}",
                        tail(log),
                        tail(&log.with_extension("stderr"))
                    ));
                }
            }
            if let Ok(Some(_)) = tcp_soa_serial(addr).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "{addr} did not serve {ZONE} SOA within 20 s; log:\n{}",
            tail(log)
        ))
    }

    /// nsupdate with the right key: the "someone else" editing the zone.
    pub fn nsupdate(&self, commands: &str) -> Result<(), String> {
        let bin = find_binary("nsupdate");
        let script = format!(
            "server 127.0.0.1 {}\nzone example.test\n{commands}\nsend\n",
            self.primary.port()
        );
        let mut child = Command::new(bin)
            .args(["-k", &path(&self.key_file)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin
                .write_all(script.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "nsupdate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Log text of both servers, for "secret never logged" checks.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for d in ["primary", "secondary"] {
            // PowerDNS (disable-syslog) logs to stderr only: pdns.stderr.
            for f in [
                "named.log",
                "knotd.log",
                "named.stderr",
                "knotd.stderr",
                "pdns.stderr",
            ] {
                s.push_str(&std::fs::read_to_string(self.dir.join(d).join(f)).unwrap_or_default());
            }
        }
        s
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// SOA serial served over TCP (readiness probe), unsigned.
async fn tcp_soa_serial(addr: SocketAddr) -> Result<Option<u32>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = Name::from_ascii(ZONE).map_err(|e| e.to_string())?;
    let msg = dnsfailback_provider_rfc2136::request::build_query(&name, RecordType::SOA);
    let bytes = msg.to_vec().map_err(|e| e.to_string())?;
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
        frame.extend_from_slice(&bytes);
        s.write_all(&frame).await.map_err(|e| e.to_string())?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.map_err(|e| e.to_string())?;
        let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut body).await.map_err(|e| e.to_string())?;
        let m = hickory_proto::op::Message::from_vec(&body).map_err(|e| e.to_string())?;
        Ok(m.answers.iter().find_map(|r| match &r.data {
            RData::SOA(s) => Some(s.serial),
            _ => None,
        }))
    };
    tokio::time::timeout(Duration::from_secs(1), fut)
        .await
        .map_err(|_| "timeout".to_string())?
}

/// A real query over UDP with hickory-net's client, independent of the adapter's transport:
/// returns the answer's values (sorted) and TTL, or `None` for NXDOMAIN/NODATA.
pub async fn dig(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
) -> Result<Option<(u32, Vec<String>)>, String> {
    let stream = UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(Duration::from_secs(2)))
        .build();
    let (mut client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
    let task = tokio::spawn(bg);
    let qname = Name::from_ascii(name).map_err(|e| e.to_string())?;
    let resp = client
        .query(qname.clone(), DNSClass::IN, rtype)
        .await
        .map_err(|e| format!("query {name} {rtype} at {server}: {e}"));
    task.abort();
    let resp = resp?;
    if resp.metadata.response_code != ResponseCode::NoError
        && resp.metadata.response_code != ResponseCode::NXDomain
    {
        return Err(format!(
            "query {name} {rtype}: {}",
            resp.metadata.response_code
        ));
    }
    let mut ttl = u32::MAX;
    let mut values: Vec<String> = resp
        .answers
        .iter()
        .filter(|r| r.record_type() == rtype && r.name == qname)
        .map(|r| {
            ttl = ttl.min(r.ttl);
            r.data.to_string()
        })
        .collect();
    values.sort();
    Ok(if values.is_empty() {
        None
    } else {
        Some((ttl, values))
    })
}

/// The SOA serial a server answers with over UDP (hickory client).
pub async fn serial(server: SocketAddr) -> Result<u32, String> {
    tcp_soa_serial(server)
        .await?
        .ok_or_else(|| format!("{server}: no SOA"))
}
