//! Starts the real `dnsfailback` binary on loopback with free ports, learns its ports from its
//! log lines, and kills it (SIGKILL) on drop, printing its log if the test failed.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_dnsfailback");

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("dnsfailback-it-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("scratch dir: {e}"));
        Scratch(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tiny HTTP backend on a free loopback port (`/healthz` answers 200 until dropped).
pub async fn backend() -> dnsfailback::backend::Backend {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    dnsfailback::backend::Backend::start(any)
        .await
        .unwrap_or_else(|e| panic!("cannot start a backend: {e}"))
}

/// The `shop` set-up most process tests share: a primary and a backup backend and
/// [`config`] for them written to `dir` (drop the primary to fail `shop` over).
pub async fn shop_files(
    dir: &Scratch,
) -> (
    dnsfailback::backend::Backend,
    dnsfailback::backend::Backend,
    PathBuf,
) {
    let (primary, backup) = (backend().await, backend().await);
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, config(&dir.0, primary.addr(), backup.addr(), ""))
        .unwrap_or_else(|e| panic!("{}: {e}", cfg.display()));
    (primary, backup, cfg)
}

/// A quickstart-like configuration with the given backend addresses and tunables.
pub fn config(dir: &Path, primary: SocketAddr, backup: SocketAddr, extra_service: &str) -> String {
    config_with_timers(dir, primary, backup, FAST_TIMERS, extra_service)
}

/// Failback timers short enough for end-to-end tests: 1 s stable time, a 50 % step held 1 s,
/// TTL restored 2 s after the return.
pub const FAST_TIMERS: &str = r#"stable_for = "1s"
restore_ttl_after = "2s"
canary_steps = [50, 100]
step_hold = "1s""#;

/// The `[controller]` section the tests' controllers share: state in `dir`, the admin API on a
/// free loopback port with the test token from the environment, a 100 ms tick.
pub fn controller_toml(dir: &Path) -> String {
    format!(
        "[controller]\nstate = \"{}\"\nadmin_listen = \"127.0.0.1:0\"\n\
         admin_token = {{ env = \"DNSFAILBACK_TEST_ADMIN_TOKEN\" }}\ntick = \"100ms\"\n",
        dir.join("state.db").display()
    )
}

/// [`config`] with other failback timers (`stable_for`, `restore_ttl_after`, canary keys).
pub fn config_with_timers(
    dir: &Path,
    primary: SocketAddr,
    backup: SocketAddr,
    timers: &str,
    extra_service: &str,
) -> String {
    let targets = shop_targets(primary, backup);
    format!(
        r#"
{controller}
[providers.local]
kind = "embedded"
listen = "127.0.0.1:0"

[services.shop]
provider = "local"
zone = "example.test"
name = "shop.example.test"
type = "A"
ttl = 300
failover_ttl = 30
{timers}
{extra_service}

{targets}"#,
        controller = controller_toml(dir)
    )
}

/// The two targets of the test service `shop`: primary 127.0.0.11 checked over HTTP at
/// `primary`, backup 127.0.0.12 checked over TCP at `backup`; fast checks (100 ms, rise/fall 2).
pub fn shop_targets(primary: SocketAddr, backup: SocketAddr) -> String {
    format!(
        r#"[[services.shop.targets]]
name = "primary"
address = "127.0.0.11"
priority = 1
[[services.shop.targets.checks]]
kind = "http"
url = "http://{primary}/healthz"
interval = "100ms"
timeout = "100ms"
rise = 2
fall = 2

[[services.shop.targets]]
name = "backup"
address = "127.0.0.12"
priority = 2
[[services.shop.targets.checks]]
kind = "tcp"
address = "{backup}"
interval = "100ms"
timeout = "100ms"
rise = 2
fall = 2
"#
    )
}

pub const ADMIN_TOKEN: &str = "it-admin-token-7f3a9c";

/// The running binary.
pub struct Proc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Starts `dnsfailback run -c CONFIG` with extra environment variables.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "-c"]).arg(config);
        cmd.env("DNSFAILBACK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "info,hickory_server=warn")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push(strip_ansi(&line));
                    }
                }
            });
        }
        Proc { child, log }
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Waits for a log line containing `needle`; returns the text after it.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> String {
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

    /// The embedded DNS address, from its start-up line.
    pub fn dns_addr(&self) -> SocketAddr {
        let s = self.wait_for(
            "embedded DNS listening on udp+tcp ",
            Duration::from_secs(20),
        );
        s.split_whitespace()
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("bad DNS address line: {s}"))
    }

    /// The admin API address, from its start-up line.
    pub fn admin_addr(&self) -> SocketAddr {
        let s = self.wait_for("admin API listening on ", Duration::from_secs(20));
        s.split_whitespace()
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("bad admin address line: {s}"))
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id, for signals other than SIGKILL.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The exit status once the process has ended by itself, or `None` after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
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

    /// SIGTERM, as systemd or Kubernetes stop it.
    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends `kill -NAME` (`TERM`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(status.success(), "kill -{name} failed");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- dnsfailback log ----\n{}\n-------------------------",
                self.log()
            );
        }
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Polls DNS until `pred` holds for the answer of shop.example.test A, or panics.
pub async fn wait_dns(
    dns: SocketAddr,
    limit: Duration,
    what: &str,
    pred: impl Fn(&dnsfailback::cli::dig::Answer) -> bool,
) -> dnsfailback::cli::dig::Answer {
    wait_name(dns, "shop.example.test.", limit, what, pred).await
}

