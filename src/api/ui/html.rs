//! The page shell and the small pieces every view uses: escaping, the inline style sheet,
//! phase names for people, times.

use std::fmt::Write as _;

use crate::policy::Phase;
use crate::reconcile::ServiceStatus;
use crate::state::when;

/// How often the page reloads itself unless `?refresh=0`.
pub const REFRESH_SECONDS: u32 = 5;

/// `text` safe inside an element or a quoted attribute: every character HTML gives a meaning
/// to is replaced. Service names, targets, reasons and errors all pass through here.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `text` as one URL query or path component (RFC 3986 unreserved characters kept), so a
/// service name cannot break out of a link.
pub fn url_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The phase as the page says it: words, not the wire label.
pub fn phase_words(phase: &Phase) -> &'static str {
    match phase {
        Phase::Normal => "normal",
        Phase::FailedOver { .. } => "failed over",
        Phase::Canary { .. } => "canary failback",
        Phase::Lowering { .. } => "lowering TTL",
        Phase::Restoring { .. } => "restoring TTL",
        Phase::AllDown { .. } => "all down",
    }
}

/// Whether a row needs a look: not normal, alerting, held or frozen, or with an error. Such
/// rows are listed first.
pub fn needs_attention(s: &ServiceStatus) -> bool {
    !matches!(s.phase, Phase::Normal)
        || s.alert.is_some()
        || s.held.is_some()
        || s.frozen.is_some()
        || s.last_error.is_some()
}

/// The CSS class of a phase or target state (its colour).
pub fn tone(s: &ServiceStatus) -> &'static str {
    if s.alert.is_some() || matches!(s.phase, Phase::AllDown { .. }) {
        "bad"
    } else if needs_attention(s) {
        "warn"
    } else {
        "good"
    }
}

/// The CSS class of a target or check state.
pub fn state_tone(state: &str) -> &'static str {
    match state {
        "up" => "good",
        "down" => "bad",
        _ => "warn",
    }
}

/// `at_ms` in UTC with its age: `2026-12-07T19:31:28Z (3m ago)`.
pub fn when(at_ms: u64, now_ms: u64) -> String {
    format!(
        "{} ({})",
        when::rfc3339_utc(at_ms),
        when::age(at_ms, now_ms)
    )
}

/// The published answer (values, or `-`) and its TTL (or `-`).
pub fn published(s: &ServiceStatus) -> (String, String) {
    let values = if s.published_values.is_empty() {
        "-".to_string()
    } else {
        s.published_values.join(", ")
    };
    let ttl = s
        .published
        .as_ref()
        .map_or_else(|| "-".to_string(), |p| format!("{} s", p.ttl()));
    (values, ttl)
}

const STYLE: &str = "body{font:14px/1.4 'DejaVu Sans',system-ui,sans-serif;margin:1em 2em;\
color:#1d2430;background:#f6f7f9}h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;\
margin:1.2em 0 .4em}table{border-collapse:collapse;background:#fff;width:100%}\
td,th{border:1px solid #d5d9e0;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#eceff3}.good{color:#17692e}.warn{color:#8a5a00}.bad{color:#b00020;\
font-weight:bold}.pill{display:inline-block;padding:0 .5em;border-radius:.7em;\
background:#eceff3;margin-right:.4em}.note{color:#5b6575}.summary span{margin-right:1.2em}\
form{margin:.6em 0}svg{background:#fff;border:1px solid #d5d9e0}code{font-size:.95em}\
.chart{display:inline-block;margin:0 1em 1em 0;vertical-align:top}";

/// The whole document around `body`: title, inline style, and a meta refresh while
/// `stop_refresh` (the link to this view without it) is set. No script, no external asset:
/// it works offline and under a strict CSP.
pub fn page(title: &str, stop_refresh: Option<&str>, now_ms: u64, body: &str) -> String {
    let (meta, refresh_note) = match stop_refresh {
        Some(link) => (
            format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">"),
            format!(
                "refreshes every {REFRESH_SECONDS} s (<a href=\"{}\">stop</a>)",
                esc(link)
            ),
        ),
        None => (String::new(), "auto-refresh off".to_string()),
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">{meta}\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>{STYLE}</style></head><body><h1>{}</h1><p class=\"note\">dnsfailback {} \
         &middot; {} &middot; {refresh_note} &middot; <a href=\"/ui\">all services</a></p>\
         {body}</body></html>",
        esc(title),
        esc(title),
        env!("CARGO_PKG_VERSION"),
        esc(&when::rfc3339_utc(now_ms)),
    )
}
