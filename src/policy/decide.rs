//! The failover/failback decision: one pure step of the per-service state machine.
//!
//! Part of `policy` (probe -> health -> **policy** -> plan). Rules, in order:
//! 1. A held service (operator `hold`, frozen gate, abort) changes nothing, except that a
//!    frozen canary whose primary went down moves all traffic back to the backup.
//! 2. Walk targets by priority: the first `Up` target wins; an `Unknown` target that is not the
//!    active one holds everything (never fail over, or back, on missing evidence).
//! 3. A backup wins -> fail over at once, with the failover TTL ("fail fast").
//! 4. The primary wins while failed over -> after `stable_for` of continuous health (automatic
//!    mode; never for manual mode or an operator's failover), start the canary: the primary's
//!    share rises step by step, each step held for `step_hold` and gated on the primary's error
//!    rate and latency against limits and its own baseline ("come back slow"). A failing gate
//!    freezes or rolls back, as configured.
//! 5. After the last step (`Restoring`), `restore_ttl_after` -> the original TTL (`Normal`).
//! 6. A planned switch (`Lowering`) publishes the failover TTL first and switches only after
//!    the old TTL plus a margin has passed since the lowered TTL was verified.
//! 7. Nothing is up -> the all-down policy, with an alert; records are never withdrawn.
//! 8. A traffic move sooner than `min_change_interval` after the last one is held back,
//!    unless it takes traffic away from a target that is down or failed its canary gate
//!    (failover, rollback, all-down, a backup lost during the canary): "fail fast, come back
//!    slow" — the interval spaces moves towards risk, never a retreat from an outage.
//!
//! Here: the types, the choice of a target and rules 1, 3 and 7. [`step`] applies a decision
//! (rule 8), [`primary`] follows the phase once the primary is the best target (rules 4 to 6)
//! and [`failback`] runs the canary of rule 4.

use serde::Serialize;

use super::{Hold, Phase, Publication, ServiceState};
use crate::config::{AllDownPolicy, Service};
use crate::health::StepStats;
use crate::health::{State, TargetHealth};

mod failback;
mod primary;
mod step;

use step::{phase_publication, Step};

/// A side effect the control loop must run with this decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookPoint {
    /// Must pass before the first canary step is published.
    PreFailback,
    /// Runs after a canary step is published.
    PostStep,
}

/// The outcome of one decision step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The state to persist (before any change is applied).
    pub state: ServiceState,
    /// What should be published now; `None` = leave the records as they are.
    pub desired: Option<Publication>,
    /// Why, in words for the audit trail and status.
    pub reason: String,
    /// A loud condition an operator must see (all targets down, frozen canary).
    pub alert: Option<String>,
    /// A change that is due but held back by a safety rule, and which rule.
    pub held: Option<String>,
    /// A hook to run before (pre-failback) or after (post-step) this decision's change.
    pub hook: Option<HookPoint>,
}

/// What the controller observed for the service beyond its persisted state.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub health: &'a [TargetHealth],
    /// Since when (unix ms) the primary has been continuously up, if it is up.
    pub primary_up_since_ms: Option<u64>,
    pub now_ms: u64,
    /// The primary's probe results since the current canary step began.
    pub step_stats: StepStats,
    /// The primary's normal p95 probe latency, learnt before the outage.
    pub baseline_p95_ms: Option<u64>,
    /// The user's metric for the metrics gate, when configured and read.
    pub metric: Option<Result<f64, String>>,
}

enum Choice<'a> {
    Target(&'a str),
    Hold(String),
    AllDown,
}

fn state_of(health: &[TargetHealth], target: &str) -> State {
    health
        .iter()
        .find(|h| h.target == target)
        .map(|h| h.state)
        .unwrap_or(State::Unknown)
}

fn active_target<'a>(service: &'a Service, state: &'a ServiceState) -> Option<&'a str> {
    match &state.phase {
        Phase::Normal | Phase::Restoring { .. } | Phase::Canary { .. } | Phase::Lowering { .. } => {
            Some(service.primary().name.as_str())
        }
        Phase::FailedOver { target, .. } => Some(target.as_str()),
        // Nothing is trusted after everything was down: leaving all-down needs a target that
        // is really up, not merely unknown (as right after a restart).
        Phase::AllDown { .. } => None,
    }
}

