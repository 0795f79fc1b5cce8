//! The decision's tests: the reasons given for an unknown primary, and one table of every
//! phase x the targets' health, read as the policy's specification.
//!
//! Part of `policy` (probe -> health -> **policy** -> plan): [`super::decide`] is called as
//! the control loop calls it, with a service's state and what was observed.

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
            pinned: false,
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
