//! The systemd unit shipped in examples/ is valid and hardened: `systemd-analyze verify`
//! accepts it without a single warning (with ExecStart pointed at the binary under test), and
//! the hardening the runbook promises is in it. systemd-analyze comes from the `systemd`
//! package, which scripts/install-test-deps.sh installs; a missing one fails the test.

use std::path::Path;
use std::process::Command;

use std::time::Duration;

use crate::harness::{Proc, Scratch};

const UNIT: &str = include_str!("../../examples/systemd/dnsfailback.service");

/// `systemd-analyze verify` on `text` written as `dnsfailback.service`: (success, stderr).
fn verify(dir: &Path, text: &str) -> (bool, String) {
    let path = dir.join("dnsfailback.service");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run systemd-analyze ({e}): scripts/install-test-deps.sh installs it \
                 (apt package systemd)"
            )
        });
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_systemd_unit_verifies_without_a_warning_and_is_hardened() {
    let dir = Scratch::new("systemd-unit");
    let unit = UNIT.replace(
        "/usr/local/bin/dnsfailback",
        env!("CARGO_BIN_EXE_dnsfailback"),
    );
    let (ok, stderr) = verify(&dir.0, &unit);
    assert!(
        ok && stderr.trim().is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );

    for line in [
        "DynamicUser=yes",
        "StateDirectory=dnsfailback",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_RAW",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "Type=notify",
        "WatchdogSec=30s",
    ] {
        assert!(
            UNIT.lines().any(|l| l.trim() == line),
            "the unit lacks `{line}`"
        );
    }

    // The check can fail: a misspelt key is reported.
    let typo = unit.replace("NoNewPrivileges=yes", "NoNewPrivilegez=yes");
    let (_, stderr) = verify(&dir.0, &typo);
    assert!(stderr.contains("NoNewPrivilegez"), "{stderr}");
}

