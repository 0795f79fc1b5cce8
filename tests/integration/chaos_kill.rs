//! Chaos (issue 17): SIGKILL at a random moment of a whole failover cycle, then restart.
//!
//! Each trial starts the real binary on the embedded provider with fast timers (1 s stable,
//! 50 % canary step held 1 s, TTL restored 2 s after the return), kills the primary backend
//! (failover), brings it back after a random delay (canary failback, then TTL restore) and
//! SIGKILLs the controller at a random moment in that cycle. The controller is started again on
//! the same configuration and state; the trial passes when it reaches phase `normal` with the
//! primary published at the original TTL (status and a real DNS answer) within [`CONVERGE`].
//!
//! `CHAOS_TRIALS` (default 10, the CI size; `scripts/chaos.sh` runs 100) and `CHAOS_SEED`
//! (default: from the clock; printed, so a failing run can be repeated exactly).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dnsfailback::backend::Backend;
use serde_json::Value;

use crate::harness::{config, wait_dns, Proc, Scratch, ADMIN_TOKEN};

const PRIMARY: &str = "127.0.0.11";
/// Bound for convergence after the restart: the longest remaining cycle (stable 1 s, two canary
/// holds of 1 s, TTL restore 2 s) plus health discovery, with a wide margin for a loaded CI.
const CONVERGE: Duration = Duration::from_secs(30);
/// The cycle ends about this long after the primary returns (rise, 1 s stable, 50 % held 1 s,
/// 100 % held 1 s, then the TTL restore): the kill lands between the drop and this end.
const CYCLE_AFTER_RETURN_MS: u64 = 4_500;

