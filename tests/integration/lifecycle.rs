//! Process lifecycle of the real binary: a panic in the control loop ends the process with a
//! non-zero code (so a supervisor restarts it) instead of leaving DNS served by a controller
//! that fails nothing over, and SIGTERM ends it with code 0 within 5 s.
//!
//! These tests need the exit status, which `harness::Proc` does not expose, so they start the
//! binary themselves (same binary, environment and scratch directories as the harness) with a
//! guard that kills it on drop.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{Scratch, ADMIN_TOKEN, BIN};

/// `dnsfailback run -c CONFIG`, SIGKILLed on drop (printing its log if the test failed).
struct Controller {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Controller {
    fn start(config: &Path, env: &[(&str, &str)]) -> Controller {
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "-c"])
            .arg(config)
            .env("DNSFAILBACK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "info,hickory_server=warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push(line);
                    }
                }
            });
        }
        Controller { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    fn wait_for_log(&self, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Ok(l) = self.log.lock() {
                if let Some(line) = l.iter().find(|x| x.contains(needle)) {
                    return line.split(needle).nth(1).unwrap_or("").trim().to_string();
                }
            }
            assert!(
                start.elapsed() < limit,
                "no log line with `{needle}` within {limit:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit status once the process has ended by itself, or `None` after `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(status.success(), "kill -TERM failed");
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- dnsfailback log ----\n{}\n-------------------------",
                self.log()
            );
        }
    }
}

/// `count` services `s0`..`s{count-1}` in `example.test` on one embedded server, each with a
/// primary and a backup checked over TCP at `up` (a listener the test keeps open).
fn services_config(dir: &Path, up: SocketAddr, count: usize) -> String {
    let mut text = format!(
        r#"[controller]
state = "{state}"
admin_listen = "127.0.0.1:0"
admin_token = {{ env = "DNSFAILBACK_TEST_ADMIN_TOKEN" }}
tick = "100ms"

[providers.local]
kind = "embedded"
listen = "127.0.0.1:0"
"#,
        state = dir.join("state.db").display()
    );
    for i in 0..count {
        text.push_str(&format!(
            r#"
[services.s{i}]
provider = "local"
zone = "example.test"
name = "s{i}.example.test"
type = "A"
ttl = 300
failover_ttl = 30

[[services.s{i}.targets]]
name = "primary"
address = "127.0.0.11"
priority = 1
[[services.s{i}.targets.checks]]
kind = "tcp"
address = "{up}"
interval = "100ms"
timeout = "100ms"
rise = 2
fall = 2

[[services.s{i}.targets]]
name = "backup"
address = "127.0.0.12"
priority = 2
[[services.s{i}.targets.checks]]
kind = "tcp"
address = "{up}"
interval = "100ms"
timeout = "100ms"
rise = 2
fall = 2
"#
        ));
    }
    text
}

fn dns_addr(c: &Controller) -> SocketAddr {
    let s = c.wait_for_log(
        "embedded DNS listening on udp+tcp ",
        Duration::from_secs(20),
    );
    s.split_whitespace()
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("bad DNS address line: {s}"))
}

fn up_listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
    (l, addr)
}

/// Needs the `panic-in-tick` failpoint in the control loop (`src/reconcile`): the loop task
/// panics on its first tick.
#[test]
fn a_panic_in_the_control_loop_ends_the_process_with_an_error() {
    let dir = Scratch::new("lifecycle-panic");
    let (_up, up) = up_listener();
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, services_config(&dir.0, up, 2)).unwrap_or_else(|e| panic!("{e}"));
    let mut c = Controller::start(&cfg, &[("DNSFAILBACK_FAILPOINT", "panic-in-tick")]);
    let status = c.wait_exit(Duration::from_secs(30)).unwrap_or_else(|| {
        panic!(
            "the controller kept running after a panic in its control loop; log:\n{}",
            c.log()
        )
    });
    assert!(!status.success(), "exit status {status}; log:\n{}", c.log());
    assert_eq!(status.code(), Some(70), "log:\n{}", c.log());
    let log = c.log();
    assert!(log.contains("failpoint panic-in-tick"), "log:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_with_code_0_within_5_seconds() {
    let dir = Scratch::new("lifecycle-term");
    let (_up, up) = up_listener();
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, services_config(&dir.0, up, 5)).unwrap_or_else(|e| panic!("{e}"));
    let mut c = Controller::start(&cfg, &[]);
    let dns = dns_addr(&c);
    // The loop is busy: wait until it has published every service.
    let start = Instant::now();
    for i in 0..5 {
        loop {
            let name = format!("s{i}.example.test.");
            if let Ok(a) = dnsfailback::cli::dig::lookup(dns, &name, "A").await {
                if a.values == ["127.0.0.11"] {
                    break;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{name} never published; log:\n{}",
                c.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let sent = Instant::now();
    c.sigterm();
    let status = c.wait_exit(Duration::from_secs(10));
    let took = sent.elapsed();
    let status =
        status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM; log:\n{}", c.log()));
    assert_eq!(status.code(), Some(0), "log:\n{}", c.log());
    assert!(
        took < Duration::from_secs(5),
        "SIGTERM took {took:?}; log:\n{}",
        c.log()
    );
}
