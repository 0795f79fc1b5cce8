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

use serde::Serialize;

use super::canary::{evaluate, plan_for, GateVerdict};
use super::window;
use super::{Hold, Phase, Publication, ServiceState};
use crate::config::{AllDownPolicy, FailbackMode, GateFailure, Service};
use crate::health::StepStats;
use crate::health::{State, TargetHealth};

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

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

struct Step<'a> {
    service: &'a Service,
    state: &'a ServiceState,
    obs: &'a Observed<'a>,
    next: ServiceState,
    alert: Option<String>,
    hook: Option<HookPoint>,
    /// The move leaves a target that failed its canary gate (health alone cannot tell).
    gate_retreat: bool,
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
    fn keep(self, reason: String) -> Decision {
        Decision {
            state: self.state.clone(),
            desired: self.state.published.clone(),
            reason,
            alert: self.alert,
            held: None,
            hook: None,
        }
    }

    fn go(self, desired: Option<Publication>, reason: String) -> Decision {
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

fn split(service: &Service, backup: &str, share: u32) -> Publication {
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
fn phase_publication(
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

/// One step of the state machine. See the module docs for the rules.
pub fn decide(service: &Service, state: &ServiceState, obs: &Observed) -> Decision {
    let now = obs.now_ms;
    let original_ttl = state.original_ttl.unwrap_or(service.ttl);
    let primary = service.primary().name.as_str();
    let active = active_target(service, state);
    let mut s = Step {
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
            s.alert = (hold.by == "gate").then(|| format!("canary frozen: {}", hold.reason));
            // Frozen in its phase: the records follow the phase (an abort moved it), no
            // automatic transition happens.
            let desired =
                phase_publication(service, state, original_ttl).or_else(|| state.published.clone());
            return s.go(desired, format!("held by {}: {}", hold.by, hold.reason));
        }
    }

    let chosen = match choose(service, obs.health, active) {
        Choice::Hold(why) => return s.keep(why),
        Choice::AllDown => {
            let since_ms = match state.phase {
                Phase::AllDown { since_ms } => since_ms,
                _ => now,
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
            return s.go(desired, "every target is down".into());
        }
        Choice::Target(c) => c,
    };

    if chosen != primary {
        // A backup wins: fail over (or stay), whatever was in progress.
        let (since_ms, manual) = match &state.phase {
            Phase::FailedOver {
                target,
                since_ms,
                manual,
            } if target == chosen => (*since_ms, *manual),
            _ => (now, false),
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
        return s.go(
            Some(Publication::Target {
                target: chosen.to_string(),
                ttl: service.failover_ttl,
            }),
            why,
        );
    }

    // The primary is the best target: up, or unknown while it is the active target (the
    // reasons below say which; an unknown primary is never called healthy).
    let primary_state = state_of(obs.health, primary);
    match &state.phase {
        Phase::Normal => s.go(
            Some(Publication::Target { target: primary.into(), ttl: original_ttl }),
            normal_reason(primary, primary_state, state.published.is_none()),
        ),
        Phase::Restoring { since_ms } => {
            if now.saturating_sub(*since_ms) >= ms(service.restore_ttl_after) {
                s.next.phase = Phase::Normal;
                let why = if primary_state == State::Up {
                    format!("primary `{primary}` stable since the return; restoring original TTL {original_ttl}")
                } else {
                    format!("restore time passed; primary `{primary}` has no health verdict yet (unknown); restoring original TTL {original_ttl}")
                };
                s.go(Some(Publication::Target { target: primary.into(), ttl: original_ttl }), why)
            } else {
                let why = if primary_state == State::Up {
                    "all traffic on the primary; failover TTL kept until the restore time".to_string()
                } else {
                    format!("all traffic on the primary; primary `{primary}` has no health verdict yet (unknown); failover TTL kept until the restore time")
                };
                s.go(Some(Publication::Target { target: primary.into(), ttl: service.failover_ttl }), why)
            }
        }
        Phase::Lowering { to, old_ttl, lowered_at_ms } => {
            let lowered = Some(Publication::Target { target: primary.into(), ttl: service.failover_ttl });
            match lowered_at_ms {
                None => s.go(lowered, format!("planned switch to `{to}`: lowering the TTL to {} first", service.failover_ttl)),
                Some(at) => {
                    let due = at + u64::from(*old_ttl) * 1000 + ms(service.ttl_lead_margin);
                    if now < due {
                        return s.go(lowered, format!(
                            "planned switch to `{to}`: waiting {}s for the old TTL of {old_ttl}s to expire everywhere",
                            (due - now).div_ceil(1000)
                        ));
                    }
                    if !window::open(&service.change_windows, now) {
                        return s.go(lowered, format!("planned switch to `{to}` waits for a change window"));
                    }
                    if state_of(obs.health, to) == State::Down {
                        return s.keep(format!("planned switch to `{to}` waits: `{to}` is down"));
                    }
                    s.next.phase = Phase::FailedOver { target: to.clone(), since_ms: now, manual: true };
                    s.go(
                        Some(Publication::Target { target: to.clone(), ttl: service.failover_ttl }),
                        format!("planned switch: old TTL expired; traffic to `{to}`"),
                    )
                }
            }
        }
        Phase::FailedOver { target, .. } if state.failback_requested.is_some() => {
            let by = state.failback_requested.clone().unwrap_or_default();
            let backup = target.clone();
            s.next.failback_requested = None;
            start_failback(s, &backup, format!("requested by {by}"))
        }
        Phase::FailedOver { manual, target, .. } if state_of(obs.health, target) == State::Down => {
            // The failover target died while the primary is healthy: the primary is the only
            // good place for traffic, at once (no stable_for wait on a dead backup, and no
            // canary that would keep most of the traffic on it).
            let dead = target.clone();
            let what = if *manual { "manual failover target" } else { "the backup in use" };
            s.next.phase = Phase::Restoring { since_ms: now };
            s.next.canary_override = None;
            s.go(
                Some(Publication::Target { target: primary.into(), ttl: service.failover_ttl }),
                format!("`{dead}` ({what}) is down; all traffic back to the healthy primary `{primary}`"),
            )
        }
        Phase::FailedOver { manual: true, .. } => s.keep(format!(
            "manual failover in force; primary `{primary}` is healthy: `dnsfailback failback {}` brings traffic back",
            service.name
        )),
        Phase::FailedOver { target, .. } => {
            let backup = target.clone();
            if service.failback == FailbackMode::Manual {
                return s.keep(format!(
                    "primary `{primary}` is healthy; failback is manual: waiting for `dnsfailback failback {}`",
                    service.name
                ));
            }
            let up_for = obs.primary_up_since_ms.map(|t| now.saturating_sub(t)).unwrap_or(0);
            if up_for < ms(service.stable_for) {
                return s.keep(format!(
                    "failback pending: primary `{primary}` healthy for {}s of the {}s stable time",
                    up_for / 1000,
                    service.stable_for.as_secs()
                ));
            }
            start_failback(s, &backup, format!("primary `{primary}` healthy for {}s", up_for / 1000))
        }
        Phase::AllDown { .. } => {
            // Coming back from all-down: whatever was kept published, the primary is the only
            // known-good target, so it takes all traffic at once.
            s.next.phase = Phase::Restoring { since_ms: now };
            s.go(
                Some(Publication::Target { target: primary.into(), ttl: service.failover_ttl }),
                format!("primary `{primary}` is back after all targets were down"),
            )
        }
        Phase::Canary { backup, step, since_ms } => canary_step(s, backup.clone(), *step, *since_ms),
    }
}

/// Why the primary is published in `normal`, saying what its health really is. `first` is
/// the very first publication (nothing was published before).
fn normal_reason(primary: &str, health: State, first: bool) -> String {
    match (first, health) {
        (true, State::Up) => format!("first publication: primary `{primary}` is up; publishing it"),
        (true, _) => format!(
            "first publication: primary `{primary}` not yet probed to a verdict (unknown); publishing the configured primary"
        ),
        (false, State::Up) => format!("primary `{primary}` healthy"),
        (false, _) => format!(
            "primary `{primary}` has no health verdict (unknown); keeping traffic on it until there is evidence"
        ),
    }
}

/// Enters the first canary step (or returns at once when the steps are `[100]`).
fn start_failback(mut s: Step<'_>, backup: &str, why: String) -> Decision {
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
        s.next.phase = Phase::Restoring { since_ms: now };
        s.next.canary_override = None;
        s.hook = service
            .canary
            .pre_hook
            .as_ref()
            .map(|_| HookPoint::PreFailback);
        let d = split(service, backup, 100);
        return s.go(Some(d), format!("failback: {why}; all traffic at once"));
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

fn canary_step(mut s: Step<'_>, backup: String, step: usize, since_ms: u64) -> Decision {
    let now = s.obs.now_ms;
    let service = s.service;
    let (steps, hold) = plan_for(service, s.state);
    let share = steps.get(step).copied().unwrap_or(100);
    let current = split(service, &backup, share);
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
            let where_ = format!("canary step {} of {} ({share} %)", step + 1, steps.len());
            match service.canary.on_gate_failure {
                GateFailure::Freeze => {
                    s.next.hold = Some(Hold {
                        by: "gate".into(),
                        reason: format!("{where_}: {msg}"),
                        since_ms: now,
                    });
                    s.alert = Some(format!("canary frozen at {where_}: {msg}"));
                    s.go(
                        Some(current),
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
                        reason: format!("rolled back at {where_}: {msg}; `resume` allows automatic failback again"),
                        since_ms: now,
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
        verdict => {
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
            if verdict == GateVerdict::Pending {
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
                    s.hook = service
                        .canary
                        .post_step_hook
                        .as_ref()
                        .map(|_| HookPoint::PostStep);
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
                    s.next.phase = Phase::Restoring { since_ms: now };
                    s.next.canary_override = None;
                    s.hook = service
                        .canary
                        .post_step_hook
                        .as_ref()
                        .map(|_| HookPoint::PostStep);
                    s.go(
                        Some(split(service, &backup, 100)),
                        "canary complete: all traffic on the primary".into(),
                    )
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::health::StepStats;

    use crate::policy::testutil::{health, service};

    fn decide_with(state: &ServiceState, primary: State, backup: State) -> Decision {
        let service = service();
        let health = [health("eu", primary), health("us", backup)];
        let obs = Observed {
            health: &health,
            primary_up_since_ms: None,
            now_ms: 1_700_000_000_000,
            step_stats: StepStats::default(),
            baseline_p95_ms: None,
            metric: None,
        };
        decide(&service, state, &obs)
    }

    #[test]
    fn first_publication_with_an_unknown_primary_says_so() {
        let d = decide_with(&ServiceState::default(), State::Unknown, State::Unknown);
        assert_eq!(
            d.desired,
            Some(Publication::Target {
                target: "eu".into(),
                ttl: 300
            })
        );
        assert_eq!(
            d.reason,
            "first publication: primary `eu` not yet probed to a verdict (unknown); publishing the configured primary"
        );
        assert!(!d.reason.contains("healthy"), "{}", d.reason);
    }

    #[test]
    fn first_publication_with_a_healthy_primary() {
        let d = decide_with(&ServiceState::default(), State::Up, State::Unknown);
        assert_eq!(
            d.reason,
            "first publication: primary `eu` is up; publishing it"
        );
    }

    #[test]
    fn normal_reasons_follow_the_primarys_health() {
        let published = ServiceState {
            published: Some(Publication::Target {
                target: "eu".into(),
                ttl: 300,
            }),
            original_ttl: Some(300),
            ..ServiceState::default()
        };
        let up = decide_with(&published, State::Up, State::Up);
        assert_eq!(up.reason, "primary `eu` healthy");
        let unknown = decide_with(&published, State::Unknown, State::Up);
        assert!(
            unknown
                .reason
                .contains("`eu` has no health verdict (unknown)"),
            "{}",
            unknown.reason
        );
        assert!(!unknown.reason.contains("healthy"), "{}", unknown.reason);
        assert_eq!(unknown.desired, published.published, "nothing moves");
    }

    #[test]
    fn restoring_reasons_do_not_call_an_unknown_primary_stable() {
        let restoring = ServiceState {
            phase: Phase::Restoring { since_ms: 0 },
            published: Some(Publication::Target {
                target: "eu".into(),
                ttl: 30,
            }),
            original_ttl: Some(300),
            ..ServiceState::default()
        };
        let up = decide_with(&restoring, State::Up, State::Up);
        assert!(
            up.reason
                .starts_with("primary `eu` stable since the return"),
            "{}",
            up.reason
        );
        let unknown = decide_with(&restoring, State::Unknown, State::Up);
        assert!(!unknown.reason.contains("stable"), "{}", unknown.reason);
        assert!(unknown.reason.contains("(unknown)"), "{}", unknown.reason);
    }

    /// Every phase x the two targets' health x whether the primary has been up for long:
    /// the phase decided and what is published. One row per situation; read it as the
    /// policy's specification.
    #[test]
    fn every_phase_and_health_situation() {
        use crate::policy::{Hold, Phase, Publication, ServiceState};
        use State::{Down as D, Unknown as U, Up as P};
        let svc = service();
        let on = |t: &str, ttl| {
            Some(Publication::Target {
                target: t.into(),
                ttl,
            })
        };
        let split = |share| {
            Some(Publication::Split {
                primary: "eu".into(),
                backup: "us".into(),
                primary_share: share,
                ttl: 30,
            })
        };
        let base = ServiceState {
            original_ttl: Some(300),
            ..ServiceState::default()
        };
        let state = |phase: Phase, published| ServiceState {
            phase,
            published,
            ..base.clone()
        };
        let over = |manual| Phase::FailedOver {
            target: "us".into(),
            since_ms: 0,
            manual,
        };
        let canary = Phase::Canary {
            backup: "us".into(),
            step: 0,
            since_ms: 0,
        };
        let held = ServiceState {
            hold: Some(Hold {
                by: "alice".into(),
                reason: "maintenance".into(),
                since_ms: 0,
            }),
            ..state(Phase::Normal, on("eu", 300))
        };
        let phases = [
            ("normal", state(Phase::Normal, on("eu", 300))),
            ("failed_over", state(over(false), on("us", 30))),
            ("manual", state(over(true), on("us", 30))),
            ("canary", state(canary, split(5))),
            (
                "restoring",
                state(Phase::Restoring { since_ms: 0 }, on("eu", 30)),
            ),
            (
                "all_down",
                state(Phase::AllDown { since_ms: 0 }, on("eu", 300)),
            ),
            ("held", held),
        ];
        // (phase, primary, backup, primary up for long, -> phase, published)
        type Row = (
            &'static str,
            State,
            State,
            bool,
            &'static str,
            Option<Publication>,
        );
        let table: &[Row] = &[
            ("normal", P, P, true, "normal", on("eu", 300)),
            ("normal", P, D, true, "normal", on("eu", 300)),
            ("normal", D, P, false, "failed_over", on("us", 30)),
            ("normal", D, D, false, "all_down", on("eu", 300)),
            ("normal", D, U, false, "normal", on("eu", 300)),
            ("normal", U, P, false, "normal", on("eu", 300)),
            ("normal", U, U, false, "normal", on("eu", 300)),
            ("failed_over", P, P, false, "failed_over", on("us", 30)),
            ("failed_over", P, P, true, "canary", split(5)),
            ("failed_over", P, D, false, "restoring_ttl", on("eu", 30)),
            ("failed_over", P, D, true, "restoring_ttl", on("eu", 30)),
            ("failed_over", D, P, false, "failed_over", on("us", 30)),
            ("failed_over", D, D, false, "all_down", on("us", 30)),
            ("failed_over", D, U, false, "failed_over", on("us", 30)),
            ("failed_over", U, P, false, "failed_over", on("us", 30)),
            ("failed_over", U, U, false, "failed_over", on("us", 30)),
            ("manual", P, P, true, "failed_over", on("us", 30)),
            ("manual", P, D, true, "restoring_ttl", on("eu", 30)),
            ("manual", D, P, false, "failed_over", on("us", 30)),
            ("manual", D, D, false, "all_down", on("us", 30)),
            ("canary", P, P, true, "canary", split(25)),
            ("canary", P, D, true, "restoring_ttl", on("eu", 30)),
            ("canary", D, P, false, "failed_over", on("us", 30)),
            ("canary", D, D, false, "all_down", split(5)),
            ("canary", D, U, false, "canary", split(5)),
            ("canary", U, P, false, "canary", split(25)),
            ("restoring", P, P, true, "normal", on("eu", 300)),
            ("restoring", P, D, true, "normal", on("eu", 300)),
            ("restoring", D, P, false, "failed_over", on("us", 30)),
            ("restoring", D, D, false, "all_down", on("eu", 30)),
            ("restoring", D, U, false, "restoring_ttl", on("eu", 30)),
            ("all_down", P, P, true, "restoring_ttl", on("eu", 30)),
            ("all_down", P, D, false, "restoring_ttl", on("eu", 30)),
            ("all_down", D, P, false, "failed_over", on("us", 30)),
            ("all_down", D, D, false, "all_down", on("eu", 300)),
            ("all_down", U, U, false, "all_down", on("eu", 300)),
            ("held", P, P, true, "normal", on("eu", 300)),
            ("held", D, P, false, "normal", on("eu", 300)),
            ("held", D, D, false, "normal", on("eu", 300)),
        ];
        let mut wrong = Vec::new();
        for (name, p, b, long_up, want_phase, want) in table {
            let st = &phases
                .iter()
                .find(|(n, _)| n == name)
                .expect("phase in the table")
                .1;
            let health = [health("eu", *p), health("us", *b)];
            let obs = Observed {
                health: &health,
                primary_up_since_ms: long_up.then_some(0),
                now_ms: 1_700_000_000_000,
                step_stats: StepStats {
                    samples: 100,
                    failures: 0,
                    p95_latency_ms: Some(3),
                },
                baseline_p95_ms: None,
                metric: None,
            };
            let d = decide(&svc, st, &obs);
            if d.state.phase.label() != *want_phase || d.desired != *want {
                wrong.push(format!(
                    "{name} primary {p:?} backup {b:?} long_up {long_up}: got {} {:?}, want {want_phase} {want:?}",
                    d.state.phase.label(),
                    d.desired
                ));
            }
            // An alert exactly when every target is down.
            assert_eq!(
                d.alert.is_some(),
                *want_phase == "all_down" && *p == D && *b == D
            );
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
