//! Probe engine benchmark: N loopback targets probed at a fixed interval for a fixed time.
//!
//! ```text
//! cargo bench --bench probe_bench -- --kind tcp --targets 10000 --seconds 20
//! cargo bench --bench probe_bench -- --kind http --targets 1000 --seconds 20
//! # options: --interval-ms N --warmup-seconds N --threads N (runtime workers)
//! #          --slot-ms N (wake-up slot; default automatic, 0 = off) --max-in-flight N
//! ```
//!
//! Targets run in child processes (this binary re-executed with `--serve`), at most 4,000 per
//! child so listeners plus connections stay under a 20,000 file-descriptor limit, each on its own
//! 127.1.x.y address and port. The prober's CPU is read from /proc/self/stat and the targets' CPU
//! from /proc/<child>/stat, so the table separates them. Only 127.0.0.0/8 is contacted and the
//! run ends after `--seconds`.
//!
//! Printed: probes/s, prober CPU-s per 1,000 probes, target CPU-s per 1,000 probes, prober peak
//! RSS, missed intervals, start lag, and the spread of completions over 100 ms buckets (a burst
//! would show as a max far above the mean).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dnsfailback::probe::{
    auto_slot, CheckId, CheckSpec, Family, ProbeResult, Runner, RunnerOptions, StatusRange,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

const PER_CHILD: usize = 4000;

struct Args {
    kind: String,
    targets: usize,
    seconds: u64,
    /// Excluded from the table (default two intervals): connection set-up at start.
    warmup_seconds: Option<u64>,
    interval_ms: u64,
    max_in_flight: usize,
    threads: usize,
    slot_ms: Option<u64>,
    serve: Option<(String, usize, usize)>,
}

fn args() -> Args {
    let mut a = Args {
        kind: "tcp".into(),
        targets: 1000,
        seconds: 10,
        warmup_seconds: None,
        interval_ms: 1000,
        max_in_flight: 4096,
        threads: 0,
        slot_ms: None,
        serve: None,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let next = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--kind" => a.kind = next,
            "--targets" => a.targets = next.parse().expect("--targets N"),
            "--seconds" => a.seconds = next.parse().expect("--seconds N"),
            "--interval-ms" => a.interval_ms = next.parse().expect("--interval-ms N"),
            "--slot-ms" => a.slot_ms = Some(next.parse().expect("--slot-ms N")),
            "--threads" => a.threads = next.parse().expect("--threads N"),
            "--max-in-flight" => a.max_in_flight = next.parse().expect("--max-in-flight N"),
            "--warmup-seconds" => {
                a.warmup_seconds = Some(next.parse().expect("--warmup-seconds N"))
            }
            "--serve" => {
                // --serve KIND FIRST COUNT
                let first = v
                    .get(i + 2)
                    .and_then(|s| s.parse().ok())
                    .expect("--serve KIND FIRST COUNT");
                let count = v
                    .get(i + 3)
                    .and_then(|s| s.parse().ok())
                    .expect("--serve KIND FIRST COUNT");
                a.serve = Some((next, first, count));
                i += 2;
            }
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn addr_of(i: usize) -> String {
    format!("127.1.{}.{}:0", i / 250, i % 250 + 1)
}

fn main() {
    let a = args();
    if let Some((kind, first, count)) = a.serve {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(serve(&kind, first, count));
        return;
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if a.threads > 0 {
        rt.worker_threads(a.threads);
    }
    let rt = rt.enable_all().build().unwrap();
    rt.block_on(bench(a));
}

/// Target process: binds `count` listeners, prints their addresses, serves until stdin closes.
async fn serve(kind: &str, first: usize, count: usize) {
    let mut out = String::new();
    for i in first..first + count {
        let l = TcpListener::bind(addr_of(i))
            .await
            .expect("bind 127.1.x.y (is 127.0.0.0/8 on lo?)");
        out.push_str(&format!("{}\n", l.local_addr().unwrap()));
        let http = kind == "http";
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                if http {
                    tokio::spawn(http_conn(s));
                } else {
                    drop(s);
                }
            }
        });
    }
    out.push_str("READY\n");
    {
        use std::io::Write;
        let mut so = std::io::stdout().lock();
        so.write_all(out.as_bytes()).unwrap();
        so.flush().unwrap();
    }
    // exit when the parent goes away (closes our stdin)
    std::thread::spawn(|| {
        use std::io::Read;
        let mut b = [0u8; 1];
        let _ = std::io::stdin().read(&mut b);
        std::process::exit(0);
    });
    std::future::pending::<()>().await;
}

