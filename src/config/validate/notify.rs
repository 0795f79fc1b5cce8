//! `[notify.NAME]` (kind webhook, slack or command) and the older `[[controller.notify]]`
//! (a webhook): the notifiers of the audit trail (`notify` sends to them).
//!
//! Part of config validation, which runs before the flow starts.

use std::collections::BTreeMap;
use std::time::Duration;

use dnsfailback_provider::SecretSource;
use toml::Spanned;

use super::ctx::Ctx;
use crate::config::bounds;
use crate::config::model::{NotifySettings, NotifySink, NOTIFY_EVENTS};
use crate::config::raw::{RawNotifier, RawNotify};
use crate::config::url_source::{is_http, UrlSource};

/// What one notifier says, in either spelling.
struct Parts<'a> {
    path: String,
    kind: &'a Spanned<String>,
    url: Option<&'a Spanned<UrlSource>>,
    command: Option<&'a Spanned<Vec<String>>>,
    events: Option<&'a Spanned<Vec<String>>>,
    bearer_token: Option<&'a Spanned<SecretSource>>,
    timeout: &'a Option<Spanned<String>>,
    retry_for: &'a Option<Spanned<String>>,
}

/// Each `[[controller.notify]]` entry, as a webhook named `controller.notify[i]`. A receiver
/// with an error is left out.
pub(super) fn notify(ctx: &mut Ctx, raw: &[Spanned<RawNotify>]) -> Vec<NotifySettings> {
    let mut out = Vec::new();
    for (i, n) in raw.iter().enumerate() {
        let r = n.get_ref();
        let path = format!("controller.notify[{i}]");
        let kind = Spanned::new(r.url.span(), "webhook".to_string());
        let parts = Parts {
            path: path.clone(),
            kind: &kind,
            url: Some(&r.url),
            command: None,
            events: r.events.as_ref(),
            bearer_token: r.bearer_token.as_ref(),
            timeout: &r.timeout,
            retry_for: &r.retry_for,
        };
        out.extend(one(ctx, path, &parts));
    }
    out
}

/// Each `[notify.NAME]` section. A section with an error is left out.
pub(super) fn sections(
    ctx: &mut Ctx,
    raw: &BTreeMap<String, Spanned<RawNotifier>>,
) -> Vec<NotifySettings> {
    let mut out = Vec::new();
    for (name, n) in raw {
        let line = ctx.line(n);
        if !super::ctx::name_at(ctx, line, name, "notify".into(), "oncall") {
            continue;
        }
        let r = n.get_ref();
        let path = format!("notify.{name}");
        let parts = Parts {
            path,
            kind: &r.kind,
            url: r.url.as_ref(),
            command: r.command.as_ref(),
            events: r.events.as_ref(),
            bearer_token: r.bearer_token.as_ref(),
            timeout: &r.timeout,
            retry_for: &r.retry_for,
        };
        out.extend(one(ctx, name.clone(), &parts));
    }
    out
}

/// One notifier: its kind with what that kind needs, event names from [`NOTIFY_EVENTS`], one
/// secret source for the token, bounded timeouts.
fn one(ctx: &mut Ctx, name: String, p: &Parts<'_>) -> Option<NotifySettings> {
    let path = &p.path;
    let mut ok = true;
    let sink = sink(ctx, p);
    ok &= sink.is_some();
    let events = p.events.map(|e| e.get_ref().clone()).unwrap_or_default();
    if let Some(e) = p.events {
        for event in e.get_ref() {
            if !NOTIFY_EVENTS.contains(&event.as_str()) {
                ctx.err(
                    e,
                    format!("{path}.events"),
                    format!("`{event}` is not an event name"),
                    format!("use some of: {}", NOTIFY_EVENTS.join(", ")),
                );
                ok = false;
            }
        }
    }
    if let Some(t) = p.bearer_token {
        let src = t.get_ref();
        if src.env.is_some() == src.file.is_some() {
            ctx.err(t, format!("{path}.bearer_token"), "give exactly one of `env` or `file`", "write bearer_token = { env = \"HOOK_TOKEN\" } or { file = \"/etc/dnsfailback/hook.token\" }");
            ok = false;
        }
    }
    let timeout = ctx.duration_checked(
        p.timeout,
        format!("{path}.timeout"),
        Duration::from_secs(5),
        bounds::NOTIFY_TIMEOUT,
    );
    let retry_for = ctx.duration_checked(
        p.retry_for,
        format!("{path}.retry_for"),
        Duration::from_secs(300),
        bounds::NOTIFY_RETRY_FOR,
    );
    let (true, Some(sink), Some(timeout), Some(retry_for)) = (ok, sink, timeout, retry_for) else {
        return None;
    };
    Some(NotifySettings {
        name,
        sink,
        events,
        timeout,
        retry_for,
    })
}

