//! `dnsfailback demo`: a failover and a failback on this machine, with a measured timeline.
//!
//! Starts one tiny HTTP backend per target of the first service (on the addresses its checks
//! probe), the embedded DNS server and the controller, with state in a temporary directory.
//! Then it stops the primary, watches the DNS answer move to the backup, restarts the
//! primary, watches the answer come back and the original TTL return. Every step is observed
//! through real DNS queries, the way a client sees it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail};
use tokio::time::Instant;

use super::dig::{lookup, Answer};
use crate::backend::Backend;
use crate::config::Service;
use crate::policy::Publication;
use crate::probe::CheckSpec;

fn check_addr(spec: &CheckSpec) -> Option<SocketAddr> {
    match spec {
        CheckSpec::Http { url, .. } => {
            let rest = url.split("://").nth(1)?;
            let hostport = rest.split('/').next()?;
            hostport.parse().ok()
        }
        CheckSpec::Tcp { address, .. } => address.parse().ok(),
        _ => None,
    }
}

struct Timeline {
    t0: Instant,
    rows: Vec<(Duration, String)>,
}

impl Timeline {
    fn mark(&mut self, what: String) -> Duration {
        let at = self.t0.elapsed();
        println!("[{:>6.2}s] {what}", at.as_secs_f64());
        self.rows.push((at, what));
        at
    }
}

async fn wait_for(
    dns: SocketAddr,
    s: &Service,
    limit: Duration,
    pred: impl Fn(&Answer) -> bool,
) -> anyhow::Result<Answer> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(a) = lookup(dns, s.record.as_str(), s.rtype.as_str()).await {
            if pred(&a) {
                return Ok(a);
            }
        }
        if Instant::now() > deadline {
            bail!(
                "gave up after {}s waiting for the DNS answer to change",
                limit.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the demo with the configuration at `path` (examples/quickstart.toml).
pub async fn demo(path: &Path) -> anyhow::Result<u8> {
    let (mut config, _) = crate::config::load(path).map_err(|e| anyhow!("{e}"))?;
    let scratch = std::env::temp_dir().join(format!("dnsfailback-demo-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    config.controller.state = scratch.join("state.db");
    config.controller.admin_token = None;
    config.controller.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let service = config
        .services
        .values()
        .next()
        .cloned()
        .ok_or_else(|| anyhow!("no service"))?;
    if service.targets.len() < 2 {
        bail!("the demo needs a service with a primary and a backup target");
    }
    let addr_of = |i: usize| -> anyhow::Result<SocketAddr> {
        service.targets[i]
            .checks
            .first()
            .and_then(|c| check_addr(&c.spec))
            .ok_or_else(|| {
                anyhow!(
                    "target `{}` needs an http or tcp check with an IP:port",
                    service.targets[i].name
                )
            })
    };
    let (primary_addr, backup_addr) = (addr_of(0)?, addr_of(1)?);
    let primary_values = service.targets[0].values.clone();
    let backup_values = service.targets[1].values.clone();
    println!(
        "dnsfailback demo: service `{}` ({} {}), primary {} -> backup {}",
        service.name,
        service.record,
        service.rtype,
        primary_values.join(","),
        backup_values.join(",")
    );
    let mut primary = Some(
        Backend::start(primary_addr)
            .await
            .map_err(|e| anyhow!("cannot start the primary backend on {primary_addr}: {e}"))?,
    );
    let _backup = Backend::start(backup_addr)
        .await
        .map_err(|e| anyhow!("cannot start the backup backend on {backup_addr}: {e}"))?;
    let running = super::start(config).await?;
    let Some((_, dns)) = running.dns_addrs.first().cloned() else {
        bail!("the demo needs an embedded DNS provider");
    };
    println!(
        "embedded DNS on {dns}: try `dig @{} -p {} {} {}` in another terminal",
        dns.ip(),
        dns.port(),
        service.record,
        service.rtype
    );
    let mut tl = Timeline {
        t0: Instant::now(),
        rows: Vec::new(),
    };
    let result = async {
        let a = wait_for(dns, &service, Duration::from_secs(20), |a| {
            a.values == primary_values
        })
        .await?;
        tl.mark(format!(
            "DNS answers the primary {} (ttl {})",
            a.values.join(","),
            a.ttl.unwrap_or(0)
        ));
        tokio::time::sleep(Duration::from_secs(2)).await;
        primary = None;
        let stopped = tl.mark(format!("primary backend on {primary_addr} stopped"));
        let a = wait_for(dns, &service, Duration::from_secs(20), |a| {
            a.values == backup_values
        })
        .await?;
        let moved = tl.mark(format!(
            "DNS answers the backup {} (ttl {})",
            a.values.join(","),
            a.ttl.unwrap_or(0)
        ));
        println!(
            "          failover took {:.2}s",
            (moved - stopped).as_secs_f64()
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        primary = Some(Backend::start(primary_addr).await?);
        let restarted = tl.mark(format!("primary backend on {primary_addr} restarted"));
        // The canary: whenever the controller publishes a new split, measure it with 100 real
        // queries (each weighted answer is drawn independently, so the share is approximate).
        let mut last = None;
        let back = loop {
            let published = running
                .board
                .get(&service.name)
                .await
                .ok()
                .flatten()
                .and_then(|s| s.published);
            if published != last {
                let mut primary_answers = 0;
                let mut ttl = None;
                for _ in 0..100 {
                    if let Ok(a) =
                        lookup(dns, service.record.as_str(), service.rtype.as_str()).await
                    {
                        primary_answers += usize::from(a.values == primary_values);
                        ttl = a.ttl;
                    }
                }
                let what = match &published {
                    Some(Publication::Split { primary_share, .. }) => {
                        format!("canary step: primary weight {primary_share} %")
                    }
                    Some(Publication::Target { target, .. }) => {
                        format!("all traffic on `{target}`")
                    }
                    other => format!("{other:?}"),
                };
                let at = tl.mark(format!(
                    "{what}: {primary_answers} of 100 answers were the primary (ttl {})",
                    ttl.unwrap_or(0)
                ));
                last = published;
                if primary_answers == 100 {
                    break at;
                }
            }
            if tl.t0.elapsed() > Duration::from_secs(120) {
                bail!("the failback did not complete within two minutes");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        println!(
            "          failback took {:.2}s (stable time {}s, then steps {:?} held {}s each)",
            (back - restarted).as_secs_f64(),
            service.stable_for.as_secs(),
            service.canary.steps,
            service.canary.hold.as_secs()
        );
        let original = running
            .board
            .get(&service.name)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.original_ttl)
            .unwrap_or(service.ttl);
        let a = wait_for(dns, &service, Duration::from_secs(60), |a| {
            a.values == primary_values && a.ttl == Some(original)
        })
        .await?;
        let restored = tl.mark(format!("original TTL {} restored", a.ttl.unwrap_or(0)));
        println!(
            "          TTL restored {:.2}s after the failback",
            (restored - back).as_secs_f64()
        );
        anyhow::Ok(())
    }
    .await;
    drop(primary);
    running.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    println!("\ntimeline:");
    for (at, what) in &tl.rows {
        println!("  {:>6.2}s  {what}", at.as_secs_f64());
    }
    Ok(0)
}
