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
pub mod flap;
pub mod partition;
pub mod threshold;
pub mod vantage;
pub mod window;

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use tokio::time::Instant;

use crate::config::Service;
use crate::probe::{CheckId, ProbeResult, Role};
use flap::{FlapConfig, FlapDamper};
use partition::{PartitionConfig, PartitionDetector, PartitionStatus, TargetView};
pub use threshold::{State, Threshold};
use vantage::{VantageQuorum, VantageVerdict};
use window::{AnyJudge, Judge};

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

/// One target of a service: its checks, how many must fail, and its memory across
/// evaluations. Kept in the service's list in configuration order (no map keyed by two
/// names: 20,000 targets at 10,000 services).
struct TargetEntry {
    name: String,
    ids: Vec<CheckId>,
    /// How many failing checks take the target down.
    quorum: usize,
    track: TargetTrack,
}

/// Per-target memory across evaluations.
struct TargetTrack {
    local: State,
    changed_at: Instant,
    quorum: VantageQuorum,
    damper: Option<FlapDamper>,
    /// The last evaluation.
    last: Option<Evaluated>,
    /// (state, flapping, local) at the last evaluation, to notice a change.
    seen: Option<(State, bool, State)>,
}

impl TargetTrack {
    /// A fresh track: unknown, with a quorum over the controller and `agents`.
    fn new(
        required: usize,
        agents: &[std::sync::Arc<str>],
        stale_after: std::time::Duration,
    ) -> Self {
        let mut quorum = VantageQuorum::new(required, stale_after);
        quorum.expect(CONTROLLER_VANTAGE);
        for a in agents {
            quorum.expect(a.clone());
        }
        TargetTrack {
            local: State::Unknown,
            changed_at: Instant::now(),
            quorum,
            damper: FlapDamper::new(flap_config()).ok(),
            last: None,
            seen: None,
        }
    }

    /// The controller's (partition-gated) vote in, the vantage quorum and flap damping out;
    /// true when anything the loop reads changed.
    fn evaluate(&mut self, gated: State, now: Instant) -> bool {
        self.quorum.report(CONTROLLER_VANTAGE, gated, now);
        let verdict = self.quorum.verdict(now);
        let (state, flapping) = match self.damper.as_mut() {
            Some(d) => {
                let damped = d.observe(verdict.state, now);
                (damped.state, damped.flapping)
            }
            None => (verdict.state, false),
        };
        let seen = (state, flapping, self.local);
        let votes = verdict.state;
        let verdict = several(verdict);
        let votes_moved = self
            .last
            .as_ref()
            .is_none_or(|l| l.votes != votes || l.verdict != verdict);
        let moved = self.seen != Some(seen) || votes_moved;
        self.seen = Some(seen);
        self.last = Some(Evaluated {
            state,
            flapping,
            votes,
            verdict,
        });
        moved
    }
}

/// One target's last evaluation. The vantage verdict's lists are kept only when several
/// vantage points vote: with the controller alone they say nothing its state does not, and
/// keeping them cost an allocation per target (20,000 targets at 10,000 services).
struct Evaluated {
    state: State,
    flapping: bool,
    /// The vantage quorum's own state (before flap damping).
    votes: State,
    verdict: Option<Box<VantageVerdict>>,
}

/// The verdict, when more than one vantage point is in it.
fn several(verdict: VantageVerdict) -> Option<Box<VantageVerdict>> {
    let n = verdict.down.len() + verdict.up.len() + verdict.unknown.len() + verdict.stale.len();
    (n > 1).then(|| Box::new(verdict))
}

/// Flap damping: a single outage and recovery pass undamped; three changes within about a
/// half-life (a backend bouncing up and down) hold the target down until it calms.
fn flap_config() -> FlapConfig {
    FlapConfig {
        penalty: 1000.0,
        half_life: std::time::Duration::from_secs(30),
        suppress: 2500.0,
        reuse: 1000.0,
        max_penalty: 6000.0,
    }
}