/// `dnsfailback completions bash` is a script bash accepts, and completing `dnsfailback fail`
/// in it offers exactly the subcommands that start so; zsh gets its own format.
#[test]
fn the_bash_completion_completes_subcommands_and_zsh_gets_a_compdef() {
    let (code, script, err) = crate::harness::cli(&["completions", "bash"], &[]);
    assert_eq!(code, 0, "{err}");
    let dir = crate::harness::Scratch::new("completions");
    let file = dir.path("dnsfailback.bash");
    std::fs::write(&file, &script).unwrap_or_else(|e| panic!("{e}"));
    let probe = format!(
        "source {}\nCOMP_WORDS=(dnsfailback fail)\nCOMP_CWORD=1\n_dnsfailback dnsfailback fail dnsfailback\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .unwrap_or_else(|e| panic!("bash: {e}"));
    let offered = String::from_utf8_lossy(&out.stdout);
    let mut words: Vec<&str> = offered.split_whitespace().collect();
    words.sort_unstable();
    assert_eq!(
        words,
        ["failback", "failover"],
        "{offered}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (code, zsh, _) = crate::harness::cli(&["completions", "zsh"], &[]);
    assert_eq!(code, 0);
    assert!(zsh.starts_with("#compdef dnsfailback"), "{zsh}");
    let (code, _, err) = crate::harness::cli(&["completions", "tcsh"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("possible values: bash"), "{err}");
}

/// `dnsfailback man` is a roff page naming the program and every subcommand.
#[test]
fn the_manual_page_lists_every_subcommand() {
    let (code, page, err) = crate::harness::cli(&["man"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(page.contains(".TH dnsfailback 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for sub in [
        "run",
        "validate",
        "status",
        "failover",
        "failback",
        "agent",
        "completions",
    ] {
        assert!(
            page.contains(&format!("dnsfailback\\-{sub}(1)")),
            "`{sub}` missing:\n{page}"
        );
    }
    // The pages it refers to, one per subcommand, with their own options.
    let dir = Scratch::new("man");
    let d = dir.0.display().to_string();
    let (code, _, err) = crate::harness::cli(&["man", "--out", &d], &[]);
    assert_eq!(code, 0, "{err}");
    let failover = std::fs::read_to_string(dir.path("dnsfailback-failover.1"))
        .unwrap_or_else(|e| panic!("no page for failover: {e}"));
    assert!(failover.contains("token\\-env"), "{failover}");
    let (code, _, err) = crate::harness::cli(&["man", "--out", "/nonexistent/man1"], &[]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("/nonexistent/man1"), "{err}");
}

/// Receives systemd notifications on a socket of the test's, each message as text.
fn notifications(sock: std::os::unix::net::UnixDatagram) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok(n) = sock.recv(&mut buf) {
            if tx
                .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    rx
}

/// Waits for `wanted` among the notifications; returns those seen before it.
fn wait_note(rx: &std::sync::mpsc::Receiver<String>, wanted: &str, limit: Duration) -> Vec<String> {
    let until = std::time::Instant::now() + limit;
    let mut before = Vec::new();
    loop {
        let left = until.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(m) if m == wanted => return before,
            Ok(m) => before.push(m),
            Err(_) => panic!("no {wanted} within {limit:?}; got {before:?}"),
        }
    }
}

/// Under `Type=notify`: READY=1 once the embedded DNS answers, the watchdog fed while the
/// loop ticks, RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_speaks_the_systemd_notify_protocol_with_a_watchdog() {
    let dir = Scratch::new("sd-notify");
    let socket = dir.path("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&socket).unwrap_or_else(|e| panic!("{e}"));
    let rx = notifications(sock);
    let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let up = up.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path("dnsfailback.toml");
    std::fs::write(&cfg, crate::harness::config(&dir.0, up, up, ""))
        .unwrap_or_else(|e| panic!("{e}"));
    let socket = socket.display().to_string();
    let mut p = Proc::start(
        &cfg,
        &[("NOTIFY_SOCKET", &socket), ("WATCHDOG_USEC", "400000")],
    );

    wait_note(&rx, "READY=1", Duration::from_secs(20));
    // Ready means serving: the DNS server answers at once.
    dnsfailback::cli::dig::lookup(p.dns_addr(), "shop.example.test.", "A")
        .await
        .unwrap_or_else(|e| panic!("DNS not answering after READY=1: {e}"));
    for _ in 0..3 {
        wait_note(&rx, "WATCHDOG=1", Duration::from_secs(2));
    }
    p.signal("HUP");
    wait_note(&rx, "RELOADING=1", Duration::from_secs(10));
    let between = wait_note(&rx, "READY=1", Duration::from_secs(10));
    assert!(
        between.iter().all(|m| m == "WATCHDOG=1"),
        "only watchdog pings between RELOADING and READY: {between:?}"
    );
    p.sigterm();
    wait_note(&rx, "STOPPING=1", Duration::from_secs(10));
    let status = p.wait_exit(Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "log:\n{}", p.log());
}

/// The container example is consistent: BIND accepts its named.conf (with a key made by
/// `tsig-keygen`, as its README says) and its zone, and `dnsfailback validate` accepts the
/// controller's file with the same key file and a token file.
#[test]
fn the_compose_example_is_accepted_by_bind_and_by_validate() {
    let dir = Scratch::new("compose-example");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/container");
    let read = |name: &str| {
        std::fs::read_to_string(example.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let run = |cmd: &mut Command| {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}; scripts/install-test-deps.sh installs it"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let key = dir.path("tsig.key");
    let (ok, text) = run(Command::new("tsig-keygen").args(["-a", "hmac-sha256", "dnsfailback"]));
    assert!(ok, "{text}");
    std::fs::write(&key, &text).unwrap_or_else(|e| panic!("{e}"));

    let conf = dir.path("named.conf");
    let named = read("named.conf").replace("/etc/bind/tsig.key", &key.display().to_string());
    std::fs::write(&conf, named).unwrap_or_else(|e| panic!("{e}"));
    let (ok, text) = run(Command::new("named-checkconf").arg(&conf));
    assert!(ok, "named-checkconf: {text}");
    let (ok, text) = run(Command::new("named-checkzone")
        .args(["example.com"])
        .arg(example.join("example.com.zone")));
    assert!(ok, "named-checkzone: {text}");

    let token = dir.path("admin.token");
    std::fs::write(&token, "example-admin-token-0123456789abcdef")
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = dir.path("dnsfailback.toml");
    let toml = read("dnsfailback.toml")
        .replace("/etc/dnsfailback/tsig.key", &key.display().to_string())
        .replace("/etc/dnsfailback/admin.token", &token.display().to_string())
        .replace("/var/lib/dnsfailback", &dir.0.display().to_string());
    std::fs::write(&cfg, toml).unwrap_or_else(|e| panic!("{e}"));
    let cfg = cfg.display().to_string();
    let (code, out, err) = crate::harness::cli(&["validate", "-c", &cfg], &[]);
    assert_eq!(code, 0, "validate:\n{out}{err}");
}
