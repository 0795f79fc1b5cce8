//! [`EmbeddedProvider`]: the [`Provider`] implementation over the embedded DNS server.
//!
//! Sits at `provider` in the flow probe -> health -> policy -> plan -> **provider** -> verify.
//! Like every adapter it is a dumb executor: it checks a change set, applies it all-or-nothing
//! with compare-and-swap preconditions, persists it, and from then on the DNS listener answers
//! with it.
//!
//! # Consistency
//!
//! Applies are serialised by one async lock, and each apply runs to completion in its own task
//! once it holds that lock, so dropping an `apply` future (a controller timeout) cannot leave
//! the zone half-changed or the data file behind memory. `read`, `read_zone` and `soa` take the
//! same lock, so they always see the outcome of every apply that started before them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use dnsfailback_provider::{
    ApplyReceipt, Capabilities, ChangeSet, ErrorKind, Fqdn, Provider, ProviderError, RecordSet,
    RecordType, Soa,
};

use crate::apex::ZoneSettings;
use crate::config::Config;
use crate::handler::{Handler, Shared};
use crate::notify;
use crate::persist;
use crate::secondaries::Secondaries;
use crate::server::{self, Running};
use crate::state::{plan_apply, Store};
use crate::weighted::WeightRng;

/// The embedded authoritative DNS server as a provider. See the module docs.
///
/// Create it with [`EmbeddedProvider::new`], call [`EmbeddedProvider::start`] to open the DNS
/// port, and [`EmbeddedProvider::shutdown`] (or drop it) to close it.
pub struct EmbeddedProvider {
    name: String,
    config: Config,
    shared: Arc<Shared>,
    /// Serialises applies; readers take it too (see the module docs).
    write_lock: Arc<tokio::sync::Mutex<()>>,
    running: tokio::sync::Mutex<Option<Running>>,
}

