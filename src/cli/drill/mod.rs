//! `dnsfailback drill SERVICE`: a rehearsed failover and failback through the running
//! controller, measured from outside, with a report a team can keep.
//!
//! Beside the flow, entering it at `policy` like the operator commands (drill -> admin API ->
//! policy -> plan -> provider) and watching its end (verify) with its own DNS queries: the
//! planned `failover` (TTL lowered, old TTL waited out, switch), then `failback` (the
//! configured canary), then the TTL restore. It measures the provider's confirmation (audit
//! times), when each authoritative server and each `--resolver` answers the new data, the
//! canary shares answered per step, and the time to the restored TTL; it adds the live
//! warnings of [`super::online`]. `--dry-run` prints the steps and their expected waits.
//! Refused unless the service is in normal operation; on Ctrl-C, a timeout or a refusal
//! mid-drill it leaves the service on the primary (or calls off the switch) and says so.
//! Exit codes: 0 completed, 1 refused or failed, 2 bad arguments, 3 approval needed,
//! 130 interrupted.

mod measure;
pub mod report;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;

use super::client::AdminClient;
use super::online::{self, NameServer};
use super::operate::TokenArgs;
use super::out;
use crate::config::Service;
use crate::reconcile::ServiceStatus;
use crate::state::when::now_ms;
use measure::Drill;
use report::Report;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Json,
}

/// The arguments of `dnsfailback drill`.
#[derive(Debug, Clone, clap::Args)]
pub struct DrillArgs {
    /// The service to drill; it must be in normal operation.
    pub service: String,
    /// The target to move to (default: the first healthy backup).
    #[arg(long)]
    pub to: Option<String>,
    /// A resolver to watch as well (IP, or IP:PORT; repeatable): when it answers the backup.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_server)]
    pub resolver: Vec<SocketAddr>,
    /// Query these authoritative servers instead of the zone's NS set (repeatable; for a
    /// server on another port, e.g. the embedded one on loopback).
    #[arg(long, value_name = "IP:PORT", value_parser = parse_server)]
    pub authoritative: Vec<SocketAddr>,
    /// Write the report here (default: print it).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Report as Markdown (`md`) or JSON.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Print the steps and the expected waits; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Give up (and return traffic to the primary) after this long (default: twice the
    /// expected waits + 1m).
    #[arg(long, value_parser = super::operate::parse_hold)]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    pub token: TokenArgs,
}

/// `IP` (port 53) or `IP:PORT`.
pub fn parse_server(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| format!("`{s}` is not an IP address or IP:PORT"))
}

/// The waits the configuration predicts, in ms: (lowering, canary, restore).
fn expected(service: &Service, old_ttl: u32) -> (u64, u64, u64) {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let lowering = if old_ttl <= service.failover_ttl {
        0
    } else {
        u64::from(old_ttl) * 1000 + ms(service.ttl_lead_margin)
    };
    // The last step (100 %) is the return itself; every step before it is held.
    let held = service.canary.steps.len().saturating_sub(1) as u64;
    let canary = ms(service.canary.hold).saturating_mul(held);
    (lowering, canary, ms(service.restore_ttl_after))
}

/// The target to move to: the given one, else the first backup the controller sees up.
fn pick_target(service: &Service, st: &ServiceStatus, to: Option<&str>) -> Result<String, String> {
    let primary = &service.primary().name;
    match to {
        Some(t) if t == primary => Err(format!("`{t}` is the primary; name a backup")),
        Some(t) if service.target(t).is_none() => {
            Err(format!("no target `{t}` in {}", service.name))
        }
        Some(t) => Ok(t.to_string()),
        None => st
            .targets
            .iter()
            .find(|t| &t.target != primary && t.state == "up")
            .map(|t| t.target.clone())
            .ok_or_else(|| "no healthy backup to drill with".to_string()),
    }
}

fn dry_run(
    service: &Service,
    to: &str,
    old_ttl: u32,
    d: &Drill,
    warnings: &[String],
) -> anyhow::Result<u8> {
    let (lower, canary, restore) = expected(service, old_ttl);
    let secs = |ms: u64| format!("{:.1}s", ms as f64 / 1000.0);
    let servers: Vec<String> = d
        .servers
        .iter()
        .map(|n| format!("{} ({})", n.name, n.addr))
        .collect();
    let mut text = format!(
        "drill of {} ({} {}), dry run: nothing is changed\n\
         1. failover --to {to}: TTL {old_ttl} -> {}, then wait out the old TTL + ttl_lead_margin: {}\n\
         2. switch to `{to}` ({}); watch the authoritative servers: {}\n",
        service.name, service.record, service.rtype, service.failover_ttl, secs(lower),
        service.target(to).map(|t| t.values.join(", ")).unwrap_or_default(),
        servers.join(", "),
    );
    if !d.resolvers.is_empty() {
        let r: Vec<String> = d.resolvers.iter().map(ToString::to_string).collect();
        text.push_str(&format!("   and the resolvers: {}\n", r.join(", ")));
    }
    text.push_str(&format!(
        "3. failback with canary steps {:?}, each held {} before the next: {} (plus the gates)\n\
         4. restore TTL {old_ttl} restore_ttl_after the return: {}\n\
         expected in total: about {}\n",
        service.canary.steps,
        secs(u64::try_from(service.canary.hold.as_millis()).unwrap_or(0)),
        secs(canary),
        secs(restore),
        secs(lower + canary + restore),
    ));
    for w in warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    out::print(&text)?;
    Ok(0)
}

