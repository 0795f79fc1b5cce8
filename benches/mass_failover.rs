//! Mass failover under provider rate limits: the real `dnsfailback run` with N services on
//! Route 53 or Cloudflare, against fake APIs that enforce the real limits (Route 53: 5
//! requests/s per account, 1,000 ResourceRecord elements per batch; Cloudflare: 1,200 requests
//! per 5 minutes, batch endpoint). Every primary fails at once; the fake's records are
//! watched until all point at the backups.
//!
//! ```text
//! cargo bench --bench mass_failover                       # both providers, 1 and 50 zones
//! cargo bench --bench mass_failover -- --services 1000 --zones 50 --provider route53
//! # options: --timeout-seconds 300
//! ```
//!
//! Prints one table row per run: time to publish, kill -> first write (detection), kill -> all
//! records on the backup, requests by kind, throttling answers, adapter retries, time waited
//! on the shared budget, the minimum number of requests and the rate-limit bound for them
//! (see `scenario::minimum`). Results: docs/benchmarks.md, "Mass failover under provider rate
//! limits".
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

#[allow(dead_code)]
#[path = "../providers/cloudflare/tests/support/fake.rs"]
mod cloudflare_fake;
#[path = "mass_failover/limiter.rs"]
mod limiter;
#[path = "mass_failover/route53_fake.rs"]
mod route53_fake;
#[path = "mass_failover/scenario.rs"]
mod scenario;

use limiter::Api;
use scenario::{Outcome, Setup};

struct Args {
    services: usize,
    zones: Vec<usize>,
    apis: Vec<Api>,
    timeout: Duration,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        services: 1000,
        zones: vec![1, 50],
        apis: vec![Api::Route53, Api::Cloudflare],
        timeout: Duration::from_secs(300),
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
            "--services" => a.services = num("--services")? as usize,
            "--zones" => a.zones = vec![num("--zones")?.max(1) as usize],
            "--timeout-seconds" => a.timeout = Duration::from_secs(num("--timeout-seconds")?),
            "--provider" => {
                a.apis = match next.as_str() {
                    "route53" => vec![Api::Route53],
                    "cloudflare" => vec![Api::Cloudflare],
                    other => return Err(format!("--provider route53|cloudflare, got `{other}`")),
                }
            }
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
            eprintln!("mass_failover: {e}");
            std::process::exit(2);
        }
    };
    let mut rows: Vec<(Setup, Result<Outcome, String>)> = Vec::new();
    for &api in &args.apis {
        for &zones in &args.zones {
            let setup = Setup {
                api,
                services: args.services,
                zones,
                timeout: args.timeout,
            };
            eprintln!("mass_failover: {setup:?} ...");
            let r = scenario::run(&setup);
            match &r {
                Ok(o) => eprintln!("  converged after {:?}, {} calls", o.converge, o.calls()),
                Err(e) => eprintln!("  failed: {e}"),
            }
            rows.push((setup, r));
        }
    }
    print_table(&rows);
    if rows.iter().any(|(_, r)| r.is_err()) {
        std::process::exit(1);
    }
}

fn print_table(rows: &[(Setup, Result<Outcome, String>)]) {
    let s = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    println!();
    println!("| provider | services / zones | publish | kill -> first write | kill -> all on backup | write span | requests (by kind) | minimum | bound | throttled | retries | budget wait |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (setup, r) in rows {
        let name = match setup.api {
            Api::Route53 => "route53",
            Api::Cloudflare => "cloudflare",
        };
        match r {
            Ok(o) => println!(
                "| {name} | {} / {} | {} | {} | {} | {} | {} ({}) | {} | {:.1} s | {} (publish: {}) | {} | {:.1} s |",
                setup.services,
                setup.zones,
                s(o.publish),
                o.detect.map_or("-".into(), s),
                s(o.converge),
                o.write_span().map_or("-".into(), s),
                o.calls(),
                scenario::kinds(&o.counts),
                o.min_calls,
                o.bound,
                o.counts.throttled,
                o.publish_throttles,
                o.retries,
                o.budget_wait,
            ),
            Err(e) => println!(
                "| {name} | {} / {} | failed: {} |",
                setup.services,
                setup.zones,
                e.lines().next().unwrap_or("")
            ),
        }
    }
}
