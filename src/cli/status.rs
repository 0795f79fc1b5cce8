//! `dnsfailback status` and `history`: what the running controller knows, for a human.
//! History times are printed as RFC 3339 in UTC with their age (`--json` keeps unix ms).

use std::path::Path;

use super::client::AdminClient;
use super::out;
use crate::reconcile::status::{BaselineStatus, LeaseStatus, TargetStatus};
use crate::reconcile::ServiceStatus;
use crate::state::when;
use crate::state::AuditEntry;

/// Prints the status of every service, or one.
pub async fn status(
    config: &Path,
    reach: &super::reach::AdminReach,
    service: Option<&str>,
    json: bool,
) -> anyhow::Result<u8> {
    let client = AdminClient::from_config(config, reach)?;
    let list: Vec<ServiceStatus> = match service {
        Some(s) => vec![client.get(&format!("/v1/status/{s}")).await?],
        None => client.get("/v1/status").await?,
    };
    if json {
        out::line(serde_json::to_string_pretty(&list)?)?;
    } else {
        let text: String = list.iter().map(render).collect();
        out::print(&text)?;
    }
    Ok(0)
}

/// Human-readable status of one service.
///
/// Built from sections in a fixed order (header, targets, notes, lease, baseline) so each
/// section can be read and changed on its own while the text stays the same.
pub fn render(s: &ServiceStatus) -> String {
    let mut out = render_header(s);
    for t in &s.targets {
        out.push_str(&render_target(t));
    }
    render_notes(s, &mut out);
    if let Some(l) = &s.lease {
        out.push_str(&render_lease(l));
    }
    if let Some(b) = &s.baseline {
        out.push_str(&render_baseline(b));
    }
    out
}

/// The service line, what is published with which TTL, and a pending TTL restore: what a
/// resolver sees right now comes first.
fn render_header(s: &ServiceStatus) -> String {
    let mut out = format!(
        "{}  {} {}  via {}  phase: {}\n",
        s.service,
        s.record,
        s.rtype,
        s.provider,
        s.phase.label()
    );
    let ttl = s
        .published
        .as_ref()
        .map(|p| p.ttl().to_string())
        .unwrap_or_else(|| "-".into());
    out.push_str(&format!(
        "  published: {}  ttl {ttl}  (original ttl {})\n",
        if s.published_values.is_empty() {
            "-".to_string()
        } else {
            s.published_values.join(", ")
        },
        s.original_ttl
            .map(|t| t.to_string())
            .unwrap_or_else(|| "not yet recorded".into())
    ));
    if let Some(at) = s.ttl_restore_at_ms {
        out.push_str(&format!("  ttl restore due at {} (unix ms)\n", at));
    }
    out
}

/// One target's line: its state (with flapping and this controller's own view when they
/// differ) and why its checks fail, so the operator sees the cause next to the state.
fn render_target(t: &TargetStatus) -> String {
    let why: Vec<String> = t
        .checks
        .iter()
        .filter_map(|c| {
            c.last_error.as_ref().map(|e| match c.role {
                crate::probe::Role::Liveness => format!("liveness check: {e}"),
                crate::probe::Role::Readiness => e.clone(),
            })
        })
        .collect();
    let mut state = t.state.clone();
    if t.flapping {
        state.push_str(" (flapping)");
    }
    if !t.local.is_empty() && t.local != t.state {
        state.push_str(&format!(" (here: {})", t.local));
    }
    format!(
        "  {:<12} prio {:<3} {:<20} {:<8} {}\n",
        t.target,
        t.priority,
        t.values.join(","),
        state,
        why.join("; ")
    )
}

/// The optional one-line notes (reason, freeze, hold, alerts, events, errors), each only when
/// set, so a healthy service prints no noise.
fn render_notes(s: &ServiceStatus, out: &mut String) {
    if !s.reason.is_empty() {
        out.push_str(&format!("  reason: {}\n", s.reason));
    }
    if let Some(f) = &s.frozen {
        out.push_str(&format!(
            "  FROZEN by {}: {} (`dnsfailback resume {}` to continue)\n",
            f.by, f.reason, s.service
        ));
    }
    if let Some(h) = &s.held {
        out.push_str(&format!("  HELD: {h}\n"));
    }
    if let Some(a) = &s.alert {
        out.push_str(&format!("  ALERT: {a}\n"));
    }
    if let Some(p) = &s.partition {
        out.push_str(&format!("  PARTITION SUSPECTED: {p}\n"));
    }
    if let Some(e) = &s.event {
        out.push_str(&format!(
            "  failure event: {e} (all of it: `dnsfailback history @events`)\n"
        ));
    }
    if let Some(sync) = &s.provider_sync {
        out.push_str(&format!("  provider sync: {sync}\n"));
    }
    if let Some(e) = &s.last_error {
        out.push_str(&format!("  last error: {e}\n"));
    }
}

