//! One zone's changes, written together: plan -> **provider** -> verify for many services.
//!
//! The control loop decides every service on each tick, then hands the services of one
//! `(provider, zone)` that need work to a [`ZoneJob`], which runs as its own task: one read of
//! the zone, a [`Plan`] per service, every intent journaled in one store transaction, the
//! changes applied in as few provider calls as the provider's batch limit allows (a site
//! failover on Route 53 is one `ChangeResourceRecordSets` per zone), one read-back, and the
//! intents, audit entries and states written back in one transaction each. A slow or failing
//! zone never delays another zone, nor the loop's next tick.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dnsfailback_provider::{ApplyReceipt, ChangeSet, ErrorKind, Fqdn, Provider, ProviderError};

use crate::config::Service;
use crate::policy::{Publication, ServiceState};
use crate::state::{Intent, Store};

/// From this many services on, the job reads the whole zone once instead of each record.
const READ_ZONE_FROM: usize = 8;

/// Audit entries written per store transaction: bounds the memory of a fleet-wide change.
const AUDIT_CHUNK: usize = 500;

mod read;
mod record;
pub(super) use read::observed_for;
pub(super) use read::{plan_items, plan_items_observed, read_records};

/// One service's share of a zone job.
pub(super) struct Item {
    pub service: Arc<Service>,
    pub desired: Publication,
    /// The state to persist once the records say `desired` (published already set).
    pub next_state: ServiceState,
    /// Audit verb if the records change (`failover`, `canary_step`, ...).
    pub action: &'static str,
    pub reason: String,
    /// The health the decision was taken on (audit evidence, serialised only when audited:
    /// most items are drift checks that change nothing).
    pub health: Vec<crate::health::TargetHealth>,
    /// `last_change_ms` before this decision: kept when the records turn out unchanged, so
    /// a drift check never delays the next failover through `min_change_interval`.
    pub previous_change_ms: Option<u64>,
    /// Run the post-step hook once the change is verified.
    pub post_step: bool,
    /// The decided state differs from the stored one even if the records turn out unchanged
    /// (a drift check of a settled service saves nothing: 10,000 rows every 30 s otherwise).
    pub state_moved: bool,
    /// The decision moves the phase: audited even when the records were already right.
    pub phase_changed: bool,
}

impl Item {
    /// The state this item leaves behind: the decided one, except that records found already
    /// right keep the previous `last_change_ms` (a drift check must not delay the next
    /// failover through `min_change_interval`).
    fn state_after(
        next_state: ServiceState,
        previous_change_ms: Option<u64>,
        outcome: &ItemOutcome,
    ) -> ServiceState {
        let mut state = next_state;
        if matches!(outcome, ItemOutcome::Unchanged) {
            state.last_change_ms = previous_change_ms;
        }
        state
    }
}

/// How one service's share ended.
pub(super) enum ItemOutcome {
    /// The records already said what was wanted; the state was saved.
    Unchanged,
    /// Changed, verified by reading back, journaled and audited.
    Changed { receipt: ApplyReceipt },
    /// Nothing (or not all) was changed; the state was not advanced.
    Failed(Failure),
}

/// Why a service's change did not happen, classified for the back-off.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub message: String,
    pub retry_after: Option<std::time::Duration>,
    pub kind: Option<ErrorKind>,
}

impl Failure {
    fn text(message: String) -> Self {
        Failure {
            message,
            retry_after: None,
            kind: None,
        }
    }

    fn provider(context: &str, e: &ProviderError) -> Self {
        Failure {
            message: format!("{context}: {e}"),
            retry_after: e.retry_after,
            kind: Some(e.kind),
        }
    }
}

/// Everything one zone job needs; it owns no controller state.
pub(super) struct ZoneJob {
    pub provider_name: String,
    pub provider: Arc<dyn Provider>,
    pub zone: Fqdn,
    pub items: Vec<Item>,
    pub store: Arc<dyn Store>,
    /// Checked right before journaling: a controller that lost its lease changes nothing
    /// (its fenced store writes would be refused anyway).
    pub leadership: Arc<dyn crate::state::Leadership>,
    pub fencing_token: u64,
    pub now_ms: u64,
    /// Set when the controller is shutting down: no new change starts.
    pub stop: Arc<AtomicBool>,
}

/// What a zone job reports back to the loop.
pub(super) struct ZoneDone {
    pub provider_name: String,
    pub zone: Fqdn,
    pub results: Vec<ItemDone>,
}

