//! Table-driven tests of operator commands: every phase x every command.

use super::*;
use crate::policy::testutil::{health, service};

/// Every phase x every operator command: the phase (and hold) it leads to, or the start
/// of the refusal. Read it as the operator's contract.
#[test]
fn every_phase_and_command() {
    let svc = service();
    let on = |t: &str, ttl| {
        Some(Publication::Target {
            target: t.into(),
            ttl,
        })
    };
    let base = ServiceState {
        original_ttl: Some(300),
        ..ServiceState::default()
    };
    let st = |phase: Phase, published| ServiceState {
        phase,
        published,
        ..base.clone()
    };
    let split = Some(Publication::Split {
        primary: "eu".into(),
        backup: "us".into(),
        primary_share: 5,
        ttl: 30,
    });
    let bobs_hold = Some(Hold {
        by: "bob".into(),
        reason: "maintenance".into(),
        since_ms: 0,
        pinned: false,
    });
    let over = Phase::FailedOver {
        target: "us".into(),
        since_ms: 0,
        manual: false,
    };
    let canary = Phase::Canary {
        backup: "us".into(),
        step: 0,
        since_ms: 0,
    };
    let lowering = Phase::Lowering {
        to: "us".into(),
        old_ttl: 300,
        lowered_at_ms: None,
    };
    let phases = [
        ("normal", st(Phase::Normal, on("eu", 300))),
        ("failed_over", st(over, on("us", 30))),
        ("canary", st(canary, split)),
        (
            "restoring",
            st(Phase::Restoring { since_ms: 0 }, on("eu", 30)),
        ),
        ("lowering", st(lowering, on("eu", 30))),
        (
            "all_down",
            st(Phase::AllDown { since_ms: 0 }, on("eu", 300)),
        ),
        (
            "held",
            ServiceState {
                hold: bobs_hold,
                ..st(Phase::Normal, on("eu", 300))
            },
        ),
    ];
    let failback = |now| Operation::Failback {
        steps: None,
        hold: None,
        now,
    };
    let bad_steps = Operation::Failback {
        steps: Some(vec![50, 10]),
        hold: None,
        now: false,
    };
    let to = |t: &str| Operation::Failover { to: Some(t.into()) };
    // (phase, command, Ok: "phase[+held]" | Err: start of the refusal)
    let table: Vec<(&str, Operation, Result<&str, &str>)> = vec![
        (
            "normal",
            Operation::Failover { to: None },
            Ok("lowering_ttl"),
        ),
        ("normal", to("eu"), Err("`eu` is the primary")),
        ("normal", to("nope"), Err("no target `nope` in shop")),
        ("normal", failback(false), Err("shop is not failed over")),
        ("normal", Operation::Hold, Ok("normal+held")),
        ("normal", Operation::Resume, Err("shop is not held")),
        (
            "normal",
            Operation::Abort,
            Err("nothing in progress to abort"),
        ),
        (
            "failed_over",
            Operation::Failover { to: None },
            Err("shop is in phase failed_over"),
        ),
        ("failed_over", failback(false), Ok("failed_over")),
        ("failed_over", failback(true), Ok("failed_over")),
        (
            "failed_over",
            bad_steps.clone(),
            Err("steps [50, 10] must be ascending"),
        ),
        ("failed_over", Operation::Hold, Ok("failed_over+held")),
        (
            "failed_over",
            Operation::Abort,
            Err("nothing in progress to abort"),
        ),
        (
            "canary",
            Operation::Failover { to: None },
            Err("shop is in phase canary"),
        ),
        ("canary", failback(false), Ok("failed_over")),
        ("canary", Operation::Hold, Ok("canary+held")),
        ("canary", Operation::Abort, Ok("failed_over+held")),
        (
            "restoring",
            Operation::Failover { to: None },
            Ok("lowering_ttl"),
        ),
        ("restoring", failback(true), Err("shop is not failed over")),
        (
            "restoring",
            Operation::Abort,
            Err("nothing in progress to abort"),
        ),
        (
            "lowering",
            Operation::Failover { to: None },
            Err("shop is in phase lowering_ttl"),
        ),
        ("lowering", Operation::Hold, Ok("lowering_ttl+held")),
        ("lowering", Operation::Abort, Ok("normal")),
        (
            "all_down",
            Operation::Failover { to: None },
            Err("shop is in phase all_down"),
        ),
        ("all_down", failback(false), Ok("restoring_ttl")),
        (
            "all_down",
            bad_steps,
            Err("steps [50, 10] must be ascending"),
        ),
        (
            "all_down",
            Operation::Abort,
            Err("nothing in progress to abort"),
        ),
        ("held", Operation::Hold, Err("already held by bob")),
        ("held", Operation::Resume, Ok("normal")),
        ("held", Operation::Failover { to: None }, Ok("lowering_ttl")),
        ("held", failback(false), Err("shop is not failed over")),
    ];
    let healthy = [health("eu", State::Up), health("us", State::Up)];
    let mut wrong = Vec::new();
    for (name, op, want) in &table {
        let Some((_, state)) = phases.iter().find(|(n, _)| n == name) else {
            panic!("no phase {name}");
        };
        let got = apply(&svc, state, op, "alice", 1000, &healthy).map(|(next, _)| {
            let held = if next.hold.is_some() { "+held" } else { "" };
            format!("{}{held}", next.phase.label())
        });
        let ok = match (&got, want) {
            (Ok(g), Ok(w)) => g == w,
            (Err(g), Err(w)) => g.starts_with(w),
            _ => false,
        };
        if !ok {
            wrong.push(format!("{name} {}: got {got:?}, want {want:?}", op.verb()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
