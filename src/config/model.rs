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

pub use super::url_source::UrlSource;
use super::window::ChangeWindow;
use crate::probe::CheckSpec;
pub use crate::providers::ProviderConfig;

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

impl Config {
    /// The `(provider, zone)` pair of every service, in service order (duplicates kept):
    /// what [`crate::providers::build`] needs to give each instance its zones.
    pub fn provider_zones(&self) -> Vec<(String, Fqdn)> {
        self.services
            .values()
            .map(|s| (s.provider.clone(), s.zone.clone()))
            .collect()
    }
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
    /// Named tokens with roles; when empty, the single `admin_token` has the operator role.
    pub admin_tokens: Vec<AdminToken>,
    /// Safety cap: at most this many automatic failovers across all services per window; more
    /// is a sign of a wider problem (often the controller's own network), so they are held.
    pub max_failovers: usize,
    pub max_failovers_window: Duration,
    /// How many vantage points (the controller is one, each agent another) must see a target
    /// down before it counts as down.
    pub vantage_quorum: usize,
    /// Agents expected to report; one that never reported counts as unknown, not down.
    pub agents: Vec<String>,
    /// An agent whose last report is older than this counts as unknown.
    pub agent_stale_after: Duration,
    /// Several controllers sharing state and a leader lease in etcd; `None` = one controller
    /// with the SQLite file `state`.
    pub etcd: Option<EtcdSettings>,
    /// Reference checks of the controller's own network (the provider's API, the zone's name
    /// servers, other sites). The controller suspects its own network only when every anchor
    /// is down; while they answer, its local evidence is trusted. Empty by default.
    pub uplink_checks: Vec<UplinkAnchor>,
    /// Notifiers of the audit trail: every `[notify.NAME]` and `[[controller.notify]]`
    /// entry (the older spelling of a webhook); empty = none.
    pub notify: Vec<NotifySettings>,
    /// The admin API over TLS; `None` = plain HTTP, which `validate` allows only on loopback
    /// unless `admin_insecure_plaintext` is set (the bearer token would cross the network in
    /// clear text).
    pub admin_tls: Option<AdminTls>,
}

/// One notifier: `[notify.NAME]`, or an entry of the older `[[controller.notify]]` (a
/// webhook). Read by `notify`, which sends each audit entry its `events` filter takes and
/// retries a failing receiver for `retry_for`.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// `NAME` of `[notify.NAME]` (`controller.notify[i]` for the older spelling): how the log
    /// and the `notifier` label of `dnsfailback_notifications_total` name it. The URL is
    /// never logged (a Slack webhook URL is itself a secret).
    pub name: String,
    pub sink: NotifySink,
    /// Event names to send (see [`NOTIFY_EVENTS`]); empty = every entry.
    pub events: Vec<String>,
    /// Longest wait for one POST or one run of the command (killed after it).
    pub timeout: Duration,
    /// How long a failing receiver is retried for one event before it is dropped.
    pub retry_for: Duration,
}

/// Where a notifier sends and in which form.
#[derive(Debug, Clone)]
pub enum NotifySink {
    /// `kind = "webhook"`: the event as JSON, POSTed to `url`.
    Webhook {
        url: UrlSource,
        /// Sent as `Authorization: Bearer ...` when set.
        bearer_token: Option<SecretSource>,
    },
    /// `kind = "slack"`: a Slack-compatible incoming-webhook body (`{"text": ...}`).
    Slack { url: UrlSource },
    /// `kind = "command"`: runs `argv` with the event JSON on stdin.
    Command { argv: Vec<String> },
}

/// The event names a notifier's `events` filter may use: every audit action the controller
/// and the admin API write, and `operator_command` (any entry by an operator rather than the
/// controller, whatever its action). A name outside this list is a configuration error, so a
/// typo never silently mutes a notifier.
pub const NOTIFY_EVENTS: &[&str] = &[
    "publish",
    "failover",
    "failback",
    "canary_step",
    "canary_complete",
    "gate_tripped",
    "rollback",
    "all_down",
    "ttl_lower",
    "ttl_restore",
    "abort",
    "alert",
    "held",
    "needs_operator",
    "apply_failed",
    "verify_failed",
    "plan_invalid",
    "abandon",
    "hold",
    "resume",
    "operator_command",
    "approval_requested",
    "approved",
    "approval_expired",
    "pre_failback_hook",
    "pre_failback_hook_failed",
    "post_step_hook",
    "post_step_hook_failed",
    "failure_event",
    "failure_event_closed",
    "self_suspected",
    "self_suspicion_cleared",
    "reload",
];

/// `[controller.admin_tls]`: the admin API's certificate and key (re-read on reload), and the
/// CA whose client certificates it requires (mTLS) when set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTls {
    pub identity: crate::tls::Identity,
    /// With it every client (CLI, agent) must present a certificate signed by this CA, on top
    /// of its bearer token (the token still decides the role).
    pub client_ca: Option<PathBuf>,
}

/// TLS towards etcd: whom to trust, and the client certificate when the cluster requires one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdTls {
    /// CA of the servers' certificates; the system roots when `None`.
    pub ca: Option<PathBuf>,
    /// Client certificate and key (etcd's `--client-cert-auth`).
    pub identity: Option<crate::tls::Identity>,
}

