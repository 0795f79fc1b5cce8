//! Deterministic scenarios on tokio's paused clock: scripted probe results in, the exact
//! sequence of provider changes out. No sleeps, no sockets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dnsfailback::config::validate::parse;
use dnsfailback::health::check_id;

use dnsfailback::reconcile::{Clock, Controller};

use crate::harness::{probe, service_toml};
use dnsfailback::state::{MemoryStore, SingleNode, Store};
use dnsfailback_provider::memory::{Fault, MemoryProvider};
use dnsfailback_provider::{Change, ChangeSet, ErrorKind, Fqdn, Provider, RecordSet, RecordType};

pub(crate) const CONFIG: &str = r#"
[providers.mem]
kind = "embedded"

[services.shop]
provider = "mem"
zone = "example.test"
name = "shop.example.test"
type = "A"
ttl = 300
failover_ttl = 30
stable_for = "60s"
restore_ttl_after = "10m"

[[services.shop.targets]]
name = "primary"
address = "192.0.2.10"
priority = 1
[[services.shop.targets.checks]]
kind = "tcp"
address = "127.0.0.1:9"
rise = 3
fall = 2

[[services.shop.targets]]
name = "backup"
address = "198.51.100.20"
priority = 2
[[services.shop.targets.checks]]
kind = "tcp"
address = "127.0.0.1:9"
rise = 3
fall = 2
"#;

fn fq(s: &str) -> Fqdn {
    Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
}

fn a(ttl: u32, ip: &str) -> RecordSet {
    RecordSet::new(
        fq("shop.example.test"),
        RecordType::A,
        ttl,
        vec![ip.to_string()],
    )
}

struct Scene {
    ctl: Controller,
    provider: MemoryProvider,
    store: Arc<MemoryStore>,
    config: dnsfailback::config::Config,
    clock: Clock,
}

