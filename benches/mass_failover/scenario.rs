//! One mass failover, end to end: the real `dnsfailback run` with N services on Route 53 or
//! Cloudflare, pointed at a fake API behind the provider's real rate limit
//! ([`super::limiter`]); every primary's TCP check target is closed at once and the fake's
//! records are watched until every service points at its backup.
//!
//! Shared by the bench (`benches/mass_failover.rs`) and the CI regression test
//! (`tests/integration/mass_failover.rs`). Every child process is killed on drop (error paths
//! included), every wait is bounded, only loopback is used.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::cloudflare_fake::Fake as CloudflareFake;
use super::limiter::{Api, Counts, Limiter};
use super::route53_fake::{Route53Fake, MAX_RR_PER_BATCH};

const BIN: &str = env!("CARGO_BIN_EXE_dnsfailback");
pub const PRIMARY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
pub const BACKUP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const CF_TOKEN: &str = "mass-failover-bench-token";
/// Cloudflare's batch limit on the Free plan and the adapter's default page size.
const CF_BATCH: usize = 200;
const CF_PAGE: usize = 100;
/// Route 53's largest ListResourceRecordSets page.
const R53_PAGE: usize = 300;

/// What to run.
#[derive(Debug, Clone)]
pub struct Setup {
    pub api: Api,
    pub services: usize,
    pub zones: usize,
    /// Bound on each wait (publication, failover).
    pub timeout: Duration,
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Spawn to every record published at the fake (pointing at the primaries).
    pub publish: Duration,
    /// Primaries closed to the first write at the fake (health detection, policy).
    pub detect: Option<Duration>,
    /// Primaries closed to every record at the fake pointing at the backup.
    pub converge: Duration,
    /// Requests during the failover, by kind, and throttling answers.
    pub counts: Counts,
    /// The fewest requests that can make and confirm these changes (see `minimum`).
    pub min_calls: u64,
    /// Seconds the API's own limit needs for `min_calls`.
    pub bound: f64,
    /// The controller's own view (`/metrics`): retries inside adapter calls and seconds
    /// spent waiting for the shared request budget.
    pub retries: f64,
    pub budget_wait: f64,
    /// Batches the fake refused as invalid (too big, or stale).
    pub invalid_batches: u64,
    /// Throttling answers while the records were first published (before the failover).
    pub publish_throttles: u64,
}

impl Outcome {
    /// Requests during the failover.
    pub fn calls(&self) -> u64 {
        self.counts.total()
    }
    /// First to last write at the fake.
    pub fn write_span(&self) -> Option<Duration> {
        let w = match self.counts.first.contains_key("ChangeResourceRecordSets") {
            true => "ChangeResourceRecordSets",
            false => "dns_records batch",
        };
        Some(
            self.counts
                .last
                .get(w)?
                .saturating_duration_since(*self.counts.first.get(w)?),
        )
    }
}

/// The fewest requests that write and confirm `per_zone` updates in each zone: Route 53, per
/// zone, ceil(2k / 1,000) change batches (an update is DELETE + CREATE, two ResourceRecord
/// elements), one GetChange per batch and one read-back of the zone (pages of 300, SOA and NS
/// included); Cloudflare, per zone, ceil(k / 200) batches (one PATCH each) and one read-back
/// (pages of 100). Returns the calls and the seconds the API's limit needs for them
/// (Route 53: a burst of 5, then 5/s; Cloudflare: 1,200 per 5 minutes, so 0 below that).
pub fn minimum(api: Api, per_zone: &[usize]) -> (u64, f64) {
    let calls: usize = per_zone
        .iter()
        .map(|&k| match api {
            Api::Route53 => 2 * (2 * k).div_ceil(MAX_RR_PER_BATCH) + (k + 2).div_ceil(R53_PAGE),
            Api::Cloudflare => k.div_ceil(CF_BATCH) + k.div_ceil(CF_PAGE).max(1),
        })
        .sum();
    let bound = match api {
        Api::Route53 => calls.saturating_sub(5) as f64 / 5.0,
        Api::Cloudflare => calls.saturating_sub(1200) as f64 / 4.0,
    };
    (calls as u64, bound)
}