/// Who holds the leadership lease, so with several controllers the operator knows which
/// one acts.
fn render_lease(l: &LeaseStatus) -> String {
    let holder = l
        .holder
        .as_deref()
        .unwrap_or("nobody (election in progress)");
    format!(
        "  lease: held by {holder}{} (token {})\n",
        if l.leading { ", this controller" } else { "" },
        l.token
    )
}

/// The primary's learned latency and error baseline, which canary steps are judged against;
/// "warming up" says it is not trusted yet.
fn render_baseline(b: &BaselineStatus) -> String {
    let p95 = b
        .latency_p95_ms
        .map(|v| format!("p95 {v} ms"))
        .unwrap_or_else(|| "p95 -".into());
    let err = b
        .error_rate
        .map(|v| format!("errors {:.2} %", v * 100.0))
        .unwrap_or_else(|| "errors -".into());
    let warm = if b.warm { "warm" } else { "warming up" };
    format!(
        "  primary baseline: {p95}, {err}, {} samples ({warm})\n",
        b.samples
    )
}

/// Prints the audit trail of a service, newest first.
pub async fn history(
    config: &Path,
    reach: &super::reach::AdminReach,
    service: &str,
    json: bool,
) -> anyhow::Result<u8> {
    let client = AdminClient::from_config(config, reach)?;
    let entries: Vec<AuditEntry> = client.get(&format!("/v1/history/{service}")).await?;
    if json {
        out::line(serde_json::to_string_pretty(&entries)?)?;
    } else {
        out::print(&render_history(&entries, when::now_ms()))?;
    }
    Ok(0)
}

/// The audit trail as text: one line per entry (time in UTC, its age at `now_ms`, action,
/// actor, reason), then its change id and record changes indented below it.
fn render_history(entries: &[AuditEntry], now_ms: u64) -> String {
    let mut text = String::new();
    for e in entries {
        text.push_str(&format!(
            "{}  {:<9} {:<12} {:<10} {}\n",
            when::rfc3339_utc(e.at_ms),
            when::age(e.at_ms, now_ms),
            e.action,
            e.actor,
            e.reason
        ));
        if let Some(id) = e.change_id {
            text.push_str(&format!(
                "      change {id} (undo with `dnsfailback rollback {id}`)\n"
            ));
        }
        if let Some(c) = &e.changes {
            for ch in &c.changes {
                text.push_str(&format!("      {ch}\n"));
            }
        }
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn render_names_liveness_failures_and_the_baseline() {
        let s: ServiceStatus = serde_json::from_value(serde_json::json!({
            "service": "shop", "record": "shop.example.test.", "rtype": "A",
            "provider": "local", "phase": {"phase": "normal"}, "published": null,
            "published_values": [], "original_ttl": 300, "ttl_restore_at_ms": null,
            "targets": [{
                "target": "primary", "priority": 1, "values": ["192.0.2.10"],
                "state": "down", "local": "down", "flapping": false, "vantage": null,
                "checks": [
                    {"check": "shop/primary/0", "role": "readiness", "state": "down",
                     "last_error": "status 503", "last_latency_ms": 4},
                    {"check": "shop/primary/1", "role": "liveness", "state": "down",
                     "last_error": "connection refused", "last_latency_ms": 1}
                ]
            }],
            "reason": "", "alert": null, "held": null, "last_error": null,
            "baseline": {"samples": 120, "warm": true, "latency_p95_ms": 12, "error_rate": 0.005},
            "lease": {"holder": "ctl-b", "leading": false, "token": 42}
        }))
        .unwrap();
        let text = render(&s);
        assert!(
            text.contains("status 503; liveness check: connection refused"),
            "{text}"
        );
        assert!(
            text.contains("primary baseline: p95 12 ms, errors 0.50 %, 120 samples (warm)"),
            "{text}"
        );
        assert!(text.contains("lease: held by ctl-b (token 42)"), "{text}");
    }

    #[test]
    fn history_shows_utc_time_and_age_not_unix_ms() {
        let entries: Vec<AuditEntry> = serde_json::from_value(serde_json::json!([
            {"at_ms": 1_796_671_888_765u64, "service": "shop", "actor": "controller",
             "action": "failover", "reason": "`primary` is down"},
            {"at_ms": 1_796_671_708_000u64, "service": "shop", "actor": "alice",
             "action": "hold", "reason": "operator hold"}
        ]))
        .unwrap();
        let text = render_history(&entries, 1_796_671_888_765 + 3 * 60_000);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "2026-12-07T19:31:28Z  3m ago    failover     controller `primary` is down",
                "2026-12-07T19:28:28Z  6m ago    hold         alice      operator hold",
            ],
            "{text}"
        );
        assert!(!text.contains("1796671888765"), "{text}");
    }
}
