//! Every configured provider instance, built through the registry.
//!
//! `run`, `plan` and `reload` call [`build`] once after validation; `validate` calls it to
//! read SOA records. Each `[providers.NAME]` entry ([`ProviderConfig`]) already carries its
//! [`crate::providers::Registration`] (found by validation), so nothing here names an adapter.
//!
//! Below `config` in the layering: [`build`] takes the pieces of a configuration it needs
//! (the provider tables, the `(provider, zone)` pairs of the services, the state file), never
//! the `Config` itself, and `config` holds [`ProviderConfig`] values without a cycle.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use dnsfailback_provider::{BuildContext, Capabilities, Fqdn, LocalServer, Provider};

use super::Registration;

/// `[providers.NAME]`: an adapter instance. The adapter parses `settings` itself.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    /// The adapter registered for the table's `kind`: how to build it, what it can do.
    pub adapter: &'static Registration,
    /// Everything but `kind`, handed to the adapter's own `Config`.
    pub settings: toml::Table,
    /// What this instance can do with these settings, as its adapter declares before it is
    /// built (equal to the built provider's `capabilities()`); validation reads it.
    pub capabilities: Capabilities,
}

impl ProviderConfig {
    /// The `kind` written in the table (`"route53"`), for messages.
    pub fn kind(&self) -> &'static str {
        self.adapter.kind
    }
}

/// The adapters of a configuration, plus the servers (embedded DNS) that must be started.
pub struct Built {
    pub providers: BTreeMap<String, Arc<dyn Provider>>,
    /// `(instance name, server)`: started by `run` before the store is opened, stopped last.
    pub servers: Vec<(String, Arc<dyn LocalServer>)>,
}

/// Builds every provider of `providers` (the `[providers.*]` tables). `zones` holds the
/// `(provider, zone)` pair of each service (`Config::provider_zones`); each instance is given
/// the zones of the services that use it. `state_file` is the controller's state file, next
/// to which in-process adapters keep their own files. Servers are created but not started.
pub fn build(
    providers: &BTreeMap<String, ProviderConfig>,
    zones: &[(String, Fqdn)],
    state_file: &Path,
) -> Result<Built, String> {
    let mut built = Built {
        providers: BTreeMap::new(),
        servers: Vec::new(),
    };
    for (name, pc) in providers {
        let context = BuildContext {
            zones: zones_of(zones, name),
            state_file: state_file.to_path_buf(),
        };
        let instance = pc.adapter.build(name, &pc.settings, &context)?;
        if let Some(server) = instance.server {
            built.servers.push((name.clone(), server));
        }
        built.providers.insert(name.clone(), instance.provider);
    }
    Ok(built)
}

/// The zones used with provider `name`, sorted, without duplicates.
fn zones_of(zones: &[(String, Fqdn)], name: &str) -> Vec<Fqdn> {
    let mut out: Vec<Fqdn> = zones
        .iter()
        .filter(|(provider, _)| provider == name)
        .map(|(_, zone)| zone.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fqdn(s: &str) -> Fqdn {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    #[test]
    fn each_instance_gets_the_zones_of_its_services_once_and_sorted() {
        let zones = [
            ("dns".to_string(), fqdn("b.example.")),
            ("r53".to_string(), fqdn("c.example.")),
            ("dns".to_string(), fqdn("a.example.")),
            ("dns".to_string(), fqdn("b.example.")),
        ];
        assert_eq!(
            zones_of(&zones, "dns"),
            [fqdn("a.example."), fqdn("b.example.")]
        );
        assert_eq!(zones_of(&zones, "r53"), [fqdn("c.example.")]);
        assert!(zones_of(&zones, "unused").is_empty());
    }
}