fn zone_name(z: usize, zones: usize) -> String {
    if zones == 1 {
        "example.test".into()
    } else {
        format!("z{z:02}.example.test")
    }
}

fn zone_id(api: Api, z: usize) -> String {
    match api {
        Api::Route53 => format!("Z{z:013}"),
        Api::Cloudflare => format!("{z:032x}"),
    }
}

/// Service i's zone index and record name.
fn service(i: usize, zones: usize) -> (usize, String) {
    let z = i % zones;
    (z, format!("s{i:05}.{}", zone_name(z, zones)))
}

/// The fake behind the limiter.
enum Backend {
    Route53(Route53Fake),
    Cloudflare(CloudflareFake),
}

impl Backend {
    /// How many services point only at `want`.
    fn pointing_at(&self, setup: &Setup, want: Ipv4Addr) -> usize {
        let want = want.to_string();
        match self {
            Backend::Route53(f) => {
                let st = f.lock();
                (0..setup.services)
                    .filter(|&i| {
                        let (z, name) = service(i, setup.zones);
                        st.values(&zone_id(setup.api, z), &format!("{name}."), "A")
                            .is_some_and(|v| v == [want.clone()])
                    })
                    .count()
            }
            Backend::Cloudflare(f) => (0..setup.services)
                .filter(|&i| {
                    let recs = f.records(&service(i, setup.zones).1, "A");
                    recs.len() == 1
                        && recs[0].get("content").and_then(|c| c.as_str()) == Some(&want)
                })
                .count(),
        }
    }

