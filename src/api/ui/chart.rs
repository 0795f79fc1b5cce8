//! One target's last two hours as an inline SVG chart: a bar per 5-minute bucket for
//! availability (green: share of passing results, red above it: failing ones), and a line for
//! the passing results' mean latency on its own scale.

use std::fmt::Write as _;

use super::html::esc;
use crate::health::history::{TargetHistory, BUCKET_MS};

const W: u64 = 300;
const H: u64 = 90;
const TOP: u64 = 18;

/// The chart of `h`; buckets without results are left empty.
pub fn render(h: &TargetHistory) -> String {
    let n = h.buckets.len().max(1) as u64;
    let bar = W / n;
    let max_latency = h
        .buckets
        .iter()
        .filter_map(|b| b.mean_latency_ms)
        .max()
        .unwrap_or(0)
        .max(1);
    let total: u64 = h.buckets.iter().map(|b| b.ok + b.failed).sum();
    let failed: u64 = h.buckets.iter().map(|b| b.failed).sum();
    let availability = if total == 0 {
        "no results yet".to_string()
    } else {
        format!(
            "{:.1} % of {total} results passed",
            (total - failed) as f64 * 100.0 / total as f64
        )
    };
    let mut out = format!(
        "<div class=\"chart\"><svg width=\"{W}\" height=\"{}\" viewBox=\"0 0 {W} {}\" \
         role=\"img\" aria-label=\"{} availability and latency\">\
         <text x=\"4\" y=\"12\" font-size=\"11\" fill=\"#1d2430\">{}: availability (bars), \
         latency (line, max {max_latency} ms)</text>",
        H + TOP,
        H + TOP,
        esc(&h.target),
        esc(&h.target),
    );
    let mut line = Vec::new();
    for (i, b) in h.buckets.iter().enumerate() {
        let x = i as u64 * bar;
        let minutes = BUCKET_MS / 60_000;
        if let Some(share) = b.availability() {
            // Passing share in green from the bottom, failing share in red above it.
            let good = (share * H as f64).round() as u64;
            let tip = format!(
                "<title>{} ok, {} failed, mean latency {} ({minutes} min)</title>",
                b.ok,
                b.failed,
                b.mean_latency_ms
                    .map_or_else(|| "-".to_string(), |ms| format!("{ms} ms")),
            );
            let width = bar.saturating_sub(1).max(1);
            for (y, height, colour) in [
                (TOP + H - good, good, "#5cb85c"),
                (TOP, H - good, "#d9534f"),
            ] {
                if height > 0 {
                    let _ = write!(
                        out,
                        "<rect x=\"{x}\" y=\"{y}\" width=\"{width}\" height=\"{height}\" \
                         fill=\"{colour}\">{tip}</rect>"
                    );
                }
            }
        }
        if let Some(ms) = b.mean_latency_ms {
            let y = TOP + H - ms * H / max_latency;
            line.push(format!("{},{y}", x + bar / 2));
            let _ = write!(
                out,
                "<circle cx=\"{}\" cy=\"{y}\" r=\"2\" fill=\"#1f4e9c\"/>",
                x + bar / 2
            );
        }
    }
    if !line.is_empty() {
        let _ = write!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"2\"/>",
            line.join(" ")
        );
    }
    let _ = write!(
        out,
        "</svg><div class=\"note\">last 2 h, 5-minute buckets: {availability}</div></div>"
    );
    out
}
