//! The provider rules follow the registry: which kinds exist, and what each registration (and
//! each instance's settings) declares it can do. The fake registry (`plain` without weights,
//! `weighty` with them) shows that no rule names a real adapter.

use std::path::Path;

use super::super::{parse, parse_with};
use crate::config::{ConfigError, Problem, Severity};
use crate::providers::fake::FAKES;
use crate::providers::{Registry, REGISTRY};

/// One provider `p` (the given table) and one service `shop` on it, with `service_keys` added
/// to the service table. Line 1 is `[providers.p]`; with a provider table of `n` lines,
/// `[services.shop]` is line `n + 3` and the first service key line `n + 7`.
fn config(provider: &str, service_keys: &str) -> String {
    format!(
        r#"[providers.p]
{provider}

[services.shop]
provider = "p"
zone = "example.test"
name = "shop.example.test"
{service_keys}

[[services.shop.targets]]
name = "primary"
address = "192.0.2.10"
priority = 1
[[services.shop.targets.checks]]
kind = "tcp"
address = "192.0.2.10:443"

[[services.shop.targets]]
name = "backup"
address = "198.51.100.20"
priority = 2
[[services.shop.targets.checks]]
kind = "tcp"
address = "198.51.100.20:443"
"#
    )
}

fn accepted(registry: Registry, text: &str) -> Vec<Problem> {
    match parse_with(Path::new("t.toml"), text, registry) {
        Ok((_, warnings)) => warnings,
        Err(e) => panic!("refused:\n{e}\n{text}"),
    }
}

fn refused(registry: Registry, text: &str) -> ConfigError {
    match parse_with(Path::new("t.toml"), text, registry) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

fn error_at<'a>(e: &'a ConfigError, path: &str) -> &'a Problem {
    e.errors()
        .find(|p| p.path == path)
        .unwrap_or_else(|| panic!("no error at {path}:\n{e}"))
}

#[test]
fn an_unregistered_kind_is_refused_with_the_registered_kinds() {
    let text = config("kind = \"bind\"", "type = \"A\"");
    let e = refused(REGISTRY, &text);
    let p = error_at(&e, "providers.p.kind");
    assert_eq!(p.message, "unknown provider kind `bind`");
    assert_eq!(p.fix, format!("use one of {}", REGISTRY.kinds().join(", ")));
    assert!(
        p.fix.starts_with("use one of embedded, route53,"),
        "{}",
        p.fix
    );
    assert_eq!(p.line, Some(1));

    // The list is the registry's, not a list written by hand: the fakes know other kinds, and
    // `embedded` is unknown to them.
    let text = config("kind = \"embedded\"", "type = \"A\"");
    let e = refused(FAKES, &text);
    let p = error_at(&e, "providers.p.kind");
    assert_eq!(p.message, "unknown provider kind `embedded`");
    assert_eq!(p.fix, "use one of plain, weighty");
    accepted(FAKES, &config("kind = \"weighty\"", "type = \"A\""));
}

#[test]
fn a_missing_or_non_string_kind_suggests_the_registered_kinds() {
    let e = refused(REGISTRY, &config("", "type = \"A\""));
    let p = error_at(&e, "providers.p.kind");
    assert_eq!(p.message, "missing `kind`");
    assert!(
        p.fix
            .starts_with("add kind = \"embedded\" (or route53, cloudflare, rfc2136"),
        "{}",
        p.fix
    );
    let e = refused(FAKES, &config("kind = 3", "type = \"A\""));
    let p = error_at(&e, "providers.p.kind");
    assert_eq!(p.message, "`kind` must be a string");
    assert_eq!(p.fix, "write kind = \"plain\" (or weighty)");
}

#[test]
fn bad_settings_are_reported_by_the_registered_adapter() {
    let e = refused(
        FAKES,
        &config("kind = \"plain\"\nmin_tll = 5", "type = \"A\""),
    );
    let p = error_at(&e, "providers.p.min_tll");
    assert!(p.message.contains("unknown field `min_tll`"), "{e}");
    assert_eq!(p.line, Some(3));
    assert_eq!(
        p.fix,
        "did you mean `min_ttl`? Correct the spelling or remove the key; the keys allowed here are `kind`, `min_ttl`, `record_types` (see docs/providers/plain.md)"
    );
}

/// Issue 19: every unknown key and bad value of one provider table, each on its line.
#[test]
fn every_bad_setting_of_a_provider_is_reported_at_once() {
    let table = "kind = \"plain\"\nmin_tll = 5\nrecord_type = [\"A\"]\ncolour = \"red\"";
    let e = refused(FAKES, &config(table, "type = \"A\""));
    let errors: Vec<_> = e.errors().collect();
    assert_eq!(errors.len(), 3, "{e}");
    for (path, line, fix) in [
        ("providers.p.min_tll", 3, "did you mean `min_ttl`?"),
        ("providers.p.record_type", 4, "did you mean `record_types`?"),
        (
            "providers.p.colour",
            5,
            "remove the key or correct its spelling",
        ),
    ] {
        let p = error_at(&e, path);
        assert_eq!(p.line, Some(line), "{p:?}");
        assert!(p.fix.starts_with(fix), "{p:?}");
    }
    // A bad value beside an unknown key: both.
    let table = "kind = \"plain\"\nmin_ttl = \"5\"\nrecord_typs = [\"A\"]";
    let e = refused(FAKES, &config(table, "type = \"A\""));
    assert_eq!(e.errors().count(), 2, "{e}");
    let p = error_at(&e, "providers.p.min_ttl");
    assert!(p.message.contains("is written in quotes"), "{p:?}");
    assert!(p.fix.ends_with("; see docs/providers/plain.md"), "{p:?}");
    assert_eq!(error_at(&e, "providers.p.record_typs").line, Some(4));
}

