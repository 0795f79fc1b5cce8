//! A governed change runs beside the control loop, never in it: a rollback stuck at a slow
//! provider does not delay another service's failover, and its operator gets the answer when
//! the provider finally answers. The real `Controller::run` on tokio's paused clock, with
//! in-memory providers (one of them made to hang for a minute).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dnsfailback::config::validate::parse;
use dnsfailback::health::check_id;
use dnsfailback::policy::command::{Operation, OperatorCommand};
use dnsfailback::state::Store;
use dnsfailback_provider::memory::{Fault, MemoryProvider};
use dnsfailback_provider::{Fqdn, RecordType};
use tokio::sync::{mpsc, oneshot, watch};

use crate::harness::{controller_over, probe, service_toml};

fn fq(s: &str) -> Fqdn {
    Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
}

/// `shop` in zone other.test on provider `slow`, `blog` in example.test on `mem`.
fn config() -> dnsfailback::config::Config {
    let shop = r#"
[services.shop]
provider = "slow"
zone = "other.test"
name = "shop.other.test"
type = "A"
[[services.shop.targets]]
name = "primary"
address = "192.0.2.10"
priority = 1
[[services.shop.targets.checks]]
kind = "tcp"
address = "127.0.0.1:9"
[[services.shop.targets]]
name = "backup"
address = "198.51.100.20"
priority = 2
[[services.shop.targets.checks]]
kind = "tcp"
address = "127.0.0.1:9"
"#;
    let text = format!(
        "[controller]\ntick = \"100ms\"\n[providers.mem]\nkind = \"embedded\"\n\
         [providers.slow]\nkind = \"embedded\"\n{shop}\n{}",
        service_toml("blog", "mem", "192.0.2.30", "198.51.100.40", "")
    );
    parse(Path::new("governance_loop.toml"), &text)
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

/// Sends one round of probe results: every check up, except blog's primary when `blog_down`.
async fn round(results: &mpsc::Sender<dnsfailback::probe::ProbeResult>, blog_down: bool) {
    for (service, target) in [
        ("shop", "primary"),
        ("shop", "backup"),
        ("blog", "primary"),
        ("blog", "backup"),
    ] {
        let ok = !(blog_down && service == "blog" && target == "primary");
        let _ = results.send(probe(check_id(service, target, 0), ok)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::test(start_paused = true)]
async fn a_rollback_stuck_at_a_slow_provider_never_delays_another_services_failover() {
    let slow = MemoryProvider::new("slow", &[fq("other.test")]);
    let mem = MemoryProvider::new("mem", &[fq("example.test")]);
    let (ctl, store) = controller_over(
        config(),
        &[
            ("slow", Arc::new(slow.clone())),
            ("mem", Arc::new(mem.clone())),
        ],
    )
    .await;
    let (results, results_rx) = mpsc::channel(1024);
    let (commands, commands_rx) = mpsc::channel(8);
    let (_agents, agents_rx) = mpsc::channel(8);
    let (stop, stop_rx) = watch::channel(false);
    let running = tokio::spawn(ctl.run(results_rx, commands_rx, agents_rx, stop_rx));

    // Both services published on their primaries; shop's first publication is change N.
    for _ in 0..30 {
        round(&results, false).await;
    }
    let blog = || mem.snapshot(&fq("example.test"), &fq("blog.example.test"), RecordType::A);
    assert_eq!(
        blog().first().map(|s| s.values.clone()),
        Some(vec!["192.0.2.30".into()])
    );
    let history = store
        .history("shop", 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let change = history
        .iter()
        .find_map(|e| e.change_id)
        .unwrap_or_else(|| panic!("shop's publication has a change id: {history:?}"));

    // The operator rolls it back while shop's provider hangs for a minute.
    slow.fail_apply(Fault::Delay(Duration::from_secs(60)));
    let (reply, mut answer) = oneshot::channel();
    let op = Operation::Rollback {
        change_id: change,
        force: false,
    };
    let command = OperatorCommand {
        service: "shop".into(),
        op,
        actor: "alice".into(),
        reply,
    };
    commands
        .send(command)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Meanwhile blog's primary dies: it fails over within seconds, the rollback still waits.
    let started = tokio::time::Instant::now();
    while blog().first().map(|s| s.values.clone()) != Some(vec!["198.51.100.40".into()]) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "blog did not fail over while shop's rollback hung: {:?}",
            blog()
        );
        round(&results, true).await;
    }
    assert!(
        matches!(answer.try_recv(), Err(oneshot::error::TryRecvError::Empty)),
        "the rollback cannot have finished: its provider hangs for a minute"
    );

    // The provider answers after its minute: the operator gets the rollback's answer.
    let answered = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            round(&results, true).await;
            if let Ok(a) = answer.try_recv() {
                return a;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no answer to the rollback"));
    let text = answered.unwrap_or_else(|e| panic!("rollback refused: {e}"));
    assert!(
        text.contains(&format!("change {change} rolled back")),
        "{text}"
    );
    assert!(
        slow.snapshot(&fq("other.test"), &fq("shop.other.test"), RecordType::A)
            .is_empty(),
        "the first publication's inverse deletes the record"
    );
    let _ = stop.send(true);
    let _ = running.await;
}

/// A rollback across a provider that is down is refused with the reason, changes nothing and
/// is audited with the operator's name; once the provider is back, the same rollback goes
/// through.
#[tokio::test(start_paused = true)]
async fn a_rollback_across_a_provider_that_is_down_changes_nothing_and_is_audited() {
    let slow = MemoryProvider::new("slow", &[fq("other.test")]);
    let mem = MemoryProvider::new("mem", &[fq("example.test")]);
    let (mut ctl, store) = controller_over(
        config(),
        &[
            ("slow", Arc::new(slow.clone())),
            ("mem", Arc::new(mem.clone())),
        ],
    )
    .await;
    for _ in 0..30 {
        for (service, target) in [("shop", "primary"), ("shop", "backup")] {
            ctl.observe(&probe(check_id(service, target, 0), true));
        }
        ctl.tick().await;
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    let shop = || slow.snapshot(&fq("other.test"), &fq("shop.other.test"), RecordType::A);
    let before = shop();
    assert!(!before.is_empty(), "shop published");
    let history = store
        .history("shop", 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let change = history
        .iter()
        .find_map(|e| e.change_id)
        .unwrap_or_else(|| panic!("a change id: {history:?}"));

    let op = || Operation::Rollback {
        change_id: change,
        force: false,
    };
    slow.fail_read(Fault::Error(dnsfailback_provider::ErrorKind::Transient));
    let refused = ctl.command("shop", op(), "alice").await;
    let why = refused.err().unwrap_or_default();
    assert!(why.contains("nothing was changed"), "{why}");
    assert_eq!(shop(), before, "nothing half-applied");
    let history = store
        .history("shop", 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let audited = history
        .iter()
        .find(|e| e.action == "rollback_refused")
        .unwrap_or_else(|| panic!("the refusal is audited: {history:?}"));
    assert_eq!(audited.actor, "alice");

    // The provider is back: the same rollback is carried out.
    let done = ctl.command("shop", op(), "alice").await;
    let text = done.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text.contains(&format!("change {change} rolled back")),
        "{text}"
    );
    assert!(
        shop().is_empty(),
        "the first publication's inverse deletes the record"
    );
}
