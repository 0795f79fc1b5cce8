//! The negative-caching check of `dnsfailback validate`: reads each zone's SOA from the live
//! providers (a read only) and warns when resolvers would remember "no such name" longer than
//! a failover takes.
//!
//! Part of `config` (validation, the start of the flow), not of `providers`: it reads a whole
//! [`Config`] and reports [`Problem`]s, and builds the providers through [`crate::providers`],
//! which sits below `config`.

use super::{Config, Problem, Service};
use crate::providers::build;

/// The failover window of `service` in seconds: how long users of a dead primary wait until
/// every resolver sends them to the backup. Detection (the slowest check of the primary:
/// `interval` x `fall` + `timeout`) plus `failover_ttl` (resolvers keep the old answer that
/// long after the switch). Negative answers cached longer than this outlive the failover.
pub fn failover_window_secs(service: &Service) -> u32 {
    let detect = service
        .primary()
        .checks
        .iter()
        .map(|c| {
            let s = c.spec.schedule();
            s.interval * c.fall.max(1) + s.timeout
        })
        .max()
        .unwrap_or_default();
    let detect = u32::try_from(detect.as_secs_f64().ceil() as u64).unwrap_or(u32::MAX);
    detect.saturating_add(service.failover_ttl)
}

/// Negative caching (RFC 2308): resolvers remember "no such name" for the SOA minimum. When
/// that is longer than the failover window ([`failover_window_secs`], never less than 60 s:
/// below a minute negative caching costs nothing worth a warning), a name or type that did not
/// exist before a switch keeps users away longer than the failover itself. Reads each
/// zone's SOA where the provider can (a read only, 3 s limit); an unreadable SOA is a warning.
pub async fn negative_caching_warnings(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let built = match build(
        &config.providers,
        &config.provider_zones(),
        &config.controller.state,
    ) {
        Ok(b) => b,
        Err(e) => {
            out.push(Problem::warning(
                None,
                "providers",
                format!("cannot build providers to read SOA records: {e}"),
                "fix the provider settings or pass --offline",
            ));
            return out;
        }
    };
    for s in config.services.values() {
        let Some(p) = built.providers.get(&s.provider) else {
            continue;
        };
        if !p.capabilities().soa {
            continue;
        }
        let path = format!("services.{}.zone", s.name);
        match tokio::time::timeout(std::time::Duration::from_secs(3), p.soa(&s.zone)).await {
            Ok(Ok(Some(soa))) => {
                let window = failover_window_secs(s);
                if soa.minimum > window.max(60) {
                    out.push(Problem::warning(None, path, format!(
                        "zone {} has a negative-caching TTL (SOA minimum) of {}s: resolvers keep \"no such name\" answers that long, more than the failover window of {window}s (detection + failover_ttl {}s, floor 60s)",
                        s.zone, soa.minimum, s.failover_ttl
                    ), format!("lower the SOA minimum of zone {} to at most {}s (the failover window)", s.zone, window.max(60))));
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => out.push(Problem::warning(
                None,
                path,
                format!("cannot read the SOA of {}: {e}", s.zone),
                "check the provider, or pass --offline",
            )),
            Err(_) => out.push(Problem::warning(
                None,
                path,
                format!("reading the SOA of {} timed out", s.zone),
                "check the provider, or pass --offline",
            )),
        }
    }
    out
}