fn canary_warning(warnings: &[Problem]) -> Option<&Problem> {
    warnings
        .iter()
        .find(|w| w.path == "services.shop.canary_steps")
}

#[test]
fn the_canary_rule_follows_the_weighted_capability() {
    let steps = "type = \"A\"\ncanary_steps = [10, 50, 100]";
    // Without weights: the steps cannot be expressed; the fix names the kinds with weights.
    let warnings = accepted(FAKES, &config("kind = \"plain\"", steps));
    let w = canary_warning(&warnings).unwrap_or_else(|| panic!("no warning: {warnings:?}"));
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(
        w.message,
        "provider `p` (plain) has no weighted records: canary steps [10, 50, 100] are expressed by publishing both targets together (about 50 % each)"
    );
    assert_eq!(
        w.fix,
        "use a provider with weights (weighty) for real percentages, or set canary_steps = [100]"
    );
    assert_eq!(w.line, Some(9), "the canary_steps line");
    // With weights: nothing to warn about.
    let warnings = accepted(FAKES, &config("kind = \"weighty\"", steps));
    assert!(canary_warning(&warnings).is_none(), "{warnings:?}");
    // All at once needs no weights.
    let warnings = accepted(
        FAKES,
        &config("kind = \"plain\"", "type = \"A\"\ncanary_steps = [100]"),
    );
    assert!(canary_warning(&warnings).is_none(), "{warnings:?}");
}

#[test]
fn the_real_registry_warns_for_rfc2136_and_not_for_embedded() {
    let steps = "type = \"A\"\ncanary_steps = [10, 100]";
    let rfc2136 = "kind = \"rfc2136\"\nserver = \"127.0.0.1:53\"\ninsecure = true";
    let warnings = accepted(REGISTRY, &config(rfc2136, steps));
    let w = canary_warning(&warnings).unwrap_or_else(|| panic!("no warning: {warnings:?}"));
    assert_eq!(
        w.fix,
        format!(
            "use a provider with weights ({}) for real percentages, or set canary_steps = [100]",
            REGISTRY.kinds_with(|c| c.weighted).join(", ")
        )
    );
    assert!(w.fix.contains("(embedded, route53"), "{}", w.fix);
    let warnings = accepted(REGISTRY, &config("kind = \"embedded\"", steps));
    assert!(canary_warning(&warnings).is_none(), "{warnings:?}");
}

#[test]
fn a_type_the_provider_cannot_publish_is_refused_naming_service_provider_and_types() {
    let provider = "kind = \"plain\"\nrecord_types = [\"A\", \"AAAA\"]";
    let e = refused(FAKES, &config(provider, "type = \"TXT\""));
    let p = error_at(&e, "services.shop.type");
    assert_eq!(
        p.message,
        "service `shop` publishes TXT records, which provider `p` (plain) cannot publish; it supports A, AAAA"
    );
    assert_eq!(
        p.fix,
        "use one of the types it supports, or a provider that can (plain, weighty)"
    );
    assert_eq!(p.line, Some(9));
    accepted(FAKES, &config(provider, "type = \"A\""));
}

#[test]
fn a_ttl_below_the_provider_floor_is_refused() {
    let provider = "kind = \"weighty\"\nmin_ttl = 60";
    // Without `failover_ttl` the default (30) is raised to the provider's floor.
    let text = config(provider, "type = \"A\"");
    match parse_with(Path::new("t.toml"), &text, FAKES) {
        Ok((c, _)) => assert_eq!(c.services["shop"].failover_ttl, 60),
        Err(e) => panic!("refused:\n{e}"),
    }
    // A written one is reported on its own line; `ttl` too.
    let e = refused(
        FAKES,
        &config(provider, "type = \"A\"\nttl = 45\nfailover_ttl = 40"),
    );
    assert_eq!(error_at(&e, "services.shop.ttl").line, Some(10));
    let p = error_at(&e, "services.shop.failover_ttl");
    assert_eq!(p.line, Some(11));
    assert!(p.message.starts_with("failover_ttl 40 is below"), "{e}");
    accepted(FAKES, &config(provider, "type = \"A\"\nfailover_ttl = 60"));
    // An out-of-range TTL is reported once, as out of range.
    let e = refused(FAKES, &config(provider, "type = \"A\"\nfailover_ttl = 0"));
    let at: Vec<_> = e
        .errors()
        .filter(|p| p.path == "services.shop.failover_ttl")
        .collect();
    assert_eq!(at.len(), 1, "{e}");
    assert!(at[0].message.contains("out of range"), "{e}");
}

#[test]
fn the_default_registry_is_the_one_parse_uses() {
    let e = refused(FAKES, &config("kind = \"embedded\"", "type = \"A\""));
    assert!(e.errors().any(|p| p.path == "providers.p.kind"));
    let (c, _) = parse(
        Path::new("t.toml"),
        &config("kind = \"embedded\"", "type = \"A\""),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.providers["p"].kind(), "embedded");
    assert!(c.providers["p"].capabilities.weighted);
}
