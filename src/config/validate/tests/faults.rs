//! Issue 19, configuration errors: every unknown key and every value of the wrong type of a
//! file is reported by one run, each once, with its line and key path; the parts of the file
//! without such a fault are still checked in full, and a part left out brings no error of its
//! own. Config validation runs before the flow starts; these go through [`super::parse`].

use std::path::Path;

use super::{generated_services, parse};
use crate::config::{ConfigError, Problem};

/// The 1-based line of the first line of `text` that contains `marker`.
fn line_of(text: &str, marker: &str) -> usize {
    text.lines()
        .position(|l| l.contains(marker))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no line with `{marker}`"))
}

fn refused(text: &str) -> ConfigError {
    match parse(Path::new("t.toml"), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

fn error_at<'a>(e: &'a ConfigError, path: &str) -> &'a Problem {
    e.errors()
        .find(|p| p.path == path)
        .unwrap_or_else(|| panic!("no error at {path}:\n{e}"))
}

/// Faults in the controller (its tokens, etcd, an uplink check), a service's hook, canary steps
/// and target, a check, and the top level; plus a value out of range in a service without
/// faults, which is still checked.
const MANY: &str = r#"
[controller]
admin_token = "s3cr3t-inline-VALUE"
[[controller.admin_tokens]]
name = "ops"
role = "operator"
token = { env = "OPS_TOKEN" }
tokne = "x"
[controller.etcd]
endpoints = ["http://127.0.0.1:2379"]
lease_ttl = 15
[[controller.uplink_checks]]
name = "api"
[[controller.uplink_checks.checks]]
kind = "tcp"
address = "192.0.2.53:443"
adress = "typo"

[providers.local]
kind = "embedded"

[servics.oops]
x = 1

[services.shop]
provider = "local"
zone = "example.test"
name = "shop.example.test"
type = "A"
canary_steps = [10, "50", 100]
pre_failback_hook = { comand = ["true"] }

[[services.shop.targets]]
name = "primary"
address = "192.0.2.10"
prioriti = 1
[[services.shop.targets.checks]]
kind = "http"
url = "http://192.0.2.10/ready"
expect_staus = [200]
follow_redirect = true
rise = 0

[[services.shop.targets]]
name = "backup"
address = "198.51.100.20"
priority = 2
[[services.shop.targets.checks]]
kind = "tcp"
address = "127.0.0.1:9"

[services.clean]
provider = "local"
zone = "example.test"
name = "clean.example.test"
type = "A"
stable_for = "2ms"

[[services.clean.targets]]
name = "a"
address = "192.0.2.11"
priority = 1
[[services.clean.targets.checks]]
kind = "tcp"
address = "192.0.2.11:443"
"#;

#[test]
fn every_unknown_key_and_bad_value_is_reported_in_one_run() {
    let e = refused(MANY);
    let expected = [
        (
            "controller.admin_token",
            "admin_token = ",
            "is a secret written inline",
        ),
        (
            "controller.admin_tokens[0].tokne",
            "tokne",
            "unknown field `tokne`",
        ),
        (
            "controller.etcd.lease_ttl",
            "lease_ttl",
            "is a number, but it must be a string",
        ),
        (
            "controller.uplink_checks[0].checks[0].adress",
            "adress",
            "unknown field `adress`",
        ),
        ("servics", "[servics.oops]", "unknown field `servics`"),
        (
            "services.shop.canary_steps[1]",
            "canary_steps",
            "is written in quotes",
        ),
        (
            "services.shop.pre_failback_hook.comand",
            "comand",
            "unknown field `comand`",
        ),
        (
            "services.shop.targets[0].prioriti",
            "prioriti",
            "unknown field `prioriti`",
        ),
        (
            "services.shop.targets[0]",
            "name = \"primary\"",
            "missing field `priority`",
        ),
        (
            "services.shop.targets[0].checks[0].expect_staus",
            "expect_staus",
            "unknown field",
        ),
        (
            "services.shop.targets[0].checks[0].follow_redirect",
            "follow_redirect",
            "unknown field",
        ),
        // A value check of a check table inside a service left out: still made.
        (
            "services.shop.targets[0].checks[0].rise",
            "[[services.shop.targets.checks]]",
            "`rise` = 0",
        ),
        // A service without faults is checked in full.
        (
            "services.clean.stable_for",
            "stable_for",
            "outside the allowed range",
        ),
    ];
    for (path, marker, message) in expected {
        let p = error_at(&e, path);
        assert!(p.message.contains(message), "{path}: {p:?}");
        // The missing key is reported on the target's table, whose span starts at its header.
        let line = match path {
            "services.shop.targets[0]" => line_of(MANY, "[[services.shop.targets]]"),
            _ => line_of(MANY, marker),
        };
        assert_eq!(p.line, Some(line), "{path}: {p:?}");
    }
    assert_eq!(e.errors().count(), expected.len(), "{e}");
    let shown = e.to_string();
    assert!(!shown.contains("s3cr3t"), "a secret is echoed:\n{shown}");
    for (typo, meant) in [
        ("tokne", "token"),
        ("adress", "address"),
        ("servics", "services"),
        ("comand", "command"),
        ("prioriti", "priority"),
        ("expect_staus", "expect_status"),
        ("follow_redirect", "follow_redirects"),
    ] {
        let p = e
            .errors()
            .find(|p| p.message == format!("unknown field `{typo}`"))
            .unwrap_or_else(|| panic!("{typo}:\n{e}"));
        assert!(
            p.fix.starts_with(&format!("did you mean `{meant}`?")),
            "{p:?}"
        );
        assert!(
            p.fix.contains(&format!("`{meant}`,")) || p.fix.contains(&format!("`{meant}` (")),
            "{p:?}"
        );
    }
}

