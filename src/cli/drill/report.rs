//! The drill's report: what was measured, as JSON (for tooling and the record) or Markdown
//! (for the team's DR log). Times are unix milliseconds in JSON and RFC 3339 UTC in Markdown;
//! durations are milliseconds. Controller times (audit entries) and the drill's own times come
//! from two clocks when the drill runs on another machine.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::state::when::rfc3339_utc;

/// Version of the JSON layout, raised when a field changes meaning.
pub const SCHEMA: u32 = 1;

/// Everything one drill measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub schema: u32,
    pub service: String,
    pub record: String,
    pub rtype: String,
    /// The target traffic was moved to.
    pub to: String,
    pub primary: String,
    pub started_at_ms: u64,
    pub finished_at_ms: u64,
    /// `completed`, or what stopped the drill and what was done about it.
    pub outcome: String,
    /// The authoritative servers queried (`--authoritative`, else the zone's NS set).
    pub authoritative: Vec<crate::cli::online::NameServer>,
    /// Phases in order: `ttl_lowering`, `switch`, `failed_over`, `canary`, `ttl_restore`.
    pub phases: Vec<PhaseRecord>,
    pub switch: Switch,
    /// Each `--resolver`: when it first answered the backup after the switch was due.
    pub resolvers: Vec<Arrival>,
    /// Answers counted per target while each canary step was published.
    pub canary: Vec<CanaryStep>,
    pub ttl_restore: TtlRestore,
    /// The live checks (SOA minimum, TTL at the provider, name servers), one line each.
    pub warnings: Vec<String>,
}

/// One phase of the drill, with the wait the configuration predicts for it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub name: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub duration_ms: u64,
    /// What the configuration predicts (old TTL + margin, steps x hold, restore_ttl_after).
    pub expected_ms: Option<u64>,
    pub note: String,
}

/// The switch to the backup, measured from the moment it was due (TTL lowered + old TTL +
/// `ttl_lead_margin`: the controller decides on its next tick).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Switch {
    pub due_at_ms: Option<u64>,
    /// The controller's audit entry of the failover: the provider applied it and it was read
    /// back.
    pub confirmed_at_ms: Option<u64>,
    /// `confirmed_at_ms - due_at_ms`.
    pub provider_confirmation_ms: Option<u64>,
    pub authoritative: Vec<Arrival>,
    /// Switch due -> the last authoritative server answers the backup: the headline number.
    pub switch_ms: Option<u64>,
}

/// When one server first gave the expected answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Arrival {
    pub server: String,
    pub addr: String,
    pub at_ms: Option<u64>,
    /// Since the switch was due; `None` when it never answered within the drill's limits.
    pub after_ms: Option<u64>,
}

/// One canary step as observed over DNS.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CanaryStep {
    pub step: usize,
    /// The primary's configured share in percent.
    pub primary_percent: u32,
    pub samples: u32,
    /// Answers per target name (`other` for answers matching no target).
    pub counts: BTreeMap<String, u32>,
    /// The primary's share among the samples, in percent.
    pub observed_primary_percent: f64,
}

/// The return of the original TTL after the failback.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TtlRestore {
    pub ttl: u32,
    /// When traffic was fully back (canary complete) and the wait began.
    pub from_ms: Option<u64>,
    /// The controller's `ttl_restore` audit entry.
    pub confirmed_at_ms: Option<u64>,
    /// When every authoritative server answered with the original TTL.
    pub served_at_ms: Option<u64>,
    /// `served_at_ms - from_ms`.
    pub after_ms: Option<u64>,
}

impl Report {
    /// Adds a finished phase.
    pub fn phase(&mut self, name: &str, start: u64, end: u64, expected: Option<u64>, note: &str) {
        self.phases.push(PhaseRecord {
            name: name.into(),
            start_ms: start,
            end_ms: end,
            duration_ms: end.saturating_sub(start),
            expected_ms: expected,
            note: note.into(),
        });
    }
}

fn ms(v: Option<u64>) -> String {
    v.map(|v| format!("{v} ms"))
        .unwrap_or_else(|| "not seen".into())
}

fn at(v: Option<u64>) -> String {
    v.map(rfc3339_utc).unwrap_or_else(|| "-".into())
}