impl std::fmt::Debug for EmbeddedProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedProvider")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl EmbeddedProvider {
    /// Checks the zone settings against every served zone, loads `config.data_file` (when it
    /// exists) and prepares the zones; does not open any socket yet, so a configuration can be
    /// checked without a port.
    ///
    /// Errors name the instance and the key (`providers.<instance>.nameservers[0]: ...`) or,
    /// for a corrupt data file, the file.
    pub fn new(instance_name: &str, config: Config) -> Result<Self, ProviderError> {
        let mut served = config.zones.clone();
        served.sort();
        served.dedup();
        let zones = ZoneSettings::build(&config, &served, true).map_err(|problems| {
            let keyed: Vec<String> = problems
                .iter()
                .map(|p| format!("providers.{instance_name}.{p}"))
                .collect();
            let msg = format!("{} (see docs/providers/embedded.md)", keyed.join("; "));
            ProviderError::new(instance_name, ErrorKind::Invalid, msg)
        })?;
        let secondaries = Secondaries::load(&config.secondaries).map_err(|problems| {
            let keyed: Vec<String> = problems
                .iter()
                .map(|p| format!("providers.{instance_name}.{p}"))
                .collect();
            ProviderError::new(instance_name, ErrorKind::Invalid, keyed.join("; "))
        })?;
        let store = match &config.data_file {
            Some(path) => persist::load(path)
                .map_err(|e| ProviderError::new(instance_name, ErrorKind::Invalid, e))?,
            None => Store::default(),
        };
        if served.is_empty() {
            tracing::warn!("{instance_name}: no zones configured; every query will be REFUSED");
        }
        let rng = match config.rng_seed {
            Some(seed) => WeightRng::seeded(seed),
            None => WeightRng::from_entropy(),
        };
        let shared = Shared {
            store: RwLock::new(store.with_zones(&served)),
            served,
            zones,
            rng: Mutex::new(rng),
            secondaries,
            rrl: config.rate_limit.clone().map(crate::rrl::Rrl::new),
        };
        Ok(EmbeddedProvider {
            name: instance_name.to_string(),
            config,
            shared: Arc::new(shared),
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
            running: tokio::sync::Mutex::new(None),
        })
    }

    /// Opens UDP and TCP on `config.listen` (one port for both) and starts answering; returns
    /// the bound address, which differs from `listen` when its port is 0.
    ///
    /// Logs `embedded DNS listening on udp+tcp <addr>`. Fails if already started.
    pub async fn start(&self) -> Result<SocketAddr, ProviderError> {
        let mut running = self.running.lock().await;
        if let Some(r) = running.as_ref() {
            return Err(self.err(
                ErrorKind::Invalid,
                format!(
                    "the embedded DNS server is already listening on {}",
                    r.addr()
                ),
            ));
        }
        let handler = Handler {
            shared: self.shared.clone(),
        };
        let listen = self.config.listen;
        let r = server::start(listen, handler).await.map_err(|e| {
            self.err(
                ErrorKind::Invalid,
                format!("cannot listen on udp+tcp {listen}: {e}; pick a free port with `listen`"),
            )
        })?;
        let addr = r.addr();
        tracing::info!("embedded DNS listening on udp+tcp {addr}");
        *running = Some(r);
        drop(running);
        // Secondaries catch up with whatever changed while this server was down.
        for zone in &self.shared.served {
            self.notify(zone);
        }
        Ok(addr)
    }

    /// Sends NOTIFY for `zone` to every secondary, in the background (see `notify.rs`).
    fn notify(&self, zone: &Fqdn) {
        let peers = self.shared.secondaries.peers();
        if peers.is_empty() {
            return;
        }
        let serial = self.store().zones.get(zone).map_or(1, |z| z.serial);
        let (Some(soa), Ok(apex)) = (
            self.shared.zones.soa_record(zone, serial),
            crate::rdata::name(zone.as_str()),
        ) else {
            return;
        };
        notify::spawn(&self.name, peers, &apex, &soa);
    }

    /// The address the server answers on, while it runs.
    pub async fn local_addr(&self) -> Option<SocketAddr> {
        self.running.lock().await.as_ref().map(Running::addr)
    }

    /// Stops answering DNS and waits until the listeners are closed. Zone content stays, and
    /// `start` may be called again. Dropping the provider also stops the listeners.
    pub async fn shutdown(&self) {
        let running = self.running.lock().await.take();
        if let Some(r) = running {
            let addr = r.addr();
            r.stop().await;
            tracing::info!("embedded DNS on {addr} stopped");
        }
    }

    /// The zones this instance serves.
    pub fn zones(&self) -> &[Fqdn] {
        &self.shared.served
    }

    /// The data file, if the zones are persisted.
    pub fn data_file(&self) -> Option<&PathBuf> {
        self.config.data_file.as_ref()
    }

    fn err(&self, kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError::new(&self.name, kind, message)
    }

    fn unknown_zone(&self, zone: &Fqdn) -> ProviderError {
        self.err(
            ErrorKind::NotFound,
            format!(
                "zone {zone} is not served by this embedded server (serving: {})",
                self.shared
                    .served
                    .iter()
                    .map(Fqdn::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .unchanged()
    }

    fn store(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.shared.store.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// Applies `changes` while holding the write lock: check against the current zone, build the
/// next zone once, persist the whole store once, then swap the zone in.
///
/// Cost for `c` changes to a zone of `n` sets: `O(c log n)` checks, one copy of that zone (other
/// zones are shared), one render and fsync of the data file; the DNS listener is blocked only
/// for the pointer swap.
fn commit(
    name: &str,
    shared: &Shared,
    data_file: Option<&PathBuf>,
    changes: &ChangeSet,
) -> Result<(), ProviderError> {
    // Applies are serialised by the caller, so this snapshot stays current until the swap.
    let mut next_store = shared
        .store
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let current = next_store.zones.entry(changes.zone.clone()).or_default();
    let next_zone = plan_apply(current, changes, &shared.served).map_err(|r| {
        let kind = if r.conflict {
            ErrorKind::Conflict
        } else {
            ErrorKind::Invalid
        };
        ProviderError::new(name, kind, r.problems.join("; ")).unchanged()
    })?;
    *current = Arc::new(next_zone);
    if let Some(path) = data_file {
        persist::save(path, &next_store)
            .map_err(|e| ProviderError::new(name, ErrorKind::Transient, e).unchanged())?;
    }
    let previous = std::mem::replace(
        &mut *shared.store.write().unwrap_or_else(|p| p.into_inner()),
        next_store,
    );
    // The old zone is freed here, after the write lock is released.
    drop(previous);
    Ok(())
}

#[async_trait]
impl Provider for EmbeddedProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn reads_are_local(&self) -> bool {
        true
    }

    fn capabilities(&self) -> Capabilities {
        <Self as dnsfailback_provider::Adapter>::CAPABILITIES
    }

    async fn read(
        &self,
        zone: &Fqdn,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Vec<RecordSet>, ProviderError> {
        let _applied = self.write_lock.lock().await;
        if !self.shared.served.contains(zone) {
            return Err(self.unknown_zone(zone));
        }
        Ok(self
            .store()
            .zones
            .get(zone)
            .map(|z| z.records.get(name, rtype))
            .unwrap_or_default())
    }

    async fn read_zone(&self, zone: &Fqdn) -> Result<Vec<RecordSet>, ProviderError> {
        let _applied = self.write_lock.lock().await;
        if !self.shared.served.contains(zone) {
            return Err(self.unknown_zone(zone));
        }
        // Copy the zone's pointer and release the store before cloning thousands of sets, so
        // DNS answers are not held up meanwhile.
        let state = self.store().zones.get(zone).cloned();
        Ok(state
            .map(|z| {
                let mut sets = Vec::with_capacity(z.records.len());
                sets.extend(z.records.all().cloned());
                sets
            })
            .unwrap_or_default())
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        if let Err(problems) = changes.validate(&self.capabilities()) {
            return Err(self
                .err(ErrorKind::Invalid, problems.join("; "))
                .unchanged());
        }
        if !self.shared.served.contains(&changes.zone) {
            return Err(self.unknown_zone(&changes.zone));
        }
        let conflicts = self.shared.zones.conflicts(changes);
        if !conflicts.is_empty() {
            return Err(self
                .err(ErrorKind::Invalid, conflicts.join("; "))
                .unchanged());
        }
        // Normalise values so `read` returns canonical text whatever the planner wrote.
        let mut normalized = ChangeSet::new(changes.zone.clone());
        for change in &changes.changes {
            normalized.changes.push(
                normalize_change(change)
                    .map_err(|e| self.err(ErrorKind::Invalid, e).unchanged())?,
            );
        }
        let guard = self.write_lock.clone().lock_owned().await;
        // From here the apply runs to completion in its own task even if this future is
        // dropped; readers wait for it on the same lock.
        let (name, shared) = (self.name.clone(), self.shared.clone());
        let data_file = self.config.data_file.clone();
        let task = tokio::task::spawn_blocking(move || {
            let result = commit(&name, &shared, data_file.as_ref(), &normalized);
            drop(guard);
            result
        });
        task.await
            .map_err(|e| self.err(ErrorKind::Transient, format!("apply task failed: {e}")))??;
        // Every accepted change set moves the serial; secondaries transfer only while the
        // listener runs.
        if self.running.lock().await.is_some() {
            self.notify(&changes.zone);
        }
        Ok(ApplyReceipt::default())
    }

    async fn soa(&self, zone: &Fqdn) -> Result<Option<Soa>, ProviderError> {
        let _applied = self.write_lock.lock().await;
        if !self.shared.served.contains(zone) {
            return Err(self.unknown_zone(zone));
        }
        let serial = self.store().zones.get(zone).map_or(1, |z| z.serial);
        Ok(Some(Soa {
            serial,
            minimum: self.config.negative_ttl,
            ttl: self.config.negative_ttl,
        }))
    }
}

fn normalize_change(
    change: &dnsfailback_provider::Change,
) -> Result<dnsfailback_provider::Change, String> {
    use dnsfailback_provider::Change;
    Ok(match change {
        Change::Create { new } => Change::Create {
            new: new.clone().normalized()?,
        },
        Change::Update { old, new } => Change::Update {
            old: old.clone().normalized()?,
            new: new.clone().normalized()?,
        },
        Change::Delete { old } => Change::Delete {
            old: old.clone().normalized()?,
        },
    })
}
