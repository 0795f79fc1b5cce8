//! What the rest of the controller reads out of the health book (health stage: probe ->
//! **health** -> policy): each target's state with its checks for a decision or `status`, one
//! target's state alone for a quiet service, every target's local verdict for an agent.

use super::window::Judge;
use super::{agent, quorum_state, CheckHealth, HealthBook, State, TargetHealth};
use crate::probe::CheckId;

impl HealthBook {
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

    /// One target's state as [`HealthBook::service`] gives it, without building the whole
    /// view: what the loop reads of a quiet service's primary (thousands a second at fleet
    /// scale, so no allocation once the first evaluation has run).
    pub fn target_state(&self, service: &str, target: &str) -> Option<State> {
        let e = self
            .layout
            .get(service)?
            .iter()
            .find(|e| e.name == target)?;
        Some(match &e.track.last {
            Some(l) => l.state,
            None => quorum_state(&self.check_states(&e.ids), e.quorum),
        })
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
