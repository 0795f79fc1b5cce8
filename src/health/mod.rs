//! Health: probe results -> per-check state -> per-target state.
//!
//! Second stage of the flow, probe -> **health** -> policy -> plan -> provider -> verify. It
//! owns the thresholds (see [`threshold`]) and the quorum over a target's checks; policy only
//! ever sees a target as up, down or unknown, with the evidence that made it so, and the
//! statistics of a target's results ([`StepStats`]) that the canary gates read.
//!
//! In the layering (docs/architecture.md) it uses only `probe` and `config`.

pub mod agent;
pub mod baseline;
mod check;
pub mod flap;
pub mod history;
pub mod partition;
mod reshape;
mod samples;
pub mod threshold;
mod track;
pub mod vantage;
mod view;
pub mod window;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use tokio::time::Instant;

use crate::config::Service;
use crate::probe::{CheckId, Role};
use check::CheckTracker;
use partition::{PartitionConfig, PartitionDetector, PartitionStatus, TargetView};
pub use threshold::{State, Threshold};
use track::{TargetEntry, TargetTrack};
use vantage::VantageVerdict;
use window::Judge;

/// A target's probe results over a span of time (for the canary: the primary's since the
/// current step began, from [`HealthBook::stats_since`]); `policy::canary` gates on them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepStats {
    pub samples: u64,
    pub failures: u64,
    pub p95_latency_ms: Option<u64>,
}

impl StepStats {
    /// Failed share of the samples, 0.0 when there are none.
    pub fn error_rate(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.failures as f64 / self.samples as f64
        }
    }
}

/// The judged state of one check, with the last result as evidence for status and audit.
#[derive(Debug, Clone, Serialize)]
pub struct CheckHealth {
    pub check: CheckId,
    /// Liveness ("it answers") or readiness ("it can serve"); see [`quorum_state`].
    pub role: Role,
    pub state: State,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<u64>,
}

/// The judged state of one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetHealth {
    pub target: String,
    /// What policy acts on: vantage quorum over the (partition-gated) local view and the
    /// agents, then flap damping.
    pub state: State,
    /// The controller's own view (quorum over this target's checks).
    pub local: State,
    /// Held in its last stable state because it changes too often.
    pub flapping: bool,
    /// Who sees it how, when agents report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vantage: Option<VantageVerdict>,
    pub checks: Vec<CheckHealth>,
}

/// The 95th percentile of `values` (nearest rank), `None` when empty.
pub fn p95(mut values: Vec<u64>) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (values.len() * 95).div_ceil(100).max(1);
    values.get(rank - 1).copied()
}

/// Health of every target of every service, fed by probe results and agents' reports.
pub struct HealthBook {
    checks: BTreeMap<CheckId, CheckTracker>,
    /// service -> its targets in configuration order.
    layout: BTreeMap<String, Vec<TargetEntry>>,
    /// `None` only if the built-in configuration were invalid (unit-tested not to be).
    partition: Option<PartitionDetector>,
    /// The controller's uplink anchors: name -> check ids (see [`partition`]).
    uplink: Vec<(String, Vec<CheckId>)>,
    /// Keep each check's recent samples (the controller's gates and baseline need them).
    keep_samples: bool,
    /// Per service: bumped whenever one of its targets changes (see [`HealthBook::generation`]).
    generation: BTreeMap<String, u64>,
    /// The vantage quorum every target is judged with (see [`HealthBook::set_vantage`]), for
    /// targets added by a reload.
    vantage: reshape::VantageSettings,
}

/// The service name uplink anchors' checks are filed under (never a configured service:
/// service names cannot start with `@`).
pub const UPLINK: &str = "@uplink";

/// The controller's own name among the vantage points.
pub const CONTROLLER_VANTAGE: &str = "controller";

/// The id of check `index` of `target` in `service`; the runner and health agree on it.
pub fn check_id(service: &str, target: &str, index: usize) -> CheckId {
    CheckId::new(format!("{service}/{target}/{index}"))
}

