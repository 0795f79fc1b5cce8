//! The failover/failback decision: one pure step of the per-service state machine.
//!
//! Part of `policy` (probe -> health -> **policy** -> plan). Rules, in order:
//! 1. Walk targets by priority: the first `Up` target wins; an `Unknown` target that is not the
//!    active one holds everything (never fail over, or back, on missing evidence).
//! 2. A backup wins -> fail over at once, with the failover TTL.
//! 3. The primary wins while failed over -> return only after it was up for `stable_for`
//!    (automatic mode) or never (manual mode), keeping the failover TTL (`Restoring`).
//! 4. `restore_ttl_after` in `Restoring` -> publish the original TTL (`Normal`).
//! 5. Nothing is up -> the all-down policy, with an alert; records are never withdrawn.
//! 6. A change sooner than `min_change_interval` after the last one is held back.

use serde::Serialize;

use super::{Phase, Publication, ServiceState};
use crate::config::{AllDownPolicy, FailbackMode, Service};
use crate::health::{State, TargetHealth};

/// The outcome of one decision step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The state to persist (before any change is applied).
    pub state: ServiceState,
    /// What should be published now; `None` = leave the records as they are.
    pub desired: Option<Publication>,
    /// Why, in words for the audit trail and status.
    pub reason: String,
    /// A loud condition an operator must see (all targets down).
    pub alert: Option<String>,
    /// A change that is due but held back by a safety rule, and which rule.
    pub held: Option<String>,
}

/// What the controller observed for the service beyond its persisted state.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub health: &'a [TargetHealth],
    /// Since when (unix ms) the primary has been continuously up, if it is up.
    pub primary_up_since_ms: Option<u64>,
    pub now_ms: u64,
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
        Phase::Normal | Phase::Restoring { .. } => Some(service.primary().name.as_str()),
        Phase::FailedOver { target, .. } => Some(target.as_str()),
        Phase::AllDown { .. } => match &state.published {
            Some(Publication::Target { target, .. }) => Some(target.as_str()),
            _ => None,
        },
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

/// One step of the state machine. See the module docs for the rules.
pub fn decide(service: &Service, state: &ServiceState, obs: &Observed) -> Decision {
    let now = obs.now_ms;
    let original_ttl = state.original_ttl.unwrap_or(service.ttl);
    let primary = service.primary().name.as_str();
    let active = active_target(service, state);
    let keep = |reason: String| Decision {
        state: state.clone(),
        desired: state.published.clone(),
        reason,
        alert: None,
        held: None,
    };
    let mut next = state.clone();
    let (desired, reason) = match choose(service, obs.health, active) {
        Choice::Hold(why) => return keep(why),
        Choice::AllDown => {
            let since_ms = match state.phase {
                Phase::AllDown { since_ms } => since_ms,
                _ => now,
            };
            next.phase = Phase::AllDown { since_ms };
            let alert = format!(
                "ALL TARGETS DOWN for service `{}`: applying all-down policy {:?}",
                service.name, service.all_down
            );
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
            return finish(
                service,
                state,
                next,
                desired,
                "every target is down".into(),
                Some(alert),
                now,
            );
        }
        Choice::Target(chosen) if chosen == primary => match &state.phase {
            Phase::Normal => (
                Some(Publication::Target {
                    target: primary.into(),
                    ttl: original_ttl,
                }),
                "primary healthy".to_string(),
            ),
            Phase::Restoring { since_ms } => {
                if now.saturating_sub(*since_ms) >= ms(service.restore_ttl_after) {
                    next.phase = Phase::Normal;
                    (
                        Some(Publication::Target { target: primary.into(), ttl: original_ttl }),
                        format!("primary stable since the return; restoring original TTL {original_ttl}"),
                    )
                } else {
                    (
                        Some(Publication::Target {
                            target: primary.into(),
                            ttl: service.failover_ttl,
                        }),
                        "primary back; failover TTL kept until the restore time".to_string(),
                    )
                }
            }
            Phase::FailedOver { .. } | Phase::AllDown { .. } => {
                let up_for = obs
                    .primary_up_since_ms
                    .map(|s| now.saturating_sub(s))
                    .unwrap_or(0);
                if service.failback == FailbackMode::Manual {
                    return keep(format!(
                        "primary `{primary}` is healthy; failback is manual: waiting for `dnsfailback failback {}`",
                        service.name
                    ));
                }
                if up_for < ms(service.stable_for) {
                    return keep(format!(
                        "failback pending: primary `{primary}` healthy for {}s of the {}s stable time",
                        up_for / 1000,
                        service.stable_for.as_secs()
                    ));
                }
                next.phase = Phase::Restoring { since_ms: now };
                (
                    Some(Publication::Target {
                        target: primary.into(),
                        ttl: service.failover_ttl,
                    }),
                    format!(
                        "failback: primary `{primary}` healthy for {}s",
                        up_for / 1000
                    ),
                )
            }
        },
        Choice::Target(chosen) => {
            let since_ms = match &state.phase {
                Phase::FailedOver { target, since_ms } if target == chosen => *since_ms,
                _ => now,
            };
            next.phase = Phase::FailedOver {
                target: chosen.to_string(),
                since_ms,
            };
            let why = match active {
                Some(a) if a == chosen => format!("failed over to `{chosen}`"),
                Some(a) => format!("failover: `{a}` is down; moving traffic to `{chosen}`"),
                None => format!("failover to `{chosen}`"),
            };
            (
                Some(Publication::Target {
                    target: chosen.to_string(),
                    ttl: service.failover_ttl,
                }),
                why,
            )
        }
    };
    finish(service, state, next, desired, reason, None, now)
}

fn finish(
    service: &Service,
    state: &ServiceState,
    mut next: ServiceState,
    desired: Option<Publication>,
    reason: String,
    alert: Option<String>,
    now: u64,
) -> Decision {
    let changes = desired.is_some() && desired != state.published;
    if changes {
        if let Some(last) = state.last_change_ms {
            let wait = ms(service.min_change_interval);
            if now.saturating_sub(last) < wait {
                return Decision {
                    state: state.clone(),
                    desired: state.published.clone(),
                    reason,
                    alert,
                    held: Some(format!(
                        "min_change_interval: last change {}s ago, next allowed in {}s",
                        now.saturating_sub(last) / 1000,
                        (wait - now.saturating_sub(last)).div_ceil(1000)
                    )),
                };
            }
        }
    }
    if next.phase == state.phase && !changes {
        next = state.clone();
    }
    Decision {
        state: next,
        desired,
        reason,
        alert,
        held: None,
    }
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