/// One service's result, with the state the job saved for it (on success).
pub(super) struct ItemDone {
    pub service: String,
    pub outcome: ItemOutcome,
    pub state: ServiceState,
    pub action: &'static str,
    pub reason: String,
    pub post_step: bool,
}

/// Test-only pause points: `DNSFAILBACK_FAILPOINT=after-intent` pauses forever right after
/// an intent is durable and before the provider is called (a test SIGKILLs or SIGTERMs the
/// controller exactly there); `slow-apply` makes each provider call (`in-apply`) take one
/// second longer (a SIGTERM arrives while a change is at the provider).
async fn failpoint(name: &str) {
    let Ok(set) = std::env::var("DNSFAILBACK_FAILPOINT") else {
        return;
    };
    if set == name {
        tracing::warn!("failpoint {name} reached; pausing forever");
        std::future::pending::<()>().await;
    } else if set == "slow-apply" && name == "in-apply" {
        tracing::warn!("failpoint slow-apply reached; the change goes on in 1 s");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// A planned change of one item, journaled.
struct Pending {
    index: usize,
    intent_id: i64,
    changes: ChangeSet,
}

impl ZoneJob {
    /// Runs the job to the end; never panics on provider or store errors (they become the
    /// items' failures).
    pub async fn run(self) -> ZoneDone {
        let mut outcomes: Vec<Option<ItemOutcome>> = self.items.iter().map(|_| None).collect();
        let pending = self.plan_and_journal(&mut outcomes).await;
        let journaled: BTreeMap<usize, i64> =
            pending.iter().map(|p| (p.index, p.intent_id)).collect();
        let mut applied = Vec::new();
        if !pending.is_empty() {
            failpoint("after-intent").await;
            applied = self.apply_all(pending, &mut outcomes).await;
            self.verify(&mut applied, &mut outcomes).await;
        }
        self.record(applied, &journaled, &mut outcomes).await;
        let results = self
            .items
            .into_iter()
            .zip(outcomes)
            .map(|(item, o)| {
                let outcome = o.unwrap_or(ItemOutcome::Failed(Failure::text(
                    "internal: no outcome recorded".into(),
                )));
                ItemDone {
                    service: item.service.name.clone(),
                    state: Item::state_after(item.next_state, item.previous_change_ms, &outcome),
                    outcome,
                    action: item.action,
                    reason: item.reason,
                    post_step: item.post_step,
                }
            })
            .collect();
        ZoneDone {
            provider_name: self.provider_name,
            zone: self.zone,
            results,
        }
    }

    /// Reads the zone, plans every item and journals the intents of those that change.
    async fn plan_and_journal(&self, outcomes: &mut [Option<ItemOutcome>]) -> Vec<Pending> {
        let planned = match plan_items(self.provider.as_ref(), &self.zone, &self.items).await {
            Ok(p) => p,
            Err(e) => {
                let f = Failure::provider("cannot read current records", &e);
                fill(outcomes, |_| ItemOutcome::Failed(f.clone()));
                return Vec::new();
            }
        };
        let mut plans = Vec::new();
        let mut invalid = Vec::new();
        for (index, plan) in planned.into_iter().enumerate() {
            let item = &self.items[index];
            if plan.is_noop() {
                outcomes[index] = Some(ItemOutcome::Unchanged);
            } else if !plan.is_valid() {
                let why = plan.problems.join("; ");
                invalid.push(self.entry(item, "plan_invalid", &why, Some(&plan.changes)));
                outcomes[index] = Some(ItemOutcome::Failed(Failure::text(format!(
                    "plan not applied, it is invalid: {why}"
                ))));
            } else if self.stop.load(Ordering::SeqCst) {
                outcomes[index] = Some(ItemOutcome::Failed(Failure::text(
                    "controller shutting down: change not started".into(),
                )));
            } else if !self.leadership.is_leader()
                || self.leadership.fencing_token() != self.fencing_token
            {
                outcomes[index] = Some(ItemOutcome::Failed(Failure::text(
                    "not the leader: changes are left to the lease holder".into(),
                )));
            } else {
                plans.push((index, plan.changes));
            }
        }
        self.audit(&invalid).await;
        let intents: Vec<Intent> = plans
            .iter()
            .map(|(index, changes)| {
                let item = &self.items[*index];
                Intent {
                    id: 0,
                    service: item.service.name.clone(),
                    created_ms: self.now_ms,
                    fencing_token: self.fencing_token,
                    reason: item.reason.clone(),
                    changes: changes.clone(),
                    next_state: item.next_state.clone(),
                }
            })
            .collect();
        if intents.is_empty() {
            return Vec::new();
        }
        match self.store.begin_intents(&intents).await {
            Ok(ids) => plans
                .into_iter()
                .zip(ids)
                .map(|((index, changes), intent_id)| Pending {
                    index,
                    intent_id,
                    changes,
                })
                .collect(),
            Err(e) => {
                for (index, _) in plans {
                    outcomes[index] = Some(ItemOutcome::Failed(Failure::text(format!(
                        "not applied, the intent could not be journaled: {e}"
                    ))));
                }
                Vec::new()
            }
        }
    }

    /// Applies the journaled changes in batches of at most the provider's limit. A batch the
    /// provider refuses as a whole for one set's sake (a conflict, an invalid set) is retried
    /// service by service, so one record changed by hand does not hold back a site failover.
    async fn apply_all(
        &self,
        pending: Vec<Pending>,
        outcomes: &mut [Option<ItemOutcome>],
    ) -> Vec<(Pending, ApplyReceipt)> {
        let limit = self.provider.capabilities().max_batch_records;
        let mut done = Vec::new();
        for batch in batches(pending, limit) {
            if self.stop.load(Ordering::SeqCst) {
                for p in batch {
                    outcomes[p.index] = Some(ItemOutcome::Failed(Failure::text(
                        "controller shutting down: change not started".into(),
                    )));
                }
                continue;
            }
            let mut merged = ChangeSet::new(self.zone.clone());
            for p in &batch {
                merged.changes.extend(p.changes.changes.iter().cloned());
            }
            failpoint("in-apply").await;
            match self.provider.apply(&merged).await {
                Ok(receipt) => done.extend(batch.into_iter().map(|p| (p, receipt.clone()))),
                // Only a refusal about a record (someone changed it, or the provider rejects
                // one set) can be one service's fault; a refused credential or an outage is
                // everyone's, and retrying service by service would only repeat it.
                Err(e)
                    if batch.len() > 1
                        && e.not_applied
                        && matches!(e.kind, ErrorKind::Conflict | ErrorKind::Invalid) =>
                {
                    tracing::warn!(zone = %self.zone, "batch of {} refused ({e}); applying service by service", batch.len());
                    for p in batch {
                        match self.provider.apply(&p.changes).await {
                            Ok(r) => done.push((p, r)),
                            Err(e) => {
                                outcomes[p.index] =
                                    Some(ItemOutcome::Failed(Failure::provider("apply failed", &e)))
                            }
                        }
                    }
                }
                Err(e) => {
                    let f = Failure::provider("apply failed", &e);
                    for p in batch {
                        outcomes[p.index] = Some(ItemOutcome::Failed(f.clone()));
                    }
                }
            }
        }
        done
    }

    /// Reads back what was applied: a provider that said OK but serves something else fails
    /// the item (its intent is closed as failed and the loop backs off and re-plans).
    async fn verify(
        &self,
        applied: &mut Vec<(Pending, ApplyReceipt)>,
        outcomes: &mut [Option<ItemOutcome>],
    ) {
        let services = applied
            .iter()
            .map(|(p, _)| self.items[p.index].service.as_ref());
        let got = match read_records(self.provider.as_ref(), &self.zone, services).await {
            Ok(g) => g,
            Err(e) => {
                let f = Failure::provider("read-back after apply failed", &e);
                for (p, _) in applied.drain(..) {
                    outcomes[p.index] = Some(ItemOutcome::Failed(f.clone()));
                }
                return;
            }
        };
        applied.retain(|(p, _)| {
            let service = &self.items[p.index].service;
            match super::verify::mismatch(observed_for(&got, service), &p.changes) {
                None => true,
                Some(msg) => {
                    outcomes[p.index] = Some(ItemOutcome::Failed(Failure::text(msg)));
                    false
                }
            }
        });
    }
}

fn fill(outcomes: &mut [Option<ItemOutcome>], f: impl Fn(usize) -> ItemOutcome) {
    for (i, o) in outcomes.iter_mut().enumerate() {
        if o.is_none() {
            *o = Some(f(i));
        }
    }
}

/// Groups journaled changes into provider calls of at most `limit` records (0 = no limit);
/// one service's changes are never split across calls.
fn batches(pending: Vec<Pending>, limit: usize) -> Vec<Vec<Pending>> {
    let mut out: Vec<Vec<Pending>> = Vec::new();
    let mut size = 0;
    for p in pending {
        let n = p.changes.record_count();
        let full = limit > 0 && size + n > limit;
        match out.last_mut() {
            Some(batch) if !full => batch.push(p),
            _ => {
                out.push(vec![p]);
                size = 0;
            }
        }
        size += n;
    }
    out
}

#[cfg(test)]
mod tests;