/// `[controller.etcd]`: where the cluster's state lives and how this controller campaigns.
/// Read by `state::etcd`, which connects with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdSettings {
    /// Client URLs, `http://host:2379`; the first reachable one is used.
    pub endpoints: Vec<String>,
    /// Key prefix for this controller group, e.g. `/dnsfailback/prod`.
    pub prefix: String,
    /// This controller's name, shown to the others as the lease holder.
    pub node: String,
    /// Leader lease TTL: a dead leader is replaced within about this time.
    pub lease_ttl: Duration,
    /// Longest wait for one etcd call.
    pub timeout: Duration,
    /// User and password source, when the cluster has authentication on.
    pub auth: Option<(String, SecretSource)>,
    /// CA and client certificate for https:// endpoints.
    pub tls: EtcdTls,
}

/// `[[controller.uplink_checks]]`: one reference point of the controller's own network.
#[derive(Debug, Clone)]
pub struct UplinkAnchor {
    /// Unique among the anchors; letters, digits, `-`, `_`, `.` (at most 63).
    pub name: String,
    /// Checked like a target's checks (rise/fall, window, max_latency apply); at least one.
    pub checks: Vec<Check>,
}

/// What a token may do on the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// status, plan, history.
    ReadOnly,
    /// Everything read-only may, plus failover, failback, hold, resume, abort, approve.
    Operator,
    /// A remote probe agent: may only post its own reports (token name = agent name).
    Agent,
}

/// `[[controller.admin_tokens]]`: one operator's (or tool's) token.
#[derive(Debug, Clone)]
pub struct AdminToken {
    /// Who acts: written to the audit trail as the actor.
    pub name: String,
    pub role: Role,
    pub token: SecretSource,
}

impl ControllerConfig {
    /// Where a generated admin token is kept (mode 0600), so the CLI finds it with no setup.
    pub fn token_file(&self) -> PathBuf {
        let mut p = self.state.clone().into_os_string();
        p.push(".admin-token");
        PathBuf::from(p)
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// How traffic returns to the primary after an outage.
    pub canary: Canary,
    /// Two-person approval for manual actions on this service.
    pub approval: Option<Approval>,
    /// Planned switches wait out the old TTL plus this margin after lowering it.
    pub ttl_lead_margin: Duration,
    /// When planned actions (failbacks, planned switches) may run; empty = any time.
    pub change_windows: Vec<ChangeWindow>,
}

/// Staged failback: the primary's share of traffic in steps, each gated.
#[derive(Debug, Clone, PartialEq)]
pub struct Canary {
    /// Primary's traffic share in percent per step, ascending, ending at 100. `[100]` means
    /// an immediate return.
    pub steps: Vec<u32>,
    /// How long each step is held (and its gates evaluated) before the next.
    pub hold: Duration,
    pub gates: Gates,
    pub on_gate_failure: GateFailure,
    /// Must pass before the first step (e.g. "replication lag below 5 s").
    pub pre_hook: Option<Hook>,
    /// Runs after each step is published (e.g. warm caches); failure is audited, not fatal.
    pub post_step_hook: Option<Hook>,
}

/// Limits the primary must stay within during a canary step.
#[derive(Debug, Clone, PartialEq)]
pub struct Gates {
    /// Largest share of failed probes of the primary during the step (0.0-1.0).
    pub max_error_rate: f64,
    /// Largest p95 probe latency of the primary during the step.
    pub max_latency: Option<Duration>,
    /// The step's p95 latency may be at most this factor times the primary's own baseline.
    pub baseline_factor: Option<f64>,
    /// A user-supplied metric (e.g. a Prometheus query of the primary's 5xx ratio) that must
    /// stay at or below `max`.
    pub metric: Option<MetricGate>,
}

/// `gate_metrics_url` + `gate_metrics_max`: an external number checked at each canary step.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricGate {
    /// Answers a plain number, or a Prometheus instant-query JSON (first sample's value).
    pub url: String,
    pub max: f64,
}

/// What a failing gate does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateFailure {
    /// Stay at the current step and alert; an operator resumes or aborts.
    Freeze,
    /// Send all traffic back to the backup and alert.
    Rollback,
}

/// A command or HTTP check run around a failback, with a time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
    Http {
        url: String,
        timeout: Duration,
    },
}

/// Two-person rule: a second, different operator must approve within `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub timeout: Duration,
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
    /// Empty in the control loop's copy of a service: the checks live on in the health book
    /// (their judges) and the probe runner (their probers) once the controller has started.
    pub checks: Vec<Check>,
    /// How many checks must be down for the target to be down (quorum over checks).
    pub fail_quorum: usize,
    /// The failure domain (data centre or region). Failures of several targets of one site
    /// close together are handled and reported as one site event.
    pub site: Option<String>,
}

/// One check of a target, with the thresholds that turn its results into up/down.
#[derive(Debug, Clone)]
pub struct Check {
    pub spec: CheckSpec,
    /// Consecutive successes to go up.
    pub rise: u32,
    /// Consecutive failures to go down.
    pub fall: u32,
    /// Instead of rise/fall: down when `k` of the last `n` results failed (`(n, k)`).
    pub window: Option<(usize, usize)>,
    /// A success slower than this counts as a failure.
    pub max_latency: Option<Duration>,
}
