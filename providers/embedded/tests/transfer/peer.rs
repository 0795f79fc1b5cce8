//! Secondaries for the transfer tests: BIND 9 (`named`) or Knot DNS (`knotd`) on 127.0.0.1 and
//! a free port, in a scratch directory, with the TSIG key of the test, secondary for
//! `example.test` from the embedded primary. Stopped by pid on drop, also when a test panics.
//! A missing binary fails the test with the fix (scripts/install-test-deps.sh); nothing skips.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const KEY: &str = "transfer-key";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bind,
    Knot,
}

/// A running secondary; killed and its directory removed on drop.
pub struct Secondary {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    child: Child,
}

impl Drop for Secondary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `name` in `PATH` or the usual sbin directories; panics with the fix when missing.
pub fn binary(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found: the transfer tests need BIND 9 (named, named-checkzone, \
                 dig) and Knot DNS (knotd); run scripts/install-test-deps.sh"
            )
        })
}

/// A port free on 127.0.0.1 for both TCP and UDP right now.
pub fn free_port() -> u16 {
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

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The last lines of a log, for failure messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

impl Secondary {
    /// Starts a `kind` secondary on `port` for `example.test` from `primary`, with the key.
    pub fn start(kind: Kind, port: u16, primary: SocketAddr, secret: &str, dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("db")).unwrap_or_else(|e| panic!("{e}"));
        let d = dir.display();
        let (bin, args, conf) = match kind {
            Kind::Bind => {
                let conf = format!(
                    "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  \
                     session-keyfile \"{d}/session.key\";\n  managed-keys-directory \"{d}\";\n  \
                     listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  \
                     recursion no;\n  allow-query {{ 127.0.0.1; }};\n  dnssec-validation no;\n  \
                     notify no;\n}};\ncontrols {{ }};\n\
                     key \"{KEY}\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n\
                     logging {{\n  channel to_file {{ file \"{d}/named.log\"; severity info; \
                     print-time yes; print-category yes; }};\n  category default {{ to_file; }};\n}};\n\
                     zone \"example.test\" {{\n  type secondary;\n  file \"{d}/example.test.zone\";\n  \
                     masterfile-format text;\n  primaries {{ 127.0.0.1 port {} key {KEY}; }};\n  \
                     allow-notify {{ 127.0.0.1; }};\n}};\n",
                    primary.port()
                );
                let path = dir.join("named.conf");
                let args = vec![
                    "-f".into(),
                    "-n".into(),
                    "1".into(),
                    "-c".into(),
                    path.display().to_string(),
                ];
                (binary("named"), args, (path, conf))
            }
            Kind::Knot => {
                let conf = format!(
                    "server:\n  rundir: \"{d}\"\n  pidfile: \"{d}/knotd.pid\"\n  listen: 127.0.0.1@{port}\n\
                     database:\n  storage: \"{d}/db\"\n\
                     control:\n  listen: \"{d}/knot.sock\"\n\
                     log:\n  - target: \"{d}/knotd.log\"\n    any: info\n\
                     key:\n  - id: {KEY}\n    algorithm: hmac-sha256\n    secret: {secret}\n\
                     remote:\n  - id: primary\n    address: 127.0.0.1@{}\n    key: {KEY}\n\
                     acl:\n  - id: notify_from_primary\n    address: 127.0.0.1\n    key: {KEY}\n    action: notify\n\
                     template:\n  - id: default\n    storage: \"{d}\"\n    file: \"%s.zone\"\n    zonefile-sync: -1\n\
                     zone:\n  - domain: example.test\n    master: primary\n    acl: notify_from_primary\n",
                    primary.port()
                );
                let path = dir.join("knot.conf");
                let args = vec!["-c".into(), path.display().to_string()];
                (binary("knotd"), args, (path, conf))
            }
        };
        write(&conf.0, &conf.1);
        let stderr = std::fs::File::create(dir.join("stderr")).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(&bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Secondary {
            kind,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir: dir.to_path_buf(),
            child,
        }
    }

    /// Its log and stderr, for failure messages.
    pub fn log(&self) -> String {
        let log = match self.kind {
            Kind::Bind => "named.log",
            Kind::Knot => "knotd.log",
        };
        format!(
            "{log}:\n{}\nstderr:\n{}",
            tail(&self.dir.join(log)),
            tail(&self.dir.join("stderr"))
        )
    }

    /// Fails when the process has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(format!("{:?} exited ({status}); {}", self.kind, self.log())),
            _ => Ok(()),
        }
    }
}
