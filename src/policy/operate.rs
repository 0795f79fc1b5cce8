//! Operator commands applied to a service's state: pure, so every refusal is unit-tested.
//!
//! Part of `policy`: the control loop calls [`apply`] when a command arrives from the admin
//! API; the returned state is persisted, audited with the operator as actor, and acted on by
//! the next [`super::decide`] step. Refusals explain what state the service is in.

use super::command::Operation;
use super::{CanaryOverride, Hold, Phase, Publication, ServiceState};
use crate::config::Service;
use crate::health::{State, TargetHealth};

fn state_of(health: &[TargetHealth], target: &str) -> State {
    health
        .iter()
        .find(|h| h.target == target)
        .map(|h| h.state)
        .unwrap_or(State::Unknown)
}

fn check_steps(steps: &[u32]) -> Result<(), String> {
    let ascending = steps.windows(2).all(|w| w[0] < w[1]);
    if steps.is_empty()
        || !ascending
        || steps.iter().any(|s| !(1..=100).contains(s))
        || steps.last() != Some(&100)
    {
        return Err(format!(
            "steps {steps:?} must be ascending percentages ending at 100, e.g. 10,50,100"
        ));
    }
    Ok(())
}

/// Applies `op` by `actor` at `now_ms`; returns the new state and a message for the operator.
///
/// Dispatches to one step per command so each command's checks and effects read on their own.
pub fn apply(
    service: &Service,
    state: &ServiceState,
    op: &Operation,
    actor: &str,
    now_ms: u64,
    health: &[TargetHealth],
) -> Result<(ServiceState, String), String> {
    match op {
        Operation::Hold => hold(service, state, actor, now_ms),
        Operation::Resume => resume(service, state, now_ms),
        Operation::Abort => abort(service, state, actor, now_ms),
        Operation::Failback { steps, hold, now } => {
            let request = FailbackRequest {
                steps: steps.as_deref(),
                hold: *hold,
                now: *now,
            };
            failback(service, state, &request, actor, now_ms, health)
        }
        Operation::Failover { to } => failover(service, state, to.as_deref(), health),
        // They change records, so the control loop carries them out (`reconcile::govern`).
        Operation::Apply { .. } | Operation::Rollback { .. } => Err(format!(
            "`{}` is carried out by the control loop, not as a state change",
            op.verb()
        )),
    }
}

/// The options of a `failback` command, borrowed so [`failback`] keeps a short signature.
struct FailbackRequest<'a> {
    steps: Option<&'a [u32]>,
    hold: Option<std::time::Duration>,
    now: bool,
}

/// `hold`: freezes automatic changes; refused if someone already holds, so their reason is
/// not silently overwritten.
fn hold(
    service: &Service,
    state: &ServiceState,
    actor: &str,
    now_ms: u64,
) -> Result<(ServiceState, String), String> {
    let phase = state.phase.label();
    if let Some(h) = &state.hold {
        return Err(format!("already held by {}: {}", h.by, h.reason));
    }
    let mut next = state.clone();
    next.hold = Some(Hold {
        by: actor.to_string(),
        reason: "operator hold".into(),
        since_ms: now_ms,
        pinned: false,
    });
    Ok((
        next,
        format!(
            "{} held in phase {phase}; no automatic change until `resume`",
            service.name
        ),
    ))
}

/// `resume`: lifts a hold. A held canary restarts its current step's clock, so the hold
/// time does not count as time the step was observed.
fn resume(
    service: &Service,
    state: &ServiceState,
    now_ms: u64,
) -> Result<(ServiceState, String), String> {
    let phase = state.phase.label();
    if state.hold.is_none() {
        return Err(format!("{} is not held (phase {phase})", service.name));
    }
    let mut next = state.clone();
    next.hold = None;
    if let Phase::Canary { backup, step, .. } = &state.phase {
        next.phase = Phase::Canary {
            backup: backup.clone(),
            step: *step,
            since_ms: now_ms,
        };
    }
    Ok((next, format!("{} resumed in phase {phase}", service.name)))
}

/// `abort`: stops a canary (back to the backup, held so it does not restart by itself) or a
/// planned switch (back to normal); anything else has nothing in progress.
fn abort(
    service: &Service,
    state: &ServiceState,
    actor: &str,
    now_ms: u64,
) -> Result<(ServiceState, String), String> {
    let phase = state.phase.label();
    let mut next = state.clone();
    match &state.phase {
        Phase::Canary { backup, .. } => {
            next.phase = Phase::FailedOver {
                target: backup.clone(),
                since_ms: now_ms,
                manual: false,
            };
            next.canary_override = None;
            next.hold = Some(Hold {
                by: actor.to_string(),
                reason: "failback aborted; `resume` lets automatic failback start again, `failback` starts it now".into(),
                since_ms: now_ms,
                pinned: false,
            });
            Ok((
                next,
                format!(
                    "failback of {} aborted: all traffic back to `{backup}`",
                    service.name
                ),
            ))
        }
        Phase::Lowering { to, .. } => {
            next.phase = Phase::Normal;
            next.hold = None;
            Ok((
                next,
                format!(
                    "planned switch of {} to `{to}` aborted; original TTL will be restored",
                    service.name
                ),
            ))
        }
        _ => Err(format!(
            "nothing in progress to abort: {} is in phase {phase}",
            service.name
        )),
    }
}

