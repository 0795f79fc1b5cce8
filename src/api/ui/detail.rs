//! One service in detail (`GET /ui/service/{name}`): what is published and why, each target's
//! health per vantage point with the checks' reasons, the canary's progress, a chart per
//! target, and the last 24 h of its audit trail.

use std::fmt::Write as _;

use super::html::{self, esc};
use super::{chart, timeline};
use crate::policy::Phase;
use crate::reconcile::status::{CanaryProgress, ServiceDetail, TargetStatus};
use crate::state::AuditEntry;

/// The detail view's body.
pub fn render(d: &ServiceDetail, events: &[AuditEntry], now_ms: u64) -> String {
    let mut out = header(d, now_ms);
    out.push_str(
        "<h2>Targets</h2><table><tr><th>Target</th><th>Priority</th><th>Address</th>\
                  <th>State</th><th>Vantage points</th><th>Checks (why)</th></tr>",
    );
    for t in &d.status.targets {
        out.push_str(&target_row(t));
    }
    out.push_str("</table>");
    if let Some(c) = &d.canary {
        out.push_str(&canary(c, d, now_ms));
    }
    out.push_str("<h2>Latency and availability</h2>");
    if d.history.is_empty() {
        out.push_str("<p class=\"note\">No history kept for this service.</p>");
    }
    for h in &d.history {
        out.push_str(&chart::render(h));
    }
    out.push_str("<h2>Events in the last 24 h</h2>");
    out.push_str(&timeline::render(events, now_ms, false));
    out
}

/// The service's key facts: phase since when, published answer and TTL, and every note.
fn header(d: &ServiceDetail, now_ms: u64) -> String {
    let s = &d.status;
    let (values, ttl) = html::published(s);
    let since = match &s.phase {
        Phase::FailedOver { since_ms, .. }
        | Phase::Canary { since_ms, .. }
        | Phase::Restoring { since_ms }
        | Phase::AllDown { since_ms } => format!(" since {}", html::when(*since_ms, now_ms)),
        Phase::Lowering { to, .. } => format!(" (switching to {to})"),
        Phase::Normal => String::new(),
    };
    let mut rows: Vec<(&str, String, &str)> = vec![
        ("Record", format!("{} {}", s.record, s.rtype), ""),
        ("Provider", s.provider.clone(), ""),
        (
            "Phase",
            format!("{}{since}", html::phase_words(&s.phase)),
            html::tone(s),
        ),
        ("Published answer", values, ""),
        ("TTL", ttl, ""),
        (
            "Original TTL",
            s.original_ttl
                .map_or_else(|| "not yet recorded".into(), |t| format!("{t} s")),
            "",
        ),
    ];
    let optional = [
        (
            "TTL restore due",
            s.ttl_restore_at_ms.map(|at| html::when(at, now_ms)),
            "",
        ),
        (
            "Reason",
            Some(s.reason.clone()).filter(|r| !r.is_empty()),
            "",
        ),
        ("ALERT", s.alert.clone(), "bad"),
        (
            "Frozen",
            s.frozen
                .as_ref()
                .map(|f| format!("by {}: {}", f.by, f.reason)),
            "warn",
        ),
        ("Held", s.held.clone(), "warn"),
        ("Partition suspected", s.partition.clone(), "bad"),
        ("Failure event", s.event.clone(), ""),
        ("Provider sync", s.provider_sync.clone(), ""),
        ("Last error", s.last_error.clone(), "bad"),
        (
            "Lease",
            s.lease.as_ref().map(|l| {
                let holder = l.holder.as_deref().unwrap_or("nobody yet");
                let me = if l.leading { ", this controller" } else { "" };
                format!("held by {holder}{me} (token {})", l.token)
            }),
            "",
        ),
    ];
    rows.extend(
        optional
            .into_iter()
            .filter_map(|(k, v, c)| v.map(|v| (k, v, c))),
    );
    let mut out = String::from("<table>");
    for (k, v, class) in rows {
        let _ = write!(
            out,
            "<tr><th>{k}</th><td class=\"{class}\">{}</td></tr>",
            esc(&v)
        );
    }
    out.push_str("</table>");
    out
}