fn choose<'a>(service: &'a Service, health: &[TargetHealth], active: Option<&str>) -> Choice<'a> {
    for t in &service.targets {
        match state_of(health, &t.name) {
            State::Up => return Choice::Target(&t.name),
            State::Unknown if Some(t.name.as_str()) == active => return Choice::Target(&t.name),
            State::Unknown => {
                return Choice::Hold(format!(
                    "health of `{}` is unknown; waiting for evidence before moving traffic",
                    t.name
                ))
            }
            State::Down => continue,
        }
    }
    Choice::AllDown
}

/// A duration in milliseconds, saturating.
fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One step of the state machine. See the module docs for the rules.
pub fn decide(service: &Service, state: &ServiceState, obs: &Observed) -> Decision {
    let original_ttl = state.original_ttl.unwrap_or(service.ttl);
    let primary = service.primary().name.as_str();
    let active = active_target(service, state);
    let s = Step {
        service,
        state,
        obs,
        next: state.clone(),
        alert: None,
        hook: None,
        gate_retreat: false,
    };
    if let Some(hold) = &state.hold {
        let frozen_canary_lost_primary = matches!(state.phase, Phase::Canary { .. })
            && state_of(obs.health, primary) == State::Down;
        if !frozen_canary_lost_primary {
            return held(s, hold, original_ttl);
        }
    }
    let chosen = match choose(service, obs.health, active) {
        Choice::Hold(why) => return s.keep(why),
        Choice::AllDown => return all_down(s),
        Choice::Target(c) => c,
    };
    if chosen != primary {
        return fail_over(s, chosen, active);
    }
    primary::primary_wins(s, original_ttl)
}

/// Rule 1: a held service stays in its phase (not called for a frozen canary whose primary
/// went down: that one moves all traffic back to the backup).
fn held(mut s: Step<'_>, hold: &Hold, original_ttl: u32) -> Decision {
    let (service, state) = (s.service, s.state);
    s.alert = (hold.by == "gate").then(|| format!("canary frozen: {}", hold.reason));
    if hold.pinned {
        // A governed change (plan, rollback) set the records: nothing is published over it.
        return s.go(None, format!("held by {}: {}", hold.by, hold.reason));
    }
    // Frozen in its phase: the records follow the phase (an abort moved it), no
    // automatic transition happens.
    let desired =
        phase_publication(service, state, original_ttl).or_else(|| state.published.clone());
    s.go(desired, format!("held by {}: {}", hold.by, hold.reason))
}

/// Rule 7: nothing is up; the all-down policy says what stays published, with an alert.
fn all_down(mut s: Step<'_>) -> Decision {
    let (service, state) = (s.service, s.state);
    let since_ms = match state.phase {
        Phase::AllDown { since_ms } => since_ms,
        _ => s.obs.now_ms,
    };
    s.next.phase = Phase::AllDown { since_ms };
    s.alert = Some(format!(
        "ALL TARGETS DOWN for service `{}`: applying all-down policy {:?}",
        service.name, service.all_down
    ));
    let desired = match &service.all_down {
        AllDownPolicy::KeepLast => state.published.clone(),
        AllDownPolicy::PublishAll => Some(Publication::All {
            ttl: service.failover_ttl,
        }),
        AllDownPolicy::Sorry(t) => Some(Publication::Target {
            target: t.clone(),
            ttl: service.failover_ttl,
        }),
    };
    s.go(desired, "every target is down".into())
}

/// Rule 3: a backup wins; fail over (or stay), whatever was in progress.
fn fail_over(mut s: Step<'_>, chosen: &str, active: Option<&str>) -> Decision {
    let (service, state) = (s.service, s.state);
    let primary = service.primary().name.as_str();
    let (since_ms, manual) = match &state.phase {
        Phase::FailedOver {
            target,
            since_ms,
            manual,
        } if target == chosen => (*since_ms, *manual),
        _ => (s.obs.now_ms, false),
    };
    s.next.phase = Phase::FailedOver {
        target: chosen.to_string(),
        since_ms,
        manual,
    };
    s.next.canary_override = None;
    let why = match (&state.phase, active) {
        (Phase::Canary { .. }, _) => format!(
            "primary `{primary}` went down during the canary; all traffic back to `{chosen}`"
        ),
        (_, Some(a)) if a == chosen => format!("failed over to `{chosen}`"),
        (_, Some(a)) => format!("failover: `{a}` is down; moving traffic to `{chosen}`"),
        (_, None) => format!("failover to `{chosen}`"),
    };
    s.go(
        Some(Publication::Target {
            target: chosen.to_string(),
            ttl: service.failover_ttl,
        }),
        why,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