impl CheckTracker {
    fn new(c: &crate::config::Check) -> Self {
        let judge = match c.window {
            Some((n, k)) => AnyJudge::window(n, k, n.min(3), c.max_latency)
                .unwrap_or_else(|_| AnyJudge::rise_fall(c.rise, c.fall, c.max_latency)),
            None => AnyJudge::rise_fall(c.rise, c.fall, c.max_latency),
        };
        CheckTracker {
            judge,
            role: c.spec.role(),
            last_error: None,
            last_latency_ms: None,
            samples: VecDeque::new(),
            sampled: false,
        }
    }
}

struct CheckTracker {
    judge: AnyJudge,
    role: Role,
    last_error: Option<String>,
    last_latency_ms: Option<u64>,
    /// Recent results with their wall time, for canary gates and baselines.
    samples: VecDeque<Sample>,
    /// Whether `samples` are kept for this check (a primary's checks).
    sampled: bool,
}

/// Results kept per check: enough for a canary step of several minutes at 1 s intervals.
const SAMPLES_KEPT: usize = 2048;

#[derive(Debug, Clone, Copy)]
struct Sample {
    at_ms: u64,
    ok: bool,
    latency_ms: u64,
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
}

/// The service name uplink anchors' checks are filed under (never a configured service:
/// service names cannot start with `@`).
pub const UPLINK: &str = "@uplink";

/// The controller's own name among the vantage points.
pub const CONTROLLER_VANTAGE: &str = "controller";

/// The id of check `index` of `target` in `service`; the runner and health agree on it.
pub fn check_id(service: &str, target: &str, index: usize) -> CheckId {
    CheckId(format!("{service}/{target}/{index}"))
}

