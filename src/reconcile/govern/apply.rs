//! One governed change carried out by its job: journal -> provider -> read-back -> record,
//! the zone job's steps for a single change set chosen by an operator (see the parent module).

use dnsfailback_provider::ChangeSet;

use super::audit_refusal;
use super::job::{GovernJob, JobEntry};
use crate::config::Service;
use crate::state::{AuditEntry, ChangeRecord, Intent, IntentOutcome};

impl GovernJob {
    /// Journals, applies, verifies and records `e`, audited as its action by the job's actor,
    /// and saves the pinned state; returns the new change id. A failure closes the intent as
    /// failed and is audited.
    pub(super) async fn apply_entry(&self, e: &JobEntry) -> Result<i64, String> {
        let (svc, changes, action) = (&e.svc, &e.changes, e.action);
        if changes.zone != svc.zone {
            return Err(format!(
                "the change is for zone {}, `{}` is in zone {}",
                changes.zone, svc.name, svc.zone
            ));
        }
        changes
            .validate(&e.provider.capabilities())
            .map_err(|p| format!("the change is invalid: {}", p.join("; ")))?;
        let now = self.clock.now_ms();
        let intent = Intent {
            id: 0,
            service: svc.name.clone(),
            created_ms: now,
            fencing_token: self.fencing_token,
            reason: e.reason.clone(),
            changes: changes.clone(),
            next_state: e.pinned.clone(),
        };
        let id = self
            .store
            .begin_intent(&intent)
            .await
            .map_err(|err| format!("not applied, the intent could not be journaled: {err}"))?;
        if let Err(why) = apply_and_verify(e.provider.as_ref(), svc, changes).await {
            let _ = self
                .store
                .finish_intent(id, IntentOutcome::Failed, Some(&why))
                .await;
            let why = format!("{action} failed: {why}");
            let failed = format!("{action}_failed");
            audit_refusal(
                self.store.as_ref(),
                now,
                &svc.name,
                &failed,
                &why,
                &self.actor,
            )
            .await;
            return Err(why);
        }
        let record = ChangeRecord {
            id,
            service: svc.name.clone(),
            at_ms: now,
            actor: self.actor.clone(),
            action: action.to_string(),
            changes: changes.clone(),
            rollback_of: self.rollback_of,
            rolled_back_by: None,
        };
        self.record(record, e).await?;
        Ok(id)
    }

    /// Records a verified governed change: its change record, the intent closed, the audit
    /// entry, and the pinned state.
    async fn record(&self, record: ChangeRecord, e: &JobEntry) -> Result<(), String> {
        let (id, now, name) = (record.id, record.at_ms, record.service.clone());
        let changes = record.changes.clone();
        let recorded = self.store.record_changes(&[record]).await;
        let closed = self
            .store
            .finish_intent(id, IntentOutcome::Applied, None)
            .await;
        let entry = AuditEntry {
            at_ms: now,
            service: name.clone(),
            actor: self.actor.clone(),
            action: e.action.to_string(),
            reason: e.reason.clone(),
            evidence: serde_json::Value::Null,
            changes: Some(changes),
            change_id: Some(id),
        };
        if let Err(err) = self.store.audit(&entry).await {
            tracing::error!("cannot write the audit trail: {err}");
        }
        tracing::info!(service = %name, actor = self.actor, action = e.action, change_id = id, "{}", e.reason);
        let saved = self.store.save_service_state(&name, &e.pinned).await;
        if let Some(err) = recorded
            .err()
            .or(closed.err())
            .or(saved.err())
            .map(|err| err.to_string())
        {
            return Err(format!(
                "the records were changed (change {id}) but the controller could not record it: {err}"
            ));
        }
        Ok(())
    }
}

/// Applies `changes` and reads them back; the error says whether anything changed.
async fn apply_and_verify(
    provider: &dyn dnsfailback_provider::Provider,
    svc: &Service,
    changes: &ChangeSet,
) -> Result<(), String> {
    match provider.apply(changes).await {
        Ok(_) => {}
        Err(e) if e.not_applied => return Err(format!("{e}; nothing was changed")),
        Err(e) => return Err(e.to_string()),
    }
    let got = provider
        .read(&svc.zone, &svc.record, svc.rtype)
        .await
        .map_err(|e| format!("read-back after apply failed: {e}"))?;
    match crate::reconcile::verify::mismatch(&got, changes) {
        None => Ok(()),
        Some(m) => Err(m),
    }
}