/// What one trial saw.
struct Trial {
    kill_ms: u64,
    back_ms: u64,
    /// The phase the controller had last logged before the kill.
    phase_at_kill: String,
    /// From the restart to the converged answer, or the failure.
    result: Result<Duration, String>,
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

async fn status(http: &reqwest::Client, admin: SocketAddr) -> Option<Value> {
    let resp = http
        .get(format!("http://{admin}/v1/status/shop"))
        .bearer_auth(ADMIN_TOKEN)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

/// Normal, the primary published alone with the original TTL 300.
fn converged(s: &Value) -> bool {
    s["phase"]["phase"] == "normal"
        && s["published"]["kind"] == "target"
        && s["published"]["target"] == "primary"
        && s["published"]["ttl"] == 300
        && s["original_ttl"] == 300
}

async fn wait_converged(proc: &Proc, limit: Duration) -> Result<(), String> {
    let admin = proc.admin_addr();
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut last = Value::Null;
    loop {
        if let Some(s) = status(&http, admin).await {
            if converged(&s) {
                break;
            }
            last = s;
        }
        if start.elapsed() > limit {
            return Err(format!(
                "no convergence within {limit:?}; last status {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dns = proc.dns_addr();
    let left = limit
        .saturating_sub(start.elapsed())
        .max(Duration::from_secs(2));
    let answer = wait_dns(dns, left, "the primary at TTL 300", |_| true).await;
    if answer.values == [PRIMARY] && answer.ttl == Some(300) {
        Ok(())
    } else {
        Err(format!("status converged but DNS answers {answer:?}"))
    }
}

/// The last phase the controller logged (`phase a -> b` gives `b`), `normal` before any.
fn last_phase(log: &str) -> String {
    log.lines()
        .rev()
        .find_map(|l| {
            let rest = l.split("phase ").nth(1)?;
            let (_, to) = rest.split_once(" -> ")?;
            to.split_whitespace().next().map(str::to_string)
        })
        .unwrap_or_else(|| "normal".into())
}

async fn run_trial(rng: &mut fastrand::Rng, n: usize) -> Trial {
    let dir = Scratch::new(&format!("chaos-kill-{n}"));
    let primary = Backend::start(any_port())
        .await
        .unwrap_or_else(|e| panic!("backend: {e}"));
    let backup = Backend::start(any_port())
        .await
        .unwrap_or_else(|e| panic!("backend: {e}"));
    let primary_addr = primary.addr();
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, config(&dir.0, primary_addr, backup.addr(), ""))
        .unwrap_or_else(|e| panic!("write config: {e}"));
    let back_ms = rng.u64(500..=2_500);
    let kill_ms = rng.u64(0..=back_ms + CYCLE_AFTER_RETURN_MS);
    let down_ms = rng.u64(0..=300);

    let mut proc = Proc::start(&cfg, &[]);
    if let Err(e) = wait_converged(&proc, CONVERGE).await {
        return Trial {
            kill_ms,
            back_ms,
            phase_at_kill: "start".into(),
            result: Err(format!("first start: {e}")),
        };
    }
    // The cycle: the primary dies now and returns after `back_ms`; the kill lands at `kill_ms`.
    drop(primary);
    let revive = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(back_ms)).await;
        revive(primary_addr).await
    });
    tokio::time::sleep(Duration::from_millis(kill_ms)).await;
    proc.kill();
    let phase_at_kill = last_phase(&proc.log());
    drop(proc);
    tokio::time::sleep(Duration::from_millis(down_ms)).await;
    let proc = Proc::start(&cfg, &[]);
    let restarted = Instant::now();
    let primary = revive.await.unwrap_or_else(|e| panic!("revive: {e}"));
    let result = wait_converged(&proc, CONVERGE)
        .await
        .map(|()| restarted.elapsed())
        .map_err(|e| format!("{e}\n---- log after restart ----\n{}", proc.log()));
    drop((proc, primary, backup));
    Trial {
        kill_ms,
        back_ms,
        phase_at_kill,
        result,
    }
}

/// The primary's backend again on its old port (retried briefly: the port was just freed).
async fn revive(addr: SocketAddr) -> Backend {
    let mut last = String::new();
    for _ in 0..50 {
        match Backend::start(addr).await {
            Ok(b) => return b,
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the primary's backend cannot listen on {addr} again: {last}")
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_sigkill_at_random_moments_converges_to_primary_with_original_ttl() {
    let trials = env_u64("CHAOS_TRIALS").unwrap_or(10) as usize;
    let seed = env_u64("CHAOS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(17)
    });
    eprintln!("chaos-kill: {trials} trials, CHAOS_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let mut by_phase: BTreeMap<String, usize> = BTreeMap::new();
    let mut times = Vec::new();
    let mut failures = Vec::new();
    for n in 0..trials {
        let t = run_trial(&mut rng, n).await;
        *by_phase.entry(t.phase_at_kill.clone()).or_default() += 1;
        match &t.result {
            Ok(d) => times.push(*d),
            Err(e) => failures.push(format!(
                "trial {n} (kill at {} ms, primary back at {} ms, phase {}): {e}",
                t.kill_ms, t.back_ms, t.phase_at_kill
            )),
        }
        eprintln!(
            "chaos-kill: trial {n}: kill at {} ms (phase {}), primary back at {} ms: {}",
            t.kill_ms,
            t.phase_at_kill,
            t.back_ms,
            match &t.result {
                Ok(d) => format!("converged {:.1} s after restart", d.as_secs_f64()),
                Err(_) => "FAILED".into(),
            }
        );
    }
    times.sort();
    let secs = |d: Option<&Duration>| d.map(|d| d.as_secs_f64()).unwrap_or(f64::NAN);
    eprintln!(
        "chaos-kill: seed {seed}: {} of {trials} trials converged, {} failed; kills by phase \
         {by_phase:?}; convergence after restart min {:.1} s / median {:.1} s / max {:.1} s; \
         wall {:.0} s",
        times.len(),
        failures.len(),
        secs(times.first()),
        secs(times.get(times.len() / 2)),
        secs(times.last()),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "CHAOS_SEED={seed}: {} trial(s) did not converge:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
