//! PowerDNS Authoritative test peer for the RFC 2136 adapter: a primary and a secondary
//! `pdns_server` (gsqlite3 backend) on 127.0.0.1, started by the tests themselves on free
//! ports with fresh TSIG keys in a private state directory, and stopped by pid on drop (also
//! when a test panics).
//!
//! Primary: zone `example.test` of kind PRIMARY loaded from the same seed zone as BIND/Knot,
//! `dnsupdate=yes`, `allow-dnsupdate-from=127.0.0.0/8`, keys imported with `pdnsutil`, zone
//! metadata `TSIG-ALLOW-DNSUPDATE` and `TSIG-ALLOW-AXFR` (both sha256 and sha512 keys),
//! `SOA-EDIT-DNSUPDATE=INCREASE` (serial + 1 per update; PowerDNS's default `DEFAULT` jumps
//! to YYYYMMDDnn), `NOTIFY-DNSUPDATE=1` + `ALSO-NOTIFY` so the secondary learns of updates.
//! `allow-axfr-ips=` is empty: transfers need a TSIG key (like BIND's `allow-transfer { key }`).
//! `only-notify=` is empty and `security-poll-suffix=` too, so nothing leaves loopback.
//!
//! Secondary: a secondary zone pulling from the primary with `AXFR-MASTER-TSIG`.
//!
//! When the tests run as root and the Debian `pdns` user exists, the servers drop to it
//! (`setuid`/`setgid`; their directories are given to it), as the packaged service does.
//!
//! A missing `pdns_server`, `pdnsutil`, `sqlite3` or schema file fails the test with a pointer
//! to `scripts/install-test-deps.sh`: nothing is skipped silently.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{free_port, path, random_secret, tail, tcp_soa_serial, write, KEY, KEY512, SEED_ZONE};

/// The schema shipped by Debian's `pdns-backend-sqlite3` (`dpkg -L pdns-backend-sqlite3`).
pub const SCHEMA: &str = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql";

const INSTALL_HINT: &str = "the PowerDNS peer tests need PowerDNS Authoritative with its SQLite \
     backend. Run scripts/install-test-deps.sh (installs pdns-server pdns-backend-sqlite3 sqlite3)";

/// A running PowerDNS primary + secondary pair.
pub struct PdnsPeer {
    pub dir: PathBuf,
    pub primary: SocketAddr,
    pub secondary: SocketAddr,
    /// Base64 secret of `dnsfailback-key` (hmac-sha256) and `dnsfailback-key-512`.
    pub secret: String,
    pub secret512: String,
    pub secret_file: PathBuf,
    pub secret512_file: PathBuf,
    /// Secret of `other-key`: known to the server (valid TSIG), but granted no updates/AXFR.
    pub other_file: PathBuf,
    /// BIND-format key file for `nsupdate -k` (the "someone else" in conflict tests).
    pub key_file: PathBuf,
    children: Vec<(String, Child)>,
}

