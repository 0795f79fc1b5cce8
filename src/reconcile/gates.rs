//! The loop's own safety rules between policy and plan (probe -> health -> policy ->
//! **gates** -> plan -> provider -> verify), each in one place: an automatic failover joins
//! its failure domain's event or is held by `max_failovers` (see [`super::events`]), and a
//! pre-failback hook must have passed. A gate that holds keeps the service exactly as it is.

use super::runtime::HookRun;
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

impl Controller {
    /// An automatic failover joins its failure domain's event, or is held by the
    /// `max_failovers` cap (which counts events, not services). Returns the event's label.
    pub(super) fn gate_failover(
        &mut self,
        service: &Service,
        current: &ServiceState,
        decision: &mut Decision,
        now: u64,
    ) -> Option<String> {
        let automatic = matches!(
            current.phase,
            Phase::Normal | Phase::Restoring { .. } | Phase::Canary { .. }
        ) && matches!(
            decision.state.phase,
            Phase::FailedOver { manual: false, .. }
        );
        let rt = self.runtime.get_mut(&service.name)?;
        if !automatic {
            rt.event_pending = false;
            if current.phase == Phase::Normal {
                rt.event = None;
            }
            return None;
        }
        if rt.event_pending {
            return rt.event.clone();
        }
        match self
            .events
            .admit(&domain_of(service.primary()), &service.name, now)
        {
            Ok(label) => {
                rt.event = Some(label.clone());
                rt.event_pending = true;
                Some(label)
            }
            Err(why) => {
                hold(decision, current, why);
                None
            }
        }
    }

    /// A pre-failback hook must pass before the first canary step. It runs as a task with its
    /// timeout; the transition waits for it (and, after a failure, for the retry interval).
    pub(super) fn gate_pre_failback(
        &mut self,
        service: &Service,
        current: &ServiceState,
        decision: &mut Decision,
        now: u64,
    ) {
        let Some(rt) = self.runtime.get_mut(&service.name) else {
            return;
        };
        let due = decision.hook == Some(HookPoint::PreFailback)
            && decision.state.phase != current.phase
            && service.canary.pre_hook.is_some();
        if !due {
            if rt.hook == HookRun::Passed {
                rt.hook = HookRun::Idle;
            }
            return;
        }
        match rt.hook.clone() {
            HookRun::Passed => rt.hook = HookRun::Idle,
            HookRun::Running { since_ms, .. } => hold(
                decision,
                current,
                format!(
                    "pre_failback_hook running for {}s; failback waits for it",
                    now.saturating_sub(since_ms) / 1000
                ),
            ),
            HookRun::Failed { retry_at_ms, why } if retry_at_ms > now => hold(
                decision,
                current,
                format!(
                    "{why}; next try in {}s",
                    retry_at_ms.saturating_sub(now).div_ceil(1000)
                ),
            ),
            HookRun::Idle | HookRun::Failed { .. } => {
                rt.hook = HookRun::Running { since_ms: now };
                self.start_hook(service, HookPoint::PreFailback);
                hold(
                    decision,
                    current,
                    "pre_failback_hook started; failback waits for it".into(),
                );
            }
        }
    }
}

/// Keeps the service as it is and says why.
pub(super) fn hold(decision: &mut Decision, current: &ServiceState, why: String) {
    decision.held = Some(why);
    decision.desired = current.published.clone();
    decision.state = current.clone();
}
