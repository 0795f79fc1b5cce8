//! The negative-caching check of `dnsfailback validate`: reads each zone's SOA from the live
//! providers (a read only) and warns when resolvers would remember "no such name" longer than
//! a failover takes.
//!
//! Part of `config` (validation, the start of the flow), not of `providers`: it reads a whole
//! [`Config`] and reports [`Problem`]s, and builds the providers through [`crate::providers`],
//! which sits below `config`.

use super::{Config, Problem};
use crate::providers::build;

/// Negative caching (RFC 2308): resolvers remember "no such name" for the SOA minimum. When
/// that is longer than twice the failover TTL (and over a minute), a name or type that did not
/// exist before a switch keeps users away longer than the failover itself would. Reads each
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
                let budget = (s.failover_ttl * 2).max(60);
                if soa.minimum > budget {
                    out.push(Problem::warning(None, path, format!(
                        "zone {} has a negative-caching TTL (SOA minimum) of {}s: resolvers keep \"no such name\" answers that long, more than the failover budget of {budget}s",
                        s.zone, soa.minimum
                    ), "lower the SOA minimum of the zone to 60-300 s"));
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
