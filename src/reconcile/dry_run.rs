//! `plan`: what the next tick would change, worked out by the tick's own steps.
//!
//! The flow up to the provider, without its last step: health is evaluated as a tick does,
//! every service is proposed by [`Controller::propose`] (policy and the same gates, with a
//! scratch copy of the failure events), and the changes are planned against the provider's
//! current records by [`zone::plan_items`], the zone job's own planning. Nothing is journaled,
//! applied, saved or audited, no hook starts. So the plan printed before a tick is the change
//! the tick then makes (proven by `tests/integration/plan_replay.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use dnsfailback_provider::{Fqdn, Provider};
use serde::{Deserialize, Serialize};

use super::converge::Outcome;
use super::{zone, Controller};
use crate::plan::Plan;
use crate::policy::reviewed::service_fingerprint;

/// One service in a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServicePlan {
    pub service: String,
    /// The phase the service would be in after the tick (`normal`, `failed_over`, ...).
    pub phase: String,
    /// Why, as the audit trail would say it.
    pub reason: String,
    /// A change that is due but held back, and by which rule.
    #[serde(default)]
    pub held: Option<String>,
    #[serde(default)]
    pub alert: Option<String>,
    /// The records the tick would change; `None` when they stay as they are.
    #[serde(default)]
    pub plan: Option<Plan>,
    /// Why no plan could be made (the provider's records could not be read).
    #[serde(default)]
    pub error: Option<String>,
    /// With a plan: the records it was made against (`plan --out` fingerprints them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<Vec<dnsfailback_provider::RecordSet>>,
    /// With a plan: the fingerprint of the service's configuration it was made with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

/// The proposals of one tick, before the provider is asked (see [`realize`]).
pub(super) struct Proposed {
    rows: Vec<ServicePlan>,
    /// Per (provider, zone): (row index, the change for the zone job).
    changes: BTreeMap<(String, Fqdn), Vec<(usize, zone::Item)>>,
    providers: BTreeMap<String, Arc<dyn Provider>>,
}

impl Controller {
    /// What the next tick would do, for every service; changes nothing at the provider.
    /// Like the tick, it first reads and records the original TTL of services that have none
    /// yet (an observation, and the one store write a plan makes: the value the controller
    /// must never lose, recorded before anything could change it).
    pub async fn plan(&mut self) -> Vec<ServicePlan> {
        if self.leadership.is_leader() {
            self.discover_original_ttls().await;
        }
        realize(self.propose_all()).await
    }

    /// The part of [`Controller::plan`] that needs the loop's state (no waiting): health
    /// evaluated as a tick would, every service proposed.
    pub(super) fn propose_all(&mut self) -> Proposed {
        self.health.evaluate(tokio::time::Instant::now());
        let now = self.clock.now_ms();
        let leader = self.leadership.is_leader();
        let mut events = self.events.clone();
        let mut proposed = Proposed {
            rows: Vec::new(),
            changes: BTreeMap::new(),
            providers: self.providers.clone(),
        };
        for name in self.names.iter() {
            let Some(service) = self.service(name) else {
                continue;
            };
            let generation = self.health.generation(name);
            let health = self.health.service(name);
            let proposal = if leader && self.due(name, generation, now) {
                self.propose(&mut events, &service, &health, now)
            } else {
                None
            };
            let Some(p) = proposal else {
                // Not decided on this tick: it stays as the last decision left it.
                proposed.rows.push(self.unchanged(name, leader));
                continue;
            };
            let index = proposed.rows.len();
            proposed.rows.push(ServicePlan {
                service: name.clone(),
                phase: p.decision.state.phase.label().to_string(),
                reason: p.decision.reason.clone(),
                held: p.decision.held.clone(),
                alert: p.decision.alert.clone(),
                plan: None,
                error: None,
                records: None,
                config: None,
            });
            if let Outcome::Change(item) = p.outcome {
                let key = (service.provider.clone(), service.zone.clone());
                proposed
                    .changes
                    .entry(key)
                    .or_default()
                    .push((index, *item));
            }
        }
        proposed
    }

    /// The row of a service the next tick leaves alone.
    fn unchanged(&self, name: &str, leader: bool) -> ServicePlan {
        let rt = self.runtime.get(name);
        let last = rt.and_then(|r| r.last_decision.as_ref());
        let reason = match (leader, rt) {
            (false, _) => self.follower_note(),
            (true, Some(r)) if r.in_flight => "a change is being applied".to_string(),
            (true, Some(r)) if r.state.original_ttl.is_none() => {
                "the original TTL is read first (on the next tick)".to_string()
            }
            _ => last.map(|d| d.reason.clone()).unwrap_or_default(),
        };
        ServicePlan {
            service: name.to_string(),
            phase: rt
                .map(|r| r.state.phase.label().to_string())
                .unwrap_or_default(),
            reason,
            held: last.and_then(|d| d.held.clone()),
            alert: last.and_then(|d| d.alert.clone()),
            plan: None,
            error: None,
            records: None,
            config: None,
        }
    }
}

/// Plans the proposed changes against each zone's current records (one read per zone, as the
/// zone job does). Runs without the loop, so the admin API can wait for a slow provider
/// without holding up a tick.
pub(super) async fn realize(proposed: Proposed) -> Vec<ServicePlan> {
    let Proposed {
        mut rows,
        changes,
        providers,
    } = proposed;
    for ((provider_name, zone), entries) in changes {
        let Some(provider) = providers.get(&provider_name) else {
            continue;
        };
        let (indexes, items): (Vec<usize>, Vec<zone::Item>) = entries.into_iter().unzip();
        match zone::plan_items_observed(provider.as_ref(), &zone, &items).await {
            Ok((plans, observed)) => {
                for ((index, plan), item) in indexes.into_iter().zip(plans).zip(&items) {
                    if let Some(row) = rows.get_mut(index) {
                        if !plan.is_noop() {
                            let seen = zone::observed_for(&observed, &item.service);
                            row.records = Some(seen.to_vec());
                            row.config = Some(service_fingerprint(&item.service));
                        }
                        row.plan = (!plan.is_noop()).then_some(plan);
                    }
                }
            }
            Err(e) => {
                for index in indexes {
                    if let Some(row) = rows.get_mut(index) {
                        row.error = Some(format!("cannot read current records: {e}"));
                    }
                }
            }
        }
    }
    rows
}
