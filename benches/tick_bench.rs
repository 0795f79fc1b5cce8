//! Control-loop cost at fleet scale, in process: N services (one zone, primaries on one
//! address, backups on another), the `MemoryProvider` and the real `SqliteStore` in a scratch
//! directory; probe results are fed straight into health. No network.
//!
//! ```text
//! cargo bench --bench tick_bench                     # N = 1,000 then 10,000
//! cargo bench --bench tick_bench -- --services 10000
//! ```
//!
//! Printed per N: the first tick (original TTLs read, every record published in one change
//! set), the mean of 20 steady ticks with nothing changing (quiet services are skipped), and
//! the tick that fails every service over (decide all, one zone job with N changes, journal,
//! verify, audit), and every service's status row built on request (what `status` costs the
//! loop).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dnsfailback::config::validate::parse;
use dnsfailback::health::check_id;
use dnsfailback::probe::{FailureReason, Outcome, ProbeResult};
use dnsfailback::reconcile::{Clock, Controller};
use dnsfailback::state::{SingleNode, SqliteStore};
use dnsfailback_provider::memory::MemoryProvider;
use dnsfailback_provider::{Fqdn, Provider};

fn fleet(n: usize) -> String {
    let mut t = String::from("[providers.mem]\nkind = \"embedded\"\n");
    for i in 0..n {
        let s = format!("s{i:05}");
        t.push_str(&format!(
            "[services.{s}]\nprovider = \"mem\"\nzone = \"example.test\"\nname = \"{s}.example.test\"\n\
             type = \"A\"\n[[services.{s}.targets]]\nname = \"primary\"\naddress = \"192.0.2.10\"\n\
             site = \"a\"\npriority = 1\n[[services.{s}.targets.checks]]\nkind = \"tcp\"\n\
             address = \"127.0.0.1:9\"\n[[services.{s}.targets]]\nname = \"backup\"\n\
             address = \"198.51.100.20\"\npriority = 2\n[[services.{s}.targets.checks]]\n\
             kind = \"tcp\"\naddress = \"127.0.0.1:9\"\n"
        ));
    }
    t
}

fn round(ctl: &mut Controller, n: usize, primary_ok: bool) {
    for i in 0..n {
        for (target, ok) in [("primary", primary_ok), ("backup", true)] {
            ctl.observe(&ProbeResult {
                check: check_id(&format!("s{i:05}"), target, 0),
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
            });
        }
    }
}

async fn timed(ctl: &mut Controller) -> Duration {
    let t0 = Instant::now();
    ctl.tick().await;
    t0.elapsed()
}

async fn run(n: usize) -> (Duration, Duration, Duration, usize, Duration) {
    let (config, _) = parse(std::path::Path::new("fleet.toml"), &fleet(n)).expect("config");
    let dir =
        std::env::temp_dir().join(format!("dnsfailback-tick-bench-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let provider = MemoryProvider::new("mem", &[Fqdn::new("example.test").expect("zone")]);
    let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
    providers.insert("mem".into(), Arc::new(provider.clone()));
    let store = Arc::new(SqliteStore::open(&dir.join("state.db")).expect("store"));
    let mut ctl = Controller::new(
        config,
        providers,
        store,
        Arc::new(SingleNode),
        Clock::system(),
    )
    .await
    .expect("controller");
    // rise = 3: three healthy rounds, the third publishes everything.
    let mut first = Duration::ZERO;
    for _ in 0..3 {
        round(&mut ctl, n, true);
        first = timed(&mut ctl).await;
    }
    let mut steady = Duration::ZERO;
    for _ in 0..20 {
        round(&mut ctl, n, true);
        steady += timed(&mut ctl).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // fall = 2; then the 3 s onset settle (no uplink anchors), then everyone moves at once.
    let mut failover = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider.applied().len() < 2 && Instant::now() < deadline {
        round(&mut ctl, n, false);
        failover = timed(&mut ctl).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let moved = provider
        .applied()
        .get(1)
        .map(|c| c.changes.len())
        .unwrap_or(0);
    // What `dnsfailback status` costs the loop: every service's row, built on request.
    let t0 = Instant::now();
    let rows = (0..n)
        .filter_map(|i| ctl.status_of(&format!("s{i:05}")))
        .count();
    let status = t0.elapsed();
    assert_eq!(rows, n, "a row per service");
    let _ = std::fs::remove_dir_all(&dir);
    (first, steady / 20, failover, moved, status)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = match args.iter().position(|a| a == "--services") {
        Some(i) => vec![args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .expect("--services N")],
        None => vec![1_000, 10_000],
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("| services | first tick (publish all) | steady tick (mean of 20) | failover tick | changes in the failover call | status, all rows |");
    println!("|---|---|---|---|---|---|");
    for n in sizes {
        let (first, steady, failover, moved, status) = rt.block_on(run(n));
        println!(
            "| {n} | {:.1} ms | {:.1} ms | {:.1} ms | {moved} | {:.1} ms |",
            first.as_secs_f64() * 1e3,
            steady.as_secs_f64() * 1e3,
            failover.as_secs_f64() * 1e3,
            status.as_secs_f64() * 1e3
        );
    }
}