impl HealthBook {
    /// Trackers for every check of `services`, all starting unknown.
    pub fn new<'a>(services: impl IntoIterator<Item = &'a Service>) -> Self {
        // Built as vectors of the exact size and turned into maps in one go: pushing grows a
        // vector to four slots and inserting in order leaves map nodes half empty, which at
        // 10,000 services cost about 8 MB.
        let mut checks = Vec::new();
        let mut layout = Vec::new();
        let vantage = reshape::VantageSettings::default();
        for s in services {
            let targets =
                reshape::entries_of(s, &vantage, |id, tracker| checks.push((id, tracker)));
            layout.push((s.name.clone(), targets));
        }
        HealthBook {
            checks: checks.into_iter().collect(),
            layout: layout.into_iter().collect(),
            partition: PartitionDetector::new(PartitionConfig::default()).ok(),
            uplink: Vec::new(),
            keep_samples: true,
            generation: BTreeMap::new(),
            vantage,
        }
    }

    /// Requires `required` of the vantage points (the controller and `agents`) to agree that
    /// a target is down; an agent silent for `stale_after` counts as unknown.
    pub fn set_vantage(
        &mut self,
        required: usize,
        agents: &[String],
        stale_after: std::time::Duration,
    ) {
        // One copy of each vantage id, shared by every target's quorum.
        let agents: Vec<std::sync::Arc<str>> = agents.iter().map(|a| a.as_str().into()).collect();
        for entry in self.layout.values_mut().flatten() {
            entry.track = TargetTrack::new(required, &agents, stale_after);
        }
        self.vantage = reshape::VantageSettings {
            required,
            agents,
            stale_after,
        };
    }

    /// Tracks the controller's uplink anchors; their checks are fed through
    /// [`HealthBook::observe`] under the ids [`check_id`]`(UPLINK, anchor, i)`.
    pub fn set_uplink(&mut self, anchors: &[crate::config::UplinkAnchor]) {
        self.uplink.clear();
        for a in anchors {
            let ids: Vec<CheckId> = a
                .checks
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let id = check_id(UPLINK, &a.name, i);
                    self.checks.insert(id.clone(), CheckTracker::new(c));
                    id
                })
                .collect();
            self.uplink.push((a.name.clone(), ids));
        }
    }

    /// The anchors' joint verdict and how many there are, `None` without anchors: up when
    /// any anchor answers (each anchor is up when any of its checks is), down when all are
    /// down, unknown until then.
    pub fn uplink_state(&self) -> Option<(State, usize)> {
        uplink_of(&self.checks, &self.uplink)
    }

    /// Feeds one agent's report; targets it does not know are ignored.
    pub fn report_agent(&mut self, report: &agent::AgentReport, now: Instant) {
        for t in &report.targets {
            let entry = self
                .layout
                .get_mut(&t.service)
                .and_then(|ts| ts.iter_mut().find(|e| e.name == t.target));
            if let Some(entry) = entry {
                entry.track.quorum.report(&report.agent, t.state, now);
            }
        }
    }

    /// Whether the controller suspects its own network (see [`partition`]).
    pub fn partition(&self) -> PartitionStatus {
        self.partition
            .as_ref()
            .map(|p| p.status().clone())
            .unwrap_or(PartitionStatus::Clear)
    }

    /// Recomputes every target: local quorum -> partition gate -> vantage quorum -> flap
    /// damping. Call once per control-loop tick, before reading [`HealthBook::service`].
    pub fn evaluate(&mut self, now: Instant) {
        let HealthBook {
            checks,
            layout,
            partition,
            generation,
            ..
        } = self;
        // Local quorum per target, without copying a name (10,000 services: every tick).
        for entry in layout.values_mut().flatten() {
            let roles = entry
                .ids
                .iter()
                .filter_map(|id| checks.get(id).map(|t| (t.role, t.judge.state())));
            let local = quorum_of(roles, entry.quorum);
            if entry.track.local != local {
                entry.track.local = local;
                entry.track.changed_at = now;
            }
        }
        let views: Vec<TargetView<'_>> = layout
            .iter()
            .flat_map(|(service, ts)| {
                ts.iter().map(move |e| TargetView {
                    service,
                    state: e.track.local,
                    changed_at: e.track.changed_at,
                })
            })
            .collect();
        let uplink = uplink_of(checks, &self.uplink);
        let status = match partition.as_mut() {
            Some(p) => p.evaluate(&views, uplink, now),
            None => PartitionStatus::Clear,
        };
        for (service, ts) in layout.iter_mut() {
            let mut moved = false;
            for entry in ts.iter_mut() {
                moved |= entry.track.evaluate(status.gate(entry.track.local), now);
            }
            if moved {
                *generation.entry(service.clone()).or_default() += 1;
            }
        }
    }

    /// A number that changes whenever any target of `service` changes state (as policy sees
    /// it, or locally, or its flapping flag, or how the vantage points vote). The loop skips re-deciding a quiet service whose
    /// number did not move.
    pub fn generation(&self, service: &str) -> u64 {
        self.generation.get(service).copied().unwrap_or(0)
    }
}