#[test]
fn a_part_left_out_brings_no_error_of_its_own() {
    // The only service has an unknown key: no "no service is configured".
    let text = generated_services(1).replace("ttl = 300\n", "ttl = 300\nttll = 1\n");
    let e = refused(&text);
    assert_eq!(e.errors().count(), 1, "{e}");
    assert_eq!(
        error_at(&e, "services.s0000.ttll").line,
        Some(line_of(&text, "ttll"))
    );
    // The controller has one: its defaults are used, nothing else is said.
    let text = format!("[controller]\ntick = 5\n{}", generated_services(2));
    let e = refused(&text);
    assert_eq!(e.errors().count(), 1, "{e}");
    assert_eq!(error_at(&e, "controller.tick").line, Some(2));
}

#[test]
fn the_first_of_many_faults_late_in_a_large_file_keeps_its_line() {
    let mut text = generated_services(500);
    text = text.replacen("priority = 2\n", "priority = \"2\"\n", 1);
    let marker = "[services.s0499]";
    text = text.replace(marker, &format!("{marker}\nstable_fro = \"1m\""));
    let e = refused(&text);
    assert_eq!(e.errors().count(), 2, "{e}");
    assert_eq!(
        error_at(&e, "services.s0000.targets[1].priority").line,
        Some(line_of(&text, "priority = \"2\""))
    );
    assert_eq!(
        error_at(&e, "services.s0499.stable_fro").line,
        Some(line_of(&text, "stable_fro"))
    );
}

/// A secret's table is read by hand, and its reader names only the table when it refuses a
/// key: each unknown key is still found, in the file's tables and in a provider's.
#[test]
fn every_unknown_key_of_a_secret_is_found() {
    let secret = "{ env = \"X\", fil = \"y\", fle = 1 }";
    let text = format!(
        "[controller]\nadmin_token = {secret}\n[providers.dns]\nkind = \"rfc2136\"\nserver = \"192.0.2.53:53\"\nkey_name = \"k\"\nsecret = {secret}\n{}",
        generated_services(1).replace("[providers.local]\nkind = \"embedded\"\n", "")
            .replace("\"local\"", "\"dns\"")
    );
    let e = refused(&text);
    for table in ["controller.admin_token", "providers.dns.secret"] {
        for key in ["fil", "fle"] {
            let p = error_at(&e, &format!("{table}.{key}"));
            assert_eq!(p.message, format!("unknown field `{key}`"), "{p:?}");
            assert!(p.fix.starts_with("did you mean `file`?"), "{p:?}");
        }
    }
    assert_eq!(e.errors().count(), 4, "{e}");
}

