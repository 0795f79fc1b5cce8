//! `dnsfailback demo`: a failover and a failback on this machine, with a measured timeline.
//!
//! Starts one tiny HTTP backend per target of the first service (on the addresses its checks
//! probe), the embedded DNS server and the controller, with state in a temporary directory.
//! Then it stops the primary, watches the DNS answer move to the backup, restarts the
//! primary, watches the answer come back and the original TTL return. Every step is observed
//! through real DNS queries, the way a client sees it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail};
use tokio::time::Instant;

use super::dig::{lookup, Answer};
use super::out;
use super::Running;
use crate::backend::Backend;
use crate::config::{Config, Service};
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
    /// Prints and records `what` with the time since the start; fails only when stdout does.
    fn mark(&mut self, what: String) -> anyhow::Result<Duration> {
        let at = self.t0.elapsed();
        out::line(format_args!("[{:>6.2}s] {what}", at.as_secs_f64()))?;
        self.rows.push((at, what));
        Ok(at)
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

/// What every stage of the demo needs: where DNS answers, the service, and the answers that
/// mean "primary" and "backup".
struct Demo<'a> {
    dns: SocketAddr,
    service: &'a Service,
    primary_addr: SocketAddr,
    primary_values: Vec<String>,
    backup_values: Vec<String>,
}

/// Runs the demo with the configuration at `path` (examples/quickstart.toml).
///
/// Each stage is its own step; this function owns what must be cleaned up whatever happens
/// (the primary backend, the controller, the scratch directory) and only then reports.
pub async fn demo(path: &Path) -> anyhow::Result<u8> {
    let (config, scratch) = demo_config(path)?;
    let service = first_service(&config)?;
    let (primary_addr, backup_addr) = (target_addr(&service, 0)?, target_addr(&service, 1)?);
    let primary_values = service.targets[0].values.clone();
    let backup_values = service.targets[1].values.clone();
    out::line(format_args!(
        "dnsfailback demo: service `{}` ({} {}), primary {} -> backup {}",
        service.name,
        service.record,
        service.rtype,
        primary_values.join(","),
        backup_values.join(",")
    ))?;
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
    let ctx = Demo {
        dns,
        service: &service,
        primary_addr,
        primary_values,
        backup_values,
    };
    let mut tl = Timeline {
        t0: Instant::now(),
        rows: Vec::new(),
    };
    let result = run_stages(&ctx, &running, &mut tl, &mut primary).await;
    drop(primary);
    running.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    print_timeline(&tl)?;
    Ok(0)
}

