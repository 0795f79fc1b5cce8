//! A whole site fails: many services sharing sites, on tokio's paused clock, with default
//! settings. Scripted probe results in; the exact provider calls, the audit trail's failure
//! events and each service's status out. No sleeps, no sockets (the hook test runs a process).

use std::sync::Arc;
use std::time::Duration;

use dnsfailback::config::validate::parse;
use dnsfailback::config::{Config, UplinkAnchor};
use dnsfailback::health::{check_id, UPLINK};
use dnsfailback::reconcile::{Controller, EVENTS_LOG};
use dnsfailback::state::{AuditEntry, MemoryStore, Store};
use dnsfailback_provider::memory::MemoryProvider;

use crate::harness::{probe, service_toml};

const S: Duration = Duration::from_secs(1);
const PRIMARY: &str = "192.0.2.10";
const BACKUP: &str = "198.51.100.20";

/// `n` services `s0000`... in one zone, all primaries on one address (site A), all backups on
/// another (site B); `primary_of(i)` may give a service its own primary address instead.
/// `extra` is appended to every service table.
fn fleet_toml(n: usize, primary_of: impl Fn(usize) -> String, extra: &str) -> String {
    let mut t = String::from("[providers.mem]\nkind = \"embedded\"\n");
    for i in 0..n {
        t.push_str(&service_toml(
            &format!("s{i:04}"),
            "mem",
            &primary_of(i),
            BACKUP,
            extra,
        ));
    }
    t
}

struct Fleet {
    ctl: Controller,
    provider: MemoryProvider,
    store: Arc<MemoryStore>,
    names: Vec<String>,
}

impl Fleet {
    async fn new(config: Config) -> Fleet {
        let names = config.services.keys().cloned().collect();
        let (ctl, provider, store) = crate::harness::memory_controller(config).await;
        Fleet {
            ctl,
            provider,
            store,
            names,
        }
    }

    /// One probe round: `up(service index, target)` says which targets answer; then a tick,
    /// then a second passes.
    async fn round(&mut self, up: impl Fn(usize, &str) -> bool) {
        for (i, name) in self.names.iter().enumerate() {
            for target in ["primary", "backup"] {
                observe(&mut self.ctl, check_id(name, target, 0), up(i, target));
            }
        }
        self.ctl.tick().await;
        tokio::time::advance(S).await;
    }

    fn phase(&self, name: &str) -> String {
        self.ctl
            .status_of(name)
            .map(|s| s.phase.label().to_string())
            .unwrap_or_default()
    }

    fn failed_over(&self) -> usize {
        self.names
            .iter()
            .filter(|n| self.phase(n) == "failed_over")
            .count()
    }

    async fn events(&self, action: &str) -> Vec<AuditEntry> {
        self.store
            .history(EVENTS_LOG, 1000)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .filter(|e| e.action == action)
            .collect()
    }
}

fn observe(ctl: &mut Controller, check: dnsfailback::probe::CheckId, ok: bool) {
    ctl.observe(&probe(check, ok));
}

fn config(toml: &str) -> Config {
    parse(std::path::Path::new("fleet.toml"), toml)
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

/// The fleet with one uplink anchor (its check is fed by [`Fleet::uplink`]).
fn with_anchor(mut config: Config) -> Config {
    let check = config
        .services
        .values()
        .next()
        .map(|s| s.targets[0].checks[0].clone())
        .unwrap_or_else(|| panic!("no service"));
    config.controller.uplink_checks.push(UplinkAnchor {
        name: "provider-api".into(),
        checks: vec![check],
    });
    config
}

impl Fleet {
    fn uplink(&mut self, ok: bool) {
        observe(&mut self.ctl, check_id(UPLINK, "provider-api", 0), ok);
    }
}

#[tokio::test(start_paused = true)]
async fn a_site_outage_moves_every_service_in_one_call_and_one_event() {
    let n = 200;
    let mut f = Fleet::new(config(&fleet_toml(n, |_| PRIMARY.into(), ""))).await;
    for _ in 0..3 {
        f.round(|_, _| true).await;
    }
    assert_eq!(
        f.provider.applied().len(),
        1,
        "the first publication of all 200 records is one change set of the zone"
    );
    // Site A (every primary) goes dark; site B answers.
    let mut rounds = 0;
    while f.failed_over() < n && rounds < 10 {
        f.round(|_, t| t == "backup").await;
        rounds += 1;
    }
    assert_eq!(
        f.failed_over(),
        n,
        "every service moved within {rounds} rounds"
    );
    let applied = f.provider.applied();
    assert_eq!(
        applied.len(),
        2,
        "one provider call for the whole site failover"
    );
    assert_eq!(applied[1].changes.len(), n);
    let events = f.events("failure_event").await;
    assert_eq!(events.len(), 1, "one site event: {events:?}");
    assert!(
        events[0]
            .reason
            .contains(&format!("address {PRIMARY} down")),
        "{}",
        events[0].reason
    );
    let shown = f.ctl.status_of("s0150").and_then(|s| s.event);
    assert_eq!(shown.as_deref(), Some("event 1 (address 192.0.2.10 down)"));
    // The audit of each service names the event it was part of.
    let h = f
        .store
        .history("s0199", 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        h.iter()
            .any(|e| e.action == "failover" && e.reason.contains("[event 1")),
        "{h:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn targets_labelled_with_one_site_fail_over_as_one_site_event() {
    // Primaries on 40 different addresses, all in site `eu-1`: one event, not 40 (which the
    // default max_failovers of 5 would mostly have held).
    let toml = fleet_toml(40, |i| format!("192.0.2.{}", 100 + i), "")
        .replace("priority = 1\n", "priority = 1\nsite = \"eu-1\"\n");
    let mut f = Fleet::new(config(&toml)).await;
    for _ in 0..3 {
        f.round(|_, _| true).await;
    }
    for _ in 0..10 {
        f.round(|_, t| t == "backup").await;
    }
    assert_eq!(f.failed_over(), 40);
    let events = f.events("failure_event").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0]
            .reason
            .starts_with("site eu-1 down: 40 service(s)"),
        "{}",
        events[0].reason
    );
}

