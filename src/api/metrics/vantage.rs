//! Per target, how each vantage point (the controller and every agent) sees it: the evidence
//! behind a vantage quorum, for alerts such as "one region's agent sees the primary down".
//!
//! Beside the flow (api, reading health as the status rows carry it): only targets judged by
//! several vantage points have the series (with agents configured); a controller alone adds
//! nothing, so 10,000 services without agents cost no lines.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::reconcile::ServiceStatus;

/// One vantage point's view of one target: `state` is `up`, `down`, `unknown` or `stale` (a
/// report older than `agent_stale_after`, counted as unknown).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VantageLabels {
    service: String,
    target: String,
    vantage: String,
    state: &'static str,
}

/// `dnsfailback_target_vantage_state`: 1 for each vantage point's state of each target.
pub(super) fn register(r: &mut Registry, rows: &[ServiceStatus]) {
    let family = Family::<VantageLabels, Gauge>::default();
    for row in rows {
        for t in &row.targets {
            let Some(verdict) = &t.vantage else { continue };
            for state in ["up", "down", "unknown", "stale"] {
                let names = verdict[state].as_array().into_iter().flatten();
                for vantage in names.filter_map(|v| v.as_str()) {
                    family
                        .get_or_create(&VantageLabels {
                            service: row.service.clone(),
                            target: t.target.clone(),
                            vantage: vantage.to_string(),
                            state,
                        })
                        .set(1);
                }
            }
        }
    }
    r.register(
        "target_vantage_state",
        "1 for each vantage point's view of each target (up, down, unknown, stale); only with agents",
        family,
    );
}
