//! Tests of the whole validation: large generated files, line numbers, the bounds of every
//! duration key, sites, uplink anchors and the liveness-only warning. The provider rules have
//! their own tests (`provider_rules/tests.rs`).
//!
//! Config validation runs before the flow starts; these tests go through [`super::parse`]
//! like the controller does.

use std::path::Path;
use std::time::Duration;

use dnsfailback_provider::Fqdn;

use super::parse;
use crate::config::Problem;

fn service_with_checks(primary_checks: &str) -> String {
    format!(
        r#"
[providers.local]
kind = "embedded"

[services.shop]
provider = "local"
zone = "example.test"
name = "shop.example.test"
type = "A"

[[services.shop.targets]]
name = "primary"
address = "192.0.2.10"
priority = 1
{primary_checks}

[[services.shop.targets]]
name = "backup"
address = "198.51.100.20"
priority = 2
[[services.shop.targets.checks]]
kind = "http"
url = "http://198.51.100.20/ready"
"#
    )
}

/// `n` services `sNNNN` in zone `example.test` on one embedded provider, each with a
/// primary (127.0.0.2) and a backup (127.0.0.3) with one tcp check each.
pub(crate) fn generated_services(n: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("[providers.local]\nkind = \"embedded\"\n");
    for i in 0..n {
        let _ = write!(
            out,
            r#"
[services.s{i:04}]
provider = "local"
zone = "example.test"
name = "s{i:04}.example.test"
type = "A"
ttl = 300
failover_ttl = 30

[[services.s{i:04}.targets]]
name = "primary"
address = "127.0.0.2"
priority = 1
[[services.s{i:04}.targets.checks]]
kind = "tcp"
address = "127.0.0.2:8080"

[[services.s{i:04}.targets]]
name = "backup"
address = "127.0.0.3"
priority = 2
[[services.s{i:04}.targets.checks]]
kind = "tcp"
address = "127.0.0.3:8080"
"#
        );
    }
    out
}

#[test]
fn a_generated_config_of_2000_services_is_accepted() {
    let text = generated_services(2000);
    let (config, warnings) = parse(Path::new("big.toml"), &text).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.services.len(), 2000);
    let s = &config.services["s1999"];
    assert_eq!(
        s.record.to_string(),
        Fqdn::new("s1999.example.test").unwrap().to_string()
    );
    assert_eq!(s.targets.len(), 2);
    assert_eq!(s.targets[0].values, vec!["127.0.0.2".to_string()]);
    assert_eq!(s.failover_ttl, 30);
}

#[test]
fn errors_late_in_a_large_file_name_their_own_lines() {
    // A bad value in the last service is reported on its own line (line lookups are
    // indexed, not rescanned, so this also stays fast).
    let mut text = generated_services(300);
    let before = text.lines().count();
    text.push_str("\n[services.zz]\nprovider = \"local\"\nzone = \"example.test\"\nname = \"zz.example.test\"\ntype = \"A\"\nstable_for = \"2ms\"\n[[services.zz.targets]]\nname = \"a\"\naddress = \"127.0.0.2\"\npriority = 1\n[[services.zz.targets.checks]]\nkind = \"tcp\"\naddress = \"127.0.0.2:1\"\n");
    let e = parse(Path::new("big.toml"), &text).unwrap_err();
    let p = e.errors().next().unwrap();
    assert_eq!(p.path, "services.zz.stable_for");
    assert_eq!(p.line, Some(before + 7));
}

fn controller_with(extra: &str) -> String {
    format!(
        "[controller]\n{extra}\n{}",
        service_with_checks(
            "[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\n"
        )
    )
}

fn only_error(text: &str) -> Problem {
    let e = parse(Path::new("t.toml"), text).unwrap_err();
    let errors: Vec<_> = e.errors().cloned().collect();
    assert_eq!(errors.len(), 1, "{e}");
    errors[0].clone()
}

