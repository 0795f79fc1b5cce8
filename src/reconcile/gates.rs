//! The loop's own safety rules between policy and plan (probe -> health -> policy ->
//! **gates** -> plan -> provider -> verify), each in one place: an automatic failover joins
//! its failure domain's event or is held by `max_failovers` (see [`super::events`]), and a
//! pre-failback hook must have passed. A gate that holds keeps the service exactly as it is.
//!
//! Each gate is a check that reads the service's loop state and returns its verdict as a
//! value ([`FailoverGate`], [`HookGate`]); what the verdict sets in motion (joining the event,
//! starting the hook) is carried out separately by [`Controller::carry_out`]. So `plan` runs
//! the very same checks as the tick without changing anything.

use super::events::Events;
use super::runtime::{HookRun, Runtime};
use super::Controller;
use crate::config::{Service, Target};
use crate::policy::{Decision, HookPoint, Phase, ServiceState};

/// The failure domain a target belongs to: its site, or its address when it has none
/// (targets on one address fail together whatever their service).
pub(super) fn domain_of(target: &Target) -> String {
    match &target.site {
        Some(site) => format!("site {site}"),
        None => format!("address {}", target.values.join(",")),
    }
}

/// The failover gate's verdict on one decision.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum FailoverGate {
    /// Not an automatic failover: no event, nothing capped.
    NotAutomatic,
    /// Admitted on an earlier tick, not applied yet (admitting again would count it twice).
    Admitted(Option<String>),
    /// Joins (or opens) this event now.
    Joins(String),
    /// Held by `max_failovers`; the decision says why.
    Held,
}

impl FailoverGate {
    /// The event label a change carries in its audit reason.
    pub fn event(&self) -> Option<String> {
        match self {
            FailoverGate::Admitted(label) => label.clone(),
            FailoverGate::Joins(label) => Some(label.clone()),
            FailoverGate::NotAutomatic | FailoverGate::Held => None,
        }
    }
}

/// An automatic failover joins its failure domain's event in `events`, or is held by the
/// `max_failovers` cap (which counts events, not services). `events` is the loop's own on a
/// tick and a scratch copy in a plan.
pub(super) fn gate_failover(
    rt: &Runtime,
    events: &mut Events,
    service: &Service,
    current: &ServiceState,
    decision: &mut Decision,
    now: u64,
) -> FailoverGate {
    let automatic = matches!(
        current.phase,
        Phase::Normal | Phase::Restoring { .. } | Phase::Canary { .. }
    ) && matches!(
        decision.state.phase,
        Phase::FailedOver { manual: false, .. }
    );
    if !automatic {
        return FailoverGate::NotAutomatic;
    }
    if rt.event_pending {
        return FailoverGate::Admitted(rt.event.clone());
    }
    match events.admit(&domain_of(service.primary()), &service.name, now) {
        Ok(label) => FailoverGate::Joins(label),
        Err(why) => {
            hold(decision, current, why);
            FailoverGate::Held
        }
    }
}

/// The pre-failback hook gate's verdict on one decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum HookGate {
    /// No hook is due for this decision.
    NotDue,
    /// The hook passed: the transition goes ahead.
    Passed,
    /// The hook is running or failed recently: the transition waits (the decision says why).
    Waits,
    /// The hook starts now; the transition waits for it.
    Starts,
}

/// A pre-failback hook must pass before the first canary step. It runs as a task with its
/// timeout; the transition waits for it (and, after a failure, for the retry interval).
pub(super) fn gate_pre_failback(
    rt: &Runtime,
    service: &Service,
    current: &ServiceState,
    decision: &mut Decision,
    now: u64,
) -> HookGate {
    let due = decision.hook == Some(HookPoint::PreFailback)
        && decision.state.phase != current.phase
        && service.canary.pre_hook.is_some();
    if !due {
        return HookGate::NotDue;
    }
    let why = match &rt.hook {
        HookRun::Passed => return HookGate::Passed,
        HookRun::Running { since_ms } => format!(
            "pre_failback_hook running for {}s; failback waits for it",
            now.saturating_sub(*since_ms) / 1000
        ),
        HookRun::Failed { retry_at_ms, why } if *retry_at_ms > now => format!(
            "{why}; next try in {}s",
            retry_at_ms.saturating_sub(now).div_ceil(1000)
        ),
        HookRun::Idle | HookRun::Failed { .. } => {
            hold(
                decision,
                current,
                "pre_failback_hook started; failback waits for it".into(),
            );
            return HookGate::Starts;
        }
    };
    hold(decision, current, why);
    HookGate::Waits
}

impl Controller {
    /// Carries out what the gates decided for `service` on a tick: the event joined (or
    /// left behind), the hook started or its pass used up.
    pub(super) fn carry_out(
        &mut self,
        service: &Service,
        current: &ServiceState,
        failover: &FailoverGate,
        hook: HookGate,
        now: u64,
    ) {
        let Some(rt) = self.runtime.get_mut(&service.name) else {
            return;
        };
        match failover {
            FailoverGate::NotAutomatic => {
                rt.event_pending = false;
                if current.phase == Phase::Normal {
                    rt.event = None;
                }
            }
            FailoverGate::Joins(label) => {
                rt.event = Some(label.clone());
                rt.event_pending = true;
            }
            FailoverGate::Admitted(_) | FailoverGate::Held => {}
        }
        match hook {
            HookGate::NotDue | HookGate::Passed if rt.hook == HookRun::Passed => {
                rt.hook = HookRun::Idle
            }
            HookGate::Starts => {
                rt.hook = HookRun::Running { since_ms: now };
                self.start_hook(service, HookPoint::PreFailback);
            }
            _ => {}
        }
    }
}

/// Keeps the service as it is and says why.
pub(super) fn hold(decision: &mut Decision, current: &ServiceState, why: String) {
    decision.held = Some(why);
    decision.desired = current.published.clone();
    decision.state = current.clone();
}
