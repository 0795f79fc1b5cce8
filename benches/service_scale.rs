//! Service-scale benchmark: the real `dnsfailback run` with N services on the embedded provider,
//! measured from the outside the way an operator would see it.
//!
//! ```text
//! cargo bench --bench service_scale                    # N = 1,000 then N = 10,000
//! cargo bench --bench service_scale -- --services 1000 # one size
//! # options: --rss-after-seconds 30  --idle-seconds 20  --timeout-seconds 600
//! #          --failover-timeout-seconds 120
//! ```
//!
//! For each N it writes a configuration with one embedded provider on 127.0.0.1 (a free port),
//! one zone `example.test` and services `s00000`..: record `sNNNNN.example.test` A, TTL 300,
//! failover TTL 30, primary target 127.0.0.2 with one TCP check to 127.0.0.2:PORT and backup
//! 127.0.0.3 with one TCP check to 127.0.0.3:PORT, checks every 1 s. This process runs the two
//! tiny TCP listeners (accept and close) on that PORT. Then it measures:
//!
//! * `validate`: wall time of `dnsfailback validate -c FILE` (with the SOA read);
//! * first answer: spawn of `dnsfailback run` to the first A answer for `s00000` (raw UDP
//!   queries built with hickory-proto);
//! * all answered: spawn to the moment every service's name has an A answer (all N names
//!   queried in turn over UDP, the unanswered ones again until none is left);
//! * RSS: `VmRSS` of the controller `--rss-after-seconds` after spawn (one sample, which
//!   moves by +-15 MB with where in its probe and write cycle the process is), the median and
//!   the maximum of `VmRSS` sampled every 250 ms over the idle window below (the steady state a
//!   monitoring graph shows), and its `VmHWM` at the end;
//! * idle CPU: utime+stime of the controller over `--idle-seconds` once everything is
//!   published, as a % of one core;
//! * failover: the 127.0.0.2 listener is closed; time until every name answers 127.0.0.3 only
//!   (`--failover-timeout-seconds`; when it runs out the table shows how many had switched,
//!   and the run goes on). Note: every primary is on 127.0.0.2, i.e. half of all targets go
//!   down at once, which is exactly what the partition gate (`src/health/partition.rs`) takes
//!   for the controller's own network failing, so it holds the failover until targets can be
//!   grouped by site;
//! * SIGTERM: time from `kill -TERM` to the process's exit, and its exit code;
//! * restart: `dnsfailback run` again on the same state; spawn to the first A answer for the
//!   last service, which the embedded server serves from its data file.
//!
//! Every child process is killed when the bench ends, also on an error (a drop guard); every
//! wait is bounded (`--timeout-seconds`); only loopback addresses are used. The binary is the
//! one cargo built for this bench (`CARGO_BIN_EXE_dnsfailback`, release with `cargo bench`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};

const BIN: &str = env!("CARGO_BIN_EXE_dnsfailback");
const PRIMARY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const BACKUP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

struct Args {
    sizes: Vec<usize>,
    rss_after: Duration,
    idle: Duration,
    timeout: Duration,
    failover_timeout: Duration,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        sizes: vec![1_000, 10_000],
        rss_after: Duration::from_secs(30),
        idle: Duration::from_secs(20),
        timeout: Duration::from_secs(600),
        failover_timeout: Duration::from_secs(120),
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let next = v.get(i + 1).cloned().unwrap_or_default();
        let num = |what: &str| -> Result<u64, String> {
            next.parse()
                .map_err(|_| format!("{what} needs a number, got `{next}`"))
        };
        match v[i].as_str() {
            "--services" => a.sizes = vec![num("--services")? as usize],
            "--rss-after-seconds" => a.rss_after = Duration::from_secs(num("--rss-after-seconds")?),
            "--idle-seconds" => a.idle = Duration::from_secs(num("--idle-seconds")?),
            "--timeout-seconds" => a.timeout = Duration::from_secs(num("--timeout-seconds")?),
            "--failover-timeout-seconds" => {
                a.failover_timeout = Duration::from_secs(num("--failover-timeout-seconds")?)
            }
            // cargo bench passes `--bench`; ignore it and anything else cargo adds.
            "--bench" => {
                i += 1;
                continue;
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
        i += 2;
    }
    Ok(a)
}

fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("service_scale: {e}");
            std::process::exit(2);
        }
    };
    if !Path::new(BIN).exists() {
        eprintln!("service_scale: {BIN} is missing; run `cargo build --release` first");
        std::process::exit(2);
    }
    let mut rows = Vec::new();
    for &n in &args.sizes {
        eprintln!("service_scale: {n} services ...");
        let mut row = Row {
            services: n,
            ..Row::default()
        };
        let result = run_one(n, &args, &mut row);
        rows.push(row);
        if let Err(e) = result {
            eprintln!("service_scale: {n} services failed: {e}");
            print_table(&rows);
            std::process::exit(1);
        }
    }
    print_table(&rows);
}