/// Polls DNS until `pred` holds for the A answer of `name`, or panics.
pub async fn wait_name(
    dns: SocketAddr,
    name: &str,
    limit: Duration,
    what: &str,
    pred: impl Fn(&dnsfailback::cli::dig::Answer) -> bool,
) -> dnsfailback::cli::dig::Answer {
    let start = tokio::time::Instant::now();
    let mut last = None;
    loop {
        if let Ok(a) = dnsfailback::cli::dig::lookup(dns, name, "A").await {
            if pred(&a) {
                return a;
            }
            last = Some(a);
        }
        assert!(
            start.elapsed() < limit,
            "DNS never showed {what} within {limit:?}; last answer {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the binary to completion with arguments; returns (exit code, stdout, stderr).
pub fn cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("NO_COLOR", "1").env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One `A` service `name` in zone `example.test` on `provider`, with a primary and a backup
/// at the given addresses, one TCP check each (to a closed port: the scenario tests script
/// the results); `extra` goes into the service table. The unit of the generated fleets.
pub fn service_toml(
    name: &str,
    provider: &str,
    primary: &str,
    backup: &str,
    extra: &str,
) -> String {
    let closed = "127.0.0.1:9";
    service_toml_checked(
        name,
        provider,
        (primary, closed),
        (backup, closed),
        extra,
        "",
    )
}

/// [`service_toml`] with real check addresses, `(published address, TCP check address)` for
/// the primary and the backup, and `check_extra` in each check table (e.g. an interval).
pub fn service_toml_checked(
    name: &str,
    provider: &str,
    primary: (&str, &str),
    backup: (&str, &str),
    extra: &str,
    check_extra: &str,
) -> String {
    let target = |role: &str, (address, check): (&str, &str), priority: u32| {
        format!(
            r#"[[services.{name}.targets]]
name = "{role}"
address = "{address}"
priority = {priority}
[[services.{name}.targets.checks]]
kind = "tcp"
address = "{check}"
{check_extra}
"#
        )
    };
    format!(
        r#"
[services.{name}]
provider = "{provider}"
zone = "example.test"
name = "{name}.example.test"
type = "A"
{extra}
{}{}"#,
        target("primary", primary, 1),
        target("backup", backup, 2)
    )
}

/// A scripted probe result for `check`: answered in 3 ms, or refused.
pub fn probe(check: dnsfailback::probe::CheckId, ok: bool) -> dnsfailback::probe::ProbeResult {
    use dnsfailback::probe::{FailureReason, Outcome, ProbeResult};
    ProbeResult {
        check,
        kind: Default::default(),
        outcome: Outcome {
            result: if ok {
                Ok(())
            } else {
                Err(FailureReason::Refused)
            },
            latency: Duration::from_millis(3),
        },
        at: tokio::time::Instant::now(),
    }
}

/// A controller on the paused clock for `config`, with one in-memory provider `mem` serving
/// `example.test` and an in-memory store: the scenario tests' usual set-up.
pub async fn memory_controller(
    config: dnsfailback::config::Config,
) -> (
    dnsfailback::reconcile::Controller,
    dnsfailback_provider::memory::MemoryProvider,
    Arc<dnsfailback::state::MemoryStore>,
) {
    let zone = dnsfailback_provider::Fqdn::new("example.test").unwrap_or_else(|e| panic!("{e}"));
    let provider = dnsfailback_provider::memory::MemoryProvider::new("mem", &[zone]);
    let (ctl, store) = controller_over(config, &[("mem", Arc::new(provider.clone()))]).await;
    (ctl, provider, store)
}

/// A single controller for `config` over the given named providers, an in-memory store and
/// the fixed test clock (on tokio's clock, paused in most tests): the one set-up every
/// in-process controller test shares.
pub async fn controller_over(
    config: dnsfailback::config::Config,
    providers: &[(&str, Arc<dyn dnsfailback_provider::Provider>)],
) -> (
    dnsfailback::reconcile::Controller,
    Arc<dnsfailback::state::MemoryStore>,
) {
    let providers = providers
        .iter()
        .map(|(name, p)| (name.to_string(), p.clone()))
        .collect();
    let store = Arc::new(dnsfailback::state::MemoryStore::default());
    let ctl = dnsfailback::reconcile::Controller::new(
        config,
        providers,
        store.clone(),
        Arc::new(dnsfailback::state::SingleNode),
        dnsfailback::reconcile::Clock::starting_at(1_700_000_000_000),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    (ctl, store)
}
