//! `[notify.NAME]` sections and the older `[[controller.notify]]`: kinds, what each kind
//! needs, event names checked against the known list.

use std::path::Path;

use super::super::parse;
use super::{only_error, service_with_checks};
use crate::config::NotifySink;

fn with_notify(sections: &str) -> String {
    format!(
        "{}\n{sections}",
        service_with_checks(
            "[[services.shop.targets.checks]]\nkind = \"tcp\"\naddress = \"192.0.2.10:443\"\n"
        )
    )
}

#[test]
fn the_three_kinds_and_the_older_spelling_are_read() {
    let text = format!(
        "[controller]\n[[controller.notify]]\nurl = \"https://old.example.net/hook\"\n{}",
        with_notify(
            r#"
[notify.oncall]
kind = "webhook"
url = "https://hooks.example.net/dnsfailback"
events = ["failover", "gate_tripped", "operator_command"]
bearer_token = { env = "HOOK_TOKEN" }

[notify.chat]
kind = "slack"
url = "https://hooks.slack.com/services/T/B/X"
retry_for = "1m"

[notify.pager]
kind = "command"
command = ["/usr/local/bin/page", "--team", "dns"]
timeout = "10s"
"#
        )
    );
    let (config, _) = parse(Path::new("t.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let n = &config.controller.notify;
    let names: Vec<&str> = n.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["controller.notify[0]", "chat", "oncall", "pager"]);
    assert!(
        matches!(&n[0].sink, NotifySink::Webhook { url, bearer_token: None } if *url == crate::config::UrlSource::Plain("https://old.example.net/hook".into()))
    );
    assert!(matches!(&n[1].sink, NotifySink::Slack { .. }));
    assert_eq!(n[1].retry_for.as_secs(), 60);
    assert!(matches!(
        &n[2].sink,
        NotifySink::Webhook {
            bearer_token: Some(_),
            ..
        }
    ));
    assert_eq!(
        n[2].events,
        ["failover", "gate_tripped", "operator_command"]
    );
    assert!(matches!(&n[3].sink, NotifySink::Command { argv } if argv.len() == 3));
    assert_eq!(n[3].timeout.as_secs(), 10);
}

#[test]
fn an_unknown_event_names_the_key_and_the_valid_names() {
    let p = only_error(&with_notify(
        "[notify.oncall]\nkind = \"webhook\"\nurl = \"https://h.example.net/\"\nevents = [\"failover\", \"failed_over\"]\n",
    ));
    assert_eq!(p.path, "notify.oncall.events");
    assert!(p.message.contains("`failed_over`"), "{p:?}");
    assert!(
        p.fix.contains("failover") && p.fix.contains("needs_operator"),
        "{p:?}"
    );
    // The older spelling is checked against the same list.
    let p = only_error(&format!(
        "[controller]\n[[controller.notify]]\nurl = \"https://h.example.net/\"\nevents = [\"failovr\"]\n{}",
        with_notify("")
    ));
    assert_eq!(p.path, "controller.notify[0].events");
}

#[test]
fn a_kind_without_what_it_needs_or_with_what_it_does_not_use_is_an_error() {
    let cases = [
        (
            "kind = \"pager\"\nurl = \"https://h/\"",
            "notify.x.kind",
            "not a notifier kind",
        ),
        ("kind = \"webhook\"", "notify.x.url", "needs `url`"),
        (
            "kind = \"slack\"\nurl = \"ftp://h/\"",
            "notify.x.url",
            "not an http",
        ),
        ("kind = \"command\"", "notify.x.command", "needs `command`"),
        (
            "kind = \"command\"\ncommand = []",
            "notify.x.command",
            "empty",
        ),
        (
            "kind = \"command\"\ncommand = [\"/bin/true\"]\nurl = \"https://h/\"",
            "notify.x.url",
            "not used by kind = \"command\"",
        ),
        (
            "kind = \"webhook\"\nurl = \"https://h/\"\ntimeout = \"5m\"",
            "notify.x.timeout",
            "5m",
        ),
    ];
    for (body, path, says) in cases {
        let p = only_error(&with_notify(&format!("[notify.x]\n{body}\n")));
        assert_eq!(p.path, path, "{body}: {p:?}");
        assert!(p.message.contains(says), "{body}: {p:?}");
        assert!(!p.fix.is_empty());
    }
}

#[test]
fn an_unknown_key_in_a_section_is_named() {
    let e = parse(
        Path::new("t.toml"),
        &with_notify("[notify.x]\nkind = \"webhook\"\nurll = \"https://h/\"\n"),
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("notify.x") && text.contains("urll"), "{text}");
}