#[tokio::test(start_paused = true)]
async fn unrelated_services_failing_one_after_another_are_still_capped() {
    // Seven services, each primary on its own address: seven independent failure domains.
    let mut f = Fleet::new(config(&fleet_toml(
        7,
        |i| format!("192.0.2.{}", 20 + i),
        "",
    )))
    .await;
    for _ in 0..3 {
        f.round(|_, _| true).await;
    }
    // One primary after another dies, 70 s apart (each event closes before the next opens).
    for dead in 1..=7usize {
        for _ in 0..70 {
            f.round(|i, t| t == "backup" || i >= dead).await;
        }
    }
    assert_eq!(
        f.failed_over(),
        5,
        "max_failovers (5 events per 10 min) holds the rest"
    );
    let held = f
        .ctl
        .status_of("s0006")
        .and_then(|s| s.held)
        .unwrap_or_default();
    assert!(
        held.starts_with("max_failovers: 5 failure events"),
        "{held}"
    );
    let audited = f
        .store
        .history("s0006", 20)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        audited
            .iter()
            .any(|e| e.action == "held" && e.reason.starts_with("max_failovers")),
        "a hold by the cap is in the audit trail: {audited:?}"
    );
    assert_eq!(f.events("failure_event").await.len(), 5);
}

#[tokio::test(start_paused = true)]
async fn everything_unreachable_and_the_uplink_down_moves_nothing_with_one_alert() {
    let n = 100;
    let mut f = Fleet::new(with_anchor(config(&fleet_toml(
        n,
        |_| PRIMARY.into(),
        "all_down = \"publish-all\"",
    ))))
    .await;
    for _ in 0..3 {
        f.uplink(true);
        f.round(|_, _| true).await;
    }
    let before = f.provider.applied().len();
    for _ in 0..20 {
        f.uplink(false);
        f.round(|_, _| false).await;
    }
    assert_eq!(
        f.provider.applied().len(),
        before,
        "not even the all-down policy acts on the evidence of a cut-off controller"
    );
    assert_eq!(f.failed_over(), 0);
    let alerts = f.events("self_suspected").await;
    assert_eq!(alerts.len(), 1, "one loud alert: {alerts:?}");
    assert!(
        alerts[0].reason.contains("uplink anchor"),
        "{}",
        alerts[0].reason
    );
}

#[tokio::test(start_paused = true)]
async fn a_cut_off_controller_sees_targets_fall_one_after_another_and_moves_none() {
    // No uplink anchors. The controller loses its network: the primaries' checks fail first,
    // the backups' a second later (probe timing). Deciding on the first falls would send 100
    // services to backups that are about to look dead too.
    let n = 100;
    let mut f = Fleet::new(config(&fleet_toml(n, |_| PRIMARY.into(), ""))).await;
    for _ in 0..3 {
        f.round(|_, _| true).await;
    }
    let before = f.provider.applied().len();
    f.round(|_, t| t == "backup").await;
    for _ in 0..15 {
        f.round(|_, _| false).await;
        assert_eq!(
            f.failed_over(),
            0,
            "a split: some services moved during the onset"
        );
    }
    assert_eq!(f.provider.applied().len(), before);
    let alerts = f.events("self_suspected").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].reason.contains("not one target answers"),
        "{}",
        alerts[0].reason
    );
}

