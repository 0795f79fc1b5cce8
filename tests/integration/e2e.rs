//! The real binary, the embedded DNS server and real HTTP/TCP backends on loopback: kill the
//! primary, see the DNS answer move; bring it back, see the answer and then the TTL return.

use std::time::Duration;

use dnsfailback::backend::Backend;

use crate::harness::{cli, config, wait_dns, Proc, Scratch, ADMIN_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_dies_answer_moves_to_backup_and_comes_back_with_ttl_restored() {
    let dir = Scratch::new("e2e");
    let mut primary = Some(
        Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let primary_addr = primary
        .as_ref()
        .map(|p| p.addr())
        .unwrap_or_else(|| unreachable!());
    let backup = Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, config(&dir.0, primary_addr, backup.addr(), ""))
        .unwrap_or_else(|e| panic!("{e}"));

    // No controller yet: `plan` plans here, and the first publication is what it shows.
    let cfg_s = cfg.to_string_lossy().to_string();
    let (code, out, err) = cli(&["plan", "-c", &cfg_s], &[]);
    assert_eq!(code, 0, "offline plan failed: {err}");
    assert!(out.contains("# plan by this process"), "{out}");
    assert!(out.contains("create shop.example.test"), "{out}");

    let proc = Proc::start(&cfg, &[]);
    let dns = proc.dns_addr();
    let admin = proc.admin_addr().to_string();

    let a = wait_dns(dns, Duration::from_secs(20), "the primary", |a| {
        a.values == ["127.0.0.11"]
    })
    .await;
    assert_eq!(a.ttl, Some(300), "normal TTL while healthy");

    drop(primary.take()); // the primary backend dies
    let a = wait_dns(dns, Duration::from_secs(10), "the backup", |a| {
        a.values == ["127.0.0.12"]
    })
    .await;
    assert_eq!(a.ttl, Some(30), "failover TTL published with the switch");

    // status through the real CLI and admin API
    let (code, out, err) = cli(
        &["status", "-c", &cfg_s, "--admin", &admin],
        &[("DNSFAILBACK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    assert_eq!(code, 0, "status failed: {err}");
    assert!(out.contains("phase: failed_over"), "{out}");
    assert!(out.contains("primary") && out.contains("down"), "{out}");

    // `plan` asks the running controller: failed over, nothing left to change.
    let (code, out, err) = cli(
        &["plan", "--json", "-c", &cfg_s, "--admin", &admin],
        &[("DNSFAILBACK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    assert_eq!(code, 0, "plan failed: {err}");
    let plans: Vec<dnsfailback::reconcile::ServicePlan> =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(plans.len(), 1, "{out}");
    assert_eq!(plans[0].phase, "failed_over", "{out}");
    assert!(plans[0].plan.is_none(), "nothing left to change: {out}");

    primary = Some(
        Backend::start(primary_addr)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let a = wait_dns(dns, Duration::from_secs(15), "the primary again", |a| {
        a.values == ["127.0.0.11"]
    })
    .await;
    assert_eq!(a.ttl, Some(30), "failover TTL kept until the restore time");
    wait_dns(dns, Duration::from_secs(15), "the original TTL", |a| {
        a.values == ["127.0.0.11"] && a.ttl == Some(300)
    })
    .await;

    let (code, out, err) = cli(
        &["history", "shop", "-c", &cfg_s, "--admin", &admin],
        &[("DNSFAILBACK_TEST_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    assert_eq!(code, 0, "history failed: {err}");
    for action in ["failover", "failback", "canary_complete", "ttl_restore"] {
        assert!(out.contains(action), "audit trail lacks {action}:\n{out}");
    }
    // Secrets never leak into logs, status or audit output.
    for text in [proc.log(), out] {
        assert!(
            !text.contains(ADMIN_TOKEN),
            "the admin token leaked:\n{text}"
        );
    }
    drop(primary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_pre_failback_hook_keeps_traffic_on_the_backup_until_it_passes() {
    let dir = Scratch::new("hook");
    let ready = dir.path("replication-caught-up");
    let mut primary = Some(
        Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let primary_addr = primary
        .as_ref()
        .map(|p| p.addr())
        .unwrap_or_else(|| unreachable!());
    let backup = Backend::start("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path("dnsfailback.toml");
    let hook = format!(
        "pre_failback_hook = {{ command = [\"test\", \"-e\", \"{}\"], timeout = \"2s\" }}",
        ready.display()
    );
    std::fs::write(&cfg, config(&dir.0, primary_addr, backup.addr(), &hook))
        .unwrap_or_else(|e| panic!("{e}"));
    let proc = Proc::start(&cfg, &[]);
    let dns = proc.dns_addr();
    wait_dns(dns, Duration::from_secs(20), "the primary", |a| {
        a.values == ["127.0.0.11"]
    })
    .await;
    drop(primary.take());
    wait_dns(dns, Duration::from_secs(10), "the backup", |a| {
        a.values == ["127.0.0.12"]
    })
    .await;
    primary = Some(
        Backend::start(primary_addr)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    proc.wait_for("pre_failback_hook failed", Duration::from_secs(15));
    // The primary is healthy and stable_for (1 s) has passed, but the hook says no: no answer
    // may point at the primary.
    for _ in 0..20 {
        let a = dnsfailback::cli::dig::lookup(dns, "shop.example.test.", "A")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            a.values,
            ["127.0.0.12"],
            "failback started although the hook failed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(&ready, "ok").unwrap_or_else(|e| panic!("{e}"));
    wait_dns(dns, Duration::from_secs(20), "only the primary", |a| {
        a.values == ["127.0.0.11"]
    })
    .await;
    drop(primary);
}
