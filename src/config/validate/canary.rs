//! A service's staged failback: `canary_steps`, `step_hold`, the gates (error rate, latency,
//! baseline factor, metrics query), `on_gate_failure` and the pre-failback / post-step hooks.
//!
//! Part of config validation, which runs before the flow starts; the [`Canary`] read here
//! drives the decide stage's failback (policy) once the flow runs.

use std::time::Duration;

use toml::Spanned;

use super::ctx::Ctx;
use crate::config::bounds;
use crate::config::model::{Canary, GateFailure, Gates, Hook, MetricGate};
use crate::config::raw::{RawHook, RawService};
use crate::probe::duration_opt;

/// A hook table: exactly one of `command` or an http(s) `url`, and a bounded `timeout`
/// (30 s by default). `None` when absent or after an error.
fn hook(ctx: &mut Ctx, raw: &Option<Spanned<RawHook>>, path: String) -> Option<Hook> {
    let h = raw.as_ref()?;
    let r = h.get_ref();
    let timeout = match &r.timeout {
        None => Duration::from_secs(30),
        Some(t) => match duration_opt::parse(t) {
            Ok(d) => match bounds::HOOK_TIMEOUT.check("timeout", t, d) {
                None => d,
                Some(msg) => {
                    ctx.err(
                        h,
                        format!("{path}.timeout"),
                        msg,
                        format!(
                            "write a hook timeout {} (the default is 30s); the service's failback waits for its hook",
                            bounds::HOOK_TIMEOUT.describe()
                        ),
                    );
                    return None;
                }
            },
            Err(e) => {
                ctx.err(
                    h,
                    format!("{path}.timeout"),
                    e,
                    "write a duration such as \"30s\"",
                );
                return None;
            }
        },
    };
    match (&r.command, &r.url) {
        (Some(argv), None) if !argv.is_empty() => Some(Hook::Command {
            argv: argv.clone(),
            timeout,
        }),
        (None, Some(url)) if url.starts_with("http://") || url.starts_with("https://") => {
            Some(Hook::Http {
                url: url.clone(),
                timeout,
            })
        }
        _ => {
            ctx.err(h, path, "a hook needs exactly one of `command` (a non-empty list) or `url` (http/https)", "write { command = [\"/usr/local/bin/check-replication\"], timeout = \"30s\" } or { url = \"https://...\" }");
            None
        }
    }
}

/// The canary of service `p`: its steps, hold time, gates and hooks.
pub(super) fn canary(ctx: &mut Ctx, p: &str, raw: &RawService) -> Canary {
    let steps = steps(ctx, p, raw);
    let hold = ctx.duration(
        &raw.step_hold,
        format!("{p}.step_hold"),
        Duration::from_secs(120),
        bounds::STEP_HOLD,
    );
    let gates = gates(ctx, p, raw);
    let on_gate_failure = ctx.choice(
        &raw.on_gate_failure,
        format!("{p}.on_gate_failure"),
        &[
            ("freeze", GateFailure::Freeze),
            ("rollback", GateFailure::Rollback),
        ],
        GateFailure::Freeze,
    );
    Canary {
        steps,
        hold,
        gates,
        on_gate_failure,
        pre_hook: hook(
            ctx,
            &raw.pre_failback_hook,
            format!("{p}.pre_failback_hook"),
        ),
        post_step_hook: hook(ctx, &raw.post_step_hook, format!("{p}.post_step_hook")),
    }
}

/// `canary_steps`: ascending percentages ending at 100; `[5, 25, 50, 100]` by default (and
/// after an error).
fn steps(ctx: &mut Ctx, p: &str, raw: &RawService) -> Vec<u32> {
    let mut steps = vec![5, 25, 50, 100];
    if let Some(st) = &raw.canary_steps {
        let v: Vec<i64> = st.get_ref().clone();
        let ascending = v.windows(2).all(|w| w[0] < w[1]);
        if v.is_empty()
            || !ascending
            || v.iter().any(|x| !(1..=100).contains(x))
            || v.last() != Some(&100)
        {
            ctx.err(
                st,
                format!("{p}.canary_steps"),
                format!("{v:?} is not an ascending list of percentages ending at 100"),
                "write e.g. [5, 25, 50, 100]; [100] returns all traffic at once",
            );
        } else {
            steps = v
                .into_iter()
                .filter_map(|x| u32::try_from(x).ok())
                .collect();
        }
    }
    steps
}

/// The gates a canary step must pass: error rate, latency, baseline factor and the optional
/// metrics query. A value in error keeps its default.
fn gates(ctx: &mut Ctx, p: &str, raw: &RawService) -> Gates {
    let metric = metric_gate(ctx, p, raw);
    let mut gates = Gates {
        max_error_rate: 0.05,
        max_latency: None,
        baseline_factor: Some(2.0),
        metric,
    };
    if let Some(e) = &raw.gate_max_error_rate {
        if (0.0..=1.0).contains(e.get_ref()) {
            gates.max_error_rate = *e.get_ref();
        } else {
            ctx.err(
                e,
                format!("{p}.gate_max_error_rate"),
                "must be a fraction from 0.0 to 1.0",
                "write e.g. 0.01 for 1 % failed probes",
            );
        }
    }
    if raw.gate_max_latency.is_some() {
        gates.max_latency = Some(ctx.duration(
            &raw.gate_max_latency,
            format!("{p}.gate_max_latency"),
            Duration::from_secs(1),
            bounds::GATE_MAX_LATENCY,
        ));
    }
    if let Some(f) = &raw.gate_baseline_factor {
        if *f.get_ref() >= 1.0 {
            gates.baseline_factor = Some(*f.get_ref());
        } else {
            ctx.err(
                f,
                format!("{p}.gate_baseline_factor"),
                "must be at least 1.0",
                "write e.g. 2.0: the step's latency may be at most twice the primary's normal",
            );
        }
    }
    gates
}

/// The metrics gate: `gate_metrics_url` (http or https) and `gate_metrics_max` together, or
/// neither.
fn metric_gate(ctx: &mut Ctx, p: &str, raw: &RawService) -> Option<MetricGate> {
    match (&raw.gate_metrics_url, &raw.gate_metrics_max) {
        (None, None) => None,
        (Some(u), Some(m))
            if u.get_ref().starts_with("http://") || u.get_ref().starts_with("https://") =>
        {
            Some(MetricGate {
                url: u.get_ref().clone(),
                max: *m.get_ref(),
            })
        }
        (Some(u), _) => {
            ctx.err(u, format!("{p}.gate_metrics_url"), "a metrics gate needs an http(s) URL and `gate_metrics_max`", "write gate_metrics_url = \"http://prometheus:9090/api/v1/query?query=...\" and gate_metrics_max = 0.01");
            None
        }
        (None, Some(m)) => {
            ctx.err(
                m,
                format!("{p}.gate_metrics_max"),
                "`gate_metrics_max` needs `gate_metrics_url`",
                "add gate_metrics_url or remove gate_metrics_max",
            );
            None
        }
    }
}