/// The authoritative servers to watch (`--authoritative`, else the zone's NS set) and the
/// live warnings for the service (plus the given servers' own check).
async fn where_to_look(
    cfg: &crate::config::Config,
    service: &Service,
    given: &[SocketAddr],
) -> anyhow::Result<(Vec<NameServer>, Vec<String>)> {
    let line = |p: &crate::config::Problem| format!("{}: {} (fix: {})", p.path, p.message, p.fix);
    let servers = if given.is_empty() {
        online::name_servers(cfg, service).await.map_err(|e| {
            anyhow!("cannot find the zone's authoritative servers: {e}; give them with --authoritative IP:PORT")
        })?
    } else {
        given
            .iter()
            .map(|a| NameServer {
                name: a.to_string(),
                addr: *a,
            })
            .collect()
    };
    let mut warnings: Vec<String> = online::warnings(cfg, Some(&service.name), given.is_empty())
        .await
        .iter()
        .map(line)
        .collect();
    if !given.is_empty() {
        warnings.extend(
            online::ns_warnings(service, &servers)
                .await
                .iter()
                .map(line),
        );
    }
    Ok((servers, warnings))
}

/// Runs `dnsfailback drill`.
pub async fn drill(
    config: &Path,
    reach: &super::reach::AdminReach,
    args: &DrillArgs,
) -> anyhow::Result<u8> {
    let (cfg, _) = match crate::config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return Ok(2);
        }
    };
    let Some(service) = cfg
        .services
        .values()
        .find(|s| s.name == args.service)
        .cloned()
    else {
        eprintln!("no service `{}` in {}", args.service, config.display());
        return Ok(2);
    };
    let client = AdminClient::connect(config, reach, args.token.source().as_ref())?;
    let st: ServiceStatus = client.get(&format!("/v1/status/{}", service.name)).await?;
    if let Err(e) = measure::refuse_unless_normal(&st) {
        eprintln!("drill refused: {e}");
        return Ok(1);
    }
    let to = match pick_target(&service, &st, args.to.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("drill refused: {e}");
            return Ok(1);
        }
    };
    let (servers, warnings) = where_to_look(&cfg, &service, &args.authoritative).await?;
    let old_ttl = st.published.as_ref().map_or(service.ttl, |p| p.ttl());
    let (lower, canary, restore) = expected(&service, old_ttl);
    let limit = args
        .timeout
        .unwrap_or(Duration::from_millis(2 * (lower + canary + restore)) + Duration::from_secs(60));
    let d = Drill {
        client,
        service: service.clone(),
        servers,
        resolvers: args.resolver.clone(),
        to: to.clone(),
        deadline: tokio::time::Instant::now() + limit,
    };
    if args.dry_run {
        return dry_run(&service, &to, old_ttl, &d, &warnings);
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let mut r = Report {
        schema: report::SCHEMA,
        service: service.name.clone(),
        record: service.record.to_string(),
        rtype: service.rtype.to_string(),
        to,
        primary: service.primary().name.clone(),
        started_at_ms: now_ms(),
        authoritative: d.servers.clone(),
        warnings,
        ..Report::default()
    };
    let code = execute(&d, &mut r).await;
    r.finished_at_ms = now_ms();
    write_report(&r, args)?;
    Ok(code)
}

/// The stages, raced against Ctrl-C; on any stop the service is left sane.
async fn execute(d: &Drill, r: &mut Report) -> u8 {
    let result = tokio::select! {
        res = stages(d, r) => res.map_err(|e| (format!("{e:#}"), 1)),
        _ = tokio::signal::ctrl_c() => Err(("interrupted (Ctrl-C)".to_string(), 130)),
    };
    match result {
        Ok(()) => {
            r.outcome = "completed".into();
            0
        }
        Err((why, code)) => {
            let done = measure::leave_sane(d).await;
            eprintln!("drill stopped: {why}; {done}");
            r.outcome = format!("stopped: {why}; {done}");
            if why.contains("approval") {
                super::EXIT_PENDING
            } else {
                code
            }
        }
    }
}

async fn stages(d: &Drill, r: &mut Report) -> anyhow::Result<()> {
    measure::switch(d, r).await?;
    let failback_at = now_ms();
    let last = r.phases.last().map_or(failback_at, |p| p.end_ms);
    r.phase(
        "failed_over",
        last,
        failback_at,
        None,
        "traffic on the backup",
    );
    let back = measure::canary(d, r).await?;
    measure::ttl_restore(d, r, back).await
}

fn write_report(r: &Report, args: &DrillArgs) -> anyhow::Result<()> {
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(r)? + "\n",
        Format::Md => report::markdown(r),
    };
    match &args.report {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| anyhow!("cannot write the report to {}: {e}", path.display()))?;
            out::line(format_args!(
                "drill of {}: {}; switch time {}; report written to {}",
                r.service,
                r.outcome,
                r.switch
                    .switch_ms
                    .map_or("not measured".into(), |m| format!("{m} ms")),
                path.display()
            ))
        }
        None => out::print(&text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_default_to_port_53() {
        assert_eq!(
            parse_server("192.0.2.1"),
            Ok("192.0.2.1:53".parse().unwrap_or_else(|_| unreachable!()))
        );
        assert_eq!(parse_server("127.0.0.1:5353").map(|a| a.port()), Ok(5353));
        assert_eq!(parse_server("[::1]:5300").map(|a| a.port()), Ok(5300));
        assert!(parse_server("ns1.example.test").is_err());
    }
}
