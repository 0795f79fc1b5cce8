//! Process lifecycle of the real binary: a panic in the control loop ends the process with a
//! non-zero code (so a supervisor restarts it) instead of leaving DNS served by a controller
//! that fails nothing over, and SIGTERM ends it with code 0 within 5 s.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{service_toml_checked, Proc, Scratch};

/// `count` services `s0`..`s{count-1}` in `example.test` on one embedded server, each with a
/// primary and a backup checked over TCP at `up` (a listener the test keeps open).
fn services_config(dir: &Path, up: SocketAddr, count: usize) -> String {
    let mut text = format!(
        r#"{controller}
[providers.local]
kind = "embedded"
listen = "127.0.0.1:0"
"#,
        controller = crate::harness::controller_toml(dir)
    );
    let up = up.to_string();
    for i in 0..count {
        text.push_str(&service_toml_checked(
            &format!("s{i}"),
            "local",
            ("127.0.0.11", &up),
            ("127.0.0.12", &up),
            "ttl = 300\nfailover_ttl = 30",
            "interval = \"100ms\"\ntimeout = \"100ms\"\nrise = 2\nfall = 2",
        ));
    }
    text
}

fn up_listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
    (l, addr)
}

/// The `panic-in-tick` failpoint (`src/reconcile/mod.rs`) panics the loop task on its first
/// tick.
#[test]
fn a_panic_in_the_control_loop_ends_the_process_with_an_error() {
    let dir = Scratch::new("lifecycle-panic");
    let (_up, up) = up_listener();
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, services_config(&dir.0, up, 2)).unwrap_or_else(|e| panic!("{e}"));
    let mut c = Proc::start(&cfg, &[("DNSFAILBACK_FAILPOINT", "panic-in-tick")]);
    let status = c.wait_exit(Duration::from_secs(30)).unwrap_or_else(|| {
        panic!(
            "the controller kept running after a panic in its control loop; log:\n{}",
            c.log()
        )
    });
    assert!(!status.success(), "exit status {status}; log:\n{}", c.log());
    assert_eq!(status.code(), Some(70), "log:\n{}", c.log());
    let log = c.log();
    assert!(log.contains("failpoint panic-in-tick"), "log:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_with_code_0_within_5_seconds() {
    let dir = Scratch::new("lifecycle-term");
    let (_up, up) = up_listener();
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, services_config(&dir.0, up, 5)).unwrap_or_else(|e| panic!("{e}"));
    let mut c = Proc::start(&cfg, &[]);
    let dns = c.dns_addr();
    // The loop is busy: wait until it has published every service.
    let start = Instant::now();
    for i in 0..5 {
        loop {
            let name = format!("s{i}.example.test.");
            if let Ok(a) = dnsfailback::cli::dig::lookup(dns, &name, "A").await {
                if a.values == ["127.0.0.11"] {
                    break;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{name} never published; log:\n{}",
                c.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let sent = Instant::now();
    c.sigterm();
    let status = c.wait_exit(Duration::from_secs(10));
    let took = sent.elapsed();
    let status =
        status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM; log:\n{}", c.log()));
    assert_eq!(status.code(), Some(0), "log:\n{}", c.log());
    assert!(
        took < Duration::from_secs(5),
        "SIGTERM took {took:?}; log:\n{}",
        c.log()
    );
}
