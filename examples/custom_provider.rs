//! A small custom DNS provider adapter, checked with the shared conformance suite.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example custom_provider
//! ```
//!
//! `JournalProvider` keeps its zones in memory (one `ZoneRecords` per zone, behind a mutex)
//! and appends every change set it applies as one JSON line to a log file. It is a stand-in
//! for a real adapter: where this one edits a map, a real one would call an API. The parts
//! that matter are the same for every adapter (see docs/writing-a-provider.md):
//!
//! * `read` returns every set of one name and type (empty when none: not an error);
//! * `apply` checks the change set against its own capabilities, then applies all of it or
//!   nothing, refusing with a conflict when a set is not exactly the `old` the plan expected;
//! * every error says which kind it is and whether the zone is known to be unchanged;
//! * nothing in `apply` awaits between the first and the last write, so dropping the future
//!   (cancellation) leaves the zone fully old or fully new.
//!
//! It also implements `Adapter`, what the controller's provider registry needs: the `kind`,
//! the settings type, the capabilities before an instance exists, and how to build one. In
//! this repository the adapter would then be registered with one line,
//! `Registration::of::<JournalProvider>()`, in `src/providers/registry.rs`.
//!
//! The example builds the adapter the way the controller would (`Adapter::from_config`), runs
//! `dnsfailback_provider::testkit::run_conformance` against it, prints the report, then applies
//! one failover-style change and prints the log line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use dnsfailback_provider::testkit::run_conformance;
use dnsfailback_provider::{
    Adapter, ApplyReceipt, BuildContext, Capabilities, Change, ChangeSet, ErrorKind, Fqdn,
    Provider, ProviderError, RecordSet, RecordType, RecordTypes, ZoneRecords,
};
use serde::Deserialize;

/// An adapter that keeps records in memory and journals each applied change set to a file.
struct JournalProvider {
    /// The instance name, as `[providers.NAME]` would give it; prefixes every error.
    name: String,
    zones: Mutex<BTreeMap<Fqdn, ZoneRecords>>,
    log: PathBuf,
}

impl JournalProvider {
    /// A provider serving `zones` (empty), logging to `log` (created or appended to).
    fn new(name: &str, zones: &[Fqdn], log: &Path) -> Self {
        JournalProvider {
            name: name.to_string(),
            zones: Mutex::new(
                zones
                    .iter()
                    .map(|z| (z.clone(), ZoneRecords::default()))
                    .collect(),
            ),
            log: log.to_path_buf(),
        }
    }

    /// A poisoned lock only means another thread panicked mid-call; the zone map itself is
    /// never left half-changed (see `apply`), so it is safe to keep using it.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<Fqdn, ZoneRecords>> {
        self.zones.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError::new(&self.name, kind, message)
    }

    /// Appends one JSON line describing `changes`.
    fn journal(&self, changes: &ChangeSet) -> Result<(), String> {
        let line = serde_json::to_string(changes).map_err(|e| e.to_string())?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
        writeln!(f, "{line}").map_err(|e| format!("cannot write {}: {e}", self.log.display()))
    }
}

#[async_trait]
impl Provider for JournalProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        // One declaration, shared with the registry (see `Adapter` below).
        Self::CAPABILITIES
    }

    async fn read(
        &self,
        zone: &Fqdn,
        name: &Fqdn,
        rtype: RecordType,
    ) -> Result<Vec<RecordSet>, ProviderError> {
        let zones = self.lock();
        let z = zones.get(zone).ok_or_else(|| {
            self.error(ErrorKind::NotFound, format!("no zone {zone}"))
                .unchanged()
        })?;
        Ok(z.get(name, rtype))
    }

    async fn read_zone(&self, zone: &Fqdn) -> Result<Vec<RecordSet>, ProviderError> {
        let zones = self.lock();
        let z = zones.get(zone).ok_or_else(|| {
            self.error(ErrorKind::NotFound, format!("no zone {zone}"))
                .unchanged()
        })?;
        Ok(z.all().cloned().collect())
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<ApplyReceipt, ProviderError> {
        // 1. Defence in depth: the planner validated already; re-check before any write.
        if let Err(problems) = changes.validate(&self.capabilities()) {
            return Err(self
                .error(ErrorKind::Invalid, problems.join("; "))
                .unchanged());
        }
        // 2. No await from here on: the whole change happens under one lock, so a dropped
        //    future can never leave it half done.
        let mut zones = self.lock();
        let current = zones.get(&changes.zone).ok_or_else(|| {
            self.error(ErrorKind::NotFound, format!("no zone {}", changes.zone))
                .unchanged()
        })?;
        // 3. Apply to a copy; a stale `old` or an existing set to create is a conflict.
        let mut next = current.clone();
        next.apply_strict(changes)
            .map_err(|msg| self.error(ErrorKind::Conflict, msg).unchanged())?;
        // 4. Journal, then publish the copy. A failed write leaves the zone unchanged.
        self.journal(changes)
            .map_err(|msg| self.error(ErrorKind::Transient, msg).unchanged())?;
        zones.insert(changes.zone.clone(), next);
        Ok(ApplyReceipt::default())
    }
}

