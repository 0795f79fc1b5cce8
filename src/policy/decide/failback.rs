//! The staged failback (rule 4): entering the first canary step, then each step held for
//! `step_hold` and gated on the primary's error rate and latency; a failing gate freezes or
//! rolls back, a backup lost during the canary sends all traffic to the primary.
//!
//! Part of `policy` (probe -> health -> **policy** -> plan), called from [`super::primary`]
//! for a service in `FailedOver` or `Canary`.

use super::step::split;
use super::{ms, state_of, Decision, HookPoint, Step};
use crate::config::GateFailure;
use crate::health::State;
use crate::policy::canary::{evaluate, plan_for, GateVerdict};
use crate::policy::{window, Hold, Phase, Publication};

/// Enters the first canary step (or returns at once when the steps are `[100]`).
pub(super) fn start_failback(mut s: Step<'_>, backup: &str, why: String) -> Decision {
    let now = s.obs.now_ms;
    let service = s.service;
    if !window::open(&service.change_windows, now) {
        return s.keep(format!(
            "failback ready ({why}) but waits for a change window"
        ));
    }
    let (steps, _) = plan_for(service, s.state);
    let first = steps.first().copied().unwrap_or(100);
    if first >= 100 {
        let hook = service
            .canary
            .pre_hook
            .as_ref()
            .map(|_| HookPoint::PreFailback);
        return all_on_primary(
            s,
            backup,
            hook,
            format!("failback: {why}; all traffic at once"),
        );
    }
    s.next.phase = Phase::Canary {
        backup: backup.to_string(),
        step: 0,
        since_ms: now,
    };
    s.hook = service
        .canary
        .pre_hook
        .as_ref()
        .map(|_| HookPoint::PreFailback);
    let d = split(service, backup, first);
    s.go(
        Some(d),
        format!(
            "failback: {why}; canary step 1 of {}: primary gets {first} %",
            steps.len()
        ),
    )
}

/// One tick of canary step `step` (since `since_ms`) with `backup` taking the rest: the gates
/// decide whether the step fails, waits, or moves on.
pub(super) fn canary_step(mut s: Step<'_>, backup: String, step: usize, since_ms: u64) -> Decision {
    let now = s.obs.now_ms;
    let service = s.service;
    if state_of(s.obs.health, &backup) == State::Down {
        s.next.phase = Phase::Restoring { since_ms: now };
        s.next.canary_override = None;
        return s.go(
            Some(split(service, &backup, 100)),
            format!(
                "backup `{backup}` went down during the canary; all traffic to the healthy primary"
            ),
        );
    }
    match evaluate(
        &service.canary.gates,
        &s.obs.step_stats,
        s.obs.baseline_p95_ms,
        s.obs.metric.as_ref(),
    ) {
        GateVerdict::Fail(msg) => {
            let (steps, _) = plan_for(service, s.state);
            let share = steps.get(step).copied().unwrap_or(100);
            let where_ = format!("canary step {} of {} ({share} %)", step + 1, steps.len());
            gate_failed(s, backup, share, &where_, &msg)
        }
        verdict => step_passing(s, backup, step, since_ms, verdict == GateVerdict::Pending),
    }
}

/// A gate failed at `where_` (the step giving the primary `share` percent): freeze there, or
/// roll back to `backup`, as configured.
fn gate_failed(mut s: Step<'_>, backup: String, share: u32, where_: &str, msg: &str) -> Decision {
    let now = s.obs.now_ms;
    let service = s.service;
    match service.canary.on_gate_failure {
        GateFailure::Freeze => {
            s.next.hold = Some(Hold {
                by: "gate".into(),
                reason: format!("{where_}: {msg}"),
                since_ms: now,
                pinned: false,
            });
            s.alert = Some(format!("canary frozen at {where_}: {msg}"));
            s.go(
                Some(split(service, &backup, share)),
                format!("gate failed at {where_}: {msg}; frozen"),
            )
        }
        GateFailure::Rollback => {
            s.gate_retreat = true;
            s.next.phase = Phase::FailedOver {
                target: backup.clone(),
                since_ms: now,
                manual: false,
            };
            s.next.canary_override = None;
            s.next.hold = Some(Hold {
                by: "gate".into(),
                reason: format!(
                    "rolled back at {where_}: {msg}; `resume` allows automatic failback again"
                ),
                since_ms: now,
                pinned: false,
            });
            s.alert = Some(format!("canary rolled back at {where_}: {msg}"));
            s.go(
                Some(Publication::Target {
                    target: backup,
                    ttl: service.failover_ttl,
                }),
                format!("gate failed at {where_}: {msg}; rolled back"),
            )
        }
    }
}

/// The gates did not fail: hold the step for `step_hold` and until there are enough samples
/// (`pending`), then move to the next step, or to `Restoring` after the last one.
fn step_passing(
    mut s: Step<'_>,
    backup: String,
    step: usize,
    since_ms: u64,
    pending: bool,
) -> Decision {
    let now = s.obs.now_ms;
    let service = s.service;
    let (steps, hold) = plan_for(service, s.state);
    let share = steps.get(step).copied().unwrap_or(100);
    let current = split(service, &backup, share);
    let held_for = now.saturating_sub(since_ms);
    if held_for < ms(hold) {
        return s.go(
            Some(current),
            format!(
                "canary step {} of {}: primary at {share} %, next step in {}s",
                step + 1,
                steps.len(),
                (ms(hold) - held_for).div_ceil(1000)
            ),
        );
    }
    if pending {
        return s.go(
            Some(current),
            format!(
                "canary step {} of {}: waiting for enough probe samples",
                step + 1,
                steps.len()
            ),
        );
    }
    match steps.get(step + 1) {
        Some(&next_share) if next_share < 100 => {
            s.next.phase = Phase::Canary {
                backup: backup.clone(),
                step: step + 1,
                since_ms: now,
            };
            s.hook = post_step(service);
            s.go(
                Some(split(service, &backup, next_share)),
                format!(
                    "canary step {} of {}: gates passed; primary gets {next_share} %",
                    step + 2,
                    steps.len()
                ),
            )
        }
        _ => {
            let hook = post_step(service);
            all_on_primary(
                s,
                &backup,
                hook,
                "canary complete: all traffic on the primary".into(),
            )
        }
    }
}

/// All traffic back on the primary: the canary (if any) is over and the TTL restore comes
/// next; `hook` runs with this change.
fn all_on_primary(
    mut s: Step<'_>,
    backup: &str,
    hook: Option<HookPoint>,
    reason: String,
) -> Decision {
    s.next.phase = Phase::Restoring {
        since_ms: s.obs.now_ms,
    };
    s.next.canary_override = None;
    s.hook = hook;
    let all = split(s.service, backup, 100);
    s.go(Some(all), reason)
}

/// The post-step hook, when the service has one.
fn post_step(service: &crate::config::Service) -> Option<HookPoint> {
    service
        .canary
        .post_step_hook
        .as_ref()
        .map(|_| HookPoint::PostStep)
}
