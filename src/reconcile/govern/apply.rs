//! One governed change carried out: journal -> provider -> read-back -> record, the zone
//! job's steps for a single change set chosen by an operator (see the parent module).

use std::sync::Arc;

use dnsfailback_provider::ChangeSet;

use super::super::Controller;
use crate::config::Service;
use crate::policy::{Hold, ServiceState};
use crate::state::{AuditEntry, ChangeRecord, Intent, IntentOutcome};

impl Controller {
    /// Journals, applies, verifies and records `changes` for `svc`, audited as `action` by
    /// `actor`; the service is pinned (held, records left alone) until `resume`. Returns the
    /// new change id. A failure closes the intent as failed and is audited.
    pub(super) async fn apply_governed(
        &mut self,
        svc: &Arc<Service>,
        changes: &ChangeSet,
        action: &str,
        reason: &str,
        actor: &str,
        rollback_of: Option<i64>,
    ) -> Result<i64, String> {
        let provider = self
            .providers
            .get(&svc.provider)
            .cloned()
            .ok_or_else(|| format!("no provider `{}`", svc.provider))?;
        if changes.zone != svc.zone {
            return Err(format!(
                "the change is for zone {}, `{}` is in zone {}",
                changes.zone, svc.name, svc.zone
            ));
        }
        changes
            .validate(&provider.capabilities())
            .map_err(|p| format!("the change is invalid: {}", p.join("; ")))?;
        let now = self.clock.now_ms();
        let next = self.pinned_state(&svc.name, action, actor, now);
        let intent = Intent {
            id: 0,
            service: svc.name.clone(),
            created_ms: now,
            fencing_token: self.leadership.fencing_token(),
            reason: reason.to_string(),
            changes: changes.clone(),
            next_state: next.clone(),
        };
        let id = self
            .store
            .begin_intent(&intent)
            .await
            .map_err(|e| format!("not applied, the intent could not be journaled: {e}"))?;
        if let Err(why) = apply_and_verify(provider.as_ref(), svc, changes).await {
            let _ = self
                .store
                .finish_intent(id, IntentOutcome::Failed, Some(&why))
                .await;
            let why = format!("{action} failed: {why}");
            self.audit_refusal(&svc.name, &format!("{action}_failed"), &why, actor)
                .await;
            return Err(why);
        }
        let record = ChangeRecord {
            id,
            service: svc.name.clone(),
            at_ms: now,
            actor: actor.to_string(),
            action: action.to_string(),
            changes: changes.clone(),
            rollback_of,
            rolled_back_by: None,
        };
        self.record_governed(record, reason, next).await?;
        Ok(id)
    }

    /// Records a verified governed change: its change record, the intent closed, the audit
    /// entry, and the pinned state.
    async fn record_governed(
        &mut self,
        record: ChangeRecord,
        reason: &str,
        next: ServiceState,
    ) -> Result<(), String> {
        let (id, now, name) = (record.id, record.at_ms, record.service.clone());
        let (actor, action) = (record.actor.clone(), record.action.clone());
        let changes = record.changes.clone();
        let recorded = self.store.record_changes(&[record]).await;
        let closed = self
            .store
            .finish_intent(id, IntentOutcome::Applied, None)
            .await;
        let entry = AuditEntry {
            at_ms: now,
            service: name.clone(),
            actor: actor.clone(),
            action: action.clone(),
            reason: reason.to_string(),
            evidence: serde_json::Value::Null,
            changes: Some(changes),
            change_id: Some(id),
        };
        if let Err(e) = self.store.audit(&entry).await {
            tracing::error!("cannot write the audit trail: {e}");
        }
        tracing::info!(service = %name, actor, action, change_id = id, "{reason}");
        let saved = self.save_state(&name, next).await;
        if let Some(e) = recorded
            .err()
            .map(|e| e.to_string())
            .or(closed.err().map(|e| e.to_string()))
            .or(saved.err())
        {
            return Err(format!(
                "the records were changed (change {id}) but the controller could not record it: {e}"
            ));
        }
        if let Some(rt) = self.runtime.get_mut(&name) {
            // The records are no publication of the loop's: the first decision after `resume`
            // reads them again and puts its own answer back.
            rt.last_verify_ms = None;
        }
        Ok(())
    }

    /// The service's state with a pinned hold by `actor`: the loop leaves the records as the
    /// governed change set them until `resume`.
    fn pinned_state(&self, name: &str, action: &str, actor: &str, now: u64) -> ServiceState {
        let mut state = self.effective_state(name).unwrap_or_default();
        state.hold = Some(Hold {
            by: actor.to_string(),
            reason: format!("records set by `{action}`; automatic changes wait for `resume`"),
            since_ms: now,
            pinned: true,
        });
        state
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
    match super::super::verify::mismatch(&got, changes) {
        None => Ok(()),
        Some(m) => Err(m),
    }
}