/// The uplink anchors' joint verdict; see [`HealthBook::uplink_state`].
fn uplink_of(
    checks: &BTreeMap<CheckId, CheckTracker>,
    anchors: &[(String, Vec<CheckId>)],
) -> Option<(State, usize)> {
    if anchors.is_empty() {
        return None;
    }
    let joint = |states: &[State]| {
        if states.contains(&State::Up) {
            State::Up
        } else if !states.is_empty() && states.iter().all(|x| *x == State::Down) {
            State::Down
        } else {
            State::Unknown
        }
    };
    let per_anchor: Vec<State> = anchors
        .iter()
        .map(|(_, ids)| {
            let s: Vec<State> = ids
                .iter()
                .filter_map(|id| checks.get(id).map(|t| t.judge.state()))
                .collect();
            joint(&s)
        })
        .collect();
    Some((joint(&per_anchor), per_anchor.len()))
}

/// [`quorum_state`] over `(role, state)` pairs, counted in one pass without allocating: the
/// evaluation runs it for every target on every tick.
fn quorum_of(checks: impl Iterator<Item = (Role, State)>, fail_quorum: usize) -> State {
    let (mut total, mut down, mut up) = (0, 0, 0);
    let (mut readiness, mut ready_down, mut ready_up) = (0, 0, 0);
    for (role, state) in checks {
        total += 1;
        down += usize::from(state == State::Down);
        up += usize::from(state == State::Up);
        if role == Role::Readiness {
            readiness += 1;
            ready_down += usize::from(state == State::Down);
            ready_up += usize::from(state == State::Up);
        }
    }
    let unknown = total - down - up;
    let not_ready = readiness > 0 && ready_down == readiness;
    let ready = readiness == 0 || ready_up > 0;
    if down >= fail_quorum || not_ready {
        State::Down
    } else if up > 0 && down + unknown < fail_quorum && ready {
        State::Up
    } else {
        State::Unknown
    }
}

/// A target is down when at least `fail_quorum` checks are down, up when it cannot reach that
/// quorum and at least one check is up, unknown otherwise.
///
/// Roles: liveness checks never keep a target in service on their own. When a target has
/// readiness checks and all of them are down, it is down whatever its liveness checks say
/// (the process answers but cannot serve: the "alive, not ready" trap that hides user-facing
/// errors), and it is up only while at least one readiness check is up. A target with only
/// liveness checks is judged on them (`validate` warns about it).
pub fn quorum_state(checks: &[CheckHealth], fail_quorum: usize) -> State {
    quorum_of(checks.iter().map(|c| (c.role, c.state)), fail_quorum)
}

#[cfg(test)]
mod tests;
