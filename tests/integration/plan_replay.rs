//! `plan` equals what the loop applies: recorded scenarios replayed on the paused clock, and
//! before every tick the plan is taken; the tick must then send exactly the planned change
//! sets and leave every service in the planned phase.

use std::time::Duration;

use dnsfailback::config::validate::parse;
use dnsfailback::health::check_id;
use dnsfailback::reconcile::{Controller, ServicePlan};
use dnsfailback_provider::memory::MemoryProvider;

use crate::harness::{probe, service_toml};

/// `n` services in two sites: even ones have their primary in site a (one address), odd ones
/// in site b; every backup is in site c. Canary steps on all; `extra` in `[controller]`.
fn fleet(n: usize, controller: &str) -> String {
    let mut t = format!("[controller]\n{controller}\n[providers.mem]\nkind = \"embedded\"\n");
    for i in 0..n {
        let primary = if i.is_multiple_of(2) {
            "192.0.2.10"
        } else {
            "192.0.2.20"
        };
        t.push_str(&service_toml(
            &format!("s{i:03}"),
            "mem",
            primary,
            "198.51.100.20",
            "ttl = 300\nfailover_ttl = 30\nstable_for = \"20s\"\nrestore_ttl_after = \"2m\"\n\
             canary_steps = [10, 50, 100]\nstep_hold = \"10s\"",
        ));
    }
    t
}

struct Replay {
    ctl: Controller,
    provider: MemoryProvider,
    names: Vec<String>,
    /// How many ticks sent at least one change, to prove the scenario moved traffic.
    ticks_with_changes: usize,
}

impl Replay {
    async fn new(text: &str, n: usize) -> Replay {
        let (config, _) =
            parse(std::path::Path::new("replay.toml"), text).unwrap_or_else(|e| panic!("{e}"));
        let (ctl, provider, _) = crate::harness::memory_controller(config).await;
        Replay {
            ctl,
            provider,
            names: (0..n).map(|i| format!("s{i:03}")).collect(),
            ticks_with_changes: 0,
        }
    }

    /// One round: probe results in, the plan taken, the tick run; the tick must do exactly
    /// what the plan said. `up(index, target)` scripts the health.
    async fn round(&mut self, label: &str, up: impl Fn(usize, &str) -> bool) {
        for (i, name) in self.names.iter().enumerate() {
            for target in ["primary", "backup"] {
                self.ctl
                    .observe(&probe(check_id(name, target, 0), up(i, target)));
            }
        }
        let planned = self.ctl.plan().await;
        let before = self.provider.applied().len();
        self.ctl.tick().await;
        let applied: Vec<String> = self.provider.applied()[before..]
            .iter()
            .flat_map(|cs| cs.changes.iter().map(|c| format!("{c:?}")))
            .collect();
        let mut want: Vec<String> = planned
            .iter()
            .filter_map(|p| p.plan.as_ref())
            .flat_map(|p| p.changes.changes.iter().map(|c| format!("{c:?}")))
            .collect();
        let mut got = applied.clone();
        want.sort();
        got.sort();
        assert_eq!(want, got, "{label}: the tick did not do what the plan said");
        if !got.is_empty() {
            self.ticks_with_changes += 1;
        }
        self.check_phases(label, &planned);
        tokio::time::advance(Duration::from_secs(1)).await;
    }

    /// Every service the plan decided is in the planned phase after the tick.
    fn check_phases(&self, label: &str, planned: &[ServicePlan]) {
        for p in planned {
            let now = self
                .ctl
                .status_of(&p.service)
                .map(|s| s.phase.label().to_string())
                .unwrap_or_default();
            assert_eq!(now, p.phase, "{label}: {} ({})", p.service, p.reason);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_site_outage_and_staged_failback_happen_exactly_as_planned() {
    let n = 40;
    let mut r = Replay::new(&fleet(n, ""), n).await;
    for i in 0..3 {
        r.round(&format!("healthy {i}"), |_, _| true).await;
    }
    // Site a (the even services' primaries) goes dark.
    let site_a_down = |i: usize, t: &str| !(i.is_multiple_of(2) && t == "primary");
    for i in 0..10 {
        r.round(&format!("site a down {i}"), site_a_down).await;
    }
    let moved = r
        .names
        .iter()
        .filter(|n| {
            r.ctl
                .status_of(n)
                .is_some_and(|s| s.phase.label() == "failed_over")
        })
        .count();
    assert_eq!(moved, n / 2, "every service of site a failed over");
    // Site a is back: stable_for, canary steps 10/50/100 with 10 s holds, TTL restore.
    for i in 0..200 {
        r.round(&format!("site a back {i}"), |_, _| true).await;
    }
    let normal = r
        .names
        .iter()
        .filter(|n| {
            r.ctl
                .status_of(n)
                .is_some_and(|s| s.phase.label() == "normal")
        })
        .count();
    assert_eq!(normal, n, "all back to normal with the TTL restored");
    assert!(
        r.ticks_with_changes >= 6,
        "publish, failover, 3 canary steps, restore: {}",
        r.ticks_with_changes
    );
}

#[tokio::test(start_paused = true)]
async fn holds_by_the_failover_cap_are_planned_as_holds() {
    // One event per 10 min: site a opens it; site b, failing later, is held by the cap.
    let n = 10;
    let mut r = Replay::new(&fleet(n, "max_failovers = 1"), n).await;
    for i in 0..3 {
        r.round(&format!("healthy {i}"), |_, _| true).await;
    }
    for i in 0..5 {
        r.round(&format!("site a down {i}"), |i, t| {
            !(i.is_multiple_of(2) && t == "primary")
        })
        .await;
    }
    for i in 0..5 {
        r.round(&format!("site b down too {i}"), |_, t| t != "primary")
            .await;
    }
    let planned = r.ctl.plan().await;
    let held: Vec<&ServicePlan> = planned
        .iter()
        .filter(|p| {
            p.held
                .as_deref()
                .is_some_and(|h| h.starts_with("max_failovers"))
        })
        .collect();
    assert_eq!(
        held.len(),
        n / 2,
        "site b's services are held: {planned:#?}"
    );
    assert!(
        held.iter().all(|p| p.plan.is_none()),
        "a hold changes nothing"
    );
}