impl Scene {
    async fn new(extra: &str) -> Scene {
        let text = CONFIG.replace(
            "restore_ttl_after = \"10m\"",
            &format!("restore_ttl_after = \"10m\"\n{extra}"),
        );
        let (config, _) =
            parse(std::path::Path::new("scenario.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
        let provider = MemoryProvider::new("mem", &[fq("example.test")]);
        let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
        providers.insert("mem".into(), Arc::new(provider.clone()));
        let store = Arc::new(MemoryStore::default());
        let clock = Clock::starting_at(1_700_000_000_000);
        let ctl = Controller::new(
            config.clone(),
            providers,
            store.clone(),
            Arc::new(SingleNode),
            clock,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        Scene {
            ctl,
            provider,
            store,
            config,
            clock,
        }
    }

    /// A new controller on the same store, provider and clock: a restart, with all in-memory
    /// health and history gone.
    async fn restart(&mut self) {
        let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
        providers.insert("mem".into(), Arc::new(self.provider.clone()));
        self.ctl = Controller::new(
            self.config.clone(),
            providers,
            self.store.clone(),
            Arc::new(SingleNode),
            self.clock,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// One probe round (both targets), then a reconcile pass, then `step` of time.
    async fn round(&mut self, primary_ok: bool, backup_ok: bool, step: Duration) {
        probe_round(
            &mut self.ctl,
            &[
                ("shop", "primary", primary_ok),
                ("shop", "backup", backup_ok),
            ],
        );
        self.ctl.tick().await;
        tokio::time::advance(step).await;
    }

    fn applied(&self) -> Vec<Vec<Change>> {
        self.provider
            .applied()
            .into_iter()
            .map(|cs: ChangeSet| cs.changes)
            .collect()
    }
}

const S: Duration = Duration::from_secs(1);

/// The change that moves all traffic from the backup back to the primary (failover TTL).
fn backup_to_primary() -> Vec<Change> {
    vec![Change::Update {
        old: a(30, "198.51.100.20"),
        new: a(30, "192.0.2.10"),
    }]
}

/// Feeds one scripted probe result per (service, target, ok) to the controller.
fn probe_round(ctl: &mut Controller, results: &[(&str, &str, bool)]) {
    for (service, target, ok) in results {
        ctl.observe(&probe(check_id(service, target, 0), *ok));
    }
}

fn w(ttl: u32, id: &str, ip: &str, weight: u32) -> RecordSet {
    RecordSet::weighted(
        fq("shop.example.test"),
        RecordType::A,
        ttl,
        vec![ip.to_string()],
        id,
        weight,
    )
}

impl Scene {
    /// Healthy rounds until the provider sees a new change set; returns the seconds waited.
    async fn until_change(&mut self, limit: u32) -> u32 {
        let before = self.applied().len();
        for secs in 0..limit {
            self.round(true, true, S).await;
            if self.applied().len() > before {
                return secs;
            }
        }
        panic!(
            "no change within {limit}s; applied so far: {:?}",
            self.applied()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn full_outage_failover_canary_steps_and_ttl_restore_in_exact_order() {
    let mut s = Scene::new("").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    // One lost probe moves nothing.
    s.round(false, true, S).await;
    s.round(true, true, S).await;
    assert_eq!(
        s.applied(),
        vec![vec![Change::Create {
            new: a(300, "192.0.2.10")
        }]]
    );

    // Two failures in a row: failover with the failover TTL, in the same change.
    s.round(false, true, S).await;
    s.round(false, true, S).await;
    assert_eq!(s.applied().len(), 2);
    assert_eq!(
        s.applied()[1],
        vec![Change::Update {
            old: a(300, "192.0.2.10"),
            new: a(30, "198.51.100.20")
        }]
    );

    // The primary comes back but goes down again during the stable time: nothing moves.
    for _ in 0..30 {
        s.round(true, true, S).await;
    }
    s.round(false, true, S).await;
    s.round(false, true, S).await;
    for _ in 0..40 {
        s.round(true, true, S).await;
    }
    assert_eq!(
        s.applied().len(),
        2,
        "no failback before 60 s of continuous health"
    );
    let st = shop_status(&s.ctl);
    let p = st
        .targets
        .iter()
        .find(|t| t.target == "primary")
        .unwrap_or_else(|| panic!("no primary"));
    assert!(
        p.flapping && p.state == "down" && p.local == "up",
        "damped: {p:?}"
    );

    // The primary went down twice within a minute: flap damping (penalty 1000 per change,
    // half-life 30 s, suppress at 2500, release below 1000) keeps it down until the penalty
    // of ~2846 decays below 1000 (45.3 s, so at t = 87 s), then stable_for (60 s) runs:
    // canary step 1 at t = 147 s, i.e. 68 s after these 40 rounds ended.
    let waited = s.until_change(100).await;
    assert_eq!(
        waited, 68,
        "step 1 exactly when damping released the primary plus stable_for"
    );
    assert_eq!(
        s.applied()[2],
        vec![
            Change::Delete {
                old: a(30, "198.51.100.20")
            },
            Change::Create {
                new: w(30, "primary", "192.0.2.10", 5)
            },
            Change::Create {
                new: w(30, "backup", "198.51.100.20", 95)
            },
        ]
    );
    // Each step is held 2 minutes, then the weights move.
    for (share, prev) in [(25u32, 5u32), (50, 25)] {
        let waited = s.until_change(200).await;
        assert_eq!(waited, 119, "step hold is 120 s");
        assert_eq!(
            s.applied().last().cloned().unwrap_or_default(),
            vec![
                Change::Update {
                    old: w(30, "primary", "192.0.2.10", prev),
                    new: w(30, "primary", "192.0.2.10", share)
                },
                Change::Update {
                    old: w(30, "backup", "198.51.100.20", 100 - prev),
                    new: w(30, "backup", "198.51.100.20", 100 - share)
                },
            ]
        );
    }
    // Last step: all traffic on the primary, failover TTL kept.
    assert_eq!(s.until_change(200).await, 119);
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        vec![
            Change::Delete {
                old: w(30, "backup", "198.51.100.20", 50)
            },
            Change::Delete {
                old: w(30, "primary", "192.0.2.10", 50)
            },
            Change::Create {
                new: a(30, "192.0.2.10")
            },
        ]
    );
    // Ten minutes later the original TTL is restored.
    assert_eq!(s.until_change(700).await, 599);
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        vec![Change::Update {
            old: a(30, "192.0.2.10"),
            new: a(300, "192.0.2.10")
        }]
    );

    let actions: Vec<String> = s
        .store
        .history("shop", 50)
        .await
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "publish",
            "failover",
            "failback",
            "canary_step",
            "canary_step",
            "canary_complete",
            "ttl_restore"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_backend_flapping_2s_up_2s_down_for_a_minute_changes_the_answer_once() {
    let mut s = Scene::new("").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    assert_eq!(s.applied().len(), 1);
    for i in 0..60 {
        let up = (i / 2) % 2 == 1; // down 2 s, up 2 s, ...
        s.round(up, true, S).await;
    }
    assert_eq!(
        s.applied().len(),
        2,
        "one failover, no flapping back: {:?}",
        s.applied()
    );
    assert_eq!(
        s.applied()[1],
        vec![Change::Update {
            old: a(300, "192.0.2.10"),
            new: a(30, "198.51.100.20")
        }]
    );
    // rise = 3 never sees three successes in a row, so the primary never counts as up.
}

async fn into_canary_step_2(s: &mut Scene) {
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    s.round(false, true, S).await;
    s.round(false, true, S).await;
    s.until_change(100).await; // step 1
    s.until_change(200).await; // step 2 (25 %)
    for _ in 0..20 {
        s.round(true, true, S).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_gate_freezes_the_canary_and_nothing_else_moves() {
    let mut s = Scene::new("").await;
    into_canary_step_2(&mut s).await;
    let before = s.applied().len();
    // Two lost probes, not in a row: the primary never goes down (fall = 2), but 2 failures in
    // 24 probes of this step are above the 5 % error-rate gate.
    s.round(false, true, S).await;
    s.round(true, true, S).await;
    s.round(false, true, S).await;
    for _ in 0..600 {
        s.round(true, true, S).await;
    }
    assert_eq!(
        s.applied().len(),
        before,
        "frozen: no step, no rollback, for ten minutes"
    );
    let st = shop_status(&s.ctl);
    assert_eq!(st.phase.label(), "canary");
    let alert = st.alert.unwrap_or_default();
    assert!(
        alert.contains("canary frozen")
            && alert.contains("step 2 of 4 (25 %)")
            && alert.contains("error rate"),
        "{alert}"
    );
    // The operator resumes: the step's window restarts and the canary completes.
    s.ctl
        .command(
            "shop",
            dnsfailback::policy::command::Operation::Resume,
            "alice",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.until_change(200).await,
        120,
        "the step window restarts at the resume"
    );
    assert_eq!(s.applied().last().map(|c| c.len()), Some(2), "50 % step");
}

#[tokio::test(start_paused = true)]
async fn a_failing_gate_rolls_back_when_configured() {
    let mut s = Scene::new("on_gate_failure = \"rollback\"").await;
    into_canary_step_2(&mut s).await;
    s.round(false, true, S).await;
    s.round(true, true, S).await;
    s.round(false, true, S).await;
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        vec![
            Change::Delete {
                old: w(30, "backup", "198.51.100.20", 75)
            },
            Change::Delete {
                old: w(30, "primary", "192.0.2.10", 25)
            },
            Change::Create {
                new: a(30, "198.51.100.20")
            },
        ]
    );
    let n = s.applied().len();
    for _ in 0..300 {
        s.round(true, true, S).await;
    }
    assert_eq!(
        s.applied().len(),
        n,
        "after a rollback, automatic failback waits for the operator"
    );
    let actions: Vec<String> = s
        .store
        .history("shop", 10)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"rollback".to_string()), "{actions:?}");
    // Notifiers filter on it (docs/notifications.md): once per trip.
    let tripped = actions.iter().filter(|a| *a == "gate_tripped").count();
    assert_eq!(tripped, 1, "{actions:?}");
}

#[tokio::test(start_paused = true)]
async fn planned_failover_lowers_the_ttl_and_waits_out_the_old_one() {
    use dnsfailback::policy::command::Operation;
    let mut s = Scene::new("").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    let msg = s
        .ctl
        .command("shop", Operation::Failover { to: None }, "alice")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(msg.contains("to `backup`"), "{msg}");
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        vec![Change::Update {
            old: a(300, "192.0.2.10"),
            new: a(30, "192.0.2.10")
        }],
        "TTL lowered first, same target"
    );
    // The switch waits 300 s (old TTL) + 10 s margin from the lowering.
    let waited = s.until_change(400).await;
    assert_eq!(
        waited, 310,
        "switch exactly old TTL (300 s) + margin (10 s) after the lowering"
    );
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        vec![Change::Update {
            old: a(30, "192.0.2.10"),
            new: a(30, "198.51.100.20")
        }]
    );
    // A manual failover never fails back by itself...
    for _ in 0..300 {
        s.round(true, true, S).await;
    }
    assert_eq!(s.applied().len(), 3);
    // ...until the operator says so; `--now` returns all traffic at once.
    s.ctl
        .command(
            "shop",
            Operation::Failback {
                steps: None,
                hold: None,
                now: true,
            },
            "bob",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        backup_to_primary()
    );
    let actors: Vec<String> = s
        .store
        .history("shop", 10)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.actor)
        .collect();
    assert!(
        actors.contains(&"alice".to_string()) && actors.contains(&"bob".to_string()),
        "{actors:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_manual_failover_target_that_dies_sends_traffic_back_to_the_healthy_primary() {
    use dnsfailback::policy::command::Operation;
    let mut s = Scene::new("").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    s.ctl
        .command(
            "shop",
            Operation::Failover {
                to: Some("backup".into()),
            },
            "alice",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    s.until_change(400).await; // the switch after the old TTL
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        vec![Change::Update {
            old: a(30, "192.0.2.10"),
            new: a(30, "198.51.100.20")
        }]
    );
    s.round(true, false, S).await;
    s.round(true, false, S).await;
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        backup_to_primary()
    );
}

#[tokio::test(start_paused = true)]
async fn hold_freezes_everything_and_abort_returns_to_the_backup() {
    use dnsfailback::policy::command::Operation;
    let mut s = Scene::new("").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    s.ctl
        .command("shop", Operation::Hold, "alice")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        s.ctl
            .command("shop", Operation::Hold, "alice")
            .await
            .is_err(),
        "already held"
    );
    for _ in 0..5 {
        s.round(false, true, S).await;
    }
    assert_eq!(s.applied().len(), 1, "held: no automatic failover");
    s.ctl
        .command("shop", Operation::Resume, "alice")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.applied().len(), 2, "resumed: failover at once");
    assert!(
        s.ctl
            .command("shop", Operation::Abort, "alice")
            .await
            .is_err(),
        "nothing to abort while failed over"
    );
    s.until_change(100).await; // canary step 1
    s.ctl
        .command("shop", Operation::Abort, "alice")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        vec![
            Change::Delete {
                old: w(30, "backup", "198.51.100.20", 95)
            },
            Change::Delete {
                old: w(30, "primary", "192.0.2.10", 5)
            },
            Change::Create {
                new: a(30, "198.51.100.20")
            },
        ]
    );
    let err = s
        .ctl
        .command(
            "shop",
            Operation::Failback {
                steps: Some(vec![50, 20, 100]),
                hold: None,
                now: false,
            },
            "bob",
        )
        .await
        .err()
        .unwrap_or_default();
    assert!(err.contains("ascending"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn all_targets_down_keeps_the_last_good_answer_and_alerts() {
    let mut s = Scene::new("").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    for _ in 0..5 {
        s.round(false, false, S).await;
    }
    assert_eq!(
        s.applied(),
        vec![vec![Change::Create {
            new: a(300, "192.0.2.10")
        }]],
        "records are never withdrawn"
    );
    let st = shop_status(&s.ctl);
    assert!(st.alert.unwrap_or_default().contains("ALL TARGETS DOWN"));
    assert_eq!(st.phase.label(), "all_down");
}

#[tokio::test(start_paused = true)]
async fn all_down_sorry_target_is_published() {
    let mut s = Scene::new("all_down = \"sorry\"\nsorry_target = \"backup\"").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    for _ in 0..3 {
        s.round(false, false, S).await;
    }
    assert_eq!(
        s.applied()[1],
        vec![Change::Update {
            old: a(300, "192.0.2.10"),
            new: a(30, "198.51.100.20")
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_apply_is_journaled_and_retried_until_it_converges() {
    let mut s = Scene::new("").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    s.provider.fail_apply(Fault::Error(ErrorKind::Transient));
    s.provider.fail_apply(Fault::Error(ErrorKind::RateLimited));
    for _ in 0..5 {
        s.round(false, true, S).await;
    }
    assert_eq!(s.applied().len(), 2, "converged after two failed attempts");
    assert_eq!(s.provider.apply_calls(), 4);
    let actions: Vec<String> = s
        .store
        .history("shop", 50)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "apply_failed").count(), 2);
    assert!(s.store.open_intents().await.unwrap_or_default().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_refused_credential_needs_an_operator_until_a_reload() {
    let mut s = Scene::new("").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    let calls = s.provider.apply_calls();
    s.provider.fail_apply(Fault::Error(ErrorKind::Auth));
    // Two failing rounds take the primary down (fall = 2): the failover is refused once.
    for _ in 0..2 {
        s.round(false, true, S).await;
    }
    assert_eq!(s.provider.apply_calls(), calls + 1, "one refused attempt");
    let st = shop_status(&s.ctl);
    let err = st.last_error.unwrap_or_default();
    assert!(
        err.starts_with("needs operator (auth)"),
        "within one tick: {err}"
    );
    // Not retried at all: not per tick, not at the longest back-off.
    for _ in 0..300 {
        s.round(false, true, S).await;
    }
    assert_eq!(
        s.provider.apply_calls(),
        calls + 1,
        "no retry without an operator"
    );
    let st = shop_status(&s.ctl);
    assert!(
        st.held
            .unwrap_or_default()
            .starts_with("needs operator (auth)"),
        "status says why it waits"
    );
    // Audited (and so notified) once per stop, not per tick.
    let history = s.store.history("shop", 50).await.unwrap_or_default();
    let stops = history
        .iter()
        .filter(|e| e.action == "needs_operator")
        .count();
    assert_eq!(
        stops,
        1,
        "{:?}",
        history.iter().map(|e| &e.action).collect::<Vec<_>>()
    );
    // The secret is fixed and the providers reloaded: the failover goes through at once.
    let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
    providers.insert("mem".into(), Arc::new(s.provider.clone()));
    let text = s.ctl.reload_providers(providers);
    assert!(text.contains("1 service(s)"), "{text}");
    s.round(false, true, S).await;
    assert_eq!(s.provider.apply_calls(), calls + 2);
    assert_eq!(
        s.applied().last().map(|c| c[0].clone()),
        Some(Change::Update {
            old: a(300, "192.0.2.10"),
            new: a(30, "198.51.100.20")
        })
    );
    assert!(shop_status(&s.ctl).last_error.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_missing_zone_needs_an_operator_until_resume() {
    let mut s = Scene::new("").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    let calls = s.provider.apply_calls();
    s.provider.fail_apply(Fault::Error(ErrorKind::NotFound));
    for _ in 0..60 {
        s.round(false, true, S).await;
    }
    assert_eq!(s.provider.apply_calls(), calls + 1);
    let err = shop_status(&s.ctl).last_error.unwrap_or_default();
    assert!(err.starts_with("needs operator (not_found)"), "{err}");
    let answer = s
        .ctl
        .command(
            "shop",
            dnsfailback::policy::command::Operation::Resume,
            "alice",
        )
        .await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(
        s.provider.apply_calls(),
        calls + 2,
        "resume retries at once"
    );
    let history = s.store.history("shop", 20).await.unwrap_or_default();
    assert!(
        history
            .iter()
            .any(|e| e.action == "resume" && e.actor == "alice"),
        "{history:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_existing_records_ttl_is_the_original_that_gets_restored() {
    let mut s = Scene::new("canary_steps = [100]").await;
    s.provider
        .external_put(&fq("example.test"), a(3600, "192.0.2.10"));
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    assert!(
        s.applied().is_empty(),
        "an existing correct record is adopted, not rewritten"
    );
    for _ in 0..2 {
        s.round(false, true, S).await;
    }
    assert_eq!(
        s.applied()[0],
        vec![Change::Update {
            old: a(3600, "192.0.2.10"),
            new: a(30, "198.51.100.20")
        }]
    );
    for _ in 0..(70 + 610) {
        s.round(true, true, S).await;
    }
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        vec![Change::Update {
            old: a(30, "192.0.2.10"),
            new: a(3600, "192.0.2.10")
        }]
    );
}

fn held(s: &Scene) -> String {
    s.ctl
        .status_of("shop")
        .and_then(|x| x.held)
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn min_change_interval_spaces_a_failback_after_a_failover() {
    let mut s = Scene::new("min_change_interval = \"5m\"\ncanary_steps = [100]").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    s.round(false, true, S).await;
    s.round(false, true, S).await;
    assert_eq!(s.applied().len(), 2, "first publication, then the failover");
    // The primary is back: rise (3 s) + stable_for (60 s) would start the failback at ~63 s,
    // but the failover was less than 5 minutes ago.
    for _ in 0..100 {
        s.round(true, true, S).await;
    }
    assert_eq!(s.applied().len(), 2, "the failback is held");
    assert!(held(&s).contains("min_change_interval"), "{}", held(&s));
    let waited = 100 + s.until_change(400).await;
    assert!(
        (297..=301).contains(&waited),
        "failback 5 min after the failover, got {waited}s"
    );
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        backup_to_primary()
    );
}

#[tokio::test(start_paused = true)]
async fn min_change_interval_never_holds_traffic_on_a_dead_target() {
    let mut s = Scene::new("min_change_interval = \"5m\"\nall_down = \"publish-all\"").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    s.round(false, true, S).await;
    s.round(false, true, S).await;
    assert_eq!(s.applied().len(), 2, "failover");
    // Seconds later the backup dies too: the all-down policy applies at once.
    s.round(false, false, S).await;
    s.round(false, false, S).await;
    assert_eq!(s.applied().len(), 3, "all-down is not held: {}", held(&s));
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        vec![Change::Update {
            old: a(30, "198.51.100.20"),
            new: RecordSet::new(
                fq("shop.example.test"),
                RecordType::A,
                30,
                vec!["192.0.2.10".into(), "198.51.100.20".into()],
            )
        }]
    );
    // The backup returns (the primary is still down): the dead primary leaves the answer at
    // once, seconds after the last move.
    for _ in 0..3 {
        s.round(false, true, S).await;
    }
    assert_eq!(s.applied().len(), 4, "not held: {}", held(&s));
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        vec![Change::Update {
            old: RecordSet::new(
                fq("shop.example.test"),
                RecordType::A,
                30,
                vec!["192.0.2.10".into(), "198.51.100.20".into()],
            ),
            new: a(30, "198.51.100.20")
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn a_gate_rollback_is_not_held_by_min_change_interval() {
    let mut s = Scene::new("on_gate_failure = \"rollback\"\nmin_change_interval = \"10m\"").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    s.round(false, true, S).await;
    s.round(false, true, S).await;
    let waited = s.until_change(700).await; // step 1, held until 10 min after the failover
    assert!((597..=601).contains(&waited), "step 1 after {waited}s");
    for _ in 0..20 {
        s.round(true, true, S).await;
    }
    let n = s.applied().len();
    s.round(false, true, S).await;
    s.round(true, true, S).await;
    s.round(false, true, S).await;
    assert_eq!(
        s.applied().len(),
        n + 1,
        "rolled back 23 s into the step: {}",
        held(&s)
    );
    assert_eq!(
        s.applied().last().and_then(|c| c.last().cloned()),
        Some(Change::Create {
            new: a(30, "198.51.100.20")
        })
    );
}

/// The status board's row of `shop`.
fn shop_status(ctl: &Controller) -> dnsfailback::reconcile::ServiceStatus {
    ctl.status_of("shop").unwrap_or_else(|| panic!("no status"))
}

fn status_baseline(s: &Scene) -> Option<dnsfailback::reconcile::status::BaselineStatus> {
    s.ctl.status_of("shop").and_then(|x| x.baseline)
}

#[tokio::test(start_paused = true)]
async fn the_primarys_baseline_is_saved_and_survives_a_restart_during_the_outage() {
    let mut s = Scene::new("").await;
    for _ in 0..150 {
        s.round(true, true, S).await;
    }
    let learnt = status_baseline(&s).unwrap_or_else(|| panic!("no baseline in status"));
    assert!(learnt.warm && learnt.samples >= 140, "{learnt:?}");
    assert!(
        learnt.latency_p95_ms.is_some_and(|v| (2..=3).contains(&v)),
        "the scripted probes take 3 ms (2-3 ms bucket): {learnt:?}"
    );
    // The primary fails: the baseline is written with the state before the failover.
    s.round(false, true, S).await;
    s.round(false, true, S).await;
    let saved = s
        .store
        .service_state("shop")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no state"));
    assert_eq!(saved.phase.label(), "failed_over");
    let snapshot = saved
        .baseline
        .unwrap_or_else(|| panic!("the baseline was not saved"));
    let restored = dnsfailback::health::baseline::Baseline::from_snapshot(
        dnsfailback::health::baseline::BaselineConfig::default(),
        snapshot.get().clone(),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(restored.samples() >= 140, "{}", restored.samples());

    // A restart in the middle of the outage: the canary's baseline gate still knows the
    // primary's normal, without relearning it.
    s.restart().await;
    s.round(false, true, S).await;
    let after = status_baseline(&s).unwrap_or_else(|| panic!("no baseline after restart"));
    assert!(after.warm, "{after:?}");
    assert_eq!(after.samples, restored.samples());
    assert_eq!(after.latency_p95_ms, learnt.latency_p95_ms);
}

#[tokio::test(start_paused = true)]
async fn a_failback_outside_the_change_window_waits_for_it() {
    // The scene's clock starts on Tuesday 2023-11-14 at 22:13:20 UTC.
    let mut s = Scene::new("change_windows = [\"Wed 00:00-01:00\"]\ncanary_steps = [100]").await;
    for _ in 0..3 {
        s.round(true, true, S).await;
    }
    s.round(false, true, S).await;
    s.round(false, true, S).await;
    assert_eq!(
        s.applied().len(),
        2,
        "an unplanned failover never waits for a window"
    );
    // Healthy again at 22:13:25; stable_for (60 s) passes at about 22:14:30, but the window
    // opens at Wednesday 00:00:00, 6400 s after the clock started.
    let waited = s.until_change(7000).await;
    let elapsed_since_start = 5 + waited; // five rounds before, then round `waited` at t = 5 + waited
    assert_eq!(
        elapsed_since_start, 6400,
        "failback at the first tick inside the window"
    );
    let st = shop_status(&s.ctl);
    assert_eq!(st.phase.label(), "restoring_ttl");
}

fn two_services_toml() -> String {
    format!(
        "[providers.mem]\nkind = \"embedded\"\n{}{}",
        service_toml("shop", "mem", "192.0.2.10", "198.51.100.20", ""),
        service_toml("mail", "mem", "192.0.2.30", "198.51.100.40", "")
    )
}

async fn two_services_round(ctl: &mut Controller, down: &[(&str, &str)]) {
    let mut results = Vec::new();
    for service in ["shop", "mail"] {
        for target in ["primary", "backup"] {
            results.push((service, target, !down.contains(&(service, target))));
        }
    }
    probe_round(ctl, &results);
    ctl.tick().await;
    tokio::time::advance(S).await;
}

async fn two_services() -> (Controller, MemoryProvider, Arc<MemoryStore>) {
    let (config, _) = parse(std::path::Path::new("two.toml"), &two_services_toml())
        .unwrap_or_else(|e| panic!("{e}"));
    crate::harness::memory_controller(config).await
}

#[tokio::test(start_paused = true)]
async fn primaries_of_two_services_failing_at_once_move_together_when_the_backups_answer() {
    let (mut ctl, provider, store) = two_services().await;
    for _ in 0..3 {
        two_services_round(&mut ctl, &[]).await;
    }
    assert_eq!(
        provider.applied().len(),
        1,
        "both services published in one change set of the zone"
    );
    let both = [("shop", "primary"), ("mail", "primary")];
    for _ in 0..2 {
        two_services_round(&mut ctl, &both).await;
    }
    // Both primaries are down (fall = 2): the onset settles before any verdict.
    assert_eq!(
        provider.applied().len(),
        1,
        "nothing moves while they are still falling"
    );
    let settling = ctl
        .status_of("shop")
        .and_then(|s| s.partition)
        .unwrap_or_default();
    assert!(
        settling.contains("waiting until they stop falling"),
        "{settling}"
    );
    for _ in 0..3 {
        two_services_round(&mut ctl, &both).await;
    }
    // Half of all targets failed at once, but the backups answer the controller: it can see
    // the world, so both move, together, in one provider call.
    let applied = provider.applied();
    assert_eq!(applied.len(), 2, "{applied:?}");
    assert_eq!(applied[1].changes.len(), 2, "{:?}", applied[1]);
    let st = shop_status(&ctl);
    assert_eq!(st.partition, None, "no self-suspicion while backups answer");
    assert_eq!(st.phase.label(), "failed_over");
    let events = store
        .history(dnsfailback::reconcile::EVENTS_LOG, 50)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        events.iter().all(|e| e.action != "self_suspected"),
        "{events:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_answering_from_here_moves_nothing_and_alerts_once() {
    let (mut ctl, provider, store) = two_services().await;
    for _ in 0..3 {
        two_services_round(&mut ctl, &[]).await;
    }
    let all = [
        ("shop", "primary"),
        ("shop", "backup"),
        ("mail", "primary"),
        ("mail", "backup"),
    ];
    for _ in 0..10 {
        two_services_round(&mut ctl, &all).await;
    }
    assert_eq!(
        provider.applied().len(),
        1,
        "no change on the controller's own evidence alone"
    );
    let st = shop_status(&ctl);
    assert!(
        st.partition
            .clone()
            .unwrap_or_default()
            .contains("not one target answers"),
        "status names the suspicion: {:?}",
        st.partition
    );
    let alerts: Vec<_> = store
        .history(dnsfailback::reconcile::EVENTS_LOG, 50)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|e| e.action == "self_suspected")
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "one loud alert, not one per tick: {alerts:?}"
    );
    // One backup answers again: the suspicion clears at once and that service can move.
    for _ in 0..4 {
        two_services_round(
            &mut ctl,
            &[("shop", "primary"), ("mail", "primary"), ("mail", "backup")],
        )
        .await;
    }
    let st = shop_status(&ctl);
    assert_eq!(st.partition, None);
    assert_eq!(st.phase.label(), "failed_over");
}

#[tokio::test(start_paused = true)]
async fn one_services_primary_failing_alone_fails_over_normally() {
    let (mut ctl, provider, _) = two_services().await;
    for _ in 0..3 {
        two_services_round(&mut ctl, &[]).await;
    }
    for _ in 0..3 {
        two_services_round(&mut ctl, &[("shop", "primary")]).await;
    }
    let changes: Vec<ChangeSet> = provider.applied();
    assert_eq!(
        changes.len(),
        2,
        "first publication of both in one call, then the failover"
    );
    assert_eq!(
        changes[1].changes,
        vec![Change::Update {
            old: a(300, "192.0.2.10"),
            new: a(30, "198.51.100.20")
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn every_service_is_on_the_status_board_before_the_first_tick() {
    let s = Scene::new("").await;
    let st = s
        .ctl
        .status_of("shop")
        .unwrap_or_else(|| panic!("`shop` is not on the board before the first tick"));
    assert_eq!(st.phase.label(), "normal");
    assert!(
        st.targets.iter().all(|t| t.state == "unknown"),
        "{:?}",
        st.targets
    );
}

/// A settled service whose record is changed behind the controller's back (an outside edit
/// at the provider) gets its answer back within the 30 s drift check, without a new decision
/// (its phase and the rest of its state stay), and the audit trail says it was drift.
#[tokio::test(start_paused = true)]
async fn an_outside_edit_of_a_settled_service_is_put_back_within_the_drift_check() {
    let mut s = Scene::new("").await;
    for _ in 0..10 {
        s.round(true, true, S).await;
    }
    assert_eq!(s.applied().len(), 1, "the first publication only");
    s.provider
        .external_put(&fq("example.test"), a(300, "203.0.113.66"));
    let waited = s.until_change(40).await;
    assert!(waited <= 31, "drift put back after {waited}s");
    assert_eq!(
        s.applied().last().cloned().unwrap_or_default(),
        vec![Change::Update {
            old: a(300, "203.0.113.66"),
            new: a(300, "192.0.2.10"),
        }]
    );
    assert_eq!(shop_status(&s.ctl).phase.label(), "normal");
    let history = s
        .store
        .history("shop", 20)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        history
            .iter()
            .any(|e| e.reason.starts_with("drift corrected:")),
        "{history:?}"
    );
    // Quiet again: no further change while nothing happens.
    let n = s.applied().len();
    for _ in 0..65 {
        s.round(true, true, S).await;
    }
    assert_eq!(s.applied().len(), n, "{:?}", s.applied());
}