impl Drop for PdnsPeer {
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

/// Like the BIND/Knot harness's lookup, with a PowerDNS-specific message.
pub fn find_pdns_binary(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{name}` not found: {INSTALL_HINT}");
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn state_dir() -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("dnsfb-powerdns-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

/// `(uid, gid)` of the `pdns` system user when this process runs as root, else `None` (the
/// servers then run as the current user, which needs no privileges: the ports are > 1024).
fn pdns_user() -> Option<(u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?;
    if euid != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        match f.as_slice() {
            ["pdns", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    })
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) -> Result<(), String> {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .map_err(|e| format!("chown {}: {e}", dir.display()))?;
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let p = entry.map_err(|e| e.to_string())?.path();
        std::os::unix::fs::chown(&p, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", p.display()))?;
    }
    Ok(())
}

/// Runs `pdnsutil --config-dir=<dir> args...`; its output never contains secrets except the
/// arguments of `import-tsig-key`, which are not echoed.
fn pdnsutil(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(find_pdns_binary("pdnsutil"))
        .arg(format!("--config-dir={}", dir.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("pdnsutil: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        // The first argument names the operation; secrets are never in it.
        Err(format!(
            "pdnsutil {} failed ({}): {}{}",
            args.first().copied().unwrap_or_default(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// An empty gsqlite3 database from the packaged schema.
fn create_db(db: &Path) -> Result<(), String> {
    if !Path::new(SCHEMA).is_file() {
        panic!("{SCHEMA} not found: {INSTALL_HINT}");
    }
    let out = Command::new(find_pdns_binary("sqlite3"))
        .arg(db)
        .arg(format!(".read {SCHEMA}"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("sqlite3: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "sqlite3 {}: {}",
            db.display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn config(d: &Path, port: u16, role: &str) -> String {
    format!(
        "# PowerDNS {role} for dnsfailback's RFC 2136 tests (written by tests/harness/powerdns.rs)\n\
         launch=gsqlite3\ngsqlite3-database={d}/pdns.sqlite3\n\
         local-address=127.0.0.1\nlocal-port={port}\n\
         daemon=no\nguardian=no\ndisable-syslog=yes\nsocket-dir={d}\n\
         webserver=no\napi=no\nsecurity-poll-suffix=\n\
         loglevel=6\nlog-dns-details=yes\n",
        d = d.display()
    )
}

impl PdnsPeer {
    /// Starts a primary and a secondary; retries with new ports on a port clash.
    pub async fn start() -> PdnsPeer {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start().await {
                Ok(p) => return p,
                Err(e) => last = e,
            }
        }
        panic!("could not start PowerDNS peers: {last}");
    }

    async fn try_start() -> Result<PdnsPeer, String> {
        let pdns_server = find_pdns_binary("pdns_server");
        let dir = state_dir();
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
        let mut peer = PdnsPeer {
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
        let pdir = dir.join("primary");
        let sdir = dir.join("secondary");
        for d in [&pdir, &sdir] {
            std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
            create_db(&d.join("pdns.sqlite3"))?;
        }
        let user = pdns_user();
        let drop_privs = |conf: String| match user {
            Some(_) => format!("{conf}setuid=pdns\nsetgid=pdns\n"),
            None => conf,
        };

        // Primary.
        write(
            &pdir.join("pdns.conf"),
            &drop_privs(format!(
                "{}primary=yes\ndnsupdate=yes\nallow-dnsupdate-from=127.0.0.0/8\n\
                 allow-axfr-ips=\nonly-notify=\n",
                config(&pdir, pport, "primary")
            )),
        );
        write(&pdir.join("example.test.zone"), SEED_ZONE);
        let zone = "example.test";
        pdnsutil(
            &pdir,
            &["load-zone", zone, &path(&pdir.join("example.test.zone"))],
        )?;
        pdnsutil(&pdir, &["set-kind", zone, "primary"])?;
        pdnsutil(&pdir, &["import-tsig-key", KEY, "hmac-sha256", &secret])?;
        pdnsutil(
            &pdir,
            &["import-tsig-key", KEY512, "hmac-sha512", &secret512],
        )?;
        pdnsutil(
            &pdir,
            &["import-tsig-key", "other-key", "hmac-sha256", &other],
        )?;
        pdnsutil(
            &pdir,
            &["set-meta", zone, "TSIG-ALLOW-DNSUPDATE", KEY, KEY512],
        )?;
        pdnsutil(&pdir, &["set-meta", zone, "TSIG-ALLOW-AXFR", KEY, KEY512])?;
        pdnsutil(&pdir, &["set-meta", zone, "SOA-EDIT-DNSUPDATE", "INCREASE"])?;
        pdnsutil(&pdir, &["set-meta", zone, "NOTIFY-DNSUPDATE", "1"])?;
        pdnsutil(
            &pdir,
            &[
                "set-meta",
                zone,
                "ALSO-NOTIFY",
                &format!("127.0.0.1:{sport}"),
            ],
        )?;

        // Secondary.
        write(
            &sdir.join("pdns.conf"),
            &drop_privs(format!(
                "{}secondary=yes\nallow-notify-from=127.0.0.0/8\nallow-axfr-ips=\n",
                config(&sdir, sport, "secondary")
            )),
        );
        pdnsutil(
            &sdir,
            &["create-secondary-zone", zone, &format!("127.0.0.1:{pport}")],
        )?;
        pdnsutil(&sdir, &["import-tsig-key", KEY, "hmac-sha256", &secret])?;
        pdnsutil(&sdir, &["set-meta", zone, "AXFR-MASTER-TSIG", KEY])?;

        if let Some((uid, gid)) = user {
            chown_tree(&pdir, uid, gid)?;
            chown_tree(&sdir, uid, gid)?;
        }
        for (what, d, addr) in [
            ("pdns_server primary", &pdir, peer.primary),
            ("pdns_server secondary", &sdir, peer.secondary),
        ] {
            peer.spawn(
                what,
                &pdns_server,
                &[&format!("--config-dir={}", d.display())],
                &d.join("pdns.log"),
            )?;
            peer.wait_ready(addr, &d.join("pdns.log")).await?;
        }
        Ok(peer)
    }

    fn spawn(&mut self, what: &str, bin: &Path, args: &[&str], log: &Path) -> Result<(), String> {
        // With disable-syslog, pdns_server logs to stderr.
        let out = std::fs::File::create(log).map_err(|e| e.to_string())?;
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
                    return Err(format!("{what} exited ({status}); log:\n{}", tail(log)));
                }
            }
            if let Ok(Some(_)) = tcp_soa_serial(addr).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "{addr} did not serve {} SOA within 20 s; log:\n{}",
            super::ZONE,
            tail(log)
        ))
    }

    /// nsupdate with the right key: the "someone else" editing the zone.
    pub fn nsupdate(&self, commands: &str) -> Result<(), String> {
        let bin = super::find_binary("nsupdate");
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
        ["primary", "secondary"]
            .iter()
            .map(|d| std::fs::read_to_string(self.dir.join(d).join("pdns.log")).unwrap_or_default())
            .collect()
    }
}
