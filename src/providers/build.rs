//! Every configured provider instance, built through the registry.
//!
//! `run` and `plan` call [`build`] once after validation; `validate` calls it to read SOA
//! records. Each `[providers.NAME]` entry already carries its [`crate::providers::Registration`]
//! (found by validation), so nothing here names an adapter.

use std::collections::BTreeMap;
use std::sync::Arc;

use dnsfailback_provider::{BuildContext, Fqdn, LocalServer, Provider};

use crate::config::Config;

/// The adapters of a configuration, plus the servers (embedded DNS) that must be started.
pub struct Built {
    pub providers: BTreeMap<String, Arc<dyn Provider>>,
    /// `(instance name, server)`: started by `run` before the store is opened, stopped last.
    pub servers: Vec<(String, Arc<dyn LocalServer>)>,
}

/// Builds every configured provider. Servers are created but not started.
pub fn build(config: &Config) -> Result<Built, String> {
    let mut built = Built {
        providers: BTreeMap::new(),
        servers: Vec::new(),
    };
    for (name, pc) in &config.providers {
        let context = BuildContext {
            zones: zones_of(config, name),
            state_file: config.controller.state.clone(),
        };
        let instance = pc.adapter.build(name, &pc.settings, &context)?;
        if let Some(server) = instance.server {
            built.servers.push((name.clone(), server));
        }
        built.providers.insert(name.clone(), instance.provider);
    }
    Ok(built)
}

/// The zones of the services that use provider `name`, sorted, without duplicates.
fn zones_of(config: &Config, name: &str) -> Vec<Fqdn> {
    let mut zones: Vec<Fqdn> = config
        .services
        .values()
        .filter(|s| s.provider == name)
        .map(|s| s.zone.clone())
        .collect();
    zones.sort();
    zones.dedup();
    zones
}