#[derive(Default)]
struct Row {
    services: usize,
    validate: Option<Duration>,
    first_answer: Option<Duration>,
    all_answered: Option<Duration>,
    rss_kb: Option<u64>,
    /// Median and maximum of the RSS samples over the idle window.
    idle_rss_kb: Option<(u64, u64)>,
    hwm_kb: Option<u64>,
    idle_cpu_pct: Option<f64>,
    failover: Option<Duration>,
    /// When the failover did not complete: how far it got.
    failover_partial: Option<String>,
    sigterm: Option<Duration>,
    exit_code: Option<i32>,
    /// Spawn on the same state to the first answer (from the embedded data file).
    restart_answer: Option<Duration>,
}

fn print_table(rows: &[Row]) {
    let d =
        |x: Option<Duration>| x.map_or("-".to_string(), |d| format!("{:.2} s", d.as_secs_f64()));
    let mb = |x: Option<u64>| x.map_or("-".to_string(), |k| format!("{:.1} MB", k as f64 / 1024.0));
    println!();
    println!("| services | validate | first answer | all answered | RSS after --rss-after-seconds | RSS idle: median / max | peak RSS | idle CPU | failover (all on backup) | SIGTERM -> exit (code) | restart: first answer |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} |",
            r.services,
            d(r.validate),
            d(r.first_answer),
            d(r.all_answered),
            mb(r.rss_kb),
            r.idle_rss_kb.map_or("-".to_string(), |(med, max)| format!(
                "{} / {}",
                mb(Some(med)),
                mb(Some(max))
            )),
            mb(r.hwm_kb),
            r.idle_cpu_pct
                .map_or("-".to_string(), |p| format!("{p:.1} %")),
            r.failover_partial.clone().unwrap_or_else(|| d(r.failover)),
            d(r.sigterm),
            r.exit_code.map_or("-".to_string(), |c| c.to_string()),
            d(r.restart_answer),
        );
    }
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(n: usize) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!(
            "dnsfailback-service-scale-{n}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The controller process: SIGKILLed and reaped on drop (error paths included). Its stderr is
/// drained in a thread (a full pipe would block it); the last lines are kept for errors.
struct Controller {
    child: Child,
    tail: Arc<Mutex<VecDeque<String>>>,
    /// Set when the log says the partition gate engaged.
    partition_seen: Arc<AtomicBool>,
}

impl Controller {
    fn spawn(config: &Path) -> Result<Self, String> {
        let mut child = Command::new(BIN)
            .args(["run", "-c"])
            .arg(config)
            .env("DNSFAILBACK_BENCH_TOKEN", "service-scale-bench-token")
            .env("RUST_LOG", "info,hickory_server=warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {BIN}: {e}"))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let partition_seen = Arc::new(AtomicBool::new(false));
        if let Some(stderr) = child.stderr.take() {
            let tail = tail.clone();
            let partition_seen = partition_seen.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.contains("suspecting the controller's own network") {
                        partition_seen.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut t) = tail.lock() {
                        if t.len() == 40 {
                            t.pop_front();
                        }
                        t.push_back(line);
                    }
                }
            });
        }
        Ok(Controller {
            child,
            tail,
            partition_seen,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn tail(&self) -> String {
        self.tail
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }

    /// Fails with the log tail when the process has ended.
    fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "the controller exited ({status}); last log lines:\n{}",
                self.tail()
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The two check targets: accept-and-close listeners on 127.0.0.2:PORT and 127.0.0.3:PORT on
/// a small runtime of their own; the primary can be closed.
struct Targets {
    port: u16,
    runtime: tokio::runtime::Runtime,
    primary: Option<tokio::task::JoinHandle<()>>,
    _backup: tokio::task::JoinHandle<()>,
}

impl Targets {
    fn start() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let (p, b) = runtime.block_on(async {
            let mut last = String::new();
            for _ in 0..20 {
                let p = tokio::net::TcpListener::bind((PRIMARY, 0))
                    .await
                    .map_err(|e| format!("bind {PRIMARY}: {e}"))?;
                let port = p.local_addr().map_err(|e| e.to_string())?.port();
                match tokio::net::TcpListener::bind((BACKUP, port)).await {
                    Ok(b) => return Ok((p, b)),
                    Err(e) => last = format!("bind {BACKUP}:{port}: {e}"),
                }
            }
            Err(last)
        })?;
        let port = p.local_addr().map_err(|e| e.to_string())?.port();
        let primary = runtime.spawn(accept_and_close(p));
        let backup = runtime.spawn(accept_and_close(b));
        Ok(Targets {
            port,
            runtime,
            primary: Some(primary),
            _backup: backup,
        })
    }

    /// Closes the primary's listener: its checks now get "connection refused".
    fn close_primary(&mut self) {
        if let Some(p) = self.primary.take() {
            p.abort();
            let _ = self.runtime.block_on(p);
        }
    }
}

async fn accept_and_close(listener: tokio::net::TcpListener) {
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    }
}