#[test]
fn tick_is_bounded() {
    for bad in ["0s", "0.0001ms", "5ms", "61s", "1h"] {
        let p = only_error(&controller_with(&format!("tick = \"{bad}\"")));
        assert_eq!(p.path, "controller.tick");
        assert_eq!(p.line, Some(2));
        assert!(
            p.message.contains(&format!("`{bad}`")) && p.message.contains("from 10ms to 1m"),
            "{p:?}"
        );
    }
    for good in ["10ms", "500ms", "60s"] {
        let text = controller_with(&format!("tick = \"{good}\""));
        assert!(parse(Path::new("t.toml"), &text).is_ok(), "{good}");
    }
}

#[test]
fn every_duration_key_is_bounded() {
    let service_key = |key: &str, v: &str| {
        service_with_checks(
            "[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\n",
        )
        .replace("type = \"A\"\n", &format!("type = \"A\"\n{key} = {v}\n"))
    };
    let cases = [
        (service_key("stable_for", "\"500ms\""), "services.shop.stable_for"),
        (service_key("stable_for", "\"8d\""), "services.shop.stable_for"),
        (service_key("restore_ttl_after", "\"100d\""), "services.shop.restore_ttl_after"),
        (service_key("min_change_interval", "\"10ms\""), "services.shop.min_change_interval"),
        (service_key("step_hold", "\"300d\""), "services.shop.step_hold"),
        (service_key("gate_max_latency", "\"0s\""), "services.shop.gate_max_latency"),
        (service_key("ttl_lead_margin", "\"2h\""), "services.shop.ttl_lead_margin"),
        (
            service_key("approval = \"two-person\"\napproval_timeout", "\"0s\""),
            "services.shop.approval_timeout",
        ),
        (
            service_key("pre_failback_hook", "{ command = [\"true\"], timeout = \"0s\" }"),
            "services.shop.pre_failback_hook.timeout",
        ),
        (controller_with("max_failovers_window = \"0s\""), "controller.max_failovers_window"),
        (controller_with("agent_stale_after = \"100ms\""), "controller.agent_stale_after"),
        (
            service_with_checks("[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\ninterval = \"0s\"\n"),
            "services.shop.targets[0].checks[0].interval",
        ),
        (
            service_with_checks("[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\ntimeout = \"0s\"\n"),
            "services.shop.targets[0].checks[0].timeout",
        ),
        (
            service_with_checks("[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\nrecheck_interval = \"0s\"\n"),
            "services.shop.targets[0].checks[0].recheck_interval",
        ),
        (
            service_with_checks("[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\nmax_latency = \"0s\"\n"),
            "services.shop.targets[0].checks[0].max_latency",
        ),
    ];
    for (text, path) in cases {
        let p = only_error(&text);
        assert_eq!(p.path, path, "{p:?}");
        assert!(p.message.contains("outside the allowed range"), "{p:?}");
        assert!(p.line.is_some(), "{p:?}");
    }
    // Zero where it means "none" is fine.
    for key in [
        "stable_for",
        "restore_ttl_after",
        "min_change_interval",
        "step_hold",
        "ttl_lead_margin",
    ] {
        assert!(
            parse(Path::new("t.toml"), &service_key(key, "\"0s\"")).is_ok(),
            "{key}"
        );
    }
}

#[test]
fn sites_are_parsed_and_checked() {
    let with_site = |site: &str| {
        service_with_checks(
            "[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\n",
        )
        .replacen(
            "priority = 1\n",
            &format!("priority = 1\nsite = {site}\n"),
            1,
        )
    };
    let (config, _) = parse(Path::new("t.toml"), &with_site("\"eu-west.dc_1\"")).unwrap();
    let shop = &config.services["shop"];
    assert_eq!(shop.targets[0].site.as_deref(), Some("eu-west.dc_1"));
    assert_eq!(shop.targets[1].site, None);
    for bad in [
        "\"\"",
        "\"eu west\"",
        "\"a/b\"",
        &format!("\"{}\"", "x".repeat(64)),
    ] {
        let p = only_error(&with_site(bad));
        assert_eq!(p.path, "services.shop.targets[0].site", "{p:?}");
        assert_eq!(p.line, Some(15), "{p:?}");
    }
}