/// One target: its state as policy sees it, each vantage point's view, each check's state,
/// latency and last error.
fn target_row(t: &TargetStatus) -> String {
    let mut state = format!(
        "<span class=\"{}\">{}</span>",
        html::state_tone(&t.state),
        esc(&t.state)
    );
    if t.flapping {
        state.push_str(" <span class=\"warn\">(flapping: held)</span>");
    }
    let checks: String = t
        .checks
        .iter()
        .map(|c| {
            let latency = c
                .last_latency_ms
                .map_or_else(String::new, |ms| format!(", {ms} ms"));
            let why = c
                .last_error
                .as_deref()
                .map_or_else(String::new, |e| format!(": {}", esc(e)));
            format!(
                "<div><code>{}</code> ({}) <span class=\"{}\">{}</span>{latency}{why}</div>",
                esc(&c.check),
                esc(&format!("{:?}", c.role).to_lowercase()),
                html::state_tone(&c.state),
                esc(&c.state)
            )
        })
        .collect();
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{state}</td><td>{}</td><td>{checks}</td></tr>",
        esc(&t.target),
        t.priority,
        esc(&t.values.join(", ")),
        vantage(t)
    )
}

/// Who sees the target how: the controller's own view, and each agent's when agents report.
fn vantage(t: &TargetStatus) -> String {
    let local = if t.local.is_empty() {
        &t.state
    } else {
        &t.local
    };
    let Some(v) = &t.vantage else {
        return format!(
            "controller: <span class=\"{}\">{}</span>",
            html::state_tone(local),
            esc(local)
        );
    };
    let mut out = String::new();
    for (key, label) in [
        ("down", "down"),
        ("up", "up"),
        ("unknown", "unknown"),
        ("stale", "stale (counted unknown)"),
    ] {
        let names: Vec<String> = v
            .get(key)
            .and_then(|x| x.as_array())
            .map(|a| a.iter().filter_map(|n| n.as_str()).map(esc).collect())
            .unwrap_or_default();
        if !names.is_empty() {
            let _ = write!(
                out,
                "<div><span class=\"{}\">{label}</span>: {}</div>",
                html::state_tone(key),
                names.join(", ")
            );
        }
    }
    out
}

/// The canary's step and what its gates read against their limits.
fn canary(c: &CanaryProgress, d: &ServiceDetail, now_ms: u64) -> String {
    let share = c.steps.get(c.step).copied().unwrap_or(0);
    let steps: Vec<String> = c
        .steps
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i == c.step {
                format!("<b>[{p} %]</b>")
            } else {
                format!("{p} %")
            }
        })
        .collect();
    let p95 = c
        .stats
        .p95_latency_ms
        .map_or_else(|| "-".into(), |ms| format!("{ms} ms"));
    let limit = c
        .max_latency_ms
        .map_or_else(|| "none".into(), |ms| format!("{ms} ms"));
    let mut out = format!(
        "<h2>Canary failback</h2><table><tr><th>Step</th><td>{} of {}: primary gets {share} % \
         ({}), held {} s each, this step since {}</td></tr>\
         <tr><th>Primary's results this step</th><td>{} results, {} failed: error rate \
         {:.2} % (limit {:.2} %); p95 latency {p95} (limit {limit})</td></tr>",
        c.step + 1,
        c.steps.len(),
        steps.join(" &rarr; "),
        c.hold_ms / 1000,
        esc(&html::when(c.since_ms, now_ms)),
        c.stats.samples,
        c.stats.failures,
        c.stats.error_rate() * 100.0,
        c.max_error_rate * 100.0,
    );
    if let Some(factor) = c.baseline_factor {
        let base = d
            .status
            .baseline
            .as_ref()
            .and_then(|b| b.latency_p95_ms)
            .map_or_else(|| "not learnt yet".into(), |ms| format!("{ms} ms"));
        let _ = write!(
            out,
            "<tr><th>Baseline gate</th><td>p95 at most {factor} x the primary's normal p95 \
             ({base})</td></tr>"
        );
    }
    if let Some((reading, max)) = &c.metric {
        let reading = match reading {
            Ok(v) => format!("{v}"),
            Err(e) => format!("unreadable: {e}"),
        };
        let _ = write!(
            out,
            "<tr><th>Metric gate</th><td>{} (limit {max})</td></tr>",
            esc(&reading)
        );
    }
    out.push_str("</table>");
    out
}
