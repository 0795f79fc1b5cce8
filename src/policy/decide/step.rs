//! Applying a decision: the [`Step`] under construction (next state, alert, hook), the
//! `min_change_interval` rule that may hold its traffic move back (rule 8), and what a phase
//! publishes.
//!
//! Part of `policy` (probe -> health -> **policy** -> plan): every path of [`super::decide`]
//! ends here, in [`Step::keep`] or [`Step::go`].

use super::{ms, state_of, Decision, HookPoint, Observed};
use crate::config::Service;
use crate::health::State;
use crate::policy::canary::plan_for;
use crate::policy::{Phase, Publication, ServiceState};

/// One decision being made: the inputs, and the next state with what goes with it.
pub(super) struct Step<'a> {
    pub(super) service: &'a Service,
    /// The persisted state the decision starts from.
    pub(super) state: &'a ServiceState,
    pub(super) obs: &'a Observed<'a>,
    /// The state to persist if the decision goes ahead.
    pub(super) next: ServiceState,
    pub(super) alert: Option<String>,
    pub(super) hook: Option<HookPoint>,
    /// The move leaves a target that failed its canary gate (health alone cannot tell).
    pub(super) gate_retreat: bool,
}

/// The targets answers go to under `p`.
fn receiving<'p>(service: &'p Service, p: &'p Publication) -> Vec<&'p str> {
    match p {
        Publication::Target { target, .. } => vec![target.as_str()],
        Publication::Split {
            primary, backup, ..
        } => vec![primary.as_str(), backup.as_str()],
        Publication::All { .. } => service.targets.iter().map(|t| t.name.as_str()).collect(),
    }
}

impl Step<'_> {
    /// Leaves state and records as they are: nothing is due, or it must wait for evidence.
    pub(super) fn keep(self, reason: String) -> Decision {
        Decision {
            state: self.state.clone(),
            desired: self.state.published.clone(),
            reason,
            alert: self.alert,
            held: None,
            hook: None,
        }
    }

    /// Moves to `next` and publishes `desired`, unless `min_change_interval` holds the traffic
    /// move back (rule 8): then the state and records stay and `held` says why.
    pub(super) fn go(self, desired: Option<Publication>, reason: String) -> Decision {
        let Step {
            service,
            state,
            obs,
            next,
            alert,
            hook,
            gate_retreat,
        } = self;
        let now = obs.now_ms;
        let moves_traffic =
            desired.is_some() && desired != state.published && next.phase != state.phase;
        let retreat = gate_retreat
            || state.published.as_ref().is_some_and(|p| {
                receiving(service, p)
                    .iter()
                    .any(|t| state_of(obs.health, t) == State::Down)
            });
        if moves_traffic && !retreat {
            if let Some(last) = state.last_change_ms {
                let wait = ms(service.min_change_interval);
                let since = now.saturating_sub(last);
                if since < wait {
                    return Decision {
                        state: state.clone(),
                        desired: state.published.clone(),
                        reason,
                        alert,
                        held: Some(format!(
                            "min_change_interval: last change {}s ago, next allowed in {}s",
                            since / 1000,
                            (wait - since).div_ceil(1000)
                        )),
                        hook: None,
                    };
                }
            }
        }
        Decision {
            state: next,
            desired,
            reason,
            alert,
            held: None,
            hook,
        }
    }
}

/// The canary publication giving the primary `share` percent (all of it from 100 on).
pub(super) fn split(service: &Service, backup: &str, share: u32) -> Publication {
    if share >= 100 {
        Publication::Target {
            target: service.primary().name.clone(),
            ttl: service.failover_ttl,
        }
    } else {
        Publication::Split {
            primary: service.primary().name.clone(),
            backup: backup.to_string(),
            primary_share: share,
            ttl: service.failover_ttl,
        }
    }
}

/// What a phase publishes when nothing moves it on (used while held).
pub(super) fn phase_publication(
    service: &Service,
    state: &ServiceState,
    original_ttl: u32,
) -> Option<Publication> {
    let primary = service.primary().name.clone();
    match &state.phase {
        Phase::Normal => Some(Publication::Target {
            target: primary,
            ttl: original_ttl,
        }),
        Phase::Restoring { .. } | Phase::Lowering { .. } => Some(Publication::Target {
            target: primary,
            ttl: service.failover_ttl,
        }),
        Phase::FailedOver { target, .. } => Some(Publication::Target {
            target: target.clone(),
            ttl: service.failover_ttl,
        }),
        Phase::Canary { backup, step, .. } => {
            let (steps, _) = plan_for(service, state);
            Some(split(
                service,
                backup,
                steps.get(*step).copied().unwrap_or(100),
            ))
        }
        Phase::AllDown { .. } => None,
    }
}
