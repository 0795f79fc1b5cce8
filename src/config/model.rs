//! The validated configuration: typed, complete, and impossible to hold in an invalid state.
//!
//! Produced by [`super::validate`] from the raw TOML; read by every later stage of the flow
//! (probe -> health -> policy -> plan -> provider -> verify). Nothing downstream re-checks
//! what is guaranteed here (distinct priorities, values valid for the record type, TTLs > 0).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use dnsfailback_provider::{Fqdn, RecordType, SecretSource};

use crate::probe::CheckSpec;

/// The whole configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub source: PathBuf,
    pub controller: ControllerConfig,
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Services by name, in name order.
    pub services: BTreeMap<String, Service>,
}

/// `[controller]`: where state lives and how the operator reaches the running service.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// SQLite file holding intents, phases, original TTLs and the audit trail.
    pub state: PathBuf,
    /// Admin API address; loopback by default so nothing is exposed by accident.
    pub admin_listen: SocketAddr,
    /// Bearer token source; when absent a token is generated into `<state>.admin-token`.
    pub admin_token: Option<SecretSource>,
    /// How often the control loop re-evaluates every service.
    pub tick: Duration,
}

impl ControllerConfig {
    /// Where a generated admin token is kept (mode 0600), so the CLI finds it with no setup.
    pub fn token_file(&self) -> PathBuf {
        let mut p = self.state.clone().into_os_string();
        p.push(".admin-token");
        PathBuf::from(p)
    }
}

/// `[providers.NAME]`: an adapter instance. The adapter parses `settings` itself.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// Everything but `kind`, handed to the adapter's own `Config`.
    pub settings: toml::Table,
}

/// Adapter kinds this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Embedded,
    Route53,
    Cloudflare,
    Rfc2136,
}

impl ProviderKind {
    /// All kinds, for the "use one of" part of error messages.
    pub const ALL: [(&'static str, ProviderKind); 4] = [
        ("embedded", ProviderKind::Embedded),
        ("route53", ProviderKind::Route53),
        ("cloudflare", ProviderKind::Cloudflare),
        ("rfc2136", ProviderKind::Rfc2136),
    ];
}

/// What to publish when every target of a service looks down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllDownPolicy {
    /// Keep whatever is published now (the last good answer). The default: when everything
    /// looks down, the likeliest cause is the probes, not all sites at once.
    KeepLast,
    /// Publish every target and let clients retry.
    PublishAll,
    /// Publish one designated target (a maintenance page).
    Sorry(String),
}

/// How traffic returns to a recovered primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailbackMode {
    /// Return automatically once the primary has been healthy for `stable_for`.
    Auto,
    /// Only on an operator's `failback` command.
    Manual,
}

/// `[services.NAME]`: one DNS name whose answer follows the health of its targets.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub provider: String,
    pub zone: Fqdn,
    pub record: Fqdn,
    pub rtype: RecordType,
    /// The normal TTL, used when the record does not exist yet; an existing record's own TTL
    /// is recorded as the original and restored instead.
    pub ttl: u32,
    /// The TTL published while failed over, so the way back is fast.
    pub failover_ttl: u32,
    pub all_down: AllDownPolicy,
    pub failback: FailbackMode,
    /// How long a recovered primary must stay healthy before traffic returns.
    pub stable_for: Duration,
    /// How long after a return to normal the original TTL is restored.
    pub restore_ttl_after: Duration,
    /// Minimum time between two changes of this service (anti-flap safety rule).
    pub min_change_interval: Duration,
    /// Targets in preference order (lowest priority number first).
    pub targets: Vec<Target>,
}

impl Service {
    /// The preferred target: the one traffic belongs on when all is well.
    pub fn primary(&self) -> &Target {
        // Validation guarantees at least one target.
        &self.targets[0]
    }

    /// Looks a target up by name.
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// `[[services.NAME.targets]]`: one place the name can point to.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    /// Record values published for this target (addresses for A/AAAA, a host for CNAME).
    pub values: Vec<String>,
    /// Lower is preferred; distinct within a service.
    pub priority: u32,
    pub checks: Vec<Check>,
    /// How many checks must be down for the target to be down (quorum over checks).
    pub fail_quorum: usize,
}

/// One check of a target, with the thresholds that turn its results into up/down.
#[derive(Debug, Clone)]
pub struct Check {
    pub spec: CheckSpec,
    /// Consecutive successes to go up.
    pub rise: u32,
    /// Consecutive failures to go down.
    pub fall: u32,
}
