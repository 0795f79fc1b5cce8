//! Health: probe results -> per-check state -> per-target state.
//!
//! Second stage of the flow, probe -> **health** -> policy -> plan -> provider -> verify. It
//! owns the thresholds (see [`threshold`]) and the quorum over a target's checks; policy only
//! ever sees a target as up, down or unknown, with the evidence that made it so.

pub mod agent;
pub mod baseline;
pub mod flap;
pub mod partition;
pub mod threshold;
pub mod vantage;
pub mod window;

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::config::Service;
use crate::policy::canary::StepStats;
use crate::probe::{CheckId, ProbeResult};
pub use threshold::{State, Threshold};

/// The judged state of one check, with the last result as evidence for status and audit.
#[derive(Debug, Clone, Serialize)]
pub struct CheckHealth {
    pub check: CheckId,
    pub state: State,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<u64>,
}

/// The judged state of one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetHealth {
    pub target: String,
    pub state: State,
    pub checks: Vec<CheckHealth>,
}

struct CheckTracker {
    threshold: Threshold,
    last_error: Option<String>,
    last_latency_ms: Option<u64>,
    /// Recent results with their wall time, for canary gates and baselines.
    samples: VecDeque<Sample>,
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

/// Health of every target of every service, fed by probe results.
pub struct HealthBook {
    checks: BTreeMap<CheckId, CheckTracker>,
    /// service -> target -> (check ids, fail quorum)
    layout: BTreeMap<String, Vec<(String, Vec<CheckId>, usize)>>,
}

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
            for t in &s.targets {
                let mut ids = Vec::new();
                for (i, c) in t.checks.iter().enumerate() {
                    let id = check_id(&s.name, &t.name, i);
                    checks.insert(
                        id.clone(),
                        CheckTracker {
                            threshold: Threshold::new(c.rise, c.fall),
                            last_error: None,
                            last_latency_ms: None,
                            samples: VecDeque::new(),
                        },
                    );
                    ids.push(id);
                }
                targets.push((t.name.clone(), ids, t.fail_quorum));
            }
            layout.insert(s.name.clone(), targets);
        }
        HealthBook { checks, layout }
    }

    /// Feeds one probe result seen at `now_ms` (unix ms); unknown check ids are ignored (a
    /// reload removed the check).
    pub fn observe(&mut self, r: &ProbeResult, now_ms: u64) {
        if let Some(t) = self.checks.get_mut(&r.check) {
            t.threshold.observe(r.outcome.is_ok());
            t.last_error = r.outcome.result.as_ref().err().map(|e| e.to_string());
            let latency_ms = u64::try_from(r.outcome.latency.as_millis()).unwrap_or(u64::MAX);
            t.last_latency_ms = Some(latency_ms);
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

    fn samples_since(&self, service: &str, target: &str, since_ms: u64) -> Vec<Sample> {
        self.layout
            .get(service)
            .and_then(|ts| ts.iter().find(|(name, _, _)| name == target))
            .map(|(_, ids, _)| {
                ids.iter()
                    .filter_map(|id| self.checks.get(id))
                    .flat_map(|t| t.samples.iter().filter(|s| s.at_ms >= since_ms).copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every target's state judged from this process's own probes alone (quorum over its
    /// checks; no other vantage point, no damping): what an agent reports.
    pub fn local_states(&self) -> Vec<agent::TargetReport> {
        self.layout
            .iter()
            .flat_map(|(service, targets)| {
                targets.iter().map(move |(target, ids, quorum)| {
                    let checks: Vec<CheckHealth> = ids
                        .iter()
                        .filter_map(|id| {
                            self.checks.get(id).map(|t| CheckHealth {
                                check: id.clone(),
                                state: t.threshold.state(),
                                last_error: None,
                                last_latency_ms: None,
                            })
                        })
                        .collect();
                    agent::TargetReport { service: service.clone(), target: target.clone(), state: quorum_state(&checks, *quorum) }
                })
            })
            .collect()
    }

    /// A target's results since `since_ms`: count, failures and p95 latency of successes.
    pub fn stats_since(&self, service: &str, target: &str, since_ms: u64) -> StepStats {
        let samples = self.samples_since(service, target, since_ms);
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

    /// Latencies of a target's successful probes since `since_ms`, for its baseline.
    pub fn ok_latencies_since(&self, service: &str, target: &str, since_ms: u64) -> Vec<u64> {
        self.samples_since(service, target, since_ms)
            .into_iter()
            .filter(|s| s.ok)
            .map(|s| s.latency_ms)
            .collect()
    }

    /// The health of every target of `service`, in configuration (priority) order.
    pub fn service(&self, service: &str) -> Vec<TargetHealth> {
        let Some(targets) = self.layout.get(service) else {
            return Vec::new();
        };
        targets
            .iter()
            .map(|(name, ids, quorum)| {
                let checks: Vec<CheckHealth> = ids
                    .iter()
                    .filter_map(|id| {
                        self.checks.get(id).map(|t| CheckHealth {
                            check: id.clone(),
                            state: t.threshold.state(),
                            last_error: t.last_error.clone(),
                            last_latency_ms: t.last_latency_ms,
                        })
                    })
                    .collect();
                TargetHealth {
                    target: name.clone(),
                    state: quorum_state(&checks, *quorum),
                    checks,
                }
            })
            .collect()
    }
}

/// A target is down when at least `fail_quorum` checks are down, up when it cannot reach that
/// quorum and at least one check is up, unknown otherwise.
pub fn quorum_state(checks: &[CheckHealth], fail_quorum: usize) -> State {
    let down = checks.iter().filter(|c| c.state == State::Down).count();
    let up = checks.iter().filter(|c| c.state == State::Up).count();
    let unknown = checks.len() - down - up;
    if down >= fail_quorum {
        State::Down
    } else if up > 0 && down + unknown < fail_quorum {
        State::Up
    } else {
        State::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(state: State) -> CheckHealth {
        CheckHealth {
            check: CheckId("s/t/0".into()),
            state,
            last_error: None,
            last_latency_ms: None,
        }
    }

    #[test]
    fn p95_is_nearest_rank() {
        assert_eq!(p95(vec![]), None);
        assert_eq!(p95(vec![7]), Some(7));
        assert_eq!(p95((1..=100).collect()), Some(95));
        assert_eq!(p95((1..=10).rev().collect()), Some(10));
    }

    #[test]
    fn quorum_of_two_needs_both_checks_down() {
        use State::*;
        assert_eq!(
            quorum_state(&[ch(Down), ch(Up)], 2),
            Up,
            "one failing check of two is not a quorum"
        );
        assert_eq!(quorum_state(&[ch(Down), ch(Down)], 2), Down);
        assert_eq!(quorum_state(&[ch(Up), ch(Up)], 2), Up);
        assert_eq!(quorum_state(&[ch(Down), ch(Up)], 1), Down);
        assert_eq!(quorum_state(&[ch(Unknown), ch(Up)], 1), Unknown);
        assert_eq!(quorum_state(&[ch(Unknown), ch(Up)], 2), Up);
    }
}