/// Loads the configuration and points its state, admin API and token at throwaway values, so
/// the demo never touches a real controller's state; returns it with the scratch directory.
fn demo_config(path: &Path) -> anyhow::Result<(Config, PathBuf)> {
    let (mut config, _) = crate::config::load(path).map_err(|e| anyhow!("{e}"))?;
    let scratch = std::env::temp_dir().join(format!("dnsfailback-demo-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    config.controller.state = scratch.join("state.db");
    config.controller.admin_token = None;
    config.controller.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    Ok((config, scratch))
}

/// The service the demo plays with: the first one, which needs a primary and a backup.
fn first_service(config: &Config) -> anyhow::Result<Service> {
    let service = config
        .services
        .values()
        .next()
        .cloned()
        .ok_or_else(|| anyhow!("no service"))?;
    if service.targets.len() < 2 {
        bail!("the demo needs a service with a primary and a backup target");
    }
    Ok(service)
}

/// Where target `i`'s backend must listen: the address its first check probes, so the
/// controller's checks see the demo's backends.
fn target_addr(service: &Service, i: usize) -> anyhow::Result<SocketAddr> {
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
}

/// The stages in order; the first error ends the demo (the caller still cleans up).
async fn run_stages(
    ctx: &Demo<'_>,
    running: &Running,
    tl: &mut Timeline,
    primary: &mut Option<Backend>,
) -> anyhow::Result<()> {
    stage_start(ctx, tl).await?;
    stage_failover(ctx, tl, primary).await?;
    let back = stage_failback(ctx, running, tl, primary).await?;
    stage_ttl_restore(ctx, running, tl, back).await
}

/// Start: says where DNS answers, then waits until it answers the primary, the baseline the
/// failover is measured from.
async fn stage_start(ctx: &Demo<'_>, tl: &mut Timeline) -> anyhow::Result<()> {
    let (dns, s) = (ctx.dns, ctx.service);
    out::line(format_args!(
        "embedded DNS on {dns}: try `dig @{} -p {} {} {}` in another terminal",
        dns.ip(),
        dns.port(),
        s.record,
        s.rtype
    ))?;
    let a = wait_for(ctx.dns, ctx.service, Duration::from_secs(20), |a| {
        a.values == ctx.primary_values
    })
    .await?;
    tl.mark(format!(
        "DNS answers the primary {} (ttl {})",
        a.values.join(","),
        a.ttl.unwrap_or(0)
    ))?;
    Ok(())
}

/// Failover: stops the primary backend and measures how long until DNS answers the backup.
async fn stage_failover(
    ctx: &Demo<'_>,
    tl: &mut Timeline,
    primary: &mut Option<Backend>,
) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    *primary = None;
    let stopped = tl.mark(format!("primary backend on {} stopped", ctx.primary_addr))?;
    let a = wait_for(ctx.dns, ctx.service, Duration::from_secs(20), |a| {
        a.values == ctx.backup_values
    })
    .await?;
    let moved = tl.mark(format!(
        "DNS answers the backup {} (ttl {})",
        a.values.join(","),
        a.ttl.unwrap_or(0)
    ))?;
    out::line(format_args!(
        "          failover took {:.2}s",
        (moved - stopped).as_secs_f64()
    ))?;
    Ok(())
}

/// Failback: restarts the primary and follows the canary until every answer is the primary;
/// returns when that happened (the TTL restore is measured from it).
async fn stage_failback(
    ctx: &Demo<'_>,
    running: &Running,
    tl: &mut Timeline,
    primary: &mut Option<Backend>,
) -> anyhow::Result<Duration> {
    tokio::time::sleep(Duration::from_secs(3)).await;
    *primary = Some(Backend::start(ctx.primary_addr).await?);
    let restarted = tl.mark(format!("primary backend on {} restarted", ctx.primary_addr))?;
    let back = follow_canary(ctx, running, tl).await?;
    let service = ctx.service;
    out::line(format_args!(
        "          failback took {:.2}s (stable time {}s, then steps {:?} held {}s each)",
        (back - restarted).as_secs_f64(),
        service.stable_for.as_secs(),
        service.canary.steps,
        service.canary.hold.as_secs()
    ))?;
    Ok(back)
}

/// The canary: whenever the controller publishes a new split, measure it with 100 real
/// queries (each weighted answer is drawn independently, so the share is approximate).
/// Gives up after two minutes from the start of the demo.
async fn follow_canary(
    ctx: &Demo<'_>,
    running: &Running,
    tl: &mut Timeline,
) -> anyhow::Result<Duration> {
    let mut last = None;
    loop {
        let published = running
            .board
            .get(&ctx.service.name)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.published);
        if published != last {
            let (primary_answers, ttl) = measure_primary_share(ctx).await;
            let at = tl.mark(format!(
                "{}: {primary_answers} of 100 answers were the primary (ttl {})",
                describe(&published),
                ttl.unwrap_or(0)
            ))?;
            last = published;
            if primary_answers == 100 {
                return Ok(at);
            }
        }
        if tl.t0.elapsed() > Duration::from_secs(120) {
            bail!("the failback did not complete within two minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asks DNS 100 times; returns how many answers were the primary and the last TTL seen.
async fn measure_primary_share(ctx: &Demo<'_>) -> (usize, Option<u32>) {
    let mut primary_answers = 0;
    let mut ttl = None;
    for _ in 0..100 {
        if let Ok(a) = lookup(
            ctx.dns,
            ctx.service.record.as_str(),
            ctx.service.rtype.as_str(),
        )
        .await
        {
            primary_answers += usize::from(a.values == ctx.primary_values);
            ttl = a.ttl;
        }
    }
    (primary_answers, ttl)
}

/// A publication in the words of the timeline.
fn describe(published: &Option<Publication>) -> String {
    match published {
        Some(Publication::Split { primary_share, .. }) => {
            format!("canary step: primary weight {primary_share} %")
        }
        Some(Publication::Target { target, .. }) => {
            format!("all traffic on `{target}`")
        }
        other => format!("{other:?}"),
    }
}

/// TTL restore: waits until the primary is answered with the original TTL again, measured
/// from the end of the failback at `back`.
async fn stage_ttl_restore(
    ctx: &Demo<'_>,
    running: &Running,
    tl: &mut Timeline,
    back: Duration,
) -> anyhow::Result<()> {
    let original = running
        .board
        .get(&ctx.service.name)
        .await
        .ok()
        .flatten()
        .and_then(|s| s.original_ttl)
        .unwrap_or(ctx.service.ttl);
    let a = wait_for(ctx.dns, ctx.service, Duration::from_secs(60), |a| {
        a.values == ctx.primary_values && a.ttl == Some(original)
    })
    .await?;
    let restored = tl.mark(format!("original TTL {} restored", a.ttl.unwrap_or(0)))?;
    out::line(format_args!(
        "          TTL restored {:.2}s after the failback",
        (restored - back).as_secs_f64()
    ))?;
    Ok(())
}

/// The timeline again, all at once, after the noise of the run.
fn print_timeline(tl: &Timeline) -> anyhow::Result<()> {
    let mut text = String::from("\ntimeline:\n");
    for (at, what) in &tl.rows {
        text.push_str(&format!("  {:>6.2}s  {what}\n", at.as_secs_f64()));
    }
    out::print(&text)
}