/// The report as Markdown, headed sections in the order the drill ran.
pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# DNS failover drill: {} ({} {})\n",
        r.service, r.record, r.rtype
    );
    let _ = writeln!(o, "- Started: {}", rfc3339_utc(r.started_at_ms));
    let _ = writeln!(o, "- Finished: {}", rfc3339_utc(r.finished_at_ms));
    let _ = writeln!(o, "- Moved to: `{}`, back to `{}`", r.to, r.primary);
    let _ = writeln!(o, "- Outcome: {}", r.outcome);
    let servers: Vec<String> = r
        .authoritative
        .iter()
        .map(|n| format!("{} ({})", n.name, n.addr))
        .collect();
    let _ = writeln!(o, "- Authoritative servers: {}\n", servers.join(", "));
    o.push_str("## Phases\n\n| Phase | Start (UTC) | Duration | Expected | Notes |\n|---|---|---|---|---|\n");
    for p in &r.phases {
        let _ = writeln!(
            o,
            "| {} | {} | {} ms | {} | {} |",
            p.name,
            rfc3339_utc(p.start_ms),
            p.duration_ms,
            p.expected_ms
                .map(|e| format!("{e} ms"))
                .unwrap_or_else(|| "-".into()),
            p.note
        );
    }
    switch_section(r, &mut o);
    canary_section(r, &mut o);
    let t = &r.ttl_restore;
    let _ = writeln!(o, "\n## TTL restore\n");
    let _ = writeln!(
        o,
        "- TTL {} restored by the controller at {}",
        t.ttl,
        at(t.confirmed_at_ms)
    );
    let _ = writeln!(
        o,
        "- Served by every authoritative server at {}",
        at(t.served_at_ms)
    );
    let _ = writeln!(
        o,
        "- Time from full return to restored TTL: {}",
        ms(t.after_ms)
    );
    o.push_str("\n## Warnings\n\n");
    if r.warnings.is_empty() {
        o.push_str("None.\n");
    }
    for w in &r.warnings {
        let _ = writeln!(o, "- {w}");
    }
    o
}

fn switch_section(r: &Report, o: &mut String) {
    let s = &r.switch;
    let _ = writeln!(o, "\n## Switch\n");
    let _ = writeln!(o, "- Switch due: {}", at(s.due_at_ms));
    let _ = writeln!(
        o,
        "- Provider confirmed: {} ({} after due)",
        at(s.confirmed_at_ms),
        ms(s.provider_confirmation_ms)
    );
    let _ = writeln!(
        o,
        "- **Switch time: {}** (switch due -> every authoritative server answers `{}`)\n",
        ms(s.switch_ms),
        r.to
    );
    o.push_str("| Server | Address | Answered the backup after |\n|---|---|---|\n");
    for a in s.authoritative.iter().chain(&r.resolvers) {
        let _ = writeln!(o, "| {} | {} | {} |", a.server, a.addr, ms(a.after_ms));
    }
}

fn canary_section(r: &Report, o: &mut String) {
    o.push_str("\n## Canary\n\n| Step | Primary share (configured) | Samples | Answers per target | Primary share (observed) |\n|---|---|---|---|---|\n");
    for c in &r.canary {
        let counts: Vec<String> = c.counts.iter().map(|(t, n)| format!("{t}: {n}")).collect();
        let _ = writeln!(
            o,
            "| {} | {} % | {} | {} | {:.1} % |",
            c.step + 1,
            c.primary_percent,
            c.samples,
            counts.join(", "),
            c.observed_primary_percent
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_says_not_seen_for_a_server_that_never_answered() {
        let mut r = Report {
            service: "shop".into(),
            ..Report::default()
        };
        r.switch.authoritative.push(Arrival {
            server: "ns2.example.test.".into(),
            addr: "192.0.2.2:53".into(),
            at_ms: None,
            after_ms: None,
        });
        r.phase("switch", 1_000, 1_250, None, "");
        let md = markdown(&r);
        assert!(
            md.contains("| ns2.example.test. | 192.0.2.2:53 | not seen |"),
            "{md}"
        );
        assert!(
            md.contains("| switch | 1970-01-01T00:00:01Z | 250 ms | - |"),
            "{md}"
        );
        assert!(md.contains("## Warnings\n\nNone."), "{md}");
    }
}
