//! The last 24 hours of audit entries as a timeline: a strip with one mark per entry (its
//! place is its time), then the entries newest first with time, action, actor, reason and
//! the record changes.

use std::fmt::Write as _;

use super::html::{self, esc};
use crate::state::AuditEntry;

/// The span the timeline covers.
pub const SPAN_MS: u64 = 24 * 3600 * 1000;

/// Entries listed at most (the strip shows them all).
pub const LISTED: usize = 100;

/// The timeline of `events` (any order) within 24 h before `now_ms`; `with_service` adds the
/// service name to each line (the fleet view mixes services).
pub fn render(events: &[AuditEntry], now_ms: u64, with_service: bool) -> String {
    let since = now_ms.saturating_sub(SPAN_MS);
    let mut recent: Vec<&AuditEntry> = events.iter().filter(|e| e.at_ms >= since).collect();
    if recent.is_empty() {
        return "<p class=\"note\">No events in the last 24 h.</p>".into();
    }
    recent.sort_by_key(|e| std::cmp::Reverse(e.at_ms));
    let mut out = strip(&recent, now_ms);
    out.push_str("<table><tr><th>When (UTC)</th>");
    if with_service {
        out.push_str("<th>Service</th>");
    }
    out.push_str("<th>Event</th><th>By</th><th>Why</th></tr>");
    for e in recent.iter().take(LISTED) {
        let _ = write!(out, "<tr><td>{}</td>", esc(&html::when(e.at_ms, now_ms)));
        if with_service {
            let _ = write!(
                out,
                "<td><a href=\"/ui/service/{}\">{}</a></td>",
                html::url_part(&e.service),
                esc(&e.service)
            );
        }
        let _ = write!(
            out,
            "<td class=\"{}\">{}</td><td>{}</td><td>{}",
            action_tone(&e.action),
            esc(&e.action),
            esc(&e.actor),
            esc(&e.reason)
        );
        if let Some(c) = &e.changes {
            for ch in &c.changes {
                let _ = write!(
                    out,
                    "<div class=\"note\"><code>{}</code></div>",
                    esc(&ch.to_string())
                );
            }
        }
        out.push_str("</td></tr>");
    }
    out.push_str("</table>");
    if recent.len() > LISTED {
        let _ = write!(
            out,
            "<p class=\"note\">{} older events not listed.</p>",
            recent.len() - LISTED
        );
    }
    out
}

/// Red for moves away from the primary and failures, green for returns, grey otherwise.
fn action_tone(action: &str) -> &'static str {
    if action.contains("fail") && action != "failback" || action.contains("down") {
        "bad"
    } else if matches!(action, "failback" | "canary_complete" | "ttl_restore") {
        "good"
    } else {
        "warn"
    }
}

/// A 24-hour strip, now on the right, with a mark per entry (hover shows it).
fn strip(events: &[&AuditEntry], now_ms: u64) -> String {
    const W: u64 = 720;
    let since = now_ms.saturating_sub(SPAN_MS);
    let mut out = format!(
        "<svg width=\"{W}\" height=\"34\" viewBox=\"0 0 {W} 34\" role=\"img\" \
         aria-label=\"events over the last 24 hours\"><line x1=\"0\" y1=\"14\" x2=\"{W}\" \
         y2=\"14\" stroke=\"#9aa3b0\"/>"
    );
    for h in (0..=24).step_by(6) {
        let x = (W * h / 24).min(W - 1);
        let label = if h == 24 {
            "now".to_string()
        } else {
            format!("-{}h", 24 - h)
        };
        let anchor = match h {
            0 => "start",
            24 => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            "<text x=\"{x}\" y=\"31\" font-size=\"10\" text-anchor=\"{anchor}\" \
             fill=\"#5b6575\">{label}</text>"
        );
    }
    // Oldest first, so the newest mark is drawn on top.
    for e in events.iter().rev() {
        let x = (e.at_ms.saturating_sub(since) * W / SPAN_MS).min(W - 2);
        let colour = match action_tone(&e.action) {
            "bad" => "#b00020",
            "good" => "#17692e",
            _ => "#8a5a00",
        };
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"5\" width=\"3\" height=\"18\" fill=\"{colour}\">\
             <title>{} {}</title></rect>",
            esc(&html::when(e.at_ms, now_ms)),
            esc(&e.action)
        );
    }
    out.push_str("</svg>");
    out
}
