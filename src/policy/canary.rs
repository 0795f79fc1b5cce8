//! Canary gates: is the primary still healthy enough to take the next step of traffic?
//!
//! Part of `policy` (probe -> health -> **policy** -> plan). During each canary step the
//! controller collects the primary's probe results since the step began ([`StepStats`], made
//! by `health`); [`evaluate`] compares them with the configured limits and with the primary's
//! own baseline from before the outage. Pure, so every gate is unit-tested without a clock or
//! a socket.

use std::time::Duration;

use super::ServiceState;
use crate::config::{Gates, Service};
use crate::health::StepStats;

/// Fewer samples than this in a step say nothing yet: a gate neither passes nor fails on them.
pub const MIN_SAMPLES: u64 = 3;

/// Baselines below this are compared as if they were this (see [`evaluate`]).
pub const BASELINE_FLOOR_MS: u64 = 50;

/// What a gate found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateVerdict {
    Pass,
    /// Not enough evidence yet.
    Pending,
    /// A limit was exceeded; the text says which and by how much.
    Fail(String),
}

/// Checks one step's statistics against the gates, the baseline p95 latency and, when a
/// metrics gate is configured, the user's metric (`None` = not read yet).
pub fn evaluate(
    gates: &Gates,
    stats: &StepStats,
    baseline_p95_ms: Option<u64>,
    metric: Option<&Result<f64, String>>,
) -> GateVerdict {
    if let Some(m) = &gates.metric {
        match metric {
            Some(Err(e)) => return GateVerdict::Fail(e.clone()),
            Some(Ok(v)) if *v > m.max => {
                return GateVerdict::Fail(format!(
                    "metric {v} from {} is above the gate of {}",
                    m.url, m.max
                ))
            }
            Some(Ok(_)) => {}
            None => return GateVerdict::Pending,
        }
    }
    if stats.samples < MIN_SAMPLES {
        return GateVerdict::Pending;
    }
    let rate = stats.error_rate();
    if rate > gates.max_error_rate {
        return GateVerdict::Fail(format!(
            "error rate {:.1} % over {} probes is above the gate of {:.1} %",
            rate * 100.0,
            stats.samples,
            gates.max_error_rate * 100.0
        ));
    }
    if let (Some(max), Some(p95)) = (gates.max_latency, stats.p95_latency_ms) {
        if u128::from(p95) > max.as_millis() {
            return GateVerdict::Fail(format!(
                "p95 latency {p95} ms is above the gate of {} ms",
                max.as_millis()
            ));
        }
    }
    if let (Some(factor), Some(base), Some(p95)) =
        (gates.baseline_factor, baseline_p95_ms, stats.p95_latency_ms)
    {
        // A floor of 50 ms keeps a millisecond baseline (same rack, loopback) from failing on
        // scheduling noise: doubling 1 ms is not a regression anyone should roll back for.
        let limit = (base.max(BASELINE_FLOOR_MS) as f64 * factor).ceil() as u64;
        if p95 > limit {
            return GateVerdict::Fail(format!(
                "p95 latency {p95} ms is more than {factor}x the primary's normal p95 of {base} ms"
            ));
        }
    }
    GateVerdict::Pass
}

/// The steps and per-step hold in force: an operator's override, else the configuration.
pub fn plan_for(service: &Service, state: &ServiceState) -> (Vec<u32>, Duration) {
    match &state.canary_override {
        Some(o) => (
            o.steps.clone(),
            o.hold_ms
                .map(Duration::from_millis)
                .unwrap_or(service.canary.hold),
        ),
        None => (service.canary.steps.clone(), service.canary.hold),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates() -> Gates {
        Gates {
            max_error_rate: 0.1,
            max_latency: Some(Duration::from_millis(200)),
            baseline_factor: Some(2.0),
            metric: None,
        }
    }

    #[test]
    fn the_users_metric_gates_the_step() {
        let g = Gates {
            metric: Some(crate::config::MetricGate {
                url: "http://prom/q".into(),
                max: 0.01,
            }),
            ..gates()
        };
        let s = StepStats {
            samples: 10,
            failures: 0,
            p95_latency_ms: Some(10),
        };
        assert_eq!(
            evaluate(&g, &s, None, None),
            GateVerdict::Pending,
            "not read yet"
        );
        assert_eq!(evaluate(&g, &s, None, Some(&Ok(0.004))), GateVerdict::Pass);
        assert!(
            matches!(evaluate(&g, &s, None, Some(&Ok(0.03))), GateVerdict::Fail(m) if m.contains("above the gate of 0.01"))
        );
        assert!(
            matches!(evaluate(&g, &s, None, Some(&Err("metrics gate: down".into()))), GateVerdict::Fail(m) if m.contains("down"))
        );
    }

    #[test]
    fn too_few_samples_is_pending() {
        let s = StepStats {
            samples: 2,
            failures: 2,
            p95_latency_ms: None,
        };
        assert_eq!(evaluate(&gates(), &s, None, None), GateVerdict::Pending);
    }

    #[test]
    fn error_rate_above_gate_fails() {
        let s = StepStats {
            samples: 10,
            failures: 2,
            p95_latency_ms: Some(10),
        };
        assert!(
            matches!(evaluate(&gates(), &s, Some(10), None), GateVerdict::Fail(m) if m.contains("error rate 20.0 %"))
        );
    }

    #[test]
    fn absolute_latency_gate() {
        let s = StepStats {
            samples: 10,
            failures: 0,
            p95_latency_ms: Some(250),
        };
        assert!(
            matches!(evaluate(&gates(), &s, None, None), GateVerdict::Fail(m) if m.contains("above the gate of 200 ms"))
        );
    }

    #[test]
    fn latency_against_own_baseline() {
        let s = StepStats {
            samples: 10,
            failures: 0,
            p95_latency_ms: Some(190),
        };
        assert!(
            matches!(evaluate(&Gates { max_latency: None, ..gates() }, &s, Some(90), None), GateVerdict::Fail(m) if m.contains("normal p95 of 90 ms"))
        );
        assert_eq!(
            evaluate(
                &Gates {
                    max_latency: None,
                    ..gates()
                },
                &s,
                Some(95),
                None
            ),
            GateVerdict::Pass
        );
        let fast = StepStats {
            samples: 10,
            failures: 0,
            p95_latency_ms: Some(12),
        };
        assert_eq!(
            evaluate(&gates(), &fast, Some(1), None),
            GateVerdict::Pass,
            "a 1 ms baseline is floored at 50 ms"
        );
    }
}
