//! Issue 19, configuration errors: secrets are never echoed, every name follows one rule, and
//! every free string is bounded; each message names the key, the line and the limit.

use std::path::Path;

use dnsfailback::config::validate::parse;

/// A valid file: one embedded provider, service `SERVICE` with targets `TARGET` and `backup`.
const BASE: &str = r#"[providers.local]
kind = "embedded"

[services.SERVICE]
provider = "local"
zone = "example.test"
name = "shop.example.test"
type = "A"

[[services.SERVICE.targets]]
name = "TARGET"
address = "192.0.2.10"
priority = 1
[[services.SERVICE.targets.checks]]
kind = "http"
url = "URL"

[[services.SERVICE.targets]]
name = "backup"
address = "198.51.100.20"
priority = 2
[[services.SERVICE.targets.checks]]
kind = "tcp"
address = "127.0.0.1:9"
"#;

fn config(service: &str, target: &str, url: &str) -> String {
    BASE.replace("SERVICE", service)
        .replace("TARGET", target)
        .replace("URL", url)
}

fn refused(text: &str) -> String {
    match parse(Path::new("t.toml"), text) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn inline_secrets_are_refused_without_repeating_the_value() {
    for (table, key) in [
        (
            "[providers.dns]\nkind = \"rfc2136\"\nserver = \"192.0.2.53:53\"\nkey_name = \"k\"\n",
            "secret",
        ),
        ("[providers.cf]\nkind = \"cloudflare\"\n", "api_token"),
        ("[controller]\n", "admin_token"),
        (
            "[controller.etcd]\nendpoints = [\"http://127.0.0.1:2379\"]\nuser = \"u\"\n",
            "password",
        ),
    ] {
        let text = format!(
            "{table}{key} = \"s3cr3t-VALUE-17\"\n\n{}",
            config("shop", "primary", "http://192.0.2.10/")
        );
        let e = refused(&text);
        assert!(!e.contains("s3cr3t-VALUE-17"), "the value is printed:\n{e}");
        assert!(
            e.contains("is a secret written inline: write secrets as { env = \"VAR\" } or { file = \"/path\" }"),
            "{key}:\n{e}"
        );
        assert!(
            e.contains(&format!(".{key}` is a secret"))
                || e.contains(&format!("`{key}` is"))
                || e.contains(&format!("controller.{key}`")),
            "names the key {key}:\n{e}"
        );
        assert!(!e.contains("SecretSource"), "no Rust type name:\n{e}");
    }
}

#[test]
fn names_follow_one_rule_and_huge_ones_are_not_echoed() {
    let huge = "a".repeat(1 << 20);
    for (service, target, path, expect) in [
        (
            "shop",
            "",
            "services.shop.targets[0].name",
            "is empty: use 1 to 63 letters, digits, `-`, `_` or `.`",
        ),
        (
            "shop",
            huge.as_str(),
            "services.shop.targets[0].name",
            "is 1048576 characters long: use 1 to 63",
        ),
        (
            "shop",
            "x\\u0007y",
            "services.shop.targets[0].name",
            "contains the control character `\\u{7}`",
        ),
        (
            "\"a b\"",
            "primary",
            "services",
            "`a b` contains ` `: use 1 to 63",
        ),
        (
            huge.as_str(),
            "primary",
            "services",
            "is 1048576 characters long",
        ),
    ] {
        let e = refused(&config(service, target, "http://192.0.2.10/"));
        assert!(
            e.contains(&format!("{path}: ")),
            "{path}:\n{}",
            &e[..e.len().min(2000)]
        );
        assert!(e.contains(expect), "{expect}:\n{}", &e[..e.len().min(2000)]);
        assert!(e.len() < 4096, "the error stays short: {} bytes", e.len());
    }
    let agents = format!(
        "[controller]\nagents = [\"edge\\neu\"]\n\n{}",
        config("shop", "primary", "http://192.0.2.10/")
    );
    let e = refused(&agents);
    assert!(
        e.contains(
            "t.toml:1: controller.agents[0]: `edge\\neu` contains the control character `\\n`"
        ),
        "{e}"
    );
}

#[test]
fn free_strings_are_bounded_with_key_line_and_limit() {
    let url = format!("http://192.0.2.10/{}", "p".repeat(5000));
    let e = refused(&config("shop", "primary", &url));
    assert!(
        e.contains("t.toml:16: services.shop.targets[0].checks[0].url: the value is 5018 bytes long; the limit is 4096 bytes"),
        "{}",
        &e[..e.len().min(2000)]
    );
    let txt = BASE
        .replace("type = \"A\"", "type = \"TXT\"")
        .replace("192.0.2.10", &"t".repeat(4001))
        .replace("198.51.100.20", "ok")
        .replace("SERVICE", "shop")
        .replace("TARGET", "primary")
        .replace("URL", "http://192.0.2.10/");
    let e = refused(&txt);
    assert!(
        e.contains("services.shop.targets[0].address: the value is 4001 bytes long; the limit is 4000 bytes"),
        "{}",
        &e[..e.len().min(2000)]
    );
}

#[test]
fn type_errors_name_the_key_in_plain_words() {
    let text =
        config("shop", "primary", "http://192.0.2.10/").replace("priority = 2", "priority = \"2\"");
    let e = refused(&text);
    assert!(
        e.contains("t.toml:21: services.shop.targets[1].priority: `services.shop.targets[1].priority` is written in quotes (a string), but it must be a number, without quotes"),
        "{e}"
    );
    assert!(!e.contains("i64"), "{e}");
    let text = config("shop", "primary", "http://192.0.2.10/").replace(
        "address = \"127.0.0.1:9\"",
        "address = \"127.0.0.1:9\"\ninterval = 5",
    );
    let e = refused(&text);
    assert!(
        e.contains("services.shop.targets[1].checks[0].interval"),
        "{e}"
    );
}
