//! One owner per record set: two services on one name and type, or a CNAME beside other data,
//! are refused naming the later service's `name` key; other providers (views) may share names.

use std::path::Path;

use super::super::parse;

/// A service `id` on `provider` publishing `name` with `rtype`.
fn svc(id: &str, provider: &str, name: &str, rtype: &str, value: &str) -> String {
    format!(
        r#"
[services.{id}]
provider = "{provider}"
zone = "example.test"
name = "{name}"
type = "{rtype}"
[[services.{id}.targets]]
name = "primary"
address = "{value}"
priority = 1
[[services.{id}.targets.checks]]
kind = "tcp"
address = "192.0.2.10:443"
[[services.{id}.targets]]
name = "backup"
address = "{value}"
priority = 2
[[services.{id}.targets.checks]]
kind = "tcp"
address = "192.0.2.11:443"
"#
    )
}

const PROVIDERS: &str = "[providers.a]\nkind = \"embedded\"\n[providers.b]\nkind = \"embedded\"\nlisten = \"127.0.0.1:5354\"\n";

fn errors(text: &str) -> Vec<String> {
    match parse(Path::new("t.toml"), text) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect(),
    }
}

#[test]
fn one_name_and_type_has_one_owner_and_a_cname_stands_alone() {
    let same = format!(
        "{PROVIDERS}{}{}",
        svc("shop", "a", "shop.example.test", "A", "192.0.2.10"),
        svc("web", "a", "shop.example.test", "A", "192.0.2.20")
    );
    let e = errors(&same);
    assert!(
        e.iter().any(|p| p.contains("services.web.name")
            && p.contains("already published by service `shop`")),
        "{e:?}"
    );

    let cname = format!(
        "{PROVIDERS}{}{}",
        svc("shop", "a", "shop.example.test", "A", "192.0.2.10"),
        svc("web", "a", "shop.example.test", "CNAME", "cdn.example.net")
    );
    let e = errors(&cname);
    assert!(
        e.iter()
            .any(|p| p.contains("services.web.name") && p.contains("CNAME")),
        "{e:?}"
    );

    // Another provider (an internal view), or another type at the same name: fine.
    let views = format!(
        "{PROVIDERS}{}{}{}",
        svc("shop", "a", "shop.example.test", "A", "192.0.2.10"),
        svc("inside", "b", "shop.example.test", "A", "10.0.0.10"),
        svc("shop6", "a", "shop.example.test", "AAAA", "2001:db8::10")
    );
    assert_eq!(errors(&views), Vec::<String>::new());
}
