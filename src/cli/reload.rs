//! Reload: the configuration read again without a restart: providers, secrets, services.
//!
//! A rotated API token or TSIG key, a fixed one after `needs operator`, or a service added,
//! changed or removed is taken in by `dnsfailback reload` (the admin API's `POST /v1/reload`)
//! or SIGHUP: the running process re-reads and validates the file (an invalid file changes
//! nothing and answers with the same error list as `validate`), rebuilds every provider that
//! does not run inside the process (the embedded DNS server keeps running as it is), works
//! out which services were added, changed or removed, and hands it all to the control loop,
//! which takes it in or refuses it whole (see `reconcile::reload`). Only then are the probes
//! restarted (when checks changed) and the API's list of services swapped. `[controller]`
//! changes and new zones of the embedded DNS server are reported, not applied: they need a
//! restart.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hasher};
use std::path::Path;
use std::sync::Arc;

use dnsfailback_provider::Fqdn;
use tokio::sync::mpsc;

use super::client::AdminClient;
use super::probes::{approval_timeouts, targets_of, Probes};
use crate::api::swap::Swappable;
use crate::api::{self, ApiState};
use crate::config::{Config, Service};
use crate::reconcile::{ServicesUpdate, StatusBoard};

/// A hash of whatever `Debug` shows of `value` (settings, never printed).
fn fingerprint(value: &impl std::fmt::Debug) -> u64 {
    struct Hash(DefaultHasher);
    impl std::fmt::Write for Hash {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut h = Hash(DefaultHasher::new());
    let _ = write!(h, "{value:?}");
    h.0.finish()
}

/// What a service looked like at the last (re)load: all its settings, and its targets'
/// names and checks (a change there starts its health over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    all: u64,
    checks: u64,
}

impl Mark {
    fn of(s: &Service) -> Mark {
        let checks: Vec<_> = s.targets.iter().map(|t| (&t.name, &t.checks)).collect();
        Mark {
            all: fingerprint(s),
            checks: fingerprint(&checks),
        }
    }
}

/// What the running process was started with, to tell what a reload changes.
pub struct Baseline {
    /// `[controller]`: applied only by a restart.
    controller: u64,
    services: BTreeMap<String, Mark>,
    /// The zones each in-process provider (the embedded DNS server) serves: a new one needs
    /// a restart.
    in_process_zones: BTreeMap<String, BTreeSet<Fqdn>>,
}

impl Baseline {
    /// The baseline of a configuration about to be started.
    pub fn of(config: &Config) -> Baseline {
        Baseline {
            controller: fingerprint(&config.controller),
            services: config
                .services
                .iter()
                .map(|(name, s)| (name.clone(), Mark::of(s)))
                .collect(),
            in_process_zones: in_process_zones(config),
        }
    }

    /// The services `config` adds, changes or removes; whether any check changed with them.
    fn services_update(&self, config: &Config) -> (ServicesUpdate, bool) {
        let mut update = ServicesUpdate::default();
        let mut checks_changed = false;
        for (name, s) in &config.services {
            let mark = Mark::of(s);
            match self.services.get(name) {
                Some(old) if *old == mark => {}
                Some(old) => {
                    let changed = old.checks != mark.checks;
                    checks_changed |= changed;
                    update.put.push((s.clone(), changed));
                }
                None => {
                    checks_changed = true;
                    update.put.push((s.clone(), true));
                }
            }
        }
        for name in self.services.keys() {
            if !config.services.contains_key(name) {
                checks_changed = true;
                update.removed.push(name.clone());
            }
        }
        (update, checks_changed)
    }

    /// A zone of an in-process provider that it did not serve at start: the running DNS
    /// server cannot take it in.
    fn new_in_process_zone(&self, config: &Config) -> Option<(String, Fqdn)> {
        in_process_zones(config)
            .into_iter()
            .flat_map(|(p, zones)| zones.into_iter().map(move |z| (p.clone(), z)))
            .find(|(p, z)| {
                !self
                    .in_process_zones
                    .get(p)
                    .is_some_and(|known| known.contains(z))
            })
    }
}

/// Each in-process provider's zones in `config`.
fn in_process_zones(config: &Config) -> BTreeMap<String, BTreeSet<Fqdn>> {
    let mut zones: BTreeMap<String, BTreeSet<Fqdn>> = BTreeMap::new();
    for (provider, zone) in config.provider_zones() {
        let in_process = config
            .providers
            .get(&provider)
            .is_some_and(|pc| pc.adapter.in_process);
        if in_process {
            zones.entry(provider).or_default().insert(zone);
        }
    }
    zones
}