/// The `[providers.NAME]` keys after `kind = "journal"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalConfig {
    /// Where applied change sets are appended, one JSON line each.
    log: PathBuf,
}

impl Adapter for JournalProvider {
    const KIND: &'static str = "journal";

    // `ZoneRecords` keys sets by name, type and set id, and checks `old` strictly, so this
    // adapter can declare weights, atomic batches and compare-and-swap.
    const CAPABILITIES: Capabilities = Capabilities {
        weighted: true,
        max_weight: 255,
        atomic_batch: true,
        ttl_per_record: true,
        min_ttl: 1,
        change_status: false,
        prerequisites: true,
        soa: false,
        max_batch_records: 0,
        record_types: RecordTypes::ALL,
    };

    type Config = JournalConfig;

    /// Serves the zones of the services configured on this instance.
    fn from_config(
        name: &str,
        config: JournalConfig,
        context: &BuildContext,
    ) -> Result<Self, ProviderError> {
        Ok(JournalProvider::new(name, &context.zones, &config.log))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!(
        "dnsfailback-custom-provider-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    let log = dir.join("changes.jsonl");
    let zone = Fqdn::new("example.test")?;
    // As the controller builds it: settings from `[providers.journal]`, zones from the services.
    let context = BuildContext {
        zones: vec![zone.clone()],
        ..BuildContext::default()
    };
    let provider =
        JournalProvider::from_config("journal", JournalConfig { log: log.clone() }, &context)?;

    // The same suite every adapter in providers/ runs against its real peer.
    let report = run_conformance(&provider, &zone, "conf").await?;
    println!("conformance suite against `{}`:", provider.name());
    for step in &report.passed {
        println!("  passed   {step}");
    }
    for (step, why) in &report.skipped {
        println!("  skipped  {step}: {why}");
    }

    // A failover as the controller would send it: the old set beside the new one.
    let name = Fqdn::new("shop.example.test")?;
    let primary = RecordSet::new(name.clone(), RecordType::A, 300, vec!["192.0.2.10".into()]);
    let backup = RecordSet::new(
        name.clone(),
        RecordType::A,
        30,
        vec!["198.51.100.20".into()],
    );
    provider
        .apply(&ChangeSet {
            zone: zone.clone(),
            changes: vec![Change::Create {
                new: primary.clone(),
            }],
        })
        .await?;
    provider
        .apply(&ChangeSet {
            zone: zone.clone(),
            changes: vec![Change::Update {
                old: primary.clone(),
                new: backup.clone(),
            }],
        })
        .await?;

    // Replaying the same change is refused as a conflict and changes nothing.
    let replay = provider
        .apply(&ChangeSet {
            zone: zone.clone(),
            changes: vec![Change::Update {
                old: primary,
                new: backup,
            }],
        })
        .await;
    match replay {
        Err(e) if e.is_conflict() && e.not_applied() => {
            println!("replayed update refused as expected: {e}");
        }
        Err(e) => return Err(format!("expected a conflict, got {:?}: {e}", e.kind).into()),
        Ok(_) => return Err("a replayed update with a stale `old` was applied".into()),
    }

    for set in provider.read(&zone, &name, RecordType::A).await? {
        println!("now serving: {set}");
    }
    let text = std::fs::read_to_string(&log)?;
    let lines: Vec<&str> = text.lines().collect();
    println!(
        "{} change set(s) journaled in {}; the last one:",
        lines.len(),
        log.display()
    );
    if let Some(last) = lines.last() {
        println!("  {last}");
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
