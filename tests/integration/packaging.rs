//! The systemd unit shipped in examples/ is valid and hardened: `systemd-analyze verify`
//! accepts it without a single warning (with ExecStart pointed at the binary under test), and
//! the hardening the runbook promises is in it. systemd-analyze comes from the `systemd`
//! package, which scripts/install-test-deps.sh installs; a missing one fails the test.

use std::path::Path;
use std::process::Command;

use crate::harness::Scratch;

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