/// Without a known `kind` a check's other keys cannot be judged: the kind is the one problem.
#[test]
fn a_check_of_unknown_kind_is_one_problem() {
    for (kind, message) in [
        ("\"smtp\"", "unknown variant `smtp`"),
        ("5", "kind"),
        ("[\"tcp\"]", "kind"),
    ] {
        let text = generated_services(1).replacen(
            "kind = \"tcp\"\naddress = \"127.0.0.2:8080\"",
            &format!("kind = {kind}\nadress = \"x\"\ntimeout = 5"),
            1,
        );
        let e = refused(&text);
        assert_eq!(e.errors().count(), 1, "{e}");
        let p = e.errors().next().unwrap();
        assert!(
            p.path.starts_with("services.s0000.targets[0].checks[0]"),
            "{p:?}"
        );
        assert!(p.message.contains(message), "{p:?}");
        assert_eq!(
            p.line,
            Some(line_of(&text, "[[services.s0000.targets.checks]]")),
            "{p:?}"
        );
    }
}

/// A valid file with a key of most kinds of table.
const VALID: &str = r#"
[controller]
tick = "1s"
[[controller.admin_tokens]]
name = "ops"
role = "operator"
token = { env = "OPS_TOKEN" }
[[controller.uplink_checks]]
name = "api"
[[controller.uplink_checks.checks]]
kind = "tcp"
address = "192.0.2.53:443"

[providers.local]
kind = "embedded"
negative_ttl = 60

[services.shop]
provider = "local"
zone = "example.test"
name = "shop.example.test"
type = "A"
canary_steps = [10, 50, 100]
pre_failback_hook = { command = ["true"], timeout = "5s" }

[[services.shop.targets]]
name = "primary"
address = "192.0.2.10"
priority = 1
[[services.shop.targets.checks]]
kind = "http"
url = "http://192.0.2.10/ready"
expect_status = [200]
rise = 2

[[services.shop.targets]]
name = "backup"
address = "198.51.100.20"
priority = 2
[[services.shop.targets.checks]]
kind = "tcp"
address = "127.0.0.1:9"
"#;

/// No input panics: every line of a valid file, in turn, with its key misspelt or its value
/// replaced by one of each TOML type, is accepted or refused with problems that each have a
/// fix; a misspelt key is always named (but for `kind`: without it a table cannot be judged).
#[test]
fn no_mangled_line_panics_and_a_misspelt_key_is_always_named() {
    parse(Path::new("t.toml"), VALID).unwrap();
    for (i, line) in VALID.lines().enumerate() {
        let Some((key, _)) = line.split_once(" = ") else {
            continue;
        };
        let mut variants = vec![format!("{key}q = 1")];
        for v in [
            "\"s\"",
            "7",
            "1.5",
            "true",
            "[1, \"a\"]",
            "{ a = 1 }",
            "1979-05-27",
        ] {
            variants.push(format!("{key} = {v}"));
        }
        for variant in variants {
            let mut lines: Vec<&str> = VALID.lines().collect();
            lines[i] = &variant;
            let text = lines.join("\n");
            let Err(e) = parse(Path::new("t.toml"), &text) else {
                continue;
            };
            assert!(e.errors().all(|p| !p.fix.is_empty()), "{e}");
            if variant.starts_with(&format!("{key}q")) && key != "kind" {
                let p = e
                    .errors()
                    .find(|p| p.message == format!("unknown field `{key}q`"))
                    .unwrap_or_else(|| panic!("{variant}:\n{e}"));
                assert_eq!(p.line, Some(i + 1), "{variant}: {p:?}");
                assert!(
                    p.fix.starts_with(&format!("did you mean `{key}`?")),
                    "{p:?}"
                );
            }
        }
    }
}

/// A key too long to be one is reported once, as too long, and never echoed; nor is a fault
/// below it.
#[test]
fn a_huge_key_is_not_echoed_by_its_faults() {
    let huge = "k".repeat(5000);
    let unknown = format!("[controller]\n{huge} = 1\n{}", generated_services(1));
    let in_name = generated_services(1)
        .replace("s0000", &huge)
        .replace("ttl = 300", "ttl = \"300\"");
    for text in [unknown, in_name] {
        let e = refused(&text);
        assert_eq!(e.errors().count(), 1, "{}", &e.to_string()[..2000]);
        let p = e.errors().next().unwrap();
        assert!(p.message.contains("is 5000 bytes long"), "{p:?}");
        assert!(e.to_string().len() < 1000, "echoed");
    }
}
