//! The fleet view (`GET /`, `/ui`): a summary, then the services that need a look first, at
//! most [`PAGE_ROWS`] rows a page, filtered by `?q=`; and the recent events of the services
//! that need a look.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::html::{self, esc, url_part};
use super::{timeline, View};
use crate::reconcile::ServiceStatus;
use crate::state::AuditEntry;

/// Rows rendered per page: 10,000 services stay a page of a few hundred KB.
pub const PAGE_ROWS: usize = 200;

/// The fleet view's body.
pub fn render(rows: &[ServiceStatus], view: &View, events: &[AuditEntry], now_ms: u64) -> String {
    let mut out = summary(rows);
    let needle = view.q.as_deref().unwrap_or("").trim().to_lowercase();
    let mut matching: Vec<&ServiceStatus> = rows
        .iter()
        .filter(|r| needle.is_empty() || matches(r, &needle))
        .collect();
    // Stable: within each group the name order the loop answers in.
    matching.sort_by_key(|r| !html::needs_attention(r));
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/ui\"><input type=\"search\" name=\"q\" value=\"{}\" \
         placeholder=\"service, record, phase\"> <button>Filter</button></form>",
        esc(view.q.as_deref().unwrap_or(""))
    );
    let pages = matching.len().div_ceil(PAGE_ROWS).max(1);
    let page = view.page.clamp(1, pages);
    let shown: Vec<&ServiceStatus> = matching
        .iter()
        .skip((page - 1) * PAGE_ROWS)
        .take(PAGE_ROWS)
        .copied()
        .collect();
    out.push_str(&table(&shown));
    out.push_str(&pager(view, matching.len(), shown.len(), page, pages));
    out.push_str("<h2>Events in the last 24 h (services needing attention)</h2>");
    out.push_str(&timeline::render(events, now_ms, true));
    out
}

/// Whether a row matches the lowercase `needle`: service, record, provider, phase, targets.
fn matches(r: &ServiceStatus, needle: &str) -> bool {
    [
        r.service.as_str(),
        r.record.as_str(),
        r.provider.as_str(),
        html::phase_words(&r.phase),
        r.phase.label(),
    ]
    .iter()
    .any(|f| f.to_lowercase().contains(needle))
        || r.targets
            .iter()
            .any(|t| t.target.to_lowercase().contains(needle))
}

/// Counts by phase, alerts, holds, leadership and a partition suspicion.
fn summary(rows: &[ServiceStatus]) -> String {
    let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        *phases.entry(html::phase_words(&r.phase)).or_default() += 1;
    }
    let alerts = rows.iter().filter(|r| r.alert.is_some()).count();
    let held = rows
        .iter()
        .filter(|r| r.held.is_some() || r.frozen.is_some())
        .count();
    let mut out = format!(
        "<p class=\"summary\"><span><b>{}</b> service{}</span>",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    for (phase, n) in &phases {
        let tone = if *phase == "normal" { "good" } else { "warn" };
        let _ = write!(out, "<span class=\"{tone}\">{phase}: <b>{n}</b></span>");
    }
    let tone = if alerts > 0 { "bad" } else { "good" };
    let _ = write!(
        out,
        "<span class=\"{tone}\">alerting: <b>{alerts}</b></span><span>held or frozen: \
         <b>{held}</b></span>"
    );
    let leader = match rows.first().and_then(|r| r.lease.as_ref()) {
        None => "leader: this controller (single node)".to_string(),
        Some(l) if l.leading => format!("leader: this controller (token {})", l.token),
        Some(l) => format!(
            "follower; leader: {}",
            esc(l.holder.as_deref().unwrap_or("nobody yet"))
        ),
    };
    let _ = write!(out, "<span>{leader}</span></p>");
    if let Some(p) = rows.iter().find_map(|r| r.partition.as_ref()) {
        let _ = write!(
            out,
            "<p class=\"bad\">Partition suspected: {} (nothing is moved)</p>",
            esc(p)
        );
    }
    out
}

/// The service table.
fn table(rows: &[&ServiceStatus]) -> String {
    let mut out = String::from(
        "<table><tr><th>Service</th><th>Phase</th><th>Published answer</th><th>TTL</th>\
         <th>Targets</th><th>Notes</th></tr>",
    );
    for r in rows {
        let (values, ttl) = html::published(r);
        let targets: String = r
            .targets
            .iter()
            .map(|t| {
                format!(
                    "<span class=\"pill {}\">{}: {}</span>",
                    html::state_tone(&t.state),
                    esc(&t.target),
                    esc(&t.state)
                )
            })
            .collect();
        let _ = write!(
            out,
            "<tr><td><a href=\"/ui/service/{}\">{}</a><br><span class=\"note\">{}</span></td>\
             <td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{targets}</td><td>{}</td></tr>",
            url_part(&r.service),
            esc(&r.service),
            esc(&r.record),
            html::tone(r),
            html::phase_words(&r.phase),
            esc(&values),
            esc(&ttl),
            notes(r)
        );
    }
    out.push_str("</table>");
    out
}

/// Alert, freeze, hold, error and the decision's reason, most urgent first.
fn notes(r: &ServiceStatus) -> String {
    let mut out = String::new();
    if let Some(a) = &r.alert {
        let _ = write!(out, "<div class=\"bad\">ALERT: {}</div>", esc(a));
    }
    if let Some(f) = &r.frozen {
        let _ = write!(
            out,
            "<div class=\"warn\">frozen by {}: {}</div>",
            esc(&f.by),
            esc(&f.reason)
        );
    }
    if let Some(h) = &r.held {
        let _ = write!(out, "<div class=\"warn\">held: {}</div>", esc(h));
    }
    if let Some(e) = &r.last_error {
        let _ = write!(out, "<div class=\"bad\">error: {}</div>", esc(e));
    }
    if !r.reason.is_empty() {
        let _ = write!(out, "<div class=\"note\">{}</div>", esc(&r.reason));
    }
    out
}

/// "Showing a-b of n" and links to the neighbouring pages, keeping the filter.
fn pager(view: &View, matching: usize, shown: usize, page: usize, pages: usize) -> String {
    let first = if shown == 0 {
        0
    } else {
        (page - 1) * PAGE_ROWS + 1
    };
    let hidden = matching - shown;
    let mut out = format!(
        "<p>Showing {first}-{} of {matching} matching services ({hidden} not shown; page \
         {page} of {pages}, at most {PAGE_ROWS} a page).",
        first + shown.saturating_sub(1),
    );
    let q = view
        .q
        .as_deref()
        .map(|q| format!("&amp;q={}", url_part(q)))
        .unwrap_or_default();
    let refresh = if view.refresh { "" } else { "&amp;refresh=0" };
    if page > 1 {
        let _ = write!(
            out,
            " <a href=\"/ui?page={}{q}{refresh}\">previous</a>",
            page - 1
        );
    }
    if page < pages {
        let _ = write!(
            out,
            " <a href=\"/ui?page={}{q}{refresh}\">next</a>",
            page + 1
        );
    }
    out.push_str("</p>");
    out
}
