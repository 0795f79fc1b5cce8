//! Tests of the health book: quorum over checks, roles, samples, generations.

use super::*;

fn ch(state: State) -> CheckHealth {
    CheckHealth {
        check: CheckId::new("s/t/0"),
        role: Role::Readiness,
        state,
        last_error: None,
        last_latency_ms: None,
    }
}

#[test]
fn p95_is_nearest_rank() {
    assert_eq!(p95(vec![]), None);
    assert_eq!(p95(vec![7]), Some(7));
    assert_eq!(p95((1..=100).collect()), Some(95));
    assert_eq!(p95((1..=10).rev().collect()), Some(10));
}

#[test]
fn quorum_of_two_needs_both_checks_down() {
    use State::*;
    assert_eq!(
        quorum_state(&[ch(Down), ch(Up)], 2),
        Up,
        "one failing check of two is not a quorum"
    );
    assert_eq!(quorum_state(&[ch(Down), ch(Down)], 2), Down);
    assert_eq!(quorum_state(&[ch(Up), ch(Up)], 2), Up);
    assert_eq!(quorum_state(&[ch(Down), ch(Up)], 1), Down);
    assert_eq!(quorum_state(&[ch(Unknown), ch(Up)], 1), Unknown);
    assert_eq!(quorum_state(&[ch(Unknown), ch(Up)], 2), Up);
}

fn live(state: State) -> CheckHealth {
    CheckHealth {
        role: Role::Liveness,
        ..ch(state)
    }
}

#[test]
fn a_live_but_not_ready_target_is_down() {
    use State::*;
    // Default quorum (all checks): a passing TCP liveness check used to mask a failing
    // readiness page.
    assert_eq!(quorum_state(&[ch(Down), live(Up)], 2), Down);
    assert_eq!(quorum_state(&[ch(Down), ch(Down), live(Up)], 3), Down);
    // one of two readiness checks failing is not "not ready"
    assert_eq!(quorum_state(&[ch(Down), ch(Up), live(Up)], 3), Up);
    // readiness not yet known: not up on liveness alone
    assert_eq!(quorum_state(&[ch(Unknown), live(Up)], 2), Unknown);
    // a dead process is down by the quorum as before
    assert_eq!(quorum_state(&[ch(Down), live(Down)], 2), Down);
    assert_eq!(quorum_state(&[ch(Up), live(Down)], 2), Up);
    // liveness-only targets are judged on their liveness checks
    assert_eq!(quorum_state(&[live(Up), live(Down)], 2), Up);
    assert_eq!(quorum_state(&[live(Down), live(Down)], 2), Down);
}
