//! PowerDNS Authoritative start-up for `Peer::start(Kind::PowerDns)`: a primary and a
//! secondary `pdns_server` (gsqlite3 backend) on the peer's 127.0.0.1 ports, with the peer's
//! TSIG keys, in the peer's state directory. Everything else (keys and key files, ports,
//! `nsupdate`, logs, stopping by pid on drop) is the shared `Peer` of `mod.rs`.
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

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{lookup_binary, path, write, Peer, KEY, KEY512};

/// The schema shipped by Debian's `pdns-backend-sqlite3` (`dpkg -L pdns-backend-sqlite3`).
pub const SCHEMA: &str = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql";

const INSTALL_HINT: &str = "the PowerDNS peer tests need PowerDNS Authoritative with its SQLite \
     backend. Run scripts/install-test-deps.sh (installs pdns-server pdns-backend-sqlite3 sqlite3)";

/// Like `find_binary`, with a PowerDNS-specific message.
fn find_pdns_binary(name: &str) -> PathBuf {
    lookup_binary(name).unwrap_or_else(|| panic!("`{name}` not found: {INSTALL_HINT}"))
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

/// Sets up and starts the PowerDNS primary (`pdir`, holding the seed zone file) and secondary
/// (`sdir`) on `peer`'s ports with its keys; `other` is the secret of `other-key`.
pub(super) async fn start(
    peer: &mut Peer,
    other: &str,
    pdir: &Path,
    sdir: &Path,
) -> Result<(), String> {
    let pdns_server = find_pdns_binary("pdns_server");
    let (pport, sport) = (peer.primary.port(), peer.secondary.port());
    let (secret, secret512) = (peer.secret.clone(), peer.secret512.clone());
    for d in [pdir, sdir] {
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
            config(pdir, pport, "primary")
        )),
    );
    let zone = "example.test";
    pdnsutil(
        pdir,
        &["load-zone", zone, &path(&pdir.join("example.test.zone"))],
    )?;
    pdnsutil(pdir, &["set-kind", zone, "primary"])?;
    pdnsutil(pdir, &["import-tsig-key", KEY, "hmac-sha256", &secret])?;
    pdnsutil(
        pdir,
        &["import-tsig-key", KEY512, "hmac-sha512", &secret512],
    )?;
    pdnsutil(
        pdir,
        &["import-tsig-key", "other-key", "hmac-sha256", other],
    )?;
    pdnsutil(
        pdir,
        &["set-meta", zone, "TSIG-ALLOW-DNSUPDATE", KEY, KEY512],
    )?;
    pdnsutil(pdir, &["set-meta", zone, "TSIG-ALLOW-AXFR", KEY, KEY512])?;
    pdnsutil(pdir, &["set-meta", zone, "SOA-EDIT-DNSUPDATE", "INCREASE"])?;
    pdnsutil(pdir, &["set-meta", zone, "NOTIFY-DNSUPDATE", "1"])?;
    pdnsutil(
        pdir,
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
            config(sdir, sport, "secondary")
        )),
    );
    pdnsutil(
        sdir,
        &["create-secondary-zone", zone, &format!("127.0.0.1:{pport}")],
    )?;
    pdnsutil(sdir, &["import-tsig-key", KEY, "hmac-sha256", &secret])?;
    pdnsutil(sdir, &["set-meta", zone, "AXFR-MASTER-TSIG", KEY])?;

    if let Some((uid, gid)) = user {
        chown_tree(pdir, uid, gid)?;
        chown_tree(sdir, uid, gid)?;
    }
    // With disable-syslog, pdns_server logs to stderr: `pdns.stderr` (see `Peer::spawn`).
    for (what, d, addr) in [
        ("pdns_server primary", pdir, peer.primary),
        ("pdns_server secondary", sdir, peer.secondary),
    ] {
        peer.spawn(
            what,
            &pdns_server,
            &[&format!("--config-dir={}", d.display())],
            &d.join("pdns.log"),
        )?;
        peer.wait_ready(addr, &d.join("pdns.log")).await?;
    }
    Ok(())
}
