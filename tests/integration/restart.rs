//! Crash recovery: SIGKILL the controller right after it journaled an intent and before the
//! provider change, start it again, and check it converges to the right records with the
//! original TTL intact.

use std::time::Duration;

use dnsfailback::backend::Backend;

use crate::harness::{config, shop_files, wait_dns, Proc, Scratch, ADMIN_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_intent_and_apply_converges_after_restart() {
    let dir = Scratch::new("restart");
    let primary = Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let primary_addr = primary.addr();
    let backup = Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, config(&dir.0, primary_addr, backup.addr(), ""))
        .unwrap_or_else(|e| panic!("{e}"));

    // 1. Normal start: the primary is published with the normal TTL.
    let mut first = Proc::start(&cfg, &[]);
    let dns = first.dns_addr();
    wait_dns(dns, Duration::from_secs(20), "the primary", |a| {
        a.values == ["127.0.0.11"] && a.ttl == Some(300)
    })
    .await;
    first.kill();

    // 2. The primary dies; the controller decides to fail over, journals the intent and is
    //    killed before it can call the provider.
    drop(primary);
    let mut second = Proc::start(&cfg, &[("DNSFAILBACK_FAILPOINT", "after-intent")]);
    second.wait_for("failpoint after-intent reached", Duration::from_secs(20));
    second.kill();
    assert!(!second.alive());

    // 3. Restart without the failpoint: the open intent is resumed and the answer converges.
    let third = Proc::start(&cfg, &[]);
    let dns = third.dns_addr();
    third.wait_for("resuming intent", Duration::from_secs(10));
    let a = wait_dns(dns, Duration::from_secs(10), "the backup", |a| {
        a.values == ["127.0.0.12"]
    })
    .await;
    assert_eq!(a.ttl, Some(30));

    let admin = third.admin_addr();
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{admin}/v1/status/shop"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        body["original_ttl"], 300,
        "the original TTL survived two crashes: {body}"
    );
    assert_eq!(body["phase"]["phase"], "failed_over", "{body}");
}

/// Publishes the primary with a first controller on `cfg` (stopped), kills the primary's
/// backend, and starts a second controller with `failpoint`, waiting until its failover has
/// reached it; returns the second controller.
async fn in_flight_failover(cfg: &std::path::Path, primary: Backend, failpoint: &str) -> Proc {
    let mut first = Proc::start(cfg, &[]);
    wait_dns(
        first.dns_addr(),
        Duration::from_secs(20),
        "the primary",
        |a| a.values == ["127.0.0.11"] && a.ttl == Some(300),
    )
    .await;
    first.kill();
    drop(primary);
    let p = Proc::start(cfg, &[("DNSFAILBACK_FAILPOINT", failpoint)]);
    p.wait_for(
        &format!("failpoint {failpoint} reached"),
        Duration::from_secs(20),
    );
    p
}

/// The `shop` set-up with a failover stopped at `failpoint`, then SIGTERM: asserts exit 0
/// within 5 s and returns what the test goes on with (the backup must stay up).
async fn sigterm_mid_change(
    tag: &str,
    failpoint: &str,
) -> (
    Scratch,
    dnsfailback::backend::Backend,
    std::path::PathBuf,
    Proc,
) {
    let dir = Scratch::new(tag);
    let (primary, backup, cfg) = shop_files(&dir).await;
    let mut first = in_flight_failover(&cfg, primary, failpoint).await;
    let (code, took) = terminate(&mut first);
    assert_eq!(code, Some(0), "log:\n{}", first.log());
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
    (dir, backup, cfg, first)
}

/// SIGTERM, then the exit code and how long it took (at most 10 s waited).
fn terminate(p: &mut Proc) -> (Option<i32>, Duration) {
    let sent = std::time::Instant::now();
    p.sigterm();
    let status = p.wait_exit(Duration::from_secs(10));
    (status.and_then(|s| s.code()), sent.elapsed())
}

/// A change paused between its durable intent and the provider call when SIGTERM arrives:
/// the process exits 0 within 5 s without calling the provider (the records still say the
/// primary), and the next start resumes the journaled intent to the backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_change_journals_it_and_the_next_start_finishes_it() {
    let (_dir, _backup, cfg, _first) = sigterm_mid_change("term-journal", "after-intent").await;

    let second = Proc::start(&cfg, &[]);
    second.wait_for("resuming intent", Duration::from_secs(10));
    let a = wait_dns(
        second.dns_addr(),
        Duration::from_secs(10),
        "the backup",
        |a| a.values == ["127.0.0.12"],
    )
    .await;
    assert_eq!(a.ttl, Some(30));
    let body = status_of(&second).await;
    assert_eq!(body["original_ttl"], 300, "{body}");
    assert_eq!(body["phase"]["phase"], "failed_over", "{body}");

    // The resumed change has its id like any other: `rollback` takes it back to the primary.
    let history: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{}/v1/history/shop", second.admin_addr()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let entries = history.as_array().cloned().unwrap_or_default();
    let id = entries
        .iter()
        .find(|e| e["action"] == "failover" && e["change_id"].is_i64())
        .and_then(|e| e["change_id"].as_i64())
        .unwrap_or_else(|| panic!("the resumed failover has a change id: {history}"));
    let cfg_s = cfg.display().to_string();
    let admin = second.admin_addr().to_string();
    let (code, out, err) = crate::harness::cli(
        &["rollback", &id.to_string(), "-c", &cfg_s, "--admin", &admin],
        &[("DNSFAILBACK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    assert_eq!(code, 0, "rollback of the resumed change: {out}{err}");
    wait_dns(
        second.dns_addr(),
        Duration::from_secs(10),
        "the primary again",
        |a| a.values == ["127.0.0.11"],
    )
    .await;
}

/// A change at the provider when SIGTERM arrives is finished and recorded before the exit:
/// exit 0 within 5 s, the backup published, and the next start has no intent to resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_provider_call_finishes_and_records_the_change() {
    let (_dir, _backup, cfg, first) = sigterm_mid_change("term-finish", "slow-apply").await;
    let log = first.log();
    assert!(
        log.contains("moving traffic to `backup`"),
        "the change was recorded before the exit; log:\n{log}"
    );

    let second = Proc::start(&cfg, &[]);
    let a = wait_dns(
        second.dns_addr(),
        Duration::from_secs(10),
        "the backup",
        |a| a.values == ["127.0.0.12"],
    )
    .await;
    assert_eq!(a.ttl, Some(30));
    let body = status_of(&second).await;
    assert_eq!(body["phase"]["phase"], "failed_over", "{body}");
    assert!(
        !second.log().contains("resuming intent"),
        "nothing was left open; log:\n{}",
        second.log()
    );
}

async fn status_of(p: &Proc) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("http://{}/v1/status/shop", p.admin_addr()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}