async fn http_conn(mut s: tokio::net::TcpStream) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        buf.drain(..end + 4);
        if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await
            .is_err()
        {
            return;
        }
    }
}

fn proc_cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // fields after the ")" of the command name; utime and stime are fields 14 and 15
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0 // CLK_TCK is 100 on Linux
}

fn peak_rss_mb() -> f64 {
    let st = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    st.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn start_targets(kind: &str, n: usize) -> (Vec<Child>, Vec<SocketAddr>) {
    let exe = std::env::current_exe().unwrap();
    let mut children = Vec::new();
    let mut addrs = Vec::with_capacity(n);
    let mut first = 0;
    while first < n {
        let count = PER_CHILD.min(n - first);
        let mut child = Command::new(&exe)
            .args(["--serve", kind, &first.to_string(), &count.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        for line in BufReader::new(out).lines() {
            let line = line.unwrap();
            if line == "READY" {
                break;
            }
            addrs.push(line.parse().unwrap());
        }
        children.push(child);
        first += count;
    }
    (children, addrs)
}

async fn bench(a: Args) {
    let (mut children, addrs) = start_targets(&a.kind, a.targets);
    assert_eq!(addrs.len(), a.targets);
    let interval = Duration::from_millis(a.interval_ms);
    let checks: Vec<(CheckId, CheckSpec)> = addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let spec = match a.kind.as_str() {
                "tcp" => CheckSpec::Tcp {
                    address: addr.to_string(),
                    send: None,
                    expect: None,
                    expect_regex: None,
                    family: Family::Any,
                    role: Default::default(),
                    timeout: Some(interval),
                    interval: Some(interval),
                    recheck: None,
                    recheck_interval: None,
                },
                "http" => CheckSpec::Http {
                    url: format!("http://{addr}/healthz"),
                    method: "GET".into(),
                    host: None,
                    headers: Default::default(),
                    expect_status: vec![StatusRange { lo: 200, hi: 299 }],
                    expect_body: None,
                    expect_body_regex: None,
                    ca_file: None,
                    insecure_skip_verify: false,
                    follow_redirects: false,
                    keep_alive: true,
                    cert_min_validity: None,
                    family: Family::Any,
                    role: Default::default(),
                    timeout: Some(interval),
                    interval: Some(interval),
                    recheck: None,
                    recheck_interval: None,
                },
                k => panic!("--kind {k}: tcp or http"),
            };
            (CheckId::new(format!("bench/{i}/0")), spec)
        })
        .collect();

    let (tx, mut rx) = mpsc::channel::<ProbeResult>(65_536);
    let opts = RunnerOptions {
        max_in_flight: a.max_in_flight,
        start_slot: a.slot_ms.map(Duration::from_millis),
        ..Default::default()
    };
    let t0 = Instant::now();
    let runner = Runner::spawn_with(opts, checks, tx);
    let setup = t0.elapsed();

    // consumer: count outcomes into 100 ms buckets
    let warmup = a
        .warmup_seconds
        .map(Duration::from_secs)
        .unwrap_or(interval * 2);
    let measure = Duration::from_secs(a.seconds);
    let buckets_n = (measure.as_millis() / 100) as usize;
    let consumer = tokio::spawn(async move {
        let mut buckets = vec![0u64; buckets_n];
        let (mut ok, mut failed) = (0u64, 0u64);
        let mut first_failure = None;
        let (mut lat_sum, mut lat_max) = (Duration::ZERO, Duration::ZERO);
        while let Some(r) = rx.recv().await {
            let Some(t) = r.at.checked_duration_since(t0 + warmup) else {
                continue;
            };
            let b = (t.as_millis() / 100) as usize;
            if b < buckets_n {
                buckets[b] += 1;
                lat_sum += r.outcome.latency;
                lat_max = lat_max.max(r.outcome.latency);
                if r.outcome.is_ok() {
                    ok += 1;
                } else {
                    failed += 1;
                    first_failure.get_or_insert(r.outcome.result.clone());
                }
            }
        }
        (buckets, ok, failed, first_failure, lat_sum, lat_max)
    });

    tokio::time::sleep_until(t0 + warmup).await;
    let child_pids: Vec<String> = children.iter().map(|c| c.id().to_string()).collect();
    let cpu0 = proc_cpu_secs("self");
    let srv0: f64 = child_pids.iter().map(|p| proc_cpu_secs(p)).sum();
    let s0 = runner.stats();
    tokio::time::sleep_until(t0 + warmup + measure).await;
    let cpu1 = proc_cpu_secs("self");
    let srv1: f64 = child_pids.iter().map(|p| proc_cpu_secs(p)).sum();
    let s1 = runner.stats();
    drop(runner);
    let (buckets, ok, failed, first_failure, lat_sum, lat_max) = consumer.await.unwrap();
    for c in &mut children {
        drop(c.stdin.take());
        let _ = c.wait();
    }

    let probes = (s1.probes - s0.probes) as f64;
    let secs = measure.as_secs_f64();
    let mean = buckets.iter().sum::<u64>() as f64 / buckets.len().max(1) as f64;
    let min = buckets.iter().min().copied().unwrap_or(0);
    let max = buckets.iter().max().copied().unwrap_or(0);
    let sd = (buckets
        .iter()
        .map(|&b| (b as f64 - mean).powi(2))
        .sum::<f64>()
        / buckets.len().max(1) as f64)
        .sqrt();
    println!(
        "| kind | targets | interval | probes/s | ok | failed | prober CPU-s / 1k probes | target CPU-s / 1k probes | prober peak RSS | missed intervals | start lag mean / max | per-100ms min / mean / max (CV) | setup |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} ms | {:.0} | {} | {} | {:.4} | {:.4} | {:.1} MB | {} | {:.2} / {:.1} ms | {} / {:.0} / {} ({:.1}%) | {:.2} s |",
        a.kind,
        a.targets,
        a.interval_ms,
        probes / secs,
        ok,
        failed,
        (cpu1 - cpu0) / probes.max(1.0) * 1000.0,
        (srv1 - srv0) / probes.max(1.0) * 1000.0,
        peak_rss_mb(),
        s1.missed_intervals - s0.missed_intervals,
        s1.mean_start_lag.as_secs_f64() * 1000.0,
        s1.max_start_lag.as_secs_f64() * 1000.0,
        min,
        mean,
        max,
        if mean > 0.0 { sd / mean * 100.0 } else { 0.0 },
        setup.as_secs_f64(),
    );
    let slot = opts
        .start_slot
        .unwrap_or_else(|| auto_slot(std::iter::repeat_n(interval, a.targets)));
    println!(
        "wake-up slot {:.1} ms; shared HTTP clients {}",
        slot.as_secs_f64() * 1000.0,
        dnsfailback::probe::shared_http_clients()
    );
    println!(
        "probe latency mean {:.3} ms, max {:.1} ms; peak in flight {}; warm-up {:.0} s (excluded) missed {} intervals",
        lat_sum.as_secs_f64() * 1000.0 / (ok + failed).max(1) as f64,
        lat_max.as_secs_f64() * 1000.0,
        s1.peak_in_flight,
        warmup.as_secs_f64(),
        s0.missed_intervals
    );
    if let Some(f) = first_failure {
        println!("first failure: {f:?}");
    }
}
