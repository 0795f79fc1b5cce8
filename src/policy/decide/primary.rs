//! The primary is the best target (up, or unknown while it is the active target): what each
//! phase does then. Normal stays, `Restoring` restores the original TTL when its time has
//! come, `Lowering` switches once the old TTL has expired, `FailedOver` starts the failback
//! (or waits for `stable_for`, an operator, or a change window), `AllDown` returns at once and
//! `Canary` goes on with its steps.
//!
//! Part of `policy` (probe -> health -> **policy** -> plan): rules 4 to 6 of
//! [`super::decide`].

use super::failback::{canary_step, start_failback};
use super::{ms, state_of, Decision, Step};
use crate::config::FailbackMode;
use crate::health::State;
use crate::policy::window;
use crate::policy::{Phase, Publication};

/// The decision when the primary wins, by phase. The reasons say whether the primary is up or
/// unknown: an unknown primary is never called healthy.
pub(super) fn primary_wins(mut s: Step<'_>, original_ttl: u32) -> Decision {
    let (service, state, obs) = (s.service, s.state, s.obs);
    let now = obs.now_ms;
    let primary = service.primary().name.as_str();
    let primary_state = state_of(obs.health, primary);
    match &state.phase {
        Phase::Normal => s.go(
            Some(Publication::Target {
                target: primary.into(),
                ttl: original_ttl,
            }),
            normal_reason(primary, primary_state, state.published.is_none()),
        ),
        Phase::Restoring { since_ms } => restoring(s, *since_ms, original_ttl),
        Phase::Lowering {
            to,
            old_ttl,
            lowered_at_ms,
        } => lowering(s, to, *old_ttl, *lowered_at_ms),
        Phase::FailedOver { target, .. } if state.failback_requested.is_some() => {
            let by = state.failback_requested.clone().unwrap_or_default();
            let backup = target.clone();
            s.next.failback_requested = None;
            start_failback(s, &backup, format!("requested by {by}"))
        }
        Phase::FailedOver { manual, target, .. } if state_of(obs.health, target) == State::Down => {
            backup_lost(s, target, *manual)
        }
        Phase::FailedOver { manual: true, .. } => s.keep(format!(
            "manual failover in force; primary `{primary}` is healthy: `dnsfailback failback {}` brings traffic back",
            service.name
        )),
        Phase::FailedOver { target, .. } => failed_over(s, target),
        Phase::AllDown { .. } => {
            // Coming back from all-down: whatever was kept published, the primary is the only
            // known-good target, so it takes all traffic at once.
            s.next.phase = Phase::Restoring { since_ms: now };
            s.go(
                Some(Publication::Target {
                    target: primary.into(),
                    ttl: service.failover_ttl,
                }),
                format!("primary `{primary}` is back after all targets were down"),
            )
        }
        Phase::Canary {
            backup,
            step,
            since_ms,
        } => canary_step(s, backup.clone(), *step, *since_ms),
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

/// Rule 5: all traffic is on the primary; after `restore_ttl_after` the original TTL returns
/// (`Normal`).
fn restoring(mut s: Step<'_>, since_ms: u64, original_ttl: u32) -> Decision {
    let service = s.service;
    let now = s.obs.now_ms;
    let primary = service.primary().name.as_str();
    let primary_state = state_of(s.obs.health, primary);
    if now.saturating_sub(since_ms) >= ms(service.restore_ttl_after) {
        s.next.phase = Phase::Normal;
        let why = if primary_state == State::Up {
            format!("primary `{primary}` stable since the return; restoring original TTL {original_ttl}")
        } else {
            format!("restore time passed; primary `{primary}` has no health verdict yet (unknown); restoring original TTL {original_ttl}")
        };
        s.go(
            Some(Publication::Target {
                target: primary.into(),
                ttl: original_ttl,
            }),
            why,
        )
    } else {
        let why = if primary_state == State::Up {
            "all traffic on the primary; failover TTL kept until the restore time".to_string()
        } else {
            format!("all traffic on the primary; primary `{primary}` has no health verdict yet (unknown); failover TTL kept until the restore time")
        };
        s.go(
            Some(Publication::Target {
                target: primary.into(),
                ttl: service.failover_ttl,
            }),
            why,
        )
    }
}

/// Rule 6: a planned switch to `to` publishes the failover TTL first, then waits for the old
/// TTL (plus the margin) to expire since the lowered TTL was verified, and for a change
/// window; `to` must not be down.
fn lowering(mut s: Step<'_>, to: &str, old_ttl: u32, lowered_at_ms: Option<u64>) -> Decision {
    let service = s.service;
    let now = s.obs.now_ms;
    let lowered = Some(Publication::Target {
        target: service.primary().name.clone(),
        ttl: service.failover_ttl,
    });
    let Some(at) = lowered_at_ms else {
        return s.go(
            lowered,
            format!(
                "planned switch to `{to}`: lowering the TTL to {} first",
                service.failover_ttl
            ),
        );
    };
    let due = at + u64::from(old_ttl) * 1000 + ms(service.ttl_lead_margin);
    if now < due {
        return s.go(lowered, format!(
            "planned switch to `{to}`: waiting {}s for the old TTL of {old_ttl}s to expire everywhere",
            (due - now).div_ceil(1000)
        ));
    }
    if !window::open(&service.change_windows, now) {
        return s.go(
            lowered,
            format!("planned switch to `{to}` waits for a change window"),
        );
    }
    if state_of(s.obs.health, to) == State::Down {
        return s.keep(format!("planned switch to `{to}` waits: `{to}` is down"));
    }
    s.next.phase = Phase::FailedOver {
        target: to.to_string(),
        since_ms: now,
        manual: true,
    };
    s.go(
        Some(Publication::Target {
            target: to.to_string(),
            ttl: service.failover_ttl,
        }),
        format!("planned switch: old TTL expired; traffic to `{to}`"),
    )
}

/// The failover target died while the primary is healthy: the primary is the only good place
/// for traffic, at once (no stable_for wait on a dead backup, and no canary that would keep
/// most of the traffic on it).
fn backup_lost(mut s: Step<'_>, dead: &str, manual: bool) -> Decision {
    let service = s.service;
    let primary = service.primary().name.as_str();
    let what = if manual {
        "manual failover target"
    } else {
        "the backup in use"
    };
    s.next.phase = Phase::Restoring {
        since_ms: s.obs.now_ms,
    };
    s.next.canary_override = None;
    s.go(
        Some(Publication::Target {
            target: primary.into(),
            ttl: service.failover_ttl,
        }),
        format!("`{dead}` ({what}) is down; all traffic back to the healthy primary `{primary}`"),
    )
}

/// Rule 4 while automatically failed over to `backup`: fail back once the primary has been
/// healthy for `stable_for` (never in manual failback mode).
fn failed_over(s: Step<'_>, backup: &str) -> Decision {
    let service = s.service;
    let now = s.obs.now_ms;
    let primary = service.primary().name.as_str();
    if service.failback == FailbackMode::Manual {
        return s.keep(format!(
            "primary `{primary}` is healthy; failback is manual: waiting for `dnsfailback failback {}`",
            service.name
        ));
    }
    let up_for = s
        .obs
        .primary_up_since_ms
        .map(|t| now.saturating_sub(t))
        .unwrap_or(0);
    if up_for < ms(service.stable_for) {
        return s.keep(format!(
            "failback pending: primary `{primary}` healthy for {}s of the {}s stable time",
            up_for / 1000,
            service.stable_for.as_secs()
        ));
    }
    start_failback(
        s,
        backup,
        format!("primary `{primary}` healthy for {}s", up_for / 1000),
    )
}
