//! Tests of self-suspicion: uplink anchors, the evidence rule, the onset settle.

use super::*;

/// Targets whose state is old news (no onset in progress).
fn view<'a>(states: &[(&'a str, State)]) -> Vec<TargetView<'a>> {
    let long_ago = Instant::now() - Duration::from_secs(3600);
    states
        .iter()
        .map(|(service, state)| TargetView {
            service,
            state: *state,
            changed_at: long_ago,
        })
        .collect()
}

fn detector() -> Result<PartitionDetector, PartitionConfigError> {
    PartitionDetector::new(PartitionConfig::default())
}

#[tokio::test(start_paused = true)]
async fn a_site_down_with_backups_answering_is_not_a_partition() -> Result<(), PartitionConfigError>
{
    let mut d = detector()?;
    // 1,000 services: every primary down, every backup up.
    let names: Vec<String> = (0..1000).map(|i| format!("s{i}")).collect();
    let mut states = Vec::new();
    for n in &names {
        states.push((n.as_str(), State::Down));
        states.push((n.as_str(), State::Up));
    }
    let st = d.evaluate(&view(&states), None, Instant::now());
    assert_eq!(st, PartitionStatus::Clear);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn nothing_answering_is_suspected_and_clears_at_once() -> Result<(), PartitionConfigError> {
    let mut d = detector()?;
    let down = [
        ("web", State::Down),
        ("web", State::Down),
        ("api", State::Down),
        ("api", State::Unknown),
    ];
    let st = d.evaluate(&view(&down), None, Instant::now());
    assert!(
        matches!(
            st,
            PartitionStatus::Suspected {
                why: Suspicion::NothingAnswers { services: 2, .. },
                ..
            }
        ),
        "{st:?}"
    );
    assert!(st.describe().contains("not one target answers"));
    assert_eq!(st.gate(State::Down), State::Unknown);
    // One target answers again: the very next evaluation clears.
    let one_up = [
        ("web", State::Down),
        ("web", State::Up),
        ("api", State::Down),
        ("api", State::Down),
    ];
    assert_eq!(
        d.evaluate(&view(&one_up), None, Instant::now()),
        PartitionStatus::Clear
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn one_service_failing_alone_is_never_a_partition() -> Result<(), PartitionConfigError> {
    let mut d = detector()?;
    let st = d.evaluate(
        &view(&[("web", State::Down), ("web", State::Down)]),
        None,
        Instant::now(),
    );
    assert_eq!(st, PartitionStatus::Clear);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn uplink_anchors_decide_when_configured() -> Result<(), PartitionConfigError> {
    let mut d = detector()?;
    let all_down = view(&[("web", State::Down), ("api", State::Down)]);
    // Anchors answer: a world where every target is down is believed (all-down policy).
    assert_eq!(
        d.evaluate(&all_down, Some((State::Up, 2)), Instant::now()),
        PartitionStatus::Clear
    );
    // Anchors down: suspected even though a target still answers.
    let mixed = view(&[("web", State::Down), ("api", State::Up)]);
    let st = d.evaluate(&mixed, Some((State::Down, 2)), Instant::now());
    assert!(
        matches!(
            st,
            PartitionStatus::Suspected {
                why: Suspicion::UplinkDown { anchors: 2 },
                ..
            }
        ),
        "{st:?}"
    );
    // Anchors not probed yet: the nothing-answers rule applies.
    assert_eq!(
        d.evaluate(&mixed, Some((State::Unknown, 2)), Instant::now()),
        PartitionStatus::Clear
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn since_is_kept_while_suspected() -> Result<(), PartitionConfigError> {
    let mut d = detector()?;
    let all_down = view(&[("web", State::Down), ("api", State::Down)]);
    let t0 = Instant::now();
    d.evaluate(&all_down, None, t0);
    tokio::time::advance(Duration::from_secs(30)).await;
    let st = d.evaluate(&all_down, Some((State::Down, 1)), Instant::now());
    assert!(
        matches!(st, PartitionStatus::Suspected { since, why: Suspicion::UplinkDown { .. } } if since == t0),
        "the suspicion keeps its start while its reason changes: {st:?}"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn falling_targets_of_several_services_settle_before_any_verdict(
) -> Result<(), PartitionConfigError> {
    let mut d = detector()?;
    let t0 = Instant::now() + Duration::from_secs(3600);
    tokio::time::advance(Duration::from_secs(3600)).await;
    let at = |s: &'static str, st: State, secs: u64| TargetView {
        service: s,
        state: st,
        changed_at: t0 + Duration::from_secs(secs),
    };
    // A cut-off controller: web's primary falls first while its backup still answers...
    let onset = [
        at("web", State::Down, 0),
        at("web", State::Up, 0),
        at("api", State::Down, 0),
    ];
    let st = d.evaluate(&onset, None, t0);
    assert!(
        matches!(st, PartitionStatus::Settling { services: 2, .. }),
        "{st:?}"
    );
    assert_eq!(
        st.gate(State::Down),
        State::Unknown,
        "nothing moves while settling"
    );
    // ...then everything has fallen; 3 s after the last fall the verdict is in.
    tokio::time::advance(Duration::from_secs(2)).await;
    let all = [
        at("web", State::Down, 0),
        at("web", State::Down, 2),
        at("api", State::Down, 0),
    ];
    assert!(matches!(
        d.evaluate(&all, None, Instant::now()),
        PartitionStatus::Settling { .. }
    ));
    tokio::time::advance(Duration::from_secs(3)).await;
    let st = d.evaluate(&all, None, Instant::now());
    assert!(st.is_suspected(), "{st:?}");
    // A site outage instead: the backups keep answering; after the settle, clear.
    let mut d = detector()?;
    let site = [
        at("web", State::Down, 5),
        at("web", State::Up, 0),
        at("api", State::Down, 5),
        at("api", State::Up, 0),
    ];
    assert!(d.evaluate(&site, None, Instant::now()).holds());
    tokio::time::advance(Duration::from_secs(3)).await;
    assert_eq!(
        d.evaluate(&site, None, Instant::now()),
        PartitionStatus::Clear
    );
    // One service failing alone never settles; anchors that answer never settle either.
    let mut d = detector()?;
    let alone = [at("web", State::Down, 8), at("web", State::Up, 0)];
    assert_eq!(
        d.evaluate(&alone, None, Instant::now()),
        PartitionStatus::Clear
    );
    assert_eq!(
        d.evaluate(&site, Some((State::Up, 1)), Instant::now()),
        PartitionStatus::Clear
    );
    Ok(())
}

#[test]
fn config_is_checked() {
    assert!(PartitionDetector::new(PartitionConfig {
        min_fraction: 0.0,
        ..PartitionConfig::default()
    })
    .is_err());
    assert!(PartitionDetector::new(PartitionConfig {
        min_services: 1,
        ..PartitionConfig::default()
    })
    .is_err());
}