/// The kind and what it needs: an http(s) `url` (webhook, slack) or a non-empty `command`;
/// a key the kind does not use is an error too (it would be silently ignored).
fn sink(ctx: &mut Ctx, p: &Parts<'_>) -> Option<NotifySink> {
    let path = &p.path;
    let kind = p.kind.get_ref().as_str();
    let unused = |ctx: &mut Ctx, key: &str, at: Option<std::ops::Range<usize>>| {
        if let Some(span) = at {
            let at = Spanned::new(span, ());
            ctx.err(
                &at,
                format!("{path}.{key}"),
                format!("`{key}` is not used by kind = \"{kind}\""),
                "remove it, or change `kind`",
            );
        }
    };
    match kind {
        "webhook" | "slack" => {
            unused(ctx, "command", p.command.map(Spanned::span));
            if kind == "slack" {
                unused(ctx, "bearer_token", p.bearer_token.map(Spanned::span));
            }
            let Some(u) = p.url else {
                ctx.err(
                    p.kind,
                    format!("{path}.url"),
                    format!("kind = \"{kind}\" needs `url`"),
                    "write url = \"https://hooks.example.net/dnsfailback\"",
                );
                return None;
            };
            let url = u.get_ref();
            // A URL from the environment or a file is checked when it is read, at start.
            if let UrlSource::Plain(text) = url {
                if !is_http(text) {
                    ctx.err(
                        u,
                        format!("{path}.url"),
                        format!("`{text}` is not an http:// or https:// URL"),
                        "write the receiver's address, e.g. \"https://hooks.example.net/dnsfailback\", or { env = \"VAR\" } holding it",
                    );
                    return None;
                }
            }
            let bearer_token = p.bearer_token.map(|t| t.get_ref().clone());
            Some(match kind {
                "slack" => NotifySink::Slack { url: url.clone() },
                _ => NotifySink::Webhook {
                    url: url.clone(),
                    bearer_token,
                },
            })
        }
        "command" => {
            unused(ctx, "url", p.url.map(Spanned::span));
            unused(ctx, "bearer_token", p.bearer_token.map(Spanned::span));
            command_sink(ctx, p)
        }
        other => {
            ctx.err(
                p.kind,
                format!("{path}.kind"),
                format!("`{other}` is not a notifier kind"),
                "write kind = \"webhook\", \"slack\" or \"command\"",
            );
            None
        }
    }
}

/// `command = [...]` of a command notifier: present and not empty.
fn command_sink(ctx: &mut Ctx, p: &Parts<'_>) -> Option<NotifySink> {
    let path = &p.path;
    match p.command {
        Some(c) if c.get_ref().first().is_some_and(|prog| !prog.is_empty()) => {
            Some(NotifySink::Command {
                argv: c.get_ref().clone(),
            })
        }
        Some(c) => {
            ctx.err(
                c,
                format!("{path}.command"),
                "the command is empty",
                "write command = [\"/usr/local/bin/page-oncall\", \"--team\", \"dns\"]",
            );
            None
        }
        None => {
            ctx.err(
                p.kind,
                format!("{path}.command"),
                "kind = \"command\" needs `command`",
                "write command = [\"/usr/local/bin/page-oncall\", \"--team\", \"dns\"]",
            );
            None
        }
    }
}
