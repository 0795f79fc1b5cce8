//! What `dnsfailback status` shows: a snapshot the control loop refreshes every tick.
//!
//! Read by the admin API; contains no secrets (providers are named, never their credentials).

use serde::{Deserialize, Serialize};

use crate::health::TargetHealth;
use crate::policy::{Phase, Publication};

/// Status of one service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub service: String,
    pub record: String,
    pub rtype: String,
    pub provider: String,
    pub phase: Phase,
    pub published: Option<Publication>,
    /// Values published now, as the controller last verified them.
    pub published_values: Vec<String>,
    pub original_ttl: Option<u32>,
    /// When the original TTL will be restored (unix ms), while restoring.
    pub ttl_restore_at_ms: Option<u64>,
    pub targets: Vec<TargetStatus>,
    pub reason: String,
    pub alert: Option<String>,
    /// A change that is due but held back by a safety rule (min_change_interval, back-off,
    /// max_failovers, a failed pre-failback hook).
    pub held: Option<String>,
    /// Set while the service is frozen by an operator's `hold`, a failed gate or an abort.
    #[serde(default)]
    pub frozen: Option<crate::policy::Hold>,
    pub last_error: Option<String>,
    /// Set while the controller suspects its own network (partition awareness).
    #[serde(default)]
    pub partition: Option<String>,
    /// The failure event (a site or address going down) this service's failover belongs to.
    #[serde(default)]
    pub event: Option<String>,
    /// Whether the provider serves the last change everywhere (providers with change status).
    #[serde(default)]
    pub provider_sync: Option<String>,
    /// The primary's learnt normal, which the canary's baseline gate compares against.
    #[serde(default)]
    pub baseline: Option<BaselineStatus>,
    /// In an etcd group: which controller holds the lease, and whether it is this one.
    #[serde(default)]
    pub lease: Option<LeaseStatus>,
    /// Failovers and failbacks since this controller started, for `GET /metrics`.
    #[serde(default)]
    pub totals: ServiceTotals,
}

/// What the loop counts per service since it started: kept in the service's loop state (12
/// bytes) and rendered into `GET /metrics` at scrape time, so 10,000 services hold no metric
/// series between scrapes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTotals {
    /// Failovers applied and verified (automatic or an operator's).
    pub failovers: u32,
    /// Failbacks started (the first canary step, or straight back without a canary).
    pub failbacks: u32,
    /// The last failover, from the loop first seeing the primary not up to the provider's
    /// read-back confirming the change (ms); `None` before the first one (or when the primary
    /// was up, as for an operator's failover).
    pub last_failover_ms: Option<u32>,
}

impl ServiceTotals {
    /// Counts a verified change with audit `action`; `down_since_ms` is when the loop first
    /// saw the primary not up, `now` when the change was read back.
    pub fn count(&mut self, action: &str, down_since_ms: Option<u64>, now: u64) {
        match action {
            "failover" => {
                self.failovers = self.failovers.saturating_add(1);
                if let Some(since) = down_since_ms {
                    let took = now.saturating_sub(since);
                    self.last_failover_ms = Some(u32::try_from(took).unwrap_or(u32::MAX));
                }
            }
            "failback" => self.failbacks = self.failbacks.saturating_add(1),
            _ => {}
        }
    }
}

/// Who leads an etcd group of controllers, as this controller sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseStatus {
    /// The holder's `node` name, when known.
    pub holder: Option<String>,
    /// This controller holds the lease (it alone changes DNS).
    pub leading: bool,
    /// The lease's fencing token (grows with every new leader).
    pub token: u64,
}

/// The primary's baseline as `status` shows it: enough to see whether the baseline gate has
/// something to compare with, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineStatus {
    /// Learnt samples within the window (the last hour of healthy operation).
    pub samples: u64,
    /// Enough samples for the gate to trust it.
    pub warm: bool,
    pub latency_p95_ms: Option<u64>,
    pub error_rate: Option<f64>,
}