#[test]
fn uplink_checks_use_the_target_check_parser() {
    let anchors = r#"
[[controller.uplink_checks]]
name = "provider-api"
[[controller.uplink_checks.checks]]
kind = "tcp"
address = "192.0.2.53:443"
fall = 3
max_latency = "500ms"

[[controller.uplink_checks]]
name = "ns1"
[[controller.uplink_checks.checks]]
kind = "dns"
server = "192.0.2.54"
name = "example.test"
record_type = "SOA"
[[controller.uplink_checks.checks]]
kind = "icmp"
host = "192.0.2.54"
window = 10
window_failures = 3
"#;
    let text = format!(
        "{anchors}\n{}",
        controller_with("").replacen("[controller]\n", "", 1)
    );
    let (config, _) = parse(Path::new("t.toml"), &text).unwrap();
    let up = &config.controller.uplink_checks;
    assert_eq!(up.len(), 2);
    assert_eq!(up[0].name, "provider-api");
    assert_eq!(up[0].checks.len(), 1);
    assert_eq!(up[0].checks[0].fall, 3);
    assert_eq!(
        up[0].checks[0].max_latency,
        Some(Duration::from_millis(500))
    );
    assert_eq!(up[1].checks.len(), 2);
    assert_eq!(up[1].checks[1].window, Some((10, 3)));

    // Default: none.
    let (plain, _) = parse(Path::new("t.toml"), &controller_with("")).unwrap();
    assert!(plain.controller.uplink_checks.is_empty());

    // Same errors as a target's checks, under the anchor's path.
    let bad = text.replacen("fall = 3", "fall = 0", 1);
    let p = only_error(&bad);
    assert_eq!(p.path, "controller.uplink_checks[0].checks[0].fall");
    assert_eq!(p.line, Some(4));
    let dup = text.replacen("name = \"ns1\"", "name = \"provider-api\"", 1);
    assert!(only_error(&dup)
        .message
        .contains("duplicate uplink anchor name"));
    let badname = text.replacen("name = \"ns1\"", "name = \"ns 1\"", 1);
    assert_eq!(
        only_error(&badname).path,
        "controller.uplink_checks[1].name"
    );
    let nochecks = "[[controller.uplink_checks]]\nname = \"a\"\n".to_string()
        + &controller_with("").replacen("[controller]\n", "", 1);
    let p = only_error(&nochecks);
    assert_eq!(p.path, "controller.uplink_checks[0].checks");
    let slow = text.replacen("max_latency = \"500ms\"", "interval = \"0s\"", 1);
    assert_eq!(
        only_error(&slow).path,
        "controller.uplink_checks[0].checks[0].interval"
    );
}

#[test]
fn a_target_with_only_liveness_checks_gets_a_warning() {
    let alive_only = service_with_checks(
        "[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\nrole = \"liveness\"\n",
    );
    let (_, warnings) = parse(Path::new("t.toml"), &alive_only).unwrap();
    let w: Vec<_> = warnings
        .iter()
        .filter(|p| p.message.contains("liveness check"))
        .collect();
    assert_eq!(w.len(), 1, "{warnings:?}");
    assert_eq!(w[0].path, "services.shop.targets[0].checks");
    assert_eq!(w[0].line, Some(11), "the target's table");
    assert!(w[0].fix.contains("readiness"), "{:?}", w[0]);

    let mixed = service_with_checks(
        "[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\nrole = \"liveness\"\n[[services.shop.targets.checks]]\nkind = \"http\"\nurl = \"https://192.0.2.10/ready\"\n",
    );
    let (_, warnings) = parse(Path::new("t.toml"), &mixed).unwrap();
    assert!(
        !warnings
            .iter()
            .any(|p| p.message.contains("liveness check")),
        "{warnings:?}"
    );
}

/// Issue 19: every unknown key and value of the wrong type in one run.
mod faults;
mod notify;
mod owners;