    fn invalid_batches(&self) -> u64 {
        match self {
            Backend::Route53(f) => f.lock().invalid_batches,
            Backend::Cloudflare(_) => 0,
        }
    }
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The controller process: killed and reaped on drop; the last log lines are kept.
struct Controller {
    child: Child,
    tail: Arc<Mutex<Vec<String>>>,
}

impl Controller {
    fn spawn(config: &Path) -> Result<Self, String> {
        let mut child = Command::new(BIN)
            .args(["run", "-c"])
            .arg(config)
            .env("MASS_ADMIN_TOKEN", "mass-failover-admin-token")
            .env("MASS_CF_TOKEN", CF_TOKEN)
            .env("MASS_AWS_KEY", "AKIDEXAMPLE")
            .env(
                "MASS_AWS_SECRET",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            )
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {BIN}: {e}"))?;
        let tail = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let tail = tail.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut t) = tail.lock() {
                        if t.len() == 30 {
                            t.remove(0);
                        }
                        t.push(line);
                    }
                }
            });
        }
        Ok(Controller { child, tail })
    }

    fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "the controller exited ({status}); last log lines:\n{}",
                self.tail.lock().map(|t| t.join("\n")).unwrap_or_default()
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    fn tail(&self) -> String {
        self.tail.lock().map(|t| t.join("\n")).unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn provider_block(setup: &Setup, url: &str) -> String {
    match setup.api {
        Api::Route53 => {
            let zones: Vec<String> = (0..setup.zones)
                .map(|z| {
                    format!(
                        "\"{}\" = \"{}\"",
                        zone_name(z, setup.zones),
                        zone_id(setup.api, z)
                    )
                })
                .collect();
            format!(
                "[providers.dns]\nkind = \"route53\"\nendpoint = \"{url}\"\n\
                 # burst 1, not the default 5: a client that drains the account's bucket of 5\n\
                 # and then paces at exactly 5/s is throttled by a few ms of network jitter\n\
                 # (docs/benchmarks.md, mass failover)\n\
                 burst = 1\n\
                 access_key_id = {{ env = \"MASS_AWS_KEY\" }}\n\
                 secret_access_key = {{ env = \"MASS_AWS_SECRET\" }}\n\
                 zones = {{ {} }}\n",
                zones.join(", ")
            )
        }
        Api::Cloudflare => format!(
            "[providers.dns]\nkind = \"cloudflare\"\nbase_url = \"{url}\"\n\
             api_token = {{ env = \"MASS_CF_TOKEN\" }}\n"
        ),
    }
}

fn write_config(dir: &Path, setup: &Setup, url: &str, check_port: u16) -> Result<PathBuf, String> {
    use std::fmt::Write;
    let admin = free_port()?;
    let mut t = format!(
        "[controller]\nstate = \"{}\"\nadmin_listen = \"127.0.0.1:{admin}\"\n\
         admin_token = {{ env = \"MASS_ADMIN_TOKEN\" }}\n\n{}",
        dir.join("state.db").display(),
        provider_block(setup, url)
    );
    for i in 0..setup.services {
        let (z, name) = service(i, setup.zones);
        let _ = write!(
            t,
            r#"
[services.s{i:05}]
provider = "dns"
zone = "{zone}"
name = "{name}"
type = "A"
ttl = 300
failover_ttl = 60

[[services.s{i:05}.targets]]
name = "primary"
address = "{PRIMARY}"
site = "a"
priority = 1
[[services.s{i:05}.targets.checks]]
kind = "tcp"
address = "{PRIMARY}:{check_port}"
interval = "1s"

[[services.s{i:05}.targets]]
name = "backup"
address = "{BACKUP}"
site = "b"
priority = 2
[[services.s{i:05}.targets.checks]]
kind = "tcp"
address = "{BACKUP}:{check_port}"
interval = "1s"
"#,
            zone = zone_name(z, setup.zones),
        );
    }
    let path = dir.join("dnsfailback.toml");
    std::fs::write(&path, t).map_err(|e| format!("{}: {e}", path.display()))?;
    let _ = std::fs::write(dir.join("admin-port"), admin.to_string());
    Ok(path)
}

/// Accept-and-close listeners on PRIMARY:port and BACKUP:port.
async fn targets() -> Result<
    (
        u16,
        tokio::task::JoinHandle<()>,
        tokio::task::JoinHandle<()>,
    ),
    String,
> {
    async fn serve(l: tokio::net::TcpListener) {
        loop {
            if let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        }
    }
    let mut last = String::new();
    for _ in 0..20 {
        let p = tokio::net::TcpListener::bind((PRIMARY, 0))
            .await
            .map_err(|e| format!("bind {PRIMARY}: {e}"))?;
        let port = p.local_addr().map_err(|e| e.to_string())?.port();
        match tokio::net::TcpListener::bind((BACKUP, port)).await {
            Ok(b) => return Ok((port, tokio::spawn(serve(p)), tokio::spawn(serve(b)))),
            Err(e) => last = format!("bind {BACKUP}:{port}: {e}"),
        }
    }
    Err(last)
}

/// Sums the samples of `family` in a Prometheus text exposition.
fn metric_sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(family) && l[family.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Polls until `count()` reaches `n`; fails after `limit` or when the controller exits.
fn wait_all(
    ctl: &mut Controller,
    n: usize,
    limit: Duration,
    what: &str,
    count: impl Fn() -> usize,
) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let done = count();
        if done == n {
            return Ok(start.elapsed());
        }
        ctl.check_alive()?;
        if start.elapsed() > limit {
            return Err(format!(
                "{what}: {done} of {n} after {limit:?}; last log lines:\n{}",
                ctl.tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Waits until the writes so far are confirmed: on Route 53, a GetChange answered after the
/// last change batch (its INSYNC); then until no request came for a second (the read-backs).
fn wait_confirmed(limiter: &Limiter, api: Api, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        let c = limiter.counts();
        let last = c.last.values().max().copied();
        let confirmed = match api {
            Api::Route53 => match (
                c.last.get("ChangeResourceRecordSets"),
                c.last.get("GetChange"),
            ) {
                (Some(w), Some(g)) => g > w,
                (Some(_), None) => false,
                (None, _) => true,
            },
            Api::Cloudflare => true,
        };
        if confirmed && last.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs one mass failover and measures it.
pub fn run(setup: &Setup) -> Result<Outcome, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // Unique per run: the CI test runs two scenarios at once in one process.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dnsfailback-mass-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let scratch = Scratch(dir);
    let (backend, limiter, port, primary, _backup) = rt.block_on(async {
        let backend = match setup.api {
            Api::Route53 => {
                let zones: Vec<(String, String)> = (0..setup.zones)
                    .map(|z| (zone_id(setup.api, z), zone_name(z, setup.zones)))
                    .collect();
                let f = Route53Fake::start(&zones).await?;
                Backend::Route53(f)
            }
            Api::Cloudflare => {
                let f = CloudflareFake::start(
                    CF_TOKEN,
                    &zone_id(setup.api, 0),
                    &zone_name(0, setup.zones),
                )
                .await;
                for z in 1..setup.zones {
                    f.add_zone(&zone_id(setup.api, z), &zone_name(z, setup.zones));
                }
                Backend::Cloudflare(f)
            }
        };
        let upstream = match &backend {
            Backend::Route53(f) => format!("http://{}", f.addr),
            Backend::Cloudflare(f) => f.url(),
        };
        let limiter = Limiter::start(setup.api, upstream).await?;
        let (port, p, b) = targets().await?;
        Ok::<_, String>((backend, limiter, port, p, b))
    })?;
    let config = write_config(&scratch.0, setup, &limiter.url(), port)?;
    let admin = std::fs::read_to_string(scratch.0.join("admin-port")).unwrap_or_default();
    let mut out = Outcome::default();

    let spawned = Instant::now();
    let mut ctl = Controller::spawn(&config)?;
    wait_all(
        &mut ctl,
        setup.services,
        setup.timeout,
        "publication",
        || backend.pointing_at(setup, PRIMARY),
    )?;
    out.publish = spawned.elapsed();
    // Let the publication's GetChange polls and read-backs finish before counting.
    wait_confirmed(&limiter, setup.api, setup.timeout);
    let before = rt.block_on(scrape(&admin));
    let publish_throttles = limiter.counts().throttled;
    limiter.reset_counts();

    let killed = Instant::now();
    primary.abort();
    out.converge = wait_all(&mut ctl, setup.services, setup.timeout, "failover", || {
        backend.pointing_at(setup, BACKUP)
    })?;
    // The GetChange polls that confirm the last batch come after the records moved.
    wait_confirmed(&limiter, setup.api, setup.timeout);
    out.counts = limiter.counts();
    out.publish_throttles = publish_throttles;
    let after = rt.block_on(scrape(&admin));
    for (f, slot) in [
        ("dnsfailback_provider_retries_total", &mut out.retries),
        (
            "dnsfailback_provider_throttle_wait_seconds_total",
            &mut out.budget_wait,
        ),
    ] {
        *slot = metric_sum(&after, f) - metric_sum(&before, f);
    }
    out.detect = ["ChangeResourceRecordSets", "dns_records batch"]
        .iter()
        .find_map(|k| out.counts.first.get(k))
        .map(|t| t.saturating_duration_since(killed));
    let per_zone: Vec<usize> = (0..setup.zones)
        .map(|z| (0..setup.services).filter(|i| i % setup.zones == z).count())
        .collect();
    (out.min_calls, out.bound) = minimum(setup.api, &per_zone);
    out.invalid_batches = backend.invalid_batches();
    drop(ctl);
    drop(limiter);
    drop(backend);
    Ok(out)
}

async fn scrape(admin_port: &str) -> String {
    let url = format!("http://127.0.0.1:{}/metrics", admin_port.trim());
    match reqwest::Client::builder().no_proxy().build() {
        Ok(c) => match c.get(url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        },
        Err(_) => String::new(),
    }
}

/// Requests by kind, for a table cell: `List 4, Change 2, ...`.
pub fn kinds(c: &Counts) -> String {
    let m: BTreeMap<_, _> = c.by_kind.iter().collect();
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