impl BaselineStatus {
    /// The status view of a baseline.
    pub fn of(b: &crate::health::baseline::Baseline) -> Self {
        BaselineStatus {
            samples: b.samples(),
            warm: b.is_warm(),
            latency_p95_ms: b
                .latency_p95()
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            error_rate: b.error_rate(),
        }
    }
}

/// Health of one target, flattened for JSON and text output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetStatus {
    pub target: String,
    pub priority: u32,
    pub values: Vec<String>,
    pub state: String,
    /// The controller's own view, before agents and damping.
    #[serde(default)]
    pub local: String,
    /// Held in its last stable state because it changes too often.
    #[serde(default)]
    pub flapping: bool,
    /// Vantage points seeing it down / up / unknown, when agents report.
    #[serde(default)]
    pub vantage: Option<serde_json::Value>,
    pub checks: Vec<CheckStatus>,
}

/// One check's state and last evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckStatus {
    pub check: String,
    /// `readiness` or `liveness`: which checks can keep the target in service.
    #[serde(default)]
    pub role: crate::probe::Role,
    pub state: String,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<u64>,
}

impl TargetStatus {
    /// Builds the status row from the health book's view.
    pub fn from_health(h: &TargetHealth, priority: u32, values: Vec<String>) -> Self {
        let s = |st: crate::health::State| {
            serde_json::to_value(st)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        TargetStatus {
            target: h.target.clone(),
            priority,
            values,
            state: s(h.state),
            local: s(h.local),
            flapping: h.flapping,
            vantage: h
                .vantage
                .as_ref()
                .and_then(|v| serde_json::to_value(v).ok()),
            checks: h
                .checks
                .iter()
                .map(|c| CheckStatus {
                    check: c.check.to_string(),
                    role: c.role,
                    state: s(c.state),
                    last_error: c.last_error.clone(),
                    last_latency_ms: c.last_latency_ms,
                })
                .collect(),
        }
    }
}

/// One service in detail, for the status page: its row, each target's recent results (the
/// charts), and the canary's progress with what its gates read. Built on request for one
/// service only, so the fleet-wide rows stay small.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceDetail {
    pub status: ServiceStatus,
    /// Per target, in configuration order: the last two hours in 5-minute buckets.
    pub history: Vec<crate::health::history::TargetHistory>,
    /// Set while a canary failback runs.
    pub canary: Option<CanaryProgress>,
}

/// Where a canary failback stands: the step, its share and hold, and the primary's results
/// since the step began next to the limits the gates hold them to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryProgress {
    /// Index into `steps` of the step in force.
    pub step: usize,
    /// The primary's share per step, in percent (an operator's override, else the config).
    pub steps: Vec<u32>,
    /// How long each step is held.
    pub hold_ms: u64,
    /// When the current step began (unix ms).
    pub since_ms: u64,
    /// The primary's results since then: what the gates judge.
    pub stats: crate::health::StepStats,
    pub max_error_rate: f64,
    pub max_latency_ms: Option<u64>,
    /// The step's p95 may be at most this factor times the primary's baseline p95.
    pub baseline_factor: Option<f64>,
    /// The user metric's last reading (or why it could not be read) and its limit.
    pub metric: Option<(Result<f64, String>, f64)>,
}

#[cfg(test)]
mod tests {
    use super::ServiceTotals;

    #[test]
    fn totals_count_failovers_failbacks_and_the_last_failover_time() {
        let mut t = ServiceTotals::default();
        t.count("canary_step", Some(0), 10);
        assert_eq!(t, ServiceTotals::default());
        t.count("failover", Some(1_000), 4_500);
        t.count("failback", None, 9_000);
        t.count("failover", None, 20_000);
        assert_eq!(
            t,
            ServiceTotals {
                failovers: 2,
                failbacks: 1,
                last_failover_ms: Some(3_500),
            }
        );
    }
}
