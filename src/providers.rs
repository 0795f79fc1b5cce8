//! Builds provider adapters from `[providers.NAME]` tables.
//!
//! The bridge between configuration and the provider seam (plan -> **provider** -> verify):
//! each adapter crate owns its `Config`; this module hands it the table (minus `kind`) and
//! returns a `dyn Provider`. `validate` calls [`check_settings`] so a bad provider table is
//! reported with the rest of the configuration, before anything runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use dnsfailback_provider::{Fqdn, Provider};
use dnsfailback_provider_cloudflare as cloudflare;
use dnsfailback_provider_embedded as embedded;
use dnsfailback_provider_rfc2136 as rfc2136;
use dnsfailback_provider_route53 as route53;

use crate::config::{Config, ProviderConfig, ProviderKind};

fn parse<T: serde::de::DeserializeOwned>(settings: &toml::Table) -> Result<T, String> {
    toml::Value::Table(settings.clone())
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())
}

/// Parses an adapter's settings without connecting anywhere; the error names the bad key.
pub fn check_settings(
    kind: ProviderKind,
    _name: &str,
    settings: &toml::Table,
) -> Result<(), String> {
    match kind {
        ProviderKind::Embedded => parse::<embedded::Config>(settings).map(|_| ()),
        ProviderKind::Rfc2136 => parse::<rfc2136::Config>(settings).map(|_| ()),
        ProviderKind::Cloudflare => parse::<cloudflare::Config>(settings).map(|_| ()),
        ProviderKind::Route53 => parse::<route53::Config>(settings).map(|_| ()),
    }
}

/// The adapters of a configuration, plus handles to embedded servers (which must be started).
pub struct Built {
    pub providers: BTreeMap<String, Arc<dyn Provider>>,
    pub embedded: Vec<Arc<embedded::EmbeddedProvider>>,
}

fn embedded_data_file(config: &Config, name: &str) -> PathBuf {
    let mut p = config.controller.state.clone().into_os_string();
    p.push(format!(".{name}.zones.json"));
    PathBuf::from(p)
}

/// Builds every configured provider. Embedded servers are created but not started.
pub fn build(config: &Config) -> Result<Built, String> {
    let mut built = Built {
        providers: BTreeMap::new(),
        embedded: Vec::new(),
    };
    for (name, pc) in &config.providers {
        let p: Arc<dyn Provider> = match pc.kind {
            ProviderKind::Embedded => {
                let e = Arc::new(build_embedded(config, name, pc)?);
                built.embedded.push(e.clone());
                e
            }
            ProviderKind::Rfc2136 => {
                let c: rfc2136::Config =
                    parse(&pc.settings).map_err(|e| format!("providers.{name}: {e}"))?;
                Arc::new(rfc2136::Rfc2136Provider::new(name, c).map_err(|e| e.to_string())?)
            }
            ProviderKind::Cloudflare => {
                let c: cloudflare::Config =
                    parse(&pc.settings).map_err(|e| format!("providers.{name}: {e}"))?;
                Arc::new(cloudflare::CloudflareProvider::new(name, c).map_err(|e| e.to_string())?)
            }
            ProviderKind::Route53 => {
                let c: route53::Config =
                    parse(&pc.settings).map_err(|e| format!("providers.{name}: {e}"))?;
                Arc::new(route53::Route53Provider::new(name, c).map_err(|e| e.to_string())?)
            }
        };
        built.providers.insert(name.clone(), p);
    }
    Ok(built)
}

fn build_embedded(
    config: &Config,
    name: &str,
    pc: &ProviderConfig,
) -> Result<embedded::EmbeddedProvider, String> {
    let mut c: embedded::Config =
        parse(&pc.settings).map_err(|e| format!("providers.{name}: {e}"))?;
    let zones: Vec<Fqdn> = config
        .services
        .values()
        .filter(|s| s.provider == name)
        .map(|s| s.zone.clone())
        .collect();
    c.zones.extend(zones);
    if c.data_file.is_none() {
        c.data_file = Some(embedded_data_file(config, name));
    }
    embedded::EmbeddedProvider::new(name, c).map_err(|e| e.to_string())
}

/// Negative caching (RFC 2308): resolvers remember "no such name" for the SOA minimum. When
/// that is longer than twice the failover TTL (and over a minute), a name or type that did not
/// exist before a switch keeps users away longer than the failover itself would. Reads each
/// zone's SOA where the provider can (a read only, 3 s limit); an unreadable SOA is a warning.
pub async fn negative_caching_warnings(config: &Config) -> Vec<crate::config::Problem> {
    let mut out = Vec::new();
    let built = match build(config) {
        Ok(b) => b,
        Err(e) => {
            out.push(crate::config::Problem::warning(
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
                    out.push(crate::config::Problem::warning(None, path, format!(
                        "zone {} has a negative-caching TTL (SOA minimum) of {}s: resolvers keep \"no such name\" answers that long, more than the failover budget of {budget}s",
                        s.zone, soa.minimum
                    ), "lower the SOA minimum of the zone to 60-300 s"));
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => out.push(crate::config::Problem::warning(
                None,
                path,
                format!("cannot read the SOA of {}: {e}", s.zone),
                "check the provider, or pass --offline",
            )),
            Err(_) => out.push(crate::config::Problem::warning(
                None,
                path,
                format!("reading the SOA of {} timed out", s.zone),
                "check the provider, or pass --offline",
            )),
        }
    }
    out
}
