//! Health: probe results -> per-check state -> per-target state.
//!
//! Second stage of the flow, probe -> **health** -> policy -> plan -> provider -> verify. It
//! owns the thresholds (see [`threshold`]) and the quorum over a target's checks; policy only
//! ever sees a target as up, down or unknown, with the evidence that made it so.

pub mod baseline;
pub mod flap;
pub mod partition;
pub mod threshold;
pub mod vantage;
pub mod window;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Service;
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

    /// Feeds one probe result; unknown check ids are ignored (a reload removed the check).
    pub fn observe(&mut self, r: &ProbeResult) {
        if let Some(t) = self.checks.get_mut(&r.check) {
            t.threshold.observe(r.outcome.is_ok());
            t.last_error = r.outcome.result.as_ref().err().map(|e| e.to_string());
            t.last_latency_ms = u64::try_from(r.outcome.latency.as_millis()).ok();
        }
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
    fn quorum_of_two_needs_both_checks_down() {
        use State::*;
        assert_eq!(quorum_state(&[ch(Down), ch(Up)], 2), Unknown);
        assert_eq!(quorum_state(&[ch(Down), ch(Down)], 2), Down);
        assert_eq!(quorum_state(&[ch(Up), ch(Up)], 2), Up);
        assert_eq!(quorum_state(&[ch(Down), ch(Up)], 1), Down);
        assert_eq!(quorum_state(&[ch(Unknown), ch(Up)], 1), Unknown);
        assert_eq!(quorum_state(&[ch(Unknown), ch(Up)], 2), Up);
    }
}
