//! The zone job's last step (verify -> **record**): intents closed, the audit trail written a
//! chunk at a time, and the services' states saved, one store transaction each.

use std::collections::BTreeMap;

use dnsfailback_provider::{ApplyReceipt, ChangeSet};

use super::{Failure, Item, ItemOutcome, Pending, ZoneJob, AUDIT_CHUNK};
use crate::state::{AuditEntry, ChangeRecord, IntentClose, IntentOutcome};

/// One audit entry to write, by reference: item index, verb, reason, changes, change id.
type Audit<'a> = (usize, &'a str, String, Option<ChangeSet>, Option<i64>);

impl ZoneJob {
    /// Closes intents, writes the audit trail and saves the states, one transaction each.
    pub(super) async fn record(
        &self,
        applied: Vec<(Pending, ApplyReceipt)>,
        journaled: &BTreeMap<usize, i64>,
        outcomes: &mut [Option<ItemOutcome>],
    ) {
        // What to audit, by reference: the entries themselves (each with its evidence as JSON,
        // ~3 KB) are built a chunk at a time, or a 10,000-service publication would hold
        // 30 MB of them at once.
        let (mut audits, records) = self.take_applied(applied, outcomes);
        let mut saved = Vec::new();
        let mut states = Vec::new();
        for (index, outcome) in outcomes.iter().enumerate() {
            let item = &self.items[index];
            match outcome {
                Some(ItemOutcome::Changed { .. }) => {}
                // A drift check of a settled service saves nothing.
                Some(ItemOutcome::Unchanged) if !item.state_moved => continue,
                Some(ItemOutcome::Unchanged) if item.phase_changed => {
                    audits.push(already_served(index, item));
                }
                Some(ItemOutcome::Unchanged) => {}
                Some(ItemOutcome::Failed(f)) => {
                    if let Some(action) = failure_action(f) {
                        audits.push((index, action, f.message.clone(), None, None));
                    }
                    continue;
                }
                None => continue,
            }
            if let Some(o) = outcome {
                saved.push(index);
                states.push((
                    item.service.name.clone(),
                    Item::state_after(item.next_state.clone(), item.previous_change_ms, o),
                ));
            }
        }
        let closes: Vec<IntentClose> = journaled
            .iter()
            .map(|(index, id)| match &outcomes[*index] {
                Some(ItemOutcome::Changed { .. }) => IntentClose {
                    id: *id,
                    outcome: IntentOutcome::Applied,
                    error: None,
                },
                Some(ItemOutcome::Failed(f)) => IntentClose {
                    id: *id,
                    outcome: IntentOutcome::Failed,
                    error: Some(f.message.clone()),
                },
                _ => IntentClose {
                    id: *id,
                    outcome: IntentOutcome::Failed,
                    error: Some("not applied".into()),
                },
            })
            .collect();
        // Before the intents close: a change is never closed as applied without its record.
        if let Err(e) = self.store.record_changes(&records).await {
            tracing::error!(zone = %self.zone, "cannot record the applied changes: {e}");
        }
        if let Err(e) = self.store.finish_intents(&closes).await {
            tracing::error!(zone = %self.zone, "cannot close intents: {e}");
        }
        for chunk in audits.chunks(AUDIT_CHUNK) {
            let entries: Vec<AuditEntry> = chunk
                .iter()
                .map(|(index, action, reason, changes, change_id)| {
                    let mut e = self.entry(&self.items[*index], action, reason, changes.as_ref());
                    e.change_id = *change_id;
                    e
                })
                .collect();
            self.audit(&entries).await;
        }
        if let Err(e) = self.store.save_service_states(&states).await {
            tracing::error!(zone = %self.zone, "cannot save service states: {e}");
            for i in saved {
                outcomes[i] = Some(ItemOutcome::Failed(Failure::text(format!(
                    "records changed but the state could not be saved: {e}"
                ))));
            }
        }
    }

    /// The applied changes as change records (by intent id) and audit entries, their items'
    /// outcomes set to changed.
    fn take_applied(
        &self,
        applied: Vec<(Pending, ApplyReceipt)>,
        outcomes: &mut [Option<ItemOutcome>],
    ) -> (Vec<Audit<'_>>, Vec<ChangeRecord>) {
        let mut audits: Vec<Audit<'_>> = Vec::new();
        let mut records = Vec::new();
        for (p, receipt) in applied {
            let item = &self.items[p.index];
            records.push(ChangeRecord {
                id: p.intent_id,
                service: item.service.name.clone(),
                at_ms: self.now_ms,
                actor: "controller".into(),
                action: item.action.to_string(),
                changes: p.changes.clone(),
                rollback_of: None,
                rolled_back_by: None,
            });
            let reason = item.reason.clone();
            audits.push((
                p.index,
                item.action,
                reason,
                Some(p.changes),
                Some(p.intent_id),
            ));
            outcomes[p.index] = Some(ItemOutcome::Changed { receipt });
        }
        (audits, records)
    }

    pub(super) fn entry(
        &self,
        item: &Item,
        action: &str,
        reason: &str,
        changes: Option<&ChangeSet>,
    ) -> AuditEntry {
        AuditEntry {
            at_ms: self.now_ms,
            service: item.service.name.clone(),
            actor: "controller".into(),
            action: action.to_string(),
            reason: reason.to_string(),
            evidence: serde_json::to_value(&item.health).unwrap_or_default(),
            changes: changes.cloned(),
            change_id: None,
        }
    }

    pub(super) async fn audit(&self, entries: &[AuditEntry]) {
        if entries.is_empty() {
            return;
        }
        if let Err(e) = self.store.audit_many(entries).await {
            tracing::error!("cannot write the audit trail: {e}");
        }
    }
}

/// The phase moves on records already right: an earlier attempt applied them but its read-back
/// failed (audited `verify_failed`). The transition is audited all the same, or the trail would
/// never say that the failover or the TTL restore happened.
fn already_served(index: usize, item: &Item) -> Audit<'_> {
    (
        index,
        item.action,
        format!("{} (records already served)", item.reason),
        None,
        None,
    )
}

/// The audit verb of a failure; `None` for an invalid plan, audited when it was found.
fn failure_action(f: &Failure) -> Option<&'static str> {
    if f.message.starts_with("plan not applied") {
        None
    } else if f.message.starts_with("read-back") {
        Some("verify_failed")
    } else {
        Some("apply_failed")
    }
}
