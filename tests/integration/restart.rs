//! Crash recovery: SIGKILL the controller right after it journaled an intent and before the
//! provider change, start it again, and check it converges to the right records with the
//! original TTL intact.

use std::time::Duration;

use dnsfailback::backend::Backend;

use crate::harness::{config, wait_dns, Proc, Scratch, ADMIN_TOKEN};

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