/// A UDP and TCP port free on 127.0.0.1 for the embedded server.
fn free_dns_port() -> Result<u16, String> {
    for _ in 0..20 {
        let u = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = u.local_addr().map_err(|e| e.to_string())?.port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free port for the embedded DNS server".into())
}

fn service_name(i: usize) -> String {
    format!("s{i:05}")
}

fn write_config(dir: &Path, n: usize, dns_port: u16, check_port: u16) -> Result<PathBuf, String> {
    use std::fmt::Write;
    let mut t = format!(
        r#"[controller]
state = "{state}"
admin_listen = "127.0.0.1:0"
admin_token = {{ env = "DNSFAILBACK_BENCH_TOKEN" }}
# defaults otherwise: a whole site is one failure event for max_failovers

[providers.local]
kind = "embedded"
listen = "127.0.0.1:{dns_port}"
"#,
        state = dir.join("state.db").display()
    );
    for i in 0..n {
        let s = service_name(i);
        let _ = write!(
            t,
            r#"
[services.{s}]
provider = "local"
zone = "example.test"
name = "{s}.example.test"
type = "A"
ttl = 300
failover_ttl = 30

[[services.{s}.targets]]
name = "primary"
address = "{PRIMARY}"
site = "a"
priority = 1
[[services.{s}.targets.checks]]
kind = "tcp"
address = "{PRIMARY}:{check_port}"
interval = "1s"

[[services.{s}.targets]]
name = "backup"
address = "{BACKUP}"
priority = 2
[[services.{s}.targets.checks]]
kind = "tcp"
address = "{BACKUP}:{check_port}"
interval = "1s"
"#
        );
    }
    let path = dir.join("dnsfailback.toml");
    std::fs::write(&path, t).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// A blocking UDP DNS client for A queries.
struct Dns {
    sock: UdpSocket,
    server: SocketAddr,
    next_id: u16,
    buf: Vec<u8>,
}

impl Dns {
    fn new(server: SocketAddr) -> Result<Self, String> {
        let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .map_err(|e| e.to_string())?;
        Ok(Dns {
            sock,
            server,
            next_id: 1,
            buf: vec![0; 4096],
        })
    }

    /// The A values for `name`, empty for NXDOMAIN/NODATA, `None` without an answer in time.
    fn a(&mut self, name: &Name) -> Option<Vec<Ipv4Addr>> {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let mut msg = Message::query();
        msg.metadata.id = id;
        msg.add_query(Query::query(name.clone(), RecordType::A));
        let bytes = msg.to_vec().ok()?;
        self.sock.send_to(&bytes, self.server).ok()?;
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            let (len, from) = self.sock.recv_from(&mut self.buf).ok()?;
            if from != self.server {
                continue;
            }
            let Ok(resp) = Message::from_vec(&self.buf[..len]) else {
                continue;
            };
            if resp.metadata.id != id {
                continue; // a late answer to an earlier, timed-out query
            }
            let mut v: Vec<Ipv4Addr> = resp
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect();
            v.sort();
            return Some(v);
        }
        None
    }
}

/// Why a sweep stopped early.
enum SweepError {
    /// The controller exited, or another hard failure.
    Fatal(String),
    /// `limit` ran out with `pending` of `total` names not there yet.
    Timeout {
        pending: usize,
        total: usize,
        limit: Duration,
    },
}

impl From<String> for SweepError {
    fn from(e: String) -> Self {
        SweepError::Fatal(e)
    }
}

impl SweepError {
    fn describe(&self, what: &str) -> String {
        match self {
            SweepError::Fatal(e) => format!("{what}: {e}"),
            SweepError::Timeout {
                pending,
                total,
                limit,
            } => format!("{what}: {pending} of {total} names still not there after {limit:?}"),
        }
    }
}

/// Queries every name in `pending` in turn, drops the ones whose answer satisfies `done`,
/// and repeats until none is left; fails after `limit`.
fn sweep_until(
    dns: &mut Dns,
    ctl: &mut Controller,
    names: &[Name],
    limit: Duration,
    done: impl Fn(&[Ipv4Addr]) -> bool,
) -> Result<Duration, SweepError> {
    let start = Instant::now();
    let mut pending: Vec<usize> = (0..names.len()).collect();
    while !pending.is_empty() {
        pending.retain(|&i| !dns.a(&names[i]).is_some_and(|v| done(&v)));
        if pending.is_empty() {
            break;
        }
        ctl.check_alive()?;
        if start.elapsed() > limit {
            return Err(SweepError::Timeout {
                pending: pending.len(),
                total: names.len(),
                limit,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(start.elapsed())
}

fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Measures one size into `row` (partly filled when a step fails).
fn run_one(n: usize, args: &Args, row: &mut Row) -> Result<(), String> {
    let dir = Scratch::new(n)?;
    let mut targets = Targets::start()?;
    let dns_port = free_dns_port()?;
    let config = write_config(&dir.0, n, dns_port, targets.port)?;
    let names: Vec<Name> = (0..n)
        .map(|i| Name::from_str(&format!("{}.example.test.", service_name(i))))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;

    // validate
    let t = Instant::now();
    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&config)
        .env("DNSFAILBACK_BENCH_TOKEN", "service-scale-bench-token")
        .env("RUST_LOG", "warn")
        .output()
        .map_err(|e| format!("cannot run {BIN} validate: {e}"))?;
    row.validate = Some(t.elapsed());
    if !out.status.success() {
        return Err(format!(
            "validate failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }

    // run: first answer, then every name
    let spawned = Instant::now();
    let mut ctl = Controller::spawn(&config)?;
    let pid = ctl.pid();
    let mut dns = Dns::new(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), dns_port))?;
    loop {
        if dns.a(&names[0]).is_some_and(|v| !v.is_empty()) {
            row.first_answer = Some(spawned.elapsed());
            break;
        }
        ctl.check_alive()?;
        if spawned.elapsed() > args.timeout {
            return Err(format!(
                "no answer for {} within {:?}",
                names[0], args.timeout
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("  first answer after {:?}", spawned.elapsed());
    // RSS at a fixed time after spawn, sampled from a thread so a slow publication does not
    // move the sampling point.
    let rss_at = spawned + args.rss_after;
    let rss_thread = std::thread::spawn(move || {
        std::thread::sleep(rss_at.saturating_duration_since(Instant::now()));
        proc_status_kb(pid, "VmRSS:")
    });
    sweep_until(&mut dns, &mut ctl, &names, args.timeout, |v| !v.is_empty())
        .map_err(|e| e.describe("publication"))?;
    row.all_answered = Some(spawned.elapsed());
    eprintln!("  all {n} answered after {:?}", spawned.elapsed());
    row.rss_kb = rss_thread.join().ok().flatten();

    // idle CPU once everything is published
    let hz = clock_ticks_per_second();
    let before = cpu_ticks(pid).ok_or("cannot read /proc/PID/stat")?;
    let t = Instant::now();
    let mut samples = Vec::new();
    let trace = std::env::var_os("SERVICE_SCALE_RSS_TRACE").is_some();
    while t.elapsed() < args.idle {
        let kb = proc_status_kb(pid, "VmRSS:");
        if trace {
            eprintln!(
                "  rss {:6.2} s {:7.1} MB",
                t.elapsed().as_secs_f64(),
                kb.unwrap_or(0) as f64 / 1024.0
            );
        }
        samples.extend(kb);
        std::thread::sleep(Duration::from_millis(250));
    }
    let after = cpu_ticks(pid).ok_or("cannot read /proc/PID/stat")?;
    samples.sort_unstable();
    row.idle_rss_kb = samples
        .get(samples.len() / 2)
        .copied()
        .zip(samples.last().copied());
    ctl.check_alive()?;
    row.idle_cpu_pct = Some((after - before) as f64 / hz / t.elapsed().as_secs_f64() * 100.0);
    eprintln!("  idle CPU {:.1} %", row.idle_cpu_pct.unwrap_or_default());

    row.hwm_kb = proc_status_kb(pid, "VmHWM:");

    // site failover: the primary's listener goes away
    targets.close_primary();
    match sweep_until(&mut dns, &mut ctl, &names, args.failover_timeout, |v| {
        v == [BACKUP]
    }) {
        Ok(t) => {
            row.failover = Some(t);
            eprintln!("  failover done after {t:?}");
        }
        Err(SweepError::Timeout {
            pending,
            total,
            limit,
        }) => {
            let partition = ctl.partition_seen.load(Ordering::Relaxed);
            row.failover_partial = Some(format!(
                "{}/{total} after {:.0} s{}",
                total - pending,
                limit.as_secs_f64(),
                if partition {
                    " (partition suspected)"
                } else {
                    ""
                }
            ));
            eprintln!(
                "  failover incomplete: {pending} of {total} not on the backup after {limit:?}"
            );
        }
        Err(e) => return Err(e.describe("failover")),
    }
    row.hwm_kb = proc_status_kb(pid, "VmHWM:");

    // SIGTERM
    let t = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if !status.success() {
        return Err("kill -TERM failed".into());
    }
    let limit = Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = ctl.child.try_wait() {
            row.sigterm = Some(t.elapsed());
            row.exit_code = status.code();
            break;
        }
        if t.elapsed() > limit {
            eprintln!("  still running {limit:?} after SIGTERM; killing it");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(ctl);

    // Restart on the same state: the embedded server answers from its data file.
    let spawned = Instant::now();
    let mut ctl = Controller::spawn(&config)?;
    loop {
        if dns.a(&names[n - 1]).is_some_and(|v| !v.is_empty()) {
            row.restart_answer = Some(spawned.elapsed());
            break;
        }
        ctl.check_alive()?;
        if spawned.elapsed() > args.timeout {
            return Err(format!(
                "no answer for {} within {:?} of a restart",
                names[n - 1],
                args.timeout
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "  after a restart, first answer after {:?}",
        spawned.elapsed()
    );
    drop(ctl);
    Ok(())
}
