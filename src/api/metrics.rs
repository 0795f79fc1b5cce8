//! `GET /metrics`: the controller in the Prometheus/OpenMetrics text format.
//!
//! Beside the flow (monitoring -> **api** -> status board): each scrape asks the loop for the
//! status rows (as `status` does) and renders them, with the loop's counters
//! (`reconcile::counters`), into a registry made for that scrape. Nothing per service is kept
//! between scrapes, so 10,000 services cost memory only while a scrape is answered.
//!
//! Readable without a token from a loopback peer (a local Prometheus or node agent); from
//! anywhere else it needs a read-only or operator bearer token, like `status`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

mod adapters;
mod vantage;

use super::{error, ApiState};
use crate::config::Role;
use crate::reconcile::ServiceStatus;

/// The content type of the OpenMetrics text format (Prometheus negotiates it).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabel {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    service: String,
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    service: String,
    target: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    check: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckStateLabels {
    check: String,
    state: String,
}

/// The handler: loopback peers without a token, others with a read-only or operator token.
pub(super) async fn scrape(
    State(s): State<ApiState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let local = peer.is_some_and(|Extension(ConnectInfo(p))| p.ip().is_loopback());
    let role = super::auth::bearer(&headers)
        .and_then(|t| s.tokens.identify(t))
        .map(|t| t.role);
    if let Err((status, why)) = may_read(local, role) {
        return error(status, why);
    }
    let rows = match s.board.all().await {
        Ok(rows) => rows,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry(&s, &rows)) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// Loopback peers read without a token; others need a read-only or operator token (an agent
/// token is for reports only).
pub(super) fn may_read(local: bool, role: Option<Role>) -> Result<(), (StatusCode, &'static str)> {
    match (local, role) {
        (true, _) | (false, Some(Role::ReadOnly | Role::Operator)) => Ok(()),
        (false, Some(Role::Agent)) => Err((StatusCode::FORBIDDEN, "agent tokens may not read metrics")),
        (false, None) => Err((
            StatusCode::UNAUTHORIZED,
            "metrics from outside loopback need `Authorization: Bearer <token>` (read-only or operator)",
        )),
    }
}

/// Every metric of one scrape.
fn registry(s: &ApiState, rows: &[ServiceStatus]) -> Registry {
    let mut r = Registry::with_prefix("dnsfailback");
    r.register(
        "build",
        "The running version",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
    );
    let counters = s.board.counters();
    r.register(
        "changes",
        "DNS changes applied and verified, by audit action (failover, canary_step, ttl_restore, ...)",
        counters.changes.clone(),
    );
    r.register(
        "change_failures",
        "Service changes that failed (provider error, invalid plan, not the leader)",
        counters.change_failures.clone(),
    );
    r.register(
        "tick_duration_seconds",
        "Time of one control-loop tick's decision pass",
        counters.tick_seconds.clone(),
    );
    register_probes_and_providers(&mut r, counters);
    s.store.register_metrics(&mut r);
    register_controller(&mut r, rows);
    register_services(&mut r, rows, s.clock.now_ms());
    register_service_totals(&mut r, rows);
    register_targets(&mut r, rows);
    vantage::register(&mut r, rows);
    r
}

/// What the loop counts of probes (by kind, never by check) and provider calls (by provider).
fn register_probes_and_providers(r: &mut Registry, c: &crate::reconcile::counters::LoopCounters) {
    r.register(
        "probe_duration_seconds",
        "Duration of each probe, by probe kind (http, https, tcp, udp, icmp, dns)",
        c.probe_seconds.clone(),
    );
    r.register(
        "probe_failures",
        "Failed probes by probe kind and reason (timeout, refused, status, tls, ...)",
        c.probe_failures.clone(),
    );
    r.register(
        "provider_calls",
        "Provider API calls by provider, operation (read, apply, status) and outcome (ok, error)",
        c.provider_calls.clone(),
    );
    r.register(
        "provider_errors",
        "Failed provider calls by provider and error kind (transient, rate_limited, auth, conflict, ...)",
        c.provider_errors.clone(),
    );
    r.register(
        "provider_apply_seconds",
        "Duration of each provider apply call",
        c.provider_apply_seconds.clone(),
    );
    adapters::register(r, &c.adapter_stats);
    r.register(
        "provider_propagation_seconds",
        "Time from a change to the provider's first report that it is served everywhere (providers with change status)",
        c.provider_propagation_seconds.clone(),
    );
}

/// Whether this controller leads (1 without etcd) and whether it suspects its own network.
fn register_controller(r: &mut Registry, rows: &[ServiceStatus]) {
    let leader = Gauge::<i64>::default();
    leader.set(
        rows.first()
            .and_then(|x| x.lease.as_ref())
            .map_or(1, |l| i64::from(l.leading)),
    );
    r.register(
        "leader",
        "1 while this controller changes DNS (always 1 without etcd)",
        leader,
    );
    let suspect = Gauge::<i64>::default();
    suspect.set(i64::from(rows.iter().any(|x| x.partition.is_some())));
    r.register(
        "partition_suspected",
        "1 while the controller suspects its own network and moves nothing",
        suspect,
    );
}

/// Per service: failovers and failbacks since start (0 included, so that `increase()` sees
/// the first one), and the duration of the last failover once there was one.
fn register_service_totals(r: &mut Registry, rows: &[ServiceStatus]) {
    let failovers = Family::<ServiceLabel, Counter>::default();
    let failbacks = Family::<ServiceLabel, Counter>::default();
    let last = Family::<ServiceLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for row in rows {
        let service = ServiceLabel {
            service: row.service.clone(),
        };
        let t = row.totals;
        failovers
            .get_or_create(&service)
            .inc_by(u64::from(t.failovers));
        failbacks
            .get_or_create(&service)
            .inc_by(u64::from(t.failbacks));
        if let Some(ms) = t.last_failover_ms {
            last.get_or_create(&service).set(f64::from(ms) / 1000.0);
        }
    }
    r.register(
        "service_failovers",
        "Failovers applied and verified since the controller started",
        failovers,
    );
    r.register(
        "service_failbacks",
        "Failbacks started since the controller started",
        failbacks,
    );
    r.register(
        "service_last_failover_duration_seconds",
        "The last failover, from the controller seeing the primary down to the provider's read-back confirming the change",
        last,
    );
}

/// Per service: phase, published TTL, the primary's share, TTL restore countdown, holds and
/// alerts.
fn register_services(r: &mut Registry, rows: &[ServiceStatus], now_ms: u64) {
    let phase = Family::<PhaseLabels, Gauge>::default();
    let ttl = Family::<ServiceLabel, Gauge>::default();
    let share = Family::<ServiceLabel, Gauge>::default();
    let restore = Family::<ServiceLabel, Gauge>::default();
    let held = Family::<ServiceLabel, Gauge>::default();
    let alerting = Family::<ServiceLabel, Gauge>::default();
    for row in rows {
        let service = ServiceLabel {
            service: row.service.clone(),
        };
        phase
            .get_or_create(&PhaseLabels {
                service: row.service.clone(),
                phase: row.phase.label(),
            })
            .set(1);
        if let Some(p) = &row.published {
            ttl.get_or_create(&service).set(i64::from(p.ttl()));
            share.get_or_create(&service).set(primary_share(row, p));
        }
        if let Some(at) = row.ttl_restore_at_ms {
            let left = at.saturating_sub(now_ms).div_ceil(1000);
            restore
                .get_or_create(&service)
                .set(i64::try_from(left).unwrap_or(i64::MAX));
        }
        held.get_or_create(&service)
            .set(i64::from(row.held.is_some() || row.frozen.is_some()));
        alerting
            .get_or_create(&service)
            .set(i64::from(row.alert.is_some()));
    }
    r.register("service_phase", "1 for the phase each service is in", phase);
    r.register(
        "service_published_ttl_seconds",
        "TTL of the published answer",
        ttl,
    );
    r.register(
        "service_primary_share_percent",
        "Share of the answer pointing at the primary (100 normal, 0 failed over, the step during a canary)",
        share,
    );
    r.register(
        "service_ttl_restore_in_seconds",
        "Seconds until the original TTL is restored (while restoring)",
        restore,
    );
    r.register(
        "service_held",
        "1 while a change is held (a safety rule, a freeze, an operator hold)",
        held,
    );
    r.register(
        "service_alerting",
        "1 while the service has an alert (all targets down, ...)",
        alerting,
    );
}

/// The primary's share of the published answer: the canary's step, 100 when the primary is
/// published alone, 0 otherwise.
fn primary_share(row: &ServiceStatus, published: &crate::policy::Publication) -> i64 {
    use crate::policy::Publication;
    let primary = row
        .targets
        .iter()
        .min_by_key(|t| t.priority)
        .map(|t| t.target.as_str());
    match published {
        Publication::Split { primary_share, .. } => i64::from(*primary_share),
        Publication::Target { target, .. } if Some(target.as_str()) == primary => 100,
        Publication::Target { .. } => 0,
        Publication::All { .. } => {
            let n = i64::try_from(row.targets.len().max(1)).unwrap_or(1);
            100 / n
        }
    }
}

/// Per target its state; per check its state and last latency.
fn register_targets(r: &mut Registry, rows: &[ServiceStatus]) {
    let targets = Family::<TargetLabels, Gauge>::default();
    let checks = Family::<CheckStateLabels, Gauge>::default();
    let latency = Family::<CheckLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for row in rows {
        for t in &row.targets {
            targets
                .get_or_create(&TargetLabels {
                    service: row.service.clone(),
                    target: t.target.clone(),
                    state: t.state.clone(),
                })
                .set(1);
            for c in &t.checks {
                checks
                    .get_or_create(&CheckStateLabels {
                        check: c.check.clone(),
                        state: c.state.clone(),
                    })
                    .set(1);
                if let Some(ms) = c.last_latency_ms {
                    latency
                        .get_or_create(&CheckLabels {
                            check: c.check.clone(),
                        })
                        .set(ms as f64 / 1000.0);
                }
            }
        }
    }
    r.register(
        "target_state",
        "1 for each target's state as policy sees it (up, down, unknown)",
        targets,
    );
    r.register("check_state", "1 for each check's state", checks);
    r.register(
        "check_last_latency_seconds",
        "Duration of each check's last probe",
        latency,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_reads_freely_and_the_network_needs_a_reading_token() {
        assert!(may_read(true, None).is_ok());
        assert!(may_read(false, Some(Role::ReadOnly)).is_ok());
        assert!(may_read(false, Some(Role::Operator)).is_ok());
        assert_eq!(
            may_read(false, None).map_err(|e| e.0),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            may_read(false, Some(Role::Agent)).map_err(|e| e.0),
            Err(StatusCode::FORBIDDEN)
        );
    }
}