impl HealthBook {
    /// Trackers for every check of `services`, all starting unknown.
    pub fn new<'a>(services: impl IntoIterator<Item = &'a Service>) -> Self {
        let mut checks = BTreeMap::new();
        let mut layout = BTreeMap::new();
        for s in services {
            let mut targets = Vec::new();
            for (ti, t) in s.targets.iter().enumerate() {
                let mut ids = Vec::new();
                for (i, c) in t.checks.iter().enumerate() {
                    let id = check_id(&s.name, &t.name, i);
                    let mut tracker = CheckTracker::new(c);
                    // Only the primary's results are read (baseline, canary gates).
                    tracker.sampled = ti == 0;
                    checks.insert(id.clone(), tracker);
                    ids.push(id);
                }
                targets.push(TargetEntry {
                    name: t.name.clone(),
                    ids,
                    quorum: t.fail_quorum,
                    track: TargetTrack::new(1, &[], std::time::Duration::from_secs(10)),
                });
            }
            layout.insert(s.name.clone(), targets);
        }
        HealthBook {
            checks,
            layout,
            partition: PartitionDetector::new(PartitionConfig::default()).ok(),
            uplink: Vec::new(),
            keep_samples: true,
            generation: BTreeMap::new(),
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

    fn check_states(&self, ids: &[CheckId]) -> Vec<CheckHealth> {
        ids.iter()
            .filter_map(|id| {
                self.checks.get(id).map(|t| CheckHealth {
                    check: id.clone(),
                    role: t.role,
                    state: t.judge.state(),
                    last_error: t.last_error.clone(),
                    last_latency_ms: t.last_latency_ms,
                })
            })
            .collect()
    }

    /// Feeds one probe result seen at `now_ms` (unix ms); unknown check ids are ignored (a
    /// reload removed the check).
    pub fn observe(&mut self, r: &ProbeResult, now_ms: u64) {
        if let Some(t) = self.checks.get_mut(&r.check) {
            t.judge.observe(r.outcome.is_ok(), r.outcome.latency);
            t.last_error = r.outcome.result.as_ref().err().map(|e| e.to_string());
            let latency_ms = u64::try_from(r.outcome.latency.as_millis()).unwrap_or(u64::MAX);
            t.last_latency_ms = Some(latency_ms);
            if !self.keep_samples || !t.sampled {
                return;
            }
            if t.samples.len() == SAMPLES_KEPT {
                t.samples.pop_front();
            }
            t.samples.push_back(Sample {
                at_ms: now_ms,
                ok: r.outcome.is_ok(),
                latency_ms,
            });
        }
    }

    /// A target's samples since `since_ms`, oldest first per check. Walks back from the newest
    /// only as far as needed: the cost is the answer's size, not the samples kept.
    fn target_samples(&self, service: &str, target: &str, since_ms: u64) -> Vec<Sample> {
        let mut out = Vec::new();
        for t in self.target_checks(service, target) {
            let start = out.len();
            out.extend(
                t.samples
                    .iter()
                    .rev()
                    .take_while(|s| s.at_ms >= since_ms)
                    .copied(),
            );
            out[start..].reverse();
        }
        out
    }

    fn target_checks<'a>(
        &'a self,
        service: &str,
        target: &str,
    ) -> impl Iterator<Item = &'a CheckTracker> + 'a {
        self.layout
            .get(service)
            .and_then(|ts| ts.iter().find(|e| e.name == target))
            .map(|e| e.ids.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|id| self.checks.get(id))
    }

    /// Forgets a target's samples older than `before_ms`: the loop calls it once it has taken
    /// what it needs (the baseline has learnt them; no canary step reads them), so memory
    /// stays a few samples per check however long the controller runs, not the 2,048 kept at most.
    pub fn release_samples(&mut self, service: &str, target: &str, before_ms: u64) {
        let Some(ids) = self
            .layout
            .get(service)
            .and_then(|ts| ts.iter().find(|e| e.name == target))
            .map(|e| e.ids.clone())
        else {
            return;
        };
        for id in ids {
            if let Some(t) = self.checks.get_mut(&id) {
                while t.samples.front().is_some_and(|s| s.at_ms < before_ms) {
                    t.samples.pop_front();
                }
                if t.samples.is_empty() && t.samples.capacity() > 64 {
                    t.samples.shrink_to(16);
                }
            }
        }
    }

    /// Stops keeping samples (a probe agent reports states, never samples).
    pub fn without_samples(mut self) -> Self {
        self.keep_samples = false;
        self
    }

    /// Every target's state judged from this process's own probes alone (quorum over its
    /// checks; no other vantage point, no damping): what an agent reports.
    pub fn local_states(&self) -> Vec<agent::TargetReport> {
        self.layout
            .iter()
            .flat_map(|(service, targets)| {
                targets.iter().map(move |e| {
                    let checks = self.check_states(&e.ids);
                    agent::TargetReport {
                        service: service.clone(),
                        target: e.name.clone(),
                        state: quorum_state(&checks, e.quorum),
                    }
                })
            })
            .collect()
    }

    /// A target's results since `since_ms` as (unix ms, ok, latency ms), for its baseline.
    pub fn samples_since(
        &self,
        service: &str,
        target: &str,
        since_ms: u64,
    ) -> Vec<(u64, bool, u64)> {
        self.target_samples(service, target, since_ms)
            .into_iter()
            .map(|s| (s.at_ms, s.ok, s.latency_ms))
            .collect()
    }

    /// A target's results since `since_ms`: count, failures and p95 latency of successes.
    pub fn stats_since(&self, service: &str, target: &str, since_ms: u64) -> StepStats {
        let samples = self.target_samples(service, target, since_ms);
        StepStats {
            samples: samples.len() as u64,
            failures: samples.iter().filter(|s| !s.ok).count() as u64,
            p95_latency_ms: p95(samples
                .iter()
                .filter(|s| s.ok)
                .map(|s| s.latency_ms)
                .collect()),
        }
    }

    /// The health of every target of `service`, in configuration (priority) order, as of the
    /// last [`HealthBook::evaluate`] (the local view alone before the first one).
    pub fn service(&self, service: &str) -> Vec<TargetHealth> {
        let Some(targets) = self.layout.get(service) else {
            return Vec::new();
        };
        targets
            .iter()
            .map(|e| {
                let checks = self.check_states(&e.ids);
                let local = quorum_state(&checks, e.quorum);
                let (state, flapping, vantage) = match &e.track.last {
                    Some(l) => (l.state, l.flapping, l.verdict.as_deref().cloned()),
                    None => (local, false, None),
                };
                TargetHealth {
                    target: e.name.clone(),
                    state,
                    local,
                    flapping,
                    vantage,
                    checks,
                }
            })
            .collect()
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
