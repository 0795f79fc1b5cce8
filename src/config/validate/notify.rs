//! `[[controller.notify]]`: webhook receivers of the audit trail (`notify` posts to them).
//!
//! Part of config validation, which runs before the flow starts.

use std::time::Duration;

use toml::Spanned;

use super::ctx::Ctx;
use crate::config::bounds;
use crate::config::model::NotifySettings;
use crate::config::raw::RawNotify;

/// Each receiver: an http(s) URL, event names as the audit trail writes them, one secret
/// source for the token, bounded timeouts. A receiver with an error is left out.
pub(super) fn notify(ctx: &mut Ctx, raw: &[Spanned<RawNotify>]) -> Vec<NotifySettings> {
    let mut out = Vec::new();
    for (i, n) in raw.iter().enumerate() {
        let r = n.get_ref();
        let path = format!("controller.notify[{i}]");
        let url = r.url.get_ref();
        let mut ok = true;
        if reqwest::Url::parse(url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
            ctx.err(
                &r.url,
                format!("{path}.url"),
                format!("`{url}` is not an http:// or https:// URL"),
                "write the receiver's address, e.g. \"https://hooks.example.net/dnsfailback\"",
            );
            ok = false;
        }
        let events = r
            .events
            .as_ref()
            .map(|e| e.get_ref().clone())
            .unwrap_or_default();
        if let Some(e) = &r.events {
            for name in e.get_ref() {
                let valid = !name.is_empty()
                    && name.len() <= 40
                    && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                if !valid {
                    ctx.err(e, format!("{path}.events"), format!("`{name}` is not an event name"), "use audit actions such as \"failover\", \"failback\", \"canary_step\", \"rollback\", \"all_down\", \"ttl_restore\", \"held\" (docs/config.md#notifications)");
                    ok = false;
                }
            }
        }
        if let Some(t) = &r.bearer_token {
            let src = t.get_ref();
            if src.env.is_some() == src.file.is_some() {
                ctx.err(t, format!("{path}.bearer_token"), "give exactly one of `env` or `file`", "write bearer_token = { env = \"HOOK_TOKEN\" } or { file = \"/etc/dnsfailback/hook.token\" }");
                ok = false;
            }
        }
        let timeout = ctx.duration_checked(
            &r.timeout,
            format!("{path}.timeout"),
            Duration::from_secs(5),
            bounds::NOTIFY_TIMEOUT,
        );
        let retry_for = ctx.duration_checked(
            &r.retry_for,
            format!("{path}.retry_for"),
            Duration::from_secs(300),
            bounds::NOTIFY_RETRY_FOR,
        );
        let (true, Some(timeout), Some(retry_for)) = (ok, timeout, retry_for) else {
            continue;
        };
        out.push(NotifySettings {
            url: url.clone(),
            events,
            bearer_token: r.bearer_token.as_ref().map(|t| t.get_ref().clone()),
            timeout,
            retry_for,
        });
    }
    out
}