/// `failback`: starts moving traffic back to the primary, from failed over, all down, or a
/// canary (restarted from its first step). Checks run in this order so the refusal names the
/// first problem: the phase, then the primary's health, then the steps.
fn failback(
    service: &Service,
    state: &ServiceState,
    request: &FailbackRequest<'_>,
    actor: &str,
    now_ms: u64,
    health: &[TargetHealth],
) -> Result<(ServiceState, String), String> {
    let mut next = failback_start_phase(service, state, now_ms)?;
    let primary = service.primary().name.as_str();
    if state_of(health, primary) != State::Up {
        return Err(format!(
            "primary `{primary}` is not healthy; failback refused"
        ));
    }
    let steps = failback_steps(service, request);
    check_steps(&steps)?;
    next.canary_override = Some(CanaryOverride {
        steps: steps.clone(),
        hold_ms: request
            .hold
            .map(|h| u64::try_from(h.as_millis()).unwrap_or(u64::MAX)),
    });
    next.hold = None;
    if matches!(state.phase, Phase::AllDown { .. }) {
        next.phase = Phase::Restoring { since_ms: now_ms };
        next.canary_override = None;
    } else {
        next.failback_requested = Some(actor.to_string());
    }
    Ok((
        next,
        format!("failback of {} started with steps {steps:?}", service.name),
    ))
}

/// The state a failback starts from: unchanged when failed over or all down, a running canary
/// falls back to failed over so the new steps start from the beginning; any other phase has
/// nothing to fail back.
fn failback_start_phase(
    service: &Service,
    state: &ServiceState,
    now_ms: u64,
) -> Result<ServiceState, String> {
    let mut next = state.clone();
    match &state.phase {
        Phase::FailedOver { .. } | Phase::AllDown { .. } => {}
        Phase::Canary { backup, .. } => {
            next.phase = Phase::FailedOver {
                target: backup.clone(),
                since_ms: now_ms,
                manual: false,
            };
        }
        _ => {
            return Err(format!(
                "{} is not failed over (phase {}); nothing to fail back",
                service.name,
                state.phase.label()
            ))
        }
    }
    Ok(next)
}

/// The canary steps a failback uses: `--now` means one step to 100 %, otherwise the
/// operator's steps or the service's configured ones.
fn failback_steps(service: &Service, request: &FailbackRequest<'_>) -> Vec<u32> {
    if request.now {
        vec![100]
    } else {
        request
            .steps
            .map(<[u32]>::to_vec)
            .unwrap_or_else(|| service.canary.steps.clone())
    }
}

/// `failover`: a planned switch, only from normal (or while the TTL is being restored). The
/// TTL is lowered first and the switch waits for the old TTL to expire, so no resolver keeps
/// the old answer past the switch.
fn failover(
    service: &Service,
    state: &ServiceState,
    to: Option<&str>,
    health: &[TargetHealth],
) -> Result<(ServiceState, String), String> {
    if !matches!(state.phase, Phase::Normal | Phase::Restoring { .. }) {
        return Err(format!(
            "{} is in phase {}; a planned failover starts from normal",
            service.name,
            state.phase.label()
        ));
    }
    let to = failover_target(service, to, health)?;
    if state_of(health, &to) == State::Down {
        return Err(format!(
            "target `{to}` is down; refusing to send traffic there"
        ));
    }
    let old_ttl = state
        .published
        .as_ref()
        .map(Publication::ttl)
        .unwrap_or(service.ttl);
    // Already at or below the failover TTL: nothing to wait out.
    let lowered_at_ms = (old_ttl <= service.failover_ttl).then_some(0);
    let mut next = state.clone();
    next.phase = Phase::Lowering {
        to: to.clone(),
        old_ttl,
        lowered_at_ms,
    };
    next.hold = None;
    Ok((next, format!(
        "planned failover of {} to `{to}`: TTL {old_ttl} -> {} first, switch after the old TTL has expired",
        service.name, service.failover_ttl
    )))
}

/// Where a planned failover goes: the named target (which must exist and not be the
/// primary), or else the first healthy backup in configuration order.
fn failover_target(
    service: &Service,
    to: Option<&str>,
    health: &[TargetHealth],
) -> Result<String, String> {
    let primary = service.primary().name.as_str();
    match to {
        Some(t) => {
            if service.target(t).is_none() {
                let names: Vec<&str> = service.targets.iter().map(|t| t.name.as_str()).collect();
                return Err(format!(
                    "no target `{t}` in {}; targets are {names:?}",
                    service.name
                ));
            }
            if t == primary {
                return Err(format!("`{t}` is the primary; traffic is already there"));
            }
            Ok(t.to_string())
        }
        None => service
            .targets
            .iter()
            .skip(1)
            .find(|t| state_of(health, &t.name) == State::Up)
            .map(|t| t.name.clone())
            .ok_or_else(|| "no healthy backup to fail over to".to_string()),
    }
}

#[cfg(test)]
mod tests;
