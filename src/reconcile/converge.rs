//! What becomes of a decision (health -> policy -> gates -> **converge** -> plan): the change
//! a zone job must make (a new publication, or a due drift check), a state to save, or, while
//! backing off or waiting for an operator, nothing. Pure: the tick and `plan` share it.

use std::sync::Arc;

use super::gates::FailoverGate;
use super::runtime::Runtime;
use super::zone;
use crate::config::Service;
use crate::health::TargetHealth;
use crate::policy::{Decision, HookPoint, Phase, ServiceState};

/// Re-read the provider at least this often even when nothing changed, to notice drift.
pub(super) const VERIFY_EVERY_MS: u64 = 30_000;

/// Whether the provider is due to be read again for drift.
pub(super) fn verify_due(rt: &Runtime, now: u64) -> bool {
    rt.last_verify_ms
        .is_none_or(|t| now.saturating_sub(t) >= VERIFY_EVERY_MS)
}

/// The drift check of a settled service (see `Controller::settled`): its published answer,
/// re-read by the zone job and put back if it differs, without deciding again. Every
/// service of a zone comes due at once, so at 10,000 services deciding them all again was a
/// 15 MB burst every 30 s for decisions that come out as they did.
pub(super) fn drift_check(
    service: &Arc<Service>,
    state: ServiceState,
    reason: String,
) -> Option<zone::Item> {
    if state.hold.as_ref().is_some_and(|h| h.pinned) {
        return None; // records pinned by a governed change: no drift correction
    }
    let desired = state.published.clone()?;
    Some(zone::Item {
        state_moved: false,
        phase_changed: false,
        action: action_for(&state.phase, &state.phase),
        previous_change_ms: state.last_change_ms,
        post_step: false,
        service: service.clone(),
        desired,
        next_state: state,
        reason,
        health: Vec::new(),
    })
}

/// What becomes of a decision.
pub(super) enum Outcome {
    /// The records must change (or are due for a drift check): this goes to the zone job.
    Change(Box<zone::Item>),
    /// Nothing to publish: the decided state is saved.
    Save,
    /// Backing off after a provider error: nothing happens this tick.
    Wait,
}

/// The audit verb of a change from `current` to `next`.
pub(super) fn action_for(next: &Phase, current: &Phase) -> &'static str {
    match (current, next) {
        (Phase::Restoring { .. }, Phase::Normal) => "ttl_restore",
        (Phase::Lowering { .. }, Phase::Normal) => "abort",
        (Phase::Canary { .. }, Phase::FailedOver { .. }) => "rollback",
        (_, Phase::FailedOver { .. }) => "failover",
        (Phase::Canary { .. }, Phase::Canary { .. }) => "canary_step",
        (_, Phase::Canary { .. }) => "failback",
        (Phase::Canary { .. }, Phase::Restoring { .. }) => "canary_complete",
        (Phase::FailedOver { .. } | Phase::AllDown { .. }, Phase::Restoring { .. }) => "failback",
        (_, Phase::Lowering { .. }) => "ttl_lower",
        (_, Phase::AllDown { .. }) => "all_down",
        _ => "publish",
    }
}

/// The change for the zone job when the records must change (or are due for a drift check);
/// otherwise the decided state is to be saved, or, while backing off, nothing happens.
pub(super) fn converge(
    rt: &Runtime,
    service: &Arc<Service>,
    current: &ServiceState,
    decision: &mut Decision,
    health: &[TargetHealth],
    failover: &FailoverGate,
    now: u64,
) -> Outcome {
    let verify_due = verify_due(rt, now);
    let desired = match &decision.desired {
        Some(_) if rt.needs_operator.is_some() => {
            decision.held = rt.needs_operator.clone();
            return Outcome::Wait;
        }
        Some(_) if rt.backing_off(now).is_some() => {
            decision.held = Some(format!(
                "backing off after a provider error; next attempt in {}s",
                rt.backing_off(now).unwrap_or_default().div_ceil(1000)
            ));
            return Outcome::Wait;
        }
        Some(d) if Some(d) != current.published.as_ref() || verify_due => d.clone(),
        _ => return Outcome::Save,
    };
    let mut next = decision.state.clone();
    next.published = Some(desired.clone());
    let phase_changes = current.phase != next.phase;
    if phase_changes {
        // Only traffic moves count for min_change_interval; a first publish or a drift
        // correction must not delay the next failover.
        next.last_change_ms = Some(now);
    }
    let drift = Some(&desired) == current.published.as_ref();
    let mut reason = if drift {
        format!("drift corrected: {}", decision.reason)
    } else {
        decision.reason.clone()
    };
    if let Some(label) = failover.event() {
        reason = format!("{reason} [{label}]");
    }
    let mut as_if_unchanged = next.clone();
    as_if_unchanged.last_change_ms = current.last_change_ms;
    Outcome::Change(Box::new(zone::Item {
        state_moved: as_if_unchanged != *current,
        phase_changed: phase_changes,
        action: action_for(&next.phase, &current.phase),
        previous_change_ms: current.last_change_ms,
        post_step: phase_changes
            && decision.held.is_none()
            && decision.hook == Some(HookPoint::PostStep),
        service: service.clone(),
        desired,
        next_state: next,
        reason,
        // A drift check changes nothing the decision did not already publish (and audit with
        // its health); every service of a zone is checked at once, so at 10,000 services the
        // copies were a 5 MB burst every 30 s. A correction it finds is audited as drift.
        health: if drift { Vec::new() } else { health.to_vec() },
    }))
}