#[tokio::test(start_paused = true)]
async fn half_the_services_down_with_the_uplink_passing_move_and_the_rest_stay() {
    let n = 100;
    let mut f = Fleet::new(with_anchor(config(&fleet_toml(
        n,
        |i| {
            if i < n / 2 {
                PRIMARY.into()
            } else {
                "192.0.2.99".into()
            }
        },
        "",
    ))))
    .await;
    for _ in 0..3 {
        f.uplink(true);
        f.round(|_, _| true).await;
    }
    for _ in 0..5 {
        f.uplink(true);
        f.round(|i, t| i >= n / 2 || t == "backup").await;
    }
    assert_eq!(f.failed_over(), n / 2);
    assert_eq!(f.phase("s0049"), "failed_over");
    assert_eq!(f.phase("s0050"), "normal");
    assert!(f.events("self_suspected").await.is_empty());
    // The same pattern with the uplink anchors down: the controller suspects itself and no
    // further service moves, although backups answer.
    let mut g = Fleet::new(with_anchor(config(&fleet_toml(n, |_| PRIMARY.into(), "")))).await;
    for _ in 0..3 {
        g.uplink(true);
        g.round(|_, _| true).await;
    }
    for _ in 0..5 {
        g.uplink(false);
        g.round(|i, t| i >= n / 2 || t == "backup").await;
    }
    assert_eq!(g.failed_over(), 0);
    assert_eq!(g.events("self_suspected").await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_hook_of_one_service_never_delays_another_services_failover() {
    // s0000 waits for an hour-long pre-failback hook; s0001's primary dies meanwhile.
    let hook = "stable_for = \"2s\"\npre_failback_hook = { command = [\"sleep\", \"3600\"], timeout = \"600s\" }";
    let mut f = Fleet::new(config(&fleet_toml(
        2,
        |i| format!("192.0.2.{}", 40 + i),
        hook,
    )))
    .await;
    for _ in 0..3 {
        f.round(|_, _| true).await;
    }
    // s0000 fails over, then its primary recovers: after stable_for its hook starts and hangs.
    for _ in 0..3 {
        f.round(|i, t| i == 1 || t == "backup").await;
    }
    assert_eq!(f.phase("s0000"), "failed_over");
    for _ in 0..6 {
        f.round(|_, _| true).await;
    }
    let held = f
        .ctl
        .status_of("s0000")
        .and_then(|s| s.held)
        .unwrap_or_default();
    assert!(held.contains("pre_failback_hook running"), "{held}");
    // Now s0001's primary dies: it fails over on time (fall = 2: the second failing round).
    f.round(|i, t| i == 0 || t == "backup").await;
    f.round(|i, t| i == 0 || t == "backup").await;
    assert_eq!(f.phase("s0001"), "failed_over");
    assert_eq!(
        f.phase("s0000"),
        "failed_over",
        "still waiting for its hook"
    );
}

#[tokio::test(start_paused = true)]
async fn a_provider_that_hangs_delays_no_other_zones_failover() {
    use dnsfailback_provider::memory::Fault;
    use dnsfailback_provider::Fqdn;
    // Two zones at two providers; the running loop (`run`, which never waits for a provider).
    let toml = format!(
        "[providers.slow]\nkind = \"embedded\"\n[providers.fast]\nkind = \"embedded\"\n{}{}",
        service_toml("a", "slow", PRIMARY, BACKUP, ""),
        service_toml("b", "fast", "192.0.2.11", BACKUP, "")
    );
    let cfg = config(&toml);
    let fq = |z: &str| Fqdn::new(z).unwrap_or_else(|e| panic!("{e}"));
    let slow = dnsfailback_provider::memory::MemoryProvider::new("slow", &[fq("example.test")]);
    let fast = dnsfailback_provider::memory::MemoryProvider::new("fast", &[fq("example.test")]);
    let (ctl, _) = crate::harness::controller_over(
        cfg,
        &[
            ("slow", std::sync::Arc::new(slow.clone())),
            ("fast", std::sync::Arc::new(fast.clone())),
        ],
    )
    .await;
    let (results, results_rx) = tokio::sync::mpsc::channel(64);
    let (_commands, commands_rx) = tokio::sync::mpsc::channel(1);
    let (_agents, agents_rx) = tokio::sync::mpsc::channel(1);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(ctl.run(results_rx, commands_rx, agents_rx, stop_rx));
    // One probe round for both services (`a_ok`, `b_ok`: their primaries answer), then 1 s.
    let round = |a_ok: bool, b_ok: bool| {
        let results = results.clone();
        async move {
            for (s, primary_ok) in [("a", a_ok), ("b", b_ok)] {
                for (t, ok) in [("primary", primary_ok), ("backup", true)] {
                    let _ = results.send(probe(check_id(s, t, 0), ok)).await;
                }
            }
            tokio::time::advance(S).await;
            tokio::task::yield_now().await;
        }
    };
    for _ in 0..4 {
        round(true, true).await;
    }
    assert_eq!(
        (slow.applied().len(), fast.applied().len()),
        (1, 1),
        "both published"
    );
    // a's primary dies, and its provider takes an hour to answer the failover.
    slow.fail_apply(Fault::Delay(std::time::Duration::from_secs(3600)));
    for _ in 0..4 {
        round(false, true).await;
    }
    assert_eq!(
        slow.apply_calls(),
        2,
        "a's failover is at its provider, hanging"
    );
    // Then b's primary dies: b fails over on time (fall 2, then the 3 s onset settle, as two
    // services fell within 10 s), while a's change still hangs.
    for _ in 0..8 {
        round(false, false).await;
    }
    assert_eq!(
        fast.applied().len(),
        2,
        "b failed over while a's provider hangs"
    );
    assert_eq!(
        slow.applied().len(),
        1,
        "a's change is still at the provider"
    );
    let _ = stop.send(true);
    let _ = task.await;
}