/// The providers of `config` that a reload rebuilds: all but the in-process ones.
fn rebuilt_providers(
    config: &Config,
) -> Result<BTreeMap<String, Arc<dyn dnsfailback_provider::Provider>>, String> {
    let built = crate::providers::build(
        &config.providers,
        &config.provider_zones(),
        &config.controller.state,
    )
    .map_err(|e| format!("reload refused, nothing changed: {e}"))?;
    Ok(built
        .providers
        .into_iter()
        .filter(|(name, _)| {
            config
                .providers
                .get(name)
                .is_some_and(|pc| !pc.adapter.in_process)
        })
        .collect())
}

/// `dnsfailback reload`: asks the running controller to reload; exit 0 done, 1 refused.
pub async fn reload(path: &Path, reach: &super::reach::AdminReach) -> anyhow::Result<u8> {
    let client = AdminClient::from_config(path, reach)?;
    let (status, answer) = client.post("/v1/reload", &serde_json::json!({})).await?;
    if status.is_success() {
        super::out::line(
            answer
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default(),
        )?;
        Ok(0)
    } else {
        eprintln!(
            "reload refused ({status}): {}",
            answer
                .get("error")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
        );
        Ok(1)
    }
}

/// The admin API's view of the services, swapped after a reload the loop took in.
pub struct ApiIndex {
    approval: Arc<Swappable<BTreeMap<String, Option<std::time::Duration>>>>,
    known_targets: Arc<Swappable<BTreeSet<(String, String)>>>,
}

impl ApiIndex {
    /// The handles of a started API.
    pub fn of(state: &ApiState) -> ApiIndex {
        ApiIndex {
            approval: state.approval.clone(),
            known_targets: state.known_targets.clone(),
        }
    }
}

/// What a reload (SIGHUP or `POST /v1/reload`) acts on.
pub struct Reloader<'a> {
    pub path: &'a Path,
    pub board: StatusBoard,
    pub baseline: Baseline,
    pub admin_tls: Option<Arc<api::tls::ServerTls>>,
    pub probes: Arc<Probes>,
    pub api: ApiIndex,
}

impl Reloader<'_> {
    /// Reloads providers, secrets and services (see the module docs) and the admin API's
    /// certificate, and logs the outcome. A certificate that cannot be read keeps the
    /// running one and fails the reload with the file's path.
    pub async fn reload(&mut self) -> Result<String, String> {
        super::systemd::notify("RELOADING=1");
        let mut result = self.apply().await;
        if let Some(tls) = &self.admin_tls {
            result = match (result, tls.reload()) {
                (Ok(text), Ok(())) => Ok(format!("{text}; admin API certificate re-read")),
                (Ok(_), Err(e)) => Err(format!("{e}; the running certificate stays")),
                (Err(e), _) => Err(e),
            };
        }
        match &result {
            Ok(text) => tracing::info!("reload: {text}"),
            Err(why) => tracing::error!("{why}"),
        }
        super::systemd::notify("READY=1");
        result
    }

    /// Re-reads the file and hands the loop what changed. `Err` says why nothing changed
    /// (an invalid file, a provider that cannot be built, a change the loop refused).
    async fn apply(&mut self) -> Result<String, String> {
        let config = match crate::config::load(self.path) {
            Ok((c, _)) => c,
            Err(e) => return Err(format!("reload refused, nothing changed:\n{e}")),
        };
        if let Some((provider, zone)) = self.baseline.new_in_process_zone(&config) {
            return Err(format!(
                "reload refused, nothing changed: zone {zone} is new to provider `{provider}`, \
                 whose DNS server runs in this process; restart to serve it"
            ));
        }
        let providers = rebuilt_providers(&config)?;
        let (update, checks_changed) = self.baseline.services_update(&config);
        let mut text = self.board.reload(providers, update).await?;
        if checks_changed {
            self.probes.restart(&config);
        }
        self.api.approval.set(approval_timeouts(&config));
        self.api.known_targets.set(targets_of(&config));
        let controller = self.baseline.controller;
        self.baseline = Baseline::of(&config);
        if self.baseline.controller != controller {
            // Still the started one: it is not applied.
            self.baseline.controller = controller;
            text.push_str(
                "; [controller] changed in the file: restart to apply it (a reload applies \
                 providers, secrets and services)",
            );
        }
        Ok(text)
    }
}

/// The next reload asked for through the API; pending forever without a channel.
pub async fn next_reload(
    reloads: &mut Option<mpsc::Receiver<api::ReloadRequest>>,
) -> Option<api::ReloadRequest> {
    match reloads {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// The next SIGHUP; pending forever when it cannot be watched.
pub async fn next_hangup(hangup: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hangup {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
