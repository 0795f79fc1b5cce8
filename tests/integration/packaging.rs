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
